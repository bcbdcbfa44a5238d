//! How long to wait between attempts: exponential backoff with jitter (the formulas
//! are on [`Jitter`]).

use std::cell::RefCell;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::clock::nanos;

thread_local! {
    /// Set by [`seed_jitter`]: where this thread's jitter generators come from.
    static SEEDED: RefCell<Option<SmallRng>> = const { RefCell::new(None) };
}

/// Makes this thread's random waits reproducible: from now on, every [`Backoff::new`] on
/// this thread (the jitter of every retry) and every jittered reopen of a breaker with
/// `reset_max` draws from generators seeded, in turn, from one seeded with `seed`.
///
/// For simulations and tests on a current-thread runtime, where the same seed must give
/// the same run. Other threads are unaffected; a later call starts the sequence again.
///
/// ```
/// use failfast_runtime::{Backoff, RetryPolicy, seed_jitter};
///
/// let waits = || Backoff::new(&RetryPolicy::new().attempts(5)).collect::<Vec<_>>();
/// seed_jitter(7);
/// let first = waits();
/// seed_jitter(7);
/// assert_eq!(waits(), first);
/// ```
pub fn seed_jitter(seed: u64) {
    SEEDED.set(Some(SmallRng::seed_from_u64(seed)));
}

/// A generator for one retried call's jitter (or one reopen): from this thread's seeded
/// sequence when [`seed_jitter`] was called, else from the thread's RNG.
pub(crate) fn jitter_rng() -> SmallRng {
    SEEDED.with_borrow_mut(|seeded| match seeded {
        Some(source) => SmallRng::from_rng(source),
        None => SmallRng::from_rng(&mut rand::rng()),
    })
}

/// How a wait is randomised. The schemes of AWS's "Exponential Backoff and Jitter". With
/// `exp(n) = min(max_delay, delay * factor^n)` (n = 0 before the first retry):
///
/// | scheme | wait before retry n+1 | mean |
/// |---|---|---|
/// | `None` | `exp(n)` | `exp(n)` |
/// | `Full` | uniform in `[0, exp(n)]` | `exp(n) / 2` |
/// | `Equal` | `exp(n)/2` + uniform in `[0, exp(n)/2]` | `3 exp(n) / 4` |
/// | `Decorrelated` | `min(max_delay, uniform in [delay, 3 * previous wait])`, the first "previous" being `delay` | |
///
/// Jitter spreads the retries of many clients that failed together, so they do not come
/// back together. `Decorrelated` ignores `factor`: its growth comes from the `3 *`.
///
/// ```
/// use failfast_runtime::{Jitter, RetryPolicy};
///
/// let policy = RetryPolicy::new().jitter(Jitter::Equal);
/// assert_eq!(policy.jitter_scheme(), Jitter::Equal);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Jitter {
    /// Uniform between zero and the exponential wait.
    Full,
    /// Half the exponential wait, plus uniform up to the other half.
    Equal,
    /// Uniform between `delay` and three times the previous wait, capped.
    Decorrelated,
    /// Exactly the exponential wait.
    None,
}

/// How to retry: how many attempts, how long to wait between them, and for how long in
/// total. The builders are `const`.
///
/// ```
/// use failfast_runtime::{Jitter, RetryPolicy};
/// use std::time::Duration;
///
/// const FETCH: RetryPolicy = RetryPolicy::new()
///     .attempts(5)
///     .delay(Duration::from_millis(50))
///     .factor(3.0)
///     .max_delay(Duration::from_secs(2))
///     .jitter(Jitter::Decorrelated)
///     .deadline(Duration::from_secs(10));
/// assert_eq!(FETCH.max_attempts(), 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    attempts: u32,
    delay: Duration,
    factor: f64,
    max_delay: Duration,
    jitter: Jitter,
    deadline: Option<Duration>,
}

impl RetryPolicy {
    /// The defaults: 3 attempts, 100 ms first wait, factor 2, waits capped at 10 s, full
    /// jitter, no deadline.
    ///
    /// ```
    /// use failfast_runtime::{Jitter, RetryPolicy};
    ///
    /// assert_eq!(RetryPolicy::new().jitter_scheme(), Jitter::Full);
    /// assert_eq!(RetryPolicy::new(), RetryPolicy::default());
    /// ```
    #[inline]
    pub const fn new() -> Self {
        RetryPolicy {
            attempts: 3,
            delay: Duration::from_millis(100),
            factor: 2.0,
            max_delay: Duration::from_secs(10),
            jitter: Jitter::Full,
            deadline: None,
        }
    }

    /// Total tries, the first included.
    ///
    /// # Panics
    /// When `n` is zero: the call has to be tried at least once.
    ///
    /// ```
    /// use failfast_runtime::RetryPolicy;
    ///
    /// assert_eq!(RetryPolicy::new().attempts(1).max_attempts(), 1);
    /// ```
    #[inline]
    pub const fn attempts(self, n: u32) -> Self {
        assert!(
            n >= 1,
            "attempts must be at least 1: it counts the first try too"
        );
        RetryPolicy {
            attempts: n,
            ..self
        }
    }

    /// The wait before the first retry.
    ///
    /// ```
    /// use failfast_runtime::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// let policy = RetryPolicy::new().delay(Duration::from_secs(1));
    /// assert_eq!(policy.first_delay(), Duration::from_secs(1));
    /// ```
    #[inline]
    pub const fn delay(self, d: Duration) -> Self {
        RetryPolicy { delay: d, ..self }
    }

    /// How much each wait grows over the previous one; 1.0 waits the same every time.
    ///
    /// # Panics
    /// When `f` is below 1.0 or NaN: waits that shrink would hammer a struggling service.
    ///
    /// ```
    /// use failfast_runtime::RetryPolicy;
    ///
    /// assert_eq!(RetryPolicy::new().factor(1.5).growth_factor(), 1.5);
    /// ```
    #[inline]
    pub const fn factor(self, f: f64) -> Self {
        assert!(
            f >= 1.0,
            "factor must be at least 1.0: waits that shrink would hammer a struggling service"
        );
        RetryPolicy { factor: f, ..self }
    }

    /// The longest single wait.
    ///
    /// ```
    /// use failfast_runtime::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// let policy = RetryPolicy::new().max_delay(Duration::from_secs(1));
    /// assert_eq!(policy.delay_cap(), Duration::from_secs(1));
    /// ```
    #[inline]
    pub const fn max_delay(self, d: Duration) -> Self {
        RetryPolicy {
            max_delay: d,
            ..self
        }
    }

    /// The jitter scheme.
    ///
    /// ```
    /// use failfast_runtime::{Jitter, RetryPolicy};
    ///
    /// assert_eq!(RetryPolicy::new().jitter(Jitter::None).jitter_scheme(), Jitter::None);
    /// ```
    #[inline]
    pub const fn jitter(self, j: Jitter) -> Self {
        RetryPolicy { jitter: j, ..self }
    }

    /// Give up once the next wait would end more than `d` after the first attempt began.
    ///
    /// ```
    /// use failfast_runtime::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// let policy = RetryPolicy::new().deadline(Duration::from_secs(30));
    /// assert_eq!(policy.total_deadline(), Some(Duration::from_secs(30)));
    /// ```
    #[inline]
    pub const fn deadline(self, d: Duration) -> Self {
        RetryPolicy {
            deadline: Some(d),
            ..self
        }
    }

    /// Total tries, the first included.
    ///
    /// ```
    /// use failfast_runtime::RetryPolicy;
    ///
    /// assert_eq!(RetryPolicy::new().max_attempts(), 3);
    /// ```
    #[inline]
    pub const fn max_attempts(&self) -> u32 {
        self.attempts
    }

    /// The wait before the first retry.
    ///
    /// ```
    /// use failfast_runtime::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// assert_eq!(RetryPolicy::new().first_delay(), Duration::from_millis(100));
    /// ```
    #[inline]
    pub const fn first_delay(&self) -> Duration {
        self.delay
    }

    /// The growth of the wait per retry.
    ///
    /// ```
    /// use failfast_runtime::RetryPolicy;
    ///
    /// assert_eq!(RetryPolicy::new().growth_factor(), 2.0);
    /// ```
    #[inline]
    pub const fn growth_factor(&self) -> f64 {
        self.factor
    }

    /// The longest single wait.
    ///
    /// ```
    /// use failfast_runtime::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// assert_eq!(RetryPolicy::new().delay_cap(), Duration::from_secs(10));
    /// ```
    #[inline]
    pub const fn delay_cap(&self) -> Duration {
        self.max_delay
    }

    /// The jitter scheme.
    ///
    /// ```
    /// use failfast_runtime::{Jitter, RetryPolicy};
    ///
    /// assert_eq!(RetryPolicy::new().jitter_scheme(), Jitter::Full);
    /// ```
    #[inline]
    pub const fn jitter_scheme(&self) -> Jitter {
        self.jitter
    }

    /// The total time budget, if any.
    ///
    /// ```
    /// use failfast_runtime::RetryPolicy;
    ///
    /// assert_eq!(RetryPolicy::new().total_deadline(), None);
    /// ```
    #[inline]
    pub const fn total_deadline(&self) -> Option<Duration> {
        self.deadline
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::new()
    }
}

/// The waits of one retried call: an iterator of the wait before retry 1, 2, ...,
/// `attempts - 1` (then `None`: no attempts left).
///
/// ```
/// use failfast_runtime::{Backoff, Jitter, RetryPolicy};
/// use std::time::Duration;
///
/// let policy = RetryPolicy::new().attempts(4).jitter(Jitter::None);
/// let waits: Vec<Duration> = Backoff::new(&policy).collect();
/// assert_eq!(waits, [100, 200, 400].map(Duration::from_millis));
/// ```
#[derive(Debug, Clone)]
pub struct Backoff<R: Rng = SmallRng> {
    policy: RetryPolicy,
    rng: R,
    /// Waits handed out so far.
    retries: u32,
    /// The last wait, for decorrelated jitter.
    previous: Duration,
}

impl Backoff {
    /// Waits for `policy`, with a small fast generator seeded from the thread's RNG (or
    /// from the sequence [`seed_jitter`] set).
    ///
    /// ```
    /// use failfast_runtime::{Backoff, RetryPolicy};
    /// use std::time::Duration;
    ///
    /// let first = Backoff::new(&RetryPolicy::new()).next().unwrap();
    /// assert!(first <= Duration::from_millis(100));
    /// ```
    pub fn new(policy: &RetryPolicy) -> Self {
        Backoff::with_rng(policy, jitter_rng())
    }
}

impl<R: Rng> Backoff<R> {
    /// Waits for `policy`, drawing jitter from `rng` (seed it for reproducible waits).
    ///
    /// ```
    /// use failfast_runtime::{Backoff, RetryPolicy};
    /// use rand::{rngs::SmallRng, SeedableRng};
    ///
    /// let policy = RetryPolicy::new();
    /// let a: Vec<_> = Backoff::with_rng(&policy, SmallRng::seed_from_u64(7)).collect();
    /// let b: Vec<_> = Backoff::with_rng(&policy, SmallRng::seed_from_u64(7)).collect();
    /// assert_eq!(a, b);
    /// ```
    pub fn with_rng(policy: &RetryPolicy, rng: R) -> Self {
        Backoff {
            policy: *policy,
            rng,
            retries: 0,
            previous: policy.first_delay(),
        }
    }

    /// `min(max_delay, delay * factor^n)`, computed in f64 nanoseconds: overflow becomes
    /// infinity, which the `as` cast saturates to `u64::MAX` before the cap applies.
    fn exponential(&self, n: u32) -> Duration {
        let delay = nanos(self.policy.first_delay()) as f64;
        let scaled = delay * self.policy.growth_factor().powf(f64::from(n));
        // `as` saturates, and maps the NaN of 0 * infinity to 0, which is right here.
        Duration::from_nanos(scaled as u64).min(self.policy.delay_cap())
    }

    /// Uniform in `[low, high]`.
    fn uniform(&mut self, low: Duration, high: Duration) -> Duration {
        Duration::from_nanos(self.rng.random_range(nanos(low)..=nanos(high)))
    }
}

impl<R: Rng> Iterator for Backoff<R> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.retries >= self.policy.max_attempts() - 1 {
            return None;
        }
        let exp = self.exponential(self.retries);
        let wait = match self.policy.jitter_scheme() {
            Jitter::None => exp,
            Jitter::Full => self.uniform(Duration::ZERO, exp),
            Jitter::Equal => {
                let half = exp / 2;
                half + self.uniform(Duration::ZERO, half)
            }
            Jitter::Decorrelated => {
                let low = self.policy.first_delay();
                let high = self.previous.saturating_mul(3).max(low);
                self.uniform(low, high).min(self.policy.delay_cap())
            }
        };
        self.previous = wait;
        self.retries += 1;
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_saturates_for_huge_exponents() {
        let policy = RetryPolicy::new().attempts(u32::MAX);
        let backoff = Backoff::new(&policy);
        assert_eq!(backoff.exponential(u32::MAX), Duration::from_secs(10));
        assert_eq!(backoff.exponential(0), Duration::from_millis(100));
        let uncapped = Backoff::new(&policy.max_delay(Duration::MAX));
        assert_eq!(
            uncapped.exponential(u32::MAX),
            Duration::from_nanos(u64::MAX)
        );
    }

    #[test]
    fn zero_delay_stays_zero() {
        let policy = RetryPolicy::new().delay(Duration::ZERO);
        assert_eq!(Backoff::new(&policy).exponential(u32::MAX), Duration::ZERO);
    }

    #[test]
    #[should_panic(expected = "factor must be at least 1.0")]
    fn factor_below_one_panics() {
        let _ = RetryPolicy::new().factor(0.5);
    }

    #[test]
    #[should_panic(expected = "attempts must be at least 1")]
    fn zero_attempts_panics() {
        let _ = RetryPolicy::new().attempts(0);
    }
}
