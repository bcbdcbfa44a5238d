//! One breaker, many callers at once: OS threads, and tasks on a multi-thread tokio runtime,
//! drive it through Closed, Open and HalfOpen dozens of times, with one probe and with
//! three, under the consecutive policy and a failure-rate window.
//!
//! Real time (a 2 ms reset) drives the breaker; no assertion depends on timing. Each
//! half-open spell is a *batch* of trials, which the callers make exact:
//! - a caller that gets a trial permit registers it in the current batch, and holds it
//!   until the batch has `probes` trials: so every trial of a spell is registered before
//!   any reports, and a registration past `probes` would be a trial too many;
//! - trials report under the batch lock, in a pattern decided per batch (all succeed, or
//!   the first fails), so the test knows which report ends the spell, and the next
//!   spell's trials register only after that;
//! - the reports of a failed batch that come after its failure fail too: from a spell that
//!   is over, they must change nothing.
//!
//! At the end: every half-open spell the listener saw is one batch of exactly `probes`
//! trials, which ended as its pattern said (the last may be running still); the
//! transitions form one unbroken chain with the expected reasons (none lost, none
//! doubled); and the metrics equal the callers' own counts exactly.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use failfast_runtime::{
    Breaker, BreakerConfig, Error, Permit, Reason, State, Transition, Window, guard,
};

/// Callers per run.
const CALLERS: usize = 8;
/// Half-open spells each run goes through (at least).
const SPELLS: usize = 30;
/// Gives up on a run that makes no progress (a wedged breaker), so the test fails instead
/// of hanging.
const DEADLINE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    Consecutive,
    FailureRate,
}

impl Policy {
    fn config(self, probes: u32) -> BreakerConfig {
        let config = BreakerConfig::new()
            .reset(Duration::from_millis(2))
            // Long enough that no trial is ever timed out: every spell ends by a report.
            .probe_timeout(Duration::from_secs(600))
            .probes(probes);
        match self {
            Policy::Consecutive => config.failures(3),
            Policy::FailureRate => config
                .failure_rate(0.5)
                .window(Window::Calls(8))
                .min_calls(4),
        }
    }

    fn reason(self) -> Reason {
        match self {
            Policy::Consecutive => Reason::Failures,
            Policy::FailureRate => Reason::FailureRate,
        }
    }
}

/// The trials of one half-open spell.
#[derive(Debug)]
struct Batch {
    registered: u32,
    succeeded: u32,
    /// This batch's pattern: its first report fails (else all succeed).
    fails: bool,
    /// How the spell ended: `Some(State::Open)` by a failed trial, `Some(State::Closed)`
    /// by the last of `probes` successes; `None` while it runs.
    ended: Option<State>,
}

#[derive(Debug, PartialEq, Eq)]
struct Failure;

struct Run {
    breaker: Breaker,
    policy: Policy,
    probes: u32,
    batches: Mutex<Vec<Batch>>,
    seen: Arc<Mutex<Vec<Transition>>>,
    /// Calls that reached the fake dependency, and the closed ones among them (their
    /// number decides which fail).
    dependency_calls: AtomicU64,
    closed_calls: AtomicU64,
    successes: AtomicU64,
    failures: AtomicU64,
    rejections: AtomicU64,
    stop: AtomicBool,
    timed_out: AtomicBool,
    started: Instant,
}

/// What one caller's turn came to.
enum Turn<'a> {
    /// A closed call to make: fail it or not.
    Closed(Permit<'a>, bool),
    /// A trial registered in batch `.1`: hold it until the batch is full, then report.
    Trial(Permit<'a>, usize),
    /// Rejected; zero `retry_after` while half-open with every trial slot taken.
    Rejected(Duration),
}

impl Run {
    fn new(policy: Policy, probes: u32) -> Run {
        let breaker = Breaker::new("concurrency", policy.config(probes));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        breaker.subscribe(move |t| log.lock().unwrap().push(t.clone()));
        Run {
            breaker,
            policy,
            probes,
            batches: Mutex::new(Vec::new()),
            seen,
            dependency_calls: AtomicU64::new(0),
            closed_calls: AtomicU64::new(0),
            successes: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            rejections: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            timed_out: AtomicBool::new(false),
            started: Instant::now(),
        }
    }

    fn stopped(&self) -> bool {
        if self.started.elapsed() > DEADLINE {
            self.timed_out.store(true, SeqCst);
            self.stop.store(true, SeqCst);
        }
        self.stop.load(SeqCst)
    }

    /// The fake dependency: counts the call, answers as told.
    fn dependency(&self, fail: bool) -> Result<(), Failure> {
        self.dependency_calls.fetch_add(1, SeqCst);
        if fail { Err(Failure) } else { Ok(()) }
    }

    fn count(&self, result: &Result<(), Failure>) {
        match result {
            Ok(()) => self.successes.fetch_add(1, SeqCst),
            Err(Failure) => self.failures.fetch_add(1, SeqCst),
        };
    }

    fn turn(&self) -> Turn<'_> {
        match self.breaker.acquire() {
            Ok(permit) if format!("{permit:?}").contains("trial: true") => {
                let batch = self.register();
                Turn::Trial(permit, batch)
            }
            Ok(permit) => {
                // Three closed calls in four fail: the breaker opens again soon.
                let n = self.closed_calls.fetch_add(1, SeqCst);
                Turn::Closed(permit, n % 4 != 3)
            }
            Err(Error::Open { retry_after, .. }) => {
                self.rejections.fetch_add(1, SeqCst);
                Turn::Rejected(retry_after)
            }
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }

    /// Registers a trial permit in the current batch, or starts the next one.
    fn register(&self) -> usize {
        let mut batches = self.batches.lock().unwrap();
        if batches.last().is_none_or(|b| b.ended.is_some()) {
            let fails = batches.len() % 3 == 1;
            batches.push(Batch {
                registered: 0,
                succeeded: 0,
                fails,
                ended: None,
            });
        }
        let index = batches.len() - 1;
        let batch = &mut batches[index];
        batch.registered += 1;
        assert!(
            batch.registered <= self.probes,
            "trial {} in half-open spell {index}, with {} probes",
            batch.registered,
            self.probes
        );
        index
    }

    /// True when the trials of `batch` may report: all `probes` are out (or the run is
    /// stopping).
    fn ready(&self, batch: usize) -> bool {
        self.batches.lock().unwrap()[batch].registered == self.probes || self.stopped()
    }

    /// Reports a trial of `batch` through `record` (which records the result through the
    /// trial's permit), under the batch lock: the batch's pattern decides the result.
    fn report(&self, batch: usize, record: impl FnOnce(Result<(), Failure>)) {
        let mut batches = self.batches.lock().unwrap();
        let full = batches[batch].registered == self.probes;
        let b = &mut batches[batch];
        let fail = match b.ended {
            // A report from a spell that is over: it must change nothing.
            Some(_) => true,
            // A batch fails only once full (before, the run is stopping: succeed).
            None => full && b.fails,
        };
        let result = self.dependency(fail);
        self.count(&result);
        record(result);
        if b.ended.is_none() {
            if fail {
                b.ended = Some(State::Open);
            } else {
                b.succeeded += 1;
                if b.succeeded == self.probes {
                    b.ended = Some(State::Closed);
                }
            }
        }
        let ended = batches.iter().filter(|b| b.ended.is_some()).count();
        if ended >= SPELLS {
            self.stop.store(true, SeqCst);
        }
    }

    /// The checks once every caller is done.
    fn check(&self) {
        assert!(
            !self.timed_out.load(SeqCst),
            "no progress for {DEADLINE:?}: {:?}",
            self.batches.lock().unwrap().last()
        );
        let seen = self.seen.lock().unwrap();
        let batches = self.batches.lock().unwrap();
        let b = &self.breaker;

        // One unbroken chain of transitions, each for the reason its edge allows.
        let mut state = State::Closed;
        let mut half_open_ends = Vec::new();
        for (i, t) in seen.iter().enumerate() {
            assert_eq!(t.from, state, "broken chain at transition {i}");
            let expected = match (t.from, t.to) {
                (State::Closed, State::Open) => self.policy.reason(),
                (State::Open, State::HalfOpen) => Reason::ResetElapsed,
                (State::HalfOpen, State::Closed) => Reason::ProbesSucceeded,
                (State::HalfOpen, State::Open) => Reason::ProbeFailed,
                other => panic!("unexpected transition {other:?} at {i}"),
            };
            assert_eq!(t.reason, expected, "transition {i}");
            if t.from == State::HalfOpen {
                half_open_ends.push(t.to);
            }
            state = t.to;
        }
        assert_eq!(b.state(), state);
        assert_eq!(b.metrics().last_transition.as_ref(), seen.last());

        // Every half-open spell is one batch of exactly `probes` trials, ended as its
        // pattern said; only the last may still be running.
        let half_open_spells = seen.iter().filter(|t| t.to == State::HalfOpen).count();
        assert_eq!(
            half_open_spells,
            batches.len(),
            "one batch per half-open spell"
        );
        assert!(batches.len() >= SPELLS);
        for (i, batch) in batches.iter().enumerate() {
            match batch.ended {
                Some(end) => {
                    assert_eq!(batch.registered, self.probes, "batch {i}: {batch:?}");
                    let expected = if batch.fails {
                        State::Open
                    } else {
                        State::Closed
                    };
                    assert_eq!(end, expected, "batch {i}: {batch:?}");
                    assert_eq!(half_open_ends.get(i), Some(&end), "batch {i}");
                }
                None => {
                    assert_eq!(i, batches.len() - 1, "only the last batch may run");
                    assert_eq!(half_open_ends.len(), i, "its spell has not ended");
                    assert_eq!(state, State::HalfOpen);
                }
            }
        }

        // The metrics are the callers' own counts, exactly.
        let m = b.metrics();
        let (successes, failures, rejections) = (
            self.successes.load(SeqCst),
            self.failures.load(SeqCst),
            self.rejections.load(SeqCst),
        );
        assert_eq!(
            (m.successes, m.failures, m.rejections, m.slow_calls),
            (successes, failures, rejections, 0)
        );
        assert_eq!(m.calls, m.successes + m.failures + m.rejections);
        assert_eq!(self.dependency_calls.load(SeqCst), successes + failures);
    }
}

/// Stops the run when a caller panics, so the others do not wait for it forever.
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, SeqCst);
        }
    }
}

fn caller_thread(run: &Run) {
    let _stop = StopOnPanic(&run.stop);
    while !run.stopped() {
        match run.turn() {
            Turn::Closed(permit, fail) => {
                let result = run.dependency(fail);
                run.count(&result);
                permit.record(&result, |_| true);
            }
            Turn::Trial(permit, batch) => {
                while !run.ready(batch) {
                    std::thread::yield_now();
                }
                run.report(batch, |result| permit.record(&result, |_| true));
            }
            Turn::Rejected(retry_after) if retry_after.is_zero() => std::thread::yield_now(),
            Turn::Rejected(_) => std::thread::sleep(Duration::from_micros(50)),
        }
    }
}

fn with_threads(policy: Policy, probes: u32) {
    let run = Run::new(policy, probes);
    std::thread::scope(|s| {
        for _ in 0..CALLERS {
            s.spawn(|| caller_thread(&run));
        }
    });
    run.check();
}

async fn caller_task(run: Arc<Run>) {
    let _stop = StopOnPanic(&run.stop);
    while !run.stopped() {
        match run.turn() {
            Turn::Closed(permit, fail) => {
                let call = guard(permit, |_: &Failure| true, async {
                    tokio::task::yield_now().await;
                    let result = run.dependency(fail);
                    run.count(&result);
                    result
                });
                let _ = call.await;
            }
            Turn::Trial(permit, batch) => {
                while !run.ready(batch) {
                    tokio::task::yield_now().await;
                }
                // The guarded trial completes inside the batch lock: a future that is
                // ready at once, polled once.
                run.report(batch, |result| {
                    let trial = pin!(guard(permit, |_: &Failure| true, async { result }));
                    let polled = trial.poll(&mut Context::from_waker(Waker::noop()));
                    assert!(matches!(polled, Poll::Ready(_)));
                });
            }
            Turn::Rejected(_) => tokio::task::yield_now().await,
        }
    }
}

fn with_tasks(policy: Policy, probes: u32) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap();
    let run = Arc::new(Run::new(policy, probes));
    runtime.block_on(async {
        let tasks: Vec<_> = (0..CALLERS)
            .map(|_| tokio::spawn(caller_task(run.clone())))
            .collect();
        for task in tasks {
            if let Err(e) = task.await {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    });
    run.check();
}

#[test]
fn threads_consecutive_one_probe() {
    with_threads(Policy::Consecutive, 1);
}

#[test]
fn threads_consecutive_three_probes() {
    with_threads(Policy::Consecutive, 3);
}

#[test]
fn threads_failure_rate_one_probe() {
    with_threads(Policy::FailureRate, 1);
}

#[test]
fn threads_failure_rate_three_probes() {
    with_threads(Policy::FailureRate, 3);
}

#[test]
fn tasks_consecutive_one_probe() {
    with_tasks(Policy::Consecutive, 1);
}

#[test]
fn tasks_consecutive_three_probes() {
    with_tasks(Policy::Consecutive, 3);
}

#[test]
fn tasks_failure_rate_one_probe() {
    with_tasks(Policy::FailureRate, 1);
}

#[test]
fn tasks_failure_rate_three_probes() {
    with_tasks(Policy::FailureRate, 3);
}

/// The harness catches what it is for: a caller that registers one trial too many fails
/// the run (here by hand, as the breaker never issues one).
#[test]
fn a_trial_too_many_fails_the_run() {
    let run = Run::new(Policy::Consecutive, 1);
    run.register();
    let extra = catch_unwind(AssertUnwindSafe(|| run.register()));
    assert!(extra.is_err());
}
