//! Values of single arguments: names, counts, rates and factors (one reading of number
//! literals), durations, windows, budgets, the values picked from a few names (`mode`,
//! `jitter`, `fallback_on`: one table each, one typo heuristic for all), predicates and
//! paths. Each parser reads one `key = value` and records what is wrong with it; what the
//! arguments mean together is `validate.rs`'s business.

use crate::args::Arg;
use crate::ast::{BudgetArg, Dur, Predicate, WindowArg};
use crate::duration;
use crate::errors::Errors;
use crate::suggest::closest;
use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, Lit, LitFloat, LitInt, Path};

/// The breaker's name: a non-empty string literal, or a `&'static str` expression.
pub(crate) fn name(arg: Arg, errors: &mut Errors) -> Option<Expr> {
    match &arg.value {
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
    }
}

/// A whole number of at least 1 (`failures`, `probes`, `attempts`), emitted as `N_u32`.
pub(crate) fn count(arg: &Arg, why_not_zero: &str, errors: &mut Errors) -> Option<LitInt> {
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
                format!(
                    "`{name}` must be a whole number, like `{}`",
                    arg.key.example
                ),
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

/// A number literal, as `rate` and `factor` read it.
enum Number {
    /// `0.5`, `2`, `1.5f64`: its value, spanned on the literal.
    Lit(Option<f64>, Span),
    /// `-…`, spanned on the minus.
    Negative(Span),
}

/// The one reading of a number literal: a float or int literal, unsuffixed or suffixed
/// `f64`/`f32`, or a negation (of anything).
fn number(value: &Expr) -> Option<Number> {
    let float_suffix = |suffix: &str| matches!(suffix, "" | "f64" | "f32");
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Float(float),
            ..
        }) if float_suffix(float.suffix()) => {
            Some(Number::Lit(float.base10_parse().ok(), float.span()))
        }
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) if float_suffix(int.suffix()) => Some(Number::Lit(int.base10_parse().ok(), int.span())),
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(minus),
            ..
        }) => Some(Number::Negative(minus.span)),
        _ => None,
    }
}

/// `failure_rate`, `slow_rate`: a number literal in (0, 1], emitted as `R_f64`.
pub(crate) fn rate(arg: &Arg, meaning: &str, errors: &mut Errors) -> Option<LitFloat> {
    let name = arg.key.name;
    let range = format!("`{name}` must be greater than 0 and at most 1");
    let (value, span) = match number(&arg.value) {
        Some(Number::Lit(value, span)) => (value, span),
        Some(Number::Negative(minus)) => {
            errors.error(minus, format!("{range}: {meaning}"));
            return None;
        }
        None => {
            not_a_rate(arg, errors);
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

/// A rate written as something other than a number: a string (`"50%"`), a path.
fn not_a_rate(arg: &Arg, errors: &mut Errors) {
    let name = arg.key.name;
    let Expr::Lit(ExprLit {
        lit: Lit::Str(text),
        ..
    }) = &arg.value
    else {
        errors.error(
            arg.value.span(),
            format!(
                "`{name}` must be a number greater than 0 and at most 1, like `{}`",
                arg.key.example
            ),
        );
        return;
    };
    let written = text.value();
    let trimmed = written.trim();
    let hint = match trimmed.strip_suffix('%').map(|p| p.trim().parse::<f64>()) {
        Some(Ok(percent)) if percent > 0.0 && percent <= 100.0 => {
            format!("`{name} = {:?}`", percent / 100.0)
        }
        _ => match trimmed.parse::<f64>() {
            Ok(number) => format!("`{name} = {number:?}`"),
            Err(_) => format!("`{}`", arg.key.example),
        },
    };
    errors.error(
        text.span(),
        format!("`{name}` is a number between 0 and 1, not a string: write {hint}"),
    );
}

/// `factor`: a number literal, at least 1.0.
pub(crate) fn factor(arg: &Arg, errors: &mut Errors) -> Option<LitFloat> {
    let (value, span) = match number(&arg.value) {
        Some(Number::Lit(value, span)) => (value, span),
        Some(Number::Negative(minus)) => (Some(-1.0), minus),
        None => {
            errors.error(
                arg.value.span(),
                "`factor` must be a number, like `factor = 2.0` (2.0 doubles the wait after each retry)",
            );
            return None;
        }
    };
    match value {
        Some(value) if value.is_finite() && value >= 1.0 => {
            Some(LitFloat::new(&format!("{value:?}f64"), span))
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

/// A duration: a checked string, or an expression of type `Duration`.
pub(crate) fn duration(arg: &Arg, errors: &mut Errors) -> Option<Dur> {
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
                    arg.key.example
                ),
            );
            None
        }
        other => Some(Dur::Expr(other.clone())),
    }
}

/// A duration that must be longer than zero (`slow`, `probe_timeout`): as [`duration`],
/// and a string that reads zero is an error that says `why_not_zero`. (An expression
/// that is zero at run time is the runtime's to refuse.)
pub(crate) fn positive_duration(arg: &Arg, why_not_zero: &str, errors: &mut Errors) -> Option<Dur> {
    match duration(arg, errors)? {
        Dur::Nanos(0, span) => {
            let name = arg.key.name;
            errors.error(
                span,
                format!("`{name}` must be longer than 0s: {why_not_zero}"),
            );
            None
        }
        positive => Some(positive),
    }
}

/// `window`: a number of calls, a duration string, or an expression of either type.
pub(crate) fn window(arg: &Arg, errors: &mut Errors) -> Option<WindowArg> {
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

/// `budget = "name"`, or `budget = "none"`: no budget.
pub(crate) fn budget(arg: &Arg, errors: &mut Errors) -> Option<BudgetArg> {
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

/// A value picked from a few names and written as a string: `jitter = "full"`.
pub(crate) struct Choice<T: 'static> {
    /// What "unknown ..." calls the value: "jitter", "`fallback_on` value".
    what: &'static str,
    /// What "write ... as a string" calls it: "the jitter", "it".
    subject: &'static str,
    names: &'static [(&'static str, T)],
    /// Other words people write for one of the names (lowercase), and the name.
    aliases: &'static [(&'static str, &'static str)],
    /// The name "write it as a string" shows when what was written is none of them.
    default: &'static str,
    /// The line that lists the names.
    expected: &'static str,
    /// How "write it as a string" goes on.
    as_string: AsString,
}

/// What follows "write it as a string: `key = "name"`".
enum AsString {
    /// This text.
    Hint(&'static str),
    /// The line that lists the names.
    Expected,
    /// The line that lists the names, unless the value written is one of them unquoted.
    ExpectedUnlessKnown,
}

/// `mode = "observe"`: the breaker's `Mode` variant.
pub(crate) const MODE: Choice<&str> = Choice {
    what: "mode",
    subject: "the mode",
    names: &[("enforce", "Enforce"), ("observe", "Observe")],
    aliases: &[
        ("metrics_only", "observe"),
        ("metrics-only", "observe"),
        ("dry_run", "observe"),
        ("dry-run", "observe"),
        ("shadow", "observe"),
        ("monitor", "observe"),
    ],
    default: "observe",
    expected: "expected \"enforce\" (the default: an open breaker rejects calls) or \
               \"observe\" (records and transitions, never rejects)",
    as_string: AsString::Hint(
        "; to switch it at run time, use the registry: `failfast::registry().get(name)` and \
         `set_mode`",
    ),
};

/// `jitter = "full"`: the backoff's `Jitter` variant.
pub(crate) const JITTER: Choice<&str> = Choice {
    what: "jitter",
    subject: "the jitter",
    names: &[
        ("full", "Full"),
        ("equal", "Equal"),
        ("decorrelated", "Decorrelated"),
        ("none", "None"),
    ],
    aliases: &[],
    default: "full",
    expected: "expected one of: \"full\", \"equal\", \"decorrelated\", \"none\"",
    as_string: AsString::ExpectedUnlessKnown,
};

/// When the fallback answers: when the breaker rejects a call, or also when a call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FallbackOn {
    Open,
    Failure,
}

/// `fallback_on = "failure"`.
pub(crate) const FALLBACK_ON: Choice<FallbackOn> = Choice {
    what: "`fallback_on` value",
    subject: "it",
    names: &[("open", FallbackOn::Open), ("failure", FallbackOn::Failure)],
    aliases: &[
        ("failures", "failure"),
        ("failed", "failure"),
        ("fail", "failure"),
        ("error", "failure"),
        ("errors", "failure"),
        ("err", "failure"),
        ("always", "failure"),
        ("opened", "open"),
        ("rejected", "open"),
        ("reject", "open"),
        ("rejection", "open"),
        ("open_only", "open"),
    ],
    default: "failure",
    expected: "expected \"open\" (the default: the fallback answers when the breaker \
               rejects a call) or \"failure\" (also when a call fails)",
    as_string: AsString::Expected,
};

/// `mode = "observe"`, `jitter = "full"`: the variant named, spanned on the string.
pub(crate) fn variant(
    arg: &Arg,
    choice: &Choice<&'static str>,
    errors: &mut Errors,
) -> Option<Ident> {
    choose(arg, choice, errors).map(|(variant, span)| Ident::new(variant, span))
}

/// The value of `choice` the string of `arg` names, and the string's span; an error for
/// anything else.
pub(crate) fn choose<T: Copy>(
    arg: &Arg,
    choice: &Choice<T>,
    errors: &mut Errors,
) -> Option<(T, Span)> {
    let key = arg.key.name;
    let Expr::Lit(ExprLit {
        lit: Lit::Str(text),
        ..
    }) = &arg.value
    else {
        let written = bare_name(&arg.value);
        let known = choice.names.iter().any(|(name, _)| *name == written);
        let shown = if known { &written } else { choice.default };
        let after = match choice.as_string {
            AsString::Hint(hint) => hint.to_owned(),
            AsString::ExpectedUnlessKnown if known => String::new(),
            AsString::Expected | AsString::ExpectedUnlessKnown => {
                format!("\n{}", choice.expected)
            }
        };
        errors.error(
            arg.value.span(),
            format!(
                "write {} as a string: `{key} = \"{shown}\"`{after}",
                choice.subject
            ),
        );
        return None;
    };
    let value = text.value();
    if let Some((_, picked)) = choice.names.iter().find(|(name, _)| *name == value) {
        return Some((*picked, text.span()));
    }
    let suggestion = did_you_mean(&value, choice)
        .map(|name| format!("; did you mean \"{name}\"?"))
        .unwrap_or_default();
    errors.error(
        text.span(),
        format!(
            "unknown {} \"{value}\"{suggestion}\n{}",
            choice.what, choice.expected
        ),
    );
    None
}

/// The name of `choice` that `written` probably means, the one typo heuristic of every
/// value picked from names: the name in other case or with spaces around it, a word other
/// libraries use for it, a name at most two edits away, or one that starts with the first
/// three letters written.
fn did_you_mean<T>(written: &str, choice: &Choice<T>) -> Option<&'static str> {
    let lower = written.trim().to_lowercase();
    if lower.is_empty() {
        return None;
    }
    let names: Vec<&'static str> = choice.names.iter().map(|(name, _)| *name).collect();
    let start: String = lower.chars().take(3).collect();
    names
        .iter()
        .copied()
        .find(|name| *name == lower)
        .or_else(|| {
            let alias = choice.aliases.iter().find(|(alias, _)| *alias == lower);
            alias.map(|(_, name)| *name)
        })
        .or_else(|| closest(&lower, &names, |_| 2))
        .or_else(|| names.iter().copied().find(|name| name.starts_with(&start)))
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

/// `is_failure`, `retry_if`, `on_retry`: a path to a fn, or a closure.
pub(crate) fn predicate(arg: Arg, errors: &mut Errors) -> Option<Predicate> {
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
                    arg.key.name, arg.key.example
                ),
            );
            None
        }
    }
}

/// `fallback`: a path to a fn.
pub(crate) fn path(arg: &Arg, errors: &mut Errors) -> Option<Path> {
    match &arg.value {
        Expr::Path(syn::ExprPath {
            qself: None, path, ..
        }) => Some(path.clone()),
        other => {
            errors.error(
                other.span(),
                format!(
                    "`{}` takes the name of a fn, like `{}`",
                    arg.key.name, arg.key.example
                ),
            );
            None
        }
    }
}

/// `crate = ::path` or `crate = "path"`; `::failfast` when absent.
pub(crate) fn krate(arg: Option<Arg>, errors: &mut Errors) -> Path {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Attr, BreakerArgs};
    use crate::ast::{Layer, LayerKind, RetryAfterArg};
    use crate::validate::tests::{breaker_of, check, retry_of};
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
    fn mode_errors() {
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
    fn durations_longer_than_zero() {
        let (layer, errors) = check(
            Attr::CircuitBreaker,
            quote!(probes = 2, probe_timeout = "1m30s"),
        );
        assert!(errors.is_empty(), "{errors:?}");
        let b = breaker_of(layer);
        assert!(matches!(
            b.probe_timeout.as_deref(),
            Some(Dur::Nanos(90_000_000_000, _))
        ));
        let (layer, errors) = check(Attr::CircuitBreaker, quote!(probe_timeout = PATIENCE));
        assert!(errors.is_empty(), "{errors:?}");
        assert!(matches!(
            breaker_of(layer).probe_timeout.as_deref(),
            Some(Dur::Expr(_))
        ));

        let (_, errors) = check(
            Attr::CircuitBreaker,
            quote!(probe_timeout = "0ms", slow = "0s"),
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with("`slow` must be longer than 0s: every call would count as slow"),
            "{}",
            errors[0]
        );
        assert!(
            errors[1].starts_with("`probe_timeout` must be longer than 0s: it is how long a trial"),
            "{}",
            errors[1]
        );
        let (_, errors) = check(Attr::CircuitBreaker, quote!(probe_timeout = 30));
        assert_eq!(
            errors,
            [
                "a bare number is not a duration: write a unit in a string, like `probe_timeout = \"30ms\"` or `probe_timeout = \"30s\"`"
            ]
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
    fn names() {
        let (_, errors) = check(Attr::CircuitBreaker, quote!(""));
        assert_eq!(errors, ["the breaker's name cannot be empty"]);
        let mut errors = Errors::default();
        let args: BreakerArgs = syn::parse2(quote!("x")).unwrap();
        assert_eq!(lit_str(args.name.as_ref().unwrap()).unwrap().value(), "x");
        let _ = name(args.name.unwrap(), &mut errors);
        assert!(errors.is_empty());
    }

    #[test]
    fn one_typo_heuristic_for_every_choice() {
        let guess = |written, choice: &Choice<&str>| did_you_mean(written, choice);
        assert_eq!(guess("Observe", &MODE), Some("observe"));
        assert_eq!(guess("metrics-only", &MODE), Some("observe"));
        assert_eq!(guess("obsrve", &MODE), Some("observe"));
        assert_eq!(guess(" full ", &JITTER), Some("full"));
        assert_eq!(guess("fulll", &JITTER), Some("full"));
        assert_eq!(guess("decor", &JITTER), Some("decorrelated"));
        assert_eq!(guess("", &JITTER), None);
        assert_eq!(guess("banana", &JITTER), None);
        assert_eq!(did_you_mean("errors", &FALLBACK_ON), Some("failure"));
        assert_eq!(did_you_mean("opne", &FALLBACK_ON), Some("open"));
    }

    #[test]
    fn rates_and_factors_read_numbers_alike() {
        let (layer, errors) = check(Attr::Retry, quote!(factor = 2f64));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(retry_of(layer).factor.unwrap().to_string(), "2.0f64");
        let (layer, errors) = check(Attr::CircuitBreaker, quote!(failure_rate = 1f64));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            breaker_of(layer).failure_rate.unwrap().to_string(),
            "1.0f64"
        );
    }
}
