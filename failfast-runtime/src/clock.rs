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
