//! Retrying a call: the stepper that decides, and two loops built on it.

use std::time::Duration;

use tokio::time::Instant;

use crate::{Backoff, RetryPolicy, clock};

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

/// The retry decision for one call, attempt after attempt.
///
/// Run the operation, hand the result to [`next`](Self::next), sleep the returned wait
/// and go again, until it returns `None`. It does no sleeping itself, so the same stepper
/// serves sync code, async code and the attribute macros.
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
/// A call that succeeds at once costs nothing more than the policy's copy: the random
/// number generator is seeded at the first failure, and the clock is read only when the
/// policy has a deadline.
#[derive(Debug)]
pub struct Retry {
    policy: RetryPolicy,
    /// Made at the first failure.
    backoff: Option<Backoff>,
    /// When the first attempt began, for the deadline (none without one).
    start: Option<Instant>,
    /// Attempts made so far.
    attempts: u32,
}

impl Retry {
    /// A stepper for one call under `policy`; the call's clock starts now.
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
        }
    }

    /// Decides after an attempt. `None`: stop and return `result`. `Some(wait)`: sleep
    /// `wait`, then try again.
    ///
    /// Stops when `result` is `Ok`; when `stop` is true (the caller's breaker rejected the
    /// call: retrying would only add load); when `retry_if(err)` is false; when the
    /// attempts are used up; or when a deadline is set and the wait would end past it.
    /// Otherwise calls `on_retry(err, info)` and returns the wait.
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
        self.attempts += 1;
        let Err(err) = result else { return None };
        if stop || !retry_if(err) {
            return None;
        }
        let policy = &self.policy;
        let wait = self
            .backoff
            .get_or_insert_with(|| Backoff::new(policy))
            .next()?;
        if let (Some(start), Some(deadline)) = (self.start, policy.total_deadline()) {
            let elapsed = clock::now().saturating_duration_since(start);
            if elapsed.saturating_add(wait) > deadline {
                return None;
            }
        }
        let info = RetryInfo {
            attempt: self.attempts,
            delay: wait,
        };
        on_retry(err, &info);
        Some(wait)
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
        let result = op();
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
        let result = op().await;
        match stepper.next(&result, false, |_| true, |_, _| {}) {
            Some(wait) => tokio::time::sleep(wait).await,
            None => return result,
        }
    }
}
