//! Which results of a service are failures (for a breaker) or worth another try (for a
//! retry).

/// Decides whether a service's result counts as a failure.
///
/// [`ServerErrors`] (the default) knows `http::Response`s; [`IsFailure`] wraps any
/// `Fn(&Result<Res, Err>) -> bool` (what `.is_failure(..)` and `.retry_if(..)` take).
#[diagnostic::on_unimplemented(
    message = "failfast cannot tell which `Result<{Res}, {Err}>`s of this service are failures",
    label = "the default knows only `http::Response` (a 5xx or an `Err` is a failure)",
    note = "say which results fail: `.is_failure(|result: &Result<_, _>| result.is_err())` (or `.retry_if(..)` on a RetryLayer)"
)]
pub trait Classify<Res, Err> {
    /// True when `result` is a failure.
    fn is_failure(&self, result: &Result<Res, Err>) -> bool;
}

/// The default: an `Err`, or an `http::Response` whose status is a 5xx.
///
/// ```
/// use failfast_runtime::tower::{Classify, ServerErrors};
///
/// let ok = http::Response::new(());
/// let unavailable = http::Response::builder().status(503).body(()).unwrap();
/// let not_found = http::Response::builder().status(404).body(()).unwrap();
/// assert!(!ServerErrors.is_failure(&Ok::<_, ()>(ok)));
/// assert!(ServerErrors.is_failure(&Ok::<_, ()>(unavailable)));
/// assert!(!ServerErrors.is_failure(&Ok::<_, ()>(not_found)), "the caller's mistake");
/// assert!(ServerErrors.is_failure(&Err::<http::Response<()>, _>("connection refused")));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerErrors;

impl<B, Err> Classify<http::Response<B>, Err> for ServerErrors {
    #[inline]
    fn is_failure(&self, result: &Result<http::Response<B>, Err>) -> bool {
        match result {
            Ok(response) => response.status().is_server_error(),
            Err(_) => true,
        }
    }
}

/// A classifier written as a closure or fn: `.is_failure(|result| ..)`.
///
/// ```
/// use failfast_runtime::tower::{Classify, IsFailure};
///
/// let timeouts_only = IsFailure(|result: &Result<u32, &str>| matches!(result, Err("timeout")));
/// assert!(timeouts_only.is_failure(&Err("timeout")));
/// assert!(!timeouts_only.is_failure(&Err("bad request")));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct IsFailure<F>(pub F);

impl<F, Res, Err> Classify<Res, Err> for IsFailure<F>
where
    F: Fn(&Result<Res, Err>) -> bool,
{
    #[inline]
    fn is_failure(&self, result: &Result<Res, Err>) -> bool {
        (self.0)(result)
    }
}
