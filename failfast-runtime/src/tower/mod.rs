//! tower layers (feature `tower`): the same named breakers, retry budgets and timeouts
//! for a tower, axum or tonic service stack as for an attributed fn.
//!
//! - [`CircuitBreakerLayer`]: the breaker named in it, from the registry, so a layer that
//!   axum applies again per route, a cloned service and a fn with
//!   `#[circuit_breaker("sales_api")]` all see one breaker. An open breaker rejects in
//!   `call` (the inner service is not called) with [`Error::Open`](crate::Error::Open)
//!   converted into the service's error; `poll_ready` passes through and never takes a
//!   trial permit.
//! - [`RetryLayer`]: retries through the budgets `#[retry]` draws from; never retries a
//!   breaker's rejection from a layer below it.
//! - [`TimeoutLayer`]: [`Error::Timeout`](crate::Error::Timeout) in the service's error.
//!
//! What counts as a failure (for the breaker) or deserves another try (for the retry):
//! by default an `Err`, or an `http::Response` with a 5xx status; say otherwise with
//! `.is_failure(|result| ..)` / `.retry_if(|result| ..)`, which any service needs whose
//! response is not an `http::Response`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use failfast_runtime::tower::{CircuitBreakerLayer, TimeoutLayer};
//! use failfast_runtime::BreakerConfig;
//! use std::time::Duration;
//! use tower::{Layer, Service};
//!
//! type BoxError = Box<dyn std::error::Error + Send + Sync>;
//!
//! // Any service: here a fn answering 503.
//! let upstream = tower::service_fn(|_req: http::Request<()>| async {
//!     Ok::<_, BoxError>(http::Response::builder().status(503).body(()).unwrap())
//! });
//! let mut stack = CircuitBreakerLayer::new("docs::tower_sales")
//!     .config(BreakerConfig::new().failures(2))
//!     .layer(TimeoutLayer::new(Duration::from_secs(1)).layer(upstream));
//!
//! for _ in 0..2 {
//!     let response = stack.call(http::Request::new(())).await.unwrap();
//!     assert_eq!(response.status(), 503); // a 5xx: counted as a failure, returned as it is
//! }
//! let rejected = stack.call(http::Request::new(())).await.unwrap_err();
//! assert!(matches!(
//!     rejected.downcast_ref::<failfast_runtime::Error>(),
//!     Some(failfast_runtime::Error::Open { .. })
//! ));
//! # }
//! ```

mod circuit_breaker;
mod classify;
mod retry;
mod timeout;

pub use circuit_breaker::{CircuitBreaker, CircuitBreakerLayer, ResponseFuture};
pub use classify::{Classify, IsFailure, ServerErrors};
pub use retry::{Retry, RetryLayer};
pub use timeout::{Timeout, TimeoutFuture, TimeoutLayer};
