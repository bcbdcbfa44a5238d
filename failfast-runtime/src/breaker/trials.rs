//! Trials: the calls a half-open breaker lets through, and the probe timeout that keeps
//! a hung one from holding the breaker half-open forever.
//!
//! Under the lock, `Core::trials_out` holds when each trial of the current half-open
//! spell that has not reported was let through. A trial's ticket is always timed: its
//! start, stamped at that same instant, identifies it when it reports, so with `probes`
//! above one the right trial leaves the list, whatever order they report in. A trial
//! that reports but is not on the list belongs to a spell that is over: ignored.
//!
//! `trial_due` is when the oldest trial on the list is overdue (let through +
//! `probe_timeout`). Nothing watches it in the background: the first thing the breaker
//! hears after that moment reopens it
//! ([`Reason::ProbeTimedOut`](crate::Reason::ProbeTimedOut)), whether a call asking for a
//! permit (see `admission.rs`; without the lock while every trial slot is taken, on the
//! coarse clock when that settles it) or the report of a trial of the spell, the overdue
//! one included (see `settling.rs`). So the outcome does not depend on whether a call
//! happened to come in between. Every transition empties the list: the trials of a spell
//! that is over are no longer watched, and their outcomes are ignored.

use std::sync::atomic::Ordering::Relaxed;

use tokio::time::Instant;

use super::{Breaker, Core};
use crate::clock::{self, nanos};
use crate::permit::{Kind, Ticket};

/// `trial_due` while no trial is watched.
const NOT_DUE: u64 = u64::MAX;

/// What the report of a trial may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Report {
    /// The trial is not watched: it belongs to a spell that is over. Ignore it.
    Stale,
    /// A trial of the spell (this one or another) ran its probe timeout without
    /// reporting: the spell has failed, whatever this report says.
    Overdue,
    /// The report counts.
    OnTime,
}

impl Breaker {
    /// Lets a trial of the half-open spell `generation` through at `now` (the caller
    /// holds the lock, `core`): counts its slot, watches it, and stamps its ticket.
    pub(super) fn issue_trial(&self, core: &mut Core, generation: u64, now: Instant) -> Ticket {
        let inner = &*self.inner;
        let at = clock::to_nanos(now);
        core.trials_out.push(at);
        inner.trials_taken.fetch_add(1, Relaxed);
        // The newest trial is due last, unless clocks disagree (see `clock::to_nanos`).
        let due = self.due(at).min(inner.trial_due.load(Relaxed));
        self.set_trial_due(now, due);
        Ticket::timed(Kind::Trial, generation, at.wrapping_sub(inner.epoch))
    }

    /// The trial with `ticket` reports at `now` (the caller holds the lock, `core`, and
    /// has checked the spell): what its report may still do. Stops watching it when the
    /// report counts.
    pub(super) fn trial_reported(&self, core: &mut Core, ticket: Ticket, now: Instant) -> Report {
        let epoch = self.inner.epoch;
        let Some(index) = core
            .trials_out
            .iter()
            .position(|&at| ticket.began_at(at.wrapping_sub(epoch)))
        else {
            return Report::Stale;
        };
        if self.trial_overdue(core, now) {
            return Report::Overdue;
        }
        core.trials_out.swap_remove(index);
        let due = core
            .trials_out
            .iter()
            .map(|&at| self.due(at))
            .min()
            .unwrap_or(NOT_DUE);
        self.set_trial_due(now, due);
        Report::OnTime
    }

    /// Whether a trial has run `probe_timeout` without reporting at `now` (the caller
    /// holds the lock, `_core`: the answer is exact).
    pub(super) fn trial_overdue(&self, _core: &Core, now: Instant) -> bool {
        let due = self.inner.trial_due.load(Relaxed);
        due != NOT_DUE && clock::to_nanos(now) >= due
    }

    /// Without the lock: true when no trial is overdue yet, surely. Reads the coarse clock
    /// when that settles it, else the exact one; a stale answer only sends the caller to
    /// the locked path, which looks again.
    #[inline]
    pub(super) fn trials_on_time(&self) -> bool {
        let inner = &*self.inner;
        let due = inner.trial_due.load(Relaxed);
        due == NOT_DUE
            || clock::surely_open(inner.coarse_trial_due.load(Relaxed)).is_some()
            || clock::to_nanos(clock::now()) < due
    }

    /// Stops watching every trial (the caller holds the lock, `core`): the spell ends.
    pub(super) fn forget_trials(&self, core: &mut Core) {
        core.trials_out.clear();
        self.inner.trial_due.store(NOT_DUE, Relaxed);
        self.inner.coarse_trial_due.store(0, Relaxed);
    }

    /// When a trial let through at `at` is overdue; never, when the probe timeout is zero
    /// (only a zero `reset` with no `probe_timeout` of its own gives one).
    fn due(&self, at: u64) -> u64 {
        match nanos(self.inner.config.probe_timeout_after()) {
            0 => NOT_DUE,
            timeout => at.saturating_add(timeout),
        }
    }

    fn set_trial_due(&self, now: Instant, due: u64) {
        let inner = &*self.inner;
        let coarse = match due {
            NOT_DUE => 0,
            due => clock::coarse_bound(now, due),
        };
        inner.trial_due.store(due, Relaxed);
        inner.coarse_trial_due.store(coarse, Relaxed);
    }
}
