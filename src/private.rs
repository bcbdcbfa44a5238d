//! What the attributes expand into. Not public API: the generated code reaches the runtime
//! only through `::failfast::__private`, so the runtime can change without breaking it.

use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub use ::core;
use failfast_runtime::BreakerName;
pub use failfast_runtime::{
    Breaker, BreakerConfig, Budget, Error, Jitter, Mode, Permit, Retry, RetryAfter, RetryInfo,
    RetryPolicy, Rules, Store, Window,
};

/// The breaker of one annotated fn: looked up in the registry on its first call, then kept.
pub struct Site(OnceLock<Breaker>);

impl Site {
    /// An empty site, for a `static` in the generated code.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Site {
        Site(OnceLock::new())
    }

    /// The site's breaker: registered under `name` with `config` on the first call.
    pub fn breaker(
        &'static self,
        init: impl FnOnce() -> (Name, BreakerConfig),
    ) -> &'static Breaker {
        self.0.get_or_init(|| {
            let (name, config) = init();
            failfast_runtime::registry().breaker(name.resolve(), config)
        })
    }

    /// With `store = expr`: the site's breaker, registered with that store on the first
    /// call.
    pub fn breaker_with_store(
        &'static self,
        init: impl FnOnce() -> (Name, BreakerConfig, Arc<dyn Store>),
    ) -> &'static Breaker {
        self.0.get_or_init(|| {
            let (name, config, store) = init();
            failfast_runtime::registry().breaker_with_store(name.resolve(), config, store)
        })
    }
}

/// The sites of one method whose breaker takes its default name, `module::Type::method`:
/// one [`Site`] per type `Self` stands for. A `static` in a fn is one item for every type
/// the fn is compiled for, so in a trait's default method (or a blanket impl), where `Self`
/// is each implementing type in turn, one `Site` would give every implementor the breaker
/// of whichever called first. Here each `Self` finds its own site, in a list that only
/// grows (one entry per implementing type, never freed): the common case, one type, is one
/// comparison of its name.
pub struct MethodSite(OnceLock<Box<TypeSite>>);

struct TypeSite {
    self_type: &'static str,
    site: Site,
    next: MethodSite,
}

impl MethodSite {
    /// An empty list, for a `static` in the generated code.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> MethodSite {
        MethodSite(OnceLock::new())
    }

    /// The site of `self_type` (`core::any::type_name::<Self>()`), made on its first call.
    #[inline]
    pub fn of(&'static self, self_type: &'static str) -> &'static Site {
        let mut list = self;
        loop {
            // Whoever fills an empty slot first owns it; a thread that loses the race for
            // it goes on to the next one.
            let entry = list.0.get_or_init(|| {
                Box::new(TypeSite {
                    self_type,
                    site: Site::new(),
                    next: MethodSite::new(),
                })
            });
            if entry.self_type == self_type {
                return &entry.site;
            }
            list = &entry.next;
        }
    }
}

/// The value of `store = expr`: a [`Store`] (the trait's own message explains a value
/// that is not one). Type-erased here, so the only bound a wrong value can miss is this
/// one, on the user's expression.
pub fn store<S: Store>(store: S) -> Arc<dyn Store> {
    Arc::new(store)
}

/// The named retry budget of one `#[retry(budget = "name")]`: looked up in the registry on
/// the first call, then kept (the handle of a registry budget copies without touching any
/// shared count).
pub struct BudgetSite(OnceLock<Budget>);

impl BudgetSite {
    /// An empty site, for a `static` in the generated code.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> BudgetSite {
        BudgetSite(OnceLock::new())
    }

    /// The budget named `name` in the registry, for one call's [`Retry`].
    #[inline]
    pub fn budget(&'static self, name: &'static str) -> Budget {
        self.0
            .get_or_init(|| failfast_runtime::registry().budget(name))
            .clone()
    }
}

/// What `window = expr` accepts: a number of calls or a length of time.
#[diagnostic::on_unimplemented(
    message = "`window` takes a number of calls (u32) or a `Duration`, not `{Self}`",
    label = "a count or a length of time",
    note = "write `window = 100` for the last 100 calls, or `window = \"60s\"` for the last minute"
)]
pub trait IntoWindow {
    /// The window.
    fn into_window(self) -> Window;
}

impl IntoWindow for u32 {
    #[inline]
    fn into_window(self) -> Window {
        Window::Calls(self)
    }
}

impl IntoWindow for Duration {
    #[inline]
    fn into_window(self) -> Window {
        Window::Time(self)
    }
}

/// The value of `window = expr`.
#[inline]
pub fn window(window: impl IntoWindow) -> Window {
    window.into_window()
}

/// The default `retry_if_ok`: an `Ok` value is never retried.
#[inline]
pub fn never_ok<T>(_: &T) -> bool {
    false
}

/// The default `retry_after`: the backoff decides every wait.
#[inline]
pub fn no_retry_after<E>(_: &E) -> Option<Duration> {
    None
}

/// `retry_after` without a value: the error type says how long to wait.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `failfast::RetryAfter`",
    label = "`retry_after` alone asks the error how long to wait",
    note = "implement `failfast::RetryAfter` for `{Self}`, or name a fn: `retry_after = my_fn` with `fn my_fn(&{Self}) -> Option<Duration>`"
)]
pub trait ErrorRetryAfter: RetryAfter {}
impl<E: RetryAfter> ErrorRetryAfter for E {}

/// `retry_after` alone: the error's own [`RetryAfter`] impl.
#[inline]
pub fn error_retry_after<E: ErrorRetryAfter>(error: &E) -> Option<Duration> {
    error.retry_after()
}

/// [`Retry::next_with`] with each rule as its own argument: closures written in the
/// attribute are checked after the result, so they get their parameter types from it.
#[inline]
pub fn next_with<T, E>(
    retry: &mut Retry,
    result: &Result<T, E>,
    stop: bool,
    retry_if: impl Fn(&E) -> bool,
    retry_if_ok: impl Fn(&T) -> bool,
    retry_after: impl Fn(&E) -> Option<Duration>,
    on_retry: impl FnOnce(&E, &RetryInfo),
) -> Option<Duration> {
    retry.next_with(
        result,
        stop,
        Rules {
            retry_if,
            retry_if_ok,
            retry_after,
            on_retry,
        },
    )
}

/// A breaker's name as the attribute knows it.
pub enum Name {
    /// Given by the user, or `module::fn` from `concat!(module_path!(), ..)`.
    Static(&'static str),
    /// The default for a method with a receiver: `module::Type::method`.
    Method {
        /// `core::any::type_name::<Self>()`.
        self_type: &'static str,
        /// The method's name.
        method: &'static str,
    },
}

impl Name {
    fn resolve(self) -> BreakerName {
        match self {
            Name::Static(name) => BreakerName::from(name),
            Name::Method { self_type, method } => {
                // `crate::module::Type<u32>` -> `crate::module::Type`: every instance of a
                // generic type shares the one site, so the name must not depend on it.
                let path = self_type.split('<').next().unwrap_or(self_type);
                BreakerName::from(format!("{path}::{method}"))
            }
        }
    }
}

/// The error type of a fn under `#[circuit_breaker]` or `#[timeout]` must be able to carry
/// failfast's own rejections.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot carry a `failfast::Error`",
    label = "the error type of this fn needs `From<failfast::Error>`",
    note = "failfast returns its own rejections (breaker open, timed out) through your error type: add `impl From<failfast::Error> for {Self}` (with thiserror: a variant `#[error(transparent)] Failfast(#[from] failfast::Error)`)"
)]
pub trait FromFailfast: From<Error> {}
impl<E: From<Error>> FromFailfast for E {}

/// A parameter taken by value in a retried fn is cloned for each attempt.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is taken by value in a #[retry] fn, so it must be `Clone`",
    label = "each attempt gets its own copy of this parameter",
    note = "derive or implement `Clone` for it, or take it by reference (`&{Self}`)"
)]
pub trait CloneForRetry: Clone {}
impl<T: Clone> CloneForRetry for T {}

/// A fresh copy of a parameter for one attempt.
#[inline]
pub fn clone_for_retry<T: CloneForRetry>(value: &T) -> T {
    value.clone()
}

/// A parameter taken by value in a fn whose fallback answers failures is cloned for the
/// call, so the fallback can still be given the original.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is taken by value in a fn with `fallback_on = \"failure\"`, so it must be `Clone`",
    label = "the call gets a copy of this parameter, and the fallback the original",
    note = "derive or implement `Clone` for it, take it by reference (`&{Self}`), or let the fallback answer only rejections (`fallback_on = \"open\"`)"
)]
pub trait CloneForFallback: Clone {}
impl<T: Clone> CloneForFallback for T {}

/// A copy of a parameter for the call, when the fallback may need the original.
#[inline]
pub fn clone_for_fallback<T: CloneForFallback>(value: &T) -> T {
    value.clone()
}

/// The default `is_failure` and `retry_if`: every error.
#[inline]
pub fn every_error<E>(_: &E) -> bool {
    true
}

/// The default `on_retry`: nothing.
#[inline]
pub fn no_hook<E>(_: &E, _: &RetryInfo) {}

/// The value of `enabled = expr`.
#[inline]
pub fn enabled(flag: bool) -> bool {
    flag
}

/// Runs a sync call under a permit and records its outcome; a panic records a failure
/// and keeps unwinding.
#[inline]
pub fn run_sync<T, E>(
    permit: Permit<'_>,
    is_failure: impl Fn(&E) -> bool,
    call: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    // The permit records a failure when it is dropped during a panic.
    let result = call();
    permit.record(&result, is_failure);
    result
}

/// Runs an async call under a permit and records its outcome; a panic records a failure,
/// a dropped future records nothing and gives back a half-open trial slot.
#[inline]
pub fn run_async<T, E, F, C>(
    permit: Permit<'_>,
    is_failure: C,
    fut: F,
) -> failfast_runtime::Guarded<'_, F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Fn(&E) -> bool,
{
    failfast_runtime::guard(permit, is_failure, fut)
}

/// [`run_sync`] for `fallback_on = "failure"`: the result, or `None` when it is an error
/// that counts as a failure (the fallback answers instead).
#[inline]
pub fn run_sync_judged<T, E>(
    permit: Permit<'_>,
    is_failure: impl Fn(&E) -> bool,
    call: impl FnOnce() -> Result<T, E>,
) -> Option<Result<T, E>> {
    let result = call();
    let failed = matches!(&result, Err(e) if is_failure(e));
    permit.record(&result, |_| failed);
    (!failed).then_some(result)
}

/// [`run_async`] for `fallback_on = "failure"`: the result, or `None` when it is an error
/// that counts as a failure (the fallback answers instead).
pub async fn run_async_judged<T, E, F, C>(
    permit: Permit<'_>,
    is_failure: C,
    fut: F,
) -> Option<Result<T, E>>
where
    F: Future<Output = Result<T, E>>,
    C: Fn(&E) -> bool,
{
    // Atomic, not a `Cell`: the judge is held across the await, and the future must stay
    // `Send`.
    let failed = AtomicBool::new(false);
    let judge = |error: &E| {
        let failure = is_failure(error);
        failed.store(failure, Relaxed);
        failure
    };
    let result = failfast_runtime::guard(permit, judge, fut).await;
    (!failed.load(Relaxed)).then_some(result)
}

/// The value of a rejected call when there is no fallback.
#[inline]
pub fn rejected<T, E: FromFailfast>(open: Error) -> Result<T, E> {
    Err(E::from(open))
}

/// `#[timeout]`: the call, dropped at the deadline.
#[inline]
pub async fn timeout<T, E: FromFailfast, F: Future<Output = Result<T, E>>>(
    after: Duration,
    fut: F,
) -> Result<T, E> {
    failfast_runtime::timeout(after, fut).await
}

/// The wait between two attempts of an async fn.
#[inline]
pub async fn sleep(wait: Duration) {
    tokio::time::sleep(wait).await
}

/// The wait between two attempts of a sync fn.
#[inline]
pub fn sleep_sync(wait: Duration) {
    std::thread::sleep(wait)
}
