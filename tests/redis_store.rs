//! `RedisStore` against a real `redis-server` of the test's own: two stores on one server
//! stand for two processes (the multi-process test is `shared_processes.rs`). Redis is
//! real, so time is real here: short open times, and waits that poll with a bound.

#[path = "common/redis_server.rs"]
mod redis_server;

use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use failfast::{Breaker, BreakerConfig, Error, Reason, RedisStore, State};
use redis_server::RedisServer;

/// Two stores ("processes") on `server` with a prefix of their own to this test. Their
/// timeout is 500 ms, so that a loaded machine cannot turn an answer Redis gives in time
/// into a local decision (the test of the timeout itself uses the default 50 ms).
fn two_stores(server: &RedisServer, prefix: &str) -> (RedisStore, RedisStore) {
    two_stores_waiting(server, prefix, Duration::from_millis(500))
}

fn two_stores_waiting(
    server: &RedisServer,
    prefix: &str,
    timeout: Duration,
) -> (RedisStore, RedisStore) {
    let make = || {
        RedisStore::builder()
            .prefix(prefix)
            .timeout(timeout)
            .connect(&server.url())
            .unwrap()
    };
    let (a, b) = (make(), make());
    until("both stores connect", || {
        a.is_connected() && b.is_connected()
    });
    (a, b)
}

/// Waits for `what`, at most 5 s (a test failure past that).
fn until(what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out waiting: {what}"
        );
        thread::sleep(Duration::from_millis(2));
    }
    start.elapsed()
}

fn failure() -> Result<(), Error> {
    Err(Error::Timeout {
        after: Duration::from_millis(1),
    })
}

/// Makes `breaker` fail until it opens.
fn trip(breaker: &Breaker) {
    while breaker.state() == State::Closed {
        let _ = breaker.call(failure);
    }
}

/// `a` trips the breaker, `b` hears of it, and the open time (`reset_ms`) runs out.
fn open_everywhere_until_reset_is_over(a: &Breaker, b: &Breaker, reset_ms: u64) {
    trip(a);
    until("b opens", || b.state() == State::Open);
    thread::sleep(Duration::from_millis(reset_ms + 50));
}

fn get(server: &RedisServer, key: &str) -> Option<String> {
    redis::cmd("GET")
        .arg(key)
        .query(&mut server.connection())
        .unwrap()
}

fn pttl(server: &RedisServer, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query(&mut server.connection())
        .unwrap()
}

fn config(reset_ms: u64) -> BreakerConfig {
    BreakerConfig::new()
        .failures(2)
        .reset(Duration::from_millis(reset_ms))
}

#[test]
fn a_breaker_opened_in_one_process_rejects_in_the_other() {
    let server = RedisServer::start();
    let (store_a, store_b) = two_stores(&server, "t1");
    let a = Breaker::with_store("dep", config(10_000), store_a);
    let b = Breaker::with_store("dep", config(10_000), store_b);

    trip(&a);
    let waited = until("b opens", || b.state() == State::Open);
    println!("propagation between two stores in one process: {waited:?}");

    let reached = AtomicU32::new(0);
    let result = b.call(|| {
        reached.fetch_add(1, Ordering::Relaxed);
        Ok::<_, Error>(())
    });
    assert!(matches!(result, Err(Error::Open { .. })), "{result:?}");
    assert_eq!(reached.load(Ordering::Relaxed), 0);
    let last = b.metrics().last_transition.unwrap();
    assert_eq!(
        (last.from, last.to, last.reason),
        (State::Closed, State::Open, Reason::Shared)
    );
    // Failures are counted per process: b saw none.
    assert_eq!(b.metrics().failures, 0);
    // A process started now rejects from its breaker's first call: the breaker reads the
    // fleet's state when it is made (waiting at most the store's timeout, here 1 s, which
    // a loaded machine may need for a first connection).
    let late = RedisStore::builder()
        .prefix("t1")
        .timeout(Duration::from_secs(1))
        .connect(&server.url())
        .unwrap();
    let c = Breaker::with_store("dep", config(10_000), late);
    assert_eq!(c.state(), State::Open);
    assert!(c.acquire().is_err());
    // The state lives in Redis as long as the open time, no longer.
    assert_eq!(get(&server, "t1:dep:state").as_deref(), Some("open"));
    let ttl = pttl(&server, "t1:dep:state");
    assert!(ttl > 9_000 && ttl <= 10_000, "ttl {ttl}");
}

#[test]
fn one_process_probes_and_its_success_closes_the_breaker_everywhere() {
    let server = RedisServer::start();
    let (store_a, store_b) = two_stores(&server, "t2");
    let a = Breaker::with_store("dep", config(300), store_a);
    let b = Breaker::with_store("dep", config(300), store_b);
    open_everywhere_until_reset_is_over(&a, &b, 300);

    // a asks first: it holds the lease and runs the one trial.
    let trial = a.acquire().expect("a gets the trial");
    assert_eq!(a.state(), State::HalfOpen);
    assert!(get(&server, "t2:dep:probe").is_some());
    // b is turned away while a's lease runs, without calling the dependency.
    for _ in 0..100 {
        assert!(b.acquire().is_err());
    }
    assert_eq!(b.state(), State::Open);

    trial.success();
    assert_eq!(a.state(), State::Closed);
    until("b closes", || b.state() == State::Closed);
    assert_eq!(b.metrics().last_transition.unwrap().reason, Reason::Shared);
    // The lease is given back; the close stays readable for a minute, no longer.
    assert_eq!(get(&server, "t2:dep:probe"), None);
    assert_eq!(get(&server, "t2:dep:state").as_deref(), Some("closed"));
    let ttl = pttl(&server, "t2:dep:state");
    assert!(ttl > 59_000 && ttl <= 60_000, "ttl {ttl}");
    assert!(b.acquire().is_ok());
}

#[test]
fn a_failed_trial_reopens_the_breaker_for_reset_everywhere() {
    let server = RedisServer::start();
    let (store_a, store_b) = two_stores(&server, "t3");
    let a = Breaker::with_store("dep", config(300), store_a);
    let b = Breaker::with_store("dep", config(300), store_b);
    open_everywhere_until_reset_is_over(&a, &b, 300);

    let trial = b.acquire().expect("b gets the trial");
    assert!(a.acquire().is_err(), "a waits for b's trial");
    trial.failure();
    assert_eq!(b.state(), State::Open);
    // Announced off the caller's path: the lease ends and the reopen is written together.
    until("the lease ends with the trial", || {
        get(&server, "t3:dep:probe").is_none()
    });
    let ttl = pttl(&server, "t3:dep:state");
    assert!(
        ttl > 0 && ttl <= 300,
        "reopened for reset from the failure: {ttl}"
    );
    // a rejects until the new open time is over, then may probe itself.
    assert!(a.acquire().is_err());
    thread::sleep(Duration::from_millis(350));
    let trial = a.acquire().expect("a probes after the new reset");
    trial.success();
    until("b closes", || b.state() == State::Closed);
}

#[test]
fn a_crashed_probers_lease_lapses() {
    let server = RedisServer::start();
    let (store_a, store_b) = two_stores(&server, "t4");
    let a = Breaker::with_store("dep", config(400), store_a.clone());
    let b = Breaker::with_store("dep", config(400), store_b);
    open_everywhere_until_reset_is_over(&a, &b, 400);

    // a takes the lease, then "crashes": its trial never reports, its process is gone.
    let trial = a.acquire().expect("a gets the trial");
    std::mem::forget(trial);
    drop((a, store_a));
    let taken = Instant::now();
    assert!(b.acquire().is_err());

    // The lease lapses after its ttl (the open time): then b probes.
    until("b gets a trial", || {
        b.acquire().map(|p| p.success()).is_ok()
    });
    let waited = taken.elapsed();
    assert!(
        waited >= Duration::from_millis(300),
        "lease lapsed after {waited:?}"
    );
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn manual_control_acts_fleet_wide() {
    let server = RedisServer::start();
    let (store_a, store_b) = two_stores(&server, "t5");
    let a = Breaker::with_store("dep", config(10_000), store_a);
    let b = Breaker::with_store("dep", config(10_000), store_b);

    a.force_open();
    until("b forced open", || b.state() == State::ForcedOpen);
    assert_eq!(get(&server, "t5:dep:state").as_deref(), Some("forced_open"));
    let ttl = pttl(&server, "t5:dep:state");
    assert!(ttl > 0, "a manual state expires too: {ttl}");

    b.reset();
    until("a closed", || a.state() == State::Closed);
    assert_eq!(get(&server, "t5:dep:state").as_deref(), Some("closed"));

    b.disable();
    until("a disabled", || a.state() == State::Disabled);
    a.reset();
    until("b closed", || b.state() == State::Closed);

    // reset() on a breaker already closed here still closes it everywhere.
    trip(&b);
    until("a opens", || a.state() == State::Open);
    let c = Breaker::with_store(
        "dep",
        config(10_000),
        RedisStore::builder()
            .prefix("t5")
            .connect(&server.url())
            .unwrap(),
    );
    until("a new process learns the breaker is open", || {
        c.state() == State::Open
    });
    c.reset();
    until("everyone closed", || {
        a.state() == State::Closed && b.state() == State::Closed
    });
}

#[test]
fn stores_with_different_prefixes_share_nothing() {
    let server = RedisServer::start();
    let url = server.url();
    let a = Breaker::with_store(
        "dep",
        config(10_000),
        RedisStore::builder().prefix("blue").connect(&url).unwrap(),
    );
    let store_b = RedisStore::builder().prefix("green").connect(&url).unwrap();
    let b = Breaker::with_store("dep", config(10_000), store_b.clone());
    until("b's store connects", || store_b.is_connected());
    trip(&a);
    until("blue's key is set", || {
        get(&server, "blue:dep:state").is_some()
    });
    thread::sleep(Duration::from_millis(100));
    assert_eq!(b.state(), State::Closed);
    assert_eq!(get(&server, "green:dep:state"), None);
}

#[test]
fn garbage_under_the_keys_is_removed_and_the_breaker_goes_on() {
    let server = RedisServer::start();
    let (store_a, store_b) = two_stores(&server, "t6");
    let mut con = server.connection();
    // A hash where the state belongs, and a list without expiry where the lease belongs.
    redis::cmd("HSET")
        .arg("t6:dep:state")
        .arg("x")
        .arg("1")
        .query::<()>(&mut con)
        .unwrap();
    redis::cmd("RPUSH")
        .arg("t6:dep:probe")
        .arg("y")
        .query::<()>(&mut con)
        .unwrap();

    // Reading the state on attach finds the garbage, removes it, and adopts nothing.
    let a = Breaker::with_store("dep", config(300), store_a);
    until("the state garbage is removed", || {
        redis::cmd("EXISTS")
            .arg("t6:dep:state")
            .query::<i64>(&mut con)
            .unwrap()
            == 0
    });
    assert_eq!(a.state(), State::Closed);
    let b = Breaker::with_store("dep", config(300), store_b);

    // An unknown word, then an `open` that would never expire.
    redis::cmd("SET")
        .arg("t6:dep:state")
        .arg("banana")
        .query::<()>(&mut con)
        .unwrap();
    open_everywhere_until_reset_is_over(&a, &b, 300);
    redis::cmd("SET")
        .arg("t6:dep:state")
        .arg("open")
        .query::<()>(&mut con)
        .unwrap();
    // The lease request meets both pieces of garbage: removed, and the lease is granted.
    let trial = a
        .acquire()
        .expect("the lease is granted after the garbage is removed");
    assert!(b.acquire().is_err(), "b sees a's lease");
    trial.success();
    until("b closes", || b.state() == State::Closed);
    assert_eq!(get(&server, "t6:dep:state").as_deref(), Some("closed"));
    assert_eq!(get(&server, "t6:dep:probe"), None);

    // Garbage on the channel is ignored.
    redis::cmd("PUBLISH")
        .arg("t6:events")
        .arg("nonsense")
        .query::<()>(&mut con)
        .unwrap();
    redis::cmd("PUBLISH")
        .arg("t6:events")
        .arg("x open 99 dep")
        .query::<()>(&mut con)
        .unwrap();
    thread::sleep(Duration::from_millis(50));
    assert_eq!(
        b.state(),
        State::Open,
        "a well-formed announcement is applied"
    );
}

#[test]
fn redis_down_breakers_decide_locally_and_catch_up_after_a_restart() {
    let mut server = RedisServer::start();
    let (store_a, store_b) = two_stores_waiting(&server, "t7", Duration::from_millis(50));
    let a = Breaker::with_store("dep", config(300), store_a.clone());
    let b = Breaker::with_store("dep", config(10_000), store_b.clone());
    let long_a = Breaker::with_store("long", config(10_000), store_a.clone());
    let long_b = Breaker::with_store("long", config(10_000), store_b.clone());
    assert!(a.acquire().is_ok());
    server.stop();
    until("the stores notice", || {
        !store_a.is_connected() && !store_b.is_connected()
    });

    // Closed calls flow; a trips on local state; b does not hear of it.
    let reached = AtomicU32::new(0);
    for _ in 0..1000 {
        let _ = b.call(|| {
            reached.fetch_add(1, Ordering::Relaxed);
            Ok::<_, Error>(())
        });
    }
    assert_eq!(reached.load(Ordering::Relaxed), 1000);
    trip(&a);
    assert_eq!(a.state(), State::Open);
    // The open time ends: the lease cannot be asked, the caller is not held (past the
    // store's timeout, 50 ms, with room for a loaded machine), and the breaker probes on
    // its own.
    thread::sleep(Duration::from_millis(350));
    let asked = Instant::now();
    let trial = a.acquire().expect("a probes on local state");
    let waited = asked.elapsed();
    assert!(
        waited < Duration::from_millis(500),
        "the caller waited {waited:?}"
    );
    trial.failure();
    assert_eq!(a.state(), State::Open);
    // One warning per episode, however many calls.
    assert_eq!((store_a.episodes(), store_b.episodes()), (1, 1));

    trip(&long_a);

    server.restart();
    until("the stores reconnect", || {
        store_a.is_connected() && store_b.is_connected()
    });
    // What a decided while Redis was away, and still holds, is shared once it is back.
    until("b learns a's breaker is open", || {
        long_b.state() == State::Open
    });
    assert_eq!(
        long_b.metrics().last_transition.unwrap().reason,
        Reason::Shared
    );
    assert_eq!((store_a.episodes(), store_b.episodes()), (1, 1));
    long_a.reset();
    until("b closes", || long_b.state() == State::Closed);
}

#[test]
fn a_slow_redis_never_holds_a_caller_past_the_timeout() {
    let server = RedisServer::start();
    let (store_a, store_b) = two_stores_waiting(&server, "t8", Duration::from_millis(50));
    let a = Breaker::with_store("dep", config(300), store_a.clone());
    let b = Breaker::with_store("dep", config(10_000), store_b);
    open_everywhere_until_reset_is_over(&a, &b, 300);

    // Redis stops answering for 1.5 s.
    let sleeper = {
        let mut con = server.connection();
        thread::spawn(move || {
            redis::cmd("DEBUG")
                .arg("SLEEP")
                .arg("1.5")
                .query::<()>(&mut con)
                .unwrap();
        })
    };
    thread::sleep(Duration::from_millis(100));
    let asked = Instant::now();
    let trial = a
        .acquire()
        .expect("no answer in time: a probes on local state");
    let waited = asked.elapsed();
    assert!(
        waited >= Duration::from_millis(40) && waited < Duration::from_millis(500),
        "the caller waited {waited:?} for a 50 ms timeout"
    );
    // Calls on the closed path never wait on Redis: 10 000 of them (and the close's
    // announcement) are done while it is still asleep.
    trial.success();
    assert_eq!(a.state(), State::Closed);
    for _ in 0..10_000 {
        a.call(|| Ok::<_, Error>(())).unwrap();
    }
    assert!(
        !sleeper.is_finished(),
        "Redis woke before the calls were done"
    );
    assert_eq!(a.metrics().successes, 10_001);
    sleeper.join().unwrap();

    // Once Redis answers again, a's close reaches b.
    until("b closes", || b.state() == State::Closed);
    assert!(
        store_a.episodes() <= 1,
        "one warning at most for the slow spell"
    );
}

#[test]
fn unreachable_at_start_up_is_not_an_error() {
    let server = RedisServer::start();
    let port = server.port();
    drop(server);
    let store = RedisStore::connect(&format!("redis://127.0.0.1:{port}/")).unwrap();
    let breaker = Breaker::with_store("dep", config(300), store.clone());
    until("the store gives up once", || store.episodes() == 1);
    trip(&breaker);
    assert_eq!(breaker.state(), State::Open);
    assert!(breaker.acquire().is_err());
    assert!(!store.is_connected());
    // Only a malformed URL is an error.
    for url in [
        "http://127.0.0.1/",
        "not a url",
        "redis://127.0.0.1:notaport/",
    ] {
        assert!(RedisStore::connect(url).is_err(), "{url}");
    }
}

#[test]
fn the_lease_holder_runs_every_probe_and_no_one_else_runs_any() {
    let server = RedisServer::start();
    let (store_a, store_b) = two_stores(&server, "t9");
    let three = config(300).probes(3);
    let a = Breaker::with_store("dep", three, store_a);
    let b = Breaker::with_store("dep", three, store_b);
    open_everywhere_until_reset_is_over(&a, &b, 300);

    let trials: Vec<_> = (0..3).map(|_| b.acquire().expect("b's trials")).collect();
    assert!(b.acquire().is_err(), "three trials, no more");
    for _ in 0..50 {
        assert!(a.acquire().is_err(), "a runs none of them");
    }
    for trial in trials {
        trial.success();
    }
    assert_eq!(b.state(), State::Closed);
    until("a closes", || a.state() == State::Closed);
}

#[derive(Debug, PartialEq)]
enum AsyncError {
    Down,
    Rejected,
}

impl From<Error> for AsyncError {
    fn from(_: Error) -> Self {
        AsyncError::Rejected
    }
}

static ASYNC_STORE: std::sync::OnceLock<RedisStore> = std::sync::OnceLock::new();
static ASYNC_CALLS: AtomicU32 = AtomicU32::new(0);

#[failfast::circuit_breaker("t10_async", failures = 2, reset = "30s", store = ASYNC_STORE.get().unwrap().clone())]
async fn async_dependency() -> Result<(), AsyncError> {
    ASYNC_CALLS.fetch_add(1, Ordering::Relaxed);
    tokio::task::yield_now().await;
    Err(AsyncError::Down)
}

/// An async fn on tokio shares its breaker like a sync fn in a plain thread: the store
/// needs no runtime, and an async caller is never parked on Redis.
#[tokio::test]
async fn an_async_fn_shares_its_breaker_too() {
    let server = RedisServer::start();
    let (store_a, store_b) = two_stores(&server, "t10");
    ASYNC_STORE.set(store_a).unwrap();
    let other_process = Breaker::with_store("t10_async", config(30_000), store_b);
    // The async fn's breaker is registered by its first call: it trips it.
    assert_eq!(async_dependency().await, Err(AsyncError::Down));
    assert_eq!(async_dependency().await, Err(AsyncError::Down));
    assert_eq!(async_dependency().await, Err(AsyncError::Rejected));
    assert_eq!(ASYNC_CALLS.load(Ordering::Relaxed), 2);
    until("the other process opens", || {
        other_process.state() == State::Open
    });
    // And back: a reset there closes it here.
    other_process.reset();
    let here = failfast::registry().get("t10_async").unwrap();
    until("the async fn's breaker closes", || {
        here.state() == State::Closed
    });
    assert_eq!(async_dependency().await, Err(AsyncError::Down));
    assert_eq!(ASYNC_CALLS.load(Ordering::Relaxed), 3);
}

/// Redis's `expired_keys` counter: keys that expired by themselves (not deleted).
fn expired_keys(con: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("stats").query(con).unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("expired_keys:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("INFO stats has expired_keys")
}

fn exists(con: &mut redis::Connection, key: &str) -> bool {
    redis::cmd("EXISTS").arg(key).query::<i64>(con).unwrap() == 1
}

/// Redis expires a key once its time is past, so in its last millisecond a key is still
/// there with PTTL 0. Such an `open` or lease is about to end, not garbage: it must
/// neither be deleted (and reported) nor, for a lease, taken over before it ends. Each
/// round reads a key densely until it is gone; `expired_keys` tells whether it expired
/// by itself.
#[test]
fn keys_in_their_last_millisecond_are_not_garbage() {
    const ROUNDS: u64 = 5;
    let server = RedisServer::start();
    let (store, _) = two_stores(&server, "t11");
    let mut con = server.connection();

    // The state: breakers made one after another read it when they attach (each waits
    // for its read: several per millisecond).
    for round in 0..ROUNDS {
        let before = expired_keys(&mut con);
        redis::cmd("SET")
            .arg("t11:dep:state")
            .arg("open")
            .arg("PX")
            .arg(3)
            .query::<()>(&mut con)
            .unwrap();
        let mut reads = 0;
        while exists(&mut con, "t11:dep:state") {
            for _ in 0..4 {
                drop(Breaker::with_store("dep", config(10_000), store.clone()));
                reads += 1;
            }
        }
        assert_eq!(
            expired_keys(&mut con) - before,
            1,
            "round {round}: an `open` in its last millisecond was deleted ({reads} reads)"
        );
    }

    // The lease: another store holds it for 5 ms; breakers whose open time is over ask
    // for it, are told how long it has left, and ask again then: around its last ms.
    for round in 0..ROUNDS {
        let breakers: Vec<Breaker> = (0..20)
            .map(|_| {
                let b = Breaker::with_store(
                    "dep",
                    BreakerConfig::new()
                        .failures(1)
                        .reset(Duration::from_millis(100)),
                    store.clone(),
                );
                trip(&b);
                b
            })
            .collect();
        thread::sleep(Duration::from_millis(150));
        assert!(!exists(&mut con, "t11:dep:state")); // and counted as expired, now
        let before = expired_keys(&mut con);
        redis::cmd("SET")
            .arg("t11:dep:probe")
            .arg("another-store")
            .arg("PX")
            .arg(5)
            .query::<()>(&mut con)
            .unwrap();
        let started = Instant::now();
        let mut asks = 0;
        'granted: loop {
            for b in &breakers {
                asks += 1;
                if let Ok(trial) = b.acquire() {
                    drop(trial); // cancelled: no state change
                    break 'granted;
                }
            }
            assert!(started.elapsed() < Duration::from_secs(5), "never granted");
        }
        assert_eq!(
            expired_keys(&mut con) - before,
            1,
            "round {round}: the other store's lease was taken over in its last millisecond \
             ({asks} asks)"
        );
        let holder = get(&server, "t11:dep:probe");
        assert!(
            holder.is_some() && holder.as_deref() != Some("another-store"),
            "round {round}: the lease is this store's now: {holder:?}"
        );
    }
}

/// After an outage the store's two threads reconnect each on its own backoff (up to 2 s
/// apart). Once the store says it is connected, a lease request goes to Redis, not
/// granted locally while Redis answers (that let a second process probe). Eight stores,
/// each with a breaker tripped while Redis was down (so their backoffs grew), each asked
/// for the lease as soon as it says it is connected: Redis holds every lease.
#[test]
fn once_connected_again_a_lease_request_goes_to_redis() {
    const STORES: usize = 8;
    let mut server = RedisServer::start();
    let stores: Vec<RedisStore> = (0..STORES)
        .map(|i| {
            RedisStore::builder()
                .prefix(&format!("t12-{i}"))
                .timeout(Duration::from_millis(500))
                .connect(&server.url())
                .unwrap()
        })
        .collect();
    until("the stores connect", || {
        stores.iter().all(RedisStore::is_connected)
    });
    let breakers: Vec<Breaker> = stores
        .iter()
        .map(|store| Breaker::with_store("dep", config(100), store.clone()))
        .collect();
    server.stop();
    for breaker in &breakers {
        trip(breaker); // not shared: retried on the backoff for as long as Redis is down
    }
    thread::sleep(Duration::from_millis(1500));
    server.restart();
    let mut asked = [false; STORES];
    let mut local = Vec::new();
    while asked.contains(&false) {
        for (i, store) in stores.iter().enumerate() {
            if !asked[i] && store.is_connected() {
                asked[i] = true;
                let trial = breakers[i].acquire().expect("the open time is long over");
                // Held in Redis for the open time (100 ms) if Redis granted it.
                if get(&server, &format!("t12-{i}:dep:probe")).is_none() {
                    local.push(i);
                }
                drop(trial);
            }
        }
        thread::sleep(Duration::from_millis(1));
    }
    assert!(
        local.is_empty(),
        "stores {local:?} said they were connected, then granted the lease locally"
    );
}
