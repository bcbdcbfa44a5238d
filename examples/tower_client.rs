//! A tower client stack guarding calls to a flaky HTTP route, over real sockets on
//! 127.0.0.1: an axum server whose `/invoices` route fails for a while, and a client
//! built from failfast's tower layers around reqwest. Watch the breaker open, reject
//! without sending anything, let one trial through and close.
//!
//! ```text
//! cargo run --features tower --example tower_client
//! ```

use std::error::Error as StdError;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{Request, Response, StatusCode};
use axum::routing::get;
use failfast::tower::{CircuitBreakerLayer, RetryLayer, TimeoutLayer};
use failfast::{BreakerConfig, RetryPolicy};
use tower::{Service, ServiceBuilder, ServiceExt};

type BoxError = Box<dyn StdError + Send + Sync>;

/// The billing service: counts the requests that reach it, fails them while `down`.
#[derive(Default)]
struct Billing {
    hits: AtomicU32,
    down: AtomicBool,
}

async fn invoices(State(billing): State<Arc<Billing>>) -> (StatusCode, &'static str) {
    billing.hits.fetch_add(1, SeqCst);
    if billing.down.load(SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, "billing is down")
    } else {
        (StatusCode::OK, "[42, 43]")
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let billing = Arc::new(Billing::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/invoices", listener.local_addr()?);
    let router = Router::new()
        .route("/invoices", get(invoices))
        .with_state(billing.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });

    // The gateway: retry (on the default budget) > breaker > timeout > reqwest.
    let http = reqwest::Client::builder().no_proxy().build()?;
    let mut client = ServiceBuilder::new()
        .layer(RetryLayer::new(
            RetryPolicy::new()
                .attempts(2)
                .delay(Duration::from_millis(20)),
        ))
        .layer(
            CircuitBreakerLayer::new("billing").config(
                BreakerConfig::new()
                    .failures(3)
                    .reset(Duration::from_millis(500)),
            ),
        )
        .layer(TimeoutLayer::new(Duration::from_secs(1)))
        .service(tower::service_fn(move |request: Request<String>| {
            let http = http.clone();
            async move {
                let response = http.execute(reqwest::Request::try_from(request)?).await?;
                Ok::<Response<reqwest::Body>, BoxError>(Response::from(response))
            }
        }));
    let breaker = failfast::registry()
        .get("billing")
        .expect("the layer registered it");

    let mut call = async |label: &str| -> Result<(), BoxError> {
        let request = Request::get(&url).body(String::new())?;
        let outcome = match client.ready().await?.call(request).await {
            Ok(response) => format!("HTTP {}", response.status().as_u16()),
            Err(error) => match error.downcast_ref::<failfast::Error>() {
                Some(rejection) => format!("rejected: {rejection}"),
                None => format!("error: {error}"),
            },
        };
        println!(
            "{label:<46} {outcome:<68} breaker {:<6} billing saw {} requests",
            breaker.state().to_string(),
            billing.hits.load(SeqCst)
        );
        Ok(())
    };

    call("billing up").await?;
    billing.down.store(true, SeqCst);
    call("billing down: two attempts, two 503s").await?;
    call("billing down: the 3rd failure opens it").await?;
    call("open: rejected, nothing is sent").await?;
    call("open: rejected, nothing is sent").await?;
    billing.down.store(false, SeqCst);
    tokio::time::sleep(Duration::from_millis(600)).await;
    call("after the reset: one trial call, it works").await?;
    call("closed again").await?;

    assert_eq!(breaker.state(), failfast::State::Closed);
    assert_eq!(
        billing.hits.load(SeqCst),
        1 + 3 + 2,
        "rejections never reached billing"
    );
    Ok(())
}
