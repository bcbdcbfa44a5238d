//! Code generation: one fn per layer.
//!
//! The fn keeps its signature token for token; only its block is replaced. The user's
//! block is emitted exactly once, innermost, inside a non-`move` closure (sync) or async
//! block (async), so `return` and `?` leave the body only and every layer sees the result.
//! Each layer is an expression of the fn's return type wrapping the one below it.
//! Temporaries are `__failfast_*` identifiers on `Span::mixed_site()`, which user code can
//! neither see nor shadow; every path starts at `::failfast::__private` (or the
//! `crate = path` override).

use crate::ast::{
    Breaker, BudgetArg, Dur, Layer, LayerKind, Predicate, Retry, RetryAfterArg, Timeout, WindowArg,
};
use crate::boxed::Boxed;
use crate::signature::FnSig;
use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, LitInt, Path};

/// What the layers share: the fn's shape.
struct Cx<'a> {
    sig: FnSig<'a>,
    is_async: bool,
    /// The return type with `impl Trait` erased, for `let` annotations.
    ret: syn::Type,
    /// How the body names the receiver: `self`, or the name a boxed async block moved it
    /// into (`__self`).
    receiver: Option<TokenStream>,
}

/// The expression a layer wraps.
enum Inner {
    /// The user's body, still a callable: `|| { .. }` or `async { .. }`.
    Body(TokenStream),
    /// An expression of the return type (may `.await`).
    Expr(TokenStream),
    /// A future of the return type (async only), and the span of its `.await`.
    Future(TokenStream, Span),
}

impl Inner {
    /// An expression of the return type.
    fn expr(self, cx: &Cx) -> TokenStream {
        match self {
            Inner::Body(body) if cx.is_async => quote!(#body.await),
            Inner::Body(body) => quote!((#body)()),
            Inner::Expr(expr) => expr,
            Inner::Future(future, span) => quote_spanned!(span=> #future.await),
        }
    }

    /// A closure (sync) or a future (async) producing the return type.
    fn callable(self, cx: &Cx) -> TokenStream {
        match self {
            Inner::Body(body) | Inner::Future(body, _) => body,
            Inner::Expr(expr) if cx.is_async => {
                let owned = take_owned(cx, false);
                quote!(async { #owned #expr })
            }
            Inner::Expr(expr) => quote!(|| #expr),
        }
    }
}

/// `let x = x;` for each parameter taken by value, at the top of a generated async block:
/// the block owns them (each attempt's copy under a retry), as the fn's own future would.
/// Borrowed from outside, a parameter that is `Send` but not `Sync` would make the whole
/// future not `Send`, which an `#[async_trait]` method or a spawned task requires. The
/// receiver stays borrowed (every attempt reborrows it). `keep_mut`: the binding keeps
/// the parameter's `mut`, for the user's body.
fn take_owned(cx: &Cx, keep_mut: bool) -> TokenStream {
    cx.sig
        .owned_bindings()
        .into_iter()
        .map(|binding| {
            let ident = binding.ident;
            let mutability = (keep_mut && binding.mutable).then(|| quote!(mut));
            quote!(let #mutability #ident = #ident;)
        })
        .collect()
}

/// The annotated fn, expanded; `boxed`: its body is a boxed async block
/// (`#[async_trait]`), whose body the layers wrap instead.
pub(crate) fn function(func: &ItemFn, boxed: Option<&Boxed>, layers: &[Layer]) -> TokenStream {
    let ItemFn {
        attrs, vis, block, ..
    } = func;
    let mut sig = func.sig.clone();
    let (outer, inner): (Vec<_>, Vec<_>) = attrs
        .iter()
        .partition(|attr| matches!(attr.style, syn::AttrStyle::Outer));

    // A retry clones by-value parameters per attempt, a fallback answering failures once
    // per call.
    let cloned = layers.iter().any(|layer| match &layer.kind {
        LayerKind::Retry(_) => true,
        LayerKind::Breaker(breaker) => breaker.fallback_on_failure,
        LayerKind::Timeout(_) => false,
    });
    let shape = FnSig::of(func, boxed);
    let is_async = shape.is_async();
    let body = {
        let receiver = match boxed.and_then(Boxed::receiver) {
            Some(alias) => Some(alias.to_token_stream()),
            None => shape
                .receiver()
                .map(|receiver| receiver.self_token.to_token_stream()),
        };
        let cx = Cx {
            is_async,
            ret: shape.anchor_type(),
            sig: shape,
            receiver,
        };
        let stmts = match boxed {
            Some(boxed) => boxed.body(),
            None => block.stmts.clone(),
        };
        let mut inner_expr = Inner::Body(body(&stmts, &cx));
        for (index, layer) in layers.iter().enumerate().rev() {
            let outside = &layers[..index];
            let inside = &layers[index + 1..];
            inner_expr = match &layer.kind {
                LayerKind::Breaker(breaker) => {
                    let in_retry = outside
                        .iter()
                        .any(|layer| matches!(layer.kind, LayerKind::Retry(_)));
                    Inner::Expr(self::breaker(breaker, layer, in_retry, &cx, inner_expr))
                }
                LayerKind::Retry(retry) => {
                    let breaker_inside = inside
                        .iter()
                        .take_while(|layer| !matches!(layer.kind, LayerKind::Retry(_)))
                        .any(|layer| matches!(layer.kind, LayerKind::Breaker(_)));
                    Inner::Expr(self::retry(retry, layer, breaker_inside, &cx, inner_expr))
                }
                LayerKind::Timeout(timeout) => {
                    let span = cx.sig.return_span();
                    Inner::Future(self::timeout(timeout, layer, &cx, inner_expr), span)
                }
            };
        }
        inner_expr.expr(&cx)
    };
    if cloned || is_async {
        allow_unused_mut_on_moved_params(&mut sig);
    }
    let body = match boxed {
        Some(boxed) => boxed.rebuild(body),
        None => body,
    };

    quote! {
        #(#outer)*
        #vis #sig {
            #(#inner)*
            #body
        }
    }
}

/// The user's block behind a typed "return edge": an unreachable `return` of the
/// declared type comes first, so the closure or async block takes the fn's return type
/// before the body is checked, and a mismatch is reported in the body against the
/// user's return type (not at the attribute).
fn body(stmts: &[syn::Stmt], cx: &Cx) -> TokenStream {
    let ret = &cx.ret;
    let anchor = Ident::new("__failfast_anchor", Span::mixed_site());
    let edge = quote_spanned! {cx.sig.return_span()=>
        #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::empty_loop)]
        if false {
            let #anchor: #ret = loop {};
            return #anchor;
        }
    };
    // The block's statements, not the block: `{ { Ok(x) } }` would trip `unused_braces`
    // on the user's own braces.
    if cx.is_async {
        let owned = take_owned(cx, true);
        quote!(async { #owned #edge #(#stmts)* })
    } else {
        quote!(|| { #edge #(#stmts)* })
    }
}

/// `#[circuit_breaker]`: ask the breaker, run the inner layers under a permit that
/// records the outcome, or answer with the fallback / `Err(E::from(Error::Open))`.
fn breaker(b: &Breaker, layer: &Layer, in_retry: bool, cx: &Cx, inner: Inner) -> TokenStream {
    let p = private(&layer.krate, Span::call_site());
    let site = Ident::new("__FAILFAST_SITE", Span::mixed_site());
    let breaker = Ident::new("__failfast_breaker", Span::mixed_site());
    let open = Ident::new("__failfast_open", Span::mixed_site());
    let rejected = Ident::new("__failfast_rejected", Span::mixed_site());
    let method = cx.sig.sig.ident.to_string();

    // The default name of a method is `module::Type::method` with `Self`'s type: one site
    // per type `Self` stands for, since in a trait's default body (or a blanket impl) one
    // fn serves every implementing type, each with its own breaker.
    let self_type = quote!(#p::core::any::type_name::<Self>());
    let (site_type, site_of, name) = match (&b.name, cx.sig.receiver()) {
        (Some(name), _) => (quote!(Site), quote!(), quote!(#p::Name::Static(#name))),
        (None, Some(_)) => (
            quote!(MethodSite),
            quote!(.of(#self_type)),
            quote! {
                #p::Name::Method {
                    self_type: #self_type,
                    method: #method,
                }
            },
        ),
        (None, None) => (
            quote!(Site),
            quote!(),
            quote! {
                #p::Name::Static(#p::core::concat!(#p::core::module_path!(), "::", #method))
            },
        ),
    };
    let failures = b.failures.iter();
    let failure_rate = b.failure_rate.iter();
    let window = b.window.iter().map(|window| match window {
        WindowArg::Calls(calls) => quote!(#p::Window::Calls(#calls)),
        WindowArg::Time(time) => {
            let time = duration(time, &p);
            quote!(#p::Window::Time(#time))
        }
        WindowArg::Expr(expr) => {
            let p = private(&layer.krate, expr.span());
            quote_spanned!(expr.span()=> #p::window(#expr))
        }
    });
    let min_calls = b.min_calls.iter();
    let slow = b.slow.iter().map(|slow| duration(slow, &p));
    let slow_rate = b.slow_rate.iter();
    let reset = b.reset.iter().map(|reset| duration(reset, &p));
    let reset_max = b.reset_max.iter().map(|max| duration(max, &p));
    let probes = b.probes.iter();
    let probe_timeout = b.probe_timeout.iter().map(|timeout| duration(timeout, &p));
    let mode = b.mode.iter();
    let config = quote! {
        #p::BreakerConfig::new()
            #(.failures(#failures))*
            #(.failure_rate(#failure_rate))*
            #(.window(#window))*
            #(.min_calls(#min_calls))*
            #(.slow(#slow))*
            #(.slow_rate(#slow_rate))*
            #(.reset(#reset))*
            #(.reset_max(#reset_max))*
            #(.probes(#probes))*
            #(.probe_timeout(#probe_timeout))*
            #(.mode(#p::Mode::#mode))*
    };
    let is_failure = predicate(b.is_failure.as_ref(), &p, 1);
    let call = inner.callable(cx);
    // Registered on the first call, with `store = expr` evaluated then (once), spanned on
    // the user's expression so a value that is no store is reported there.
    let register = match &b.store {
        None => quote!(#site #site_of.breaker(|| (#name, #config))),
        Some(store) => {
            let span = store.span();
            let p = private(&layer.krate, span);
            let store = quote_spanned!(span=> #p::store(#store));
            quote!(#site #site_of.breaker_with_store(|| (#name, #config, #store)))
        }
    };
    let site_and_breaker = quote! {
        static #site: #p::#site_type = #p::#site_type::new();
        let #breaker = #register;
    };
    let mark = in_retry.then(|| quote!(#rejected = true;));
    let (run_sync, run_async) = if b.fallback_on_failure {
        ("run_sync_judged", "run_async_judged")
    } else {
        ("run_sync", "run_async")
    };
    let (run_sync, run_async) = (
        Ident::new(run_sync, Span::call_site()),
        Ident::new(run_async, Span::call_site()),
    );
    let run = |permit: &Ident, call: &dyn ToTokens| {
        if cx.is_async {
            quote!(#p::#run_async(#permit, #is_failure, #call).await)
        } else {
            quote!(#p::#run_sync(#permit, #is_failure, #call))
        }
    };
    let fallback = b
        .fallback
        .as_ref()
        .map(|fallback| fallback_call(fallback, cx));
    if !b.fallback_on_failure {
        // The block's value is the call's result, or the rejection's answer.
        let (open_pattern, on_open) = match fallback {
            Some(fallback) => (quote!(_), fallback),
            None => {
                let p = private(&layer.krate, cx.sig.return_span());
                (
                    quote!(#open),
                    quote_spanned!(cx.sig.return_span()=> #p::rejected(#open)),
                )
            }
        };
        let gate = Gate {
            site_and_breaker,
            reject: (open_pattern, quote!(#mark #on_open)),
            clones: Vec::new(),
            run: &run,
            plain: &|call| call,
        };
        return gate.expand(b.enabled.as_ref(), layer, cx, call);
    }
    // `fallback_on = "failure"`: the block's value is `Some(result)`, or `None` when the
    // call was rejected or failed (the judged runs say which); the fallback, written once,
    // answers the `None`. By-value parameters are cloned for the call, so the fallback
    // gets the originals.
    let outcome = Ident::new("__failfast_outcome", Span::mixed_site());
    let (some, none) = (
        quote!(#p::core::option::Option::Some),
        quote!(#p::core::option::Option::None),
    );
    let gate = Gate {
        site_and_breaker,
        reject: (quote!(_), quote!(#mark #none)),
        clones: clones(cx, layer, "clone_for_fallback"),
        run: &run,
        plain: &|call| quote!(#some(#call)),
    };
    let decided = gate.expand(b.enabled.as_ref(), layer, cx, call);
    let ret = &cx.ret;
    // `fallback_on` is only kept with a `fallback` (validate.rs): `fallback` is `Some`.
    quote! {{
        let #outcome: #p::core::option::Option<#ret> = #decided;
        match #outcome {
            #some(#outcome) => #outcome,
            #none => #fallback,
        }
    }}
}

/// A breaker's block: ask for a permit, run the call under it, or answer a rejection.
struct Gate<'a> {
    /// The breaker's `static` site and the lookup of the breaker in it.
    site_and_breaker: TokenStream,
    /// The rejection's pattern, and the block's value then.
    reject: (TokenStream, TokenStream),
    /// Statements before the call is made (copies of the parameters).
    clones: Vec<TokenStream>,
    /// The block's value with a permit, from the permit and the callable.
    run: &'a dyn Fn(&Ident, &dyn ToTokens) -> TokenStream,
    /// The block's value from the call's, when there is no breaker (`enabled = false`).
    plain: &'a dyn Fn(TokenStream) -> TokenStream,
}

impl Gate<'_> {
    fn expand(
        self,
        enabled: Option<&syn::Expr>,
        layer: &Layer,
        cx: &Cx,
        call: TokenStream,
    ) -> TokenStream {
        let p = private(&layer.krate, Span::call_site());
        let breaker = Ident::new("__failfast_breaker", Span::mixed_site());
        let permit = Ident::new("__failfast_permit", Span::mixed_site());
        let Gate {
            site_and_breaker,
            reject: (pattern, rejected),
            clones,
            run,
            plain,
        } = self;
        let Some(enabled) = enabled else {
            let run = run(&permit, &call);
            return quote! {{
                #site_and_breaker
                match #breaker.acquire() {
                    #p::core::result::Result::Ok(#permit) => {
                        #(#clones)*
                        #run
                    }
                    #p::core::result::Result::Err(#pattern) => {
                        #rejected
                    }
                }
            }};
        };
        // `enabled = expr`: decide on a permit first (a rejection leaves the block early),
        // then run the body once, with or without a permit. A disabled breaker is not even
        // registered: the attribute is a pass-through.
        let label = syn::Lifetime {
            apostrophe: Span::mixed_site(),
            ident: Ident::new("__failfast_breaker", Span::mixed_site()),
        };
        let held = format_ident!("__failfast_held", span = Span::mixed_site());
        let body = Ident::new("__failfast_body", Span::mixed_site());
        let run = run(&held, &body);
        let plain = plain(if cx.is_async {
            quote!(#body.await)
        } else {
            // A closure that mutates what it captures is `FnMut`: calling it needs a `mut`
            // binding, which is unused for every other closure.
            quote!({
                #[allow(unused_mut)]
                let mut #body = #body;
                #body()
            })
        });
        let enabled = {
            let span = enabled.span();
            let p = private(&layer.krate, span);
            quote_spanned!(span=> #p::enabled(#enabled))
        };
        quote! {
            #label: {
                let #permit = if #enabled {
                    #site_and_breaker
                    match #breaker.acquire() {
                        #p::core::result::Result::Ok(#permit) => #p::core::option::Option::Some(#permit),
                        #p::core::result::Result::Err(#pattern) => break #label { #rejected },
                    }
                } else {
                    #p::core::option::Option::None
                };
                #(#clones)*
                let #body = #call;
                match #permit {
                    #p::core::option::Option::Some(#held) => #run,
                    #p::core::option::Option::None => #plain,
                }
            }
        }
    }
}

/// `let x = clone(&x);` for each parameter taken by value, spanned on it, through the
/// private fn `helper` (whose bound explains why the parameter must be `Clone`).
fn clones(cx: &Cx, layer: &Layer, helper: &str) -> Vec<TokenStream> {
    let helper = Ident::new(helper, Span::call_site());
    cx.sig
        .owned_bindings()
        .into_iter()
        .map(|binding| {
            let ident = binding.ident;
            let mutability = binding.mutable.then(|| quote!(mut));
            let p = private(&layer.krate, binding.span);
            let helper = respan(quote!(#p::#helper), binding.span);
            quote_spanned!(binding.span=> let #mutability #ident = #helper(&#ident);)
        })
        .collect()
}

/// The fallback, called with the same receiver and arguments (`.await`ed on an async
/// fn), spanned on the user's path so a signature mismatch is reported there.
fn fallback_call(path: &Path, cx: &Cx) -> TokenStream {
    let span = path.span();
    let receiver = cx.receiver.as_ref();
    let args = cx
        .sig
        .params()
        .filter_map(|param| crate::signature::plain_name(&param.pat));
    // The arguments are located at the path too, so an arity or type mismatch is
    // reported on `fallback = path` alone; they keep call-site hygiene, so they still
    // name the parameters, and rustc offers no edit of generated tokens.
    let at_path = Span::call_site().located_at(span);
    let args = receiver
        .into_iter()
        .map(|tokens| respan(tokens.clone(), at_path))
        .chain(args.map(|ident| respan(ident.to_token_stream(), at_path)));
    let callee = if receiver.is_some() && path.leading_colon.is_none() && path.segments.len() == 1 {
        quote_spanned!(span=> Self::#path)
    } else {
        quote!(#path)
    };
    let wait = cx.is_async.then(|| quote_spanned!(at_path=> .await));
    quote_spanned!(span=> #callee(#(#args),*) #wait)
}

/// `#[timeout]`: the inner layers as a future raced against the clock (a future, not
/// awaited here, so the layer outside can take it as is).
fn timeout(t: &Timeout, layer: &Layer, cx: &Cx, inner: Inner) -> TokenStream {
    let p = private(&layer.krate, cx.sig.return_span());
    let after = duration(&t.after, &private(&layer.krate, Span::call_site()));
    let future = inner.callable(cx);
    quote_spanned!(cx.sig.return_span()=> #p::timeout(#after, #future))
}

/// `#[retry]`: a loop that runs the inner layers, asks the stepper whether to go again,
/// and waits. By-value parameters are cloned for each attempt.
fn retry(r: &Retry, layer: &Layer, breaker_inside: bool, cx: &Cx, inner: Inner) -> TokenStream {
    let p = private(&layer.krate, Span::call_site());
    let policy = Ident::new("__failfast_policy", Span::mixed_site());
    let stepper = Ident::new("__failfast_retry", Span::mixed_site());
    let result = Ident::new("__failfast_result", Span::mixed_site());
    let wait = Ident::new("__failfast_wait", Span::mixed_site());
    let rejected = Ident::new("__failfast_rejected", Span::mixed_site());
    let ret = &cx.ret;

    let attempts = r.attempts.iter();
    let delay = r.delay.iter().map(|d| duration(d, &p));
    let factor = r.factor.iter();
    let max_delay = r.max_delay.iter().map(|d| duration(d, &p));
    let jitter = r.jitter.iter().map(|j| quote!(#p::Jitter::#j));
    let deadline = r.deadline.iter().map(|d| duration(d, &p));
    let retry_if = predicate(r.retry_if.as_ref(), &p, 1);
    let on_retry = match &r.on_retry {
        Some(hook) => predicate(Some(hook), &p, 2),
        None => quote!(#p::no_hook),
    };
    let (flag, stop) = if breaker_inside {
        (quote!(let mut #rejected = false;), quote!(#rejected))
    } else {
        (quote!(), quote!(false))
    };
    // The common case asks `Retry::next`; `retry_if_ok` or `retry_after` need the rules
    // of `Retry::next_with`, passed through a private fn so that closures written in
    // place get their parameter types from the result (closure arguments are checked
    // after the others).
    let decide = if r.retry_if_ok.is_some() || r.retry_after.is_some() {
        let retry_if_ok = match &r.retry_if_ok {
            Some(user) => predicate(Some(user), &p, 1),
            None => quote!(#p::never_ok),
        };
        let retry_after = match &r.retry_after {
            Some(RetryAfterArg::Fn(user)) => predicate(Some(user), &p, 1),
            Some(RetryAfterArg::Trait(span)) => {
                // A closure, so the missing impl is reported once, on the key, and not
                // again where the fn item would have to implement `Fn`.
                let p = private(&layer.krate, *span);
                let error = Ident::new("__failfast_error", *span);
                quote_spanned!(*span=> |#error: &_| #p::error_retry_after(#error))
            }
            None => quote!(#p::no_retry_after),
        };
        quote! {
            #p::next_with(
                &mut #stepper, &#result, #stop, #retry_if, #retry_if_ok, #retry_after, #on_retry,
            )
        }
    } else {
        quote!(#stepper.next(&#result, #stop, #retry_if, #on_retry))
    };
    // The budget: the process-wide default unless named; a named one is looked up once
    // per call site.
    let budget_site = Ident::new("__FAILFAST_BUDGET", Span::mixed_site());
    let (budget_static, budget) = match &r.budget {
        None => (quote!(), quote!()),
        Some(BudgetArg::None) => (quote!(), quote!(.budget(#p::core::option::Option::None))),
        Some(BudgetArg::Named(name)) => (
            quote!(static #budget_site: #p::BudgetSite = #p::BudgetSite::new();),
            quote!(.budget(#p::core::option::Option::Some(#budget_site.budget(#name)))),
        ),
    };

    // Each attempt runs in the loop's scope, so a retry loop below it on the same budget
    // does not deposit a second time for the same request. Its copies of the parameters
    // are made before, so that the attempt owns them.
    let attempt = inner.expr(cx);
    let attempt = if cx.is_async {
        quote!(#stepper.scope_async(async { #attempt }).await)
    } else {
        quote!(#stepper.scope(|| #attempt))
    };
    let clones = clones(cx, layer, "clone_for_retry");
    let attempt = if clones.is_empty() {
        attempt
    } else {
        quote!({ #(#clones)* #attempt })
    };
    let sleep = if cx.is_async {
        quote!(#p::sleep(#wait).await)
    } else {
        quote!(#p::sleep_sync(#wait))
    };
    quote! {{
        let #policy = #p::RetryPolicy::new()
            #(.attempts(#attempts))*
            #(.delay(#delay))*
            #(.factor(#factor))*
            #(.max_delay(#max_delay))*
            #(.jitter(#jitter))*
            #(.deadline(#deadline))*;
        #budget_static
        let mut #stepper = #p::Retry::new(&#policy) #budget;
        loop {
            #flag
            let #result: #ret = #attempt;
            match #decide {
                #p::core::option::Option::Some(#wait) => #sleep,
                #p::core::option::Option::None => break #result,
            }
        }
    }}
}

/// A user predicate as a closure over references (`is_failure`, `retry_if`: one
/// argument; `on_retry`: two), or failfast's default "every error".
fn predicate(user: Option<&Predicate>, p: &TokenStream, arity: usize) -> TokenStream {
    match user {
        None => quote!(#p::every_error),
        Some(Predicate::Closure(closure)) => closure.to_token_stream(),
        Some(Predicate::Path(path)) => {
            // Located at the user's path, so a signature mismatch is reported there.
            let at_path = Span::mixed_site().located_at(path.span());
            let args: Vec<Ident> = (0..arity)
                .map(|i| format_ident!("__failfast_arg{}", i, span = at_path))
                .collect();
            let call = quote_spanned!(path.span()=> #path(#(#args),*));
            quote!(|#(#args: &_),*| #call)
        }
    }
}

/// A duration argument as an expression of type `Duration`.
fn duration(d: &Dur, p: &TokenStream) -> TokenStream {
    match d {
        Dur::Nanos(nanos, span) => {
            let nanos = LitInt::new(&format!("{nanos}u64"), *span);
            quote_spanned!(*span=> #p::core::time::Duration::from_nanos(#nanos))
        }
        Dur::Expr(expr) => expr.to_token_stream(),
    }
}

/// `<krate>::__private`, every token on `span`.
fn private(krate: &Path, span: Span) -> TokenStream {
    let tokens = quote!(#krate::__private);
    respan(tokens, span)
}

fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut new =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                new.set_span(span);
                token = TokenTree::Group(new);
            } else {
                token.set_span(span);
            }
            token
        })
        .collect()
}

/// A retried fn (or one whose fallback answers failures) reads its by-value parameters
/// only to clone them, and an async body moves them into its block, so a `mut` on the
/// parameter itself is unused (the copy or the moved binding carries the `mut`).
fn allow_unused_mut_on_moved_params(sig: &mut syn::Signature) {
    for arg in &mut sig.inputs {
        if let syn::FnArg::Typed(param) = arg {
            if matches!(*param.ty, syn::Type::Reference(_)) {
                continue;
            }
            if crate::signature::has_mut_binding(&param.pat) {
                param
                    .attrs
                    .push(syn::parse_quote_spanned!(Span::mixed_site()=> #[allow(unused_mut)]));
            }
        }
    }
}
