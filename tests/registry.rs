//! The named registry: listing, inspecting, forcing and observing breakers.

mod common;

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{ApiError, Transitions};
use failfast::{BreakerConfig, Error, Reason, State, Transition, circuit_breaker, registry};

static CONTROLLED_CALLS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker("reg::controlled", failures = 3, reset = "30s")]
fn controlled(fail: bool) -> Result<(), ApiError> {
    CONTROLLED_CALLS.fetch_add(1, SeqCst);
    if fail { Err(ApiError::Down) } else { Ok(()) }
}

#[test]
fn force_open_reset_and_disable_take_effect_at_once() {
    let seen = Transitions::of("reg::controlled");
    assert_eq!(controlled(false), Ok(()));
    let breaker = registry()
        .get("reg::controlled")
        .expect("listed from its first call");
    assert_eq!(breaker.name(), "reg::controlled");
    assert_eq!(
        breaker.config(),
        BreakerConfig::new()
            .failures(3)
            .reset(Duration::from_secs(30))
    );

    breaker.force_open();
    assert_eq!(breaker.state(), State::ForcedOpen);
    assert!(matches!(
        controlled(false),
        Err(ApiError::Failfast(Error::Open { .. }))
    ));
    assert_eq!(
        CONTROLLED_CALLS.load(SeqCst),
        1,
        "a forced-open breaker calls nothing"
    );

    breaker.reset();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(controlled(false), Ok(()));

    breaker.disable();
    assert_eq!(breaker.state(), State::Disabled);
    for _ in 0..5 {
        assert_eq!(controlled(true), Err(ApiError::Down));
    }
    assert_eq!(
        breaker.state(),
        State::Disabled,
        "a disabled breaker never opens"
    );
    assert_eq!(CONTROLLED_CALLS.load(SeqCst), 7);

    breaker.reset();
    use State::*;
    assert_eq!(
        seen.take(),
        vec![
            (Closed, ForcedOpen, Reason::ForcedOpen),
            (ForcedOpen, Closed, Reason::Reset),
            (Closed, Disabled, Reason::Disabled),
            (Disabled, Closed, Reason::Reset),
        ]
    );
    let m = breaker.metrics();
    assert_eq!(
        (m.calls, m.successes, m.failures, m.rejections),
        (8, 2, 5, 1),
        "disabled calls still count"
    );
}

#[circuit_breaker("reg::listed_a")]
fn listed_a() -> Result<(), ApiError> {
    Ok(())
}

#[circuit_breaker("reg::listed_b")]
async fn listed_b() -> Result<(), ApiError> {
    Ok(())
}

#[tokio::test]
async fn breakers_lists_every_breaker_by_name() {
    assert!(
        registry().get("reg::listed_a").is_none(),
        "not listed before its first call"
    );
    listed_a().unwrap();
    listed_b().await.unwrap();
    let names: Vec<String> = registry()
        .breakers()
        .iter()
        .map(|b| b.name().to_owned())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "sorted by name");
    assert!(names.contains(&"reg::listed_a".to_owned()));
    assert!(names.contains(&"reg::listed_b".to_owned()));
    let a = registry().get("reg::listed_a").unwrap();
    assert_eq!(
        (a.state(), a.metrics().calls, a.metrics().successes),
        (State::Closed, 1, 1)
    );
}

#[circuit_breaker("reg::conflict", failures = 2)]
fn first_registration() -> Result<(), ApiError> {
    Err(ApiError::Down)
}

#[circuit_breaker("reg::conflict", failures = 9)]
fn second_registration() -> Result<(), ApiError> {
    Err(ApiError::Down)
}

#[test]
fn same_name_different_settings_the_first_registration_wins() {
    assert_eq!(first_registration(), Err(ApiError::Down));
    assert_eq!(second_registration(), Err(ApiError::Down));
    let breaker = registry().get("reg::conflict").unwrap();
    assert_eq!(breaker.config().failures_threshold(), 2);
    assert_eq!(
        breaker.state(),
        State::Open,
        "the first registration's threshold of 2 applies"
    );
    assert_eq!(breaker.conflict(), Some(BreakerConfig::new().failures(9)));
}

static RACE_CALLS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker("reg::threads", failures = 1000, reset = "60s")]
fn from_many_threads(fail: bool) -> Result<(), ApiError> {
    RACE_CALLS.fetch_add(1, SeqCst);
    if fail { Err(ApiError::Down) } else { Ok(()) }
}

#[test]
fn subscribers_see_each_transition_exactly_once_across_threads() {
    let seen: Arc<Mutex<Vec<Transition>>> = Arc::default();
    let sink = seen.clone();
    let subscription = registry().subscribe(move |t| {
        if &*t.name == "reg::threads" {
            sink.lock().unwrap().push(t.clone());
        }
    });
    // Four threads fail at once: 1000 consecutive failures open it exactly once.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..400 {
                    let _ = from_many_threads(true);
                }
            });
        }
    });
    let breaker = registry().get("reg::threads").unwrap();
    assert_eq!(breaker.state(), State::Open);
    let m = breaker.metrics();
    // Calls already running when it opened still finish and count; the rest are rejected.
    assert!(m.failures >= 1000, "{m:?}");
    assert_eq!(m.failures + m.rejections, 1600);
    assert_eq!(m.calls, 1600);
    assert_eq!(u64::from(RACE_CALLS.load(SeqCst)), m.failures);
    let opened: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|t| (t.from, t.to))
        .collect();
    assert_eq!(opened, vec![(State::Closed, State::Open)]);

    // From another thread, a reset is seen once too; a cancelled subscription sees nothing.
    std::thread::spawn(move || breaker.reset()).join().unwrap();
    subscription.cancel();
    registry().get("reg::threads").unwrap().force_open();
    let all: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|t| (t.from, t.to))
        .collect();
    assert_eq!(
        all,
        vec![(State::Closed, State::Open), (State::Open, State::Closed)]
    );
}
