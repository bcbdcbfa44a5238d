//! How the homepage reaches its upstreams: in virtual time, straight into the simulation;
//! over `--http`, with a reqwest client. Either way a call without a failfast timeout waits
//! at most the client's default timeout, as an HTTP client's would.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::http::HttpUpstreams;
use crate::scenario::Service;
use crate::upstream::{Reply, Services};

/// Why a call to an upstream failed.
#[derive(Debug, Clone)]
pub enum CallError {
    /// The service answered with this error status.
    Status(u16),
    /// The HTTP client's own (generous) timeout.
    ClientTimeout,
    /// No connection (over HTTP).
    Connect(String),
    /// failfast rejected the call (breaker open) or timed it out.
    Failfast(failfast::Error),
}

impl From<failfast::Error> for CallError {
    fn from(e: failfast::Error) -> Self {
        CallError::Failfast(e)
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Status(status) => write!(f, "upstream answered {status}"),
            CallError::ClientTimeout => f.write_str("the HTTP client timed out"),
            CallError::Connect(why) => write!(f, "no connection: {why}"),
            CallError::Failfast(e) => write!(f, "{e}"),
        }
    }
}

/// A list of items for the page.
#[derive(Debug, Clone, PartialEq)]
pub struct Items {
    pub ids: Vec<u64>,
    /// Answered by a fallback, not by the service.
    pub fallback: bool,
}

/// The way to the three services.
#[derive(Clone)]
pub enum Upstreams {
    Sim(Arc<Services>, Duration),
    Http(HttpUpstreams),
}

impl Upstreams {
    /// In virtual time: the simulation, with the HTTP client's default timeout.
    pub fn simulated(services: Arc<Services>, client_timeout: Duration) -> Upstreams {
        Upstreams::Sim(services, client_timeout)
    }

    /// One call to `service`.
    pub async fn call(&self, service: Service) -> Result<(), CallError> {
        match self {
            Upstreams::Sim(services, client_timeout) => {
                let wait = match services.reply(service) {
                    Reply::Answer(latency) if latency <= *client_timeout => {
                        tokio::time::sleep(latency).await;
                        return Ok(());
                    }
                    Reply::Error(latency) if latency <= *client_timeout => {
                        tokio::time::sleep(latency).await;
                        return Err(CallError::Status(503));
                    }
                    _ => *client_timeout,
                };
                tokio::time::sleep(wait).await;
                Err(CallError::ClientTimeout)
            }
            Upstreams::Http(http) => http.call(service).await,
        }
    }

    /// The user behind a session token.
    pub async fn auth(&self, token: u64) -> Result<u64, CallError> {
        self.call(Service::Auth).await?;
        Ok(token % 1000)
    }

    /// What this user may like.
    pub async fn recommendations(&self, user: u64) -> Result<Items, CallError> {
        self.call(Service::Recommendations).await?;
        Ok(Items {
            ids: (1..=4).map(|i| user * 10 + i).collect(),
            fallback: false,
        })
    }

    /// What everyone likes.
    pub async fn popular(&self) -> Result<Items, CallError> {
        self.call(Service::Popular).await?;
        Ok(Items {
            ids: vec![7, 8, 9],
            fallback: false,
        })
    }
}
