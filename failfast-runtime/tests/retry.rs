//! The retry stepper, the retry loops and the timeout, on tokio's paused clock.

use std::cell::RefCell;
use std::time::Duration;

use failfast_runtime::{Error, Jitter, Retry, RetryPolicy, retry, retry_async, timeout};
use tokio::time::{Instant, advance};

const SEC: Duration = Duration::from_secs(1);

/// No jitter: waits are 1s, 2s, 4s, ...
fn policy(attempts: u32) -> RetryPolicy {
    RetryPolicy::new()
        .attempts(attempts)
        .delay(SEC)
        .max_delay(Duration::from_secs(60))
        .jitter(Jitter::None)
}

const ERR: Result<(), &str> = Err("flaky");

#[test]
fn stops_on_ok() {
    let mut retry = Retry::new(&policy(5));
    let ok: Result<u8, &str> = Ok(1);
    assert_eq!(retry.next(&ok, false, |_| true, |_, _| panic!()), None);
}

#[test]
fn stops_when_the_breaker_rejected() {
    let mut retry = Retry::new(&policy(5));
    assert_eq!(retry.next(&ERR, true, |_| true, |_, _| panic!()), None);
}

#[test]
fn stops_when_retry_if_says_no() {
    let mut retry = Retry::new(&policy(5));
    assert_eq!(retry.next(&ERR, false, |_| false, |_, _| panic!()), None);
}

#[test]
fn stops_after_the_attempts_and_reports_each_retry() {
    let attempts = RefCell::new(Vec::new());
    let mut retry = Retry::new(&policy(3));
    let mut step = || {
        retry.next(
            &ERR,
            false,
            |_| true,
            |err, info| {
                assert_eq!(*err, "flaky");
                attempts.borrow_mut().push((info.attempt, info.delay));
            },
        )
    };
    assert_eq!(step(), Some(SEC));
    assert_eq!(step(), Some(SEC * 2));
    assert_eq!(step(), None, "the third attempt was the last");
    assert_eq!(*attempts.borrow(), [(1, SEC), (2, SEC * 2)]);
}

#[tokio::test(start_paused = true)]
async fn stops_at_the_deadline() {
    let policy = policy(10)
        .factor(1.0)
        .deadline(Duration::from_millis(2_500));
    let mut retry = Retry::new(&policy);
    let mut hooked = 0;
    let mut step = || retry.next(&ERR, false, |_| true, |_, _| hooked += 1);
    assert_eq!(step(), Some(SEC)); // 0s + 1s <= 2.5s
    advance(SEC).await;
    assert_eq!(step(), Some(SEC)); // 1s + 1s <= 2.5s
    advance(SEC).await;
    assert_eq!(step(), None); // 2s + 1s > 2.5s
    assert_eq!(hooked, 2, "no hook call when the deadline stops it");
}

#[tokio::test(start_paused = true)]
async fn retry_async_sleeps_exactly_the_waits() {
    let start = Instant::now();
    let mut calls = 0;
    let result: Result<(), &str> = retry_async(&policy(4), || {
        calls += 1;
        async { ERR }
    })
    .await;
    assert_eq!(result, ERR);
    assert_eq!(calls, 4);
    assert_eq!(start.elapsed(), SEC * (1 + 2 + 4));
}

#[tokio::test(start_paused = true)]
async fn retry_async_returns_the_first_success() {
    let start = Instant::now();
    let mut calls = 0;
    let result = retry_async(&policy(5), || {
        calls += 1;
        let outcome = if calls == 3 { Ok(calls) } else { Err("flaky") };
        async move { outcome }
    })
    .await;
    assert_eq!(result, Ok(3));
    assert_eq!(start.elapsed(), SEC * 3);
}

#[test]
fn retry_sleeps_the_thread_between_attempts() {
    let policy = policy(3).delay(Duration::from_millis(5));
    let start = std::time::Instant::now();
    let mut calls = 0;
    let result = retry(&policy, || {
        calls += 1;
        ERR
    });
    assert_eq!((result, calls), (ERR, 3));
    assert!(start.elapsed() >= Duration::from_millis(15));
}

#[tokio::test(start_paused = true)]
async fn timeout_cuts_the_future_at_the_deadline() {
    let start = Instant::now();
    let slow = async {
        tokio::time::sleep(SEC * 10).await;
        Ok::<(), Error>(())
    };
    let result = timeout(SEC * 3, slow).await;
    assert_eq!(result, Err(Error::Timeout { after: SEC * 3 }));
    assert_eq!(start.elapsed(), SEC * 3);
    assert_eq!(result.unwrap_err().to_string(), "timed out after 3s");
}

#[tokio::test(start_paused = true)]
async fn timeout_passes_a_fast_result_through() {
    let fast = async { Err::<(), Error>(Error::Timeout { after: SEC * 99 }) };
    let result = timeout(SEC, fast).await;
    assert_eq!(
        result,
        Err(Error::Timeout { after: SEC * 99 }),
        "its own error"
    );
}
