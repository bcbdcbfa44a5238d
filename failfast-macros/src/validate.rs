//! What the arguments mean, and whether the fn can carry the attributes.
//!
//! Turns the arguments as written (`args.rs`) into checked layers: numbers in range,
//! duration strings parsed to nanoseconds, jitter names known, paths that are paths.
//! Then checks the fn against the whole stack: it returns `Result`, a `#[timeout]` fn is
//! async, a retried method borrows `self`, a fallback gets plain parameter names. Every
//! problem is recorded; nothing stops at the first one.

use crate::args::{Arg, Attr, BreakerArgs, RetryArgs, TimeoutArgs, example};
use crate::duration;
use crate::errors::Errors;
use crate::signature::{self, FnSig};
use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ItemFn, Lit, LitFloat, LitInt, Path};

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
pub(crate) enum RetryAfterArg {
    Fn(Predicate),
    /// The span of the key, for the "does not implement `RetryAfter`" error.
    Trait(Span),
}

pub(crate) struct Retry {
    pub(crate) attempts: Option<LitInt>,
    pub(crate) delay: Option<Dur>,
    pub(crate) factor: Option<syn::LitFloat>,
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

/// Parses and checks one attribute's arguments.
pub(crate) fn layer(raw: RawLayer, errors: &mut Errors) -> Option<Layer> {
    let RawLayer { attr, span, args } = raw;
    let (krate, kind) = match attr {
        Attr::CircuitBreaker => {
            let mut args: BreakerArgs = errors.ok(syn::parse2(args))?;
            errors.append(std::mem::take(&mut args.errors));
            let krate = krate(args.krate.take(), errors);
            (krate, LayerKind::Breaker(breaker(args, errors)))
        }
        Attr::Retry => {
            let mut args: RetryArgs = errors.ok(syn::parse2(args))?;
            errors.append(std::mem::take(&mut args.errors));
            let krate = krate(args.krate.take(), errors);
            (krate, LayerKind::Retry(retry(args, errors)))
        }
        Attr::Timeout => {
            let mut args: TimeoutArgs = errors.ok(syn::parse2(args))?;
            errors.append(std::mem::take(&mut args.errors));
            let krate = krate(args.krate.take(), errors);
            let Some(after) = args.after else {
                errors.error(
                    span,
                    "#[timeout] needs a duration: #[timeout(\"3s\")] or #[timeout(after = \"3s\")]",
                );
                return None;
            };
            let after = duration(&after, errors)?;
            (krate, LayerKind::Timeout(Timeout { after }))
        }
    };
    Some(Layer {
        attr,
        span,
        krate,
        kind,
    })
}

fn breaker(args: BreakerArgs, errors: &mut Errors) -> Breaker {
    window_needs_a_rate(&args, errors);
    let name = args.name.and_then(|arg| match &arg.value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(name),
            ..
        }) if name.value().trim().is_empty() => {
            errors.error(name.span(), "the breaker's name cannot be empty");
            None
        }
        Expr::Lit(ExprLit { lit, .. }) if !matches!(lit, Lit::Str(_)) => {
            errors.error(
                lit.span(),
                "the breaker's name must be a string: name = \"sales_api\"",
            );
            None
        }
        _ => Some(arg.value),
    });
    let window = args.window.and_then(|arg| window(&arg, errors));
    let min_calls = args.min_calls.and_then(|arg| {
        count(
            &arg,
            "it is how many calls the window must hold before a rate can open the breaker",
            errors,
        )
    });
    let reset = args.reset.and_then(|arg| duration(&arg, errors));
    let reset_max = args.reset_max.and_then(|arg| duration(&arg, errors));
    if let Some(reset_max) = &reset_max {
        reset_max_above_reset(reset_max, reset.as_ref(), errors);
    }
    Breaker {
        name,
        failures: args.failures.and_then(|arg| {
            count(
                &arg,
                "the breaker opens after this many failures in a row",
                errors,
            )
        }),
        failure_rate: args.failure_rate.and_then(|arg| {
            rate(
                &arg,
                "it is the share of failed calls in the window that opens the breaker \
                 (0.5: half of them)",
                errors,
            )
        }),
        window,
        min_calls,
        slow: args.slow.and_then(|arg| {
            let slow = duration(&arg, errors)?;
            match slow {
                Dur::Nanos(0, span) => {
                    errors.error(
                        span,
                        "`slow` must be longer than 0s: every call would count as slow",
                    );
                    None
                }
                slow => Some(slow),
            }
        }),
        slow_rate: args.slow_rate.and_then(|arg| {
            rate(
                &arg,
                "it is the share of slow calls in the window that opens the breaker \
                 (0.8: four in five)",
                errors,
            )
        }),
        reset,
        reset_max,
        probes: args.probes.and_then(|arg| {
            count(
                &arg,
                "a half-open breaker needs at least one trial call to decide whether to close",
                errors,
            )
        }),
        is_failure: args.is_failure.and_then(|arg| predicate(arg, errors)),
        fallback_on_failure: args.fallback_on.as_ref().is_some_and(|arg| {
            fallback_on(arg, args.fallback.is_some(), errors) == Some(FallbackOn::Failure)
        }),
        fallback: args.fallback.and_then(|arg| path(&arg, errors)),
        store: args.store.map(|arg| Box::new(arg.value)),
        enabled: args.enabled.and_then(|arg| match arg.value {
            // `enabled = true` is the default: nothing to emit.
            Expr::Lit(ExprLit {
                lit: Lit::Bool(ref flag),
                ..
            }) if flag.value => None,
            value => Some(value),
        }),
        mode: args.mode.and_then(|arg| mode(&arg, errors)),
    }
}

/// `window` and `min_calls` shape the window of `failure_rate` and `slow_rate`; without
/// either the breaker counts failures in a row and has no window, so they would do
/// nothing. `slow_rate` needs `slow`, which says what a slow call is. (`slow` alone is
/// fine: slow calls are counted in the metrics, and open nothing.)
fn window_needs_a_rate(args: &BreakerArgs, errors: &mut Errors) {
    if args.failure_rate.is_none() && args.slow_rate.is_none() {
        for arg in [&args.window, &args.min_calls].into_iter().flatten() {
            let key = arg.key.name;
            let hint = if args.failures.is_some() {
                "; `failures` counts failures in a row and has no window: for a share of \
                 failures over a window, write `failure_rate = 0.5` instead of `failures`"
            } else if args.slow.is_some() {
                "; `slow` alone only counts slow calls in the metrics: add `slow_rate = 0.8` \
                 to open the breaker when that share of the window is slow"
            } else {
                ": add `failure_rate = 0.5` (or `slow = \"2s\", slow_rate = 0.8`)"
            };
            errors.error(
                arg.key.span,
                format!(
                    "`{key}` does nothing without `failure_rate` or `slow_rate`: it shapes the \
                     sliding window their rates are computed over{hint}"
                ),
            );
        }
    }
    if let (Some(arg), None) = (&args.slow_rate, &args.slow) {
        errors.error(
            arg.key.span,
            "`slow_rate` needs `slow`, the duration above which a call counts as slow: \
             `slow = \"2s\", slow_rate = 0.8`",
        );
    }
}

/// The runtime's default `reset`: 60s.
const DEFAULT_RESET_NANOS: u64 = 60_000_000_000;

/// `reset_max` is the ceiling the open time grows to from `reset`.
fn reset_max_above_reset(reset_max: &Dur, reset: Option<&Dur>, errors: &mut Errors) {
    let (reset, which) = match reset {
        Some(Dur::Nanos(nanos, _)) => (*nanos, "`reset`"),
        None => (DEFAULT_RESET_NANOS, "`reset` (60s by default)"),
        Some(Dur::Expr(_)) => return,
    };
    if let Dur::Nanos(max, span) = reset_max {
        if *max < reset {
            errors.error(
                *span,
                format!(
                    "`reset_max` must be at least {which}: the open time starts at `reset` and \
                     doubles on each reopen up to `reset_max`"
                ),
            );
        }
    }
}

/// `failure_rate`, `slow_rate`: a number literal in (0, 1], emitted as `R_f64`.
fn rate(arg: &Arg, meaning: &str, errors: &mut Errors) -> Option<LitFloat> {
    let name = arg.key.name;
    let range = format!("`{name}` must be greater than 0 and at most 1");
    let (value, span) = match &arg.value {
        Expr::Lit(ExprLit {
            lit: Lit::Float(float),
            ..
        }) if matches!(float.suffix(), "" | "f64" | "f32") => {
            (float.base10_parse::<f64>().ok(), float.span())
        }
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) if matches!(int.suffix(), "" | "f64" | "f32") => {
            (int.base10_parse::<f64>().ok(), int.span())
        }
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(minus),
            ..
        }) => {
            errors.error(minus.span, format!("{range}: {meaning}"));
            return None;
        }
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) => {
            let written = text.value();
            let trimmed = written.trim();
            let hint = match trimmed.strip_suffix('%').map(|p| p.trim().parse::<f64>()) {
                Some(Ok(percent)) if percent > 0.0 && percent <= 100.0 => {
                    format!("`{name} = {:?}`", percent / 100.0)
                }
                _ => match trimmed.parse::<f64>() {
                    Ok(number) => format!("`{name} = {number:?}`"),
                    Err(_) => format!("`{}`", example(name)),
                },
            };
            errors.error(
                text.span(),
                format!("`{name}` is a number between 0 and 1, not a string: write {hint}"),
            );
            return None;
        }
        other => {
            errors.error(
                other.span(),
                format!(
                    "`{name}` must be a number greater than 0 and at most 1, like `{}`",
                    example(name)
                ),
            );
            return None;
        }
    };
    match value {
        Some(value) if value > 0.0 && value <= 1.0 => {
            Some(LitFloat::new(&format!("{value:?}f64"), span))
        }
        // `failure_rate = 50`: a percentage.
        Some(value) if (2.0..=100.0).contains(&value) => {
            errors.error(
                span,
                format!(
                    "{range}: {meaning}; for {value}% write `{name} = {:?}`",
                    value / 100.0
                ),
            );
            None
        }
        _ => {
            errors.error(span, format!("{range}: {meaning}"));
            None
        }
    }
}

/// `window`: a number of calls, a duration string, or an expression of either type.
fn window(arg: &Arg, errors: &mut Errors) -> Option<WindowArg> {
    const WHY: &str = "it is the number of recent calls the rates are computed over";
    match &arg.value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) if !int.suffix().is_empty()
            && duration::parse(&format!("{}{}", int.base10_digits(), int.suffix())).is_ok() =>
        {
            errors.error(
                int.span(),
                format!(
                    "write a time window as a string: `window = \"{}{}\"`",
                    int.base10_digits(),
                    int.suffix()
                ),
            );
            None
        }
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) if int.base10_digits() == "0" => {
            errors.error(
                int.span(),
                format!(
                    "`window` must be at least 1: {WHY}; for a time window write a duration, \
                     like `window = \"60s\"`"
                ),
            );
            None
        }
        Expr::Lit(ExprLit {
            lit: Lit::Int(_) | Lit::Float(_),
            ..
        })
        | Expr::Unary(_) => count(arg, WHY, errors).map(WindowArg::Calls),
        Expr::Lit(ExprLit {
            lit: Lit::Str(_), ..
        }) => match duration(arg, errors)? {
            Dur::Nanos(0, span) => {
                errors.error(
                    span,
                    "a time window must be longer than 0s: it is how far back the rates look",
                );
                None
            }
            time => Some(WindowArg::Time(time)),
        },
        Expr::Lit(ExprLit { lit, .. }) => {
            errors.error(
                lit.span(),
                "`window` is a number of calls, like `window = 100`, or a duration, like \
                 `window = \"60s\"`",
            );
            None
        }
        other => Some(WindowArg::Expr(other.clone())),
    }
}

/// What was written instead of a string, as the string it probably meant: the last path
/// segment, lowercased (`Jitter::Full` -> `full`), for the "write it as a string" hints.
fn bare_name(value: &Expr) -> String {
    let written = quote::ToTokens::to_token_stream(value).to_string();
    written
        .rsplit("::")
        .next()
        .unwrap_or("")
        .trim()
        .to_lowercase()
}

fn mode(arg: &Arg, errors: &mut Errors) -> Option<syn::Ident> {
    const NAMES: [(&str, &str); 2] = [("enforce", "Enforce"), ("observe", "Observe")];
    const EXPECTED: &str = "expected \"enforce\" (the default: an open breaker rejects calls) \
                            or \"observe\" (records and transitions, never rejects)";
    let Expr::Lit(ExprLit {
        lit: Lit::Str(text),
        ..
    }) = &arg.value
    else {
        let lower = bare_name(&arg.value);
        let shown = if NAMES.iter().any(|(name, _)| *name == lower) {
            lower.as_str()
        } else {
            "observe"
        };
        errors.error(
            arg.value.span(),
            format!(
                "write the mode as a string: `mode = \"{shown}\"`; to switch it at run time, \
                 use the registry: `failfast::registry().get(name)` and `set_mode`"
            ),
        );
        return None;
    };
    let value = text.value();
    match NAMES.iter().find(|(name, _)| *name == value) {
        Some((_, variant)) => Some(syn::Ident::new(variant, text.span())),
        None => {
            let lower = value.trim().to_lowercase();
            let suggestion = if let Some((name, _)) = NAMES.iter().find(|(name, _)| *name == lower)
            {
                format!("; did you mean \"{name}\"?")
            } else if matches!(
                lower.as_str(),
                "metrics_only" | "metrics-only" | "dry_run" | "dry-run" | "shadow" | "monitor"
            ) {
                "; did you mean \"observe\"?".to_owned()
            } else {
                String::new()
            };
            errors.error(
                text.span(),
                format!("unknown mode \"{value}\"{suggestion}\n{EXPECTED}"),
            );
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FallbackOn {
    Open,
    Failure,
}

/// `fallback_on = "open"` (the default) or `"failure"`; it needs a `fallback`.
fn fallback_on(arg: &Arg, has_fallback: bool, errors: &mut Errors) -> Option<FallbackOn> {
    const NAMES: [(&str, FallbackOn); 2] =
        [("open", FallbackOn::Open), ("failure", FallbackOn::Failure)];
    const EXPECTED: &str = "expected \"open\" (the default: the fallback answers when the \
                            breaker rejects a call) or \"failure\" (also when a call fails)";
    if !has_fallback {
        errors.error(
            arg.key.span,
            "`fallback_on` says when the fallback answers, but there is no fallback: add \
             `fallback = my_fallback`, a fn with the same parameters and return type",
        );
    }
    let Expr::Lit(ExprLit {
        lit: Lit::Str(text),
        ..
    }) = &arg.value
    else {
        let lower = bare_name(&arg.value);
        let shown = if NAMES.iter().any(|(name, _)| *name == lower) {
            lower.as_str()
        } else {
            "failure"
        };
        errors.error(
            arg.value.span(),
            format!("write it as a string: `fallback_on = \"{shown}\"`\n{EXPECTED}"),
        );
        return None;
    };
    let value = text.value();
    if let Some((_, on)) = NAMES.iter().find(|(name, _)| *name == value) {
        return has_fallback.then_some(*on);
    }
    let lower = value.trim().to_lowercase();
    let near = match lower.as_str() {
        "failures" | "failed" | "fail" | "error" | "errors" | "err" | "always" => Some("failure"),
        "opened" | "rejected" | "reject" | "rejection" | "open_only" => Some("open"),
        _ => NAMES
            .iter()
            .map(|(name, _)| *name)
            .find(|name| crate::args::edit_distance(&lower, name) <= 2),
    };
    let suggestion = near
        .map(|name| format!("; did you mean \"{name}\"?"))
        .unwrap_or_default();
    errors.error(
        text.span(),
        format!("unknown `fallback_on` value \"{value}\"{suggestion}\n{EXPECTED}"),
    );
    None
}

fn retry(args: RetryArgs, errors: &mut Errors) -> Retry {
    Retry {
        attempts: args.attempts.and_then(|arg| {
            count(
                &arg,
                "it counts every call, the first one included, so `attempts = 1` means no retry",
                errors,
            )
        }),
        delay: args.delay.and_then(|arg| duration(&arg, errors)),
        factor: args.factor.and_then(|arg| factor(&arg, errors)),
        max_delay: args.max_delay.and_then(|arg| duration(&arg, errors)),
        jitter: args.jitter.and_then(|arg| jitter(&arg, errors)),
        deadline: args.deadline.and_then(|arg| duration(&arg, errors)),
        retry_if: args.retry_if.and_then(|arg| predicate(arg, errors)),
        retry_if_ok: args.retry_if_ok.and_then(|arg| predicate(arg, errors)),
        retry_after: args.retry_after.and_then(|arg| match &arg.value {
            Expr::Verbatim(tokens) if tokens.is_empty() => Some(RetryAfterArg::Trait(arg.key.span)),
            _ => predicate(arg, errors).map(RetryAfterArg::Fn),
        }),
        budget: args.budget.and_then(|arg| budget(&arg, errors)),
        on_retry: args.on_retry.and_then(|arg| predicate(arg, errors)),
    }
}

fn budget(arg: &Arg, errors: &mut Errors) -> Option<BudgetArg> {
    let Expr::Lit(ExprLit {
        lit: Lit::Str(text),
        ..
    }) = &arg.value
    else {
        let written = quote::ToTokens::to_token_stream(&arg.value).to_string();
        let hint = if written == "None" || written == "none" {
            "write `budget = \"none\"`".to_owned()
        } else {
            "write the budget's name as a string, like `budget = \"payments\"` (fns naming the \
             same budget share it), or `budget = \"none\"`"
                .to_owned()
        };
        errors.error(arg.value.span(), format!("`budget` takes a string: {hint}"));
        return None;
    };
    let name = text.value();
    if name.trim().is_empty() {
        errors.error(
            text.span(),
            "the budget's name cannot be empty; `budget = \"none\"` retries without a budget",
        );
        return None;
    }
    if name == "none" {
        Some(BudgetArg::None)
    } else {
        Some(BudgetArg::Named(text.clone()))
    }
}

/// A whole number of at least 1 (`failures`, `probes`, `attempts`), emitted as `N_u32`.
fn count(arg: &Arg, why_not_zero: &str, errors: &mut Errors) -> Option<LitInt> {
    let name = arg.key.name;
    let int = match &arg.value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => int,
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(minus),
            ..
        }) => {
            errors.error(minus.span, format!("`{name}` cannot be negative"));
            return None;
        }
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) if text.value().trim().parse::<u64>().is_ok() => {
            errors.error(
                text.span(),
                format!(
                    "`{name}` is a number, not a string: write `{name} = {}`",
                    text.value().trim()
                ),
            );
            return None;
        }
        other => {
            errors.error(
                other.span(),
                format!("`{name}` must be a whole number, like `{}`", example(name)),
            );
            return None;
        }
    };
    if !matches!(int.suffix(), "" | "u8" | "u16" | "u32" | "u64" | "usize") {
        errors.error(
            int.span(),
            format!(
                "`{name}` is a plain number without a unit: `{name} = {}`",
                int.base10_digits()
            ),
        );
        return None;
    }
    match int.base10_parse::<u32>() {
        Ok(0) => {
            errors.error(
                int.span(),
                format!("`{name}` must be at least 1: {why_not_zero}"),
            );
            None
        }
        Ok(n) => Some(LitInt::new(&format!("{n}u32"), int.span())),
        Err(_) => {
            errors.error(
                int.span(),
                format!("`{name}` is too large: the largest value is {}", u32::MAX),
            );
            None
        }
    }
}

/// `factor`: a float or int literal, at least 1.0.
fn factor(arg: &Arg, errors: &mut Errors) -> Option<syn::LitFloat> {
    let (value, span) = match &arg.value {
        Expr::Lit(ExprLit {
            lit: Lit::Float(float),
            ..
        }) if matches!(float.suffix(), "" | "f64" | "f32") => {
            (float.base10_parse::<f64>().ok(), float.span())
        }
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) if int.suffix().is_empty() => (int.base10_parse::<f64>().ok(), int.span()),
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(minus),
            ..
        }) => (Some(-1.0), minus.span),
        other => {
            errors.error(
                other.span(),
                "`factor` must be a number, like `factor = 2.0` (2.0 doubles the wait after each retry)",
            );
            return None;
        }
    };
    match value {
        Some(value) if value.is_finite() && value >= 1.0 => {
            Some(syn::LitFloat::new(&format!("{value:?}f64"), span))
        }
        Some(value) if value.is_finite() => {
            errors.error(
                span,
                "`factor` must be at least 1.0: it multiplies the wait after each retry \
                 (1.0 keeps the wait fixed, 2.0 doubles it)",
            );
            None
        }
        _ => {
            errors.error(span, "`factor` is too large");
            None
        }
    }
}

fn jitter(arg: &Arg, errors: &mut Errors) -> Option<syn::Ident> {
    const NAMES: [(&str, &str); 4] = [
        ("full", "Full"),
        ("equal", "Equal"),
        ("decorrelated", "Decorrelated"),
        ("none", "None"),
    ];
    const EXPECTED: &str = "expected one of: \"full\", \"equal\", \"decorrelated\", \"none\"";
    let Expr::Lit(ExprLit {
        lit: Lit::Str(text),
        ..
    }) = &arg.value
    else {
        let lower = bare_name(&arg.value);
        let hint = if NAMES.iter().any(|(name, _)| *name == lower) {
            format!("write the jitter as a string: `jitter = \"{lower}\"`")
        } else {
            format!("write the jitter as a string: `jitter = \"full\"`\n{EXPECTED}")
        };
        errors.error(arg.value.span(), hint);
        return None;
    };
    let value = text.value();
    match NAMES.iter().find(|(name, _)| *name == value) {
        Some((_, variant)) => Some(syn::Ident::new(variant, text.span())),
        None => {
            let lower = value.to_lowercase();
            let start: String = lower.chars().take(3).collect();
            let near = NAMES
                .iter()
                .map(|(name, _)| *name)
                .find(|name| name.starts_with(&start));
            let suggestion = match near {
                Some(name) if !lower.is_empty() => format!("; did you mean \"{name}\"?"),
                _ => String::new(),
            };
            errors.error(
                text.span(),
                format!("unknown jitter \"{value}\"{suggestion}\n{EXPECTED}"),
            );
            None
        }
    }
}

/// A duration: a checked string, or an expression of type `Duration`.
fn duration(arg: &Arg, errors: &mut Errors) -> Option<Dur> {
    let name = arg.key.name;
    match &arg.value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) => match duration::parse(&text.value()) {
            Ok(nanos) => Some(Dur::Nanos(nanos, text.span())),
            Err(problem) => {
                errors.error(
                    text.span(),
                    format!(
                        "invalid duration \"{}\": {problem}\n{}",
                        text.value(),
                        duration::HELP
                    ),
                );
                None
            }
        },
        Expr::Lit(ExprLit { lit, .. }) if matches!(lit, Lit::Int(_) | Lit::Float(_)) => {
            let (digits, suffix) = match lit {
                Lit::Int(int) => (int.base10_digits().to_owned(), int.suffix().to_owned()),
                Lit::Float(float) => (float.base10_digits().to_owned(), float.suffix().to_owned()),
                _ => (String::new(), String::new()),
            };
            let message =
                if !suffix.is_empty() && duration::parse(&format!("{digits}{suffix}")).is_ok() {
                    format!("write the duration as a string: `{name} = \"{digits}{suffix}\"`")
                } else {
                    format!(
                        "a bare number is not a duration: write a unit in a string, \
                     like `{name} = \"{digits}ms\"` or `{name} = \"{digits}s\"`"
                    )
                };
            errors.error(lit.span(), message);
            None
        }
        Expr::Lit(ExprLit { lit, .. }) => {
            errors.error(
                lit.span(),
                format!(
                    "`{name}` must be a duration, like `{}`, or an expression of type std::time::Duration",
                    example(name)
                ),
            );
            None
        }
        other => Some(Dur::Expr(other.clone())),
    }
}

/// `is_failure`, `retry_if`, `on_retry`: a path to a fn, or a closure.
fn predicate(arg: Arg, errors: &mut Errors) -> Option<Predicate> {
    match arg.value {
        Expr::Path(syn::ExprPath {
            qself: None, path, ..
        }) => Some(Predicate::Path(path)),
        closure @ Expr::Closure(_) => Some(Predicate::Closure(closure)),
        other => {
            errors.error(
                other.span(),
                format!(
                    "`{}` takes the name of a fn (or a closure), like `{}`",
                    arg.key.name,
                    example(arg.key.name)
                ),
            );
            None
        }
    }
}

fn path(arg: &Arg, errors: &mut Errors) -> Option<Path> {
    match &arg.value {
        Expr::Path(syn::ExprPath {
            qself: None, path, ..
        }) => Some(path.clone()),
        other => {
            errors.error(
                other.span(),
                format!(
                    "`{}` takes the name of a fn, like `{}`",
                    arg.key.name,
                    example(arg.key.name)
                ),
            );
            None
        }
    }
}

/// `crate = ::path` or `crate = "path"`; `::failfast` when absent.
fn krate(arg: Option<Arg>, errors: &mut Errors) -> Path {
    let default = || syn::parse_quote!(::failfast);
    let Some(arg) = arg else {
        return default();
    };
    match &arg.value {
        Expr::Path(syn::ExprPath {
            qself: None, path, ..
        }) => path.clone(),
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) => match text.parse::<Path>() {
            Ok(path) => path,
            Err(_) => {
                errors.error(
                    text.span(),
                    "`crate` must be a path, like `crate = ::failfast`",
                );
                default()
            }
        },
        other => {
            errors.error(
                other.span(),
                "`crate` must be a path, like `crate = ::failfast`",
            );
            default()
        }
    }
}

/// Checks the fn against the whole stack.
pub(crate) fn item(layers: &[Layer], func: &ItemFn, errors: &mut Errors) {
    let Some(outermost) = layers.first() else {
        return;
    };
    let sig = FnSig::new(&func.sig);
    let attrs = stack_names(layers);
    let need = if layers.len() == 1 { "needs" } else { "need" };

    if let Some(constness) = &func.sig.constness {
        errors.error(
            constness.span,
            format!(
                "{attrs} cannot be used on a const fn: {} at run time",
                match outermost.attr {
                    Attr::Retry => "retrying waits and keeps state",
                    Attr::CircuitBreaker => "a breaker keeps state",
                    Attr::Timeout => "a timeout waits",
                }
            ),
        );
    }

    match sig.return_type() {
        None => errors.error(
            func.sig.ident.span(),
            format!(
                "{attrs} {need} a fn that returns Result<T, E>, but `{}` returns nothing; \
                 failfast learns that a call failed from its `Err` value",
                func.sig.ident
            ),
        ),
        Some(ty) if !signature::is_result(ty) => {
            let written = pretty(ty);
            let hint = if sig.is_async() || !written.contains("Future") {
                "failfast learns that a call failed from its `Err` value"
            } else if written.contains("Pin<Box") {
                "this fn returns a boxed future, as #[async_trait] writes it; failfast needs the \
                 `async fn` itself: write the attribute on a plain `async fn` (async fns in \
                 traits need no #[async_trait] since Rust 1.75)"
            } else {
                "write the fn as an `async fn` that returns Result<T, E>"
            };
            errors.error(
                ty.span(),
                format!("{attrs} {need} a fn that returns Result<T, E>, not `{written}`: {hint}"),
            );
        }
        Some(_) => {}
    }

    for layer in layers {
        match &layer.kind {
            LayerKind::Timeout(_) if !sig.is_async() => errors.error(
                layer.span,
                "#[timeout] needs an async fn: a running thread cannot be stopped from outside, \
                 so a sync fn cannot be timed out; make the fn async, or put the timeout on the \
                 I/O itself (a socket read timeout, the HTTP client's timeout)",
            ),
            LayerKind::Retry(_) => {
                if let Some(receiver) = sig.receiver().filter(|r| signature::receiver_by_value(r)) {
                    errors.error(
                        receiver.self_token.span,
                        "a #[retry] method cannot take `self` by value: every attempt needs its \
                         own `self`, and the first attempt would use it up; take `&self` or \
                         `&mut self`",
                    );
                }
            }
            LayerKind::Breaker(breaker) if breaker.fallback.is_some() => {
                if let Some(receiver) = sig
                    .receiver()
                    .filter(|r| breaker.fallback_on_failure && signature::receiver_by_value(r))
                {
                    errors.error(
                        receiver.self_token.span,
                        "with `fallback_on = \"failure\"` a method cannot take `self` by value: \
                         the call uses `self` up, and the fallback needs it after a failure; \
                         take `&self` or `&mut self`",
                    );
                }
                for param in sig.params() {
                    if signature::plain_name(&param.pat).is_none() {
                        errors.error(
                            param.pat.span(),
                            "a fn with a `fallback` needs a plain name for each parameter, \
                             because the fallback is called with the same arguments; name this \
                             parameter and destructure it in the body",
                        );
                    }
                }
            }
            _ => {}
        }
    }

    let mut seen_unnamed = false;
    let mut seen_names: Vec<String> = Vec::new();
    for layer in layers {
        if let LayerKind::Breaker(breaker) = &layer.kind {
            let name = match &breaker.name {
                Some(Expr::Lit(ExprLit {
                    lit: Lit::Str(name),
                    ..
                })) => Some(name.value()),
                Some(_) => continue,
                None => None,
            };
            let repeated = match &name {
                None => std::mem::replace(&mut seen_unnamed, true),
                Some(name) if seen_names.contains(name) => true,
                Some(name) => {
                    seen_names.push(name.clone());
                    false
                }
            };
            if repeated {
                errors.error(
                    layer.span,
                    "two #[circuit_breaker]s on one fn would share one breaker; give each its \
                     own name: #[circuit_breaker(\"name\")]",
                );
            }
        }
    }
}

/// A type as a person would write it: `Pin<Box<dyn Future<Output = u8>>>`, not the
/// token stream's `Pin < Box < dyn Future < Output = u8 > > >`.
fn pretty(ty: &syn::Type) -> String {
    let spaced = quote::ToTokens::to_token_stream(ty).to_string();
    let mut out = String::with_capacity(spaced.len());
    let mut chars = spaced.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ' ' {
            let previous = out.chars().last();
            let next = chars.peek().copied();
            let glue_after = matches!(previous, Some('<' | '&' | ':' | '(' | '['));
            let glue_before = matches!(next, Some('<' | '>' | ',' | ';' | ':' | ')' | ']'));
            if glue_after || glue_before {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// "#[retry]", "#[retry] and #[circuit_breaker]", ... for messages about the whole stack.
fn stack_names(layers: &[Layer]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for layer in layers {
        if !names.contains(&layer.attr.name()) {
            names.push(layer.attr.name());
        }
    }
    let names: Vec<String> = names.iter().map(|name| format!("#[{name}]")).collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    /// The literal of a string argument, for tests.
    fn lit_str(arg: &Arg) -> Option<&syn::LitStr> {
        match &arg.value {
            Expr::Lit(ExprLit {
                lit: Lit::Str(text),
                ..
            }) => Some(text),
            _ => None,
        }
    }

    fn check(attr: Attr, args: proc_macro2::TokenStream) -> (Option<Layer>, Vec<String>) {
        let mut errors = Errors::default();
        let layer = layer(
            RawLayer {
                attr,
                span: Span::call_site(),
                args,
            },
            &mut errors,
        );
        let messages = match errors.into_result() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (layer, messages)
    }

    #[test]
    fn good_arguments() {
        let (layer, errors) = check(
            Attr::Retry,
            quote!(
                attempts = 4,
                delay = "50ms",
                factor = 3,
                jitter = "equal",
                deadline = LIMIT
            ),
        );
        assert!(errors.is_empty(), "{errors:?}");
        let Some(Layer {
            kind: LayerKind::Retry(retry),
            ..
        }) = layer
        else {
            panic!("not a retry layer");
        };
        assert_eq!(retry.attempts.unwrap().to_string(), "4u32");
        assert!(matches!(retry.delay, Some(Dur::Nanos(50_000_000, _))));
        assert_eq!(retry.factor.unwrap().to_string(), "3.0f64");
        assert_eq!(retry.jitter.unwrap().to_string(), "Equal");
        assert!(matches!(retry.deadline, Some(Dur::Expr(_))));
    }

    #[test]
    fn range_errors() {
        let (_, errors) = check(Attr::CircuitBreaker, quote!(failures = 0, probes = 0));
        assert!(errors[0].starts_with("`failures` must be at least 1"));
        assert!(errors[1].starts_with("`probes` must be at least 1"));
        let (_, errors) = check(Attr::Retry, quote!(attempts = 0, factor = 0.5));
        assert!(errors[0].starts_with("`attempts` must be at least 1"));
        assert!(errors[1].starts_with("`factor` must be at least 1.0"));
        let (_, errors) = check(Attr::Retry, quote!(attempts = 99999999999, factor = -2.0));
        assert!(errors[0].contains("too large"));
        assert!(errors[1].starts_with("`factor` must be at least 1.0"));
    }

    fn breaker_of(layer: Option<Layer>) -> Breaker {
        match layer {
            Some(Layer {
                kind: LayerKind::Breaker(breaker),
                ..
            }) => breaker,
            _ => panic!("not a breaker layer"),
        }
    }

    fn retry_of(layer: Option<Layer>) -> Retry {
        match layer {
            Some(Layer {
                kind: LayerKind::Retry(retry),
                ..
            }) => retry,
            _ => panic!("not a retry layer"),
        }
    }

    #[test]
    fn policy_arguments() {
        let (layer, errors) = check(
            Attr::CircuitBreaker,
            quote!(
                failure_rate = 0.5,
                window = 20,
                min_calls = 20,
                slow = "2s",
                slow_rate = 1,
                reset = "1s",
                reset_max = "1m",
                mode = "observe"
            ),
        );
        assert!(errors.is_empty(), "{errors:?}");
        let b = breaker_of(layer);
        assert_eq!(b.failure_rate.unwrap().to_string(), "0.5f64");
        assert!(matches!(b.window, Some(WindowArg::Calls(ref n)) if n.to_string() == "20u32"));
        assert_eq!(b.min_calls.unwrap().to_string(), "20u32");
        assert!(matches!(b.slow, Some(Dur::Nanos(2_000_000_000, _))));
        assert_eq!(b.slow_rate.unwrap().to_string(), "1.0f64");
        assert!(matches!(b.reset_max, Some(Dur::Nanos(60_000_000_000, _))));
        assert_eq!(b.mode.unwrap().to_string(), "Observe");

        let (layer, errors) = check(
            Attr::CircuitBreaker,
            quote!(failure_rate = 1.0, window = "60s"),
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert!(matches!(
            breaker_of(layer).window,
            Some(WindowArg::Time(Dur::Nanos(60_000_000_000, _)))
        ));
        let (layer, errors) = check(
            Attr::CircuitBreaker,
            quote!(slow = SLOW, slow_rate = 0.5, window = WINDOW),
        );
        assert!(errors.is_empty(), "{errors:?}");
        let b = breaker_of(layer);
        assert!(matches!(b.window, Some(WindowArg::Expr(_))));
        assert!(matches!(b.slow, Some(Dur::Expr(_))));
    }

    #[test]
    fn rate_errors() {
        let (_, errors) = check(
            Attr::CircuitBreaker,
            quote!(failure_rate = 0, slow = "1s", slow_rate = 1.5),
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with(
            "`failure_rate` must be greater than 0 and at most 1: it is the share of failed calls"
        ));
        assert!(errors[1].starts_with("`slow_rate` must be greater than 0 and at most 1"));
        assert!(errors[1].ends_with("(0.8: four in five)"), "{}", errors[1]);
        let (_, errors) = check(Attr::CircuitBreaker, quote!(failure_rate = 50, window = 10));
        assert!(
            errors[0].ends_with("for 50% write `failure_rate = 0.5`"),
            "{}",
            errors[0]
        );
        let (_, errors) = check(Attr::CircuitBreaker, quote!(failure_rate = "50%"));
        assert_eq!(
            errors,
            [
                "`failure_rate` is a number between 0 and 1, not a string: write `failure_rate = 0.5`"
            ]
        );
        let (_, errors) = check(Attr::CircuitBreaker, quote!(failure_rate = -0.5));
        assert!(errors[0].starts_with("`failure_rate` must be greater than 0"));
        let (_, errors) = check(Attr::CircuitBreaker, quote!(failure_rate = RATE));
        assert_eq!(
            errors,
            [
                "`failure_rate` must be a number greater than 0 and at most 1, like `failure_rate = 0.5`"
            ]
        );
        let (_, errors) = check(Attr::CircuitBreaker, quote!(failure_rate = 1e999));
        assert!(errors[0].starts_with("`failure_rate` must be greater than 0"));
    }

    #[test]
    fn window_errors() {
        let (_, errors) = check(Attr::CircuitBreaker, quote!(failure_rate = 0.5, window = 0));
        assert!(
            errors[0].starts_with("`window` must be at least 1: it is the number of recent calls")
        );
        let (_, errors) = check(
            Attr::CircuitBreaker,
            quote!(failure_rate = 0.5, window = "0s"),
        );
        assert!(errors[0].starts_with("a time window must be longer than 0s"));
        let (_, errors) = check(
            Attr::CircuitBreaker,
            quote!(failure_rate = 0.5, window = 60s),
        );
        assert_eq!(
            errors,
            ["write a time window as a string: `window = \"60s\"`"]
        );
        // A count window smaller than `min_calls` makes the window size the minimum (the
        // runtime's rule, Resilience4j's): not an error.
        let (_, errors) = check(
            Attr::CircuitBreaker,
            quote!(failure_rate = 0.5, window = 10, min_calls = 11),
        );
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn arguments_that_need_another() {
        let (_, errors) = check(Attr::CircuitBreaker, quote!(window = 10, min_calls = 5));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with("`window` does nothing without `failure_rate` or `slow_rate`")
        );
        assert!(
            errors[1].starts_with("`min_calls` does nothing without `failure_rate` or `slow_rate`")
        );
        let (_, errors) = check(Attr::CircuitBreaker, quote!(failures = 3, window = "60s"));
        assert!(errors[0].contains("`failures` counts failures in a row and has no window"));
        let (_, errors) = check(Attr::CircuitBreaker, quote!(slow_rate = 0.5));
        assert!(errors[0].starts_with("`slow_rate` needs `slow`"));
        let (_, errors) = check(Attr::CircuitBreaker, quote!(slow = "1s", window = 10));
        assert!(errors[0].contains("`slow` alone only counts slow calls in the metrics"));
        let (_, errors) = check(
            Attr::CircuitBreaker,
            quote!(
                failures = 3,
                slow = "1s",
                slow_rate = 0.5,
                window = 10,
                min_calls = 5
            ),
        );
        assert!(errors.is_empty(), "{errors:?}");
        let (_, errors) = check(Attr::CircuitBreaker, quote!(slow = "1s"));
        assert!(errors.is_empty(), "{errors:?}");
        let (_, errors) = check(Attr::CircuitBreaker, quote!(slow = "0s"));
        assert!(errors[0].starts_with("`slow` must be longer than 0s"));
    }

    #[test]
    fn fallback_on_values() {
        let on_failure = |args| match check(Attr::CircuitBreaker, args) {
            (
                Some(Layer {
                    kind: LayerKind::Breaker(b),
                    ..
                }),
                errors,
            ) if errors.is_empty() => b.fallback_on_failure,
            (_, errors) => panic!("{errors:?}"),
        };
        assert!(on_failure(quote!(fallback = f, fallback_on = "failure")));
        assert!(!on_failure(quote!(fallback = f, fallback_on = "open")));
        assert!(!on_failure(quote!(fallback = f)));
        let (_, errors) = check(
            Attr::CircuitBreaker,
            quote!(fallback = f, fallback_on = "Failure"),
        );
        assert!(
            errors[0]
                .starts_with("unknown `fallback_on` value \"Failure\"; did you mean \"failure\"?")
        );
        let (_, errors) = check(Attr::CircuitBreaker, quote!(fallback_on = "open"));
        assert!(errors[0].contains("there is no fallback"));
    }

    #[test]
    fn reset_max_and_mode_errors() {
        let (_, errors) = check(
            Attr::CircuitBreaker,
            quote!(reset = "10s", reset_max = "5s"),
        );
        assert!(errors[0].starts_with("`reset_max` must be at least `reset`:"));
        let (_, errors) = check(Attr::CircuitBreaker, quote!(reset_max = "30s"));
        assert!(errors[0].starts_with("`reset_max` must be at least `reset` (60s by default)"));
        let (_, errors) = check(
            Attr::CircuitBreaker,
            quote!(reset = RESET, reset_max = "30s"),
        );
        assert!(errors.is_empty());
        let (_, errors) = check(Attr::CircuitBreaker, quote!(mode = "Observe"));
        assert!(errors[0].starts_with("unknown mode \"Observe\"; did you mean \"observe\"?"));
        let (_, errors) = check(Attr::CircuitBreaker, quote!(mode = "metrics_only"));
        assert!(errors[0].starts_with("unknown mode \"metrics_only\"; did you mean \"observe\"?"));
        let (_, errors) = check(Attr::CircuitBreaker, quote!(mode = Mode::Observe));
        assert!(errors[0].starts_with("write the mode as a string: `mode = \"observe\"`"));
    }

    #[test]
    fn retry_control_arguments() {
        let (layer, errors) = check(
            Attr::Retry,
            quote!(budget = "payments", retry_if_ok = is_503, retry_after),
        );
        assert!(errors.is_empty(), "{errors:?}");
        let r = retry_of(layer);
        assert!(matches!(r.budget, Some(BudgetArg::Named(ref name)) if name.value() == "payments"));
        assert!(matches!(r.retry_if_ok, Some(Predicate::Path(_))));
        assert!(matches!(r.retry_after, Some(RetryAfterArg::Trait(_))));
        let (layer, errors) = check(
            Attr::Retry,
            quote!(budget = "none", retry_after = |e: &E| e.wait()),
        );
        assert!(errors.is_empty(), "{errors:?}");
        let r = retry_of(layer);
        assert!(matches!(r.budget, Some(BudgetArg::None)));
        assert!(matches!(
            r.retry_after,
            Some(RetryAfterArg::Fn(Predicate::Closure(_)))
        ));
        let (_, errors) = check(Attr::Retry, quote!(budget = "", retry_if_ok = 5));
        assert!(errors[0].starts_with("`retry_if_ok` takes the name of a fn"));
        assert!(errors[1].starts_with("the budget's name cannot be empty"));
        let (_, errors) = check(Attr::Retry, quote!(budget = None));
        assert_eq!(
            errors,
            ["`budget` takes a string: write `budget = \"none\"`"]
        );
    }

    #[test]
    fn duration_errors() {
        let (_, errors) = check(
            Attr::Retry,
            quote!(delay = 100, max_delay = 5s, deadline = "5 parsecs"),
        );
        assert_eq!(
            errors[0],
            "a bare number is not a duration: write a unit in a string, like `delay = \"100ms\"` or `delay = \"100s\"`"
        );
        assert_eq!(
            errors[1],
            "write the duration as a string: `max_delay = \"5s\"`"
        );
        assert!(
            errors[2].starts_with(
                "invalid duration \"5 parsecs\": unknown unit `parsecs`\na duration is"
            )
        );
    }

    #[test]
    fn jitter_errors() {
        let (_, errors) = check(Attr::Retry, quote!(jitter = "ful"));
        assert_eq!(
            errors[0],
            "unknown jitter \"ful\"; did you mean \"full\"?\nexpected one of: \"full\", \"equal\", \"decorrelated\", \"none\""
        );
        let (_, errors) = check(Attr::Retry, quote!(jitter = Jitter::Full));
        assert_eq!(
            errors[0],
            "write the jitter as a string: `jitter = \"full\"`"
        );
    }

    #[test]
    fn timeout_needs_a_duration() {
        let (layer, errors) = check(Attr::Timeout, quote!());
        assert!(layer.is_none());
        assert!(errors[0].starts_with("#[timeout] needs a duration"));
        let (layer, errors) = check(Attr::Timeout, quote!("1m30s", crate = "my::ff"));
        assert!(errors.is_empty());
        let layer = layer.unwrap();
        assert_eq!(
            quote::ToTokens::to_token_stream(&layer.krate).to_string(),
            "my :: ff"
        );
    }

    #[test]
    fn names() {
        let (_, errors) = check(Attr::CircuitBreaker, quote!(""));
        assert_eq!(errors, ["the breaker's name cannot be empty"]);
        let mut errors = Errors::default();
        let args: BreakerArgs = syn::parse2(quote!("x")).unwrap();
        assert_eq!(lit_str(args.name.as_ref().unwrap()).unwrap().value(), "x");
        let _ = breaker(args, &mut errors);
        assert!(errors.is_empty());
    }

    fn item_errors(
        layers: &[proc_macro2::TokenStream],
        func: proc_macro2::TokenStream,
    ) -> Vec<String> {
        let mut errors = Errors::default();
        let layers: Vec<Layer> = layers
            .iter()
            .map(|tokens| {
                let attr: syn::Attribute = syn::parse_quote!(#[#tokens]);
                let name = attr.path().get_ident().unwrap().to_string();
                let attr = Attr::ALL.into_iter().find(|a| a.name() == name).unwrap();
                let args = match attr_args(tokens) {
                    Some(args) => args,
                    None => quote!(),
                };
                layer(
                    RawLayer {
                        attr,
                        span: Span::call_site(),
                        args,
                    },
                    &mut errors,
                )
                .unwrap()
            })
            .collect();
        let func: ItemFn = syn::parse2(func).unwrap();
        item(&layers, &func, &mut errors);
        match errors.into_result() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    fn attr_args(tokens: &proc_macro2::TokenStream) -> Option<proc_macro2::TokenStream> {
        let attr: syn::Attribute = syn::parse_quote!(#[#tokens]);
        match attr.meta {
            syn::Meta::List(list) => Some(list.tokens),
            _ => None,
        }
    }

    #[test]
    fn pretty_types() {
        let written = "::core::pin::Pin<Box<dyn Future<Output = Result<(u8, &'a str), E>> + Send + 'async_trait>>";
        let ty: syn::Type = syn::parse_str(written).unwrap();
        assert_eq!(pretty(&ty), written);
        let ty: syn::Type = syn::parse_str("Option < Vec < [u8 ; 4] > >").unwrap();
        assert_eq!(pretty(&ty), "Option<Vec<[u8; 4]>>");
    }

    #[test]
    fn item_checks() {
        let errors = item_errors(
            &[quote!(retry)],
            quote!(
                fn f() -> u8 {
                    1
                }
            ),
        );
        assert_eq!(
            errors,
            [
                "#[retry] needs a fn that returns Result<T, E>, not `u8`: failfast learns that a call failed from its `Err` value"
            ]
        );
        let errors = item_errors(
            &[quote!(retry), quote!(circuit_breaker)],
            quote!(
                fn f() {}
            ),
        );
        assert!(errors[0].starts_with("#[retry] and #[circuit_breaker] need a fn that returns Result<T, E>, but `f` returns nothing"));
        let errors = item_errors(
            &[quote!(timeout("1s"))],
            quote!(
                fn f() -> io::Result<()> {
                    Ok(())
                }
            ),
        );
        assert!(errors[0].starts_with("#[timeout] needs an async fn"));
        let errors = item_errors(
            &[quote!(retry)],
            quote!(
                fn f(self) -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(errors[0].starts_with("a #[retry] method cannot take `self` by value"));
        let errors = item_errors(
            &[quote!(circuit_breaker(fallback = fb))],
            quote!(
                fn f((a, b): (u8, u8)) -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(errors[0].starts_with("a fn with a `fallback` needs a plain name"));
        let errors = item_errors(
            &[quote!(circuit_breaker), quote!(circuit_breaker)],
            quote!(
                fn f() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(errors[0].starts_with("two #[circuit_breaker]s on one fn"));
        let errors = item_errors(
            &[
                quote!(retry),
                quote!(circuit_breaker("a")),
                quote!(timeout("1s")),
                quote!(circuit_breaker("b")),
            ],
            quote!(
                async fn f(&self, x: String) -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(errors.is_empty(), "{errors:?}");
    }
}
