//! `failfast::set_default_store`: the store of every breaker that names none, the
//! attributes' included; set once, before the first guarded call. One test, so nothing
//! else in this binary can register a breaker first.

use std::sync::Mutex;
use std::time::Duration;

use failfast::{
    Breaker, InProcess, Lease, SharedState, Store, StoreAlreadySet, circuit_breaker, registry,
    set_default_store,
};

/// (breaker name, `None` for an attach or the published state).
static SEEN: Mutex<Vec<(String, Option<Option<SharedState>>)>> = Mutex::new(Vec::new());

struct Recorder;

impl Store for Recorder {
    fn attach(&self, breaker: &Breaker) {
        SEEN.lock()
            .unwrap()
            .push((breaker.name().to_string(), None));
    }

    fn publish(&self, breaker: &Breaker) {
        SEEN.lock()
            .unwrap()
            .push((breaker.name().to_string(), Some(breaker.shared_state())));
    }

    fn lease(&self, _: &Breaker, _: Duration) -> Lease {
        Lease::Granted
    }
}

fn seen() -> Vec<(String, Option<Option<SharedState>>)> {
    SEEN.lock().unwrap().clone()
}

#[derive(Debug, PartialEq)]
struct Down;

impl From<failfast::Error> for Down {
    fn from(_: failfast::Error) -> Self {
        Down
    }
}

#[circuit_breaker("default_store_guarded", failures = 1)]
fn guarded(fail: bool) -> Result<u32, Down> {
    if fail { Err(Down) } else { Ok(3) }
}

#[circuit_breaker("default_store_own", failures = 1, store = InProcess)]
fn own_store() -> Result<u32, Down> {
    Ok(4)
}

// On a paused clock, so the published open time is exact.
#[tokio::test(start_paused = true)]
async fn the_default_store_serves_breakers_without_a_store() {
    let name = || "default_store_guarded".to_owned();
    assert_eq!(set_default_store(Recorder), Ok(()));
    assert_eq!(seen(), []);

    // Attached on the first call, published on the trip (open for the default 60s).
    assert_eq!(guarded(false), Ok(3));
    assert_eq!(seen(), [(name(), None)]);
    assert_eq!(guarded(true), Err(Down));
    assert_eq!(guarded(false), Err(Down)); // rejected: open
    let open = SharedState::Open {
        remaining: Duration::from_secs(60),
    };
    assert_eq!(seen(), [(name(), None), (name(), Some(Some(open)))]);

    // A fn naming its own store does not use the default one.
    assert_eq!(own_store(), Ok(4));
    assert!(registry().get("default_store_own").is_some());
    assert_eq!(seen().len(), 2);

    // The default is fixed: a second call is an error, and changes nothing.
    assert_eq!(set_default_store(InProcess), Err(StoreAlreadySet));
    registry().get("default_store_guarded").unwrap().reset();
    assert_eq!(
        seen(),
        [
            (name(), None),
            (name(), Some(Some(open))),
            (name(), Some(Some(SharedState::Closed)))
        ]
    );
}
