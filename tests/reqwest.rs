//! The reqwest middleware over real sockets on 127.0.0.1: axum servers that count the
//! requests reaching them, and a `reqwest_middleware` client with failfast's breaker and
//! retry middleware. A rejected request never reaches a server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use failfast::reqwest::{CircuitBreakerMiddleware, RetryMiddleware};
use failfast::{BreakerConfig, Budget, RetryPolicy, State as BreakerState, registry};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};

/// One server: the requests that reached it, and whether it answers 500.
#[derive(Default)]
struct Server {
    hits: AtomicU32,
    down: AtomicBool,
}

async fn answer(State(server): State<Arc<Server>>) -> StatusCode {
    server.hits.fetch_add(1, SeqCst);
    if server.down.load(SeqCst) {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

/// Starts a server on a free loopback port; returns it and its `host:port`.
async fn server(down: bool) -> (Arc<Server>, String) {
    let server = Arc::new(Server::default());
    server.down.store(down, SeqCst);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let router = Router::new()
        .route("/", get(answer))
        .with_state(server.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (server, host)
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn client(builder: impl FnOnce(ClientBuilder) -> ClientBuilder) -> ClientWithMiddleware {
    builder(ClientBuilder::new(
        reqwest::Client::builder().no_proxy().build().unwrap(),
    ))
    .build()
}

/// The status of a GET to `host`, or `None` when the breaker rejected it.
async fn get_status(client: &ClientWithMiddleware, host: &str) -> Option<u16> {
    match client.get(format!("http://{host}/")).send().await {
        Ok(response) => Some(response.status().as_u16()),
        Err(reqwest_middleware::Error::Middleware(error)) => {
            assert!(
                matches!(
                    error.downcast_ref::<failfast::Error>(),
                    Some(failfast::Error::Open { .. })
                ),
                "{error}"
            );
            None
        }
        Err(error) => panic!("unexpected error: {error}"),
    }
}

#[tokio::test]
async fn per_host_a_dead_host_is_cut_off_and_a_healthy_one_keeps_serving() {
    let (dead, dead_host) = server(true).await;
    let (healthy, healthy_host) = server(false).await;
    let client = client(|c| {
        c.with(
            CircuitBreakerMiddleware::per_host("reqwest::hosts").config(
                BreakerConfig::new()
                    .failures(3)
                    .reset(Duration::from_millis(300)),
            ),
        )
    });
    for _ in 0..3 {
        assert_eq!(get_status(&client, &dead_host).await, Some(500));
        assert_eq!(get_status(&client, &healthy_host).await, Some(200));
    }
    let dead_breaker = registry()
        .get(&format!("reqwest::hosts/{dead_host}"))
        .unwrap();
    let healthy_breaker = registry()
        .get(&format!("reqwest::hosts/{healthy_host}"))
        .unwrap();
    assert_eq!(dead_breaker.state(), BreakerState::Open);
    for _ in 0..4 {
        assert_eq!(get_status(&client, &dead_host).await, None, "rejected");
        assert_eq!(get_status(&client, &healthy_host).await, Some(200));
    }
    assert_eq!(dead.hits.load(SeqCst), 3, "nothing sent while open");
    assert_eq!(healthy.hits.load(SeqCst), 7);
    assert_eq!(healthy_breaker.state(), BreakerState::Closed);
    assert_eq!(registry().family("reqwest::hosts").len(), 2);

    // After the reset one trial goes to the mended host, and its breaker closes.
    dead.down.store(false, SeqCst);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(get_status(&client, &dead_host).await, Some(200));
    assert_eq!(dead.hits.load(SeqCst), 4);
    assert_eq!(dead_breaker.state(), BreakerState::Closed);
}

#[tokio::test]
async fn one_breaker_for_every_host_and_connection_errors_are_failures() {
    let (up, up_host) = server(false).await;
    let refused = format!("127.0.0.1:{}", closed_port());
    let client = client(|c| {
        c.with(
            CircuitBreakerMiddleware::new("reqwest::one").config(BreakerConfig::new().failures(2)),
        )
    });
    assert_eq!(get_status(&client, &up_host).await, Some(200));
    for _ in 0..2 {
        let error = client
            .get(format!("http://{refused}/"))
            .send()
            .await
            .unwrap_err();
        assert!(error.is_connect(), "{error}");
    }
    // One breaker for all: the healthy host is cut off too.
    assert_eq!(get_status(&client, &up_host).await, None);
    assert_eq!(up.hits.load(SeqCst), 1);
    let breaker = registry().get("reqwest::one").unwrap();
    let m = breaker.metrics();
    assert_eq!((m.successes, m.failures, m.rejections), (1, 2, 1));
}

#[tokio::test]
async fn eviction_keeps_a_family_bounded_and_an_open_breaker_is_never_evicted() {
    let (dead, dead_host) = server(true).await;
    let family = registry().family("reqwest::bounded");
    family.set_max_keys(20);
    let client = client(|c| {
        c.with(
            CircuitBreakerMiddleware::per_host("reqwest::bounded")
                .config(BreakerConfig::new().failures(2)),
        )
    });
    assert_eq!(get_status(&client, &dead_host).await, Some(500));
    assert_eq!(get_status(&client, &dead_host).await, Some(500));
    // 300 other hosts, each failing once: loopback addresses 127.0.1.x and 127.0.2.x on a
    // port nothing listens on (refused at once).
    let port = closed_port();
    for n in 0..300 {
        let host = format!("127.0.{}.{}:{port}", 1 + n / 200, n % 200 + 1);
        let _ = client.get(format!("http://{host}/")).send().await;
    }
    assert_eq!(family.len(), 20);
    assert_eq!(
        family.evictions(),
        301 - 20,
        "every closed breaker but the 19 newest"
    );
    let open = registry().get(&format!("reqwest::bounded/{dead_host}"));
    assert_eq!(open.map(|b| b.state()), Some(BreakerState::Open), "kept");
    assert_eq!(get_status(&client, &dead_host).await, None);
    assert_eq!(dead.hits.load(SeqCst), 2);
}

#[tokio::test]
async fn retries_5xx_on_the_budget_but_never_a_rejection() {
    let (flaky, host) = server(true).await;
    let policy = RetryPolicy::new()
        .attempts(3)
        .delay(Duration::from_millis(5));
    let retried = client(|c| {
        c.with(RetryMiddleware::new(policy).no_budget()).with(
            CircuitBreakerMiddleware::new("reqwest::retried")
                .config(BreakerConfig::new().failures(4)),
        )
    });
    assert_eq!(
        get_status(&retried, &host).await,
        Some(500),
        "the last answer"
    );
    assert_eq!(flaky.hits.load(SeqCst), 3);
    // The 4th failure opens the breaker; its rejection is not retried.
    assert_eq!(get_status(&retried, &host).await, None);
    assert_eq!(flaky.hits.load(SeqCst), 4);
    let m = registry().get("reqwest::retried").unwrap().metrics();
    assert_eq!((m.failures, m.rejections), (4, 1));

    // An empty budget: one try, the failure returned.
    let (other, other_host) = server(true).await;
    let empty = Budget::new(0.0, 0);
    let budgeted = client(|c| c.with(RetryMiddleware::new(policy).budget(empty.clone())));
    assert_eq!(get_status(&budgeted, &other_host).await, Some(500));
    assert_eq!(other.hits.load(SeqCst), 1);
    assert_eq!(empty.exhausted(), 1);
}

#[derive(Debug)]
struct CallError;

impl From<failfast::Error> for CallError {
    fn from(_: failfast::Error) -> Self {
        CallError
    }
}

static ATTRIBUTED_CALLS: AtomicU32 = AtomicU32::new(0);

#[failfast::circuit_breaker("reqwest::shared", failures = 2)]
async fn attributed() -> Result<(), CallError> {
    ATTRIBUTED_CALLS.fetch_add(1, SeqCst);
    Err(CallError)
}

#[tokio::test]
async fn the_middleware_and_an_attributed_fn_with_one_name_share_one_breaker() {
    let (up, host) = server(false).await;
    assert!(attributed().await.is_err());
    assert!(attributed().await.is_err());
    let client = client(|c| c.with(CircuitBreakerMiddleware::new("reqwest::shared")));
    assert_eq!(get_status(&client, &host).await, None, "opened by the fn");
    assert_eq!(up.hits.load(SeqCst), 0);
    assert_eq!(ATTRIBUTED_CALLS.load(SeqCst), 2);
}
