//! Parsing of the attribute arguments: `#[retry(attempts = 3, delay = "100ms")]`.
//!
//! This stage only reads the shape `key = value, ...` and remembers each value as an
//! expression with the span of its key; what the values mean is checked in
//! `validate.rs`. Mistakes that still leave the list readable (an unknown key, a key given
//! twice) are collected, so one compile reports all of them.

use crate::errors::Errors;
use proc_macro2::Span;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Expr, Ident, Lit, Token};

mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(failures);
    syn::custom_keyword!(reset);
    syn::custom_keyword!(probes);
    syn::custom_keyword!(is_failure);
    syn::custom_keyword!(fallback);
    syn::custom_keyword!(fallback_on);
    syn::custom_keyword!(store);
    syn::custom_keyword!(enabled);
    syn::custom_keyword!(attempts);
    syn::custom_keyword!(delay);
    syn::custom_keyword!(factor);
    syn::custom_keyword!(max_delay);
    syn::custom_keyword!(jitter);
    syn::custom_keyword!(deadline);
    syn::custom_keyword!(retry_if);
    syn::custom_keyword!(on_retry);
    syn::custom_keyword!(after);
    syn::custom_keyword!(failure_rate);
    syn::custom_keyword!(window);
    syn::custom_keyword!(min_calls);
    syn::custom_keyword!(slow);
    syn::custom_keyword!(slow_rate);
    syn::custom_keyword!(reset_max);
    syn::custom_keyword!(mode);
    syn::custom_keyword!(budget);
    syn::custom_keyword!(retry_if_ok);
    syn::custom_keyword!(retry_after);
}

/// The three attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attr {
    CircuitBreaker,
    Retry,
    Timeout,
}

impl Attr {
    pub(crate) const ALL: [Attr; 3] = [Attr::CircuitBreaker, Attr::Retry, Attr::Timeout];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Attr::CircuitBreaker => "circuit_breaker",
            Attr::Retry => "retry",
            Attr::Timeout => "timeout",
        }
    }

    /// The keys this version understands, in the order the docs list them.
    fn keys(self) -> &'static [&'static str] {
        match self {
            Attr::CircuitBreaker => &[
                "name",
                "failures",
                "failure_rate",
                "window",
                "min_calls",
                "slow",
                "slow_rate",
                "reset",
                "reset_max",
                "probes",
                "is_failure",
                "fallback",
                "fallback_on",
                "store",
                "enabled",
                "mode",
                "crate",
            ],
            Attr::Retry => &[
                "attempts",
                "delay",
                "factor",
                "max_delay",
                "jitter",
                "deadline",
                "retry_if",
                "retry_if_ok",
                "retry_after",
                "budget",
                "on_retry",
                "crate",
            ],
            Attr::Timeout => &["after", "crate"],
        }
    }

    /// Keys people bring from other libraries, and what to write instead.
    fn aliases(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Attr::CircuitBreaker => &[
                ("threshold", "failures"),
                ("failure_threshold", "failures"),
                ("max_failures", "failures"),
                ("fail_max", "failures"),
                ("recovery_timeout", "reset"),
                ("reset_timeout", "reset"),
                ("cooldown", "reset"),
                ("open_for", "reset"),
                ("half_open_calls", "probes"),
                ("half_open_max_calls", "probes"),
                ("trials", "probes"),
                ("exceptions", "is_failure"),
                ("expected_exception", "is_failure"),
                ("failure_if", "is_failure"),
                ("fallback_function", "fallback"),
                ("fallback_when", "fallback_on"),
                ("fallback_on_failure", "fallback_on"),
                ("fallback_on_error", "fallback_on"),
                ("backend", "store"),
                ("storage", "store"),
                ("state_store", "store"),
                ("enable", "enabled"),
                ("disabled", "enabled"),
                ("failure_rate_threshold", "failure_rate"),
                ("failure_ratio", "failure_rate"),
                ("error_rate", "failure_rate"),
                ("sliding_window", "window"),
                ("sliding_window_size", "window"),
                ("window_size", "window"),
                ("minimum_calls", "min_calls"),
                ("minimum_number_of_calls", "min_calls"),
                ("min_requests", "min_calls"),
                ("min_throughput", "min_calls"),
                ("slow_call_duration_threshold", "slow"),
                ("slow_threshold", "slow"),
                ("slow_call_rate_threshold", "slow_rate"),
                ("slow_ratio", "slow_rate"),
                ("max_reset", "reset_max"),
                ("max_open", "reset_max"),
                ("reset_timeout_max", "reset_max"),
                ("metrics_only", "mode"),
                ("dry_run", "mode"),
            ],
            Attr::Retry => &[
                ("max_attempts", "attempts"),
                ("retries", "attempts"),
                ("max_retries", "attempts"),
                ("tries", "attempts"),
                ("times", "attempts"),
                ("stop_max_attempt_number", "attempts"),
                ("wait", "delay"),
                ("initial_delay", "delay"),
                ("base_delay", "delay"),
                ("wait_fixed", "delay"),
                ("multiplier", "factor"),
                ("backoff", "factor"),
                ("max_wait", "max_delay"),
                ("cap", "max_delay"),
                ("stop_max_delay", "deadline"),
                ("max_elapsed", "deadline"),
                ("retry_on", "retry_if"),
                ("retry_on_exception", "retry_if"),
                ("when", "retry_if"),
                ("before_sleep", "on_retry"),
                ("on_error", "on_retry"),
                ("retry_budget", "budget"),
                ("retry_on_result", "retry_if_ok"),
                ("retry_if_result", "retry_if_ok"),
                ("retry_on_ok", "retry_if_ok"),
                ("honor_retry_after", "retry_after"),
                ("respect_retry_after", "retry_after"),
            ],
            Attr::Timeout => &[
                ("duration", "after"),
                ("limit", "after"),
                ("secs", "after"),
                ("ms", "after"),
            ],
        }
    }
}

/// A key as written, with the span errors about its value point at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key {
    pub(crate) name: &'static str,
    pub(crate) span: Span,
    /// Given without a key: the name of `#[circuit_breaker("name")]`, the duration of
    /// `#[timeout("3s")]`.
    pub(crate) positional: bool,
}

/// One `key = value` argument.
pub(crate) struct Arg {
    pub(crate) key: Key,
    pub(crate) value: Expr,
}

/// The arguments of `#[circuit_breaker(..)]`, as written.
#[derive(Default)]
pub(crate) struct BreakerArgs {
    pub(crate) name: Option<Arg>,
    pub(crate) failures: Option<Arg>,
    pub(crate) failure_rate: Option<Arg>,
    pub(crate) window: Option<Arg>,
    pub(crate) min_calls: Option<Arg>,
    pub(crate) slow: Option<Arg>,
    pub(crate) slow_rate: Option<Arg>,
    pub(crate) reset: Option<Arg>,
    pub(crate) reset_max: Option<Arg>,
    pub(crate) probes: Option<Arg>,
    pub(crate) is_failure: Option<Arg>,
    pub(crate) fallback: Option<Arg>,
    pub(crate) fallback_on: Option<Arg>,
    pub(crate) store: Option<Arg>,
    pub(crate) enabled: Option<Arg>,
    pub(crate) mode: Option<Arg>,
    pub(crate) krate: Option<Arg>,
    pub(crate) errors: Errors,
}

/// The arguments of `#[retry(..)]`, as written.
#[derive(Default)]
pub(crate) struct RetryArgs {
    pub(crate) attempts: Option<Arg>,
    pub(crate) delay: Option<Arg>,
    pub(crate) factor: Option<Arg>,
    pub(crate) max_delay: Option<Arg>,
    pub(crate) jitter: Option<Arg>,
    pub(crate) deadline: Option<Arg>,
    pub(crate) retry_if: Option<Arg>,
    pub(crate) retry_if_ok: Option<Arg>,
    /// `retry_after = path`, or `retry_after` alone (the error's `RetryAfter` impl), whose
    /// value is then an empty `Expr::Verbatim`.
    pub(crate) retry_after: Option<Arg>,
    pub(crate) budget: Option<Arg>,
    pub(crate) on_retry: Option<Arg>,
    pub(crate) krate: Option<Arg>,
    pub(crate) errors: Errors,
}

/// The arguments of `#[timeout(..)]`, as written.
#[derive(Default)]
pub(crate) struct TimeoutArgs {
    pub(crate) after: Option<Arg>,
    pub(crate) krate: Option<Arg>,
    pub(crate) errors: Errors,
}

impl Parse for BreakerArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attr = Attr::CircuitBreaker;
        let mut args = BreakerArgs::default();
        let errors = &mut args.errors;
        let mut first = true;
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            if first && input.peek(syn::LitStr) {
                let value: Expr = input.parse()?;
                let key = Key::positional("name", value.span());
                set_once(&mut args.name, Arg { key, value }, errors);
            } else if lookahead.peek(kw::name) {
                set_keyed::<kw::name>(input, "name", &mut args.name, errors)?;
            } else if lookahead.peek(kw::failures) {
                let key = key::<kw::failures>(input, "failures")?;
                one_policy(&args.failure_rate, key, errors);
                set_once(&mut args.failures, keyed(input, key)?, errors);
            } else if lookahead.peek(kw::failure_rate) {
                let key = key::<kw::failure_rate>(input, "failure_rate")?;
                one_policy(&args.failures, key, errors);
                set_once(&mut args.failure_rate, keyed(input, key)?, errors);
            } else if lookahead.peek(kw::window) {
                set_keyed::<kw::window>(input, "window", &mut args.window, errors)?;
            } else if lookahead.peek(kw::min_calls) {
                set_keyed::<kw::min_calls>(input, "min_calls", &mut args.min_calls, errors)?;
            } else if lookahead.peek(kw::slow) {
                set_keyed::<kw::slow>(input, "slow", &mut args.slow, errors)?;
            } else if lookahead.peek(kw::slow_rate) {
                set_keyed::<kw::slow_rate>(input, "slow_rate", &mut args.slow_rate, errors)?;
            } else if lookahead.peek(kw::reset) {
                set_keyed::<kw::reset>(input, "reset", &mut args.reset, errors)?;
            } else if lookahead.peek(kw::reset_max) {
                set_keyed::<kw::reset_max>(input, "reset_max", &mut args.reset_max, errors)?;
            } else if lookahead.peek(kw::mode) {
                set_keyed::<kw::mode>(input, "mode", &mut args.mode, errors)?;
            } else if lookahead.peek(kw::probes) {
                set_keyed::<kw::probes>(input, "probes", &mut args.probes, errors)?;
            } else if lookahead.peek(kw::is_failure) {
                set_keyed::<kw::is_failure>(input, "is_failure", &mut args.is_failure, errors)?;
            } else if lookahead.peek(kw::fallback_on) {
                set_keyed::<kw::fallback_on>(input, "fallback_on", &mut args.fallback_on, errors)?;
            } else if lookahead.peek(kw::fallback) {
                set_keyed::<kw::fallback>(input, "fallback", &mut args.fallback, errors)?;
            } else if lookahead.peek(kw::store) {
                set_keyed::<kw::store>(input, "store", &mut args.store, errors)?;
            } else if lookahead.peek(kw::enabled) {
                set_keyed::<kw::enabled>(input, "enabled", &mut args.enabled, errors)?;
            } else if lookahead.peek(Token![crate]) {
                set_keyed::<Token![crate]>(input, "crate", &mut args.krate, errors)?;
            } else if input.peek(Ident::peek_any) {
                other_key(input, attr, first, errors)?;
            } else if input.peek(Lit) {
                let value: Expr = input.parse()?;
                let message = if first {
                    "the first argument of #[circuit_breaker] is the breaker's name, a string: \
                     #[circuit_breaker(\"sales_api\", failures = 5)]"
                } else if matches!(
                    value,
                    Expr::Lit(syn::ExprLit {
                        lit: Lit::Str(_),
                        ..
                    })
                ) {
                    "the breaker's name comes first: #[circuit_breaker(\"sales_api\", failures = 5)], \
                     or write it as `name = \"sales_api\"`"
                } else {
                    "#[circuit_breaker] takes an optional name first, then `key = value` \
                     arguments: #[circuit_breaker(\"sales_api\", failures = 5)]"
                };
                errors.error(value.span(), message);
            } else {
                return Err(lookahead.error());
            }
            first = false;
            comma(input, attr)?;
        }
        Ok(args)
    }
}

impl Parse for RetryArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attr = Attr::Retry;
        let mut args = RetryArgs::default();
        let errors = &mut args.errors;
        let mut first = true;
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            if lookahead.peek(kw::attempts) {
                set_keyed::<kw::attempts>(input, "attempts", &mut args.attempts, errors)?;
            } else if lookahead.peek(kw::delay) {
                set_keyed::<kw::delay>(input, "delay", &mut args.delay, errors)?;
            } else if lookahead.peek(kw::factor) {
                set_keyed::<kw::factor>(input, "factor", &mut args.factor, errors)?;
            } else if lookahead.peek(kw::max_delay) {
                set_keyed::<kw::max_delay>(input, "max_delay", &mut args.max_delay, errors)?;
            } else if lookahead.peek(kw::jitter) {
                set_keyed::<kw::jitter>(input, "jitter", &mut args.jitter, errors)?;
            } else if lookahead.peek(kw::deadline) {
                set_keyed::<kw::deadline>(input, "deadline", &mut args.deadline, errors)?;
            } else if lookahead.peek(kw::retry_if) {
                set_keyed::<kw::retry_if>(input, "retry_if", &mut args.retry_if, errors)?;
            } else if lookahead.peek(kw::retry_if_ok) {
                set_keyed::<kw::retry_if_ok>(input, "retry_if_ok", &mut args.retry_if_ok, errors)?;
            } else if lookahead.peek(kw::retry_after) {
                let key = key::<kw::retry_after>(input, "retry_after")?;
                // `retry_after` alone: the error type's own `RetryAfter` impl.
                let arg = if input.peek(Token![=]) {
                    keyed(input, key)?
                } else {
                    Arg {
                        key,
                        value: Expr::Verbatim(proc_macro2::TokenStream::new()),
                    }
                };
                set_once(&mut args.retry_after, arg, errors);
            } else if lookahead.peek(kw::budget) {
                set_keyed::<kw::budget>(input, "budget", &mut args.budget, errors)?;
            } else if lookahead.peek(kw::on_retry) {
                set_keyed::<kw::on_retry>(input, "on_retry", &mut args.on_retry, errors)?;
            } else if lookahead.peek(Token![crate]) {
                set_keyed::<Token![crate]>(input, "crate", &mut args.krate, errors)?;
            } else if input.peek(Ident::peek_any) {
                other_key(input, attr, first, errors)?;
            } else if input.peek(Lit) {
                let value: Expr = input.parse()?;
                errors.error(
                    value.span(),
                    format!(
                        "#[retry] takes only `key = value` arguments{}",
                        match &value {
                            Expr::Lit(syn::ExprLit {
                                lit: Lit::Int(int), ..
                            }) => format!(": write `attempts = {}`", int.base10_digits()),
                            _ => ", like #[retry(attempts = 3, delay = \"100ms\")]".to_owned(),
                        }
                    ),
                );
            } else {
                return Err(lookahead.error());
            }
            first = false;
            comma(input, attr)?;
        }
        Ok(args)
    }
}

impl Parse for TimeoutArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attr = Attr::Timeout;
        let mut args = TimeoutArgs::default();
        let errors = &mut args.errors;
        let mut first = true;
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            if lookahead.peek(kw::after) {
                set_keyed::<kw::after>(input, "after", &mut args.after, errors)?;
            } else if lookahead.peek(Token![crate]) {
                set_keyed::<Token![crate]>(input, "crate", &mut args.krate, errors)?;
            } else if input.peek(Ident::peek_any) && input.peek2(Token![=]) {
                other_key(input, attr, first, errors)?;
            } else if first {
                // `#[timeout("3s")]`, `#[timeout(LIMIT)]`, `#[timeout(Duration::from_secs(3))]`
                let value: Expr = input.parse()?;
                let key = Key::positional("after", value.span());
                set_once(&mut args.after, Arg { key, value }, errors);
            } else if input.peek(Ident::peek_any) {
                other_key(input, attr, first, errors)?;
            } else if input.peek(Lit) {
                let value: Expr = input.parse()?;
                errors.error(
                    value.span(),
                    "the duration comes first: #[timeout(\"3s\")], or write `after = \"3s\"`",
                );
            } else {
                return Err(lookahead.error());
            }
            first = false;
            comma(input, attr)?;
        }
        Ok(args)
    }
}

impl Key {
    fn positional(name: &'static str, span: Span) -> Key {
        Key {
            name,
            span,
            positional: true,
        }
    }
}

/// Parses the keyword `K` and remembers it as the key `name`.
fn key<K: Parse + ToTokens>(input: ParseStream, name: &'static str) -> syn::Result<Key> {
    let keyword: K = input.parse()?;
    Ok(Key {
        name,
        span: keyword.span(),
        positional: false,
    })
}

/// Parses `key = value` for keyword `K` into `slot` (an error if it is already set).
fn set_keyed<K: Parse + ToTokens>(
    input: ParseStream,
    name: &'static str,
    slot: &mut Option<Arg>,
    errors: &mut Errors,
) -> syn::Result<()> {
    let key = key::<K>(input, name)?;
    set_once(slot, keyed(input, key)?, errors);
    Ok(())
}

/// Parses the `= value` after `key`.
fn keyed(input: ParseStream, key: Key) -> syn::Result<Arg> {
    if !input.peek(Token![=]) {
        return Err(syn::Error::new(
            key.span,
            format!("`{}` needs a value: `{}`", key.name, example(key.name)),
        ));
    }
    let eq: Token![=] = input.parse()?;
    if input.is_empty() || input.peek(Token![,]) {
        return Err(syn::Error::new(
            eq.span,
            format!(
                "`{}` needs a value after `=`: `{}`",
                key.name,
                example(key.name)
            ),
        ));
    }
    let value = input.parse()?;
    Ok(Arg { key, value })
}

/// The one place duplicates are detected: the second occurrence is the error.
fn set_once(slot: &mut Option<Arg>, arg: Arg, errors: &mut Errors) {
    match slot {
        Some(earlier) => {
            let message = if earlier.key.positional != arg.key.positional {
                format!(
                    "the {} is given twice, as the first argument and as `{} = ...`; keep one",
                    if arg.key.name == "name" {
                        "breaker's name"
                    } else {
                        "duration"
                    },
                    arg.key.name
                )
            } else {
                format!("`{}` is given twice; keep one", arg.key.name)
            };
            errors.error(arg.key.span, message);
        }
        None => *slot = Some(arg),
    }
}

/// `failures` and `failure_rate` are two ways to open the breaker: the second one written
/// is the error.
fn one_policy(other: &Option<Arg>, key: Key, errors: &mut Errors) {
    if other.is_some() {
        errors.error(
            key.span,
            "`failures` and `failure_rate` cannot be used together: `failures = N` opens the \
             breaker after N failures in a row, `failure_rate = R` when the share of failures \
             over a sliding `window` reaches R; keep one",
        );
    }
}

/// Between arguments: a comma, or the end.
fn comma(input: ParseStream, attr: Attr) -> syn::Result<()> {
    if input.is_empty() || input.parse::<Option<Token![,]>>()?.is_some() {
        return Ok(());
    }
    Err(syn::Error::new(
        input.span(),
        format!(
            "expected `,`: arguments are separated by commas, like #[{}]",
            match attr {
                Attr::CircuitBreaker =>
                    "circuit_breaker(\"sales_api\", failures = 5, reset = \"30s\")",
                Attr::Retry => "retry(attempts = 3, delay = \"100ms\")",
                Attr::Timeout => "timeout(after = \"3s\")",
            }
        ),
    ))
}

/// A key the attribute does not take: a misspelling, a key of another attribute. Records
/// the error and skips the value.
fn other_key(input: ParseStream, attr: Attr, first: bool, errors: &mut Errors) -> syn::Result<()> {
    let ident = Ident::parse_any(input)?;
    let written = ident.to_string();
    let has_value = input.peek(Token![=]);
    if has_value {
        input.parse::<Token![=]>()?;
        input.parse::<Expr>()?;
    }
    let message = if attr == Attr::CircuitBreaker && first && !has_value {
        format!("the breaker's name must be a string: #[circuit_breaker(\"{written}\")]")
    } else {
        unknown_key_message(attr, &written)
    };
    errors.error(ident.span(), message);
    Ok(())
}

fn unknown_key_message(attr: Attr, written: &str) -> String {
    let keys = attr.keys();
    let mut message = format!("unknown argument `{written}` for #[{}]", attr.name());
    let lower = written.to_ascii_lowercase();
    let alias = attr
        .aliases()
        .iter()
        .find(|(alias, _)| *alias == lower)
        .map(|(_, key)| *key);
    let other = Attr::ALL
        .into_iter()
        .find(|other| *other != attr && other.keys().contains(&written) && written != "crate");
    if let Some(key) = alias.or_else(|| nearest(&lower, keys)) {
        message += &format!("; did you mean `{key}`?");
        if key == "attempts" && matches!(lower.as_str(), "retries" | "max_retries") {
            message += " (`attempts` counts the first call too)";
        }
    } else if let Some(other) = other {
        message += &format!(
            "; `{written}` is an argument of #[{}], which can be stacked on the same fn",
            other.name()
        );
    } else if attr == Attr::Retry && lower == "timeout" {
        message += "; for a limit on the total time use `deadline`, for a limit per attempt \
                    stack #[timeout(\"3s\")] below #[retry]";
    } else if attr == Attr::CircuitBreaker && lower == "timeout" {
        message += "; the time the breaker stays open is `reset`; for a limit per call \
                    stack #[timeout(\"3s\")] below #[circuit_breaker]";
    }
    message += &format!("\nexpected one of: {}", keys.join(", "));
    message
}

/// The valid key closest to `written`, when it is close enough to be a typo.
fn nearest(written: &str, keys: &[&'static str]) -> Option<&'static str> {
    keys.iter()
        .map(|key| (edit_distance(written, key), *key))
        .filter(|(distance, key)| *distance <= (key.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, key)| key)
}

/// Levenshtein distance over chars.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// How a key is written, for "needs a value" errors.
pub(crate) fn example(key: &str) -> &'static str {
    match key {
        "name" => "name = \"sales_api\"",
        "failures" => "failures = 5",
        "reset" => "reset = \"60s\"",
        "probes" => "probes = 1",
        "is_failure" => "is_failure = is_transient",
        "fallback" => "fallback = cached_answer",
        "fallback_on" => "fallback_on = \"failure\"",
        "store" => "store = failfast::InProcess",
        "enabled" => "enabled = true",
        "crate" => "crate = ::failfast",
        "attempts" => "attempts = 3",
        "delay" => "delay = \"100ms\"",
        "factor" => "factor = 2.0",
        "max_delay" => "max_delay = \"10s\"",
        "jitter" => "jitter = \"full\"",
        "deadline" => "deadline = \"30s\"",
        "retry_if" => "retry_if = is_transient",
        "on_retry" => "on_retry = log_retry",
        "after" => "after = \"3s\"",
        "failure_rate" => "failure_rate = 0.5",
        "window" => "window = 100",
        "min_calls" => "min_calls = 10",
        "slow" => "slow = \"2s\"",
        "slow_rate" => "slow_rate = 0.8",
        "reset_max" => "reset_max = \"10m\"",
        "mode" => "mode = \"observe\"",
        "budget" => "budget = \"payments\"",
        "retry_if_ok" => "retry_if_ok = is_unavailable",
        "retry_after" => "retry_after = server_hint",
        _ => "key = value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn errors_of(errors: Errors) -> Vec<String> {
        match errors.into_result() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn breaker_positional_and_keys() {
        let args: BreakerArgs = syn::parse2(quote!(
            "sales_api",
            failures = 5,
            reset = "30s",
            fallback = cached
        ))
        .unwrap();
        assert!(args.name.as_ref().is_some_and(|a| a.key.positional));
        assert!(args.failures.is_some() && args.reset.is_some() && args.fallback.is_some());
        assert!(args.probes.is_none());
        assert!(errors_of(args.errors).is_empty());
    }

    #[test]
    fn store_takes_any_expression_once() {
        let args: BreakerArgs = syn::parse2(quote!(
            store = shared::STORE.clone(),
            failures = 2,
            store = failfast::InProcess
        ))
        .unwrap();
        let store = args.store.as_ref().unwrap();
        assert_eq!(store.key.name, "store");
        assert_eq!(
            store.value.to_token_stream().to_string(),
            "shared :: STORE . clone ()"
        );
        assert_eq!(errors_of(args.errors), ["`store` is given twice; keep one"]);
        let err = syn::parse2::<BreakerArgs>(quote!(store)).err().unwrap();
        assert_eq!(
            err.to_string(),
            "`store` needs a value: `store = failfast::InProcess`"
        );
    }

    #[test]
    fn empty_arguments() {
        let args: RetryArgs = syn::parse2(quote!()).unwrap();
        assert!(args.attempts.is_none());
        let args: TimeoutArgs = syn::parse2(quote!()).unwrap();
        assert!(args.after.is_none());
    }

    #[test]
    fn trailing_comma() {
        let args: RetryArgs = syn::parse2(quote!(attempts = 3,)).unwrap();
        assert!(args.attempts.is_some());
    }

    #[test]
    fn name_given_twice() {
        let args: BreakerArgs = syn::parse2(quote!("a", name = "b")).unwrap();
        assert_eq!(
            errors_of(args.errors),
            [
                "the breaker's name is given twice, as the first argument and as `name = ...`; keep one"
            ]
        );
    }

    #[test]
    fn duplicates_and_unknown_keys_are_all_reported() {
        let args: RetryArgs = syn::parse2(quote!(
            attemps = 3,
            delay = "1s",
            delay = "2s",
            budget = "x",
            retry_if_ok = is_503,
            retry_after
        ))
        .unwrap();
        assert!(args.budget.is_some() && args.retry_if_ok.is_some());
        assert!(
            matches!(args.retry_after, Some(Arg { value: Expr::Verbatim(ref v), .. }) if v.is_empty())
        );
        let errors = errors_of(args.errors);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0]
                .starts_with("unknown argument `attemps` for #[retry]; did you mean `attempts`?")
        );
        assert!(errors[0].contains("expected one of: attempts, delay, factor"));
        assert_eq!(errors[1], "`delay` is given twice; keep one");
    }

    #[test]
    fn aliases_and_other_attributes() {
        let args: RetryArgs = syn::parse2(quote!(retries = 3, failures = 2)).unwrap();
        let errors = errors_of(args.errors);
        assert!(
            errors[0].contains("did you mean `attempts`? (`attempts` counts the first call too)")
        );
        assert!(errors[1].contains("is an argument of #[circuit_breaker]"));
        let args: BreakerArgs = syn::parse2(quote!(backend = redis, threshold = 3)).unwrap();
        let errors = errors_of(args.errors);
        assert!(errors[0].contains("did you mean `store`?"));
        assert!(errors[1].contains("did you mean `failures`?"));
        let args: RetryArgs = syn::parse2(quote!(window = 100, retry_budget = "x")).unwrap();
        let errors = errors_of(args.errors);
        assert!(errors[0].contains("`window` is an argument of #[circuit_breaker]"));
        assert!(errors[1].contains("did you mean `budget`?"));
    }

    #[test]
    fn failures_and_failure_rate_exclude_each_other() {
        for (tokens, second) in [
            (
                quote!(failures = 3, window = 10, failure_rate = 0.5),
                "failure_rate",
            ),
            (quote!(failure_rate = 0.5, failures = 3), "failures"),
        ] {
            let args: BreakerArgs = syn::parse2(tokens).unwrap();
            assert!(args.failures.is_some() && args.failure_rate.is_some());
            let errors = errors_of(args.errors);
            assert_eq!(errors.len(), 1, "{errors:?} ({second})");
            assert!(errors[0].starts_with("`failures` and `failure_rate` cannot be used together"));
        }
        let args: BreakerArgs = syn::parse2(quote!(
            failure_rate = 0.5,
            window = "60s",
            min_calls = 20,
            slow = "2s",
            slow_rate = 0.8,
            reset_max = "10m",
            mode = "observe"
        ))
        .unwrap();
        assert!(errors_of(args.errors).is_empty());
    }

    #[test]
    fn missing_values_are_syntax_errors() {
        let err = syn::parse2::<RetryArgs>(quote!(attempts)).err().unwrap();
        assert_eq!(err.to_string(), "`attempts` needs a value: `attempts = 3`");
        let err = syn::parse2::<RetryArgs>(quote!(attempts = , delay = "1s"))
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .starts_with("`attempts` needs a value after `=`")
        );
        let err = syn::parse2::<RetryArgs>(quote!(delay = 100 ms))
            .err()
            .unwrap();
        assert!(err.to_string().starts_with("expected `,`"));
    }

    #[test]
    fn positional_mistakes() {
        let args: BreakerArgs = syn::parse2(quote!(sales_api)).unwrap();
        assert_eq!(
            errors_of(args.errors),
            ["the breaker's name must be a string: #[circuit_breaker(\"sales_api\")]"]
        );
        let args: BreakerArgs = syn::parse2(quote!(failures = 1, "late")).unwrap();
        assert!(errors_of(args.errors)[0].starts_with("the breaker's name comes first"));
        let args: RetryArgs = syn::parse2(quote!(3)).unwrap();
        assert_eq!(
            errors_of(args.errors),
            ["#[retry] takes only `key = value` arguments: write `attempts = 3`"]
        );
    }

    #[test]
    fn timeout_forms() {
        let args: TimeoutArgs = syn::parse2(quote!("3s")).unwrap();
        assert!(args.after.is_some_and(|a| a.key.positional));
        let args: TimeoutArgs = syn::parse2(quote!(after = LIMIT, crate = my::ff)).unwrap();
        assert!(args.after.is_some() && args.krate.is_some());
        let args: TimeoutArgs = syn::parse2(quote!(Duration::from_secs(3))).unwrap();
        assert!(args.after.is_some());
        let args: TimeoutArgs = syn::parse2(quote!("1s", after = "2s")).unwrap();
        assert_eq!(
            errors_of(args.errors),
            ["the duration is given twice, as the first argument and as `after = ...`; keep one"]
        );
    }

    #[test]
    fn garbage_does_not_panic() {
        for tokens in [
            quote!(=),
            quote!(,),
            quote!(a = = b),
            quote!(#),
            quote!(failures = 5 5),
            quote!((x)),
            quote!(crate),
            quote!(name = "a" name = "b"),
        ] {
            let _ = syn::parse2::<BreakerArgs>(tokens.clone());
            let _ = syn::parse2::<RetryArgs>(tokens.clone());
            let _ = syn::parse2::<TimeoutArgs>(tokens);
        }
    }

    #[test]
    fn nearest_only_when_close() {
        assert_eq!(nearest("attemps", Attr::Retry.keys()), Some("attempts"));
        assert_eq!(nearest("dely", Attr::Retry.keys()), Some("delay"));
        assert_eq!(nearest("banana", Attr::Retry.keys()), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
