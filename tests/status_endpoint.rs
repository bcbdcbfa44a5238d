//! examples/status_endpoint.rs over real HTTP: its breaker opens after three failed
//! requests, rejects the fourth, and `/breakers` reports exactly that as JSON.

#[allow(dead_code)] // `main` and the docs' items are the example's, not the test's
#[path = "../examples/status_endpoint.rs"]
mod status_endpoint;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

/// The expected `/breakers` entry of the example's breaker; `ago_ms` is checked apart.
fn expected(state: &str, metrics: Value, last: Value) -> Value {
    json!({
        "name": "invoices",
        "state": state,
        "mode": "enforce",
        "metrics": metrics,
        "last_transition": last,
        "config": {
            "failures": 3, "failure_rate": null, "window_calls": null, "window_ms": null,
            "min_calls": null, "slow_ms": null, "slow_rate": null,
            "reset_ms": 30000, "reset_max_ms": null, "probes": 1, "mode": "enforce"
        },
        "conflict": null
    })
}

/// Removes `last_transition.ago_ms` from a breaker entry, checking it is plausible: the
/// whole test runs in far less than the 30 s the breaker stays open.
fn take_ago(entry: &mut Value) -> u64 {
    let ago = entry["last_transition"]
        .as_object_mut()
        .expect("a last transition")
        .remove("ago_ms")
        .and_then(|v| v.as_u64())
        .expect("ago_ms, a whole number of milliseconds");
    assert!(ago < 30_000, "ago_ms = {ago}");
    ago
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakers_endpoint_reports_the_breaker_opened_over_http() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(status_endpoint::serve(listener, async {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let get = |path: &str| client.get(format!("{base}{path}")).send();
    let post = |path: &str| client.post(format!("{base}{path}")).send();

    // The dependency is up: one success.
    let ok = get("/invoices").await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(
        ok.json::<Value>().await.unwrap(),
        json!({ "invoices": [1001, 1002] })
    );

    // The dependency goes down: three failures open the breaker, the fourth call is
    // rejected without reaching it.
    assert_eq!(
        post("/dependency/down").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    for _ in 0..3 {
        assert_eq!(
            get("/invoices").await.unwrap().status(),
            StatusCode::BAD_GATEWAY
        );
    }
    let rejected = get("/invoices").await.unwrap();
    assert_eq!(rejected.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry_after: u64 = rejected.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=30).contains(&retry_after),
        "retry-after = {retry_after}"
    );

    // The status endpoint says so.
    let response = get("/breakers").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "served as JSON"
    );
    let mut snapshot: Value = response.json().await.unwrap();
    let breakers = snapshot["breakers"].as_array_mut().unwrap();
    let mut entry = breakers
        .iter()
        .find(|b| b["name"] == "invoices")
        .cloned()
        .expect("the invoices breaker is listed");
    assert_eq!(
        breakers.len(),
        1,
        "the example has one breaker: {breakers:?}"
    );
    take_ago(&mut entry);
    assert_eq!(
        entry,
        expected(
            "open",
            json!({ "calls": 5, "successes": 1, "failures": 3, "rejections": 1, "slow_calls": 0 }),
            json!({ "from": "closed", "to": "open", "reason": "failures" }),
        )
    );

    // Manual control through the endpoint: reset closes it; the counters are cumulative.
    assert_eq!(
        post("/breakers/invoices/reset").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        post("/dependency/up").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(get("/invoices").await.unwrap().status(), StatusCode::OK);
    let mut entry: Value = get("/breakers/invoices")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    take_ago(&mut entry);
    assert_eq!(
        entry,
        expected(
            "closed",
            json!({ "calls": 6, "successes": 2, "failures": 3, "rejections": 1, "slow_calls": 0 }),
            json!({ "from": "open", "to": "closed", "reason": "reset" }),
        )
    );

    // Unknown breakers and actions.
    assert_eq!(
        get("/breakers/nope").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post("/breakers/nope/reset").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post("/breakers/invoices/explode").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    // Stop the server: close our connections, signal it, and wait for it to return.
    drop(client);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}
