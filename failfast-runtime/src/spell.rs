//! A "spell": one stretch of time a breaker spends in one state.
//!
//! Every transition starts a new spell with a higher generation. Permits remember the
//! spell they were issued in, so an outcome that arrives late (a call from before the
//! breaker opened, a trial from an earlier half-open spell) is recognised and ignored.
//! State and generation share one `AtomicU64` so a single load reads both consistently.
//!
//! One more bit of the word, constant for the breaker's life, marks a breaker that
//! measures its closed calls (a window to record in, a clock to time them): its
//! Closed spells never match the hot path's test, which stays one load, one mask and one
//! branch.

use std::sync::atomic::Ordering;

use crate::state::State;
use crate::sync::AtomicU64;

const STATE_BITS: u32 = 3;
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;
/// Set in every word of a breaker that measures its closed calls.
const MEASURED: u64 = 1 << STATE_BITS;
/// Where the generation starts.
const GENERATION_SHIFT: u32 = STATE_BITS + 1;

/// A state and the generation that numbers the spell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spell {
    pub(crate) state: State,
    pub(crate) generation: u64,
}

impl Spell {
    /// The spell after this one, in state `to`.
    pub(crate) fn next(self, to: State) -> Spell {
        Spell {
            state: to,
            generation: self.generation.wrapping_add(1),
        }
    }

    /// True for the spell of `state` numbered `generation`: a permit's outcome belongs to
    /// the current spell only if this holds.
    #[inline]
    pub(crate) fn is(self, state: State, generation: u64) -> bool {
        self.state == state && self.generation == generation
    }

    fn pack(self) -> u64 {
        (self.generation << GENERATION_SHIFT) | self.state.to_bits()
    }

    #[inline]
    fn unpack(word: u64) -> Spell {
        Spell {
            state: State::from_bits(word & STATE_MASK),
            generation: word >> GENERATION_SHIFT,
        }
    }
}

/// The current spell, readable without a lock; written only under the breaker's lock.
#[derive(Debug)]
pub(crate) struct AtomicSpell {
    word: AtomicU64,
    /// [`MEASURED`] or zero, in every word stored.
    lane: u64,
}

impl AtomicSpell {
    /// The first spell, in `state`. `measured`: closed calls must not take the hot path
    /// ([`closed_generation`](Self::closed_generation) always says `None`).
    pub(crate) fn new(state: State, measured: bool) -> Self {
        let lane = if measured { MEASURED } else { 0 };
        let first = Spell {
            state,
            generation: 0,
        };
        AtomicSpell {
            word: AtomicU64::new(first.pack() | lane),
            lane,
        }
    }

    /// Acquire pairs with the Release in `store`: whoever sees a spell also sees the
    /// fields written before it (the open-until instant, the cleared policy).
    #[inline]
    pub(crate) fn load(&self) -> Spell {
        Spell::unpack(self.word.load(Ordering::Acquire))
    }

    /// The generation of the current spell if it is Closed and the breaker's closed calls
    /// take the hot path: one load and one branch, without decoding the state.
    #[inline]
    pub(crate) fn closed_generation(&self) -> Option<u64> {
        let word = self.word.load(Ordering::Acquire);
        (word & (STATE_MASK | MEASURED) == State::Closed.to_bits())
            .then_some(word >> GENERATION_SHIFT)
    }

    pub(crate) fn store(&self, spell: Spell) {
        self.word.store(spell.pack() | self.lane, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips() {
        for state in [
            State::Closed,
            State::Open,
            State::HalfOpen,
            State::ForcedOpen,
            State::Disabled,
        ] {
            let spell = Spell {
                state,
                generation: 12_345,
            };
            assert_eq!(Spell::unpack(spell.pack()), spell);
            assert_eq!(Spell::unpack(spell.pack() | MEASURED), spell);
        }
    }

    #[test]
    fn measuring_breakers_never_take_the_hot_path() {
        let plain = AtomicSpell::new(State::Closed, false);
        let measured = AtomicSpell::new(State::Closed, true);
        assert_eq!(plain.closed_generation(), Some(0));
        assert_eq!(measured.closed_generation(), None);
        let next = measured.load().next(State::Open).next(State::Closed);
        measured.store(next);
        plain.store(next);
        assert_eq!(measured.load(), next);
        assert_eq!(measured.closed_generation(), None);
        assert_eq!(plain.closed_generation(), Some(2));
    }
}
