//! What a breaker has seen: call counts and the last transition.

use crate::stripe::Striped;
use crate::sync::AtomicU64;
use crate::transition::Transition;

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
    /// a call still running is counted when it ends. A call that observe mode let run
    /// instead of rejecting it counts once.
    pub calls: u64,
    /// Calls that completed and counted as successes.
    pub successes: u64,
    /// Calls that completed and counted as failures (panics included).
    pub failures: u64,
    /// Calls rejected without running; in [observe mode](crate::Mode::Observe), calls
    /// that would have been rejected (they ran, and their outcome is counted too).
    pub rejections: u64,
    /// Calls that took longer than the breaker's [`slow`](crate::BreakerConfig::slow)
    /// threshold, successes and failures alike (always zero without one).
    pub slow_calls: u64,
    /// The most recent state change, if any.
    pub last_transition: Option<Transition>,
}

/// The live counters behind [`Metrics`].
///
/// Every call writes one counter, so counters shared by all threads would make cores
/// fight over one cache line on the hottest path, and even an uncontended atomic
/// increment waits for the core's pending stores. Instead each thread counts in a stripe
/// of its own (a cache line nobody else writes) with a plain load and store, and a
/// snapshot adds the stripes up. Threads beyond the number of stripes share the last one
/// and increment it atomically: exact still, only slower. `calls` is not counted: it is
/// the sum of the outcomes and rejections, less the rejections observe mode let run.
#[derive(Default)]
pub(crate) struct Counters {
    stripes: Striped<Stripe>,
}

/// One thread's counts.
#[derive(Default)]
struct Stripe {
    successes: AtomicU64,
    failures: AtomicU64,
    rejections: AtomicU64,
    cancelled: AtomicU64,
    slow_calls: AtomicU64,
    /// Rejections that observe mode let run: also counted in `rejections`, and their
    /// outcome in `successes`, `failures` or `cancelled`.
    observed: AtomicU64,
}

impl Counters {
    #[inline]
    pub(crate) fn success(&self) {
        self.stripes.count(|s| &s.successes);
    }

    pub(crate) fn failure(&self) {
        self.stripes.count(|s| &s.failures);
    }

    #[inline]
    pub(crate) fn rejection(&self) {
        self.stripes.count(|s| &s.rejections);
    }

    pub(crate) fn cancelled(&self) {
        self.stripes.count(|s| &s.cancelled);
    }

    pub(crate) fn slow_call(&self) {
        self.stripes.count(|s| &s.slow_calls);
    }

    pub(crate) fn observed(&self) {
        self.stripes.count(|s| &s.observed);
    }

    pub(crate) fn snapshot(&self, last_transition: Option<Transition>) -> Metrics {
        let sum = |field: fn(&Stripe) -> &AtomicU64| self.stripes.sum(field);
        let successes = sum(|s| &s.successes);
        let failures = sum(|s| &s.failures);
        let rejections = sum(|s| &s.rejections);
        let cancelled = sum(|s| &s.cancelled);
        let slow_calls = sum(|s| &s.slow_calls);
        let observed = sum(|s| &s.observed);
        Metrics {
            // Sums of stripes read one by one: an observed call read in `observed` but
            // not yet in `rejections` must not make `calls` wrap.
            calls: (successes + failures + rejections + cancelled).saturating_sub(observed),
            successes,
            failures,
            rejections,
            slow_calls,
            last_transition,
        }
    }
}
