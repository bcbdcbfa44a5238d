//! The right to make one call, and the duty to report how it went.

use std::fmt;
use std::mem::ManuallyDrop;

use crate::Breaker;

/// What kind of call a permit allows; decides where its outcome is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// A call through a closed breaker: its outcome feeds the policy.
    Closed,
    /// A half-open trial call: its outcome closes or reopens the breaker.
    Trial,
    /// A call through a disabled breaker: counted in the metrics only.
    Passthrough,
}

/// How a permitted call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Failure,
    /// Dropped without an outcome: the call was cancelled.
    Cancelled,
}

/// Permission to make one call, from [`Breaker::acquire`].
///
/// Report the outcome with [`success`](Self::success), [`failure`](Self::failure) or
/// [`record`](Self::record). Dropping it without doing so means:
/// - while the thread panics: a failure (a panicking call is a failed call);
/// - otherwise: the call was cancelled. Nothing is recorded, and a half-open trial slot
///   is given back so another trial can run.
///
/// A permit from an earlier spell (the breaker changed state since it was issued) does
/// not affect the current one. A permit leaked with `mem::forget` never gives its trial
/// slot back; `reset()` recovers such a breaker.
///
/// ```
/// use failfast_runtime::{Breaker, BreakerConfig};
///
/// let breaker = Breaker::new("db", BreakerConfig::new());
/// let permit = breaker.acquire()?;
/// let answer: Result<u32, std::io::Error> = Ok(42);
/// permit.record(&answer, |_| true);
/// assert_eq!(breaker.metrics().successes, 1);
/// # Ok::<(), failfast_runtime::Error>(())
/// ```
#[must_use = "a permit records the outcome of one call; drop it only to cancel the call"]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    /// The kind in the low two bits, the spell's generation above: two words in all, so a
    /// permit travels in registers.
    ticket: u64,
}

const KIND_BITS: u32 = 2;

impl<'a> Permit<'a> {
    #[inline]
    pub(crate) fn new(breaker: &'a Breaker, kind: Kind, generation: u64) -> Permit<'a> {
        Permit {
            breaker,
            ticket: (generation << KIND_BITS) | kind as u64,
        }
    }

    #[inline]
    fn kind(&self) -> Kind {
        match self.ticket & ((1 << KIND_BITS) - 1) {
            0 => Kind::Closed,
            1 => Kind::Trial,
            _ => Kind::Passthrough,
        }
    }

    /// The call succeeded.
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig};
    ///
    /// let breaker = Breaker::new("db", BreakerConfig::new());
    /// breaker.acquire().unwrap().success();
    /// assert_eq!(breaker.metrics().successes, 1);
    /// ```
    #[inline]
    pub fn success(self) {
        self.settle(Outcome::Success);
    }

    /// The call failed.
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig, State};
    ///
    /// let breaker = Breaker::new("db", BreakerConfig::new().failures(1));
    /// breaker.acquire().unwrap().failure();
    /// assert_eq!(breaker.state(), State::Open);
    /// ```
    #[inline]
    pub fn failure(self) {
        self.settle(Outcome::Failure);
    }

    /// Records `result`: `Ok`, or an `Err` for which `is_failure` says false, is a
    /// success; any other `Err` is a failure.
    ///
    /// ```
    /// use failfast_runtime::{Breaker, BreakerConfig};
    ///
    /// let breaker = Breaker::new("db", BreakerConfig::new());
    /// let not_found: Result<(), u16> = Err(404);
    /// breaker.acquire().unwrap().record(&not_found, |status| *status >= 500);
    /// assert_eq!(breaker.metrics().failures, 0);
    /// ```
    #[inline]
    pub fn record<T, E>(self, result: &Result<T, E>, is_failure: impl Fn(&E) -> bool) {
        match result {
            Err(e) if is_failure(e) => self.failure(),
            _ => self.success(),
        }
    }

    /// Reports `outcome`; the permit is used up, so its `Drop` does not run.
    #[inline]
    fn settle(self, outcome: Outcome) {
        let permit = ManuallyDrop::new(self);
        permit.report(outcome);
    }

    #[inline]
    fn report(&self, outcome: Outcome) {
        let generation = self.ticket >> KIND_BITS;
        self.breaker.settle(self.kind(), generation, outcome);
    }
}

impl Drop for Permit<'_> {
    /// Dropped without an outcome: a panic unwinding through the call, or a cancellation.
    fn drop(&mut self) {
        let outcome = if std::thread::panicking() {
            Outcome::Failure
        } else {
            Outcome::Cancelled
        };
        self.report(outcome);
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.name())
            .field("trial", &(self.kind() == Kind::Trial))
            .finish()
    }
}
