//! [`RedisStore`]: breaker state shared across processes and hosts through Redis.
//!
//! Each store has two threads of its own (no async runtime is needed): a command thread
//! (`worker.rs`), the only one that writes to Redis, and a listening thread
//! (`subscriber.rs`) that applies what other processes announce. Callers only queue
//! work for the command thread; two exceptions wait for an answer, at most the store's
//! `timeout`: a new breaker reading the fleet's state, and a lease request when a
//! breaker's open time is over.

mod health;
mod scripts;
mod subscriber;
mod worker;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::mpsc::{self, Sender};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::breaker::Breaker;
use crate::breaker::WeakBreaker;
use crate::state::State;
use crate::store::{Lease, SharedState, Store};
use health::Health;
use worker::{Command, LeaseReply, Scripts, Worker};

/// Shares breaker state across processes and hosts through a Redis server.
///
/// When one process opens a breaker, every process using a breaker of the same name
/// through a store with the same prefix rejects within milliseconds (an announcement on a
/// Redis channel, the state under a key that expires with the open time). When the open
/// time is over, one process fleet-wide gets the lease to run the `probes` trial calls
/// (a key that expires, so a crashed prober cannot wedge the breaker); the others keep
/// rejecting until its trials close or reopen the breaker everywhere. `force_open`,
/// `reset` and `disable` act fleet-wide. Failures are counted in each process.
///
/// The closed hot path never touches Redis. When Redis is down, slow, restarted or holds
/// garbage under the keys, breakers go on with local state, one warning is logged per
/// episode, and the store reconnects by itself (backoff from 50 ms to 2 s).
///
/// Make one per process and clone the handle where needed:
///
/// ```no_run
/// use failfast_runtime::{RedisStore, set_default_store};
///
/// let store = RedisStore::connect("redis://127.0.0.1:6379/").expect("a valid URL");
/// set_default_store(store).expect("set once, at start-up");
/// ```
#[derive(Clone)]
pub struct RedisStore {
    shared: Arc<Shared>,
}

/// Settings of a [`RedisStore`]: key prefix and timeout.
///
/// ```
/// use failfast_runtime::RedisStore;
/// use std::time::Duration;
///
/// // Connecting never waits: the store's threads reach Redis in the background.
/// let store = RedisStore::builder()
///     .prefix("billing")
///     .timeout(Duration::from_millis(20))
///     .connect("redis://127.0.0.1:1/")
///     .unwrap();
/// assert_eq!(store.prefix(), "billing");
/// ```
#[derive(Debug, Clone)]
pub struct RedisStoreBuilder {
    prefix: String,
    timeout: Duration,
}

/// The URL given to [`RedisStore::connect`] is not a Redis URL.
///
/// ```
/// use failfast_runtime::RedisStore;
///
/// let error = RedisStore::connect("not a url").err().unwrap();
/// assert!(error.to_string().contains("not a url"));
/// ```
#[derive(Debug)]
pub struct RedisUrlError {
    url: String,
    reason: String,
}

impl fmt::Display for RedisUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a Redis URL: {}", self.url, self.reason)
    }
}

impl std::error::Error for RedisUrlError {}

/// What the handles, the command thread's queue and the listening thread share.
struct Shared {
    /// This store's id in announcements and leases: its own are not applied again.
    id: String,
    prefix: String,
    /// How long a caller waits for a lease.
    timeout: Duration,
    /// Connect, read and write timeout of the threads' connections.
    io_timeout: Duration,
    server: String,
    commands: Sender<Command>,
    /// The breakers using this store, by name.
    breakers: Mutex<HashMap<String, Vec<WeakBreaker>>>,
    health: Arc<Health>,
    echoes: Arc<Echoes>,
    /// Breakers with a lease request in flight: one caller per process asks.
    leasing: Mutex<Vec<String>>,
}

/// Announcements this store was asked for and has not heard back yet, by breaker name.
/// While one is on its way, what others announced for that breaker comes before it in
/// Redis's order, and what Redis holds is older than it: neither is applied, so every
/// process ends in the state announced last. Forgotten when the subscription restarts
/// (echoes of what was sent while it was down never come).
#[derive(Default)]
struct Echoes(Mutex<HashMap<String, u32>>);

impl Echoes {
    fn asked(&self, name: &str) {
        *self.0.lock().entry(name.to_owned()).or_default() += 1;
    }

    /// Heard back, or not sent after all.
    fn lost(&self, name: &str) {
        let mut echoes = self.0.lock();
        if let Some(count) = echoes.get_mut(name) {
            *count -= 1;
            if *count == 0 {
                echoes.remove(name);
            }
        }
    }

    fn awaited(&self, name: &str) -> bool {
        self.0.lock().contains_key(name)
    }

    fn clear(&self) {
        self.0.lock().clear();
    }
}

impl RedisStore {
    /// A store on the Redis server at `url` (`redis://[:password@]host[:port][/db]`),
    /// with the default settings (prefix `failfast`, timeout 50 ms).
    ///
    /// Fails only on a malformed URL: the store reaches Redis in the background, and
    /// breakers use local state until it does.
    ///
    /// ```
    /// use failfast_runtime::RedisStore;
    ///
    /// assert!(RedisStore::connect("redis://127.0.0.1:1/").is_ok()); // nothing listens: still Ok
    /// assert!(RedisStore::connect("http://127.0.0.1/").is_err());
    /// ```
    pub fn connect(url: &str) -> Result<RedisStore, RedisUrlError> {
        RedisStore::builder().connect(url)
    }

    /// Settings other than the defaults.
    ///
    /// ```
    /// use failfast_runtime::RedisStore;
    ///
    /// let store = RedisStore::builder().prefix("shop").connect("redis://127.0.0.1:1/").unwrap();
    /// assert_eq!(store.prefix(), "shop");
    /// ```
    pub fn builder() -> RedisStoreBuilder {
        RedisStoreBuilder {
            prefix: "failfast".to_owned(),
            timeout: Duration::from_millis(50),
        }
    }

    /// The prefix of this store's keys and channel.
    ///
    /// ```
    /// use failfast_runtime::RedisStore;
    ///
    /// assert_eq!(RedisStore::connect("redis://127.0.0.1:1/").unwrap().prefix(), "failfast");
    /// ```
    pub fn prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// Whether the store's last exchange with Redis worked.
    ///
    /// ```
    /// use failfast_runtime::RedisStore;
    ///
    /// let store = RedisStore::connect("redis://127.0.0.1:1/").unwrap();
    /// std::thread::sleep(std::time::Duration::from_millis(300));
    /// assert!(!store.is_connected());
    /// ```
    pub fn is_connected(&self) -> bool {
        self.shared.health.is_up()
    }

    /// How many times the store lost Redis (unreachable, failing or too slow): each such
    /// episode is logged once, as one warning.
    ///
    /// ```
    /// use failfast_runtime::RedisStore;
    ///
    /// let store = RedisStore::connect("redis://127.0.0.1:1/").unwrap();
    /// std::thread::sleep(std::time::Duration::from_millis(300));
    /// assert_eq!(store.episodes(), 1);
    /// ```
    pub fn episodes(&self) -> u64 {
        self.shared.health.episodes()
    }
}

impl RedisStoreBuilder {
    /// Prefix of every key and of the channel (default `failfast`): stores with different
    /// prefixes share nothing, even for breakers of the same name.
    pub fn prefix(mut self, prefix: &str) -> RedisStoreBuilder {
        prefix.clone_into(&mut self.prefix);
        self
    }

    /// The longest a caller waits for Redis (default 50 ms): only on a breaker's first
    /// call, for the fleet's state, and when its open time is over, for the trial lease.
    /// Past it, the breaker decides alone.
    pub fn timeout(mut self, timeout: Duration) -> RedisStoreBuilder {
        self.timeout = timeout;
        self
    }

    /// The store; fails only on a malformed URL (see [`RedisStore::connect`]).
    pub fn connect(self, url: &str) -> Result<RedisStore, RedisUrlError> {
        let client = redis::Client::open(url).map_err(|error| RedisUrlError {
            url: url.to_owned(),
            reason: error.to_string(),
        })?;
        let (commands, queue) = mpsc::channel();
        let health = Arc::new(Health::default());
        let echoes = Arc::new(Echoes::default());
        let shared = Arc::new(Shared {
            id: format!("{:016x}", rand::random::<u64>()),
            io_timeout: self.timeout.max(Duration::from_secs(1)),
            server: client.get_connection_info().addr().to_string(),
            prefix: self.prefix,
            timeout: self.timeout,
            commands,
            breakers: Mutex::default(),
            health: health.clone(),
            echoes: echoes.clone(),
            leasing: Mutex::default(),
        });
        let worker = Worker {
            client: client.clone(),
            server: shared.server.clone(),
            prefix: shared.prefix.clone(),
            id: shared.id.clone(),
            io_timeout: shared.io_timeout,
            health,
            echoes,
            scripts: Scripts::new(),
        };
        spawn("failfast-redis", move || worker.run(queue));
        let listening = Arc::downgrade(&shared);
        spawn("failfast-redis-sub", move || {
            subscriber::run(client, listening);
        });
        Ok(RedisStore { shared })
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .expect("failfast: could not start a thread for the Redis store");
}

impl Shared {
    /// The live breakers using this store.
    fn attached(&self) -> Vec<WeakBreaker> {
        let mut breakers = self.breakers.lock();
        breakers.retain(|_, handles| {
            handles.retain(|b| b.upgrade().is_some());
            !handles.is_empty()
        });
        breakers.values().flatten().cloned().collect()
    }

    /// Applies an announcement heard on the channel.
    fn apply(&self, text: &str) {
        let Some((from, state, name)) = scripts::parse_message(text) else {
            return; // not ours to read
        };
        if from == self.id {
            self.echoes.lost(name);
            return;
        }
        if self.echoes.awaited(name) {
            return; // ours, on its way, comes after this one
        }
        let handles = self.breakers.lock().get(name).cloned().unwrap_or_default();
        for breaker in handles.iter().filter_map(WeakBreaker::upgrade) {
            breaker.adopt(state);
        }
    }
}

impl Store for RedisStore {
    fn attach(&self, breaker: &Breaker) {
        let weak = breaker.downgrade();
        self.shared
            .breakers
            .lock()
            .entry(breaker.name().to_owned())
            .or_default()
            .push(weak.clone());
        // The fleet may have opened it already: wait (at most `timeout`) for its state.
        let (done, synced) = mpsc::sync_channel(1);
        let sync = Command::Sync {
            breaker: weak,
            done: Some(done),
        };
        if self.shared.commands.send(sync).is_ok() {
            let _ = synced.recv_timeout(self.shared.timeout);
        }
    }

    fn publish(&self, breaker: &Breaker) {
        self.shared.echoes.asked(breaker.name());
        let _ = self
            .shared
            .commands
            .send(Command::Publish(breaker.downgrade()));
    }

    fn lease(&self, breaker: &Breaker, ttl: Duration) -> Lease {
        let shared = &*self.shared;
        let name = breaker.name();
        {
            let mut leasing = shared.leasing.lock();
            if leasing.iter().any(|n| n == name) {
                // Another caller here is asking: this one waits its turn, rejected.
                return Lease::Denied {
                    retry_after: Duration::ZERO,
                };
            }
            leasing.push(name.to_owned());
        }
        let (reply, answer) = mpsc::sync_channel(1);
        let deadline = Instant::now() + shared.timeout;
        let asked = shared.commands.send(Command::Lease {
            name: name.to_owned(),
            ttl,
            deadline,
            reply,
        });
        let answer = match asked {
            Ok(()) => answer.recv_timeout(shared.timeout).ok(),
            Err(_) => None,
        };
        shared.leasing.lock().retain(|n| n != name);
        match answer {
            // Redis could not say in time: the breaker decides alone.
            None | Some(LeaseReply::Granted | LeaseReply::Unavailable) => Lease::Granted,
            Some(LeaseReply::Held(left)) => Lease::Denied { retry_after: left },
            // Open elsewhere: the breaker stays open that much longer.
            Some(LeaseReply::State(SharedState::Open { remaining })) => Lease::Denied {
                retry_after: remaining,
            },
            // Set by hand elsewhere: follow, then ask the breaker as it is now.
            Some(LeaseReply::State(state)) => {
                breaker.adopt(state);
                if breaker.state() == State::ForcedOpen {
                    Lease::Denied {
                        retry_after: breaker.config().reset_after(),
                    }
                } else {
                    Lease::Granted
                }
            }
        }
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("server", &self.shared.server)
            .field("prefix", &self.shared.prefix)
            .field("connected", &self.is_connected())
            .finish()
    }
}
