//! The attributes of [failfast]: `#[circuit_breaker]`, `#[retry]` and `#[timeout]`.
//!
//! Depend on the `failfast` crate, not on this one: it re-exports these attributes, and
//! the code they generate calls into it (`::failfast::__private`). The examples below are
//! not compiled here; the same examples run as doctests in `failfast`.
//!
//! # How the crate is organised
//! - `args.rs` reads the arguments (`key = value, ...`) through one table of keys per
//!   attribute;
//! - `value.rs` reads each value (durations, counts, rates, names, paths, ...), and
//!   `validate.rs` builds from them the checked layers of `ast.rs`, then checks the
//!   arguments together and whether the fn can carry them;
//! - `stack.rs` gathers every failfast attribute on the fn, so the outermost one expands
//!   the whole stack at once, in written order;
//! - `expand.rs` generates one layer per attribute around the user's body;
//! - `duration.rs` parses `"1m30s"`-style durations; `signature.rs` answers questions about
//!   the fn's receiver, parameters and return type; `boxed.rs` sees through the boxed
//!   future of an `#[async_trait]` method to its async block; `suggest.rs` finds the word a
//!   typo meant;
//! - `fuzz.rs` (tests only) throws generated arguments, fns and duration strings at
//!   `stack::try_expand` and `duration::parse`; `fuzz/` is a coverage-guided fuzzer
//!   (AFL++) of the same entry point, a crate of its own.
//!
//! Every mistake is a compile error on the token at fault, all of them reported at once,
//! and the fn itself is still emitted so the rest of the crate keeps compiling.
//!
//! # Stacking
//! The attribute written on top wraps the ones below it. The outermost failfast attribute
//! expands the whole stack: it recognises the others below it when they are written as
//! bare names (`#[retry]`, also when imported from a crate that re-exports failfast) or as
//! `failfast::name`. Other attributes stay where they are; an attribute macro of another
//! crate (`#[tracing::instrument]`) expands after the stack and so wraps all of it.
//!
//! # What the expansion looks like
//! The signature stays as written; the body moves into a non-`move` closure (sync) or
//! async block (async), so `return` and `?` leave the body only and each layer sees the
//! result. For `#[retry] #[circuit_breaker] async fn f(x: String) -> Result<T, E>`, in
//! outline (the real paths all start with `::failfast::__private::`):
//! ```text
//! async fn f(x: String) -> Result<T, E> {
//!     let policy = RetryPolicy::new();
//!     let mut retry = Retry::new(&policy);         // `.budget(..)` with `budget = ..`
//!     loop {
//!         let mut rejected = false;
//!         let result: Result<T, E> = {
//!             let x = clone_for_retry(&x);             // each attempt gets its own copy
//!             static SITE: Site = Site::new();         // the breaker, looked up once
//!             // `SITE.breaker_with_store(|| (name, config, store(expr)))` with `store = expr`
//!             match SITE.breaker(|| (name, config)).acquire() {
//!                 Ok(permit) => run_async(permit, every_error, async {
//!                     let x = x;                       // the block owns its copy
//!                     /* body */
//!                 })
//!                 .await,
//!                 Err(open) => { rejected = true; rejected(open) } // never retried
//!             }
//!         };
//!         // `next_with(&mut retry, &result, .., retry_if_ok, retry_after, ..)` with
//!         // `retry_if_ok` or `retry_after`
//!         match retry.next(&result, rejected, every_error, no_hook) {
//!             Some(wait) => sleep(wait).await,
//!             None => break result,
//!         }
//!     }
//! }
//! ```
//! A method whose breaker has the default name (`module::Type::method`) has a `MethodSite`
//! instead, with one `Site` per type `Self` stands for: `SITE.of(type_name::<Self>())`.
//!
//! On an `#[async_trait]` method the fn is already sync and returns
//! `Pin<Box<dyn Future<Output = Result<T, E>> + Send + '_>>`; the layers go inside the box:
//! ```text
//! fn f<'life0, 'async_trait>(&'life0 mut self) -> Pin<Box<dyn Future<..> + Send + 'async_trait>> {
//!     Box::pin(async move {
//!         let mut __self = self;    // async-trait's, kept outside the layers
//!         /* the layers, as above, around `async { /* the rest of the block */ }` */
//!     })
//! }
//! ```
//! The section *Trait methods* of `#[circuit_breaker]` says which positions work.
//!
//! [failfast]: https://docs.rs/failfast

mod args;
mod ast;
mod boxed;
mod duration;
mod errors;
mod expand;
#[cfg(test)]
mod fuzz;
mod signature;
mod stack;
mod suggest;
mod validate;
mod value;

use args::Attr;
use proc_macro::TokenStream;

/// Guards a fn with a circuit breaker: after `failures` failed calls in a row (or, with
/// `failure_rate`, once that share of the recent calls failed) the breaker opens and calls
/// fail fast, without running the body, for `reset`; then `probes` trial calls decide
/// whether it closes again.
///
/// The fn returns `Result<T, E>` and is sync or async, a free fn or a method. A rejected
/// call returns `Err(E::from(failfast::Error::Open { .. }))`, so `E` implements
/// `From<failfast::Error>`, or the call goes to the `fallback`.
///
/// # Arguments
/// | argument | meaning | default |
/// |---|---|---|
/// | `"name"` first, or `name = "name"` | the breaker's key in the registry; fns naming the same key share one breaker | `module::fn`, or `module::Type::method` for a method with a receiver (`Type` is `Self`: the implementing type in a trait's default body, see *Trait methods*) |
/// | `failures = 5` | open after this many failures in a row (at least 1) | 5 |
/// | `failure_rate = 0.5` | instead of `failures`: open once the window holds `min_calls` outcomes and this share of them (in (0, 1]; exactly the rate opens) failed | off |
/// | `window = 100` or `window = "60s"` | the sliding window of `failure_rate` and `slow_rate`: the last N calls, or the calls of the last duration | 100 calls |
/// | `min_calls = 10` | outcomes the window must hold before a rate can open the breaker (a count window smaller than this counts when full) | 10 |
/// | `slow = "2s"` | a call that takes longer, success or failure, is slow: counted in the metrics, and toward `slow_rate` | off |
/// | `slow_rate = 0.8` | open once this share of the window's calls were slow (in (0, 1]; needs `slow`) | off |
/// | `reset = "60s"` | how long the breaker stays open before a trial call | 60s |
/// | `reset_max = "10m"` | each reopen straight from half-open doubles the open time (jittered), up to this; a close brings it back to `reset` | off |
/// | `probes = 1` | trial calls in half-open; all must succeed to close, one failure reopens (at least 1) | 1 |
/// | `probe_timeout = "30s"` | a trial call that has not reported after this long counts as failed, so a hung trial cannot hold the breaker half-open: the next call that asks reopens the breaker for its open time, and the hung call's outcome, whenever it comes, changes nothing (longer than 0s) | `reset` |
/// | `is_failure = path` | a `fn(&E) -> bool` deciding which errors count as failures; the others count as successes and are returned unchanged | every `Err` |
/// | `fallback = path` | a fn with the same parameters and return type, called instead when the breaker rejects the call; on a method, a method of the same type (called with the same receiver); on an async fn, an async fn | none: `Err(Error::Open)` |
/// | `fallback_on = "open" \| "failure"` | when the fallback answers: only when the breaker rejects the call, or also when the call fails with an error `is_failure` counts (a `#[timeout]` below included); panics still propagate, and by-value parameters are cloned for the call so the fallback gets the originals | `"open"` |
/// | `store = expr` | where the breaker's state lives: a value of any type implementing `failfast::Store`, such as `failfast::InProcess` or a `failfast::RedisStore` handle (feature `redis`, shared across processes). Evaluated once, on the fn's first call; the first registration of a name decides its store | the process-wide default store (`failfast::set_default_store`, else `InProcess`) |
/// | `enabled = expr` | a `bool`; `false` makes the attribute a pass-through | true |
/// | `mode = "observe"` | `"observe"`: record, transition and report as usual but never reject (to roll thresholds out safely); `"enforce"`: reject while open. Switchable at run time through the registry | `"enforce"` |
/// | `crate = path` | where failfast is, for crates that re-export it | `::failfast` |
///
/// Durations are strings with units (`"250ms"`, `"3s"`, `"1m30s"`, `"1.5s"`, `"2h"`; units
/// ns, us, ms, s, m, h), checked at compile time, or any expression of type
/// `std::time::Duration`. A panic in the body counts as a failure and propagates.
///
/// The store is where a breaker's state lives: `InProcess` keeps it in the process; a
/// shared store tells the other processes that the breaker is open and for how long, and
/// hands out the leases for the half-open trials. Without `store`, the breaker uses the
/// default store, which `failfast::set_default_store` sets once, at start-up. A value
/// that is not a store is a compile error on the expression.
///
/// Checked at compile time: `failures` and `failure_rate` exclude each other; the rates lie
/// in (0, 1]; a window is not empty; `slow` and `probe_timeout` are longer than 0s;
/// `slow_rate` needs `slow`; `window` and `min_calls` need `failure_rate` or `slow_rate`
/// (the consecutive-failure policy has no window, and `slow` alone only counts slow
/// calls); `reset_max` is at least `reset`.
///
/// ```
/// use failfast::circuit_breaker;
/// # #[derive(Debug)]
/// # pub struct ApiError;
/// # impl From<failfast::Error> for ApiError {
/// #     fn from(_: failfast::Error) -> Self { ApiError }
/// # }
///
/// // Open when half of the calls of the last minute failed (at least 20 of them), or when
/// // 80% took over 2s; stay open 30s, up to 10m while trial calls keep failing.
/// #[circuit_breaker(
///     "search",
///     failure_rate = 0.5,
///     window = "60s",
///     min_calls = 20,
///     slow = "2s",
///     slow_rate = 0.8,
///     reset = "30s",
///     reset_max = "10m"
/// )]
/// async fn search(query: &str) -> Result<Vec<String>, ApiError> {
///     Ok(vec![query.to_owned()])
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// #     assert_eq!(search("rust").await.unwrap(), ["rust"]);
/// # }
/// ```
///
/// One store for the breakers of one service, whatever the default store is:
/// ```
/// use failfast::{circuit_breaker, InProcess};
/// use std::sync::{Arc, LazyLock};
///
/// // In-process here; a `failfast::RedisStore` (feature `redis`) is a handle cloned the
/// // same way.
/// static INVENTORY: LazyLock<Arc<InProcess>> = LazyLock::new(|| Arc::new(InProcess));
///
/// #[circuit_breaker("inventory", failures = 3, store = INVENTORY.clone())]
/// fn stock(item: u32) -> Result<u32, failfast::Error> {
///     Ok(item * 2)
/// }
/// # assert_eq!(stock(4).unwrap(), 8);
/// # assert!(failfast::registry().get("inventory").is_some());
/// ```
///
/// # Example
/// ```
/// use failfast::{circuit_breaker, retry, timeout};
/// # #[derive(Debug)]
/// # pub struct ApiError;
/// # impl From<failfast::Error> for ApiError {
/// #     fn from(_: failfast::Error) -> Self { ApiError }
/// # }
/// # mod api {
/// #     pub async fn recommendations(user: u64) -> Result<Vec<u64>, super::ApiError> { Ok(vec![user]) }
/// # }
///
/// #[retry(attempts = 3, delay = "100ms")]          // outermost: runs first
/// #[circuit_breaker("recommendations", failures = 5, reset = "30s", fallback = popular_only)]
/// #[timeout("800ms")]                               // innermost: closest to the call
/// async fn recommendations(user: u64) -> Result<Vec<u64>, ApiError> {
///     api::recommendations(user).await
/// }
///
/// async fn popular_only(_user: u64) -> Result<Vec<u64>, ApiError> {
///     Ok(vec![1, 2, 3])
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// #     assert_eq!(recommendations(7).await.unwrap(), vec![7]);
/// # }
/// ```
/// Stacked attributes wrap each other in written order. The retry never retries the
/// breaker's own rejection: once the breaker is open, the loop stops.
///
/// # Trait methods
/// All three attributes work on trait methods, sync or async (native `async fn` in traits,
/// Rust 1.75+), taking `&self` or `&mut self`, generic or not:
/// - **on a method of an `impl Trait for Type` block**;
/// - **on a default body in the `trait`**. A trait method without a body is a compile
///   error that asks for the attribute on the method in each impl instead.
/// - **on the `async fn`s of an `#[async_trait]` impl, or default bodies of an
///   `#[async_trait]` trait**, written below `#[async_trait]` as usual. `#[async_trait]` on
///   the impl or trait expands first (rustc expands an item's attributes before those of
///   the items inside it, so the other order cannot be written) and turns the method into
///   a sync fn whose body is `Box::pin(async move { .. })`, returning
///   `Pin<Box<dyn Future<Output = Result<T, E>> + Send + '_>>`. The attributes recognise
///   that shape, by the body and the return type, and wrap the async block, not the
///   boxing: the timeout, the breaker and the retries apply to the awaited work, and
///   `#[timeout]` is accepted. The future stays `Send`. The receiver's rebinding
///   (`let __self = self;`) stays outside the layers, so a `&mut self` method can be
///   retried, and a fallback is given that receiver. A fn written by hand in that shape
///   is wrapped the same way (statements before the `Box::pin` run when the future is
///   made, outside the layers); any other boxed future (`Box::pin(self.call())`, a
///   `BoxFuture` alias) is a compile error that says so.
///
/// The default name of a method's breaker is `module::Type::method` with the type `Self`
/// stands for, as `core::any::type_name` writes it (the module is the type's, not the
/// trait's) and without generic arguments. In a trait's default body, and in a blanket
/// impl (`impl<T: Bound> Trait for T`), that is each implementing type in turn: each one
/// gets a breaker of its own, as if the method were written in each impl. Name the
/// breaker to share one across every implementing type.
/// ```
/// use failfast::{circuit_breaker, timeout};
/// # #[derive(Debug)]
/// # pub struct ApiError;
/// # impl From<failfast::Error> for ApiError {
/// #     fn from(_: failfast::Error) -> Self { ApiError }
/// # }
///
/// trait Backend {
///     fn url(&self) -> &str;
///
///     // Breakers `<module>::Primary::fetch` and `<module>::Replica::fetch`.
///     #[circuit_breaker(failures = 5, reset = "30s")]
///     #[timeout("800ms")]
///     async fn fetch(&self, path: &str) -> Result<String, ApiError> {
///         Ok(format!("{}{path}", self.url()))
///     }
/// }
///
/// struct Primary;
/// impl Backend for Primary {
///     fn url(&self) -> &str { "https://primary" }
/// }
///
/// struct Replica;
/// impl Backend for Replica {
///     fn url(&self) -> &str { "https://replica" }
///
///     // Or in the impl, replacing the default body.
///     #[circuit_breaker("replica", failures = 3)]
///     async fn fetch(&self, path: &str) -> Result<String, ApiError> {
///         Ok(format!("{}{path}", self.url()))
///     }
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// #     assert_eq!(Primary.fetch("/a").await.unwrap(), "https://primary/a");
/// #     assert_eq!(Replica.fetch("/b").await.unwrap(), "https://replica/b");
/// #     assert!(failfast::registry().get("replica").is_some());
/// # }
/// ```
/// With `#[async_trait]` (`async-trait` 0.1.44 or later):
/// ```text
/// #[async_trait]
/// impl Backend for Primary {
///     #[retry(attempts = 3)]
///     #[circuit_breaker(failures = 5)]
///     #[timeout("800ms")] // the deadline of each attempt's awaited work
///     async fn fetch(&mut self, path: &str) -> Result<String, ApiError> { .. }
/// }
/// ```
///
/// # Equivalent code without the attribute
/// ```
/// use failfast::{registry, Breaker, BreakerConfig};
/// use std::sync::LazyLock;
/// use std::time::Duration;
///
/// static BREAKER: LazyLock<Breaker> = LazyLock::new(|| {
///     registry().breaker(
///         "recommendations",
///         BreakerConfig::new().failures(5).reset(Duration::from_secs(30)),
///     )
/// });
///
/// async fn recommendations(user: u64) -> Result<Vec<u64>, ApiError> {
///     match BREAKER.acquire() {
///         Ok(permit) => {
///             failfast::guard(permit, |_: &ApiError| true, async {
///                 api::recommendations(user).await
///             })
///             .await
///         }
///         Err(_open) => popular_only(user).await,
///     }
/// }
/// # async fn popular_only(_user: u64) -> Result<Vec<u64>, ApiError> { Ok(vec![1, 2, 3]) }
/// # #[derive(Debug)]
/// # pub struct ApiError;
/// # impl From<failfast::Error> for ApiError {
/// #     fn from(_: failfast::Error) -> Self { ApiError }
/// # }
/// # mod api {
/// #     pub async fn recommendations(user: u64) -> Result<Vec<u64>, super::ApiError> { Ok(vec![user]) }
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// #     assert_eq!(recommendations(7).await.unwrap(), vec![7]);
/// # }
/// ```
/// With `store = expr`, the breaker is made with
/// `registry().breaker_with_store(name, config, expr)` instead.
#[proc_macro_attribute]
pub fn circuit_breaker(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(Attr::CircuitBreaker, args.into(), item.into()).into()
}

/// Retries a fn that returned `Err`, waiting with exponential backoff and jitter between
/// attempts.
///
/// The fn returns `Result<T, E>` and is sync or async (async fns wait with
/// `tokio::time::sleep`, sync fns with `std::thread::sleep`). Parameters taken by value
/// must be `Clone`: each attempt gets its own copy. A method takes `&self` or `&mut self`.
///
/// # Arguments
/// | argument | meaning | default |
/// |---|---|---|
/// | `attempts = 3` | total tries, the first included (at least 1) | 3 |
/// | `delay = "100ms"` | wait before the first retry | 100ms |
/// | `factor = 2.0` | growth of the wait per retry; 1.0 keeps it fixed (at least 1.0) | 2.0 |
/// | `max_delay = "10s"` | cap on one wait | 10s |
/// | `jitter = "full"` | `"full"`, `"equal"`, `"decorrelated"` or `"none"`: the AWS *Exponential Backoff and Jitter* schemes | `"full"` |
/// | `deadline = "30s"` | give up once the next wait would pass this much total time | none |
/// | `retry_if = path` | a `fn(&E) -> bool` deciding which errors are retried | every `Err` |
/// | `retry_if_ok = path` | a `fn(&T) -> bool`: retry an `Ok` value too (a 503 inside `Ok(Response)`); when the attempts run out the last value is returned as it is | none |
/// | `retry_after = path` | a `fn(&E) -> Option<Duration>`: the wait the error asks for (a `Retry-After` header), used instead of the backoff's, capped at `max_delay`, within `deadline`. `retry_after` alone uses the error's `failfast::RetryAfter` impl | the backoff |
/// | `budget = "name"` / `budget = "none"` | the retry budget this fn draws from: each first attempt deposits, each retry needs a token, and an empty budget stops the retries (the last result is returned). A name is shared by every fn naming it (ratio 0.1, floor 10/s, set at run time with `failfast::registry().budget("name")`); `"none"`: no budget; `"default"`: the default one, explicitly | the process-wide default budget (ratio 0.2, floor 10/s) |
/// | `on_retry = path` | a `fn(&E, &failfast::RetryInfo)` called before each wait (after an error) | none |
/// | `crate = path` | where failfast is, for crates that re-export it | `::failfast` |
///
/// **Every retry draws from a budget**, as in Envoy, gRPC and the AWS SDKs: without a
/// `budget` argument, the process-wide default one (retries add at most 20% to the calls,
/// plus 10 per second). So three stacked layers of 4 attempts cannot turn one request into
/// 64 calls to a dependency that is down. Write `budget = "none"` to opt out.
///
/// When a `#[circuit_breaker]` sits below `#[retry]` on the same fn, the breaker's own
/// rejection is never retried. Across fns, `retry_if = failfast::not_open` does the same.
///
/// On trait methods (in an impl or a default body, sync or async) and on the `async fn`s
/// of an `#[async_trait]` impl or trait, whose boxed future it retries, not the boxing:
/// see *Trait methods* under `#[circuit_breaker]`.
///
/// # Example
/// ```
/// use failfast::retry;
/// # mod http {
/// #     pub fn get(url: &str) -> Result<String, std::io::Error> { Ok(url.to_owned()) }
/// # }
///
/// #[retry(attempts = 5, delay = "50ms", max_delay = "2s", jitter = "equal", on_retry = log)]
/// fn fetch(url: String) -> Result<String, std::io::Error> {
///     http::get(&url)
/// }
///
/// fn log(error: &std::io::Error, info: &failfast::RetryInfo) {
///     eprintln!("attempt {} failed: {error}; next try in {:?}", info.attempt, info.delay);
/// }
/// # assert_eq!(fetch("https://example.com".into()).unwrap(), "https://example.com");
/// ```
///
/// An HTTP client that returns every response as `Ok`, a server that says when to come
/// back, and a budget shared with the other fns calling the same service:
/// ```
/// use failfast::retry;
/// use std::time::Duration;
/// # pub struct Response { pub status: u16 }
/// # #[derive(Debug)]
/// # pub enum HttpError { TooManyRequests { retry_after: Duration }, Io }
/// # mod http {
/// #     pub async fn get(_url: &str) -> Result<super::Response, super::HttpError> { Ok(super::Response { status: 200 }) }
/// # }
///
/// #[retry(
///     attempts = 4,
///     max_delay = "30s",
///     retry_if_ok = unavailable,
///     retry_after = server_hint,
///     budget = "inventory"
/// )]
/// async fn stock(url: &str) -> Result<Response, HttpError> {
///     http::get(url).await
/// }
///
/// fn unavailable(response: &Response) -> bool {
///     response.status == 503
/// }
///
/// fn server_hint(error: &HttpError) -> Option<Duration> {
///     match error {
///         HttpError::TooManyRequests { retry_after } => Some(*retry_after),
///         HttpError::Io => None,
///     }
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// #     assert_eq!(stock("https://example.com").await.unwrap().status, 200);
/// # }
/// ```
///
/// # Equivalent code without the attribute
/// ```
/// use failfast::RetryPolicy;
/// use std::time::Duration;
/// # mod http {
/// #     pub fn get(url: &str) -> Result<String, std::io::Error> { Ok(url.to_owned()) }
/// # }
///
/// fn fetch(url: String) -> Result<String, std::io::Error> {
///     let policy = RetryPolicy::new()
///         .attempts(5)
///         .delay(Duration::from_millis(50))
///         .max_delay(Duration::from_secs(2))
///         .jitter(failfast::Jitter::Equal);
///     failfast::retry(&policy, || http::get(&url))
/// }
/// # assert_eq!(fetch("https://example.com".into()).unwrap(), "https://example.com");
/// ```
#[proc_macro_attribute]
pub fn retry(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(Attr::Retry, args.into(), item.into()).into()
}

/// Gives an async fn a time limit: at the deadline the call is dropped and
/// `Err(E::from(failfast::Error::Timeout { .. }))` returned.
///
/// Written `#[timeout("3s")]` or `#[timeout(after = "3s")]`; the duration is a string with
/// units or any expression of type `std::time::Duration`. `crate = path` names failfast
/// for crates that re-export it.
///
/// Only async fns can be timed out: a running thread cannot be stopped from outside, so on
/// a sync fn the attribute is a compile error; give the I/O itself a timeout there.
///
/// On an async trait method (in an impl or a default body) and on the `async fn` of an
/// `#[async_trait]` impl or trait, which `#[async_trait]` has made a sync fn returning a
/// boxed future: the attribute sees through the box and times out the awaited work (see
/// *Trait methods* under `#[circuit_breaker]`). A sync trait method is refused like any
/// sync fn.
///
/// # Example
/// ```
/// use failfast::{retry, timeout};
/// # #[derive(Debug)]
/// # pub struct ApiError;
/// # impl From<failfast::Error> for ApiError {
/// #     fn from(_: failfast::Error) -> Self { ApiError }
/// # }
/// # mod api {
/// #     pub async fn quote(_symbol: &str) -> Result<f64, super::ApiError> { Ok(1.5) }
/// # }
///
/// #[retry(attempts = 3)]
/// #[timeout("800ms")] // per attempt
/// async fn quote(symbol: String) -> Result<f64, ApiError> {
///     api::quote(&symbol).await
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// #     assert_eq!(quote("ACME".into()).await.unwrap(), 1.5);
/// # }
/// ```
///
/// # Equivalent code without the attribute
/// ```
/// use std::time::Duration;
/// # #[derive(Debug)]
/// # pub struct ApiError;
/// # impl From<failfast::Error> for ApiError {
/// #     fn from(_: failfast::Error) -> Self { ApiError }
/// # }
/// # mod api {
/// #     pub async fn quote(_symbol: &str) -> Result<f64, super::ApiError> { Ok(1.5) }
/// # }
///
/// async fn quote(symbol: String) -> Result<f64, ApiError> {
///     failfast::timeout(Duration::from_millis(800), async { api::quote(&symbol).await }).await
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// #     assert_eq!(quote("ACME".into()).await.unwrap(), 1.5);
/// # }
/// ```
#[proc_macro_attribute]
pub fn timeout(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(Attr::Timeout, args.into(), item.into()).into()
}
