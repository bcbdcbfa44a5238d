//! Shared pieces of the integration tests: an error type that carries failfast's rejections
//! and a recorder of breaker transitions.
#![allow(dead_code)] // each test binary uses a different part

use std::sync::{Arc, Mutex};

use failfast::{Reason, State, Transition};

/// The error type of the test fns.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The dependency failed: counts as a failure.
    Down,
    /// A caller's mistake (a 4xx): `is_failure` says it does not count.
    BadRequest,
    /// failfast rejected or timed out the call.
    Failfast(failfast::Error),
}

impl From<failfast::Error> for ApiError {
    fn from(e: failfast::Error) -> Self {
        ApiError::Failfast(e)
    }
}

/// `is_failure` for the tests: a bad request is the caller's fault, not the dependency's.
pub fn dependency_fault(e: &ApiError) -> bool {
    !matches!(e, ApiError::BadRequest)
}

/// The rejection a breaker named `name` returns with `retry_after` left.
pub fn open(name: &'static str, retry_after: std::time::Duration) -> ApiError {
    ApiError::Failfast(failfast::Error::Open {
        name: name.into(),
        retry_after,
    })
}

/// Every transition of one breaker, in order, as (from, to, reason).
#[derive(Clone, Default)]
pub struct Transitions(Arc<Mutex<Vec<(State, State, Reason)>>>);

impl Transitions {
    /// Records the transitions of the breaker named `name`, through the registry.
    pub fn of(name: &'static str) -> Transitions {
        let seen = Transitions::default();
        let sink = seen.clone();
        failfast::registry().subscribe(move |t: &Transition| {
            if &*t.name == name {
                sink.0.lock().unwrap().push((t.from, t.to, t.reason));
            }
        });
        seen
    }

    /// What was recorded so far.
    pub fn take(&self) -> Vec<(State, State, Reason)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}
