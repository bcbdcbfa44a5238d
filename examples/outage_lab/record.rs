//! What one run measured: every request's outcome by the second it arrived, latencies,
//! how long the worker pool had no free worker, the breakers' states, and the summary
//! figures of `summary.json`.

use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::scenario::{Service, Timeline, Variant};

/// What became of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Full,
    Degraded,
    Error,
    /// The queue was full: no worker would take it.
    TurnedAway,
}

/// One second of a run, by the requests that arrived in it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Second {
    pub arrivals: u64,
    pub full: u64,
    pub degraded: u64,
    pub errors: u64,
    pub turned_away: u64,
    /// The most workers busy at once during the second.
    pub busy_max: u64,
    /// The breakers of the failing service at the end of the second.
    pub closed: u64,
    pub open: u64,
    pub half_open: u64,
}

impl Second {
    /// Share of the second's requests that got a page (full or degraded).
    pub fn availability(&self) -> Option<f64> {
        (self.arrivals > 0).then(|| (self.full + self.degraded) as f64 / self.arrivals as f64)
    }
}

/// Records a run as it goes; shared by the traffic generator, the workers and the
/// breaker sampler (over HTTP, from several threads).
pub struct Recorder {
    start: Instant,
    /// The end of the run's timeline (requests may still be draining after it).
    end: Instant,
    inner: Mutex<Inner>,
}

struct Inner {
    seconds: Vec<Second>,
    /// (arrival second, latency in ms) of every request a worker served.
    latencies: Vec<(u64, f64)>,
    busy: u64,
    /// The second of the last change of `busy`.
    last_change: usize,
    workers: u64,
    saturated_since: Option<Instant>,
    saturated: Duration,
    /// Seconds at which a breaker of the failing service went half-open.
    probes: Vec<u64>,
}

impl Recorder {
    pub fn new(timeline: Timeline, workers: usize) -> Recorder {
        let start = Instant::now();
        Recorder {
            start,
            end: start + Duration::from_secs(timeline.total),
            inner: Mutex::new(Inner {
                seconds: vec![Second::default(); timeline.total as usize],
                latencies: Vec::new(),
                busy: 0,
                last_change: 0,
                workers: workers as u64,
                saturated_since: None,
                saturated: Duration::ZERO,
                probes: Vec::new(),
            }),
        }
    }

    /// The second of the run `at` falls in.
    pub fn second(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_secs()
    }

    fn with_second(&self, second: u64, f: impl FnOnce(&mut Second)) {
        if let Some(s) = self.inner.lock().unwrap().seconds.get_mut(second as usize) {
            f(s);
        }
    }

    /// A request arrived at `at` and got `outcome`, answered at `done` (or turned away).
    pub fn request(&self, at: Instant, outcome: Outcome, done: Instant) {
        let second = self.second(at);
        self.with_second(second, |s| {
            s.arrivals += 1;
            match outcome {
                Outcome::Full => s.full += 1,
                Outcome::Degraded => s.degraded += 1,
                Outcome::Error => s.errors += 1,
                Outcome::TurnedAway => s.turned_away += 1,
            }
        });
        if outcome != Outcome::TurnedAway {
            let ms = done.saturating_duration_since(at).as_secs_f64() * 1000.0;
            self.inner.lock().unwrap().latencies.push((second, ms));
        }
    }

    /// A worker took a request (`true`) or finished one (`false`).
    pub fn worker(&self, busy: bool) {
        let now = Instant::now();
        let second = self.second(now) as usize;
        let end = self.end;
        let mut inner = self.inner.lock().unwrap();
        if busy {
            inner.busy += 1;
            if inner.busy == inner.workers {
                inner.saturated_since = Some(now);
            }
        } else {
            if let Some(since) = inner.saturated_since.take() {
                // Only the part inside the run counts.
                inner.saturated += now.min(end).saturating_duration_since(since.min(end));
            }
            inner.busy -= 1;
        }
        // The seconds since the last change had the count before this one throughout.
        let (before, busy_now) = (
            if busy { inner.busy - 1 } else { inner.busy + 1 },
            inner.busy,
        );
        let from = inner.last_change;
        for s in inner.seconds.iter_mut().take(second + 1).skip(from) {
            s.busy_max = s.busy_max.max(before);
        }
        if let Some(s) = inner.seconds.get_mut(second) {
            s.busy_max = s.busy_max.max(busy_now);
        }
        inner.last_change = second;
    }

    /// The states of the failing service's breakers at the end of `second`.
    pub fn states(&self, second: u64, closed: u64, open: u64, half_open: u64) {
        self.with_second(second, |s| {
            (s.closed, s.open, s.half_open) = (closed, open, half_open);
        });
    }

    /// A breaker of the failing service went half-open: a trial call follows.
    pub fn probe(&self, at: Instant) {
        let second = self.second(at);
        self.inner.lock().unwrap().probes.push(second);
    }

    /// The run's measurements, with the calls each service received per second.
    pub fn finish(&self, calls: [Vec<u64>; 3]) -> Measured {
        let mut inner = self.inner.lock().unwrap();
        let saturated = inner.saturated
            + inner.saturated_since.map_or(Duration::ZERO, |since| {
                self.end.saturating_duration_since(since.min(self.end))
            });
        Measured {
            seconds: std::mem::take(&mut inner.seconds),
            latencies: std::mem::take(&mut inner.latencies),
            saturated,
            probes: std::mem::take(&mut inner.probes),
            calls,
        }
    }
}

/// Everything one run of one variant measured.
pub struct Measured {
    pub seconds: Vec<Second>,
    pub latencies: Vec<(u64, f64)>,
    pub saturated: Duration,
    pub probes: Vec<u64>,
    /// Calls received per second, by service.
    pub calls: [Vec<u64>; 3],
}

// --- summary.json ------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct Summary {
    pub seed: u64,
    /// `"virtual"` or `"http"`.
    pub mode: &'static str,
    pub rps: u32,
    pub workers: usize,
    pub queue: usize,
    pub scenarios: Vec<ScenarioSummary>,
}

#[derive(Debug, Serialize)]
pub struct ScenarioSummary {
    pub name: &'static str,
    pub failing_upstream: &'static str,
    pub outage: Outage,
    pub variants: Vec<VariantSummary>,
}

#[derive(Debug, Serialize)]
pub struct Outage {
    pub start_s: u64,
    pub end_s: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct VariantSummary {
    pub name: &'static str,
    pub availability: Availability,
    pub latency_ms: Latency,
    pub upstream_calls: UpstreamCalls,
    pub failing_upstream_calls_during: u64,
    pub saturated_s: f64,
    pub recovered_after_s: Option<f64>,
    /// Half-open spells of the failing service's breakers during the outage (each lets
    /// one trial call through); `null` without breakers.
    pub probes_during: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Availability {
    pub before: Option<f64>,
    pub during: Option<f64>,
    pub after: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50_during: Option<f64>,
    pub p99_during: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UpstreamCalls {
    pub auth: u64,
    pub recommendations: u64,
    pub popular: u64,
}

/// Availability within this much of the level before counts as recovered.
const RECOVERED_WITHIN: f64 = 0.01;

impl Measured {
    /// The figures of `summary.json`.
    pub fn summary(
        &self,
        variant: Variant,
        timeline: Timeline,
        failing: Service,
        breakers: bool,
    ) -> VariantSummary {
        let (start, end) = (timeline.outage_start, timeline.outage_end);
        let availability = |from: u64, to: u64| {
            let span = &self.seconds[from as usize..to as usize];
            let arrivals: u64 = span.iter().map(|s| s.arrivals).sum();
            let available: u64 = span.iter().map(|s| s.full + s.degraded).sum();
            (arrivals > 0).then(|| round(available as f64 / arrivals as f64, 4))
        };
        let before = availability(0, start);
        let mut during: Vec<f64> = self
            .latencies
            .iter()
            .filter(|(second, _)| timeline.during(*second))
            .map(|(_, ms)| *ms)
            .collect();
        during.sort_by(f64::total_cmp);
        let total = |service: Service| self.calls[service.index()].iter().sum::<u64>();
        VariantSummary {
            name: variant.name(),
            availability: Availability {
                before,
                during: availability(start, end),
                after: availability(end, timeline.total),
            },
            latency_ms: Latency {
                p50_during: percentile(&during, 0.50),
                p99_during: percentile(&during, 0.99),
            },
            upstream_calls: UpstreamCalls {
                auth: total(Service::Auth),
                recommendations: total(Service::Recommendations),
                popular: total(Service::Popular),
            },
            failing_upstream_calls_during: self.calls[failing.index()]
                [start as usize..end as usize]
                .iter()
                .sum(),
            saturated_s: round(self.saturated.as_secs_f64(), 3),
            recovered_after_s: before.and_then(|level| self.recovered_after(timeline, level)),
            probes_during: breakers.then(|| {
                self.probes
                    .iter()
                    .filter(|second| timeline.during(**second))
                    .count() as u64
            }),
        }
    }

    /// Seconds from the end of the outage to the first second whose availability is back
    /// within a point of `level` (0 if it never left it); `None` if it never came back.
    fn recovered_after(&self, timeline: Timeline, level: f64) -> Option<f64> {
        let back = |s: &Second| {
            s.availability()
                .is_some_and(|a| a >= level - RECOVERED_WITHIN)
        };
        let (start, end) = (timeline.outage_start as usize, timeline.outage_end as usize);
        if self.seconds[start..end].iter().all(back) {
            return Some(0.0);
        }
        self.seconds[end..]
            .iter()
            .position(back)
            .map(|offset| offset as f64)
    }
}

/// The `q` quantile (nearest rank) of sorted values, in ms to a tenth.
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(round(sorted[rank - 1], 1))
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}
