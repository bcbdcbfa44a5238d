//! A "spell": one stretch of time a breaker spends in one state.
//!
//! Every transition starts a new spell with a higher generation. Permits remember the
//! spell they were issued in, so an outcome that arrives late (a call from before the
//! breaker opened, a trial from an earlier half-open spell) is recognised and ignored.
//! State and generation share one `AtomicU64` so a single load reads both consistently.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::State;

const STATE_BITS: u32 = 3;
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;

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

    fn pack(self) -> u64 {
        (self.generation << STATE_BITS) | self.state.to_bits()
    }

    #[inline]
    fn unpack(word: u64) -> Spell {
        Spell {
            state: State::from_bits(word & STATE_MASK),
            generation: word >> STATE_BITS,
        }
    }
}

/// The current spell, readable without a lock; written only under the breaker's lock.
#[derive(Debug)]
pub(crate) struct AtomicSpell(AtomicU64);

impl AtomicSpell {
    pub(crate) fn new(state: State) -> Self {
        AtomicSpell(AtomicU64::new(
            Spell {
                state,
                generation: 0,
            }
            .pack(),
        ))
    }

    /// Acquire pairs with the Release in `store`: whoever sees a spell also sees the
    /// fields written before it (the open-until instant, the cleared policy).
    #[inline]
    pub(crate) fn load(&self) -> Spell {
        Spell::unpack(self.0.load(Ordering::Acquire))
    }

    /// The generation of the current spell if it is Closed: the hot path's one load and
    /// one branch, without decoding the state.
    #[inline]
    pub(crate) fn closed_generation(&self) -> Option<u64> {
        let word = self.0.load(Ordering::Acquire);
        (word & STATE_MASK == State::Closed.to_bits()).then_some(word >> STATE_BITS)
    }

    pub(crate) fn store(&self, spell: Spell) {
        self.0.store(spell.pack(), Ordering::Release);
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
        }
    }
}
