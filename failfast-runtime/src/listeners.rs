//! Listeners of transitions, and the handle that removes one.

use std::fmt;
use std::sync::{Arc, Weak};

use crate::sync::Mutex;
use crate::transition::Transition;

type Listener = Arc<dyn Fn(&Transition) + Send + Sync>;

/// A set of listeners: one per breaker, one per registry.
#[derive(Default)]
pub(crate) struct Listeners {
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    next_id: u64,
    list: Vec<(u64, Listener)>,
}

impl Listeners {
    pub(crate) fn add(
        self: &Arc<Self>,
        f: impl Fn(&Transition) + Send + Sync + 'static,
    ) -> Subscription {
        let mut entries = self.inner.lock();
        let id = entries.next_id;
        entries.next_id += 1;
        entries.list.push((id, Arc::new(f)));
        Subscription {
            listeners: Arc::downgrade(self),
            id,
        }
    }

    /// Calls every listener with `t`. The list is copied first and the lock released, so
    /// a listener may subscribe, cancel, or act on breakers.
    pub(crate) fn notify(&self, t: &Transition) {
        let snapshot: Vec<Listener> = self
            .inner
            .lock()
            .list
            .iter()
            .map(|(_, f)| f.clone())
            .collect();
        for f in snapshot {
            f(t);
        }
    }

    fn remove(&self, id: u64) {
        self.inner.lock().list.retain(|(i, _)| *i != id);
    }
}

impl fmt::Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listeners")
            .field("count", &self.inner.lock().list.len())
            .finish()
    }
}

/// A registered transition listener. Dropping it keeps the listener; [`cancel`](Self::cancel)
/// removes it.
///
/// ```
/// use failfast_runtime::{Breaker, BreakerConfig};
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let breaker = Breaker::new("db", BreakerConfig::new());
/// let seen = Arc::new(AtomicUsize::new(0));
/// let counter = seen.clone();
/// let sub = breaker.subscribe(move |_| { counter.fetch_add(1, Ordering::SeqCst); });
/// breaker.force_open();
/// sub.cancel();
/// breaker.reset();
/// assert_eq!(seen.load(Ordering::SeqCst), 1);
/// ```
pub struct Subscription {
    listeners: Weak<Listeners>,
    id: u64,
}

impl Subscription {
    /// Removes the listener; transitions from now on are not delivered to it.
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig};
    ///
    /// let breaker = Breaker::new("db", BreakerConfig::new());
    /// breaker.subscribe(|t| panic!("cancelled, never called: {t:?}")).cancel();
    /// breaker.force_open();
    /// ```
    pub fn cancel(self) {
        if let Some(listeners) = self.listeners.upgrade() {
            listeners.remove(self.id);
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .finish()
    }
}
