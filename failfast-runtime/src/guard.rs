//! A future that reports its outcome to a breaker permit.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::permit::Permit;

/// Wraps `fut` so its outcome is recorded through `permit` when it completes:
/// `permit.record(&result, is_failure)`. A panic while polling records a failure and
/// keeps unwinding. Dropping the future before it completes cancels the permit (nothing
/// is recorded; a half-open trial slot is given back), even when it is dropped by a panic
/// elsewhere unwinding through it: its own call did not fail.
///
/// This is what [`Breaker::call_async`](crate::Breaker::call_async) uses, exposed for
/// code that acquires its permit itself (the attribute macros).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use failfast_runtime::{guard, Breaker, BreakerConfig};
///
/// let breaker = Breaker::new("db", BreakerConfig::new());
/// let permit = breaker.acquire().unwrap();
/// let rows: Result<u32, std::io::Error> = guard(permit, |_| true, async { Ok(3) }).await;
/// assert_eq!(rows.unwrap(), 3);
/// assert_eq!(breaker.metrics().successes, 1);
/// # }
/// ```
pub fn guard<T, E, F, C>(permit: Permit<'_>, is_failure: C, fut: F) -> Guarded<'_, F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Fn(&E) -> bool,
{
    Guarded {
        fut,
        permit: Some(permit),
        is_failure,
    }
}

pin_project! {
    /// The future returned by [`guard`]. It borrows the breaker its permit came from, and
    /// is `Send` when `F` and `C` are.
    ///
    /// ```
    /// use failfast_runtime::{guard, Breaker, BreakerConfig, Guarded};
    ///
    /// fn assert_send<T: Send>(_: T) {}
    /// let breaker = Breaker::new("db", BreakerConfig::new());
    /// let permit = breaker.acquire().unwrap();
    /// let fut: Guarded<'_, _, _> = guard(permit, |_: &()| true, async { Ok::<u8, ()>(1) });
    /// assert_send(fut);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Guarded<'a, F, C> {
        #[pin]
        fut: F,
        permit: Option<Permit<'a>>,
        is_failure: C,
    }

    impl<'a, F, C> PinnedDrop for Guarded<'a, F, C> {
        fn drop(this: Pin<&mut Self>) {
            // Not completed: cancelled, even while another panic unwinds through it (a
            // bare permit dropped then would count as failed). Its own panic took the
            // permit in `poll`.
            if let Some(permit) = this.project().permit.take() {
                permit.cancel();
            }
        }
    }
}

impl<T, E, F, C> Future for Guarded<'_, F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Fn(&E) -> bool,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let fut = this.fut;
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => {
                if let Some(permit) = this.permit.take() {
                    permit.record(&result, &*this.is_failure);
                }
                Poll::Ready(result)
            }
            Err(panic) => {
                // Caught here because the executor drops a panicked task only after it
                // has caught the panic, when the permit could no longer tell.
                if let Some(permit) = this.permit.take() {
                    permit.failure();
                }
                resume_unwind(panic)
            }
        }
    }
}

impl<F, C> fmt::Debug for Guarded<'_, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guarded")
            .field("permit", &self.permit)
            .finish_non_exhaustive()
    }
}
