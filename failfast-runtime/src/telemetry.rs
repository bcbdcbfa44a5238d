//! The one place that talks to `tracing` and `metrics`.
//!
//! Every function here compiles to nothing unless the matching feature is on, so the
//! breaker, retry and budget code can call them unconditionally.
//!
//! # `tracing` (feature `tracing`)
//! Events with target `failfast`:
//! - a state transition: fields `name`, `from`, `to` (`closed`, `open`, `half-open`,
//!   `forced-open`, `disabled`) and `reason` (the [`Reason`](crate::Reason) in kebab
//!   case: `failures`, `reset-elapsed`, `probes-succeeded`, ..., as in the JSON snapshot);
//!   level WARN when the breaker opens (`open`, `forced-open`), INFO otherwise;
//! - a rejected call (DEBUG): field `name`;
//! - a retry about to wait (DEBUG): fields `attempt` (the attempt that just failed, from 1)
//!   and `wait_ms`;
//! - a retry refused by an empty budget (DEBUG): field `budget`;
//! - two registrations of one name with different settings (WARN, once per breaker):
//!   fields `name`, `kept`, `asked`;
//! - the shared store (feature `redis`) failing (WARN, once per episode: down, slow, or
//!   garbage under a key) and working again (INFO). Without `tracing` these two go to
//!   stderr.
//!
//! # `metrics` (feature `metrics`)
//! Through the `metrics` facade, so any exporter (Prometheus, StatsD, ...) picks them up:
//! - `failfast_calls_total{breaker, outcome}` counter, `outcome` one of `success`,
//!   `failure`, `rejected`;
//! - `failfast_slow_calls_total{breaker}` counter;
//! - `failfast_retries_total` counter (retries, not first attempts);
//! - `failfast_retry_budget_exhausted_total{budget}` counter;
//! - `failfast_state{breaker}` gauge: 0 closed, 1 open, 2 half-open, 3 forced-open,
//!   4 disabled, set on every transition (and when the breaker is made, from [`created`]).
//!
//! `failfast_calls_total` counts what [`Metrics`](crate::Metrics) counts: a call whose
//! future was dropped before it ended is in neither. In observe mode a call the breaker
//! would have rejected runs anyway: it counts under `outcome="rejected"` and under the
//! outcome it had, as in `Metrics`.
//!
//! Label values come from breaker and budget names. `metrics` wants `'static` label sets
//! to build a key without allocating, so each distinct name is interned once for the life
//! of the process (its label sets are leaked, as the registry leaks its names), and each
//! thread keeps a small cache of them: after a thread's first event for a given name,
//! recording allocates nothing in failfast (what the installed recorder does is its own
//! business). Names are label values, so keep them few, as Prometheus wants anyway.

use std::time::Duration;

use crate::config::BreakerConfig;
use crate::name::BreakerName;
use crate::state::State;
use crate::transition::Transition;

/// A breaker changed state.
#[inline]
pub(crate) fn transition(t: &Transition) {
    #[cfg(feature = "tracing")]
    trace::transition(t);
    #[cfg(feature = "metrics")]
    meter::state(&t.name, t.to);
    #[cfg(not(any(feature = "tracing", feature = "metrics")))]
    let _ = t;
}

/// A second registration under `name` asked for a different configuration; the first one
/// stays. Reported once per breaker (the first conflict), as a WARN event.
#[inline]
pub(crate) fn conflict(name: &BreakerName, kept: &BreakerConfig, asked: &BreakerConfig) {
    #[cfg(feature = "tracing")]
    tracing::event!(
        target: "failfast",
        tracing::Level::WARN,
        name = name.as_str(),
        kept = ?kept,
        asked = ?asked,
        "two registrations of one breaker name with different settings: the first one wins"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (name, kept, asked);
}

/// The shared store failed (`what`): once per episode, as a WARN event; on stderr
/// without the `tracing` feature, since a store that quietly stopped sharing would
/// leave a fleet of breakers deciding alone.
#[cfg(feature = "redis")]
pub(crate) fn store_warning(what: &str) {
    #[cfg(feature = "tracing")]
    tracing::event!(target: "failfast", tracing::Level::WARN, "{what}");
    #[cfg(not(feature = "tracing"))]
    eprintln!("failfast: {what}");
}

/// The shared store works again after [`store_warning`].
#[cfg(feature = "redis")]
pub(crate) fn store_recovered(what: &str) {
    #[cfg(feature = "tracing")]
    tracing::event!(target: "failfast", tracing::Level::INFO, "{what}");
    #[cfg(not(feature = "tracing"))]
    eprintln!("failfast: {what}");
}

/// A breaker was made, in `state`: sets its state gauge, so a breaker that never changed
/// state is reported too.
#[inline]
pub(crate) fn created(name: &BreakerName, state: State) {
    #[cfg(feature = "metrics")]
    meter::state(name, state);
    #[cfg(not(feature = "metrics"))]
    let _ = (name, state);
}

/// A call was rejected without running.
#[inline]
pub(crate) fn rejected(name: &BreakerName) {
    #[cfg(feature = "tracing")]
    tracing::event!(target: "failfast", tracing::Level::DEBUG, name = name.as_str(), "call rejected");
    #[cfg(feature = "metrics")]
    meter::count_call(name, meter::Outcome::Rejected);
    #[cfg(not(any(feature = "tracing", feature = "metrics")))]
    let _ = name;
}

/// A call through a breaker ended: `success` as the breaker counted it; `slow` when it
/// took longer than the breaker's slow-call threshold.
#[inline]
pub(crate) fn outcome(name: &BreakerName, success: bool, slow: bool) {
    #[cfg(feature = "metrics")]
    {
        let outcome = if success {
            meter::Outcome::Success
        } else {
            meter::Outcome::Failure
        };
        meter::count_call(name, outcome);
        if slow {
            meter::count_slow(name);
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (name, success, slow);
}

/// Attempt number `attempt` (from 1) failed and a retry will run after `wait`.
#[inline]
pub(crate) fn retried(attempt: u32, wait: Duration) {
    #[cfg(feature = "tracing")]
    tracing::event!(
        target: "failfast",
        tracing::Level::DEBUG,
        attempt,
        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        "retrying"
    );
    #[cfg(feature = "metrics")]
    meter::count_retry();
    #[cfg(not(feature = "tracing"))]
    let _ = (attempt, wait);
}

/// The retry budget named `budget` refused a retry.
#[inline]
pub(crate) fn budget_exhausted(budget: &str) {
    #[cfg(feature = "tracing")]
    tracing::event!(target: "failfast", tracing::Level::DEBUG, budget, "retry budget exhausted");
    #[cfg(feature = "metrics")]
    meter::count_budget_exhausted(budget);
    #[cfg(not(any(feature = "tracing", feature = "metrics")))]
    let _ = budget;
}

#[cfg(feature = "tracing")]
mod trace {
    use std::fmt::{self, Write};

    use crate::state::State;
    use crate::transition::{Reason, Transition};

    /// A [`Reason`] in kebab case (`probes-succeeded`), as in the JSON snapshot; written
    /// straight into the formatter, only if a subscriber records the field.
    struct Kebab(Reason);

    impl fmt::Display for Kebab {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            struct Writer<'a, 'b> {
                f: &'a mut fmt::Formatter<'b>,
                first: bool,
            }
            impl Write for Writer<'_, '_> {
                fn write_str(&mut self, s: &str) -> fmt::Result {
                    for c in s.chars() {
                        if c.is_ascii_uppercase() {
                            if !self.first {
                                self.f.write_char('-')?;
                            }
                            self.f.write_char(c.to_ascii_lowercase())?;
                        } else {
                            self.f.write_char(c)?;
                        }
                        self.first = false;
                    }
                    Ok(())
                }
            }
            write!(Writer { f, first: true }, "{:?}", self.0)
        }
    }

    pub(super) fn transition(t: &Transition) {
        let name = t.name.as_str();
        let (from, to, reason) = (
            tracing::field::display(t.from),
            tracing::field::display(t.to),
            tracing::field::display(Kebab(t.reason)),
        );
        // The level of an event is part of its static callsite: one macro per level.
        if matches!(t.to, State::Open | State::ForcedOpen) {
            tracing::event!(target: "failfast", tracing::Level::WARN, name, from, to, reason, "circuit breaker opened");
        } else {
            tracing::event!(target: "failfast", tracing::Level::INFO, name, from, to, reason, "circuit breaker changed state");
        }
    }

    #[cfg(test)]
    mod tests {
        use super::Kebab;
        use crate::transition::Reason;

        #[test]
        fn reasons_are_written_in_kebab_case_as_in_json() {
            for (reason, written) in [
                (Reason::Failures, "failures"),
                (Reason::ProbesSucceeded, "probes-succeeded"),
                (Reason::ProbeTimedOut, "probe-timed-out"),
            ] {
                assert_eq!(Kebab(reason).to_string(), written);
            }
        }
    }
}

#[cfg(feature = "metrics")]
mod meter {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::hash::{BuildHasherDefault, Hasher};
    use std::sync::LazyLock;

    use metrics::{Key, Label, Level, Metadata};
    use parking_lot::Mutex;

    use crate::state::State;

    const CALLS: &str = "failfast_calls_total";
    const SLOW_CALLS: &str = "failfast_slow_calls_total";
    const RETRIES: &str = "failfast_retries_total";
    const BUDGET_EXHAUSTED: &str = "failfast_retry_budget_exhausted_total";
    const STATE: &str = "failfast_state";

    static METADATA: Metadata<'static> =
        Metadata::new("failfast", Level::INFO, Some(module_path!()));

    #[derive(Clone, Copy)]
    pub(super) enum Outcome {
        Success = 0,
        Failure = 1,
        Rejected = 2,
    }

    /// The label sets of one name, built once and kept for the life of the process.
    struct Labels {
        /// `{breaker=name, outcome=success|failure|rejected}`, by [`Outcome`].
        calls: [[Label; 2]; 3],
        /// `{breaker=name}`.
        breaker: [Label; 1],
        /// `{budget=name}`.
        budget: [Label; 1],
    }

    impl Labels {
        fn new(name: &str) -> Labels {
            let call = |outcome: &'static str| {
                [
                    Label::new("breaker", name.to_owned()),
                    Label::from_static_parts("outcome", outcome),
                ]
            };
            Labels {
                calls: [call("success"), call("failure"), call("rejected")],
                breaker: [Label::new("breaker", name.to_owned())],
                budget: [Label::new("budget", name.to_owned())],
            }
        }
    }

    /// Every name seen so far, by content.
    static INTERNED: LazyLock<Mutex<HashMap<Box<str>, &'static Labels>>> =
        LazyLock::new(Mutex::default);

    /// FxHash (rustc's): a multiply per word, much cheaper than SipHash for short names.
    /// The names come from the program, not from its input, so no flooding to fear.
    #[derive(Default)]
    struct Fx(u64);

    impl Hasher for Fx {
        fn write(&mut self, bytes: &[u8]) {
            for chunk in bytes.chunks(8) {
                let mut word = [0; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                self.write_u64(u64::from_le_bytes(word));
            }
        }

        fn write_u8(&mut self, byte: u8) {
            self.write_u64(u64::from(byte));
        }

        fn write_u64(&mut self, word: u64) {
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }

        fn finish(&self) -> u64 {
            self.0
        }
    }

    type Cache = HashMap<&'static str, &'static Labels, BuildHasherDefault<Fx>>;

    thread_local! {
        /// This thread's copy of the entries of [`INTERNED`] it has used.
        static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
    }

    fn labels(name: &str) -> &'static Labels {
        CACHE
            .try_with(|cache| {
                if let Some(labels) = cache.borrow().get(name) {
                    return *labels;
                }
                let labels = intern(name);
                // The key must live as long as the cache: the interned labels hold the name.
                let key: &'static str = labels.breaker[0].value();
                cache.borrow_mut().insert(key, labels);
                labels
            })
            // During thread teardown: skip the cache.
            .unwrap_or_else(|_| intern(name))
    }

    fn intern(name: &str) -> &'static Labels {
        let mut interned = INTERNED.lock();
        if let Some(labels) = interned.get(name) {
            return labels;
        }
        let labels: &'static Labels = Box::leak(Box::new(Labels::new(name)));
        interned.insert(name.into(), labels);
        labels
    }

    pub(super) fn count_call(name: &str, outcome: Outcome) {
        let key = Key::from_static_parts(CALLS, &labels(name).calls[outcome as usize]);
        metrics::with_recorder(|r| r.register_counter(&key, &METADATA)).increment(1);
    }

    pub(super) fn count_slow(name: &str) {
        let key = Key::from_static_parts(SLOW_CALLS, &labels(name).breaker);
        metrics::with_recorder(|r| r.register_counter(&key, &METADATA)).increment(1);
    }

    pub(super) fn count_retry() {
        static KEY: Key = Key::from_static_name(RETRIES);
        metrics::with_recorder(|r| r.register_counter(&KEY, &METADATA)).increment(1);
    }

    pub(super) fn count_budget_exhausted(budget: &str) {
        let key = Key::from_static_parts(BUDGET_EXHAUSTED, &labels(budget).budget);
        metrics::with_recorder(|r| r.register_counter(&key, &METADATA)).increment(1);
    }

    pub(super) fn state(name: &str, state: State) {
        let key = Key::from_static_parts(STATE, &labels(name).breaker);
        let value = match state {
            State::Closed => 0.0,
            State::Open => 1.0,
            State::HalfOpen => 2.0,
            State::ForcedOpen => 3.0,
            State::Disabled => 4.0,
        };
        metrics::with_recorder(|r| r.register_gauge(&key, &METADATA)).set(value);
    }
}
