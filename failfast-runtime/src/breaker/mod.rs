//! The circuit breaker state machine.
//!
//! ```text
//!     `failures` in a row, or a failure            `reset` elapsed, a call asks
//!     rate / slow-call rate reached
//!   Closed ─────────────────────────► Open ───────────────────────────────► HalfOpen
//!     ▲                                ▲                                       │
//!     │                                └── a trial call fails, or runs ────────┤
//!     │                                    `probe_timeout` without reporting   │
//!     │                                  (open longer each time, with reset_max)│
//!     └──────────────────────────── all `probes` trial calls succeed ──────────┘
//!
//!   force_open() -> ForcedOpen (rejects until reset())   disable() -> Disabled (lets all through)
//!   reset() -> Closed, from any state
//! ```
//!
//! How it stays cheap and correct:
//! - The state and a generation number share one atomic word (a [`Spell`](crate::spell::Spell)). A closed
//!   breaker with the consecutive-failure policy and no `slow` hands out permits after
//!   one atomic load and a branch; a success is a plain add to this thread's own counter
//!   stripe (see `metrics.rs`) and a read of the failure streak (see `policy/`).
//!   No lock, no clock, no allocation, no shared write.
//! - A breaker with a window (failure rate, slow-call rate) or timed calls (`slow`)
//!   measures its closed calls. It is marked in its spell word when it is made, so its
//!   closed permits come from the measured path instead: with `slow` the start is
//!   stamped into the permit's ticket (a permit stays two words, see `Ticket`), and the
//!   outcome is recorded in the window under the window's own short lock.
//! - An open breaker rejects without the lock, on the kernel's coarse clock while the
//!   reset is surely not over (see `clock.rs`); a full half-open one, on two more loads
//!   and a clock read (the coarse one while it settles it) that shows no trial has run
//!   past its probe timeout (see `trials.rs`).
//!   In observe mode the same paths hand out a metrics-only permit instead.
//! - Everything else (failures, trial calls, manual control) runs under one mutex, and
//!   re-checks the spell there: a permit from an older spell has a different generation
//!   and its outcome is ignored. What changes under the lock takes `&mut Core`, the
//!   proof that the lock is held.
//! - The breaker never decides itself when to open: it asks its [`Policies`], and
//!   applies their answer.
//! - Transitions are queued under the mutex and delivered to listeners (and to
//!   `telemetry::transition`) after it is released, in order, each exactly once (see
//!   `Breaker::deliver`).
//!
//! The files: this one holds the types and the public API; `admission.rs` decides
//! whether a call may run ([`Breaker::acquire`]), `settling.rs` records how it went,
//! `transitions.rs` moves from spell to spell and delivers the transitions, and
//! `trials.rs` keeps track of the half-open trials and their probe timeout.

mod admission;
mod settling;
mod transitions;
mod trials;

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::clock::{self, nanos};
use crate::config::{BreakerConfig, Mode};
use crate::error::Error;
use crate::guard::guard;
use crate::listeners::{Listeners, Subscription};
use crate::metrics::{Counters, Metrics};
use crate::name::BreakerName;
use crate::policy::Policies;
use crate::spell::AtomicSpell;
use crate::state::State;
use crate::store::{InProcess, SharedState, Store};
use crate::sync::{AtomicU8, AtomicU32, AtomicU64, Mutex};
use crate::telemetry;
use crate::transition::{Reason, Transition};

/// A circuit breaker: stops calling a failing dependency for a while, then tries again
/// carefully.
///
/// Cloning is cheap and every clone is the same breaker. Make one by hand with
/// [`Breaker::new`], or get a named, shared one from the [registry](crate::registry).
///
/// ```
/// use failfast_runtime::{Breaker, BreakerConfig, Error, State};
///
/// let breaker = Breaker::new("payments", BreakerConfig::new().failures(2));
/// for _ in 0..2 {
///     let _ = breaker.call(|| Err::<(), _>(Error::Timeout { after: Default::default() }));
/// }
/// assert_eq!(breaker.state(), State::Open);
/// // Rejected without running the closure.
/// let result: Result<(), Error> = breaker.call(|| unreachable!());
/// assert!(matches!(result, Err(Error::Open { .. })));
/// ```
#[derive(Clone)]
pub struct Breaker {
    inner: Arc<Inner>,
}

/// `repr(C)`: the fields every call reads come first, together, in as few cache lines
/// as possible (left to itself the compiler puts the large config first).
#[repr(C)]
struct Inner {
    // Read by every closed call: the spell, the counters, the failure streak.
    spell: AtomicSpell,
    counters: Counters,
    /// Decide when the breaker opens; the failure streak is read by every closed call.
    policies: Policies,
    /// [`Mode`] bits; read on the rejection paths only.
    mode: AtomicU8,
    // Read by every rejection while open.
    /// A coarse clock reading before which the breaker is surely still open (see
    /// `clock::coarse_bound`); zero when only the exact clock may decide.
    coarse_open_until: AtomicU64,
    /// How long the current (or last) Open spell lasts, in nanoseconds: `reset`, or more
    /// after failed trials with `reset_max`. Caps the coarse `retry_after`.
    open_for: AtomicU64,
    name: BreakerName,
    /// End of the current Open spell, as `clock::to_nanos`. Written before the spell is
    /// published, read without a lock to reject calls cheaply while open.
    open_until: AtomicU64,
    /// Trial permits handed out in this half-open spell and not given back. Written under
    /// the lock; read without it to turn callers away while every trial is taken.
    trials_taken: AtomicU32,
    /// When the oldest trial of this half-open spell that has not reported is overdue
    /// (let through + `probe_timeout`), as `clock::to_nanos`; `u64::MAX` while none is.
    /// Written under the lock; read without it by those same rejections (see `trials.rs`).
    trial_due: AtomicU64,
    /// A coarse clock reading before which no trial is surely overdue (see
    /// `clock::coarse_bound`); zero when only the exact clock may decide.
    coarse_trial_due: AtomicU64,
    config: BreakerConfig,
    /// The `slow` threshold in nanoseconds, when calls are timed.
    slow: Option<u64>,
    /// When the breaker was made (clock nanoseconds): timed permits count from here.
    epoch: u64,
    core: Mutex<Core>,
    /// Held by the one thread that is delivering transitions to listeners.
    delivering: Mutex<()>,
    listeners: Arc<Listeners>,
    /// The listeners of the registry this breaker belongs to, if any.
    registry_listeners: Option<Arc<Listeners>>,
    /// The first differing config another registration asked for.
    conflict: OnceLock<BreakerConfig>,
    /// Where the state is shared with other processes (see `store.rs`).
    store: Arc<dyn Store>,
}

/// What only changes under the lock.
#[derive(Default)]
struct Core {
    /// Trial calls of this half-open spell that succeeded.
    trials_succeeded: u32,
    /// When each trial of this half-open spell that has not reported was let through
    /// (`clock::to_nanos`); emptied by every transition (see `trials.rs`).
    trials_out: Vec<u64>,
    /// The open time before jitter: `reset`, doubled on each reopen from half-open up to
    /// `reset_max` (when set), back to `reset` on a close.
    open_base: Duration,
    last_transition: Option<Transition>,
    /// Transitions not yet handed to the listeners.
    undelivered: VecDeque<Transition>,
}

impl Breaker {
    /// A standalone breaker, closed, not listed in any registry.
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig, State};
    ///
    /// let breaker = Breaker::new("search", BreakerConfig::new());
    /// assert_eq!(breaker.state(), State::Closed);
    /// ```
    pub fn new(name: impl Into<BreakerName>, config: BreakerConfig) -> Breaker {
        Breaker::with_store(name, config, InProcess)
    }

    /// A standalone breaker whose state is shared through `store` with every process
    /// that uses a breaker of the same name there.
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig, InProcess, State};
    ///
    /// let breaker = Breaker::with_store("search", BreakerConfig::new(), InProcess);
    /// assert_eq!(breaker.state(), State::Closed);
    /// ```
    pub fn with_store(
        name: impl Into<BreakerName>,
        config: BreakerConfig,
        store: impl Store,
    ) -> Breaker {
        let breaker = Breaker::build(name.into(), config, State::Closed, None, Arc::new(store));
        breaker.attach();
        breaker
    }

    /// A breaker owned by a registry: its transitions also go to the registry's listeners.
    /// Not attached to its store yet: see [`attach`](Self::attach).
    pub(crate) fn build(
        name: BreakerName,
        config: BreakerConfig,
        initial: State,
        registry_listeners: Option<Arc<Listeners>>,
        store: Arc<dyn Store>,
    ) -> Breaker {
        let epoch = clock::to_nanos(clock::now());
        telemetry::created(&name, initial);
        Breaker {
            inner: Arc::new(Inner {
                name,
                config,
                spell: AtomicSpell::new(initial, config.measures_calls()),
                open_until: AtomicU64::new(0),
                coarse_open_until: AtomicU64::new(0),
                open_for: AtomicU64::new(nanos(config.reset_after())),
                policies: Policies::new(&config, epoch),
                slow: config.slow_threshold().map(nanos),
                epoch,
                mode: AtomicU8::new(config.initial_mode().to_bits()),
                trials_taken: AtomicU32::new(0),
                trial_due: AtomicU64::new(u64::MAX),
                coarse_trial_due: AtomicU64::new(0),
                counters: Counters::default(),
                core: Mutex::new(Core {
                    open_base: config.reset_after(),
                    ..Core::default()
                }),
                delivering: Mutex::new(()),
                listeners: Arc::default(),
                registry_listeners,
                conflict: OnceLock::new(),
                store,
            }),
        }
    }

    /// Starts using the store: a shared store learns of the breaker, and may adopt the
    /// fleet's state before the breaker's first call.
    pub(crate) fn attach(&self) {
        self.inner.store.attach(self);
    }

    /// The breaker's name.
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig};
    ///
    /// assert_eq!(Breaker::new("search", BreakerConfig::new()).name(), "search");
    /// ```
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The current state.
    ///
    /// An `Open` breaker whose reset time has elapsed still reads `Open`: it moves to
    /// `HalfOpen` when the next call asks for a permit.
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig, State};
    ///
    /// let breaker = Breaker::new("search", BreakerConfig::new());
    /// breaker.disable();
    /// assert_eq!(breaker.state(), State::Disabled);
    /// ```
    pub fn state(&self) -> State {
        self.inner.spell.load().state
    }

    /// The configuration the breaker was made with.
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig};
    ///
    /// let config = BreakerConfig::new().failures(3);
    /// assert_eq!(Breaker::new("search", config).config(), config);
    /// ```
    pub fn config(&self) -> BreakerConfig {
        self.inner.config
    }

    /// Whether the breaker rejects calls or only observes them (see [`Mode`]); starts as
    /// the config's [`initial_mode`](BreakerConfig::initial_mode).
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig, Mode};
    ///
    /// assert_eq!(Breaker::new("search", BreakerConfig::new()).mode(), Mode::Enforce);
    /// ```
    pub fn mode(&self) -> Mode {
        Mode::from_bits(self.inner.mode.load(Relaxed))
    }

    /// Switches between enforcing and observing at run time, at once: the next call that
    /// would be rejected is rejected ([`Mode::Enforce`]) or runs ([`Mode::Observe`]).
    /// The state, the window and the counters are kept.
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig, Error, Mode};
    ///
    /// let breaker = Breaker::new("search", BreakerConfig::new());
    /// breaker.force_open();
    /// breaker.set_mode(Mode::Observe);
    /// assert_eq!(breaker.call(|| Ok::<_, Error>(1)), Ok(1));
    /// breaker.set_mode(Mode::Enforce);
    /// assert!(breaker.call(|| Ok::<_, Error>(1)).is_err());
    /// ```
    pub fn set_mode(&self, mode: Mode) {
        self.inner.mode.store(mode.to_bits(), Relaxed);
    }

    /// A snapshot of the counters and the last transition.
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig};
    ///
    /// let breaker = Breaker::new("search", BreakerConfig::new());
    /// breaker.force_open();
    /// assert!(breaker.acquire().is_err());
    /// let m = breaker.metrics();
    /// assert_eq!((m.calls, m.rejections), (1, 1));
    /// ```
    pub fn metrics(&self) -> Metrics {
        let last = self.inner.core.lock().last_transition.clone();
        self.inner.counters.snapshot(last)
    }

    /// The first configuration, different from this breaker's, that a later registration
    /// under the same name asked for (the first registration wins).
    ///
    /// ```
    /// use failfast_runtime::{BreakerConfig, Registry};
    ///
    /// let registry = Registry::new();
    /// let first = registry.breaker("db", BreakerConfig::new());
    /// registry.breaker("db", BreakerConfig::new().failures(9));
    /// assert_eq!(first.conflict(), Some(BreakerConfig::new().failures(9)));
    /// ```
    pub fn conflict(&self) -> Option<BreakerConfig> {
        self.inner.conflict.get().copied()
    }

    /// Keeps the first conflicting config only: that is the one worth reporting.
    pub(crate) fn note_conflict(&self, config: BreakerConfig) {
        if self.inner.conflict.set(config).is_ok() {
            telemetry::conflict(&self.inner.name, &self.inner.config, &config);
        }
    }

    /// Runs `f` if the breaker permits; every `Err` counts as a failure, a panic too.
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig, Error};
    ///
    /// let breaker = Breaker::new("search", BreakerConfig::new());
    /// let hits: Result<u32, Error> = breaker.call(|| Ok(42));
    /// assert_eq!(hits, Ok(42));
    /// ```
    pub fn call<T, E: From<Error>>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        self.call_with(|_| true, f)
    }

    /// Like [`call`](Self::call), but only errors for which `is_failure` returns true count
    /// as failures; the others count as successes and are returned unchanged.
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig, Error};
    ///
    /// let breaker = Breaker::new("search", BreakerConfig::new().failures(1));
    /// let timeouts_dont_count = |e: &Error| !matches!(e, Error::Timeout { .. });
    /// let timeout = Error::Timeout { after: Default::default() };
    /// let _ = breaker.call_with(timeouts_dont_count, || Err::<(), _>(timeout));
    /// assert_eq!(breaker.state(), failfast_runtime::State::Closed);
    /// ```
    pub fn call_with<T, E: From<Error>>(
        &self,
        is_failure: impl Fn(&E) -> bool,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let permit = self.acquire()?;
        // A panic in `f` drops the permit while unwinding, which records a failure.
        let result = f();
        permit.record(&result, is_failure);
        result
    }

    /// Awaits `fut` if the breaker permits; every `Err` counts as a failure, a panic too.
    /// Dropping the returned future before it completes records nothing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use failfast_runtime::{Breaker, BreakerConfig, Error};
    ///
    /// let breaker = Breaker::new("search", BreakerConfig::new());
    /// let hits: Result<u32, Error> = breaker.call_async(async { Ok(42) }).await;
    /// assert_eq!(hits, Ok(42));
    /// # }
    /// ```
    pub async fn call_async<T, E: From<Error>, F: Future<Output = Result<T, E>>>(
        &self,
        fut: F,
    ) -> Result<T, E> {
        self.call_async_with(|_: &E| true, fut).await
    }

    /// Like [`call_async`](Self::call_async), with an `is_failure` filter as in
    /// [`call_with`](Self::call_with).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use failfast_runtime::{Breaker, BreakerConfig, Error};
    ///
    /// let breaker = Breaker::new("search", BreakerConfig::new());
    /// let result: Result<(), Error> = breaker
    ///     .call_async_with(|_| false, async { Err(Error::Timeout { after: Default::default() }) })
    ///     .await;
    /// assert!(result.is_err());
    /// assert_eq!(breaker.metrics().failures, 0);
    /// # }
    /// ```
    pub async fn call_async_with<T, E: From<Error>, F: Future<Output = Result<T, E>>>(
        &self,
        is_failure: impl Fn(&E) -> bool,
        fut: F,
    ) -> Result<T, E> {
        let permit = self.acquire()?;
        guard(permit, is_failure, fut).await
    }

    /// Opens the breaker by hand: every call is rejected until [`reset`](Self::reset).
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig, State};
    ///
    /// let breaker = Breaker::new("search", BreakerConfig::new());
    /// breaker.force_open();
    /// assert_eq!(breaker.state(), State::ForcedOpen);
    /// assert!(breaker.acquire().is_err());
    /// ```
    pub fn force_open(&self) {
        self.set_by_hand(State::ForcedOpen, Reason::ForcedOpen);
    }

    /// Closes the breaker and clears its failure count, from any state.
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig, State};
    ///
    /// let breaker = Breaker::new("search", BreakerConfig::new());
    /// breaker.force_open();
    /// breaker.reset();
    /// assert_eq!(breaker.state(), State::Closed);
    /// ```
    pub fn reset(&self) {
        self.set_by_hand(State::Closed, Reason::Reset);
    }

    /// Switches the breaker off: every call passes and no outcome counts toward opening
    /// (the metrics still count them, slow calls included). [`reset`](Self::reset)
    /// switches it back on.
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig, State};
    ///
    /// let breaker = Breaker::new("search", BreakerConfig::new().failures(1));
    /// breaker.disable();
    /// breaker.acquire().unwrap().failure();
    /// assert_eq!(breaker.state(), State::Disabled);
    /// ```
    pub fn disable(&self) {
        self.set_by_hand(State::Disabled, Reason::Disabled);
    }

    fn set_by_hand(&self, to: State, reason: Reason) {
        let changed = self.transact(|core| {
            let spell = self.inner.spell.load();
            if spell.state != to {
                self.transition(core, spell, to, reason, clock::now());
                return true;
            }
            if to == State::Closed {
                // reset() on a closed breaker still forgets a failure streak, a window.
                self.inner.policies.reset();
            }
            false
        });
        if !changed {
            // Already so here, maybe not elsewhere: a manual change acts fleet-wide.
            self.inner.store.publish(self);
        }
    }

    /// The state to share with other processes (see [`Store`]): `None` while half-open.
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig, SharedState};
    ///
    /// let breaker = Breaker::new("db", BreakerConfig::new());
    /// breaker.force_open();
    /// assert_eq!(breaker.shared_state(), Some(SharedState::ForcedOpen));
    /// ```
    pub fn shared_state(&self) -> Option<SharedState> {
        let inner = &*self.inner;
        Some(match inner.spell.load().state {
            State::Closed => SharedState::Closed,
            State::Open => SharedState::Open {
                remaining: clock::until(inner.open_until.load(Relaxed), clock::now()),
            },
            State::HalfOpen => return None,
            State::ForcedOpen => SharedState::ForcedOpen,
            State::Disabled => SharedState::Disabled,
        })
    }

    /// Applies a change another process made (told by a [`Store`]); the transition, if
    /// any, has [`Reason::Shared`] and is not published again.
    ///
    /// An open breaker stays open at least as long as it already would; a forced-open
    /// or disabled one ignores `Open` (a manual state holds until a manual change).
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig, Reason, SharedState, State};
    /// use std::time::Duration;
    ///
    /// let breaker = Breaker::new("db", BreakerConfig::new());
    /// breaker.adopt(SharedState::Open { remaining: Duration::from_secs(5) });
    /// assert_eq!(breaker.state(), State::Open);
    /// assert_eq!(breaker.metrics().last_transition.unwrap().reason, Reason::Shared);
    /// assert!(breaker.acquire().is_err());
    /// breaker.adopt(SharedState::Closed);
    /// assert_eq!(breaker.state(), State::Closed);
    /// ```
    pub fn adopt(&self, state: SharedState) {
        let inner = &*self.inner;
        self.transact(|core| {
            let spell = inner.spell.load();
            let now = clock::now();
            let to = match state {
                SharedState::Open { remaining } => {
                    match spell.state {
                        State::ForcedOpen | State::Disabled => {}
                        State::Open => {
                            if clock::nanos_after(now, remaining) > inner.open_until.load(Relaxed) {
                                self.hold_open(core, now, remaining);
                            }
                        }
                        State::Closed | State::HalfOpen => {
                            self.transition(core, spell, State::Open, Reason::Shared, now);
                            self.hold_open(core, now, remaining);
                        }
                    }
                    return;
                }
                SharedState::ForcedOpen => State::ForcedOpen,
                SharedState::Disabled => State::Disabled,
                SharedState::Closed => State::Closed,
            };
            if spell.state != to {
                self.transition(core, spell, to, Reason::Shared, now);
            }
        });
    }

    /// Calls `f` with every transition of this breaker, once each, in order, after the
    /// breaker's lock is released (so `f` may call `reset` or `force_open`).
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig, State};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let breaker = Breaker::new("search", BreakerConfig::new());
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// breaker.subscribe(move |t| log.lock().unwrap().push(t.to));
    /// breaker.force_open();
    /// breaker.reset();
    /// assert_eq!(*seen.lock().unwrap(), [State::ForcedOpen, State::Closed]);
    /// ```
    pub fn subscribe(&self, f: impl Fn(&Transition) + Send + Sync + 'static) -> Subscription {
        self.inner.listeners.add(f)
    }
}

/// A breaker handle that does not keep the breaker alive (held by shared stores).
#[cfg(feature = "redis")]
#[derive(Clone)]
pub(crate) struct WeakBreaker(std::sync::Weak<Inner>);

#[cfg(feature = "redis")]
impl WeakBreaker {
    pub(crate) fn upgrade(&self) -> Option<Breaker> {
        self.0.upgrade().map(|inner| Breaker { inner })
    }

    /// Whether both are handles of the same breaker.
    pub(crate) fn same(&self, other: &WeakBreaker) -> bool {
        std::sync::Weak::ptr_eq(&self.0, &other.0)
    }
}

#[cfg(feature = "redis")]
impl Breaker {
    pub(crate) fn downgrade(&self) -> WeakBreaker {
        WeakBreaker(Arc::downgrade(&self.inner))
    }
}

#[cfg(loom)]
impl Breaker {
    /// The current spell's generation (see `loom_hooks`).
    pub(crate) fn generation(&self) -> u64 {
        self.inner.spell.load().generation
    }
}

impl Inner {
    /// Nanoseconds from the breaker's creation to `at`, wrapping (timed tickets keep the
    /// low 48 bits).
    fn since_epoch(&self, at: tokio::time::Instant) -> u64 {
        clock::to_nanos(at).wrapping_sub(self.epoch)
    }
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("name", &self.name())
            .field("state", &self.state())
            .finish()
    }
}
