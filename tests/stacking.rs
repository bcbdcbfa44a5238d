//! Attributes stack: the one written on top wraps the ones below it.

mod common;

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use common::{ApiError, open};
use failfast::{Error, State, circuit_breaker, registry, retry, timeout};
use tokio::time::{Instant, sleep};

static SLOW_CALLS: AtomicU32 = AtomicU32::new(0);

/// The documented order: retry each timed-out call, while the breaker counts each attempt.
#[retry(attempts = 3, delay = "100ms", jitter = "none", budget = "none")]
#[circuit_breaker("stack::retry_breaker_timeout", failures = 5, reset = "30s")]
#[timeout("1s")]
async fn hangs() -> Result<(), ApiError> {
    SLOW_CALLS.fetch_add(1, SeqCst);
    sleep(Duration::from_secs(60)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn retry_over_breaker_over_timeout() {
    let timed_out = ApiError::Failfast(Error::Timeout {
        after: Duration::from_secs(1),
    });
    let start = Instant::now();

    // First request: three attempts, each cut at 1s, with 100ms and 200ms between them.
    assert_eq!(hangs().await, Err(timed_out.clone()));
    assert_eq!(SLOW_CALLS.load(SeqCst), 3);
    assert_eq!(start.elapsed(), Duration::from_millis(3000 + 100 + 200));
    let breaker = registry().get("stack::retry_breaker_timeout").unwrap();
    assert_eq!(
        breaker.metrics().failures,
        3,
        "the breaker sees every attempt"
    );

    // Second request: two more timeouts make five and open the breaker; after the 200ms
    // wait the third attempt is rejected, and the retry does not retry that rejection.
    let start = Instant::now();
    let result = hangs().await;
    assert_eq!(
        result,
        Err(open(
            "stack::retry_breaker_timeout",
            Duration::from_millis(30_000 - 200)
        ))
    );
    assert_eq!(SLOW_CALLS.load(SeqCst), 5);
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(start.elapsed(), Duration::from_millis(2000 + 100 + 200));

    // While open, a request costs nothing: one rejection, no attempt, no wait.
    let start = Instant::now();
    assert!(matches!(
        hangs().await,
        Err(ApiError::Failfast(Error::Open { .. }))
    ));
    assert_eq!(SLOW_CALLS.load(SeqCst), 5);
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(breaker.metrics().rejections, 2);
}

static INNER_CALLS: AtomicU32 = AtomicU32::new(0);

/// The other way round: the breaker sees one outcome per retried call.
#[circuit_breaker("stack::breaker_retry", failures = 2, reset = "30s")]
#[retry(attempts = 3, delay = "10ms", jitter = "none", budget = "none")]
async fn retried_inside() -> Result<(), ApiError> {
    INNER_CALLS.fetch_add(1, SeqCst);
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn breaker_over_retry_counts_one_outcome_per_call() {
    assert_eq!(retried_inside().await, Err(ApiError::Down));
    assert_eq!(INNER_CALLS.load(SeqCst), 3);
    let breaker = registry().get("stack::breaker_retry").unwrap();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.metrics().failures, 1);

    assert_eq!(retried_inside().await, Err(ApiError::Down));
    assert_eq!(INNER_CALLS.load(SeqCst), 6);
    assert_eq!(breaker.state(), State::Open);

    assert_eq!(
        retried_inside().await,
        Err(open("stack::breaker_retry", Duration::from_secs(30)))
    );
    assert_eq!(INNER_CALLS.load(SeqCst), 6);
}

static BOUNDED_CALLS: AtomicU32 = AtomicU32::new(0);

/// A timeout on top bounds the whole retried call, waits included.
#[timeout("1s")]
#[retry(
    attempts = 10,
    delay = "300ms",
    factor = 1.0,
    jitter = "none",
    budget = "none"
)]
async fn bounded() -> Result<(), ApiError> {
    BOUNDED_CALLS.fetch_add(1, SeqCst);
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn timeout_over_retry_bounds_every_attempt_together() {
    let start = Instant::now();
    assert_eq!(
        bounded().await,
        Err(ApiError::Failfast(Error::Timeout {
            after: Duration::from_secs(1)
        }))
    );
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    // Attempts at 0, 300, 600 and 900ms; the deadline hits during the next wait.
    assert_eq!(BOUNDED_CALLS.load(SeqCst), 4);
}

static SYNC_STACK_CALLS: AtomicU32 = AtomicU32::new(0);

/// The default budget, on purpose: the only fn of this binary that draws from it.
#[retry(attempts = 4, delay = "1ms", jitter = "none")]
#[circuit_breaker("stack::sync", failures = 2, reset = "60s")]
fn sync_stack() -> Result<(), ApiError> {
    SYNC_STACK_CALLS.fetch_add(1, SeqCst);
    Err(ApiError::Down)
}

#[test]
fn sync_retry_over_breaker_stops_at_the_rejection() {
    assert!(matches!(
        sync_stack(),
        Err(ApiError::Failfast(Error::Open { .. }))
    ));
    assert_eq!(
        SYNC_STACK_CALLS.load(SeqCst),
        2,
        "two failures open it, the third try is rejected"
    );
    let breaker = registry().get("stack::sync").unwrap();
    assert_eq!(breaker.metrics().rejections, 1);
}

#[test]
fn stacked_futures_are_send_so_they_can_be_spawned() {
    fn assert_send<T: Send + 'static>(_: &T) {}
    assert_send(&hangs());
    assert_send(&retried_inside());
    assert_send(&bounded());
}
