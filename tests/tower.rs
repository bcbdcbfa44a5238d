//! The tower layers over real sockets on 127.0.0.1: an axum server with a route that can
//! be made to fail, a tower client stack (reqwest underneath), and axum's own router with
//! the layer applied per route. Counts are the server's: a rejected call never reaches it.

use std::error::Error as StdError;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use failfast::tower::{CircuitBreakerLayer, RetryLayer, TimeoutLayer};
use failfast::{BreakerConfig, RetryPolicy, State as BreakerState, circuit_breaker, registry};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

type BoxError = Box<dyn StdError + Send + Sync>;

/// The server's side: how many requests reached it, and whether it fails them.
#[derive(Default)]
struct Upstream {
    hits: AtomicU32,
    down: AtomicBool,
    /// Answers take this long (ms).
    delay_ms: AtomicU32,
}

async fn flaky(State(upstream): State<Arc<Upstream>>) -> (StatusCode, &'static str) {
    upstream.hits.fetch_add(1, SeqCst);
    let delay = upstream.delay_ms.load(SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay.into())).await;
    }
    if upstream.down.load(SeqCst) {
        (StatusCode::INTERNAL_SERVER_ERROR, "down")
    } else {
        (StatusCode::OK, "ok")
    }
}

/// Serves `router` on a free loopback port; returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

async fn upstream_server() -> (Arc<Upstream>, String) {
    let upstream = Arc::new(Upstream::default());
    let router = Router::new()
        .route("/flaky", get(flaky))
        .with_state(upstream.clone());
    (upstream, serve(router).await)
}

/// The bottom of a client stack: reqwest, as a tower service of `http` types.
fn http_client() -> impl Service<
    axum::http::Request<String>,
    Response = axum::http::Response<reqwest::Body>,
    Error = BoxError,
    Future: Send,
> + Clone
+ Send
+ 'static {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    tower::service_fn(move |request: axum::http::Request<String>| {
        let client = client.clone();
        async move {
            let response = client.execute(reqwest::Request::try_from(request)?).await?;
            Ok::<_, BoxError>(axum::http::Response::from(response))
        }
    })
}

fn get_request(url: &str) -> axum::http::Request<String> {
    axum::http::Request::get(url).body(String::new()).unwrap()
}

fn is_open(error: &BoxError) -> bool {
    matches!(
        error.downcast_ref::<failfast::Error>(),
        Some(failfast::Error::Open { .. })
    )
}

#[tokio::test]
async fn the_breaker_opens_rejects_without_traffic_probes_once_and_closes() {
    let (upstream, base) = upstream_server().await;
    let url = format!("{base}/flaky");
    let layer = CircuitBreakerLayer::new("tower::lifecycle").config(
        BreakerConfig::new()
            .failures(3)
            .reset(Duration::from_millis(300)),
    );
    let mut client = layer.layer(http_client());
    let breaker = registry()
        .get("tower::lifecycle")
        .expect("registered by the layer");

    let response = client
        .ready()
        .await
        .unwrap()
        .call(get_request(&url))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    upstream.down.store(true, SeqCst);
    for _ in 0..3 {
        let response = client
            .ready()
            .await
            .unwrap()
            .call(get_request(&url))
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            500,
            "a 5xx is returned as it is, and counted"
        );
    }
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(upstream.hits.load(SeqCst), 4);

    // Open: rejected in `call`, the server sees nothing; `poll_ready` is not affected.
    for _ in 0..5 {
        let service = client
            .ready()
            .await
            .expect("an open breaker does not make it unready");
        let error = service.call(get_request(&url)).await.unwrap_err();
        assert!(is_open(&error), "{error}");
    }
    assert_eq!(upstream.hits.load(SeqCst), 4);

    // After the reset one trial call goes through; the server is back, so it closes.
    upstream.down.store(false, SeqCst);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let response = client
        .ready()
        .await
        .unwrap()
        .call(get_request(&url))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.hits.load(SeqCst), 5, "exactly one trial call");
    assert_eq!(breaker.state(), BreakerState::Closed);
    let m = breaker.metrics();
    assert_eq!(
        (m.calls, m.successes, m.failures, m.rejections),
        (10, 2, 3, 5)
    );
}

#[derive(Debug)]
struct CallError;

impl From<failfast::Error> for CallError {
    fn from(_: failfast::Error) -> Self {
        CallError
    }
}

static SHARED_CALLS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker("tower::shared", failures = 2)]
async fn attributed() -> Result<(), CallError> {
    SHARED_CALLS.fetch_add(1, SeqCst);
    Err(CallError)
}

#[tokio::test]
async fn a_layer_and_an_attributed_fn_with_one_name_share_one_breaker() {
    let (upstream, base) = upstream_server().await;
    let url = format!("{base}/flaky");
    // The fn trips it...
    assert!(attributed().await.is_err());
    assert!(attributed().await.is_err());
    // ...and a layer made afterwards, and a clone of its service, see it open.
    let mut client = CircuitBreakerLayer::new("tower::shared").layer(http_client());
    let mut clone = client.clone();
    for service in [&mut client, &mut clone] {
        let error = service
            .ready()
            .await
            .unwrap()
            .call(get_request(&url))
            .await
            .unwrap_err();
        assert!(is_open(&error), "{error}");
    }
    assert_eq!(upstream.hits.load(SeqCst), 0);
    assert_eq!(SHARED_CALLS.load(SeqCst), 2);
}

#[tokio::test]
async fn axum_applies_the_layer_per_route_and_every_route_shares_the_breaker() {
    let upstream = Arc::new(Upstream::default());
    upstream.down.store(true, SeqCst);
    // Server side: axum applies the layer to each route's service; the router needs an
    // infallible service, so errors (the rejection) become a 503 response.
    let guarded = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|error: BoxError| async move {
            (StatusCode::SERVICE_UNAVAILABLE, error.to_string())
        }))
        .layer(CircuitBreakerLayer::new("axum::routes").config(BreakerConfig::new().failures(2)))
        .map_err(|never: std::convert::Infallible| -> BoxError { match never {} });
    let router = Router::new()
        .route("/a", get(flaky))
        .route("/b", get(flaky))
        .layer(guarded)
        .with_state(upstream.clone());
    let base = serve(router).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let status = |path: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            http.get(format!("{base}{path}"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(status("/a").await, 500);
    assert_eq!(status("/a").await, 500);
    // Two failures on /a opened the breaker /b shares.
    assert_eq!(status("/b").await, 503);
    assert_eq!(status("/a").await, 503);
    assert_eq!(upstream.hits.load(SeqCst), 2);
    assert_eq!(
        registry().get("axum::routes").unwrap().state(),
        BreakerState::Open
    );
}

#[tokio::test]
async fn retry_and_timeout_layers_over_sockets() {
    let (upstream, base) = upstream_server().await;
    let url = format!("{base}/flaky");
    upstream.down.store(true, SeqCst);
    let policy = RetryPolicy::new()
        .attempts(3)
        .delay(Duration::from_millis(5));
    // Retry above the breaker: a rejection is never retried.
    let mut client = ServiceBuilder::new()
        .layer(RetryLayer::new(policy).no_budget())
        .layer(CircuitBreakerLayer::new("tower::retried").config(BreakerConfig::new().failures(4)))
        .layer(TimeoutLayer::new(Duration::from_millis(200)))
        .service(http_client());
    let response = client
        .ready()
        .await
        .unwrap()
        .call(get_request(&url))
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        500,
        "the last answer, when attempts run out"
    );
    assert_eq!(upstream.hits.load(SeqCst), 3);
    // One more failure opens the breaker; the rejection that follows is not retried.
    let response = client.ready().await.unwrap().call(get_request(&url)).await;
    assert!(is_open(&response.unwrap_err()));
    assert_eq!(upstream.hits.load(SeqCst), 4);
    let metrics = registry().get("tower::retried").unwrap().metrics();
    assert_eq!((metrics.failures, metrics.rejections), (4, 1));

    // A slow answer times out, as `Error::Timeout` in the service's error.
    upstream.down.store(false, SeqCst);
    upstream.delay_ms.store(1_000, SeqCst);
    let mut slow = TimeoutLayer::new(Duration::from_millis(100)).layer(http_client());
    let error = slow
        .ready()
        .await
        .unwrap()
        .call(get_request(&url))
        .await
        .unwrap_err();
    assert!(matches!(
        error.downcast_ref::<failfast::Error>(),
        Some(failfast::Error::Timeout { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn the_retry_layer_draws_on_the_budget() {
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let dead = tower::service_fn(move |_: ()| {
        counted.fetch_add(1, SeqCst);
        async { Err::<(), BoxError>("down".into()) }
    });
    // No token in the budget: the first failure is returned, nothing retried.
    let empty = failfast::Budget::new(0.0, 0);
    let mut client = RetryLayer::new(RetryPolicy::new().attempts(5))
        .budget(empty.clone())
        .retry_if(|result: &Result<(), BoxError>| result.is_err())
        .layer(dead);
    assert!(client.ready().await.unwrap().call(()).await.is_err());
    assert_eq!(calls.load(SeqCst), 1);
    assert_eq!(empty.exhausted(), 1);
}
