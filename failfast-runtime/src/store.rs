//! Where breaker state is shared: the [`Store`] trait, the in-process default and the
//! process-wide default store.
//!
//! A breaker always decides on its own atomics, in its own process; a store only tells
//! other processes what it decided, and asks them before it runs half-open trials. So
//! the closed hot path never touches a store, and a store that is down leaves every
//! breaker working on local state.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::breaker::Breaker;

/// Shares breaker state with other processes.
///
/// What is shared: that a breaker is open and for how long, forced open, disabled or
/// closed again ([`SharedState`]), and the lease to run the half-open trials ([`Lease`]).
/// Failures are counted in each process: any process that trips a breaker opens it for
/// all of them.
///
/// [`InProcess`] is the default and shares nothing. `RedisStore` (feature `redis`)
/// shares through a Redis server. A store that learns of a change made elsewhere applies
/// it with [`Breaker::adopt`].
///
/// ```
/// use failfast_runtime::{Breaker, BreakerConfig, Lease, SharedState, Store};
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
///
/// /// Records what it is told, and lets every process probe.
/// #[derive(Clone, Default)]
/// struct Recorder(Arc<Mutex<Vec<Option<SharedState>>>>);
///
/// impl Store for Recorder {
///     fn attach(&self, _: &Breaker) {}
///     fn publish(&self, breaker: &Breaker) {
///         self.0.lock().unwrap().push(breaker.shared_state());
///     }
///     fn lease(&self, _: &Breaker, _: Duration) -> Lease {
///         Lease::Granted
///     }
/// }
///
/// let recorder = Recorder::default();
/// let breaker = Breaker::with_store("db", BreakerConfig::new(), recorder.clone());
/// breaker.force_open();
/// breaker.reset();
/// assert_eq!(
///     *recorder.0.lock().unwrap(),
///     [Some(SharedState::ForcedOpen), Some(SharedState::Closed)]
/// );
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a failfast store",
    label = "expected a store: where the breaker's state lives",
    note = "a store is `failfast::InProcess` (the default: this process only), a `failfast::RedisStore` (feature \"redis\": shared across processes), an `Arc` of one, or your own type implementing `failfast::Store`"
)]
pub trait Store: Send + Sync + 'static {
    /// `breaker` starts using this store: called once, when it is made (for the
    /// attributes: on the fn's first call). A shared store keeps a handle to apply
    /// changes made elsewhere, and looks up the breaker's shared state, so that a breaker
    /// the fleet has opened rejects from its first call; it may wait for that up to a
    /// small bound.
    fn attach(&self, breaker: &Breaker);

    /// This process changed `breaker`'s state (a trip, a close after trials, or a manual
    /// `force_open`, `reset`, `disable`); [`Breaker::shared_state`] tells what to share.
    /// Called on the caller's path, after the breaker's lock is released: must not
    /// block or wait on the network.
    fn publish(&self, breaker: &Breaker);

    /// `breaker`'s open time is over in this process: may it run the half-open trials?
    /// A lease not given back within `ttl` (by a close or a reopen) lapses, so a process
    /// that crashed mid-trial cannot wedge the breaker. `ttl` is the open time that just
    /// ended, or the breaker's
    /// [`probe_timeout_after`](crate::BreakerConfig::probe_timeout_after) if that is
    /// longer: a process whose trial hangs reopens the breaker (and publishes it) once
    /// the probe timeout has passed, so the lease does not lapse before it gives up. Called on the caller's path: must
    /// answer within a small bound, [`Lease::Granted`] when the store cannot tell.
    fn lease(&self, breaker: &Breaker, ttl: Duration) -> Lease;
}

/// A breaker state as shared between processes: the states a process decides on and
/// others must follow. HalfOpen is never shared: one process holds the trial lease, the
/// others stay open.
///
/// ```
/// use failfast_runtime::{Breaker, BreakerConfig, SharedState};
///
/// let breaker = Breaker::new("db", BreakerConfig::new());
/// assert_eq!(breaker.shared_state(), Some(SharedState::Closed));
/// breaker.disable();
/// assert_eq!(breaker.shared_state(), Some(SharedState::Disabled));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedState {
    /// Open, for this much longer.
    Open {
        /// What is left of the open time.
        remaining: Duration,
    },
    /// Opened by hand: rejects until a reset.
    ForcedOpen,
    /// Switched off by hand: lets everything through until a reset.
    Disabled,
    /// Closed.
    Closed,
}

/// The answer to [`Store::lease`].
///
/// ```
/// use failfast_runtime::Lease;
/// use std::time::Duration;
///
/// let lease = Lease::Denied { retry_after: Duration::from_millis(300) };
/// assert_ne!(lease, Lease::Granted);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// This process runs the half-open trials.
    Granted,
    /// Another process holds the lease, or the breaker is open elsewhere: stay open
    /// (and reject) this much longer before asking again.
    Denied {
        /// How long to stay open before asking again.
        retry_after: Duration,
    },
}

/// The default store: state lives in the breaker, in this process only.
///
/// ```
/// use failfast_runtime::{Breaker, BreakerConfig, InProcess, Lease, Store};
/// use std::time::Duration;
///
/// let breaker = Breaker::new("db", BreakerConfig::new());
/// assert_eq!(InProcess.lease(&breaker, Duration::from_secs(1)), Lease::Granted);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct InProcess;

impl Store for InProcess {
    fn attach(&self, _: &Breaker) {}

    fn publish(&self, _: &Breaker) {}

    /// There is no other process to ask.
    fn lease(&self, _: &Breaker, _: Duration) -> Lease {
        Lease::Granted
    }
}

impl<S: Store + ?Sized> Store for Arc<S> {
    fn attach(&self, breaker: &Breaker) {
        (**self).attach(breaker);
    }

    fn publish(&self, breaker: &Breaker) {
        (**self).publish(breaker);
    }

    fn lease(&self, breaker: &Breaker, ttl: Duration) -> Lease {
        (**self).lease(breaker, ttl)
    }
}

static DEFAULT_STORE: OnceLock<Arc<dyn Store>> = OnceLock::new();

/// Sets the store of every registered breaker (those of the attributes included) that
/// names none. Call it once, at start-up, before the first guarded call: the default is
/// fixed by then, and a later call returns [`StoreAlreadySet`].
///
/// ```
/// use failfast_runtime::{InProcess, set_default_store};
///
/// assert!(set_default_store(InProcess).is_ok());
/// assert!(set_default_store(InProcess).is_err());
/// ```
pub fn set_default_store(store: impl Store) -> Result<(), StoreAlreadySet> {
    let store: Arc<dyn Store> = Arc::new(store);
    DEFAULT_STORE.set(store).map_err(|_| StoreAlreadySet)
}

/// The process-wide default store; fixed (as [`InProcess`] if none was set) on first use.
pub(crate) fn default_store() -> Arc<dyn Store> {
    DEFAULT_STORE.get_or_init(|| Arc::new(InProcess)).clone()
}

/// [`set_default_store`] was called after the default store was fixed: by an earlier
/// call, or by the first registered breaker.
///
/// ```
/// use failfast_runtime::StoreAlreadySet;
///
/// assert!(StoreAlreadySet.to_string().contains("set_default_store"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreAlreadySet;

impl fmt::Display for StoreAlreadySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "set_default_store was called after the default store was fixed (by an earlier \
             call, or by the first registered breaker); call it once, at start-up, before \
             the first guarded call",
        )
    }
}

impl std::error::Error for StoreAlreadySet {}
