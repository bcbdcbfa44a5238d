//! Observe mode: the breaker records, transitions and reports as usual, but never rejects
//! a call. Exact counts on tokio's paused clock.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failfast_runtime::{
    Breaker, BreakerConfig, Error, Metrics, Mode, Reason, Registry, State, Window,
};
use tokio::time::advance;

const RESET: Duration = Duration::from_secs(60);

fn observed(config: BreakerConfig) -> Breaker {
    Breaker::new("observed", config.reset(RESET).mode(Mode::Observe))
}

fn down() -> Result<(), Error> {
    Err(Error::Timeout {
        after: Duration::ZERO,
    })
}

fn up() -> Result<(), Error> {
    Ok(())
}

/// Makes a call through `call`, counting the runs: a rejected call does not run.
fn run(b: &Breaker, runs: &AtomicU32, f: fn() -> Result<(), Error>) -> Result<(), Error> {
    b.call(|| {
        runs.fetch_add(1, Ordering::Relaxed);
        f()
    })
}

fn counts(m: &Metrics) -> (u64, u64, u64, u64) {
    (m.calls, m.successes, m.failures, m.rejections)
}

fn record_transitions(b: &Breaker) -> Arc<Mutex<Vec<(State, State, Reason)>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    b.subscribe(move |t| log.lock().unwrap().push((t.from, t.to, t.reason)));
    seen
}

#[test]
fn the_mode_comes_from_the_config() {
    assert_eq!(
        Breaker::new("e", BreakerConfig::new()).mode(),
        Mode::Enforce
    );
    assert_eq!(observed(BreakerConfig::new()).mode(), Mode::Observe);
    assert_eq!(Mode::default(), Mode::Enforce);
}

#[tokio::test(start_paused = true)]
async fn observe_mode_never_rejects_but_cycles_through_the_states() {
    let b = observed(BreakerConfig::new().failures(2));
    let seen = record_transitions(&b);
    let runs = AtomicU32::new(0);

    // Closed: as usual.
    assert!(run(&b, &runs, down).is_err());
    assert!(run(&b, &runs, down).is_err());
    assert_eq!(b.state(), State::Open);

    // Open: calls run, count as rejections, and their outcomes count in the metrics only.
    assert_eq!(run(&b, &runs, up), Ok(()));
    assert!(
        run(&b, &runs, down).is_err(),
        "the call's own error, not Error::Open"
    );
    assert!(matches!(run(&b, &runs, down), Err(Error::Timeout { .. })));
    assert_eq!(b.state(), State::Open);
    assert_eq!(counts(&b.metrics()), (5, 1, 4, 3));

    // Reset elapsed: the next call is the trial; another call meanwhile runs as observed.
    advance(RESET).await;
    let trial = b.acquire().expect("the trial");
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(
        run(&b, &runs, up),
        Ok(()),
        "beyond the probes: runs, counted as rejected"
    );
    assert_eq!(
        b.state(),
        State::HalfOpen,
        "its success does not close the breaker"
    );
    trial.success();
    assert_eq!(b.state(), State::Closed);

    // Closed again, from a clean slate; a failed trial reopens.
    assert!(run(&b, &runs, down).is_err());
    assert!(run(&b, &runs, down).is_err());
    advance(RESET).await;
    assert!(run(&b, &runs, down).is_err()); // the trial
    assert_eq!(b.state(), State::Open);

    assert_eq!(
        runs.load(Ordering::Relaxed),
        9,
        "every call made through `run` ran"
    );
    let m = b.metrics();
    assert_eq!(counts(&m), (10, 3, 7, 4), "the 9 runs and the trial");
    use {Reason as R, State as S};
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (S::Closed, S::Open, R::Failures),
            (S::Open, S::HalfOpen, R::ResetElapsed),
            (S::HalfOpen, S::Closed, R::ProbesSucceeded),
            (S::Closed, S::Open, R::Failures),
            (S::Open, S::HalfOpen, R::ResetElapsed),
            (S::HalfOpen, S::Open, R::ProbeFailed),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn observed_outcomes_are_not_fed_to_the_policy() {
    let b = observed(
        BreakerConfig::new()
            .failure_rate(0.5)
            .window(Window::Calls(4))
            .min_calls(4),
    );
    for f in [down, down, up, up] {
        let _ = b.call(f);
    }
    assert_eq!(b.state(), State::Open);
    for _ in 0..20 {
        let _ = b.call(down); // observed: not in the window
    }
    advance(RESET).await;
    let _ = b.call(up); // the trial
    assert_eq!(b.state(), State::Closed);
    for _ in 0..3 {
        let _ = b.call(down);
    }
    assert_eq!(
        b.state(),
        State::Closed,
        "three outcomes in the window: below min_calls"
    );
    let _ = b.call(down);
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn an_observed_call_is_not_a_trial() {
    let b = observed(BreakerConfig::new().failures(1).probes(1));
    let _ = b.call(down);
    advance(RESET).await;
    let trial = b.acquire().expect("the trial");
    // Beyond the probe: observed calls. Dropping one gives back no trial slot, and its
    // failure does not reopen the breaker.
    drop(b.acquire().expect("observed"));
    b.acquire().expect("observed").failure();
    assert_eq!(b.state(), State::HalfOpen);
    trial.failure();
    assert_eq!(b.state(), State::Open);
    let m = b.metrics();
    assert_eq!((m.calls, m.failures, m.rejections), (4, 3, 2));
}

#[tokio::test(start_paused = true)]
async fn forced_open_lets_calls_run_in_observe_mode() {
    let b = observed(BreakerConfig::new());
    b.force_open();
    let runs = AtomicU32::new(0);
    assert_eq!(run(&b, &runs, up), Ok(()));
    advance(RESET * 10).await;
    assert_eq!(run(&b, &runs, up), Ok(()));
    assert_eq!(b.state(), State::ForcedOpen);
    assert_eq!(runs.load(Ordering::Relaxed), 2);
    assert_eq!(counts(&b.metrics()), (2, 2, 0, 2));
}

#[tokio::test(start_paused = true)]
async fn set_mode_switches_at_run_time() {
    let b = Breaker::new("switched", BreakerConfig::new().failures(1).reset(RESET));
    let runs = AtomicU32::new(0);
    let _ = run(&b, &runs, down);
    assert!(matches!(run(&b, &runs, up), Err(Error::Open { .. })));

    b.set_mode(Mode::Observe);
    assert_eq!(b.mode(), Mode::Observe);
    assert_eq!(run(&b, &runs, up), Ok(()));
    assert_eq!(b.state(), State::Open, "the state is kept");

    b.set_mode(Mode::Enforce);
    assert_eq!(b.mode(), Mode::Enforce);
    assert!(matches!(run(&b, &runs, up), Err(Error::Open { .. })));

    assert_eq!(runs.load(Ordering::Relaxed), 2);
    assert_eq!(counts(&b.metrics()), (4, 1, 1, 3));

    // Back in enforce mode, the breaker recovers as usual.
    advance(RESET).await;
    assert_eq!(run(&b, &runs, up), Ok(()));
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn set_mode_through_the_registry() {
    let registry = Registry::new();
    let b = registry.breaker("by_name", BreakerConfig::new().failures(1));
    b.force_open();
    assert!(b.call(up).is_err());
    registry.get("by_name").unwrap().set_mode(Mode::Observe);
    assert_eq!(b.call(up), Ok(()));
    assert_eq!(b.mode(), Mode::Observe);
}

#[tokio::test(start_paused = true)]
async fn async_calls_run_in_observe_mode() {
    let b = observed(BreakerConfig::new().failures(1));
    let _ = b.call(down);
    let ran: Result<u8, Error> = b.call_async(async { Ok(7) }).await;
    assert_eq!(ran, Ok(7));
    assert_eq!(counts(&b.metrics()), (2, 1, 1, 1));
}

#[test]
fn the_config_carries_the_mode_and_conflicts_see_it() {
    let registry = Registry::new();
    let first = registry.breaker("modes", BreakerConfig::new());
    registry.breaker("modes", BreakerConfig::new().mode(Mode::Observe));
    assert_eq!(first.mode(), Mode::Enforce, "the first registration wins");
    assert_eq!(
        first.conflict().map(|c| c.initial_mode()),
        Some(Mode::Observe)
    );
}
