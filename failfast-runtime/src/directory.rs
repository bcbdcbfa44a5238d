//! A registry's breakers by name, shared with its keyed families, and how a breaker of the
//! registry is made.
//!
//! The registry ([`Registry`](crate::Registry)) registers breakers by name; a keyed
//! family ([`Family`](crate::Family)) adds and evicts its members here too, so that one
//! name always means one breaker, whoever made it. Lock order: a family's members, then
//! this table.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use parking_lot::{Mutex, MutexGuard};

use crate::breaker::Breaker;
use crate::config::BreakerConfig;
use crate::listeners::Listeners;
use crate::name::BreakerName;
use crate::state::State;
use crate::store::{InProcess, Store};

/// `FAILFAST_DISABLED=1` in the environment: new registered breakers start disabled.
/// Read once, on first use.
static DISABLED_BY_ENV: LazyLock<bool> =
    LazyLock::new(|| std::env::var_os("FAILFAST_DISABLED").is_some_and(|v| v == "1"));

/// The state a new breaker of a registry starts in: `Disabled` when the environment has
/// `FAILFAST_DISABLED=1`, else `Closed`.
pub(crate) fn initial_state() -> State {
    if *DISABLED_BY_ENV {
        State::Disabled
    } else {
        State::Closed
    }
}

/// The breakers of one registry by name, and the listeners of all their transitions.
#[derive(Default)]
pub(crate) struct Directory {
    breakers: Mutex<BTreeMap<BreakerName, Breaker>>,
    listeners: Arc<Listeners>,
}

impl Directory {
    /// The table itself, locked.
    pub(crate) fn lock(&self) -> MutexGuard<'_, BTreeMap<BreakerName, Breaker>> {
        self.breakers.lock()
    }

    /// The listeners of every breaker of the registry.
    pub(crate) fn listeners(&self) -> &Arc<Listeners> {
        &self.listeners
    }

    /// A new breaker of this registry, not listed nor attached to its store yet: it
    /// starts in [`initial_state`], and a process with breakers disabled by the
    /// environment keeps out of the shared store too (a fleet-wide reset must not switch
    /// its breakers back on).
    pub(crate) fn make(
        &self,
        name: BreakerName,
        config: BreakerConfig,
        store: impl FnOnce() -> Arc<dyn Store>,
    ) -> Breaker {
        let initial = initial_state();
        let store = match initial {
            State::Disabled => Arc::new(InProcess) as Arc<dyn Store>,
            _ => store(),
        };
        let listeners = Some(self.listeners.clone());
        Breaker::build(name, config, initial, listeners, store)
    }
}
