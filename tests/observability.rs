//! The `tracing` events and `metrics` counters and gauge of breakers and retries
//! (features `tracing` and `metrics`).
//!
//! Each test runs on a current-thread runtime with a paused clock (time moves only when
//! told), with a metrics recorder of its own for its thread only
//! (`metrics::set_default_local_recorder`) and the events of its own thread (see
//! [`Capture`]), so tests don't see each other's counts and events.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use failfast::{Breaker, BreakerConfig, Budget, Error, Jitter, Retry, RetryPolicy, State};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Subscriber};

// ---- a subscriber that keeps failfast's events -----------------------------------------

/// One event: its level and its fields (the message under `message`), as text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Captured {
    level: Level,
    fields: BTreeMap<String, String>,
}

/// The subscriber of the whole test binary, set once: events go to a buffer of the thread
/// that emitted them, so each test (on its own thread, with a current-thread runtime)
/// sees its own events only.
///
/// One global subscriber rather than one scoped to each test: tracing caches whether a
/// callsite is wanted, and a callsite first hit on a thread with no subscriber while
/// another thread installs its scoped one can miss that one's events.
struct Capture;

thread_local! {
    static EVENTS: RefCell<Vec<Captured>> = const { RefCell::new(Vec::new()) };
    /// Whether this thread's events are kept.
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
}

/// Installs [`Capture`] (once for the binary), keeps this thread's events from now on
/// (`on`) or not, and clears its buffer. Every test calls it first, before any failfast
/// callsite is hit.
fn capture_events(on: bool) {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| tracing::subscriber::set_global_default(Capture).unwrap());
    CAPTURING.with(|c| c.set(on));
    take();
}

fn capture() {
    capture_events(true);
}

/// This thread's events since the last call.
fn take() -> Vec<Captured> {
    EVENTS.with(|events| std::mem::take(&mut *events.borrow_mut()))
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl Subscriber for Capture {
    fn register_callsite(&self, _: &'static tracing::Metadata<'static>) -> Interest {
        Interest::sometimes() // ask `enabled` each time: it depends on the thread
    }

    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target() == "failfast" && CAPTURING.with(Cell::get)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let captured = Captured {
            level: *event.metadata().level(),
            fields,
        };
        EVENTS.with(|events| events.borrow_mut().push(captured));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

fn event(level: Level, fields: &[(&str, &str)]) -> Captured {
    Captured {
        level,
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn transition(level: Level, name: &str, from: &str, to: &str, reason: &str) -> Captured {
    let message = if level == Level::WARN {
        "circuit breaker opened"
    } else {
        "circuit breaker changed state"
    };
    event(
        level,
        &[
            ("message", message),
            ("name", name),
            ("from", from),
            ("to", to),
            ("reason", reason),
        ],
    )
}

// ---- a recorder that keeps every counter and gauge ---------------------------------------

/// Counters and gauges by `name{label="value",...}` (labels in the order given).
#[derive(Default)]
struct Recorded {
    counters: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    gauges: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
}

fn render(key: &Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}=\"{}\"", l.key(), l.value()))
        .collect();
    if labels.is_empty() {
        key.name().to_owned()
    } else {
        format!("{}{{{}}}", key.name(), labels.join(","))
    }
}

impl Recorded {
    fn counters(&self) -> BTreeMap<String, u64> {
        let counters = self.counters.lock().unwrap();
        counters
            .iter()
            .map(|(k, v)| (k.clone(), v.load(Ordering::Relaxed)))
            .collect()
    }

    fn gauge(&self, key: &str) -> Option<f64> {
        let gauges = self.gauges.lock().unwrap();
        gauges
            .get(key)
            .map(|v| f64::from_bits(v.load(Ordering::Relaxed)))
    }
}

impl Recorder for Recorded {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut counters = self.counters.lock().unwrap();
        Counter::from_arc(counters.entry(render(key)).or_default().clone())
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut gauges = self.gauges.lock().unwrap();
        Gauge::from_arc(gauges.entry(render(key)).or_default().clone())
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

fn counters(entries: &[(&str, u64)]) -> BTreeMap<String, u64> {
    entries.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

// ---- the tests ---------------------------------------------------------------------------

fn fail() -> Result<(), Error> {
    Err(Error::Timeout {
        after: Duration::from_secs(1),
    })
}

fn succeed() -> Result<(), Error> {
    Ok(())
}

/// closed -> open (2 failures) -> a rejection -> half-open -> closed, then the manual
/// states: one event per transition, WARN when opening, INFO otherwise; a DEBUG event
/// per rejection.
#[tokio::test(start_paused = true)]
async fn every_transition_is_one_tracing_event_with_its_fields() {
    capture();
    let breaker = Breaker::new(
        "obs_tracing",
        BreakerConfig::new()
            .failures(2)
            .reset(Duration::from_secs(10)),
    );
    let name = "obs_tracing";

    breaker.call(succeed).unwrap();
    let _ = breaker.call(fail);
    assert_eq!(take(), [], "no event before a transition");
    let _ = breaker.call(fail);
    assert_eq!(
        take(),
        [transition(Level::WARN, name, "closed", "open", "failures")]
    );

    assert!(matches!(breaker.call(succeed), Err(Error::Open { .. })));
    assert_eq!(
        take(),
        [event(
            Level::DEBUG,
            &[("message", "call rejected"), ("name", name)]
        )]
    );

    tokio::time::advance(Duration::from_secs(10)).await;
    breaker.call(succeed).unwrap();
    assert_eq!(
        take(),
        [
            transition(Level::INFO, name, "open", "half-open", "reset-elapsed"),
            transition(Level::INFO, name, "half-open", "closed", "probes-succeeded"),
        ]
    );

    breaker.force_open();
    breaker.disable();
    breaker.reset();
    assert_eq!(
        take(),
        [
            transition(Level::WARN, name, "closed", "forced-open", "forced-open"),
            transition(Level::INFO, name, "forced-open", "disabled", "disabled"),
            transition(Level::INFO, name, "disabled", "closed", "reset"),
        ]
    );
}

/// Two registrations of one name with different settings: one WARN event, the first time
/// only; the same settings again: nothing.
#[tokio::test(start_paused = true)]
async fn a_conflicting_registration_is_one_warning() {
    capture();
    let registry = failfast::Registry::new();
    let _ = registry.breaker("obs_conflict", BreakerConfig::new().failures(3));
    let _ = registry.breaker("obs_conflict", BreakerConfig::new().failures(3));
    assert_eq!(take(), [], "the same settings are no conflict");
    let _ = registry.breaker("obs_conflict", BreakerConfig::new().failures(9));
    let _ = registry.breaker("obs_conflict", BreakerConfig::new().failures(7));
    let events = take();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].level, Level::WARN);
    assert_eq!(events[0].fields["name"], "obs_conflict");
    assert!(
        events[0].fields["kept"].contains("failures: 3"),
        "{events:?}"
    );
    assert!(
        events[0].fields["asked"].contains("failures: 9"),
        "{events:?}"
    );
}

/// A failed trial reopens the breaker: a WARN event with reason ProbeFailed.
#[tokio::test(start_paused = true)]
async fn a_failed_trial_is_a_warning() {
    capture();
    let name = "obs_probe_failed";
    let breaker = Breaker::new(
        name,
        BreakerConfig::new()
            .failures(1)
            .reset(Duration::from_secs(5)),
    );

    let _ = breaker.call(fail);
    tokio::time::advance(Duration::from_secs(5)).await;
    let _ = breaker.call(fail);
    assert_eq!(
        take(),
        [
            transition(Level::WARN, name, "closed", "open", "failures"),
            transition(Level::INFO, name, "open", "half-open", "reset-elapsed"),
            transition(Level::WARN, name, "half-open", "open", "probe-failed"),
        ]
    );
}

/// The calls counter by outcome and the state gauge, step by step through the cycle.
#[tokio::test(start_paused = true)]
async fn breaker_counters_and_state_gauge() {
    capture();
    let recorder = Recorded::default();
    let _recorder = metrics::set_default_local_recorder(&recorder);
    let breaker = Breaker::new(
        "obs_metrics",
        BreakerConfig::new()
            .failures(2)
            .reset(Duration::from_secs(10)),
    );
    let success = r#"failfast_calls_total{breaker="obs_metrics",outcome="success"}"#;
    let failure = r#"failfast_calls_total{breaker="obs_metrics",outcome="failure"}"#;
    let rejected = r#"failfast_calls_total{breaker="obs_metrics",outcome="rejected"}"#;
    let state = r#"failfast_state{breaker="obs_metrics"}"#;

    breaker.call(succeed).unwrap();
    let _ = breaker.call(fail);
    assert_eq!(recorder.counters(), counters(&[(success, 1), (failure, 1)]));
    assert_eq!(
        recorder.gauge(state),
        Some(0.0),
        "the gauge is set when the breaker is made: closed"
    );

    let _ = breaker.call(fail);
    assert_eq!(recorder.gauge(state), Some(1.0), "open");
    assert!(breaker.call(succeed).is_err());
    assert!(breaker.call(succeed).is_err());
    assert_eq!(
        recorder.counters(),
        counters(&[(success, 1), (failure, 2), (rejected, 2)])
    );

    tokio::time::advance(Duration::from_secs(10)).await;
    let permit = breaker.acquire().unwrap();
    assert_eq!(recorder.gauge(state), Some(2.0), "half-open");
    permit.success();
    assert_eq!(recorder.gauge(state), Some(0.0), "closed");

    breaker.force_open();
    assert_eq!(recorder.gauge(state), Some(3.0), "forced-open");
    breaker.disable();
    assert_eq!(recorder.gauge(state), Some(4.0), "disabled");
    breaker.reset();
    assert_eq!(recorder.gauge(state), Some(0.0), "closed again");

    assert_eq!(
        recorder.counters(),
        counters(&[(success, 2), (failure, 2), (rejected, 2)]),
        "as many as the breaker's own metrics say"
    );
    let m = breaker.metrics();
    assert_eq!((m.successes, m.failures, m.rejections), (2, 2, 2));
}

/// A call slower than `slow` counts in `failfast_slow_calls_total` as well as in its
/// outcome.
#[tokio::test(start_paused = true)]
async fn slow_calls_are_counted() {
    capture();
    let recorder = Recorded::default();
    let _recorder = metrics::set_default_local_recorder(&recorder);
    let breaker = Breaker::new(
        "obs_slow",
        BreakerConfig::new().slow(Duration::from_millis(100)),
    );
    let sleep = |ms| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok::<_, Error>(())
    };

    breaker.call_async(sleep(50)).await.unwrap();
    breaker.call_async(sleep(150)).await.unwrap();
    breaker
        .call_async(async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            fail()
        })
        .await
        .unwrap_err();
    assert_eq!(
        recorder.counters(),
        counters(&[
            (
                r#"failfast_calls_total{breaker="obs_slow",outcome="failure"}"#,
                1
            ),
            (
                r#"failfast_calls_total{breaker="obs_slow",outcome="success"}"#,
                2
            ),
            (r#"failfast_slow_calls_total{breaker="obs_slow"}"#, 2),
        ])
    );
    assert_eq!(breaker.metrics().slow_calls, 2);
}

/// A retry is a DEBUG event and counts in `failfast_retries_total`; a retry the budget
/// refuses counts in `failfast_retry_budget_exhausted_total{budget}` instead.
#[tokio::test(start_paused = true)]
async fn retries_and_budget_exhaustion() {
    capture();
    let recorder = Recorded::default();
    let _recorder = metrics::set_default_local_recorder(&recorder);

    // One token in the floor and 0.1 per first attempt: the first retry runs, the second
    // finds the budget empty.
    let budget = Budget::new(0.1, 1);
    let policy = RetryPolicy::new()
        .attempts(5)
        .delay(Duration::from_millis(10))
        .jitter(Jitter::None);
    let mut retry = Retry::new(&policy).budget(Some(budget.clone()));
    let attempt = fail();
    assert_eq!(
        retry.next(&attempt, false, |_| true, |_, _| {}),
        Some(Duration::from_millis(10))
    );
    assert_eq!(retry.next(&attempt, false, |_| true, |_, _| {}), None);
    assert_eq!(budget.exhausted(), 1);

    assert_eq!(
        take(),
        [
            event(
                Level::DEBUG,
                &[("message", "retrying"), ("attempt", "1"), ("wait_ms", "10")]
            ),
            event(
                Level::DEBUG,
                &[
                    ("message", "retry budget exhausted"),
                    ("budget", "standalone")
                ]
            ),
        ]
    );
    assert_eq!(
        recorder.counters(),
        counters(&[
            ("failfast_retries_total", 1),
            (
                r#"failfast_retry_budget_exhausted_total{budget="standalone"}"#,
                1
            ),
        ])
    );
}

/// A breaker in a registry reports the same as a standalone one, under its name.
#[tokio::test(start_paused = true)]
async fn registry_breakers_are_labelled_by_name() {
    capture();
    let recorder = Recorded::default();
    let _recorder = metrics::set_default_local_recorder(&recorder);
    let registry = failfast::Registry::new();
    let breaker = registry.breaker(
        String::from("obs_registry"),
        BreakerConfig::new().failures(1),
    );
    let _ = breaker.call(fail);
    assert_eq!(breaker.state(), State::Open);
    assert!(breaker.call(succeed).is_err());
    assert_eq!(
        recorder.counters(),
        counters(&[
            (
                r#"failfast_calls_total{breaker="obs_registry",outcome="failure"}"#,
                1
            ),
            (
                r#"failfast_calls_total{breaker="obs_registry",outcome="rejected"}"#,
                1
            ),
        ])
    );
    assert_eq!(
        recorder.gauge(r#"failfast_state{breaker="obs_registry"}"#),
        Some(1.0)
    );
}

/// In observe mode a call the breaker would reject runs: it counts as a rejection and
/// under its own outcome, as in the breaker's metrics; the transition is still reported.
#[tokio::test(start_paused = true)]
async fn observe_mode_counts_would_be_rejections() {
    capture();
    let recorder = Recorded::default();
    let _recorder = metrics::set_default_local_recorder(&recorder);
    let name = "obs_observe_mode";
    let breaker = Breaker::new(
        name,
        BreakerConfig::new()
            .failures(1)
            .mode(failfast::Mode::Observe),
    );

    let _ = breaker.call(fail);
    breaker.call(succeed).unwrap(); // would be rejected: runs
    assert_eq!(
        take(),
        [
            transition(Level::WARN, name, "closed", "open", "failures"),
            event(
                Level::DEBUG,
                &[("message", "call rejected"), ("name", name)]
            ),
        ]
    );
    assert_eq!(
        recorder.counters(),
        counters(&[
            (
                r#"failfast_calls_total{breaker="obs_observe_mode",outcome="failure"}"#,
                1
            ),
            (
                r#"failfast_calls_total{breaker="obs_observe_mode",outcome="rejected"}"#,
                1
            ),
            (
                r#"failfast_calls_total{breaker="obs_observe_mode",outcome="success"}"#,
                1
            ),
        ])
    );
    let m = breaker.metrics();
    assert_eq!(
        (m.calls, m.successes, m.failures, m.rejections),
        (2, 1, 1, 1)
    );
}

// ---- no allocation after a name's first use ------------------------------------------------

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations;

/// A recorder that allocates nothing itself: every counter and gauge is one shared
/// handle, so what is counted below is failfast's own allocations.
#[derive(Default)]
struct Frugal {
    total: Arc<AtomicU64>,
}

impl Recorder for Frugal {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.total.clone())
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// With a recorder installed, counting a success or a rejection allocates nothing once
/// the breaker's name has been seen (its label sets are built on first use), for a name
/// from a literal and for one from a `String` alike.
#[tokio::test(start_paused = true)]
async fn counting_allocates_nothing_after_a_names_first_use() {
    capture_events(false);
    let recorder = Frugal::default();
    let _recorder = metrics::set_default_local_recorder(&recorder);

    let literal = Breaker::new("obs_alloc", BreakerConfig::new().failures(1));
    let owned = Breaker::new(
        String::from("obs_alloc_owned"),
        BreakerConfig::new().failures(1),
    );
    for breaker in [&literal, &owned] {
        assert_eq!(
            allocations(|| breaker.call(succeed).unwrap()),
            0,
            "{}",
            breaker.name()
        );
    }
    let _ = literal.call(fail);
    let _ = owned.call(fail);
    for breaker in [&literal, &owned] {
        let rejections = allocations(|| assert!(breaker.call(succeed).is_err()));
        assert_eq!(rejections, 0, "{}", breaker.name());
    }
    // 1001 successes and 1001 rejections each, plus the failure.
    assert_eq!(
        recorder.total.load(Ordering::Relaxed),
        2 * (1001 + 1 + 1001)
    );
}
