//! `CircuitBreakerLayer`: a registry breaker in front of a tower service.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};

use parking_lot::Mutex;
use pin_project_lite::pin_project;

use super::classify::{Classify, IsFailure, ServerErrors};
use crate::breaker::Breaker;
use crate::config::BreakerConfig;
use crate::error::Error;
use crate::permit::Permit;
use crate::registry::registry;

/// A tower [`Layer`](::tower::Layer) that puts the registry's breaker named `name` in
/// front of a service.
///
/// Every layer, service and attributed fn naming the same breaker shares it, however
/// often axum applies the layer. The first registration of a name decides its config
/// (a later, different one is reported as a conflict, as for attributes).
///
/// ```
/// use failfast_runtime::tower::CircuitBreakerLayer;
/// use failfast_runtime::BreakerConfig;
/// use std::time::Duration;
///
/// let layer = CircuitBreakerLayer::new("docs::tower_layer")
///     .config(BreakerConfig::new().failures(3).reset(Duration::from_secs(30)))
///     // Count 429s too, not only 5xx responses and errors.
///     .is_failure(|result: &Result<http::Response<()>, std::io::Error>| match result {
///         Ok(response) => response.status().is_server_error() || response.status() == 429,
///         Err(_) => true,
///     });
/// assert_eq!(layer.breaker().name(), "docs::tower_layer");
/// ```
#[derive(Clone)]
pub struct CircuitBreakerLayer<C = ServerErrors> {
    name: String,
    config: BreakerConfig,
    classify: C,
}

impl CircuitBreakerLayer {
    /// The layer of the breaker named `name`, with the default config and classifier
    /// (an `Err` or a 5xx response is a failure).
    pub fn new(name: impl Into<String>) -> CircuitBreakerLayer {
        CircuitBreakerLayer {
            name: name.into(),
            config: BreakerConfig::new(),
            classify: ServerErrors,
        }
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// The breaker's config, if this layer is the first to register its name.
    pub fn config(self, config: BreakerConfig) -> Self {
        CircuitBreakerLayer { config, ..self }
    }

    /// Which results are failures: `f(&result)`. Any service whose response is not an
    /// `http::Response` needs it.
    pub fn is_failure<F>(self, f: F) -> CircuitBreakerLayer<IsFailure<F>> {
        CircuitBreakerLayer {
            name: self.name,
            config: self.config,
            classify: IsFailure(f),
        }
    }

    /// The breaker, registered on first use.
    pub fn breaker(&self) -> &'static Breaker {
        shared(&self.name, self.config)
    }
}

impl<S, C: Clone> ::tower::Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreaker<S, C>;

    fn layer(&self, inner: S) -> CircuitBreaker<S, C> {
        CircuitBreaker {
            inner,
            breaker: self.breaker(),
            classify: self.classify.clone(),
        }
    }
}

impl<C> fmt::Debug for CircuitBreakerLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The registry's breaker named `name`, as a reference that lives as long as the process,
/// so a call's permit can travel in a `'static` response future without a reference
/// count per call. One handle per name is kept (the registry keeps the breaker anyway).
fn shared(name: &str, config: BreakerConfig) -> &'static Breaker {
    static HANDLES: LazyLock<Mutex<HashMap<String, &'static Breaker>>> =
        LazyLock::new(Mutex::default);
    let breaker = registry().breaker(name.to_owned(), config);
    let mut handles = HANDLES.lock();
    handles
        .entry(name.to_owned())
        .or_insert_with(|| Box::leak(Box::new(breaker)))
}

/// The service of [`CircuitBreakerLayer`].
#[derive(Clone)]
pub struct CircuitBreaker<S, C = ServerErrors> {
    inner: S,
    breaker: &'static Breaker,
    classify: C,
}

impl<S, C> CircuitBreaker<S, C> {
    /// The breaker in front of the service.
    pub fn breaker(&self) -> &'static Breaker {
        self.breaker
    }
}

impl<S: fmt::Debug, C> fmt::Debug for CircuitBreaker<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker.name())
            .finish_non_exhaustive()
    }
}

impl<S, C, Req> ::tower::Service<Req> for CircuitBreaker<S, C>
where
    S: ::tower::Service<Req>,
    S::Error: From<Error>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, C>;

    /// The inner service's readiness, as it is: an open breaker does not make the service
    /// unready (it rejects in `call`), and no trial permit is taken here.
    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        match self.breaker.acquire() {
            Ok(permit) => ResponseFuture {
                state: State::Called {
                    future: self.inner.call(request),
                    permit: Some(permit),
                    classify: self.classify.clone(),
                },
            },
            Err(open) => ResponseFuture {
                state: State::Rejected { error: Some(open) },
            },
        }
    }
}

pin_project! {
    /// The future of [`CircuitBreaker`]: the inner call under its permit, or the
    /// rejection. A panic while it is polled records a failure; dropping it before it is
    /// done cancels the permit (a half-open trial slot is given back).
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, C> {
        #[pin]
        state: State<F, C>,
    }
}

pin_project! {
    #[project = Projected]
    enum State<F, C> {
        // The call goes through.
        Called {
            #[pin]
            future: F,
            permit: Option<Permit<'static>>,
            classify: C,
        },
        // The breaker rejected the call.
        Rejected { error: Option<Error> },
    }
}

impl<F, C, Res, Err> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<Res, Err>>,
    Err: From<Error>,
    C: Classify<Res, Err>,
{
    type Output = Result<Res, Err>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            Projected::Called {
                future,
                permit,
                classify,
            } => match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(result)) => {
                    if let Some(permit) = permit.take() {
                        if classify.is_failure(&result) {
                            permit.failure();
                        } else {
                            permit.success();
                        }
                    }
                    Poll::Ready(result)
                }
                Err(panic) => {
                    // Recorded here: the executor drops a panicked task only after it
                    // caught the panic, when the permit could no longer tell.
                    if let Some(permit) = permit.take() {
                        permit.failure();
                    }
                    resume_unwind(panic)
                }
            },
            Projected::Rejected { error } => {
                REJECTED.set(true);
                let error = error
                    .take()
                    .expect("a ResponseFuture polled after it completed");
                Poll::Ready(Err(Err::from(error)))
            }
        }
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            State::Called { permit, .. } => f
                .debug_struct("ResponseFuture")
                .field("permit", permit)
                .finish_non_exhaustive(),
            State::Rejected { error } => f
                .debug_struct("ResponseFuture")
                .field("rejected", error)
                .finish(),
        }
    }
}

thread_local! {
    /// Set when a breaker's rejection is handed out on this thread: a [`RetryLayer`]
    /// above reads it in the same poll, so it never retries a rejection whatever the
    /// service's error type.
    ///
    /// [`RetryLayer`]: super::RetryLayer
    static REJECTED: Cell<bool> = const { Cell::new(false) };
}

/// Clears the mark of a rejection.
pub(super) fn clear_rejected() {
    REJECTED.set(false);
}

/// Whether a rejection was handed out since the last [`clear_rejected`].
pub(super) fn rejected() -> bool {
    REJECTED.get()
}
