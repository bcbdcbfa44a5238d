//! The settings of one breaker.

use std::time::Duration;

/// How a breaker opens and recovers: open after `failures` consecutive failures, stay open
/// for `reset`, then let `probes` trial calls through.
///
/// The builders are `const`, so a configuration can live in a `const` or `static`.
///
/// ```
/// use failfast_runtime::BreakerConfig;
/// use std::time::Duration;
///
/// const SALES: BreakerConfig = BreakerConfig::new()
///     .failures(3)
///     .reset(Duration::from_secs(30))
///     .probes(2);
/// assert_eq!(SALES.failures_threshold(), 3);
/// assert_eq!(SALES.reset_after(), Duration::from_secs(30));
/// assert_eq!(SALES.probe_count(), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    failures: u32,
    reset: Duration,
    probes: u32,
}

impl BreakerConfig {
    /// The defaults: 5 failures, 60 s reset, 1 probe.
    ///
    /// ```
    /// use failfast_runtime::BreakerConfig;
    ///
    /// assert_eq!(BreakerConfig::new(), BreakerConfig::default());
    /// assert_eq!(BreakerConfig::new().failures_threshold(), 5);
    /// ```
    #[inline]
    pub const fn new() -> Self {
        BreakerConfig {
            failures: 5,
            reset: Duration::from_secs(60),
            probes: 1,
        }
    }

    /// Open after `n` consecutive failures.
    ///
    /// # Panics
    /// When `n` is zero (at compile time in a `const`): a breaker that opens after zero
    /// failures would never let a call through.
    ///
    /// ```
    /// use failfast_runtime::BreakerConfig;
    ///
    /// assert_eq!(BreakerConfig::new().failures(2).failures_threshold(), 2);
    /// ```
    #[inline]
    pub const fn failures(self, n: u32) -> Self {
        assert!(
            n > 0,
            "failures must be at least 1: a breaker that opens after 0 failures never lets a call through"
        );
        BreakerConfig {
            failures: n,
            ..self
        }
    }

    /// Stay open this long before letting trial calls through.
    ///
    /// ```
    /// use failfast_runtime::BreakerConfig;
    /// use std::time::Duration;
    ///
    /// let config = BreakerConfig::new().reset(Duration::from_secs(5));
    /// assert_eq!(config.reset_after(), Duration::from_secs(5));
    /// ```
    #[inline]
    pub const fn reset(self, d: Duration) -> Self {
        BreakerConfig { reset: d, ..self }
    }

    /// Let `n` trial calls through per half-open spell; all must succeed to close.
    ///
    /// # Panics
    /// When `n` is zero: with no trial call the breaker could never close again.
    ///
    /// ```
    /// use failfast_runtime::BreakerConfig;
    ///
    /// assert_eq!(BreakerConfig::new().probes(3).probe_count(), 3);
    /// ```
    #[inline]
    pub const fn probes(self, n: u32) -> Self {
        assert!(
            n > 0,
            "probes must be at least 1: with no trial call a half-open breaker could never close"
        );
        BreakerConfig { probes: n, ..self }
    }

    /// The number of consecutive failures that opens the breaker.
    ///
    /// ```
    /// use failfast_runtime::BreakerConfig;
    ///
    /// assert_eq!(BreakerConfig::new().failures_threshold(), 5);
    /// ```
    #[inline]
    pub const fn failures_threshold(&self) -> u32 {
        self.failures
    }

    /// How long the breaker stays open before trial calls.
    ///
    /// ```
    /// use failfast_runtime::BreakerConfig;
    /// use std::time::Duration;
    ///
    /// assert_eq!(BreakerConfig::new().reset_after(), Duration::from_secs(60));
    /// ```
    #[inline]
    pub const fn reset_after(&self) -> Duration {
        self.reset
    }

    /// The number of trial calls per half-open spell.
    ///
    /// ```
    /// use failfast_runtime::BreakerConfig;
    ///
    /// assert_eq!(BreakerConfig::new().probe_count(), 1);
    /// ```
    #[inline]
    pub const fn probe_count(&self) -> u32 {
        self.probes
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "failures must be at least 1")]
    fn zero_failures_panics() {
        let _ = BreakerConfig::new().failures(0);
    }

    #[test]
    #[should_panic(expected = "probes must be at least 1")]
    fn zero_probes_panics() {
        let _ = BreakerConfig::new().probes(0);
    }
}
