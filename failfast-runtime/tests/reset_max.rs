//! `reset_max`: each reopen straight from half-open doubles the open time (jittered down
//! by up to a fifth) up to the ceiling; a close brings it back to `reset`. Exact on
//! tokio's paused clock: the `retry_after` of a rejection right after a reopen is the
//! whole open time.

use std::time::Duration;

use failfast_runtime::{Breaker, BreakerConfig, Error, State};
use tokio::time::advance;

const RESET: Duration = Duration::from_secs(10);
const MAX: Duration = Duration::from_secs(60);
const NANO: Duration = Duration::from_nanos(1);

fn breaker(reset_max: Option<Duration>) -> Breaker {
    let config = BreakerConfig::new().failures(1).reset(RESET);
    let config = match reset_max {
        Some(max) => config.reset_max(max),
        None => config,
    };
    Breaker::new("backing_off", config)
}

/// The `retry_after` of a rejection; panics if the call was permitted.
fn rejected(b: &Breaker) -> Duration {
    match b.acquire() {
        Err(Error::Open { retry_after, .. }) => retry_after,
        Err(other) => panic!("unexpected error {other:?}"),
        Ok(_) => panic!("expected a rejection"),
    }
}

/// Waits out the open time exactly (still rejected 1ns before), runs a failing trial
/// and returns the new open time.
async fn fail_the_trial(b: &Breaker, open_for: Duration) -> Duration {
    advance(open_for - NANO).await;
    assert_eq!(rejected(b), NANO, "open until the very end");
    advance(NANO).await;
    b.acquire().expect("the trial").failure();
    assert_eq!(b.state(), State::Open);
    rejected(b)
}

fn assert_jittered(open_for: Duration, base: Duration) {
    assert!(
        open_for <= base && open_for >= base - base / 5,
        "{open_for:?} is not within 80%..100% of {base:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn open_time_doubles_with_jitter_up_to_the_ceiling() {
    let b = breaker(Some(MAX));
    b.acquire().unwrap().failure();
    let mut open_for = rejected(&b);
    assert_eq!(open_for, RESET, "the first open is exactly `reset`");
    for base in [20, 40, 60, 60, 60].map(Duration::from_secs) {
        open_for = fail_the_trial(&b, open_for).await;
        assert_jittered(open_for, base);
    }
}

#[tokio::test(start_paused = true)]
async fn a_close_brings_the_open_time_back_to_reset() {
    let b = breaker(Some(MAX));
    b.acquire().unwrap().failure();
    let mut open_for = rejected(&b);
    for _ in 0..3 {
        open_for = fail_the_trial(&b, open_for).await;
    }
    assert!(open_for > RESET * 2, "grown: {open_for:?}");
    advance(open_for).await;
    b.acquire().expect("the trial").success();
    assert_eq!(b.state(), State::Closed);

    b.acquire().unwrap().failure();
    assert_eq!(rejected(&b), RESET);
    let open_for = fail_the_trial(&b, RESET).await;
    assert_jittered(open_for, RESET * 2);
}

#[tokio::test(start_paused = true)]
async fn a_manual_reset_brings_it_back_too() {
    let b = breaker(Some(MAX));
    b.acquire().unwrap().failure();
    let open_for = fail_the_trial(&b, RESET).await;
    fail_the_trial(&b, open_for).await;
    b.reset();
    b.acquire().unwrap().failure();
    assert_eq!(rejected(&b), RESET);
    let open_for = fail_the_trial(&b, RESET).await;
    assert_jittered(open_for, RESET * 2);
}

#[tokio::test(start_paused = true)]
async fn off_unless_set() {
    let b = breaker(None);
    b.acquire().unwrap().failure();
    for _ in 0..5 {
        assert_eq!(fail_the_trial(&b, RESET).await, RESET);
    }
}

#[tokio::test(start_paused = true)]
async fn a_ceiling_not_above_reset_keeps_reset() {
    for max in [RESET / 2, RESET] {
        let b = breaker(Some(max));
        b.acquire().unwrap().failure();
        for _ in 0..3 {
            assert_eq!(fail_the_trial(&b, RESET).await, RESET, "reset_max {max:?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_jitter_varies() {
    let b = breaker(Some(RESET * 2));
    b.acquire().unwrap().failure();
    let mut open_for = RESET;
    let mut seen = Vec::new();
    for _ in 0..20 {
        open_for = fail_the_trial(&b, open_for).await;
        assert_jittered(open_for, RESET * 2);
        seen.push(open_for);
    }
    seen.sort();
    seen.dedup();
    assert!(seen.len() > 10, "20 draws over 4s of nanoseconds: {seen:?}");
}

#[test]
fn the_ceiling_is_in_the_config() {
    assert_eq!(BreakerConfig::new().reset_ceiling(), None);
    assert_eq!(
        BreakerConfig::new().reset_max(MAX).reset_ceiling(),
        Some(MAX)
    );
}
