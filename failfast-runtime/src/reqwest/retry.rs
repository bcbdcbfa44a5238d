//! `RetryMiddleware`: retries a reqwest client's failed requests, on the retry budgets.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use ::reqwest::{Request, Response};
use ::reqwest_middleware::{Middleware, Next};
use http::Extensions;

use super::{Outcome, is_rejection, server_error};
use crate::backoff::RetryPolicy;
use crate::budget::Budget;
use crate::retry::{Retry, Rules};

/// Retries failed requests (by default: an error, or a 5xx response) with the backoff of
/// a [`RetryPolicy`], drawing every retry from a [`Budget`] (the process-wide default one
/// unless told otherwise), as `#[retry]` does. A breaker's rejection (from a
/// [`CircuitBreakerMiddleware`](super::CircuitBreakerMiddleware) after it) is never
/// retried, nor is a request whose body cannot be sent twice (a stream): it is sent once.
/// When the attempts run out, the last outcome is returned as it is.
///
/// ```
/// use failfast_runtime::reqwest::RetryMiddleware;
/// use failfast_runtime::{registry, RetryPolicy};
/// use std::time::Duration;
///
/// let retry = RetryMiddleware::new(RetryPolicy::new().attempts(3).delay(Duration::from_millis(50)))
///     .budget(registry().budget("docs::http_retries"));
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).with(retry).build();
/// # let _ = client;
/// ```
pub struct RetryMiddleware {
    policy: RetryPolicy,
    budget: Draw,
    retry_if: fn(&Outcome) -> bool,
}

/// Where the retries' tokens come from.
enum Draw {
    Default,
    Budget(Budget),
    Unlimited,
}

impl RetryMiddleware {
    /// Retries with `policy`, on the process-wide default budget.
    pub fn new(policy: RetryPolicy) -> RetryMiddleware {
        RetryMiddleware {
            policy,
            budget: Draw::Default,
            retry_if: server_error,
        }
    }

    /// Draws the retries from `budget`.
    pub fn budget(self, budget: Budget) -> Self {
        RetryMiddleware {
            budget: Draw::Budget(budget),
            ..self
        }
    }

    /// No budget: every retry the policy allows is made.
    pub fn no_budget(self) -> Self {
        RetryMiddleware {
            budget: Draw::Unlimited,
            ..self
        }
    }

    /// Which outcomes to retry (default: an error, or a 5xx response); a breaker's
    /// rejection never is.
    pub fn retry_if(
        self,
        retry_if: fn(&Result<Response, ::reqwest_middleware::Error>) -> bool,
    ) -> Self {
        RetryMiddleware { retry_if, ..self }
    }

    fn stepper(&self) -> Retry {
        let stepper = Retry::new(&self.policy);
        match &self.budget {
            Draw::Default => stepper,
            Draw::Budget(budget) => stepper.budget(Some(budget.clone())),
            Draw::Unlimited => stepper.budget(None),
        }
    }
}

impl fmt::Debug for RetryMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryMiddleware")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Middleware for RetryMiddleware {
    fn handle<'this, 'extensions, 'next, 'future>(
        &'this self,
        request: Request,
        extensions: &'extensions mut Extensions,
        next: Next<'next>,
    ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'future>>
    where
        'this: 'future,
        'extensions: 'future,
        'next: 'future,
        Self: 'future,
    {
        Box::pin(async move {
            let mut stepper = self.stepper();
            let mut request = request;
            loop {
                // A body that cannot be cloned (a stream) is sent once, as it is.
                let Some(copy) = request.try_clone() else {
                    return next.run(request, extensions).await;
                };
                let outcome = stepper
                    .scope_async(next.clone().run(request, &mut *extensions))
                    .await;
                let rejected = matches!(&outcome, Err(error) if is_rejection(error));
                let retry = !rejected && (self.retry_if)(&outcome);
                let rules = Rules {
                    retry_if: |_: &::reqwest_middleware::Error| retry,
                    retry_if_ok: |_: &Response| retry,
                    retry_after: |_: &::reqwest_middleware::Error| None,
                    on_retry: |_: &::reqwest_middleware::Error, _: &_| {},
                };
                match stepper.next_with(&outcome, rejected, rules) {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => return outcome,
                }
                request = copy;
            }
        })
    }
}
