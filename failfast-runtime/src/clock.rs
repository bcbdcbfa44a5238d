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
    Instant::now()
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
    let since = at.saturating_duration_since(*BASE).as_nanos();
    u64::try_from(since).unwrap_or(u64::MAX)
}

/// The time from `now` until the instant `until` (from [`to_nanos`]), zero if passed.
pub(crate) fn until(until: u64, now: Instant) -> Duration {
    Duration::from_nanos(until.saturating_sub(to_nanos(now)))
}

/// `at + d` in nanoseconds since the base, saturating.
pub(crate) fn nanos_after(at: Instant, d: Duration) -> u64 {
    let d = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    to_nanos(at).saturating_add(d)
}

/// True when this thread's clock is a paused tokio clock: virtual time stands still
/// between two reads, real time never does (where two reads could be equal, as on coarse
/// platform clocks, the answer is "virtual", which only costs the fast path).
pub(crate) fn is_virtual() -> bool {
    now() == now()
}

/// The coarse reading below which a breaker that opened at `now` until `until` is surely
/// still open. The coarse clock lags the real one by about its resolution (a kernel
/// tick); twice that is the margin, as ticks arrive late on a busy virtual machine. Zero
/// (use the exact clock) when there is no coarse clock, when time is virtual (a paused
/// tokio clock moves without the kernel's), or when the open time is within the margin.
pub(crate) fn coarse_bound(now: Instant, until: u64) -> u64 {
    match coarse::resolution() {
        Some(tick) if !is_virtual() => {
            let bound = until.saturating_sub(tick.saturating_mul(2));
            if bound > to_nanos(now) { bound } else { 0 }
        }
        _ => 0,
    }
}

/// The time left until `until` if a coarse reading proves it is still ahead (before
/// `bound`, from [`coarse_bound`]); `None` when only the exact clock can tell.
///
/// The rejection path of an open breaker: a coarse read costs a fifth of an exact one
/// on a virtual machine's clock, and most rejections happen long before the reset ends.
/// The time left is rounded up by less than one kernel tick.
pub(crate) fn surely_before(bound: u64, until: u64) -> Option<Duration> {
    if bound == 0 {
        return None;
    }
    let coarse = coarse::nanos()?;
    (coarse < bound).then(|| Duration::from_nanos(until - coarse))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod coarse {
    //! The kernel's coarse monotonic clock: the same clock as `std::time::Instant` on
    //! these platforms, as of the last timer tick.

    use std::sync::LazyLock;

    /// `clock_gettime` on `clock`, in nanoseconds.
    fn read(clock: libc::clockid_t) -> Option<u64> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
        let status = unsafe { libc::clock_gettime(clock, &mut ts) };
        let secs = u64::try_from(ts.tv_sec).ok()?;
        let nanos = u64::try_from(ts.tv_nsec).ok()?;
        (status == 0).then(|| secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }

    /// Kernel nanoseconds minus ours (since `BASE`, which may lie before the kernel's
    /// zero), measured so it errs high: converted coarse readings then err low, which is
    /// the safe side for "surely still open".
    static OFFSET: LazyLock<Option<i128>> = LazyLock::new(|| {
        let ours = super::to_nanos(tokio::time::Instant::from_std(std::time::Instant::now()));
        Some(i128::from(read(libc::CLOCK_MONOTONIC)?) - i128::from(ours))
    });

    /// How far the coarse clock may lag the real one.
    pub(super) fn resolution() -> Option<u64> {
        static RESOLUTION: LazyLock<Option<u64>> = LazyLock::new(|| {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
            let status = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
            let nanos = u64::try_from(ts.tv_nsec).ok()?;
            (status == 0 && ts.tv_sec == 0 && nanos > 0).then_some(nanos)
        });
        *RESOLUTION
    }

    /// Now, coarsely, in nanoseconds since `BASE`.
    pub(super) fn nanos() -> Option<u64> {
        let ours = i128::from(read(libc::CLOCK_MONOTONIC_COARSE)?) - (*OFFSET)?;
        u64::try_from(ours).ok()
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod coarse {
    //! No coarse clock here: every open breaker reads the exact clock.

    pub(super) fn resolution() -> Option<u64> {
        None
    }

    pub(super) fn nanos() -> Option<u64> {
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
    fn coarse_readings_trail_the_exact_clock_by_less_than_the_resolution() {
        let lag = coarse::resolution().expect("Linux has a coarse clock");
        for _ in 0..1000 {
            let before = to_nanos(now());
            let coarse = coarse::nanos().expect("readable");
            let after = to_nanos(now());
            assert!(coarse <= after, "coarse {coarse} is ahead of {after}");
            // The same margin as `coarse_bound`: ticks come late on a busy virtual machine.
            assert!(
                coarse + 2 * lag >= before,
                "coarse {coarse} lags {before} by more than {lag}x2"
            );
        }
    }

    #[test]
    fn surely_before_decides_only_well_before_the_end() {
        let at = now();
        let until = nanos_after(at, Duration::from_secs(60));
        let bound = coarse_bound(at, until);
        if bound == 0 {
            return; // no coarse clock on this platform: nothing to decide
        }
        let left = surely_before(bound, until).expect("a minute from the end is surely before it");
        assert!(
            left <= Duration::from_secs(60) + Duration::from_millis(20),
            "{left:?}"
        );
        assert!(left > Duration::from_secs(59), "{left:?}");
        assert_eq!(coarse_bound(at, to_nanos(at)), 0, "no open time left");
        // A bound 50ms ago: the coarse clock is past it, so only the exact clock decides.
        assert_eq!(surely_before(to_nanos(at) - 50_000_000, until), None);
    }
}
