//! Circuit breakers, retries and timeouts as attributes on ordinary functions.
//!
//! ```
//! use failfast::{circuit_breaker, retry, timeout};
//!
//! #[derive(Debug)]
//! enum ApiError {
//!     Down,
//!     Failfast(failfast::Error),
//! }
//!
//! impl From<failfast::Error> for ApiError {
//!     fn from(e: failfast::Error) -> Self {
//!         ApiError::Failfast(e)
//!     }
//! }
//!
//! #[retry(attempts = 3, delay = "10ms", jitter = "full")] // outermost: runs first
//! #[circuit_breaker("docs::sales_api", failures = 5, reset = "60s")]
//! #[timeout("3s")] // innermost: closest to the call
//! async fn get_invoices() -> Result<Vec<u32>, ApiError> {
//!     Ok(vec![1, 2, 3])
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! assert_eq!(get_invoices().await.unwrap(), vec![1, 2, 3]);
//! let breaker = failfast::registry().get("docs::sales_api").unwrap();
//! assert_eq!(breaker.state(), failfast::State::Closed);
//! # }
//! ```
//!
//! See the README for every argument, how attributes stack and the registry.
//!
//! Cargo features, all off by default: `tracing` (events), `metrics` (counters and a state
//! gauge), `serde` (a serializable registry snapshot), `redis` (`RedisStore`: breakers
//! shared across processes and hosts; set it once with [`set_default_store`]).
#![deny(missing_docs)]

pub use failfast_macros::{circuit_breaker, retry, timeout};
pub use failfast_runtime::*;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// Every code block of the README is a doctest (one of them shares breakers through Redis,
/// so they run with the `redis` feature, as CI runs them: `--all-features`).
#[cfg(all(doctest, feature = "redis"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
