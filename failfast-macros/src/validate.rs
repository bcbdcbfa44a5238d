//! What the arguments mean together, and whether the fn can carry the attributes.
//!
//! Builds each checked layer (`ast.rs`) from the arguments as written (`args.rs`), each
//! value read by `value.rs`; checks the arguments against each other (`slow_rate` needs
//! `slow`, `reset_max` is at least `reset`, `fallback_on` needs a `fallback`). Then checks
//! the fn against the whole stack: it returns `Result`, a `#[timeout]` fn is async, a
//! retried method borrows `self`, a fallback gets plain parameter names. Every problem is
//! recorded; nothing stops at the first one.

use crate::args::{Arg, Args, Attr, BreakerArgs, RetryArgs, TimeoutArgs};
use crate::ast::{Breaker, Dur, Layer, LayerKind, RawLayer, Retry, RetryAfterArg, Timeout};
use crate::boxed::Boxed;
use crate::errors::Errors;
use crate::signature::{self, FnSig};
use crate::value::{
    FALLBACK_ON, FallbackOn, JITTER, MODE, budget, choose, count, duration, factor, krate, name,
    path, positive_duration, predicate, rate, variant, window,
};
use proc_macro2::TokenStream;
use syn::parse::Parse;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ItemFn, Lit, Path};

/// Parses and checks one attribute's arguments.
pub(crate) fn layer(raw: RawLayer, errors: &mut Errors) -> Option<Layer> {
    let RawLayer { attr, span, args } = raw;
    let (krate, kind) = match attr {
        Attr::CircuitBreaker => {
            let (args, krate) = parse::<BreakerArgs>(args, errors)?;
            (krate, LayerKind::Breaker(breaker(args, errors)))
        }
        Attr::Retry => {
            let (args, krate) = parse::<RetryArgs>(args, errors)?;
            (krate, LayerKind::Retry(retry(args, errors)))
        }
        Attr::Timeout => {
            let (args, krate) = parse::<TimeoutArgs>(args, errors)?;
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

/// Parses the arguments of one attribute, keeping their errors, and reads `crate = path`.
fn parse<A: Args + Parse>(tokens: TokenStream, errors: &mut Errors) -> Option<(A, Path)> {
    let mut args: A = errors.ok(syn::parse2(tokens))?;
    errors.append(std::mem::take(args.errors()));
    let krate = krate(args.krate().take(), errors);
    Some((args, krate))
}

fn breaker(args: BreakerArgs, errors: &mut Errors) -> Breaker {
    window_needs_a_rate(&args, errors);
    let name = args.name.and_then(|arg| name(arg, errors));
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
        slow: args
            .slow
            .and_then(|arg| positive_duration(&arg, "every call would count as slow", errors)),
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
        probe_timeout: args.probe_timeout.and_then(|arg| {
            positive_duration(
                &arg,
                "it is how long a trial call may run before it counts as failed, and with \
                 no time at all every trial would fail before it could report",
                errors,
            )
            .map(Box::new)
        }),
        is_failure: args.is_failure.and_then(|arg| predicate(arg, errors)),
        fallback_on_failure: args
            .fallback_on
            .as_ref()
            .is_some_and(|arg| fallback_on_failure(arg, args.fallback.is_some(), errors)),
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
        mode: args.mode.and_then(|arg| variant(&arg, &MODE, errors)),
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

/// `fallback_on = "failure"`: the fallback also answers a call that failed. `fallback_on`
/// says when the fallback answers, so it needs a `fallback` (its value is checked anyway).
fn fallback_on_failure(fallback_on: &Arg, has_fallback: bool, errors: &mut Errors) -> bool {
    if !has_fallback {
        errors.error(
            fallback_on.key.span,
            "`fallback_on` says when the fallback answers, but there is no fallback: add \
             `fallback = my_fallback`, a fn with the same parameters and return type",
        );
    }
    let on = choose(fallback_on, &FALLBACK_ON, errors);
    has_fallback && on.is_some_and(|(on, _)| on == FallbackOn::Failure)
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
        jitter: args.jitter.and_then(|arg| variant(&arg, &JITTER, errors)),
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

/// Checks the fn against the whole stack; `boxed`: the fn's body is a boxed async block
/// (`#[async_trait]`), checked as the `async fn` it was written as.
pub(crate) fn item(layers: &[Layer], func: &ItemFn, boxed: Option<&Boxed>, errors: &mut Errors) {
    let Some(outermost) = layers.first() else {
        return;
    };
    let sig = FnSig::of(func, boxed);
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
                "failfast can only wrap a boxed future that is the body's own async block, \
                 `Box::pin(async move { .. })`, under the return type \
                 `Pin<Box<dyn Future<Output = Result<T, E>> + ..>>` (the shape #[async_trait] \
                 writes); move the work into such a block, or make the fn an `async fn` \
                 (async fns in traits need no #[async_trait] since Rust 1.75)"
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
                    // `#[async_trait]` renames a destructured parameter `__argN` and
                    // destructures it in the block: the pattern is there.
                    let pat = signature::plain_name(&param.pat)
                        .zip(boxed)
                        .and_then(|(name, boxed)| boxed.pattern_of(name))
                        .unwrap_or(&param.pat);
                    if signature::plain_name(pat).is_none() {
                        errors.error(
                            pat.span(),
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
pub(crate) mod tests {
    use super::*;
    use crate::ast::Breaker;
    use proc_macro2::Span;
    use quote::quote;

    pub(crate) fn check(
        attr: Attr,
        args: proc_macro2::TokenStream,
    ) -> (Option<Layer>, Vec<String>) {
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

    pub(crate) fn breaker_of(layer: Option<Layer>) -> Breaker {
        match layer {
            Some(Layer {
                kind: LayerKind::Breaker(breaker),
                ..
            }) => breaker,
            _ => panic!("not a breaker layer"),
        }
    }

    pub(crate) fn retry_of(layer: Option<Layer>) -> Retry {
        match layer {
            Some(Layer {
                kind: LayerKind::Retry(retry),
                ..
            }) => retry,
            _ => panic!("not a retry layer"),
        }
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
    fn reset_max_below_reset() {
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
        item(&layers, &func, None, &mut errors);
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
