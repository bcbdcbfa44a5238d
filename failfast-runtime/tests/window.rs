//! The failure-rate policy over count- and time-based windows, with exact counts on
//! tokio's paused clock; and a counting allocator proving that recording in a window
//! allocates nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use failfast_runtime::{Breaker, BreakerConfig, Reason, State, Window};
use tokio::time::advance;

const RESET: Duration = Duration::from_secs(60);
const NANO: Duration = Duration::from_nanos(1);

fn rated(rate: f64, window: Window, min_calls: u32) -> Breaker {
    let config = BreakerConfig::new()
        .failure_rate(rate)
        .window(window)
        .min_calls(min_calls)
        .reset(RESET);
    Breaker::new("window", config)
}

fn fail(b: &Breaker) {
    b.acquire().expect("a permit").failure();
}

fn succeed(b: &Breaker) {
    b.acquire().expect("a permit").success();
}

/// Feeds `pattern` ('F' a failure, 'S' a success) and returns the state after each.
fn feed(b: &Breaker, pattern: &str) -> Vec<State> {
    pattern
        .chars()
        .map(|c| {
            match c {
                'F' => fail(b),
                'S' => succeed(b),
                other => panic!("bad pattern char {other}"),
            }
            b.state()
        })
        .collect()
}

fn opened_by(b: &Breaker) -> Reason {
    assert_eq!(b.state(), State::Open);
    b.metrics().last_transition.expect("a transition").reason
}

#[test]
fn the_n_plus_first_outcome_evicts_the_first() {
    // Last 4 calls, opens at 75%.
    let b = rated(0.75, Window::Calls(4), 4);
    assert!(
        feed(&b, "SFFS").iter().all(|s| *s == State::Closed),
        "2 of 4"
    );
    // F,F,S,F: the first S left, so 3 of 4. Had it stayed (5 outcomes: 3/5) or had
    // another one left (S,F,S,F: 2/4), the breaker would still be closed.
    fail(&b);
    assert_eq!(opened_by(&b), Reason::FailureRate);
}

#[test]
fn the_window_keeps_rolling() {
    let b = rated(1.0, Window::Calls(3), 3);
    // Every lap the success falls one place further back, then out of the window.
    assert!(feed(&b, "FFSFF").iter().all(|s| *s == State::Closed));
    fail(&b); // F,F,F: the success left
    assert_eq!(opened_by(&b), Reason::FailureRate);
}

#[test]
fn below_min_calls_nothing_opens_even_at_every_call_failing() {
    let b = rated(0.5, Window::Calls(100), 5);
    for _ in 0..4 {
        fail(&b);
        assert_eq!(b.state(), State::Closed);
    }
    fail(&b);
    assert_eq!(opened_by(&b), Reason::FailureRate);
}

#[test]
fn min_calls_defaults_to_ten_and_the_window_to_a_hundred_calls() {
    let config = BreakerConfig::new().failure_rate(1.0);
    assert_eq!(config.min_calls_count(), 10);
    assert_eq!(config.window_kind(), Window::Calls(100));
    let b = Breaker::new("defaults", config);
    assert!(feed(&b, "FFFFFFFFF").iter().all(|s| *s == State::Closed));
    fail(&b);
    assert_eq!(opened_by(&b), Reason::FailureRate);
}

#[test]
fn a_count_window_smaller_than_min_calls_judges_once_full() {
    let b = rated(1.0, Window::Calls(3), 10);
    assert_eq!(feed(&b, "FFF"), [State::Closed, State::Closed, State::Open]);
}

#[test]
fn the_ratio_exactly_at_the_rate_opens_and_just_below_does_not() {
    for tenths in 1..=10u32 {
        let rate = f64::from(tenths) / 10.0; // 0.1, 0.2, ... the same f64s as the literals
        let ok = "S".repeat(10 - tenths as usize);
        let down = "F".repeat(tenths as usize);

        let at = rated(rate, Window::Calls(10), 10);
        let states = feed(&at, &format!("{ok}{down}"));
        assert_eq!(states[..9], [State::Closed; 9], "rate {rate}");
        assert_eq!(opened_by(&at), Reason::FailureRate, "rate {rate}");

        let below = rated(rate, Window::Calls(10), 10);
        feed(&below, &format!("{ok}S{}", &down[1..]));
        assert_eq!(
            below.state(),
            State::Closed,
            "rate {rate}, one failure short"
        );
    }
}

#[test]
fn twenty_nine_in_a_hundred_stays_below_thirty_percent() {
    let b = rated(0.3, Window::Calls(100), 10);
    feed(&b, &format!("{}{}", "S".repeat(71), "F".repeat(29)));
    assert_eq!(b.state(), State::Closed);
    fail(&b); // the oldest success leaves: 30 of 100
    assert_eq!(opened_by(&b), Reason::FailureRate);
}

#[test]
fn failures_in_a_row_do_not_count_under_a_failure_rate() {
    // `failures(1)` is ignored once a failure rate is chosen.
    let config = BreakerConfig::new()
        .failures(1)
        .failure_rate(0.5)
        .min_calls(4);
    let b = Breaker::new("rate_wins", config);
    assert_eq!(feed(&b, "FFF"), [State::Closed; 3]);
}

#[tokio::test(start_paused = true)]
async fn closing_starts_from_an_empty_window() {
    let b = rated(0.5, Window::Calls(4), 4);
    feed(&b, "FFSS");
    assert_eq!(opened_by(&b), Reason::FailureRate);
    advance(RESET).await;
    succeed(&b); // the trial
    assert_eq!(b.state(), State::Closed);
    // The old F,F,S,S are gone: three failures are below min_calls.
    assert_eq!(feed(&b, "FFF"), [State::Closed; 3]);
    b.reset();
    assert_eq!(
        feed(&b, "FFF"),
        [State::Closed; 3],
        "reset() empties it too"
    );
    fail(&b);
    assert_eq!(opened_by(&b), Reason::FailureRate);
}

#[test]
fn an_outcome_from_an_earlier_spell_stays_out_of_the_window() {
    let b = rated(0.5, Window::Calls(4), 2);
    let old = b.acquire().unwrap();
    b.force_open();
    b.reset();
    old.failure(); // issued before the reset: not this spell's business
    fail(&b);
    assert_eq!(
        b.state(),
        State::Closed,
        "one failure in the window, below min_calls"
    );
    assert_eq!(b.metrics().failures, 2, "the metrics count both");
}

#[test]
fn cancelled_calls_are_not_outcomes() {
    let b = rated(1.0, Window::Calls(2), 2);
    fail(&b);
    drop(b.acquire().unwrap());
    drop(b.acquire().unwrap());
    assert_eq!(b.state(), State::Closed);
    fail(&b);
    assert_eq!(opened_by(&b), Reason::FailureRate);
}

// ----- time windows ---------------------------------------------------------------------

fn timed(rate: f64, span: Duration, min_calls: u32) -> Breaker {
    rated(rate, Window::Time(span), min_calls)
}

#[tokio::test(start_paused = true)]
async fn an_outcome_is_in_the_window_until_just_before_one_span_later() {
    // 10s window, 1s buckets, counted from the breaker's creation.
    let b = timed(0.5, Duration::from_secs(10), 2);
    fail(&b);
    advance(Duration::from_secs(10) - NANO).await;
    succeed(&b); // F,S: 50%
    assert_eq!(opened_by(&b), Reason::FailureRate);
}

#[tokio::test(start_paused = true)]
async fn an_outcome_is_gone_exactly_one_span_later() {
    let b = timed(0.5, Duration::from_secs(10), 2);
    fail(&b);
    advance(Duration::from_secs(10)).await;
    succeed(&b);
    assert_eq!(
        b.state(),
        State::Closed,
        "the failure left: one success, below min_calls"
    );
    fail(&b);
    assert_eq!(opened_by(&b), Reason::FailureRate, "S,F: 50%");
}

#[tokio::test(start_paused = true)]
async fn sub_second_buckets_expire_exactly_too() {
    // 2s window: buckets of 200ms.
    for (wait, present) in [
        (Duration::from_secs(2) - NANO, true),
        (Duration::from_secs(2), false),
    ] {
        let b = timed(0.5, Duration::from_secs(2), 2);
        advance(Duration::from_millis(400)).await; // on a bucket boundary
        fail(&b);
        advance(wait).await;
        succeed(&b);
        let expect = if present { State::Open } else { State::Closed };
        assert_eq!(b.state(), expect, "after {wait:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_outcome_leaves_with_its_bucket() {
    // Recorded half-way through a 1s bucket: it leaves when the bucket does, 10s after
    // the bucket began, which is 9.5s after the outcome.
    for (wait, present) in [
        (Duration::from_millis(9_500) - NANO, true),
        (Duration::from_millis(9_500), false),
    ] {
        let b = timed(0.5, Duration::from_secs(10), 2);
        advance(Duration::from_millis(500)).await;
        fail(&b);
        advance(wait).await;
        succeed(&b);
        let expect = if present { State::Open } else { State::Closed };
        assert_eq!(b.state(), expect, "after {wait:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_time_window_holds_every_call_of_its_span() {
    let b = timed(1.0, Duration::from_secs(10), 10);
    for second in 0..9 {
        fail(&b);
        assert_eq!(b.state(), State::Closed, "at {second}s");
        advance(Duration::from_secs(1)).await;
    }
    fail(&b); // at 9s: ten failures in the last ten seconds
    assert_eq!(opened_by(&b), Reason::FailureRate);
}

#[tokio::test(start_paused = true)]
async fn the_time_window_slides() {
    let b = timed(1.0, Duration::from_secs(10), 10);
    succeed(&b);
    advance(Duration::from_secs(1)).await;
    for _ in 0..9 {
        fail(&b);
    }
    advance(Duration::from_secs(9) - NANO).await;
    fail(&b); // the success, 10s - 1ns old, still counts: 10 failures of 11
    assert_eq!(b.state(), State::Closed);
    advance(NANO).await;
    fail(&b); // now it is gone: 11 of 11
    assert_eq!(opened_by(&b), Reason::FailureRate);
}

#[tokio::test(start_paused = true)]
async fn a_long_silence_empties_the_time_window() {
    let b = timed(0.5, Duration::from_secs(10), 4);
    feed(&b, "FFF");
    advance(Duration::from_secs(3_600)).await;
    feed(&b, "SSF");
    assert_eq!(b.state(), State::Closed, "the old failures are long gone");
    fail(&b);
    assert_eq!(opened_by(&b), Reason::FailureRate, "S,S,F,F");
}

#[tokio::test(start_paused = true)]
async fn listeners_see_the_failure_rate_reason() {
    let b = rated(0.5, Window::Calls(2), 2);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    b.subscribe(move |t| log.lock().unwrap().push((t.from, t.to, t.reason)));
    feed(&b, "SF");
    advance(RESET).await;
    fail(&b);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (State::Closed, State::Open, Reason::FailureRate),
            (State::Open, State::HalfOpen, Reason::ResetElapsed),
            (State::HalfOpen, State::Open, Reason::ProbeFailed),
        ]
    );
}

/// Threads recording at once: the window stays exact, so a run of successes never opens
/// the breaker and, once every call fails, it opens.
#[test]
fn concurrent_recording() {
    let b = rated(0.5, Window::Calls(64), 10);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..10_000 {
                    succeed(&b);
                }
            });
        }
    });
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().successes, 40_000);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                while let Ok(permit) = b.acquire() {
                    permit.failure();
                }
            });
        }
    });
    assert_eq!(opened_by(&b), Reason::FailureRate);
    // 64 successes in the window, and failures replacing them one by one: it opened on
    // the 64th failure (32 of 64), give or take the calls of other threads already
    // permitted when it opened.
    let failures = b.metrics().failures;
    assert!((32..32 + 4).contains(&failures), "{failures} failures");
}

// ----- no allocation --------------------------------------------------------------------

// The facade's counting allocator (the workspace's one copy).
#[path = "../../tests/common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations;

#[test]
fn recording_in_a_window_allocates_nothing() {
    let windows = [
        Window::Calls(100),
        Window::Time(Duration::from_secs(60)),
        Window::Time(Duration::from_millis(1)), // buckets turn over between calls
    ];
    for window in windows {
        let config = BreakerConfig::new()
            .failure_rate(0.9)
            .window(window)
            .slow(Duration::from_secs(1))
            .slow_rate(0.9);
        let b = Breaker::new("no_alloc", config);
        // Failures and successes in turn: 50%, never open.
        let allocated = allocations(|| {
            fail(&b);
            succeed(&b);
        });
        assert_eq!(allocated, 0, "{window:?}");
        assert_eq!(b.state(), State::Closed);
    }
}
