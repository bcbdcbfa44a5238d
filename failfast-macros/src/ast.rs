//! The typed model of a stack of attributes: what `validate.rs` makes of the arguments and
//! `expand.rs` emits. Every value here is checked; nothing is a token stream left to read.

use crate::args::Attr;
use proc_macro2::Span;
use syn::{Expr, LitFloat, LitInt, Path};

/// One checked attribute of the stack.
pub(crate) struct Layer {
    pub(crate) attr: Attr,
    /// The attribute itself, for errors about the attribute as a whole.
    pub(crate) span: Span,
    /// `::failfast`, or the `crate = path` override.
    pub(crate) krate: Path,
    pub(crate) kind: LayerKind,
}

pub(crate) enum LayerKind {
    Breaker(Breaker),
    Retry(Retry),
    Timeout(Timeout),
}

pub(crate) struct Breaker {
    /// Given name (a string literal or a `&'static str` expression); `None`: the default.
    pub(crate) name: Option<Expr>,
    pub(crate) failures: Option<LitInt>,
    /// In (0, 1], as an `f64` literal.
    pub(crate) failure_rate: Option<LitFloat>,
    pub(crate) window: Option<WindowArg>,
    pub(crate) min_calls: Option<LitInt>,
    pub(crate) slow: Option<Dur>,
    /// In (0, 1], as an `f64` literal.
    pub(crate) slow_rate: Option<LitFloat>,
    pub(crate) reset: Option<Dur>,
    pub(crate) reset_max: Option<Dur>,
    pub(crate) probes: Option<LitInt>,
    /// Longer than zero when written as a string. (Boxed, as `store`: a `Dur` may hold an
    /// `Expr`, and it is rarely given.)
    pub(crate) probe_timeout: Option<Box<Dur>>,
    pub(crate) is_failure: Option<Predicate>,
    pub(crate) fallback: Option<Path>,
    /// `fallback_on = "failure"`: the fallback also answers a call that failed.
    pub(crate) fallback_on_failure: bool,
    /// Any expression; the compiler checks that it is a `Store`. (Boxed: an `Expr` is
    /// large, and rarely given.)
    pub(crate) store: Option<Box<Expr>>,
    pub(crate) enabled: Option<Expr>,
    /// `Observe` or `Enforce`, spanned on the string.
    pub(crate) mode: Option<syn::Ident>,
}

/// `window = 100` (calls), `window = "60s"` (time) or an expression of either type.
pub(crate) enum WindowArg {
    Calls(LitInt),
    Time(Dur),
    /// A `u32` (calls) or a `Duration` (time), told apart by type at compile time.
    Expr(Expr),
}

/// `budget = "name"` or `budget = "none"`.
pub(crate) enum BudgetArg {
    /// No budget: every retry the policy allows is made.
    None,
    /// The named budget of the registry, shared by every fn naming it.
    Named(syn::LitStr),
}

/// `retry_after = path` (or a closure), or `retry_after` alone: the error's own
/// `RetryAfter` impl.
// proc-macro2's `span-locations`, on for this crate's tests (the span checks of
// `src/fuzz.rs`), makes every `Span` in an `Expr` 8 bytes larger, and `Expr` then passes
// clippy's limit on the size difference of variants, in the `--all-targets` build only.
#[allow(clippy::large_enum_variant)]
pub(crate) enum RetryAfterArg {
    Fn(Predicate),
    /// The span of the key, for the "does not implement `RetryAfter`" error.
    Trait(Span),
}

pub(crate) struct Retry {
    pub(crate) attempts: Option<LitInt>,
    pub(crate) delay: Option<Dur>,
    pub(crate) factor: Option<LitFloat>,
    pub(crate) max_delay: Option<Dur>,
    /// `Full`, `Equal`, `Decorrelated` or `None`, spanned on the string.
    pub(crate) jitter: Option<syn::Ident>,
    pub(crate) deadline: Option<Dur>,
    pub(crate) retry_if: Option<Predicate>,
    pub(crate) retry_if_ok: Option<Predicate>,
    pub(crate) retry_after: Option<RetryAfterArg>,
    pub(crate) budget: Option<BudgetArg>,
    pub(crate) on_retry: Option<Predicate>,
}

pub(crate) struct Timeout {
    pub(crate) after: Dur,
}

/// A duration argument.
// proc-macro2's `span-locations`, on for this crate's tests (the span checks of
// `src/fuzz.rs`), makes every `Span` in an `Expr` 8 bytes larger, and `Expr` then passes
// clippy's limit on the size difference of variants, in the `--all-targets` build only.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Dur {
    /// A checked duration string, in nanoseconds, with the literal's span.
    Nanos(u64, Span),
    /// Any other expression of type `Duration`, emitted as written.
    Expr(Expr),
}

/// A user fn given by path (`is_failure = is_transient`) or a closure written in place.
pub(crate) enum Predicate {
    Path(Path),
    Closure(Expr),
}

/// The attribute's arguments, still as tokens, plus where the attribute is.
pub(crate) struct RawLayer {
    pub(crate) attr: Attr,
    pub(crate) span: Span,
    pub(crate) args: proc_macro2::TokenStream,
}
