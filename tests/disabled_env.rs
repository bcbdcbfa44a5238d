//! `FAILFAST_DISABLED=1` turns every breaker into a pass-through. The variable is read once
//! per process, so this file holds a single test.

mod common;

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

use common::ApiError;
use failfast::{State, circuit_breaker, registry};

static CALLS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker("env::disabled", failures = 1)]
fn always_down() -> Result<(), ApiError> {
    CALLS.fetch_add(1, SeqCst);
    Err(ApiError::Down)
}

#[test]
fn failfast_disabled_disables_every_breaker() {
    // SAFETY: the only test of this binary, run before any other thread reads the environment.
    unsafe { std::env::set_var("FAILFAST_DISABLED", "1") };
    for _ in 0..5 {
        assert_eq!(always_down(), Err(ApiError::Down));
    }
    assert_eq!(CALLS.load(SeqCst), 5, "every call reached the fn");
    assert_eq!(
        registry().get("env::disabled").unwrap().state(),
        State::Disabled
    );
}
