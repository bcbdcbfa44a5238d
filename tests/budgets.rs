//! Retry budgets through the attribute: three stacked layers of 4 attempts each in front
//! of a dependency that is down. Without a budget every request makes 4 × 4 × 4 = 64
//! calls to it; with a shared budget, under sustained load, the retries stay within the
//! budget's ratio. On a paused tokio clock, so the figures are exact.
//!
//! Each test has its own dependency, fns and budget; only
//! `the_default_budget_applies_without_an_argument` draws from the process-wide default
//! budget, so the tests do not depend on each other.

mod common;

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use common::ApiError;
use failfast::{registry, retry};

/// Requests per simulated second in the load tests.
const PER_SECOND: u32 = 100;

// --- No budget: 64 calls per request -------------------------------------------------

static UNBUDGETED: AtomicU64 = AtomicU64::new(0);

async fn dead_unbudgeted() -> Result<(), ApiError> {
    UNBUDGETED.fetch_add(1, SeqCst);
    Err(ApiError::Down)
}

#[retry(attempts = 4, delay = "10ms", jitter = "none", budget = "none")]
async fn c_unbudgeted() -> Result<(), ApiError> {
    dead_unbudgeted().await
}

#[retry(attempts = 4, delay = "10ms", jitter = "none", budget = "none")]
async fn b_unbudgeted() -> Result<(), ApiError> {
    c_unbudgeted().await
}

#[retry(attempts = 4, delay = "10ms", jitter = "none", budget = "none")]
async fn a_unbudgeted() -> Result<(), ApiError> {
    b_unbudgeted().await
}

#[tokio::test(start_paused = true)]
async fn without_a_budget_stacked_retries_multiply() {
    for request in 1..=20 {
        assert_eq!(a_unbudgeted().await, Err(ApiError::Down));
        assert_eq!(UNBUDGETED.load(SeqCst), 64 * request);
    }
}

// --- A shared budget under sustained load ----------------------------------------------

const SHARED: &str = "budgets::shared";

/// Attempts of each layer: a, b, c (c's attempts are the dependency's calls).
static SHARED_ATTEMPTS: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

#[retry(
    attempts = 4,
    delay = "10ms",
    jitter = "none",
    budget = "budgets::shared"
)]
async fn c_shared() -> Result<(), ApiError> {
    SHARED_ATTEMPTS[2].fetch_add(1, SeqCst);
    Err(ApiError::Down) // the dependency, down
}

#[retry(
    attempts = 4,
    delay = "10ms",
    jitter = "none",
    budget = "budgets::shared"
)]
async fn b_shared() -> Result<(), ApiError> {
    SHARED_ATTEMPTS[1].fetch_add(1, SeqCst);
    c_shared().await
}

#[retry(
    attempts = 4,
    delay = "10ms",
    jitter = "none",
    budget = "budgets::shared"
)]
async fn a_shared() -> Result<(), ApiError> {
    SHARED_ATTEMPTS[0].fetch_add(1, SeqCst);
    b_shared().await
}

/// Runs `requests` requests, `PER_SECOND` a second, each to the end; returns the
/// simulated time it took.
async fn load<F: Future<Output = Result<(), ApiError>>>(
    requests: u32,
    request: impl Fn() -> F,
) -> Duration {
    let start = tokio::time::Instant::now();
    for n in 0..requests {
        assert_eq!(request().await, Err(ApiError::Down));
        // The next request starts on its slot of the schedule (or at once if late).
        tokio::time::sleep_until(start + Duration::from_secs(1) * (n + 1) / PER_SECOND).await;
    }
    start.elapsed()
}

#[tokio::test(start_paused = true)]
async fn a_shared_budget_keeps_stacked_retries_within_its_ratio() {
    let budget = registry().budget(SHARED);
    budget.set_min_per_sec(1); // a small floor: the ratio decides
    assert_eq!(budget.ratio(), 0.1, "a named budget's default");
    let requests: u32 = 3_000;
    let took = load(requests, a_shared).await;
    assert_eq!(
        took,
        Duration::from_secs(30),
        "100 requests a second, 30 seconds"
    );

    let [a, b, c] = SHARED_ATTEMPTS.each_ref().map(|n| n.load(SeqCst));
    let n = u64::from(requests);
    // First attempts deposit: one per request at a, one per attempt of a at b, one per
    // attempt of b at c. Every other attempt is a retry, and took a token.
    let first_attempts = n + a + b;
    let retries = c - n;
    assert_eq!(retries, (a - n) + (b - a) + (c - b));
    // The budget's promise: retries <= ratio × first attempts + the floor (1/s for 30s,
    // plus the one-second burst it starts with).
    let floor = 30 + 1;
    assert!(
        retries as f64 <= 0.1 * first_attempts as f64 + f64::from(floor),
        "{retries} retries for {first_attempts} first attempts"
    );
    // The figure: 4 calls to the dead dependency for every 3 requests, where 64 per
    // request go through without a budget. Exact under the paused clock: 1000 retries
    // (699 by b, 301 by c) for 9699 first attempts, 0.1 × 9699 + 31 = 1000.9 tokens.
    assert_eq!((a, b, c), (3_000, 3_699, 4_000));
    assert_eq!(f64::from(c as u32) / f64::from(requests), 4.0 / 3.0);
    assert!(budget.exhausted() > 0, "the refusals are counted");
}

// --- Deposits and withdrawals, one by one ------------------------------------------------

const EXACT: &str = "budgets::exact";

#[retry(budget = "budgets::exact")]
async fn healthy() -> Result<(), ApiError> {
    Ok(())
}

static EXACT_CALLS: AtomicU64 = AtomicU64::new(0);

#[retry(
    attempts = 100,
    delay = "1ms",
    jitter = "none",
    budget = "budgets::exact"
)]
async fn failing() -> Result<(), ApiError> {
    EXACT_CALLS.fetch_add(1, SeqCst);
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn each_first_attempt_deposits_the_ratio_and_each_retry_takes_a_token() {
    let budget = registry().budget(EXACT);
    budget.set_min_per_sec(0); // no floor: only deposits pay for retries
    for _ in 0..100 {
        assert_eq!(healthy().await, Ok(()));
    }
    assert_eq!(budget.available(), 10.0, "100 first attempts at 0.1");
    // Its own first attempt deposits 0.1 more: 10 retries, then the budget is empty and
    // the last error is returned, with 89 attempts left unused.
    assert_eq!(failing().await, Err(ApiError::Down));
    assert_eq!(EXACT_CALLS.load(SeqCst), 1 + 10);
    assert_eq!(budget.exhausted(), 1);
    // Budgets are set at run time, through the registry.
    budget.set_ratio(1.0);
    assert_eq!(failing().await, Err(ApiError::Down));
    assert_eq!(
        EXACT_CALLS.load(SeqCst),
        11 + 2,
        "0.1 left over plus 1.0: one retry"
    );
    assert!(registry().budgets().iter().any(|b| b.name() == EXACT));
}

// --- The default budget ------------------------------------------------------------------

/// Attempts of each layer: a, b, c.
static DEFAULT_ATTEMPTS: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

#[retry(attempts = 4, delay = "10ms", jitter = "none")]
async fn c_default() -> Result<(), ApiError> {
    DEFAULT_ATTEMPTS[2].fetch_add(1, SeqCst);
    Err(ApiError::Down)
}

#[retry(attempts = 4, delay = "10ms", jitter = "none")]
async fn b_default() -> Result<(), ApiError> {
    DEFAULT_ATTEMPTS[1].fetch_add(1, SeqCst);
    c_default().await
}

#[retry(attempts = 4, delay = "10ms", jitter = "none")]
async fn a_default() -> Result<(), ApiError> {
    DEFAULT_ATTEMPTS[0].fetch_add(1, SeqCst);
    b_default().await
}

#[tokio::test(start_paused = true)]
async fn the_default_budget_applies_without_an_argument() {
    let budget = registry().default_budget();
    assert_eq!((budget.ratio(), budget.min_per_sec()), (0.2, 10));
    let requests: u32 = 3_000;
    let took = load(requests, a_default).await;
    let [a, b, c] = DEFAULT_ATTEMPTS.each_ref().map(|n| n.load(SeqCst));
    let n = u64::from(requests);
    let (first_attempts, retries) = (n + a + b, c - n);
    // ratio 0.2, floor 10/s for the time it took plus the second's burst it starts with
    // (the retries' waits make the schedule run a little late).
    let floor = 10.0 * (took.as_secs_f64() + 1.0);
    assert!(
        retries as f64 <= 0.2 * first_attempts as f64 + floor,
        "{retries} retries for {first_attempts} first attempts"
    );
    // About 2 calls per request instead of 64: 6013 calls for 3000 requests, 3013
    // retries for 13503 first attempts. Exact under the paused clock.
    assert_eq!((a, b, c), (4_500, 6_003, 6_013));
    assert_eq!(took, Duration::from_millis(30_290));
}
