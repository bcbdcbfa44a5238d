//! The retry stepper, the retry loops and the timeout, on tokio's paused clock.
//!
//! Steppers here opt out of budgets (`budget(None)`) to test pure retry semantics; the
//! loops `retry` and `retry_async` draw from the default budget, whose floor (10 tokens)
//! covers the few retries they make here. Budgets have their own tests in budget.rs.

use std::cell::RefCell;
use std::time::Duration;

use failfast_runtime::{
    Error, Jitter, Retry, RetryAfter, RetryInfo, RetryPolicy, Rules, retry, retry_async, timeout,
};
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
    let mut retry = Retry::new(&policy(5)).budget(None);
    let ok: Result<u8, &str> = Ok(1);
    assert_eq!(retry.next(&ok, false, |_| true, |_, _| panic!()), None);
}

#[test]
fn stops_when_the_breaker_rejected() {
    let mut retry = Retry::new(&policy(5)).budget(None);
    assert_eq!(retry.next(&ERR, true, |_| true, |_, _| panic!()), None);
}

#[test]
fn stops_when_retry_if_says_no() {
    let mut retry = Retry::new(&policy(5)).budget(None);
    assert_eq!(retry.next(&ERR, false, |_| false, |_, _| panic!()), None);
}

#[test]
fn stops_after_the_attempts_and_reports_each_retry() {
    let attempts = RefCell::new(Vec::new());
    let mut retry = Retry::new(&policy(3)).budget(None);
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
    let mut retry = Retry::new(&policy).budget(None);
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

/// The rules of `next` (every error retried), plus `retry_if_ok` and `retry_after`.
fn rules<T, E, RO, RA, H>(
    retry_if_ok: RO,
    retry_after: RA,
    on_retry: H,
) -> Rules<fn(&E) -> bool, RO, RA, H>
where
    RO: Fn(&T) -> bool,
    RA: Fn(&E) -> Option<Duration>,
    H: FnOnce(&E, &RetryInfo),
{
    Rules {
        retry_if: |_: &E| true,
        retry_if_ok,
        retry_after,
        on_retry,
    }
}

/// Runs `op` under `retry` with `retry_if_ok` and `retry_after`, sleeping on tokio's
/// clock; returns the last result and how many attempts ran.
async fn run<T, E>(
    mut retry: Retry,
    retry_if_ok: impl Fn(&T) -> bool,
    retry_after: impl Fn(&E) -> Option<Duration>,
    mut op: impl FnMut(u32) -> Result<T, E>,
) -> (Result<T, E>, u32) {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = op(attempt);
        match retry.next_with(&result, false, rules(&retry_if_ok, &retry_after, |_, _| {})) {
            Some(wait) => tokio::time::sleep(wait).await,
            None => return (result, attempt),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn retry_if_ok_retries_ok_values_until_one_passes() {
    let start = Instant::now();
    let stepper = Retry::new(&policy(5)).budget(None);
    let status = |attempt| Ok::<u16, ()>(if attempt < 3 { 503 } else { 200 });
    let (result, attempts) = run(stepper, |s: &u16| *s == 503, |_| None, status).await;
    assert_eq!((result, attempts), (Ok(200), 3));
    assert_eq!(start.elapsed(), SEC * (1 + 2), "the backoff's waits");
}

#[tokio::test(start_paused = true)]
async fn retry_if_ok_returns_the_last_ok_value_when_attempts_run_out() {
    let stepper = Retry::new(&policy(3)).budget(None);
    let (result, attempts) = run(
        stepper,
        |s: &u16| *s >= 500,
        |_| None,
        |attempt| Ok::<u16, ()>(500 + attempt as u16),
    )
    .await;
    assert_eq!(
        (result, attempts),
        (Ok(503), 3),
        "the third value, as it is"
    );
}

#[test]
fn retry_if_ok_does_not_call_on_retry() {
    let mut retry = Retry::new(&policy(3)).budget(None);
    let ok: Result<u16, &str> = Ok(503);
    let wait = retry.next_with(&ok, false, rules(|_| true, |_| None, |_, _| panic!("no E")));
    assert_eq!(wait, Some(SEC));
    // Errors still go through retry_if and on_retry.
    let mut hooked = Vec::new();
    let wait = retry.next_with(
        &ERR,
        false,
        rules(
            |_| true,
            |_| None,
            |e, info| hooked.push((*e, info.attempt, info.delay)),
        ),
    );
    assert_eq!(wait, Some(SEC * 2));
    assert_eq!(hooked, [("flaky", 2, SEC * 2)]);
}

#[test]
fn an_ok_value_retry_if_ok_declines_stops_at_once() {
    let mut retry = Retry::new(&policy(3)).budget(None);
    let ok: Result<u16, &str> = Ok(200);
    assert_eq!(
        retry.next_with(&ok, false, rules(|s| *s == 503, |_| None, |_, _| {})),
        None
    );
}

#[test]
fn the_breakers_stop_applies_to_ok_retries_too() {
    let mut retry = Retry::new(&policy(3)).budget(None);
    let ok: Result<u16, &str> = Ok(503);
    assert_eq!(
        retry.next_with(&ok, true, rules(|_| true, |_| None, |_, _| {})),
        None
    );
}

#[derive(Debug, Clone, PartialEq)]
struct Throttled(Option<Duration>);

impl RetryAfter for Throttled {
    fn retry_after(&self) -> Option<Duration> {
        self.0
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_waits_exactly_what_the_error_says() {
    let start = Instant::now();
    let stepper = Retry::new(&policy(4)).budget(None);
    let asks = [Some(SEC * 7), None, Some(Duration::from_millis(1_500))];
    let (result, attempts) = run(
        stepper,
        |_: &()| false,
        Throttled::retry_after,
        |attempt| Err(Throttled(asks.get(attempt as usize - 1).copied().flatten())),
    )
    .await;
    assert_eq!(attempts, 4);
    assert_eq!(result, Err(Throttled(None)), "the last error");
    // 7s asked; none asked: the backoff's second wait (2s); 1.5s asked.
    assert_eq!(
        start.elapsed(),
        SEC * 7 + SEC * 2 + Duration::from_millis(1_500)
    );
}

#[test]
fn retry_after_is_reported_to_on_retry() {
    let mut retry = Retry::new(&policy(3)).budget(None);
    let err: Result<(), Throttled> = Err(Throttled(Some(SEC * 5)));
    let mut seen = None;
    let wait = retry.next_with(
        &err,
        false,
        rules(
            |_| false,
            Throttled::retry_after,
            |_, info| seen = Some(info.delay),
        ),
    );
    assert_eq!((wait, seen), (Some(SEC * 5), Some(SEC * 5)));
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_capped_at_max_delay() {
    let start = Instant::now();
    let stepper = Retry::new(&policy(3).max_delay(SEC * 3)).budget(None);
    let (_, attempts) = run(
        stepper,
        |_: &()| false,
        Throttled::retry_after,
        |_| Err(Throttled(Some(SEC * 3600))),
    )
    .await;
    assert_eq!(attempts, 3);
    assert_eq!(start.elapsed(), SEC * 6, "two waits of max_delay");
}

#[tokio::test(start_paused = true)]
async fn retry_after_respects_the_deadline() {
    let start = Instant::now();
    let stepper = Retry::new(&policy(10).deadline(SEC * 5)).budget(None);
    let (_, attempts) = run(
        stepper,
        |_: &()| false,
        Throttled::retry_after,
        |_| Err(Throttled(Some(SEC * 3))),
    )
    .await;
    // 0s + 3s <= 5s: wait; 3s + 3s > 5s: stop.
    assert_eq!(attempts, 2);
    assert_eq!(start.elapsed(), SEC * 3);
}

#[test]
fn retry_after_still_counts_attempts() {
    let mut retry = Retry::new(&policy(2)).budget(None);
    let err: Result<(), Throttled> = Err(Throttled(Some(Duration::ZERO)));
    let mut step = || {
        retry.next_with(
            &err,
            false,
            rules(|_| false, Throttled::retry_after, |_, _| {}),
        )
    };
    assert_eq!(step(), Some(Duration::ZERO));
    assert_eq!(step(), None, "two attempts made");
}

#[test]
fn failfasts_open_error_says_when_the_breaker_half_opens() {
    let open = Error::Open {
        name: "db".into(),
        retry_after: SEC * 9,
    };
    let mut retry = Retry::new(&policy(3).max_delay(SEC * 60)).budget(None);
    let err: Result<(), Error> = Err(open);
    let wait = retry.next_with(
        &err,
        false,
        rules(|_| false, RetryAfter::retry_after, |_, _| {}),
    );
    assert_eq!(wait, Some(SEC * 9));
}

/// Pins the deadline's boundary (`elapsed + wait > deadline` in `Retry::admit`): a retry
/// whose wait ends exactly at the deadline still runs; one nanosecond later does not.
#[tokio::test(start_paused = true)]
async fn a_wait_that_ends_exactly_at_the_deadline_is_allowed() {
    let nano = Duration::from_nanos(1);
    for (deadline, expected) in [(SEC * 2, Some(SEC)), (SEC * 2 - nano, None)] {
        let policy = policy(10).factor(1.0).deadline(deadline);
        let mut retry = Retry::new(&policy).budget(None);
        assert_eq!(retry.next(&ERR, false, |_| true, |_, _| {}), Some(SEC));
        advance(SEC).await;
        assert_eq!(
            retry.next(&ERR, false, |_| true, |_, _| {}),
            expected,
            "deadline {deadline:?}: 1s + 1s"
        );
    }
}

/// Pins `Debug for Scoped`: opaque, whatever the future.
#[test]
fn scoped_debug_is_opaque() {
    let scoped = Retry::new(&policy(2)).scope_async(async {});
    assert_eq!(format!("{scoped:?}"), "Scoped { .. }");
}
