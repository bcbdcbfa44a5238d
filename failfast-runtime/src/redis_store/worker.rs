//! The store's command thread: the only one that writes to Redis, so no caller ever waits
//! on the network (a lease request waits for its answer only up to the store's timeout).

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use redis::{Connection, RedisResult, Script};

use super::health::{Health, reconnect_backoff};
use super::{Echoes, scripts};
use crate::backoff::Backoff;
use crate::breaker::WeakBreaker;
use crate::store::SharedState;

pub(crate) enum Command {
    /// Share the breaker's current state with the fleet.
    Publish(WeakBreaker),
    /// Read the breaker's shared state and adopt it (a new breaker, a reconnect), then
    /// tell `done` (a new breaker's first caller may be waiting).
    Sync {
        breaker: WeakBreaker,
        done: Option<SyncSender<()>>,
    },
    /// The listening thread reached Redis: reconnect now if waiting out a backoff (up to
    /// 2 s, during which a lease request would be granted locally and announcements would
    /// wait, while the store says it is connected).
    Reachable,
    /// Ask for the half-open trial lease of `name`.
    Lease {
        name: String,
        ttl: Duration,
        /// The caller stops waiting then: a request still queued is dropped.
        deadline: Instant,
        reply: SyncSender<LeaseReply>,
    },
}

/// What Redis said to a lease request.
pub(crate) enum LeaseReply {
    Granted,
    /// Another store holds the lease, for this much longer.
    Held(Duration),
    /// The breaker is open (forced open, disabled) fleet-wide.
    State(SharedState),
    /// Redis could not be asked.
    Unavailable,
}

pub(crate) struct Worker {
    pub(crate) client: redis::Client,
    /// The server, for log lines (no password).
    pub(crate) server: String,
    pub(crate) prefix: String,
    pub(crate) id: String,
    pub(crate) io_timeout: Duration,
    pub(crate) health: Arc<Health>,
    pub(crate) echoes: Arc<Echoes>,
    pub(crate) scripts: Scripts,
}

/// The connection and what waits for it.
struct Link {
    con: Option<Connection>,
    /// No reconnect attempt before this.
    retry_at: Instant,
    backoff: Backoff,
    /// Breakers to publish, then to sync, once Redis answers again.
    unpublished: Vec<WeakBreaker>,
    unsynced: Vec<WeakBreaker>,
}

pub(crate) struct Scripts {
    read: Script,
    lease: Script,
    publish: Script,
}

impl Scripts {
    pub(crate) fn new() -> Scripts {
        Scripts {
            read: Script::new(&scripts::read()),
            lease: Script::new(&scripts::lease()),
            publish: Script::new(scripts::PUBLISH),
        }
    }
}

impl Worker {
    /// Runs commands until the store is dropped.
    pub(crate) fn run(self, commands: Receiver<Command>) {
        let mut link = Link {
            con: None,
            retry_at: Instant::now(),
            backoff: reconnect_backoff(),
            unpublished: Vec::new(),
            unsynced: Vec::new(),
        };
        loop {
            // With something left to say, wake up to reconnect and say it.
            let command = if link.unpublished.is_empty() && link.unsynced.is_empty() {
                commands.recv().map_err(|_| RecvTimeoutError::Disconnected)
            } else {
                commands.recv_timeout(link.retry_at.saturating_duration_since(Instant::now()))
            };
            let command = match command {
                Ok(command) => command,
                Err(RecvTimeoutError::Timeout) => {
                    self.reconnect(&mut link);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return, // the store is gone
            };
            match command {
                Command::Publish(breaker) => self.publish(&mut link, breaker),
                Command::Reachable => {
                    if link.con.is_none() {
                        link.retry_at = Instant::now();
                        self.reconnect(&mut link);
                    }
                }
                Command::Sync { breaker, done } => {
                    self.sync(&mut link, breaker);
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                }
                Command::Lease {
                    name,
                    ttl,
                    deadline,
                    reply,
                } => {
                    if Instant::now() < deadline {
                        let answer = self.lease(&mut link, &name, ttl);
                        let _ = reply.send(answer);
                    }
                }
            }
        }
    }

    /// Announces the breaker's state as it is now. (Its echo is awaited from the moment
    /// the publish was asked for: see `Echoes`.)
    fn publish(&self, link: &mut Link, weak: WeakBreaker) {
        let Some(breaker) = weak.upgrade() else {
            return;
        };
        let name = breaker.name();
        // Half-open: nothing to share (the lease says who probes).
        let state = match breaker.shared_state() {
            Some(SharedState::Open { remaining }) if remaining.is_zero() => None,
            state => state,
        };
        let Some(state) = state else {
            self.echoes.lost(name);
            return;
        };
        let [state_key, probe_key] = scripts::keys(&self.prefix, name);
        let (word, ttl) = scripts::encode(state);
        let message = scripts::message(&self.id, state, name);
        let channel = scripts::channel(&self.prefix);
        let sent = self.query(link, |con| {
            self.scripts
                .publish
                .key(&state_key)
                .key(&probe_key)
                .arg(word)
                .arg(ttl)
                .arg(&message)
                .arg(&channel)
                .invoke::<i64>(con)
        });
        if sent.is_none() {
            // Said once Redis is back, as things are then.
            if !remember(&mut link.unpublished, weak) {
                self.echoes.lost(name); // one announcement will do for both
            }
        }
    }

    fn sync(&self, link: &mut Link, weak: WeakBreaker) {
        let Some(breaker) = weak.upgrade() else {
            return;
        };
        let [state_key, _] = scripts::keys(&self.prefix, breaker.name());
        let read = self.query(link, |con| {
            self.scripts
                .read
                .key(&state_key)
                .invoke::<(String, i64, i64)>(con)
        });
        let Some((word, ttl, garbage)) = read else {
            remember(&mut link.unsynced, weak);
            return;
        };
        if garbage != 0 {
            self.health.garbage(&state_key);
        }
        // No key, or an `open` in its last millisecond: the open time is over, or nothing
        // happened lately; local state decides. A change of ours on its way is newer than
        // what Redis holds.
        match scripts::decode(&word, ttl) {
            Some(SharedState::Open { remaining }) if remaining.is_zero() => {}
            Some(state) if !self.echoes.awaited(breaker.name()) => breaker.adopt(state),
            _ => {}
        }
    }

    fn lease(&self, link: &mut Link, name: &str, ttl: Duration) -> LeaseReply {
        let [state_key, probe_key] = scripts::keys(&self.prefix, name);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let answer = self.query(link, |con| {
            self.scripts
                .lease
                .key(&state_key)
                .key(&probe_key)
                .arg(&self.id)
                .arg(ttl_ms)
                .invoke::<(String, i64, i64)>(con)
        });
        let Some((word, ttl, garbage)) = answer else {
            return LeaseReply::Unavailable;
        };
        if garbage != 0 {
            self.health.garbage(&format!("{state_key} or {probe_key}"));
        }
        match word.as_str() {
            "granted" => LeaseReply::Granted,
            "held" => LeaseReply::Held(Duration::from_millis(ttl.max(0).unsigned_abs())),
            other => match scripts::decode(other, ttl) {
                Some(state) => LeaseReply::State(state),
                None => LeaseReply::Unavailable,
            },
        }
    }

    /// Runs `f` on the connection, (re)connecting first if it is time to; `None` when
    /// Redis could not be reached or failed (the connection is then dropped: a reply
    /// that timed out may still arrive on it). A connection found broken (Redis was
    /// restarted while it sat idle) is replaced at once, once.
    fn query<T>(
        &self,
        link: &mut Link,
        mut f: impl FnMut(&mut Connection) -> RedisResult<T>,
    ) -> Option<T> {
        if link.con.is_none() {
            self.reconnect(link);
        }
        let mut fresh = false;
        loop {
            let con = link.con.as_mut()?;
            match f(con) {
                Ok(value) => {
                    self.health.ok(&self.server);
                    return Some(value);
                }
                Err(error) if !fresh && error.is_connection_dropped() => {
                    link.con = None;
                    link.retry_at = Instant::now();
                    self.reconnect(link);
                    fresh = true;
                }
                Err(error) => {
                    self.failed(link, &error);
                    return None;
                }
            }
        }
    }

    fn reconnect(&self, link: &mut Link) {
        if Instant::now() < link.retry_at {
            return;
        }
        let connected = self
            .client
            .get_connection_with_timeout(self.io_timeout)
            .and_then(|con| {
                con.set_read_timeout(Some(self.io_timeout))?;
                con.set_write_timeout(Some(self.io_timeout))?;
                Ok(con)
            });
        match connected {
            Ok(con) => {
                link.con = Some(con);
                link.backoff = reconnect_backoff();
                self.health.ok(&self.server);
                // What could not be said while Redis was away, as things are now.
                for breaker in std::mem::take(&mut link.unpublished) {
                    self.publish(link, breaker);
                }
                for breaker in std::mem::take(&mut link.unsynced) {
                    self.sync(link, breaker);
                }
            }
            Err(error) => self.failed(link, &error),
        }
    }

    fn failed(&self, link: &mut Link, error: &redis::RedisError) {
        link.con = None;
        let wait = link.backoff.next().unwrap_or(Duration::from_secs(2));
        link.retry_at = Instant::now() + wait;
        self.health.failed(&self.server, error);
    }
}

/// Adds `breaker` to `list` unless it is there already; whether it was added.
fn remember(list: &mut Vec<WeakBreaker>, breaker: WeakBreaker) -> bool {
    let new = !list.iter().any(|b| b.same(&breaker));
    if new {
        list.push(breaker);
    }
    new
}
