//! Transitions: moving from one spell to the next, and telling the listeners.
//!
//! Every transition runs under the breaker's lock, proven by the `&mut Core` it takes,
//! and starts a new spell (see `spell.rs`) after setting up what the new state needs:
//! the open time, the trial count, the policies started afresh. The trials of the spell
//! that ends are no longer watched (see `trials.rs`). Transitions are queued
//! under the lock and delivered to the store, `telemetry` and the listeners after it is
//! released, in order, each exactly once ([`Breaker::transact`]).

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use super::{Breaker, Core};
use crate::backoff::jitter_rng;
use crate::clock::{self, nanos};
use crate::spell::Spell;
use crate::state::State;
use crate::telemetry;
use crate::transition::{Reason, Transition};

impl Breaker {
    /// Moves from spell `from` to state `to`; the caller holds the lock (`core`).
    pub(super) fn transition(
        &self,
        core: &mut Core,
        from: Spell,
        to: State,
        reason: Reason,
        now: Instant,
    ) -> Spell {
        let inner = &*self.inner;
        self.forget_trials(core);
        match to {
            State::Open => {
                let open_for = self.open_time(core, from.state);
                inner.open_for.store(nanos(open_for), Relaxed);
                self.hold_open(core, now, open_for);
            }
            State::HalfOpen => {
                inner.trials_taken.store(0, Relaxed);
                core.trials_succeeded = 0;
            }
            // Before the new spell is published: no permit of it can have recorded yet.
            // (The open time goes back to `reset` when the breaker next opens from here.)
            State::Closed => inner.policies.reset(),
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

    /// Holds the breaker open for `open_for` from `now` (the caller holds the lock,
    /// `core`).
    pub(super) fn hold_open(&self, _core: &mut Core, now: Instant, open_for: Duration) {
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
    pub(super) fn transact<R>(&self, f: impl FnOnce(&mut Core) -> R) -> R {
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
                telemetry::transition(&transition);
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
