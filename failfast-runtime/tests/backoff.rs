//! Backoff waits: bounds and means of every jitter scheme over many seeded samples.

use std::time::Duration;

use failfast_runtime::{Backoff, Jitter, RetryPolicy};
use rand::SeedableRng;
use rand::rngs::SmallRng;

const SAMPLES: usize = 20_000;
const MS: Duration = Duration::from_millis(1);

/// 100ms doubling, capped at 5s: 100, 200, 400, 800, 1600, 3200, 5000 ms.
fn policy(jitter: Jitter) -> RetryPolicy {
    RetryPolicy::new()
        .attempts(8)
        .delay(MS * 100)
        .factor(2.0)
        .max_delay(MS * 5_000)
        .jitter(jitter)
}

const EXP_MS: [u64; 7] = [100, 200, 400, 800, 1_600, 3_200, 5_000];

/// `SAMPLES` full runs of waits, each row one retried call.
fn sample(policy: &RetryPolicy, seed: u64) -> Vec<Vec<Duration>> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..SAMPLES)
        .map(|_| Backoff::with_rng(policy, &mut rng).collect())
        .collect()
}

/// Checks every wait at retry `n` lies in `bounds(exp_n)` and the mean is within 2% of
/// `mean(exp_n)` (about ten standard errors at 20 000 samples).
fn check(
    jitter: Jitter,
    bounds: impl Fn(Duration) -> (Duration, Duration),
    mean: impl Fn(f64) -> f64,
) {
    let runs = sample(&policy(jitter), 42);
    for (n, exp_ms) in EXP_MS.into_iter().enumerate() {
        let exp = MS * exp_ms as u32;
        let (low, high) = bounds(exp);
        let mut total = 0.0;
        for run in &runs {
            assert_eq!(run.len(), 7);
            let wait = run[n];
            assert!(
                low <= wait && wait <= high,
                "{jitter:?} retry {n}: {wait:?} outside [{low:?}, {high:?}]"
            );
            total += wait.as_secs_f64();
        }
        let actual = total / SAMPLES as f64;
        let expected = mean(exp.as_secs_f64());
        assert!(
            (actual - expected).abs() <= 0.02 * exp.as_secs_f64(),
            "{jitter:?} retry {n}: mean {actual} vs {expected}"
        );
    }
}

#[test]
fn no_jitter_is_exactly_exponential() {
    check(Jitter::None, |exp| (exp, exp), |exp| exp);
}

#[test]
fn full_jitter_is_uniform_from_zero() {
    check(Jitter::Full, |exp| (Duration::ZERO, exp), |exp| exp / 2.0);
}

#[test]
fn equal_jitter_is_uniform_over_the_upper_half() {
    check(Jitter::Equal, |exp| (exp / 2, exp), |exp| exp * 3.0 / 4.0);
}

#[test]
fn decorrelated_jitter_stays_between_delay_and_three_times_the_last_wait() {
    let policy = policy(Jitter::Decorrelated);
    let runs = sample(&policy, 7);
    for run in runs {
        let mut previous = policy.first_delay();
        for wait in run {
            let high = policy.delay_cap().min(previous * 3);
            assert!(
                policy.first_delay() <= wait && wait <= high,
                "{wait:?} outside [{:?}, {high:?}]",
                policy.first_delay()
            );
            previous = wait;
        }
    }
}

#[test]
fn factor_one_waits_the_same_every_time() {
    let policy = RetryPolicy::new()
        .attempts(50)
        .factor(1.0)
        .delay(MS * 250)
        .jitter(Jitter::None);
    assert!(Backoff::new(&policy).all(|wait| wait == MS * 250));
}

#[test]
fn waits_are_capped_at_max_delay() {
    let policy = RetryPolicy::new()
        .attempts(40)
        .max_delay(Duration::from_secs(3))
        .jitter(Jitter::None);
    let waits: Vec<Duration> = Backoff::new(&policy).collect();
    assert_eq!(waits.len(), 39, "one wait between each two attempts");
    assert_eq!(*waits.last().unwrap(), Duration::from_secs(3));
    assert!(waits.iter().all(|w| *w <= Duration::from_secs(3)));
}

#[test]
fn huge_attempt_counts_do_not_overflow() {
    for jitter in [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ] {
        for max_delay in [Duration::from_secs(10), Duration::MAX] {
            let policy = RetryPolicy::new()
                .attempts(u32::MAX)
                .factor(10.0)
                .max_delay(max_delay)
                .jitter(jitter);
            let mut backoff = Backoff::with_rng(&policy, SmallRng::seed_from_u64(1));
            for _ in 0..5_000 {
                let wait = backoff.next().expect("attempts left");
                assert!(wait <= max_delay);
            }
        }
    }
}

#[test]
fn one_attempt_means_no_waits() {
    let policy = RetryPolicy::new().attempts(1);
    assert_eq!(Backoff::new(&policy).next(), None);
}

#[test]
fn backoff_is_send() {
    fn check<T: Send>() {}
    check::<Backoff>();
    check::<failfast_runtime::Retry>();
}

/// Pins `seed_jitter`: after it, `Backoff::new` on this thread draws from the seeded
/// sequence, so the same seed gives the same waits (again from the start on a second
/// call) and another seed gives others.
#[test]
fn seed_jitter_makes_backoff_new_reproducible() {
    let policy = policy(Jitter::Full);
    let runs = || {
        (0..20)
            .map(|_| Backoff::new(&policy).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    };
    failfast_runtime::seed_jitter(7);
    let first = runs();
    failfast_runtime::seed_jitter(7);
    assert_eq!(runs(), first);
    failfast_runtime::seed_jitter(8);
    assert_ne!(runs(), first);
}
