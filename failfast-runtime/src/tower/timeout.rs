//! `TimeoutLayer`: gives up on a tower service's call after a while.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use crate::error::Error;

/// A tower [`Layer`](::tower::Layer) that drops a call still running after `after` and
/// returns [`Error::Timeout`] in the service's error (`S::Error: From<failfast::Error>`),
/// as `#[timeout]` does. The clock is tokio's (a paused test clock moves it).
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use failfast_runtime::tower::TimeoutLayer;
/// use std::time::Duration;
/// use tower::{Layer, Service};
///
/// type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// let slow = tower::service_fn(|_: ()| async {
///     tokio::time::sleep(Duration::from_secs(5)).await;
///     Ok::<_, BoxError>("late")
/// });
/// let mut service = TimeoutLayer::new(Duration::from_secs(1)).layer(slow);
/// let error = service.call(()).await.unwrap_err();
/// assert!(matches!(
///     error.downcast_ref::<failfast_runtime::Error>(),
///     Some(failfast_runtime::Error::Timeout { .. })
/// ));
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TimeoutLayer {
    after: Duration,
}

impl TimeoutLayer {
    /// Calls give up after `after`.
    pub fn new(after: Duration) -> TimeoutLayer {
        TimeoutLayer { after }
    }
}

impl<S> ::tower::Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout {
            inner,
            after: self.after,
        }
    }
}

/// The service of [`TimeoutLayer`].
#[derive(Debug, Clone)]
pub struct Timeout<S> {
    inner: S,
    after: Duration,
}

impl<S, Req> ::tower::Service<Req> for Timeout<S>
where
    S: ::tower::Service<Req>,
    S::Error: From<Error>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        TimeoutFuture {
            future: self.inner.call(request),
            sleep: tokio::time::sleep(self.after),
            after: self.after,
        }
    }
}

pin_project! {
    /// The future of [`Timeout`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct TimeoutFuture<F> {
        #[pin]
        future: F,
        #[pin]
        sleep: tokio::time::Sleep,
        after: Duration,
    }
}

impl<F, Res, Err> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<Res, Err>>,
    Err: From<Error>,
{
    type Output = Result<Res, Err>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(result) = this.future.poll(cx) {
            return Poll::Ready(result);
        }
        match this.sleep.poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Err::from(Error::Timeout { after: *this.after }))),
            Poll::Pending => Poll::Pending,
        }
    }
}
