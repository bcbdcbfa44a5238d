//! Retry budgets: the token arithmetic under a paused clock, run-time reconfiguration,
//! the registry's named and default budgets, retries stopping on an empty budget, and the
//! issue's scenario: three stacked retry layers against a dead dependency.
//!
//! Only `the_default_budget_is_shared_by_every_retry` touches the process-wide default
//! budget; every other test makes its own budgets, so they cannot disturb each other.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use failfast_runtime::{Budget, Jitter, Registry, Retry, RetryPolicy, registry, retry};
use tokio::time::{Instant, advance, sleep};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

fn deposit(budget: &Budget, n: u32) {
    for _ in 0..n {
        budget.deposit();
    }
}

/// Withdraws until refused; returns how many were granted.
fn drain(budget: &Budget) -> u32 {
    let mut granted = 0;
    while budget.try_withdraw() {
        granted += 1;
    }
    granted
}

#[tokio::test(start_paused = true)]
async fn each_first_attempt_deposits_ratio_and_each_retry_spends_one() {
    let budget = Budget::new(0.1, 0);
    assert_eq!(budget.available(), 0.0);
    deposit(&budget, 9);
    assert_eq!(budget.available(), 0.9);
    assert!(!budget.try_withdraw(), "0.9 is less than one token");
    assert_eq!(budget.exhausted(), 1);
    budget.deposit();
    assert_eq!(budget.available(), 1.0);
    assert!(budget.try_withdraw());
    assert_eq!(budget.available(), 0.0);
    deposit(&budget, 25);
    assert_eq!(budget.available(), 2.5);
    assert_eq!(drain(&budget), 2);
    assert_eq!(budget.available(), 0.5, "the fraction stays");
    assert_eq!(budget.exhausted(), 2);
    // Deposits do not depend on time: an hour later the half token is still there.
    advance(SEC * 3600).await;
    assert_eq!(budget.available(), 0.5);
}

#[tokio::test(start_paused = true)]
async fn the_floor_refills_min_per_sec_up_to_one_seconds_burst() {
    let budget = Budget::new(0.1, 4);
    assert_eq!(budget.available(), 4.0, "starts with a full second");
    assert_eq!(drain(&budget), 4);
    assert_eq!(budget.exhausted(), 1);
    advance(MS * 100).await;
    assert_eq!(budget.available(), 0.4);
    assert!(!budget.try_withdraw());
    advance(MS * 150).await;
    assert_eq!(
        budget.available(),
        1.0,
        "4 per second: one token every 250ms"
    );
    assert!(budget.try_withdraw());
    advance(MS * 999).await;
    assert_eq!(budget.available(), 3.996);
    advance(SEC * 60).await;
    assert_eq!(budget.available(), 4.0, "the burst is one second's worth");
    assert_eq!(drain(&budget), 4);
    // The refill is exact to the nanosecond.
    advance(Duration::from_nanos(250_000_001)).await;
    assert!(budget.try_withdraw());
    assert_eq!(budget.available(), 0.000_000_004);
}

#[tokio::test(start_paused = true)]
async fn a_retry_spends_the_bank_first_then_the_floor() {
    let budget = Budget::new(0.5, 1);
    budget.deposit();
    assert_eq!(budget.available(), 1.5);
    assert!(
        budget.try_withdraw(),
        "0.5 from the bank, 0.5 from the floor"
    );
    assert_eq!(budget.available(), 0.5);
    assert!(!budget.try_withdraw());
    // Only the floor refills with time, and only up to its burst: the bank is empty.
    advance(SEC * 10).await;
    assert_eq!(budget.available(), 1.0);
}

#[tokio::test(start_paused = true)]
async fn the_bank_is_capped_at_a_thousand_first_attempts_worth() {
    let budget = Budget::new(0.1, 0);
    // A long healthy period: a million first attempts, no retry.
    deposit(&budget, 1_000_000);
    assert_eq!(budget.available(), 100.0, "0.1 x 1000");
    assert_eq!(drain(&budget), 100);
    // The cap holds the bank, not the flow: deposits keep funding retries.
    deposit(&budget, 30);
    assert_eq!(drain(&budget), 3);
    // The cap applies between withdrawals too: 1500 deposits in one go bank 100.
    deposit(&budget, 1_500);
    assert_eq!(budget.available(), 100.0);
    assert_eq!(Budget::BANKED_DEPOSITS, 1000);
}

#[tokio::test(start_paused = true)]
async fn set_ratio_applies_to_later_deposits_and_trims_the_bank() {
    let budget = Budget::new(0.1, 0);
    deposit(&budget, 5); // 0.5 at the old ratio, though not yet credited
    budget.set_ratio(0.25);
    assert_eq!(budget.ratio(), 0.25);
    deposit(&budget, 2); // 0.5 at the new ratio
    assert_eq!(budget.available(), 1.0);
    deposit(&budget, 4_000);
    assert_eq!(budget.available(), 250.0, "the cap follows the ratio");
    budget.set_ratio(0.01);
    assert_eq!(budget.available(), 10.0, "trimmed to the new cap");
    budget.set_ratio(0.0);
    deposit(&budget, 1_000);
    assert_eq!(
        budget.available(),
        0.0,
        "ratio 0: retries only on the floor"
    );
}

#[tokio::test(start_paused = true)]
async fn set_min_per_sec_refills_at_the_old_rate_up_to_now_then_the_new() {
    let budget = Budget::new(0.1, 10);
    assert_eq!(drain(&budget), 10);
    advance(MS * 200).await; // 2 tokens at 10/s
    budget.set_min_per_sec(100);
    assert_eq!(budget.min_per_sec(), 100);
    assert_eq!(budget.available(), 2.0);
    advance(MS * 200).await; // 20 more at 100/s
    assert_eq!(budget.available(), 22.0);
    advance(SEC).await;
    assert_eq!(budget.available(), 100.0);
    budget.set_min_per_sec(3);
    assert_eq!(budget.available(), 3.0, "trimmed to the new burst");
    budget.set_min_per_sec(0);
    assert_eq!(budget.available(), 0.0);
    advance(SEC * 10).await;
    assert!(!budget.try_withdraw(), "no floor, no deposits");
}

#[test]
#[should_panic(expected = "ratio must be a finite number >= 0")]
fn a_negative_ratio_is_refused() {
    Budget::new(0.1, 0).set_ratio(-0.5);
}

#[test]
fn named_budgets_are_shared_by_name_and_configurable_at_run_time() {
    let reg = Registry::new();
    let a = reg.budget("search");
    let b = reg.budget("search");
    assert!(a.same(&b));
    assert!(!a.same(&reg.budget("payments")));
    assert_eq!((a.name(), a.ratio(), a.min_per_sec()), ("search", 0.1, 10));
    reg.budget("search").set_ratio(0.5);
    reg.budget("search").set_min_per_sec(0);
    assert_eq!((a.ratio(), a.min_per_sec()), (0.5, 0));
    // One bucket: b's deposits fund a's retries, and the refusals are counted once.
    deposit(&b, 2);
    assert!(a.try_withdraw());
    assert!(!b.try_withdraw());
    assert_eq!((a.exhausted(), b.exhausted()), (1, 1));
}

#[test]
fn the_registry_lists_its_budgets_and_default_is_the_default_budget() {
    let reg = Registry::new();
    assert!(reg.budgets().is_empty(), "nothing made until asked for");
    let default = reg.budget("default");
    assert!(default.same(&reg.default_budget()));
    assert_eq!((default.ratio(), default.min_per_sec()), (0.2, 10));
    reg.budget("zeta");
    reg.budget("alpha");
    let names: Vec<String> = reg.budgets().iter().map(|b| b.name().into()).collect();
    assert_eq!(names, ["alpha", "default", "zeta"]);
    // Each registry has its own.
    assert!(!default.same(&Registry::new().default_budget()));
    assert_eq!(Budget::new(0.1, 0).name(), "standalone");
}

fn no_jitter(attempts: u32) -> RetryPolicy {
    RetryPolicy::new()
        .attempts(attempts)
        .delay(MS * 10)
        .factor(1.0)
        .jitter(Jitter::None)
}

/// A failing call: its error says which call it was.
fn failing(calls: &mut u32) -> Result<(), u32> {
    *calls += 1;
    Err(*calls)
}

#[test]
fn the_default_budget_is_shared_by_every_retry() {
    let default = registry().default_budget();
    assert!(default.same(&registry().budget("default")));
    assert_eq!((default.ratio(), default.min_per_sec()), (0.2, 10));
    // Start from nothing: no floor, the bank drained.
    default.set_min_per_sec(0);
    drain(&default);
    let refused = default.exhausted();
    assert_eq!(default.available(), 0.0);

    // A retried call that succeeds at once deposits 0.2 into the default budget.
    for _ in 0..5 {
        let mut stepper = Retry::new(&no_jitter(3));
        assert_eq!(
            stepper.next(&Ok::<_, ()>(()), false, |_| true, |_, _| {}),
            None
        );
    }
    assert_eq!(default.available(), 1.0);

    // `retry` draws from it too: the first attempt deposits 0.2 (1.2), one retry spends
    // a token (0.2), the second retry is refused and the last error returned.
    let mut calls = 0;
    assert_eq!(retry(&no_jitter(5), || failing(&mut calls)), Err(2));
    assert_eq!(default.exhausted(), refused + 1);
    assert_eq!(default.available(), 0.2);

    // Opting out: the policy alone decides, and nothing is deposited.
    let mut calls = 0;
    let policy = no_jitter(5).delay(Duration::ZERO);
    let mut stepper = Retry::new(&policy).budget(None);
    let result = loop {
        let result = failing(&mut calls);
        if stepper.next(&result, false, |_| true, |_, _| {}).is_none() {
            break result;
        }
    };
    assert_eq!(result, Err(5));
    assert_eq!(default.available(), 0.2);
    assert_eq!(default.exhausted(), refused + 1);

    // A loop naming the default budget (`budget = "default"`) inside one that draws from
    // it without naming it is on the same budget: one deposit for the request, not two.
    // And the other way round.
    let named = || Some(registry().budget("default"));
    for (outer, inner) in [(None, named()), (named(), None)] {
        let stepper = |budget: Option<Budget>| match budget {
            Some(budget) => Retry::new(&no_jitter(3)).budget(Some(budget)),
            None => Retry::new(&no_jitter(3)),
        };
        let before = default.available();
        let mut outer = stepper(outer);
        let result: Result<(), ()> = outer.scope(|| {
            let mut inner = stepper(inner);
            inner.next(&Ok::<(), ()>(()), false, |_| true, |_, _| {});
            Ok(())
        });
        outer.next(&result, false, |_| true, |_, _| {});
        let deposited = default.available() - before;
        assert!(
            (deposited - 0.2).abs() < 1e-9,
            "one deposit, not {deposited}"
        );
    }

    default.set_min_per_sec(10);
}

/// A retried call that succeeds at once, drawing from `budget` (`None`: no budget), whose
/// one attempt runs `inside` in the stepper's scope.
fn succeed_around(budget: Option<&Budget>, inside: impl FnOnce()) {
    let mut stepper = Retry::new(&no_jitter(3)).budget(budget.cloned());
    let result: Result<(), ()> = stepper.scope(|| {
        inside();
        Ok(())
    });
    assert_eq!(stepper.next(&result, false, |_| true, |_, _| {}), None);
}

#[test]
fn a_loop_deposits_nothing_inside_a_loop_on_its_budget_at_any_depth() {
    let (a, b) = (Budget::new(1.0, 0), Budget::new(1.0, 0));
    // A, then B inside it, then A inside that: the request was paid into A and into B
    // once each (the model test found the innermost A depositing a second time).
    succeed_around(Some(&a), || {
        succeed_around(Some(&b), || succeed_around(Some(&a), || {}));
    });
    assert_eq!((a.available(), b.available()), (1.0, 1.0));
    // A loop without a budget in between changes nothing either.
    succeed_around(Some(&a), || {
        succeed_around(None, || succeed_around(Some(&a), || {}));
    });
    assert_eq!(a.available(), 2.0);
    // Once the outer loop is over, a loop on A deposits again, and so does B's inside a
    // loop on A only: nothing stays in scope.
    succeed_around(Some(&a), || {});
    succeed_around(Some(&a), || succeed_around(Some(&b), || {}));
    assert_eq!((a.available(), b.available()), (4.0, 2.0));
}

#[tokio::test]
async fn an_async_loop_deposits_nothing_inside_a_loop_on_its_budget_at_any_depth() {
    let (a, b) = (Budget::new(1.0, 0), Budget::new(1.0, 0));
    let stepper = |budget: Option<&Budget>| Retry::new(&no_jitter(3)).budget(budget.cloned());
    let (outer, middle) = (stepper(Some(&a)), stepper(Some(&b)));
    let mut inner = stepper(Some(&a));
    let result: Result<(), ()> = outer
        .scope_async(middle.scope_async(async {
            tokio::task::yield_now().await; // the scopes hold across polls
            inner.next(&Ok::<(), ()>(()), false, |_| true, |_, _| {});
            Ok(())
        }))
        .await;
    let (mut outer, mut middle) = (outer, middle);
    middle.next(&result, false, |_| true, |_, _| {});
    outer.next(&result, false, |_| true, |_, _| {});
    assert_eq!((a.available(), b.available()), (1.0, 1.0));
}

/// Runs `op` under a stepper drawing from `budget`, sleeping on tokio's clock; counts the
/// first attempts and the retries.
async fn with_retry<F: Future<Output = Result<(), u32>>>(
    policy: &RetryPolicy,
    budget: &Option<Budget>,
    counts: &Counts,
    mut op: impl FnMut() -> F,
) -> Result<(), u32> {
    let mut stepper = Retry::new(policy).budget(budget.clone());
    counts.first_attempts.fetch_add(1, Relaxed);
    loop {
        let result = op().await;
        match stepper.next(&result, false, |_| true, |_, _| {}) {
            Some(wait) => {
                counts.retries.fetch_add(1, Relaxed);
                sleep(wait).await;
            }
            None => return result,
        }
    }
}

#[derive(Default)]
struct Counts {
    /// Calls that reached the dependency.
    calls: AtomicU64,
    /// Retry loops entered (each deposits once), all layers.
    first_attempts: AtomicU64,
    /// Retries granted, all layers.
    retries: AtomicU64,
}

#[tokio::test(start_paused = true)]
async fn a_retry_stops_when_the_budget_is_empty_and_returns_the_last_error() {
    let budget = Budget::new(0.1, 2);
    let counts = Counts::default();
    let mut calls = 0;
    let result = with_retry(&no_jitter(10), &Some(budget.clone()), &counts, || {
        let result = failing(&mut calls);
        async move { result }
    })
    .await;
    // 0.1 deposited, the floor's 2, and 0.04 refilled in the 20ms of waits: two
    // retries (the first spends the bank's 0.1 and 0.9 of the floor), then refused.
    assert_eq!(result, Err(3), "the third call's error");
    assert_eq!(budget.exhausted(), 1);
    assert_eq!(budget.available(), 0.14);
    assert_eq!(counts.retries.load(Relaxed), 2);
}

#[tokio::test(start_paused = true)]
async fn retries_naming_one_budget_share_it() {
    let reg = Registry::new();
    reg.budget("inventory").set_min_per_sec(3);
    let counts = Counts::default();
    let named = Some(reg.budget("inventory"));
    let (mut a, mut b) = (0, 0);
    let policy = no_jitter(3);
    // One fn spends two of the three tokens, the other gets the last one.
    let first = with_retry(&policy, &named, &counts, || {
        let result = failing(&mut a);
        async move { result }
    });
    let second = with_retry(&policy, &named, &counts, || {
        let result = failing(&mut b);
        async move { result }
    });
    let (first, second) = tokio::join!(first, second);
    assert_eq!(counts.retries.load(Relaxed), 3);
    assert_eq!(a + b, 5, "two first attempts, three retries");
    assert_eq!((first, second), (Err(a), Err(b)));
    assert_eq!(reg.budget("inventory").exhausted(), 1);
}

/// The issue's scenario: every request goes through three stacked retry layers of 4
/// attempts each, down to a dependency that is dead.
async fn request(policy: RetryPolicy, budget: Option<Budget>, counts: Arc<Counts>) {
    let (b, c) = (&budget, &*counts);
    let dead = || {
        c.calls.fetch_add(1, Relaxed);
        async { Err(0) }
    };
    let result = with_retry(&policy, b, c, || {
        with_retry(&policy, b, c, || with_retry(&policy, b, c, dead))
    })
    .await;
    assert_eq!(result, Err(0));
}

/// Sends `rate` requests per second for `secs` seconds through [`request`], all
/// concurrently on the paused clock; returns the counts once every request is done.
async fn load(budget: Option<Budget>, rate: u64, secs: u64) -> Counts {
    let policy = RetryPolicy::new()
        .attempts(4)
        .delay(MS * 10)
        .jitter(Jitter::None);
    let counts = Arc::new(Counts::default());
    let mut requests = Vec::new();
    for _ in 0..rate * secs {
        requests.push(tokio::spawn(request(
            policy,
            budget.clone(),
            counts.clone(),
        )));
        sleep(SEC / rate as u32).await;
    }
    for r in requests {
        r.await.unwrap();
    }
    Arc::into_inner(counts).unwrap()
}

#[tokio::test(start_paused = true)]
async fn stacked_retries_without_a_budget_multiply_the_load_by_64() {
    let counts = load(None, 20, 10).await;
    assert_eq!(
        counts.calls.load(Relaxed),
        200 * 64,
        "4 x 4 x 4 per request"
    );
}

#[tokio::test(start_paused = true)]
async fn a_shared_budget_keeps_stacked_retries_within_its_ratio() {
    // 20 requests a second for 100 seconds; no floor, so the ratio alone decides.
    let budget = Budget::new(0.1, 0);
    let counts = load(Some(budget.clone()), 20, 100).await;
    let requests = 2_000;
    let calls = counts.calls.load(Relaxed);
    let retries = counts.retries.load(Relaxed);
    let first_attempts = counts.first_attempts.load(Relaxed);
    assert_eq!(
        calls,
        requests + retries,
        "every retry reaching the dependency"
    );
    // The budget's promise: retries <= 0.1 x first attempts (every layer deposits).
    assert!(
        10 * retries <= first_attempts,
        "{retries} retries for {first_attempts}"
    );
    // Per request: at least 3 first attempts (one per layer) deposit 0.3; an outer
    // retry adds 2 more, a middle one 1. So r retries per request satisfy
    // r <= 0.1 x (3 + 2r) at worst: r <= 0.375, i.e. at most 1.375 calls per request
    // instead of 64. (Here the middle layer wins most tokens, as a layer deposits when
    // its first attempt ends: r = 0.1 x (3 + r), 1.333 calls per request.)
    let per_request = calls as f64 / requests as f64;
    assert!(per_request <= 1.375, "{per_request} calls per request");
    assert!(
        per_request >= 1.3,
        "{per_request}: the budget's tokens are spent"
    );
    assert!(
        budget.available() < 1.0,
        "dead dependency: every whole token spent"
    );
}

#[tokio::test(start_paused = true)]
async fn the_floor_adds_at_most_min_per_sec_retries_per_second() {
    // The registry's defaults for a named budget: ratio 0.1, a floor of 10 per second.
    let budget = Registry::new().budget("stacked");
    let start = Instant::now();
    let counts = load(Some(budget.clone()), 20, 100).await;
    let elapsed = start.elapsed().as_secs_f64();
    let retries = counts.retries.load(Relaxed) as f64;
    let first_attempts = counts.first_attempts.load(Relaxed) as f64;
    let floor = 10.0 * (elapsed + 1.0);
    assert!(
        retries <= 0.1 * first_attempts + floor,
        "{retries} retries: more than 0.1 x {first_attempts} + {floor}"
    );
    // About 1 + 0.1 x 5 first attempts + 10/20 from the floor: far from 64.
    let per_request = counts.calls.load(Relaxed) as f64 / 2_000.0;
    assert!(per_request < 2.1, "{per_request} calls per request");
    assert!(
        retries >= 0.1 * first_attempts,
        "the floor adds retries: {retries}"
    );
}

/// Pins `Budget::id` (what a retry loop compares with the enclosing loop's budget): a loop
/// on one named budget inside a loop on another, or inside a loop on the default budget,
/// deposits into its own; only a loop on the same budget as its enclosing one skips.
#[test]
fn a_loop_inside_a_loop_on_another_budget_deposits_into_its_own() {
    let (outer_budget, inner_budget) = (Budget::new(1.0, 0), Budget::new(1.0, 0));
    let inner_attempt = || {
        let mut inner = Retry::new(&RetryPolicy::new()).budget(Some(inner_budget.clone()));
        inner.next(&Ok::<(), ()>(()), false, |_| true, |_, _| {});
    };
    let outer = Retry::new(&RetryPolicy::new()).budget(Some(outer_budget.clone()));
    outer.scope(inner_attempt);
    assert_eq!(
        inner_budget.available(),
        1.0,
        "inside another named budget's loop"
    );
    let on_default = Retry::new(&RetryPolicy::new());
    on_default.scope(inner_attempt);
    assert_eq!(
        inner_budget.available(),
        2.0,
        "inside the default budget's loop"
    );
    let same = Retry::new(&RetryPolicy::new()).budget(Some(inner_budget.clone()));
    same.scope(inner_attempt);
    assert_eq!(
        inner_budget.available(),
        2.0,
        "inside its own budget's loop: no deposit"
    );
    assert_eq!(
        outer_budget.available(),
        0.0,
        "scope alone deposits nothing"
    );
}

/// Pins `process_default_if_made`: the process-wide registry lists the default budget,
/// as the same bucket, once it is made.
#[test]
fn the_process_registry_lists_the_default_budget_once_made() {
    let default = registry().default_budget();
    let listed = registry().budgets();
    let found: Vec<&Budget> = listed.iter().filter(|b| b.name() == "default").collect();
    assert_eq!(found.len(), 1);
    assert!(found[0].same(&default));
}

/// Pins `Debug for Budget`: the name, the ratio in tokens (not billionths), the floor and
/// the refusals.
#[test]
fn debug_shows_the_name_ratio_floor_and_refusals() {
    let budget = Budget::new(0.25, 0);
    assert!(!budget.try_withdraw());
    assert_eq!(
        format!("{budget:?}"),
        r#"Budget { name: "standalone", ratio: 0.25, min_per_sec: 0, exhausted: 1, .. }"#
    );
}
