//! The five outages and the variants each one is run with.

use std::fmt;
use std::time::Duration;

use clap::ValueEnum;

/// One outage of the homepage's dependencies (the `--scenario` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Scenario {
    /// Recommendations answers every call with an error for a minute.
    RecommendationsDown,
    /// Auth's host is gone for a minute: calls hang until a timeout.
    AuthDown,
    /// Recommendations takes seconds per call for a minute.
    RecommendationsSlow,
    /// Recommendations fails behind three stacked layers of 4 attempts each.
    RetryStorm,
    /// Recommendations down, per-worker breakers against one shared by every worker.
    Fleet,
}

/// How the homepage calls its dependencies (the `--variant` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Variant {
    /// Plain calls: no timeout but the HTTP client's generous default, no retry.
    Bare,
    /// The demo's first try: retries with jitter and per-worker breakers, a fallback only
    /// while a breaker is open, generous timeouts.
    Naive,
    /// The recommended configuration: tight timeouts, per-worker breakers, fallbacks on
    /// every failure, no retries (in `retry-storm`: the stacked retries on the default
    /// budget).
    Failfast,
    /// `failfast` with one breaker per dependency shared by every worker (in-process in
    /// virtual time, through Redis over HTTP).
    Shared,
}

/// The upstream services of the homepage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    Auth,
    Recommendations,
    Popular,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::Auth, Service::Recommendations, Service::Popular];

    /// The name in tables, JSON and CSV.
    pub fn name(self) -> &'static str {
        match self {
            Service::Auth => "auth",
            Service::Recommendations => "recommendations",
            Service::Popular => "popular",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// What a service does while the outage lasts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Answers every call with an error, as fast as usual.
    Errors,
    /// Accepts the call and never answers (a host that is gone): the caller's timeout ends it.
    Hangs,
    /// Answers, after a time drawn uniformly between these two.
    Slow(Duration, Duration),
}

/// When things happen in one run, in seconds from its start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeline {
    pub total: u64,
    pub outage_start: u64,
    pub outage_end: u64,
}

impl Timeline {
    /// Three simulated minutes, the outage in the middle one.
    pub const VIRTUAL: Timeline = Timeline {
        total: 180,
        outage_start: 60,
        outage_end: 120,
    };

    /// About 20 s of real time, for `--http`.
    pub const HTTP: Timeline = Timeline {
        total: 20,
        outage_start: 5,
        outage_end: 13,
    };

    pub fn during(&self, second: u64) -> bool {
        (self.outage_start..self.outage_end).contains(&second)
    }
}

/// The times of the patterns, scaled with the timeline: over `--http` the breakers' open
/// time shrinks with the outage, so a short run still shows probes and recovery.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// `failfast`'s breaker open time.
    pub reset: Duration,
    /// `naive`'s breaker open time.
    pub naive_reset: Duration,
    /// The HTTP client's default timeout (`bare`), and what a hanging service costs.
    pub client_timeout: Duration,
}

impl Pace {
    pub const VIRTUAL: Pace = Pace {
        reset: Duration::from_secs(10),
        naive_reset: Duration::from_secs(30),
        client_timeout: Duration::from_secs(10),
    };
    pub const HTTP: Pace = Pace {
        reset: Duration::from_secs(2),
        naive_reset: Duration::from_secs(4),
        client_timeout: Duration::from_secs(3),
    };
}

impl Scenario {
    pub const ALL: [Scenario; 5] = [
        Scenario::RecommendationsDown,
        Scenario::AuthDown,
        Scenario::RecommendationsSlow,
        Scenario::RetryStorm,
        Scenario::Fleet,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::RecommendationsDown => "recommendations-down",
            Scenario::AuthDown => "auth-down",
            Scenario::RecommendationsSlow => "recommendations-slow",
            Scenario::RetryStorm => "retry-storm",
            Scenario::Fleet => "fleet",
        }
    }

    /// One line for the table, the chart's title and the page.
    pub fn headline(self) -> &'static str {
        match self {
            Scenario::RecommendationsDown => {
                "recommendations answers every call with an error for the outage"
            }
            Scenario::AuthDown => "auth's host is gone: calls to it hang until a timeout",
            Scenario::RecommendationsSlow => "recommendations takes 2 to 6 s per call",
            Scenario::RetryStorm => {
                "recommendations fails behind three stacked layers of 4 attempts each"
            }
            Scenario::Fleet => "recommendations down: a breaker per worker, or one shared by all",
        }
    }

    /// A few sentences on what happens and what to look for.
    pub fn explanation(self) -> &'static str {
        match self {
            Scenario::RecommendationsDown => {
                "Recommendations answers every call with an error for a minute. <b>bare</b> \
                 fails every page; <b>naive</b> retries first, so its pages fail until each \
                 worker's breaker opens (the dip), then shows popular items only; \
                 <b>failfast</b> falls back on the first failure, and its breakers keep \
                 calls off recommendations."
            }
            Scenario::AuthDown => {
                "Auth's host is gone: calls hang until a timeout. No page can be shown \
                 without a session, so every variant is unavailable; what differs is the \
                 cost: <b>bare</b> waits for the client's 10 s timeout and ties up every \
                 worker, <b>failfast</b> answers in 100 ms, then at once."
            }
            Scenario::RecommendationsSlow => {
                "Recommendations takes 2 to 6 s per call for a minute. <b>bare</b> waits, \
                 and the pool saturates; <b>naive</b>'s 1 s timeouts and retries hold \
                 workers for seconds; <b>failfast</b>'s 250 ms timeout and fallback keep \
                 every page fast."
            }
            Scenario::RetryStorm => {
                "Recommendations fails behind three layers that each retry 4 times: \
                 <b>naive</b> (no budget) sends up to 64 calls per request, \
                 <b>failfast</b> the same layers on the default retry budget, <b>bare</b> \
                 one call per request."
            }
            Scenario::Fleet => {
                "Recommendations down again, with the failfast configuration: \
                 <b>failfast</b> gives each worker its own breakers, so each one probes the \
                 dead service every reset; <b>shared</b> gives all workers one breaker, \
                 which probes once."
            }
        }
    }

    /// The service the outage is about.
    pub fn failing(self) -> Service {
        match self {
            Scenario::AuthDown => Service::Auth,
            _ => Service::Recommendations,
        }
    }

    /// What the failing service does during the outage.
    pub fn fault(self) -> Fault {
        match self {
            Scenario::AuthDown => Fault::Hangs,
            Scenario::RecommendationsSlow => {
                Fault::Slow(Duration::from_secs(2), Duration::from_secs(6))
            }
            _ => Fault::Errors,
        }
    }

    /// The variants it is run with, in the order of the table and the legend.
    pub fn variants(self) -> &'static [Variant] {
        match self {
            Scenario::Fleet => &[Variant::Bare, Variant::Failfast, Variant::Shared],
            _ => &[Variant::Bare, Variant::Naive, Variant::Failfast],
        }
    }
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Bare => "bare",
            Variant::Naive => "naive",
            Variant::Failfast => "failfast",
            Variant::Shared => "shared",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
