//! Handles on the lock-free internals, for `tests/loom.rs`: compiled under `--cfg loom`
//! only, so never part of the API.

use std::sync::atomic::Ordering::Relaxed;

use crate::Breaker;
use crate::spell::AtomicSpell;
use crate::state::State;
use crate::stripe::{self, Striped};
use crate::sync::AtomicU64;

/// The generation of `breaker`'s current spell: how many transitions it has made.
pub fn generation(breaker: &Breaker) -> u64 {
    breaker.generation()
}

/// The copies of each striped counter.
pub const STRIPES: usize = stripe::STRIPES;
/// The stripe that threads without one of their own share, incremented atomically.
pub const SHARED: usize = stripe::SHARED;

/// One striped counter, as a breaker's outcome counters and a budget's deposits are.
#[derive(Default)]
pub struct Counter(Striped<AtomicU64>);

impl Counter {
    /// A counter at zero.
    pub fn new() -> Counter {
        Counter::default()
    }

    /// Adds one in this thread's own stripe, as the breaker and the budgets do.
    pub fn count(&self) {
        self.0.count(|counter| counter);
    }

    /// Adds one in stripe `index` as its owner would (a plain load and store), or, for
    /// [`SHARED`], atomically.
    pub fn bump(&self, index: usize) {
        stripe::bump(self.0.get(index), index);
    }

    /// The stripes added up, as a snapshot reads them.
    pub fn sum(&self) -> u64 {
        self.0.sum(|counter| counter)
    }

    /// The value of stripe `index` alone.
    pub fn stripe(&self, index: usize) -> u64 {
        self.0.get(index).load(Relaxed)
    }
}

/// A spell word (state and generation in one atomic), as a breaker keeps it.
pub struct SpellWord(AtomicSpell);

impl SpellWord {
    /// The first spell: Closed, generation 0; `measured` as for a breaker with a window.
    pub fn new(measured: bool) -> SpellWord {
        SpellWord(AtomicSpell::new(State::Closed, measured))
    }

    /// The state and generation, read together (Acquire).
    pub fn load(&self) -> (State, u64) {
        let spell = self.0.load();
        (spell.state, spell.generation)
    }

    /// The hot path's test: the generation if Closed and not measured.
    pub fn closed_generation(&self) -> Option<u64> {
        self.0.closed_generation()
    }

    /// Publishes the spell after `(state, generation)`, in state `to` (Release). The
    /// breaker does this under its lock only; the caller provides the exclusion.
    pub fn publish_next(&self, from: (State, u64), to: State) {
        let from = crate::spell::Spell {
            state: from.0,
            generation: from.1,
        };
        self.0.store(from.next(to));
    }
}
