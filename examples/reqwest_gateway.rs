//! Per-host breakers in a reqwest client, over real sockets on 127.0.0.1: two replicas of
//! a pricing service, one dead (every answer a 503) and one healthy. The client has one
//! breaker per `host:port`: the dead replica's opens and stops receiving requests, the
//! healthy one keeps serving.
//!
//! ```text
//! cargo run --features reqwest --example reqwest_gateway
//! ```

use std::error::Error as StdError;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use failfast::reqwest::{CircuitBreakerMiddleware, RetryMiddleware};
use failfast::{BreakerConfig, RetryPolicy, registry};

type BoxError = Box<dyn StdError + Send + Sync>;

/// One replica: how many requests reached it, and the status it answers with.
struct Replica {
    hits: AtomicU32,
    status: StatusCode,
}

async fn price(State(replica): State<Arc<Replica>>) -> (StatusCode, &'static str) {
    replica.hits.fetch_add(1, SeqCst);
    (replica.status, "{\"price\": 42}")
}

/// Starts a replica on a free loopback port; returns it and its `host:port`.
async fn replica(status: StatusCode) -> Result<(Arc<Replica>, String), BoxError> {
    let replica = Arc::new(Replica {
        hits: AtomicU32::new(0),
        status,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    let router = Router::new()
        .route("/price", get(price))
        .with_state(replica.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok((replica, address))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (dead, dead_host) = replica(StatusCode::SERVICE_UNAVAILABLE).await?;
    let (healthy, healthy_host) = replica(StatusCode::OK).await?;

    // Retry first, then a breaker per host: each attempt goes through its host's breaker,
    // and a rejection is not retried.
    let client =
        reqwest_middleware::ClientBuilder::new(reqwest::Client::builder().no_proxy().build()?)
            .with(RetryMiddleware::new(RetryPolicy::new().attempts(2)))
            .with(
                CircuitBreakerMiddleware::per_host("pricing")
                    .config(BreakerConfig::new().failures(4)),
            )
            .build();

    for round in 1..=6 {
        for host in [&dead_host, &healthy_host] {
            let outcome = match client.get(format!("http://{host}/price")).send().await {
                Ok(response) => format!("HTTP {}", response.status().as_u16()),
                Err(reqwest_middleware::Error::Middleware(error)) => format!("rejected: {error}"),
                Err(error) => format!("error: {error}"),
            };
            let breaker = registry()
                .get(&format!("pricing/{host}"))
                .expect("made on first use");
            println!(
                "round {round} {host:<16} {outcome:<74} breaker {}",
                breaker.state()
            );
        }
    }
    let family = registry().family("pricing");
    println!(
        "\nfamily {}: {} breakers (at most {}), {} evicted; requests that reached the dead replica: {}, the healthy one: {}",
        family.name(),
        family.len(),
        family.max_keys(),
        family.evictions(),
        dead.hits.load(SeqCst),
        healthy.hits.load(SeqCst)
    );
    let dead_breaker = registry().get(&format!("pricing/{dead_host}")).unwrap();
    assert_eq!(dead_breaker.state(), failfast::State::Open);
    assert_eq!(
        dead.hits.load(SeqCst),
        4,
        "two rounds of two attempts, then nothing"
    );
    assert_eq!(healthy.hits.load(SeqCst), 6, "every round served");
    Ok(())
}
