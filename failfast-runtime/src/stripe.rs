//! Per-thread stripes: how the hot paths count without contention.
//!
//! A counter that every thread bumps on every call would make cores fight over one cache
//! line, and even an uncontended atomic increment waits for the core's pending stores. So
//! hot counters (a breaker's outcomes, a budget's deposits) come in [`STRIPES`] copies,
//! each in a cache line of its own. A thread owns one stripe index while it lives (given
//! back when it exits, for the next thread) and bumps its copy with a plain load and
//! store. Threads beyond the first `STRIPES - 1` share the last stripe, [`SHARED`], and
//! increment it atomically: exact still, only slower. Readers add the stripes up.
//!
//! [`Striped`] holds the copies; a thread that owns its stripe may also remember one
//! counter of a `'static` [`Striped`] ([`remember`]), which it forgets when it exits.

use std::cell::Cell;
#[cfg(not(loom))]
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;

#[cfg(not(loom))]
use parking_lot::Mutex;

use crate::sync::AtomicU64;

/// Copies of each striped counter.
pub(crate) const STRIPES: usize = 32;

/// [`STRIPES`] copies of `T` (counters), each in a cache line of its own.
pub(crate) struct Striped<T> {
    stripes: Box<[Padded<T>; STRIPES]>,
}

#[derive(Default)]
#[repr(align(128))] // two cache lines: adjacent-line prefetchers pair lines up
struct Padded<T>(T);

impl<T> Striped<T> {
    /// The copy in stripe `index`.
    #[inline]
    pub(crate) fn get(&self, index: usize) -> &T {
        &self.stripes[index].0
    }

    /// Adds one to `field` of this thread's copy (see [`bump`]).
    #[inline]
    pub(crate) fn count(&self, field: impl Fn(&T) -> &AtomicU64) {
        let index = index();
        bump(field(self.get(index)), index);
    }

    /// `field` added up over every copy, wrapping as the counters do.
    pub(crate) fn sum(&self, field: impl Fn(&T) -> &AtomicU64) -> u64 {
        self.stripes
            .iter()
            .map(|stripe| field(&stripe.0).load(Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

impl<T: Default> Default for Striped<T> {
    fn default() -> Self {
        Striped {
            stripes: Box::new(std::array::from_fn(|_| Padded::default())),
        }
    }
}
/// The stripe shared, atomically, by threads that found no stripe of their own.
pub(crate) const SHARED: usize = STRIPES - 1;

/// A stripe index a thread owns until it exits, or [`SHARED`].
struct Slot(usize);

/// Stripe indices given back by threads that exited.
#[cfg(not(loom))]
static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());
/// The next index never handed out.
#[cfg(not(loom))]
static NEXT: AtomicUsize = AtomicUsize::new(0);

impl Slot {
    #[cfg(not(loom))]
    fn take() -> Slot {
        if let Some(index) = FREE.lock().pop() {
            return Slot(index);
        }
        let index = NEXT.fetch_add(1, Relaxed);
        Slot(if index < SHARED { index } else { SHARED })
    }

    /// Under loom: the threads of one execution of a model take stripes 0, 1, 2...
    /// (loom's statics live for one execution), and give none back.
    #[cfg(loom)]
    fn take() -> Slot {
        loom::lazy_static! {
            static ref LOOM_NEXT: loom::sync::atomic::AtomicUsize =
                loom::sync::atomic::AtomicUsize::new(0);
        }
        Slot(LOOM_NEXT.fetch_add(1, Relaxed).min(SHARED))
    }
}

#[cfg(not(loom))]
impl Drop for Slot {
    fn drop(&mut self) {
        // Whatever this exiting thread still counts goes to the shared stripe.
        INDEX.with(|index| index.set(SHARED));
        REMEMBERED.with(|remembered| remembered.set(None));
        // The lock orders this thread's last counts before the next owner's first.
        if self.0 != SHARED {
            FREE.lock().push(self.0);
        }
    }
}

/// Not yet claimed: [`index`] claims a slot on first use.
const UNCLAIMED: usize = usize::MAX;

#[cfg(not(loom))]
thread_local! {
    /// This thread's stripe index, read on every count: a plain thread-local load.
    static INDEX: Cell<usize> = const { Cell::new(UNCLAIMED) };
    /// Owns the index and gives it back when the thread exits.
    static SLOT: Slot = Slot::take();
    /// A counter in this thread's own stripe of a `'static` [`Striped`]: see [`remember`].
    static REMEMBERED: Cell<Option<&'static AtomicU64>> = const { Cell::new(None) };
}

// The same, per loom thread (the threads of a model all run on one OS thread).
#[cfg(loom)]
loom::thread_local! {
    static INDEX: Cell<usize> = Cell::new(UNCLAIMED);
    static SLOT: Slot = Slot::take();
    static REMEMBERED: Cell<Option<&'static AtomicU64>> = Cell::new(None);
}

/// This thread's stripe index.
#[inline]
pub(crate) fn index() -> usize {
    let index = INDEX.with(Cell::get);
    if index != UNCLAIMED { index } else { claim() }
}

/// `extern "C"`: it cannot unwind (nothing here panics; a panic would abort), so callers
/// need no landing pad around it and keep their hot paths lean (measured: `retry()` with
/// a success went from 1.5 to 4.5 ns without it).
#[cold]
extern "C" fn claim() -> usize {
    // At thread exit the slot may already be gone: count in the shared stripe then.
    let index = SLOT.try_with(|slot| slot.0).unwrap_or(SHARED);
    INDEX.with(|cell| cell.set(index));
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

/// The counter this thread [remembered](remember), while the thread owns its stripe.
#[inline]
pub(crate) fn remembered() -> Option<&'static AtomicU64> {
    REMEMBERED.with(Cell::get)
}

/// Remembers `counter`, in stripe `index` of a `'static` [`Striped`], for
/// [`remembered`], unless `index` is the shared stripe (whose counters take an atomic
/// increment). The hottest deposit (the default budget's, see `budget.rs`) then skips the
/// look-up; the thread forgets it when it gives its stripe up.
pub(crate) fn remember(counter: &'static AtomicU64, index: usize) {
    if index != SHARED {
        REMEMBERED.with(|remembered| remembered.set(Some(counter)));
    }
}
