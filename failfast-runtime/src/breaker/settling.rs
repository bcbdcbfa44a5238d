//! Settling: recording the outcome of a permitted call.
//!
//! A success through a closed breaker that does not measure its calls is the hot path: a
//! count in this thread's own stripe and a read of the failure streak. Everything else
//! (failures, measured calls, trials, cancellations) is counted, timed when the breaker
//! times its calls, and handed to the policies or the half-open bookkeeping; whatever
//! changes the state does so under the lock, and only for the permit's own spell.

use std::sync::atomic::Ordering::Relaxed;

use super::Breaker;
use super::trials::Report;
use crate::clock;
use crate::permit::{Kind, Outcome, Ticket};
use crate::state::State;
use crate::telemetry;
use crate::transition::Reason;

impl Breaker {
    /// Records the outcome of a call made with a permit with `ticket` (its kind, its
    /// spell and, when calls are timed, its start).
    #[inline]
    pub(crate) fn settle(&self, ticket: Ticket, outcome: Outcome) {
        if ticket.is_closed() && outcome == Outcome::Success {
            // The hot path: a count in this thread's own stripe, and a no-op on the
            // policy unless a failure streak is running. Lock-free, clock-free.
            self.inner.counters.success();
            telemetry::outcome(&self.inner.name, true, false);
            self.inner
                .policies
                .on_success(|| self.is_current_closed(ticket));
        } else {
            self.settle_off_hot_path(ticket, outcome);
        }
    }

    /// Every outcome but a closed success on the hot path.
    #[inline(never)]
    fn settle_off_hot_path(&self, ticket: Ticket, outcome: Outcome) {
        let inner = &*self.inner;
        let kind = ticket.kind();
        let finished = outcome != Outcome::Cancelled;
        // A breaker with `slow` stamps its permits; its calls are timed here.
        let mut now = None;
        let mut slow = false;
        if let (Some(threshold), true) = (inner.slow, finished) {
            let at = clock::now();
            // Slower than: strictly.
            slow = ticket.elapsed(inner.since_epoch(at)) > threshold;
            now = Some(clock::to_nanos(at));
        }
        let generation = self.generation_of(ticket);
        match outcome {
            Outcome::Success => inner.counters.success(),
            Outcome::Failure => inner.counters.failure(),
            Outcome::Cancelled => inner.counters.cancelled(),
        }
        if slow {
            inner.counters.slow_call();
        }
        if finished {
            telemetry::outcome(&inner.name, outcome == Outcome::Success, slow);
        }
        match (kind, outcome) {
            // The hot path: lock-free, and a no-op unless a failure streak is running.
            (Kind::Closed, Outcome::Success) => {
                let current = || inner.spell.load().is(State::Closed, generation);
                inner.policies.on_success(current);
            }
            (Kind::Closed, Outcome::Failure) => {
                self.open_if_current(generation, || inner.policies.on_failure());
            }
            (Kind::ClosedMeasured, Outcome::Success | Outcome::Failure) => {
                self.measured_outcome(generation, outcome == Outcome::Failure, slow, now);
            }
            (Kind::Trial, _) => self.trial_outcome(ticket, generation, outcome, slow),
            (Kind::Closed | Kind::ClosedMeasured, Outcome::Cancelled) | (Kind::Passthrough, _) => {}
        }
    }

    /// The spell generation of `ticket`. Trials are always stamped (see `trials.rs`), the
    /// other permits when the breaker times its calls.
    fn generation_of(&self, ticket: Ticket) -> u64 {
        if self.inner.slow.is_some() || ticket.kind() == Kind::Trial {
            ticket.timed_generation(self.inner.spell.load().generation)
        } else {
            ticket.generation()
        }
    }

    /// True when `ticket`'s Closed spell is the breaker's current one.
    #[inline(never)]
    fn is_current_closed(&self, ticket: Ticket) -> bool {
        self.inner
            .spell
            .load()
            .is(State::Closed, self.generation_of(ticket))
    }

    /// The outcome of a measured closed call (see [`Kind::ClosedMeasured`]), ended at
    /// `now` if it was timed: to the policies, which may leave something to do under
    /// the lock.
    fn measured_outcome(&self, generation: u64, failed: bool, slow: bool, now: Option<u64>) {
        let policies = &self.inner.policies;
        let at = match now {
            Some(at) => at,
            None if policies.needs_time() => clock::to_nanos(clock::now()),
            None => 0,
        };
        let current = || self.inner.spell.load().is(State::Closed, generation);
        let pending = policies.record(failed, slow, at, current);
        if !pending.is_done() {
            self.open_if_current(generation, || policies.settle(pending));
        }
    }

    /// Under the lock: opens the breaker if it is still in the Closed spell `generation`
    /// and `decide` (asked only then) gives a reason.
    fn open_if_current(&self, generation: u64, decide: impl FnOnce() -> Option<Reason>) {
        self.transact(|core| {
            let spell = self.inner.spell.load();
            if spell.is(State::Closed, generation) {
                if let Some(reason) = decide() {
                    self.transition(core, spell, State::Open, reason, clock::now());
                }
            }
        });
    }

    /// The outcome of a half-open trial call: the trials close the breaker once `probes`
    /// of them have succeeded; one failure reopens it; a cancelled one frees its slot.
    /// A trial of a spell that is over changes nothing; once a trial of the spell has run
    /// its probe timeout without reporting, any report reopens the breaker (see
    /// `trials.rs`).
    fn trial_outcome(&self, ticket: Ticket, generation: u64, outcome: Outcome, slow: bool) {
        let inner = &*self.inner;
        let outcome = match outcome {
            Outcome::Success if slow && inner.policies.slow_fails_trial() => Outcome::Failure,
            other => other,
        };
        self.transact(|core| {
            let spell = inner.spell.load();
            if !spell.is(State::HalfOpen, generation) {
                return; // a trial of an earlier spell: this one is not its business
            }
            let now = clock::now();
            match self.trial_reported(core, ticket, now) {
                Report::Stale => return, // the same, told by the list of trials out
                Report::Overdue => {
                    self.transition(core, spell, State::Open, Reason::ProbeTimedOut, now);
                    return;
                }
                Report::OnTime => {}
            }
            match outcome {
                Outcome::Success => {
                    core.trials_succeeded += 1;
                    if core.trials_succeeded >= inner.config.probe_count() {
                        self.transition(core, spell, State::Closed, Reason::ProbesSucceeded, now);
                    }
                }
                Outcome::Failure => {
                    self.transition(core, spell, State::Open, Reason::ProbeFailed, now);
                }
                // The call never finished: give its slot to another trial.
                // (Written under the lock only, so a load and a store will do.)
                Outcome::Cancelled => {
                    let taken = inner.trials_taken.load(Relaxed);
                    inner.trials_taken.store(taken.saturating_sub(1), Relaxed);
                }
            }
        });
    }
}
