//! The Redis store under chaos and under load: three real processes share one breaker
//! through one real `redis-server`, each calling a fake dependency from several threads,
//! while the dependency follows a random (seeded) schedule of healthy and failing phases,
//! and Redis is stalled, killed and restarted, or a process is killed mid-trial.
//!
//! `harness = false`: this binary is the orchestrator, or, with `FAILFAST_CHAOS_WORKER=<n>`
//! in its environment, worker process n. A worker makes one breaker (`failures = 3`,
//! `reset = 300ms`, `probes = 2`) on a `RedisStore` (timeout 500 ms) and runs 4 threads
//! that call through it in a loop, each keeping a connection to the dependency. Every call
//! that gets a permit tells the dependency who makes it, whether it is a trial (the
//! permit's `Debug`) and when it was admitted. The dependency is a TCP server in the
//! orchestrator: it answers each call after 1 to 3 ms, `ok` or `fail` as the current phase
//! says (healthy, failing for all, failing for one process only, or flaky), and records
//! every trial. It can hold trials (to keep one in flight) or delay them.
//!
//! The fleet-wide contract, checked from the workers' transition logs (Unix time, one
//! clock on one host) and the dependency's record of trials:
//! - **Propagation**: when a process opens on its own failures, every other process that
//!   was closed leaves Closed within 100 ms (the README's bound), or within 100 ms of the
//!   end of a short Redis stall that delayed the announcement.
//! - **One probe fleet-wide**: the trials fall into spells (a spell: the trials admitted
//!   within one open time of its first); a spell's trials all come from one process, at
//!   most `probes` of them. A trial of another process is a new spell only once the
//!   first's trials all succeeded (it closed the breaker: the lease is free again).
//! - **No wedge**: once the dependency is healthy, every process is closed within
//!   `reset` + 700 ms.
//! - **Never held**: no call waits for a permit longer than the store's timeout + 250 ms.
//! - No worker reports garbage under the keys (nobody writes any here).
//!
//! Cases, each with 3 fresh worker processes and a prefix of its own:
//! 1. `load`: 12 s of random phases.
//! 2. `kill -9`: the process holding the half-open lease is killed with its trials in
//!    flight; the others must not probe before the lease lapses (one open time after it
//!    was taken), and one of them must probe then.
//! 3. `DEBUG SLEEP`: random phases with Redis stalled for 20 to 120 ms every few hundred
//!    ms (under the store's timeout: every check holds, strict), then one 1.2 s stall
//!    with the fleet open (longer than the store's timeout: calls are still never held;
//!    each process may probe on its own, as documented, at most `probes` trials each).
//! 4. `restart`: Redis is killed with a trial in flight; processes go on alone (closing,
//!    and one tripping alone while the others keep calling; calls never held); Redis is
//!    restarted (empty); they reconnect (connected, and subscribed again: `PUBSUB
//!    NUMSUB`) and converge on the open state of the one still failing; from then on
//!    every check holds again.
//!
//! The schedule's seed is printed; `FAILFAST_CHAOS_SEED=<n>` replays it.
//! `FAILFAST_CHAOS_CASES=stall,restart` runs only those (of `load`, `kill`, `stall`,
//! `restart`).

#[path = "common/redis_server.rs"]
mod redis_server;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use redis_server::RedisServer;

const BREAKER: &str = "chaos_dep";
const FAILURES: u32 = 3;
const RESET: Duration = Duration::from_millis(300);
const PROBES: u32 = 2;
/// The store's timeout: the longest a caller may wait for Redis. Past it a lease request
/// is granted locally, by design; 500 ms (as in `shared_processes.rs`) so that a loaded
/// host cannot turn an answer Redis gives in time into a local decision.
const STORE_TIMEOUT: Duration = Duration::from_millis(500);
const WORKERS: usize = 3;
const THREADS: usize = 4;
/// The propagation bound the README states.
const PROPAGATION: Duration = Duration::from_millis(100);
/// Once the dependency is healthy, every process is closed within `RESET` + this.
const HEAL_BOUND: Duration = Duration::from_millis(700);
/// A call waits for its permit at most `STORE_TIMEOUT` + this (a loaded host).
const ADMISSION_SLACK: Duration = Duration::from_millis(250);
/// A lease is taken a little before its holder's first trial is admitted.
const LEASE_SLACK: Duration = Duration::from_millis(20);
/// What a worker says when it finds garbage under a key.
const GARBAGE_WARNING: &str = "unexpected data under the Redis key";

fn main() {
    match std::env::var("FAILFAST_CHAOS_WORKER") {
        Ok(n) => worker::run(n.parse().expect("a worker number")),
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

fn nanos(d: Duration) -> u128 {
    d.as_nanos()
}

fn ms(nanos: i128) -> f64 {
    nanos as f64 / 1e6
}

/// A worker process: one breaker on a `RedisStore`, called by `THREADS` threads.
mod worker {
    use super::*;
    use failfast::{Breaker, BreakerConfig, RedisStore};

    #[derive(Default)]
    struct Stats {
        calls: AtomicU64,
        trials: AtomicU64,
        rejections: AtomicU64,
        max_acquire_ns: AtomicU64,
        /// Calls whose permit took longer than `STORE_TIMEOUT` + `ADMISSION_SLACK`.
        held: AtomicU64,
        /// Permits that took more than half the store's timeout: (asked, ms).
        slow: Mutex<Vec<(u128, f64)>>,
    }

    /// A call of the dependency over the thread's connection: its answer, `false` if it
    /// failed or could not be reached (then the connection is dropped).
    fn call(
        con: &mut Option<(TcpStream, BufReader<TcpStream>)>,
        dep: SocketAddr,
        request: &str,
    ) -> bool {
        if con.is_none() {
            let Ok(stream) = TcpStream::connect_timeout(&dep, Duration::from_secs(2)) else {
                return false;
            };
            let _ = stream.set_nodelay(true);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
            let reader = BufReader::new(stream.try_clone().unwrap());
            *con = Some((stream, reader));
        }
        let (stream, reader) = con.as_mut().unwrap();
        let mut answer = String::new();
        let asked = stream
            .write_all(request.as_bytes())
            .and_then(|()| reader.read_line(&mut answer));
        match asked {
            Ok(n) if n > 0 => answer == "ok\n",
            _ => {
                *con = None;
                false
            }
        }
    }

    pub fn run(n: usize) {
        let env = |key: &str| std::env::var(key).unwrap_or_else(|_| panic!("worker: {key}"));
        let dep: SocketAddr = env("FAILFAST_DEP").parse().unwrap();
        let seed: u64 = env("FAILFAST_CHAOS_SEED").parse().unwrap();
        let store = RedisStore::builder()
            .prefix(&env("FAILFAST_PREFIX"))
            .timeout(STORE_TIMEOUT)
            .connect(&env("FAILFAST_REDIS_URL"))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !store.is_connected() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(2));
        }
        let config = BreakerConfig::new()
            .failures(FAILURES)
            .reset(RESET)
            .probes(PROBES);
        let attaching = Instant::now();
        let breaker = Arc::new(Breaker::with_store(BREAKER, config, store.clone()));
        let attach = attaching.elapsed();

        // Every transition, as `at:from>to:reason` (`at` in Unix nanos: when it
        // happened, as its `at` says; the listener may run a little later).
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = log.clone();
        let _subscription = breaker.subscribe(move |t| {
            let late = Instant::now().saturating_duration_since(t.at).as_nanos();
            sink.lock().unwrap().push(format!(
                "{}:{}>{}:{:?}",
                unix_nanos() - late,
                t.from,
                t.to,
                t.reason
            ));
        });

        let stats = Arc::new(Stats::default());
        let load = Arc::new(AtomicBool::new(false));
        for t in 0..THREADS {
            let (breaker, stats, load) = (breaker.clone(), stats.clone(), load.clone());
            thread::spawn(move || {
                let mut rng = SmallRng::seed_from_u64(seed ^ ((n as u64) << 32) ^ t as u64);
                let mut con = None;
                loop {
                    if !load.load(Relaxed) {
                        con = None;
                        thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                    let (asked, asked_unix) = (Instant::now(), unix_nanos());
                    let permit = breaker.acquire();
                    let waited = asked.elapsed();
                    if waited > STORE_TIMEOUT / 2 {
                        let ms = waited.as_secs_f64() * 1e3;
                        stats.slow.lock().unwrap().push((asked_unix, ms));
                    }
                    stats
                        .max_acquire_ns
                        .fetch_max(waited.as_nanos() as u64, Relaxed);
                    if waited > STORE_TIMEOUT + ADMISSION_SLACK {
                        stats.held.fetch_add(1, Relaxed);
                    }
                    let Ok(permit) = permit else {
                        stats.rejections.fetch_add(1, Relaxed);
                        thread::sleep(Duration::from_millis(1));
                        continue;
                    };
                    let trial = format!("{permit:?}").contains("trial: true");
                    stats.calls.fetch_add(1, Relaxed);
                    if trial {
                        stats.trials.fetch_add(1, Relaxed);
                    }
                    let request = format!("{n} {} {}\n", u8::from(trial), unix_nanos());
                    if call(&mut con, dep, &request) {
                        permit.success();
                    } else {
                        permit.failure();
                    }
                    thread::sleep(Duration::from_micros(rng.random_range(0..=1000)));
                }
            });
        }

        let mut out = std::io::stdout().lock();
        writeln!(out, "ready {n} connected={}", store.is_connected()).unwrap();
        out.flush().unwrap();
        for line in std::io::stdin().lock().lines() {
            let line = line.unwrap();
            let words: Vec<&str> = line.split_whitespace().collect();
            let reply = match words.as_slice() {
                ["load", on] => {
                    load.store(*on == "on", Relaxed);
                    "ok".to_string()
                }
                ["state"] => breaker.state().to_string(),
                ["wait", state, ms] => {
                    let until = Instant::now() + Duration::from_millis(ms.parse().unwrap());
                    while breaker.state().to_string() != *state && Instant::now() < until {
                        thread::sleep(Duration::from_millis(1));
                    }
                    let now = breaker.state().to_string();
                    if now == *state {
                        "ok".to_string()
                    } else {
                        format!("timeout: {now}")
                    }
                }
                ["connected"] => store.is_connected().to_string(),
                ["slow"] => format!("{:?}", stats.slow.lock().unwrap()),
                ["log"] => log.lock().unwrap().join(" "),
                ["stats"] => format!(
                    "connected={} episodes={} calls={} trials={} rejections={} \
                     max_acquire_ms={:.1} held={} attach_ms={:.1}",
                    store.is_connected(),
                    store.episodes(),
                    stats.calls.load(Relaxed),
                    stats.trials.load(Relaxed),
                    stats.rejections.load(Relaxed),
                    stats.max_acquire_ns.load(Relaxed) as f64 / 1e6,
                    stats.held.load(Relaxed),
                    attach.as_secs_f64() * 1e3,
                ),
                ["quit"] => {
                    load.store(false, Relaxed);
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

/// What the dependency does with a call.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Healthy,
    /// Every call fails.
    FailAll,
    /// The calls of this worker fail (say, its host lost its route), the others succeed.
    FailOnly(usize),
    /// Each call fails with probability 1/2.
    Flaky,
}

/// A trial call, as the dependency saw it.
#[derive(Debug, Clone, Copy)]
struct Trial {
    worker: usize,
    /// When its permit was granted, as the worker says.
    admitted: u128,
    /// When the dependency answered it.
    answered: u128,
    ok: bool,
}

struct DepState {
    phase: Phase,
    /// Trials wait for this to be false before they are answered.
    hold_trials: bool,
    /// Added to a trial's answer time.
    trial_delay: Duration,
    /// Trials waiting on `hold_trials`, by worker.
    held: Vec<usize>,
    trials: Vec<Trial>,
    calls: u64,
    rng: SmallRng,
}

/// The fake dependency: a TCP server on 127.0.0.1, one thread per connection, one line
/// `worker trial admitted` per call, answered `ok` or `fail`.
struct Dependency {
    addr: SocketAddr,
    shared: Arc<(Mutex<DepState>, Condvar)>,
}

impl Dependency {
    fn start(seed: u64) -> Dependency {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let shared = Arc::new((
            Mutex::new(DepState {
                phase: Phase::Healthy,
                hold_trials: false,
                trial_delay: Duration::ZERO,
                held: Vec::new(),
                trials: Vec::new(),
                calls: 0,
                rng: SmallRng::seed_from_u64(seed),
            }),
            Condvar::new(),
        ));
        let dependency = Dependency {
            addr: listener.local_addr().unwrap(),
            shared: shared.clone(),
        };
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let shared = shared.clone();
                thread::spawn(move || serve(stream, &shared));
            }
        });
        dependency
    }

    fn with<T>(&self, f: impl FnOnce(&mut DepState) -> T) -> T {
        let value = f(&mut self.shared.0.lock().unwrap());
        self.shared.1.notify_all();
        value
    }

    fn set_phase(&self, phase: Phase) {
        self.with(|s| s.phase = phase);
    }

    /// Forgets the trials and calls of an earlier case.
    fn clear(&self) {
        self.with(|s| {
            s.trials.clear();
            s.held.clear();
            s.calls = 0;
            s.hold_trials = false;
            s.trial_delay = Duration::ZERO;
        });
    }

    fn trials(&self) -> Vec<Trial> {
        self.with(|s| s.trials.clone())
    }
}

fn serve(stream: TcpStream, shared: &(Mutex<DepState>, Condvar)) {
    let _ = stream.set_nodelay(true);
    let mut writer = stream.try_clone().unwrap();
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { return };
        let mut words = line.split_whitespace().map(|w| w.parse::<u128>().unwrap());
        let (worker, trial, admitted) = (
            words.next().unwrap() as usize,
            words.next().unwrap() == 1,
            words.next().unwrap(),
        );
        let (lock, changed) = shared;
        let mut state = lock.lock().unwrap();
        state.calls += 1;
        if trial && state.hold_trials {
            state.held.push(worker);
            while state.hold_trials {
                state = changed.wait(state).unwrap();
            }
        }
        let mut latency = Duration::from_micros(state.rng.random_range(1000..=3000));
        if trial {
            latency += state.trial_delay;
        }
        drop(state);
        thread::sleep(latency);
        let mut state = lock.lock().unwrap();
        let ok = match state.phase {
            Phase::Healthy => true,
            Phase::FailAll => false,
            Phase::FailOnly(w) => worker != w,
            Phase::Flaky => state.rng.random_bool(0.5),
        };
        if trial {
            state.trials.push(Trial {
                worker,
                admitted,
                answered: unix_nanos(),
                ok,
            });
        }
        drop(state);
        // A worker killed meanwhile is not there to read it.
        let _ = writer.write_all(if ok { b"ok\n" } else { b"fail\n" });
    }
}

/// A worker process, driven over its stdin and stdout; its stderr is kept. Killed on drop.
struct Worker {
    n: usize,
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    stderr: Arc<Mutex<Vec<String>>>,
    /// When it was killed, if it was, and its transitions up to a moment before.
    killed: Option<u128>,
    last_log: String,
}

impl Worker {
    fn spawn(n: usize, url: &str, prefix: &str, dep: SocketAddr, seed: u64) -> Worker {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env("FAILFAST_CHAOS_WORKER", n.to_string())
            .env("FAILFAST_REDIS_URL", url)
            .env("FAILFAST_PREFIX", prefix)
            .env("FAILFAST_DEP", dep.to_string())
            .env("FAILFAST_CHAOS_SEED", seed.to_string())
            .env_remove("FAILFAST_DISABLED")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
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
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (errors, pipe) = (stderr.clone(), child.stderr.take().unwrap());
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                eprintln!("  [worker {n}] {line}");
                errors.lock().unwrap().push(line);
            }
        });
        Worker {
            n,
            child,
            stdin,
            lines,
            stderr,
            killed: None,
            last_log: String::new(),
        }
    }

    fn ask_within(&mut self, command: &str, timeout: Duration) -> String {
        writeln!(self.stdin, "{command}")
            .and_then(|()| self.stdin.flush())
            .unwrap_or_else(|e| panic!("worker {}: cannot send {command:?}: {e}", self.n));
        match self.lines.recv_timeout(timeout) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                panic!("worker {}: no answer to {command:?} in {timeout:?}", self.n)
            }
            Err(RecvTimeoutError::Disconnected) => panic!("worker {} exited", self.n),
        }
    }

    fn ask(&mut self, command: &str) -> String {
        self.ask_within(command, Duration::from_secs(5))
    }

    fn alive(&self) -> bool {
        self.killed.is_none()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One transition of one worker's breaker.
#[derive(Debug, Clone)]
struct Entry {
    at: u128,
    to: String,
    reason: String,
}

/// Time spans the checks treat apart, in Unix nanos.
#[derive(Default)]
struct Windows {
    /// Redis stalled, shorter than the store's timeout: an announcement may wait for the
    /// stall's end, so propagation is measured from then (for a trip up to `PROPAGATION`
    /// before the stall).
    stalls: Vec<(u128, u128)>,
    /// Redis down or stalled past the store's timeout, and the settling after: processes
    /// decide alone (documented), so a trip may not reach the others and more than one
    /// process may probe. Only what holds regardless is checked: at most `probes`
    /// trials per process per spell.
    alone: Vec<(u128, u128)>,
}

impl Windows {
    fn alone_at(&self, at: u128) -> bool {
        self.alone.iter().any(|&(from, to)| from <= at && at <= to)
    }

    /// The end of the last stall under way in `at` + `PROPAGATION`, if any: it may have
    /// held an announcement made at `at`.
    fn stall_end(&self, at: u128) -> Option<u128> {
        self.stalls
            .iter()
            .filter(|&&(from, to)| from <= at + nanos(PROPAGATION) && at <= to)
            .map(|&(_, to)| to)
            .max()
    }
}

/// One case: its workers, on the shared dependency and Redis.
struct Lab<'a> {
    name: &'static str,
    seed: u64,
    started: Instant,
    server: &'a mut RedisServer,
    dep: &'a Dependency,
    workers: Vec<Worker>,
    windows: Windows,
    /// (when, phase) for every phase switch.
    phases: Vec<(u128, Phase)>,
    prefix: String,
}

impl<'a> Lab<'a> {
    fn start(
        name: &'static str,
        seed: u64,
        server: &'a mut RedisServer,
        dep: &'a Dependency,
    ) -> Lab<'a> {
        dep.clear();
        dep.set_phase(Phase::Healthy);
        let prefix = format!(
            "chaos-{}-{}-{}",
            name.replace(' ', "_"),
            std::process::id(),
            unix_nanos()
        );
        let workers: Vec<Worker> = (0..WORKERS)
            .map(|n| Worker::spawn(n, &server.url(), &prefix, dep.addr, seed))
            .collect();
        let mut lab = Lab {
            name,
            seed,
            started: Instant::now(),
            server,
            dep,
            workers,
            windows: Windows::default(),
            phases: Vec::new(),
            prefix,
        };
        for w in 0..WORKERS {
            let ready = lab.workers[w]
                .lines
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("worker {w} did not start: {e}"));
            lab.check(ready == format!("ready {w} connected=true"), || {
                format!("worker start-up: {ready}")
            });
        }
        lab
    }

    fn load(&mut self, on: bool) {
        for w in self.workers.iter_mut().filter(|w| w.alive()) {
            assert_eq!(w.ask(if on { "load on" } else { "load off" }), "ok");
        }
    }

    fn set_phase(&mut self, phase: Phase) {
        self.dep.set_phase(phase);
        self.phases.push((unix_nanos(), phase));
    }

    fn alive(&self) -> Vec<usize> {
        (0..WORKERS).filter(|&w| self.workers[w].alive()).collect()
    }

    /// Waits until every live worker is in `state`, at most `timeout` in all.
    fn wait_all(&mut self, state: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        for w in self.alive() {
            let left = deadline.saturating_duration_since(Instant::now());
            let reply = self.workers[w].ask_within(
                &format!("wait {state} {}", left.as_millis()),
                left + Duration::from_secs(5),
            );
            self.check(reply == "ok", || {
                format!("worker {w} not {state} within {timeout:?}: {reply}")
            });
        }
    }

    fn states(&mut self) -> Vec<String> {
        self.alive()
            .into_iter()
            .map(|w| self.workers[w].ask("state"))
            .collect()
    }

    /// Every worker's transitions so far (a killed worker's: up to its kill).
    fn logs(&mut self) -> Vec<Vec<Entry>> {
        let mut logs = Vec::new();
        for w in &mut self.workers {
            let line = if w.alive() {
                w.ask("log")
            } else {
                w.last_log.clone()
            };
            logs.push(
                line.split_whitespace()
                    .map(|item| {
                        let mut parts = item.splitn(3, ':');
                        let at = parts.next().unwrap().parse().unwrap();
                        let change = parts.next().unwrap();
                        let to = change.split_once('>').unwrap().1.to_string();
                        Entry {
                            at,
                            to,
                            reason: parts.next().unwrap().to_string(),
                        }
                    })
                    .collect(),
            );
        }
        logs
    }

    /// Panics with `what`, what each worker says and what Redis holds.
    fn fail(&mut self, what: &str) -> ! {
        let mut report = format!(
            "case {} (seed {}, FAILFAST_CHAOS_SEED={} replays it): {what}\n",
            self.name, self.seed, self.seed
        );
        for w in &mut self.workers {
            if w.alive() {
                let stats = w.ask("stats");
                let log = w.ask("log");
                let slow = w.ask("slow");
                report += &format!(
                    "  worker {}: {stats}\n    slow permits: {slow}\n    {log}\n",
                    w.n
                );
            } else {
                report += &format!("  worker {}: killed\n", w.n);
            }
        }
        if self.server.is_running() {
            for key in self.server.dump_keys() {
                report += &format!("  redis: {key}\n");
            }
        }
        report += &format!("  phases: {:?}\n", self.phases);
        report += &format!("  stalls: {:?}\n", self.windows.stalls);
        report += &format!(
            "  host hiccups (a 5 ms sleep that took > 50 ms: at, ms): {:?}\n",
            hiccups()
        );
        report += &format!("  alone: {:?}\n", self.windows.alone);
        panic!("{report}");
    }

    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.fail(&what());
        }
    }

    /// Runs `phases` (each for its duration) under load.
    fn run_schedule(&mut self, phases: &[(Phase, Duration)]) {
        for &(phase, duration) in phases {
            self.set_phase(phase);
            thread::sleep(duration);
        }
    }

    /// The dependency heals for good: every live worker closes within `RESET` +
    /// `HEAL_BOUND`. Returns how long that took.
    fn heal(&mut self) -> Duration {
        self.set_phase(Phase::Healthy);
        let healed = Instant::now();
        self.wait_all("closed", RESET + HEAL_BOUND);
        healed.elapsed()
    }

    /// Sleeps `d`, then checks that every live worker but `w` is closed.
    fn wait_all_but(&mut self, w: usize, d: Duration) {
        thread::sleep(d);
        for other in self.alive().into_iter().filter(|&o| o != w) {
            let state = self.workers[other].ask("state");
            self.check(state == "closed", || format!("worker {other}: {state}"));
        }
    }

    /// When worker `w`'s first trial was admitted, waiting up to 1 s for the dependency to
    /// record one.
    fn first_trial_of(&mut self, w: usize) -> u128 {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let first = self
                .dep
                .trials()
                .iter()
                .filter(|t| t.worker == w)
                .map(|t| t.admitted)
                .min();
            match first {
                Some(at) => return at,
                None if Instant::now() > deadline => {
                    self.fail(&format!("no trial of worker {w} was recorded"))
                }
                None => thread::sleep(Duration::from_millis(5)),
            }
        }
    }

    /// The checks on everything recorded so far; a summary of what was seen.
    fn verify(&mut self) -> String {
        let logs = self.logs();
        let trials = self.dep.trials();
        let now = unix_nanos();
        // Workers killed before the end are left out where they cannot answer.
        let gone: Vec<Option<u128>> = self.workers.iter().map(|w| w.killed).collect();

        let delays = match propagation(&logs, &gone, &self.windows, now) {
            Ok(delays) => delays,
            Err(e) => self.fail(&e),
        };
        let spells = match spells(&trials, &self.windows) {
            Ok(spells) => spells,
            Err(e) => self.fail(&e),
        };
        if let Err(e) = healed_in_time(&logs, &gone, &self.phases, now) {
            self.fail(&e);
        }

        let mut stats = Vec::new();
        let mut max_acquire: f64 = 0.0;
        for w in self.alive() {
            let line = self.workers[w].ask("stats");
            let field = |name: &str| -> f64 {
                line.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(f64::NAN)
            };
            max_acquire = max_acquire.max(field("max_acquire_ms"));
            let (held, attach) = (field("held"), field("attach_ms"));
            self.check(held == 0.0, || {
                format!(
                    "worker {w}: {held} calls waited for a permit longer than {:?}: {line}",
                    STORE_TIMEOUT + ADMISSION_SLACK
                )
            });
            self.check(
                attach <= (STORE_TIMEOUT + ADMISSION_SLACK).as_secs_f64() * 1e3,
                || format!("worker {w}: its breaker's first read waited {attach} ms"),
            );
            stats.push(line);
        }
        let garbage: Vec<String> = self
            .workers
            .iter()
            .flat_map(|w| {
                let n = w.n;
                w.stderr
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|l| l.contains(GARBAGE_WARNING))
                    .map(|l| format!("worker {n}: {l}"))
                    .collect::<Vec<_>>()
            })
            .collect();
        self.check(garbage.is_empty(), || {
            format!("garbage reported where there was none: {garbage:?}")
        });

        let mut sorted = delays.clone();
        sorted.sort_by(f64::total_cmp);
        let trips: usize = logs
            .iter()
            .flatten()
            .filter(|e| e.to == "open" && e.reason == "Failures")
            .count();
        let multi = spells.iter().filter(|s| s.workers > 1).count();
        let calls = self.dep.with(|s| s.calls);
        let mut summary = format!(
            "{} trips, {} propagations (median {:.2} ms, max {:.2} ms); {} spells, \
             {} trials, at most {} in a spell, {} spells probed by more than one process \
             (alone windows only); {calls} calls reached the dependency; slowest permit \
             {max_acquire:.1} ms",
            trips,
            sorted.len(),
            sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN),
            sorted.last().copied().unwrap_or(f64::NAN),
            spells.len(),
            trials.len(),
            spells.iter().map(|s| s.trials).max().unwrap_or(0),
            multi,
        );
        for line in stats {
            summary += &format!("\n      {line}");
        }
        summary
    }

    fn finish(mut self, summary: &str) {
        for w in self.workers.iter_mut().filter(|w| w.alive()) {
            assert_eq!(w.ask("quit"), "bye");
            let status = w.child.wait().unwrap();
            assert!(status.success(), "worker {} exited with {status}", w.n);
        }
        println!(
            "{}: {:.1} s; {summary}",
            self.name,
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// The state of a worker at `at` from its log (closed before its first transition).
fn state_at(log: &[Entry], at: u128) -> &str {
    log.iter()
        .take_while(|e| e.at <= at)
        .last()
        .map_or("closed", |e| e.to.as_str())
}

/// For every trip (a process opening on its own failures, outside the alone windows):
/// every other live process that was closed leaves Closed within `PROPAGATION` (from
/// the end of a stall under way). The delays, in ms.
fn propagation(
    logs: &[Vec<Entry>],
    gone: &[Option<u128>],
    windows: &Windows,
    now: u128,
) -> Result<Vec<f64>, String> {
    let mut delays = Vec::new();
    for (a, log) in logs.iter().enumerate() {
        for trip in log
            .iter()
            .filter(|e| e.to == "open" && e.reason == "Failures")
        {
            let t = trip.at;
            if windows.alone_at(t) {
                continue;
            }
            let from = windows.stall_end(t).unwrap_or(t);
            let by = from + nanos(PROPAGATION);
            if by > now {
                continue; // not yet decidable
            }
            for (b, other) in logs.iter().enumerate() {
                if b == a || gone[b].is_some_and(|k| k <= by) || state_at(other, t) != "closed" {
                    continue;
                }
                let left = other
                    .iter()
                    .find(|e| e.at > t && e.to != "closed")
                    .map(|e| e.at);
                match left {
                    Some(at) if at <= by => delays.push(ms((at - t) as i128)),
                    _ => {
                        return Err(format!(
                            "worker {a} opened at {t} (its own failures); worker {b}, closed \
                             then, did not leave Closed within {PROPAGATION:?}{}: next \
                             change {:?}",
                            if from > t { " of the stall's end" } else { "" },
                            left.map(|at| ms(at as i128 - t as i128))
                        ));
                    }
                }
            }
        }
    }
    Ok(delays)
}

/// A half-open spell fleet-wide, as the dependency saw it.
#[derive(Debug)]
struct Spell {
    trials: usize,
    workers: usize,
}

/// Groups the trials into spells and checks each: one process, at most `probes` trials
/// (in the alone windows: at most `probes` per process).
fn spells(trials: &[Trial], windows: &Windows) -> Result<Vec<Spell>, String> {
    let mut trials = trials.to_vec();
    trials.sort_by_key(|t| t.admitted);
    let mut spells: Vec<Vec<Trial>> = Vec::new();
    for trial in trials {
        let joins = spells.last().is_some_and(|spell| {
            let first = spell[0];
            let within = trial.admitted < first.admitted + nanos(RESET) - nanos(LEASE_SLACK);
            // All of the first process's trials succeeded: it closed the breaker, and
            // gave the lease back; another process may have taken it before it heard.
            let closed_at = (spell
                .iter()
                .filter(|t| t.worker == first.worker && t.ok)
                .count()
                == PROBES as usize)
                .then(|| spell.iter().map(|t| t.answered).max().unwrap());
            within
                && !(trial.worker != first.worker && closed_at.is_some_and(|c| trial.admitted > c))
        });
        if joins {
            spells.last_mut().unwrap().push(trial);
        } else {
            spells.push(vec![trial]);
        }
    }
    let mut seen = Vec::new();
    for spell in &spells {
        let first = spell[0];
        let mut workers: Vec<usize> = spell.iter().map(|t| t.worker).collect();
        workers.sort_unstable();
        workers.dedup();
        let most_by_one = workers
            .iter()
            .map(|&w| spell.iter().filter(|t| t.worker == w).count())
            .max()
            .unwrap();
        let describe = || {
            spell
                .iter()
                .map(|t| {
                    format!(
                        "worker {} admitted +{:.1} ms answered +{:.1} ms {}",
                        t.worker,
                        ms(t.admitted as i128 - first.admitted as i128),
                        ms(t.answered as i128 - first.admitted as i128),
                        if t.ok { "ok" } else { "failed" }
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        if most_by_one > PROBES as usize {
            return Err(format!(
                "a process ran {most_by_one} trials in one spell (probes = {PROBES}): {}",
                describe()
            ));
        }
        // Another process's trial, admitted while processes decide alone, is documented.
        let second = spell
            .iter()
            .any(|t| t.worker != first.worker && !windows.alone_at(t.admitted));
        if second {
            return Err(format!(
                "a second probe fleet-wide: the spell starting at {} has trials of workers \
                 {workers:?}: {}",
                first.admitted,
                describe()
            ));
        }
        seen.push(Spell {
            trials: spell.len(),
            workers: workers.len(),
        });
    }
    Ok(seen)
}

/// Every healthy phase long enough: by its start + `RESET` + `HEAL_BOUND`, every live
/// worker is closed (outside the alone windows).
fn healed_in_time(
    logs: &[Vec<Entry>],
    gone: &[Option<u128>],
    phases: &[(u128, Phase)],
    now: u128,
) -> Result<(), String> {
    for (i, &(start, phase)) in phases.iter().enumerate() {
        let end = phases.get(i + 1).map_or(now, |&(at, _)| at);
        let by = start + nanos(RESET + HEAL_BOUND);
        if phase != Phase::Healthy || by > end {
            continue;
        }
        for (w, log) in logs.iter().enumerate() {
            if gone[w].is_some_and(|k| k <= by) {
                continue;
            }
            let state = state_at(log, by);
            if state != "closed" {
                return Err(format!(
                    "wedged: worker {w} was {state} {:?} into a healthy phase",
                    RESET + HEAL_BOUND
                ));
            }
        }
    }
    Ok(())
}

/// A random schedule of phases, `total` long, starting and ending healthy.
fn schedule(rng: &mut SmallRng, total: Duration) -> Vec<(Phase, Duration)> {
    let mut phases = vec![(Phase::Healthy, Duration::from_millis(200))];
    let mut spent = Duration::from_millis(200);
    while spent < total {
        let phase = match rng.random_range(0..20) {
            0..7 => Phase::Healthy,
            7..12 => Phase::FailAll,
            12..17 => Phase::FailOnly(rng.random_range(0..WORKERS)),
            _ => Phase::Flaky,
        };
        let duration = Duration::from_millis(rng.random_range(150..=1100));
        phases.push((phase, duration));
        spent += duration;
    }
    phases
}

/// 1. Random phases under load.
fn load_case(server: &mut RedisServer, dep: &Dependency, seed: u64) {
    let mut rng = SmallRng::seed_from_u64(seed ^ 1);
    let mut lab = Lab::start("load", seed, server, dep);
    lab.load(true);
    let phases = schedule(&mut rng, Duration::from_secs(12));
    lab.run_schedule(&phases);
    let healed = lab.heal();
    let summary = lab.verify();
    let states = lab.states();
    lab.check(states.iter().all(|s| s == "closed"), || {
        format!("not all closed at the end: {states:?}")
    });
    lab.finish(&format!(
        "{} phases; healed everywhere {:.0} ms after the dependency did; {summary}",
        phases.len(),
        healed.as_secs_f64() * 1e3
    ));
}

/// Waits until the dependency holds a trial; returns its worker.
fn held_trial(lab: &mut Lab) -> usize {
    let deadline = Instant::now() + RESET * 4;
    loop {
        if let Some(&w) = lab.dep.with(|s| s.held.first().copied()).as_ref() {
            return w;
        }
        if Instant::now() > deadline {
            lab.fail("no trial reached the dependency");
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// 2. `kill -9` of the process holding the half-open lease, trials in flight.
fn kill_case(server: &mut RedisServer, dep: &Dependency, seed: u64) {
    let mut lab = Lab::start("kill -9", seed, server, dep);
    lab.load(true);
    lab.set_phase(Phase::FailAll);
    lab.wait_all("open", Duration::from_secs(2));
    // The next spell's trials are held: whoever holds the lease keeps it.
    lab.dep.with(|s| s.hold_trials = true);
    let holder = held_trial(&mut lab);
    // Its other trial slot may fill too; then it dies.
    thread::sleep(Duration::from_millis(20));
    let taken = lab.dep.with(|s| s.held.len());
    lab.workers[holder].last_log = lab.workers[holder].ask("log");
    let killed = unix_nanos();
    let _ = lab.workers[holder].child.kill();
    let _ = lab.workers[holder].child.wait();
    lab.workers[holder].killed = Some(killed);
    // The survivors' trials reach a healthy dependency, 30 ms each (in flight long
    // enough to meet a second prober's).
    lab.set_phase(Phase::Healthy);
    lab.dep.with(|s| {
        s.hold_trials = false;
        s.trial_delay = Duration::from_millis(30);
    });
    // The lease lapses one open time after it was taken; then one survivor probes, its
    // trials succeed, and every survivor closes.
    lab.wait_all("closed", RESET + HEAL_BOUND);
    let closed = unix_nanos();
    // Held trials are recorded once answered: the holder's, after the release, to a
    // dead process.
    let first_admitted = lab.first_trial_of(holder);
    let after: Vec<Trial> = lab
        .dep
        .trials()
        .into_iter()
        .filter(|t| t.worker != holder && t.admitted > first_admitted)
        .collect();
    let first = after
        .iter()
        .min_by_key(|t| t.admitted)
        .copied()
        .unwrap_or_else(|| lab.fail("no survivor probed"));
    let waited = first.admitted as i128 - first_admitted as i128;
    lab.check(waited >= nanos(RESET - LEASE_SLACK) as i128, || {
        format!(
            "worker {} probed {:.1} ms after the dead holder's trial: before its lease lapsed",
            first.worker,
            ms(waited)
        )
    });
    let probers: Vec<usize> = {
        let mut w: Vec<usize> = after.iter().map(|t| t.worker).collect();
        w.sort_unstable();
        w.dedup();
        w
    };
    lab.check(probers.len() == 1 && after.len() <= PROBES as usize, || {
        format!("after the holder died: trials {after:?}")
    });
    let summary = lab.verify();
    lab.finish(&format!(
        "worker {holder} held the lease ({taken} trial(s) in flight) and was killed; \
         worker {} probed {:.1} ms after the dead holder's first trial was admitted (lease: \
         {RESET:?}), {} trial(s), no other survivor probed; all survivors closed {:.0} ms \
         after the kill; {summary}",
        first.worker,
        ms(waited),
        after.len(),
        ms(closed as i128 - killed as i128),
    ));
}

/// 3. `DEBUG SLEEP`: short stalls under random phases, then one long stall.
fn stall_case(server: &mut RedisServer, dep: &Dependency, seed: u64) {
    let mut rng = SmallRng::seed_from_u64(seed ^ 3);
    let mut lab = Lab::start("DEBUG SLEEP", seed, server, dep);
    lab.load(true);
    let phases = schedule(&mut rng, Duration::from_secs(8));
    let stalls = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let staller = {
        let (stalls, stop) = (stalls.clone(), stop.clone());
        let mut con = lab.server.connection();
        let mut rng = SmallRng::seed_from_u64(seed ^ 33);
        thread::spawn(move || {
            while !stop.load(Relaxed) {
                thread::sleep(Duration::from_millis(rng.random_range(100..=400)));
                let secs = rng.random_range(20..=120) as f64 / 1000.0;
                let from = unix_nanos();
                redis::cmd("DEBUG")
                    .arg("SLEEP")
                    .arg(secs)
                    .query::<()>(&mut con)
                    .unwrap();
                stalls.lock().unwrap().push((from, unix_nanos()));
            }
        })
    };
    lab.run_schedule(&phases);
    stop.store(true, Relaxed);
    staller.join().unwrap();
    lab.windows.stalls = stalls.lock().unwrap().clone();
    let short = lab.windows.stalls.len();
    lab.heal();

    // The long stall, with the fleet open: lease requests go unanswered past the store's
    // timeout, so each process may probe on its own (documented).
    lab.set_phase(Phase::FailAll);
    lab.wait_all("open", Duration::from_secs(2));
    let mut con = lab.server.connection();
    let from = unix_nanos();
    redis::cmd("DEBUG")
        .arg("SLEEP")
        .arg(1.2)
        .query::<()>(&mut con)
        .unwrap();
    let to = unix_nanos();
    lab.windows
        .alone
        .push((from, to + nanos(RESET + HEAL_BOUND)));
    let during = lab
        .dep
        .trials()
        .iter()
        .filter(|t| t.admitted >= from && t.admitted <= to)
        .map(|t| t.worker)
        .collect::<std::collections::BTreeSet<_>>();
    // Lease requests that went unanswered (granted locally) before the long stall: none
    // expected, the short stalls are well under the timeout (a loaded host may cause one).
    let mut local_grants = 0;
    for w in lab.alive() {
        let slow = lab.workers[w].ask("slow");
        local_grants += slow
            .trim_matches(|c| c == '[' || c == ']')
            .split("), (")
            .filter_map(|pair| {
                let (at, ms) = pair
                    .trim_matches(|c| c == '(' || c == ')')
                    .split_once(", ")?;
                Some((at.parse::<u128>().ok()?, ms.parse::<f64>().ok()?))
            })
            .filter(|&(at, ms)| at < from && ms >= STORE_TIMEOUT.as_secs_f64() * 1e3 * 0.99)
            .count();
    }
    let healed = lab.heal();
    // Redis answers again: the store says so.
    for w in lab.alive() {
        let reply = lab.workers[w].ask("connected");
        lab.check(reply == "true", || format!("worker {w}: connected={reply}"));
    }
    let summary = lab.verify();
    lab.finish(&format!(
        "{short} stalls of 20-120 ms under {} phases ({local_grants} lease requests \
         unanswered in time); then a 1.2 s stall with the fleet open: processes {during:?} \
         probed during it on their own (documented); healed everywhere {:.0} ms after; \
         {summary}",
        phases.len(),
        healed.as_secs_f64() * 1e3
    ));
}

/// 4. Redis killed mid-spell, processes alone, Redis restarted, convergence.
fn restart_case(server: &mut RedisServer, dep: &Dependency, seed: u64) {
    let mut lab = Lab::start("restart", seed, server, dep);
    lab.load(true);
    lab.set_phase(Phase::FailAll);
    lab.wait_all("open", Duration::from_secs(2));
    lab.dep.with(|s| s.hold_trials = true);
    let holder = held_trial(&mut lab);

    // Redis dies with the trial in flight; the trial then succeeds.
    let down = unix_nanos();
    lab.server.stop();
    lab.set_phase(Phase::Healthy);
    lab.dep.with(|s| s.hold_trials = false);
    // Alone, everyone closes: the holder on its trial, the others on their own trials
    // once their open time is over (no one to ask: granted locally).
    lab.wait_all("closed", RESET + HEAL_BOUND);
    // One process's calls fail: it opens, alone; the others keep calling.
    lab.set_phase(Phase::FailOnly(0));
    lab.wait_all_but(0, Duration::from_millis(400));
    let reply = lab.workers[0].ask("wait open 1000");
    lab.check(reply == "ok", || {
        format!("worker 0 did not open alone: {reply}")
    });
    for w in 1..WORKERS {
        let state = lab.workers[w].ask("state");
        lab.check(state == "closed", || {
            format!("worker {w} heard of worker 0's trip with Redis down: {state}")
        });
    }

    // Redis is back (empty: no persistence). Everyone reconnects; worker 0, still failing,
    // shares its open state, and the others follow.
    thread::sleep(Duration::from_millis(300));
    lab.server.restart();
    // Each store's two threads reconnect on their own backoffs (up to 2 s): connected
    // (either thread), and subscribed again (then the other thread is told to reconnect).
    let up = Instant::now();
    let channel = format!("{}:events", lab.prefix);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let connected = lab
            .alive()
            .into_iter()
            .all(|w| lab.workers[w].ask("connected") == "true");
        let subscribed: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channel)
            .query(&mut lab.server.connection())
            .unwrap();
        if connected && subscribed[0].1 == WORKERS as i64 {
            break;
        }
        if Instant::now() > deadline {
            lab.fail(&format!(
                "not all reconnected within 5 s: connected {connected}, subscribed {}",
                subscribed[0].1
            ));
        }
        thread::sleep(Duration::from_millis(10));
    }
    let reconnected = up.elapsed();
    for w in 1..WORKERS {
        let reply = lab.workers[w].ask("wait open 3000");
        lab.check(reply == "ok", || {
            format!("worker {w} never learnt of worker 0's open state after the restart: {reply}")
        });
    }
    let converged = unix_nanos();
    lab.windows.alone.push((down, converged));
    // And every check holds again from here: one worker's failures open the breaker
    // everywhere, one probe, then all close.
    let healed_alone = lab.heal();
    lab.set_phase(Phase::FailOnly(1));
    lab.wait_all("open", Duration::from_secs(1));
    thread::sleep(RESET * 2);
    let healed = lab.heal();
    let summary = lab.verify();
    lab.finish(&format!(
        "worker {holder} held the lease when Redis was killed; alone, all closed, worker 0 \
         opened alone; Redis restarted, all reconnected within {:.0} ms and followed \
         worker 0's open; healed in {:.0} ms, and again in {:.0} ms after worker 1's trip; \
         {summary}",
        reconnected.as_secs_f64() * 1e3,
        healed_alone.as_secs_f64() * 1e3,
        healed.as_secs_f64() * 1e3,
    ));
}

/// Gaps of a 5 ms ticker longer than 50 ms, (at, ms): the host stalled everyone.
static HICCUPS: Mutex<Vec<(u128, f64)>> = Mutex::new(Vec::new());

fn hiccups() -> Vec<(u128, f64)> {
    HICCUPS.lock().unwrap().clone()
}

/// A case: on the shared Redis and dependency, with the seed.
type Case = fn(&mut RedisServer, &Dependency, u64);

fn orchestrate() {
    let started = Instant::now();
    thread::spawn(|| {
        loop {
            let before = Instant::now();
            thread::sleep(Duration::from_millis(5));
            let took = before.elapsed();
            if took > Duration::from_millis(50) {
                HICCUPS
                    .lock()
                    .unwrap()
                    .push((unix_nanos(), took.as_secs_f64() * 1e3));
            }
        }
    });
    let seed = std::env::var("FAILFAST_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    let mut server = RedisServer::start();
    let dep = Dependency::start(seed);
    println!(
        "redis_chaos: seed {seed} (FAILFAST_CHAOS_SEED={seed} replays the schedules), \
         redis-server on port {}, {WORKERS} processes x {THREADS} threads, reset {RESET:?}, \
         probes {PROBES}, store timeout {STORE_TIMEOUT:?}",
        server.port()
    );
    let only = std::env::var("FAILFAST_CHAOS_CASES").unwrap_or_default();
    let cases: [(&str, Case); 4] = [
        ("load", load_case),
        ("kill", kill_case),
        ("stall", stall_case),
        ("restart", restart_case),
    ];
    for (name, case) in cases {
        if only.is_empty() || only.split(',').any(|n| n == name) {
            case(&mut server, &dep, seed);
        }
    }
    println!(
        "redis_chaos: all cases passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
