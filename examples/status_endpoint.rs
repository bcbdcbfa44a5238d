//! A small axum service with one breaker-protected route and a status endpoint that
//! serves the registry's snapshot as JSON.
//!
//! ```sh
//! cargo run --example status_endpoint --features serde        # an ephemeral port
//! cargo run --example status_endpoint --features serde -- 8080
//! ```
//!
//! Routes:
//! - `GET /invoices`: calls the (simulated) billing dependency through the `invoices`
//!   breaker (3 consecutive failures open it for 30 s): 200 with the invoices, 502 when
//!   the dependency failed, 503 with `Retry-After` when the breaker rejected the call.
//! - `POST /dependency/down`, `POST /dependency/up`: break or mend the dependency.
//! - `GET /breakers`: every breaker of the registry as JSON ([`failfast::Snapshot`]).
//! - `GET /breakers/{name}`: one breaker, or 404.
//! - `POST /breakers/{name}/reset`, `/force-open`, `/disable`: manual control, 204 or 404.
//!
//! Try it:
//!
//! ```sh
//! curl -s localhost:8080/invoices; curl -s -X POST localhost:8080/dependency/down
//! for i in 1 2 3 4; do curl -s -o /dev/null -w '%{http_code}\n' localhost:8080/invoices; done
//! curl -s localhost:8080/breakers
//! ```
//!
//! `tests/status_endpoint.rs` includes this file as a module and drives it over HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use failfast::circuit_breaker;
use serde_json::json;

/// The breaker guarding the billing dependency.
pub const BREAKER: &str = "invoices";

/// The billing service this one depends on, simulated: up or down at the flip of a flag.
#[derive(Debug)]
pub struct Billing {
    up: AtomicBool,
}

/// Why listing the invoices failed.
#[derive(Debug)]
pub enum ApiError {
    /// The billing service failed.
    Billing,
    /// failfast refused the call (the breaker is open).
    Failfast(failfast::Error),
}

impl From<failfast::Error> for ApiError {
    fn from(e: failfast::Error) -> Self {
        ApiError::Failfast(e)
    }
}

impl Billing {
    /// The remote call, behind the breaker.
    #[circuit_breaker("invoices", failures = 3, reset = "30s")]
    async fn invoices(&self) -> Result<Vec<u64>, ApiError> {
        if self.up.load(Ordering::Relaxed) {
            Ok(vec![1001, 1002])
        } else {
            Err(ApiError::Billing)
        }
    }
}

/// The service's routes, with the billing dependency up.
pub fn app() -> Router {
    let billing = Arc::new(Billing {
        up: AtomicBool::new(true),
    });
    Router::new()
        .route("/invoices", get(invoices))
        .route("/dependency/down", post(dependency_down))
        .route("/dependency/up", post(dependency_up))
        .route("/breakers", get(breakers))
        .route("/breakers/{name}", get(breaker))
        .route("/breakers/{name}/{action}", post(control))
        .with_state(billing)
}

/// Serves [`app`] on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app())
        .with_graceful_shutdown(shutdown)
        .await
}

async fn invoices(State(billing): State<Arc<Billing>>) -> Response {
    match billing.invoices().await {
        Ok(ids) => Json(json!({ "invoices": ids })).into_response(),
        Err(ApiError::Billing) => (StatusCode::BAD_GATEWAY, "billing failed\n").into_response(),
        Err(ApiError::Failfast(failfast::Error::Open { retry_after, .. })) => {
            // Retry-After is in whole seconds: round up so clients don't come back early.
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            let mut response =
                (StatusCode::SERVICE_UNAVAILABLE, "billing unavailable\n").into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            response
        }
        Err(ApiError::Failfast(e)) => (StatusCode::GATEWAY_TIMEOUT, e.to_string()).into_response(),
    }
}

async fn dependency_down(State(billing): State<Arc<Billing>>) -> StatusCode {
    billing.up.store(false, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

async fn dependency_up(State(billing): State<Arc<Billing>>) -> StatusCode {
    billing.up.store(true, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

async fn breakers() -> Json<failfast::Snapshot> {
    Json(failfast::registry().snapshot())
}

async fn breaker(Path(name): Path<String>) -> Response {
    match failfast::registry().get(&name) {
        Some(b) => Json(b.snapshot()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn control(Path((name, action)): Path<(String, String)>) -> StatusCode {
    let Some(b) = failfast::registry().get(&name) else {
        return StatusCode::NOT_FOUND;
    };
    match action.as_str() {
        "reset" => b.reset(),
        "force-open" => b.force_open(),
        "disable" => b.disable(),
        _ => return StatusCode::NOT_FOUND,
    }
    StatusCode::NO_CONTENT
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(arg) => arg.parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "usage: status_endpoint [PORT]",
            )
        })?,
        None => 0,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    serve(listener, std::future::pending()).await
}
