//! Per-thread stripes: how the hot paths count without contention.
//!
//! A counter that every thread bumps on every call would make cores fight over one cache
//! line, and even an uncontended atomic increment waits for the core's pending stores. So
//! hot counters (a breaker's outcomes, a budget's deposits) come in [`STRIPES`] copies,
//! each in a cache line of its own. A thread owns one stripe index while it lives (given
//! back when it exits, for the next thread) and bumps its copy with a plain load and
//! store. Threads beyond the first `STRIPES - 1` share the last stripe, [`SHARED`], and
//! increment it atomically: exact still, only slower. Readers add the stripes up.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use parking_lot::Mutex;

/// Copies of each striped counter.
pub(crate) const STRIPES: usize = 32;
/// The stripe shared, atomically, by threads that found no stripe of their own.
pub(crate) const SHARED: usize = STRIPES - 1;

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
        crate::budget::forget_thread();
        // The lock orders this thread's last counts before the next owner's first.
        if self.0 != SHARED {
            FREE.lock().push(self.0);
        }
    }
}

/// Not yet claimed: [`index`] claims a slot on first use.
const UNCLAIMED: usize = usize::MAX;

thread_local! {
    /// This thread's stripe index, read on every count: a plain thread-local load.
    static INDEX: Cell<usize> = const { Cell::new(UNCLAIMED) };
    /// Owns the index and gives it back when the thread exits.
    static SLOT: Slot = Slot::take();
}

/// This thread's stripe index.
#[inline]
pub(crate) fn index() -> usize {
    let index = INDEX.get();
    if index != UNCLAIMED { index } else { claim() }
}

/// `extern "C"`: it cannot unwind (nothing here panics; a panic would abort), so callers
/// need no landing pad around it and keep their hot paths lean (measured: `retry()` with
/// a success went from 1.5 to 4.5 ns without it).
#[cold]
extern "C" fn claim() -> usize {
    // At thread exit the slot may already be gone: count in the shared stripe then.
    let index = SLOT.try_with(|slot| slot.0).unwrap_or(SHARED);
    INDEX.set(index);
    index
}

/// Adds one to a counter in stripe `index`: a plain load and store when the thread owns
/// the stripe, an atomic increment in the shared one.
#[inline]
pub(crate) fn bump(counter: &AtomicU64, index: usize) {
    if index == SHARED {
        counter.fetch_add(1, Relaxed);
    } else {
        counter.store(counter.load(Relaxed).wrapping_add(1), Relaxed);
    }
}
