//! Admission: whether a call may run, and with which permit.
//!
//! A closed breaker that does not measure its calls admits on one atomic load and a
//! branch ([`Breaker::acquire`]). Every other state goes through `acquire_unclosed`,
//! which still rejects without the lock: an open breaker on the kernel's coarse clock
//! while the reset is surely not over (see `clock.rs`), a full half-open one on two more
//! loads and a clock read (coarse when it settles it) that shows no trial is overdue
//! (see `trials.rs`). The rest (the open time over, a trial slot to take, a trial past
//! its probe timeout) is decided under the lock.
//! A rejection is an [`Error::Open`] in enforce mode and a metrics-only permit in
//! observe mode.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use super::Breaker;
use crate::clock;
use crate::config::Mode;
use crate::error::Error;
use crate::permit::{Kind, Permit, Ticket};
use crate::spell::Spell;
use crate::state::State;
use crate::store::Lease;
use crate::telemetry;
use crate::transition::Reason;

impl Breaker {
    /// Asks to make one call. `Ok(permit)`: make the call and report its outcome through
    /// the permit. `Err(Error::Open)`: don't.
    ///
    /// Closed and Disabled always permit. Open rejects until its open time (`reset`, or
    /// longer with `reset_max`) has elapsed, then moves to HalfOpen and hands out a trial
    /// permit. HalfOpen permits `probes` trial calls per spell and rejects the rest (with
    /// `retry_after` zero); once a trial has run its
    /// [`probe_timeout`](crate::BreakerConfig::probe_timeout) without reporting, the call
    /// that asks reopens the breaker, as a failed trial would, and is rejected (with
    /// `retry_after` the new open time). ForcedOpen rejects (with `retry_after` = the
    /// configured `reset`). In [observe mode](Mode::Observe) nothing is rejected: a call
    /// that would be gets a permit whose outcome only counts in the metrics.
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

    /// `acquire` for every state but Closed, and for Closed when the breaker measures its
    /// calls: still lock-free for the rejections.
    #[inline(never)]
    fn acquire_unclosed(&self, spell: Spell) -> Result<Permit<'_>, Error> {
        let inner = &*self.inner;
        match spell.state {
            State::Closed => Ok(self.permit(self.closed_kind(), spell.generation)),
            State::Disabled => Ok(self.permit(Kind::Passthrough, spell.generation)),
            State::ForcedOpen => self.reject_unless_observing(inner.config.reset_after()),
            State::Open => {
                // Reject without the lock while the open time runs; a coarse clock
                // settles it when it is surely not over.
                if let Some(left) = clock::surely_open(inner.coarse_open_until.load(Relaxed)) {
                    // Rounded up by under a tick; never past the whole open time.
                    let open_for = Duration::from_nanos(inner.open_for.load(Relaxed));
                    return self.reject_unless_observing(left.min(open_for));
                }
                let left = clock::until(inner.open_until.load(Relaxed), clock::now());
                if left.is_zero() {
                    self.lease(spell.generation)
                } else {
                    self.reject_unless_observing(left)
                }
            }
            // Every trial taken, none overdue: turn the caller away without the lock.
            State::HalfOpen
                if inner.trials_taken.load(Relaxed) >= inner.config.probe_count()
                    && self.trials_on_time() =>
            {
                self.reject_unless_observing(Duration::ZERO)
            }
            State::HalfOpen => self.acquire_locked(),
        }
    }

    /// The open time is over here: the store says whether this process runs the trials.
    /// The lease lasts as long as the open time did, or as long as the first trial may
    /// run before it counts as failed (`probe_timeout`) if that is longer: the fleet does
    /// not give up on this process's trial before this process does.
    #[cold]
    fn lease(&self, generation: u64) -> Result<Permit<'_>, Error> {
        let inner = &*self.inner;
        let open_for = Duration::from_nanos(inner.open_for.load(Relaxed));
        let ttl = open_for.max(inner.config.probe_timeout_after());
        match inner.store.lease(self, ttl) {
            Lease::Granted => self.acquire_locked(),
            Lease::Denied { retry_after } => {
                self.transact(|core| {
                    if inner.spell.load().is(State::Open, generation) {
                        self.hold_open(core, clock::now(), retry_after);
                    }
                });
                self.reject_unless_observing(retry_after)
            }
        }
    }

    /// The kind of a permit for a call through the closed breaker.
    fn closed_kind(&self) -> Kind {
        if self.inner.config.measures_calls() {
            Kind::ClosedMeasured
        } else {
            Kind::Closed
        }
    }

    /// A permit of `kind` (not a trial's: see `issue_trial`).
    fn permit(&self, kind: Kind, generation: u64) -> Permit<'_> {
        Permit::new(self, self.ticket(kind, generation))
    }

    /// The ticket of a permit of `kind`, stamped with the start time when calls are timed.
    fn ticket(&self, kind: Kind, generation: u64) -> Ticket {
        match self.inner.slow {
            Some(_) => Ticket::timed(kind, generation, self.inner.since_epoch(clock::now())),
            None => Ticket::new(kind, generation),
        }
    }

    /// The locked path of `acquire`: decides under the lock, where trial slots are counted
    /// and overdue trials found.
    fn acquire_locked(&self) -> Result<Permit<'_>, Error> {
        let inner = &*self.inner;
        let decision = self.transact(|core| {
            let spell = inner.spell.load();
            match spell.state {
                State::Closed => Ok(self.ticket(self.closed_kind(), spell.generation)),
                State::Disabled => Ok(self.ticket(Kind::Passthrough, spell.generation)),
                State::ForcedOpen => Err(inner.config.reset_after()),
                State::Open => {
                    let now = clock::now();
                    let left = clock::until(inner.open_until.load(Relaxed), now);
                    if !left.is_zero() {
                        return Err(left);
                    }
                    let trial =
                        self.transition(core, spell, State::HalfOpen, Reason::ResetElapsed, now);
                    Ok(self.issue_trial(core, trial.generation, now))
                }
                State::HalfOpen => {
                    let now = clock::now();
                    if self.trial_overdue(core, now) {
                        // A trial ran `probe_timeout` without reporting: it failed.
                        self.transition(core, spell, State::Open, Reason::ProbeTimedOut, now);
                        return Err(clock::until(inner.open_until.load(Relaxed), now));
                    }
                    if inner.trials_taken.load(Relaxed) < inner.config.probe_count() {
                        Ok(self.issue_trial(core, spell.generation, now))
                    } else {
                        Err(Duration::ZERO)
                    }
                }
            }
        });
        match decision {
            Ok(ticket) => Ok(Permit::new(self, ticket)),
            Err(retry_after) => self.reject_unless_observing(retry_after),
        }
    }

    /// A call the breaker would reject: rejected in enforce mode (see
    /// [`rejection_error`](Self::rejection_error)), let through in observe mode (see
    /// [`observed`](Self::observed)).
    #[inline]
    fn reject_unless_observing(&self, retry_after: Duration) -> Result<Permit<'_>, Error> {
        if self.inner.mode.load(Relaxed) == Mode::Observe.to_bits() {
            return Ok(self.observed());
        }
        Err(self.rejection_error(retry_after))
    }

    /// Counts a rejection and builds its error.
    fn rejection_error(&self, retry_after: Duration) -> Error {
        self.inner.counters.rejection();
        telemetry::rejected(&self.inner.name);
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
        telemetry::rejected(&self.inner.name);
        // The generation of a metrics-only permit is never looked at.
        self.permit(Kind::Passthrough, 0)
    }
}
