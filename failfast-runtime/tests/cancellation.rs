//! Cancellation and panics through `call_async` and `guard`: a guarded call dropped at
//! each of its await points (before its first poll, by `tokio::time::timeout`, by the
//! other branch of `tokio::select!`, by `JoinHandle::abort`), in a closed breaker and in a
//! half-open one with one probe and with two; and calls, sync and async, that panic.
//!
//! After each: the state and the metrics are what they must be (a cancelled call is
//! neither a success nor a failure, a panic is a failure), every half-open trial slot is
//! given back (the next call can still probe: the breaker never wedges half-open), and
//! the panic comes out unchanged (the same payload, through `catch_unwind` or
//! `JoinError::into_panic`).
//!
//! Time is tokio's paused clock: the dependency's await points are 1 s apart, and a call
//! is cut half a second into one of them.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use failfast_runtime::{Breaker, BreakerConfig, Error, Metrics, Permit, State, guard};
use tokio::time::{advance, sleep, timeout};

const RESET: Duration = Duration::from_secs(10);
/// Between two await points of the dependency.
const STEP: Duration = Duration::from_secs(1);
/// Await points of the dependency.
const AWAITS: u32 = 3;

/// Two failures in a row open it; a hung trial would time out after an hour (never here).
fn breaker(probes: u32) -> Arc<Breaker> {
    let config = BreakerConfig::new()
        .failures(2)
        .reset(RESET)
        .probes(probes)
        .probe_timeout(Duration::from_secs(3600));
    Arc::new(Breaker::new("cancel", config))
}

/// The dependency: `AWAITS` await points, `STEP` apart, then an answer.
async fn dependency() -> Result<u32, Error> {
    for _ in 0..AWAITS {
        sleep(STEP).await;
    }
    Ok(7)
}

/// Like [`dependency`], but panics with `Payload(at)` after `at` await points.
async fn panicking_dependency(at: u32) -> Result<u32, Error> {
    for _ in 0..at {
        sleep(STEP).await;
    }
    panic_any(Payload(at))
}

/// A panic payload of our own type, to tell it came out unchanged.
#[derive(Debug, PartialEq)]
struct Payload(u32);

fn payload(panic: Box<dyn Any + Send>) -> Payload {
    *panic
        .downcast::<Payload>()
        .expect("the panic's own payload")
}

fn is_trial(permit: &Permit<'_>) -> bool {
    format!("{permit:?}").contains("trial: true")
}

fn fail(b: &Breaker) {
    b.acquire().expect("a permit").failure();
}

/// Opens `b` (closed, two failures to open) and lets its open time run out.
async fn open_and_wait(b: &Breaker) {
    fail(b);
    fail(b);
    assert_eq!(b.state(), State::Open);
    advance(RESET).await;
}

/// The `retry_after` of a rejection; panics if the call was permitted.
fn rejected(b: &Breaker) -> Duration {
    match b.acquire() {
        Err(Error::Open { retry_after, .. }) => retry_after,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// Which API makes the guarded call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    /// `Breaker::call_async`: the permit is asked for on the first poll.
    CallAsync,
    /// `guard(breaker.acquire()?, ..)`: the permit is taken first, the future made after.
    Guard,
}

/// What drops the call before it completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Dropped unpolled.
    Unpolled,
    /// `tokio::time::timeout` runs out.
    Timeout,
    /// The other branch of a `tokio::select!` wins.
    Select,
    /// The task is aborted (`at` 0: before it first runs).
    Abort,
}

/// Every way to cut a call short, and where: `at` is the await point it is pending on
/// (0: not polled yet).
fn cuts() -> Vec<(Api, Cut, u32)> {
    let mut cuts = Vec::new();
    for api in [Api::CallAsync, Api::Guard] {
        cuts.push((api, Cut::Unpolled, 0));
        cuts.push((api, Cut::Abort, 0));
        for at in 1..=AWAITS {
            for cut in [Cut::Timeout, Cut::Select, Cut::Abort] {
                cuts.push((api, cut, at));
            }
        }
    }
    cuts
}

/// A guarded call to the dependency through `api`, as a future the caller may drop.
fn guarded_call(
    b: &Breaker,
    api: Api,
) -> Pin<Box<dyn Future<Output = Result<u32, Error>> + Send + '_>> {
    match api {
        Api::CallAsync => Box::pin(b.call_async(dependency())),
        Api::Guard => {
            let permit = b.acquire().expect("a permit");
            Box::pin(guard(permit, |_: &Error| true, dependency()))
        }
    }
}

/// Makes a call through `api` and cuts it short as `cut` says, pending on await point
/// `at`. True when the call had taken a permit (which it then gave back).
async fn cut_short(b: &Arc<Breaker>, api: Api, cut: Cut, at: u32) -> bool {
    // Half a step into await point `at`.
    let deadline = (STEP * at).saturating_sub(STEP / 2);
    match cut {
        Cut::Unpolled => {
            assert_eq!(at, 0);
            drop(guarded_call(b, api));
            // `call_async` asks for its permit on the first poll; `guard` was given one.
            api == Api::Guard
        }
        Cut::Timeout => {
            let cut = timeout(deadline, guarded_call(b, api)).await;
            assert!(cut.is_err(), "the call was cut short: {cut:?}");
            true
        }
        Cut::Select => {
            tokio::select! {
                biased;
                done = guarded_call(b, api) => panic!("the call was not cut short: {done:?}"),
                () = sleep(deadline) => {}
            }
            true
        }
        Cut::Abort => {
            let task = {
                let b = b.clone();
                tokio::spawn(async move { guarded_call(&b, api).await })
            };
            if at > 0 {
                sleep(deadline).await;
            }
            task.abort();
            let join = task.await.expect_err("the task was aborted");
            assert!(join.is_cancelled(), "{join:?}");
            // Aborted before it first ran, the task never asked for a permit.
            at > 0
        }
    }
}

/// `before` plus one cancelled call if `took` a permit: nothing else changed.
fn assert_cancelled(after: &Metrics, before: &Metrics, took: bool) {
    assert_eq!(
        after.calls,
        before.calls + u64::from(took),
        "a cancelled call"
    );
    assert_eq!(
        (after.successes, after.failures, after.rejections),
        (before.successes, before.failures, before.rejections),
        "a cancelled call is neither a success nor a failure"
    );
}

#[tokio::test(start_paused = true)]
async fn a_closed_call_cut_short_anywhere_records_nothing() {
    for (api, cut, at) in cuts() {
        let case = format!("{api:?} cut by {cut:?} at await point {at}");
        let b = breaker(1);
        fail(&b); // a failure streak of one
        let before = b.metrics();
        let took = cut_short(&b, api, cut, at).await;
        assert_eq!(b.state(), State::Closed, "{case}");
        assert_cancelled(&b.metrics(), &before, took);
        // The cancelled call did not end the streak: one more failure opens.
        fail(&b);
        assert_eq!(b.state(), State::Open, "{case}: the streak was kept");
    }
}

#[tokio::test(start_paused = true)]
async fn a_trial_cut_short_anywhere_gives_its_slot_back() {
    for (api, cut, at) in cuts() {
        let case = format!("{api:?} cut by {cut:?} at await point {at}");
        let b = breaker(1);
        open_and_wait(&b).await;
        let before = b.metrics();
        let took = cut_short(&b, api, cut, at).await;
        // A call that asked moved the breaker to half-open; one that never did left it
        // open (its open time over: the next call is the trial either way).
        let expected = if took { State::HalfOpen } else { State::Open };
        assert_eq!(b.state(), expected, "{case}");
        assert_cancelled(&b.metrics(), &before, took);
        // The slot is free: the next call is the trial, and the one after it is turned
        // away while it runs.
        let trial = b.acquire().expect("the trial slot is free again");
        assert!(is_trial(&trial), "{case}");
        assert_eq!(rejected(&b), Duration::ZERO, "{case}");
        trial.success();
        assert_eq!(b.state(), State::Closed, "{case}");
        let m = b.metrics();
        assert_eq!(
            (m.calls, m.successes, m.failures, m.rejections),
            (4 + u64::from(took), 1, 2, 1),
            "{case}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn one_of_two_trials_cut_short_gives_its_slot_back() {
    for (api, cut, at) in cuts() {
        let case = format!("{api:?} cut by {cut:?} at await point {at}");
        let b = breaker(2);
        open_and_wait(&b).await;
        let held = b.acquire().expect("the first trial");
        assert!(is_trial(&held));
        let took = cut_short(&b, api, cut, at).await;
        assert_eq!(b.state(), State::HalfOpen, "{case}");
        // The cut trial's slot is free again; then both are taken.
        let second = b.acquire().expect("the second slot is free");
        assert!(is_trial(&second), "{case}");
        assert_eq!(rejected(&b), Duration::ZERO, "{case}");
        held.success();
        assert_eq!(b.state(), State::HalfOpen, "{case}: one trial of two");
        second.success();
        assert_eq!(b.state(), State::Closed, "{case}");
        let m = b.metrics();
        assert_eq!(
            (m.calls, m.successes, m.failures, m.rejections),
            (5 + u64::from(took), 2, 2, 1),
            "{case}"
        );
    }
}

/// A guarded call that panics, polled in this task: the panic is caught around each poll
/// (as an executor does), so it comes out here with its own payload.
async fn poll_catching<F: Future>(fut: F) -> Result<F::Output, Box<dyn Any + Send>> {
    let mut fut = Box::pin(fut);
    std::future::poll_fn(
        move |cx| match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        },
    )
    .await
}

/// A call through `api` whose dependency panics after `at` await points, in a task of
/// its own or polled here: its panic's payload.
async fn panicking_call(b: &Arc<Breaker>, api: Api, at: u32, spawned: bool) -> Payload {
    let call = {
        let b = b.clone();
        async move {
            match api {
                Api::CallAsync => b.call_async(panicking_dependency(at)).await,
                Api::Guard => {
                    let permit = b.acquire().expect("a permit");
                    guard(permit, |_: &Error| true, panicking_dependency(at)).await
                }
            }
        }
    };
    let panic = if spawned {
        let join = tokio::spawn(call).await.expect_err("the task panicked");
        assert!(join.is_panic());
        join.into_panic()
    } else {
        poll_catching(call).await.expect_err("the call panicked")
    };
    payload(panic)
}

#[tokio::test(start_paused = true)]
async fn an_async_panic_anywhere_is_a_failure_and_comes_out_unchanged() {
    for api in [Api::CallAsync, Api::Guard] {
        for spawned in [true, false] {
            for at in 0..=AWAITS {
                let case = format!("{api:?}, spawned: {spawned}, panic at await point {at}");
                // Closed: one panic is a failure, two open the breaker.
                let b = breaker(1);
                assert_eq!(panicking_call(&b, api, at, spawned).await, Payload(at));
                assert_eq!(b.state(), State::Closed, "{case}");
                assert_eq!(b.metrics().failures, 1, "{case}");
                assert_eq!(panicking_call(&b, api, at, spawned).await, Payload(at));
                assert_eq!(b.state(), State::Open, "{case}");

                // Half-open: a panicking trial reopens the breaker (not stuck half-open),
                // for a whole open time; then the next call probes again.
                advance(RESET).await;
                assert_eq!(panicking_call(&b, api, at, spawned).await, Payload(at));
                assert_eq!(b.state(), State::Open, "{case}");
                assert_eq!(rejected(&b), RESET, "{case}");
                advance(RESET).await;
                let trial = b.acquire().expect("a new trial");
                assert!(is_trial(&trial), "{case}");
                trial.success();
                assert_eq!(b.state(), State::Closed, "{case}");
                let m = b.metrics();
                assert_eq!(
                    (m.calls, m.successes, m.failures, m.rejections),
                    (5, 1, 3, 1),
                    "{case}"
                );
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_sync_panic_is_a_failure_and_comes_out_unchanged() {
    let b = breaker(1);
    // Our own payload, a formatted message, a static one: each comes out as it went in.
    let own = catch_unwind(AssertUnwindSafe(|| {
        b.call(|| -> Result<(), Error> { panic_any(Payload(1)) })
    }));
    assert_eq!(payload(own.unwrap_err()), Payload(1));
    assert_eq!(b.state(), State::Closed);
    let formatted = catch_unwind(AssertUnwindSafe(|| {
        b.call_with(
            |_: &Error| true,
            || -> Result<(), Error> { panic!("boom {}", std::hint::black_box(2)) },
        )
    }));
    let message = formatted.unwrap_err().downcast::<String>().unwrap();
    assert_eq!(*message, "boom 2");
    assert_eq!(b.state(), State::Open);

    // A panicking trial reopens the breaker, and the next call after the open time probes.
    advance(RESET).await;
    let trial = catch_unwind(AssertUnwindSafe(|| {
        b.call(|| -> Result<(), Error> { panic!("the trial panics") })
    }));
    let message = trial.unwrap_err().downcast::<&'static str>().unwrap();
    assert_eq!(*message, "the trial panics");
    assert_eq!(b.state(), State::Open);
    assert_eq!(rejected(&b), RESET);
    advance(RESET).await;
    assert_eq!(b.call(|| Ok::<_, Error>(5)), Ok(5));
    assert_eq!(b.state(), State::Closed);
    let m = b.metrics();
    assert_eq!(
        (m.calls, m.successes, m.failures, m.rejections),
        (5, 1, 3, 1)
    );
}

/// An `is_failure` that panics: the call's outcome is a failure (the permit is dropped
/// while unwinding), and the panic comes out unchanged; a trial's slot is not lost.
#[tokio::test(start_paused = true)]
async fn a_panicking_is_failure_is_a_failure_and_comes_out_unchanged() {
    let b = breaker(1);
    let timeout_error = || Error::Timeout { after: STEP };
    let sync = catch_unwind(AssertUnwindSafe(|| {
        b.call_with(
            |_: &Error| panic_any(Payload(3)),
            || Err::<(), _>(timeout_error()),
        )
    }));
    assert_eq!(payload(sync.unwrap_err()), Payload(3));
    assert_eq!((b.state(), b.metrics().failures), (State::Closed, 1));
    let permit = b.acquire().unwrap();
    let guarded = guard(permit, |_: &Error| panic_any(Payload(4)), async {
        Err::<(), _>(timeout_error())
    });
    assert_eq!(
        payload(poll_catching(guarded).await.unwrap_err()),
        Payload(4)
    );
    assert_eq!((b.state(), b.metrics().failures), (State::Open, 2));

    advance(RESET).await;
    let trial = b.acquire().unwrap();
    let guarded = guard(trial, |_: &Error| panic_any(Payload(5)), async {
        Err::<(), _>(timeout_error())
    });
    assert_eq!(
        payload(poll_catching(guarded).await.unwrap_err()),
        Payload(5)
    );
    assert_eq!(b.state(), State::Open, "the trial failed");
    advance(RESET).await;
    b.acquire().expect("a new trial").success();
    assert_eq!(b.state(), State::Closed);
}

/// A guarded trial that is dropped because something else panics (another branch of a
/// `join`, the code around it) was cancelled, not failed: `guard` promises that dropping
/// its future before it completes records nothing and gives the trial slot back.
#[tokio::test(start_paused = true)]
async fn a_trial_dropped_by_another_panic_is_cancelled_not_failed() {
    for api in [Api::CallAsync, Api::Guard] {
        let b = breaker(1);
        open_and_wait(&b).await;
        let before = b.metrics();
        let unwound = catch_unwind(AssertUnwindSafe(|| {
            let mut trial = guarded_call(&b, api);
            let polled = trial.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            assert!(polled.is_pending(), "the trial is under way");
            panic_any(Payload(9)); // unwinds through the pending trial, and drops it
        }));
        assert_eq!(payload(unwound.unwrap_err()), Payload(9));
        assert_eq!(b.state(), State::HalfOpen, "{api:?}: not reopened");
        assert_cancelled(&b.metrics(), &before, true);
        let trial = b.acquire().expect("the trial slot is free again");
        assert!(is_trial(&trial));
        trial.success();
        assert_eq!(b.state(), State::Closed);
    }
}
