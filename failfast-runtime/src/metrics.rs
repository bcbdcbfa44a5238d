//! What a breaker has seen: call counts and the last transition.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use std::cell::Cell;

use parking_lot::Mutex;

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
pub(crate) struct Counters {
    stripes: Box<[Stripe; STRIPES]>,
}

/// Stripes per breaker: one per thread for the first `STRIPES - 1` threads that count at
/// the same time, the last one shared by the rest.
const STRIPES: usize = 32;
const SHARED: usize = STRIPES - 1;

#[derive(Default)]
#[repr(align(128))] // two cache lines: adjacent-line prefetchers pair lines up
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

/// A stripe index a thread owns until it exits, or [`SHARED`].
struct Slot(usize);

/// Stripe indices given back by threads that exited.
static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());
/// The next index never handed out.
static NEXT: AtomicUsize = AtomicUsize::new(0);

impl Slot {
    fn take() -> Slot {
        if let Some(index) = FREE.lock().pop() {
            return Slot(index);
        }
        let index = NEXT.fetch_add(1, Relaxed);
        Slot(if index < SHARED { index } else { SHARED })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // Whatever this exiting thread still counts goes to the shared stripe.
        INDEX.set(SHARED);
        // The lock orders this thread's last counts before the next owner's first.
        if self.0 != SHARED {
            FREE.lock().push(self.0);
        }
    }
}

/// Not yet claimed: [`stripe_index`] claims a slot on first use.
const UNCLAIMED: usize = usize::MAX;

thread_local! {
    /// This thread's stripe index, read on every count: a plain thread-local load.
    static INDEX: Cell<usize> = const { Cell::new(UNCLAIMED) };
    /// Owns the index and gives it back when the thread exits.
    static SLOT: Slot = Slot::take();
}

/// This thread's stripe index.
#[inline]
fn stripe_index() -> usize {
    let index = INDEX.get();
    if index != UNCLAIMED { index } else { claim() }
}

#[cold]
fn claim() -> usize {
    // At thread exit the slot may already be gone: count in the shared stripe then.
    let index = SLOT.try_with(|slot| slot.0).unwrap_or(SHARED);
    INDEX.set(index);
    index
}

/// Adds one to a counter in stripe `index`: a plain load and store when the thread owns
/// the stripe, an atomic increment in the shared one.
#[inline]
fn bump(counter: &AtomicU64, index: usize) {
    if index == SHARED {
        counter.fetch_add(1, Relaxed);
    } else {
        counter.store(counter.load(Relaxed) + 1, Relaxed);
    }
}

impl Counters {
    #[inline]
    fn count(&self, field: fn(&Stripe) -> &AtomicU64) {
        let index = stripe_index();
        bump(field(&self.stripes[index]), index);
    }

    #[inline]
    pub(crate) fn success(&self) {
        self.count(|s| &s.successes);
    }

    pub(crate) fn failure(&self) {
        self.count(|s| &s.failures);
    }

    #[inline]
    pub(crate) fn rejection(&self) {
        self.count(|s| &s.rejections);
    }

    pub(crate) fn cancelled(&self) {
        self.count(|s| &s.cancelled);
    }

    pub(crate) fn slow_call(&self) {
        self.count(|s| &s.slow_calls);
    }

    pub(crate) fn observed(&self) {
        self.count(|s| &s.observed);
    }

    pub(crate) fn snapshot(&self, last_transition: Option<Transition>) -> Metrics {
        let sum = |field: fn(&Stripe) -> &AtomicU64| -> u64 {
            self.stripes.iter().map(|s| field(s).load(Relaxed)).sum()
        };
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

impl Default for Counters {
    fn default() -> Self {
        Counters {
            stripes: Box::new(std::array::from_fn(|_| Stripe::default())),
        }
    }
}
