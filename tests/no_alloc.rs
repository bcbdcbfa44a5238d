//! No heap allocation on the hot paths: a closed breaker's success, a rejection (open and
//! half-open), a retry that succeeds at once, sync and async, through the attributes and
//! through the runtime API. A counting global allocator proves it.
//!
//! The count is per thread, so the test harness's other threads don't disturb it. Each
//! case makes one call first (it registers the breaker, which may allocate), then asserts
//! that a thousand more allocate nothing.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use failfast::{Breaker, BreakerConfig, circuit_breaker, registry, retry, timeout};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations;

/// Polls a future that is ready without waiting, on this thread, with no executor.
fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the future was expected to be ready at once"),
    }
}

#[derive(Debug)]
enum ApiError {
    Down,
    Failfast(#[allow(dead_code)] failfast::Error),
}

impl From<failfast::Error> for ApiError {
    fn from(e: failfast::Error) -> Self {
        ApiError::Failfast(e)
    }
}

#[circuit_breaker("alloc::sync", failures = 3)]
fn sync_call(fail: bool) -> Result<u32, ApiError> {
    if fail { Err(ApiError::Down) } else { Ok(1) }
}

#[circuit_breaker("alloc::async", failures = 3)]
async fn async_call(fail: bool) -> Result<u32, ApiError> {
    if fail { Err(ApiError::Down) } else { Ok(1) }
}

#[test]
fn closed_success_through_the_attribute() {
    assert_eq!(allocations(|| assert!(sync_call(false).is_ok())), 0);
    assert_eq!(allocations(|| assert!(ready(async_call(false)).is_ok())), 0);
}

#[test]
fn failures_below_the_threshold() {
    // Fail, fail, succeed: the breaker stays closed and the streak is cleared.
    let allocated = allocations(|| {
        assert!(sync_call(true).is_err());
        assert!(sync_call(true).is_err());
        assert!(sync_call(false).is_ok());
    });
    assert_eq!(allocated, 0);
}

#[circuit_breaker("alloc::open", failures = 1, reset = "1h")]
fn open_call() -> Result<u32, ApiError> {
    Err(ApiError::Down)
}

#[circuit_breaker("alloc::open_async", failures = 1, reset = "1h")]
async fn open_call_async() -> Result<u32, ApiError> {
    Err(ApiError::Down)
}

#[test]
fn open_rejection() {
    let _ = open_call();
    let _ = ready(open_call_async());
    let rejected = |r: Result<u32, ApiError>| matches!(r, Err(ApiError::Failfast(_)));
    assert_eq!(allocations(|| assert!(rejected(open_call()))), 0);
    assert_eq!(
        allocations(|| assert!(rejected(ready(open_call_async())))),
        0
    );
}

#[test]
fn half_open_rejection() {
    let breaker = Breaker::new(
        "alloc::half_open",
        BreakerConfig::new().failures(1).reset(Duration::ZERO),
    );
    breaker.acquire().unwrap().failure();
    let _trial = breaker.acquire().expect("the one trial call");
    let allocated = allocations(|| {
        assert!(breaker.call(|| Ok::<_, failfast::Error>(())).is_err());
    });
    assert_eq!(allocated, 0);
}

#[retry(attempts = 3, delay = "1s")]
fn retried() -> Result<u32, ApiError> {
    Ok(1)
}

#[retry(attempts = 3, delay = "1s")]
async fn retried_async() -> Result<u32, ApiError> {
    Ok(1)
}

#[test]
fn retry_without_failure() {
    assert_eq!(allocations(|| assert!(retried().is_ok())), 0);
    assert_eq!(allocations(|| assert!(ready(retried_async()).is_ok())), 0);
}

#[retry(attempts = 3, delay = "100ms")]
#[circuit_breaker("alloc::stacked", failures = 5)]
#[timeout("1s")]
async fn stacked() -> Result<u32, ApiError> {
    Ok(1)
}

#[test]
fn the_whole_stack_inside_a_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _context = rt.enter();
    assert_eq!(allocations(|| assert!(ready(stacked()).is_ok())), 0);
}

#[test]
fn the_runtime_api() {
    let breaker = registry().breaker("alloc::runtime_api", BreakerConfig::new());
    assert_eq!(
        allocations(|| assert!(breaker.call(|| Ok::<_, failfast::Error>(1)).is_ok())),
        0
    );
    let allocated = allocations(|| {
        assert!(ready(breaker.call_async(async { Ok::<_, failfast::Error>(1) })).is_ok());
    });
    assert_eq!(allocated, 0);
}
