//! `#[circuit_breaker(store = expr)]`: the breaker of the call site is registered with that
//! store, which is told of every state change and asked for the half-open lease.

mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use common::{ApiError, open};
use failfast::{Breaker, Lease, SharedState, State, Store, circuit_breaker, registry};
use tokio::time::advance;

/// What a store was told or asked, for one breaker.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Seen {
    Attach,
    Publish(Option<SharedState>),
    Lease { ttl: Duration },
}

/// Everything [`Recorder`] saw, as (breaker name, event).
static SEEN: Mutex<Vec<(String, Seen)>> = Mutex::new(Vec::new());

/// The answers the store gives to `lease`, per breaker name, first one first;
/// `Lease::Granted` when none is queued.
static LEASES: Mutex<Vec<(String, Lease)>> = Mutex::new(Vec::new());

/// A store that records what it is told, and answers `lease` from [`LEASES`].
struct Recorder;

impl Recorder {
    fn record(breaker: &Breaker, seen: Seen) {
        SEEN.lock()
            .unwrap()
            .push((breaker.name().to_string(), seen));
    }

    /// What the store saw for the breaker named `name`, in order.
    fn seen(name: &str) -> Vec<Seen> {
        SEEN.lock()
            .unwrap()
            .iter()
            .filter(|(of, _)| of == name)
            .map(|(_, seen)| *seen)
            .collect()
    }

    /// Queues the answer to the next `lease` for `name`.
    fn answer(name: &str, lease: Lease) {
        LEASES.lock().unwrap().push((name.to_owned(), lease));
    }
}

impl Store for Recorder {
    fn attach(&self, breaker: &Breaker) {
        Recorder::record(breaker, Seen::Attach);
    }

    fn publish(&self, breaker: &Breaker) {
        Recorder::record(breaker, Seen::Publish(breaker.shared_state()));
    }

    fn lease(&self, breaker: &Breaker, ttl: Duration) -> Lease {
        Recorder::record(breaker, Seen::Lease { ttl });
        let mut leases = LEASES.lock().unwrap();
        let name = breaker.name().to_string();
        match leases.iter().position(|(of, _)| *of == name) {
            Some(index) => leases.remove(index).1,
            None => Lease::Granted,
        }
    }
}

/// The `store = ..` expression: counts how often it is evaluated.
fn recorder(evaluated: &AtomicU32) -> Recorder {
    evaluated.fetch_add(1, SeqCst);
    Recorder
}

const RESET: Duration = Duration::from_secs(30);

/// What the sync and the async test each publish, in order: the trip, force_open, reset,
/// the second trip, the close after the granted trial.
const WHOLE_STORY: [Option<SharedState>; 5] = [
    Some(SharedState::Open { remaining: RESET }),
    Some(SharedState::ForcedOpen),
    Some(SharedState::Closed),
    Some(SharedState::Open { remaining: RESET }),
    Some(SharedState::Closed),
];

fn publishes(name: &str) -> Vec<Option<SharedState>> {
    Recorder::seen(name)
        .into_iter()
        .filter_map(|seen| match seen {
            Seen::Publish(state) => Some(state),
            _ => None,
        })
        .collect()
}

fn count(name: &str, wanted: fn(&Seen) -> bool) -> usize {
    Recorder::seen(name).iter().filter(|s| wanted(s)).count()
}

fn attaches(name: &str) -> usize {
    count(name, |s| matches!(s, Seen::Attach))
}

fn leases(name: &str) -> usize {
    count(name, |s| matches!(s, Seen::Lease { .. }))
}

const SYNC: &str = "store_attr_recorded";
static SYNC_CALLS: AtomicU32 = AtomicU32::new(0);
static SYNC_STORE_EVALUATED: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker(
    "store_attr_recorded",
    failures = 2,
    reset = "30s",
    store = recorder(&SYNC_STORE_EVALUATED)
)]
fn sync_call(fail: bool) -> Result<u32, ApiError> {
    SYNC_CALLS.fetch_add(1, SeqCst);
    if fail { Err(ApiError::Down) } else { Ok(7) }
}

// A sync fn, driven on a paused tokio clock: the breaker's clock follows it.
#[tokio::test(start_paused = true)]
async fn sync_fn_uses_its_store() {
    let calls = || SYNC_CALLS.load(SeqCst);

    // Registered, with the store, on the first call: the store is attached once.
    assert!(registry().get(SYNC).is_none());
    assert_eq!(SYNC_STORE_EVALUATED.load(SeqCst), 0);
    assert_eq!(sync_call(false), Ok(7));
    assert_eq!(Recorder::seen(SYNC), [Seen::Attach]);
    let breaker = registry().get(SYNC).expect("listed after its first call");

    // Two failures open it: published once, open for the whole `reset`.
    assert_eq!(sync_call(true), Err(ApiError::Down));
    assert_eq!(publishes(SYNC), []);
    assert_eq!(sync_call(true), Err(ApiError::Down));
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(
        publishes(SYNC),
        [Some(SharedState::Open { remaining: RESET })]
    );
    assert_eq!(sync_call(false), Err(open(SYNC, RESET)));
    assert_eq!(calls(), 3);

    // Manual changes through the registry are published too.
    breaker.force_open();
    breaker.reset();
    assert_eq!(
        publishes(SYNC),
        [
            Some(SharedState::Open { remaining: RESET }),
            Some(SharedState::ForcedOpen),
            Some(SharedState::Closed),
        ]
    );

    // Open again; once `reset` is over here, the store is asked for the trial lease.
    assert_eq!(sync_call(true), Err(ApiError::Down));
    assert_eq!(sync_call(true), Err(ApiError::Down));
    assert_eq!(calls(), 5);
    assert_eq!(leases(SYNC), 0);
    advance(RESET).await;
    let wait = Duration::from_secs(5);
    Recorder::answer(SYNC, Lease::Denied { retry_after: wait });
    assert_eq!(sync_call(false), Err(open(SYNC, wait)));
    assert_eq!(leases(SYNC), 1);
    assert_eq!(
        Recorder::seen(SYNC).last(),
        Some(&Seen::Lease { ttl: RESET })
    );
    // Denied: still open, and not asked again before `retry_after`.
    assert_eq!(breaker.state(), State::Open);
    advance(Duration::from_secs(2)).await;
    assert_eq!(sync_call(false), Err(open(SYNC, Duration::from_secs(3))));
    assert_eq!(leases(SYNC), 1);
    assert_eq!(calls(), 5);

    // Granted: one trial goes through, succeeds, and the close is published.
    advance(Duration::from_secs(3)).await;
    assert_eq!(sync_call(false), Ok(7));
    assert_eq!(calls(), 6);
    assert_eq!(leases(SYNC), 2);
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(publishes(SYNC), WHOLE_STORY);

    // The expression was evaluated once, and the store attached once.
    assert_eq!(SYNC_STORE_EVALUATED.load(SeqCst), 1);
    assert_eq!(attaches(SYNC), 1);
}

const ASYNC: &str = "store_attr_recorded_async";
static ASYNC_CALLS: AtomicU32 = AtomicU32::new(0);
static ASYNC_STORE_EVALUATED: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker(
    "store_attr_recorded_async",
    failures = 2,
    reset = "30s",
    store = recorder(&ASYNC_STORE_EVALUATED)
)]
async fn async_call(fail: bool, takes: Duration) -> Result<u32, ApiError> {
    ASYNC_CALLS.fetch_add(1, SeqCst);
    tokio::time::sleep(takes).await;
    if fail { Err(ApiError::Down) } else { Ok(7) }
}

#[tokio::test(start_paused = true)]
async fn async_fn_uses_its_store() {
    let calls = || ASYNC_CALLS.load(SeqCst);
    let quick = Duration::ZERO;

    assert!(registry().get(ASYNC).is_none());
    assert_eq!(async_call(false, quick).await, Ok(7));
    assert_eq!(Recorder::seen(ASYNC), [Seen::Attach]);
    let breaker = registry().get(ASYNC).expect("listed after its first call");

    assert_eq!(async_call(true, quick).await, Err(ApiError::Down));
    assert_eq!(async_call(true, quick).await, Err(ApiError::Down));
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(
        publishes(ASYNC),
        [Some(SharedState::Open { remaining: RESET })]
    );
    assert_eq!(async_call(false, quick).await, Err(open(ASYNC, RESET)));
    assert_eq!(calls(), 3);

    breaker.force_open();
    breaker.reset();
    assert_eq!(
        publishes(ASYNC)[1..],
        [Some(SharedState::ForcedOpen), Some(SharedState::Closed)]
    );

    assert_eq!(async_call(true, quick).await, Err(ApiError::Down));
    assert_eq!(async_call(true, quick).await, Err(ApiError::Down));
    assert_eq!(calls(), 5);
    assert_eq!(leases(ASYNC), 0);
    advance(RESET).await;

    // Denied: rejected with the store's wait, the fn is not called.
    let wait = Duration::from_secs(5);
    Recorder::answer(ASYNC, Lease::Denied { retry_after: wait });
    assert_eq!(async_call(false, quick).await, Err(open(ASYNC, wait)));
    assert_eq!(leases(ASYNC), 1);
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(calls(), 5);

    // Granted: exactly one trial runs; a call during it is turned away (half-open, no
    // wait), and the trial's success closes the breaker.
    advance(wait).await;
    let (trial, during) = tokio::join!(
        async_call(false, Duration::from_secs(1)),
        async_call(false, quick)
    );
    assert_eq!(trial, Ok(7));
    assert_eq!(during, Err(open(ASYNC, Duration::ZERO)));
    assert_eq!(calls(), 6);
    assert_eq!(leases(ASYNC), 2);
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(publishes(ASYNC), WHOLE_STORY);
    assert_eq!(ASYNC_STORE_EVALUATED.load(SeqCst), 1);
    assert_eq!(attaches(ASYNC), 1);
}

/// Any expression of a store type: here a unit struct, by path.
#[circuit_breaker("store_attr_in_process", store = failfast::InProcess)]
fn in_process() -> Result<u32, ApiError> {
    Ok(1)
}

#[test]
fn an_in_process_store_expression() {
    assert_eq!(in_process(), Ok(1));
    assert_eq!(Recorder::seen("store_attr_in_process"), []);
    assert!(registry().get("store_attr_in_process").is_some());
}
