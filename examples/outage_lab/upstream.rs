//! The homepage's upstream services, simulated: a seeded latency per call, a rare error,
//! a two-second stall now and then (recommendations), and the scenario's outage. The same behaviour
//! answers calls in virtual time (here) and over HTTP (`http.rs` serves it).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::scenario::{Fault, Scenario, Service, Timeline};

/// What one call gets from a service.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reply {
    /// A good answer, after this long.
    Answer(Duration),
    /// An error (a 503), after this long.
    Error(Duration),
    /// No answer at all: the caller waits until its own timeout.
    Hang,
}

/// How a service behaves when nothing is wrong.
struct Normal {
    /// Latency: log-normal around this median, with this spread (sigma of the log).
    median_ms: f64,
    sigma: f64,
    /// Share of calls answered with an error at random.
    error_rate: f64,
    /// Recommendations stalls for two seconds now and then (a garbage-collection pause):
    /// a call that arrives during a stall is answered when it ends. Virtual time only.
    stalls: bool,
}

/// When recommendations stalls (s), in virtual time: a few times before and after the
/// outage, none in the half-minute before it (so a breaker it opens has closed again when
/// the outage starts).
const STALLS: [u64; 5] = [10, 25, 135, 150, 165];
const STALL: Duration = Duration::from_secs(2);

impl Service {
    fn normal(self) -> Normal {
        match self {
            Service::Auth => Normal {
                median_ms: 4.0,
                sigma: 0.3,
                error_rate: 0.0005,
                stalls: false,
            },
            Service::Recommendations => Normal {
                median_ms: 30.0,
                sigma: 0.5,
                error_rate: 0.002,
                stalls: true,
            },
            Service::Popular => Normal {
                median_ms: 8.0,
                sigma: 0.3,
                error_rate: 0.0005,
                stalls: false,
            },
        }
    }
}

/// The three services over one run: who is down when, and a seeded draw per call.
pub struct Services {
    scenario: Scenario,
    timeline: Timeline,
    /// One generator per service, so one service's calls do not shift another's draws.
    rngs: [Mutex<StdRng>; 3],
    start: Instant,
    calls: Calls,
}

impl Services {
    /// Starts the clock of the run now.
    pub fn new(scenario: Scenario, timeline: Timeline, seed: u64) -> Services {
        let rng = |service: Service| {
            Mutex::new(StdRng::seed_from_u64(
                seed ^ (service as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            ))
        };
        Services {
            scenario,
            timeline,
            rngs: Service::ALL.map(rng),
            start: Instant::now(),
            calls: Calls::new(timeline.total),
        }
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// The calls each service received, per second.
    pub fn calls(&self) -> &Calls {
        &self.calls
    }

    /// Counts a call to `service` now and draws its reply.
    pub fn reply(&self, service: Service) -> Reply {
        let at = self.elapsed();
        self.calls.count(service, at);
        let second = at.as_secs();
        let normal = service.normal();
        let mut rng = self.rngs[service.index()].lock().unwrap();
        let latency = log_normal(&mut *rng, normal.median_ms, normal.sigma);
        let outage = service == self.scenario.failing() && self.timeline.during(second);
        if outage {
            return match self.scenario.fault() {
                // A 503 from whatever still answers for the service: at once.
                Fault::Errors => Reply::Error(latency / 10),
                Fault::Hangs => Reply::Hang,
                Fault::Slow(min, max) => Reply::Answer(rng.random_range(min..=max)),
            };
        }
        if rng.random_bool(normal.error_rate) {
            return Reply::Error(latency);
        }
        let stall = (normal.stalls && self.timeline == Timeline::VIRTUAL)
            .then(|| {
                STALLS
                    .iter()
                    .map(|start| Duration::from_secs(*start))
                    .find(|start| (*start..*start + STALL).contains(&at))
            })
            .flatten();
        match stall {
            Some(start) => Reply::Answer(start + STALL - at + latency),
            None => Reply::Answer(latency),
        }
    }
}

/// A log-normal latency: `median × e^(sigma × N(0, 1))`, the normal draw by Box-Muller.
fn log_normal(rng: &mut impl Rng, median_ms: f64, sigma: f64) -> Duration {
    let u1: f64 = 1.0 - rng.random::<f64>(); // in (0, 1]
    let u2: f64 = rng.random();
    let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    Duration::from_secs_f64(median_ms * (sigma * normal).exp() / 1000.0)
}

/// Calls received per service and per second of the run.
pub struct Calls {
    per_second: [Vec<AtomicU64>; 3],
}

impl Calls {
    fn new(seconds: u64) -> Calls {
        let series = || (0..seconds).map(|_| AtomicU64::new(0)).collect();
        Calls {
            per_second: [series(), series(), series()],
        }
    }

    fn count(&self, service: Service, at: Duration) {
        // Calls after the end of the run (requests still draining) are not plotted.
        if let Some(slot) = self.per_second[service.index()].get(at.as_secs() as usize) {
            slot.fetch_add(1, Relaxed);
        }
    }

    /// The calls `service` received in each second.
    pub fn series(&self, service: Service) -> Vec<u64> {
        self.per_second[service.index()]
            .iter()
            .map(|n| n.load(Relaxed))
            .collect()
    }
}
