//! The store's listening thread: applies the changes other processes announce.

use std::sync::Weak;
use std::thread;
use std::time::Duration;

use redis::{Connection, RedisResult};

use super::health::reconnect_backoff;
use super::worker::Command;
use super::{Shared, scripts};
use crate::backoff::Backoff;

/// How often a quiet subscription wakes to see whether the store is still used.
const IDLE: Duration = Duration::from_secs(1);

/// Listens until the store is dropped; reconnects with backoff.
pub(crate) fn run(client: redis::Client, store: Weak<Shared>) {
    let mut backoff = reconnect_backoff();
    loop {
        let Some(io_timeout) = store.upgrade().map(|shared| shared.io_timeout) else {
            return;
        };
        let listened = client
            .get_connection_with_timeout(io_timeout)
            .and_then(|mut con| listen(&mut con, &store, &mut backoff));
        let Some(shared) = store.upgrade() else {
            return;
        };
        if let Err(error) = listened {
            shared.health.failed(&shared.server, &error);
        }
        drop(shared);
        thread::sleep(backoff.next().unwrap_or(IDLE));
    }
}

/// Subscribes on `con` and applies announcements until the connection fails (`Err`) or
/// the store is dropped (`Ok`).
fn listen(con: &mut Connection, store: &Weak<Shared>, backoff: &mut Backoff) -> RedisResult<()> {
    // A `PubSub` unsubscribes when dropped: one for the life of the connection.
    let mut pubsub = con.as_pubsub();
    pubsub.set_read_timeout(Some(IDLE))?;
    {
        let Some(shared) = store.upgrade() else {
            return Ok(());
        };
        pubsub.subscribe(scripts::channel(&shared.prefix))?;
        *backoff = reconnect_backoff();
        // The command thread may be waiting out its own backoff: it reconnects now. Told
        // before the store says it is connected, so that a lease asked after that is
        // queued behind the reconnect.
        let _ = shared.commands.send(Command::Reachable);
        shared.health.ok(&shared.server);
        // Announcements may have been missed: read every breaker's state again, and stop
        // waiting for echoes of what was sent before.
        shared.echoes.clear();
        for breaker in shared.attached() {
            let _ = shared.commands.send(Command::Sync {
                breaker,
                done: None,
            });
        }
    }
    loop {
        let message = pubsub.get_message();
        let Some(shared) = store.upgrade() else {
            return Ok(());
        };
        match message {
            Ok(message) => {
                if let Ok(text) = message.get_payload::<String>() {
                    shared.apply(&text);
                }
            }
            Err(error) if error.is_timeout() => {}
            Err(error) => return Err(error),
        }
    }
}
