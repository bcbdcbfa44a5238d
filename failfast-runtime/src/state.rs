//! The five states of a circuit breaker.

use std::fmt;

/// Where a breaker stands.
///
/// `Closed`, `Open` and `HalfOpen` are the automatic states; `ForcedOpen` and `Disabled`
/// are set by hand ([`Breaker::force_open`](crate::Breaker::force_open),
/// [`Breaker::disable`](crate::Breaker::disable)) and left only through
/// [`Breaker::reset`](crate::Breaker::reset) (or another manual call).
///
/// ```
/// use failfast_runtime::State;
///
/// assert_eq!(State::HalfOpen.to_string(), "half-open");
/// ```
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "kebab-case")
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls pass; failures are counted.
    Closed,
    /// Calls are rejected until the reset time has elapsed.
    Open,
    /// A limited number of trial calls pass; their outcome closes or reopens the breaker.
    HalfOpen,
    /// Opened by hand: every call is rejected until `reset()`.
    ForcedOpen,
    /// Switched off: every call passes and nothing is counted toward opening.
    Disabled,
}

impl State {
    /// Encodes the state in 3 bits, for the breaker's atomic word.
    pub(crate) const fn to_bits(self) -> u64 {
        match self {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
            State::ForcedOpen => 3,
            State::Disabled => 4,
        }
    }

    /// Decodes [`State::to_bits`]; only ever fed values it produced.
    #[inline]
    pub(crate) const fn from_bits(bits: u64) -> State {
        match bits {
            0 => State::Closed,
            1 => State::Open,
            2 => State::HalfOpen,
            3 => State::ForcedOpen,
            _ => State::Disabled,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half-open",
            State::ForcedOpen => "forced-open",
            State::Disabled => "disabled",
        })
    }
}
