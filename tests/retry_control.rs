//! `#[retry]`'s finer control: `retry_if_ok` (retry an `Ok` value, return the last one when
//! the attempts run out) and `retry_after` (wait what the error asks for, capped at
//! `max_delay`, within `deadline`), on a paused tokio clock. Every fn here writes
//! `budget = "none"`: these tests are about the rules, not about the shared budget.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use failfast::{RetryAfter, RetryInfo, retry};
use tokio::time::Instant;

/// An HTTP response: a 503 arrives as `Ok`.
#[derive(Debug, Clone, PartialEq)]
struct Response {
    status: u16,
}

/// The errors of the test fns.
#[derive(Debug, Clone, PartialEq)]
enum HttpError {
    /// 429 with a `Retry-After` header.
    TooManyRequests { retry_after: Duration },
    /// A connection error: no hint.
    Reset,
}

impl RetryAfter for HttpError {
    fn retry_after(&self) -> Option<Duration> {
        match self {
            HttpError::TooManyRequests { retry_after } => Some(*retry_after),
            HttpError::Reset => None,
        }
    }
}

fn unavailable(response: &Response) -> bool {
    response.status == 503
}

fn server_hint(error: &HttpError) -> Option<Duration> {
    error.retry_after()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn too_many(after: Duration) -> HttpError {
    HttpError::TooManyRequests { retry_after: after }
}

static ALWAYS_503_CALLS: AtomicU32 = AtomicU32::new(0);

#[retry(
    attempts = 3,
    delay = "100ms",
    jitter = "none",
    budget = "none",
    retry_if_ok = unavailable
)]
async fn always_503() -> Result<Response, HttpError> {
    ALWAYS_503_CALLS.fetch_add(1, SeqCst);
    Ok(Response { status: 503 })
}

#[tokio::test(start_paused = true)]
async fn retry_if_ok_returns_the_last_ok_value_when_the_attempts_run_out() {
    let start = Instant::now();
    assert_eq!(always_503().await, Ok(Response { status: 503 }));
    assert_eq!(ALWAYS_503_CALLS.load(SeqCst), 3);
    assert_eq!(start.elapsed(), Duration::from_millis(100 + 200));
}

/// What `script` answers, attempt after attempt.
static SCRIPT: Mutex<Vec<Result<Response, HttpError>>> = Mutex::new(Vec::new());
static HOOK: Mutex<Vec<(u32, Duration)>> = Mutex::new(Vec::new());

fn log(_: &HttpError, info: &RetryInfo) {
    HOOK.lock().unwrap().push((info.attempt, info.delay));
}

/// The rule written in place: its parameter type comes from the fn's `Ok` type.
#[retry(
    attempts = 5,
    delay = "100ms",
    jitter = "none",
    budget = "none",
    retry_if_ok = |response| response.status == 503,
    on_retry = log
)]
async fn scripted() -> Result<Response, HttpError> {
    SCRIPT.lock().unwrap().remove(0)
}

#[tokio::test(start_paused = true)]
async fn an_ok_value_and_an_error_are_both_retried_until_a_good_value() {
    *SCRIPT.lock().unwrap() = vec![
        Ok(Response { status: 503 }),
        Err(HttpError::Reset),
        Ok(Response { status: 200 }),
        Ok(Response { status: 503 }),
    ];
    let start = Instant::now();
    assert_eq!(scripted().await, Ok(Response { status: 200 }));
    assert_eq!(SCRIPT.lock().unwrap().len(), 1, "three attempts");
    assert_eq!(start.elapsed(), Duration::from_millis(100 + 200));
    // `on_retry` takes an error: it is called for the error only.
    assert_eq!(*HOOK.lock().unwrap(), [(2, Duration::from_millis(200))]);
}

static HINTED: Mutex<Vec<HttpError>> = Mutex::new(Vec::new());
static HINT_LOG: Mutex<Vec<Duration>> = Mutex::new(Vec::new());

fn log_hint(_: &HttpError, info: &RetryInfo) {
    HINT_LOG.lock().unwrap().push(info.delay);
}

#[retry(
    attempts = 4,
    delay = "100ms",
    jitter = "none",
    budget = "none",
    retry_after = server_hint,
    on_retry = log_hint
)]
async fn hinted() -> Result<(), HttpError> {
    Err(HINTED.lock().unwrap().remove(0))
}

#[tokio::test(start_paused = true)]
async fn retry_after_waits_exactly_what_the_error_asks_for() {
    *HINTED.lock().unwrap() = vec![
        too_many(secs(3)),
        HttpError::Reset,
        too_many(Duration::from_millis(1500)),
        HttpError::Reset,
    ];
    let start = Instant::now();
    assert_eq!(hinted().await, Err(HttpError::Reset));
    // 3s as asked; no hint: the backoff's second wait (100ms doubled); 1.5s as asked.
    let waits = [
        secs(3),
        Duration::from_millis(200),
        Duration::from_millis(1500),
    ];
    assert_eq!(*HINT_LOG.lock().unwrap(), waits);
    assert_eq!(start.elapsed(), waits.iter().sum::<Duration>());
}

static CAPPED_CALLS: AtomicU32 = AtomicU32::new(0);

/// `retry_after` alone: the error's `RetryAfter` impl.
#[retry(
    attempts = 3,
    max_delay = "5s",
    jitter = "none",
    budget = "none",
    retry_after
)]
async fn asks_for_a_minute() -> Result<(), HttpError> {
    CAPPED_CALLS.fetch_add(1, SeqCst);
    Err(too_many(secs(60)))
}

#[tokio::test(start_paused = true)]
async fn the_wait_asked_for_is_capped_at_max_delay() {
    let start = Instant::now();
    assert_eq!(asks_for_a_minute().await, Err(too_many(secs(60))));
    assert_eq!(CAPPED_CALLS.load(SeqCst), 3);
    assert_eq!(start.elapsed(), secs(5 + 5));
}

static DEADLINE_CALLS: AtomicU32 = AtomicU32::new(0);

#[retry(
    attempts = 10,
    deadline = "3s",
    budget = "none",
    retry_after = server_hint
)]
async fn against_the_deadline() -> Result<(), HttpError> {
    DEADLINE_CALLS.fetch_add(1, SeqCst);
    Err(too_many(secs(2)))
}

#[tokio::test(start_paused = true)]
async fn the_wait_asked_for_still_respects_the_deadline() {
    let start = Instant::now();
    assert_eq!(against_the_deadline().await, Err(too_many(secs(2))));
    // Tries at 0s and 2s; the next wait would end at 4s, past the 3s deadline.
    assert_eq!(DEADLINE_CALLS.load(SeqCst), 2);
    assert_eq!(start.elapsed(), secs(2));
}

static SYNC_CALLS: AtomicU32 = AtomicU32::new(0);

/// A sync fn: both rules, with real (short) waits on the thread.
#[retry(
    attempts = 3,
    delay = "5ms",
    jitter = "none",
    budget = "none",
    retry_if_ok = unavailable,
    retry_after = server_hint
)]
fn sync_fetch() -> Result<Response, HttpError> {
    match SYNC_CALLS.fetch_add(1, SeqCst) {
        0 => Err(too_many(Duration::from_millis(20))),
        1 => Ok(Response { status: 503 }),
        _ => Ok(Response { status: 204 }),
    }
}

#[test]
fn sync_fns_take_both_rules() {
    let start = std::time::Instant::now();
    assert_eq!(sync_fetch(), Ok(Response { status: 204 }));
    assert_eq!(SYNC_CALLS.load(SeqCst), 3);
    // 20ms as asked, then the backoff's second wait (5ms doubled) for the 503.
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(20 + 10), "{elapsed:?}");
}
