//! The named registry: get-or-register, listing, conflicts, registry-wide listeners.

use std::sync::{Arc, Mutex};

use failfast_runtime::{Breaker, BreakerConfig, Reason, Registry, State, registry};

#[test]
fn breaker_registers_once_and_get_finds_it() {
    let reg = Registry::new();
    assert!(reg.get("orders").is_none());
    let first = reg.breaker("orders", BreakerConfig::new());
    let again = reg.breaker(String::from("orders"), BreakerConfig::new());
    first.force_open();
    assert_eq!(again.state(), State::ForcedOpen, "the same breaker");
    assert_eq!(reg.get("orders").unwrap().state(), State::ForcedOpen);
    assert_eq!(first.conflict(), None, "same config: no conflict");
}

#[test]
fn breakers_are_sorted_by_name() {
    let reg = Registry::new();
    for name in ["c", "a", "b"] {
        reg.breaker(name, BreakerConfig::new());
    }
    let names: Vec<String> = reg.breakers().iter().map(|b| b.name().into()).collect();
    assert_eq!(names, ["a", "b", "c"]);
}

#[test]
fn first_registration_wins_and_the_first_conflict_is_kept() {
    let reg = Registry::new();
    let original = BreakerConfig::new().failures(3);
    let b = reg.breaker("payments", original);
    let other = reg.breaker("payments", BreakerConfig::new().failures(7));
    reg.breaker("payments", BreakerConfig::new().failures(9));
    assert_eq!(other.config(), original);
    assert_eq!(b.conflict(), Some(BreakerConfig::new().failures(7)));
}

#[test]
fn registry_listeners_see_registered_breakers_only() {
    let reg = Registry::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let sub = reg.subscribe(move |t| log.lock().unwrap().push((t.name.to_string(), t.reason)));

    let registered = reg.breaker("registered", BreakerConfig::new().failures(1));
    Breaker::new("standalone", BreakerConfig::new()).force_open();
    registered.acquire().unwrap().failure();
    registered.reset();
    sub.cancel();
    registered.force_open();

    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("registered".to_owned(), Reason::Failures),
            ("registered".to_owned(), Reason::Reset),
        ]
    );
}

#[test]
fn both_breaker_and_registry_listeners_hear_a_transition_once() {
    let reg = Registry::new();
    let count = Arc::new(Mutex::new((0, 0)));
    let b = reg.breaker("twice", BreakerConfig::new());
    let c = count.clone();
    b.subscribe(move |_| c.lock().unwrap().0 += 1);
    let c = count.clone();
    reg.subscribe(move |_| c.lock().unwrap().1 += 1);
    b.force_open();
    assert_eq!(*count.lock().unwrap(), (1, 1));
}

#[test]
fn the_process_wide_registry_is_one_registry() {
    let b = registry().breaker("registry_test::shared", BreakerConfig::new());
    assert!(std::ptr::eq(registry(), registry()));
    b.disable();
    let found = registry().get("registry_test::shared").unwrap();
    assert_eq!(found.state(), State::Disabled);
    assert!(
        registry()
            .breakers()
            .iter()
            .any(|b| b.name() == "registry_test::shared")
    );
}

/// Pins `Debug for Registry`: the list of its breakers, by name.
#[test]
fn debug_lists_the_breakers_by_name() {
    let reg = Registry::new();
    assert_eq!(format!("{reg:?}"), "[]");
    reg.breaker("b", BreakerConfig::new()).force_open();
    reg.breaker("a", BreakerConfig::new());
    assert_eq!(
        format!("{reg:?}"),
        r#"[Breaker { name: "a", state: Closed }, Breaker { name: "b", state: ForcedOpen }]"#
    );
}
