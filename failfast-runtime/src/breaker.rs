//! The circuit breaker state machine.
//!
//! ```text
//!            `failures` in a row                    `reset` elapsed, a call asks
//!   Closed ─────────────────────────► Open ───────────────────────────────► HalfOpen
//!     ▲                                ▲                                       │
//!     │                                └──────── a trial call fails ───────────┤
//!     └──────────────────────────── all `probes` trial calls succeed ──────────┘
//!
//!   force_open() -> ForcedOpen (rejects until reset())   disable() -> Disabled (lets all through)
//!   reset() -> Closed, from any state
//! ```
//!
//! How it stays cheap and correct:
//! - The state and a generation number share one atomic word (a [`Spell`]). A closed
//!   breaker hands out permits after one atomic load and a branch; a success is a plain
//!   add to this thread's own counter stripe (see `metrics.rs`) and a read of the failure
//!   streak (see [`Consecutive`]). No lock, no clock, no allocation, no shared write.
//! - An open breaker rejects without the lock, on the kernel's coarse clock while the
//!   reset is surely not over (see `clock.rs`); a full half-open one, on one more load.
//! - Everything else (failures, trial calls, manual control) runs under one mutex, and
//!   re-checks the spell there: a permit from an older spell has a different generation
//!   and its outcome is ignored.
//! - Transitions are queued under the mutex and delivered to listeners after it is
//!   released, in order, each exactly once (see [`Breaker::deliver`]).

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;

use crate::clock;
use crate::guard::guard;
use crate::listeners::Listeners;
use crate::metrics::Counters;
use crate::permit::{Kind, Outcome};
use crate::policy::Consecutive;
use crate::spell::{AtomicSpell, Spell};
use crate::{
    BreakerConfig, BreakerName, Error, Metrics, Permit, Reason, State, Subscription, Transition,
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

struct Inner {
    name: BreakerName,
    config: BreakerConfig,
    spell: AtomicSpell,
    /// End of the current Open spell, as `clock::to_nanos`. Written before the spell is
    /// published, read without a lock to reject calls cheaply while open.
    open_until: AtomicU64,
    /// A coarse clock reading before which the breaker is surely still open (see
    /// `clock::coarse_bound`); zero when only the exact clock may decide.
    coarse_open_until: AtomicU64,
    policy: Consecutive,
    /// Trial permits handed out in this half-open spell and not given back. Written under
    /// the lock; read without it to turn callers away while every trial is taken.
    trials_issued: AtomicU32,
    counters: Counters,
    core: Mutex<Core>,
    /// Held by the one thread that is delivering transitions to listeners.
    delivering: Mutex<()>,
    listeners: Arc<Listeners>,
    /// The listeners of the registry this breaker belongs to, if any.
    registry_listeners: Option<Arc<Listeners>>,
    /// The first differing config another registration asked for.
    conflict: OnceLock<BreakerConfig>,
}

/// What only changes under the lock.
#[derive(Default)]
struct Core {
    /// Trial calls of this half-open spell that succeeded.
    trials_succeeded: u32,
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
        Breaker::build(name.into(), config, State::Closed, None)
    }

    /// A breaker owned by a registry: its transitions also go to the registry's listeners.
    pub(crate) fn build(
        name: BreakerName,
        config: BreakerConfig,
        initial: State,
        registry_listeners: Option<Arc<Listeners>>,
    ) -> Breaker {
        Breaker {
            inner: Arc::new(Inner {
                name,
                config,
                spell: AtomicSpell::new(initial),
                open_until: AtomicU64::new(0),
                coarse_open_until: AtomicU64::new(0),
                policy: Consecutive::new(config.failures_threshold()),
                trials_issued: AtomicU32::new(0),
                counters: Counters::default(),
                core: Mutex::new(Core::default()),
                delivering: Mutex::new(()),
                listeners: Arc::default(),
                registry_listeners,
                conflict: OnceLock::new(),
            }),
        }
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
        let _ = self.inner.conflict.set(config);
    }

    /// Asks to make one call. `Ok(permit)`: make the call and report its outcome through
    /// the permit. `Err(Error::Open)`: don't.
    ///
    /// Closed and Disabled always permit. Open rejects until `reset` has elapsed, then
    /// moves to HalfOpen and hands out a trial permit. HalfOpen permits `probes` trial
    /// calls per spell and rejects the rest (with `retry_after` zero). ForcedOpen rejects
    /// (with `retry_after` = the configured `reset`).
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
            Some(generation) => Ok(Permit::new(self, Kind::Closed, generation)),
            None => self.acquire_unclosed(self.inner.spell.load()),
        }
    }

    /// `acquire` for every state but Closed: still lock-free for the rejections.
    #[inline(never)]
    fn acquire_unclosed(&self, spell: Spell) -> Result<Permit<'_>, Error> {
        let inner = &*self.inner;
        match spell.state {
            State::Closed => Ok(Permit::new(self, Kind::Closed, spell.generation)),
            State::Disabled => Ok(Permit::new(self, Kind::Passthrough, spell.generation)),
            State::ForcedOpen => Err(self.reject(inner.config.reset_after())),
            State::Open => {
                // Reject without the lock while the reset time runs; a coarse clock
                // settles it when the reset is surely not over.
                if let Some(left) = clock::surely_open(inner.coarse_open_until.load(Relaxed)) {
                    // Rounded up by under a tick; never past a whole reset.
                    return Err(self.reject(left.min(inner.config.reset_after())));
                }
                let left = clock::until(inner.open_until.load(Relaxed), clock::now());
                if left.is_zero() {
                    self.acquire_locked()
                } else {
                    Err(self.reject(left))
                }
            }
            // Every trial taken: turn the caller away without the lock.
            State::HalfOpen if inner.trials_taken() >= inner.config.probe_count() => {
                Err(self.reject(Duration::ZERO))
            }
            State::HalfOpen => self.acquire_locked(),
        }
    }

    /// The careful path of `acquire`: decides under the lock, where trial slots are counted.
    fn acquire_locked(&self) -> Result<Permit<'_>, Error> {
        let inner = &*self.inner;
        let decision = self.transact(|core| {
            let spell = inner.spell.load();
            match spell.state {
                State::Closed => Ok((Kind::Closed, spell.generation)),
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
            Ok((kind, generation)) => Ok(Permit::new(self, kind, generation)),
            Err(retry_after) => Err(self.reject(retry_after)),
        }
    }

    fn reject(&self, retry_after: Duration) -> Error {
        self.inner.counters.rejection();
        Error::Open {
            name: self.inner.name.clone(),
            retry_after,
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
    /// (the metrics still count them). [`reset`](Self::reset) switches it back on.
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
        self.transact(|core| {
            let spell = self.inner.spell.load();
            if spell.state != to {
                self.transition(core, spell, to, reason, clock::now());
            } else if to == State::Closed {
                // reset() on a closed breaker still forgets a failure streak.
                self.inner.policy.reset();
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

    /// Records the outcome of a call made with a permit of `kind` from spell `generation`.
    #[inline]
    pub(crate) fn settle(&self, kind: Kind, generation: u64, outcome: Outcome) {
        if let (Kind::Closed, Outcome::Success) = (kind, outcome) {
            // The hot path: a count in this thread's own stripe, and a no-op on the
            // policy unless a failure streak is running. Lock-free.
            self.inner.counters.success();
            self.inner.policy.on_success();
        } else {
            self.settle_other(kind, generation, outcome);
        }
    }

    #[inline(never)]
    fn settle_other(&self, kind: Kind, generation: u64, outcome: Outcome) {
        let inner = &*self.inner;
        match outcome {
            Outcome::Success => inner.counters.success(),
            Outcome::Failure => inner.counters.failure(),
            Outcome::Cancelled => inner.counters.cancelled(),
        }
        match (kind, outcome) {
            // The hot path: lock-free, and a no-op unless a failure streak is running.
            (Kind::Closed, Outcome::Success) => inner.policy.on_success(),
            (Kind::Closed, Outcome::Failure) => self.closed_failure(generation),
            (Kind::Trial, _) => self.trial_outcome(generation, outcome),
            (Kind::Closed, Outcome::Cancelled) | (Kind::Passthrough, _) => {}
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

    fn trial_outcome(&self, generation: u64, outcome: Outcome) {
        let inner = &*self.inner;
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
                Outcome::Cancelled => {
                    inner.trials_issued.fetch_sub(1, Relaxed);
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
                let until = clock::nanos_after(now, inner.config.reset_after());
                inner.open_until.store(until, Relaxed);
                inner
                    .coarse_open_until
                    .store(clock::coarse_bound(now, until), Relaxed);
            }
            State::HalfOpen => {
                inner.trials_issued.store(0, Relaxed);
                core.trials_succeeded = 0;
            }
            State::Closed => inner.policy.reset(),
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

impl Inner {
    fn trials_taken(&self) -> u32 {
        self.trials_issued.load(Relaxed)
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
