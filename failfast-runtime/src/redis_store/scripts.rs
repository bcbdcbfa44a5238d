//! What the store keeps in Redis, and the Lua scripts that read and change it atomically.
//!
//! Per breaker, under the store's prefix:
//! - `{prefix}:{name}:state`: `open`, `forced_open`, `disabled` or `closed`, expiring
//!   when the state ends (`open`: at the end of the open time, so hosts need no
//!   synchronised clocks; the manual states: after [`MANUAL_TTL`]) or, for `closed`,
//!   after [`CLOSED_TTL`]: long enough for a process that missed the announcement (its
//!   subscription was down) to read it when it resubscribes. No key: the open time is
//!   over, or nothing happened lately; each process's own state decides.
//! - `{prefix}:{name}:probe`: the half-open trial lease, holding the id of the store that
//!   took it, expiring after the lease's ttl.
//!
//! Changes are announced on the channel `{prefix}:events` as
//! `{store id} {state} {remaining ms} {name}`.
//!
//! Anything else found under a key (another type, an unknown value, an `open` or a lease
//! without expiry) is garbage: the scripts delete it and say so. A key in its last
//! millisecond (PTTL 0: Redis expires a key once its time is past) is not: an `open` then
//! has nothing left, and a lease is still held.

use std::time::Duration;

use crate::store::SharedState;

/// How long a fleet-wide `force_open` or `disable` stays in Redis (each process keeps
/// its own until a reset): keys expire, so nothing piles up.
pub(crate) const MANUAL_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// How long a close stays readable in Redis.
pub(crate) const CLOSED_TTL: Duration = Duration::from_secs(60);

/// Reads the state key into `state` and `ttl`, deleting garbage (`garbage` = 1).
const READ_STATE: &str = r"
local garbage = 0
local state = 'none'
local ttl = 0
local kind = redis.call('TYPE', KEYS[1]).ok
if kind ~= 'none' then
  local value = nil
  if kind == 'string' then value = redis.call('GET', KEYS[1]) end
  ttl = redis.call('PTTL', KEYS[1])
  -- PTTL 0: the key's last millisecond (Redis expires it once its time is past).
  if (value == 'open' and ttl >= 0) or value == 'forced_open' or value == 'disabled'
      or value == 'closed' then
    state = value
  else
    redis.call('DEL', KEYS[1])
    garbage = 1
    ttl = 0
  end
end
";

/// `{state, ttl ms, garbage}`.
pub(crate) fn read() -> String {
    format!("{READ_STATE}\nreturn {{state, ttl, garbage}}")
}

/// The lease: refused while the state key says open (forced open, disabled), or while another
/// store holds an unexpired lease; else taken for ARGV[2] ms by ARGV[1].
/// `{'granted' | 'held' | state, ttl ms, garbage}`.
pub(crate) fn lease() -> String {
    format!(
        "{READ_STATE}
if state ~= 'none' and state ~= 'closed' then return {{state, ttl, garbage}} end
local kind = redis.call('TYPE', KEYS[2]).ok
if kind ~= 'none' then
  local held = redis.call('PTTL', KEYS[2])
  if kind == 'string' and held >= 0 then
    if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {{'held', held, garbage}} end
  else
    garbage = 1
  end
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return {{'granted', 0, garbage}}"
    )
}

/// Sets the state key (ARGV[1], for ARGV[2] ms), ends any trial lease and announces the
/// change (ARGV[3] on channel ARGV[4]).
pub(crate) const PUBLISH: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', ARGV[4], ARGV[3])
return 1
";

/// The keys of breaker `name`: its state, its lease.
pub(crate) fn keys(prefix: &str, name: &str) -> [String; 2] {
    [
        format!("{prefix}:{name}:state"),
        format!("{prefix}:{name}:probe"),
    ]
}

/// The channel changes are announced on.
pub(crate) fn channel(prefix: &str) -> String {
    format!("{prefix}:events")
}

/// A state as written under the state key and in announcements, with its ttl in ms.
pub(crate) fn encode(state: SharedState) -> (&'static str, u64) {
    match state {
        // At least 1 ms: PX 0 is an error.
        SharedState::Open { remaining } => ("open", millis(remaining).max(1)),
        SharedState::ForcedOpen => ("forced_open", millis(MANUAL_TTL)),
        SharedState::Disabled => ("disabled", millis(MANUAL_TTL)),
        SharedState::Closed => ("closed", millis(CLOSED_TTL)),
    }
}

/// A state read back from Redis; `None` for no state or an unknown word.
pub(crate) fn decode(state: &str, ttl_ms: i64) -> Option<SharedState> {
    match state {
        "open" => Some(SharedState::Open {
            remaining: Duration::from_millis(u64::try_from(ttl_ms).ok()?),
        }),
        "forced_open" => Some(SharedState::ForcedOpen),
        "disabled" => Some(SharedState::Disabled),
        "closed" => Some(SharedState::Closed),
        _ => None,
    }
}

/// An announcement: `{store id} {state} {ttl ms} {name}`.
pub(crate) fn message(id: &str, state: SharedState, name: &str) -> String {
    let (word, ttl) = encode(state);
    format!("{id} {word} {ttl} {name}")
}

/// The parts of an announcement: store id, state, breaker name. `None` if malformed.
pub(crate) fn parse_message(message: &str) -> Option<(&str, SharedState, &str)> {
    let mut parts = message.splitn(4, ' ');
    let id = parts.next()?;
    let word = parts.next()?;
    let ttl = parts.next()?.parse().ok()?;
    let name = parts.next()?;
    Some((id, decode(word, ttl)?, name))
}

/// `d` in whole milliseconds, rounded up (a breaker is never announced shorter than it
/// is open).
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_names_may_hold_spaces() {
        let open = SharedState::Open {
            remaining: Duration::from_micros(1500),
        };
        let text = message("a1", open, "sales api::get");
        assert_eq!(text, "a1 open 2 sales api::get");
        assert_eq!(
            parse_message(&text),
            Some((
                "a1",
                SharedState::Open {
                    remaining: Duration::from_millis(2)
                },
                "sales api::get"
            ))
        );
        for state in [
            SharedState::ForcedOpen,
            SharedState::Disabled,
            SharedState::Closed,
        ] {
            let text = message("b", state, "x");
            assert_eq!(parse_message(&text), Some(("b", state, "x")));
        }
    }

    #[test]
    fn malformed_messages_are_refused() {
        for text in [
            "",
            "a",
            "a open",
            "a open x name",
            "a weird 1 name",
            "a open -1 n",
        ] {
            assert_eq!(parse_message(text), None, "{text:?}");
        }
    }
}
