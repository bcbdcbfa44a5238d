//! A point-in-time view of a registry's breakers and keyed families, plain data a service
//! can expose (as JSON with the `serde` feature, which derives `Serialize` for every type
//! here).

use crate::breaker::Breaker;
use crate::clock;
use crate::config::{BreakerConfig, Mode, Window};
use crate::family::Family;
use crate::registry::Registry;
use crate::state::State;
use crate::transition::{Reason, Transition};

/// Every breaker of a [`Registry`], sorted by name, and its keyed families, from
/// [`Registry::snapshot`]. A keyed family's live breakers are among the breakers, under
/// `"{family}/{key}"`.
///
/// With the `serde` feature it serialises as (one breaker and one family shown):
///
/// ```json
/// {"breakers": [{
///   "name": "invoices", "state": "open", "mode": "enforce",
///   "metrics": {"calls": 3, "successes": 0, "failures": 3, "rejections": 0, "slow_calls": 0},
///   "last_transition": {"from": "closed", "to": "open", "reason": "failures", "ago_ms": 12},
///   "config": {"failures": 3, "failure_rate": null, "window_calls": null, "window_ms": null,
///              "min_calls": null, "slow_ms": null, "slow_rate": null,
///              "reset_ms": 30000, "reset_max_ms": null, "probes": 1, "mode": "enforce"},
///   "conflict": null
/// }],
///  "families": [{"name": "upstream", "live": 12, "max_keys": 1000, "evictions": 0, "overflows": 0}]}
/// ```
///
/// (A breaker whose `probe_timeout` differs from its `reset` also has
/// `"probe_timeout_ms"` in its `config`, after `"probes"`.)
///
/// ```
/// use failfast_runtime::{BreakerConfig, Registry, State};
///
/// let registry = Registry::new();
/// registry.breaker("payments", BreakerConfig::new().failures(2)).force_open();
/// registry.breaker("inventory", BreakerConfig::new());
///
/// let snapshot = registry.snapshot();
/// let names: Vec<&str> = snapshot.breakers.iter().map(|b| b.name.as_str()).collect();
/// assert_eq!(names, ["inventory", "payments"]);
/// assert_eq!(snapshot.breakers[1].state, State::ForcedOpen);
/// assert_eq!(snapshot.breakers[1].config.failures, Some(2));
///
/// registry.keyed("upstream", "a.example:443");
/// let snapshot = registry.snapshot();
/// assert_eq!(snapshot.breakers[2].name, "upstream/a.example:443");
/// assert_eq!((snapshot.families[0].name.as_str(), snapshot.families[0].live), ("upstream", 1));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Snapshot {
    /// One entry per breaker, sorted by name (keyed ones included).
    pub breakers: Vec<BreakerSnapshot>,
    /// One entry per keyed family, sorted by name.
    pub families: Vec<FamilySnapshot>,
}

/// One keyed family in a [`Snapshot`], or on its own from [`Family::snapshot`]: its size,
/// bound and evictions (its breakers are in [`Snapshot::breakers`]).
///
/// ```
/// use failfast_runtime::Registry;
///
/// let hosts = Registry::new().family("upstream");
/// hosts.set_max_keys(1);
/// hosts.get("a");
/// hosts.get("b");
/// let snapshot = hosts.snapshot();
/// assert_eq!(snapshot.name, "upstream");
/// assert_eq!((snapshot.live, snapshot.max_keys, snapshot.evictions, snapshot.overflows), (1, 1, 1, 0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct FamilySnapshot {
    /// The family's name.
    pub name: String,
    /// How many breakers it has.
    pub live: usize,
    /// Its bound on live breakers.
    pub max_keys: usize,
    /// Breakers evicted so far.
    pub evictions: u64,
    /// New keys let in beyond `max_keys` because no breaker could be evicted.
    pub overflows: u64,
}

/// One breaker in a [`Snapshot`], or on its own from [`Breaker::snapshot`].
///
/// ```
/// use failfast_runtime::{Breaker, BreakerConfig, Reason, State};
///
/// let breaker = Breaker::new("search", BreakerConfig::new());
/// breaker.disable();
/// let snapshot = breaker.snapshot();
/// assert_eq!((snapshot.name.as_str(), snapshot.state), ("search", State::Disabled));
/// let last = snapshot.last_transition.unwrap();
/// assert_eq!((last.from, last.to, last.reason), (State::Closed, State::Disabled, Reason::Disabled));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct BreakerSnapshot {
    /// The breaker's name.
    pub name: String,
    /// Its state when the snapshot was taken.
    pub state: State,
    /// Whether it rejects calls ([`Mode::Enforce`]) or only watches ([`Mode::Observe`]),
    /// now (it can be switched at run time).
    pub mode: Mode,
    /// Its counters.
    pub metrics: Counts,
    /// Its most recent state change, if any.
    pub last_transition: Option<LastTransition>,
    /// What it was configured with.
    pub config: ConfigSummary,
    /// The first different configuration a later registration under the same name asked
    /// for (and did not get: the first registration wins), if any.
    pub conflict: Option<ConfigSummary>,
}

/// A breaker's counters, as in [`Metrics`](crate::Metrics).
///
/// ```
/// use failfast_runtime::{Breaker, BreakerConfig, Error};
///
/// let breaker = Breaker::new("search", BreakerConfig::new());
/// let _ = breaker.call(|| Err::<(), Error>(Error::Timeout { after: Default::default() }));
/// let counts = breaker.snapshot().metrics;
/// assert_eq!((counts.calls, counts.successes, counts.failures, counts.rejections), (1, 0, 1, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Counts {
    /// Calls that ended plus calls rejected.
    pub calls: u64,
    /// Calls that counted as successes.
    pub successes: u64,
    /// Calls that counted as failures.
    pub failures: u64,
    /// Calls rejected without running.
    pub rejections: u64,
    /// Calls slower than the breaker's `slow` threshold (success or failure).
    pub slow_calls: u64,
}

/// The most recent state change of a breaker, in a [`BreakerSnapshot`].
///
/// An [`Instant`](std::time::Instant) means nothing outside the process, so the time is
/// given as how long before the snapshot it happened, on failfast's clock.
///
/// ```
/// use failfast_runtime::{Breaker, BreakerConfig, State};
///
/// let breaker = Breaker::new("search", BreakerConfig::new());
/// breaker.force_open();
/// let last = breaker.snapshot().last_transition.unwrap();
/// assert_eq!(last.to, State::ForcedOpen);
/// assert!(last.ago_ms < 60_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct LastTransition {
    /// The state before.
    pub from: State,
    /// The state after.
    pub to: State,
    /// Why it changed.
    pub reason: Reason,
    /// Milliseconds between the change and the snapshot (rounded down).
    pub ago_ms: u64,
}

/// What a breaker was configured with, durations in milliseconds. A setting that is off,
/// or belongs to the other failure policy, is `None` (`null` in JSON). The probe timeout
/// is `None`, and left out of the JSON, when it is the reset time (its default).
///
/// ```
/// use failfast_runtime::{BreakerConfig, ConfigSummary, Window};
/// use std::time::Duration;
///
/// let summary = ConfigSummary::of(&BreakerConfig::new().failures(4).reset(Duration::from_secs(30)));
/// assert_eq!((summary.failures, summary.reset_ms, summary.probes), (Some(4), 30_000, 1));
/// assert_eq!(summary.probe_timeout_ms, None, "the reset time");
/// assert_eq!((summary.failure_rate, summary.window_calls, summary.min_calls), (None, None, None));
///
/// let rate = BreakerConfig::new()
///     .failure_rate(0.5)
///     .window(Window::Time(Duration::from_secs(60)))
///     .min_calls(20)
///     .slow(Duration::from_secs(2))
///     .slow_rate(0.8);
/// let summary = ConfigSummary::of(&rate);
/// assert_eq!((summary.failures, summary.failure_rate), (None, Some(0.5)));
/// assert_eq!((summary.window_calls, summary.window_ms, summary.min_calls), (None, Some(60_000), Some(20)));
/// assert_eq!((summary.slow_ms, summary.slow_rate), (Some(2_000), Some(0.8)));
///
/// let patient = BreakerConfig::new().probe_timeout(Duration::from_secs(90));
/// assert_eq!(ConfigSummary::of(&patient).probe_timeout_ms, Some(90_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ConfigSummary {
    /// Consecutive failures that open the breaker (the consecutive-failure policy).
    pub failures: Option<u32>,
    /// The failure ratio that opens the breaker (the failure-rate policy).
    pub failure_rate: Option<f64>,
    /// A count-based window: the last this many calls.
    pub window_calls: Option<u32>,
    /// A time-based window: the calls of the last this many milliseconds.
    pub window_ms: Option<u64>,
    /// Outcomes the window must hold before a ratio can open the breaker.
    pub min_calls: Option<u32>,
    /// A call slower than this is slow.
    pub slow_ms: Option<u64>,
    /// The slow-call ratio that opens the breaker.
    pub slow_rate: Option<f64>,
    /// Time open before trial calls are let through.
    pub reset_ms: u64,
    /// The ceiling of the open time as it doubles on each reopen, if set.
    pub reset_max_ms: Option<u64>,
    /// Trial calls in half-open.
    pub probes: u32,
    /// How long a trial call may run before it counts as failed, when that is not
    /// `reset_ms` (the default). Left out of the JSON when `None`.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub probe_timeout_ms: Option<u64>,
    /// The mode the breaker starts in (the current one is [`BreakerSnapshot::mode`]).
    pub mode: Mode,
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl ConfigSummary {
    /// The summary of `config`.
    ///
    /// ```
    /// use failfast_runtime::{BreakerConfig, ConfigSummary};
    ///
    /// assert_eq!(ConfigSummary::of(&BreakerConfig::new()).failures, Some(5));
    /// ```
    pub fn of(config: &BreakerConfig) -> ConfigSummary {
        let failure_rate = config.failure_rate_threshold();
        let slow_rate = config.slow_rate_threshold();
        // The window and min_calls matter only to the ratios.
        let windowed = failure_rate.is_some() || slow_rate.is_some();
        let (window_calls, window_ms) = match config.window_kind() {
            _ if !windowed => (None, None),
            Window::Calls(n) => (Some(n), None),
            Window::Time(d) => (None, Some(millis(d))),
        };
        ConfigSummary {
            failures: match failure_rate {
                None => Some(config.failures_threshold()),
                Some(_) => None,
            },
            failure_rate,
            window_calls,
            window_ms,
            min_calls: windowed.then(|| config.min_calls_count()),
            slow_ms: config.slow_threshold().map(millis),
            slow_rate,
            reset_ms: millis(config.reset_after()),
            reset_max_ms: config.reset_ceiling().map(millis),
            probes: config.probe_count(),
            probe_timeout_ms: (config.probe_timeout_after() != config.reset_after())
                .then(|| millis(config.probe_timeout_after())),
            mode: config.initial_mode(),
        }
    }
}

impl LastTransition {
    fn of(t: &Transition, now: std::time::Instant) -> LastTransition {
        LastTransition {
            from: t.from,
            to: t.to,
            reason: t.reason,
            ago_ms: millis(now.saturating_duration_since(t.at)),
        }
    }
}

impl Breaker {
    /// This breaker's name, state, counters, last transition and configuration, as plain
    /// data (serialisable with the `serde` feature).
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig, State};
    ///
    /// let snapshot = Breaker::new("search", BreakerConfig::new()).snapshot();
    /// assert_eq!(snapshot.state, State::Closed);
    /// assert_eq!(snapshot.last_transition, None);
    /// ```
    pub fn snapshot(&self) -> BreakerSnapshot {
        self.snapshot_at(clock::now().into_std())
    }

    fn snapshot_at(&self, now: std::time::Instant) -> BreakerSnapshot {
        let metrics = self.metrics();
        BreakerSnapshot {
            name: self.name().to_owned(),
            state: self.state(),
            mode: self.mode(),
            metrics: Counts {
                calls: metrics.calls,
                successes: metrics.successes,
                failures: metrics.failures,
                rejections: metrics.rejections,
                slow_calls: metrics.slow_calls,
            },
            last_transition: metrics
                .last_transition
                .as_ref()
                .map(|t| LastTransition::of(t, now)),
            config: ConfigSummary::of(&self.config()),
            conflict: self.conflict().as_ref().map(ConfigSummary::of),
        }
    }
}

impl Family {
    /// This family's name, size, bound and evictions, as plain data (serialisable with
    /// the `serde` feature).
    ///
    /// ```
    /// use failfast_runtime::Registry;
    ///
    /// let snapshot = Registry::new().family("upstream").snapshot();
    /// assert_eq!((snapshot.live, snapshot.max_keys), (0, 1000));
    /// ```
    pub fn snapshot(&self) -> FamilySnapshot {
        FamilySnapshot {
            name: self.name().to_owned(),
            live: self.len(),
            max_keys: self.max_keys(),
            evictions: self.evictions(),
            overflows: self.overflows(),
        }
    }
}

impl Registry {
    /// Every breaker of the registry as plain data, sorted by name, and its keyed
    /// families: what a status endpoint serves (as JSON with the `serde` feature). See
    /// [`Snapshot`].
    ///
    /// ```
    /// use failfast_runtime::{BreakerConfig, Registry};
    ///
    /// let registry = Registry::new();
    /// registry.breaker("db", BreakerConfig::new());
    /// assert_eq!(registry.snapshot().breakers[0].name, "db");
    /// ```
    pub fn snapshot(&self) -> Snapshot {
        let now = clock::now().into_std();
        Snapshot {
            breakers: self.breakers().iter().map(|b| b.snapshot_at(now)).collect(),
            families: self.families().iter().map(Family::snapshot).collect(),
        }
    }
}
