//! A change of state, as delivered to listeners.

use crate::{BreakerName, State};

/// Why a breaker changed state.
///
/// ```
/// use failfast_runtime::Reason;
///
/// assert_ne!(Reason::Failures, Reason::ProbeFailed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Closed -> Open: the failure threshold was reached.
    Failures,
    /// Open -> HalfOpen: the reset time elapsed and a call asked for a trial.
    ResetElapsed,
    /// HalfOpen -> Closed: every trial call succeeded.
    ProbesSucceeded,
    /// HalfOpen -> Open: a trial call failed.
    ProbeFailed,
    /// `force_open()` was called.
    ForcedOpen,
    /// `reset()` was called.
    Reset,
    /// `disable()` was called.
    Disabled,
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
