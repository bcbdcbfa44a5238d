//! A dropped future or a panic never leaves a breaker stuck in half-open.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use common::ApiError;
use failfast::{State, circuit_breaker, registry};
use tokio::time::{advance, sleep};

static HANGING_CALLS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker("cancel::dropped", failures = 1, reset = "10s")]
async fn maybe_hangs(mode: u8) -> Result<(), ApiError> {
    HANGING_CALLS.fetch_add(1, SeqCst);
    match mode {
        0 => Ok(()),
        1 => Err(ApiError::Down),
        _ => {
            sleep(Duration::from_secs(3600)).await;
            Ok(())
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_dropped_trial_call_gives_its_permit_back() {
    assert_eq!(maybe_hangs(1).await, Err(ApiError::Down));
    let breaker = registry().get("cancel::dropped").unwrap();
    assert_eq!(breaker.state(), State::Open);
    advance(Duration::from_secs(10)).await;

    // The trial call hangs and its caller gives up: the future is dropped mid-call.
    let gave_up = tokio::time::timeout(Duration::from_secs(1), maybe_hangs(2)).await;
    assert!(gave_up.is_err());
    assert_eq!(breaker.state(), State::HalfOpen);

    // The trial slot came back: the next call is the trial, and it closes the breaker.
    assert_eq!(maybe_hangs(0).await, Ok(()));
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(HANGING_CALLS.load(SeqCst), 3);
    let m = breaker.metrics();
    assert_eq!(
        (m.successes, m.failures),
        (1, 1),
        "a cancelled call is neither"
    );
}

static PANIC_CALLS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker("cancel::panic_sync", failures = 1, reset = "50ms")]
fn panics(panic: bool) -> Result<(), ApiError> {
    PANIC_CALLS.fetch_add(1, SeqCst);
    if panic {
        panic!("the dependency's client panicked");
    }
    Ok(())
}

#[test]
fn a_panic_counts_as_a_failure_and_propagates() {
    let caught = catch_unwind(AssertUnwindSafe(|| panics(true)));
    assert!(caught.is_err(), "the panic propagates unchanged");
    let breaker = registry().get("cancel::panic_sync").unwrap();
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.metrics().failures, 1);

    // A trial call that panics reopens the breaker instead of wedging it in half-open.
    std::thread::sleep(Duration::from_millis(100)); // past the 50ms reset, with room for a late kernel tick
    assert!(catch_unwind(AssertUnwindSafe(|| panics(true))).is_err());
    assert_eq!(breaker.state(), State::Open);
    std::thread::sleep(Duration::from_millis(100)); // past the 50ms reset, with room for a late kernel tick
    assert_eq!(panics(false), Ok(()));
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(PANIC_CALLS.load(SeqCst), 3);
}

#[circuit_breaker("cancel::panic_async", failures = 1, reset = "10s")]
async fn panics_async(panic: bool) -> Result<(), ApiError> {
    sleep(Duration::from_millis(1)).await;
    if panic {
        panic!("the dependency's client panicked");
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_a_spawned_async_trial_call_reopens_the_breaker() {
    assert!(
        tokio::spawn(panics_async(true))
            .await
            .unwrap_err()
            .is_panic()
    );
    let breaker = registry().get("cancel::panic_async").unwrap();
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(
        breaker.metrics().failures,
        1,
        "the task's panic was caught by tokio, and still counted"
    );

    advance(Duration::from_secs(10)).await;
    assert!(
        tokio::spawn(panics_async(true))
            .await
            .unwrap_err()
            .is_panic()
    );
    assert_eq!(breaker.state(), State::Open, "the failed trial reopened it");
    advance(Duration::from_secs(10)).await;
    assert_eq!(panics_async(false).await, Ok(()));
    assert_eq!(breaker.state(), State::Closed);
}
