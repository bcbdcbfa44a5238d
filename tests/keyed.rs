//! Keyed breakers through the facade's process-wide registry: `registry().keyed`, the
//! family in the snapshot (as JSON), and a lookup of a live key that allocates nothing
//! (a counting global allocator proves it, per thread, as in `no_alloc.rs`).

use std::sync::{Mutex, MutexGuard, PoisonError};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations;

use failfast::{BreakerConfig, Error, State, registry};

/// Runs the tests of this file one at a time. A thread that waits for a lock the first
/// time has parking_lot allocate its parking data: a test making a family (a write lock)
/// while the allocation test looks a key up would count that, not the lookup.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

#[test]
fn one_breaker_per_key_in_the_process_registry() {
    let _serial = serial();
    let upstream = registry().family("keyed::upstream");
    upstream.configure(BreakerConfig::new().failures(2));
    let down = registry().keyed("keyed::upstream", "10.0.0.1:8080");
    let up = registry().keyed("keyed::upstream", "10.0.0.2:8080");
    for _ in 0..2 {
        let _ = down.call(|| {
            Err::<(), _>(Error::Timeout {
                after: Default::default(),
            })
        });
    }
    assert_eq!(down.state(), State::Open);
    assert_eq!(up.call(|| Ok::<_, Error>("up")), Ok("up"));

    let found = registry().get("keyed::upstream/10.0.0.1:8080").unwrap();
    assert_eq!(found.state(), State::Open);
    assert_eq!(found.config().failures_threshold(), 2);
    assert!(
        registry()
            .breakers()
            .iter()
            .any(|b| b.name() == "keyed::upstream/10.0.0.2:8080")
    );
    assert!(
        registry()
            .families()
            .iter()
            .any(|f| f.name() == "keyed::upstream")
    );
    assert_eq!((upstream.len(), upstream.max_keys()), (2, 1000));
}

#[cfg(feature = "serde")]
#[test]
fn the_snapshot_lists_the_family_as_json() {
    use serde_json::{Value, json};

    let _serial = serial();
    let family = registry().family("keyed::json");
    family.set_max_keys(2);
    for key in ["a", "b", "c"] {
        family.get(key);
    }
    let snapshot = serde_json::to_value(registry().snapshot()).unwrap();
    let entry = snapshot["families"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "keyed::json")
        .cloned()
        .expect("the family is listed");
    assert_eq!(
        entry,
        json!({ "name": "keyed::json", "live": 2, "max_keys": 2, "evictions": 1, "overflows": 0 })
    );
    let breakers: Vec<&str> = snapshot["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["name"].as_str())
        .filter(|name| name.starts_with("keyed::json/"))
        .collect();
    assert_eq!(breakers, ["keyed::json/b", "keyed::json/c"]);
    let state = |name: &str| {
        let breakers = snapshot["breakers"].as_array().unwrap();
        breakers.iter().find(|b| b["name"] == name).unwrap()["state"].clone()
    };
    assert_eq!(state("keyed::json/c"), Value::from("closed"));
}

#[test]
fn looking_up_a_live_key_allocates_nothing() {
    let _serial = serial();
    // The warm-up run of `allocations` makes the family and the breaker.
    let allocated = allocations(|| {
        let breaker = registry().keyed("keyed::alloc", "host-3");
        assert!(breaker.call(|| Ok::<_, Error>(1)).is_ok());
    });
    assert_eq!(allocated, 0);

    // Switching keys stamps each one used (an atomic tick), still without allocating.
    let allocated = allocations(|| {
        registry().keyed("keyed::alloc", "host-3");
        registry().keyed("keyed::alloc", "host-4");
    });
    assert_eq!(allocated, 0);

    let hosts = registry().family("keyed::alloc");
    assert_eq!(allocations(|| drop(hosts.get("host-3"))), 0);
    assert_eq!(hosts.len(), 2);
}
