//! Open after N consecutive failures.

use std::sync::atomic::Ordering::Relaxed;

use crate::sync::AtomicU32;

/// Counts failures in a row; any success starts the count again.
///
/// `on_success` is the closed breaker's hot path: it runs without a lock, reads one atomic
/// and writes it only when a failure streak has to be cleared, so a healthy service never
/// makes cores fight over the cache line. `on_failure` is called under the breaker's lock.
#[derive(Debug)]
pub(crate) struct Consecutive {
    threshold: u32,
    failures: AtomicU32,
}

impl Consecutive {
    pub(crate) fn new(threshold: u32) -> Self {
        Consecutive {
            threshold,
            failures: AtomicU32::new(0),
        }
    }

    /// A success ends the streak, if it is a success of the current spell: `current` is
    /// asked only while a streak is running (so the hot path reads one atomic).
    #[inline]
    pub(crate) fn on_success(&self, current: impl FnOnce() -> bool) {
        if self.failures.load(Relaxed) != 0 && current() {
            self.failures.store(0, Relaxed);
        }
    }

    /// Counts a failure; true when the streak reaches the threshold (the breaker opens).
    pub(crate) fn on_failure(&self) -> bool {
        let streak = self.failures.fetch_add(1, Relaxed).saturating_add(1);
        streak >= self.threshold
    }

    /// Forget the streak (the breaker closed again).
    pub(crate) fn reset(&self) {
        self.failures.store(0, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_after_threshold_in_a_row() {
        let policy = Consecutive::new(3);
        assert!(!policy.on_failure());
        assert!(!policy.on_failure());
        policy.on_success(|| true);
        assert!(!policy.on_failure());
        assert!(!policy.on_failure());
        assert!(policy.on_failure());
        policy.reset();
        assert!(!policy.on_failure());
    }
}
