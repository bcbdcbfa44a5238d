//! The settings of one breaker.

use std::time::Duration;

/// The sliding window a failure-rate or slow-call policy judges its ratios over.
///
/// - `Calls(n)`: the outcomes of the last `n` calls made while closed.
/// - `Time(d)`: the outcomes of the calls that ended in the last `d`, kept in buckets of
///   `min(1s, d/10)` (wider for windows over about 68 minutes, so there are never more
///   than 4096 buckets). An outcome leaves the window when its bucket does: `d` after the
///   bucket began, so it counts for between `d` minus one bucket and `d`. The buckets are
///   counted from the moment the breaker was made.
///
/// ```
/// use failfast_runtime::{BreakerConfig, Window};
/// use std::time::Duration;
///
/// let last_minute = BreakerConfig::new()
///     .failure_rate(0.5)
///     .window(Window::Time(Duration::from_secs(60)));
/// assert_eq!(last_minute.window_kind(), Window::Time(Duration::from_secs(60)));
/// assert_eq!(BreakerConfig::new().window_kind(), Window::Calls(100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Window {
    /// The last this many calls.
    Calls(u32),
    /// The calls that ended within this much time.
    Time(Duration),
}

/// Whether a breaker rejects calls ([`Enforce`](Mode::Enforce), the default) or only
/// watches ([`Observe`](Mode::Observe), Resilience4j's `METRICS_ONLY`).
///
/// In observe mode the breaker records outcomes, changes state and reports (metrics,
/// listeners, tracing) as usual, but never rejects a call. State by state:
/// - **Closed**: as in enforce mode: outcomes feed the policy, which opens the breaker.
/// - **Open**: a call that would be rejected runs anyway. It counts as a rejection in
///   [`Metrics::rejections`](crate::Metrics::rejections), and its outcome in `successes`,
///   `failures` and `slow_calls` (it counts once in `calls`), but it is not fed to the
///   policy. Once `reset` has elapsed, the next call moves the breaker to HalfOpen as
///   the trial call, exactly as in enforce mode.
/// - **HalfOpen**: `probes` trial calls decide, as in enforce mode (all succeed: Closed;
///   one fails: Open, for a longer time with `reset_max`); the calls beyond the probes
///   run like the rejected calls of the Open state.
/// - **ForcedOpen**: calls run as in Open, counted as rejections; switch to enforce mode
///   to stop traffic by hand.
/// - **Disabled**: every call passes, as in enforce mode.
///
/// So an observed breaker cycles Closed, Open, HalfOpen, Closed exactly as an enforcing
/// one would, which is what a roll-out needs to see. Switch at run time with
/// [`Breaker::set_mode`](crate::Breaker::set_mode).
///
/// ```
/// use failfast_runtime::{Breaker, BreakerConfig, Error, Mode, State};
///
/// let breaker = Breaker::new("dry_run", BreakerConfig::new().failures(1).mode(Mode::Observe));
/// let _ = breaker.call(|| Err::<(), _>(Error::Timeout { after: Default::default() }));
/// assert_eq!(breaker.state(), State::Open);
/// // Would be rejected, runs anyway.
/// assert_eq!(breaker.call(|| Ok::<_, Error>(7)), Ok(7));
/// assert_eq!(breaker.metrics().rejections, 1);
/// ```
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "kebab-case")
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Reject calls while open (the default).
    #[default]
    Enforce,
    /// Never reject: record, transition and report only.
    Observe,
}

impl Mode {
    pub(crate) const fn to_bits(self) -> u8 {
        match self {
            Mode::Enforce => 0,
            Mode::Observe => 1,
        }
    }

    pub(crate) const fn from_bits(bits: u8) -> Mode {
        match bits {
            0 => Mode::Enforce,
            _ => Mode::Observe,
        }
    }
}

/// How a breaker opens and recovers.
///
/// Two policies decide when a closed breaker opens:
/// - **consecutive failures** (the default): open after [`failures`](Self::failures)
///   failures in a row. The cheapest: a closed breaker's success costs a few
///   nanoseconds, with no clock read and no lock.
/// - **failure rate**: [`failure_rate`](Self::failure_rate) selects it (and `failures` is
///   then ignored): open once the [`window`](Self::window) holds at least
///   [`min_calls`](Self::min_calls) outcomes and failures / outcomes `>=` the rate.
///
/// Either can also watch slow calls: [`slow`](Self::slow) sets what "slow" means and
/// [`slow_rate`](Self::slow_rate) opens the breaker when the slow ratio over the window
/// (with `min_calls`) reaches it.
///
/// Once open, the breaker stays open for [`reset`](Self::reset) (growing up to
/// [`reset_max`](Self::reset_max) on repeated failed trials), then lets
/// [`probes`](Self::probes) trial calls through; a trial that has not reported after
/// [`probe_timeout`](Self::probe_timeout) counts as failed. [`mode`](Self::mode) picks
/// between enforcing and only observing.
///
/// The builders are `const`, so a configuration can live in a `const` or `static`; an
/// invalid value panics (at compile time in a `const`).
///
/// ```
/// use failfast_runtime::{BreakerConfig, Window};
/// use std::time::Duration;
///
/// const SALES: BreakerConfig = BreakerConfig::new()
///     .failures(3)
///     .reset(Duration::from_secs(30))
///     .probes(2)
///     .probe_timeout(Duration::from_secs(10));
/// assert_eq!(SALES.failures_threshold(), 3);
/// assert_eq!(SALES.reset_after(), Duration::from_secs(30));
/// assert_eq!(SALES.probe_count(), 2);
///
/// const SEARCH: BreakerConfig = BreakerConfig::new()
///     .failure_rate(0.5)
///     .window(Window::Calls(50))
///     .min_calls(20)
///     .slow(Duration::from_secs(2))
///     .slow_rate(0.8)
///     .reset_max(Duration::from_secs(600));
/// assert_eq!(SEARCH.failure_rate_threshold(), Some(0.5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    failures: u32,
    reset: Duration,
    probes: u32,
    failure_rate: Option<f64>,
    window: Window,
    min_calls: u32,
    slow: Option<Duration>,
    slow_rate: Option<f64>,
    reset_max: Option<Duration>,
    /// `None`: the same as `reset`.
    probe_timeout: Option<Duration>,
    mode: Mode,
}

/// True when `rate` lies in (0, 1] (false for NaN).
const fn valid_rate(rate: f64) -> bool {
    rate > 0.0 && rate <= 1.0
}

impl BreakerConfig {
    /// The defaults: 5 consecutive failures, 60 s reset, 1 probe with a probe timeout
    /// equal to the reset, enforce mode; for the window policies, a window of the last
    /// 100 calls and 10 minimum calls.
    ///
    /// ```
    /// use failfast_runtime::{BreakerConfig, Mode};
    ///
    /// assert_eq!(BreakerConfig::new(), BreakerConfig::default());
    /// assert_eq!(BreakerConfig::new().failures_threshold(), 5);
    /// assert_eq!(BreakerConfig::new().min_calls_count(), 10);
    /// assert_eq!(BreakerConfig::new().initial_mode(), Mode::Enforce);
    /// ```
    #[inline]
    pub const fn new() -> Self {
        BreakerConfig {
            failures: 5,
            reset: Duration::from_secs(60),
            probes: 1,
            failure_rate: None,
            window: Window::Calls(100),
            min_calls: 10,
            slow: None,
            slow_rate: None,
            reset_max: None,
            probe_timeout: None,
            mode: Mode::Enforce,
        }
    }

    /// Open after `n` consecutive failures (the default policy, unless
    /// [`failure_rate`](Self::failure_rate) is set).
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

    /// A trial call that has not reported `d` after it was let through counts as failed,
    /// so a hung trial (a thread stuck in the call, a future that is never polled to its
    /// end and never dropped) cannot hold the breaker half-open forever. Default: the
    /// [`reset`](Self::reset) time, whatever it is set to.
    ///
    /// Nothing runs in the background: the first thing the breaker hears after that
    /// moment reopens it (reason [`ProbeTimedOut`](crate::Reason::ProbeTimedOut)) for its
    /// open time from then, as a failed trial would (doubling it with
    /// [`reset_max`](Self::reset_max)). That is a call asking for a permit, which is then
    /// rejected, or the report of a trial of the same spell, the overdue one included,
    /// which then decides nothing else. Once the open time is over a new trial runs. The
    /// overdue call itself is not stopped: its outcome counts in the
    /// [metrics](crate::Metrics) as the success or failure it was when it comes, and
    /// changes no state once its spell is over.
    ///
    /// # Panics
    /// When `d` is zero: every trial would count as failed as soon as another call asked.
    ///
    /// ```
    /// use failfast_runtime::BreakerConfig;
    /// use std::time::Duration;
    ///
    /// let config = BreakerConfig::new().reset(Duration::from_secs(30));
    /// assert_eq!(config.probe_timeout_after(), Duration::from_secs(30));
    /// let config = config.probe_timeout(Duration::from_secs(5));
    /// assert_eq!(config.probe_timeout_after(), Duration::from_secs(5));
    /// ```
    #[inline]
    pub const fn probe_timeout(self, d: Duration) -> Self {
        assert!(
            !d.is_zero(),
            "probe_timeout must be longer than 0s: every trial call would count as failed as soon as another call asked"
        );
        BreakerConfig {
            probe_timeout: Some(d),
            ..self
        }
    }

    /// Use the failure-rate policy instead of consecutive failures: open once the
    /// [`window`](Self::window) holds at least [`min_calls`](Self::min_calls) outcomes
    /// and failures / outcomes `>= rate` (exactly `rate` opens it). The ratio is computed
    /// as an `f64` division, so `3` failures in `10` calls reach a rate written `0.3`.
    ///
    /// Recording an outcome in the window takes a short lock of this breaker's own (never
    /// a global one) and allocates nothing: the window is allocated with the breaker.
    ///
    /// # Panics
    /// When `rate` is not in (0, 1].
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig, Error, State};
    ///
    /// let config = BreakerConfig::new().failure_rate(0.5).min_calls(4);
    /// let breaker = Breaker::new("rated", config);
    /// let down = || Err::<(), _>(Error::Timeout { after: Default::default() });
    /// let _ = breaker.call(|| Ok::<_, Error>(()));
    /// let _ = breaker.call(down);
    /// let _ = breaker.call(|| Ok::<_, Error>(()));
    /// assert_eq!(breaker.state(), State::Closed, "3 calls: below min_calls");
    /// let _ = breaker.call(down);
    /// assert_eq!(breaker.state(), State::Open, "2 failures in 4 calls: 0.5");
    /// ```
    #[inline]
    pub const fn failure_rate(self, rate: f64) -> Self {
        assert!(
            valid_rate(rate),
            "failure_rate must be in (0, 1]: the share of failed calls that opens the breaker"
        );
        BreakerConfig {
            failure_rate: Some(rate),
            ..self
        }
    }

    /// The window the failure rate and the slow-call rate are judged over: the last N
    /// calls, or the calls of the last `d` (see [`Window`]). Default: the last 100 calls.
    ///
    /// # Panics
    /// When the window is empty: `Calls(0)` or `Time(Duration::ZERO)`.
    ///
    /// ```
    /// use failfast_runtime::{BreakerConfig, Window};
    /// use std::time::Duration;
    ///
    /// let config = BreakerConfig::new().failure_rate(0.2).window(Window::Calls(20));
    /// assert_eq!(config.window_kind(), Window::Calls(20));
    /// ```
    #[inline]
    pub const fn window(self, window: Window) -> Self {
        match window {
            Window::Calls(n) => assert!(n > 0, "window must hold at least 1 call"),
            Window::Time(d) => assert!(!d.is_zero(), "window must span more than 0s"),
        }
        BreakerConfig { window, ..self }
    }

    /// How many outcomes the window must hold before a ratio can open the breaker
    /// (default 10). Below it nothing opens, even at 100% failures. With a
    /// `Window::Calls(n)` smaller than this, `n` is the minimum (a full window always
    /// counts, as in Resilience4j); zero means one.
    ///
    /// ```
    /// use failfast_runtime::BreakerConfig;
    ///
    /// assert_eq!(BreakerConfig::new().min_calls(20).min_calls_count(), 20);
    /// ```
    #[inline]
    pub const fn min_calls(self, n: u32) -> Self {
        BreakerConfig {
            min_calls: n,
            ..self
        }
    }

    /// A call that takes longer than `threshold` (strictly), success or failure, is slow:
    /// counted in [`Metrics::slow_calls`](crate::Metrics::slow_calls), and toward
    /// [`slow_rate`](Self::slow_rate) if that is set. Timing a call reads the clock when
    /// it starts and when it ends, so a breaker with `slow` set leaves the clock-free
    /// fast path.
    ///
    /// While half-open with `slow_rate` set, a slow trial call counts as a failed one: it
    /// shows the dependency has not recovered.
    ///
    /// ```
    /// use failfast_runtime::BreakerConfig;
    /// use std::time::Duration;
    ///
    /// let config = BreakerConfig::new().slow(Duration::from_secs(2));
    /// assert_eq!(config.slow_threshold(), Some(Duration::from_secs(2)));
    /// ```
    #[inline]
    pub const fn slow(self, threshold: Duration) -> Self {
        BreakerConfig {
            slow: Some(threshold),
            ..self
        }
    }

    /// Open the breaker when the share of slow calls (see [`slow`](Self::slow)) over the
    /// [`window`](Self::window) reaches `rate` (`>=`), once the window holds
    /// [`min_calls`](Self::min_calls) outcomes. Works with either failure policy; without
    /// `slow` no call is slow and it never fires.
    ///
    /// # Panics
    /// When `rate` is not in (0, 1].
    ///
    /// ```
    /// use failfast_runtime::BreakerConfig;
    /// use std::time::Duration;
    ///
    /// let config = BreakerConfig::new().slow(Duration::from_secs(2)).slow_rate(0.8);
    /// assert_eq!(config.slow_rate_threshold(), Some(0.8));
    /// ```
    #[inline]
    pub const fn slow_rate(self, rate: f64) -> Self {
        assert!(
            valid_rate(rate),
            "slow_rate must be in (0, 1]: the share of slow calls that opens the breaker"
        );
        BreakerConfig {
            slow_rate: Some(rate),
            ..self
        }
    }

    /// Each time the breaker reopens straight from half-open (a trial call failed), its
    /// open time doubles, up to `max`, and is jittered (uniform in 80%..100% of the
    /// doubled value, so a fleet does not retry in step). A close (or `reset()`) brings
    /// it back to [`reset`](Self::reset). Off unless set, and off when `max` is not
    /// above `reset`.
    ///
    /// ```
    /// use failfast_runtime::BreakerConfig;
    /// use std::time::Duration;
    ///
    /// let config = BreakerConfig::new()
    ///     .reset(Duration::from_secs(10))
    ///     .reset_max(Duration::from_secs(600));
    /// assert_eq!(config.reset_ceiling(), Some(Duration::from_secs(600)));
    /// ```
    #[inline]
    pub const fn reset_max(self, max: Duration) -> Self {
        BreakerConfig {
            reset_max: Some(max),
            ..self
        }
    }

    /// Enforce (the default) or only observe; see [`Mode`]. Changeable at run time with
    /// [`Breaker::set_mode`](crate::Breaker::set_mode).
    ///
    /// ```
    /// use failfast_runtime::{BreakerConfig, Mode};
    ///
    /// assert_eq!(BreakerConfig::new().mode(Mode::Observe).initial_mode(), Mode::Observe);
    /// ```
    #[inline]
    pub const fn mode(self, mode: Mode) -> Self {
        BreakerConfig { mode, ..self }
    }

    /// The number of consecutive failures that opens the breaker (unused when a
    /// failure rate is set).
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

    /// How long the breaker stays open before trial calls (the first time, and always
    /// without [`reset_max`](Self::reset_max)).
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

    /// How long a trial call may run before it counts as failed: the
    /// [`probe_timeout`](Self::probe_timeout) if one was set, else the
    /// [`reset`](Self::reset) time.
    ///
    /// ```
    /// use failfast_runtime::BreakerConfig;
    /// use std::time::Duration;
    ///
    /// assert_eq!(BreakerConfig::new().probe_timeout_after(), Duration::from_secs(60));
    /// ```
    #[inline]
    pub const fn probe_timeout_after(&self) -> Duration {
        match self.probe_timeout {
            Some(d) => d,
            None => self.reset,
        }
    }

    /// The failure ratio that opens the breaker, when the failure-rate policy is chosen.
    ///
    /// ```
    /// use failfast_runtime::BreakerConfig;
    ///
    /// assert_eq!(BreakerConfig::new().failure_rate_threshold(), None);
    /// assert_eq!(BreakerConfig::new().failure_rate(0.25).failure_rate_threshold(), Some(0.25));
    /// ```
    #[inline]
    pub const fn failure_rate_threshold(&self) -> Option<f64> {
        self.failure_rate
    }

    /// The window the ratios are judged over.
    ///
    /// ```
    /// use failfast_runtime::{BreakerConfig, Window};
    ///
    /// assert_eq!(BreakerConfig::new().window_kind(), Window::Calls(100));
    /// ```
    #[inline]
    pub const fn window_kind(&self) -> Window {
        self.window
    }

    /// The minimum number of outcomes in the window before a ratio counts, as set.
    ///
    /// ```
    /// use failfast_runtime::BreakerConfig;
    ///
    /// assert_eq!(BreakerConfig::new().min_calls_count(), 10);
    /// ```
    #[inline]
    pub const fn min_calls_count(&self) -> u32 {
        self.min_calls
    }

    /// The duration a call must exceed to be slow, if slow calls are tracked.
    ///
    /// ```
    /// use failfast_runtime::BreakerConfig;
    ///
    /// assert_eq!(BreakerConfig::new().slow_threshold(), None);
    /// ```
    #[inline]
    pub const fn slow_threshold(&self) -> Option<Duration> {
        self.slow
    }

    /// The slow-call ratio that opens the breaker, if set.
    ///
    /// ```
    /// use failfast_runtime::BreakerConfig;
    ///
    /// assert_eq!(BreakerConfig::new().slow_rate_threshold(), None);
    /// ```
    #[inline]
    pub const fn slow_rate_threshold(&self) -> Option<f64> {
        self.slow_rate
    }

    /// The most the open time grows to on repeated failed trials, if it grows at all.
    ///
    /// ```
    /// use failfast_runtime::BreakerConfig;
    ///
    /// assert_eq!(BreakerConfig::new().reset_ceiling(), None);
    /// ```
    #[inline]
    pub const fn reset_ceiling(&self) -> Option<Duration> {
        self.reset_max
    }

    /// The mode a new breaker starts in.
    ///
    /// ```
    /// use failfast_runtime::{BreakerConfig, Mode};
    ///
    /// assert_eq!(BreakerConfig::new().initial_mode(), Mode::Enforce);
    /// ```
    #[inline]
    pub const fn initial_mode(&self) -> Mode {
        self.mode
    }

    /// True when the breaker measures its closed calls: records them in a window, or
    /// times them. The consecutive policy without `slow` keeps the lock-free, clock-free
    /// hot path instead.
    pub(crate) const fn measures_calls(&self) -> bool {
        self.failure_rate.is_some() || self.slow.is_some()
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

    #[test]
    #[should_panic(expected = "probe_timeout must be longer than 0s")]
    fn zero_probe_timeout_panics() {
        let _ = BreakerConfig::new().probe_timeout(Duration::ZERO);
    }

    #[test]
    fn the_probe_timeout_follows_reset_unless_set() {
        let reset = Duration::from_secs(7);
        let config = BreakerConfig::new().reset(reset);
        assert_eq!(config.probe_timeout_after(), reset);
        let set = Duration::from_secs(3);
        // Set before or after `reset`: it stays what was set.
        assert_eq!(config.probe_timeout(set).probe_timeout_after(), set);
        let earlier = BreakerConfig::new().probe_timeout(set).reset(reset);
        assert_eq!(earlier.probe_timeout_after(), set);
    }

    #[test]
    fn rates_in_range_are_accepted() {
        for rate in [f64::MIN_POSITIVE, 0.5, 1.0] {
            let config = BreakerConfig::new().failure_rate(rate).slow_rate(rate);
            assert_eq!(config.failure_rate_threshold(), Some(rate));
            assert_eq!(config.slow_rate_threshold(), Some(rate));
        }
    }

    #[test]
    fn rates_out_of_range_panic() {
        for rate in [0.0, -0.5, 1.0 + f64::EPSILON, 2.0, f64::NAN, f64::INFINITY] {
            let failure = std::panic::catch_unwind(|| BreakerConfig::new().failure_rate(rate));
            assert!(failure.is_err(), "failure_rate({rate}) was accepted");
            let slow = std::panic::catch_unwind(|| BreakerConfig::new().slow_rate(rate));
            assert!(slow.is_err(), "slow_rate({rate}) was accepted");
        }
    }

    #[test]
    #[should_panic(expected = "window must hold at least 1 call")]
    fn empty_count_window_panics() {
        let _ = BreakerConfig::new().window(Window::Calls(0));
    }

    #[test]
    #[should_panic(expected = "window must span more than 0s")]
    fn empty_time_window_panics() {
        let _ = BreakerConfig::new().window(Window::Time(Duration::ZERO));
    }

    #[test]
    fn the_config_stays_small_and_copy() {
        fn copy<T: Copy>() {}
        copy::<BreakerConfig>();
        assert!(std::mem::size_of::<BreakerConfig>() <= 128);
    }
}
