//! What a breaker has seen: call counts and the last transition.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::Transition;

/// A snapshot of a breaker's counters, from [`Breaker::metrics`](crate::Breaker::metrics).
///
/// ```
/// use failfast_runtime::{Breaker, BreakerConfig};
///
/// let breaker = Breaker::new("db", BreakerConfig::new());
/// let _ = breaker.call(|| Ok::<_, failfast_runtime::Error>(1));
/// let m = breaker.metrics();
/// assert_eq!((m.calls, m.successes, m.failures, m.rejections), (1, 1, 0, 0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Metrics {
    /// Calls that asked for a permit: permitted plus rejected.
    pub calls: u64,
    /// Calls that completed and counted as successes.
    pub successes: u64,
    /// Calls that completed and counted as failures (panics included).
    pub failures: u64,
    /// Calls rejected without running.
    pub rejections: u64,
    /// The most recent state change, if any.
    pub last_transition: Option<Transition>,
}

/// The live counters behind [`Metrics`]. Relaxed atomics: they are statistics, nothing
/// synchronises through them.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    calls: AtomicU64,
    successes: AtomicU64,
    failures: AtomicU64,
    rejections: AtomicU64,
}

impl Counters {
    pub(crate) fn call(&self) {
        self.calls.fetch_add(1, Relaxed);
    }

    pub(crate) fn success(&self) {
        self.successes.fetch_add(1, Relaxed);
    }

    pub(crate) fn failure(&self) {
        self.failures.fetch_add(1, Relaxed);
    }

    pub(crate) fn rejection(&self) {
        self.rejections.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self, last_transition: Option<Transition>) -> Metrics {
        Metrics {
            calls: self.calls.load(Relaxed),
            successes: self.successes.load(Relaxed),
            failures: self.failures.load(Relaxed),
            rejections: self.rejections.load(Relaxed),
            last_transition,
        }
    }
}
