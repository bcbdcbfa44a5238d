//! `#[circuit_breaker(probe_timeout = "5s")]`: a hung trial call, sync or async, cannot
//! hold a breaker half-open. Once the probe timeout has passed, the next call reopens the
//! breaker for its open time (reason `ProbeTimedOut`); after it, a new trial runs and its
//! success closes the breaker; the hung call's outcome, when it finally comes, changes
//! nothing. On tokio's paused clock, to the nanosecond.

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use common::{ApiError, Transitions, open};
use failfast::{Reason, State, circuit_breaker, registry};
use tokio::sync::oneshot;
use tokio::time::advance;

const NANO: Duration = Duration::from_nanos(1);
const RESET: Duration = Duration::from_secs(10);
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

use {Reason as R, State as S};

/// The cycle a breaker goes through when its trial hangs: open, half-open, timed out,
/// half-open again, closed by a new trial.
const HUNG_THEN_CLOSED: [(State, State, Reason); 5] = [
    (S::Closed, S::Open, R::Failures),
    (S::Open, S::HalfOpen, R::ResetElapsed),
    (S::HalfOpen, S::Open, R::ProbeTimedOut),
    (S::Open, S::HalfOpen, R::ResetElapsed),
    (S::HalfOpen, S::Closed, R::ProbesSucceeded),
];

/// `(calls, successes, failures, rejections)` of the breaker named `name`.
fn counts(name: &str) -> (u64, u64, u64, u64) {
    let m = registry().get(name).unwrap().metrics();
    (m.calls, m.successes, m.failures, m.rejections)
}

fn state(name: &str) -> State {
    registry().get(name).unwrap().state()
}

/// What the test fns return.
type Answer = Result<u32, ApiError>;

/// A sync call held inside the dependency: it says it started, then waits for its answer.
struct Stuck {
    started: mpsc::Sender<()>,
    answer: mpsc::Receiver<Answer>,
}

/// The sync dependency: stuck until answered, or failing or not at once.
fn dependency(stuck: Option<Stuck>, fail: bool) -> Result<u32, ApiError> {
    if let Some(stuck) = stuck {
        stuck.started.send(()).unwrap();
        return stuck.answer.recv().unwrap();
    }
    if fail { Err(ApiError::Down) } else { Ok(1) }
}

/// Makes `call` on a thread of its own, stuck in the dependency until answered through
/// the sender returned; returns once the call is in the dependency. The thread enters
/// this test's runtime, so the breaker reads the paused clock there too.
fn stuck_in(
    call: impl FnOnce(Stuck) -> Answer + Send + 'static,
) -> (mpsc::Sender<Answer>, std::thread::JoinHandle<Answer>) {
    let (started, started_rx) = mpsc::channel();
    let (answer, answer_rx) = mpsc::channel();
    let runtime = tokio::runtime::Handle::current();
    let thread = std::thread::spawn(move || {
        let _clock = runtime.enter();
        call(Stuck {
            started,
            answer: answer_rx,
        })
    });
    started_rx.recv().unwrap();
    (answer, thread)
}

/// A trial of the breaker `name` has hung for `hung_for`: waits until its probe timeout
/// is a nanosecond away (`call` is rejected with `retry_after` zero), then until it is
/// over (`call` reopens the breaker for `reset`, and is rejected).
async fn run_out_the_probe_timeout(
    name: &'static str,
    hung_for: Duration,
    call: impl AsyncFn() -> Result<u32, ApiError>,
) {
    assert_eq!(state(name), S::HalfOpen);
    advance(PROBE_TIMEOUT - hung_for - NANO).await;
    assert_eq!(call().await, Err(open(name, Duration::ZERO)));
    advance(NANO).await;
    assert_eq!(
        call().await,
        Err(open(name, RESET)),
        "the hung trial counts as failed: open again for `reset`"
    );
    assert_eq!(state(name), S::Open);
}

#[circuit_breaker(
    "probe_timeout::sync",
    failures = 1,
    reset = "10s",
    probe_timeout = "5s"
)]
fn sync_call(stuck: Option<Stuck>, fail: bool) -> Result<u32, ApiError> {
    dependency(stuck, fail)
}

#[tokio::test(start_paused = true)]
async fn a_thread_stuck_in_a_sync_trial_does_not_wedge_the_breaker() {
    const NAME: &str = "probe_timeout::sync";
    let seen = Transitions::of(NAME);
    assert_eq!(sync_call(None, true), Err(ApiError::Down));
    advance(RESET).await;

    // The trial call blocks its thread.
    let (answer, stuck_thread) = stuck_in(|stuck| sync_call(Some(stuck), false));
    run_out_the_probe_timeout(NAME, Duration::ZERO, async || sync_call(None, false)).await;

    advance(RESET).await;
    assert_eq!(sync_call(None, false), Ok(1), "a new trial");
    assert_eq!(state(NAME), S::Closed);

    // The stuck call fails at last: too late to reopen anything.
    answer.send(Err(ApiError::Down)).unwrap();
    assert_eq!(stuck_thread.join().unwrap(), Err(ApiError::Down));
    assert_eq!(state(NAME), S::Closed);
    assert_eq!(seen.take(), HUNG_THEN_CLOSED);
    // Failures: the trip and the stuck call; rejections: two; success: the new trial.
    assert_eq!(counts(NAME), (5, 1, 2, 2));
}

/// What the async dependency does.
enum Reply {
    Now(Result<u32, ApiError>),
    /// Waits until the test answers.
    Later(oneshot::Receiver<Result<u32, ApiError>>),
}

impl Reply {
    async fn get(self) -> Result<u32, ApiError> {
        match self {
            Reply::Now(result) => result,
            Reply::Later(answer) => answer.await.unwrap(),
        }
    }
}

#[circuit_breaker(
    "probe_timeout::async",
    failures = 1,
    reset = "10s",
    probe_timeout = "5s"
)]
async fn async_call(reply: Reply) -> Result<u32, ApiError> {
    reply.get().await
}

/// Polls `fut` once, with no executor: `Some` if it completed.
fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Option<F::Output> {
    match fut.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_hung_async_trial_does_not_wedge_the_breaker() {
    const NAME: &str = "probe_timeout::async";
    let seen = Transitions::of(NAME);
    let now = |result| async_call(Reply::Now(result));
    assert_eq!(now(Err(ApiError::Down)).await, Err(ApiError::Down));
    advance(RESET).await;

    // The trial's future is polled once, takes the trial, and waits: held, never
    // completed, never dropped.
    let (answer, answer_rx) = oneshot::channel();
    let mut hung = pin!(async_call(Reply::Later(answer_rx)));
    assert!(poll_once(hung.as_mut()).is_none());
    run_out_the_probe_timeout(NAME, Duration::ZERO, async || now(Ok(2)).await).await;

    // A new spell: its trial is out when the hung call fails at last, which does not
    // reopen the breaker; the new trial's success closes it.
    advance(RESET).await;
    let (new_answer, new_answer_rx) = oneshot::channel();
    let mut trial = pin!(async_call(Reply::Later(new_answer_rx)));
    assert!(poll_once(trial.as_mut()).is_none());
    answer.send(Err(ApiError::Down)).unwrap();
    assert_eq!(poll_once(hung.as_mut()), Some(Err(ApiError::Down)));
    assert_eq!(
        state(NAME),
        S::HalfOpen,
        "the late failure belongs to an earlier spell"
    );
    assert_eq!(
        now(Ok(2)).await,
        Err(open(NAME, Duration::ZERO)),
        "one trial at a time"
    );
    new_answer.send(Ok(3)).unwrap();
    assert_eq!(poll_once(trial.as_mut()), Some(Ok(3)));
    assert_eq!(state(NAME), S::Closed);

    assert_eq!(seen.take(), HUNG_THEN_CLOSED);
    // The trip and the late failure; three rejections; the new trial.
    assert_eq!(counts(NAME), (6, 1, 2, 3));
}

#[circuit_breaker(
    "probe_timeout::probes",
    failures = 1,
    reset = "10s",
    probes = 2,
    probe_timeout = "5s"
)]
async fn two_probes(reply: Reply) -> Result<u32, ApiError> {
    reply.get().await
}

/// `probes = 2`: one trial reports, the other hangs; the hung one is overdue
/// `probe_timeout` after it was let through.
#[tokio::test(start_paused = true)]
async fn with_two_probes_one_reported_and_one_hung() {
    const NAME: &str = "probe_timeout::probes";
    let seen = Transitions::of(NAME);
    let now = |result| two_probes(Reply::Now(result));
    assert_eq!(now(Err(ApiError::Down)).await, Err(ApiError::Down));
    advance(RESET).await;

    let (_answer, answer_rx) = oneshot::channel();
    let mut hung = pin!(two_probes(Reply::Later(answer_rx)));
    assert!(poll_once(hung.as_mut()).is_none(), "the first trial hangs");
    advance(Duration::from_secs(2)).await;
    assert_eq!(now(Ok(1)).await, Ok(1), "the second trial succeeds");
    assert_eq!(state(NAME), S::HalfOpen, "one success of two");
    let hung_for = Duration::from_secs(2);
    run_out_the_probe_timeout(NAME, hung_for, async || now(Ok(1)).await).await;

    advance(RESET).await;
    assert_eq!(now(Ok(1)).await, Ok(1));
    assert_eq!(
        state(NAME),
        S::HalfOpen,
        "the new spell needs two successes of its own"
    );
    assert_eq!(now(Ok(1)).await, Ok(1));
    assert_eq!(state(NAME), S::Closed);
    assert_eq!(seen.take(), HUNG_THEN_CLOSED);
    // The trip; two rejections; three successful trials (the hung one never ended).
    assert_eq!(counts(NAME), (6, 3, 1, 2));
}

#[circuit_breaker("probe_timeout::default", failures = 1, reset = "10s")]
fn default_probe_timeout(stuck: Option<Stuck>) -> Result<u32, ApiError> {
    dependency(stuck, true)
}

/// Without `probe_timeout`, a trial may run as long as the breaker stays open: `reset`.
#[tokio::test(start_paused = true)]
async fn the_default_probe_timeout_is_reset() {
    const NAME: &str = "probe_timeout::default";
    assert_eq!(default_probe_timeout(None), Err(ApiError::Down));
    let config = registry().get(NAME).unwrap().config();
    assert_eq!(config.probe_timeout_after(), RESET);
    advance(RESET).await;

    let (answer, stuck_thread) = stuck_in(|stuck| default_probe_timeout(Some(stuck)));
    advance(RESET - NANO).await;
    assert_eq!(default_probe_timeout(None), Err(open(NAME, Duration::ZERO)));
    advance(NANO).await;
    assert_eq!(default_probe_timeout(None), Err(open(NAME, RESET)));
    answer.send(Ok(1)).unwrap();
    assert_eq!(stuck_thread.join().unwrap(), Ok(1));
    assert_eq!(state(NAME), S::Open, "a late success does not close it");
}

/// The reason's name in the JSON snapshot: `probe-timed-out`, in kebab case as every
/// other reason (the `tracing` events write it the same way: `telemetry.rs`'s tests).
#[cfg(feature = "serde")]
#[test]
fn the_reason_is_probe_timed_out_in_json() {
    assert_eq!(
        serde_json::to_value(Reason::ProbeTimedOut).unwrap(),
        serde_json::json!("probe-timed-out")
    );
}

#[cfg(feature = "redis")]
#[path = "common/redis_server.rs"]
mod redis_server;

/// Through a real `redis-server` (so in real time, with short open times): two stores on
/// one server stand for two processes. The lease outlives the prober's probe timeout; the
/// prober's probe timeout reopens the breaker fleet-wide and ends its lease.
#[cfg(feature = "redis")]
#[test]
fn a_probe_timeout_reopens_the_breaker_fleet_wide() {
    use std::time::Instant;

    use failfast::{Breaker, BreakerConfig, Error, RedisStore};
    use redis_server::RedisServer;

    let until = |what: &str, done: &mut dyn FnMut() -> bool| {
        let start = Instant::now();
        while !done() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "timed out: {what}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    let redis = |server: &RedisServer, command: &str, key: &str| -> redis::Value {
        redis::cmd(command)
            .arg(key)
            .query(&mut server.connection())
            .unwrap()
    };
    let pttl = |server: &RedisServer, key: &str| match redis(server, "PTTL", key) {
        redis::Value::Int(ms) => ms,
        other => panic!("PTTL {key}: {other:?}"),
    };

    let server = RedisServer::start();
    let store = || {
        RedisStore::builder()
            .prefix("pt")
            .timeout(Duration::from_millis(500))
            .connect(&server.url())
            .unwrap()
    };
    let (store_a, store_b) = (store(), store());
    until("both stores connect", &mut || {
        store_a.is_connected() && store_b.is_connected()
    });
    let config = BreakerConfig::new()
        .failures(1)
        .reset(Duration::from_millis(300))
        .probe_timeout(Duration::from_millis(600));
    let a = Breaker::with_store("dep", config, store_a);
    let b = Breaker::with_store("dep", config, store_b);
    let fail = || Err::<(), _>(Error::Timeout { after: NANO });
    let _ = a.call(fail);
    until("b opens", &mut || b.state() == S::Open);
    std::thread::sleep(Duration::from_millis(350));

    // a takes the lease for the probe timeout, longer than the open time; its trial hangs.
    let hung = a.acquire().expect("a gets the trial");
    let lease = pttl(&server, "pt:dep:probe");
    assert!(lease > 300 && lease <= 600, "lease ttl {lease} ms");
    assert!(b.acquire().is_err(), "b waits for a's trial");

    // Past the probe timeout, a's next caller reopens the breaker: published as a failed
    // trial's reopen, open for `reset` from then, the lease ended.
    std::thread::sleep(Duration::from_millis(650));
    assert!(a.acquire().is_err());
    assert_eq!(a.state(), S::Open);
    assert_eq!(
        a.metrics().last_transition.unwrap().reason,
        R::ProbeTimedOut
    );
    until("the lease ends with the reopen", &mut || {
        redis(&server, "GET", "pt:dep:probe") == redis::Value::Nil
    });
    let open = pttl(&server, "pt:dep:state");
    assert!(
        open > 0 && open <= 300,
        "open for reset from the reopen: {open} ms"
    );

    // After the new open time, a trial (whoever gets the lease) closes it everywhere; the
    // hung trial's success, late, changes nothing.
    std::thread::sleep(Duration::from_millis(350));
    until("a trial runs and closes the breaker", &mut || {
        if let Ok(trial) = a.acquire().or_else(|_| b.acquire()) {
            trial.success();
        }
        a.state() == S::Closed && b.state() == S::Closed
    });
    hung.success();
    assert_eq!((a.state(), b.state()), (S::Closed, S::Closed));
}
