//! Fns whose body is a boxed async block: what `#[async_trait]` makes of an `async fn`.
//!
//! `#[async_trait]` on an impl or a trait expands before the attributes on its methods, so
//! a failfast attribute there sees, instead of `async fn m(&self, x: X) -> Result<T, E>`:
//! ```text
//! fn m<'life0, 'async_trait>(&'life0 self, x: X)
//!     -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'async_trait>>
//! {
//!     Box::pin(async move {
//!         if let Some(__ret) = None::<Result<T, E>> { return __ret; }
//!         let __self = self;
//!         let x = x;
//!         let __ret: Result<T, E> = { /* the body, `self` written `__self` */ };
//!         __ret
//!     })
//! }
//! ```
//! Wrapping that fn would guard the making of the box, which never fails, and not the
//! work. So when the body ends in `Box::pin(async { .. })` (`move` or not) and the return
//! type is `Pin<Box<dyn Future<Output = X> ..>>`, the layers wrap the async block instead,
//! as if the fn were `async fn m(..) -> X` (tracing-attributes does the same). The
//! rebinding of the receiver (`let __self = self;`) stays outside the layers, so a retried
//! `&mut self` method does not move its receiver into the first attempt; every other
//! statement of the block is the body.

use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::punctuated::Punctuated;
use syn::token::Comma;
use syn::{
    Expr, ExprAsync, GenericArgument, ItemFn, Local, Pat, Path, PathArguments, Stmt, Type,
    TypeParamBound,
};

/// A fn whose body ends in `Box::pin(async move { .. })`, seen through the box.
pub(crate) struct Boxed<'a> {
    /// The future's output: the return type of the `async fn` as written.
    output: &'a Type,
    /// The statements of the fn's block before the `Box::pin(..)` (run when the future is
    /// made, outside the layers).
    before: &'a [Stmt],
    /// `Box::pin`, as written.
    boxing: &'a Expr,
    block: &'a ExprAsync,
    /// Which statement of the async block rebinds the receiver (`let __self = self;`).
    receiver: Option<usize>,
}

impl<'a> Boxed<'a> {
    /// The boxed async block of `func`, if its body and return type have that shape.
    pub(crate) fn detect(func: &'a ItemFn) -> Option<Self> {
        if func.sig.asyncness.is_some() {
            return None;
        }
        let syn::ReturnType::Type(_, ret) = &func.sig.output else {
            return None;
        };
        let output = future_output(ret)?;
        let (last, before) = func.block.stmts.split_last()?;
        let Stmt::Expr(Expr::Call(call), None) = last else {
            return None;
        };
        let is_box_pin = match &*call.func {
            Expr::Path(path) => {
                let segments = &path.path.segments;
                segments.len() >= 2
                    && segments[segments.len() - 1].ident == "pin"
                    && segments[segments.len() - 2].ident == "Box"
            }
            _ => false,
        };
        let (true, Some(Expr::Async(block)), 1) = (is_box_pin, call.args.first(), call.args.len())
        else {
            return None;
        };
        let stmts = &block.block.stmts;
        // The receiver's rebinding moves out of a `&mut self`: it is hoisted before the
        // layers, which is only the same program when no statement before it reads `self`.
        let receiver = stmts
            .iter()
            .position(|stmt| rebound_name(stmt).is_some())
            .filter(|&index| !stmts[..index].iter().any(mentions_self));
        Some(Boxed {
            output,
            before,
            boxing: &call.func,
            block,
            receiver,
        })
    }

    /// The future's output; `None` for `()`, the output of an `async fn` that returns
    /// nothing.
    pub(crate) fn output(&self) -> Option<&'a Type> {
        match self.output {
            Type::Tuple(unit) if unit.elems.is_empty() => None,
            output => Some(output),
        }
    }

    /// The name the block gives the receiver (`__self`), which the generated code uses
    /// instead of `self` (moved into it by then).
    pub(crate) fn receiver(&self) -> Option<&'a Ident> {
        let stmts = &self.block.block.stmts;
        self.receiver.and_then(|index| rebound_name(&stmts[index]))
    }

    /// The body the layers wrap: every statement of the async block but the receiver's
    /// rebinding.
    pub(crate) fn body(&self) -> Vec<Stmt> {
        let stmts = &self.block.block.stmts;
        stmts
            .iter()
            .enumerate()
            .filter(|(index, _)| Some(*index) != self.receiver)
            .map(|(_, stmt)| stmt.clone())
            .collect()
    }

    /// The pattern the user wrote for the parameter `#[async_trait]` renamed `param`
    /// (`(a, b): (u8, u8)` becomes `__arg1: (u8, u8)` and, in the block,
    /// `let (a, b) = { let __arg1 = __arg1; __arg1 };`).
    pub(crate) fn pattern_of(&self, param: &Ident) -> Option<&'a Pat> {
        self.block.block.stmts.iter().find_map(|stmt| match stmt {
            Stmt::Local(Local {
                pat,
                init: Some(init),
                ..
            }) => match &*init.expr {
                Expr::Block(block) => match block.block.stmts.last() {
                    Some(Stmt::Expr(Expr::Path(tail), None)) if tail.path.is_ident(param) => {
                        Some(pat)
                    }
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        })
    }

    /// The fn's block again, with `wrapped` (an expression of the output type that may
    /// `.await`) in place of the async block's body.
    pub(crate) fn rebuild(&self, wrapped: TokenStream) -> TokenStream {
        let Boxed {
            before,
            boxing,
            block,
            ..
        } = self;
        let ExprAsync {
            attrs,
            async_token,
            capture,
            ..
        } = block;
        let receiver = self.receiver.map(|index| &block.block.stmts[index]);
        quote! {
            #(#before)*
            #boxing(#(#attrs)* #async_token #capture {
                #receiver
                #wrapped
            })
        }
    }
}

/// `X` of `Pin<Box<dyn Future<Output = X> + ..>>`, the paths written in any form.
fn future_output(ty: &Type) -> Option<&Type> {
    let boxed = only_type_argument(ty, "Pin")?;
    let Type::TraitObject(object) = only_type_argument(boxed, "Box")? else {
        return None;
    };
    object.bounds.iter().find_map(|bound| match bound {
        TypeParamBound::Trait(bound) => {
            arguments(&bound.path, "Future")?
                .iter()
                .find_map(|arg| match arg {
                    GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(&assoc.ty),
                    _ => None,
                })
        }
        _ => None,
    })
}

/// `T` of `name<T>` (`Pin<T>`, `::core::pin::Pin<T>`).
fn only_type_argument<'t>(ty: &'t Type, name: &str) -> Option<&'t Type> {
    let Type::Path(path) = ty else {
        return None;
    };
    let args = arguments(&path.path, name)?;
    match (args.first(), args.len()) {
        (Some(GenericArgument::Type(ty)), 1) => Some(ty),
        _ => None,
    }
}

/// The generic arguments of `path` when its last segment is `name<..>`.
fn arguments<'p>(path: &'p Path, name: &str) -> Option<&'p Punctuated<GenericArgument, Comma>> {
    match &path
        .segments
        .last()
        .filter(|last| last.ident == name)?
        .arguments
    {
        PathArguments::AngleBracketed(args) => Some(&args.args),
        _ => None,
    }
}

/// `__self` of `let __self = self;` (or `let mut __self = self;`).
fn rebound_name(stmt: &Stmt) -> Option<&Ident> {
    let Stmt::Local(Local {
        pat: Pat::Ident(binding),
        init: Some(init),
        ..
    }) = stmt
    else {
        return None;
    };
    match (&*init.expr, &init.diverge, &binding.subpat) {
        (Expr::Path(path), None, None) if path.qself.is_none() && path.path.is_ident("self") => {
            Some(&binding.ident)
        }
        _ => None,
    }
}

/// `true` when the statement names `self` anywhere, macro arguments included.
fn mentions_self(stmt: &Stmt) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|token| match token {
            TokenTree::Ident(ident) => ident == "self",
            TokenTree::Group(group) => walk(group.stream()),
            _ => false,
        })
    }
    walk(stmt.to_token_stream())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn func(tokens: TokenStream) -> ItemFn {
        syn::parse2(tokens).unwrap()
    }

    /// What async-trait 0.1.92 makes of `async fn m(&mut self, x: String, (a, b): (u8, u8))
    /// -> Result<u8, E>`.
    pub(crate) fn async_trait_output() -> ItemFn {
        func(quote! {
            fn m<'life0, 'async_trait>(&'life0 mut self, x: String, __arg2: (u8, u8))
                -> ::core::pin::Pin<Box<dyn ::core::future::Future<Output = Result<u8, E>>
                    + ::core::marker::Send + 'async_trait>>
            where 'life0: 'async_trait, Self: 'async_trait
            {
                Box::pin(async move {
                    if let ::core::option::Option::Some(__ret) =
                        ::core::option::Option::None::<Result<u8, E>>
                    {
                        #[allow(unreachable_code)]
                        return __ret;
                    }
                    let mut __self = self;
                    let x = x;
                    let (a, b) = { let __arg2 = __arg2; __arg2 };
                    let __ret: Result<u8, E> = { __self.n += a + b; Ok(x.len() as u8) };
                    #[allow(unreachable_code)]
                    __ret
                })
            }
        })
    }

    #[test]
    fn async_trait_shape() {
        let func = async_trait_output();
        let boxed = Boxed::detect(&func).expect("detected");
        assert_eq!(
            boxed.output().unwrap().to_token_stream().to_string(),
            "Result < u8 , E >"
        );
        assert_eq!(boxed.receiver().unwrap(), "__self");
        let body = boxed.body();
        assert_eq!(body.len(), 5);
        assert!(!quote!(#(#body)*).to_string().contains("= self"));
        let arg: Ident = syn::parse_quote!(__arg2);
        let pat = boxed.pattern_of(&arg).unwrap();
        assert_eq!(pat.to_token_stream().to_string(), "(a , b)");
        let x: Ident = syn::parse_quote!(x);
        assert!(boxed.pattern_of(&x).is_none());
        let rebuilt = boxed.rebuild(quote!(wrapped)).to_string();
        assert_eq!(
            rebuilt,
            "Box :: pin (async move { let mut __self = self ; wrapped })"
        );
    }

    #[test]
    fn other_shapes() {
        // Hand-written, with a statement before the box and a non-`move` block.
        let f = func(quote! {
            fn m(&self) -> Pin<Box<dyn Future<Output = ()> + '_>> {
                let n = 1;
                std::boxed::Box::pin(async { let _ = n; })
            }
        });
        let boxed = Boxed::detect(&f).expect("detected");
        assert!(boxed.output().is_none());
        assert!(boxed.receiver().is_none());
        assert_eq!(
            boxed.rebuild(quote!(w)).to_string(),
            "let n = 1 ; std :: boxed :: Box :: pin (async { w })"
        );
        // `self` read before its rebinding: nothing is hoisted.
        let f = func(quote! {
            fn m(&mut self) -> Pin<Box<dyn Future<Output = u8> + '_>> {
                Box::pin(async move { self.n += 1; let me = self; me.n })
            }
        });
        assert!(Boxed::detect(&f).unwrap().receiver().is_none());
        for not_boxed in [
            quote!(
                async fn m(&self) -> Pin<Box<dyn Future<Output = u8>>> {
                    Box::pin(async {})
                }
            ),
            quote!(
                fn m(&self) -> Pin<Box<dyn Future<Output = u8>>> {
                    Box::pin(ready(1))
                }
            ),
            quote!(
                fn m(&self) -> Pin<Box<dyn Future<Output = u8>>> {
                    Box::pin(async {});
                }
            ),
            quote!(
                fn m(&self) -> BoxFuture<'_, u8> {
                    Box::pin(async { 1 })
                }
            ),
            quote!(
                fn m(&self) -> Pin<Box<dyn Stream<Item = u8>>> {
                    Box::pin(async { 1 })
                }
            ),
            quote!(
                fn m(&self) -> Pin<Box<dyn Future<Output = u8>>> {
                    pin(async { 1 })
                }
            ),
            quote!(
                fn m(&self) -> Pin<Box<dyn Future<Output = u8>>> {}
            ),
            quote!(
                fn m(&self) {}
            ),
        ] {
            assert!(
                Boxed::detect(&func(not_boxed.clone())).is_none(),
                "{not_boxed}"
            );
        }
    }
}
