//! The breaker policies through the attribute: `failure_rate` over a count or a time
//! window with `min_calls`, `slow` with `slow_rate`, `reset_max` and `mode = "observe"`,
//! on a paused tokio clock.

mod common;

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use common::{ApiError, Transitions, open};
use failfast::{Mode, Reason, State, circuit_breaker, registry};

fn state(name: &str) -> State {
    registry()
        .get(name)
        .expect("registered at the first call")
        .state()
}

/// The answer of a call: `Ok(())` or `Err(Down)`.
fn outcome(fail: bool) -> Result<(), ApiError> {
    if fail { Err(ApiError::Down) } else { Ok(()) }
}

static COUNT_RUNS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker(
    "policies::count_window",
    failure_rate = 0.75,
    window = 4,
    min_calls = 4,
    reset = "30s"
)]
async fn count_window(fail: bool) -> Result<(), ApiError> {
    COUNT_RUNS.fetch_add(1, SeqCst);
    outcome(fail)
}

#[tokio::test(start_paused = true)]
async fn failure_rate_over_the_last_calls_opens_at_exactly_the_rate() {
    let name = "policies::count_window";
    let seen = Transitions::of(name);
    for fail in [false, false, false, false, true, true] {
        assert_eq!(count_window(fail).await, outcome(fail));
    }
    assert_eq!(state(name), State::Closed, "2 failures in the last 4: 0.5");
    assert_eq!(count_window(true).await, Err(ApiError::Down));
    // 3 failures in the last 4 is 0.75, the rate: it opens (over all seven calls, 3 in 7,
    // it would not: the older successes have left the window).
    assert_eq!(state(name), State::Open);
    assert_eq!(
        seen.take(),
        [(State::Closed, State::Open, Reason::FailureRate)]
    );
    assert_eq!(
        count_window(false).await,
        Err(open(name, Duration::from_secs(30)))
    );
    assert_eq!(COUNT_RUNS.load(SeqCst), 7, "the rejected call did not run");
}

#[circuit_breaker("policies::min_calls", failure_rate = 0.5, window = 10, min_calls = 5)]
async fn min_calls(fail: bool) -> Result<(), ApiError> {
    outcome(fail)
}

#[tokio::test(start_paused = true)]
async fn nothing_opens_below_min_calls() {
    let name = "policies::min_calls";
    for _ in 0..4 {
        assert_eq!(min_calls(true).await, Err(ApiError::Down));
    }
    assert_eq!(
        state(name),
        State::Closed,
        "4 failures, 100%, but below min_calls = 5"
    );
    assert_eq!(min_calls(true).await, Err(ApiError::Down));
    assert_eq!(state(name), State::Open);
}

/// The time window given as an expression of type `Duration`.
const TEN_SECONDS: Duration = Duration::from_secs(10);

#[circuit_breaker(
    "policies::time_window_expires",
    failure_rate = 0.5,
    window = TEN_SECONDS,
    min_calls = 2
)]
async fn time_window_expires() -> Result<(), ApiError> {
    Err(ApiError::Down)
}

#[circuit_breaker(
    "policies::time_window_holds",
    failure_rate = 0.5,
    window = "10s",
    min_calls = 2
)]
async fn time_window_holds() -> Result<(), ApiError> {
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn a_time_window_forgets_outcomes_exactly_when_they_leave_it() {
    // A failure 10s ago has left a 10s window (its one-second bucket began with the
    // breaker): the window holds one outcome, below min_calls.
    let _ = time_window_expires().await;
    tokio::time::advance(Duration::from_secs(10)).await;
    let _ = time_window_expires().await;
    assert_eq!(state("policies::time_window_expires"), State::Closed);
    let _ = time_window_expires().await;
    assert_eq!(state("policies::time_window_expires"), State::Open);

    // A millisecond earlier it still counts.
    let _ = time_window_holds().await;
    tokio::time::advance(Duration::from_millis(9_999)).await;
    let _ = time_window_holds().await;
    assert_eq!(state("policies::time_window_holds"), State::Open);
}

#[circuit_breaker(
    "policies::slow",
    slow = "1s",
    slow_rate = 0.75,
    window = 4,
    min_calls = 4
)]
async fn slow_call(takes: Duration, fail: bool) -> Result<(), ApiError> {
    tokio::time::sleep(takes).await;
    outcome(fail)
}

#[tokio::test(start_paused = true)]
async fn slow_calls_open_the_breaker_at_the_slow_rate() {
    let name = "policies::slow";
    let seen = Transitions::of(name);
    let second = Duration::from_secs(1);
    // Fast; exactly `slow` (not slower: not slow); slow and failed; slow.
    for (takes, fail) in [
        (Duration::ZERO, false),
        (second, false),
        (2 * second, true),
        (2 * second, false),
    ] {
        assert_eq!(slow_call(takes, fail).await, outcome(fail));
    }
    assert_eq!(state(name), State::Closed, "2 slow calls in 4: 0.5");
    assert_eq!(slow_call(2 * second, false).await, Ok(()));
    assert_eq!(state(name), State::Open, "3 slow calls in the last 4: 0.75");
    assert_eq!(
        seen.take(),
        [(State::Closed, State::Open, Reason::SlowCallRate)]
    );
    let metrics = registry().get(name).unwrap().metrics();
    assert_eq!((metrics.slow_calls, metrics.failures), (3, 1));
}

static RESET_MAX_RUNS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker("policies::reset_max", failures = 1, reset = "1s", reset_max = "4s")]
async fn reset_max(fail: bool) -> Result<(), ApiError> {
    RESET_MAX_RUNS.fetch_add(1, SeqCst);
    outcome(fail)
}

/// How long the breaker stays open, read from a rejection right after it opened.
async fn open_for() -> Duration {
    match reset_max(false).await {
        Err(ApiError::Failfast(failfast::Error::Open { retry_after, .. })) => retry_after,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn reset_max_doubles_the_open_time_on_each_failed_trial_up_to_the_cap() {
    let second = Duration::from_secs(1);
    assert_eq!(reset_max(true).await, Err(ApiError::Down));
    assert_eq!(
        open_for().await,
        second,
        "the first open spell lasts `reset`"
    );
    let mut waited = second;
    // Each failed trial doubles the base (2s, 4s, then 4s: the cap), jittered down by up
    // to a fifth.
    for base in [2, 4, 4] {
        tokio::time::advance(waited).await;
        assert_eq!(reset_max(true).await, Err(ApiError::Down), "the trial ran");
        waited = open_for().await;
        let base = base * second;
        assert!(
            waited <= base && waited >= base * 4 / 5,
            "open for {waited:?}, base {base:?}"
        );
    }
    // A successful trial closes the breaker and brings the open time back to `reset`.
    tokio::time::advance(waited).await;
    assert_eq!(reset_max(false).await, Ok(()));
    assert_eq!(state("policies::reset_max"), State::Closed);
    assert_eq!(reset_max(true).await, Err(ApiError::Down));
    assert_eq!(open_for().await, second);
    assert_eq!(
        RESET_MAX_RUNS.load(SeqCst),
        6,
        "2 failures, 3 failed trials, 1 success"
    );
}

static OBSERVED_RUNS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker("policies::observe", failures = 2, reset = "30s", mode = "observe")]
async fn observed(fail: bool) -> Result<u32, ApiError> {
    let run = OBSERVED_RUNS.fetch_add(1, SeqCst) + 1;
    if fail { Err(ApiError::Down) } else { Ok(run) }
}

#[tokio::test(start_paused = true)]
async fn observe_mode_transitions_but_never_rejects_until_switched_to_enforce() {
    let name = "policies::observe";
    let seen = Transitions::of(name);
    assert_eq!(observed(true).await, Err(ApiError::Down));
    assert_eq!(observed(true).await, Err(ApiError::Down));
    assert_eq!(state(name), State::Open);
    assert_eq!(
        seen.take(),
        [(State::Closed, State::Open, Reason::Failures)]
    );
    // Open, yet every call runs and returns its own result.
    assert_eq!(observed(false).await, Ok(3));
    assert_eq!(observed(true).await, Err(ApiError::Down));
    assert_eq!(observed(false).await, Ok(5));
    let breaker = registry().get(name).unwrap();
    assert_eq!(breaker.mode(), Mode::Observe);
    assert_eq!(
        breaker.metrics().rejections,
        3,
        "the calls it would have rejected"
    );
    // Switched at run time: the next call is rejected and does not run.
    breaker.set_mode(Mode::Enforce);
    assert_eq!(
        observed(false).await,
        Err(open(name, Duration::from_secs(30)))
    );
    assert_eq!(OBSERVED_RUNS.load(SeqCst), 5);
}
