//! A change of state, as delivered to listeners.

use crate::name::BreakerName;
use crate::state::State;

/// Why a breaker changed state.
///
/// ```
/// use failfast_runtime::Reason;
///
/// assert_ne!(Reason::Failures, Reason::ProbeFailed);
/// ```
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "kebab-case")
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Closed -> Open: the consecutive-failure threshold was reached.
    Failures,
    /// Closed -> Open: the failure ratio over the window reached `failure_rate`.
    FailureRate,
    /// Closed -> Open: the slow-call ratio over the window reached `slow_rate`.
    SlowCallRate,
    /// Open -> HalfOpen: the reset time elapsed and a call asked for a trial.
    ResetElapsed,
    /// HalfOpen -> Closed: every trial call succeeded.
    ProbesSucceeded,
    /// HalfOpen -> Open: a trial call failed (or, with `slow_rate` set, was slow).
    ProbeFailed,
    /// HalfOpen -> Open: a trial call had not reported
    /// [`probe_timeout`](crate::BreakerConfig::probe_timeout) after it was let through,
    /// so it counts as failed (found by the next call that asked for a permit, or by the
    /// next report of a trial).
    ProbeTimedOut,
    /// `force_open()` was called.
    ForcedOpen,
    /// `reset()` was called.
    Reset,
    /// `disable()` was called.
    Disabled,
    /// Another process sharing the breaker's store made this change (see `Store`).
    Shared,
}

/// One state change of one breaker.
///
/// ```
/// use failfast_runtime::{Breaker, BreakerConfig, Reason, State};
///
/// let breaker = Breaker::new("db", BreakerConfig::new());
/// breaker.force_open();
/// let t = breaker.metrics().last_transition.unwrap();
/// assert_eq!((t.from, t.to, t.reason), (State::Closed, State::ForcedOpen, Reason::ForcedOpen));
/// assert_eq!(&*t.name, "db");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transition {
    /// The breaker's name.
    pub name: BreakerName,
    /// The state before.
    pub from: State,
    /// The state after.
    pub to: State,
    /// Why it changed.
    pub reason: Reason,
    /// When it changed, on failfast's clock (tokio's clock, paused or not).
    pub at: std::time::Instant,
}
