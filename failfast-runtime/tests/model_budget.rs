//! Model-based property tests of retry budgets (`Budget`): random sequences of deposits,
//! withdrawals, clock advances and reconfigurations against a reference model of the
//! token bucket written here from `Budget`'s documentation, exact to the billionth of a
//! token under tokio's paused clock; and random trees of nested retry loops (a retried fn
//! calling other retried fns, on the same budget, on another, or on none), where only the
//! outermost loop on a budget deposits into it, at any depth.
//!
//! Budgets here are standalone (`Budget::new`): the process-wide default budget is shared
//! by every test of the binary, so no property touches it.

mod model_support;

use std::time::Duration;

use failfast_runtime::{Budget, Jitter, Retry, RetryPolicy};
use proptest::prelude::*;
use tokio::time::advance;

/// Billionths of a token in one token (the budget's own unit, exact).
const TOKEN: u64 = 1_000_000_000;

/// The token bucket as `Budget`'s documentation tells it.
#[derive(Debug, Clone)]
struct Model {
    /// Billionths of a token per deposit.
    ratio: u64,
    min_per_sec: u64,
    /// Deposits not credited yet (credited at the ratio in force when the budget next
    /// settles: a withdrawal, a read, a reconfiguration).
    pending: u64,
    bank: u64,
    floor: u64,
    /// Nanoseconds (since the budget was made) up to which the floor is refilled.
    refilled: u64,
    exhausted: u64,
    granted: u64,
    deposits: u64,
}

impl Model {
    fn new(ratio: u64, min_per_sec: u64) -> Model {
        Model {
            ratio,
            min_per_sec,
            pending: 0,
            bank: 0,
            floor: min_per_sec * TOKEN,
            refilled: 0,
            exhausted: 0,
            granted: 0,
            deposits: 0,
        }
    }

    fn bank_cap(&self) -> u64 {
        self.ratio.saturating_mul(Budget::BANKED_DEPOSITS)
    }

    fn floor_cap(&self) -> u64 {
        self.min_per_sec * TOKEN
    }

    fn deposit(&mut self, n: u64) {
        self.pending += n;
        self.deposits += n;
    }

    /// Credits the pending deposits and refills the floor up to `now`.
    fn settle(&mut self, now: u64) {
        let credit = self.pending.saturating_mul(self.ratio);
        self.bank = self.bank.saturating_add(credit).min(self.bank_cap());
        self.pending = 0;
        let refill = u128::from(now - self.refilled) * u128::from(self.min_per_sec);
        let floor = (u128::from(self.floor) + refill).min(u128::from(self.floor_cap()));
        self.floor = u64::try_from(floor).unwrap();
        self.refilled = now;
    }

    fn withdraw(&mut self, now: u64) -> bool {
        self.settle(now);
        if self.bank + self.floor >= TOKEN {
            let from_bank = self.bank.min(TOKEN);
            self.bank -= from_bank;
            self.floor -= TOKEN - from_bank;
            self.granted += 1;
            true
        } else {
            self.exhausted += 1;
            false
        }
    }

    fn available(&mut self, now: u64) -> f64 {
        self.settle(now);
        (self.bank + self.floor) as f64 / TOKEN as f64
    }

    fn set_ratio(&mut self, ratio: u64, now: u64) {
        self.settle(now);
        self.ratio = ratio;
        self.bank = self.bank.min(self.bank_cap());
    }

    fn set_min_per_sec(&mut self, n: u64, now: u64) {
        self.settle(now);
        self.min_per_sec = n;
        self.floor = self.floor.min(self.floor_cap());
    }
}

/// A ratio with at most three decimals, as the f64 a user writes and as the exact
/// billionths the budget keeps.
fn ratio(thousandths: u64) -> (f64, u64) {
    (thousandths as f64 / 1000.0, thousandths * 1_000_000)
}

#[derive(Debug, Clone)]
enum Op {
    Deposit(u64),
    /// Deposits from another thread: its own counter stripe.
    DepositElsewhere(u64),
    Withdraw,
    Available,
    Advance(Duration),
    SetRatio(u64),
    SetMinPerSec(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1..=20u64).prop_map(Op::Deposit),
        1 => (1..=2000u64).prop_map(Op::Deposit),
        1 => (1..=30u64).prop_map(Op::DepositElsewhere),
        6 => Just(Op::Withdraw),
        2 => Just(Op::Available),
        2 => (1..=2_000_000_000u64).prop_map(|ns| Op::Advance(Duration::from_nanos(ns))),
        2 => (1..=400u64).prop_map(|ms| Op::Advance(Duration::from_millis(ms))),
        1 => (0..=20u64).prop_map(|n| Op::Advance(Duration::from_nanos(n))),
        1 => (0..=1500u64).prop_map(Op::SetRatio),
        1 => (0..=12u64).prop_map(Op::SetMinPerSec),
    ]
}

fn deposit(budget: &Budget, n: u64) {
    for _ in 0..n {
        budget.deposit();
    }
}

/// Runs `ops` on a budget made with `thousandths / 1000` and `min_per_sec`, and on the
/// model, comparing after every step.
fn run_ops(thousandths: u64, min_per_sec: u64, ops: &[Op]) -> Result<(), TestCaseError> {
    model_support::paused_runtime().block_on(async {
        let (r, exact) = ratio(thousandths);
        let budget = Budget::new(r, min_per_sec as u32);
        let mut model = Model::new(exact, min_per_sec);
        let mut now = 0u64;
        // Whether the ratio and the floor are still those the budget was made with: then
        // the documented bound on the retries granted holds from the start.
        let mut reconfigured = false;
        for (step, op) in ops.iter().enumerate() {
            match op {
                Op::Deposit(n) => {
                    deposit(&budget, *n);
                    model.deposit(*n);
                }
                Op::DepositElsewhere(n) => {
                    std::thread::scope(|s| {
                        s.spawn(|| deposit(&budget, *n));
                    });
                    model.deposit(*n);
                }
                Op::Withdraw => {
                    let granted = budget.try_withdraw();
                    prop_assert_eq!(granted, model.withdraw(now), "step {}: {:?}", step, op);
                }
                Op::Available => {
                    prop_assert_eq!(budget.available(), model.available(now), "step {}", step);
                }
                Op::Advance(d) => {
                    advance(*d).await;
                    now += u64::try_from(d.as_nanos()).unwrap();
                }
                Op::SetRatio(t) => {
                    let (r, exact) = ratio(*t);
                    budget.set_ratio(r);
                    model.set_ratio(exact, now);
                    prop_assert_eq!(budget.ratio(), r);
                    reconfigured = true;
                }
                Op::SetMinPerSec(n) => {
                    budget.set_min_per_sec(*n as u32);
                    model.set_min_per_sec(*n, now);
                    prop_assert_eq!(budget.min_per_sec(), *n as u32);
                    reconfigured = true;
                }
            }
            prop_assert_eq!(
                budget.exhausted(),
                model.exhausted,
                "step {}: {:?}",
                step,
                op
            );
            // Reading settles the model too, as it settles the budget.
            let available = budget.available();
            prop_assert_eq!(available, model.available(now), "step {}: {:?}", step, op);
            // Never negative (the bucket's halves are unsigned in the model, so an
            // underflow would have panicked), never above its caps.
            prop_assert!(available >= 0.0);
            prop_assert!(model.bank <= model.bank_cap() && model.floor <= model.floor_cap());
            let cap = (model.bank_cap() + model.floor_cap()) as f64 / TOKEN as f64;
            prop_assert!(available <= cap, "{} above the caps {}", available, cap);
            if !reconfigured {
                // retries <= ratio x first attempts + min_per_sec x (t + 1 s), exactly.
                let bound = u128::from(model.ratio) * u128::from(model.deposits)
                    + u128::from(model.min_per_sec) * (u128::from(now) + u128::from(TOKEN));
                prop_assert!(
                    u128::from(model.granted) * u128::from(TOKEN) <= bound,
                    "{} retries granted, over the bound",
                    model.granted
                );
            }
        }
        Ok(())
    })
}

// ---- Nested retry loops ----

/// Which budget a retry loop draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Draw {
    A,
    B,
    Unlimited,
}

/// One retried fn: its budget, its attempts, the retried fns each of its attempts calls
/// (in order), and how its attempts end (`true`: failed), cycled.
#[derive(Debug, Clone)]
struct Layer {
    draw: Draw,
    attempts: u32,
    calls: Vec<Layer>,
    fails: Vec<bool>,
}

fn layer() -> impl Strategy<Value = Layer> {
    let draw = prop_oneof![Just(Draw::A), Just(Draw::B), Just(Draw::Unlimited)];
    let leaf = (
        draw.clone(),
        1..=4u32,
        prop::collection::vec(any::<bool>(), 1..4),
    )
        .prop_map(|(draw, attempts, fails)| Layer {
            draw,
            attempts,
            calls: Vec::new(),
            fails,
        });
    leaf.prop_recursive(4, 24, 3, move |inner| {
        (
            draw.clone(),
            1..=4u32,
            prop::collection::vec(inner, 0..3),
            prop::collection::vec(any::<bool>(), 1..4),
        )
            .prop_map(|(draw, attempts, calls, fails)| Layer {
                draw,
                attempts,
                calls,
                fails,
            })
    })
}

/// What a run of a tree did: calls of each layer's fn, in the order made.
#[derive(Debug, Default, PartialEq, Eq)]
struct Trace {
    attempts: Vec<u32>,
}

fn policy(attempts: u32) -> RetryPolicy {
    RetryPolicy::new()
        .attempts(attempts)
        .delay(Duration::ZERO)
        .jitter(Jitter::None)
}

/// Runs `layer` for real: a `Retry` stepper on its budget, each attempt in the stepper's
/// scope (as the attributes, `retry` and `retry_async` run them), calling the inner
/// layers first. The waits are zero: the clock does not move.
fn run_real(layer: &Layer, budgets: &[Budget; 2], trace: &mut Trace) -> Result<(), ()> {
    let budget = match layer.draw {
        Draw::A => Some(budgets[0].clone()),
        Draw::B => Some(budgets[1].clone()),
        Draw::Unlimited => None,
    };
    let mut retry = Retry::new(&policy(layer.attempts)).budget(budget);
    let mut attempt = 0;
    loop {
        let result = retry.scope(|| {
            for inner in &layer.calls {
                let _ = run_real(inner, budgets, trace);
            }
            let failed = layer.fails[attempt % layer.fails.len()];
            if failed { Err(()) } else { Ok(()) }
        });
        attempt += 1;
        trace.attempts.push(attempt as u32);
        if retry.next(&result, false, |_| true, |_, _| {}).is_none() {
            return result;
        }
    }
}

/// The same tree run on the models: the first attempt of a loop deposits into its budget
/// when it ends, unless a loop it runs inside (at any depth) draws from that budget too;
/// a retry withdraws one token or stops.
fn run_model(
    layer: &Layer,
    models: &mut [Model; 2],
    enclosing: &mut Vec<Draw>,
    trace: &mut Trace,
) -> Result<(), ()> {
    let index = match layer.draw {
        Draw::A => Some(0),
        Draw::B => Some(1),
        Draw::Unlimited => None,
    };
    let mut attempt = 0;
    loop {
        enclosing.push(layer.draw);
        for inner in &layer.calls {
            let _ = run_model(inner, models, enclosing, trace);
        }
        enclosing.pop();
        let failed = layer.fails[attempt % layer.fails.len()];
        attempt += 1;
        trace.attempts.push(attempt as u32);
        if attempt == 1 {
            if let Some(i) = index {
                if !enclosing.contains(&layer.draw) {
                    models[i].deposit(1);
                }
            }
        }
        if !failed {
            return Ok(());
        }
        if attempt as u32 >= layer.attempts {
            return Err(());
        }
        if let Some(i) = index {
            if !models[i].withdraw(0) {
                return Err(());
            }
        }
    }
}

fn run_tree(
    roots: &[Layer],
    (ta, ma): (u64, u64),
    (tb, mb): (u64, u64),
) -> Result<(), TestCaseError> {
    model_support::paused_runtime().block_on(async {
        let budgets = [
            Budget::new(ratio(ta).0, ma as u32),
            Budget::new(ratio(tb).0, mb as u32),
        ];
        let mut models = [Model::new(ratio(ta).1, ma), Model::new(ratio(tb).1, mb)];
        for (i, root) in roots.iter().enumerate() {
            let (mut real, mut model) = (Trace::default(), Trace::default());
            let got = run_real(root, &budgets, &mut real);
            let want = run_model(root, &mut models, &mut Vec::new(), &mut model);
            prop_assert_eq!(got, want, "request {}", i);
            prop_assert_eq!(&real, &model, "request {}: attempts", i);
            for (b, (budget, model)) in budgets.iter().zip(models.iter_mut()).enumerate() {
                prop_assert_eq!(
                    budget.available(),
                    model.available(0),
                    "request {}, budget {}",
                    i,
                    b
                );
                prop_assert_eq!(
                    budget.exhausted(),
                    model.exhausted,
                    "request {}, budget {}",
                    i,
                    b
                );
            }
        }
        Ok(())
    })
}

fn budget_params() -> impl Strategy<Value = (u64, u64)> {
    (
        prop_oneof![Just(0u64), 1..=1000u64, Just(1000u64)],
        0..=3u64,
    )
}

proptest! {
    #![proptest_config(model_support::config(2000, "proptest-regressions/model_budget.txt"))]

    #[test]
    fn the_bucket_follows_its_model(
        thousandths in prop_oneof![Just(0u64), 1..=1000u64, 1000..=2000u64],
        min_per_sec in 0..=10u64,
        ops in prop::collection::vec(op(), 1..60),
    ) {
        run_ops(thousandths, min_per_sec, &ops)?;
    }

    #[test]
    fn nested_retries_deposit_once_per_request_and_budget(
        roots in prop::collection::vec(layer(), 1..6),
        a in budget_params(),
        b in budget_params(),
    ) {
        run_tree(&roots, a, b)?;
    }
}

// ---- Shrunk failures, kept as plain tests ----

/// A loop on budget A inside one on B inside one on A deposited into A a second time
/// (the innermost loop only looked at the loop right around it).
#[test]
fn a_loop_on_a_inside_b_inside_a_deposits_nothing() {
    let once = |draw, calls| Layer {
        draw,
        attempts: 1,
        calls,
        fails: vec![false],
    };
    let tree = once(Draw::A, vec![once(Draw::B, vec![once(Draw::A, vec![])])]);
    run_tree(&[tree], (1, 0), (0, 0)).unwrap();
}

/// The same through a loop without a budget: it hid the outer loop on A.
#[test]
fn a_loop_on_a_inside_an_unbudgeted_loop_inside_a_deposits_nothing() {
    let once = |draw, calls| Layer {
        draw,
        attempts: 1,
        calls,
        fails: vec![false],
    };
    let tree = once(
        Draw::A,
        vec![once(Draw::Unlimited, vec![once(Draw::A, vec![])])],
    );
    run_tree(&[tree], (1, 0), (0, 0)).unwrap();
}
