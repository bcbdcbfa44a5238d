//! `fallback_on = "failure"`: the fallback answers a failed call too, not only a rejected
//! one (graceful degradation from the first failure), on a paused tokio clock.

mod common;

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use common::{ApiError, Transitions, dependency_fault};
use failfast::{Reason, State, circuit_breaker, registry, retry, timeout};
use tokio::time::advance;

static CALLS: AtomicU32 = AtomicU32::new(0);
static FALLBACKS: AtomicU32 = AtomicU32::new(0);

/// `Down` fails, `BadRequest` is the caller's fault (not a failure), anything else works.
#[circuit_breaker(
    "fallback_on::recommendations",
    failures = 3,
    reset = "10s",
    is_failure = dependency_fault,
    fallback = popular_only,
    fallback_on = "failure"
)]
async fn recommendations(user: u32, answer: Option<ApiError>) -> Result<Vec<u32>, ApiError> {
    CALLS.fetch_add(1, SeqCst);
    match answer {
        Some(error) => Err(error),
        None => Ok(vec![user, 42]),
    }
}

async fn popular_only(user: u32, _answer: Option<ApiError>) -> Result<Vec<u32>, ApiError> {
    FALLBACKS.fetch_add(1, SeqCst);
    Ok(vec![user, 0])
}

#[tokio::test(start_paused = true)]
async fn failures_and_rejections_are_answered_by_the_fallback() {
    let seen = Transitions::of("fallback_on::recommendations");
    let counts = || (CALLS.load(SeqCst), FALLBACKS.load(SeqCst));
    let down = || Some(ApiError::Down);

    assert_eq!(recommendations(1, None).await, Ok(vec![1, 42]));
    assert_eq!(counts(), (1, 0));
    // A failure is answered by the fallback, with the same arguments, and still counted.
    assert_eq!(recommendations(2, down()).await, Ok(vec![2, 0]));
    assert_eq!(counts(), (2, 1));
    // An error that is not a failure is returned as it is.
    assert_eq!(
        recommendations(3, Some(ApiError::BadRequest)).await,
        Err(ApiError::BadRequest)
    );
    assert_eq!(counts(), (3, 1));
    let breaker = registry().get("fallback_on::recommendations").unwrap();
    assert_eq!(breaker.state(), State::Closed);

    // Three failures in a row open it (the bad request counted as a success).
    assert_eq!(recommendations(4, down()).await, Ok(vec![4, 0]));
    assert_eq!(recommendations(5, down()).await, Ok(vec![5, 0]));
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(recommendations(6, down()).await, Ok(vec![6, 0]));
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(counts(), (6, 4));

    // Open: the fn is not called, the fallback answers.
    assert_eq!(recommendations(7, None).await, Ok(vec![7, 0]));
    assert_eq!(counts(), (6, 5));

    // The trial call fails: answered by the fallback, and the breaker reopens.
    advance(Duration::from_secs(10)).await;
    assert_eq!(recommendations(8, down()).await, Ok(vec![8, 0]));
    assert_eq!(counts(), (7, 6));
    assert_eq!(breaker.state(), State::Open);
    // The next trial works: the real answer, and the breaker closes.
    advance(Duration::from_secs(10)).await;
    assert_eq!(recommendations(9, None).await, Ok(vec![9, 42]));
    assert_eq!(counts(), (8, 6));
    assert_eq!(breaker.state(), State::Closed);

    let m = breaker.metrics();
    assert_eq!(
        (m.calls, m.successes, m.failures, m.rejections),
        (9, 3, 5, 1)
    );
    use State::*;
    assert_eq!(
        seen.take(),
        [
            (Closed, Open, Reason::Failures),
            (Open, HalfOpen, Reason::ResetElapsed),
            (HalfOpen, Open, Reason::ProbeFailed),
            (Open, HalfOpen, Reason::ResetElapsed),
            (HalfOpen, Closed, Reason::ProbesSucceeded),
        ]
    );
}

static SLOW_CALLS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker("fallback_on::slow", failures = 2, fallback = cached, fallback_on = "failure")]
#[timeout("100ms")]
async fn slow_lookup(key: String, delay: Duration) -> Result<String, ApiError> {
    SLOW_CALLS.fetch_add(1, SeqCst);
    tokio::time::sleep(delay).await;
    Ok(format!("fresh {key}"))
}

/// Gets the caller's own `key`: the call had a copy.
async fn cached(key: String, _delay: Duration) -> Result<String, ApiError> {
    Ok(format!("cached {key}"))
}

#[tokio::test(start_paused = true)]
async fn a_timeout_below_is_a_failure_the_fallback_answers() {
    let fast = Duration::from_millis(5);
    let slow = Duration::from_secs(5);
    assert_eq!(slow_lookup("a".into(), fast).await.unwrap(), "fresh a");
    let started = tokio::time::Instant::now();
    assert_eq!(slow_lookup("b".into(), slow).await.unwrap(), "cached b");
    assert_eq!(started.elapsed(), Duration::from_millis(100), "timed out");
    assert_eq!(slow_lookup("c".into(), slow).await.unwrap(), "cached c");
    let breaker = registry().get("fallback_on::slow").unwrap();
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(slow_lookup("d".into(), fast).await.unwrap(), "cached d");
    assert_eq!(SLOW_CALLS.load(SeqCst), 3);
    assert_eq!(breaker.metrics().failures, 2);
}

static SYNC_CALLS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker("fallback_on::sync", failures = 5, fallback = default_price, fallback_on = "failure")]
fn price(item: String) -> Result<u32, ApiError> {
    SYNC_CALLS.fetch_add(1, SeqCst);
    match item.as_str() {
        "boom" => panic!("the pricing engine panicked"),
        "down" => Err(ApiError::Down),
        _ => Ok(item.len() as u32),
    }
}

fn default_price(item: String) -> Result<u32, ApiError> {
    Ok(1000 + item.len() as u32)
}

#[test]
fn sync_fns_fall_back_on_failure_and_panics_still_propagate() {
    assert_eq!(price("book".into()), Ok(4));
    assert_eq!(price("down".into()), Ok(1004));
    let panicked = std::panic::catch_unwind(|| price("boom".into()));
    assert!(panicked.is_err(), "a panic is not answered by the fallback");
    let breaker = registry().get("fallback_on::sync").unwrap();
    let m = breaker.metrics();
    assert_eq!((m.successes, m.failures), (1, 2), "the panic counted");
    assert_eq!(SYNC_CALLS.load(SeqCst), 3);
}

static RETRIED_CALLS: AtomicU32 = AtomicU32::new(0);

#[retry(attempts = 3, delay = "1ms", budget = "none")]
#[circuit_breaker("fallback_on::retried", failures = 5, fallback = stale, fallback_on = "failure")]
async fn retried() -> Result<u32, ApiError> {
    RETRIED_CALLS.fetch_add(1, SeqCst);
    Err(ApiError::Down)
}

async fn stale() -> Result<u32, ApiError> {
    Ok(0)
}

#[tokio::test(start_paused = true)]
async fn under_a_retry_a_failure_answered_by_the_fallback_is_not_retried() {
    assert_eq!(retried().await, Ok(0));
    assert_eq!(RETRIED_CALLS.load(SeqCst), 1);
}

static TOGGLED_CALLS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker(
    "fallback_on::toggled",
    failures = 1,
    fallback = zero,
    fallback_on = "failure",
    enabled = std::env::var_os("FALLBACK_ON_TEST_OFF").is_none()
)]
fn toggled(fail: bool) -> Result<u32, ApiError> {
    TOGGLED_CALLS.fetch_add(1, SeqCst);
    if fail { Err(ApiError::Down) } else { Ok(1) }
}

#[circuit_breaker("fallback_on::off", fallback = zero, fallback_on = "failure", enabled = false)]
fn off(fail: bool) -> Result<u32, ApiError> {
    if fail { Err(ApiError::Down) } else { Ok(1) }
}

fn zero(_fail: bool) -> Result<u32, ApiError> {
    Ok(0)
}

#[test]
fn with_enabled_the_fallback_answers_failures_and_rejections_and_disabled_passes_through() {
    assert_eq!(toggled(false), Ok(1));
    assert_eq!(toggled(true), Ok(0));
    assert_eq!(
        toggled(false),
        Ok(0),
        "open: rejected, answered by the fallback"
    );
    assert_eq!(TOGGLED_CALLS.load(SeqCst), 2);
    assert_eq!(
        off(true),
        Err(ApiError::Down),
        "a disabled attribute has no fallback"
    );
    assert_eq!(off(false), Ok(1));
    assert!(registry().get("fallback_on::off").is_none());
}

struct Catalog {
    calls: AtomicU32,
}

impl Catalog {
    #[circuit_breaker(failures = 2, fallback = Self::empty, fallback_on = "failure")]
    async fn search(&self, query: &str) -> Result<Vec<String>, ApiError> {
        self.calls.fetch_add(1, SeqCst);
        if query.is_empty() {
            Err(ApiError::Down)
        } else {
            Ok(vec![query.to_owned()])
        }
    }

    async fn empty(&self, query: &str) -> Result<Vec<String>, ApiError> {
        Ok(vec![format!("no results for {query:?}")])
    }
}

#[tokio::test(start_paused = true)]
async fn methods_fall_back_to_a_method_with_the_same_receiver() {
    let catalog = Catalog {
        calls: AtomicU32::new(0),
    };
    assert_eq!(catalog.search("tea").await, Ok(vec!["tea".to_owned()]));
    assert_eq!(
        catalog.search("").await,
        Ok(vec!["no results for \"\"".to_owned()])
    );
    assert_eq!(catalog.calls.load(SeqCst), 2);
    let breaker = registry().get("fallback_on::Catalog::search").unwrap();
    assert_eq!(breaker.metrics().failures, 1);
}

#[test]
fn the_futures_stay_send() {
    fn assert_send<T: Send>(_: &T) {}
    assert_send(&recommendations(1, None));
    assert_send(&slow_lookup("a".into(), Duration::ZERO));
}
