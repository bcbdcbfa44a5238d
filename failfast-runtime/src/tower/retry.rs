//! `RetryLayer`: retries a tower service's failed calls, on the retry budgets.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::circuit_breaker::{clear_rejected, rejected};
use super::classify::{Classify, IsFailure, ServerErrors};
use crate::backoff::RetryPolicy;
use crate::budget::Budget;
use crate::retry::{Retry as Stepper, Rules};

/// A tower [`Layer`](::tower::Layer) that retries failed calls with the backoff of a
/// [`RetryPolicy`], drawing every retry from a [`Budget`] (the process-wide default one
/// unless told otherwise), as `#[retry]` does.
///
/// By default an `Err` or an `http::Response` with a 5xx status is retried; a breaker's
/// rejection from a [`CircuitBreakerLayer`](super::CircuitBreakerLayer) below is never
/// retried; when the attempts run out, the last result is returned as it is.
///
/// The request is cloned for each attempt, so it must be `Clone`. An `http::Request<B>`
/// is `Clone` when its body `B` is: buffer a streaming body first (`Request<Bytes>`,
/// `Request<String>`, `http_body_util::Full<Bytes>`), or put the retry where the request
/// is still replayable; `axum::body::Body` is not `Clone`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use failfast_runtime::tower::RetryLayer;
/// use failfast_runtime::{Budget, RetryPolicy};
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tower::{Layer, Service};
///
/// let calls = Arc::new(AtomicU32::new(0));
/// let counted = calls.clone();
/// let flaky = tower::service_fn(move |_req: http::Request<()>| {
///     let n = counted.fetch_add(1, Ordering::SeqCst);
///     let status = if n < 2 { 503 } else { 200 };
///     async move { Ok::<_, std::io::Error>(http::Response::builder().status(status).body(()).unwrap()) }
/// });
/// let policy = RetryPolicy::new().attempts(4).delay(Duration::from_millis(10));
/// let mut client = RetryLayer::new(policy).budget(Budget::new(0.2, 10)).layer(flaky);
/// let response = client.call(http::Request::new(())).await.unwrap();
/// assert_eq!(response.status(), 200);
/// assert_eq!(calls.load(Ordering::SeqCst), 3);
/// # }
/// ```
#[derive(Clone)]
pub struct RetryLayer<C = ServerErrors> {
    policy: RetryPolicy,
    budget: Draw,
    classify: C,
}

/// Where the retries' tokens come from.
#[derive(Clone)]
enum Draw {
    Default,
    Budget(Budget),
    Unlimited,
}

impl RetryLayer {
    /// Retries with `policy`, on the process-wide default budget.
    pub fn new(policy: RetryPolicy) -> RetryLayer {
        RetryLayer {
            policy,
            budget: Draw::Default,
            classify: ServerErrors,
        }
    }
}

impl<C> RetryLayer<C> {
    /// Draws the retries from `budget` (`registry().budget("name")` for a named one).
    pub fn budget(self, budget: Budget) -> Self {
        RetryLayer {
            budget: Draw::Budget(budget),
            ..self
        }
    }

    /// No budget: every retry the policy allows is made (tests, or a layer that must
    /// always retry).
    pub fn no_budget(self) -> Self {
        RetryLayer {
            budget: Draw::Unlimited,
            ..self
        }
    }

    /// Which results to retry: `f(&result)`. Any service whose response is not an
    /// `http::Response` needs it.
    pub fn retry_if<F>(self, f: F) -> RetryLayer<IsFailure<F>> {
        RetryLayer {
            policy: self.policy,
            budget: self.budget,
            classify: IsFailure(f),
        }
    }
}

impl<C> fmt::Debug for RetryLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S, C: Clone> ::tower::Layer<S> for RetryLayer<C> {
    type Service = Retry<S, C>;

    fn layer(&self, inner: S) -> Retry<S, C> {
        Retry {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`RetryLayer`].
#[derive(Clone)]
pub struct Retry<S, C = ServerErrors> {
    inner: S,
    layer: RetryLayer<C>,
}

impl<S: fmt::Debug, C> fmt::Debug for Retry<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("inner", &self.inner)
            .field("policy", &self.layer.policy)
            .finish_non_exhaustive()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, C, Req> ::tower::Service<Req> for Retry<S, C>
where
    S: ::tower::Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send,
    S::Error: Send,
    Req: Clone + Send + 'static,
    C: Classify<S::Response, S::Error> + Clone + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        // The service that said it is ready makes the first attempt (tower's rule); a
        // clone takes its place here.
        let clone = self.inner.clone();
        let mut service = std::mem::replace(&mut self.inner, clone);
        let RetryLayer {
            policy,
            budget,
            classify,
        } = self.layer.clone();
        Box::pin(async move {
            let stepper = Stepper::new(&policy);
            let mut stepper = match budget {
                Draw::Default => stepper,
                Draw::Budget(budget) => stepper.budget(Some(budget)),
                Draw::Unlimited => stepper.budget(None),
            };
            let mut first = true;
            loop {
                if !first {
                    std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
                }
                first = false;
                let attempt = Attempt {
                    future: service.call(request.clone()),
                };
                let (result, was_rejected) = stepper.scope_async(attempt).await;
                let retry = !was_rejected && classify.is_failure(&result);
                let rules = Rules {
                    retry_if: |_: &S::Error| retry,
                    retry_if_ok: |_: &S::Response| retry,
                    retry_after: |_: &S::Error| None,
                    on_retry: |_: &S::Error, _: &_| {},
                };
                match stepper.next_with(&result, was_rejected, rules) {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => return result,
                }
            }
        })
    }
}

pin_project! {
    /// One attempt, and whether a breaker below rejected it: the mark is cleared before
    /// each poll and read in the poll that completes the attempt, so another task's
    /// rejection on this thread cannot be mistaken for this one's.
    struct Attempt<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Attempt<F> {
    type Output = (F::Output, bool);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        clear_rejected();
        match self.project().future.poll(cx) {
            Poll::Ready(output) => Poll::Ready((output, rejected())),
            Poll::Pending => Poll::Pending,
        }
    }
}
