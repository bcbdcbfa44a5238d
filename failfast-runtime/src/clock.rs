//! The runtime's one clock.
//!
//! `tokio::time::Instant::now()` is the plain monotonic clock, except inside a tokio
//! runtime whose time is paused (`tokio::time::pause`, `start_paused`): then it is that
//! runtime's virtual clock, so tests and simulations move breakers and retries through
//! time with `tokio::time::advance`.

use std::sync::LazyLock;
use std::time::Duration;

use tokio::time::Instant;

/// The current instant.
pub(crate) fn now() -> Instant {
    #[cfg(test)]
    reads::count();
    Instant::now()
}

/// Counts this thread's reads of [`now`], for the unit tests of how often each path reads
/// the clock.
#[cfg(test)]
pub(crate) mod reads {
    use std::cell::Cell;

    thread_local! {
        static READS: Cell<u64> = const { Cell::new(0) };
    }

    pub(crate) fn count() {
        READS.with(|reads| reads.set(reads.get() + 1));
    }

    /// The reads since the last call.
    pub(crate) fn take() -> u64 {
        READS.with(|reads| reads.replace(0))
    }
}

/// The origin of [`to_nanos`]. Placed a year back (where the platform allows it) because
/// a paused tokio clock created before our first call could otherwise read earlier than it.
static BASE: LazyLock<Instant> = LazyLock::new(|| {
    let now = Instant::now();
    [365 * 86_400, 86_400, 3_600, 60, 1]
        .into_iter()
        .find_map(|secs| now.checked_sub(Duration::from_secs(secs)))
        .unwrap_or(now)
});

/// An instant as nanoseconds since the process-wide base, to keep it in an `AtomicU64`.
/// Saturates: clocks of different paused runtimes disagree, and that must not panic.
pub(crate) fn to_nanos(at: Instant) -> u64 {
    nanos(at.saturating_duration_since(*BASE))
}

/// `d` in whole nanoseconds, saturating (584 years is plenty for any wait or window).
#[inline]
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The time from `now` until the instant `until` (from [`to_nanos`]), zero if passed.
pub(crate) fn until(until: u64, now: Instant) -> Duration {
    Duration::from_nanos(until.saturating_sub(to_nanos(now)))
}

/// `at + d` in nanoseconds since the base, saturating.
pub(crate) fn nanos_after(at: Instant, d: Duration) -> u64 {
    to_nanos(at).saturating_add(nanos(d))
}

/// True when this thread's clock is a paused tokio clock: virtual time stands still
/// between two reads, real time never does (where two reads could be equal, as on coarse
/// platform clocks, the answer is "virtual", which only costs the fast path).
pub(crate) fn is_virtual() -> bool {
    now() == now()
}

/// A bound for [`surely_open`]: the coarse clock's reading below which a breaker that
/// opened at `now` until `until` is surely still open, in the kernel's own nanoseconds
/// (so the hot path converts nothing). The coarse clock lags the real one by about its
/// resolution (a kernel tick); twice that is the margin, as ticks arrive late on a busy
/// virtual machine. Zero (the exact clock decides) when there is no coarse clock, when
/// time is virtual (a paused tokio clock moves without the kernel's), or when the open
/// time is within the margin.
pub(crate) fn coarse_bound(now: Instant, until: u64) -> u64 {
    let (Some(margin), Some(offset)) = (coarse::margin(), coarse::offset()) else {
        return 0;
    };
    let bound = until.saturating_sub(margin);
    if bound <= to_nanos(now) || is_virtual() {
        return 0;
    }
    u64::try_from(i128::from(bound) + offset).unwrap_or(0)
}

/// The time left open, when a coarse reading proves the breaker is still open (it is
/// before `bound`, from [`coarse_bound`]); `None` when only the exact clock can tell.
///
/// The rejection path of an open breaker: a coarse read costs a fifth of an exact one
/// on a virtual machine's clock, and most rejections happen long before the reset ends.
/// The time left is rounded up by less than the margin.
#[inline]
pub(crate) fn surely_open(bound: u64) -> Option<Duration> {
    if bound == 0 {
        return None;
    }
    let now = coarse::read()?;
    let margin = coarse::margin()?;
    (now < bound).then(|| Duration::from_nanos(bound - now + margin))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod coarse {
    //! The kernel's coarse monotonic clock: the same clock as `std::time::Instant` on
    //! these platforms, as of the last timer tick.

    use std::sync::LazyLock;

    /// `clock_gettime` on `clock`, in nanoseconds.
    #[inline]
    fn clock_gettime(clock: libc::clockid_t) -> Option<u64> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
        let status = unsafe { libc::clock_gettime(clock, &mut ts) };
        (status == 0).then_some((ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64)
    }

    /// Now, coarsely, in the kernel's nanoseconds.
    #[inline]
    pub(super) fn read() -> Option<u64> {
        clock_gettime(libc::CLOCK_MONOTONIC_COARSE)
    }

    /// Kernel nanoseconds minus ours (since `BASE`, which may lie before the kernel's
    /// zero). The two reads are nanoseconds apart: far inside the margin.
    pub(super) fn offset() -> Option<i128> {
        static OFFSET: LazyLock<Option<i128>> = LazyLock::new(|| {
            let ours = super::to_nanos(tokio::time::Instant::from_std(std::time::Instant::now()));
            Some(i128::from(clock_gettime(libc::CLOCK_MONOTONIC)?) - i128::from(ours))
        });
        *OFFSET
    }

    /// Twice the coarse clock's resolution: how far behind the real clock it may be.
    #[inline]
    pub(super) fn margin() -> Option<u64> {
        static MARGIN: LazyLock<Option<u64>> = LazyLock::new(|| {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
            let status = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
            let nanos = u64::try_from(ts.tv_nsec).ok()?;
            (status == 0 && ts.tv_sec == 0 && nanos > 0).then_some(2 * nanos)
        });
        *MARGIN
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod coarse {
    //! No coarse clock here: every open breaker reads the exact clock.

    pub(super) fn read() -> Option<u64> {
        None
    }

    pub(super) fn offset() -> Option<i128> {
        None
    }

    pub(super) fn margin() -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_time_is_not_virtual() {
        assert!(!is_virtual());
    }

    #[tokio::test(start_paused = true)]
    async fn paused_time_is_virtual() {
        assert!(is_virtual());
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn coarse_readings_trail_the_exact_clock_by_less_than_the_margin() {
        let margin = coarse::margin().expect("Linux has a coarse clock");
        let offset = coarse::offset().expect("and an offset");
        for _ in 0..1000 {
            let before = i128::from(to_nanos(now())) + offset;
            let coarse = i128::from(coarse::read().expect("readable"));
            let after = i128::from(to_nanos(now())) + offset;
            assert!(
                coarse <= after + 1_000,
                "coarse {coarse} is ahead of {after}"
            );
            // Ticks may come late on a loaded machine; this checks the conversion (an
            // offset off by seconds would fail), not the kernel's punctuality.
            let slack = i128::from(margin) + 50_000_000;
            assert!(
                coarse + slack >= before,
                "coarse {coarse} lags {before} by more than {slack}"
            );
        }
    }

    /// Exact clock reads per call, by path, on the real clock: the closed path of a
    /// consecutive-failure breaker and of a count window reads none; a time window reads
    /// it once, when the call ends; `slow` twice (the start and the end: timing a call
    /// takes both), a time window with it too (the end's read serves both). A rejection
    /// while surely open, or while every trial slot is taken and none is surely overdue,
    /// reads only the kernel's coarse clock (Linux).
    #[test]
    fn clock_reads_per_call() {
        use crate::{Breaker, BreakerConfig, Error, Window};

        let reads_per_call = |config: BreakerConfig| {
            let b = Breaker::new("reads", config.failures(1_000).min_calls(1_000));
            reads::take();
            b.acquire().unwrap().success();
            b.acquire().unwrap().failure();
            let _ = b.call(|| Ok::<_, Error>(()));
            reads::take()
        };
        let slow = Duration::from_secs(1);
        let time_window = Window::Time(Duration::from_secs(60));
        assert_eq!(reads_per_call(BreakerConfig::new()), 0, "consecutive");
        let count_window = BreakerConfig::new().failure_rate(0.5);
        assert_eq!(reads_per_call(count_window), 0, "count window");
        let timed = BreakerConfig::new().failure_rate(0.5).window(time_window);
        assert_eq!(reads_per_call(timed), 3, "time window: once per call");
        assert_eq!(
            reads_per_call(BreakerConfig::new().slow(slow)),
            6,
            "slow: twice"
        );
        let both = BreakerConfig::new()
            .failure_rate(0.5)
            .window(time_window)
            .slow(slow);
        assert_eq!(reads_per_call(both), 6, "time window and slow: twice");
        // A cancelled timed call reads the clock once, when it starts.
        let b = Breaker::new("reads", BreakerConfig::new().slow(slow));
        reads::take();
        drop(b.acquire().unwrap());
        assert_eq!(reads::take(), 1);

        if coarse::margin().is_none() {
            return; // no coarse clock here: rejections read the exact one
        }
        let b = Breaker::new(
            "reads",
            BreakerConfig::new()
                .failures(1)
                .reset(Duration::from_secs(60)),
        );
        b.acquire().unwrap().failure();
        reads::take();
        for _ in 0..3 {
            assert!(b.acquire().is_err());
        }
        assert_eq!(reads::take(), 0, "rejected while surely open");
        b.force_open();
        reads::take();
        assert!(b.acquire().is_err());
        assert_eq!(reads::take(), 0, "forced open");
        let half_open = Breaker::new(
            "reads",
            BreakerConfig::new()
                .failures(1)
                .reset(Duration::ZERO)
                .probe_timeout(Duration::from_secs(60)),
        );
        half_open.acquire().unwrap().failure();
        let _trial = half_open.acquire().unwrap();
        reads::take();
        for _ in 0..3 {
            assert!(half_open.acquire().is_err());
        }
        assert_eq!(reads::take(), 0, "half-open, the trial surely not overdue");
    }

    #[test]
    fn surely_open_decides_only_well_before_the_end() {
        let at = now();
        let until = nanos_after(at, Duration::from_secs(60));
        let bound = coarse_bound(at, until);
        if bound == 0 {
            return; // no coarse clock on this platform: nothing to decide
        }
        let left = surely_open(bound).expect("a minute from the end is surely open");
        assert!(
            left <= Duration::from_secs(60) + Duration::from_millis(20),
            "{left:?}"
        );
        assert!(left > Duration::from_secs(59), "{left:?}");
        assert_eq!(coarse_bound(at, to_nanos(at)), 0, "no open time left");
        // A bound 50ms ago: the coarse clock is past it, so only the exact clock decides.
        let passed = coarse::read().unwrap() - 50_000_000;
        assert_eq!(surely_open(passed), None);
    }
}
