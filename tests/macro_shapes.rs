//! Signatures and bodies that are easy to get wrong in a proc macro, compiled and run.
//!
//! Each module pins one shape: generics, `impl Trait` arguments, receivers, `Self` and
//! `self` in the body, `return` and `?`, visibility, kept attributes, path hygiene, sync
//! and async, fallbacks and stacking orders. Behaviour is asserted where it is cheap (call
//! counts, default names); the full behaviour tests live elsewhere.

use failfast::{circuit_breaker, retry, timeout};
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    Down,
    Fatal,
    Failfast(failfast::Error),
}

impl From<failfast::Error> for ApiError {
    fn from(e: failfast::Error) -> Self {
        ApiError::Failfast(e)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for ApiError {}

fn is_down(e: &ApiError) -> bool {
    matches!(e, ApiError::Down)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

mod generics {
    use super::*;

    #[retry(attempts = 2, delay = "1ms")]
    fn parse_all<T: std::str::FromStr + Clone, I>(items: I) -> Result<Vec<T>, ApiError>
    where
        I: IntoIterator<Item = &'static str> + Clone,
    {
        items
            .into_iter()
            .map(|s| s.parse().map_err(|_| ApiError::Fatal))
            .collect()
    }

    #[circuit_breaker(failures = 3)]
    fn first<'a, T: ?Sized + AsRef<str>>(items: &'a [&'a T]) -> Result<&'a str, ApiError> {
        items.first().map(|t| t.as_ref()).ok_or(ApiError::Fatal)
    }

    #[retry(attempts = 2, delay = "1ms")]
    #[timeout("1s")]
    async fn generic_async<T: Clone + Send + 'static>(value: T) -> Result<T, ApiError> {
        Ok(value)
    }

    #[test]
    fn generic_fns() {
        assert_eq!(parse_all::<u8, _>(["1", "2"]), Ok(vec![1, 2]));
        assert_eq!(first::<str>(&["a", "b"]), Ok("a"));
        assert_eq!(rt().block_on(generic_async(7u8)), Ok(7));
    }
}

mod impl_trait_args {
    use super::*;

    #[retry(attempts = 3, delay = "1ms", budget = "none")]
    fn call(f: impl Fn() -> Result<u32, ApiError> + Clone) -> Result<u32, ApiError> {
        f()
    }

    #[circuit_breaker]
    fn len(s: impl AsRef<str>) -> Result<usize, ApiError> {
        Ok(s.as_ref().len())
    }

    #[test]
    fn impl_trait() {
        let calls = AtomicU32::new(0);
        let result = call(|| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(ApiError::Down)
            } else {
                Ok(5)
            }
        });
        assert_eq!(result, Ok(5));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(len("abc"), Ok(3));
    }
}

mod methods {
    use super::*;

    pub struct Client {
        pub name: String,
        pub calls: u32,
    }

    impl Client {
        #[circuit_breaker]
        pub fn name(&self) -> Result<&str, ApiError> {
            Ok(&self.name)
        }

        #[circuit_breaker]
        #[retry(attempts = 3, delay = "1ms", budget = "none")]
        pub fn bump(&mut self) -> Result<u32, ApiError> {
            self.calls += 1;
            if self.calls < 3 {
                return Err(ApiError::Down);
            }
            Ok(self.calls)
        }

        #[circuit_breaker]
        pub async fn name_async(&self) -> Result<&str, ApiError> {
            Ok(self.name.as_str())
        }

        #[retry(attempts = 2, delay = "1ms")]
        pub fn make() -> Result<Self, ApiError> {
            Ok(Self {
                name: String::from("made"),
                calls: 0,
            })
        }

        #[circuit_breaker("macro_shapes::self_in_format")]
        pub fn describe(&self) -> Result<String, ApiError> {
            Ok(format!("{} after {} calls", self.name, self.calls))
        }

        #[circuit_breaker("macro_shapes::self_type_in_body")]
        pub fn fresh(&self) -> Result<Self, ApiError> {
            let made: Self = Self {
                name: self.name.clone(),
                calls: 0,
            };
            Ok(made)
        }
    }

    #[test]
    fn receivers_and_default_names() {
        let mut client = Client {
            name: String::from("c"),
            calls: 0,
        };
        assert_eq!(client.name(), Ok("c"));
        assert_eq!(client.bump(), Ok(3));
        assert_eq!(rt().block_on(client.name_async()), Ok("c"));
        assert_eq!(client.describe().unwrap(), "c after 3 calls");
        assert_eq!(client.fresh().unwrap().calls, 0);
        assert_eq!(Client::make().unwrap().name, "made");
        let registry = failfast::registry();
        for name in [
            "macro_shapes::methods::Client::name",
            "macro_shapes::methods::Client::bump",
            "macro_shapes::methods::Client::name_async",
        ] {
            assert!(registry.get(name).is_some(), "no breaker named {name}");
        }
    }

    pub struct Generic<T>(pub T);

    impl<T: Clone + Send + Sync> Generic<T> {
        #[circuit_breaker]
        pub fn get(&self) -> Result<T, ApiError> {
            Ok(self.0.clone())
        }
    }

    #[test]
    fn generic_self_type_name_has_no_parameters() {
        assert_eq!(Generic(1u8).get(), Ok(1));
        assert_eq!(Generic("x").get(), Ok("x"));
        assert!(
            failfast::registry()
                .get("macro_shapes::methods::Generic::get")
                .is_some()
        );
    }

    pub trait Fetch {
        fn fetch(&self) -> Result<u32, ApiError>;
    }

    impl Fetch for Client {
        #[retry(attempts = 2, delay = "1ms")]
        fn fetch(&self) -> Result<u32, ApiError> {
            Ok(self.calls)
        }
    }

    pub trait Ping {
        fn id(&self) -> u32;

        /// A default method: `Self` is the implementing type.
        #[circuit_breaker]
        fn ping(&self) -> Result<u32, ApiError> {
            Ok(self.id())
        }

        async fn pong(&self) -> Result<u32, ApiError>;
    }

    impl Ping for Client {
        fn id(&self) -> u32 {
            self.calls
        }

        /// A native async fn in a trait impl.
        #[retry(attempts = 2, delay = "1ms")]
        #[timeout("1s")]
        async fn pong(&self) -> Result<u32, ApiError> {
            Ok(self.calls + 1)
        }
    }

    #[test]
    fn trait_impl_method() {
        let client = Client {
            name: String::new(),
            calls: 4,
        };
        assert_eq!(client.fetch(), Ok(4));
        assert_eq!(client.ping(), Ok(4));
        assert_eq!(rt().block_on(client.pong()), Ok(5));
        assert!(
            failfast::registry()
                .get("macro_shapes::methods::Client::ping")
                .is_some()
        );
    }
}

mod control_flow {
    use super::*;

    static CALLS: AtomicU32 = AtomicU32::new(0);

    fn step() -> Result<u32, ApiError> {
        if CALLS.fetch_add(1, Ordering::SeqCst) < 2 {
            Err(ApiError::Down)
        } else {
            Ok(10)
        }
    }

    /// `?` and `return` leave the body only: the retry sees both errors.
    #[retry(attempts = 5, delay = "1ms", budget = "none")]
    fn question_mark(early: bool) -> Result<u32, ApiError> {
        if early {
            return Ok(0);
        }
        let value = step()?;
        Ok(value + 1)
    }

    #[test]
    fn return_and_question_mark() {
        assert_eq!(question_mark(true), Ok(0));
        assert_eq!(question_mark(false), Ok(11));
        assert_eq!(CALLS.load(Ordering::SeqCst), 3);
    }

    #[retry(attempts = 2, delay = "1ms")]
    async fn async_return(early: bool) -> Result<&'static str, ApiError> {
        if early {
            return Ok("early");
        }
        Err(ApiError::Fatal)?;
        Ok("late")
    }

    #[test]
    fn async_return_and_question_mark() {
        assert_eq!(rt().block_on(async_return(true)), Ok("early"));
        assert_eq!(rt().block_on(async_return(false)), Err(ApiError::Fatal));
    }
}

mod visibility_and_attributes {
    use super::*;

    pub(crate) mod inner {
        use super::*;

        /// Documented, inlined, and allowed to be unused: all kept.
        #[inline]
        #[allow(dead_code)]
        #[circuit_breaker]
        #[retry(attempts = 1)]
        pub(crate) fn crate_visible(x: u8) -> Result<u8, ApiError> {
            Ok(x)
        }

        #[must_use = "kept"]
        #[retry]
        pub(super) fn super_visible() -> Result<(), ApiError> {
            Ok(())
        }
    }

    #[test]
    fn kept() {
        assert_eq!(inner::crate_visible(3), Ok(3));
        let _ = inner::super_visible();
    }
}

mod hygiene {
    #![allow(dead_code)]
    // Decoys: generated paths must not resolve to any of these.
    mod core {}
    mod failfast {}
    mod std {}
    type Result<T> = ::core::result::Result<T, super::ApiError>;
    struct Site;
    struct Name;
    fn every_error() {}
    fn store() {}
    #[allow(non_upper_case_globals)]
    const Ok: u8 = 0;

    #[::failfast::circuit_breaker]
    #[::failfast::retry(attempts = 2, delay = "1ms")]
    fn with_alias(x: u8) -> Result<u8> {
        let __failfast_result = x; // a user local with a generated-looking name
        ::core::result::Result::Ok(__failfast_result)
    }

    #[::failfast::retry(attempts = 2, delay = "1ms")]
    #[::failfast::circuit_breaker(
        "macro_shapes::hygiene::async",
        is_failure = super::is_down,
        store = ::failfast::InProcess
    )]
    #[::failfast::timeout("1s")]
    async fn async_with_alias(x: u8) -> Result<u8> {
        ::core::result::Result::Ok(x)
    }

    #[test]
    fn decoys_do_not_interfere() {
        assert_eq!(with_alias(4), ::core::result::Result::Ok(4));
        assert_eq!(
            super::rt().block_on(async_with_alias(5)),
            ::core::result::Result::Ok(5)
        );
    }
}

/// `crate = path`: a crate that re-exports failfast under another name.
mod reexport {
    pub use ::failfast as ff;

    use super::ApiError;
    // Imported under their own names, the attributes are recognised as one stack.
    use ff::{circuit_breaker, retry};
    use std::sync::atomic::{AtomicU32, Ordering};

    static CALLS: AtomicU32 = AtomicU32::new(0);

    #[retry(crate = crate::reexport::ff, attempts = 3, delay = "1ms", budget = "none")]
    #[circuit_breaker("macro_shapes::reexport", failures = 1, crate = "crate::reexport::ff")]
    pub fn through_reexport() -> Result<u8, ApiError> {
        CALLS.fetch_add(1, Ordering::SeqCst);
        Err(ApiError::Down)
    }

    #[test]
    fn crate_override() {
        // One real call opens the breaker; the retry stops at its rejection.
        assert!(matches!(through_reexport(), Err(ApiError::Failfast(_))));
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    }
}

mod fallbacks {
    use super::*;

    #[circuit_breaker("macro_shapes::fallback_free", failures = 1, fallback = cached)]
    fn free(key: String, n: u8) -> Result<String, ApiError> {
        let _ = (key, n);
        Err(ApiError::Down)
    }

    fn cached(key: String, n: u8) -> Result<String, ApiError> {
        Ok(format!("cached {key} {n}"))
    }

    #[test]
    fn fallback_on_free_fn() {
        assert_eq!(free("a".into(), 1), Err(ApiError::Down));
        assert_eq!(free("a".into(), 2), Ok("cached a 2".to_owned()));
    }

    pub struct Service {
        pub prefix: &'static str,
    }

    impl Service {
        #[circuit_breaker("macro_shapes::fallback_method", failures = 1, fallback = stale)]
        pub async fn fresh(&self, id: u32) -> Result<String, ApiError> {
            let _ = id;
            Err(ApiError::Down)
        }

        async fn stale(&self, id: u32) -> Result<String, ApiError> {
            Ok(format!("{}{id}", self.prefix))
        }
    }

    #[test]
    fn fallback_on_method() {
        let service = Service { prefix: "stale-" };
        let rt = rt();
        assert_eq!(rt.block_on(service.fresh(1)), Err(ApiError::Down));
        assert_eq!(rt.block_on(service.fresh(2)), Ok("stale-2".to_owned()));
    }
}

mod stacking {
    use super::*;

    static INNER_CALLS: AtomicU32 = AtomicU32::new(0);

    /// The retry is outside: the open breaker's rejection stops it at once.
    #[retry(attempts = 5, delay = "1ms", budget = "none")]
    #[circuit_breaker("macro_shapes::retry_outside", failures = 2)]
    fn retry_outside() -> Result<(), ApiError> {
        INNER_CALLS.fetch_add(1, Ordering::SeqCst);
        Err(ApiError::Down)
    }

    #[test]
    fn rejection_is_not_retried() {
        let result = retry_outside();
        assert!(matches!(
            result,
            Err(ApiError::Failfast(failfast::Error::Open { .. }))
        ));
        assert_eq!(INNER_CALLS.load(Ordering::SeqCst), 2);
    }

    static ASYNC_CALLS: AtomicU32 = AtomicU32::new(0);

    /// The breaker is outside: one retried call counts once.
    #[circuit_breaker("macro_shapes::breaker_outside", failures = 1)]
    #[retry(attempts = 3, delay = "1ms", retry_if = is_down)]
    #[timeout("5s")]
    async fn breaker_outside() -> Result<u32, ApiError> {
        Ok(ASYNC_CALLS.fetch_add(1, Ordering::SeqCst))
    }

    #[test]
    fn breaker_outside_retry() {
        assert_eq!(rt().block_on(breaker_outside()), Ok(0));
    }

    #[retry(attempts = 2, delay = "1ms")]
    #[timeout("10ms")]
    async fn slow() -> Result<(), ApiError> {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        Ok(())
    }

    #[test]
    fn timeout_inside_retry() {
        let result = rt().block_on(slow());
        assert!(matches!(
            result,
            Err(ApiError::Failfast(failfast::Error::Timeout { .. }))
        ));
    }

    #[timeout(after = std::time::Duration::from_millis(50))]
    #[circuit_breaker("macro_shapes::enabled", enabled = std::env::var("NEVER_SET_X").is_err(), fallback = zero)]
    async fn enabled_and_fallback(n: u32) -> Result<u32, ApiError> {
        Ok(n)
    }

    async fn zero(_n: u32) -> Result<u32, ApiError> {
        Ok(0)
    }

    #[test]
    fn enabled_expression() {
        assert_eq!(rt().block_on(enabled_and_fallback(9)), Ok(9));
    }

    static DISABLED_CALLS: AtomicU32 = AtomicU32::new(0);

    #[circuit_breaker("macro_shapes::disabled", failures = 1, enabled = false)]
    fn disabled() -> Result<(), ApiError> {
        DISABLED_CALLS.fetch_add(1, Ordering::SeqCst);
        Err(ApiError::Down)
    }

    #[test]
    fn enabled_false_is_a_pass_through() {
        for _ in 0..3 {
            assert_eq!(disabled(), Err(ApiError::Down));
        }
        assert_eq!(DISABLED_CALLS.load(Ordering::SeqCst), 3);
        assert!(failfast::registry().get("macro_shapes::disabled").is_none());
    }
}

mod by_value_params {
    use super::*;

    static ATTEMPTS: AtomicU32 = AtomicU32::new(0);

    /// Each attempt gets its own copy, even when the body consumes or mutates it.
    #[retry(attempts = 3, delay = "1ms", budget = "none")]
    fn consume(
        mut items: Vec<u8>,
        (a, b): (String, u8),
        borrowed: &str,
    ) -> Result<usize, ApiError> {
        items.push(b);
        let owned: String = a;
        drop(owned);
        if ATTEMPTS.fetch_add(1, Ordering::SeqCst) < 2 {
            return Err(ApiError::Down);
        }
        Ok(items.len() + borrowed.len())
    }

    #[test]
    fn cloned_per_attempt() {
        assert_eq!(consume(vec![1], ("x".into(), 2), "ab"), Ok(4));
        assert_eq!(ATTEMPTS.load(Ordering::SeqCst), 3);
    }

    #[retry(attempts = 2, delay = "1ms", budget = "none")]
    fn through_mut_ref(out: &mut Vec<u8>) -> Result<(), ApiError> {
        out.push(1);
        if out.len() < 2 {
            return Err(ApiError::Down);
        }
        Ok(())
    }

    #[test]
    fn mutable_reference_is_reborrowed() {
        let mut out = Vec::new();
        assert_eq!(through_mut_ref(&mut out), Ok(()));
        assert_eq!(out, [1, 1]);
    }
}

/// Arguments handed over by a `macro_rules!` as `$x:expr` fragments arrive wrapped in
/// invisible groups; they read as if written in place (the fuzzer's finding: they were
/// refused, e.g. "`attempts` must be a whole number").
mod through_macro_rules {
    use super::*;

    macro_rules! guarded {
        ($fn_name:ident, $name:expr, $failures:expr, $reset:expr, $attempts:expr, $delay:expr) => {
            #[retry(attempts = $attempts, delay = $delay, jitter = "none")]
            #[circuit_breaker($name, failures = $failures, reset = $reset)]
            fn $fn_name(calls: &AtomicU32) -> Result<u32, ApiError> {
                calls.fetch_add(1, Ordering::Relaxed);
                Err(ApiError::Down)
            }
        };
    }

    guarded!(always_down, "macro_shapes::macro_rules", 2, "60s", 3, "1ms");

    #[test]
    fn expr_fragments_are_read_as_written() {
        let calls = AtomicU32::new(0);
        // Attempt 1 and 2 fail (the breaker opens at 2), attempt 3 is rejected.
        let err = always_down(&calls).unwrap_err();
        assert!(
            matches!(err, ApiError::Failfast(failfast::Error::Open { .. })),
            "{err:?}"
        );
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        let breaker = failfast::registry()
            .get("macro_shapes::macro_rules")
            .expect("registered under the name given through the macro");
        assert_eq!(breaker.config().failures_threshold(), 2);
        assert_eq!(
            breaker.config().reset_after(),
            std::time::Duration::from_secs(60)
        );
    }
}
