//! The attributes on trait methods, on a paused tokio clock: native `async fn` in traits
//! (Rust 1.75+) in an impl and in a default body, `&mut self`, a generic method, a sync
//! method, a blanket impl, and `#[async_trait]` methods, whose boxing the attributes see
//! through so that they wrap the awaited work.
//!
//! Each module pins one position; the assertions count the calls that reached the body,
//! the attempts, the errors returned and the breaker's state in the registry. The
//! expansions compile without a warning under clippy's pedantic and nursery groups too
//! (`cargo clippy --all-targets`), `#[async_trait]` ones included.
#![deny(warnings, clippy::all, clippy::pedantic, clippy::nursery)]
#![allow(clippy::unused_async, clippy::missing_const_for_fn)]

#[allow(clippy::pedantic, clippy::nursery)] // shared with the other tests
mod common;

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use common::{ApiError, open};
use failfast::{Breaker, Error, State, circuit_breaker, registry, retry, timeout};
use tokio::time::{Instant, sleep};

fn timed_out(after: Duration) -> ApiError {
    ApiError::Failfast(Error::Timeout { after })
}

/// Passes a future through unchanged, and fails to compile if it is not `Send`.
const fn send<F: Send>(future: F) -> F {
    future
}

fn breaker(name: &str) -> Breaker {
    registry()
        .get(name)
        .unwrap_or_else(|| panic!("no breaker named {name}"))
}

/// The failures and successes the breaker named `name` recorded.
fn outcomes(name: &str) -> (u64, u64) {
    let metrics = breaker(name).metrics();
    (metrics.failures, metrics.successes)
}

/// A dependency, counting the calls that reached it.
#[derive(Default)]
struct Upstream {
    calls: AtomicU32,
}

impl Upstream {
    /// Answers after `secs` seconds.
    async fn answer(&self, secs: u64) -> Result<u64, ApiError> {
        self.calls.fetch_add(1, SeqCst);
        sleep(Duration::from_secs(secs)).await;
        Ok(secs)
    }

    /// Fails the first call only.
    fn fail_first(&self) -> Result<(), ApiError> {
        match self.calls.fetch_add(1, SeqCst) {
            0 => Err(ApiError::Down),
            _ => Ok(()),
        }
    }

    fn calls(&self) -> u32 {
        self.calls.load(SeqCst)
    }
}

/// The scenario every stacked position runs: `#[retry(attempts = 3, delay = "100ms")]`
/// over `#[circuit_breaker(failures = 4, reset = "30s")]` over `#[timeout("1s")]`.
async fn three_attempts_then_open<F, Fut>(name: &'static str, fetch: F, upstream: &Upstream)
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Result<u64, ApiError>>,
{
    assert_eq!(fetch(0).await, Ok(0));
    assert_eq!(upstream.calls(), 1);

    // A hung dependency: three attempts, each cut at 1s, with 100ms and 200ms between.
    let start = Instant::now();
    assert_eq!(fetch(60).await, Err(timed_out(Duration::from_secs(1))));
    assert_eq!(start.elapsed(), Duration::from_millis(3000 + 100 + 200));
    assert_eq!(upstream.calls(), 4);
    assert_eq!(outcomes(name), (3, 1), "the breaker sees each attempt");
    assert_eq!(breaker(name).state(), State::Closed);

    // One more timeout opens it; the retry's next attempt, 100ms later, is rejected and
    // not retried.
    let start = Instant::now();
    assert_eq!(
        fetch(60).await,
        Err(open(name, Duration::from_millis(30_000 - 100)))
    );
    assert_eq!(start.elapsed(), Duration::from_millis(1000 + 100));
    assert_eq!(upstream.calls(), 5);
    assert_eq!(breaker(name).state(), State::Open);
}

/// Two types implementing the traits with default bodies. The default names of their
/// breakers are `trait_methods::Primary::method` and `trait_methods::Replica::method`.
#[derive(Default)]
struct Primary(Upstream);

#[derive(Default)]
struct Replica(Upstream);

trait HasUpstream {
    fn upstream(&self) -> &Upstream;
}

impl HasUpstream for Primary {
    fn upstream(&self) -> &Upstream {
        &self.0
    }
}

impl HasUpstream for Replica {
    fn upstream(&self) -> &Upstream {
        &self.0
    }
}

/// After the primary's breaker opened: the replica's own breaker is closed and lets the
/// replica's call through.
async fn replica_unaffected(name: &str, call: impl Future<Output = Result<u64, ApiError>>) {
    assert_eq!(call.await, Ok(0));
    assert_eq!(breaker(name).state(), State::Closed);
}

/// A parameter that can be sent to another thread but not shared: the futures taking it
/// by value must not hold a reference to it across an await to stay `Send`.
#[derive(Clone, Default)]
struct NotSync(std::cell::Cell<u8>);

impl std::fmt::Display for NotSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.get())
    }
}

/// A receiver retried through `&mut self`: the third attempt succeeds.
#[derive(Default)]
struct Counter {
    attempts: u32,
}

impl Counter {
    fn step(&mut self) -> Result<u32, ApiError> {
        self.attempts += 1;
        if self.attempts < 3 {
            return Err(ApiError::Down);
        }
        Ok(self.attempts)
    }
}

/// Native `async fn` in a trait, the attributes on the impl's method.
mod native_impl {
    use super::*;

    trait Fetch {
        async fn fetch(&self, secs: u64) -> Result<u64, ApiError>;
    }

    #[derive(Default)]
    struct Client(Upstream);

    impl Fetch for Client {
        #[retry(attempts = 3, delay = "100ms", jitter = "none", budget = "none")]
        #[circuit_breaker(failures = 4, reset = "30s")]
        #[timeout("1s")]
        async fn fetch(&self, secs: u64) -> Result<u64, ApiError> {
            self.0.answer(secs).await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stacked_attributes_wrap_the_call() {
        let client = Client::default();
        three_attempts_then_open(
            "trait_methods::native_impl::Client::fetch",
            |secs| send(client.fetch(secs)),
            &client.0,
        )
        .await;
    }
}

/// Native `async fn` and sync fns with default bodies in the trait: `Self` is the
/// implementing type, so each implementing type gets its own breaker, named after it.
mod default_body {
    use super::*;

    trait Backend: HasUpstream {
        #[retry(attempts = 3, delay = "100ms", jitter = "none", budget = "none")]
        #[circuit_breaker(failures = 4, reset = "30s")]
        #[timeout("1s")]
        async fn fetch(&self, secs: u64) -> Result<u64, ApiError> {
            self.upstream().answer(secs).await
        }

        #[retry(attempts = 2, delay = "1ms", jitter = "none", budget = "none")]
        #[circuit_breaker(failures = 2, reset = "10s")]
        fn ping(&self, healthy: bool) -> Result<u32, ApiError> {
            self.upstream().calls.fetch_add(1, SeqCst);
            if healthy { Ok(1) } else { Err(ApiError::Down) }
        }
    }

    impl Backend for Primary {}
    impl Backend for Replica {}

    #[tokio::test(start_paused = true)]
    async fn async_default_body() {
        let primary = Primary::default();
        three_attempts_then_open(
            "trait_methods::Primary::fetch",
            |secs| send(primary.fetch(secs)),
            &primary.0,
        )
        .await;
        let replica = Replica::default();
        replica_unaffected("trait_methods::Replica::fetch", replica.fetch(0)).await;
    }

    /// Regression: a `static` in a default body is one item for every implementing type,
    /// so the breaker of whichever type called first served them all.
    #[tokio::test(start_paused = true)]
    async fn sync_default_body_one_breaker_per_implementing_type() {
        let (primary, replica) = (Primary::default(), Replica::default());
        // Two attempts fail and open the primary's breaker.
        assert_eq!(primary.ping(false), Err(ApiError::Down));
        assert_eq!(primary.0.calls(), 2);
        let name = "trait_methods::Primary::ping";
        assert_eq!(primary.ping(true), Err(open(name, Duration::from_secs(10))));
        assert_eq!(primary.0.calls(), 2);
        // The replica is not cut off by the primary's outage.
        assert_eq!(replica.ping(true), Ok(1));
        assert_eq!(replica.0.calls(), 1);
        assert_eq!(outcomes("trait_methods::Replica::ping"), (0, 1));
    }
}

/// A blanket impl is one fn for every type too: one breaker per type there as well.
mod blanket_impl {
    use super::*;

    trait Probe {
        fn probe(&self) -> Result<(), ApiError>;
    }

    impl<T: HasUpstream> Probe for T {
        #[circuit_breaker(failures = 1, reset = "10s")]
        fn probe(&self) -> Result<(), ApiError> {
            self.upstream().fail_first()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_breaker_per_type() {
        let (primary, replica) = (Primary::default(), Replica::default());
        assert_eq!(primary.probe(), Err(ApiError::Down));
        let name = "trait_methods::Primary::probe";
        assert_eq!(primary.probe(), Err(open(name, Duration::from_secs(10))));
        assert_eq!(primary.0.calls(), 1);
        replica.0.calls.store(1, SeqCst); // past its first call: healthy
        assert_eq!(replica.probe(), Ok(()));
        assert_eq!(outcomes("trait_methods::Replica::probe"), (0, 1));
    }
}

/// `&mut self`: each attempt borrows the receiver again.
mod mut_self {
    use super::*;

    trait Bump {
        async fn bump(&mut self) -> Result<u32, ApiError>;
    }

    impl Bump for Counter {
        #[retry(attempts = 3, delay = "100ms", jitter = "none", budget = "none")]
        #[circuit_breaker("trait_methods::mut_self", failures = 5)]
        #[timeout("1s")]
        async fn bump(&mut self) -> Result<u32, ApiError> {
            self.step()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retried_with_the_same_receiver() {
        let mut counter = Counter::default();
        let start = Instant::now();
        assert_eq!(send(counter.bump()).await, Ok(3));
        assert_eq!(counter.attempts, 3);
        assert_eq!(start.elapsed(), Duration::from_millis(100 + 200));
        assert_eq!(outcomes("trait_methods::mut_self"), (2, 1));
    }
}

/// A generic method, async and sync; parameters taken by value are cloned per attempt.
mod generic_method {
    use super::*;
    use std::fmt::Display;

    trait Render {
        async fn render<T: Display + Clone + Send>(&self, item: T) -> Result<String, ApiError>;
        fn render_now<T: Display + Clone>(&self, item: T) -> Result<String, ApiError>;
    }

    #[derive(Default)]
    struct Page(Upstream);

    impl Render for Page {
        #[retry(attempts = 2, delay = "100ms", jitter = "none", budget = "none")]
        #[circuit_breaker]
        #[timeout("1s")]
        async fn render<T: Display + Clone + Send>(&self, item: T) -> Result<String, ApiError> {
            self.0.fail_first()?;
            Ok(format!("<{item}>"))
        }

        #[retry(attempts = 2, delay = "1ms", jitter = "none", budget = "none")]
        #[circuit_breaker]
        fn render_now<T: Display + Clone>(&self, item: T) -> Result<String, ApiError> {
            self.0.fail_first()?;
            Ok(format!("[{item}]"))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn async_generic_method() {
        let page = Page::default();
        assert_eq!(send(page.render(7u8)).await, Ok("<7>".to_owned()));
        let item = NotSync::default();
        assert_eq!(send(page.render(item)).await, Ok("<0>".to_owned()));
        assert_eq!(page.0.calls(), 3);
        // One breaker for every `T`, named without it.
        let name = "trait_methods::generic_method::Page::render";
        assert_eq!(outcomes(name), (1, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn sync_generic_method() {
        let page = Page::default();
        assert_eq!(page.render_now('a'), Ok("[a]".to_owned()));
        assert_eq!(page.0.calls(), 2);
        let name = "trait_methods::generic_method::Page::render_now";
        assert_eq!(outcomes(name), (1, 1));
    }
}

/// A sync trait method: retried with `std::thread::sleep`, guarded by a breaker.
mod sync_method {
    use super::*;

    trait Lookup {
        fn lookup(&self, key: &str) -> Result<u32, ApiError>;
    }

    #[derive(Default)]
    struct Table(Upstream);

    impl Lookup for Table {
        #[retry(attempts = 3, delay = "1ms", jitter = "none", budget = "none")]
        #[circuit_breaker("trait_methods::sync_method", failures = 3, reset = "30s")]
        fn lookup(&self, _key: &str) -> Result<u32, ApiError> {
            self.0.calls.fetch_add(1, SeqCst);
            Err(ApiError::Down)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retried_then_rejected() {
        let table = Table::default();
        assert_eq!(table.lookup("a"), Err(ApiError::Down));
        assert_eq!(table.0.calls(), 3);
        let name = "trait_methods::sync_method";
        assert_eq!(breaker(name).state(), State::Open);
        assert_eq!(table.lookup("a"), Err(open(name, Duration::from_secs(30))));
        assert_eq!(table.0.calls(), 3);
    }
}

/// Where the trait asks for a `Send` future (`-> impl Future + Send`), an `async fn` with
/// the attributes in the impl meets it, and a generic caller can spawn the call.
mod send_futures {
    use super::*;
    use std::sync::Arc;

    trait Fetch: Send + Sync + 'static {
        fn fetch(&self, secs: u64) -> impl Future<Output = Result<u64, ApiError>> + Send;
    }

    #[derive(Default)]
    struct Client(Upstream);

    impl Fetch for Client {
        #[retry(attempts = 2, delay = "100ms", jitter = "none", budget = "none")]
        #[circuit_breaker("trait_methods::send_futures", failures = 5)]
        #[timeout("1s")]
        async fn fetch(&self, secs: u64) -> Result<u64, ApiError> {
            self.0.answer(secs).await
        }
    }

    async fn spawned<F: Fetch>(client: Arc<F>, secs: u64) -> Result<u64, ApiError> {
        tokio::spawn(async move { client.fetch(secs).await })
            .await
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn spawned_through_a_generic_caller() {
        let client = Arc::new(Client::default());
        assert_eq!(spawned(client.clone(), 0).await, Ok(0));
        assert_eq!(
            spawned(client.clone(), 5).await,
            Err(timed_out(Duration::from_secs(1)))
        );
        assert_eq!(client.0.calls(), 3);
    }
}

/// `#[async_trait]` on the impl expands first; the attributes on its methods then see
/// `fn ..-> Pin<Box<dyn Future<..> + Send + '_>> { Box::pin(async move { .. }) }` and wrap
/// the async block.
mod async_trait_impl {
    use super::*;
    use async_trait::async_trait;
    use std::fmt::Display;

    #[async_trait]
    trait Service {
        async fn fetch(&self, secs: u64) -> Result<u64, ApiError>;
        async fn only_timeout(&self, secs: u64) -> Result<u64, ApiError>;
        async fn bump(&mut self) -> Result<u32, ApiError>;
        async fn send(&self, body: String, pair: (u8, u8), tag: &str) -> Result<String, ApiError>;
    }

    /// Apart: a generic method would make `Service` unusable as `dyn Service`.
    #[async_trait]
    trait Labels {
        async fn label<T: Display + Clone + Send>(&self, item: T) -> Result<String, ApiError>;
    }

    #[derive(Default)]
    struct Remote {
        upstream: Upstream,
        counter: Counter,
    }

    #[async_trait]
    impl Service for Remote {
        #[retry(attempts = 3, delay = "100ms", jitter = "none", budget = "none")]
        #[circuit_breaker(failures = 4, reset = "30s")]
        #[timeout("1s")]
        async fn fetch(&self, secs: u64) -> Result<u64, ApiError> {
            self.upstream.answer(secs).await
        }

        #[timeout("1s")]
        async fn only_timeout(&self, secs: u64) -> Result<u64, ApiError> {
            self.upstream.answer(secs).await
        }

        #[retry(attempts = 3, delay = "100ms", jitter = "none", budget = "none")]
        #[circuit_breaker("trait_methods::async_trait_impl::bump", failures = 5)]
        #[timeout("1s")]
        async fn bump(&mut self) -> Result<u32, ApiError> {
            self.counter.step()
        }

        #[retry(attempts = 2, delay = "100ms", jitter = "none", budget = "none")]
        #[circuit_breaker]
        #[timeout("1s")]
        async fn send(
            &self,
            mut body: String,
            (a, b): (u8, u8),
            tag: &str,
        ) -> Result<String, ApiError> {
            body.push_str(tag);
            self.upstream.fail_first()?;
            Ok(format!("{body} {}", a + b))
        }
    }

    #[async_trait]
    impl Labels for Remote {
        /// Generic, with a parameter that is `Send` but not `Sync`: the boxed future must
        /// still be `Send`.
        #[retry(attempts = 2, delay = "100ms", jitter = "none", budget = "none")]
        #[circuit_breaker]
        #[timeout("1s")]
        async fn label<T: Display + Clone + Send>(&self, item: T) -> Result<String, ApiError> {
            self.upstream.fail_first()?;
            Ok(format!("#{item}"))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stacked_attributes_wrap_the_future() {
        let remote = Remote::default();
        three_attempts_then_open(
            "trait_methods::async_trait_impl::Remote::fetch",
            |secs| remote.fetch(secs),
            &remote.upstream,
        )
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_alone_cuts_the_awaited_work() {
        let remote = Remote::default();
        let start = Instant::now();
        assert_eq!(
            remote.only_timeout(60).await,
            Err(timed_out(Duration::from_secs(1)))
        );
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        assert_eq!(remote.only_timeout(0).await, Ok(0));
        assert_eq!(remote.upstream.calls(), 2);
    }

    /// `let mut __self = self;` stays outside the retry loop: every attempt reborrows it.
    #[tokio::test(start_paused = true)]
    async fn mut_self_retried() {
        let mut remote = Remote::default();
        assert_eq!(remote.bump().await, Ok(3));
        assert_eq!(remote.counter.attempts, 3);
        assert_eq!(outcomes("trait_methods::async_trait_impl::bump"), (2, 1));
    }

    /// By-value parameters, a destructured one included, are cloned for each attempt.
    #[tokio::test(start_paused = true)]
    async fn by_value_parameters_per_attempt() {
        let remote = Remote::default();
        assert_eq!(
            remote.send("body".into(), (1, 2), "!").await,
            Ok("body! 3".to_owned())
        );
        assert_eq!(remote.upstream.calls(), 2);
        let name = "trait_methods::async_trait_impl::Remote::send";
        assert_eq!(outcomes(name), (1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn generic_method_send_not_sync_parameter() {
        let remote = Remote::default();
        assert_eq!(remote.label(NotSync::default()).await, Ok("#0".to_owned()));
        assert_eq!(remote.upstream.calls(), 2);
        let name = "trait_methods::async_trait_impl::Remote::label";
        assert_eq!(outcomes(name), (1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn behind_a_trait_object_on_another_task() {
        let service: Box<dyn Service + Send + Sync> = Box::new(Remote::default());
        let answer = tokio::spawn(async move { service.only_timeout(0).await });
        assert_eq!(answer.await.unwrap(), Ok(0));
    }
}

/// `#[async_trait]` on the trait: the attributes on a default body.
mod async_trait_default_body {
    use super::*;
    use async_trait::async_trait;

    #[async_trait]
    trait Backend: HasUpstream + Sync {
        #[retry(attempts = 3, delay = "100ms", jitter = "none", budget = "none")]
        #[circuit_breaker(failures = 4, reset = "30s")]
        #[timeout("1s")]
        async fn boxed_fetch(&self, secs: u64) -> Result<u64, ApiError> {
            self.upstream().answer(secs).await
        }
    }

    #[async_trait]
    impl Backend for Primary {}
    #[async_trait]
    impl Backend for Replica {}

    #[tokio::test(start_paused = true)]
    async fn default_body_per_implementing_type() {
        let primary = Primary::default();
        three_attempts_then_open(
            "trait_methods::Primary::boxed_fetch",
            |secs| primary.boxed_fetch(secs),
            &primary.0,
        )
        .await;
        let replica = Replica::default();
        replica_unaffected(
            "trait_methods::Replica::boxed_fetch",
            replica.boxed_fetch(0),
        )
        .await;
    }
}

/// A fallback on an `#[async_trait]` method is given the receiver the block moved `self`
/// into, and the original by-value arguments.
mod async_trait_fallback {
    use super::*;
    use async_trait::async_trait;

    #[async_trait]
    trait Quotes {
        async fn quote(&mut self, symbol: String) -> Result<String, ApiError>;
    }

    #[derive(Default)]
    struct Feed {
        calls: u32,
        served_stale: u32,
    }

    impl Feed {
        async fn stale(&mut self, symbol: String) -> Result<String, ApiError> {
            self.served_stale += 1;
            Ok(format!("{symbol}: stale"))
        }
    }

    #[async_trait]
    impl Quotes for Feed {
        #[circuit_breaker(
            "trait_methods::async_trait_fallback",
            failures = 2,
            fallback = stale,
            fallback_on = "failure"
        )]
        async fn quote(&mut self, symbol: String) -> Result<String, ApiError> {
            self.calls += 1;
            drop(symbol);
            Err(ApiError::Down)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn fallback_answers_failures_and_rejections() {
        let mut feed = Feed::default();
        for _ in 0..3 {
            assert_eq!(
                feed.quote("ACME".into()).await,
                Ok("ACME: stale".to_owned())
            );
        }
        // Two failures reached the body and opened the breaker; the third was rejected.
        assert_eq!((feed.calls, feed.served_stale), (2, 3));
        let name = "trait_methods::async_trait_fallback";
        assert_eq!(breaker(name).state(), State::Open);
    }
}

/// The shape `#[async_trait]` writes, written by hand: wrapped the same way.
mod hand_written_box_pin {
    use super::*;
    use std::pin::Pin;

    struct Client(Upstream);

    impl Client {
        #[retry(attempts = 3, delay = "100ms", jitter = "none", budget = "none")]
        #[timeout("1s")]
        fn fetch(
            &self,
            secs: u64,
        ) -> Pin<Box<dyn Future<Output = Result<u64, ApiError>> + Send + '_>> {
            Box::pin(async move { self.0.answer(secs).await })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retried_and_timed_out() {
        let client = Client(Upstream::default());
        let start = Instant::now();
        assert_eq!(
            client.fetch(60).await,
            Err(timed_out(Duration::from_secs(1)))
        );
        assert_eq!(start.elapsed(), Duration::from_millis(3000 + 100 + 200));
        assert_eq!(client.0.calls(), 3);
    }
}
