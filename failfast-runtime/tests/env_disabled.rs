//! `FAILFAST_DISABLED=1` makes new registered breakers start disabled. The variable is
//! read once per process, so this file holds a single test (its own process).

use failfast_runtime::{Breaker, BreakerConfig, Registry, State, registry};

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
}
