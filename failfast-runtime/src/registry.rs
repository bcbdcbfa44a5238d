//! Named breakers, shared by every part of the program that uses the same name, and
//! keyed families of them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, LazyLock, OnceLock};

use parking_lot::{Mutex, RwLock};

use crate::breaker::Breaker;
use crate::budget::{self, Budget, DEFAULT_MIN_PER_SEC, DEFAULT_NAME, DEFAULT_RATIO, Lifetime};
use crate::config::BreakerConfig;
use crate::directory::Directory;
use crate::family::Family;
use crate::listeners::Subscription;
use crate::name::BreakerName;
use crate::store::{self, Store};
use crate::transition::Transition;

/// The process-wide registry: the one the attribute macros register their breakers in.
///
/// ```
/// use failfast_runtime::{registry, BreakerConfig};
///
/// let breaker = registry().breaker("doc_registry_fn", BreakerConfig::new());
/// assert_eq!(registry().get("doc_registry_fn").unwrap().name(), breaker.name());
/// ```
pub fn registry() -> &'static Registry {
    static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry::empty(Scope::Process));
    &REGISTRY
}

/// Breakers by name, keyed families of breakers, retry budgets, and listeners of all the
/// breakers' transitions.
///
/// Registering a name twice returns the same breaker. The first registration's config
/// wins; a later, different config is kept as [`Breaker::conflict`] (the first one only),
/// so it can be reported. A keyed [`Family`] makes one breaker per key on first use
/// ([`keyed`](Self::keyed)), listed here under `"{family}/{key}"` while it lives.
///
/// ```
/// use failfast_runtime::{BreakerConfig, Registry};
///
/// let registry = Registry::new();
/// registry.breaker("b", BreakerConfig::new());
/// registry.breaker("a", BreakerConfig::new());
/// let names: Vec<String> = registry.breakers().iter().map(|b| b.name().to_owned()).collect();
/// assert_eq!(names, ["a", "b"]);
/// ```
pub struct Registry {
    /// Breakers by name (keyed ones included), and the listeners of their transitions.
    directory: Arc<Directory>,
    /// Keyed families by name.
    families: RwLock<BTreeMap<Box<str>, Family>>,
    /// Retry budgets by name, the default one aside.
    budgets: Mutex<BTreeMap<Box<str>, Budget>>,
    scope: Scope,
}

/// Whose default budget a registry lists, and how long its budgets live.
enum Scope {
    /// The process-wide [`registry()`]: its default budget is the process's (see
    /// `budget.rs`), and its budgets live as long as the process, so copying a handle
    /// touches no shared reference count.
    Process,
    /// A registry of its own ([`Registry::new`]): its default budget too, made on first
    /// use; its budgets are freed with their last handle.
    Own(OnceLock<Budget>),
}

impl Registry {
    /// An empty registry, separate from the process-wide [`registry()`].
    ///
    /// ```
    /// use failfast_runtime::Registry;
    ///
    /// assert!(Registry::new().breakers().is_empty());
    /// ```
    pub fn new() -> Registry {
        Registry::empty(Scope::Own(OnceLock::new()))
    }

    fn empty(scope: Scope) -> Registry {
        Registry {
            directory: Arc::default(),
            families: RwLock::default(),
            budgets: Mutex::new(BTreeMap::new()),
            scope,
        }
    }

    /// The breaker registered under `name`, if any.
    ///
    /// ```
    /// use failfast_runtime::Registry;
    ///
    /// assert!(Registry::new().get("nope").is_none());
    /// ```
    pub fn get(&self, name: &str) -> Option<Breaker> {
        self.directory.lock().get(name).cloned()
    }

    /// Every registered breaker, sorted by name.
    ///
    /// ```
    /// use failfast_runtime::{BreakerConfig, Registry};
    ///
    /// let registry = Registry::new();
    /// registry.breaker("db", BreakerConfig::new());
    /// assert_eq!(registry.breakers().len(), 1);
    /// ```
    pub fn breakers(&self) -> Vec<Breaker> {
        self.directory.lock().values().cloned().collect()
    }

    /// The breaker named `name`, registered with `config` if it is new.
    ///
    /// An existing breaker keeps its config; if `config` differs, the first such
    /// difference is recorded as its [`conflict`](Breaker::conflict). A new breaker
    /// starts `Disabled` when the environment has `FAILFAST_DISABLED=1` (and then keeps
    /// its state to itself, whatever the default store).
    ///
    /// ```
    /// use failfast_runtime::{BreakerConfig, Registry};
    ///
    /// let registry = Registry::new();
    /// let a = registry.breaker("db", BreakerConfig::new().failures(3));
    /// let b = registry.breaker("db", BreakerConfig::new().failures(7));
    /// assert_eq!(b.config().failures_threshold(), 3);
    /// assert_eq!(a.conflict().unwrap().failures_threshold(), 7);
    /// ```
    pub fn breaker(&self, name: impl Into<BreakerName>, config: BreakerConfig) -> Breaker {
        self.register(name.into(), config, store::default_store)
    }

    /// Like [`breaker`](Self::breaker), with the breaker's state shared through `store`
    /// instead of the [default store](crate::set_default_store). The first registration
    /// of a name decides its store too.
    ///
    /// ```
    /// use failfast_runtime::{BreakerConfig, InProcess, Registry};
    ///
    /// let registry = Registry::new();
    /// let breaker = registry.breaker_with_store("db", BreakerConfig::new(), InProcess);
    /// assert_eq!(registry.get("db").unwrap().name(), breaker.name());
    /// ```
    pub fn breaker_with_store(
        &self,
        name: impl Into<BreakerName>,
        config: BreakerConfig,
        store: impl Store,
    ) -> Breaker {
        self.register(name.into(), config, || Arc::new(store))
    }

    fn register(
        &self,
        name: BreakerName,
        config: BreakerConfig,
        store: impl FnOnce() -> Arc<dyn Store>,
    ) -> Breaker {
        let mut breakers = self.directory.lock();
        if let Some(existing) = breakers.get(name.as_str()) {
            if existing.config() != config {
                existing.note_conflict(config);
            }
            return existing.clone();
        }
        // Registered names live as long as the process: make copies of them free.
        let name = name.into_static();
        let breaker = self.directory.make(name.clone(), config, store);
        breakers.insert(name, breaker.clone());
        drop(breakers);
        // Outside the lock: a shared store may wait (briefly) for the fleet's state.
        breaker.attach();
        breaker
    }

    /// The breaker for `key` in the keyed family `family`, named `"{family}/{key}"`: the
    /// live one, or a new one made with the family's config (the family too is made on
    /// first use, with [`BreakerConfig::new`] and at most 1000 keys; see [`Family`] for
    /// its bound and what it evicts). While it lives, [`get`](Self::get) finds it under
    /// that name and [`breakers`](Self::breakers) lists it.
    ///
    /// Looking up a key that has a breaker allocates nothing: two read locks, a hash of
    /// `key`, and a copy of the handle.
    ///
    /// ```
    /// use failfast_runtime::{Error, Registry, State};
    ///
    /// let registry = Registry::new();
    /// let a = registry.keyed("upstream", "a.example:443");
    /// a.force_open();
    /// assert_eq!(a.name(), "upstream/a.example:443");
    /// assert_eq!(registry.get("upstream/a.example:443").unwrap().state(), State::ForcedOpen);
    /// // One bad host does not cut off the others.
    /// let b = registry.keyed("upstream", "b.example:443");
    /// assert_eq!(b.call(|| Ok::<_, Error>("reached")), Ok("reached"));
    /// ```
    pub fn keyed(&self, family: &str, key: &str) -> Breaker {
        let live = self
            .families
            .read()
            .get(family)
            .and_then(|family| family.lookup(key));
        live.unwrap_or_else(|| self.family(family).get(key))
    }

    /// The keyed family named `family`, made on first use with [`BreakerConfig::new`] and
    /// [`max_keys`](Family::max_keys) 1000: configure it before its first keys are used.
    ///
    /// ```
    /// use failfast_runtime::{BreakerConfig, Registry};
    ///
    /// let registry = Registry::new();
    /// let tenants = registry.family("tenants");
    /// tenants.configure(BreakerConfig::new().failures(3));
    /// tenants.set_max_keys(10_000);
    /// assert_eq!(registry.keyed("tenants", "acme").config().failures_threshold(), 3);
    /// assert_eq!(registry.family("tenants").len(), 1);
    /// ```
    pub fn family(&self, family: &str) -> Family {
        if let Some(found) = self.families.read().get(family) {
            return found.clone();
        }
        self.families
            .write()
            .entry(family.into())
            .or_insert_with(|| Family::new(family, self.directory.clone()))
            .clone()
    }

    /// Every keyed family made so far, sorted by name.
    ///
    /// ```
    /// use failfast_runtime::Registry;
    ///
    /// let registry = Registry::new();
    /// registry.keyed("upstream", "a");
    /// registry.family("tenants");
    /// let names: Vec<String> = registry.families().iter().map(|f| f.name().to_owned()).collect();
    /// assert_eq!(names, ["tenants", "upstream"]);
    /// ```
    pub fn families(&self) -> Vec<Family> {
        self.families.read().values().cloned().collect()
    }

    /// The retry budget named `name`, made with ratio 0.1 and a floor of 10 retries per
    /// second if it is new. Every fn and every [`Retry`](crate::Retry) naming it shares
    /// it; change its settings at run time with [`Budget::set_ratio`] and
    /// [`Budget::set_min_per_sec`].
    ///
    /// `"default"` is the name of the [default budget](Self::default_budget): asking for
    /// it returns that one, with its own defaults.
    ///
    /// ```
    /// use failfast_runtime::registry;
    ///
    /// let payments = registry().budget("doc_payments");
    /// assert_eq!((payments.ratio(), payments.min_per_sec()), (0.1, 10));
    /// registry().budget("doc_payments").set_ratio(0.05); // from anywhere, at run time
    /// assert_eq!(payments.ratio(), 0.05);
    /// ```
    pub fn budget(&self, name: &str) -> Budget {
        if name == DEFAULT_NAME {
            return self.default_budget();
        }
        let mut budgets = self.budgets.lock();
        if let Some(budget) = budgets.get(name) {
            return budget.clone();
        }
        let budget = Budget::named(name, 0.1, 10, self.lifetime());
        budgets.insert(name.into(), budget.clone());
        budget
    }

    /// The budget every retry draws from unless it names another or none: ratio 0.2
    /// (retries add at most 20% load) and a floor of 10 retries per second. Named
    /// `"default"` in the registry's list, metrics and traces.
    ///
    /// ```
    /// use failfast_runtime::registry;
    ///
    /// let default = registry().default_budget();
    /// assert_eq!((default.ratio(), default.min_per_sec()), (0.2, 10));
    /// assert!(default.same(&registry().budget("default")));
    /// ```
    pub fn default_budget(&self) -> Budget {
        match &self.scope {
            Scope::Process => budget::process_default().clone(),
            Scope::Own(default) => default
                .get_or_init(|| {
                    let lifetime = Lifetime::Handles;
                    Budget::named(DEFAULT_NAME, DEFAULT_RATIO, DEFAULT_MIN_PER_SEC, lifetime)
                })
                .clone(),
        }
    }

    /// The default budget, if made yet.
    fn default_budget_if_made(&self) -> Option<&Budget> {
        match &self.scope {
            Scope::Process => budget::process_default_if_made(),
            Scope::Own(default) => default.get(),
        }
    }

    /// How long this registry's budgets live.
    fn lifetime(&self) -> Lifetime {
        match self.scope {
            Scope::Process => Lifetime::Process,
            Scope::Own(_) => Lifetime::Handles,
        }
    }

    /// Every retry budget made so far, sorted by name (the default one once a retry has
    /// used it).
    ///
    /// ```
    /// use failfast_runtime::Registry;
    ///
    /// let registry = Registry::new();
    /// registry.budget("search");
    /// registry.default_budget();
    /// let names: Vec<String> = registry.budgets().iter().map(|b| b.name().to_owned()).collect();
    /// assert_eq!(names, ["default", "search"]);
    /// ```
    pub fn budgets(&self) -> Vec<Budget> {
        let mut budgets: Vec<Budget> = self.budgets.lock().values().cloned().collect();
        if let Some(default) = self.default_budget_if_made() {
            let at = budgets.partition_point(|budget| budget.name() < DEFAULT_NAME);
            budgets.insert(at, default.clone());
        }
        budgets
    }

    /// Calls `f` with every transition of every breaker in this registry, once each
    /// (in order per breaker), after the breaker's lock is released.
    ///
    /// ```
    /// use failfast_runtime::{BreakerConfig, Registry};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let registry = Registry::new();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// registry.subscribe(move |t| log.lock().unwrap().push(t.name.to_string()));
    /// registry.breaker("db", BreakerConfig::new()).force_open();
    /// assert_eq!(*seen.lock().unwrap(), ["db"]);
    /// ```
    pub fn subscribe(&self, f: impl Fn(&Transition) + Send + Sync + 'static) -> Subscription {
        self.directory.listeners().add(f)
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.directory.lock().values())
            .finish()
    }
}
