//! `FAILFAST_DISABLED=1`: a keyed family's breakers start disabled, and are evicted like
//! closed ones (a fresh one would start disabled too), so the bound still holds. The
//! variable is read once per process, so this file holds a single test (its own process).

use failfast_runtime::{Registry, State};

#[test]
fn breakers_disabled_by_the_environment_are_evicted_like_closed_ones() {
    // SAFETY: the only test in this binary, so no other thread reads the environment.
    unsafe { std::env::set_var("FAILFAST_DISABLED", "1") };

    let registry = Registry::new();
    let hosts = registry.family("hosts");
    hosts.set_max_keys(2);
    let a = hosts.get("a");
    assert_eq!(a.state(), State::Disabled);
    a.reset(); // switched on by hand: closed, and evictable as ever
    hosts.get("b");
    hosts.get("c");
    hosts.get("d");
    assert_eq!(
        (hosts.len(), hosts.evictions(), hosts.overflows()),
        (2, 2, 0)
    );
    assert!(registry.get("hosts/a").is_none());
    assert_eq!(registry.get("hosts/d").unwrap().state(), State::Disabled);
}
