//! Retrying a call: the stepper that decides, and two loops built on it.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Instant;

use crate::backoff::{Backoff, RetryPolicy};
use crate::budget::{self, Budget};
use crate::clock;
use crate::error::Error;
use crate::telemetry;

/// What [`Retry::next`] tells the `on_retry` hook before a wait.
///
/// ```
/// use failfast_runtime::{Jitter, Retry, RetryPolicy};
///
/// let mut retry = Retry::new(&RetryPolicy::new().jitter(Jitter::None));
/// let failed: Result<(), &str> = Err("boom");
/// retry.next(&failed, false, |_| true, |_, info| {
///     assert_eq!(info.attempt, 1);
///     assert_eq!(info.delay.as_millis(), 100);
/// });
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryInfo {
    /// The attempt that just failed, 1-based.
    pub attempt: u32,
    /// The wait before the next attempt.
    pub delay: Duration,
}

/// An error that can say how long to wait before trying again: a `Retry-After` header,
/// a rate limiter's refill time, a `RESOURCE_EXHAUSTED` with retry info.
///
/// This is what `retry_after = path` usually points at: the attribute takes any
/// `fn(&E) -> Option<Duration>`, and a method of this trait is one
/// (`retry_after = MyError::retry_after` with the trait in scope, or
/// `retry_after = failfast::RetryAfter::retry_after`). With the runtime API, pass it as
/// [`Rules::retry_after`]. The wait it gives replaces the backoff's, capped at the policy's
/// `max_delay`, and the `deadline` still applies.
///
/// failfast's own [`Error`](crate::Error) implements it: an `Open` rejection waits until
/// the breaker lets a trial call through.
///
/// ```
/// use failfast_runtime::{Retry, RetryAfter, RetryPolicy, Rules};
/// use std::time::Duration;
///
/// #[derive(Debug)]
/// enum ApiError {
///     RateLimited { retry_after_secs: u64 },
///     Down,
/// }
///
/// impl RetryAfter for ApiError {
///     fn retry_after(&self) -> Option<Duration> {
///         match self {
///             ApiError::RateLimited { retry_after_secs } => Some(Duration::from_secs(*retry_after_secs)),
///             ApiError::Down => None,
///         }
///     }
/// }
///
/// let policy = RetryPolicy::new().max_delay(Duration::from_secs(5));
/// let mut retry = Retry::new(&policy).budget(None);
/// let limited: Result<(), ApiError> = Err(ApiError::RateLimited { retry_after_secs: 3 });
/// let rules = Rules {
///     retry_if: |_: &ApiError| true,
///     retry_if_ok: |_: &()| false,
///     retry_after: ApiError::retry_after,
///     on_retry: |_: &ApiError, _: &_| {},
/// };
/// assert_eq!(retry.next_with(&limited, false, rules), Some(Duration::from_secs(3)));
/// ```
pub trait RetryAfter {
    /// How long to wait before the next attempt; `None` leaves it to the backoff.
    fn retry_after(&self) -> Option<Duration>;
}

// Spelt `crate::Error`: tests/ui/retry_after_without_impl.stderr quotes this line.
impl RetryAfter for crate::Error {
    /// An `Open` rejection: the time until the breaker lets a trial call through.
    ///
    /// ```
    /// use failfast_runtime::{Error, RetryAfter};
    /// use std::time::Duration;
    ///
    /// let open = Error::Open { name: "db".into(), retry_after: Duration::from_secs(7) };
    /// assert_eq!(open.retry_after(), Some(Duration::from_secs(7)));
    /// assert_eq!(Error::Timeout { after: Duration::from_secs(1) }.retry_after(), None);
    /// ```
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Open { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// What [`Retry::next_with`] asks about a result: which errors and which `Ok` values to
/// retry, how long an error says to wait, and what to call before each wait.
///
/// ```
/// use failfast_runtime::{Jitter, Retry, RetryPolicy, Rules};
///
/// // An HTTP client returns Ok(status) for every response: retry the 503s.
/// let mut retry = Retry::new(&RetryPolicy::new().attempts(2).jitter(Jitter::None)).budget(None);
/// let rules = || Rules {
///     retry_if: |_: &std::io::Error| true,
///     retry_if_ok: |status: &u16| *status == 503,
///     retry_after: |_: &std::io::Error| None,
///     on_retry: |_: &std::io::Error, _: &_| {},
/// };
/// let unavailable: Result<u16, std::io::Error> = Ok(503);
/// assert!(retry.next_with(&unavailable, false, rules()).is_some());
/// // Attempts used up: the caller returns the last Ok(503) as it is.
/// assert_eq!(retry.next_with(&unavailable, false, rules()), None);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Rules<RI, RO, RA, H> {
    /// `fn(&E) -> bool`: retry this error? (`|_| true`: every error.)
    pub retry_if: RI,
    /// `fn(&T) -> bool`: retry this `Ok` value too? (`|_| false`: never.) `on_retry` is
    /// not called for these retries (it takes an error); when the attempts run out the
    /// last value is returned as it is.
    pub retry_if_ok: RO,
    /// `fn(&E) -> Option<Duration>`: the wait the error asks for (see [`RetryAfter`]),
    /// used instead of the backoff's, capped at `max_delay`; `None`: the backoff's wait.
    pub retry_after: RA,
    /// `fn(&E, &RetryInfo)`: called before each wait after an error.
    pub on_retry: H,
}

/// The retry decision for one call, attempt after attempt.
///
/// Run the operation, hand the result to [`next`](Self::next) (or
/// [`next_with`](Self::next_with)), sleep the returned wait and go again, until it
/// returns `None`. It does no sleeping itself, so the same stepper serves sync code,
/// async code and the attribute macros.
///
/// ```
/// use failfast_runtime::{Retry, RetryPolicy};
///
/// let mut retry = Retry::new(&RetryPolicy::new().attempts(3));
/// let mut tries = 0;
/// let result = loop {
///     tries += 1;
///     let result: Result<u32, &str> = if tries < 3 { Err("flaky") } else { Ok(7) };
///     match retry.next(&result, false, |_| true, |_, _| {}) {
///         Some(_wait) => {} // std::thread::sleep(_wait) in real code
///         None => break result,
///     }
/// };
/// assert_eq!((result, tries), (Ok(7), 3));
/// ```
///
/// # Budget
/// Every retry draws from a [`Budget`]: the process-wide
/// [default](crate::Registry::default_budget) (ratio 0.2, floor 10/s) unless
/// [`budget`](Self::budget) names another or none. The first attempt deposits (when it
/// ends: at the first `next`), each retry must withdraw a token, and when the budget is
/// empty the stepper stops: the caller returns the last result. So stacked or fanned-out retries cannot multiply the load on
/// a dependency that is down.
///
/// A retry loop that runs inside an attempt of another one drawing from the same budget
/// (run the attempts through [`scope`](Self::scope) or [`scope_async`](Self::scope_async),
/// as the attributes, [`retry`] and [`retry_async`] do) does not deposit: the outer loop's
/// deposit already paid for the request, so stacked layers get the budget's ratio of
/// retries per request, not per layer. At any depth: loops on other budgets, or on none,
/// in between change nothing; and the default budget is the same budget whether a loop
/// names it (`registry().budget("default")`) or not.
///
/// # Cost
/// A call that succeeds at once costs the policy's copy and one deposit (a plain add in
/// the thread's own counter stripe): the random number generator is seeded at the first
/// failure, the clock is read only when the policy has a deadline, and the budget's lock
/// is taken only when a retry is wanted.
#[derive(Debug)]
pub struct Retry {
    policy: RetryPolicy,
    /// Made at the first failure.
    backoff: Option<Backoff>,
    /// When the first attempt began, for the deadline (none without one).
    start: Option<Instant>,
    /// Attempts made so far.
    attempts: u32,
    /// Where the tokens come from.
    budget: Draw,
}

/// The budget a [`Retry`] draws from.
#[derive(Debug)]
enum Draw {
    /// The process-wide default, looked up when first needed.
    Default,
    Named(Budget),
    /// No budget: retries are limited by the policy alone.
    Unlimited,
}

impl Retry {
    /// A stepper for one call under `policy`, drawing from the process-wide default
    /// budget; the call's clock starts now.
    ///
    /// ```
    /// use failfast_runtime::{Retry, RetryPolicy};
    ///
    /// let mut retry = Retry::new(&RetryPolicy::new());
    /// assert_eq!(retry.next(&Ok::<_, ()>(()), false, |_| true, |_, _| {}), None);
    /// ```
    #[inline]
    pub fn new(policy: &RetryPolicy) -> Retry {
        Retry {
            policy: *policy,
            backoff: None,
            start: policy.total_deadline().map(|_| clock::now()),
            attempts: 0,
            budget: Draw::Default,
        }
    }

    /// Draws from `budget` instead of the default one; `None`: no budget at all (only
    /// the policy limits the retries). Call it before the first [`next`](Self::next).
    ///
    /// ```
    /// use failfast_runtime::{Budget, Jitter, Retry, RetryPolicy};
    ///
    /// let empty = Budget::new(0.1, 0);
    /// let mut retry = Retry::new(&RetryPolicy::new().jitter(Jitter::None)).budget(Some(empty.clone()));
    /// let failed: Result<(), &str> = Err("down");
    /// assert_eq!(retry.next(&failed, false, |_| true, |_, _| {}), None, "no token: stop");
    /// assert_eq!(empty.exhausted(), 1);
    ///
    /// let mut unlimited = Retry::new(&RetryPolicy::new()).budget(None);
    /// assert!(unlimited.next(&failed, false, |_| true, |_, _| {}).is_some());
    /// ```
    #[inline]
    pub fn budget(self, budget: Option<Budget>) -> Retry {
        // Rebuilt field by field rather than assigned in place: the compiler then builds the
        // stepper once, where a plain assignment made it copy the whole struct through
        // overlapping stack slots (a store-forwarding stall: +3 ns per call).
        let Retry {
            policy,
            backoff,
            start,
            attempts,
            budget: _,
        } = self;
        Retry {
            policy,
            backoff,
            start,
            attempts,
            budget: match budget {
                Some(budget) => Draw::Named(budget),
                None => Draw::Unlimited,
            },
        }
    }

    /// Decides after an attempt. `None`: stop and return `result`. `Some(wait)`: sleep
    /// `wait`, then try again.
    ///
    /// Stops when `result` is `Ok`; when `stop` is true (the caller's breaker rejected the
    /// call: retrying would only add load); when `retry_if(err)` is false; when the
    /// attempts are used up; when a deadline is set and the wait would end past it; or
    /// when the budget has no token left. Otherwise calls `on_retry(err, info)` and
    /// returns the wait. [`next_with`](Self::next_with) has more rules.
    ///
    /// ```
    /// use failfast_runtime::{Retry, RetryPolicy};
    ///
    /// let mut retry = Retry::new(&RetryPolicy::new());
    /// let fatal: Result<(), &str> = Err("bad request");
    /// assert_eq!(retry.next(&fatal, false, |e| *e != "bad request", |_, _| {}), None);
    /// ```
    #[inline]
    pub fn next<T, E>(
        &mut self,
        result: &Result<T, E>,
        stop: bool,
        retry_if: impl Fn(&E) -> bool,
        on_retry: impl FnOnce(&E, &RetryInfo),
    ) -> Option<Duration> {
        self.next_with(
            result,
            stop,
            Rules {
                retry_if,
                retry_if_ok: |_: &T| false,
                retry_after: |_: &E| None,
                on_retry,
            },
        )
    }

    /// [`next`](Self::next) with every rule: an error is retried when
    /// `rules.retry_if(err)`, and waits what `rules.retry_after(err)` says (capped at
    /// `max_delay`) or else the backoff's wait; an `Ok` value is retried when
    /// `rules.retry_if_ok(value)` (without calling `on_retry`), and when the attempts run
    /// out it is the caller's to return as it is. The deadline and the budget apply to
    /// both.
    ///
    /// ```
    /// use failfast_runtime::{Jitter, Retry, RetryPolicy, Rules};
    /// use std::time::Duration;
    ///
    /// let policy = RetryPolicy::new().jitter(Jitter::None).max_delay(Duration::from_secs(2));
    /// let mut retry = Retry::new(&policy).budget(None);
    /// let busy: Result<(), Duration> = Err(Duration::from_secs(60)); // "retry in a minute"
    /// let rules = Rules {
    ///     retry_if: |_: &Duration| true,
    ///     retry_if_ok: |_: &()| false,
    ///     retry_after: |wait: &Duration| Some(*wait),
    ///     on_retry: |_: &Duration, _: &_| {},
    /// };
    /// assert_eq!(retry.next_with(&busy, false, rules), Some(Duration::from_secs(2)), "capped");
    /// ```
    #[inline]
    pub fn next_with<T, E, RI, RO, RA, H>(
        &mut self,
        result: &Result<T, E>,
        stop: bool,
        rules: Rules<RI, RO, RA, H>,
    ) -> Option<Duration>
    where
        RI: Fn(&E) -> bool,
        RO: Fn(&T) -> bool,
        RA: Fn(&E) -> Option<Duration>,
        H: FnOnce(&E, &RetryInfo),
    {
        self.attempts += 1;
        if self.attempts == 1 {
            self.deposit();
        }
        match result {
            Err(err) => {
                if stop || !(rules.retry_if)(err) {
                    return None;
                }
                let backoff = self.next_backoff()?;
                let wait = match (rules.retry_after)(err) {
                    Some(asked) => asked.min(self.policy.delay_cap()),
                    None => backoff,
                };
                let info = self.admit(wait)?;
                (rules.on_retry)(err, &info);
                Some(wait)
            }
            Ok(value) => {
                if stop || !(rules.retry_if_ok)(value) {
                    return None;
                }
                let wait = self.next_backoff()?;
                self.admit(wait)?;
                Some(wait)
            }
        }
    }

    /// Runs one attempt of this stepper's call: a retry loop nested in it (on this thread)
    /// that draws from the same budget does not deposit, since this loop's first attempt
    /// paid for the request. [`scope_async`](Self::scope_async) for a future.
    ///
    /// ```
    /// use failfast_runtime::{Budget, Retry, RetryPolicy};
    ///
    /// let budget = Budget::new(1.0, 0);
    /// let mut outer = Retry::new(&RetryPolicy::new()).budget(Some(budget.clone()));
    /// let result: Result<(), ()> = outer.scope(|| {
    ///     // An inner layer on the same budget: its first attempt deposits nothing.
    ///     let mut inner = Retry::new(&RetryPolicy::new()).budget(Some(budget.clone()));
    ///     inner.next(&Ok::<(), ()>(()), false, |_| true, |_, _| {});
    ///     Ok(())
    /// });
    /// assert_eq!(budget.available(), 0.0);
    /// outer.next(&result, false, |_| true, |_, _| {});
    /// assert_eq!(budget.available(), 1.0, "one deposit for the request");
    /// ```
    #[inline]
    pub fn scope<R>(&self, attempt: impl FnOnce() -> R) -> R {
        let _enclosing = Enclosing::enter(self.budget.id());
        attempt()
    }

    /// [`scope`](Self::scope) for an async attempt: the scope holds while the future is
    /// polled.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use failfast_runtime::{Budget, Retry, RetryPolicy};
    ///
    /// let budget = Budget::new(1.0, 0);
    /// let outer = Retry::new(&RetryPolicy::new()).budget(Some(budget.clone()));
    /// outer
    ///     .scope_async(async {
    ///         let mut inner = Retry::new(&RetryPolicy::new()).budget(Some(budget.clone()));
    ///         inner.next(&Ok::<(), ()>(()), false, |_| true, |_, _| {});
    ///     })
    ///     .await;
    /// assert_eq!(budget.available(), 0.0, "nested: no deposit");
    /// # }
    /// ```
    #[inline]
    pub fn scope_async<F: Future>(&self, attempt: F) -> Scoped<F> {
        Scoped {
            attempt,
            budget: self.budget.id(),
        }
    }

    /// The first attempt's deposit into the budget, unless an enclosing loop on the same
    /// budget made it.
    #[inline]
    fn deposit(&self) {
        if enclosed_by(self.budget.id()) {
            return;
        }
        match &self.budget {
            Draw::Default => budget::deposit_default(),
            Draw::Named(budget) => budget.deposit(),
            Draw::Unlimited => {}
        }
    }

    /// The backoff's next wait; `None` when the attempts are used up.
    fn next_backoff(&mut self) -> Option<Duration> {
        let policy = &self.policy;
        self.backoff
            .get_or_insert_with(|| Backoff::new(policy))
            .next()
    }

    /// Lets a retry after `wait` run if the deadline allows it and the budget has a
    /// token, and reports it.
    fn admit(&self, wait: Duration) -> Option<RetryInfo> {
        if let (Some(start), Some(deadline)) = (self.start, self.policy.total_deadline()) {
            let elapsed = clock::now().saturating_duration_since(start);
            if elapsed.saturating_add(wait) > deadline {
                return None;
            }
        }
        let granted = match &self.budget {
            Draw::Default => budget::process_default().try_withdraw(),
            Draw::Named(budget) => budget.try_withdraw(),
            Draw::Unlimited => true,
        };
        if !granted {
            return None;
        }
        telemetry::retried(self.attempts, wait);
        Some(RetryInfo {
            attempt: self.attempts,
            delay: wait,
        })
    }
}

impl Draw {
    /// Which budget, for [`ENCLOSING`]: 0 for none (a loop without a budget deposits
    /// nothing, and is transparent: see [`Enclosing`]), 1 for the default one.
    #[inline]
    fn id(&self) -> usize {
        match self {
            Draw::Unlimited => 0,
            Draw::Default => 1,
            Draw::Named(budget) => budget.id(),
        }
    }
}

thread_local! {
    /// The budget of the innermost retry attempt running on this thread ([`Draw::id`]);
    /// 0 when none runs on a budget.
    static ENCLOSING: Cell<usize> = const { Cell::new(0) };
    /// The budgets of the attempts running around that innermost one, when they differ
    /// from the attempt each encloses (a loop on budget A calling a loop on B calling
    /// one on A): pushed only when loops on different budgets nest, so a loop that
    /// encloses none, or only loops on its own budget, never touches it.
    static OUTER: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// True when an attempt of a loop drawing from `budget` is running on this thread, at
/// any depth: a loop inside it, on the same budget, must not deposit.
#[inline]
fn enclosed_by(budget: usize) -> bool {
    let innermost = ENCLOSING.get();
    if innermost == 0 || budget == 0 {
        return false; // the common case: no loop around this one
    }
    innermost == budget || OUTER.with_borrow(|outer| outer.contains(&budget))
}

/// While it lives, attempts of the loop drawing from `budget` are running on this thread.
/// A loop without a budget (0) changes nothing: the loops inside it are still inside
/// the ones around it, which paid for the request.
struct Enclosing {
    /// The innermost budget before this one.
    previous: usize,
    /// Whether `previous` was pushed on [`OUTER`].
    pushed: bool,
}

impl Enclosing {
    #[inline]
    fn enter(budget: usize) -> Enclosing {
        if budget == 0 {
            return Enclosing {
                previous: ENCLOSING.get(),
                pushed: false,
            };
        }
        let previous = ENCLOSING.replace(budget);
        let pushed = previous != 0 && previous != budget;
        if pushed {
            OUTER.with_borrow_mut(|outer| outer.push(previous));
        }
        Enclosing { previous, pushed }
    }
}

impl Drop for Enclosing {
    #[inline]
    fn drop(&mut self) {
        ENCLOSING.set(self.previous);
        if self.pushed {
            OUTER.with_borrow_mut(|outer| outer.pop());
        }
    }
}

pin_project! {
    /// The future of [`Retry::scope_async`]: the attempt, polled inside its loop's scope.
    #[must_use = "futures do nothing unless polled"]
    pub struct Scoped<F> {
        #[pin]
        attempt: F,
        budget: usize,
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _enclosing = Enclosing::enter(*this.budget);
        this.attempt.poll(cx)
    }
}

impl<F> fmt::Debug for Scoped<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scoped").finish_non_exhaustive()
    }
}

/// Calls `op` until it returns `Ok` or `policy` says stop, sleeping the thread between
/// attempts. Every error is retried; use [`Retry`] directly to choose.
///
/// ```
/// use failfast_runtime::{retry, RetryPolicy};
/// use std::time::Duration;
///
/// let policy = RetryPolicy::new().delay(Duration::from_millis(1));
/// let mut tries = 0;
/// let result = retry(&policy, || {
///     tries += 1;
///     if tries < 2 { Err("flaky") } else { Ok(tries) }
/// });
/// assert_eq!(result, Ok(2));
/// ```
pub fn retry<T, E>(policy: &RetryPolicy, mut op: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    let mut stepper = Retry::new(policy);
    loop {
        let result = stepper.scope(&mut op);
        match stepper.next(&result, false, |_| true, |_, _| {}) {
            Some(wait) => std::thread::sleep(wait),
            None => return result,
        }
    }
}

/// Like [`retry`], for async operations: `op` makes a fresh future per attempt, and the
/// waits are `tokio::time::sleep` (so a paused test clock skips them).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use failfast_runtime::{retry_async, RetryPolicy};
/// use std::time::Duration;
///
/// let policy = RetryPolicy::new().delay(Duration::from_millis(1));
/// let mut tries = 0;
/// let result = retry_async(&policy, || {
///     tries += 1;
///     let outcome = if tries < 2 { Err("flaky") } else { Ok(tries) };
///     async move { outcome }
/// })
/// .await;
/// assert_eq!(result, Ok(2));
/// # }
/// ```
pub async fn retry_async<T, E, F: Future<Output = Result<T, E>>>(
    policy: &RetryPolicy,
    mut op: impl FnMut() -> F,
) -> Result<T, E> {
    let mut stepper = Retry::new(policy);
    loop {
        let result = stepper.scope_async(op()).await;
        match stepper.next(&result, false, |_| true, |_, _| {}) {
            Some(wait) => tokio::time::sleep(wait).await,
            None => return result,
        }
    }
}
