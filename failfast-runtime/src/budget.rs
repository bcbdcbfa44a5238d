//! Retry budgets: a token bucket shared by every retry loop that draws from it, so
//! stacked or fanned-out retries cannot multiply the load on a struggling dependency.
//! The arithmetic and the costs are documented on [`Budget`].

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};

use tokio::time::Instant;

use crate::clock;
use crate::stripe::{self, Striped};
use crate::sync::{AtomicU64, Mutex};
use crate::telemetry;

/// Billionths of a token in one token.
const TOKEN: u64 = 1_000_000_000;

/// The default budget's name in a registry's list, metrics and traces.
pub(crate) const DEFAULT_NAME: &str = "default";
/// The default budget's ratio: retries may add 20% load...
pub(crate) const DEFAULT_RATIO: f64 = 0.2;
/// ...plus 10 retries per second.
pub(crate) const DEFAULT_MIN_PER_SEC: u32 = 10;

/// The name of a budget made by [`Budget::new`].
const STANDALONE_NAME: &str = "standalone";

/// How long a budget's bucket lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifetime {
    /// As long as the process (the process-wide registry's budgets): copies of a handle
    /// touch no shared reference count.
    Process,
    /// Until its last handle is dropped.
    Handles,
}

/// A retry budget: a token bucket that every retry loop drawing from it shares.
///
/// Each first attempt [deposits](Self::deposit) `ratio` tokens, each retry
/// [spends](Self::try_withdraw) one, and a floor of `min_per_sec` tokens per second (a
/// burst of one second's worth) lets a quiet service retry too. The deposits banked are
/// capped at what [`BANKED_DEPOSITS`](Self::BANKED_DEPOSITS) first attempts deposit, so
/// a healthy period does not store up a flood of retries.
///
/// A `Budget` is a handle: every clone is the same bucket. Named budgets live in the
/// [registry](crate::Registry::budget), and every retry draws from the process-wide
/// [default budget](crate::Registry::default_budget) unless it names another or none
/// ([`Retry::budget`](crate::Retry::budget)).
///
/// ```
/// use failfast_runtime::Budget;
///
/// let budget = Budget::new(0.5, 0); // retries may add 50% load, no floor
/// assert!(!budget.try_withdraw(), "nothing deposited yet");
/// budget.deposit();
/// budget.deposit(); // two first attempts: one token
/// assert!(budget.try_withdraw());
/// assert!(!budget.try_withdraw());
/// assert_eq!(budget.exhausted(), 2);
/// ```
///
/// # The arithmetic
///
/// A budget holds two kinds of tokens; one retry costs one token.
///
/// - **Deposits.** Every first attempt deposits `ratio` tokens into the *bank*. The bank
///   holds at most `ratio × 1000` tokens ([`Budget::BANKED_DEPOSITS`]): what a thousand
///   first attempts deposit. That cap is how deposits expire: a long healthy period
///   cannot bank millions of tokens that an outage would then spend all at once. (Finagle
///   expires each deposit after a 10 s window instead; a cap needs no clock on the hot
///   path and costs the same in steady state, where retries keep the bank low. gRPC's
///   retry throttling and the AWS SDKs' retry quota cap their buckets the same way.)
/// - **The floor.** `min_per_sec` tokens per second, with a burst of one second's worth:
///   it holds at most `min_per_sec` tokens, refills continuously at `min_per_sec` per
///   second of the runtime's clock (tokio's, paused or not), and starts full. It lets a
///   quiet service retry at all.
///
/// A retry is allowed when `bank + floor >= 1`; it spends the bank first and takes the
/// rest from the floor. Otherwise it is refused and counted ([`exhausted`](Self::exhausted)).
/// Over any stretch of time `t`, the retries granted are therefore at most
/// `b0 + ratio × first attempts + min_per_sec × (t + 1 s)`, `b0` being what the bank held
/// (or was owed for earlier deposits) at its start.
///
/// Amounts are kept in billionths of a token, so the arithmetic is exact for ratios of
/// up to nine decimal places (0.1, 0.2, 0.05 ...) and for the floor's refill to the
/// nanosecond: a test under a paused clock can assert every figure.
///
/// # Cost
///
/// [`deposit`](Self::deposit) runs on every retried call. It takes no lock, allocates
/// nothing, reads no clock and writes no cache line another thread writes: each thread
/// counts its deposits in a stripe of its own (the technique of the breaker's counters).
/// The stripes are added up, and credited at the ratio then in force, only when a retry
/// asks for a token ([`try_withdraw`](Self::try_withdraw), which takes the budget's
/// lock) or when the budget is read or reconfigured. As nothing leaves the bank between
/// two such moments, crediting late changes no figure.
#[derive(Clone)]
pub struct Budget(Handle);

#[derive(Clone)]
enum Handle {
    /// Kept for the life of the process (the registry's): copies touch no shared count.
    Static(&'static Inner),
    /// A standalone budget, freed with its last handle.
    Shared(Arc<Inner>),
}

struct Inner {
    name: Box<str>,
    /// Deposits, counted per thread.
    deposits: Striped<AtomicU64>,
    bucket: Mutex<Bucket>,
    /// True for the process-wide default budget only: its [`Budget::id`] is the one a
    /// retry drawing from the default without naming it has, 1.
    process_default: bool,
}

/// What only a withdrawal, a read or a reconfiguration touches, under the lock.
struct Bucket {
    /// Billionths of a token per deposit.
    ratio: u64,
    min_per_sec: u32,
    /// Deposits already credited to the bank: the stripes' sum at the last settlement.
    credited: u64,
    /// Billionths of a token from deposits, at most `ratio * BANKED_DEPOSITS`.
    bank: u64,
    /// Billionths of a token of the floor, at most `min_per_sec * TOKEN`.
    floor: u64,
    /// The floor is refilled up to this instant.
    refilled: Instant,
    /// Retries refused.
    exhausted: u64,
}

impl Budget {
    /// The bank holds at most what this many first attempts deposit: `ratio × 1000`
    /// tokens.
    ///
    /// ```
    /// use failfast_runtime::Budget;
    ///
    /// let budget = Budget::new(0.1, 0);
    /// for _ in 0..5_000 {
    ///     budget.deposit();
    /// }
    /// assert_eq!(budget.available(), 0.1 * Budget::BANKED_DEPOSITS as f64);
    /// ```
    pub const BANKED_DEPOSITS: u64 = 1000;

    /// A standalone budget, not in any registry: retries may add `ratio` extra load
    /// (0.1 = 10%), plus `min_per_sec` retries per second. Its floor starts full.
    ///
    /// It is named `"standalone"` in metrics and traces; use
    /// [`Registry::budget`](crate::Registry::budget) for a named one.
    ///
    /// # Panics
    /// When `ratio` is negative, NaN or infinite.
    ///
    /// ```
    /// use failfast_runtime::Budget;
    ///
    /// let budget = Budget::new(0.1, 10);
    /// assert_eq!((budget.ratio(), budget.min_per_sec()), (0.1, 10));
    /// assert_eq!(budget.available(), 10.0, "a full second of floor");
    /// ```
    pub fn new(ratio: f64, min_per_sec: u32) -> Budget {
        Budget::named(STANDALONE_NAME, ratio, min_per_sec, Lifetime::Handles)
    }

    /// A budget named `name` (a registry's), whose bucket lives for `lifetime`.
    pub(crate) fn named(name: &str, ratio: f64, min_per_sec: u32, lifetime: Lifetime) -> Budget {
        let inner = Inner::new(name, ratio, min_per_sec);
        Budget(match lifetime {
            Lifetime::Process => Handle::Static(Box::leak(Box::new(inner))),
            Lifetime::Handles => Handle::Shared(Arc::new(inner)),
        })
    }

    #[inline]
    fn inner(&self) -> &Inner {
        match &self.0 {
            Handle::Static(inner) => inner,
            Handle::Shared(inner) => inner,
        }
    }

    /// The budget's name: its registry key, `"default"` for the process-wide default,
    /// `"standalone"` for one made by [`Budget::new`].
    ///
    /// ```
    /// use failfast_runtime::Registry;
    ///
    /// assert_eq!(Registry::new().budget("payments").name(), "payments");
    /// ```
    pub fn name(&self) -> &str {
        &self.inner().name
    }

    /// The tokens each first attempt deposits: the extra load retries may add.
    ///
    /// ```
    /// use failfast_runtime::Budget;
    ///
    /// assert_eq!(Budget::new(0.25, 0).ratio(), 0.25);
    /// ```
    pub fn ratio(&self) -> f64 {
        self.inner().bucket.lock().ratio as f64 / TOKEN as f64
    }

    /// The floor: retries allowed per second whatever the traffic.
    ///
    /// ```
    /// use failfast_runtime::Budget;
    ///
    /// assert_eq!(Budget::new(0.1, 5).min_per_sec(), 5);
    /// ```
    pub fn min_per_sec(&self) -> u32 {
        self.inner().bucket.lock().min_per_sec
    }

    /// Changes the ratio, at once, for every retry drawing from this budget. Deposits
    /// made before the change are credited at the old ratio; the bank is trimmed to the
    /// new cap (`ratio × 1000` tokens).
    ///
    /// # Panics
    /// When `ratio` is negative, NaN or infinite.
    ///
    /// ```
    /// use failfast_runtime::Budget;
    ///
    /// let budget = Budget::new(0.1, 0);
    /// budget.deposit(); // 0.1 token
    /// budget.set_ratio(0.9);
    /// budget.deposit(); // 0.9 token
    /// assert!(budget.try_withdraw());
    /// assert_eq!(budget.ratio(), 0.9);
    /// ```
    pub fn set_ratio(&self, ratio: f64) {
        let ratio = nano_tokens(ratio);
        let inner = self.inner();
        let mut bucket = inner.bucket.lock();
        inner.settle(&mut bucket, clock::now());
        bucket.ratio = ratio;
        bucket.bank = bucket.bank.min(bucket.bank_cap());
    }

    /// Changes the floor, at once. The floor refills at the old rate up to now, then at
    /// the new one, and is trimmed to the new burst (`n` tokens).
    ///
    /// ```
    /// use failfast_runtime::Budget;
    ///
    /// let budget = Budget::new(0.1, 10);
    /// budget.set_min_per_sec(2);
    /// assert_eq!(budget.available(), 2.0);
    /// ```
    pub fn set_min_per_sec(&self, n: u32) {
        let inner = self.inner();
        let mut bucket = inner.bucket.lock();
        inner.settle(&mut bucket, clock::now());
        bucket.min_per_sec = n;
        bucket.floor = bucket.floor.min(bucket.floor_cap());
    }

    /// Records one first attempt: `ratio` tokens for later retries.
    ///
    /// The hot path of every retried call: no lock, no allocation, no clock, no write to
    /// a cache line another thread writes (a per-thread stripe counts it).
    ///
    /// ```
    /// use failfast_runtime::Budget;
    ///
    /// let budget = Budget::new(0.1, 0);
    /// for _ in 0..10 {
    ///     budget.deposit();
    /// }
    /// assert_eq!(budget.available(), 1.0);
    /// ```
    #[inline]
    pub fn deposit(&self) {
        self.inner().deposits.count(|deposits| deposits);
    }

    /// Takes one token for a retry: `true` if the retry may run. `false` when the budget
    /// holds less than one token; the refusal is counted in [`exhausted`](Self::exhausted)
    /// and reported (the `failfast_retry_budget_exhausted_total{budget}` counter with the
    /// `metrics` feature, a debug event with `tracing`).
    ///
    /// ```
    /// use failfast_runtime::Budget;
    ///
    /// let budget = Budget::new(0.1, 1); // a floor of one retry per second
    /// assert!(budget.try_withdraw());
    /// assert!(!budget.try_withdraw());
    /// ```
    pub fn try_withdraw(&self) -> bool {
        let inner = self.inner();
        let mut bucket = inner.bucket.lock();
        inner.settle(&mut bucket, clock::now());
        if bucket.bank + bucket.floor >= TOKEN {
            let from_bank = bucket.bank.min(TOKEN);
            bucket.bank -= from_bank;
            bucket.floor -= TOKEN - from_bank;
            return true;
        }
        bucket.exhausted += 1;
        drop(bucket);
        telemetry::budget_exhausted(&inner.name);
        false
    }

    /// Retries refused so far because the budget was empty.
    ///
    /// ```
    /// use failfast_runtime::Budget;
    ///
    /// let budget = Budget::new(0.1, 0);
    /// assert!(!budget.try_withdraw());
    /// assert_eq!(budget.exhausted(), 1);
    /// ```
    pub fn exhausted(&self) -> u64 {
        self.inner().bucket.lock().exhausted
    }

    /// The tokens available now (bank plus floor): how many retries would be granted if
    /// asked for at once, fractions included.
    ///
    /// ```
    /// use failfast_runtime::Budget;
    ///
    /// let budget = Budget::new(0.2, 3);
    /// budget.deposit();
    /// assert_eq!(budget.available(), 3.2);
    /// ```
    pub fn available(&self) -> f64 {
        let inner = self.inner();
        let mut bucket = inner.bucket.lock();
        inner.settle(&mut bucket, clock::now());
        (bucket.bank + bucket.floor) as f64 / TOKEN as f64
    }

    /// Which bucket, for telling nested retry loops on the same budget apart from the
    /// others: the same for every handle of one budget, never 0; 1 for the process-wide
    /// default, as for a retry that draws from it without naming it; else the bucket's
    /// address.
    #[inline]
    pub(crate) fn id(&self) -> usize {
        let inner = self.inner();
        if inner.process_default {
            1
        } else {
            std::ptr::from_ref(inner) as usize
        }
    }

    /// True when both handles are the same bucket.
    ///
    /// ```
    /// use failfast_runtime::{Budget, registry};
    ///
    /// let a = registry().budget("doc_same");
    /// assert!(a.same(&registry().budget("doc_same")));
    /// assert!(!a.same(&Budget::new(0.1, 10)));
    /// ```
    pub fn same(&self, other: &Budget) -> bool {
        std::ptr::eq(self.inner(), other.inner())
    }
}

/// The process-wide default budget: every retry draws from it unless it names another
/// budget or none. It lives as long as the process; the process-wide registry lists it.
#[inline]
pub(crate) fn process_default() -> &'static Budget {
    PROCESS_DEFAULT.get_or_init(|| {
        let mut inner = Inner::new(DEFAULT_NAME, DEFAULT_RATIO, DEFAULT_MIN_PER_SEC);
        inner.process_default = true;
        Budget(Handle::Static(Box::leak(Box::new(inner))))
    })
}

/// The process-wide default budget, if a retry (or anyone) has asked for it yet.
pub(crate) fn process_default_if_made() -> Option<&'static Budget> {
    PROCESS_DEFAULT.get()
}

static PROCESS_DEFAULT: OnceLock<Budget> = OnceLock::new();

/// Records one first attempt in the process-wide default budget: what [`Retry`] does on
/// every call that names no budget, so it is the hottest deposit of all. After a thread's
/// first, it is one thread-local load, a branch, and the plain add into the thread's own
/// stripe of the default budget (whose address the thread remembers, see
/// [`stripe::remember`]).
///
/// [`Retry`]: crate::retry::Retry
#[inline]
pub(crate) fn deposit_default() {
    match stripe::remembered() {
        Some(counter) => counter.store(counter.load(Relaxed).wrapping_add(1), Relaxed),
        None => deposit_default_first(),
    }
}

/// `extern "C"`: a call that cannot unwind (a panic here would abort, and nothing here
/// panics), so a caller needs no landing pad to drop its [`Retry`](crate::Retry) around
/// this call, and the compiler can keep the success path as lean as if nothing had been
/// deposited.
#[cold]
extern "C" fn deposit_default_first() {
    let budget = process_default();
    let index = stripe::index();
    stripe::bump(budget.inner().deposits.get(index), index);
    // The default budget is `'static`: remember the counter (if the stripe is the
    // thread's own).
    if let Handle::Static(inner) = &budget.0 {
        stripe::remember(inner.deposits.get(index), index);
    }
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner();
        let bucket = inner.bucket.lock();
        f.debug_struct("Budget")
            .field("name", &inner.name)
            .field("ratio", &(bucket.ratio as f64 / TOKEN as f64))
            .field("min_per_sec", &bucket.min_per_sec)
            .field("exhausted", &bucket.exhausted)
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn new(name: &str, ratio: f64, min_per_sec: u32) -> Inner {
        let ratio = nano_tokens(ratio);
        Inner {
            name: name.into(),
            deposits: Striped::default(),
            bucket: Mutex::new(Bucket {
                ratio,
                min_per_sec,
                credited: 0,
                bank: 0,
                floor: u64::from(min_per_sec) * TOKEN,
                refilled: clock::now(),
                exhausted: 0,
            }),
            process_default: false,
        }
    }

    /// Credits the deposits made since the last settlement at the current ratio, and
    /// refills the floor up to `now`.
    fn settle(&self, bucket: &mut Bucket, now: Instant) {
        let deposits = self.deposits.sum(|deposits| deposits);
        let new = deposits.wrapping_sub(bucket.credited);
        bucket.credited = deposits;
        bucket.bank = bucket
            .bank
            .saturating_add(new.saturating_mul(bucket.ratio))
            .min(bucket.bank_cap());
        // Elapsed nanoseconds times tokens per second is billionths of a token: exact.
        // A clock that reads earlier (another paused runtime's) refills nothing.
        let elapsed = now.saturating_duration_since(bucket.refilled).as_nanos();
        let refill = elapsed.saturating_mul(u128::from(bucket.min_per_sec));
        let floor = u128::from(bucket.floor).saturating_add(refill);
        bucket.floor = u64::try_from(floor)
            .unwrap_or(u64::MAX)
            .min(bucket.floor_cap());
        bucket.refilled = now;
    }
}

impl Bucket {
    fn bank_cap(&self) -> u64 {
        self.ratio.saturating_mul(Budget::BANKED_DEPOSITS)
    }

    fn floor_cap(&self) -> u64 {
        u64::from(self.min_per_sec) * TOKEN
    }
}

/// A ratio in billionths of a token per deposit.
fn nano_tokens(ratio: f64) -> u64 {
    assert!(
        ratio.is_finite() && ratio >= 0.0,
        "a retry budget's ratio must be a finite number >= 0, got {ratio}"
    );
    // `as` saturates: a ratio above 18 billion is as good as infinite anyway.
    (ratio * TOKEN as f64).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stripe::STRIPES;

    #[test]
    fn ratios_are_exact_in_billionths() {
        assert_eq!(nano_tokens(0.1), 100_000_000);
        assert_eq!(nano_tokens(0.2), 200_000_000);
        assert_eq!(nano_tokens(1e30), u64::MAX);
        assert_eq!(Budget::new(0.1, 0).ratio(), 0.1);
    }

    #[test]
    #[should_panic(expected = "ratio must be a finite number >= 0")]
    fn nan_ratio_panics() {
        let _ = Budget::new(f64::NAN, 0);
    }

    #[test]
    fn deposits_from_many_threads_all_count() {
        // More threads than stripes, so some share the last one.
        let budget = Budget::new(0.001, 0);
        std::thread::scope(|s| {
            for _ in 0..STRIPES + 8 {
                s.spawn(|| {
                    for _ in 0..25 {
                        budget.deposit();
                    }
                });
            }
        });
        // (32 + 8) * 25 = 1000 deposits of 0.001: exactly one token.
        assert_eq!(budget.available(), 1.0);
        assert!(budget.try_withdraw());
        assert!(!budget.try_withdraw());
    }

    #[test]
    fn default_deposits_from_threads_that_come_and_go_all_count() {
        // The only test here that touches the default budget.
        let default = process_default();
        default.set_min_per_sec(0);
        assert_eq!(default.available(), 0.0);
        // Two waves of more threads than stripes: the second wave reuses the stripes the
        // first gave back at exit, and some threads of each share the last stripe.
        for _ in 0..2 {
            std::thread::scope(|s| {
                for _ in 0..STRIPES + 8 {
                    s.spawn(|| {
                        for _ in 0..10 {
                            deposit_default();
                        }
                    });
                }
            });
        }
        // 2 * 40 * 10 = 800 deposits of 0.2.
        assert_eq!(default.available(), 160.0);
        default.set_min_per_sec(10);
    }
}
