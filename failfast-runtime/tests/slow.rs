//! Slow calls: timed exactly on tokio's paused clock, counted in the metrics, and opening
//! the breaker through the slow-call rate, with either failure policy.

use std::time::Duration;

use failfast_runtime::{Breaker, BreakerConfig, Error, Mode, Reason, State, Window};
use tokio::time::advance;

const SLOW: Duration = Duration::from_millis(100);
const NANO: Duration = Duration::from_nanos(1);
const RESET: Duration = Duration::from_secs(60);

/// One call that takes `took` and succeeds (or fails).
async fn call(b: &Breaker, took: Duration, failed: bool) {
    let permit = b.acquire().expect("a permit");
    advance(took).await;
    if failed {
        permit.failure();
    } else {
        permit.success();
    }
}

fn opened_by(b: &Breaker) -> Reason {
    assert_eq!(b.state(), State::Open);
    b.metrics().last_transition.expect("a transition").reason
}

#[tokio::test(start_paused = true)]
async fn slower_than_means_strictly_slower() {
    let b = Breaker::new("timed", BreakerConfig::new().slow(SLOW));
    call(&b, Duration::ZERO, false).await;
    call(&b, SLOW - NANO, false).await;
    call(&b, SLOW, false).await; // exactly `slow`: not slow
    assert_eq!(b.metrics().slow_calls, 0);
    call(&b, SLOW + NANO, false).await;
    assert_eq!(b.metrics().slow_calls, 1);
    call(&b, Duration::from_secs(30), true).await; // failures are timed too
    let m = b.metrics();
    assert_eq!(
        (m.calls, m.successes, m.failures, m.slow_calls),
        (5, 4, 1, 2)
    );
}

#[tokio::test(start_paused = true)]
async fn slow_without_slow_rate_only_counts() {
    let b = Breaker::new("counted", BreakerConfig::new().slow(SLOW));
    for _ in 0..50 {
        call(&b, SLOW * 2, false).await;
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().slow_calls, 50);
}

#[tokio::test(start_paused = true)]
async fn the_slow_call_rate_opens_the_breaker() {
    // Consecutive failures decide failures; a window of the last 100 calls watches slowness.
    let config = BreakerConfig::new()
        .slow(SLOW)
        .slow_rate(0.5)
        .min_calls(4)
        .reset(RESET);
    let b = Breaker::new("sluggish", config);
    call(&b, SLOW * 3, false).await;
    call(&b, SLOW, false).await;
    call(&b, Duration::ZERO, false).await;
    assert_eq!(b.state(), State::Closed, "below min_calls");
    call(&b, SLOW + NANO, true).await; // 2 of 4 slow, a failure among them
    assert_eq!(opened_by(&b), Reason::SlowCallRate);
    assert_eq!(b.metrics().slow_calls, 2);
}

#[tokio::test(start_paused = true)]
async fn just_below_the_slow_call_rate_stays_closed() {
    let config = BreakerConfig::new()
        .slow(SLOW)
        .slow_rate(0.5)
        .window(Window::Calls(4))
        .min_calls(4);
    let b = Breaker::new("almost", config);
    // Slow, then never more than one slow call among the last four.
    for took in [SLOW * 2, SLOW, SLOW, SLOW, SLOW, SLOW * 2] {
        call(&b, took, false).await;
        assert_eq!(b.state(), State::Closed);
    }
    call(&b, SLOW * 2, false).await; // two of the last four
    assert_eq!(opened_by(&b), Reason::SlowCallRate);
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_still_open_with_slow_tracking() {
    let config = BreakerConfig::new()
        .failures(2)
        .slow(SLOW)
        .slow_rate(0.9)
        .min_calls(2);
    let b = Breaker::new("both", config);
    call(&b, Duration::ZERO, true).await;
    call(&b, Duration::ZERO, false).await; // ends the streak
    call(&b, Duration::ZERO, true).await;
    assert_eq!(b.state(), State::Closed);
    call(&b, Duration::ZERO, true).await;
    assert_eq!(opened_by(&b), Reason::Failures);
}

#[tokio::test(start_paused = true)]
async fn failure_rate_and_slow_rate_each_open_with_their_reason() {
    let config = BreakerConfig::new()
        .failure_rate(0.5)
        .slow(SLOW)
        .slow_rate(0.5)
        .window(Window::Calls(4))
        .min_calls(4);
    let failing = Breaker::new("failing", config);
    for failed in [false, true, false, true] {
        call(&failing, Duration::ZERO, failed).await;
    }
    assert_eq!(opened_by(&failing), Reason::FailureRate);

    let slow = Breaker::new("slow", config);
    for took in [SLOW * 2, Duration::ZERO, SLOW * 2, Duration::ZERO] {
        call(&slow, took, false).await;
    }
    assert_eq!(opened_by(&slow), Reason::SlowCallRate);
}

#[tokio::test(start_paused = true)]
async fn slow_calls_leave_a_time_window_on_time() {
    let config = BreakerConfig::new()
        .slow(SLOW)
        .slow_rate(1.0)
        .window(Window::Time(Duration::from_secs(10)))
        .min_calls(2);
    for (gap, present) in [
        (Duration::from_secs(10) - NANO, true),
        (Duration::from_secs(10), false),
    ] {
        let b = Breaker::new("timed_window", config);
        // A slow call that ends at 1s: in bucket 1, which leaves the window at 11s.
        advance(Duration::from_secs(1) - SLOW * 2).await;
        call(&b, SLOW * 2, false).await;
        // Another that ends `gap` later.
        advance(gap - SLOW * 2).await;
        call(&b, SLOW * 2, false).await;
        if present {
            assert_eq!(
                opened_by(&b),
                Reason::SlowCallRate,
                "both slow calls in the window"
            );
        } else {
            assert_eq!(
                b.state(),
                State::Closed,
                "the first one left: below min_calls"
            );
            call(&b, SLOW * 2, false).await;
            assert_eq!(opened_by(&b), Reason::SlowCallRate);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn call_async_is_timed_from_acquire_to_completion() {
    let b = Breaker::new("async", BreakerConfig::new().slow(SLOW));
    let quick = b.call_async(async {
        tokio::time::sleep(SLOW / 2).await;
        Ok::<_, Error>(())
    });
    quick.await.unwrap();
    assert_eq!(b.metrics().slow_calls, 0);
    let sluggish = b.call_async(async {
        tokio::time::sleep(SLOW * 3).await;
        Ok::<_, Error>(())
    });
    sluggish.await.unwrap();
    assert_eq!(b.metrics().slow_calls, 1);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_call_is_never_slow() {
    let config = BreakerConfig::new().slow(SLOW).slow_rate(0.5).min_calls(1);
    let b = Breaker::new("cancelled", config);
    let permit = b.acquire().unwrap();
    advance(SLOW * 10).await;
    drop(permit);
    let m = b.metrics();
    assert_eq!((m.calls, m.slow_calls), (1, 0));
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_slow_trial_counts_as_a_failed_one() {
    let config = BreakerConfig::new()
        .slow(SLOW)
        .slow_rate(1.0)
        .min_calls(1)
        .reset(RESET);
    let b = Breaker::new("trial", config);
    call(&b, SLOW * 2, false).await;
    assert_eq!(opened_by(&b), Reason::SlowCallRate);
    advance(RESET).await;
    call(&b, SLOW * 2, false).await; // the trial succeeds, slowly
    assert_eq!(opened_by(&b), Reason::ProbeFailed);
    advance(RESET).await;
    call(&b, SLOW, false).await; // not slower than `slow`
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().slow_calls, 2);
}

#[tokio::test(start_paused = true)]
async fn a_slow_trial_is_fine_when_slowness_cannot_open_the_breaker() {
    let config = BreakerConfig::new().failures(1).slow(SLOW).reset(RESET);
    let b = Breaker::new("trial_count_only", config);
    call(&b, Duration::ZERO, true).await;
    advance(RESET).await;
    call(&b, SLOW * 2, false).await;
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn slow_calls_count_while_disabled_and_observed() {
    let b = Breaker::new("watched", BreakerConfig::new().slow(SLOW));
    b.disable();
    call(&b, SLOW * 2, false).await;
    b.set_mode(Mode::Observe);
    b.force_open();
    call(&b, SLOW * 2, true).await; // runs despite ForcedOpen: observe mode
    let m = b.metrics();
    assert_eq!((m.calls, m.rejections, m.slow_calls), (2, 1, 2));
}

#[tokio::test(start_paused = true)]
async fn a_slow_call_from_an_earlier_spell_stays_out_of_the_window() {
    let config = BreakerConfig::new().slow(SLOW).slow_rate(1.0).min_calls(1);
    let b = Breaker::new("stale", config);
    let old = b.acquire().unwrap();
    b.force_open();
    b.reset();
    advance(SLOW * 2).await;
    old.success(); // slow, but from the spell before the reset
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().slow_calls, 1, "the metrics count it");
    call(&b, SLOW * 2, false).await;
    assert_eq!(opened_by(&b), Reason::SlowCallRate);
}

#[test]
fn without_slow_the_metrics_have_no_slow_calls() {
    let b = Breaker::new("untimed", BreakerConfig::new());
    b.acquire().unwrap().success();
    std::thread::sleep(Duration::from_millis(2));
    assert_eq!(b.metrics().slow_calls, 0);
}

/// Pins `WindowPolicy::judges_slowness` (through `slow_fails_trial`): a breaker with a
/// window for its failure rate, and `slow` but no `slow_rate`, has a window yet cannot
/// open on slowness, so a slow trial that succeeds closes it.
#[tokio::test(start_paused = true)]
async fn a_slow_trial_is_fine_under_a_failure_rate_without_slow_rate() {
    let config = BreakerConfig::new()
        .failure_rate(0.5)
        .min_calls(1)
        .slow(SLOW)
        .reset(RESET);
    let b = Breaker::new("trial_failure_rate", config);
    call(&b, Duration::ZERO, true).await;
    assert_eq!(opened_by(&b), Reason::FailureRate);
    advance(RESET).await;
    call(&b, SLOW * 2, false).await;
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().slow_calls, 1);
}

/// Pins the timed ticket's layout (`START_SHIFT` in `permit.rs`: 2 kind bits + 14
/// generation bits, leaving 48 bits of start): a call is timed exactly well past a minute
/// (2^36 ns is 68.7 s, where a narrower start field would wrap).
#[tokio::test(start_paused = true)]
async fn calls_are_timed_exactly_past_a_minute() {
    let slow = Duration::from_secs(90);
    let b = Breaker::new("long_calls", BreakerConfig::new().slow(slow));
    call(&b, slow, false).await;
    assert_eq!(b.metrics().slow_calls, 0, "exactly `slow`: not slow");
    call(&b, slow + NANO, false).await;
    call(&b, Duration::from_secs(3_600), false).await;
    assert_eq!(b.metrics().slow_calls, 2);
}
