//! The runtime of [failfast]: circuit breakers, a registry of named breakers, retries
//! with exponential backoff and jitter, and timeouts. It knows nothing about the
//! attribute macros and is usable by hand, with closures and futures.
//!
//! - [`Breaker`]: the circuit breaker state machine (Closed, Open, HalfOpen, plus the
//!   manual ForcedOpen and Disabled). Ask it for a [`Permit`] before a call, report the
//!   outcome through the permit; or let [`Breaker::call`] / [`Breaker::call_async`] do both.
//! - [`registry()`]: the process-wide [`Registry`] of breakers by name, with metrics,
//!   manual control and transition listeners. A keyed [`Family`] there gives one breaker
//!   per host or tenant ([`Registry::keyed`]), at most `max_keys` of them at once.
//! - [`RetryPolicy`], [`Backoff`], [`Retry`]: how many attempts and how long to wait;
//!   [`retry`] and [`retry_async`] run the loop.
//! - [`Budget`]: retry budgets. **Every retry draws from the process-wide default budget**
//!   (retries may add 20% load, plus 10 per second) unless it names its own
//!   ([`Registry::budget`]) or none ([`Retry::budget`]), as Envoy, gRPC and the AWS SDKs
//!   do by default: stacked retries cannot multiply the load on a dependency that is down.
//! - [`timeout`]: give up on a future.
//! - [`Store`]: where breaker state is shared. [`InProcess`] (the default) shares
//!   nothing; `RedisStore` (feature `redis`) shares open states, fleet-wide half-open
//!   leases and manual control across processes and hosts. Set the default once with
//!   [`set_default_store`], or give one breaker its own ([`Breaker::with_store`],
//!   [`Registry::breaker_with_store`]).
//!
//! Time comes from tokio's clock: inside a runtime with paused time, `tokio::time::advance`
//! moves breakers and retries forward, which keeps tests fast and exact.
//!
//! ```
//! use failfast_runtime::{Breaker, BreakerConfig, Error, State};
//! use std::time::Duration;
//!
//! let breaker = Breaker::new("inventory", BreakerConfig::new().failures(3).reset(Duration::from_secs(30)));
//! for _ in 0..3 {
//!     let _ = breaker.call(|| Err::<(), Error>(Error::Timeout { after: Duration::from_secs(1) }));
//! }
//! assert_eq!(breaker.state(), State::Open);
//! match breaker.call(|| Ok::<_, Error>("never runs")) {
//!     Err(Error::Open { retry_after, .. }) => assert!(retry_after <= Duration::from_secs(30)),
//!     other => panic!("expected a rejection, got {other:?}"),
//! }
//! ```
//!
//! [failfast]: https://example.invalid/failfast
#![deny(missing_docs)]

mod backoff;
mod breaker;
mod budget;
mod clock;
mod config;
mod directory;
mod error;
mod family;
mod guard;
mod listeners;
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_hooks;
mod metrics;
mod name;
mod permit;
mod policy;
#[cfg(feature = "redis")]
mod redis_store;
mod registry;
#[cfg(feature = "reqwest")]
pub mod reqwest;
mod retry;
mod snapshot;
mod spell;
mod state;
mod store;
mod stripe;
mod sync;
mod telemetry;
mod timeout;
#[cfg(feature = "tower")]
pub mod tower;
mod transition;

pub use backoff::{Backoff, Jitter, RetryPolicy, seed_jitter};
pub use breaker::Breaker;
pub use budget::Budget;
pub use config::{BreakerConfig, Mode, Window};
pub use error::{Error, is_open, not_open};
pub use family::Family;
pub use guard::{Guarded, guard};
pub use listeners::Subscription;
pub use metrics::Metrics;
pub use name::BreakerName;
pub use permit::Permit;
#[cfg(feature = "redis")]
pub use redis_store::{RedisStore, RedisStoreBuilder, RedisUrlError};
pub use registry::{Registry, registry};
pub use retry::{Retry, RetryAfter, RetryInfo, Rules, Scoped, retry, retry_async};
pub use snapshot::{
    BreakerSnapshot, ConfigSummary, Counts, FamilySnapshot, LastTransition, Snapshot,
};
pub use state::State;
pub use store::{InProcess, Lease, SharedState, Store, StoreAlreadySet, set_default_store};
pub use timeout::timeout;
pub use transition::{Reason, Transition};
