//! Parsing of the attribute arguments: `#[retry(attempts = 3, delay = "100ms")]`.
//!
//! This stage only reads the shape `key = value, ...` and remembers each value as an
//! expression with the span of its key; what the values mean is checked in `value.rs` and
//! `validate.rs`. Each attribute has one table of keys (`Args::KEYS`): it drives the
//! parsing, the list of valid keys, the suggestions for a misspelt key and the examples of
//! the messages. Mistakes that still leave the list readable (an unknown key, a key given
//! twice) are collected, so one compile reports all of them.

use crate::errors::Errors;
use crate::suggest::closest;
use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Expr, Ident, Lit, Token};

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
    fn keys(self) -> Vec<&'static KeyName> {
        fn keys_of<A: Args>() -> Vec<&'static KeyName> {
            A::KEYS.iter().map(|row| &row.key).collect()
        }
        match self {
            Attr::CircuitBreaker => keys_of::<BreakerArgs>(),
            Attr::Retry => keys_of::<RetryArgs>(),
            Attr::Timeout => keys_of::<TimeoutArgs>(),
        }
    }
}

/// A key as written, with the span errors about its value point at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key {
    pub(crate) name: &'static str,
    /// The key with a value, for messages: `failures = 5`.
    pub(crate) example: &'static str,
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
    pub(crate) probe_timeout: Option<Arg>,
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

/// What a key is called: by failfast, in the messages, and by other libraries.
struct KeyName {
    name: &'static str,
    /// The key with a value, for messages: `failures = 5`.
    example: &'static str,
    /// Names other libraries give this key, for "did you mean".
    aliases: &'static [&'static str],
}

/// One row of an attribute's table of keys: `key(..)`, or `KeyRow { alone: true, ..key(..) }`
/// for the rare key that needs more.
pub(crate) struct KeyRow<A> {
    key: KeyName,
    /// The field of the arguments the value goes to.
    slot: fn(&mut A) -> &mut Option<Arg>,
    /// Another way to say the same thing (`failures` and `failure_rate`): given both, the
    /// second one written is an error.
    excludes: Option<fn(&A) -> &Option<Arg>>,
    /// The key may be written alone, without `= value` (`retry_after`).
    alone: bool,
}

/// A row `name`, written `example`, also called `aliases`, whose value goes to `slot`.
const fn key<A>(
    name: &'static str,
    example: &'static str,
    aliases: &'static [&'static str],
    slot: fn(&mut A) -> &mut Option<Arg>,
) -> KeyRow<A> {
    KeyRow {
        key: KeyName {
            name,
            example,
            aliases,
        },
        slot,
        excludes: None,
        alone: false,
    }
}

/// The arguments of one attribute: its table of keys and what it accepts besides them.
///
/// A new key is a row of `KEYS` and a field of the arguments struct; then its field in the
/// model (`ast.rs`), filled by its value parser (`value.rs`), and its expansion
/// (`expand.rs`).
pub(crate) trait Args: Default + 'static {
    const ATTR: Attr;
    /// Every key, in the order the docs list them.
    const KEYS: &'static [KeyRow<Self>];

    fn errors(&mut self) -> &mut Errors;

    /// The `crate = path` override.
    fn krate(&mut self) -> &mut Option<Arg>;

    /// The key of the argument ahead when it is written without one (`first`: it is the
    /// first argument).
    fn positional(_input: ParseStream, _first: bool) -> Option<&'static str> {
        None
    }

    /// The message for a literal written where a key belongs.
    fn stray_literal(value: &Expr, first: bool) -> String;
}

impl Args for BreakerArgs {
    const ATTR: Attr = Attr::CircuitBreaker;
    const KEYS: &'static [KeyRow<Self>] = &[
        key("name", "name = \"sales_api\"", &[], |a| &mut a.name),
        KeyRow {
            excludes: Some(|a| &a.failure_rate),
            ..key(
                "failures",
                "failures = 5",
                &["threshold", "failure_threshold", "max_failures", "fail_max"],
                |a| &mut a.failures,
            )
        },
        KeyRow {
            excludes: Some(|a| &a.failures),
            ..key(
                "failure_rate",
                "failure_rate = 0.5",
                &["failure_rate_threshold", "failure_ratio", "error_rate"],
                |a| &mut a.failure_rate,
            )
        },
        key(
            "window",
            "window = 100",
            &["sliding_window", "sliding_window_size", "window_size"],
            |a| &mut a.window,
        ),
        key(
            "min_calls",
            "min_calls = 10",
            &[
                "minimum_calls",
                "minimum_number_of_calls",
                "min_requests",
                "min_throughput",
            ],
            |a| &mut a.min_calls,
        ),
        key(
            "slow",
            "slow = \"2s\"",
            &["slow_call_duration_threshold", "slow_threshold"],
            |a| &mut a.slow,
        ),
        key(
            "slow_rate",
            "slow_rate = 0.8",
            &["slow_call_rate_threshold", "slow_ratio"],
            |a| &mut a.slow_rate,
        ),
        key(
            "reset",
            "reset = \"60s\"",
            &["recovery_timeout", "reset_timeout", "cooldown", "open_for"],
            |a| &mut a.reset,
        ),
        key(
            "reset_max",
            "reset_max = \"10m\"",
            &["max_reset", "max_open", "reset_timeout_max"],
            |a| &mut a.reset_max,
        ),
        key(
            "probes",
            "probes = 1",
            &["half_open_calls", "half_open_max_calls", "trials"],
            |a| &mut a.probes,
        ),
        key(
            "probe_timeout",
            "probe_timeout = \"30s\"",
            &[
                "max_wait_duration_in_half_open_state",
                "half_open_timeout",
                "trial_timeout",
                "probe_deadline",
            ],
            |a| &mut a.probe_timeout,
        ),
        key(
            "is_failure",
            "is_failure = is_transient",
            &["exceptions", "expected_exception", "failure_if"],
            |a| &mut a.is_failure,
        ),
        key(
            "fallback",
            "fallback = cached_answer",
            &["fallback_function"],
            |a| &mut a.fallback,
        ),
        key(
            "fallback_on",
            "fallback_on = \"failure\"",
            &["fallback_when", "fallback_on_failure", "fallback_on_error"],
            |a| &mut a.fallback_on,
        ),
        key(
            "store",
            "store = failfast::InProcess",
            &["backend", "storage", "state_store"],
            |a| &mut a.store,
        ),
        key("enabled", "enabled = true", &["enable", "disabled"], |a| {
            &mut a.enabled
        }),
        key(
            "mode",
            "mode = \"observe\"",
            &["metrics_only", "dry_run"],
            |a| &mut a.mode,
        ),
        key("crate", CRATE_EXAMPLE, &[], |a| &mut a.krate),
    ];

    fn errors(&mut self) -> &mut Errors {
        &mut self.errors
    }

    fn krate(&mut self) -> &mut Option<Arg> {
        &mut self.krate
    }

    /// `#[circuit_breaker("sales_api", ..)]`
    fn positional(input: ParseStream, first: bool) -> Option<&'static str> {
        (first && input.peek(syn::LitStr)).then_some("name")
    }

    fn stray_literal(value: &Expr, first: bool) -> String {
        if first {
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
        }
        .to_owned()
    }
}

impl Args for RetryArgs {
    const ATTR: Attr = Attr::Retry;
    const KEYS: &'static [KeyRow<Self>] = &[
        key(
            "attempts",
            "attempts = 3",
            &[
                "max_attempts",
                "retries",
                "max_retries",
                "tries",
                "times",
                "stop_max_attempt_number",
            ],
            |a| &mut a.attempts,
        ),
        key(
            "delay",
            "delay = \"100ms\"",
            &["wait", "initial_delay", "base_delay", "wait_fixed"],
            |a| &mut a.delay,
        ),
        key("factor", "factor = 2.0", &["multiplier", "backoff"], |a| {
            &mut a.factor
        }),
        key(
            "max_delay",
            "max_delay = \"10s\"",
            &["max_wait", "cap"],
            |a| &mut a.max_delay,
        ),
        key("jitter", "jitter = \"full\"", &[], |a| &mut a.jitter),
        key(
            "deadline",
            "deadline = \"30s\"",
            &["stop_max_delay", "max_elapsed"],
            |a| &mut a.deadline,
        ),
        key(
            "retry_if",
            "retry_if = is_transient",
            &["retry_on", "retry_on_exception", "when"],
            |a| &mut a.retry_if,
        ),
        key(
            "retry_if_ok",
            "retry_if_ok = is_unavailable",
            &["retry_on_result", "retry_if_result", "retry_on_ok"],
            |a| &mut a.retry_if_ok,
        ),
        KeyRow {
            alone: true,
            ..key(
                "retry_after",
                "retry_after = server_hint",
                &["honor_retry_after", "respect_retry_after"],
                |a| &mut a.retry_after,
            )
        },
        key("budget", "budget = \"payments\"", &["retry_budget"], |a| {
            &mut a.budget
        }),
        key(
            "on_retry",
            "on_retry = log_retry",
            &["before_sleep", "on_error"],
            |a| &mut a.on_retry,
        ),
        key("crate", CRATE_EXAMPLE, &[], |a| &mut a.krate),
    ];

    fn errors(&mut self) -> &mut Errors {
        &mut self.errors
    }

    fn krate(&mut self) -> &mut Option<Arg> {
        &mut self.krate
    }

    fn stray_literal(value: &Expr, _first: bool) -> String {
        format!(
            "#[retry] takes only `key = value` arguments{}",
            match value {
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Int(int), ..
                }) => format!(": write `attempts = {}`", int.base10_digits()),
                _ => ", like #[retry(attempts = 3, delay = \"100ms\")]".to_owned(),
            }
        )
    }
}

impl Args for TimeoutArgs {
    const ATTR: Attr = Attr::Timeout;
    const KEYS: &'static [KeyRow<Self>] = &[
        key(
            "after",
            "after = \"3s\"",
            &["duration", "limit", "secs", "ms"],
            |a| &mut a.after,
        ),
        key("crate", CRATE_EXAMPLE, &[], |a| &mut a.krate),
    ];

    fn errors(&mut self) -> &mut Errors {
        &mut self.errors
    }

    fn krate(&mut self) -> &mut Option<Arg> {
        &mut self.krate
    }

    /// `#[timeout("3s")]`, `#[timeout(LIMIT)]`, `#[timeout(Duration::from_secs(3))]`: any
    /// first argument that is not `key = value`.
    fn positional(input: ParseStream, first: bool) -> Option<&'static str> {
        let keyed = input.peek(Ident::peek_any) && input.peek2(Token![=]);
        (first && !keyed).then_some("after")
    }

    fn stray_literal(_value: &Expr, _first: bool) -> String {
        "the duration comes first: #[timeout(\"3s\")], or write `after = \"3s\"`".to_owned()
    }
}

const CRATE_EXAMPLE: &str = "crate = ::failfast";

impl Parse for BreakerArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        parse_args(input)
    }
}

impl Parse for RetryArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        parse_args(input)
    }
}

impl Parse for TimeoutArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        parse_args(input)
    }
}

/// Reads `key = value, ...` through the table of `A`.
fn parse_args<A: Args>(input: ParseStream) -> syn::Result<A> {
    let mut args = A::default();
    let mut errors = Errors::default();
    let mut first = true;
    while !input.is_empty() {
        if let Some(row) = row_ahead::<A>(input) {
            let ident = Ident::parse_any(input)?;
            let key = Key::new(&row.key, ident.span(), false);
            if let Some(other) = row.excludes {
                one_policy(other(&args), key, &mut errors);
            }
            let arg = if row.alone && !input.peek(Token![=]) {
                Arg {
                    key,
                    value: Expr::Verbatim(TokenStream::new()),
                }
            } else {
                keyed(input, key)?
            };
            set_once((row.slot)(&mut args), arg, &mut errors);
        } else if let Some(row) = A::positional(input, first).and_then(row_named::<A>) {
            let value = value(input)?;
            let key = Key::new(&row.key, value.span(), true);
            set_once((row.slot)(&mut args), Arg { key, value }, &mut errors);
        } else if input.peek(Ident::peek_any) {
            other_key(input, A::ATTR, first, &mut errors)?;
        } else if input.peek(Lit) {
            let value: Expr = input.parse()?;
            errors.error(value.span(), A::stray_literal(&value, first));
        } else {
            return Err(input.error(expected_keys::<A>()));
        }
        first = false;
        comma(input, A::ATTR)?;
    }
    *args.errors() = errors;
    Ok(args)
}

/// The row of the key ahead, if a key of `A` is ahead (`crate` included: `parse_any`
/// reads keywords too).
fn row_ahead<A: Args>(input: ParseStream) -> Option<&'static KeyRow<A>> {
    let ident = Ident::parse_any(&input.fork()).ok()?;
    A::KEYS.iter().find(|row| ident == row.key.name)
}

fn row_named<A: Args>(name: &str) -> Option<&'static KeyRow<A>> {
    A::KEYS.iter().find(|row| row.key.name == name)
}

/// What the parser expected instead of the token ahead, as syn words it.
fn expected_keys<A: Args>() -> String {
    let keys: Vec<String> = A::KEYS
        .iter()
        .map(|row| format!("`{}`", row.key.name))
        .collect();
    match keys.as_slice() {
        [one, other] => format!("expected {one} or {other}"),
        _ => format!("expected one of: {}", keys.join(", ")),
    }
}

impl Key {
    fn new(key: &KeyName, span: Span, positional: bool) -> Key {
        Key {
            name: key.name,
            example: key.example,
            span,
            positional,
        }
    }
}

/// Parses the `= value` after `key`.
fn keyed(input: ParseStream, key: Key) -> syn::Result<Arg> {
    if !input.peek(Token![=]) {
        return Err(syn::Error::new(
            key.span,
            format!("`{}` needs a value: `{}`", key.name, key.example),
        ));
    }
    let eq: Token![=] = input.parse()?;
    if input.is_empty() || input.peek(Token![,]) {
        return Err(syn::Error::new(
            eq.span,
            format!("`{}` needs a value after `=`: `{}`", key.name, key.example),
        ));
    }
    let value = value(input)?;
    Ok(Arg { key, value })
}

/// A value, out of the invisible groups a `macro_rules!` fragment comes in
/// (`attempts = $n` with `$n:expr`), so it reads as if written in place.
fn value(input: ParseStream) -> syn::Result<Expr> {
    let mut value = input.parse()?;
    while let Expr::Group(group) = value {
        value = *group.expr;
    }
    Ok(value)
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
    let names: Vec<&'static str> = keys.iter().map(|key| key.name).collect();
    let mut message = format!("unknown argument `{written}` for #[{}]", attr.name());
    let lower = written.to_ascii_lowercase();
    let alias = keys
        .iter()
        .find(|key| key.aliases.contains(&lower.as_str()))
        .map(|key| key.name);
    let other = Attr::ALL.into_iter().find(|other| {
        *other != attr && other.keys().iter().any(|key| key.name == written) && written != "crate"
    });
    if let Some(key) = alias.or_else(|| nearest(&lower, &names)) {
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
    message += &format!("\nexpected one of: {}", names.join(", "));
    message
}

/// The valid key closest to `written`, when it is close enough to be a typo.
fn nearest(written: &str, keys: &[&'static str]) -> Option<&'static str> {
    closest(written, keys, |key| (key.len() / 3).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::{ToTokens, quote};

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
        let keys: Vec<&str> = Attr::Retry.keys().iter().map(|key| key.name).collect();
        assert_eq!(nearest("attemps", &keys), Some("attempts"));
        assert_eq!(nearest("dely", &keys), Some("delay"));
        assert_eq!(nearest("banana", &keys), None);
    }
}
