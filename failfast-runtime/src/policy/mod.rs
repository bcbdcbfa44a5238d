//! Policies decide when a closed breaker opens.
//!
//! The breaker ([`crate::Breaker`]) owns the states and the transitions; a policy only
//! counts outcomes of calls made while closed and says "trip" when it has seen enough.
//! It is told when the breaker closes again so it can start from zero.
//!
//! Today there is one policy, [`Consecutive`]: N failures in a row. Sliding-window
//! policies (failure rate over the last N calls or seconds, slow calls) will sit next to
//! it with the same three operations: `on_success`, `on_failure`, `reset`.

mod consecutive;

pub(crate) use consecutive::Consecutive;
