//! Model-based property tests of the retry schedule (`Backoff`, `Retry`): for random
//! policies (attempts, delay, factor, max delay, every jitter scheme, a deadline or none)
//! every wait lies within its scheme's bounds as `Jitter`'s documentation gives them, and
//! a retry loop driven on tokio's paused clock makes exactly the calls a model of the
//! contract predicts (attempts, `retry_if`, `retry_if_ok`, `retry_after`, the deadline),
//! with the waits it returns, and never starts an attempt past its deadline.
//!
//! The model draws the same jitter as the stepper by seeding both with `seed_jitter`:
//! the waits' values come from `Backoff`, whose bounds the first property checks.

mod model_support;

use std::cell::RefCell;
use std::time::Duration;

use failfast_runtime::{Backoff, Jitter, Retry, RetryPolicy, Rules, seed_jitter};
use proptest::prelude::*;
use tokio::time::{Instant, advance};

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated),
    ]
}

/// A duration: nanoseconds now and then, milliseconds mostly.
fn duration(max_ms: u64) -> impl Strategy<Value = Duration> {
    prop_oneof![
        1 => Just(Duration::ZERO),
        1 => (0..=50u64).prop_map(Duration::from_nanos),
        6 => (0..=max_ms).prop_map(Duration::from_millis),
        1 => (0..=max_ms * 1_000_000).prop_map(Duration::from_nanos),
    ]
}

prop_compose! {
    fn policy()(
        attempts in 1..=10u32,
        delay in duration(2_000),
        tenths in 10..=40u32,
        max_delay in prop_oneof![4 => duration(10_000), 1 => Just(Duration::MAX)],
        jitter in jitter(),
        deadline in prop::option::of(duration(20_000)),
    ) -> RetryPolicy {
        let policy = RetryPolicy::new()
            .attempts(attempts)
            .delay(delay)
            .factor(f64::from(tenths) / 10.0)
            .max_delay(max_delay)
            .jitter(jitter);
        match deadline {
            Some(deadline) => policy.deadline(deadline),
            None => policy,
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `exp(n) = min(max_delay, delay * factor^n)`, in f64 nanoseconds as documented on
/// `Backoff` (an overflow saturates before the cap applies).
fn exponential(policy: &RetryPolicy, n: u32) -> Duration {
    let scaled = nanos(policy.first_delay()) as f64 * policy.growth_factor().powf(f64::from(n));
    Duration::from_nanos(scaled as u64).min(policy.delay_cap())
}

/// Checks the wait before retry `n + 1` against its scheme's bounds; `previous` is the
/// wait before (for decorrelated jitter; `delay` before the first retry).
fn check_wait(
    policy: &RetryPolicy,
    n: u32,
    wait: Duration,
    previous: Duration,
) -> Result<(), TestCaseError> {
    let exp = exponential(policy, n);
    match policy.jitter_scheme() {
        Jitter::None => prop_assert_eq!(wait, exp, "retry {}", n + 1),
        Jitter::Full => prop_assert!(wait <= exp, "retry {}: {:?} > {:?}", n + 1, wait, exp),
        Jitter::Equal => prop_assert!(
            exp / 2 <= wait && wait <= exp,
            "retry {}: {:?} outside [{:?}, {:?}]",
            n + 1,
            wait,
            exp / 2,
            exp
        ),
        Jitter::Decorrelated => {
            let (delay, cap) = (policy.first_delay(), policy.delay_cap());
            let high = previous.saturating_mul(3).max(delay);
            prop_assert!(wait <= cap, "retry {}: {:?} above the cap", n + 1, wait);
            prop_assert!(
                delay.min(cap) <= wait && wait <= high,
                "retry {}: {:?} outside [{:?}, {:?}]",
                n + 1,
                wait,
                delay.min(cap),
                high
            );
        }
    }
    Ok(())
}

/// Every wait of a `Backoff` within bounds, `attempts - 1` of them, and the same ones
/// again from the same seed.
fn check_schedule(policy: &RetryPolicy, seed: u64) -> Result<(), TestCaseError> {
    seed_jitter(seed);
    let waits: Vec<Duration> = Backoff::new(policy).collect();
    prop_assert_eq!(waits.len() as u32, policy.max_attempts() - 1);
    let mut previous = policy.first_delay();
    for (n, &wait) in waits.iter().enumerate() {
        check_wait(policy, n as u32, wait, previous)?;
        previous = wait;
    }
    seed_jitter(seed);
    prop_assert_eq!(
        Backoff::new(policy).collect::<Vec<_>>(),
        waits,
        "seeded: the same"
    );
    Ok(())
}

/// How one attempt ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    /// An `Ok` value that `retry_if_ok` wants retried (a 503 in an `Ok(Response)`).
    OkRetry,
    /// An error `retry_if` retries, maybe asking for its own wait (`retry_after`).
    Err {
        asks: Option<Duration>,
    },
    /// An error `retry_if` does not retry.
    Fatal,
}

#[derive(Debug, Clone, Copy)]
struct Attempt {
    outcome: Outcome,
    /// How long the attempt runs (the clock moves during it).
    took: Duration,
}

fn attempt() -> impl Strategy<Value = Attempt> {
    let outcome = prop_oneof![
        2 => Just(Outcome::Ok),
        2 => Just(Outcome::OkRetry),
        8 => prop::option::of(duration(3_000)).prop_map(|asks| Outcome::Err { asks }),
        1 => Just(Outcome::Fatal),
    ];
    (
        outcome,
        prop_oneof![3 => Just(Duration::ZERO), 1 => duration(1_500)],
    )
        .prop_map(|(outcome, took)| Attempt { outcome, took })
}

/// An attempt's result: `Ok(true)` is an `Ok` to retry; `Err(Some(d))` an error asking
/// for `d`, `Err(None)` one leaving the wait to the backoff.
type Res = Result<bool, Option<Option<Duration>>>;

fn result_of(outcome: Outcome) -> Res {
    match outcome {
        Outcome::Ok => Ok(false),
        Outcome::OkRetry => Ok(true),
        Outcome::Err { asks } => Err(Some(asks)),
        Outcome::Fatal => Err(None),
    }
}

/// What a loop did: the attempts made, the waits between them (as the stepper returned
/// them), what `on_retry` was told, and the result returned.
#[derive(Debug, PartialEq)]
struct Run {
    calls: usize,
    waits: Vec<Duration>,
    told: Vec<(u32, Duration)>,
    result: Res,
}

/// The contract: attempt after attempt, stop on an `Ok` not to retry, an error not to
/// retry, the attempts used up, or a wait that would end past the deadline; else wait
/// the backoff's next wait (drawn whether or not the error asks for its own), or what the
/// error asks capped at `max_delay`.
fn model(policy: &RetryPolicy, script: &[Attempt], backoff: &[Duration]) -> (Run, Vec<u64>) {
    let mut run = Run {
        calls: 0,
        waits: Vec::new(),
        told: Vec::new(),
        result: Ok(false),
    };
    let mut now = 0u64; // nanoseconds since the loop began
    let mut starts = Vec::new();
    loop {
        let attempt = script[run.calls % script.len()];
        starts.push(now);
        run.calls += 1;
        now += nanos(attempt.took);
        run.result = result_of(attempt.outcome);
        let asks = match attempt.outcome {
            Outcome::Ok | Outcome::Fatal => return (run, starts),
            Outcome::OkRetry => None,
            Outcome::Err { asks } => asks,
        };
        let Some(&drawn) = backoff.get(run.waits.len()) else {
            return (run, starts); // attempts used up
        };
        let wait = asks.map_or(drawn, |asked| asked.min(policy.delay_cap()));
        if let Some(deadline) = policy.total_deadline() {
            if u128::from(now) + wait.as_nanos() > deadline.as_nanos() {
                return (run, starts);
            }
        }
        if matches!(attempt.outcome, Outcome::Err { .. }) {
            run.told.push((run.calls as u32, wait));
        }
        run.waits.push(wait);
        now += nanos(wait);
    }
}

/// Drives a `Retry` stepper (no budget) on the paused clock: each attempt advances the
/// clock by its running time, each wait by exactly the wait returned.
async fn real(policy: &RetryPolicy, script: &[Attempt]) -> (Run, Vec<u64>) {
    let began = Instant::now();
    let mut retry = Retry::new(policy).budget(None);
    let told = RefCell::new(Vec::new());
    let mut run = Run {
        calls: 0,
        waits: Vec::new(),
        told: Vec::new(),
        result: Ok(false),
    };
    let mut starts = Vec::new();
    loop {
        let attempt = script[run.calls % script.len()];
        starts.push(nanos(began.elapsed()));
        run.calls += 1;
        advance(attempt.took).await;
        let result = result_of(attempt.outcome);
        let rules = Rules {
            retry_if: |e: &Option<Option<Duration>>| e.is_some(),
            retry_if_ok: |retry: &bool| *retry,
            retry_after: |e: &Option<Option<Duration>>| e.flatten(),
            on_retry: |_: &Option<Option<Duration>>, info: &failfast_runtime::RetryInfo| {
                told.borrow_mut().push((info.attempt, info.delay));
            },
        };
        let next = retry.next_with(&result, false, rules);
        run.result = result;
        match next {
            Some(wait) => {
                run.waits.push(wait);
                advance(wait).await;
            }
            None => break,
        }
        if run.calls > 64 {
            break; // a runaway loop: the comparison reports it
        }
    }
    run.told = told.into_inner();
    (run, starts)
}

fn check_loop(policy: &RetryPolicy, script: &[Attempt], seed: u64) -> Result<(), TestCaseError> {
    seed_jitter(seed);
    let backoff: Vec<Duration> = Backoff::new(policy).collect();
    let (want, want_starts) = model(policy, script, &backoff);
    seed_jitter(seed);
    let (got, got_starts) = model_support::paused_runtime().block_on(real(policy, script));
    prop_assert_eq!(&got, &want);
    prop_assert_eq!(
        &got_starts,
        &want_starts,
        "attempts start when the model says"
    );
    prop_assert!(
        got.calls as u32 <= policy.max_attempts(),
        "{} calls",
        got.calls
    );
    if let Some(deadline) = policy.total_deadline() {
        // The first attempt always runs; no later one starts past the deadline.
        for &start in &got_starts[1..] {
            prop_assert!(
                u128::from(start) <= deadline.as_nanos(),
                "an attempt at {}ns",
                start
            );
        }
    }
    // The waits returned are the backoff's (within their bounds, checked on their own)
    // or an error's own wait, never above `max_delay`.
    for &wait in &got.waits {
        prop_assert!(wait <= policy.delay_cap());
    }
    Ok(())
}

/// A stepper that is told to stop (the breaker below rejected the call) stops at once,
/// whatever the result.
fn check_stop(policy: &RetryPolicy, outcome: Outcome) -> Result<(), TestCaseError> {
    let mut retry = Retry::new(policy).budget(None);
    let rules = Rules {
        retry_if: |_: &Option<Option<Duration>>| true,
        retry_if_ok: |_: &bool| true,
        retry_after: |e: &Option<Option<Duration>>| e.flatten(),
        on_retry: |_: &Option<Option<Duration>>, _: &failfast_runtime::RetryInfo| {
            panic!("no retry, so no on_retry")
        },
    };
    prop_assert_eq!(retry.next_with(&result_of(outcome), true, rules), None);
    Ok(())
}

proptest! {
    #![proptest_config(model_support::config(3000, "proptest-regressions/model_retry.txt"))]

    #[test]
    fn every_wait_is_within_its_schemes_bounds(policy in policy(), seed in any::<u64>()) {
        check_schedule(&policy, seed)?;
    }

    #[test]
    fn a_retry_loop_makes_exactly_the_calls_the_contract_says(
        policy in policy(),
        script in prop::collection::vec(attempt(), 1..12),
        seed in any::<u64>(),
    ) {
        check_loop(&policy, &script, seed)?;
    }

    #[test]
    fn a_stop_stops_at_once(policy in policy(), outcome in attempt()) {
        check_stop(&policy, outcome.outcome)?;
    }
}

// ---- Shrunk failures, kept as plain tests ----
