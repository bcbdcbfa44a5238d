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

/// A panic payload of the tests' own type, to tell it came out of the attribute unchanged.
#[derive(Debug, PartialEq)]
struct Payload(u32);

#[circuit_breaker("cancel::aborted", failures = 1, reset = "10s")]
async fn aborted(mode: u8) -> Result<(), ApiError> {
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
async fn an_aborted_task_gives_its_permit_back() {
    // Closed: the aborted call is neither a success nor a failure.
    let task = tokio::spawn(aborted(2));
    sleep(Duration::from_secs(1)).await; // the call is under way
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let breaker = registry().get("cancel::aborted").unwrap();
    assert_eq!(breaker.state(), State::Closed);
    let m = breaker.metrics();
    assert_eq!((m.calls, m.successes, m.failures), (1, 0, 0));

    // Half-open: the aborted trial gives its slot back.
    assert_eq!(aborted(1).await, Err(ApiError::Down));
    advance(Duration::from_secs(10)).await;
    let task = tokio::spawn(aborted(2));
    sleep(Duration::from_secs(1)).await;
    assert_eq!(breaker.state(), State::HalfOpen, "the trial is under way");
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(breaker.state(), State::HalfOpen);
    assert_eq!(
        aborted(0).await,
        Ok(()),
        "the slot is free: this is the trial"
    );
    assert_eq!(breaker.state(), State::Closed);
    let m = breaker.metrics();
    assert_eq!((m.calls, m.successes, m.failures), (4, 1, 1));
}

#[circuit_breaker("cancel::select", failures = 1, reset = "10s")]
async fn raced(mode: u8) -> Result<(), ApiError> {
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
async fn a_trial_that_loses_a_select_gives_its_permit_back() {
    assert_eq!(raced(1).await, Err(ApiError::Down));
    let breaker = registry().get("cancel::select").unwrap();
    advance(Duration::from_secs(10)).await;
    tokio::select! {
        biased;
        done = raced(2) => panic!("the trial hangs, yet it finished: {done:?}"),
        () = sleep(Duration::from_secs(1)) => {}
    }
    assert_eq!(breaker.state(), State::HalfOpen);
    assert_eq!(
        raced(0).await,
        Ok(()),
        "the slot is free: this is the trial"
    );
    assert_eq!(breaker.state(), State::Closed);
    let m = breaker.metrics();
    assert_eq!((m.calls, m.successes, m.failures), (3, 1, 1));
}

#[circuit_breaker("cancel::unrelated", failures = 1, reset = "10s")]
async fn dropped_by_a_panic(mode: u8) -> Result<(), ApiError> {
    match mode {
        0 => Ok(()),
        1 => Err(ApiError::Down),
        _ => {
            sleep(Duration::from_secs(3600)).await;
            Ok(())
        }
    }
}

/// A trial under way when something else panics (unwinding drops it) was cancelled, not
/// failed: the breaker stays half-open with the slot free.
#[tokio::test(start_paused = true)]
async fn a_trial_dropped_by_another_panic_is_cancelled() {
    assert_eq!(dropped_by_a_panic(1).await, Err(ApiError::Down));
    let breaker = registry().get("cancel::unrelated").unwrap();
    advance(Duration::from_secs(10)).await;
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        let mut trial = Box::pin(dropped_by_a_panic(2));
        let waker = std::task::Waker::noop();
        let polled = trial
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker));
        assert!(polled.is_pending(), "the trial is under way");
        std::panic::panic_any(Payload(9));
    }));
    assert_eq!(
        *unwound.unwrap_err().downcast::<Payload>().unwrap(),
        Payload(9)
    );
    assert_eq!(breaker.state(), State::HalfOpen, "not reopened");
    assert_eq!(breaker.metrics().failures, 1);
    assert_eq!(dropped_by_a_panic(0).await, Ok(()), "the slot is free");
    assert_eq!(breaker.state(), State::Closed);
}

#[circuit_breaker("cancel::payload_sync", failures = 1, reset = "50ms")]
fn panics_with(payload: u32) -> Result<(), ApiError> {
    std::panic::panic_any(Payload(payload))
}

#[circuit_breaker("cancel::payload_async", failures = 1, reset = "10s")]
async fn panics_with_async(payload: u32) -> Result<(), ApiError> {
    sleep(Duration::from_millis(1)).await;
    std::panic::panic_any(Payload(payload))
}

#[test]
fn a_sync_panic_comes_out_of_the_attribute_unchanged() {
    let caught = catch_unwind(|| panics_with(7)).unwrap_err();
    assert_eq!(*caught.downcast::<Payload>().unwrap(), Payload(7));
    let breaker = registry().get("cancel::payload_sync").unwrap();
    assert_eq!(breaker.state(), State::Open);
    std::thread::sleep(Duration::from_millis(100)); // past the 50ms reset
    let caught = catch_unwind(|| panics_with(8)).unwrap_err();
    assert_eq!(
        *caught.downcast::<Payload>().unwrap(),
        Payload(8),
        "a trial's too"
    );
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.metrics().failures, 2);
}

#[tokio::test(start_paused = true)]
async fn an_async_panic_comes_out_of_the_attribute_unchanged() {
    let join = tokio::spawn(panics_with_async(7)).await.unwrap_err();
    assert_eq!(
        *join.into_panic().downcast::<Payload>().unwrap(),
        Payload(7)
    );
    let breaker = registry().get("cancel::payload_async").unwrap();
    assert_eq!(breaker.state(), State::Open);
    advance(Duration::from_secs(10)).await;
    let join = tokio::spawn(panics_with_async(8)).await.unwrap_err();
    assert_eq!(
        *join.into_panic().downcast::<Payload>().unwrap(),
        Payload(8),
        "a trial's too"
    );
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.metrics().failures, 2);
}
