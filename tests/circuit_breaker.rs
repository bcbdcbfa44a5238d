//! `#[circuit_breaker]` driven through every state, on a paused tokio clock.

mod common;

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use common::{ApiError, Transitions, dependency_fault, open};
use failfast::{Reason, State, circuit_breaker, registry};
use tokio::sync::oneshot;
use tokio::time::advance;

static LIFECYCLE_CALLS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker("cb::lifecycle", failures = 3, reset = "10s")]
async fn lifecycle(fail: bool) -> Result<u32, ApiError> {
    LIFECYCLE_CALLS.fetch_add(1, SeqCst);
    if fail { Err(ApiError::Down) } else { Ok(7) }
}

#[tokio::test(start_paused = true)]
async fn closed_open_half_open_closed() {
    let seen = Transitions::of("cb::lifecycle");
    let calls = || LIFECYCLE_CALLS.load(SeqCst);

    // Two failures, then a success: the count starts again.
    assert_eq!(lifecycle(true).await, Err(ApiError::Down));
    assert_eq!(lifecycle(true).await, Err(ApiError::Down));
    assert_eq!(lifecycle(false).await, Ok(7));
    let breaker = registry()
        .get("cb::lifecycle")
        .expect("listed after its first call");
    assert_eq!(breaker.state(), State::Closed);

    // Three in a row open it.
    for _ in 0..3 {
        assert_eq!(lifecycle(true).await, Err(ApiError::Down));
    }
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(calls(), 6);

    // Open: rejected without calling the fn, with the time left until the trial call.
    assert_eq!(
        lifecycle(false).await,
        Err(open("cb::lifecycle", Duration::from_secs(10)))
    );
    advance(Duration::from_secs(4)).await;
    assert_eq!(
        lifecycle(false).await,
        Err(open("cb::lifecycle", Duration::from_secs(6)))
    );
    assert_eq!(calls(), 6);

    // After `reset` one trial call goes through; it fails, so the breaker reopens for
    // another full `reset` from that moment.
    advance(Duration::from_secs(6)).await;
    assert_eq!(lifecycle(true).await, Err(ApiError::Down));
    assert_eq!(calls(), 7);
    assert_eq!(breaker.state(), State::Open);
    advance(Duration::from_secs(9)).await;
    assert_eq!(
        lifecycle(false).await,
        Err(open("cb::lifecycle", Duration::from_secs(1)))
    );
    assert_eq!(calls(), 7);

    // The next trial succeeds and closes it.
    advance(Duration::from_secs(1)).await;
    assert_eq!(lifecycle(false).await, Ok(7));
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(lifecycle(false).await, Ok(7));
    assert_eq!(calls(), 9);

    use State::*;
    assert_eq!(
        seen.take(),
        vec![
            (Closed, Open, Reason::Failures),
            (Open, HalfOpen, Reason::ResetElapsed),
            (HalfOpen, Open, Reason::ProbeFailed),
            (Open, HalfOpen, Reason::ResetElapsed),
            (HalfOpen, Closed, Reason::ProbesSucceeded),
        ]
    );
    let m = breaker.metrics();
    assert_eq!(
        (m.calls, m.successes, m.failures, m.rejections),
        (12, 3, 6, 3)
    );
    let last = m.last_transition.expect("it has moved");
    assert_eq!((last.from, last.to), (HalfOpen, Closed));
}

static PROBE_CALLS: AtomicU32 = AtomicU32::new(0);

/// Finishes when the test says so, failing if it says `true`: trial calls overlap.
#[circuit_breaker("cb::probes", failures = 1, reset = "5s", probes = 2)]
async fn gated(outcome: oneshot::Receiver<bool>) -> Result<(), ApiError> {
    PROBE_CALLS.fetch_add(1, SeqCst);
    if outcome.await.unwrap_or(true) {
        Err(ApiError::Down)
    } else {
        Ok(())
    }
}

/// Starts a gated call on its own task; the sender finishes it.
fn start_gated() -> (
    oneshot::Sender<bool>,
    tokio::task::JoinHandle<Result<(), ApiError>>,
) {
    let (finish, outcome) = oneshot::channel();
    (finish, tokio::spawn(gated(outcome)))
}

#[tokio::test(start_paused = true)]
async fn half_open_lets_exactly_probes_trial_calls_through() {
    let seen = Transitions::of("cb::probes");
    let (finish, call) = start_gated();
    finish.send(true).unwrap();
    assert_eq!(call.await.unwrap(), Err(ApiError::Down));
    advance(Duration::from_secs(5)).await;

    // Two trials run at once; a third caller is turned away while they are in flight.
    let (finish_first, first) = start_gated();
    let (finish_second, second) = start_gated();
    tokio::task::yield_now().await;
    let (_, third) = start_gated();
    assert_eq!(
        third.await.unwrap(),
        Err(open("cb::probes", Duration::ZERO)),
        "only `probes` trial calls may run"
    );
    assert_eq!(PROBE_CALLS.load(SeqCst), 3);
    let breaker = registry().get("cb::probes").unwrap();
    assert_eq!(breaker.state(), State::HalfOpen);

    // One success is not enough with probes = 2; both are.
    finish_first.send(false).unwrap();
    assert_eq!(first.await.unwrap(), Ok(()));
    assert_eq!(breaker.state(), State::HalfOpen);
    finish_second.send(false).unwrap();
    assert_eq!(second.await.unwrap(), Ok(()));
    assert_eq!(breaker.state(), State::Closed);

    use State::*;
    assert_eq!(
        seen.take(),
        vec![
            (Closed, Open, Reason::Failures),
            (Open, HalfOpen, Reason::ResetElapsed),
            (HalfOpen, Closed, Reason::ProbesSucceeded),
        ]
    );
}

static CLASSIFIED_CALLS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker("cb::is_failure", failures = 2, is_failure = dependency_fault)]
async fn classified(error: ApiError) -> Result<(), ApiError> {
    CLASSIFIED_CALLS.fetch_add(1, SeqCst);
    Err(error)
}

#[tokio::test(start_paused = true)]
async fn errors_that_is_failure_rejects_count_as_successes_and_are_returned() {
    for _ in 0..5 {
        assert_eq!(
            classified(ApiError::BadRequest).await,
            Err(ApiError::BadRequest)
        );
    }
    let breaker = registry().get("cb::is_failure").unwrap();
    assert_eq!(breaker.state(), State::Closed);
    // A bad request between two failures breaks the run of consecutive failures.
    assert_eq!(classified(ApiError::Down).await, Err(ApiError::Down));
    assert_eq!(
        classified(ApiError::BadRequest).await,
        Err(ApiError::BadRequest)
    );
    assert_eq!(classified(ApiError::Down).await, Err(ApiError::Down));
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(classified(ApiError::Down).await, Err(ApiError::Down));
    assert_eq!(breaker.state(), State::Open);
    let m = breaker.metrics();
    assert_eq!((m.successes, m.failures), (6, 3));
    assert_eq!(CLASSIFIED_CALLS.load(SeqCst), 9);
}

static FALLBACK_CALLS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker("cb::fallback", failures = 1, fallback = cached_invoices)]
async fn invoices(customer: u32) -> Result<Vec<u32>, ApiError> {
    FALLBACK_CALLS.fetch_add(1, SeqCst);
    if customer == 0 {
        Err(ApiError::Down)
    } else {
        Ok(vec![customer, 1])
    }
}

async fn cached_invoices(customer: u32) -> Result<Vec<u32>, ApiError> {
    Ok(vec![customer, 0])
}

#[tokio::test(start_paused = true)]
async fn the_fallback_answers_while_the_breaker_is_open() {
    assert_eq!(
        invoices(4).await,
        Ok(vec![4, 1]),
        "closed: the real fn answers"
    );
    assert_eq!(
        invoices(0).await,
        Err(ApiError::Down),
        "the fallback never hides a real error"
    );
    assert_eq!(
        invoices(4).await,
        Ok(vec![4, 0]),
        "open: the fallback answers, with the same args"
    );
    assert_eq!(FALLBACK_CALLS.load(SeqCst), 2);
    assert_eq!(
        registry().get("cb::fallback").unwrap().metrics().rejections,
        1
    );
}

static SHARED_CALLS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker("cb::shared", failures = 2)]
async fn list_orders() -> Result<(), ApiError> {
    SHARED_CALLS.fetch_add(1, SeqCst);
    Err(ApiError::Down)
}

#[circuit_breaker(name = "cb::shared", failures = 2)]
fn create_order() -> Result<(), ApiError> {
    SHARED_CALLS.fetch_add(1, SeqCst);
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn fns_naming_the_same_key_share_one_breaker() {
    assert_eq!(list_orders().await, Err(ApiError::Down));
    assert_eq!(create_order(), Err(ApiError::Down));
    assert!(matches!(
        list_orders().await,
        Err(ApiError::Failfast(failfast::Error::Open { .. }))
    ));
    assert!(matches!(
        create_order(),
        Err(ApiError::Failfast(failfast::Error::Open { .. }))
    ));
    assert_eq!(SHARED_CALLS.load(SeqCst), 2);
    let names: Vec<String> = registry()
        .breakers()
        .iter()
        .map(|b| b.name().to_owned())
        .collect();
    assert_eq!(names.iter().filter(|n| *n == "cb::shared").count(), 1);
}

static TOGGLED_CALLS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker("cb::disabled_by_flag", failures = 1, enabled = false)]
async fn pass_through() -> Result<(), ApiError> {
    TOGGLED_CALLS.fetch_add(1, SeqCst);
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn enabled_false_makes_the_attribute_a_pass_through() {
    for _ in 0..4 {
        assert_eq!(pass_through().await, Err(ApiError::Down));
    }
    assert_eq!(TOGGLED_CALLS.load(SeqCst), 4);
    if let Some(breaker) = registry().get("cb::disabled_by_flag") {
        assert_eq!(
            breaker.metrics().calls,
            0,
            "a disabled attribute records nothing"
        );
    }
}

#[circuit_breaker(failures = 1)]
async fn default_named() -> Result<(), ApiError> {
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn the_default_name_is_module_and_fn() {
    let _ = default_named().await;
    let breaker = registry()
        .get("circuit_breaker::default_named")
        .expect("module::fn");
    assert_eq!(breaker.state(), State::Open);
}
