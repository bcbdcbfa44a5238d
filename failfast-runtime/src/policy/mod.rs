//! Policies decide when a closed breaker opens.
//!
//! The breaker (`breaker/`) owns the states, the locking and the timing; it asks
//! [`Policies`] about every outcome of a call made while closed, and opens when they say
//! so. It never decides itself which policy judges a failure. It tells them when it
//! closes again, so they start from zero.
//!
//! - [`Consecutive`]: N failures in a row. Lock-free and clock-free: the closed
//!   breaker's hot path.
//! - [`WindowPolicy`]: ratios over a sliding window of the last N calls or the last `d`
//!   of time: the failure rate, and the slow-call rate (which also works next to
//!   `Consecutive`). Records under a short per-breaker lock.
//!
//! Which one judges failures is decided when the breaker is made, so the consecutive
//! policy's path never looks at the window.

mod consecutive;
mod window;

use crate::config::BreakerConfig;
use crate::transition::Reason;
use consecutive::Consecutive;
use window::WindowPolicy;

/// The policies of one breaker: the failure streak, and the window when its config asks
/// for one. Statically dispatched: each question is a branch or two, inlined.
#[derive(Debug)]
pub(crate) struct Policies {
    /// Judges failures unless the window has a failure rate; a success always ends the
    /// streak.
    consecutive: Consecutive,
    /// Boxed: the breaker keeps the streak next to its state word, in the cache line every
    /// closed call reads, and the window elsewhere.
    window: Option<Box<WindowPolicy>>,
}

/// What one measured outcome (see [`Policies::record`]) leaves for the breaker to do
/// under its lock, while the outcome's spell is still the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub(crate) struct Pending {
    /// A failure to count in the streak (counted under the breaker's lock only).
    streak: bool,
    /// The window's reason to open, if it has one.
    open: Option<Reason>,
}

impl Pending {
    /// True when nothing is left to do: the breaker need not take its lock.
    #[inline]
    pub(crate) fn is_done(self) -> bool {
        !self.streak && self.open.is_none()
    }
}

impl Policies {
    /// The policies `config` asks for. `origin` (clock nanoseconds) is where the buckets
    /// of a time window start: when the breaker was made.
    pub(crate) fn new(config: &BreakerConfig, origin: u64) -> Policies {
        Policies {
            consecutive: Consecutive::new(config.failures_threshold()),
            window: WindowPolicy::new(config, origin).map(Box::new),
        }
    }

    /// A closed call succeeded: the streak ends, if `current()` says the call's spell is
    /// still the breaker's (a late success from an earlier spell must not end this one's
    /// streak). The hot path: lock-free, clock-free, and a no-op unless a failure streak
    /// is running; `current` is asked only then.
    #[inline]
    pub(crate) fn on_success(&self, current: impl FnOnce() -> bool) {
        self.consecutive.on_success(current);
    }

    /// A closed call of the current spell failed; the caller holds the breaker's lock.
    /// `Some(reason)` when the breaker must open now.
    pub(crate) fn on_failure(&self) -> Option<Reason> {
        self.consecutive.on_failure().then_some(Reason::Failures)
    }

    /// True when outcomes need the time they ended at (a time window).
    #[inline]
    pub(crate) fn needs_time(&self) -> bool {
        self.window.as_ref().is_some_and(|window| window.is_timed())
    }

    /// Records a measured outcome: whether the call failed, whether it was slow, when it
    /// ended (`at`, clock nanoseconds; read only by a time window). The window takes it
    /// if `current()` says the call's spell is still the breaker's, under the window's
    /// lock. A success ends the streak, unless a failure rate judges failures (then there
    /// is no streak).
    pub(crate) fn record(
        &self,
        failed: bool,
        slow: bool,
        at: u64,
        current: impl Fn() -> bool,
    ) -> Pending {
        let open = match &self.window {
            Some(window) => window.record(failed, slow, at, &current),
            None => None,
        };
        let streak = !self.window.as_ref().is_some_and(|w| w.judges_failures());
        if streak && !failed {
            self.consecutive.on_success(current);
        }
        Pending {
            streak: streak && failed,
            open,
        }
    }

    /// Finishes what [`record`](Self::record) left pending; the caller holds the breaker's
    /// lock and has checked that the outcome's spell is current. `Some(reason)` when the
    /// breaker must open now: a streak reached first, then the window's reason.
    pub(crate) fn settle(&self, pending: Pending) -> Option<Reason> {
        let streak = if pending.streak {
            self.on_failure()
        } else {
            None
        };
        streak.or(pending.open)
    }

    /// True when a slow half-open trial call counts as failed: when slow calls can open
    /// the breaker (a slow answer shows the dependency is not well yet).
    pub(crate) fn slow_fails_trial(&self) -> bool {
        self.window.as_ref().is_some_and(|w| w.judges_slowness())
    }

    /// Starts afresh (the breaker closed again): no failure streak, an empty window.
    pub(crate) fn reset(&self) {
        self.consecutive.reset();
        if let Some(window) = &self.window {
            window.clear();
        }
    }
}
