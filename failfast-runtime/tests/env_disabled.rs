//! `FAILFAST_DISABLED=1` makes new registered breakers start disabled. The variable is
//! read once per process, so this file holds a single test (its own process).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::Duration;

use failfast_runtime::{Breaker, BreakerConfig, Lease, Registry, State, Store, registry};

/// Counts the calls a store gets.
#[derive(Clone, Default)]
struct Counting(Arc<AtomicU32>);

impl Store for Counting {
    fn attach(&self, _: &Breaker) {
        self.0.fetch_add(1, Relaxed);
    }

    fn publish(&self, _: &Breaker) {
        self.0.fetch_add(1, Relaxed);
    }

    fn lease(&self, _: &Breaker, _: Duration) -> Lease {
        self.0.fetch_add(1, Relaxed);
        Lease::Granted
    }
}

#[test]
fn failfast_disabled_starts_registered_breakers_disabled() {
    // SAFETY: the only test in this binary, so no other thread reads the environment.
    unsafe { std::env::set_var("FAILFAST_DISABLED", "1") };

    let b = registry().breaker("env::disabled", BreakerConfig::new().failures(1));
    assert_eq!(b.state(), State::Disabled);
    b.acquire().unwrap().failure();
    assert_eq!(b.state(), State::Disabled, "nothing opens it");
    assert!(b.metrics().last_transition.is_none(), "born disabled");

    assert_eq!(
        Registry::new().breaker("x", BreakerConfig::new()).state(),
        State::Disabled
    );
    assert_eq!(
        Breaker::new("standalone", BreakerConfig::new()).state(),
        State::Closed,
        "only registered breakers follow the environment"
    );
    b.reset();
    assert_eq!(
        b.state(),
        State::Closed,
        "and reset() still switches one on"
    );

    // Pins `Directory::make`: a breaker disabled by the environment keeps out of its
    // shared store (a fleet-wide reset must not switch it back on), so the store hears
    // nothing from it, not even its attach.
    let store = Counting::default();
    let shared = Registry::new().breaker_with_store("s", BreakerConfig::new(), store.clone());
    assert_eq!(shared.state(), State::Disabled);
    shared.reset();
    shared.force_open();
    assert_eq!(store.0.load(Relaxed), 0);
}
