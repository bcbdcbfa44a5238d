//! The stack: the outermost failfast attribute expands all of them at once.
//!
//! Attribute macros run top-down, each on the fn as the previous one left it, so the
//! attribute written on top would otherwise end up innermost. The outermost one therefore
//! takes the failfast attributes below it off the fn and builds every layer itself, in
//! written order: the one on top wraps the ones below it. This also lets a retry see
//! that the breaker inside it rejected the call, so it never retries that rejection.

use crate::args::Attr;
use crate::ast::{Layer, RawLayer};
use crate::boxed::Boxed;
use crate::errors::Errors;
use crate::expand;
use crate::validate;
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::{Attribute, ItemFn, Meta};

/// Entry point of all three attributes.
pub(crate) fn expand(attr: Attr, args: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand(attr, args, item) {
        Ok(expanded) => expanded,
        Err(Rejected { item, error }) => {
            let error = error.to_compile_error();
            quote!(#item #error)
        }
    }
}

/// An expansion that failed: the item to emit anyway, and every error found.
pub(crate) struct Rejected {
    /// The fn as written (less the failfast attributes of the stack), or the item that is
    /// not a fn: it keeps name resolution and the IDE working, and keeps errors about the
    /// arguments from drowning in errors about missing items.
    pub(crate) item: TokenStream,
    pub(crate) error: syn::Error,
}

/// The expansion, or why there is none. [`expand`] without the rendering of the errors,
/// so tests and the fuzzer see them as a `syn::Error`.
pub(crate) fn try_expand(
    attr: Attr,
    args: TokenStream,
    item: TokenStream,
) -> Result<TokenStream, Rejected> {
    let mut func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => return Err(not_a_fn(attr, item)),
    };
    let mut errors = Errors::default();
    let mut raw = vec![RawLayer {
        attr,
        span: Span::call_site(),
        args,
    }];
    let mut absorbed = Vec::new();
    func.attrs.retain(|attribute| {
        let Some(attr) = failfast_attr(attribute) else {
            return true;
        };
        if let Some(layer) = raw_layer(attr, attribute, &mut errors) {
            raw.push(layer);
        }
        absorbed.push(attribute.path().clone());
        false
    });
    // rustc never resolves an attribute that is taken off the fn, so an import used only
    // by such an attribute would be reported unused. Naming each path once in the body
    // resolves it (and still reports a path that does not resolve).
    for (index, path) in absorbed.iter().enumerate() {
        func.block.stmts.insert(
            index,
            syn::parse_quote!(#[allow(unused_imports)] use #path as _;),
        );
    }
    let layers: Vec<Layer> = raw
        .into_iter()
        .filter_map(|raw| validate::layer(raw, &mut errors))
        .collect();
    // An `#[async_trait]` method: the layers wrap the future, not the boxing.
    let boxed = Boxed::detect(&func);
    if errors.is_empty() {
        validate::item(&layers, &func, boxed.as_ref(), &mut errors);
    }
    match errors.into_result() {
        Ok(()) => Ok(expand::function(&func, boxed.as_ref(), &layers)),
        Err(error) => Err(Rejected {
            item: func.into_token_stream(),
            error,
        }),
    }
}

/// Which failfast attribute `attribute` is, if it is one: `retry`, `failfast::retry`,
/// `::failfast::retry`.
fn failfast_attr(attribute: &Attribute) -> Option<Attr> {
    if !matches!(attribute.style, syn::AttrStyle::Outer) {
        return None;
    }
    let path = attribute.path();
    let last = path.segments.last()?;
    let ours = match path.segments.len() {
        1 => path.leading_colon.is_none(),
        2 => path.segments[0].ident == "failfast",
        _ => false,
    };
    if !ours || !last.arguments.is_none() {
        return None;
    }
    Attr::ALL.into_iter().find(|attr| last.ident == attr.name())
}

fn raw_layer(attr: Attr, attribute: &Attribute, errors: &mut Errors) -> Option<RawLayer> {
    let span = attribute.path().span();
    let args = match &attribute.meta {
        Meta::Path(_) => TokenStream::new(),
        Meta::List(list) => list.tokens.clone(),
        Meta::NameValue(pair) => {
            errors.error(
                pair.eq_token.span,
                format!(
                    "write the arguments of #[{}] in parentheses: #[{}]",
                    attr.name(),
                    match attr {
                        Attr::CircuitBreaker => "circuit_breaker(\"sales_api\", failures = 5)",
                        Attr::Retry => "retry(attempts = 3)",
                        Attr::Timeout => "timeout(\"3s\")",
                    }
                ),
            );
            return None;
        }
    };
    Some(RawLayer { attr, span, args })
}

/// The attribute sits on something that is not a fn with a body.
fn not_a_fn(attr: Attr, item: TokenStream) -> Rejected {
    let name = attr.name();
    let (span, message) = if let Ok(method) = syn::parse2::<syn::TraitItemFn>(item.clone()) {
        (
            method.sig.fn_token.span,
            format!(
                "#[{name}] needs a fn with a body, and this trait method has none: write the \
                 attribute on the method in each impl of the trait, or give the method a \
                 default body here"
            ),
        )
    } else if let Ok(item) = syn::parse2::<syn::Item>(item.clone()) {
        let (span, what) = describe(&item);
        let hint = if matches!(item, syn::Item::Impl(_) | syn::Item::Trait(_)) {
            "; put it on each method that makes the remote call"
        } else {
            ""
        };
        (
            span,
            format!("#[{name}] can only be used on a fn, not on {what}{hint}"),
        )
    } else {
        (
            Span::call_site(),
            format!("#[{name}] can only be used on a fn"),
        )
    };
    Rejected {
        item,
        error: syn::Error::new(span, message),
    }
}

/// The keyword of an item, and what to call it in a message.
fn describe(item: &syn::Item) -> (Span, &'static str) {
    use syn::Item;
    match item {
        Item::Struct(item) => (item.struct_token.span, "a struct"),
        Item::Enum(item) => (item.enum_token.span, "an enum"),
        Item::Union(item) => (item.union_token.span, "a union"),
        Item::Impl(item) => (item.impl_token.span, "an impl block"),
        Item::Trait(item) => (item.trait_token.span, "a trait"),
        Item::Mod(item) => (item.mod_token.span, "a module"),
        Item::Const(item) => (item.const_token.span, "a const"),
        Item::Static(item) => (item.static_token.span, "a static"),
        Item::Type(item) => (item.type_token.span, "a type alias"),
        Item::Use(item) => (item.use_token.span, "a use declaration"),
        Item::ExternCrate(item) => (item.extern_token.span, "an extern crate"),
        Item::ForeignMod(item) => (item.abi.extern_token.span, "an extern block"),
        Item::Macro(item) => (item.mac.path.span(), "a macro invocation"),
        other => (
            other
                .to_token_stream()
                .into_iter()
                .next()
                .map_or_else(Span::call_site, |t| t.span()),
            "this item",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(attr: Attr, args: TokenStream, item: TokenStream) -> String {
        expand(attr, args, item).to_string()
    }

    #[test]
    fn stack_is_absorbed_and_other_attributes_kept() {
        let out = expand_str(
            Attr::Retry,
            quote!(attempts = 2),
            quote! {
                /// docs
                #[inline]
                #[circuit_breaker("x")]
                #[failfast::timeout("1s")]
                #[other::retry]
                async fn f() -> Result<(), E> { Ok(()) }
            },
        );
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("# [inline]"));
        assert!(out.contains("# [doc = r\" docs\"]"));
        assert!(out.contains("# [other :: retry]"), "{out}");
        assert!(!out.contains("# [circuit_breaker"));
        assert!(!out.contains("# [failfast :: timeout"));
        assert!(out.contains("Site :: new"));
        assert!(out.contains(":: timeout ("));
    }

    #[test]
    fn errors_keep_the_fn_and_drop_the_stack() {
        let out = expand_str(
            Attr::Retry,
            quote!(attemps = 2),
            quote! {
                #[circuit_breaker(failures = 0)]
                fn f() -> Result<(), E> { Ok(()) }
            },
        );
        assert!(
            out.contains(
                "fn f () -> Result < () , E > { # [allow (unused_imports)] use circuit_breaker as _ ; Ok (()) }"
            ),
            "{out}"
        );
        assert!(!out.contains("# [circuit_breaker"));
        assert_eq!(out.matches("compile_error").count(), 2, "{out}");
    }

    #[test]
    fn not_a_fn_keeps_the_item() {
        let out = expand_str(
            Attr::Retry,
            quote!(),
            quote!(
                struct S;
            ),
        );
        assert!(out.starts_with("struct S ;"));
        assert!(out.contains("#[retry] can only be used on a fn, not on a struct"));
        let out = expand_str(
            Attr::Timeout,
            quote!("1s"),
            quote!(
                fn f(&self) -> Result<(), E>;
            ),
        );
        assert!(out.contains("needs a fn with a body"));
        let out = expand_str(Attr::Timeout, quote!("1s"), quote!(= garbage));
        assert!(out.contains("can only be used on a fn"));
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        let item = quote!(
            fn f(x: String) -> Result<(), E> {
                Ok(())
            }
        );
        let args = [
            quote!(jitter = "éé"),
            quote!(jitter = ""),
            quote!(delay = "µ"),
            quote!(delay = "1µ5"),
            quote!(delay = "ü5s"),
            quote!(delay = "."),
            quote!(delay = "1..5s"),
            quote!(delay = "99999999999999999999999999h"),
            quote!(delay = -1),
            quote!(attempts = -1, factor = -0.0),
            quote!(factor = 1e999),
            quote!(attempts = 1e3),
            quote!(crate = "not a path"),
            quote!(crate = 5),
            quote!(on_retry = 5),
            quote!(retry_if = ||),
            quote!(= = =),
            quote!(failure_rate = "abc", slow_rate = "%", window = -1),
            quote!(failure_rate = 1e999, window = 1.5, min_calls = 0),
            quote!(failure_rate = -0.0, window = "µ", slow = 5),
            quote!(window = 99999999999999999999, mode = 5, mode = ""),
            quote!(budget = 5, retry_after = 5, retry_if_ok = ||, reset_max = "-1s"),
            quote!(retry_after, retry_after, budget = "none", budget = "x"),
            quote!(
                failures = 1,
                failure_rate = 1,
                failures = 2,
                failure_rate = 0.5
            ),
        ];
        for args in args {
            for attr in Attr::ALL {
                let _ = expand(attr, args.clone(), item.clone());
            }
        }
        for item in [
            quote!(),
            quote!(fn),
            quote!(fn f(),),
            quote!(impl X {}),
            quote!(
                #[retry = 3]
                fn f() -> Result<(), E> {
                    Ok(())
                }
            ),
            quote!(
                #[retry((a b))]
                fn f() -> Result<(), E> {
                    Ok(())
                }
            ),
        ] {
            let _ = expand(Attr::Retry, quote!(), item);
        }
    }

    #[test]
    fn retry_expansion_shapes() {
        let item = quote!(
            async fn f() -> Result<u16, E> {
                Ok(200)
            }
        );
        let p = ":: failfast :: __private ::";
        // The common case: the default budget, `Retry::next`.
        let plain = expand_str(Attr::Retry, quote!(), item.clone());
        assert!(plain.contains(". next (& __failfast_result"), "{plain}");
        assert!(
            !plain.contains("next_with") && !plain.contains("budget"),
            "{plain}"
        );
        // A named budget: looked up once per call site, in a static.
        let named = expand_str(Attr::Retry, quote!(budget = "payments"), item.clone());
        assert!(
            named.contains(&format!(
                "static __FAILFAST_BUDGET : {p} BudgetSite = {p} BudgetSite :: new () ;"
            )),
            "{named}"
        );
        assert!(
            named.contains(&format!(
                "Retry :: new (& __failfast_policy) . budget ({p} core :: option :: Option :: Some (__FAILFAST_BUDGET . budget (\"payments\")))"
            )),
            "{named}"
        );
        let none = expand_str(Attr::Retry, quote!(budget = "none"), item.clone());
        assert!(
            none.contains(&format!(". budget ({p} core :: option :: Option :: None)")),
            "{none}"
        );
        assert!(!none.contains("BudgetSite"));
        // `retry_if_ok` or `retry_after`: the rules, through `next_with`, with the
        // defaults for the rule not given.
        let ok = expand_str(Attr::Retry, quote!(retry_if_ok = is_503), item.clone());
        assert!(
            ok.contains(&format!("{p} next_with (& mut __failfast_retry")),
            "{ok}"
        );
        assert!(ok.contains("is_503 (__failfast_arg0)"), "{ok}");
        assert!(ok.contains(&format!("{p} no_retry_after")), "{ok}");
        let after = expand_str(Attr::Retry, quote!(retry_after), item);
        assert!(after.contains(&format!("{p} never_ok")), "{after}");
        assert!(
            after.contains("error_retry_after (__failfast_error)"),
            "{after}"
        );
    }

    #[test]
    fn breaker_config_shape() {
        let out = expand_str(
            Attr::CircuitBreaker,
            quote!(
                failure_rate = 0.5,
                window = "1m",
                min_calls = 20,
                slow = "2s",
                slow_rate = 0.8,
                reset_max = "10m",
                mode = "observe"
            ),
            quote!(
                fn f() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        let p = ":: failfast :: __private ::";
        let config = format!(
            "{p} BreakerConfig :: new () . failure_rate (0.5f64) . window ({p} Window :: Time ({p} core :: time :: Duration :: from_nanos (60000000000u64))) . min_calls (20u32) . slow ({p} core :: time :: Duration :: from_nanos (2000000000u64)) . slow_rate (0.8f64) . reset_max ({p} core :: time :: Duration :: from_nanos (600000000000u64)) . mode ({p} Mode :: Observe)"
        );
        assert!(out.contains(&config), "{out}");
        let out = expand_str(
            Attr::CircuitBreaker,
            quote!(failure_rate = 1, window = 50),
            quote!(
                fn f() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(out.contains(". failure_rate (1.0f64) . window (:: failfast :: __private :: Window :: Calls (50u32))"), "{out}");
    }

    #[test]
    fn store_registers_the_site_with_it() {
        let item = quote!(
            fn f() -> Result<(), E> {
                Ok(())
            }
        );
        let p = ":: failfast :: __private ::";
        let out = expand_str(
            Attr::CircuitBreaker,
            quote!("db", store = shared::STORE.clone()),
            item.clone(),
        );
        assert!(
            out.contains(&format!(
                "__FAILFAST_SITE . breaker_with_store (|| ({p} Name :: Static (\"db\") , {p} BreakerConfig :: new () , {p} store (shared :: STORE . clone ())))"
            )),
            "{out}"
        );
        let out = expand_str(Attr::CircuitBreaker, quote!("db"), item);
        assert!(
            out.contains(&format!(
                "__FAILFAST_SITE . breaker (|| ({p} Name :: Static (\"db\") , {p} BreakerConfig :: new ()))"
            )),
            "{out}"
        );
        assert!(!out.contains("store"), "{out}");
    }

    #[test]
    fn async_trait_method_wraps_the_future() {
        let func = crate::boxed::tests::async_trait_output();
        let out = expand_str(Attr::Retry, quote!(), quote!(#[circuit_breaker] #func));
        assert!(!out.contains("compile_error"), "{out}");
        // The signature as async-trait left it, then the layers inside the box, after the
        // receiver's rebinding.
        assert!(
            out.starts_with("fn m < 'life0 , 'async_trait > (& 'life0 mut self"),
            "{out}"
        );
        let (shim, future) = out
            .split_once("Box :: pin (async move { let mut __self = self ;")
            .expect("the block is still boxed");
        assert!(shim.contains("use circuit_breaker as _ ;"), "{out}");
        assert!(future.contains("let mut __failfast_retry"), "{out}");
        assert_eq!(out.matches("__self . n += a + b").count(), 1, "{out}");
        assert_eq!(out.matches("= self").count(), 1, "{out}");
        assert!(future.contains("MethodSite"), "{out}");
        // A fallback would be given `__arg2`, the name async-trait gave `(a, b)`: the
        // error is about the pattern as written.
        let out = expand_str(
            Attr::CircuitBreaker,
            quote!(fallback = stale),
            func.to_token_stream(),
        );
        assert!(
            out.contains("needs a plain name for each parameter"),
            "{out}"
        );
    }

    #[test]
    fn async_blocks_own_by_value_parameters() {
        let out = expand_str(
            Attr::CircuitBreaker,
            quote!(),
            quote! {
                #[retry] #[timeout("1s")]
                async fn f(&mut self, mut a: String, b: &str) -> Result<(), E> { Ok(()) }
            },
        );
        // The block of the retry, inside the breaker's, owns `a` (not `&a`), so the future
        // is `Send` when `String` is; each attempt's copy is made before its block, and the
        // body keeps the `mut`. Neither `self` nor the reference is moved.
        let p = ":: failfast :: __private ::";
        let retry_block = out.find("async { let a = a ; ").expect(&out);
        let copy = out
            .find(&format!("let mut a = {p} clone_for_retry (& a) ;"))
            .expect(&out);
        let attempt = out.find("scope_async (async {").expect(&out);
        let body = out.find("async { let mut a = a ;").expect(&out);
        assert!(
            retry_block < copy && copy < attempt && attempt < body,
            "{out}"
        );
        assert!(
            !out.contains("let b = b") && !out.contains("= self"),
            "{out}"
        );
        assert!(
            out.contains("# [allow (unused_mut)] mut a : String"),
            "{out}"
        );
    }

    #[test]
    fn body_is_emitted_once() {
        for attr in [Attr::Retry, Attr::CircuitBreaker] {
            let out = expand_str(
                attr,
                quote!(),
                quote! {
                    #[retry] #[circuit_breaker("b", enabled = flag(), fallback = fb)] #[timeout("1s")]
                    async fn f(&self, a: String) -> Result<(), E> { unique_marker(); Ok(()) }
                },
            );
            assert_eq!(out.matches("unique_marker").count(), 1, "{out}");
        }
    }
}
