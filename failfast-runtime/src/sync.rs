//! The atomics and locks of a breaker, its counters and budgets: the standard ones (and
//! `parking_lot`'s mutex), or under `--cfg loom` loom's model-checked copies, so
//! `tests/loom.rs` explores every interleaving of the real code:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test -p failfast-runtime --release --target-dir target/loom --test loom
//! ```
//!
//! Only the pieces a breaker or a budget touches on their paths use these: the spell word
//! (`spell.rs`), the counter stripes and their thread-local index (`stripe.rs`), the
//! breaker's own atomics and locks (`breaker/`), the consecutive and window policies, the
//! listeners, and a budget's bucket. Process-wide statics keep the standard types (a loom
//! object lives for one execution of a model). A loom build is for the loom tests only:
//! loom's types panic outside `loom::model`.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, AtomicU32, AtomicU64};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64};

#[cfg(not(loom))]
pub(crate) use parking_lot::Mutex;

#[cfg(loom)]
pub(crate) use self::loom_mutex::Mutex;

#[cfg(loom)]
mod loom_mutex {
    //! loom's mutex with `parking_lot`'s API (no poisoning: `lock` returns the guard), and
    //! one more point where loom may switch threads: right after an unlock. loom's own
    //! unlock is not one, so a thread's unlock and whatever it does next up to its next
    //! lock or atomic operation would look indivisible, and a race in that window (another
    //! thread taking the lock between the two) would never be explored. The switch point
    //! is a write to an atomic that every lock and unlock of the mutex writes, so loom
    //! sees them conflict and tries the other thread's lock on either side of it.

    use std::ops::{Deref, DerefMut};
    use std::sync::atomic::Ordering::Relaxed;

    use loom::sync::atomic::AtomicUsize;

    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T> {
        inner: loom::sync::Mutex<T>,
        /// Written after each lock and each unlock: the switch point.
        handovers: AtomicUsize,
    }

    pub(crate) struct MutexGuard<'a, T> {
        guard: Option<loom::sync::MutexGuard<'a, T>>,
        handovers: &'a AtomicUsize,
    }

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex {
                inner: loom::sync::Mutex::new(value),
                handovers: AtomicUsize::new(0),
            }
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            let guard = self
                .inner
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            self.guard(guard)
        }

        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            match self.inner.try_lock() {
                Ok(guard) => Some(self.guard(guard)),
                Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                    Some(self.guard(poisoned.into_inner()))
                }
                Err(std::sync::TryLockError::WouldBlock) => None,
            }
        }

        fn guard<'a>(&'a self, guard: loom::sync::MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.handovers.fetch_add(1, Relaxed);
            MutexGuard {
                guard: Some(guard),
                handovers: &self.handovers,
            }
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;

        fn deref(&self) -> &T {
            self.guard.as_ref().expect("held until dropped")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.guard.as_mut().expect("held until dropped")
        }
    }

    impl<T> Drop for MutexGuard<'_, T> {
        fn drop(&mut self) {
            drop(self.guard.take());
            if !std::thread::panicking() {
                self.handovers.fetch_add(1, Relaxed);
            }
        }
    }
}
