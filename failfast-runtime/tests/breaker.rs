//! The breaker's state machine, driven through every state with exact counts.
//! Time-dependent tests run on tokio's paused clock, so waits are exact and instant.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failfast_runtime::{
    Breaker, BreakerConfig, Error, Lease, Reason, SharedState, State, Store, Transition, guard,
};
use tokio::time::advance;

const RESET: Duration = Duration::from_secs(60);

fn breaker(failures: u32, probes: u32) -> Breaker {
    let config = BreakerConfig::new()
        .failures(failures)
        .reset(RESET)
        .probes(probes);
    Breaker::new("test", config)
}

fn fail(b: &Breaker) {
    b.acquire().expect("a permit").failure();
}

fn succeed(b: &Breaker) {
    b.acquire().expect("a permit").success();
}

/// The `retry_after` of a rejection; panics if the call was permitted.
fn rejected(b: &Breaker) -> Duration {
    match b.acquire() {
        Err(Error::Open { name, retry_after }) => {
            assert_eq!(&*name, b.name());
            retry_after
        }
        Err(other) => panic!("unexpected error {other:?}"),
        Ok(_) => panic!("expected a rejection"),
    }
}

/// Opens `b` (which must be closed) with `failures` failures and lets the reset elapse.
async fn open_and_wait(b: &Breaker) {
    for _ in 0..b.config().failures_threshold() {
        fail(b);
    }
    assert_eq!(b.state(), State::Open);
    advance(RESET).await;
}

fn record_transitions(b: &Breaker) -> Arc<Mutex<Vec<(State, State, Reason)>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    b.subscribe(move |t: &Transition| log.lock().unwrap().push((t.from, t.to, t.reason)));
    seen
}

#[tokio::test(start_paused = true)]
async fn full_cycle_with_exact_counts() {
    let b = breaker(3, 1);
    fail(&b);
    fail(&b);
    succeed(&b); // ends the streak
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Closed);
    fail(&b);
    assert_eq!(b.state(), State::Open);

    assert_eq!(rejected(&b), RESET);
    advance(Duration::from_secs(59)).await;
    assert_eq!(rejected(&b), Duration::from_secs(1));
    assert_eq!(b.state(), State::Open);

    advance(Duration::from_secs(1)).await;
    let trial = b.acquire().expect("the trial call");
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(rejected(&b), Duration::ZERO, "one probe only");
    trial.success();
    assert_eq!(b.state(), State::Closed);

    let m = b.metrics();
    assert_eq!(m.calls, 10);
    assert_eq!(m.successes, 2);
    assert_eq!(m.failures, 5);
    assert_eq!(m.rejections, 3);
    let last = m.last_transition.expect("a transition");
    assert_eq!((last.from, last.to), (State::HalfOpen, State::Closed));
    assert_eq!(last.reason, Reason::ProbesSucceeded);
}

#[tokio::test(start_paused = true)]
async fn failed_probe_reopens_for_a_full_reset() {
    let b = breaker(1, 1);
    open_and_wait(&b).await;
    advance(Duration::from_secs(5)).await; // the trial comes late
    let trial = b.acquire().expect("the trial call");
    advance(Duration::from_secs(2)).await; // and takes a while
    trial.failure();
    assert_eq!(b.state(), State::Open);
    assert_eq!(rejected(&b), RESET, "open for `reset` from the failure");
}

#[tokio::test(start_paused = true)]
async fn open_does_not_run_the_call() {
    let b = breaker(1, 1);
    fail(&b);
    let mut ran = false;
    let result: Result<(), Error> = b.call(|| {
        ran = true;
        Ok(())
    });
    assert!(matches!(result, Err(Error::Open { .. })));
    assert!(!ran);
    let result: Result<(), Error> = b.call_async(async { unreachable!() }).await;
    assert!(matches!(result, Err(Error::Open { .. })));
}

#[tokio::test(start_paused = true)]
async fn two_probes_run_concurrently_and_must_both_succeed() {
    let b = breaker(1, 2);
    open_and_wait(&b).await;
    let first = b.acquire().expect("first probe");
    let second = b.acquire().expect("second probe");
    assert_eq!(rejected(&b), Duration::ZERO);
    first.success();
    assert_eq!(b.state(), State::HalfOpen, "one success is not enough");
    second.success();
    assert_eq!(b.state(), State::Closed);

    // Same again, the second probe fails.
    open_and_wait(&b).await;
    let first = b.acquire().expect("first probe");
    let second = b.acquire().expect("second probe");
    first.success();
    second.failure();
    assert_eq!(b.state(), State::Open);
    assert_eq!(rejected(&b), RESET);
}

#[tokio::test(start_paused = true)]
async fn first_probe_failure_reopens_and_the_other_probe_is_ignored() {
    let b = breaker(1, 2);
    open_and_wait(&b).await;
    let first = b.acquire().expect("first probe");
    let second = b.acquire().expect("second probe");
    first.failure();
    assert_eq!(b.state(), State::Open);
    second.success(); // belongs to the spell that just ended
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn dropped_permit_gives_back_the_trial_slot() {
    let b = breaker(1, 1);
    open_and_wait(&b).await;
    let trial = b.acquire().expect("the trial call");
    rejected(&b);
    drop(trial);
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.metrics().failures, 1, "a cancellation records nothing");
    b.acquire().expect("the slot is free again").success();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn guarded_future_dropped_mid_flight_gives_back_the_trial_slot() {
    let b = breaker(1, 1);
    open_and_wait(&b).await;
    let trial = b.acquire().expect("the trial call");
    let slow = guard(trial, |_: &Error| true, async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok::<(), Error>(())
    });
    let cut_short = tokio::time::timeout(Duration::from_secs(1), slow).await;
    assert!(cut_short.is_err(), "the guarded future was dropped");
    assert_eq!(b.state(), State::HalfOpen);
    b.acquire().expect("the slot is free again").success();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn call_async_cut_by_timeout_records_nothing() {
    let b = breaker(1, 1);
    open_and_wait(&b).await;
    let slow = b.call_async(async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok::<(), Error>(())
    });
    let result = failfast_runtime::timeout(Duration::from_secs(1), slow).await;
    assert_eq!(
        result,
        Err(Error::Timeout {
            after: Duration::from_secs(1)
        })
    );
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.metrics().failures, 1);
    b.call(|| Ok::<_, Error>(()))
        .expect("the slot is free again");
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn panic_in_call_is_a_failure() {
    let b = breaker(2, 1);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        b.call(|| -> Result<(), Error> { panic!("boom") })
    }));
    assert!(outcome.is_err(), "the panic propagates");
    assert_eq!(b.metrics().failures, 1);
    assert_eq!(b.state(), State::Closed);
    let _ = catch_unwind(AssertUnwindSafe(|| {
        b.call(|| -> Result<(), Error> { panic!("boom") })
    }));
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn panicking_probe_reopens_instead_of_sticking() {
    let b = breaker(1, 1);
    open_and_wait(&b).await;
    let _ = catch_unwind(AssertUnwindSafe(|| {
        b.call(|| -> Result<(), Error> { panic!("probe panics") })
    }));
    assert_eq!(b.state(), State::Open);
    assert_eq!(rejected(&b), RESET);
}

#[tokio::test(start_paused = true)]
async fn panicking_async_probe_reopens_instead_of_sticking() {
    let b = breaker(1, 1);
    open_and_wait(&b).await;
    let task = b.clone();
    let joined = tokio::spawn(async move {
        let probe = async { panic!("async probe panics") };
        task.call_async::<(), Error, _>(probe).await
    })
    .await;
    assert!(joined.unwrap_err().is_panic());
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.metrics().failures, 2);
}

#[test]
fn errors_that_are_not_failures_count_as_successes() {
    let b = breaker(1, 1);
    let timeout = Error::Timeout {
        after: Duration::ZERO,
    };
    let result: Result<(), Error> = b.call_with(|_| false, || Err(timeout.clone()));
    assert_eq!(result, Err(timeout));
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().successes, 1);
}

#[test]
fn stale_closed_permit_does_not_count_in_a_new_spell() {
    let b = breaker(1, 1);
    let old = b.acquire().unwrap();
    b.force_open();
    b.reset();
    old.failure();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn stale_trial_permit_does_not_affect_a_newer_spell() {
    let b = breaker(1, 1);
    open_and_wait(&b).await;
    let old_trial = b.acquire().expect("trial of spell 1");
    b.reset();
    open_and_wait(&b).await;
    let new_trial = b.acquire().expect("trial of spell 2");

    drop(old_trial); // must not free spell 2's only slot
    rejected(&b);
    assert_eq!(b.state(), State::HalfOpen);

    new_trial.success();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn stale_trial_failure_does_not_reopen() {
    let b = breaker(1, 1);
    open_and_wait(&b).await;
    let old_trial = b.acquire().expect("trial of spell 1");
    b.reset();
    old_trial.failure();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn forced_open_rejects_until_reset() {
    let b = breaker(5, 1);
    b.force_open();
    assert_eq!(b.state(), State::ForcedOpen);
    assert_eq!(rejected(&b), RESET);
    advance(RESET * 10).await;
    assert_eq!(rejected(&b), RESET, "time does not close it");
    b.reset();
    assert_eq!(b.state(), State::Closed);
    succeed(&b);
}

#[test]
fn disabled_lets_everything_through_and_counts_nothing_toward_opening() {
    let b = breaker(2, 1);
    fail(&b); // a streak of one, from before
    b.disable();
    for _ in 0..10 {
        fail(&b);
    }
    assert_eq!(b.state(), State::Disabled);
    assert_eq!(b.metrics().failures, 11, "metrics still count");
    b.reset();
    fail(&b);
    assert_eq!(b.state(), State::Closed, "reset cleared the streak");
    fail(&b);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn reset_on_a_closed_breaker_clears_the_streak_without_a_transition() {
    let b = breaker(2, 1);
    let seen = record_transitions(&b);
    fail(&b);
    b.reset();
    fail(&b);
    assert_eq!(b.state(), State::Closed);
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn listeners_see_each_transition_once_in_order() {
    let b = breaker(1, 1);
    let seen = record_transitions(&b);
    open_and_wait(&b).await;
    b.acquire().unwrap().failure();
    advance(RESET).await;
    b.acquire().unwrap().success();
    b.force_open();
    b.disable();
    b.reset();
    use {Reason as R, State as S};
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (S::Closed, S::Open, R::Failures),
            (S::Open, S::HalfOpen, R::ResetElapsed),
            (S::HalfOpen, S::Open, R::ProbeFailed),
            (S::Open, S::HalfOpen, R::ResetElapsed),
            (S::HalfOpen, S::Closed, R::ProbesSucceeded),
            (S::Closed, S::ForcedOpen, R::ForcedOpen),
            (S::ForcedOpen, S::Disabled, R::Disabled),
            (S::Disabled, S::Closed, R::Reset),
        ]
    );
}

#[test]
fn a_listener_may_reset_the_breaker() {
    let b = breaker(1, 1);
    let seen = record_transitions(&b);
    let handle = b.clone();
    b.subscribe(move |t| {
        if t.to == State::Open {
            handle.reset(); // would deadlock if called under the breaker's lock
        }
    });
    fail(&b);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (State::Closed, State::Open, Reason::Failures),
            (State::Open, State::Closed, Reason::Reset),
        ]
    );
}

#[test]
fn cancelled_subscription_hears_nothing_more() {
    let b = breaker(1, 1);
    let seen = Arc::new(Mutex::new(0));
    let count = seen.clone();
    let sub = b.subscribe(move |_| *count.lock().unwrap() += 1);
    b.force_open();
    sub.cancel();
    b.reset();
    assert_eq!(*seen.lock().unwrap(), 1);
}

/// Many threads drive one breaker through many spells; the delivered transitions must
/// form one unbroken chain (each `from` is the previous `to`): none lost, none doubled,
/// none out of order.
#[test]
fn concurrent_transitions_are_delivered_once_and_in_order() {
    let config = BreakerConfig::new()
        .failures(2)
        .reset(Duration::ZERO)
        .probes(2);
    let b = Breaker::new("hammered", config);
    let seen = Arc::new(Mutex::new(Vec::<Transition>::new()));
    let log = seen.clone();
    b.subscribe(move |t| log.lock().unwrap().push(t.clone()));
    std::thread::scope(|s| {
        for thread in 0..8u64 {
            let b = &b;
            s.spawn(move || {
                for i in 0..2_000u64 {
                    if let Ok(permit) = b.acquire() {
                        match (i * 7 + thread) % 5 {
                            0 | 1 => permit.failure(),
                            2 => drop(permit),
                            _ => permit.success(),
                        }
                    }
                }
            });
        }
    });
    let seen = seen.lock().unwrap();
    assert!(seen.len() > 10, "the test should cause many transitions");
    assert_eq!(seen[0].from, State::Closed);
    for pair in seen.windows(2) {
        assert_eq!(pair[0].to, pair[1].from, "broken chain in {pair:?}");
    }
    assert_eq!(seen.last().unwrap().to, b.state());
    assert_eq!(b.metrics().last_transition.as_ref(), seen.last());
}

#[test]
fn breaker_is_send_sync_and_permit_too() {
    fn check<T: Send + Sync>() {}
    check::<Breaker>();
    check::<failfast_runtime::Permit>();
}

/// A success from a permit of an earlier spell must not end the current spell's streak
/// (found outside the project: the hot path cleared the streak without asking which
/// spell the permit was of).
async fn late_success_keeps_the_current_streak(config: BreakerConfig) {
    let b = Breaker::new("late-success", config.failures(2).reset(RESET));
    let late = b.acquire().expect("closed");
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Open);
    advance(RESET).await;
    succeed(&b); // the trial closes it
    assert_eq!(b.state(), State::Closed);
    fail(&b); // a streak of one in the new spell
    late.success(); // from the first spell: not this spell's business
    fail(&b);
    assert_eq!(
        b.state(),
        State::Open,
        "the second failure in a row opens it"
    );
}

#[tokio::test(start_paused = true)]
async fn late_success_from_an_earlier_spell_keeps_the_streak() {
    late_success_keeps_the_current_streak(BreakerConfig::new()).await;
}

#[tokio::test(start_paused = true)]
async fn late_success_keeps_the_streak_of_a_measured_breaker() {
    // `slow` makes every call measured and timed: the other settling path.
    let config = BreakerConfig::new().slow(Duration::from_secs(10));
    late_success_keeps_the_current_streak(config).await;
}

/// What `Recorder` runs on the first lease asked for.
type LeaseHook = Box<dyn FnOnce(&Breaker) + Send>;

/// A store that records what the breaker tells it: how often it was attached, what was
/// published, and (through `on_lease`) what happens while a lease is asked for.
#[derive(Clone, Default)]
struct Recorder {
    attached: Arc<Mutex<u32>>,
    published: Arc<Mutex<Vec<Option<SharedState>>>>,
    leases: Arc<Mutex<u32>>,
    /// Run once, on the first lease asked for, with the breaker that asks.
    on_lease: Arc<Mutex<Option<LeaseHook>>>,
}

impl Store for Recorder {
    fn attach(&self, _: &Breaker) {
        *self.attached.lock().unwrap() += 1;
    }

    fn publish(&self, breaker: &Breaker) {
        self.published.lock().unwrap().push(breaker.shared_state());
    }

    fn lease(&self, breaker: &Breaker, _: Duration) -> Lease {
        *self.leases.lock().unwrap() += 1;
        let hook = self.on_lease.lock().unwrap().take();
        if let Some(hook) = hook {
            hook(breaker);
        }
        Lease::Granted
    }
}

impl Recorder {
    fn published(&self) -> Vec<Option<SharedState>> {
        self.published.lock().unwrap().clone()
    }
}

/// Pins `Breaker::attach`: `with_store` attaches the breaker to its store, exactly once,
/// before its first call.
#[test]
fn with_store_attaches_the_breaker_to_its_store_once() {
    let store = Recorder::default();
    let b = Breaker::with_store("attached", BreakerConfig::new(), store.clone());
    assert_eq!(*store.attached.lock().unwrap(), 1);
    succeed(&b);
    b.force_open();
    assert_eq!(*store.attached.lock().unwrap(), 1, "never again");
}

/// Pins `set_by_hand`: a manual change is published once (when it is delivered), and a
/// manual change to the state the breaker is already in is published once too (it may not
/// be so in other processes), each at its own call.
#[test]
fn every_manual_change_is_published_once_even_when_nothing_changes_here() {
    let store = Recorder::default();
    let b = Breaker::with_store("by_hand", BreakerConfig::new(), store.clone());
    b.force_open();
    assert_eq!(store.published(), [Some(SharedState::ForcedOpen)]);
    b.force_open();
    assert_eq!(store.published(), [Some(SharedState::ForcedOpen); 2]);
    b.reset();
    b.reset();
    b.disable();
    assert_eq!(
        store.published(),
        [
            Some(SharedState::ForcedOpen),
            Some(SharedState::ForcedOpen),
            Some(SharedState::Closed),
            Some(SharedState::Closed),
            Some(SharedState::Disabled),
        ]
    );
}

/// Pins `adopt` with `SharedState::Open`: a closed breaker opens (reason `Shared`, not
/// published back) for exactly the remaining time; a longer remaining time extends an
/// open breaker, a shorter or equal one leaves it as it is (no transition either way).
#[tokio::test(start_paused = true)]
async fn adopting_open_holds_the_breaker_open_for_the_longest_remaining_time() {
    let store = Recorder::default();
    let b = Breaker::with_store(
        "adopt_open",
        BreakerConfig::new().reset(RESET),
        store.clone(),
    );
    let seen = record_transitions(&b);
    let secs = Duration::from_secs;
    b.adopt(SharedState::Open { remaining: secs(5) });
    assert_eq!(b.state(), State::Open);
    assert_eq!(rejected(&b), secs(5), "the remaining time, not `reset`");
    b.adopt(SharedState::Open { remaining: secs(8) });
    assert_eq!(rejected(&b), secs(8), "extended");
    b.adopt(SharedState::Open { remaining: secs(3) });
    assert_eq!(rejected(&b), secs(8), "never shortened");
    b.adopt(SharedState::Open { remaining: secs(8) });
    assert_eq!(rejected(&b), secs(8));
    advance(secs(8) - Duration::from_nanos(1)).await;
    assert_eq!(rejected(&b), Duration::from_nanos(1));
    advance(Duration::from_nanos(1)).await;
    let trial = b.acquire().expect("the open time adopted is over");
    assert_eq!(b.state(), State::HalfOpen);
    // A half-open breaker told the fleet is open reopens for the remaining time.
    b.adopt(SharedState::Open { remaining: secs(2) });
    assert_eq!(rejected(&b), secs(2));
    trial.success(); // of the spell that is over: changes nothing
    assert_eq!(b.state(), State::Open);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (State::Closed, State::Open, Reason::Shared),
            (State::Open, State::HalfOpen, Reason::ResetElapsed),
            (State::HalfOpen, State::Open, Reason::Shared),
        ]
    );
    assert!(
        store.published().is_empty(),
        "adopted changes are not published back"
    );
}

/// Pins `adopt` with the manual states and `Closed`: a transition (reason `Shared`) only
/// when the state differs, and `Open` ignored while forced open or disabled.
#[test]
fn adopting_a_state_transitions_only_when_it_differs() {
    let b = breaker(5, 1);
    let seen = record_transitions(&b);
    let open = SharedState::Open {
        remaining: Duration::from_secs(5),
    };
    b.adopt(SharedState::Closed);
    b.adopt(SharedState::ForcedOpen);
    b.adopt(SharedState::ForcedOpen);
    b.adopt(open);
    assert_eq!(b.state(), State::ForcedOpen, "a manual state ignores Open");
    b.adopt(SharedState::Disabled);
    b.adopt(open);
    assert_eq!(b.state(), State::Disabled);
    b.adopt(SharedState::Disabled);
    b.adopt(SharedState::Closed);
    b.adopt(SharedState::Closed);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (State::Closed, State::ForcedOpen, Reason::Shared),
            (State::ForcedOpen, State::Disabled, Reason::Shared),
            (State::Disabled, State::Closed, Reason::Shared),
        ]
    );
}

/// Pins the slot check under the lock (`trials_taken < probes` in `acquire_locked`): a
/// call granted the trial lease after another call took the last trial slot meanwhile
/// (here: from inside the store's `lease`) is rejected, with `retry_after` zero, instead of
/// running one trial too many.
#[tokio::test(start_paused = true)]
async fn a_call_that_finds_every_trial_slot_taken_under_the_lock_is_rejected() {
    let store = Recorder::default();
    let config = BreakerConfig::new().failures(1).reset(RESET).probes(1);
    let b = Breaker::with_store("slot_race", config, store.clone());
    fail(&b);
    advance(RESET).await;
    let taken = Arc::new(Mutex::new(false));
    let flag = taken.clone();
    *store.on_lease.lock().unwrap() = Some(Box::new(move |b: &Breaker| {
        // The other caller: its own lease (granted, no hook left), the only trial.
        let trial = b.acquire().expect("the only trial");
        std::mem::forget(trial);
        *flag.lock().unwrap() = true;
    }));
    assert_eq!(rejected(&b), Duration::ZERO);
    assert!(*taken.lock().unwrap());
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(*store.leases.lock().unwrap(), 2);
}

/// Pins `Debug for Breaker`: its name and state.
#[test]
fn debug_shows_the_name_and_the_state() {
    let b = breaker(1, 1);
    assert_eq!(
        format!("{b:?}"),
        r#"Breaker { name: "test", state: Closed }"#
    );
    b.force_open();
    assert_eq!(
        format!("{b:?}"),
        r#"Breaker { name: "test", state: ForcedOpen }"#
    );
}

/// Pins `Debug for Permit`: the breaker's name and whether it is a trial's.
#[tokio::test(start_paused = true)]
async fn permit_debug_shows_the_breaker_and_whether_it_is_a_trial() {
    let b = breaker(1, 1);
    let closed = b.acquire().unwrap();
    assert_eq!(
        format!("{closed:?}"),
        r#"Permit { breaker: "test", trial: false }"#
    );
    closed.failure();
    advance(RESET).await;
    let trial = b.acquire().unwrap();
    assert_eq!(
        format!("{trial:?}"),
        r#"Permit { breaker: "test", trial: true }"#
    );
    trial.success();
}
