//! The clock's edge cases: a zero `reset` and one of a hundred years (and `Duration::MAX`),
//! calls on the exact boundary of the open time and of the probe timeout, and paused
//! against real time, including a breaker that moves between the two.
//!
//! The contract (`Breaker::acquire`): Open rejects *until* its open time has elapsed, so a
//! call 1 ns before the end is rejected with `retry_after` 1 ns, and a call at the end is
//! the trial. A trial counts as failed once it has run `probe_timeout` without reporting:
//! 1 ns before, callers are turned away with `retry_after` zero; at the timeout, the caller
//! reopens the breaker. (The closed path's clock reads are counted in `src/clock.rs`'s unit
//! tests, which can see the clock.)

use std::time::Duration;

use failfast_runtime::{Breaker, BreakerConfig, Error, Reason, State};
use tokio::time::advance;

const NS: Duration = Duration::from_nanos(1);
const YEAR: Duration = Duration::from_secs(365 * 86_400);

fn breaker(config: BreakerConfig) -> Breaker {
    Breaker::new("clock", config.failures(1))
}

fn open(b: &Breaker) {
    b.acquire().expect("a permit").failure();
    assert_eq!(b.state(), State::Open);
}

/// The `retry_after` of a rejection; panics if the call was permitted.
fn rejected(b: &Breaker) -> Duration {
    match b.acquire() {
        Err(Error::Open { retry_after, .. }) => retry_after,
        Err(other) => panic!("unexpected error {other:?}"),
        Ok(permit) => panic!("expected a rejection, got {permit:?}"),
    }
}

fn is_trial(b: &Breaker) -> bool {
    let permit = b.acquire().expect("a permit");
    let trial = format!("{permit:?}").contains("trial: true");
    permit.success();
    trial
}

fn last_reason(b: &Breaker) -> Reason {
    b.metrics().last_transition.expect("a transition").reason
}

#[tokio::test(start_paused = true)]
async fn one_nanosecond_before_the_open_time_ends_is_rejected_at_the_end_is_the_trial() {
    let reset = Duration::from_secs(30);
    let b = breaker(BreakerConfig::new().reset(reset));
    open(&b);
    assert_eq!(rejected(&b), reset);
    advance(reset - NS).await;
    assert_eq!(rejected(&b), NS, "1 ns left");
    advance(NS).await;
    assert!(is_trial(&b), "the open time is over: the trial");
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_trial_times_out_exactly_at_its_probe_timeout() {
    let probe_timeout = Duration::from_secs(5);
    let reset = Duration::from_secs(30);
    let b = breaker(
        BreakerConfig::new()
            .reset(reset)
            .probe_timeout(probe_timeout),
    );
    open(&b);
    advance(reset).await;
    let trial = b.acquire().expect("the trial");
    advance(probe_timeout - NS).await;
    assert_eq!(rejected(&b), Duration::ZERO, "1 ns before: still running");
    assert_eq!(b.state(), State::HalfOpen);
    advance(NS).await;
    assert_eq!(
        rejected(&b),
        reset,
        "at the timeout: reopened, for a whole reset"
    );
    assert_eq!(
        (b.state(), last_reason(&b)),
        (State::Open, Reason::ProbeTimedOut)
    );
    trial.success(); // too late: changes nothing
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_zero_reset_lets_the_next_call_probe_at_once_and_never_times_it_out() {
    let b = breaker(BreakerConfig::new().reset(Duration::ZERO));
    open(&b);
    let trial = b.acquire().expect("no open time: the trial at once");
    assert_eq!(b.state(), State::HalfOpen);
    // No probe timeout of its own: a zero reset leaves trials untimed, however long.
    advance(100 * YEAR).await;
    assert_eq!(rejected(&b), Duration::ZERO);
    assert_eq!(b.state(), State::HalfOpen);
    trial.failure();
    assert_eq!(
        (b.state(), last_reason(&b)),
        (State::Open, Reason::ProbeFailed)
    );
    assert!(is_trial(&b), "reopened for zero time: the next call probes");
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn a_zero_reset_in_real_time_lets_the_next_call_probe_at_once() {
    let b = breaker(BreakerConfig::new().reset(Duration::ZERO));
    open(&b);
    assert!(is_trial(&b));
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_reset_of_a_hundred_years_is_kept_to_the_nanosecond() {
    let reset = 100 * YEAR;
    let b = breaker(BreakerConfig::new().reset(reset));
    open(&b);
    assert_eq!(rejected(&b), reset);
    advance(reset - NS).await;
    assert_eq!(rejected(&b), NS);
    advance(NS).await;
    let trial = b.acquire().expect("a century later: the trial");
    // Its probe timeout is the reset: a century too.
    advance(reset - NS).await;
    assert_eq!(rejected(&b), Duration::ZERO);
    advance(NS).await;
    assert_eq!(
        rejected(&b),
        reset,
        "timed out after a century, reopened for another"
    );
    drop(trial);
}

/// Open times in decades, doubling: no overflow. (Kept well inside the clock's range:
/// instants are nanoseconds in a `u64`, 584 years from a base a year before the first
/// call, and saturate past it.)
#[tokio::test(start_paused = true)]
async fn reset_max_in_decades_doubles_without_overflow() {
    let reset = 10 * YEAR;
    let max = 40 * YEAR;
    let b = breaker(
        BreakerConfig::new()
            .reset(reset)
            .reset_max(max)
            .probe_timeout(Duration::from_secs(1)),
    );
    open(&b);
    let mut base = reset;
    for _ in 0..4 {
        advance(rejected(&b)).await;
        b.acquire().expect("the trial").failure();
        // Doubled (at most `reset_max`), jittered down by up to a fifth.
        base = (base * 2).min(max);
        let open_for = rejected(&b);
        assert!(
            open_for <= base && open_for >= base - base / 5,
            "{open_for:?} for a base of {base:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_reset_of_duration_max_saturates() {
    let b = breaker(BreakerConfig::new().reset(Duration::MAX));
    open(&b);
    // Open until the end of the clock's range (584 years of nanoseconds): a long time,
    // not an overflow.
    let left = rejected(&b);
    assert!(left > 500 * YEAR && left < Duration::MAX, "{left:?}");
    advance(100 * YEAR).await;
    let later = rejected(&b);
    assert_eq!(left - later, 100 * YEAR, "counts down like any other");
    b.reset();
    assert!(!is_trial(&b), "closed by hand");
}

#[test]
fn a_reset_of_a_hundred_years_in_real_time() {
    let reset = 100 * YEAR;
    let b = breaker(BreakerConfig::new().reset(reset));
    open(&b);
    // Rejected on the coarse clock (rounded up by under two ticks, never past `reset`).
    let left = rejected(&b);
    assert!(
        left <= reset && left > reset - Duration::from_secs(1),
        "{left:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn paused_time_opens_and_closes_to_the_nanosecond() {
    let reset = Duration::from_millis(5);
    let b = breaker(BreakerConfig::new().reset(reset));
    open(&b);
    assert_eq!(rejected(&b), reset);
    advance(Duration::from_millis(2)).await;
    assert_eq!(rejected(&b), Duration::from_millis(3));
    advance(Duration::from_millis(3)).await;
    assert!(is_trial(&b));
}

#[test]
fn real_time_opens_and_closes_too() {
    let reset = Duration::from_millis(200); // a loaded machine may stall between two calls
    let b = breaker(BreakerConfig::new().reset(reset));
    open(&b);
    let left = rejected(&b);
    assert!(left > Duration::ZERO && left <= reset, "{left:?}");
    std::thread::sleep(reset + Duration::from_millis(50)); // room for a late kernel tick
    assert!(is_trial(&b));
}

/// A breaker opened on the real clock, then asked inside a runtime with paused time: the
/// paused clock starts at the real time and moves the breaker on when advanced. (An open
/// time this short is within the coarse clock's margin, so the exact clock, here the
/// paused one, decides. A longer one opened on the real clock is rejected on the kernel's
/// coarse clock while that shows it surely open, whatever the paused clock says.)
#[test]
fn a_breaker_opened_in_real_time_follows_a_paused_clock() {
    let reset = Duration::from_millis(5);
    let b = breaker(BreakerConfig::new().reset(reset));
    open(&b);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        advance(reset).await;
        assert!(is_trial(&b), "the open time is over on the paused clock");
    });
    assert_eq!(b.state(), State::Closed);
}

/// The other way round: opened inside a runtime whose paused clock ran a year ahead, then
/// asked on the real clock, which is a year behind it. The clocks disagree; the breaker
/// stays open for what is left on the clock it asks, without a panic or an overflow.
#[test]
fn a_breaker_opened_on_a_paused_clock_ahead_of_real_time_stays_sane() {
    let reset = Duration::from_secs(60);
    let b = breaker(BreakerConfig::new().reset(reset));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        advance(YEAR).await;
        open(&b);
        assert_eq!(rejected(&b), reset);
    });
    let left = rejected(&b);
    assert!(
        left > YEAR && left <= YEAR + reset + Duration::from_secs(60),
        "{left:?}"
    );
}
