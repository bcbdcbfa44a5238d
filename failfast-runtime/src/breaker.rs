//! The circuit breaker state machine.
//!
//! ```text
//!     `failures` in a row, or a failure            `reset` elapsed, a call asks
//!     rate / slow-call rate reached
//!   Closed ─────────────────────────► Open ───────────────────────────────► HalfOpen
//!     ▲                                ▲                                       │
//!     │                                └──────── a trial call fails ───────────┤
//!     │                                  (open longer each time, with reset_max)│
//!     └──────────────────────────── all `probes` trial calls succeed ──────────┘
//!
//!   force_open() -> ForcedOpen (rejects until reset())   disable() -> Disabled (lets all through)
//!   reset() -> Closed, from any state
//! ```
//!
//! How it stays cheap and correct:
//! - The state and a generation number share one atomic word (a [`Spell`]). A closed
//!   breaker with the consecutive-failure policy and no `slow` hands out permits after
//!   one atomic load and a branch; a success is a plain add to this thread's own counter
//!   stripe (see `metrics.rs`) and a read of the failure streak (see [`Consecutive`]).
//!   No lock, no clock, no allocation, no shared write.
//! - A breaker with a window (failure rate, slow-call rate) or timed calls (`slow`) is
//!   marked in its spell word when it is made, so its closed permits come from the
//!   careful path instead: with `slow` the start is stamped into the permit's ticket
//!   (a permit stays two words, see [`Ticket`]), and the outcome is recorded in the
//!   window under the window's own short lock (see [`WindowPolicy`]).
//! - An open breaker rejects without the lock, on the kernel's coarse clock while the
//!   reset is surely not over (see `clock.rs`); a full half-open one, on one more load.
//!   In observe mode the same paths hand out a metrics-only permit instead.
//! - Everything else (failures, trial calls, manual control) runs under one mutex, and
//!   re-checks the spell there: a permit from an older spell has a different generation
//!   and its outcome is ignored.
//! - Transitions are queued under the mutex and delivered to listeners (and to
//!   `observe::transition`) after it is released, in order, each exactly once (see
//!   [`Breaker::deliver`]).

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use rand::Rng;

use crate::backoff::jitter_rng;
use crate::clock;
use crate::guard::guard;
use crate::listeners::Listeners;
use crate::metrics::Counters;
use crate::observe;
use crate::permit::{Kind, Outcome, Ticket};
use crate::policy::{Consecutive, WindowPolicy};
use crate::spell::{AtomicSpell, Spell};
use crate::store::{InProcess, Lease, SharedState, Store};
use crate::{
    BreakerConfig, BreakerName, Error, Metrics, Mode, Permit, Reason, State, Subscription,
    Transition,
};

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
    policy: Consecutive,
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
    trials_issued: AtomicU32,
    config: BreakerConfig,
    /// The `slow` threshold in nanoseconds, when calls are timed.
    slow: Option<u64>,
    /// When the breaker was made (clock nanoseconds): timed permits count from here.
    epoch: u64,
    /// The failure-rate and slow-call-rate window, when the config asks for one.
    window: Option<WindowPolicy>,
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
        let window = WindowPolicy::new(&config, epoch);
        observe::created(&name, initial);
        Breaker {
            inner: Arc::new(Inner {
                name,
                config,
                spell: AtomicSpell::new(initial, config.needs_window()),
                open_until: AtomicU64::new(0),
                coarse_open_until: AtomicU64::new(0),
                open_for: AtomicU64::new(nanos(config.reset_after())),
                policy: Consecutive::new(config.failures_threshold()),
                window,
                slow: config.slow_threshold().map(nanos),
                epoch,
                mode: AtomicU8::new(config.initial_mode().to_bits()),
                trials_issued: AtomicU32::new(0),
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
            observe::conflict(&self.inner.name, &self.inner.config, &config);
        }
    }

    /// Asks to make one call. `Ok(permit)`: make the call and report its outcome through
    /// the permit. `Err(Error::Open)`: don't.
    ///
    /// Closed and Disabled always permit. Open rejects until its open time (`reset`, or
    /// longer with `reset_max`) has elapsed, then moves to HalfOpen and hands out a trial
    /// permit. HalfOpen permits `probes` trial calls per spell and rejects the rest (with
    /// `retry_after` zero). ForcedOpen rejects (with `retry_after` = the configured
    /// `reset`). In [observe mode](Mode::Observe) nothing is rejected: a call that would
    /// be gets a permit whose outcome only counts in the metrics.
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig};
    ///
    /// let breaker = Breaker::new("search", BreakerConfig::new());
    /// let permit = breaker.acquire().expect("closed");
    /// permit.success();
    /// ```
    #[inline]
    pub fn acquire(&self) -> Result<Permit<'_>, Error> {
        // The hot path: one atomic load and a branch.
        match self.inner.spell.closed_generation() {
            Some(generation) => Ok(Permit::new(self, Ticket::new(Kind::Closed, generation))),
            None => self.acquire_unclosed(self.inner.spell.load()),
        }
    }

    /// `acquire` for every state but Closed, and for Closed on the careful path: still
    /// lock-free for the rejections.
    #[inline(never)]
    fn acquire_unclosed(&self, spell: Spell) -> Result<Permit<'_>, Error> {
        let inner = &*self.inner;
        match spell.state {
            State::Closed => Ok(self.permit(self.closed_kind(), spell.generation)),
            State::Disabled => Ok(self.permit(Kind::Passthrough, spell.generation)),
            State::ForcedOpen => self.refuse(inner.config.reset_after()),
            State::Open => {
                // Reject without the lock while the open time runs; a coarse clock
                // settles it when it is surely not over.
                if let Some(left) = clock::surely_open(inner.coarse_open_until.load(Relaxed)) {
                    // Rounded up by under a tick; never past the whole open time.
                    let open_for = Duration::from_nanos(inner.open_for.load(Relaxed));
                    return self.refuse(left.min(open_for));
                }
                let left = clock::until(inner.open_until.load(Relaxed), clock::now());
                if left.is_zero() {
                    self.lease(spell.generation)
                } else {
                    self.refuse(left)
                }
            }
            // Every trial taken: turn the caller away without the lock.
            State::HalfOpen if inner.trials_taken() >= inner.config.probe_count() => {
                self.refuse(Duration::ZERO)
            }
            State::HalfOpen => self.acquire_locked(),
        }
    }

    /// The open time is over here: the store says whether this process runs the trials.
    /// The lease lasts as long as the open time did.
    #[cold]
    fn lease(&self, generation: u64) -> Result<Permit<'_>, Error> {
        let inner = &*self.inner;
        let open_for = Duration::from_nanos(inner.open_for.load(Relaxed));
        match inner.store.lease(self, open_for) {
            Lease::Granted => self.acquire_locked(),
            Lease::Denied { retry_after } => {
                self.transact(|_| {
                    let spell = inner.spell.load();
                    if spell.state == State::Open && spell.generation == generation {
                        self.open_until(clock::now(), retry_after);
                    }
                });
                self.refuse(retry_after)
            }
        }
    }

    /// The kind of a permit for a call through the closed breaker.
    fn closed_kind(&self) -> Kind {
        if self.inner.config.needs_window() {
            Kind::Careful
        } else {
            Kind::Closed
        }
    }

    /// A permit of `kind`, stamped with the start time when calls are timed.
    fn permit(&self, kind: Kind, generation: u64) -> Permit<'_> {
        let ticket = match self.inner.slow {
            Some(_) => Ticket::timed(kind, generation, self.inner.since_epoch(clock::now())),
            None => Ticket::new(kind, generation),
        };
        Permit::new(self, ticket)
    }

    /// The careful path of `acquire`: decides under the lock, where trial slots are counted.
    fn acquire_locked(&self) -> Result<Permit<'_>, Error> {
        let inner = &*self.inner;
        let decision = self.transact(|core| {
            let spell = inner.spell.load();
            match spell.state {
                State::Closed => Ok((self.closed_kind(), spell.generation)),
                State::Disabled => Ok((Kind::Passthrough, spell.generation)),
                State::ForcedOpen => Err(inner.config.reset_after()),
                State::Open => {
                    let now = clock::now();
                    let left = clock::until(inner.open_until.load(Relaxed), now);
                    if !left.is_zero() {
                        return Err(left);
                    }
                    let trial =
                        self.transition(core, spell, State::HalfOpen, Reason::ResetElapsed, now);
                    inner.trials_issued.store(1, Relaxed);
                    Ok((Kind::Trial, trial.generation))
                }
                State::HalfOpen if inner.trials_taken() < inner.config.probe_count() => {
                    inner.trials_issued.fetch_add(1, Relaxed);
                    Ok((Kind::Trial, spell.generation))
                }
                State::HalfOpen => Err(Duration::ZERO),
            }
        });
        match decision {
            Ok((kind, generation)) => Ok(self.permit(kind, generation)),
            Err(retry_after) => self.refuse(retry_after),
        }
    }

    /// A call the breaker would reject: rejected in enforce mode, let through (counted as
    /// a rejection, its outcome in the metrics only) in observe mode.
    #[inline]
    fn refuse(&self, retry_after: Duration) -> Result<Permit<'_>, Error> {
        if self.inner.mode.load(Relaxed) == Mode::Observe.to_bits() {
            return Ok(self.observed());
        }
        Err(self.reject(retry_after))
    }

    fn reject(&self, retry_after: Duration) -> Error {
        self.inner.counters.rejection();
        observe::rejected(&self.inner.name);
        Error::Open {
            name: self.inner.name.clone(),
            retry_after,
        }
    }

    /// Observe mode's answer to a call it would reject: run it, count it.
    #[cold]
    fn observed(&self) -> Permit<'_> {
        let counters = &self.inner.counters;
        counters.rejection();
        counters.observed();
        observe::rejected(&self.inner.name);
        // The generation of a metrics-only permit is never looked at.
        self.permit(Kind::Passthrough, 0)
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
                self.inner.forget();
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
                                self.open_until(now, remaining);
                            }
                        }
                        State::Closed | State::HalfOpen => {
                            self.transition(core, spell, State::Open, Reason::Shared, now);
                            self.open_until(now, remaining);
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

    /// Records the outcome of a call made with a permit with `ticket` (its kind, its
    /// spell and, when calls are timed, its start).
    #[inline]
    pub(crate) fn settle(&self, ticket: Ticket, outcome: Outcome) {
        if ticket.is_closed() && outcome == Outcome::Success {
            // The hot path: a count in this thread's own stripe, and a no-op on the
            // policy unless a failure streak is running. Lock-free, clock-free.
            self.inner.counters.success();
            observe::outcome(&self.inner.name, true, false);
            self.inner.policy.on_success();
        } else {
            self.settle_other(ticket, outcome);
        }
    }

    #[inline(never)]
    fn settle_other(&self, ticket: Ticket, outcome: Outcome) {
        let inner = &*self.inner;
        let kind = ticket.kind();
        let finished = outcome != Outcome::Cancelled;
        // Only a breaker with `slow` stamps its permits; its calls are timed here.
        let mut now = None;
        let mut slow = false;
        let generation = match inner.slow {
            Some(threshold) => {
                if finished {
                    let at = clock::now();
                    // Slower than: strictly.
                    slow = ticket.elapsed(inner.since_epoch(at)) > threshold;
                    now = Some(clock::to_nanos(at));
                }
                ticket.timed_generation(inner.spell.load().generation)
            }
            None => ticket.generation(),
        };
        match outcome {
            Outcome::Success => inner.counters.success(),
            Outcome::Failure => inner.counters.failure(),
            Outcome::Cancelled => inner.counters.cancelled(),
        }
        if slow {
            inner.counters.slow_call();
        }
        if finished {
            observe::outcome(&inner.name, outcome == Outcome::Success, slow);
        }
        match (kind, outcome) {
            // The hot path: lock-free, and a no-op unless a failure streak is running.
            (Kind::Closed, Outcome::Success) => inner.policy.on_success(),
            (Kind::Closed, Outcome::Failure) => self.closed_failure(generation),
            (Kind::Careful, Outcome::Success | Outcome::Failure) => {
                self.careful_outcome(generation, outcome == Outcome::Failure, slow, now);
            }
            (Kind::Trial, _) => self.trial_outcome(generation, outcome, slow),
            (Kind::Closed | Kind::Careful, Outcome::Cancelled) | (Kind::Passthrough, _) => {}
        }
    }

    /// The outcome of a closed call on the careful path: into the window (failure rate,
    /// slow-call rate), and to the consecutive policy unless a failure rate decides.
    fn careful_outcome(&self, generation: u64, failed: bool, slow: bool, now: Option<u64>) {
        let inner = &*self.inner;
        let mut trip = None;
        if let Some(window) = &inner.window {
            let at = match now {
                Some(at) => at,
                None if window.is_timed() => clock::to_nanos(clock::now()),
                None => 0,
            };
            trip = window.record(failed, slow, at, || inner.is_current_closed(generation));
        }
        if !inner
            .window
            .as_ref()
            .is_some_and(WindowPolicy::judges_failures)
        {
            if failed {
                self.closed_failure(generation);
            } else {
                inner.policy.on_success();
            }
        }
        if let Some(reason) = trip {
            self.transact(|core| {
                let spell = inner.spell.load();
                if spell.state == State::Closed && spell.generation == generation {
                    self.transition(core, spell, State::Open, reason, clock::now());
                }
            });
        }
    }

    fn closed_failure(&self, generation: u64) {
        let inner = &*self.inner;
        self.transact(|core| {
            let spell = inner.spell.load();
            let current = spell.state == State::Closed && spell.generation == generation;
            if current && inner.policy.on_failure() {
                self.transition(core, spell, State::Open, Reason::Failures, clock::now());
            }
        });
    }

    fn trial_outcome(&self, generation: u64, outcome: Outcome, slow: bool) {
        let inner = &*self.inner;
        // A slow trial shows the dependency is not well yet, when slowness can open the
        // breaker.
        let outcome = match outcome {
            Outcome::Success if slow && inner.slow_rate_set() => Outcome::Failure,
            other => other,
        };
        self.transact(|core| {
            let spell = inner.spell.load();
            if spell.state != State::HalfOpen || spell.generation != generation {
                return; // a trial of an earlier spell: this one is not its business
            }
            match outcome {
                Outcome::Success => {
                    core.trials_succeeded += 1;
                    if core.trials_succeeded >= inner.config.probe_count() {
                        let now = clock::now();
                        self.transition(core, spell, State::Closed, Reason::ProbesSucceeded, now);
                    }
                }
                Outcome::Failure => {
                    self.transition(core, spell, State::Open, Reason::ProbeFailed, clock::now());
                }
                // The call never finished: give its slot to another trial.
                // (Written under the lock only, so a load and a store will do; saturating,
                // in case a very old trial aliased this spell: see `Ticket`.)
                Outcome::Cancelled => {
                    let issued = inner.trials_issued.load(Relaxed);
                    inner.trials_issued.store(issued.saturating_sub(1), Relaxed);
                }
            }
        });
    }

    /// Moves from spell `from` to state `to`; the caller holds the lock (`core`).
    fn transition(
        &self,
        core: &mut Core,
        from: Spell,
        to: State,
        reason: Reason,
        now: tokio::time::Instant,
    ) -> Spell {
        let inner = &*self.inner;
        match to {
            State::Open => {
                let open_for = self.open_time(core, from.state);
                inner.open_for.store(nanos(open_for), Relaxed);
                self.open_until(now, open_for);
            }
            State::HalfOpen => {
                inner.trials_issued.store(0, Relaxed);
                core.trials_succeeded = 0;
            }
            // Before the new spell is published: no permit of it can have recorded yet.
            // (The open time goes back to `reset` when the breaker next opens from here.)
            State::Closed => inner.forget(),
            State::ForcedOpen | State::Disabled => {}
        }
        let next = from.next(to);
        inner.spell.store(next);
        let transition = Transition {
            name: inner.name.clone(),
            from: from.state,
            to,
            reason,
            at: now.into_std(),
        };
        core.last_transition = Some(transition.clone());
        core.undelivered.push_back(transition);
        next
    }

    /// Keeps the breaker open for `open_for` from `now`; the caller holds the lock.
    fn open_until(&self, now: tokio::time::Instant, open_for: Duration) {
        let inner = &*self.inner;
        let until = clock::nanos_after(now, open_for);
        inner.open_until.store(until, Relaxed);
        inner
            .coarse_open_until
            .store(clock::coarse_bound(now, until), Relaxed);
    }

    /// How long an Open spell entered from `from` lasts: `reset`; or, with a `reset_max`
    /// above `reset` and straight from half-open, twice the last one's base (at most
    /// `reset_max`), jittered down by up to a fifth.
    fn open_time(&self, core: &mut Core, from: State) -> Duration {
        let reset = self.inner.config.reset_after();
        match self.inner.config.reset_ceiling() {
            Some(max) if from == State::HalfOpen && max > reset => {
                let base = core.open_base.saturating_mul(2).min(max).max(reset);
                core.open_base = base;
                let base = nanos(base);
                Duration::from_nanos(jitter_rng().random_range(base - base / 5..=base))
            }
            _ => {
                core.open_base = reset;
                reset
            }
        }
    }

    /// Runs `f` under the lock, then delivers the transitions it queued.
    fn transact<R>(&self, f: impl FnOnce(&mut Core) -> R) -> R {
        let result = f(&mut self.inner.core.lock());
        self.deliver();
        result
    }

    /// Hands queued transitions to the listeners, in order, each exactly once, with the
    /// breaker's lock released.
    ///
    /// One thread delivers at a time. A thread that finds another delivering leaves its
    /// transitions to it. A listener that itself causes a transition (it calls `reset`)
    /// comes back here on the same thread, finds the delivery lock taken and returns: the
    /// loop below delivers that transition once the listener has returned.
    fn deliver(&self) {
        let inner = &*self.inner;
        loop {
            let Some(delivering) = inner.delivering.try_lock() else {
                return;
            };
            loop {
                // Own statement, so the core lock is released before listeners run.
                let next = inner.core.lock().undelivered.pop_front();
                let Some(transition) = next else { break };
                if transition.reason != Reason::Shared && transition.to != State::HalfOpen {
                    inner.store.publish(self);
                }
                observe::transition(&transition);
                inner.listeners.notify(&transition);
                if let Some(registry) = &inner.registry_listeners {
                    registry.notify(&transition);
                }
            }
            drop(delivering);
            // A transition queued between our last look and the unlock was left to us.
            if inner.core.lock().undelivered.is_empty() {
                return;
            }
        }
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

impl Inner {
    fn trials_taken(&self) -> u32 {
        self.trials_issued.load(Relaxed)
    }

    /// True while the breaker is in the Closed spell `generation`.
    fn is_current_closed(&self, generation: u64) -> bool {
        let spell = self.spell.load();
        spell.state == State::Closed && spell.generation == generation
    }

    /// Nanoseconds from the breaker's creation to `at`, wrapping (timed tickets keep the
    /// low 48 bits).
    fn since_epoch(&self, at: tokio::time::Instant) -> u64 {
        clock::to_nanos(at).wrapping_sub(self.epoch)
    }

    fn slow_rate_set(&self) -> bool {
        self.config.slow_rate_threshold().is_some()
    }

    /// Starts the policy afresh: no failure streak, an empty window.
    fn forget(&self) {
        self.policy.reset();
        if let Some(window) = &self.window {
            window.clear();
        }
    }
}

/// `d` in nanoseconds, saturating.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("name", &self.name())
            .field("state", &self.state())
            .finish()
    }
}
