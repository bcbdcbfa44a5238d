//! Retry budgets through the attribute: three stacked layers of 4 attempts each in front
//! of a dependency that is down. Without a budget every request makes 4 × 4 × 4 = 64
//! calls to it; with a shared budget, under sustained load, the retries stay within the
//! budget's ratio of the requests (only the outermost layer deposits). On a paused tokio clock, so the figures are exact.
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
    // Only the outermost layer deposits: b and c run inside a's attempts, on the same
    // budget, so the request was paid for once. Every attempt past each layer's first is
    // a retry, and took a token.
    let retries = c - n;
    assert_eq!(retries, (a - n) + (b - a) + (c - b));
    // The budget's promise: retries <= ratio × requests + the floor (1/s for 30s, plus
    // the one-second burst it starts with).
    let floor = 30 + 1;
    assert!(
        retries as f64 <= 0.1 * n as f64 + f64::from(floor),
        "{retries} retries for {n} requests"
    );
    // The figure: 1.11 calls to the dead dependency per request, where 64 go through
    // without a budget. Exact under the paused clock: 330 retries (300 by a, 30 by c)
    // for 3000 requests, 0.1 × 3000 + 31 = 331 tokens.
    assert_eq!((a, b, c), (3_300, 3_300, 3_330));
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
    let retries = c - n;
    // ratio 0.2 of the requests (the outermost layer's first attempts: the layers below
    // it deposit nothing), floor 10/s for the time it took plus the second's burst it
    // starts with.
    let floor = 10.0 * (took.as_secs_f64() + 1.0);
    assert!(
        retries as f64 <= 0.2 * n as f64 + floor,
        "{retries} retries for {n} requests"
    );
    // 1.3 calls per request instead of 64 (2.0 when every layer deposited): 3909 calls
    // for 3000 requests. Exact under the paused clock.
    assert_eq!((a, b, c), (3_601, 3_604, 3_909));
    assert_eq!(took, Duration::from_secs(30));
}

// --- Nested loops: one deposit per request, per budget ------------------------------------

/// Attempts of the outer and inner layers.
static NESTED: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];

#[retry(
    attempts = 2,
    delay = "1ms",
    jitter = "none",
    budget = "budgets::inner"
)]
fn inner_own_budget(fail: bool) -> Result<(), ApiError> {
    NESTED[1].fetch_add(1, SeqCst);
    if fail { Err(ApiError::Down) } else { Ok(()) }
}

#[retry(
    attempts = 2,
    delay = "1ms",
    jitter = "none",
    budget = "budgets::outer"
)]
fn outer_calls_inner(fail: bool) -> Result<(), ApiError> {
    NESTED[0].fetch_add(1, SeqCst);
    inner_own_budget(fail)?;
    inner_same_budget()
}

#[retry(budget = "budgets::outer")]
fn inner_same_budget() -> Result<(), ApiError> {
    Ok(())
}

#[test]
fn a_nested_loop_deposits_only_into_a_budget_the_outer_one_does_not_draw_from() {
    let outer = registry().budget("budgets::outer");
    let inner = registry().budget("budgets::inner");
    for budget in [&outer, &inner] {
        budget.set_min_per_sec(0);
        budget.set_ratio(1.0);
    }
    for _ in 0..3 {
        assert_eq!(outer_calls_inner(false), Ok(()));
    }
    // Three requests: three deposits each; `inner_same_budget` draws from the outer
    // loop's budget inside its attempt, so it added nothing.
    assert_eq!((outer.available(), inner.available()), (3.0, 3.0));
    // A failing inner call retries once on its own budget, then the outer loop retries
    // once on its own (the outer retry's inner loop deposits again: a new first attempt
    // of a loop on another budget).
    assert_eq!(outer_calls_inner(true), Err(ApiError::Down));
    assert_eq!(NESTED.each_ref().map(|n| n.load(SeqCst)), [5, 7]);
    assert_eq!((outer.available(), inner.available()), (3.0, 3.0));
}
