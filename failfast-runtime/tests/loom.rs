//! Model checks of the lock-free pieces with loom: every interleaving (up to the
//! preemption bound) of a few threads, on the real code with its atomics and locks swapped
//! for loom's (see `src/sync.rs`).
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test -p failfast-runtime --release --target-dir target/loom --test loom
//! ```
//!
//! What runs as it ships: the spell word, the striped counters with their per-thread
//! index, the breaker's admission, settling, transitions and delivery to listeners, the
//! consecutive and window policies, a budget's bucket and deposits. What does not: the
//! clock (tokio's `Instant`, and on Linux the kernel's coarse clock through libc) reads the
//! real time, which loom cannot control; so every breaker here has a zero `reset` (open
//! time and probe timeout are then decided the same way in every execution) and every
//! budget a floor that cannot refill a whole token while a model runs. The stripe a thread
//! takes comes from a per-execution counter instead of the process-wide free list (loom
//! objects live for one execution), and threads give none back.
//!
//! Without `--cfg loom` this file is empty.
#![cfg(loom)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failfast_runtime::loom_hooks::{self, Counter, SHARED, SpellWord};
use failfast_runtime::{
    Breaker, BreakerConfig, Budget, Error, Permit, Reason, State, Transition, Window,
};
use loom::thread;

/// Records every transition `breaker` delivers, in order.
fn record(breaker: &Breaker) -> Arc<Mutex<Vec<Transition>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    breaker.subscribe(move |t| log.lock().unwrap().push(t.clone()));
    seen
}

/// The delivered transitions form one chain from Closed to the breaker's state, one per
/// spell: none lost, none delivered twice, none out of order.
fn assert_chain(breaker: &Breaker, seen: &[Transition]) {
    let mut state = State::Closed;
    for t in seen {
        assert_eq!(t.from, state, "broken chain in {seen:?}");
        assert_ne!(t.from, t.to, "a transition to the same state in {seen:?}");
        state = t.to;
    }
    assert_eq!(breaker.state(), state, "{seen:?}");
    assert_eq!(
        loom_hooks::generation(breaker),
        seen.len() as u64,
        "one delivery per spell: {seen:?}"
    );
    assert_eq!(breaker.metrics().last_transition.as_ref(), seen.last());
}

fn is_trial(permit: &Permit<'_>) -> bool {
    format!("{permit:?}").contains("trial: true")
}

/// A breaker whose open time and probe timeout do not depend on the clock.
fn breaker(config: BreakerConfig) -> Arc<Breaker> {
    Arc::new(Breaker::new("loom", config.reset(Duration::ZERO)))
}

/// Two threads report a failure that opens the breaker: the closed spell ends once,
/// whoever wins.
fn racing_failures_open_once(config: BreakerConfig, reason: Reason) {
    static SAME_SPELL: AtomicUsize = AtomicUsize::new(0);
    loom::model(move || {
        let b = breaker(config);
        let seen = record(&b);
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || match b.acquire() {
                    Ok(permit) => {
                        permit.failure();
                        true
                    }
                    Err(Error::Open { .. }) => false,
                    Err(other) => panic!("{other:?}"),
                })
            })
            .collect();
        let ran: usize = handles
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum();
        let seen = seen.lock().unwrap();
        assert_chain(&b, &seen);
        let edges: Vec<_> = seen.iter().map(|t| (t.from, t.to, t.reason)).collect();
        // The zero reset lets the later caller through as a trial if the breaker has
        // opened by then, so both calls run and fail.
        assert_eq!(ran, 2);
        let m = b.metrics();
        assert_eq!((m.calls, m.failures, m.rejections), (2, 2, 0));
        assert_eq!(edges[0], (State::Closed, State::Open, reason), "{edges:?}");
        match edges.len() {
            // Both permits of the closed spell: the second failure is from a spell that
            // is over, and changes nothing.
            1 => {
                assert_eq!(b.state(), State::Open);
                SAME_SPELL.fetch_add(1, SeqCst);
            }
            // The second caller came after the breaker opened: its trial failed.
            3 => assert_eq!(
                edges[1..],
                [
                    (State::Open, State::HalfOpen, Reason::ResetElapsed),
                    (State::HalfOpen, State::Open, Reason::ProbeFailed)
                ]
            ),
            _ => panic!("{edges:?}"),
        }
    });
    assert!(
        SAME_SPELL.load(SeqCst) > 0,
        "some execution let both calls run in the closed spell"
    );
}

#[test]
fn racing_failures_open_a_consecutive_breaker_once() {
    racing_failures_open_once(BreakerConfig::new().failures(1), Reason::Failures);
}

#[test]
fn racing_failures_open_a_window_breaker_once() {
    let config = BreakerConfig::new()
        .failure_rate(0.5)
        .window(Window::Calls(2))
        .min_calls(1);
    racing_failures_open_once(config, Reason::FailureRate);
}

/// Manual changes and a failure from three threads: the listener hears each transition
/// once, in order, whichever thread made it and whichever delivered it.
#[test]
fn transitions_from_racing_threads_are_delivered_once_in_order() {
    loom::model(|| {
        let b = breaker(BreakerConfig::new().failures(1));
        let seen = record(&b);
        let opener = {
            let b = b.clone();
            thread::spawn(move || b.force_open())
        };
        let resetter = {
            let b = b.clone();
            thread::spawn(move || b.reset())
        };
        let failing = {
            let b = b.clone();
            thread::spawn(move || {
                if let Ok(permit) = b.acquire() {
                    permit.failure();
                }
            })
        };
        for handle in [opener, resetter, failing] {
            handle.join().unwrap();
        }
        assert_chain(&b, &seen.lock().unwrap());
    });
}

/// One thread delivers its transition while another queues the next: the second is left
/// to the first, which must look again after it lets go of delivering, or it is lost.
#[test]
fn a_transition_queued_during_a_delivery_is_delivered() {
    loom::model(|| {
        let b = breaker(BreakerConfig::new());
        let seen = record(&b);
        let opener = {
            let b = b.clone();
            thread::spawn(move || b.force_open())
        };
        let resetter = {
            let b = b.clone();
            thread::spawn(move || b.reset())
        };
        opener.join().unwrap();
        resetter.join().unwrap();
        assert_chain(&b, &seen.lock().unwrap());
    });
}

/// The main thread holds `probes - 1` trials of a half-open spell; two threads race for
/// the last slot, and report success: exactly one gets a trial, never a trial too many
/// (a slot is given back only by a cancelled trial, and none is cancelled here); the
/// spell closes when all `probes` trials have succeeded, and not before.
fn never_more_than_probes_trials(probes: u32) {
    loom::model(move || {
        let b = breaker(BreakerConfig::new().failures(1).probes(probes));
        b.acquire().unwrap().failure();
        assert_eq!(b.state(), State::Open);
        let held: Vec<_> = (1..probes).map(|_| b.acquire().unwrap()).collect();
        assert!(held.iter().all(is_trial));
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || match b.acquire() {
                    Ok(permit) => {
                        let trial = is_trial(&permit);
                        permit.success();
                        usize::from(trial)
                    }
                    Err(Error::Open { retry_after, .. }) => {
                        // Half-open with every slot taken (the zero reset cannot be
                        // running still).
                        assert_eq!(retry_after, Duration::ZERO);
                        0
                    }
                    Err(other) => panic!("{other:?}"),
                })
            })
            .collect();
        let trials: usize = racers.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(trials, 1, "the last of {probes} slots went to one racer");
        let expected = if probes == 1 {
            State::Closed
        } else {
            State::HalfOpen
        };
        assert_eq!(b.state(), expected);
        for permit in held {
            permit.success();
        }
        assert_eq!(b.state(), State::Closed);
        assert_eq!(loom_hooks::generation(&b), 3);
    });
}

#[test]
fn one_probe_lets_one_trial_through() {
    never_more_than_probes_trials(1);
}

#[test]
fn two_probes_let_two_trials_through() {
    never_more_than_probes_trials(2);
}

/// A cancelled trial gives its slot back, to a racing caller or to the next one: the
/// breaker never wedges half-open.
#[test]
fn a_cancelled_trial_frees_its_slot_for_a_racing_caller() {
    static TWO_TRIALS: AtomicBool = AtomicBool::new(false);
    loom::model(|| {
        let b = breaker(BreakerConfig::new().failures(1));
        b.acquire().unwrap().failure();
        let cancelling = {
            let b = b.clone();
            thread::spawn(move || match b.acquire() {
                Ok(permit) => {
                    let trial = is_trial(&permit);
                    drop(permit); // the call was cancelled
                    trial
                }
                Err(_) => false,
            })
        };
        let succeeding = {
            let b = b.clone();
            thread::spawn(move || match b.acquire() {
                Ok(permit) => {
                    let trial = is_trial(&permit);
                    permit.success();
                    trial
                }
                Err(_) => false,
            })
        };
        let cancelled_trial = cancelling.join().unwrap();
        if succeeding.join().unwrap() {
            assert_eq!(b.state(), State::Closed);
            if cancelled_trial {
                // Both were trials of the one-probe spell: the second came after the
                // first was cancelled.
                TWO_TRIALS.store(true, SeqCst);
            }
        } else {
            assert_eq!(b.state(), State::HalfOpen);
            let next = b.acquire().expect("the cancelled trial's slot is free");
            assert!(is_trial(&next));
            next.success();
            assert_eq!(b.state(), State::Closed);
        }
        let m = b.metrics();
        assert_eq!(m.failures, 1, "a cancelled call is no failure");
    });
    assert!(
        TWO_TRIALS.load(SeqCst),
        "some execution ran a trial after a cancelled one"
    );
}

/// Owners add to their own stripes with a plain load and store, the stripe-less threads
/// atomically to the shared one, while a reader adds the stripes up: every sum it reads
/// lies between what was counted before and what will be, never decreases, and once the
/// threads are done it is exact.
#[test]
fn striped_counts_add_up_exactly() {
    loom::model(|| {
        let counter = Arc::new(Counter::new());
        let owner = {
            let counter = counter.clone();
            thread::spawn(move || {
                counter.count();
                counter.count();
            })
        };
        let shared: Vec<_> = (0..2)
            .map(|_| {
                let counter = counter.clone();
                thread::spawn(move || counter.bump(SHARED))
            })
            .collect();
        let first = counter.sum();
        let second = counter.sum();
        assert!(first <= second && second <= 4, "{first} then {second}");
        owner.join().unwrap();
        for handle in shared {
            handle.join().unwrap();
        }
        assert_eq!(counter.sum(), 4);
        assert_eq!(counter.stripe(SHARED), 2);
    });
}

/// Why a stripe must have one owner: two threads adding to one stripe with a plain load
/// and store lose a count in some interleaving (loom finds it). Shows the model explores
/// the race the ownership rules out.
#[test]
fn two_owners_of_one_stripe_would_lose_counts() {
    static LOST: AtomicBool = AtomicBool::new(false);
    loom::model(|| {
        let counter = Arc::new(Counter::new());
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let counter = counter.clone();
                thread::spawn(move || counter.bump(0))
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        if counter.sum() < 2 {
            LOST.store(true, SeqCst);
        }
    });
    assert!(LOST.load(SeqCst), "loom should find the lost update");
}

/// Two threads race to move a spell word on from Closed, each under the lock that guards
/// the breaker's transitions: exactly one wins, the generation goes up once, and a reader
/// without the lock sees a whole spell, never a torn state/generation pair.
#[test]
fn one_of_two_racing_transitions_wins() {
    loom::model(|| {
        let word = Arc::new(SpellWord::new(false));
        let lock = Arc::new(loom::sync::Mutex::new(()));
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let (word, lock) = (word.clone(), lock.clone());
                thread::spawn(move || {
                    let _locked = lock.lock().unwrap();
                    let spell = word.load();
                    if spell.0 != State::Closed {
                        return false;
                    }
                    word.publish_next(spell, State::Open);
                    true
                })
            })
            .collect();
        match word.load() {
            (State::Closed, 0) => assert_eq!(word.closed_generation(), Some(0)),
            (State::Open, 1) => assert_eq!(word.closed_generation(), None),
            other => panic!("torn or doubled spell {other:?}"),
        }
        let winners = racers
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&won| won)
            .count();
        assert_eq!(winners, 1);
        assert_eq!(word.load(), (State::Open, 1));
    });
}

/// What the breaker writes before it publishes a spell (the open-until time, the trial
/// count reset to zero) is seen by every reader that sees the spell: the spell's store is
/// a Release, its load an Acquire. (With a Relaxed load this fails.)
#[test]
fn a_spell_carries_what_was_written_before_it() {
    loom::model(|| {
        let word = Arc::new(SpellWord::new(true));
        let open_until = Arc::new(loom::sync::atomic::AtomicU64::new(0));
        let writer = {
            let (word, open_until) = (word.clone(), open_until.clone());
            thread::spawn(move || {
                open_until.store(42, std::sync::atomic::Ordering::Relaxed);
                word.publish_next((State::Closed, 0), State::Open);
            })
        };
        if word.load() == (State::Open, 1) {
            assert_eq!(open_until.load(std::sync::atomic::Ordering::Relaxed), 42);
        }
        writer.join().unwrap();
    });
}

/// A budget's deposits (striped, lock-free) and withdrawals (under its lock) race, with a
/// reader: no retry is granted without a token, the tokens never go negative (they would
/// wrap to a huge number) nor above what the floor and the deposits allow, and once the
/// threads are done the books balance exactly.
fn budget_never_overdraws(min_per_sec: u32) {
    loom::model(move || {
        let budget = Budget::new(0.5, min_per_sec);
        let floor = f64::from(min_per_sec);
        let depositor = {
            let budget = budget.clone();
            thread::spawn(move || {
                budget.deposit();
                budget.deposit();
            })
        };
        let withdrawer = {
            let budget = budget.clone();
            thread::spawn(move || {
                (0..2)
                    .map(|_| usize::from(budget.try_withdraw()))
                    .sum::<usize>()
            })
        };
        // Two deposits of 0.5 make one token; the floor holds at most `min_per_sec`.
        let ceiling = floor + 1.0;
        let available = budget.available();
        assert!((0.0..=ceiling).contains(&available), "{available}");
        depositor.join().unwrap();
        let granted = withdrawer.join().unwrap() as f64;
        assert!(granted <= ceiling, "{granted} retries granted of {ceiling}");
        let left = budget.available();
        assert!((0.0..=ceiling).contains(&left), "{left}");
        // The floor refills by a few millionths of a token while a model runs: never a
        // whole retry, so only the books of the deposits are exact.
        assert!(
            (left - (ceiling - granted)).abs() < 0.5,
            "{left} left after {granted} granted of {ceiling}"
        );
        assert_eq!(budget.exhausted(), 2 - granted as u64);
    });
}

#[test]
fn a_budget_without_a_floor_never_overdraws() {
    budget_never_overdraws(0);
}

#[test]
fn a_budget_with_a_floor_never_overdraws() {
    budget_never_overdraws(1);
}
