//! The expansions compile without a single warning under the strictest common settings:
//! rustc's `warnings` and clippy's default groups (run `cargo clippy --all-targets`), plus
//! the pedantic and nursery groups, which users turn on often enough. Lints are only allowed on
//! generated tokens, so the user's own code below still gets every warning.
#![deny(warnings, clippy::all, clippy::pedantic, clippy::nursery)]
#![deny(unused_qualifications, unused_results, unreachable_pub, missing_docs)]
#![allow(
    clippy::missing_errors_doc,
    clippy::unused_async,
    clippy::unnecessary_wraps
)]

use failfast::{circuit_breaker, retry, timeout};
use std::time::Duration;

/// The error type of these fns.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// A failure.
    Down,
    /// Failfast's own error.
    Failfast(failfast::Error),
}

impl From<failfast::Error> for ApiError {
    fn from(e: failfast::Error) -> Self {
        Self::Failfast(e)
    }
}

const LIMIT: Duration = Duration::from_secs(3);

const fn transient(e: &ApiError) -> bool {
    matches!(e, ApiError::Down)
}

const fn log(e: &ApiError, info: &failfast::RetryInfo) {
    let _ = (e, info.attempt);
}

/// Every argument of every attribute, stacked, async.
#[retry(
    attempts = 4,
    delay = "10ms",
    factor = 1.5,
    max_delay = "1s",
    deadline = "30s",
    retry_if = transient,
    on_retry = log,
)]
#[circuit_breaker(
    "lints::everything",
    failures = 3,
    reset = "1m30s",
    probes = 2,
    is_failure = transient,
    fallback = everything_fallback,
    fallback_on = "failure",
    enabled = true,
    crate = ::failfast,
)]
#[timeout(after = LIMIT)]
pub async fn everything(id: u64, name: String, mut buf: Vec<u8>) -> Result<usize, ApiError> {
    buf.push(1);
    Ok(usize::try_from(id).unwrap_or(0) + name.len() + buf.len())
}

async fn everything_fallback(_id: u64, _name: String, _buf: Vec<u8>) -> Result<usize, ApiError> {
    Ok(0)
}

// `retry_if_ok` takes a `fn(&T) -> bool`, whatever the size of `T`.
#[allow(clippy::trivially_copy_pass_by_ref)]
const fn nothing_found(n: &usize) -> bool {
    *n == 0
}

fn server_hint(e: &ApiError) -> Option<Duration> {
    match e {
        ApiError::Failfast(e) => failfast::RetryAfter::retry_after(e),
        ApiError::Down => None,
    }
}

/// The window of `policy_expressions`, as an expression.
const WINDOW: u32 = 50;

/// Every policy and retry-control argument, stacked, async.
#[retry(
    attempts = 3,
    delay = "10ms",
    budget = "lints::budget",
    retry_if_ok = nothing_found,
    retry_after = server_hint,
)]
#[circuit_breaker(
    "lints::policies",
    failure_rate = 0.5,
    window = "60s",
    min_calls = 20,
    slow = "2s",
    slow_rate = 0.8,
    reset = "1s",
    reset_max = "10m",
    mode = "observe"
)]
#[timeout("1s")]
pub async fn policies(id: u64) -> Result<usize, ApiError> {
    Ok(usize::try_from(id).unwrap_or(0))
}

/// The same, sync, with closures, expressions and `retry_after` alone.
#[retry(budget = "none", retry_if_ok = |n: &u32| *n == 0, retry_after)]
#[circuit_breaker(
    "lints::policy_expressions",
    failures = 2,
    slow = LIMIT,
    slow_rate = 1,
    window = WINDOW,
    mode = "enforce",
    store = failfast::InProcess
)]
pub fn policy_expressions(n: u32) -> Result<u32, failfast::Error> {
    Ok(n + 1)
}

/// The same stack, sync (no timeout). Regression: a `mut` parameter of a retried fn is
/// only read (to clone it per attempt), which must not warn `unused_mut`.
#[retry(attempts = 2, delay = "1ms", retry_if = |e: &ApiError| matches!(e, ApiError::Down))]
#[circuit_breaker(
    name = "lints::sync",
    enabled = cfg!(not(miri)),
    fallback = sync_fallback,
    fallback_on = "failure"
)]
pub fn sync(mut count: u32, label: &str) -> Result<u32, ApiError> {
    count += 1;
    Ok(count + u32::try_from(label.len()).unwrap_or(0))
}

const fn sync_fallback(_count: u32, _label: &str) -> Result<u32, ApiError> {
    Ok(0)
}

/// Bare attributes.
#[retry]
#[circuit_breaker]
pub fn bare() -> Result<(), ApiError> {
    Ok(())
}

/// Only a retry, sync, with a by-value parameter.
#[retry(attempts = 2)]
pub fn only_retry(text: String) -> Result<String, ApiError> {
    Ok(text)
}

/// Only a timeout.
#[timeout("250ms")]
pub async fn only_timeout() -> Result<(), ApiError> {
    Ok(())
}

/// Only a breaker, async, with early return and `?`.
#[circuit_breaker]
pub async fn early(flag: bool) -> Result<u8, ApiError> {
    if flag {
        return Ok(1);
    }
    Err(ApiError::Down)?;
    Ok(2)
}

/// A method with the default name.
pub struct Client {
    calls: u32,
}

impl Client {
    /// `&mut self` under a retry and a breaker.
    #[retry(attempts = 2, delay = "1ms")]
    #[circuit_breaker(fallback = zero)]
    pub fn call(&mut self, n: u32) -> Result<u32, ApiError> {
        self.calls += n;
        Ok(self.calls)
    }

    // A fallback takes the receiver of the fn it stands in for.
    #[allow(clippy::unused_self, clippy::needless_pass_by_ref_mut)]
    const fn zero(&mut self, _n: u32) -> Result<u32, ApiError> {
        Ok(0)
    }

    /// `&self`, async, returning a borrow.
    #[retry(attempts = 2, delay = "1ms")]
    #[circuit_breaker]
    #[timeout("1s")]
    pub async fn get(&self) -> Result<&u32, ApiError> {
        Ok(&self.calls)
    }
}

#[test]
fn expansions_compile_and_run() {
    let mut client = Client { calls: 0 };
    assert_eq!(client.call(2).ok(), Some(2));
    assert_eq!(sync(1, "ab").ok(), Some(4));
    assert!(bare().is_ok());
    assert_eq!(only_retry("x".to_owned()).ok().as_deref(), Some("x"));
    assert_eq!(policy_expressions(1).ok(), Some(2));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(everything(1, "ab".into(), vec![]).await.ok(), Some(4));
        assert_eq!(policies(3).await.ok(), Some(3));
        assert!(only_timeout().await.is_ok());
        assert_eq!(early(true).await.ok(), Some(1));
        assert_eq!(client.get().await.ok(), Some(&2));
    });
}

/// Imports used only by attributes that the outermost one absorbs are still used.
pub mod absorbed_imports {
    use failfast::{circuit_breaker, retry, timeout};

    /// The error type.
    #[derive(Debug)]
    pub struct Failed;

    impl From<failfast::Error> for Failed {
        fn from(_: failfast::Error) -> Self {
            Self
        }
    }

    /// `circuit_breaker` and `timeout` are only named here, below `retry`.
    #[retry]
    #[circuit_breaker]
    #[timeout("1s")]
    pub async fn stacked() -> Result<(), Failed> {
        Ok(())
    }
}

/// Regression: `unused_braces` fired on the user's own braces.
///
/// A one-expression body under a single attribute was re-emitted as a block inside a
/// block. The lint only fires when the braces sit on one line, hence `rustfmt::skip`.
#[rustfmt::skip]
pub mod one_expression_bodies {
    use super::{ApiError, circuit_breaker, retry, timeout};

    /// A service.
    pub struct Svc;

    impl Svc {
        /// Async, one attribute, one expression.
        #[circuit_breaker(reset = "1m30s", probes = 2)]
        pub async fn call(&self, id: u64) -> Result<u64, ApiError> { Ok(id) }

        /// Sync, one attribute, one expression.
        #[retry(attempts = 2, delay = "1ms")]
        pub fn sync_call(&self, id: u64) -> Result<u64, ApiError> { Ok(id) }
    }

    /// A free async fn under a timeout only.
    #[timeout("1s")]
    pub async fn timed(id: u64) -> Result<u64, ApiError> { Ok(id) }
}
