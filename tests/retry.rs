//! `#[retry]`: attempts, backoff, deadline, `retry_if`, `on_retry`, on a paused tokio clock
//! for async fns and with short real waits for sync fns.
//!
//! The fns that check the retry rules write `budget = "none"`: the process-wide default
//! budget is shared by every test of this binary, and would make them depend on each
//! other. Three fns that retry twice each keep the default budget on purpose (its floor
//! starts with 10 tokens, so their 6 retries are always granted): the attribute without a
//! `budget` argument works as before.

mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use common::{ApiError, dependency_fault};
use failfast::{RetryInfo, retry};
use tokio::time::Instant;

static DOUBLING_CALLS: AtomicU32 = AtomicU32::new(0);

#[retry(
    attempts = 4,
    delay = "100ms",
    factor = 2.0,
    jitter = "none",
    budget = "none"
)]
async fn always_down() -> Result<(), ApiError> {
    DOUBLING_CALLS.fetch_add(1, SeqCst);
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn waits_grow_by_factor_and_the_last_error_is_returned() {
    let start = Instant::now();
    assert_eq!(always_down().await, Err(ApiError::Down));
    assert_eq!(DOUBLING_CALLS.load(SeqCst), 4);
    assert_eq!(start.elapsed(), Duration::from_millis(100 + 200 + 400));
}

static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

/// The default budget, on purpose.
#[retry(attempts = 5, delay = "1s", jitter = "none")]
async fn third_time_lucky() -> Result<u32, ApiError> {
    let n = FLAKY_CALLS.fetch_add(1, SeqCst) + 1;
    if n < 3 { Err(ApiError::Down) } else { Ok(n) }
}

#[tokio::test(start_paused = true)]
async fn stops_at_the_first_success() {
    let start = Instant::now();
    assert_eq!(third_time_lucky().await, Ok(3));
    assert_eq!(FLAKY_CALLS.load(SeqCst), 3);
    assert_eq!(start.elapsed(), Duration::from_secs(1 + 2));
}

static CAPPED_CALLS: AtomicU32 = AtomicU32::new(0);

#[retry(
    attempts = 5,
    delay = "100ms",
    factor = 10.0,
    max_delay = "1s",
    jitter = "none",
    budget = "none"
)]
async fn capped() -> Result<(), ApiError> {
    CAPPED_CALLS.fetch_add(1, SeqCst);
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn max_delay_caps_each_wait() {
    let start = Instant::now();
    assert_eq!(capped().await, Err(ApiError::Down));
    assert_eq!(CAPPED_CALLS.load(SeqCst), 5);
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(100 + 1000 + 1000 + 1000)
    );
}

static DEADLINE_CALLS: AtomicU32 = AtomicU32::new(0);

#[retry(
    attempts = 10,
    delay = "1s",
    factor = 1.0,
    jitter = "none",
    deadline = "3500ms",
    budget = "none"
)]
async fn against_the_clock() -> Result<(), ApiError> {
    DEADLINE_CALLS.fetch_add(1, SeqCst);
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn deadline_stops_before_a_wait_that_would_pass_it() {
    let start = Instant::now();
    assert_eq!(against_the_clock().await, Err(ApiError::Down));
    // Tries at 0s, 1s, 2s and 3s; a fifth would start at 4s, past the 3.5s deadline.
    assert_eq!(DEADLINE_CALLS.load(SeqCst), 4);
    assert_eq!(start.elapsed(), Duration::from_secs(3));
}

static SELECTIVE_CALLS: AtomicU32 = AtomicU32::new(0);

#[retry(attempts = 3, delay = "10ms", retry_if = dependency_fault, budget = "none")]
async fn selective(error: ApiError) -> Result<(), ApiError> {
    SELECTIVE_CALLS.fetch_add(1, SeqCst);
    Err(error)
}

#[tokio::test(start_paused = true)]
async fn retry_if_chooses_which_errors_are_retried() {
    assert_eq!(
        selective(ApiError::BadRequest).await,
        Err(ApiError::BadRequest)
    );
    assert_eq!(
        SELECTIVE_CALLS.load(SeqCst),
        1,
        "a bad request is not retried"
    );
    assert_eq!(selective(ApiError::Down).await, Err(ApiError::Down));
    assert_eq!(SELECTIVE_CALLS.load(SeqCst), 4);
}

static HOOK_LOG: Mutex<Vec<(u32, Duration, ApiError)>> = Mutex::new(Vec::new());

fn log_retry(error: &ApiError, info: &RetryInfo) {
    HOOK_LOG
        .lock()
        .unwrap()
        .push((info.attempt, info.delay, error.clone()));
}

#[retry(
    attempts = 3,
    delay = "50ms",
    jitter = "none",
    on_retry = log_retry,
    budget = "none"
)]
async fn logged() -> Result<(), ApiError> {
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn on_retry_is_called_before_each_wait() {
    assert_eq!(logged().await, Err(ApiError::Down));
    assert_eq!(
        *HOOK_LOG.lock().unwrap(),
        vec![
            (1, Duration::from_millis(50), ApiError::Down),
            (2, Duration::from_millis(100), ApiError::Down),
        ]
    );
}

static FULL_JITTER_CALLS: AtomicU32 = AtomicU32::new(0);

#[retry(attempts = 4, delay = "100ms", jitter = "full", budget = "none")]
async fn jittered() -> Result<(), ApiError> {
    FULL_JITTER_CALLS.fetch_add(1, SeqCst);
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn full_jitter_waits_at_most_the_exponential_backoff() {
    let start = Instant::now();
    assert_eq!(jittered().await, Err(ApiError::Down));
    assert_eq!(FULL_JITTER_CALLS.load(SeqCst), 4);
    assert!(start.elapsed() <= Duration::from_millis(100 + 200 + 400));
}

static OWNED_SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Takes its argument by value and consumes it: each attempt gets its own clone. The
/// default budget, on purpose.
#[retry(attempts = 3, delay = "1ms")]
async fn consume(body: String) -> Result<(), ApiError> {
    OWNED_SEEN.lock().unwrap().push(body);
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn by_value_parameters_are_cloned_for_each_attempt() {
    assert_eq!(consume("payload".to_owned()).await, Err(ApiError::Down));
    assert_eq!(*OWNED_SEEN.lock().unwrap(), vec!["payload"; 3]);
}

struct Client {
    attempts_seen: u32,
}

impl Client {
    #[retry(attempts = 3, delay = "1ms")]
    async fn fetch(&mut self, fail_until: u32) -> Result<u32, ApiError> {
        self.attempts_seen += 1;
        if self.attempts_seen < fail_until {
            Err(ApiError::Down)
        } else {
            Ok(self.attempts_seen)
        }
    }
}

#[tokio::test(start_paused = true)]
async fn methods_taking_mut_self_are_retried() {
    let mut client = Client { attempts_seen: 0 };
    assert_eq!(client.fetch(3).await, Ok(3));
    assert_eq!(client.attempts_seen, 3);
}

static SYNC_CALLS: AtomicU32 = AtomicU32::new(0);

#[retry(
    attempts = 3,
    delay = "20ms",
    factor = 1.0,
    jitter = "none",
    budget = "none"
)]
fn sync_flaky() -> Result<(), ApiError> {
    SYNC_CALLS.fetch_add(1, SeqCst);
    Err(ApiError::Down)
}

#[test]
fn sync_fns_wait_on_the_thread() {
    let start = std::time::Instant::now();
    assert_eq!(sync_flaky(), Err(ApiError::Down));
    assert_eq!(SYNC_CALLS.load(SeqCst), 3);
    assert!(
        start.elapsed() >= Duration::from_millis(40),
        "two waits of 20ms"
    );
}

#[retry(attempts = 6, delay = "100ms", jitter = "full", budget = "none")]
async fn seeded(attempts: &Mutex<Vec<Instant>>) -> Result<(), ApiError> {
    attempts.lock().unwrap().push(Instant::now());
    Err(ApiError::Down)
}

/// The waits between the attempts of one `seeded` call.
async fn jittered_waits() -> Vec<Duration> {
    let attempts = Mutex::new(Vec::new());
    assert_eq!(seeded(&attempts).await, Err(ApiError::Down));
    let attempts = attempts.into_inner().unwrap();
    attempts.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test(start_paused = true)]
async fn seed_jitter_makes_the_waits_reproducible() {
    failfast::seed_jitter(42);
    let first = jittered_waits().await;
    let second = jittered_waits().await;
    assert_eq!(first.len(), 5);
    assert_ne!(first, second, "one seed, a sequence of generators");
    failfast::seed_jitter(42);
    assert_eq!(jittered_waits().await, first);
    assert_eq!(jittered_waits().await, second);
    failfast::seed_jitter(43);
    assert_ne!(jittered_waits().await, first);
    // Full jitter: each wait within [0, 100ms × 2^n].
    for (n, wait) in first.iter().enumerate() {
        assert!(*wait <= Duration::from_millis(100 << n), "{first:?}");
    }
}
