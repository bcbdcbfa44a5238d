//! One breaker shared by three processes through a real `redis-server` (`RedisStore`).
//!
//! `harness = false`: this binary is the orchestrator, or, with `FAILFAST_WORKER=<n>` in
//! its environment, worker process n. The orchestrator starts a private redis-server, a
//! fake dependency (a TCP server answering `ok` or `fail` and counting every connection),
//! and three workers, which it drives line by line over their stdin and stdout:
//!
//! | command | reply |
//! |---|---|
//! | `call` | `ok`, `failed` or `rejected`: one call of the annotated fn |
//! | `state` | the breaker's state (`closed`, `open`, `half-open`, ...) |
//! | `wait <state> <ms>` | `ok <unix nanos>` once the breaker's last transition entered `<state>` (when it happened, as its listener tells: `Transition::at` in Unix time), or `timeout` |
//! | `reset` | `ok`: `reset()` through the registry (fleet-wide) |
//! | `history` | the breaker's transitions so far |
//! | `info` | store and breaker counters |
//! | `quit` | `bye` |
//!
//! Scenarios, each with exact counts of the calls that reached the dependency:
//! (a) a trip in one process opens the breaker in the others (the propagation time is
//! measured over 30 trips and must stay under 100 ms); (b) once the reset is over, only
//! one trial runs fleet-wide, and its failure reopens the breaker everywhere; (c) a
//! successful trial closes it everywhere, and calls reach the dependency again.

#[path = "common/redis_server.rs"]
mod redis_server;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis_server::RedisServer;

/// The breaker's name in every process.
const BREAKER: &str = "shared_dep";
/// The breaker's `reset`.
const RESET: Duration = Duration::from_secs(1);
/// Trips measured in scenario (a).
const ROUNDS: usize = 30;
/// The propagation bound of the design.
const BOUND_MS: f64 = 100.0;

fn main() {
    match std::env::var("FAILFAST_WORKER") {
        Ok(n) => worker::run(&n),
        Err(_) => orchestrate(),
    }
}

/// Now, in nanoseconds since the Unix epoch: comparable across processes on one host.
fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// The instant `at` (of this process's monotonic clock), in Unix nanoseconds. A listener
/// runs after the transition and may be late (a busy CPU): a transition's own `at` is
/// when it happened.
fn unix_nanos_at(at: Instant) -> u128 {
    unix_nanos() - Instant::now().saturating_duration_since(at).as_nanos()
}

/// A worker process: one breaker, shared through the `RedisStore`, on a fn that calls the
/// fake dependency.
mod worker {
    use super::*;
    use failfast::{BreakerConfig, RedisStore, State, circuit_breaker};

    #[derive(Debug)]
    pub enum DepError {
        /// The dependency answered `fail`, or could not be reached.
        Failed,
        /// failfast rejected the call.
        Failfast(failfast::Error),
    }

    impl From<failfast::Error> for DepError {
        fn from(e: failfast::Error) -> Self {
            DepError::Failfast(e)
        }
    }

    #[circuit_breaker("shared_dep", failures = 3, reset = "1s")]
    fn call_dependency(addr: SocketAddr) -> Result<(), DepError> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .map_err(|_| DepError::Failed)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|_| DepError::Failed)?;
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .map_err(|_| DepError::Failed)?;
        if answer == "ok\n" {
            Ok(())
        } else {
            Err(DepError::Failed)
        }
    }

    /// Every state the breaker entered, with the Unix time its listener saw it.
    #[derive(Default)]
    struct Entries {
        log: Mutex<Vec<(State, u128, String)>>,
        changed: Condvar,
    }

    impl Entries {
        /// When the last transition entered `state`, waiting up to `timeout` for it.
        fn wait(&self, state: State, timeout: Duration) -> Option<u128> {
            let deadline = Instant::now() + timeout;
            let mut log = self.log.lock().unwrap();
            loop {
                if let Some(&(last, at, _)) = log.last() {
                    if last == state {
                        return Some(at);
                    }
                }
                let left = deadline.checked_duration_since(Instant::now())?;
                log = self.changed.wait_timeout(log, left).unwrap().0;
            }
        }
    }

    fn parse_state(name: &str) -> State {
        [
            State::Closed,
            State::Open,
            State::HalfOpen,
            State::ForcedOpen,
            State::Disabled,
        ]
        .into_iter()
        .find(|s| s.to_string() == name)
        .unwrap_or_else(|| panic!("no state named {name:?}"))
    }

    pub fn run(n: &str) {
        let env = |key: &str| std::env::var(key).unwrap_or_else(|_| panic!("worker: {key} unset"));
        let dependency: SocketAddr = env("FAILFAST_DEP").parse().unwrap();
        // A lease answer slower than the store's timeout (default 50 ms) lets a process
        // run its trial alone, by design: on a loaded machine that must not pass for a
        // second trial, so this test waits longer.
        let store = RedisStore::builder()
            .prefix(&env("FAILFAST_PREFIX"))
            .timeout(Duration::from_millis(500))
            .connect(&env("FAILFAST_REDIS_URL"))
            .expect("a well-formed URL");
        failfast::set_default_store(store.clone()).expect("the first store of this process");

        // Registered up front, with the attribute's settings, to log its transitions from
        // the start.
        let breaker =
            failfast::registry().breaker(BREAKER, BreakerConfig::new().failures(3).reset(RESET));
        let entries = Arc::new(Entries::default());
        entries
            .log
            .lock()
            .unwrap()
            .push((breaker.state(), unix_nanos(), "initial".into()));
        let sink = entries.clone();
        let _subscription = breaker.subscribe(move |t| {
            let at = unix_nanos_at(t.at);
            let line = format!("{}>{}({:?})", t.from, t.to, t.reason);
            sink.log.lock().unwrap().push((t.to, at, line));
            sink.changed.notify_all();
        });

        let deadline = Instant::now() + Duration::from_secs(5);
        while !store.is_connected() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        let mut out = std::io::stdout().lock();
        writeln!(out, "ready {} connected={}", n, store.is_connected()).unwrap();
        out.flush().unwrap();

        for line in std::io::stdin().lock().lines() {
            let line = line.unwrap();
            let words: Vec<&str> = line.split_whitespace().collect();
            let reply = match words.as_slice() {
                ["call"] => match call_dependency(dependency) {
                    Ok(()) => "ok".to_string(),
                    Err(DepError::Failed) => "failed".to_string(),
                    Err(DepError::Failfast(failfast::Error::Open { .. })) => "rejected".to_string(),
                    Err(DepError::Failfast(e)) => format!("unexpected {e}"),
                },
                ["state"] => breaker.state().to_string(),
                ["wait", state, ms] => {
                    let timeout = Duration::from_millis(ms.parse().unwrap());
                    match entries.wait(parse_state(state), timeout) {
                        Some(at) => format!("ok {at}"),
                        None => "timeout".to_string(),
                    }
                }
                ["reset"] => {
                    breaker.reset();
                    "ok".to_string()
                }
                ["history"] => {
                    let log = entries.log.lock().unwrap();
                    let all: Vec<&str> = log.iter().map(|(_, _, line)| line.as_str()).collect();
                    all.join(" ")
                }
                ["info"] => {
                    let m = breaker.metrics();
                    format!(
                        "connected={} episodes={} calls={} failures={} rejections={} conflict={}",
                        store.is_connected(),
                        store.episodes(),
                        m.calls,
                        m.failures,
                        m.rejections,
                        breaker.conflict().is_some()
                    )
                }
                ["quit"] => {
                    writeln!(out, "bye").unwrap();
                    out.flush().unwrap();
                    return;
                }
                _ => format!("unknown command {line:?}"),
            };
            writeln!(out, "{reply}").unwrap();
            out.flush().unwrap();
        }
    }
}

/// The fake dependency: a TCP server on 127.0.0.1 that counts every connection and answers
/// `ok` or `fail`. With its gate closed, it holds each answer until the gate opens (to keep
/// a trial call in flight).
struct Dependency {
    addr: SocketAddr,
    hits: Arc<AtomicU64>,
    healthy: Arc<AtomicBool>,
    gate: Arc<(Mutex<bool>, Condvar)>,
    stop: Arc<AtomicBool>,
}

impl Dependency {
    fn start() -> Dependency {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let dependency = Dependency {
            addr: listener.local_addr().unwrap(),
            hits: Arc::default(),
            healthy: Arc::default(),
            gate: Arc::new((Mutex::new(true), Condvar::new())),
            stop: Arc::default(),
        };
        let (hits, healthy, gate, stop) = (
            dependency.hits.clone(),
            dependency.healthy.clone(),
            dependency.gate.clone(),
            dependency.stop.clone(),
        );
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(SeqCst) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                // Counted before the answer, so a caller's reply implies its hit.
                hits.fetch_add(1, SeqCst);
                let (healthy, gate) = (healthy.clone(), gate.clone());
                thread::spawn(move || {
                    let (open, opened) = &*gate;
                    let held = open.lock().unwrap();
                    drop(
                        opened
                            .wait_timeout_while(held, Duration::from_secs(10), |open| !*open)
                            .unwrap(),
                    );
                    let answer = if healthy.load(SeqCst) {
                        "ok\n"
                    } else {
                        "fail\n"
                    };
                    let _ = stream.write_all(answer.as_bytes());
                });
            }
        });
        dependency
    }

    fn hits(&self) -> u64 {
        self.hits.load(SeqCst)
    }

    fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, SeqCst);
    }

    fn set_gate(&self, open: bool) {
        *self.gate.0.lock().unwrap() = open;
        self.gate.1.notify_all();
    }

    /// Waits up to 2 s until the dependency has seen `n` calls; returns the count.
    fn wait_hits(&self, n: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.hits() < n && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        self.hits()
    }
}

impl Drop for Dependency {
    fn drop(&mut self) {
        self.stop.store(true, SeqCst);
        self.set_gate(true);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
    }
}

/// A worker process, driven over its stdin and stdout; killed on drop.
struct Worker {
    n: usize,
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Worker {
    fn spawn(n: usize, url: &str, prefix: &str, dependency: SocketAddr) -> Worker {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env("FAILFAST_WORKER", n.to_string())
            .env("FAILFAST_REDIS_URL", url)
            .env("FAILFAST_PREFIX", prefix)
            .env("FAILFAST_DEP", dependency.to_string())
            .env_remove("FAILFAST_DISABLED")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn a worker");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Worker {
            n,
            child,
            stdin,
            lines,
        }
    }

    fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}")
            .and_then(|()| self.stdin.flush())
            .unwrap_or_else(|e| panic!("worker {}: cannot send {command:?}: {e}", self.n));
    }

    /// The next reply, waiting up to `timeout`; `None` if there is none yet.
    fn try_recv(&self, timeout: Duration) -> Option<String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => panic!("worker {} exited", self.n),
        }
    }

    fn recv(&self) -> String {
        self.try_recv(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("worker {} did not answer within 5 s", self.n))
    }

    fn ask(&mut self, command: &str) -> String {
        self.send(command);
        self.recv()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The orchestrator's view: the server, the dependency and the workers.
struct Lab {
    workers: Vec<Worker>,
    dependency: Dependency,
    server: RedisServer,
}

impl Lab {
    /// Asks worker `w` (0-based) to call; returns its reply.
    fn call(&mut self, w: usize) -> String {
        self.workers[w].ask("call")
    }

    /// When worker `w`'s breaker entered `state`, waiting up to `ms`; panics with what the
    /// processes and Redis hold if it does not.
    fn wait(&mut self, w: usize, state: &str, ms: u64) -> u128 {
        let reply = self.workers[w].ask(&format!("wait {state} {ms}"));
        match reply.strip_prefix("ok ") {
            Some(at) => at.parse().unwrap(),
            None => self.fail(&format!(
                "worker {}: no transition to {state} within {ms} ms ({reply})",
                w + 1
            )),
        }
    }

    /// Every worker's breaker state.
    fn states(&mut self) -> Vec<String> {
        self.workers.iter_mut().map(|w| w.ask("state")).collect()
    }

    /// Panics with `what`, each worker's history and the Redis keys.
    fn fail(&mut self, what: &str) -> ! {
        let mut report = format!("{what}\n");
        for w in &mut self.workers {
            let history = w.ask("history");
            let info = w.ask("info");
            report += &format!("  worker {}: {info}\n    {history}\n", w.n);
        }
        for key in self.server.dump_keys() {
            report += &format!("  redis: {key}\n");
        }
        panic!("{report}");
    }

    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.fail(&what());
        }
    }

    /// All three workers call at once while the dependency holds its answers: exactly one
    /// call (the trial) reaches it and the other two are rejected while it is in flight.
    /// Then the trial is answered. Returns the trial's worker (0-based) and its reply.
    fn concurrent_trial(&mut self) -> (usize, String) {
        let before = self.dependency.hits();
        self.dependency.set_gate(false);
        for w in &mut self.workers {
            w.send("call");
        }
        let hits = self.dependency.wait_hits(before + 1);
        let mut replies: Vec<Option<String>> = vec![None; 3];
        let deadline = Instant::now() + Duration::from_secs(2);
        while replies.iter().filter(|r| r.is_some()).count() < 2 && Instant::now() < deadline {
            for (w, reply) in replies.iter_mut().enumerate() {
                if reply.is_none() {
                    *reply = self.workers[w].try_recv(Duration::from_millis(1));
                }
            }
        }
        // Give a wrongly admitted second trial time to arrive before counting.
        thread::sleep(Duration::from_millis(50));
        let held_hits = self.dependency.hits();
        self.dependency.set_gate(true);
        let trial = replies.iter().position(Option::is_none);
        let answered: Vec<String> = replies.iter().flatten().cloned().collect();
        self.check(
            hits == before + 1
                && held_hits == before + 1
                && trial.is_some()
                && answered.iter().all(|r| r == "rejected"),
            || {
                format!(
                    "3 concurrent calls: {} reached the dependency (first count {}), \
                     expected 1; replies while it held its answers: {replies:?}",
                    held_hits - before,
                    hits - before
                )
            },
        );
        let trial = trial.unwrap();
        let reply = self.workers[trial].recv();
        for w in &self.workers {
            if let Some(extra) = w.try_recv(Duration::from_millis(1)) {
                panic!("worker {}: unexpected extra reply {extra:?}", w.n);
            }
        }
        (trial, reply)
    }
}

/// Sleeps until `at` (Unix nanos).
fn sleep_until(at: u128) {
    let now = unix_nanos();
    if at > now {
        thread::sleep(Duration::from_nanos((at - now) as u64));
    }
}

fn ms(nanos: i128) -> f64 {
    nanos as f64 / 1e6
}

fn orchestrate() {
    let started = Instant::now();
    let server = RedisServer::start();
    let dependency = Dependency::start();
    let prefix = format!("failfast-test-{}-{}", std::process::id(), unix_nanos());
    let workers: Vec<Worker> = (1..=3)
        .map(|n| Worker::spawn(n, &server.url(), &prefix, dependency.addr))
        .collect();
    let mut lab = Lab {
        workers,
        dependency,
        server,
    };
    for w in &lab.workers {
        let ready = w.recv();
        assert_eq!(
            ready,
            format!("ready {} connected=true", w.n),
            "worker start-up"
        );
    }
    assert_eq!(lab.states(), ["closed", "closed", "closed"]);
    println!(
        "shared_processes: 3 worker processes, redis-server on port {}, prefix {prefix}",
        lab.server.port()
    );

    // (a) A trip in one process opens the breaker in the others. Round r trips it in
    // worker r % 3 (round 0: worker 1) and resets it through the next worker.
    let mut delays: Vec<i128> = Vec::new();
    let mut last_trip = 0;
    for round in 0..ROUNDS {
        let tripper = round % 3;
        let before = lab.dependency.hits();
        for i in 0..3 {
            let reply = lab.call(tripper);
            lab.check(reply == "failed", || {
                format!(
                    "round {round}: call {i} of worker {} was {reply}",
                    tripper + 1
                )
            });
        }
        let hits = lab.dependency.hits();
        lab.check(hits == before + 3, || {
            format!("round {round}: {} hits for 3 failed calls", hits - before)
        });
        let tripped = lab.wait(tripper, "open", 100);
        for other in (0..3).filter(|&w| w != tripper) {
            let opened = lab.wait(other, "open", 1000);
            delays.push(opened as i128 - tripped as i128);
            let reply = lab.call(other);
            lab.check(reply == "rejected", || {
                format!("round {round}: worker {} answered {reply}", other + 1)
            });
        }
        let hits = lab.dependency.hits();
        lab.check(hits == before + 3, || {
            format!(
                "round {round}: rejected calls reached the dependency ({})",
                hits - before - 3
            )
        });
        last_trip = tripped;
        if round + 1 < ROUNDS {
            let resetter = (tripper + 1) % 3;
            assert_eq!(lab.workers[resetter].ask("reset"), "ok");
            for w in 0..3 {
                lab.wait(w, "closed", 1000);
            }
        }
    }
    let mut sorted = delays.clone();
    sorted.sort();
    let (min, median, max) = (
        ms(sorted[0]),
        ms(sorted[sorted.len() / 2]),
        ms(sorted[sorted.len() - 1]),
    );
    println!(
        "(a) {ROUNDS} trips, {} propagations to the other processes: \
         min {min:.2} ms, median {median:.2} ms, max {max:.2} ms (bound {BOUND_MS} ms); \
         every rejected call stayed off the dependency",
        delays.len()
    );
    lab.check(max < BOUND_MS, || {
        format!("propagation took {max:.2} ms, over the {BOUND_MS} ms bound: {sorted:?} ns")
    });

    // (b) Once the reset is over, with the dependency still down: one trial fleet-wide,
    // which fails and reopens the breaker everywhere.
    sleep_until(last_trip + RESET.as_nanos() + 150_000_000);
    let before = lab.dependency.hits();
    let (prober, reply) = lab.concurrent_trial();
    lab.check(reply == "failed", || {
        format!("the failing trial answered {reply}")
    });
    let reopened = lab.wait(prober, "open", 1000);
    assert_eq!(lab.dependency.hits(), before + 1);
    let states = lab.states();
    lab.check(states == ["open", "open", "open"], || {
        format!("after the failed trial: {states:?}")
    });
    // Halfway through the new open time nobody may call, though the first open time of
    // the others is long over: the reopen holds fleet-wide.
    sleep_until(reopened + RESET.as_nanos() / 2);
    for w in 0..3 {
        let reply = lab.call(w);
        lab.check(reply == "rejected", || {
            format!("worker {} after the failed trial: {reply}", w + 1)
        });
    }
    assert_eq!(lab.dependency.hits(), before + 1);
    println!(
        "(b) dependency down, reset over, 3 concurrent calls: 1 trial (worker {}), \
         2 rejected while it ran; it failed and the breaker reopened everywhere \
         (3 calls 0.5 s later: all rejected)",
        prober + 1
    );

    // (c) The dependency is back: one trial, which closes the breaker everywhere; then
    // every call reaches the dependency.
    lab.dependency.set_healthy(true);
    sleep_until(reopened + RESET.as_nanos() + 150_000_000);
    let before = lab.dependency.hits();
    let (prober, reply) = lab.concurrent_trial();
    lab.check(reply == "ok", || {
        format!("the succeeding trial answered {reply}")
    });
    let closed = lab.wait(prober, "closed", 1000);
    let mut close_delays = Vec::new();
    for w in (0..3).filter(|&w| w != prober) {
        close_delays.push(ms(lab.wait(w, "closed", 1000) as i128 - closed as i128));
    }
    assert_eq!(lab.dependency.hits(), before + 1);
    for w in 0..3 {
        for _ in 0..5 {
            let reply = lab.call(w);
            lab.check(reply == "ok", || {
                format!("worker {} once closed: {reply}", w + 1)
            });
        }
    }
    let hits = lab.dependency.hits();
    lab.check(hits == before + 1 + 15, || {
        format!("{} hits for 1 trial and 15 calls", hits - before)
    });
    println!(
        "(c) dependency up, 3 concurrent calls: 1 trial (worker {}), 2 rejected while it ran; \
         it succeeded and the breaker closed in the others after {close_delays:.2?} ms; \
         then 15 of 15 calls reached the dependency",
        prober + 1
    );

    for w in &mut lab.workers {
        let info = w.ask("info");
        println!("worker {}: {info}", w.n);
        lab_check_info(w.n, &info);
        assert_eq!(w.ask("quit"), "bye");
        let status = w.child.wait().unwrap();
        assert!(status.success(), "worker {} exited with {status}", w.n);
    }
    println!(
        "{} calls reached the dependency in all; {:.1} s",
        lab.dependency.hits(),
        started.elapsed().as_secs_f64()
    );
}

/// A clean run: connected, no outage, no conflicting registration.
fn lab_check_info(n: usize, info: &str) {
    assert!(
        info.starts_with("connected=true episodes=0 ") && info.ends_with("conflict=false"),
        "worker {n}: {info}"
    );
}
