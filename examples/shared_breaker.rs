//! Two processes sharing one circuit breaker through Redis.
//!
//! ```sh
//! cargo run --example shared_breaker --features redis
//! REDIS_URL=redis://127.0.0.1:6379/ cargo run --example shared_breaker --features redis
//! ```
//!
//! Without `REDIS_URL`, it starts its own `redis-server` (the Debian package
//! `redis-server`) on a free port of 127.0.0.1, in a temporary directory, and stops it at
//! the end. Its keys live under a prefix of their own, so it leaves any other data alone,
//! and expire with the breaker's open time (30 s).
//!
//! Process A starts a second copy of itself, process B. Both guard the same remote call
//! with `#[circuit_breaker("inventory")]` and share its state through a `RedisStore`. A's
//! calls fail until its breaker opens; B learns of it through Redis at once, and its calls
//! are rejected without reaching the failing service.

// Starts and stops a private redis-server: the tests' helper.
#[path = "../tests/common/redis_server.rs"]
mod redis_server;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use failfast::{Breaker, BreakerConfig, Reason, RedisStore, State, circuit_breaker};

#[derive(Debug)]
enum InventoryError {
    Down,
    Failfast(failfast::Error),
}

impl From<failfast::Error> for InventoryError {
    fn from(e: failfast::Error) -> Self {
        InventoryError::Failfast(e)
    }
}

/// The remote call: the inventory service at `addr` answers `ok` or `fail`.
#[circuit_breaker("inventory", failures = 3, reset = "30s")]
fn check_inventory(addr: SocketAddr) -> Result<(), InventoryError> {
    let mut answer = String::new();
    TcpStream::connect(addr)
        .and_then(|mut stream| stream.read_to_string(&mut answer))
        .map_err(|_| InventoryError::Down)?;
    if answer == "ok\n" {
        Ok(())
    } else {
        Err(InventoryError::Down)
    }
}

/// Shares this process's breakers through Redis, and returns the `inventory` breaker,
/// registered now (with the attribute's settings) to watch its transitions.
fn share_breakers(url: &str, prefix: &str) -> Breaker {
    let store = RedisStore::builder()
        .prefix(prefix)
        .connect(url)
        .expect("a valid Redis URL");
    failfast::set_default_store(store).expect("set once, before the first call");
    let config = BreakerConfig::new()
        .failures(3)
        .reset(Duration::from_secs(30));
    failfast::registry().breaker("inventory", config)
}

/// Why and when (Unix time in ns, comparable across processes) `breaker` opens.
fn when_opened(breaker: &Breaker) -> mpsc::Receiver<(Reason, u128)> {
    let (opened, when) = mpsc::channel();
    breaker.subscribe(move |t| {
        if t.to == State::Open {
            // When it happened (`t.at`, this process's monotonic clock), in Unix time.
            let ago = Instant::now().saturating_duration_since(t.at);
            let _ = opened.send((t.reason, unix_nanos() - ago.as_nanos()));
        }
    });
    when
}

fn main() {
    match std::env::var("SHARED_BREAKER_B") {
        Ok(dependency) => process_b(dependency.parse().unwrap()),
        Err(_) => process_a(),
    }
}

fn process_a() {
    // 1. A Redis server: REDIS_URL, or our own.
    let (url, own_server) = match std::env::var("REDIS_URL") {
        Ok(url) => {
            println!("A: using the Redis server at {url}");
            (url, None)
        }
        Err(_) => {
            let server = redis_server::RedisServer::start();
            println!("A: started redis-server on 127.0.0.1:{}", server.port());
            (server.url(), Some(server))
        }
    };
    let prefix = format!("shared-breaker-example-{}", std::process::id());

    // 2. The inventory service, down: it fails every call, and counts them.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let dependency = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicU64::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = stream.write_all(b"fail\n");
        }
    });
    println!("A: the inventory service at {dependency} is down: it fails every call");

    // 3. Process B: this program again, told where everything is.
    let breaker = share_breakers(&url, &prefix);
    let opened = when_opened(&breaker);
    let mut b = Command::new(std::env::current_exe().unwrap())
        .env("SHARED_BREAKER_B", dependency.to_string())
        .env("REDIS_URL", &url)
        .env("SHARED_BREAKER_PREFIX", &prefix)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start process B");
    let mut to_b = b.stdin.take().unwrap();
    let mut from_b = BufReader::new(b.stdout.take().unwrap()).lines();
    println!("{}", from_b.next().unwrap().unwrap()); // B is ready

    // 4. A calls the failing service until its breaker opens.
    for n in 1..=3 {
        let result = check_inventory(dependency);
        let calls = hits.load(Ordering::SeqCst);
        println!("A: call {n}: {result:?} (calls that reached the service: {calls})");
    }
    let (_, tripped) = opened.recv_timeout(Duration::from_secs(1)).unwrap();
    println!("A: 3 failures in a row: the breaker is open, in every process sharing it");

    // 5. B calls: rejected at once. A prints what B says until B exits.
    writeln!(to_b, "{tripped}").unwrap();
    for line in from_b {
        println!("{}", line.unwrap());
    }
    assert!(b.wait().unwrap().success(), "process B failed");
    let calls = hits.load(Ordering::SeqCst);
    assert_eq!(calls, 3);
    println!("A: the service saw {calls} calls in all, every one from A: B never reached it");

    // 6. Stop our redis-server (if we started one). A's store notices and warns once; its
    //    breakers would carry on with local state.
    if let Some(server) = own_server {
        println!("A: stopping its redis-server");
        drop(server);
        std::thread::sleep(Duration::from_millis(100)); // the store's warning, in order
    }
}

fn process_b(dependency: SocketAddr) {
    let url = std::env::var("REDIS_URL").unwrap();
    let breaker = share_breakers(&url, &std::env::var("SHARED_BREAKER_PREFIX").unwrap());
    let opened = when_opened(&breaker);
    println!(
        "B: process {} shares the breaker 'inventory' with A; it is {}",
        std::process::id(),
        breaker.state()
    );

    // A tells us when it tripped the breaker.
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    let tripped: u128 = line.trim().parse().unwrap();
    let (reason, at) = opened.recv_timeout(Duration::from_secs(1)).unwrap();
    println!(
        "B: heard through Redis that it opened ({reason:?}: a change made by another \
         process), {:.2} ms after A tripped it",
        (at as i128 - tripped as i128) as f64 / 1e6
    );
    for n in 1..=3 {
        match check_inventory(dependency) {
            Err(InventoryError::Failfast(e)) => println!("B: call {n}: rejected: {e}"),
            other => panic!("B: call {n} should have been rejected: {other:?}"),
        }
    }
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}
