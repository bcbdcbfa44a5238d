//! `FAILFAST_DISABLED=1` in a process whose default store is shared: its breakers stay
//! disabled whatever the fleet does, and it tells the fleet nothing. The variable is read
//! once per process, so this file holds a single test.

#[path = "common/redis_server.rs"]
mod redis_server;

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::thread;
use std::time::{Duration, Instant};

use failfast::{Breaker, BreakerConfig, Error, RedisStore, State, circuit_breaker, registry};
use redis_server::RedisServer;

static CALLS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker("env_shared", failures = 1)]
fn always_down() -> Result<(), Error> {
    CALLS.fetch_add(1, SeqCst);
    Err(Error::Timeout {
        after: Duration::from_millis(1),
    })
}

#[test]
fn a_disabled_process_neither_follows_nor_moves_the_fleet() {
    // SAFETY: the only test of this binary, run before any other thread reads the environment.
    unsafe { std::env::set_var("FAILFAST_DISABLED", "1") };
    let server = RedisServer::start();
    let connect = || {
        RedisStore::builder()
            .prefix("env")
            .connect(&server.url())
            .unwrap()
    };
    failfast::set_default_store(connect()).unwrap();
    let fleet_store = connect();
    let fleet = Breaker::with_store("env_shared", BreakerConfig::new(), fleet_store.clone());
    let start = Instant::now();
    while !fleet_store.is_connected() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the store never connected"
        );
        thread::sleep(Duration::from_millis(2));
    }

    // The fleet opens the breaker by hand; this process goes on calling.
    fleet.force_open();
    thread::sleep(Duration::from_millis(100));
    for _ in 0..3 {
        assert!(matches!(always_down(), Err(Error::Timeout { .. })));
    }
    assert_eq!(CALLS.load(SeqCst), 3, "every call reached the fn");
    let here = registry().get("env_shared").unwrap();
    assert_eq!(here.state(), State::Disabled);

    // What it does by hand stays here: the fleet's breaker stays forced open.
    here.reset();
    thread::sleep(Duration::from_millis(100));
    assert_eq!(fleet.state(), State::ForcedOpen);
    let mut con = server.connection();
    let state: Option<String> = redis::cmd("GET")
        .arg("env:env_shared:state")
        .query(&mut con)
        .unwrap();
    assert_eq!(state.as_deref(), Some("forced_open"));
}
