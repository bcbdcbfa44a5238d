//! `probe_timeout`: a trial call that has not reported after this long counts as failed,
//! so a hung trial cannot hold a breaker half-open forever.
//!
//! On tokio's paused clock, to the nanosecond: a held permit is a sync trial stuck in its
//! call (a thread blocked in I/O), a spawned task awaiting a future that never completes
//! is a hung async trial. The call that asks once the probe timeout has passed reopens
//! the breaker (reason `ProbeTimedOut`) for its open time, and is rejected; after the
//! open time a new trial runs; the hung trial's outcome, when it comes, changes nothing.

use std::future::pending;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failfast_runtime::{
    Breaker, BreakerConfig, Error, Lease, Mode, Reason, SharedState, State, Store,
};
use tokio::time::advance;

const RESET: Duration = Duration::from_secs(10);
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
const NANO: Duration = Duration::from_nanos(1);

use {Reason as R, State as S};

/// A breaker that opens on one failure, stays open `RESET` and gives trials
/// `PROBE_TIMEOUT`, with `probes` trials per spell.
fn breaker(name: &str, probes: u32) -> Breaker {
    Breaker::new(
        name.to_owned(),
        BreakerConfig::new()
            .failures(1)
            .reset(RESET)
            .probes(probes)
            .probe_timeout(PROBE_TIMEOUT),
    )
}

type Seen = Arc<Mutex<Vec<(State, State, Reason)>>>;

fn record_transitions(b: &Breaker) -> Seen {
    let seen = Seen::default();
    let sink = seen.clone();
    b.subscribe(move |t| sink.lock().unwrap().push((t.from, t.to, t.reason)));
    seen
}

/// The `retry_after` of a rejection; panics if the call was permitted.
fn rejected(b: &Breaker) -> Duration {
    match b.acquire() {
        Err(Error::Open { retry_after, .. }) => retry_after,
        Err(other) => panic!("unexpected error {other:?}"),
        Ok(_) => panic!("expected a rejection"),
    }
}

/// Opens `b` with a failure and waits out the open time: the next call is a trial.
async fn open_then_half_open(b: &Breaker) {
    b.acquire().unwrap().failure();
    assert_eq!(b.state(), S::Open);
    advance(RESET).await;
}

/// `(calls, successes, failures, rejections)`.
fn counts(b: &Breaker) -> (u64, u64, u64, u64) {
    let m = b.metrics();
    (m.calls, m.successes, m.failures, m.rejections)
}

/// The transitions of a breaker whose trial hangs: open, half-open, timed out, half-open
/// again, closed by a new trial.
const HUNG_THEN_CLOSED: [(State, State, Reason); 5] = [
    (S::Closed, S::Open, R::Failures),
    (S::Open, S::HalfOpen, R::ResetElapsed),
    (S::HalfOpen, S::Open, R::ProbeTimedOut),
    (S::Open, S::HalfOpen, R::ResetElapsed),
    (S::HalfOpen, S::Closed, R::ProbesSucceeded),
];

/// A trial of `b` has hung for `hung_for`: waits until its probe timeout is a nanosecond
/// away (half-open still: a call is rejected with `retry_after` zero), then until it is
/// over: the next call reopens the breaker, as a failed trial would, for the whole open
/// time from then, and is rejected. Two rejections.
async fn run_out_the_probe_timeout(b: &Breaker, hung_for: Duration) {
    advance(PROBE_TIMEOUT - hung_for - NANO).await;
    assert_eq!(rejected(b), Duration::ZERO, "half-open until the very end");
    assert_eq!(b.state(), S::HalfOpen);
    advance(NANO).await;
    assert_eq!(rejected(b), RESET, "the hung trial counts as failed");
    assert_eq!(b.state(), S::Open);
    let last = b.metrics().last_transition.unwrap();
    assert_eq!(
        (last.from, last.to, last.reason),
        (S::HalfOpen, S::Open, R::ProbeTimedOut)
    );
}

#[tokio::test(start_paused = true)]
async fn a_hung_sync_trial_counts_as_failed_after_the_probe_timeout() {
    let b = breaker("hung_sync", 1);
    let seen = record_transitions(&b);
    open_then_half_open(&b).await;

    // A thread is stuck in the trial call: its permit is held, never reported.
    let hung = b.acquire().expect("the trial");
    assert_eq!(b.state(), S::HalfOpen);
    run_out_the_probe_timeout(&b, Duration::ZERO).await;

    // Open for `reset`, then a new trial runs, and its success closes the breaker.
    advance(RESET - NANO).await;
    assert_eq!(rejected(&b), NANO);
    advance(NANO).await;
    b.acquire().expect("a new trial").success();
    assert_eq!(b.state(), S::Closed);

    // The hung call ends at last: it counts in the metrics, and changes nothing.
    hung.success();
    assert_eq!(b.state(), S::Closed);
    assert_eq!(*seen.lock().unwrap(), HUNG_THEN_CLOSED);
    // 1 failure, 3 rejections, 2 successes (the new trial, and the hung one at last).
    assert_eq!(counts(&b), (6, 2, 1, 3));
}

#[tokio::test(start_paused = true)]
async fn a_hung_async_trial_counts_as_failed_after_the_probe_timeout() {
    let b = breaker("hung_async", 1);
    let seen = record_transitions(&b);
    open_then_half_open(&b).await;

    // The trial's future is polled once, then waits forever: neither completed nor
    // dropped (the task is kept until the end of the test).
    let task = tokio::spawn({
        let b = b.clone();
        async move { b.call_async(pending::<Result<(), Error>>()).await }
    });
    tokio::task::yield_now().await;
    assert_eq!(b.state(), S::HalfOpen, "the task took the trial");
    run_out_the_probe_timeout(&b, Duration::ZERO).await;

    advance(RESET).await;
    let answer: Result<u32, Error> = b.call_async(async { Ok(7) }).await;
    assert_eq!(answer, Ok(7));
    assert_eq!(b.state(), S::Closed);
    assert!(!task.is_finished(), "the hung call is still waiting");

    // Cancelled at last: a trial of a spell that is over gives nothing back.
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(b.state(), S::Closed);
    assert_eq!(*seen.lock().unwrap(), HUNG_THEN_CLOSED);
    // The cancelled call counts in `calls` only.
    assert_eq!(counts(&b), (5, 1, 1, 2));
}

#[tokio::test(start_paused = true)]
async fn the_late_outcome_of_a_hung_trial_does_not_touch_the_new_spell() {
    let b = breaker("late_outcome", 1);
    let seen = record_transitions(&b);
    open_then_half_open(&b).await;
    let hung_failing = b.acquire().expect("the trial");
    run_out_the_probe_timeout(&b, Duration::ZERO).await;
    advance(RESET).await;

    // A new spell, its trial out: the old trial fails now, and does not reopen it.
    let trial = b.acquire().expect("the new trial");
    hung_failing.failure();
    assert_eq!(b.state(), S::HalfOpen);
    assert_eq!(
        rejected(&b),
        Duration::ZERO,
        "the new trial still holds its slot"
    );
    trial.success();
    assert_eq!(b.state(), S::Closed);

    // The same with a cancellation: the old trial's slot is not the new spell's to free.
    b.acquire().unwrap().failure();
    advance(RESET).await;
    let hung_cancelled = b.acquire().expect("a trial");
    run_out_the_probe_timeout(&b, Duration::ZERO).await;
    advance(RESET).await;
    let trial = b.acquire().expect("the new trial");
    drop(hung_cancelled);
    assert_eq!(rejected(&b), Duration::ZERO, "no second trial");
    trial.success();
    assert_eq!(b.state(), S::Closed);

    assert_eq!(
        *seen.lock().unwrap(),
        [HUNG_THEN_CLOSED, HUNG_THEN_CLOSED].concat()
    );
    // Per cycle: 1 failure, 3 rejections, 1 success; plus the late failure and the late
    // cancellation (in `calls` only).
    assert_eq!(counts(&b), (2 * 5 + 2, 2, 3, 6));
}

/// `probes = 2`: the trials are let through at different times; the one that hangs is
/// overdue `probe_timeout` after *it* was let through, whichever reported first.
#[tokio::test(start_paused = true)]
async fn with_two_probes_the_hung_one_is_timed_from_its_own_start() {
    for first_hangs in [false, true] {
        let b = breaker("two_probes", 2);
        let seen = record_transitions(&b);
        open_then_half_open(&b).await;
        let first = b.acquire().expect("the first trial");
        advance(Duration::from_secs(2)).await;
        let second = b.acquire().expect("the second trial");
        assert_eq!(rejected(&b), Duration::ZERO, "two trials out");
        advance(Duration::from_secs(1)).await;
        // One reports; the other hangs.
        let (hung, hung_for) = if first_hangs {
            second.success();
            (first, Duration::from_secs(3))
        } else {
            first.success();
            (second, Duration::from_secs(1))
        };
        assert_eq!(b.state(), S::HalfOpen, "one success of two");
        run_out_the_probe_timeout(&b, hung_for).await;

        // The new spell needs two successes of its own: the hung trial's late success
        // is not one of them.
        advance(RESET).await;
        let a = b.acquire().expect("a new trial");
        let c = b.acquire().expect("another new trial");
        a.success();
        hung.success();
        assert_eq!(b.state(), S::HalfOpen, "one success of the new spell's two");
        c.success();
        assert_eq!(b.state(), S::Closed);
        assert_eq!(*seen.lock().unwrap(), HUNG_THEN_CLOSED);
        // 1 failure; 3 rejections; 4 successes (one reported trial, the hung one late,
        // the two new trials).
        assert_eq!(counts(&b), (8, 4, 1, 3));
    }
}

/// A trial slot freed by a cancelled trial goes to a new trial, and each is timed from
/// its own start; the breaker is not timed out through a trial that was given back.
#[tokio::test(start_paused = true)]
async fn a_cancelled_trial_is_no_longer_timed() {
    let b = breaker("cancelled_trial", 1);
    open_then_half_open(&b).await;
    drop(b.acquire().expect("a trial, cancelled at once"));
    advance(Duration::from_secs(4)).await;
    let trial = b.acquire().expect("the slot came back");
    advance(PROBE_TIMEOUT - NANO).await;
    assert_eq!(rejected(&b), Duration::ZERO, "timed from its own start");
    trial.success();
    assert_eq!(b.state(), S::Closed);
}

#[tokio::test(start_paused = true)]
async fn the_default_probe_timeout_is_the_reset_time() {
    let config = BreakerConfig::new().failures(1).reset(RESET);
    assert_eq!(config.probe_timeout_after(), RESET);
    let b = Breaker::new("default_probe_timeout", config);
    open_then_half_open(&b).await;
    let _hung = b.acquire().expect("the trial");
    advance(RESET - NANO).await;
    assert_eq!(rejected(&b), Duration::ZERO);
    advance(NANO).await;
    assert_eq!(rejected(&b), RESET);
    let last = b.metrics().last_transition.unwrap();
    assert_eq!(last.reason, R::ProbeTimedOut);
}

/// A zero `reset` cannot give trials a zero probe timeout (every trial would fail before
/// it could report): with no `probe_timeout` of its own, such a breaker's trials have no
/// time limit.
#[tokio::test(start_paused = true)]
async fn a_zero_reset_leaves_trials_without_a_time_limit() {
    let b = Breaker::new(
        "zero_reset",
        BreakerConfig::new().failures(1).reset(Duration::ZERO),
    );
    b.acquire().unwrap().failure();
    let trial = b.acquire().expect("the trial, at once");
    advance(Duration::from_secs(3600)).await;
    assert_eq!(rejected(&b), Duration::ZERO);
    assert_eq!(b.state(), S::HalfOpen);
    trial.success();
    assert_eq!(b.state(), S::Closed);
}

/// With `reset_max`, a probe timeout is a failed trial: the open time doubles.
#[tokio::test(start_paused = true)]
async fn a_probe_timeout_doubles_the_open_time_with_reset_max() {
    let b = Breaker::new(
        "probe_timeout_reset_max",
        BreakerConfig::new()
            .failures(1)
            .reset(RESET)
            .reset_max(RESET * 8)
            .probe_timeout(PROBE_TIMEOUT),
    );
    open_then_half_open(&b).await;
    let _hung = b.acquire().expect("the trial");
    advance(PROBE_TIMEOUT).await;
    let open_for = rejected(&b);
    assert!(
        open_for <= RESET * 2 && open_for >= RESET * 2 - RESET * 2 / 5,
        "{open_for:?}: doubled, jittered"
    );
}

/// In observe mode the call that finds the overdue trial reopens the breaker and runs
/// anyway, as observe mode runs every call it would reject.
#[tokio::test(start_paused = true)]
async fn in_observe_mode_the_call_that_times_a_trial_out_still_runs() {
    let b = breaker("observed_probe_timeout", 1);
    b.set_mode(Mode::Observe);
    open_then_half_open(&b).await;
    let _hung = b.acquire().expect("the trial");
    advance(PROBE_TIMEOUT).await;
    assert_eq!(b.call(|| Ok::<_, Error>(1)), Ok(1));
    assert_eq!(b.state(), S::Open);
    assert_eq!(
        b.metrics().last_transition.unwrap().reason,
        R::ProbeTimedOut
    );
    assert_eq!(b.metrics().rejections, 1);
}

/// What a shared store sees: the lease asked for the longer of the open time and the
/// probe timeout, and the reopen published like any other, open for the open time.
#[derive(Clone, Default)]
struct Recorder {
    leases: Arc<Mutex<Vec<Duration>>>,
    published: Arc<Mutex<Vec<Option<SharedState>>>>,
}

impl Store for Recorder {
    fn attach(&self, _: &Breaker) {}

    fn publish(&self, breaker: &Breaker) {
        self.published.lock().unwrap().push(breaker.shared_state());
    }

    fn lease(&self, _: &Breaker, ttl: Duration) -> Lease {
        self.leases.lock().unwrap().push(ttl);
        Lease::Granted
    }
}

#[tokio::test(start_paused = true)]
async fn a_shared_store_sees_a_probe_timeout_as_a_failed_trial() {
    for probe_timeout in [PROBE_TIMEOUT, RESET * 3] {
        let store = Recorder::default();
        let config = BreakerConfig::new()
            .failures(1)
            .reset(RESET)
            .probe_timeout(probe_timeout);
        let b = Breaker::with_store("shared_probe_timeout", config, store.clone());
        open_then_half_open(&b).await;
        let _hung = b.acquire().expect("the trial");
        advance(probe_timeout).await;
        assert_eq!(rejected(&b), RESET);
        assert_eq!(
            *store.leases.lock().unwrap(),
            [RESET.max(probe_timeout)],
            "the lease outlives the trial's probe timeout"
        );
        assert_eq!(
            *store.published.lock().unwrap(),
            [
                Some(SharedState::Open { remaining: RESET }),
                Some(SharedState::Open { remaining: RESET }),
            ],
            "the trip, then the probe timeout's reopen"
        );
    }
}

/// With no call in between, a trial that reports after its probe timeout finds the
/// spell failed: it counts as failed (reason `ProbeTimedOut`), whatever it says, so the
/// outcome does not depend on whether another call happened to come.
#[tokio::test(start_paused = true)]
async fn a_trial_that_reports_after_its_probe_timeout_has_failed() {
    for late_by in [Duration::ZERO, PROBE_TIMEOUT * 3] {
        let b = breaker("reports_late", 1);
        open_then_half_open(&b).await;
        let slow = b.acquire().expect("the trial");
        advance(PROBE_TIMEOUT + late_by).await;
        assert_eq!(b.state(), S::HalfOpen, "nothing runs in the background");
        slow.success();
        assert_eq!(b.state(), S::Open);
        let last = b.metrics().last_transition.unwrap();
        assert_eq!((last.from, last.reason), (S::HalfOpen, R::ProbeTimedOut));
        assert_eq!(
            rejected(&b),
            RESET,
            "open for the open time from the report"
        );
        assert_eq!(counts(&b), (3, 1, 1, 1), "the call itself succeeded");
    }

    // One nanosecond earlier, it decides.
    let b = breaker("reports_in_time", 1);
    open_then_half_open(&b).await;
    let trial = b.acquire().expect("the trial");
    advance(PROBE_TIMEOUT - NANO).await;
    trial.success();
    assert_eq!(b.state(), S::Closed);
}

/// `probes = 2`: the report of the trial that did not hang, after the other's probe
/// timeout, reopens the breaker.
#[tokio::test(start_paused = true)]
async fn a_report_after_another_trial_is_overdue_reopens_the_breaker() {
    let b = breaker("other_overdue", 2);
    open_then_half_open(&b).await;
    let _hung = b.acquire().expect("the first trial");
    advance(Duration::from_secs(1)).await;
    let slow = b.acquire().expect("the second trial");
    advance(PROBE_TIMEOUT - Duration::from_secs(1)).await;
    slow.success();
    assert_eq!(b.state(), S::Open);
    assert_eq!(
        b.metrics().last_transition.unwrap().reason,
        R::ProbeTimedOut
    );
}

/// Pins the lock-free check that every trial is still on time (`now < due` in
/// `trials_on_time`): a call that comes well after the probe timeout, not just at it,
/// also finds the trial overdue and reopens the breaker, instead of being turned away
/// as if the trial were still running.
#[tokio::test(start_paused = true)]
async fn a_call_long_after_the_probe_timeout_reopens_the_breaker() {
    let b = breaker("asked_late", 1);
    open_then_half_open(&b).await;
    let _hung = b.acquire().expect("the trial");
    advance(PROBE_TIMEOUT * 3).await;
    assert_eq!(rejected(&b), RESET);
    assert_eq!(b.state(), S::Open);
    let last = b.metrics().last_transition.unwrap();
    assert_eq!((last.from, last.reason), (S::HalfOpen, R::ProbeTimedOut));
}
