//! Policies decide when a closed breaker opens.
//!
//! The breaker ([`crate::Breaker`]) owns the states and the transitions; a policy only
//! counts outcomes of calls made while closed and says "trip" when it has seen enough.
//! It is told when the breaker closes again so it can start from zero.
//!
//! - [`Consecutive`]: N failures in a row. Lock-free and clock-free: the closed
//!   breaker's hot path.
//! - [`WindowPolicy`]: ratios over a sliding window of the last N calls or the last `d`
//!   of time: the failure rate, and the slow-call rate (which also works next to
//!   `Consecutive`). Records under a short per-breaker lock.
//!
//! Which one runs is decided when the breaker is made, so the consecutive policy's path
//! never looks at the window.

mod consecutive;
mod window;

pub(crate) use consecutive::Consecutive;
pub(crate) use window::WindowPolicy;
