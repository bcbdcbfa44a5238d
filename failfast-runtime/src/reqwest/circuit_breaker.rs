//! `CircuitBreakerMiddleware`: a breaker, or one per host, in a reqwest client.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use ::reqwest::{Request, Response};
use ::reqwest_middleware::{Middleware, Next};
use http::Extensions;

use super::{Outcome, server_error};
use crate::breaker::Breaker;
use crate::config::BreakerConfig;
use crate::registry::registry;

/// Guards a reqwest client's requests with the registry's breakers: one for all
/// requests, or one per `host:port`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use failfast_runtime::reqwest::CircuitBreakerMiddleware;
/// use failfast_runtime::{registry, BreakerConfig, State};
///
/// // Nothing listens on port 9 of the loopback: every request fails to connect.
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::builder().no_proxy().build().unwrap())
///     .with(CircuitBreakerMiddleware::per_host("docs::per_host").config(BreakerConfig::new().failures(2)))
///     .build();
/// for _ in 0..3 {
///     let _ = client.get("http://127.0.0.1:9/").send().await;
/// }
/// let breaker = registry().get("docs::per_host/127.0.0.1:9").unwrap();
/// assert_eq!(breaker.state(), State::Open);
/// assert_eq!(breaker.metrics().rejections, 1, "the third request was not sent");
/// # }
/// ```
pub struct CircuitBreakerMiddleware {
    target: Target,
    config: BreakerConfig,
    is_failure: fn(&Outcome) -> bool,
}

enum Target {
    /// One breaker, registered on the first request.
    One {
        name: String,
        breaker: OnceLock<Breaker>,
    },
    /// A keyed family of the registry, one breaker per `host:port`.
    PerHost { family: String },
}

impl CircuitBreakerMiddleware {
    /// Every request through the breaker named `name`.
    pub fn new(name: impl Into<String>) -> CircuitBreakerMiddleware {
        CircuitBreakerMiddleware {
            target: Target::One {
                name: name.into(),
                breaker: OnceLock::new(),
            },
            config: BreakerConfig::new(),
            is_failure: server_error,
        }
    }

    /// One breaker per host and port of the request's URL, named `"{prefix}/{host:port}"`
    /// (so `registry().get("prefix/127.0.0.1:8080")` finds it): the registry's keyed family
    /// `prefix`, bounded by its `max_keys` (see `Registry::family`).
    pub fn per_host(prefix: impl Into<String>) -> CircuitBreakerMiddleware {
        CircuitBreakerMiddleware {
            target: Target::PerHost {
                family: prefix.into(),
            },
            config: BreakerConfig::new(),
            is_failure: server_error,
        }
    }

    /// The breakers' config: for [`new`](Self::new), if this is the first registration of
    /// its name; for [`per_host`](Self::per_host), the family's config for the breakers it
    /// makes from now on.
    pub fn config(self, config: BreakerConfig) -> Self {
        if let Target::PerHost { family } = &self.target {
            registry().family(family).configure(config);
        }
        CircuitBreakerMiddleware { config, ..self }
    }

    /// Which outcomes are failures (default: an error, or a 5xx response).
    ///
    /// ```
    /// use failfast_runtime::reqwest::CircuitBreakerMiddleware;
    ///
    /// // 429s too.
    /// let middleware = CircuitBreakerMiddleware::new("docs::throttled").is_failure(|outcome| match outcome {
    ///     Ok(response) => response.status().is_server_error() || response.status() == 429,
    ///     Err(_) => true,
    /// });
    /// # let _ = middleware;
    /// ```
    pub fn is_failure(
        self,
        is_failure: fn(&Result<Response, ::reqwest_middleware::Error>) -> bool,
    ) -> Self {
        CircuitBreakerMiddleware { is_failure, ..self }
    }

    /// The breaker for `request`.
    fn breaker_for(&self, request: &Request) -> Breaker {
        match &self.target {
            Target::One { name, breaker } => breaker
                .get_or_init(|| registry().breaker(name.clone(), self.config))
                .clone(),
            Target::PerHost { family } => {
                registry().keyed(family, HostPort::of(request.url()).as_str())
            }
        }
    }
}

/// A URL's `host:port`, formatted on the stack, so the lookup of a known host allocates
/// nothing (a host name has at most 253 bytes; an IPv6 address is bracketed).
struct HostPort {
    bytes: [u8; 262],
    len: usize,
}

impl HostPort {
    fn of(url: &::reqwest::Url) -> HostPort {
        use std::io::Write;
        let mut host_port = HostPort {
            bytes: [0; 262],
            len: 0,
        };
        let host = url.host_str().unwrap_or("");
        let port = url.port_or_known_default().unwrap_or(0);
        let mut rest = &mut host_port.bytes[..];
        if write!(rest, "{host}:{port}").is_ok() {
            host_port.len = 262 - rest.len();
        }
        host_port
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl fmt::Debug for CircuitBreakerMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, name) = match &self.target {
            Target::One { name, .. } => ("one", name),
            Target::PerHost { family } => ("per_host", family),
        };
        f.debug_struct("CircuitBreakerMiddleware")
            .field(kind, name)
            .finish_non_exhaustive()
    }
}

impl Middleware for CircuitBreakerMiddleware {
    fn handle<'this, 'extensions, 'next, 'future>(
        &'this self,
        request: Request,
        extensions: &'extensions mut Extensions,
        next: Next<'next>,
    ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'future>>
    where
        'this: 'future,
        'extensions: 'future,
        'next: 'future,
        Self: 'future,
    {
        Box::pin(async move {
            let breaker = self.breaker_for(&request);
            let permit = match breaker.acquire() {
                Ok(permit) => permit,
                Err(open) => return Err(::reqwest_middleware::Error::middleware(open)),
            };
            let outcome = next.run(request, extensions).await;
            if (self.is_failure)(&outcome) {
                permit.failure();
            } else {
                permit.success();
            }
            outcome
        })
    }
}
