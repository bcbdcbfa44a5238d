//! A flaky dependency behind `#[retry]`, `#[circuit_breaker]` and `#[timeout]`: watch its
//! breaker open, reject without calling it, let one trial call through, and close again.
//!
//! ```text
//! cargo run --example flaky_service
//! ```

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use failfast::{circuit_breaker, retry, timeout};

/// What the service's callers see.
#[derive(Debug)]
enum ApiError {
    /// The dependency answered with an error.
    Unavailable,
    /// failfast rejected the call (breaker open) or timed it out.
    Failfast(failfast::Error),
}

impl From<failfast::Error> for ApiError {
    fn from(e: failfast::Error) -> Self {
        ApiError::Failfast(e)
    }
}

/// Whether the pretend recommendations service is down right now.
static DOWN: AtomicBool = AtomicBool::new(false);
/// How many requests actually reached it.
static REACHED: AtomicU32 = AtomicU32::new(0);

#[retry(attempts = 2, delay = "20ms", jitter = "none")]
#[circuit_breaker("recommendations", failures = 3, reset = "500ms", fallback = popular_items)]
#[timeout("200ms")]
async fn recommendations(user: u64) -> Result<Vec<u64>, ApiError> {
    REACHED.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(5)).await; // the network round trip
    if DOWN.load(Ordering::SeqCst) {
        Err(ApiError::Unavailable)
    } else {
        Ok(vec![user * 10 + 1, user * 10 + 2])
    }
}

/// Graceful degradation: what the homepage shows while recommendations are down.
async fn popular_items(_user: u64) -> Result<Vec<u64>, ApiError> {
    Ok(vec![1, 2, 3])
}

async fn request(n: u32) {
    let before = REACHED.load(Ordering::SeqCst);
    let answer = match recommendations(7).await {
        Ok(items) => format!("{items:?}"),
        Err(ApiError::Unavailable) => "error: the service is unavailable".to_owned(),
        Err(ApiError::Failfast(e)) => format!("error: {e}"),
    };
    let reached = REACHED.load(Ordering::SeqCst) - before;
    let state = failfast::registry()
        .get("recommendations")
        .map(|b| b.state().to_string())
        .unwrap_or_default();
    println!("  request {n}: {answer:<36} reached the service {reached}x, breaker {state}");
}

#[tokio::main]
async fn main() {
    failfast::registry().subscribe(|t| {
        println!(
            "    breaker `{}`: {} -> {} ({:?})",
            t.name, t.from, t.to, t.reason
        );
    });

    println!("The service is up.");
    request(1).await;

    println!("The service goes down. Each request is tried twice; the third failure in a row");
    println!("opens the breaker, and from then on the fallback (popular items) answers.");
    DOWN.store(true, Ordering::SeqCst);
    for n in 2..=5 {
        request(n).await;
    }

    println!("500ms later one trial call is let through; the service is still down.");
    tokio::time::sleep(Duration::from_millis(550)).await;
    request(6).await;

    println!("The service comes back; 500ms later the trial call succeeds and closes it.");
    DOWN.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(550)).await;
    request(7).await;
    request(8).await;

    let breaker = failfast::registry()
        .get("recommendations")
        .expect("registered on first call");
    let m = breaker.metrics();
    println!(
        "Totals: {} calls to the breaker, {} successes, {} failures, {} rejections; the service was reached {} times.",
        m.calls,
        m.successes,
        m.failures,
        m.rejections,
        REACHED.load(Ordering::SeqCst)
    );
}
