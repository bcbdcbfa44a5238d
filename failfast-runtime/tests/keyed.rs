//! Keyed families: one breaker per key, named "{family}/{key}", at most `max_keys` of
//! them, the least recently used closed one evicted and never an open one.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use failfast_runtime::{Breaker, BreakerConfig, Error, Family, Mode, Registry, State};

/// Opens `breaker`, whose config opens on one failure.
fn trip(breaker: &Breaker) {
    breaker.acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
}

/// The names of the registry's breakers, sorted.
fn names(registry: &Registry) -> Vec<String> {
    registry
        .breakers()
        .iter()
        .map(|b| b.name().into())
        .collect()
}

/// A registry with a family "hosts" of at most `max_keys` breakers, `keys` used in order.
fn family_with(max_keys: usize, keys: &[&str]) -> (Registry, Family) {
    let registry = Registry::new();
    let hosts = registry.family("hosts");
    hosts.set_max_keys(max_keys);
    for key in keys {
        hosts.get(key);
    }
    (registry, hosts)
}

/// (live, evictions, overflows) of `family`.
fn counts(family: &Family) -> (usize, u64, u64) {
    (family.len(), family.evictions(), family.overflows())
}

#[test]
fn members_are_separate_breakers_named_and_listed_by_the_registry() {
    let registry = Registry::new();
    let hosts = registry.family("hosts");
    hosts.configure(BreakerConfig::new().failures(1));
    let a = registry.keyed("hosts", "a:80");
    let b = registry.keyed("hosts", "b:80");
    assert_eq!((a.name(), b.name()), ("hosts/a:80", "hosts/b:80"));

    trip(&a);
    assert_eq!(
        b.state(),
        State::Closed,
        "one key opening leaves the others"
    );
    assert_eq!(b.call(|| Ok::<_, Error>(1)), Ok(1));
    let again = registry.keyed("hosts", "a:80");
    assert!(matches!(
        again.call(|| Ok::<_, Error>(1)),
        Err(Error::Open { .. })
    ));
    assert_eq!(hosts.get("a:80").state(), State::Open, "the same breaker");

    assert_eq!(registry.get("hosts/a:80").unwrap().state(), State::Open);
    assert_eq!(registry.get("hosts/b:80").unwrap().state(), State::Closed);
    assert!(registry.get("hosts/c:80").is_none());
    assert_eq!(names(&registry), ["hosts/a:80", "hosts/b:80"]);
    assert_eq!(hosts.len(), 2);
    assert_eq!(registry.family("hosts").len(), 2, "one family per name");

    registry.keyed("api", "x");
    let families: Vec<String> = registry
        .families()
        .iter()
        .map(|f| f.name().into())
        .collect();
    assert_eq!(families, ["api", "hosts"]);
    assert_eq!(names(&registry), ["api/x", "hosts/a:80", "hosts/b:80"]);
}

#[test]
fn ten_thousand_keys_stay_within_max_keys() {
    let registry = Registry::new();
    let tenants = registry.family("tenants");
    assert_eq!(tenants.max_keys(), 1000);
    for i in 0..10_000 {
        let key = format!("tenant-{i}");
        let breaker = registry.keyed("tenants", &key);
        assert_eq!(breaker.name(), format!("tenants/{key}"));
        assert!(tenants.len() <= 1000, "{} live after {i}", tenants.len());
    }
    assert_eq!(counts(&tenants), (1000, 9_000, 0));
    assert_eq!(
        registry.breakers().len(),
        1000,
        "evicted ones leave the registry"
    );
    assert!(registry.get("tenants/tenant-8999").is_none());
    assert!(
        registry.get("tenants/tenant-9000").is_some(),
        "the last 1000 live"
    );
    assert!(registry.get("tenants/tenant-9999").is_some());
}

#[test]
fn open_and_manual_states_survive_eviction_pressure() {
    let registry = Registry::new();
    let hosts = registry.family("hosts");
    hosts.set_max_keys(10);

    hosts.configure(BreakerConfig::new().failures(1));
    let open = hosts.get("open");
    trip(&open);
    hosts.configure(BreakerConfig::new().failures(1).reset(Duration::ZERO));
    let half_open = hosts.get("half-open");
    trip(&half_open);
    let _trial = half_open.acquire().expect("the trial call");
    assert_eq!(half_open.state(), State::HalfOpen);
    hosts.configure(BreakerConfig::new());
    hosts.get("forced").force_open();
    hosts.get("disabled").disable();
    hosts.get("observed").set_mode(Mode::Observe);

    for i in 0..1000 {
        hosts.get(&format!("k{i}"));
    }
    // 5 kept, then 5 free places, then one eviction per new key.
    assert_eq!(counts(&hosts), (10, 995, 0));
    for (key, state) in [
        ("open", State::Open),
        ("half-open", State::HalfOpen),
        ("forced", State::ForcedOpen),
        ("disabled", State::Disabled),
        ("observed", State::Closed),
    ] {
        let kept = registry.get(&format!("hosts/{key}")).expect(key);
        assert_eq!(kept.state(), state, "{key}");
    }
    assert_eq!(
        open.metrics().failures,
        1,
        "the same breaker, not a fresh one"
    );
    assert_eq!(
        registry.get("hosts/observed").unwrap().mode(),
        Mode::Observe
    );
}

#[test]
fn the_family_grows_when_nothing_can_go_and_comes_back_down_when_it_can() {
    let (registry, hosts) = family_with(3, &[]);
    for key in ["a", "b", "c"] {
        hosts.get(key).force_open();
    }

    hosts.get("d");
    assert_eq!(counts(&hosts), (4, 0, 1), "no open breaker is given up");
    hosts.get("e"); // d is closed: it goes, but the family stays above the bound
    assert_eq!(counts(&hosts), (4, 1, 2));
    assert!(registry.get("hosts/d").is_none());

    for key in ["a", "b", "c"] {
        registry.get(&format!("hosts/{key}")).unwrap().reset();
    }
    hosts.get("f"); // a and b, the least recently used, go: back to 3
    assert_eq!(counts(&hosts), (3, 3, 2));
    assert_eq!(names(&registry), ["hosts/c", "hosts/e", "hosts/f"]);
}

#[test]
fn the_least_recently_used_closed_breaker_goes() {
    let (registry, hosts) = family_with(3, &["a", "b", "c"]);
    registry.keyed("hosts", "a"); // the oldest, used again
    hosts.get("d");
    assert_eq!(
        names(&registry),
        ["hosts/a", "hosts/c", "hosts/d"],
        "b goes"
    );

    hosts.get("c");
    hosts.get("c"); // used twice in a row: still the most recent
    hosts.get("e");
    assert_eq!(
        names(&registry),
        ["hosts/c", "hosts/d", "hosts/e"],
        "a goes"
    );

    // A lookup by name, or a call through a handle kept aside, is not a use.
    let d = registry.get("hosts/d").unwrap();
    assert_eq!(d.call(|| Ok::<_, Error>(())), Ok(()));
    hosts.get("f");
    assert_eq!(
        names(&registry),
        ["hosts/c", "hosts/e", "hosts/f"],
        "d goes"
    );
    assert_eq!(hosts.evictions(), 3);
}

#[test]
fn configure_applies_to_breakers_made_from_then_on() {
    let registry = Registry::new();
    let hosts = registry.family("hosts");
    assert_eq!(hosts.config(), BreakerConfig::new());
    let before = hosts.get("a");
    let config = BreakerConfig::new()
        .failures(2)
        .reset(Duration::from_secs(5));
    hosts.configure(config);
    assert_eq!(hosts.config(), config);
    assert_eq!(hosts.get("b").config(), config);
    assert_eq!(
        before.config(),
        BreakerConfig::new(),
        "live ones keep theirs"
    );
    assert_eq!(hosts.get("a").config(), BreakerConfig::new());

    hosts.get("b");
    hosts.set_max_keys(1); // evicts a, now the least recently used
    assert_eq!(
        hosts.get("a").config(),
        config,
        "a fresh one, made with the new config"
    );
}

#[test]
fn an_evicted_breaker_keeps_working_detached_and_its_key_gets_a_fresh_one() {
    let registry = Registry::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let _subscription = registry.subscribe(move |t| log.lock().unwrap().push(t.name.to_string()));
    let hosts = registry.family("hosts");
    hosts.configure(BreakerConfig::new().failures(1));
    hosts.set_max_keys(1);

    let old = hosts.get("a");
    assert_eq!(old.call(|| Ok::<_, Error>(1)), Ok(1));
    hosts.get("b");
    assert!(registry.get("hosts/a").is_none());
    assert_eq!(names(&registry), ["hosts/b"]);

    assert_eq!(old.call(|| Ok::<_, Error>(2)), Ok(2), "still works");
    trip(&old);
    assert_eq!(*seen.lock().unwrap(), ["hosts/a"], "and still reports");
    assert_eq!(old.metrics().calls, 3);

    let fresh = hosts.get("a");
    assert_eq!(fresh.state(), State::Closed);
    assert_eq!(fresh.metrics().calls, 0);
    assert_eq!(registry.get("hosts/a").unwrap().metrics().calls, 0);
    assert_eq!(counts(&hosts), (1, 2, 0));
}

#[test]
fn lowering_max_keys_evicts_down_to_it_where_it_can() {
    let registry = Registry::new();
    let hosts = registry.family("hosts");
    hosts.configure(BreakerConfig::new().failures(1));
    for key in ["a", "b", "c", "d", "e"] {
        hosts.get(key);
    }
    trip(&hosts.get("a"));
    hosts.set_max_keys(2);
    assert_eq!(hosts.max_keys(), 2);
    assert_eq!(names(&registry), ["hosts/a", "hosts/e"]);
    hosts.set_max_keys(1);
    assert_eq!(names(&registry), ["hosts/a"], "the open one stays");
    assert_eq!(counts(&hosts), (1, 4, 0));
    hosts.get("f");
    assert_eq!(counts(&hosts), (2, 4, 1));
}

#[test]
#[should_panic(expected = "max_keys must be at least 1")]
fn max_keys_must_be_at_least_one() {
    Registry::new().family("hosts").set_max_keys(0);
}

#[test]
fn one_name_is_one_breaker_whoever_made_it() {
    let registry = Registry::new();
    let named = registry.breaker("hosts/a", BreakerConfig::new().failures(7));
    let keyed = registry.keyed("hosts", "a");
    assert_eq!(keyed.config().failures_threshold(), 7);
    named.force_open();
    assert_eq!(
        keyed.state(),
        State::ForcedOpen,
        "the breaker registered by name"
    );
    assert_eq!(registry.family("hosts").len(), 0, "not a member");

    let member = registry.keyed("hosts", "b");
    let by_name = registry.breaker("hosts/b", BreakerConfig::new().failures(3));
    by_name.force_open();
    assert_eq!(member.state(), State::ForcedOpen, "the family's member");
    assert_eq!(member.conflict(), Some(BreakerConfig::new().failures(3)));
}

#[test]
fn concurrent_new_keys_keep_the_bound_and_the_count() {
    let (registry, hosts) = family_with(100, &[]);
    thread::scope(|s| {
        for t in 0..4 {
            let registry = &registry;
            s.spawn(move || {
                for i in 0..2500 {
                    let key = format!("t{t}-{i}");
                    let breaker = registry.keyed("hosts", &key);
                    assert_eq!(breaker.name(), format!("hosts/{key}"));
                    assert_eq!(breaker.call(|| Ok::<_, Error>(i)), Ok(i));
                }
            });
        }
    });
    assert_eq!(counts(&hosts), (100, 9_900, 0));
    assert_eq!(registry.breakers().len(), 100);
}

#[test]
fn the_snapshot_lists_the_family_and_its_breakers() {
    let (registry, hosts) = family_with(2, &["a", "b", "c"]);
    let snapshot = registry.snapshot();
    let breakers: Vec<&str> = snapshot.breakers.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(breakers, ["hosts/b", "hosts/c"]);
    assert_eq!(snapshot.families, [hosts.snapshot()]);
    let family = &snapshot.families[0];
    assert_eq!(family.name, "hosts");
    assert_eq!(
        (
            family.live,
            family.max_keys,
            family.evictions,
            family.overflows
        ),
        (2, 2, 1, 0)
    );
}

/// Pins `Family::is_empty` and `Debug for Family`: empty until a key is used, again once
/// its members are evicted; the debug form shows the name and the counts.
#[test]
fn is_empty_and_debug_follow_the_members() {
    let registry = Registry::new();
    let hosts = registry.family("hosts");
    assert!(hosts.is_empty());
    hosts.set_max_keys(1);
    hosts.get("a");
    assert!(!hosts.is_empty());
    hosts.get("b").force_open();
    hosts.get("c");
    assert_eq!(
        format!("{hosts:?}"),
        r#"Family { name: "hosts", live: 2, max_keys: 1, evictions: 1, overflows: 1 }"#
    );
}
