//! Ratios over a sliding window: the failure-rate policy and the slow-call rate.
//!
//! The window holds the outcomes of calls made while the breaker was closed: whether each
//! failed and whether it was slow. Two shapes:
//! - [`Window::Calls`]`(n)`: a ring of the last `n` outcomes, one byte each. The n+1th
//!   outcome overwrites the first.
//! - [`Window::Time`]`(d)`: a ring of time buckets of `min(1s, d/10)` each (wider only when
//!   that would make more than [`MAX_BUCKETS`]), counted from the breaker's creation. At
//!   time `t` the window holds the buckets that began after `t - d`: an outcome leaves it
//!   exactly `d` after its bucket began.
//!
//! Both keep running totals, so judging the ratios after a record is a few comparisons,
//! never a scan. Everything is allocated when the breaker is made; recording allocates
//! nothing.
//!
//! Recording takes a short lock of this breaker's own (a `parking_lot` mutex held for a
//! few dozen instructions: the ring update and the totals), never a global one. A lock
//! keeps the totals exactly consistent with the ring under any interleaving, which a
//! lock-free ring cannot do without a transient miscount that could open the breaker
//! early; the consecutive-failure policy keeps its lock-free path.

use std::time::Duration;

use crate::clock::nanos;
use crate::config::{BreakerConfig, Window};
use crate::sync::Mutex;
use crate::transition::Reason;

/// The most buckets a time window uses.
pub(crate) const MAX_BUCKETS: u64 = 4096;

/// Bits of one outcome.
const FAILED: u8 = 1;
const SLOW: u8 = 2;

/// The failure-rate and slow-call-rate judge of one breaker.
#[derive(Debug)]
pub(crate) struct WindowPolicy {
    /// Set for the failure-rate policy; `None` when consecutive failures decide.
    failure_rate: Option<f64>,
    /// Set when slow calls can open the breaker.
    slow_rate: Option<f64>,
    /// Outcomes the window must hold before a ratio counts (at least 1).
    min_calls: u64,
    /// A time window: outcomes need the time they ended.
    timed: bool,
    samples: Mutex<Samples>,
}

impl WindowPolicy {
    /// The window `config` asks for, if any: with a failure rate, or with slow calls and a
    /// slow-call rate. `origin` (clock nanoseconds) is where the buckets of a time window
    /// start: when the breaker was made.
    pub(crate) fn new(config: &BreakerConfig, origin: u64) -> Option<WindowPolicy> {
        let slow_rate = match config.slow_threshold() {
            Some(_) => config.slow_rate_threshold(),
            None => None,
        };
        let failure_rate = config.failure_rate_threshold();
        if failure_rate.is_none() && slow_rate.is_none() {
            return None;
        }
        let (samples, min_calls) = match config.window_kind() {
            Window::Calls(n) => (
                Samples::Calls(CallRing::new(n)),
                config.min_calls_count().min(n),
            ),
            Window::Time(span) => (
                Samples::Time(TimeRing::new(span, origin)),
                config.min_calls_count(),
            ),
        };
        Some(WindowPolicy {
            failure_rate,
            slow_rate,
            min_calls: u64::from(min_calls.max(1)),
            timed: matches!(samples, Samples::Time(_)),
            samples: Mutex::new(samples),
        })
    }

    /// True for a time window, which needs the time of each outcome.
    pub(crate) fn is_timed(&self) -> bool {
        self.timed
    }

    /// True when the failure rate decides (rather than consecutive failures).
    pub(crate) fn judges_failures(&self) -> bool {
        self.failure_rate.is_some()
    }

    /// True when the slow-call rate can open the breaker.
    pub(crate) fn judges_slowness(&self) -> bool {
        self.slow_rate.is_some()
    }

    /// Records one outcome that ended at `at` (clock nanoseconds; ignored by a count
    /// window), if `current()` still says so under the window's lock, and says whether
    /// the breaker must open now, and why.
    pub(crate) fn record(
        &self,
        failed: bool,
        slow: bool,
        at: u64,
        current: impl FnOnce() -> bool,
    ) -> Option<Reason> {
        let outcome = if failed { FAILED } else { 0 } | if slow { SLOW } else { 0 };
        let tally = {
            let mut samples = self.samples.lock();
            // Checked under the lock: the breaker clears the window under it before a new
            // closed spell begins, so an outcome of an older spell never lands in it.
            if !current() {
                return None;
            }
            samples.push(outcome, at)
        };
        self.judge(tally)
    }

    /// Forgets every outcome (the breaker closed again).
    pub(crate) fn clear(&self) {
        self.samples.lock().clear();
    }

    fn judge(&self, tally: Tally) -> Option<Reason> {
        if tally.total < self.min_calls {
            return None;
        }
        // Exact integers divided once: `3 / 10` is the same f64 as the literal `0.3`.
        let total = tally.total as f64;
        let reached =
            |count: u64, rate: Option<f64>| rate.is_some_and(|r| count as f64 / total >= r);
        if reached(tally.failures, self.failure_rate) {
            Some(Reason::FailureRate)
        } else if reached(tally.slow, self.slow_rate) {
            Some(Reason::SlowCallRate)
        } else {
            None
        }
    }

    /// The totals now, at `at` for a time window: for tests.
    #[cfg(test)]
    fn tally(&self, at: u64) -> Tally {
        let mut samples = self.samples.lock();
        if let Samples::Time(ring) = &mut *samples {
            ring.expire(at.saturating_sub(ring.origin).max(ring.last));
        }
        samples.tally()
    }
}

/// Running totals of a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tally {
    total: u64,
    failures: u64,
    slow: u64,
}

impl Tally {
    fn add(&mut self, outcome: u8) {
        self.total += 1;
        self.failures += u64::from(outcome & FAILED);
        self.slow += u64::from((outcome & SLOW) >> 1);
    }

    fn remove(&mut self, outcome: u8) {
        self.total -= 1;
        self.failures -= u64::from(outcome & FAILED);
        self.slow -= u64::from((outcome & SLOW) >> 1);
    }

    fn remove_all(&mut self, other: &Tally) {
        self.total -= other.total;
        self.failures -= other.failures;
        self.slow -= other.slow;
    }
}

#[derive(Debug)]
enum Samples {
    Calls(CallRing),
    Time(TimeRing),
}

impl Samples {
    fn push(&mut self, outcome: u8, at: u64) -> Tally {
        match self {
            Samples::Calls(ring) => ring.push(outcome),
            Samples::Time(ring) => ring.push(outcome, at),
        }
    }

    fn clear(&mut self) {
        match self {
            Samples::Calls(ring) => ring.clear(),
            Samples::Time(ring) => ring.clear(),
        }
    }

    #[cfg(test)]
    fn tally(&self) -> Tally {
        match self {
            Samples::Calls(ring) => ring.tally,
            Samples::Time(ring) => ring.tally,
        }
    }
}

/// The last `n` outcomes.
#[derive(Debug)]
struct CallRing {
    slots: Box<[u8]>,
    /// Where the next outcome goes.
    next: usize,
    /// How many slots hold an outcome (up to `slots.len()`).
    len: usize,
    tally: Tally,
}

impl CallRing {
    fn new(n: u32) -> CallRing {
        CallRing {
            slots: vec![0; n as usize].into_boxed_slice(),
            next: 0,
            len: 0,
            tally: Tally::default(),
        }
    }

    fn push(&mut self, outcome: u8) -> Tally {
        if self.len == self.slots.len() {
            self.tally.remove(self.slots[self.next]);
        } else {
            self.len += 1;
        }
        self.slots[self.next] = outcome;
        self.tally.add(outcome);
        self.next += 1;
        if self.next == self.slots.len() {
            self.next = 0;
        }
        self.tally
    }

    fn clear(&mut self) {
        self.next = 0;
        self.len = 0;
        self.tally = Tally::default();
    }
}

/// One time bucket: bucket number `index` (from the ring's origin) and its totals.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    index: u64,
    tally: Tally,
}

/// The outcomes of the last `span` nanoseconds, in buckets of `width`.
#[derive(Debug)]
struct TimeRing {
    buckets: Box<[Bucket]>,
    width: u64,
    span: u64,
    /// Clock nanoseconds where bucket 0 begins.
    origin: u64,
    /// The oldest bucket whose outcomes `tally` may hold.
    oldest: u64,
    /// The newest bucket written to.
    newest: u64,
    /// The latest time seen, since `origin`: an outcome that arrives late (its time was
    /// read before another thread's) counts as of this time.
    last: u64,
    tally: Tally,
}

impl TimeRing {
    fn new(span: Duration, origin: u64) -> TimeRing {
        let (width, count) = bucket_layout(span);
        TimeRing {
            buckets: vec![Bucket::default(); count as usize].into_boxed_slice(),
            width,
            span: nanos(span),
            origin,
            oldest: 0,
            newest: 0,
            last: 0,
            tally: Tally::default(),
        }
    }

    fn slot(&mut self, index: u64) -> &mut Bucket {
        let len = self.buckets.len() as u64;
        &mut self.buckets[(index % len) as usize]
    }

    fn push(&mut self, outcome: u8, at: u64) -> Tally {
        let t = at.saturating_sub(self.origin).max(self.last);
        self.last = t;
        self.expire(t);
        let index = t / self.width;
        let bucket = self.slot(index);
        if bucket.index != index {
            // A bucket of an earlier lap, already out of the window: reuse it.
            *bucket = Bucket {
                index,
                tally: Tally::default(),
            };
        }
        bucket.tally.add(outcome);
        self.newest = index;
        self.tally.add(outcome);
        self.tally
    }

    /// Drops the buckets that began `span` or more before `t`.
    fn expire(&mut self, t: u64) {
        // Bucket k is in the window at t while k * width + span > t.
        let first = match t.checked_sub(self.span) {
            Some(before) => before / self.width + 1,
            None => 0,
        };
        if first <= self.oldest {
            return;
        }
        if first - self.oldest >= self.buckets.len() as u64 {
            // The whole ring is older than the window: nothing in it counts.
            self.tally = Tally::default();
        } else {
            for index in self.oldest..first {
                let bucket = *self.slot(index);
                // A slot holding another bucket holds one that no longer counts.
                if bucket.index == index {
                    self.tally.remove_all(&bucket.tally);
                }
            }
        }
        self.oldest = first;
    }

    fn clear(&mut self) {
        // Only the newest bucket can be written to again: empty it and start there. The
        // others are older than `oldest` from now on, so they are never counted again.
        let newest = self.newest;
        *self.slot(newest) = Bucket {
            index: newest,
            tally: Tally::default(),
        };
        self.oldest = self.oldest.max(newest);
        self.tally = Tally::default();
    }
}

/// The bucket width (nanoseconds) and the number of buckets of a time window of `span`:
/// `min(1s, span/10)` wide, widened so there are at most [`MAX_BUCKETS`].
pub(crate) fn bucket_layout(span: Duration) -> (u64, u64) {
    let span = nanos(span).max(1);
    let mut width = (span / 10).clamp(1, 1_000_000_000);
    if span.div_ceil(width) > MAX_BUCKETS {
        width = span.div_ceil(MAX_BUCKETS);
    }
    (width, span.div_ceil(width))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn tally(total: u64, failures: u64, slow: u64) -> Tally {
        Tally {
            total,
            failures,
            slow,
        }
    }

    fn policy(config: BreakerConfig) -> WindowPolicy {
        WindowPolicy::new(&config, 1_000).expect("a window")
    }

    #[test]
    fn only_ratio_policies_get_a_window() {
        let some = |c: BreakerConfig| WindowPolicy::new(&c, 0).is_some();
        assert!(!some(BreakerConfig::new()));
        assert!(!some(BreakerConfig::new().slow(Duration::from_secs(1))));
        assert!(
            !some(BreakerConfig::new().slow_rate(0.5)),
            "nothing is slow without `slow`"
        );
        assert!(some(BreakerConfig::new().failure_rate(0.5)));
        assert!(some(
            BreakerConfig::new()
                .slow(Duration::from_secs(1))
                .slow_rate(0.5)
        ));
    }

    #[test]
    fn bucket_layouts() {
        let ms = |n| Duration::from_millis(n);
        assert_eq!(bucket_layout(Duration::from_secs(60)), (SEC, 60));
        assert_eq!(bucket_layout(Duration::from_secs(10)), (SEC, 10));
        assert_eq!(bucket_layout(ms(5_000)), (SEC / 2, 10));
        assert_eq!(bucket_layout(ms(1_500)), (150_000_000, 10));
        assert_eq!(bucket_layout(Duration::from_nanos(15)), (1, 15));
        assert_eq!(bucket_layout(Duration::from_nanos(1)), (1, 1));
        assert_eq!(bucket_layout(Duration::from_secs(4096)), (SEC, 4096));
        // A day: 4096 buckets of 21.1s.
        let (width, count) = bucket_layout(Duration::from_secs(86_400));
        assert_eq!((width, count), (21_093_750_000, 4096));
        // Exactly MAX_BUCKETS of the usual width: kept as they are, not widened (a span
        // of 4095.5s widened would be 4096 buckets of 999_877_930ns).
        assert_eq!(bucket_layout(ms(4_095_500)), (SEC, 4096));
        let (_, count) = bucket_layout(Duration::from_secs(4097));
        assert!(count <= MAX_BUCKETS);
        let (_, count) = bucket_layout(Duration::MAX);
        assert!(count <= MAX_BUCKETS);
    }

    #[test]
    fn count_ring_evicts_the_oldest() {
        let mut ring = CallRing::new(3);
        assert_eq!(ring.push(FAILED), tally(1, 1, 0));
        assert_eq!(ring.push(SLOW), tally(2, 1, 1));
        assert_eq!(ring.push(0), tally(3, 1, 1));
        assert_eq!(ring.push(0), tally(3, 0, 1), "the failure left");
        assert_eq!(
            ring.push(FAILED | SLOW),
            tally(3, 1, 1),
            "the slow one left, another came"
        );
        assert_eq!(ring.push(0), tally(3, 1, 1));
        assert_eq!(ring.push(0), tally(3, 1, 1));
        assert_eq!(
            ring.push(0),
            tally(3, 0, 0),
            "three laps on, only the last three count"
        );
        ring.clear();
        assert_eq!(ring.push(FAILED), tally(1, 1, 0));
    }

    #[test]
    fn time_ring_expires_buckets_exactly_a_span_after_they_begin() {
        // 10s window: ten 1s buckets from origin 1_000.
        let mut ring = TimeRing::new(Duration::from_secs(10), 1_000);
        let at = |t: u64| 1_000 + t;
        assert_eq!(ring.push(FAILED, at(0)), tally(1, 1, 0));
        assert_eq!(ring.push(SLOW, at(SEC / 2)), tally(2, 1, 1), "same bucket");
        ring.expire(10 * SEC - 1);
        assert_eq!(ring.tally, tally(2, 1, 1), "present just before 10s");
        // At 10s bucket 0 (both outcomes, the one from 0.5s too) is gone.
        assert_eq!(ring.push(0, at(10 * SEC)), tally(1, 0, 0));
    }

    #[test]
    fn time_ring_keeps_every_bucket_of_the_span() {
        let mut ring = TimeRing::new(Duration::from_secs(10), 0);
        for s in 0..10 {
            ring.push(FAILED, s * SEC);
        }
        assert_eq!(ring.tally, tally(10, 10, 0));
        for s in 10..25 {
            // Each new second drops exactly the second from ten seconds ago.
            assert_eq!(
                ring.push(0, s * SEC),
                tally(10, 19u64.saturating_sub(s), 0),
                "at {s}s"
            );
        }
    }

    #[test]
    fn time_ring_forgets_everything_after_a_long_silence() {
        let mut ring = TimeRing::new(Duration::from_secs(10), 0);
        ring.push(FAILED, 3 * SEC);
        ring.push(FAILED, 4 * SEC);
        assert_eq!(
            ring.push(0, 13 * SEC),
            tally(2, 1, 0),
            "3s is gone, 4s is not"
        );
        assert_eq!(ring.push(0, 1_000 * SEC), tally(1, 0, 0));
        assert_eq!(ring.push(0, 1_009 * SEC), tally(2, 0, 0));
        assert_eq!(
            ring.push(0, 1_010 * SEC),
            tally(2, 0, 0),
            "1000s left, 1010s came"
        );
    }

    #[test]
    fn time_ring_with_a_span_not_a_multiple_of_the_width() {
        // 1.5s: ten buckets of 150ms; bucket k leaves at k*150ms + 1.5s.
        let ms = 1_000_000;
        let mut ring = TimeRing::new(Duration::from_millis(1_500), 0);
        ring.push(FAILED, 149 * ms); // bucket 0
        ring.push(FAILED, 150 * ms); // bucket 1
        ring.expire(1_500 * ms - 1);
        assert_eq!(ring.tally, tally(2, 2, 0));
        ring.expire(1_500 * ms);
        assert_eq!(ring.tally, tally(1, 1, 0));
        ring.expire(1_650 * ms);
        assert_eq!(ring.tally, tally(0, 0, 0));
    }

    #[test]
    fn time_ring_counts_a_late_outcome_as_of_the_latest_time() {
        let mut ring = TimeRing::new(Duration::from_secs(10), 0);
        ring.push(0, 12 * SEC);
        assert_eq!(ring.push(FAILED, 5 * SEC), tally(2, 1, 0));
        ring.expire(21 * SEC);
        assert_eq!(ring.tally, tally(2, 1, 0));
        ring.expire(22 * SEC);
        assert_eq!(ring.tally, tally(0, 0, 0));
    }

    #[test]
    fn time_ring_clear_keeps_later_totals_exact() {
        let mut ring = TimeRing::new(Duration::from_secs(10), 0);
        ring.push(FAILED, 0);
        ring.push(FAILED, 5 * SEC);
        ring.clear();
        assert_eq!(
            ring.push(0, 5 * SEC),
            tally(1, 0, 0),
            "same bucket as before the clear"
        );
        assert_eq!(ring.push(0, 9 * SEC), tally(2, 0, 0));
        assert_eq!(ring.push(0, 15 * SEC), tally(2, 0, 0), "5s left");
        assert_eq!(ring.push(0, 19 * SEC), tally(2, 0, 0), "9s left");
        assert_eq!(ring.push(0, 40 * SEC), tally(1, 0, 0));
    }

    #[test]
    fn min_calls_is_capped_by_a_count_window() {
        let p = policy(
            BreakerConfig::new()
                .failure_rate(1.0)
                .window(Window::Calls(3)),
        );
        assert_eq!(p.record(true, false, 0, || true), None);
        assert_eq!(p.record(true, false, 0, || true), None);
        assert_eq!(p.record(true, false, 0, || true), Some(Reason::FailureRate));
    }

    #[test]
    fn judging_at_the_boundary() {
        for tenths in 1..=10u32 {
            let rate = f64::from(tenths) / 10.0;
            let p = policy(
                BreakerConfig::new()
                    .failure_rate(rate)
                    .window(Window::Calls(10)),
            );
            for i in 0..10 {
                // The failures come last, so only the tenth outcome can open it.
                let failed = i >= 10 - tenths;
                let verdict = p.record(failed, false, 0, || true);
                let expect = (i == 9).then_some(Reason::FailureRate);
                assert_eq!(verdict, expect, "rate {rate}, outcome {i}");
            }
            // One failure fewer stays below the rate.
            let p = policy(
                BreakerConfig::new()
                    .failure_rate(rate)
                    .window(Window::Calls(10)),
            );
            for i in 0..10 {
                let failed = i > 10 - tenths;
                assert_eq!(p.record(failed, false, 0, || true), None, "rate {rate}");
            }
        }
    }

    #[test]
    fn failure_rate_wins_over_slow_rate_when_both_are_reached() {
        let config = BreakerConfig::new()
            .failure_rate(0.5)
            .slow(Duration::ZERO)
            .slow_rate(0.5)
            .min_calls(2);
        let p = policy(config);
        assert_eq!(p.record(false, true, 0, || true), None);
        assert_eq!(p.record(true, true, 0, || true), Some(Reason::FailureRate));
        let p = policy(config);
        assert_eq!(p.record(false, true, 0, || true), None);
        assert_eq!(
            p.record(false, false, 0, || true),
            Some(Reason::SlowCallRate)
        );
    }

    #[test]
    fn an_outcome_of_another_spell_is_not_recorded() {
        let p = policy(BreakerConfig::new().failure_rate(0.5).min_calls(1));
        assert_eq!(p.record(true, false, 0, || false), None);
        assert_eq!(p.tally(0), tally(0, 0, 0));
    }

    #[test]
    fn timed_tally_expires_on_read() {
        let config = BreakerConfig::new()
            .failure_rate(0.5)
            .window(Window::Time(Duration::from_secs(2)));
        let p = policy(config);
        assert!(p.is_timed());
        p.record(true, false, 1_000, || true);
        assert_eq!(p.tally(1_000 + 2 * SEC - 1), tally(1, 1, 0));
        assert_eq!(p.tally(1_000 + 2 * SEC), tally(0, 0, 0));
    }
}
