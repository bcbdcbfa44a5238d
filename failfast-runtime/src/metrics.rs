//! What a breaker has seen: call counts and the last transition.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

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
    /// Calls that finished (successes, failures and cancelled calls) plus rejected calls;
    /// a call still running is counted when it ends.
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

/// The live counters behind [`Metrics`].
///
/// Every call writes one counter, so counters shared by all threads would make cores
/// fight over one cache line on the hottest path. Instead each thread counts in its own
/// stripe (a cache line of its own, picked by a per-thread index), and a snapshot adds
/// the stripes up. Relaxed atomics: they are statistics, nothing synchronises through
/// them. `calls` is not counted at all: it is the sum of the outcomes.
pub(crate) struct Counters {
    stripes: Box<[Stripe]>,
}

/// Stripes per breaker; threads beyond this many share stripes (still exact, slower).
const STRIPES: usize = 16;

#[derive(Default)]
#[repr(align(128))] // two cache lines: adjacent-line prefetchers pair lines up
struct Stripe {
    successes: AtomicU64,
    failures: AtomicU64,
    rejections: AtomicU64,
    cancelled: AtomicU64,
}

/// This thread's stripe index, handed out in turn on first use.
fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Relaxed) % STRIPES;
    }
    INDEX.with(|index| *index)
}

impl Counters {
    fn mine(&self) -> &Stripe {
        &self.stripes[stripe_index()]
    }

    pub(crate) fn success(&self) {
        self.mine().successes.fetch_add(1, Relaxed);
    }

    pub(crate) fn failure(&self) {
        self.mine().failures.fetch_add(1, Relaxed);
    }

    pub(crate) fn rejection(&self) {
        self.mine().rejections.fetch_add(1, Relaxed);
    }

    pub(crate) fn cancelled(&self) {
        self.mine().cancelled.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self, last_transition: Option<Transition>) -> Metrics {
        let sum = |field: fn(&Stripe) -> &AtomicU64| -> u64 {
            self.stripes.iter().map(|s| field(s).load(Relaxed)).sum()
        };
        let successes = sum(|s| &s.successes);
        let failures = sum(|s| &s.failures);
        let rejections = sum(|s| &s.rejections);
        let cancelled = sum(|s| &s.cancelled);
        Metrics {
            calls: successes + failures + rejections + cancelled,
            successes,
            failures,
            rejections,
            last_transition,
        }
    }
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
        }
    }
}
