//! Keyed breakers: one breaker per key (a host, a tenant) of a family, made on first use,
//! with a bound on how many live at once.
//!
//! How it stays cheap and bounded:
//! - The members are in a hash map keyed by the key alone, under a read-write lock. A
//!   lookup of a key that has a breaker takes the read lock, hashes the borrowed `&str`
//!   and copies the handle: nothing is allocated. The name `"{family}/{key}"` is built
//!   once, when the breaker is made.
//! - Recency is a family-wide tick and one stamp per member, both atomics, so a lookup
//!   marks its member used under the read lock. It stamps only when another member was
//!   stamped since (one atomic add on the tick and one store); a key used again and again
//!   is only read. Stamps are unique, so the order is exact.
//! - Eviction runs only when a new key comes in and the family is full (and when
//!   [`Family::set_max_keys`] lowers the bound): one pass collects the stamps of the
//!   members that may go, a selection finds the n-th oldest, one more pass removes them.
//!   O(n) in the members, however many go.
//! - The members are listed in the registry's [`Directory`] too (so `Registry::get`
//!   finds them) and leave it when evicted. Lock order: the members, then the directory.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use parking_lot::{Mutex, RwLock};

use crate::breaker::Breaker;
use crate::config::BreakerConfig;
use crate::directory::{self, Directory};
use crate::name::BreakerName;
use crate::state::State;
use crate::store;

/// The bound of a new family: at most this many live breakers.
const DEFAULT_MAX_KEYS: usize = 1000;

/// A family of keyed breakers: one breaker per key, named `"{family}/{key}"`, made on
/// first use with the family's config, and at most [`max_keys`](Self::max_keys) of them
/// alive, so breakers per host or per tenant cannot grow memory without bound.
///
/// Get one from [`Registry::family`](crate::Registry::family) (or look a key up directly
/// with [`Registry::keyed`](crate::Registry::keyed)). Cloning is cheap and every clone is
/// the same family. A member is listed by the registry like any breaker
/// ([`get`](crate::Registry::get), [`breakers`](crate::Registry::breakers),
/// [`snapshot`](crate::Registry::snapshot), listeners) and shares its state through the
/// [default store](crate::set_default_store).
///
/// # Eviction
/// When a new key comes in and the family already has `max_keys` breakers, the least
/// recently used breaker among those that can go is evicted. Used means made or looked up
/// by key ([`get`](Self::get), [`Registry::keyed`](crate::Registry::keyed)); calls
/// through a handle kept aside, and lookups by name ([`Registry::get`](crate::Registry::get)),
/// do not count. One can go when evicting it loses nothing but its counters, that is when
/// a fresh breaker made in its place would be the same:
/// - it is `Closed` (or `Disabled` while the environment has `FAILFAST_DISABLED=1`, where
///   every new breaker starts disabled anyway), and
/// - its [mode](Breaker::mode) is still the one its config starts in.
///
/// Never evicted: an `Open` or `HalfOpen` breaker (forgetting it would let calls through
/// to a failing key), a `ForcedOpen` or `Disabled` one, or one whose mode was switched by
/// hand (an operator's decision holds until an operator changes it).
///
/// When no member can go, the new key gets its breaker anyway and the family grows past
/// `max_keys` (counted by [`overflows`](Self::overflows)): an open breaker is never given
/// up to make room. Each later new key evicts as many as it can to come back down to the
/// bound (so does lowering it with [`set_max_keys`](Self::set_max_keys)).
///
/// An evicted breaker leaves the registry ([`Registry::get`](crate::Registry::get) no
/// longer finds it); handles still held keep working, detached from the family (their
/// transitions still reach the registry's listeners). The next lookup of its key makes a
/// fresh, closed breaker.
///
/// If a breaker of the name `"{family}/{key}"` was registered by name before the family
/// made one ([`Registry::breaker`](crate::Registry::breaker)), the family hands out that
/// breaker: it is not a member (not counted, never evicted), and each lookup of it takes
/// the slow path. Keep family names apart from plain breaker names.
///
/// ```
/// use failfast_runtime::{BreakerConfig, Registry, State};
///
/// let registry = Registry::new();
/// let tenants = registry.family("tenants");
/// tenants.set_max_keys(2);
/// tenants.get("acme").force_open();
/// tenants.get("globex");
/// tenants.get("initech"); // full: evicts globex, the least recently used closed one
/// assert_eq!(tenants.len(), 2);
/// assert_eq!(tenants.evictions(), 1);
/// assert!(registry.get("tenants/globex").is_none());
/// assert_eq!(registry.get("tenants/acme").unwrap().state(), State::ForcedOpen);
/// ```
#[derive(Clone)]
pub struct Family {
    shared: Arc<Shared>,
}

struct Shared {
    /// The members by key.
    members: RwLock<HashMap<Box<str>, Member>>,
    /// The stamp of the member used last; the next stamp is one more.
    tick: AtomicU64,
    name: Box<str>,
    /// The config of breakers made from now on.
    config: Mutex<BreakerConfig>,
    max_keys: AtomicUsize,
    evictions: AtomicU64,
    overflows: AtomicU64,
    /// The registry's breakers by name, where members are listed too.
    directory: Arc<Directory>,
}

struct Member {
    breaker: Breaker,
    /// When it was last made or looked up, on the family's tick.
    used: AtomicU64,
}

impl Family {
    /// An empty family of the registry whose table is `directory`.
    pub(crate) fn new(name: &str, directory: Arc<Directory>) -> Family {
        Family {
            shared: Arc::new(Shared {
                members: RwLock::default(),
                tick: AtomicU64::new(0),
                name: name.into(),
                config: Mutex::new(BreakerConfig::new()),
                max_keys: AtomicUsize::new(DEFAULT_MAX_KEYS),
                evictions: AtomicU64::new(0),
                overflows: AtomicU64::new(0),
                directory,
            }),
        }
    }

    /// The family's name, the part of its breakers' names before the `/`.
    ///
    /// ```
    /// use failfast_runtime::Registry;
    ///
    /// assert_eq!(Registry::new().family("upstream").name(), "upstream");
    /// ```
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The breaker for `key`, named `"{family}/{key}"`: the live one, or a new one made
    /// with the family's config (which may evict another, see
    /// [Eviction](Family#eviction)). Looking up a key that has a breaker allocates
    /// nothing. The same as [`Registry::keyed`](crate::Registry::keyed).
    ///
    /// ```
    /// use failfast_runtime::Registry;
    ///
    /// let registry = Registry::new();
    /// let hosts = registry.family("upstream");
    /// let breaker = hosts.get("10.0.0.7:443");
    /// assert_eq!(breaker.name(), "upstream/10.0.0.7:443");
    /// assert_eq!(registry.keyed("upstream", "10.0.0.7:443").name(), breaker.name());
    /// ```
    pub fn get(&self, key: &str) -> Breaker {
        self.lookup(key).unwrap_or_else(|| self.insert(key))
    }

    /// The live breaker for `key`, if any, marked used: the read-only path of
    /// [`get`](Self::get).
    pub(crate) fn lookup(&self, key: &str) -> Option<Breaker> {
        let members = self.shared.members.read();
        let member = members.get(key)?;
        self.shared.touch(member);
        Some(member.breaker.clone())
    }

    /// Makes the breaker for `key` (unless another thread just did), evicting to make room.
    #[cold]
    fn insert(&self, key: &str) -> Breaker {
        let shared = &*self.shared;
        let mut members = shared.members.write();
        if let Some(member) = members.get(key) {
            shared.touch(member);
            return member.breaker.clone();
        }
        let name = format!("{}/{key}", shared.name);
        let mut breakers = shared.directory.lock();
        if let Some(named) = breakers.get(name.as_str()) {
            return named.clone(); // registered by name first: one name, one breaker
        }
        let max_keys = shared.max_keys.load(Relaxed);
        shared.evict(&mut members, &mut breakers, max_keys - 1);
        if members.len() >= max_keys {
            shared.overflows.fetch_add(1, Relaxed);
        }
        // Not kept for the life of the process, unlike plain registered names: evicted
        // names must be freed.
        let name = BreakerName::from(name);
        let config = *shared.config.lock();
        let breaker = shared
            .directory
            .make(name.clone(), config, store::default_store);
        breakers.insert(name, breaker.clone());
        let used = AtomicU64::new(shared.next_tick());
        let member = Member {
            breaker: breaker.clone(),
            used,
        };
        members.insert(key.into(), member);
        drop(breakers);
        drop(members);
        // Outside the locks: a shared store may wait (briefly) for the fleet's state.
        breaker.attach();
        breaker
    }

    /// Sets the config of the breakers made from now on; live ones keep theirs.
    ///
    /// ```
    /// use failfast_runtime::{BreakerConfig, Registry};
    ///
    /// let hosts = Registry::new().family("upstream");
    /// let before = hosts.get("a");
    /// hosts.configure(BreakerConfig::new().failures(2));
    /// assert_eq!(hosts.get("b").config().failures_threshold(), 2);
    /// assert_eq!(before.config(), BreakerConfig::new());
    /// ```
    pub fn configure(&self, config: BreakerConfig) {
        *self.shared.config.lock() = config;
    }

    /// The config new breakers of the family are made with: [`BreakerConfig::new`] until
    /// [`configure`](Self::configure)d.
    ///
    /// ```
    /// use failfast_runtime::{BreakerConfig, Registry};
    ///
    /// assert_eq!(Registry::new().family("upstream").config(), BreakerConfig::new());
    /// ```
    pub fn config(&self) -> BreakerConfig {
        *self.shared.config.lock()
    }

    /// Sets the bound: at most `n` live breakers. Lowering it evicts down to `n` at once,
    /// as far as members can go (see [Eviction](Family#eviction)).
    ///
    /// # Panics
    /// When `n` is zero: a family of no breakers could not hand out the one it just made.
    ///
    /// ```
    /// use failfast_runtime::Registry;
    ///
    /// let hosts = Registry::new().family("upstream");
    /// for key in ["a", "b", "c"] {
    ///     hosts.get(key);
    /// }
    /// hosts.set_max_keys(1);
    /// assert_eq!((hosts.len(), hosts.evictions()), (1, 2));
    /// ```
    pub fn set_max_keys(&self, n: usize) {
        assert!(
            n >= 1,
            "max_keys must be at least 1: a family keeps the breaker it just made"
        );
        let shared = &*self.shared;
        let mut members = shared.members.write();
        shared.max_keys.store(n, Relaxed);
        shared.evict(&mut members, &mut shared.directory.lock(), n);
    }

    /// The bound on live breakers: 1000 until [`set_max_keys`](Self::set_max_keys).
    ///
    /// ```
    /// use failfast_runtime::Registry;
    ///
    /// assert_eq!(Registry::new().family("upstream").max_keys(), 1000);
    /// ```
    pub fn max_keys(&self) -> usize {
        self.shared.max_keys.load(Relaxed)
    }

    /// How many breakers the family has now (more than [`max_keys`](Self::max_keys) only
    /// while none can be evicted).
    ///
    /// ```
    /// use failfast_runtime::Registry;
    ///
    /// let hosts = Registry::new().family("upstream");
    /// hosts.get("a");
    /// hosts.get("a");
    /// assert_eq!(hosts.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.shared.members.read().len()
    }

    /// Whether the family has no breaker now.
    ///
    /// ```
    /// use failfast_runtime::Registry;
    ///
    /// assert!(Registry::new().family("upstream").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.shared.members.read().is_empty()
    }

    /// How many breakers were evicted so far, in all.
    ///
    /// ```
    /// use failfast_runtime::Registry;
    ///
    /// let hosts = Registry::new().family("upstream");
    /// hosts.set_max_keys(2);
    /// for key in ["a", "b", "c", "d"] {
    ///     hosts.get(key);
    /// }
    /// assert_eq!(hosts.evictions(), 2);
    /// ```
    pub fn evictions(&self) -> u64 {
        self.shared.evictions.load(Relaxed)
    }

    /// How many new keys got a breaker beyond [`max_keys`](Self::max_keys) because no
    /// member could be evicted to make room (see [Eviction](Family#eviction)).
    ///
    /// ```
    /// use failfast_runtime::Registry;
    ///
    /// let hosts = Registry::new().family("upstream");
    /// hosts.set_max_keys(1);
    /// hosts.get("a").force_open();
    /// hosts.get("b"); // "a" cannot go: the family grows
    /// assert_eq!((hosts.len(), hosts.overflows(), hosts.evictions()), (2, 1, 0));
    /// ```
    pub fn overflows(&self) -> u64 {
        self.shared.overflows.load(Relaxed)
    }
}

impl Shared {
    /// Marks `member` used now, unless it is already the member used last.
    #[inline]
    fn touch(&self, member: &Member) {
        if member.used.load(Relaxed) != self.tick.load(Relaxed) {
            member.used.store(self.next_tick(), Relaxed);
        }
    }

    fn next_tick(&self) -> u64 {
        self.tick.fetch_add(1, Relaxed) + 1
    }

    /// Evicts the least recently used members that can go until at most `keep` are left,
    /// or none can go. Takes the members' write lock (which holds every stamp still) and
    /// the directory's lock: O(n) in the members.
    fn evict(
        &self,
        members: &mut HashMap<Box<str>, Member>,
        breakers: &mut BTreeMap<BreakerName, Breaker>,
        keep: usize,
    ) {
        let excess = members.len().saturating_sub(keep);
        if excess == 0 {
            return;
        }
        let mut stamps: Vec<u64> = members
            .values()
            .filter(|m| evictable(&m.breaker))
            .map(|m| m.used.load(Relaxed))
            .collect();
        let going = excess.min(stamps.len());
        if going == 0 {
            return;
        }
        // Stamps are unique: the `going` oldest are those at or below the going-th one.
        let newest_going = *stamps.select_nth_unstable(going - 1).1;
        let mut evicted = 0;
        members.retain(|_, member| {
            // Asked again: a breaker may have opened since the first pass, and then stays.
            let goes = evicted < going
                && member.used.load(Relaxed) <= newest_going
                && evictable(&member.breaker);
            if goes {
                // Listed under its name by this family, and by no one else: a name the
                // registry had first never becomes a member.
                breakers.remove(member.breaker.name());
                evicted += 1;
            }
            !goes
        });
        self.evictions.fetch_add(evicted as u64, Relaxed);
    }
}

/// Whether evicting `breaker` loses only its counters: a fresh breaker made in its place
/// would be in the same state and mode (see [Eviction](Family#eviction)).
fn evictable(breaker: &Breaker) -> bool {
    let state = breaker.state();
    (state == State::Closed || state == directory::initial_state())
        && breaker.mode() == breaker.config().initial_mode()
}

impl fmt::Debug for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Family")
            .field("name", &self.name())
            .field("live", &self.len())
            .field("max_keys", &self.max_keys())
            .field("evictions", &self.evictions())
            .field("overflows", &self.overflows())
            .finish()
    }
}
