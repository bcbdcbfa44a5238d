//! The homepage service, after the "reliable network calls" demo: `homepage(token)` calls
//! `auth(token)`, then `recommendations(user)` and `popular_items()` concurrently, and
//! shows both lists. A page with popular items only (recommendations answered by a
//! fallback) is degraded but available; an error is an unavailable page.
//!
//! The clients of the three services are written once per variant with failfast's real
//! attributes. Each worker has its own breakers, as each gunicorn worker process of the
//! demo had its own: in one process that is one copy of the clients per worker (the
//! `workers!` macro below stamps them out, and each copy's breakers take its module's name,
//! `outage_lab::homepage::failfast::w03::recommendations`). The `shared` variant has one
//! copy for every worker, so one breaker per service.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use ::failfast::{circuit_breaker, retry, timeout};

use super::client::{CallError, Items, Upstreams};
use super::scenario::{Pace, Scenario, Service, Variant};

/// The most workers the lab can run (one stamped copy of the clients each).
pub const MAX_WORKERS: usize = 32;

/// A call in flight.
pub type Call<'a, T> = Pin<Box<dyn Future<Output = Result<T, CallError>> + Send + 'a>>;

/// One worker's way to the three services.
#[derive(Clone, Copy)]
pub struct Clients {
    pub auth: for<'a> fn(&'a Upstreams, u64) -> Call<'a, u64>,
    pub recommendations: for<'a> fn(&'a Upstreams, u64) -> Call<'a, Items>,
    pub popular: for<'a> fn(&'a Upstreams) -> Call<'a, Items>,
    /// The names of its breakers, by service; `None` without breakers.
    pub breakers: Option<[&'static str; 3]>,
}

/// What a request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Full,
    /// Popular items only, or a cached list: available, degraded.
    Degraded,
}

/// The homepage of one request.
pub async fn homepage(clients: &Clients, up: &Upstreams, token: u64) -> Result<Page, CallError> {
    // No session, no page: nothing to fall back to.
    let user = (clients.auth)(up, token).await?;
    let (recommended, popular) =
        tokio::join!((clients.recommendations)(up, user), (clients.popular)(up));
    let (recommended, popular) = (recommended?, popular?);
    if recommended.fallback || popular.fallback {
        Ok(Page::Degraded)
    } else {
        Ok(Page::Full)
    }
}

/// The clients of `variant` in `scenario`, one per worker.
pub fn clients(scenario: Scenario, variant: Variant, workers: usize) -> Vec<Clients> {
    let per_worker = |copies: &[Clients]| copies[..workers].to_vec();
    match (scenario, variant) {
        (Scenario::RetryStorm, Variant::Bare) => vec![storm::BARE; workers],
        (Scenario::RetryStorm, Variant::Naive) => vec![storm::NAIVE; workers],
        (Scenario::RetryStorm, _) => vec![storm::FAILFAST; workers],
        (_, Variant::Bare) => vec![bare::CLIENTS; workers],
        (_, Variant::Naive) => per_worker(naive::WORKERS),
        (_, Variant::Failfast) => per_worker(failfast::WORKERS),
        (_, Variant::Shared) => vec![shared::WORKERS[0]; workers],
    }
}

/// The breakers' open times, which `--http` shortens with its timeline (set once, before
/// the first call).
static PACE: OnceLock<Pace> = OnceLock::new();

pub fn set_pace(pace: Pace) {
    let _ = PACE.set(pace);
}

fn pace() -> Pace {
    *PACE.get().unwrap_or(&Pace::VIRTUAL)
}

// Fallbacks: graceful degradation.

/// While recommendations cannot answer: no recommendations, the page shows popular items.
async fn no_recommendations(_up: &Upstreams, _user: u64) -> Result<Items, CallError> {
    Ok(Items {
        ids: Vec::new(),
        fallback: true,
    })
}

/// While popular items cannot answer: the list cached at the last deploy.
async fn cached_popular(_up: &Upstreams) -> Result<Items, CallError> {
    Ok(Items {
        ids: vec![1, 2, 3],
        fallback: true,
    })
}

/// Plain calls.
mod bare {
    use super::*;

    pub const CLIENTS: Clients = Clients {
        auth: |up, token| Box::pin(up.auth(token)),
        recommendations: |up, user| Box::pin(up.recommendations(user)),
        popular: |up| Box::pin(up.popular()),
        breakers: None,
    };
}

/// The demo's first try: three attempts with full jitter, a breaker per dependency that
/// opens after 5 failures for 30 s and then answers with the fallback, and 1 s timeouts.
/// (No retry budget: that is what came later.)
#[rustfmt::skip] // rustfmt re-indents attributes inside macro_rules at every run
macro_rules! naive_clients {
    () => {
        #[retry(attempts = 3, delay = "100ms", jitter = "full", budget = "none")]
        #[circuit_breaker(failures = 5, reset = super::super::pace().naive_reset)]
        #[timeout("1s")]
        pub async fn auth(up: &Upstreams, token: u64) -> Result<u64, CallError> {
            up.auth(token).await
        }

        #[retry(attempts = 3, delay = "100ms", jitter = "full", budget = "none")]
        #[circuit_breaker(
            failures = 5,
            reset = super::super::pace().naive_reset,
            fallback = super::super::no_recommendations
        )]
        #[timeout("1s")]
        pub async fn recommendations(up: &Upstreams, user: u64) -> Result<Items, CallError> {
            up.recommendations(user).await
        }

        #[retry(attempts = 3, delay = "100ms", jitter = "full", budget = "none")]
        #[circuit_breaker(
            failures = 5,
            reset = super::super::pace().naive_reset,
            fallback = super::super::cached_popular
        )]
        #[timeout("1s")]
        pub async fn popular(up: &Upstreams) -> Result<Items, CallError> {
            up.popular().await
        }
    };
}

/// The recommended configuration: timeouts a little above each service's slowest normal
/// answers, a breaker per dependency that opens after 5 failures for 10 s, and fallbacks
/// on every failure for the two that can degrade. No retries: the page's reader reloads.
#[rustfmt::skip] // rustfmt re-indents attributes inside macro_rules at every run
macro_rules! failfast_clients {
    () => {
        #[circuit_breaker(failures = 5, reset = super::super::pace().reset)]
        #[timeout("100ms")]
        pub async fn auth(up: &Upstreams, token: u64) -> Result<u64, CallError> {
            up.auth(token).await
        }

        #[circuit_breaker(
            failures = 5,
            reset = super::super::pace().reset,
            fallback = super::super::no_recommendations,
            fallback_on = "failure"
        )]
        #[timeout("250ms")]
        pub async fn recommendations(up: &Upstreams, user: u64) -> Result<Items, CallError> {
            up.recommendations(user).await
        }

        #[circuit_breaker(
            failures = 5,
            reset = super::super::pace().reset,
            fallback = super::super::cached_popular,
            fallback_on = "failure"
        )]
        #[timeout("100ms")]
        pub async fn popular(up: &Upstreams) -> Result<Items, CallError> {
            up.popular().await
        }
    };
}

/// One module per worker, each with its own copy of the clients `$clients!` writes (so
/// its own breakers), and `WORKERS`, their clients by worker.
macro_rules! workers {
    ($clients:ident: $($worker:ident)*) => {
        $(
            pub mod $worker {
                use super::super::*;

                $clients!();

                pub const CLIENTS: Clients = Clients {
                    auth: |up, token| Box::pin(auth(up, token)),
                    recommendations: |up, user| Box::pin(recommendations(up, user)),
                    popular: |up| Box::pin(popular(up)),
                    breakers: Some([
                        concat!(module_path!(), "::auth"),
                        concat!(module_path!(), "::recommendations"),
                        concat!(module_path!(), "::popular"),
                    ]),
                };
            }
        )*

        pub const WORKERS: &[Clients] = &[$($worker::CLIENTS),*];
    };
}

mod naive {
    use super::*;

    workers!(naive_clients: w00 w01 w02 w03 w04 w05 w06 w07 w08 w09 w10 w11 w12 w13 w14 w15
        w16 w17 w18 w19 w20 w21 w22 w23 w24 w25 w26 w27 w28 w29 w30 w31);
}

mod failfast {
    use super::*;

    workers!(failfast_clients: w00 w01 w02 w03 w04 w05 w06 w07 w08 w09 w10 w11 w12 w13 w14 w15
        w16 w17 w18 w19 w20 w21 w22 w23 w24 w25 w26 w27 w28 w29 w30 w31);
}

/// `failfast`, once for every worker.
mod shared {
    use super::*;

    workers!(failfast_clients: w00);
}

/// `retry-storm`: recommendations behind three layers (the homepage's client, the
/// recommendations service's call to its model, the model's call to its feature store),
/// in one process. `naive` retries 4 times at each layer with no budget (4 × 4 × 4 = 64
/// calls per request); `failfast` the same on the default retry budget; `bare` tries once
/// at each. Auth and popular items are plain calls in all three.
mod storm {
    use super::*;

    /// A layer retrying `$attempts` times on `$budget`, calling `$below`.
    macro_rules! layer {
        ($name:ident, $below:path, $($retry:tt)*) => {
            #[retry($($retry)*)]
            pub async fn $name(up: &Upstreams, user: u64) -> Result<Items, CallError> {
                $below(up, user).await
            }
        };
    }

    async fn store(up: &Upstreams, user: u64) -> Result<Items, CallError> {
        up.recommendations(user).await
    }

    pub mod naive {
        use super::*;
        layer!(model, store, attempts = 4, delay = "10ms", budget = "none");
        layer!(
            service,
            model,
            attempts = 4,
            delay = "10ms",
            budget = "none"
        );
        layer!(
            client,
            service,
            attempts = 4,
            delay = "10ms",
            budget = "none"
        );
    }

    pub mod failfast {
        use super::*;
        layer!(model, store, attempts = 4, delay = "10ms");
        layer!(service, model, attempts = 4, delay = "10ms");
        layer!(client, service, attempts = 4, delay = "10ms");
    }

    pub const BARE: Clients = Clients {
        recommendations: |up, user| Box::pin(store(up, user)),
        ..bare::CLIENTS
    };
    pub const NAIVE: Clients = Clients {
        recommendations: |up, user| Box::pin(naive::client(up, user)),
        ..bare::CLIENTS
    };
    pub const FAILFAST: Clients = Clients {
        recommendations: |up, user| Box::pin(failfast::client(up, user)),
        ..bare::CLIENTS
    };
}

/// The breaker names of `clients` for `service`, each once.
pub fn breaker_names(clients: &[Clients], service: Service) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = clients
        .iter()
        .filter_map(|c| c.breakers.map(|names| names[service.index()]))
        .collect();
    names.dedup();
    names
}
