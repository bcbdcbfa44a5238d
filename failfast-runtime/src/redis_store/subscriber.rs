//! The store's listening thread: applies the changes other processes announce.

use std::sync::Weak;
use std::thread;
use std::time::Duration;

use super::health::reconnect_backoff;
use super::worker::Command;
use super::{Shared, scripts};

/// How often a quiet subscription wakes to see whether the store is still used.
const IDLE: Duration = Duration::from_secs(1);

/// Listens until the store is dropped; reconnects with backoff.
pub(crate) fn run(client: redis::Client, store: Weak<Shared>) {
    let mut backoff = reconnect_backoff();
    while let Some(shared) = store.upgrade() {
        let mut con = match client.get_connection_with_timeout(shared.io_timeout) {
            Ok(con) => con,
            Err(error) => {
                shared.health.failed(&shared.server, &error);
                drop(shared);
                thread::sleep(backoff.next().unwrap_or(IDLE));
                continue;
            }
        };
        // (A `PubSub` unsubscribes when dropped: one for the life of the connection.)
        let mut pubsub = con.as_pubsub();
        let subscribed = pubsub
            .set_read_timeout(Some(IDLE))
            .and_then(|()| pubsub.subscribe(scripts::channel(&shared.prefix)));
        if let Err(error) = subscribed {
            shared.health.failed(&shared.server, &error);
            drop(shared);
            thread::sleep(backoff.next().unwrap_or(IDLE));
            continue;
        }
        backoff = reconnect_backoff();
        shared.health.ok(&shared.server);
        // Announcements may have been missed: read every breaker's state again, and
        // stop waiting for echoes of what was sent before.
        shared.echoes.clear();
        for breaker in shared.attached() {
            let _ = shared.commands.send(Command::Sync(breaker));
        }
        drop(shared);
        loop {
            let message = pubsub.get_message();
            let Some(shared) = store.upgrade() else {
                return;
            };
            match message {
                Ok(message) => {
                    if let Ok(text) = message.get_payload::<String>() {
                        shared.apply(&text);
                    }
                }
                Err(error) if error.is_timeout() => {}
                Err(error) => {
                    shared.health.failed(&shared.server, &error);
                    break;
                }
            }
        }
    }
}
