//! reqwest middleware (feature `reqwest`): the registry's breakers and the retry budgets
//! around a `reqwest_middleware` client.
//!
//! - [`CircuitBreakerMiddleware`]: one breaker for every request (`::new("name")`), or one
//!   per host (`::per_host("prefix")`, breakers named `"prefix/host:port"`, a keyed family
//!   of the registry: bounded, and an open breaker is never evicted), so one bad host does
//!   not cut off the others. Connection errors, timeouts and 5xx responses count as
//!   failures by default. An open breaker rejects without sending anything, with
//!   `reqwest_middleware::Error::Middleware` holding [`Error::Open`](crate::Error::Open).
//! - [`RetryMiddleware`]: retries on the budgets `#[retry]` draws from, never a breaker's
//!   rejection, and only requests whose body can be sent again.
//!
//! Put the retry first (outermost) and the breaker after it, so each attempt goes through
//! the breaker:
//!
//! ```
//! use failfast_runtime::reqwest::{CircuitBreakerMiddleware, RetryMiddleware};
//! use failfast_runtime::{BreakerConfig, RetryPolicy};
//! use std::time::Duration;
//!
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(RetryMiddleware::new(RetryPolicy::new().attempts(3)))
//!     .with(CircuitBreakerMiddleware::per_host("docs::hosts").config(BreakerConfig::new().failures(5)))
//!     .build();
//! # let _ = client;
//! ```

mod circuit_breaker;
mod retry;

pub use circuit_breaker::CircuitBreakerMiddleware;
pub use retry::RetryMiddleware;

/// What a middleware's next step returns.
type Outcome = Result<::reqwest::Response, ::reqwest_middleware::Error>;

/// The default judgement of both middlewares: an error (no connection, a timeout, ...) or a
/// 5xx response.
fn server_error(outcome: &Outcome) -> bool {
    match outcome {
        Ok(response) => response.status().is_server_error(),
        Err(_) => true,
    }
}

/// True when `error` is a breaker's rejection, from a [`CircuitBreakerMiddleware`].
fn is_rejection(error: &::reqwest_middleware::Error) -> bool {
    match error {
        ::reqwest_middleware::Error::Middleware(error) => matches!(
            error.downcast_ref::<crate::error::Error>(),
            Some(crate::error::Error::Open { .. })
        ),
        ::reqwest_middleware::Error::Reqwest(_) => false,
    }
}
