//! The right to make one call, and the duty to report how it went.

use std::fmt;
use std::mem::ManuallyDrop;

use crate::breaker::Breaker;

/// What kind of call a permit allows; decides where its outcome is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// A call through a closed breaker: its outcome feeds the policy.
    Closed,
    /// A half-open trial call: its outcome closes or reopens the breaker.
    Trial,
    /// A call that is counted in the metrics only: through a disabled breaker, or one
    /// that observe mode let run instead of rejecting it.
    Passthrough,
    /// A call through a closed breaker that measures its calls: its outcome goes to the
    /// window, and it is timed, as the breaker's config asks (see
    /// `BreakerConfig::measures_calls`).
    ClosedMeasured,
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
    /// The kind, the spell and, for timed calls, the start: one word, so a permit is two
    /// words and travels in registers (a third word makes copies of it, into a future or
    /// out of a `Result`, stall on store forwarding).
    ticket: Ticket,
}

const KIND_BITS: u32 = 2;
const KIND_MASK: u64 = (1 << KIND_BITS) - 1;
/// A timed ticket keeps the low bits of its spell's generation...
const SHORT_GENERATION_BITS: u32 = 14;
const SHORT_GENERATION_MASK: u64 = (1 << SHORT_GENERATION_BITS) - 1;
/// ...and the start of the call, in nanoseconds since the breaker was made, modulo
/// 2^48 ns (78 hours): calls are timed exactly up to that long.
const START_SHIFT: u32 = KIND_BITS + SHORT_GENERATION_BITS;
const START_MASK: u64 = (1 << (64 - START_SHIFT)) - 1;

/// A permit's kind and spell generation, packed in one word; for a breaker that times
/// its calls (`slow`), and for every trial call, the low bits of the generation and the
/// start time instead.
///
/// A timed ticket recovers its full generation from the breaker's current one (the
/// latest generation with the same low bits): exact unless 2^14 transitions happen
/// while the call runs, and then only that call's outcome may land in the wrong spell.
/// (Not a trial's: a trial also has to be on its spell's list of trials out, found by
/// its start, see `breaker/trials.rs`, so a hung trial that reports days later changes
/// nothing.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket(u64);

impl Ticket {
    /// An untimed ticket.
    #[inline]
    pub(crate) fn new(kind: Kind, generation: u64) -> Ticket {
        Ticket((generation << KIND_BITS) | kind as u64)
    }

    /// A timed ticket: `start` in nanoseconds since the breaker's epoch.
    pub(crate) fn timed(kind: Kind, generation: u64, start: u64) -> Ticket {
        Ticket(
            ((start & START_MASK) << START_SHIFT)
                | ((generation & SHORT_GENERATION_MASK) << KIND_BITS)
                | kind as u64,
        )
    }

    /// True for a closed call on the hot path. Tests the bits directly, so the hot path
    /// never decodes the kind (a four-way decode compiles to a jump table).
    #[inline]
    pub(crate) fn is_closed(self) -> bool {
        self.0 & KIND_MASK == Kind::Closed as u64
    }

    pub(crate) fn kind(self) -> Kind {
        match self.0 & KIND_MASK {
            0 => Kind::Closed,
            1 => Kind::Trial,
            2 => Kind::Passthrough,
            _ => Kind::ClosedMeasured,
        }
    }

    /// The spell generation of an untimed ticket.
    pub(crate) fn generation(self) -> u64 {
        self.0 >> KIND_BITS
    }

    /// The spell generation of a timed ticket, `current` being the breaker's: the
    /// latest one up to `current` with the ticket's low bits.
    pub(crate) fn timed_generation(self, current: u64) -> u64 {
        let low = (self.0 >> KIND_BITS) & SHORT_GENERATION_MASK;
        current.wrapping_sub(current.wrapping_sub(low) & SHORT_GENERATION_MASK)
    }

    /// Nanoseconds from a timed ticket's start to `now` (since the same epoch).
    pub(crate) fn elapsed(self, now: u64) -> u64 {
        now.wrapping_sub(self.0 >> START_SHIFT) & START_MASK
    }

    /// True when a timed ticket was stamped at `start` (since the same epoch), modulo
    /// 2^48 ns as it was stamped: how a trial is told from the others of its spell.
    pub(crate) fn began_at(self, start: u64) -> bool {
        self.0 >> START_SHIFT == start & START_MASK
    }
}

impl<'a> Permit<'a> {
    #[inline]
    pub(crate) fn new(breaker: &'a Breaker, ticket: Ticket) -> Permit<'a> {
        Permit { breaker, ticket }
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

    /// The call was cancelled, whatever this thread is doing: for a [`Guarded`] future
    /// dropped before it completed, maybe by a panic elsewhere unwinding through it.
    ///
    /// [`Guarded`]: crate::Guarded
    #[inline]
    pub(crate) fn cancel(self) {
        self.settle(Outcome::Cancelled);
    }

    /// Reports `outcome`; the permit is used up, so its `Drop` does not run.
    #[inline]
    fn settle(self, outcome: Outcome) {
        let permit = ManuallyDrop::new(self);
        permit.report(outcome);
    }

    #[inline]
    fn report(&self, outcome: Outcome) {
        self.breaker.settle(self.ticket, outcome);
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
            .field("trial", &(self.ticket.kind() == Kind::Trial))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untimed_tickets_round_trip() {
        for kind in [
            Kind::Closed,
            Kind::Trial,
            Kind::Passthrough,
            Kind::ClosedMeasured,
        ] {
            let ticket = Ticket::new(kind, 123_456_789);
            assert_eq!((ticket.kind(), ticket.generation()), (kind, 123_456_789));
            assert_eq!(ticket.is_closed(), kind == Kind::Closed);
        }
    }

    #[test]
    fn timed_tickets_recover_their_generation_and_time_the_call() {
        let ticket = Ticket::timed(Kind::ClosedMeasured, 70_000, 5_000);
        assert_eq!(ticket.kind(), Kind::ClosedMeasured);
        assert_eq!(ticket.timed_generation(70_000), 70_000);
        assert_eq!(
            ticket.timed_generation(70_003),
            70_000,
            "a stale permit stays stale"
        );
        assert_eq!(ticket.timed_generation(70_000 + (1 << 14) - 1), 70_000);
        assert_eq!(ticket.elapsed(5_000), 0);
        assert_eq!(ticket.elapsed(5_000 + 1_234_567_890), 1_234_567_890);
        // The start wraps after 2^48 ns; durations across the wrap are still exact.
        let late = Ticket::timed(Kind::Trial, 3, START_MASK - 10);
        assert_eq!(late.elapsed((START_MASK + 1) + 25), 36);
        assert_eq!(late.timed_generation(3), 3);
        assert!(late.began_at(START_MASK - 10));
        assert!(
            late.began_at((START_MASK + 1) * 2 + START_MASK - 10),
            "modulo 2^48 ns"
        );
        assert!(!late.began_at(START_MASK - 9));
    }
}
