//! Whether the store reaches Redis, logged once per episode; the reconnect backoff.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::backoff::{Backoff, Jitter, RetryPolicy};
use crate::telemetry;

// 0: not tried yet.
const UP: u8 = 1;
const DOWN: u8 = 2;

/// Shared by the store's two threads.
#[derive(Default)]
pub(crate) struct Health {
    state: AtomicU8,
    episodes: AtomicU64,
}

impl Health {
    /// Talking to Redis failed: the first failure of an episode is logged and counted.
    pub(crate) fn failed(&self, url: &str, error: &dyn std::fmt::Display) {
        if self.state.swap(DOWN, Relaxed) != DOWN {
            self.episodes.fetch_add(1, Relaxed);
            telemetry::store_warning(&format!(
                "the Redis store at {url} failed ({error}); breakers go on with local state \
                 and the store reconnects by itself"
            ));
        }
    }

    /// Talking to Redis worked.
    pub(crate) fn ok(&self, url: &str) {
        if self.state.swap(UP, Relaxed) == DOWN {
            telemetry::store_recovered(&format!(
                "the Redis store at {url} works again; breakers share their state again"
            ));
        }
    }

    /// Garbage was found (and removed) under a breaker's key: one warning per find.
    pub(crate) fn garbage(&self, key: &str) {
        telemetry::store_warning(&format!(
            "unexpected data under the Redis key {key} was removed; the breaker goes on \
             with local state"
        ));
    }

    pub(crate) fn is_up(&self) -> bool {
        self.state.load(Relaxed) == UP
    }

    pub(crate) fn episodes(&self) -> u64 {
        self.episodes.load(Relaxed)
    }
}

/// Waits between reconnect attempts: from 50 ms, doubling up to 2 s, jittered (so a
/// fleet does not reconnect in step). Start a new one after a success.
pub(crate) fn reconnect_backoff() -> Backoff {
    let policy = RetryPolicy::new()
        .attempts(u32::MAX)
        .delay(Duration::from_millis(50))
        .max_delay(Duration::from_secs(2))
        .jitter(Jitter::Equal);
    Backoff::new(&policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_episode_per_outage() {
        let health = Health::default();
        assert!(!health.is_up());
        health.ok("u");
        health.failed("u", &"refused");
        health.failed("u", &"refused");
        assert_eq!((health.is_up(), health.episodes()), (false, 1));
        health.ok("u");
        health.failed("u", &"refused");
        assert_eq!(health.episodes(), 2);
    }
}
