//! One variant of one scenario in virtual time: tokio's paused clock (the lab runs on a
//! current-thread runtime started paused), so three minutes of traffic take a second or
//! two, and the same seed gives the same numbers.

use std::sync::Arc;
use std::time::Duration;

use failfast::{State, Transition, registry};
use tokio::time::Instant;

use super::client::Upstreams;
use super::homepage::{self, Clients, Page};
use super::record::{Measured, Outcome, Recorder};
use super::scenario::{Pace, Scenario, Service, Timeline, Variant};
use super::traffic::{self, Pool, Serve};
use super::upstream::Services;

/// The load: requests per second into `workers` workers behind a queue of `queue`.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub rps: u32,
    pub workers: usize,
    pub queue: usize,
}

/// Runs `variant` of `scenario` for the whole virtual timeline.
pub async fn run(scenario: Scenario, variant: Variant, load: Load, seed: u64) -> Measured {
    let timeline = Timeline::VIRTUAL;
    // Retry jitter from a sequence of this run's own: the same whatever ran before it.
    failfast::seed_jitter(seed ^ ((scenario as u64) << 8) ^ ((variant as u64) << 16));
    let clients = homepage::clients(scenario, variant, load.workers);
    forget_earlier_runs(&clients);

    let services = Arc::new(Services::new(
        scenario,
        timeline,
        seed ^ ((scenario as u64) << 8),
    ));
    let up = Upstreams::simulated(services.clone(), Pace::VIRTUAL.client_timeout);
    let recorder = Arc::new(Recorder::new(timeline, load.workers));
    let failing = homepage::breaker_names(&clients, scenario.failing());
    let probes = watch_probes(&recorder, failing.clone());
    let sampler = tokio::spawn(sample_states(recorder.clone(), failing, timeline));

    let serve: Serve = {
        let clients: Arc<[Clients]> = clients.into();
        Arc::new(move |worker, token| {
            let (clients, up) = (clients.clone(), up.clone());
            Box::pin(async move { outcome(homepage::homepage(&clients[worker], &up, token).await) })
        })
    };
    let (pool, workers) = Pool::start(load.workers, load.queue, recorder.clone(), serve);
    traffic::generate(load.rps, timeline, recorder.clone(), |token| {
        pool.submit(token)
            .map(|answer| async move { answer.await.unwrap_or(Outcome::Error) })
    })
    .await;
    drop(pool);
    workers.join_all().await;
    sampler.await.expect("the sampler does not panic");
    probes.cancel();
    recorder.finish(Service::ALL.map(|service| services.calls().series(service)))
}

/// The page a worker's call made, as the load generator sees it.
pub fn outcome(page: Result<Page, super::client::CallError>) -> Outcome {
    match page {
        Ok(Page::Full) => Outcome::Full,
        Ok(Page::Degraded) => Outcome::Degraded,
        Err(_) => Outcome::Error,
    }
}

/// Breakers are the process's, and live on from run to run: each run starts with its
/// breakers closed and their failure counts cleared.
fn forget_earlier_runs(clients: &[Clients]) {
    for service in Service::ALL {
        for name in homepage::breaker_names(clients, service) {
            if let Some(breaker) = registry().get(name) {
                breaker.reset();
            }
        }
    }
}

/// Counts each half-open spell of the breakers named `names` (each lets a trial call
/// through) through the registry's transition events.
fn watch_probes(recorder: &Arc<Recorder>, names: Vec<&'static str>) -> failfast::Subscription {
    let recorder = recorder.clone();
    registry().subscribe(move |t: &Transition| {
        if t.to == State::HalfOpen && names.contains(&&*t.name) {
            recorder.probe(Instant::now());
        }
    })
}

/// Samples the states of the breakers named `names` near the end of every second.
async fn sample_states(recorder: Arc<Recorder>, names: Vec<&'static str>, timeline: Timeline) {
    let start = Instant::now();
    for second in 0..timeline.total {
        let at = start + Duration::from_secs(second) + Duration::from_millis(999);
        tokio::time::sleep_until(at).await;
        let (mut closed, mut open, mut half_open) = (0, 0, 0);
        for name in &names {
            match registry().get(name).map(|b| b.state()) {
                Some(State::Open | State::ForcedOpen) => open += 1,
                Some(State::HalfOpen) => half_open += 1,
                // Not called yet, closed, or disabled: letting calls through.
                _ => closed += 1,
            }
        }
        recorder.states(second, closed, open, half_open);
    }
}
