//! What a breaker costs per call, next to what users would otherwise pick: failfast (through
//! the attribute and through the plain runtime API), failsafe, recloser and tower-resilience,
//! against a bare fn, in one run.
//!
//! ```sh
//! cargo bench --bench overhead            # every scenario, then the summary table
//! cargo bench --bench overhead -- open    # only the scenarios/benchmarks matching "open"
//! cargo bench --bench overhead -- keyed   # the keyed lookups (keyed_closed_success)
//! ```
//!
//! Each scenario is a criterion group, with one benchmark per crate inside it. Every variant
//! makes exactly one real (never inlined) call to [`work`], the stand-in for the remote call,
//! so the difference to `bare_fn` is the cost of the protection. At the end, the median
//! ns/call of each benchmark, its spread and its ratio to the bare fn of the same scenario are
//! printed as a table, read back from criterion's `estimates.json`.
//!
//! CI only builds this (`cargo bench --no-run`): benchmarks are not timed tests.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::Barrier;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use failfast::{Breaker, BreakerConfig, RetryPolicy, State, circuit_breaker, retry};
use failsafe::CircuitBreaker as _;
use recloser::Recloser;
use tower::{Service, ServiceExt};
use tower_resilience::circuitbreaker::CircuitBreakerLayer;

// ---------------------------------------------------------------------------------------------
// The protected call
// ---------------------------------------------------------------------------------------------

/// The error of the protected call. Kept to one byte, like the `Inner(E)`/`Rejected` of
/// the other crates over it, so every variant returns its `Result` in registers: a 48-byte
/// `Result` (one carrying the whole `failfast::Error`) is returned through memory, and copying
/// it into `black_box` stalls on store forwarding for ~7 ns, which would swamp what is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BenchError {
    /// The call itself failed.
    Down,
    /// failfast rejected the call: the breaker is open.
    Rejected,
    /// Any other failfast error (a timeout; none happens here).
    Other,
}

impl From<failfast::Error> for BenchError {
    fn from(e: failfast::Error) -> Self {
        match e {
            failfast::Error::Open { .. } => BenchError::Rejected,
            _ => BenchError::Other,
        }
    }
}

/// The "remote call": a few cycles of work that fails when told to. Never inlined, so every
/// variant pays for exactly one real call and nothing can be folded away around it.
#[inline(never)]
fn work(x: u64, fail: bool) -> Result<u64, BenchError> {
    if fail {
        Err(BenchError::Down)
    } else {
        Ok(x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(7))
    }
}

// ---------------------------------------------------------------------------------------------
// The fns under the attributes: one per scenario, each with its own breaker
// ---------------------------------------------------------------------------------------------

#[circuit_breaker("overhead::count_window", failure_rate = 0.5, window = 100)]
fn attr_count_window(x: u64, fail: bool) -> Result<u64, BenchError> {
    work(x, fail)
}

#[circuit_breaker("overhead::time_window", failure_rate = 0.5, window = "60s")]
fn attr_time_window(x: u64, fail: bool) -> Result<u64, BenchError> {
    work(x, fail)
}

#[circuit_breaker("overhead::closed_success")]
fn attr_closed_success(x: u64, fail: bool) -> Result<u64, BenchError> {
    work(x, fail)
}

// Every 10th call fails; u32::MAX consecutive failures to open (the attribute takes a literal),
// though a success resets the count anyway.
#[circuit_breaker("overhead::closed_10pct_failures", failures = 4_294_967_295)]
fn attr_closed_10pct(x: u64, fail: bool) -> Result<u64, BenchError> {
    work(x, fail)
}

#[circuit_breaker("overhead::open_rejection", failures = 1, reset = "1h")]
fn attr_open(x: u64, fail: bool) -> Result<u64, BenchError> {
    work(x, fail)
}

// A short reset, so the breaker can be put in half-open before the measurement, and a long
// probe timeout, so the trial it holds is not timed out during it.
#[circuit_breaker(
    "overhead::half_open_rejection",
    failures = 1,
    reset = "1ms",
    probe_timeout = "1h"
)]
fn attr_half_open(x: u64, fail: bool) -> Result<u64, BenchError> {
    work(x, fail)
}

#[retry]
fn attr_retry(x: u64, fail: bool) -> Result<u64, BenchError> {
    work(x, fail)
}

#[circuit_breaker("overhead::async_closed_success")]
async fn attr_async(x: u64, fail: bool) -> Result<u64, BenchError> {
    work(x, fail)
}

#[circuit_breaker("overhead::async_open_rejection", failures = 1, reset = "1h")]
async fn attr_async_open(x: u64, fail: bool) -> Result<u64, BenchError> {
    work(x, fail)
}

#[circuit_breaker("overhead::two_threads_closed_success")]
fn attr_two_threads_closed(x: u64, fail: bool) -> Result<u64, BenchError> {
    work(x, fail)
}

#[circuit_breaker("overhead::two_threads_open_rejection", failures = 1, reset = "1h")]
fn attr_two_threads_open(x: u64, fail: bool) -> Result<u64, BenchError> {
    work(x, fail)
}

/// The floor of the async scenario: the same call in a bare async fn.
async fn bare_async(x: u64, fail: bool) -> Result<u64, BenchError> {
    work(x, fail)
}

// ---------------------------------------------------------------------------------------------
// Breakers of the other crates, and putting each breaker in the state a scenario needs
// ---------------------------------------------------------------------------------------------

/// Never opens: more consecutive failures than any run makes.
const NEVER: u32 = u32::MAX;
/// Long enough that an open breaker stays open for the whole run.
const HOUR: Duration = Duration::from_secs(3600);

fn failfast_breaker(name: &'static str, failures: u32, reset: Duration) -> Breaker {
    Breaker::new(name, BreakerConfig::new().failures(failures).reset(reset))
}

/// failsafe's breaker with its consecutive-failures policy and a constant open time.
fn failsafe_breaker(failures: u32, reset: Duration) -> impl failsafe::CircuitBreaker + Sync {
    let policy = failsafe::failure_policy::consecutive_failures(
        failures,
        failsafe::backoff::constant(reset),
    );
    failsafe::Config::new().failure_policy(policy).build()
}

/// recloser's breaker: failure rate over a ring buffer of the last `window` calls.
fn recloser_breaker(window: usize, reset: Duration) -> Recloser {
    Recloser::custom()
        .error_rate(0.5)
        .closed_len(window)
        .open_wait(reset)
        .build()
}

/// Fails calls through `call` until it rejects one; panics if it never does.
fn open_by_failing<R>(
    what: &str,
    mut call: impl FnMut(bool) -> Result<u64, R>,
    rejected: fn(&R) -> bool,
) {
    for _ in 0..16 {
        let _ = call(true);
    }
    match call(false) {
        Err(e) if rejected(&e) => {}
        _ => panic!("{what}: the breaker did not open"),
    }
}

fn is_failfast_open(e: &BenchError) -> bool {
    *e == BenchError::Rejected
}

fn is_failsafe_rejected(e: &failsafe::Error<BenchError>) -> bool {
    matches!(e, failsafe::Error::Rejected)
}

fn is_recloser_rejected(e: &recloser::Error<BenchError>) -> bool {
    matches!(e, recloser::Error::Rejected)
}

// ---------------------------------------------------------------------------------------------
// Measurement helpers
// ---------------------------------------------------------------------------------------------

/// Benchmark ids: one per crate, the same in every scenario (also the table's rows).
const BARE: &str = "bare_fn";
const ATTR: &str = "failfast_attribute";
const RUNTIME: &str = "failfast_runtime";
const FAILSAFE: &str = "failsafe";
const RECLOSER: &str = "recloser";
const TOWER: &str = "tower_resilience";
/// failfast's own tower layer (`failfast::tower::CircuitBreakerLayer`, feature `tower`).
const FAILFAST_TOWER: &str = "failfast_tower";
/// The failure-rate policies through the attribute: the last 100 calls, the last 60 s.
const COUNT_WINDOW: &str = "failfast_count_window";
const TIME_WINDOW: &str = "failfast_time_window";
/// A registered breaker looked up by name on every call (`registry().get`).
const GET: &str = "failfast_get";
/// A keyed breaker looked up on every call (`registry().keyed`): the same key each time,
/// and a different one of 1000 live keys each time.
const KEYED: &str = "failfast_keyed";
const KEYED_1000: &str = "failfast_keyed_1000";
const CRATES: [&str; 12] = [
    BARE,
    ATTR,
    COUNT_WINDOW,
    TIME_WINDOW,
    RUNTIME,
    GET,
    KEYED,
    KEYED_1000,
    FAILSAFE,
    RECLOSER,
    FAILFAST_TOWER,
    TOWER,
];

/// Scenarios (criterion groups), in the order they run and are tabled.
const CLOSED_SUCCESS: &str = "closed_success";
const CLOSED_10PCT: &str = "closed_10pct_failures";
const OPEN: &str = "open_rejection";
const HALF_OPEN: &str = "half_open_rejection";
const RETRY: &str = "retry_no_failure";
const ASYNC: &str = "async_closed_success";
const ASYNC_OPEN: &str = "async_open_rejection";
const TWO_CLOSED: &str = "two_threads_closed_success";
const TWO_OPEN: &str = "two_threads_open_rejection";
const KEYED_CLOSED: &str = "keyed_closed_success";
const SCENARIOS: [&str; 10] = [
    CLOSED_SUCCESS,
    CLOSED_10PCT,
    OPEN,
    HALF_OPEN,
    RETRY,
    ASYNC,
    ASYNC_OPEN,
    TWO_CLOSED,
    TWO_OPEN,
    KEYED_CLOSED,
];

type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// One call per iteration: `call(i, fail)`, where `fail` is true on every `fail_every`-th
/// call (never when `fail_every` is 0).
///
/// The loop is our own (`iter_custom`), with the counters in registers: criterion's
/// `Bencher::iter` around a closure that keeps a counter added ~7 ns per call on this
/// machine, more than the cost being measured.
fn bench_sync<R>(g: &mut Group, id: &str, fail_every: u64, mut call: impl FnMut(u64, bool) -> R) {
    let period = if fail_every == 0 {
        u64::MAX
    } else {
        fail_every
    };
    g.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let mut countdown = period;
            let start = Instant::now();
            for i in 0..iters {
                countdown -= 1;
                let fail = countdown == 0;
                if fail {
                    countdown = period;
                }
                black_box(call(black_box(i), black_box(fail)));
            }
            start.elapsed()
        })
    });
}

/// One awaited call per iteration, every variant on the same executor: a loop polled with
/// a no-op waker (nothing here ever waits: every future is ready at its first poll).
///
/// Not tokio's `block_on`: it keeps the loop's state in the future, in memory, and that
/// added ~5 ns to every call here, the bare async fn's included.
fn bench_async<R>(g: &mut Group, id: &str, mut call: impl AsyncFnMut(u64) -> R) {
    g.bench_function(id, |b| {
        b.iter_custom(|iters| {
            block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(call(black_box(i)).await);
                }
                start.elapsed()
            })
        })
    });
}

/// Polls `fut` to completion with a no-op waker, on this thread.
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        thread::yield_now();
    }
}

/// Two threads make `iters` calls each on the same shared breaker, started together by a
/// barrier; the time of the slower one is reported, so the result is ns per call per thread.
fn bench_two_threads<R>(g: &mut Group, id: &str, call: impl Fn(u64) -> R + Sync) {
    g.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let barrier = Barrier::new(2);
            thread::scope(|s| {
                let one_thread = || {
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..iters {
                        black_box(call(black_box(i)));
                    }
                    start.elapsed()
                };
                let a = s.spawn(one_thread);
                let b = s.spawn(one_thread);
                let (a, b) = (a.join().unwrap(), b.join().unwrap());
                a.max(b)
            })
        })
    });
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// Closed breaker, every call succeeds: the cost on the path every healthy call takes.
fn closed_success(c: &mut Criterion) {
    let mut g = c.benchmark_group(CLOSED_SUCCESS);
    let runtime = failfast_breaker("bench::closed_success", NEVER, HOUR);
    let failsafe = failsafe_breaker(NEVER, HOUR);
    let recloser = recloser_breaker(100, HOUR);
    bench_sync(&mut g, BARE, 0, work);
    bench_sync(&mut g, ATTR, 0, attr_closed_success);
    bench_sync(&mut g, COUNT_WINDOW, 0, attr_count_window);
    bench_sync(&mut g, TIME_WINDOW, 0, attr_time_window);
    bench_sync(&mut g, RUNTIME, 0, |x, f| runtime.call(|| work(x, f)));
    bench_sync(&mut g, FAILSAFE, 0, |x, f| failsafe.call(|| work(x, f)));
    bench_sync(&mut g, RECLOSER, 0, |x, f| recloser.call(|| work(x, f)));
    g.finish();
}

/// Closed breaker, every 10th call fails; thresholds are set so that no breaker ever opens
/// (failfast and failsafe: u32::MAX consecutive failures; recloser: 50% over 100 calls).
fn closed_10pct_failures(c: &mut Criterion) {
    let mut g = c.benchmark_group(CLOSED_10PCT);
    let runtime = failfast_breaker("bench::closed_10pct_failures", NEVER, HOUR);
    let failsafe = failsafe_breaker(NEVER, HOUR);
    let recloser = recloser_breaker(100, HOUR);
    bench_sync(&mut g, BARE, 10, work);
    bench_sync(&mut g, ATTR, 10, attr_closed_10pct);
    bench_sync(&mut g, COUNT_WINDOW, 10, attr_count_window);
    bench_sync(&mut g, TIME_WINDOW, 10, attr_time_window);
    bench_sync(&mut g, RUNTIME, 10, |x, f| runtime.call(|| work(x, f)));
    bench_sync(&mut g, FAILSAFE, 10, |x, f| failsafe.call(|| work(x, f)));
    bench_sync(&mut g, RECLOSER, 10, |x, f| recloser.call(|| work(x, f)));
    g.finish();
    for (what, state) in [
        (
            "attribute",
            attr_breaker_state("overhead::closed_10pct_failures"),
        ),
        ("runtime", runtime.state()),
    ] {
        assert_eq!(
            state,
            State::Closed,
            "closed_10pct_failures: the {what} breaker opened"
        );
    }
}

/// Open breaker (opened by failures beforehand, reset 1 hour away): every measured call is
/// rejected without calling the fn. The bare fn row is a plain successful call, the floor.
fn open_rejection(c: &mut Criterion) {
    let mut g = c.benchmark_group(OPEN);
    let runtime = failfast_breaker("bench::open_rejection", 1, HOUR);
    let failsafe = failsafe_breaker(1, HOUR);
    let recloser = recloser_breaker(1, HOUR);
    open_by_failing("attribute", |f| attr_open(0, f), is_failfast_open);
    open_by_failing("runtime", |f| runtime.call(|| work(0, f)), is_failfast_open);
    open_by_failing(
        "failsafe",
        |f| failsafe.call(|| work(0, f)),
        is_failsafe_rejected,
    );
    open_by_failing(
        "recloser",
        |f| recloser.call(|| work(0, f)),
        is_recloser_rejected,
    );
    bench_sync(&mut g, BARE, 0, work);
    bench_sync(&mut g, ATTR, 0, attr_open);
    bench_sync(&mut g, RUNTIME, 0, |x, f| runtime.call(|| work(x, f)));
    bench_sync(&mut g, FAILSAFE, 0, |x, f| failsafe.call(|| work(x, f)));
    bench_sync(&mut g, RECLOSER, 0, |x, f| recloser.call(|| work(x, f)));
    g.finish();
}

/// Half-open breaker whose one trial call is in flight (its permit held for the whole
/// group), so every measured call is rejected.
///
/// failsafe and recloser are not measured: neither limits trial calls, so in half-open they
/// let every call through and there is no half-open rejection to measure (failsafe's
/// `is_call_permitted` returns true in `HalfOpen`, recloser's `call_permitted` too, until
/// the half-open ring buffer has decided).
fn half_open_rejection(c: &mut Criterion) {
    let mut g = c.benchmark_group(HALF_OPEN);
    let reset = Duration::from_millis(1);
    let runtime = Breaker::new(
        "bench::half_open_rejection",
        BreakerConfig::new()
            .failures(1)
            .reset(reset)
            .probe_timeout(HOUR),
    );
    open_by_failing("attribute", |f| attr_half_open(0, f), is_failfast_open);
    open_by_failing("runtime", |f| runtime.call(|| work(0, f)), is_failfast_open);
    thread::sleep(reset * 20);
    let attr_breaker = failfast::registry()
        .get("overhead::half_open_rejection")
        .unwrap();
    let _attr_trial = attr_breaker.acquire().expect("attribute: a trial permit");
    let _runtime_trial = runtime.acquire().expect("runtime: a trial permit");
    for breaker in [&attr_breaker, &runtime] {
        assert_eq!(breaker.state(), State::HalfOpen);
    }
    assert!(attr_half_open(0, false).is_err_and(|e| is_failfast_open(&e)));
    assert!(
        runtime
            .call(|| work(0, false))
            .is_err_and(|e| is_failfast_open(&e))
    );
    bench_sync(&mut g, BARE, 0, work);
    bench_sync(&mut g, ATTR, 0, attr_half_open);
    bench_sync(&mut g, RUNTIME, 0, |x, f| runtime.call(|| work(x, f)));
    g.finish();
}

/// A retry wrapper around a call that succeeds the first time (default policy: 3 attempts).
/// failsafe and recloser have no retry: failfast only, against the bare fn.
fn retry_no_failure(c: &mut Criterion) {
    let mut g = c.benchmark_group(RETRY);
    let policy = RetryPolicy::new();
    bench_sync(&mut g, BARE, 0, work);
    bench_sync(&mut g, ATTR, 0, attr_retry);
    bench_sync(&mut g, RUNTIME, 0, |x, f| {
        failfast::retry(&policy, || work(x, f))
    });
    g.finish();
}

/// An async call through a closed breaker, every call succeeds, all awaited on the same
/// executor (see [`bench_async`]): the attribute on an async fn, `Breaker::call_async`, and
/// tower-resilience's circuit-breaker layer over a `tower::service_fn` (driven with
/// `ServiceExt::ready` then `call`, as a tower client does), against a bare async fn.
/// failsafe and recloser are measured in the sync scenarios.
fn async_closed_success(c: &mut Criterion) {
    let mut g = c.benchmark_group(ASYNC);
    let runtime = failfast_breaker("bench::async_closed_success", NEVER, HOUR);
    let layer = CircuitBreakerLayer::builder().build().unwrap();
    let mut tower_svc = layer.layer_fn(tower::service_fn(|x: u64| async move { work(x, false) }));
    bench_async(&mut g, BARE, async |x| bare_async(x, false).await);
    bench_async(&mut g, ATTR, async |x| attr_async(x, false).await);
    bench_async(&mut g, RUNTIME, async |x| {
        runtime.call_async(async { work(x, false) }).await
    });
    #[cfg(feature = "tower")]
    {
        let mut ours = failfast_tower("bench::tower_closed", 100);
        bench_async(&mut g, FAILFAST_TOWER, async |x| {
            ours.ready().await.unwrap().call(x).await
        });
    }
    bench_async(&mut g, TOWER, async |x| {
        tower_svc.ready().await.unwrap().call(x).await
    });
    g.finish();
}

/// An open breaker (reset 1 hour away) rejecting an async call: the attribute, failfast's
/// tower layer and tower-resilience's, each opened by one failure first.
fn async_open_rejection(c: &mut Criterion) {
    let mut g = c.benchmark_group(ASYNC_OPEN);
    let layer = CircuitBreakerLayer::builder()
        .consecutive_failures(1)
        .wait_duration_in_open(HOUR)
        .build()
        .unwrap();
    let mut tower_svc = layer.layer_fn(tower::service_fn(|(x, fail): (u64, bool)| async move {
        work(x, fail)
    }));
    open_by_failing(
        "attribute",
        |f| block_on(attr_async_open(0, f)),
        is_failfast_open,
    );
    open_by_failing(
        "tower-resilience",
        |f| block_on(async { tower_svc.ready().await.unwrap().call((0, f)).await }),
        |e| {
            matches!(
                e,
                tower_resilience::circuitbreaker::CircuitBreakerError::OpenCircuit
            )
        },
    );
    bench_async(&mut g, BARE, async |x| bare_async(x, false).await);
    bench_async(&mut g, ATTR, async |x| attr_async_open(x, false).await);
    #[cfg(feature = "tower")]
    {
        let mut ours = failfast_tower("bench::tower_open", 1);
        open_by_failing(
            "failfast tower",
            |f| {
                block_on(async {
                    ours.ready()
                        .await
                        .unwrap()
                        .call(if f { u64::MAX } else { 0 })
                        .await
                })
            },
            is_failfast_open,
        );
        bench_async(&mut g, FAILFAST_TOWER, async |x| {
            ours.ready().await.unwrap().call(x).await
        });
    }
    bench_async(&mut g, TOWER, async |x| {
        tower_svc.ready().await.unwrap().call((x, false)).await
    });
    g.finish();
}

/// failfast's tower layer over the call, opening after `failures` failures, reset an
/// hour away; `u64::MAX` is the input that fails.
#[cfg(feature = "tower")]
fn failfast_tower(
    name: &str,
    failures: u32,
) -> impl Service<u64, Response = u64, Error = BenchError, Future: Unpin> {
    use tower::Layer;
    failfast::tower::CircuitBreakerLayer::new(name)
        .config(BreakerConfig::new().failures(failures).reset(HOUR))
        .is_failure(|result: &Result<u64, BenchError>| result.is_err())
        .layer(tower::service_fn(|x: u64| {
            std::future::ready(work(x, x == u64::MAX))
        }))
}

/// Two threads sharing one closed breaker, every call succeeds: per-call time per thread.
fn two_threads_closed_success(c: &mut Criterion) {
    let mut g = c.benchmark_group(TWO_CLOSED);
    let runtime = failfast_breaker("bench::two_threads_closed_success", NEVER, HOUR);
    let failsafe = failsafe_breaker(NEVER, HOUR);
    let recloser = recloser_breaker(100, HOUR);
    bench_two_threads(&mut g, BARE, |x| work(x, false));
    bench_two_threads(&mut g, ATTR, |x| attr_two_threads_closed(x, false));
    bench_two_threads(&mut g, COUNT_WINDOW, |x| attr_count_window(x, false));
    bench_two_threads(&mut g, TIME_WINDOW, |x| attr_time_window(x, false));
    bench_two_threads(&mut g, RUNTIME, |x| runtime.call(|| work(x, false)));
    bench_two_threads(&mut g, FAILSAFE, |x| failsafe.call(|| work(x, false)));
    bench_two_threads(&mut g, RECLOSER, |x| recloser.call(|| work(x, false)));
    g.finish();
}

/// Two threads sharing one open breaker (reset 1 hour away): per-rejection time per thread.
fn two_threads_open_rejection(c: &mut Criterion) {
    let mut g = c.benchmark_group(TWO_OPEN);
    let runtime = failfast_breaker("bench::two_threads_open_rejection", 1, HOUR);
    let failsafe = failsafe_breaker(1, HOUR);
    let recloser = recloser_breaker(1, HOUR);
    open_by_failing(
        "attribute",
        |f| attr_two_threads_open(0, f),
        is_failfast_open,
    );
    open_by_failing("runtime", |f| runtime.call(|| work(0, f)), is_failfast_open);
    open_by_failing(
        "failsafe",
        |f| failsafe.call(|| work(0, f)),
        is_failsafe_rejected,
    );
    open_by_failing(
        "recloser",
        |f| recloser.call(|| work(0, f)),
        is_recloser_rejected,
    );
    bench_two_threads(&mut g, BARE, |x| work(x, false));
    bench_two_threads(&mut g, ATTR, |x| attr_two_threads_open(x, false));
    bench_two_threads(&mut g, RUNTIME, |x| runtime.call(|| work(x, false)));
    bench_two_threads(&mut g, FAILSAFE, |x| failsafe.call(|| work(x, false)));
    bench_two_threads(&mut g, RECLOSER, |x| recloser.call(|| work(x, false)));
    g.finish();
}

/// A closed call through a breaker found in the registry on every call, as per-host
/// gateway middleware does, next to the same call on a registered breaker held by the
/// caller: what the lookup costs. Every call succeeds; all breakers have the same config.
/// `failfast_keyed` looks up one key of its family again and again (the member is only
/// read); `failfast_keyed_1000` a different one of 1000 live keys each call (each lookup
/// also stamps its member as used).
fn keyed_closed_success(c: &mut Criterion) {
    let mut g = c.benchmark_group(KEYED_CLOSED);
    let config = BreakerConfig::new().failures(NEVER).reset(HOUR);
    let registry = failfast::registry();
    let named = registry.breaker("bench::keyed_named", config);
    registry.family("bench").configure(config);
    let many = registry.family("bench_1000");
    many.configure(config);
    let keys: Vec<String> = (0..1000).map(|i| format!("host-{i}")).collect();
    for key in &keys {
        many.get(key);
    }
    bench_sync(&mut g, BARE, 0, work);
    bench_sync(&mut g, RUNTIME, 0, |x, f| named.call(|| work(x, f)));
    bench_sync(&mut g, GET, 0, |x, f| {
        let breaker = registry.get("bench::keyed_named").unwrap();
        breaker.call(|| work(x, f))
    });
    bench_sync(&mut g, KEYED, 0, |x, f| {
        registry.keyed("bench", "host-3").call(|| work(x, f))
    });
    bench_sync(&mut g, KEYED_1000, 0, |x, f| {
        let key = &keys[(x % 1000) as usize];
        registry.keyed("bench_1000", key).call(|| work(x, f))
    });
    g.finish();
    assert_eq!((many.len(), many.evictions()), (1000, 0));
}

/// The state of an attribute's breaker, looked up in the registry by its name.
fn attr_breaker_state(name: &str) -> State {
    failfast::registry()
        .get(name)
        .map_or(State::Closed, |b| b.state())
}

// ---------------------------------------------------------------------------------------------
// main and the summary table
// ---------------------------------------------------------------------------------------------

fn main() {
    let started = SystemTime::now();
    let out = criterion_dir();
    let mut c = Criterion::default()
        .output_directory(&out)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .configure_from_args();

    closed_success(&mut c);
    closed_10pct_failures(&mut c);
    open_rejection(&mut c);
    half_open_rejection(&mut c);
    retry_no_failure(&mut c);
    async_closed_success(&mut c);
    async_open_rejection(&mut c);
    two_threads_closed_success(&mut c);
    two_threads_open_rejection(&mut c);
    keyed_closed_success(&mut c);

    c.final_summary();
    if benchmarking() {
        print_table(&out, started);
    }
}

/// Where criterion writes its results: set explicitly, so the table reads the same place.
/// `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`, else the target dir this bench
/// binary was built in (`<target>/<profile>/deps/overhead-*`), as criterion itself does.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return Path::new(&target).join("criterion");
    }
    let exe = std::env::current_exe().ok();
    let target = exe.as_deref().and_then(|e| e.ancestors().nth(3));
    target.map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/criterion"),
        |t| t.join("criterion"),
    )
}

/// Whether criterion runs benchmarks (`cargo bench`), not tests (`cargo test --benches`,
/// `-- --test`) or a listing (`-- --list`).
fn benchmarking() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    has("--bench")
        && !has("--test")
        && !has("--list")
        && !args.iter().any(|a| a.starts_with("--profile-time"))
}

/// One benchmark's result, from criterion's `estimates.json`, in ns per call.
struct Estimate {
    median: f64,
    low: f64,
    high: f64,
    mad: f64,
}

/// The estimate of `group/id` if this run wrote it (older files are from earlier runs).
fn read_estimate(out: &Path, group: &str, id: &str, since: SystemTime) -> Option<Estimate> {
    let path = out.join(group).join(id).join("new/estimates.json");
    let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
    if modified < since {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    let number = |pointer: &str| json.pointer(pointer).and_then(serde_json::Value::as_f64);
    Some(Estimate {
        median: number("/median/point_estimate")?,
        low: number("/median/confidence_interval/lower_bound")?,
        high: number("/median/confidence_interval/upper_bound")?,
        mad: number("/median_abs_dev/point_estimate")?,
    })
}

fn print_table(out: &Path, since: SystemTime) {
    println!();
    println!("failfast overhead: median ns per call (per thread in two_threads_*), this run");
    println!("{}", machine());
    println!(
        "{:<28} {:<20} {:>10} {:>21} {:>8} {:>8}",
        "scenario", "crate", "median ns", "95% CI of median", "MAD ns", "x bare"
    );
    let mut rows = 0;
    for group in SCENARIOS {
        let bare = read_estimate(out, group, BARE, since).map(|e| e.median);
        for id in CRATES {
            let Some(e) = read_estimate(out, group, id, since) else {
                continue;
            };
            let ratio = bare.map_or_else(|| "-".to_owned(), |b| format!("{:.2}", e.median / b));
            let ci = format!("[{:.2}, {:.2}]", e.low, e.high);
            println!(
                "{group:<28} {id:<20} {:>10.2} {ci:>21} {:>8.2} {ratio:>8}",
                e.median, e.mad
            );
            rows += 1;
        }
    }
    if rows == 0 {
        println!("(no benchmark ran in this run)");
    }
    println!(
        "not measured: failsafe and recloser in half_open_rejection (no trial-call limit: \
         half-open lets every call through) and retry_no_failure (no retry); \
         tower-resilience and failfast_tower outside the async scenarios (async-only service \
         layers; failfast_tower with --features tower)"
    );
}

/// The date (UTC), the CPU model, the number of CPUs and the compiler, for the record.
fn machine() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cpus = thread::available_parallelism().map_or(0, usize::from);
    let rustc = std::process::Command::new("rustc")
        .arg("-V")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "rustc ?".to_owned(), |v| v.trim().to_owned());
    format!(
        "{} UTC, {cpu}, {cpus} CPUs, {} {}, {rustc}",
        utc_date(secs),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// `YYYY-MM-DD HH:MM` from Unix seconds (civil-from-days, proleptic Gregorian).
fn utc_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let (hh, mm) = (secs % 86_400 / 3600, secs % 3600 / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}")
}
