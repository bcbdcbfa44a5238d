//! A typed view of the annotated fn's signature: receiver, parameters, return type.

use crate::boxed::Boxed;
use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{FnArg, Ident, ItemFn, Pat, PatIdent, PatType, Receiver, ReturnType, Signature, Type};

/// Read-only questions about one signature.
pub(crate) struct FnSig<'a> {
    pub(crate) sig: &'a Signature,
    is_async: bool,
    /// The declared return type, or the output of a boxed async block.
    output: Option<&'a Type>,
}

/// One binding of a by-value parameter: a retried fn copies it per attempt, an async body
/// moves it into its block.
pub(crate) struct Binding<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) mutable: bool,
    /// Where a missing `Clone` is reported: the parameter's type.
    pub(crate) span: Span,
}

impl<'a> FnSig<'a> {
    pub(crate) fn new(sig: &'a Signature) -> Self {
        let output = match &sig.output {
            ReturnType::Type(_, ty) => Some(&**ty),
            ReturnType::Default => None,
        };
        FnSig {
            sig,
            is_async: sig.asyncness.is_some(),
            output,
        }
    }

    /// The signature of `func` as the attributes see it: a fn whose body is a boxed async
    /// block (`#[async_trait]`) is an async fn returning the block's output.
    pub(crate) fn of(func: &'a ItemFn, boxed: Option<&Boxed<'a>>) -> Self {
        match boxed {
            Some(boxed) => FnSig {
                sig: &func.sig,
                is_async: true,
                output: boxed.output(),
            },
            None => FnSig::new(&func.sig),
        }
    }

    pub(crate) fn is_async(&self) -> bool {
        self.is_async
    }

    pub(crate) fn receiver(&self) -> Option<&'a Receiver> {
        self.sig.receiver()
    }

    pub(crate) fn return_type(&self) -> Option<&'a Type> {
        self.output
    }

    /// The span type errors about the result are reported on: the return type, or the
    /// fn's name when there is none.
    pub(crate) fn return_span(&self) -> Span {
        self.return_type()
            .map_or_else(|| self.sig.ident.span(), Spanned::span)
    }

    /// The return type with every `impl Trait` replaced by `_`, usable in a `let`.
    pub(crate) fn anchor_type(&self) -> Type {
        let mut ty = self
            .return_type()
            .cloned()
            .unwrap_or_else(|| syn::parse_quote!(()));
        EraseImplTrait.visit_type_mut(&mut ty);
        ty
    }

    /// The parameters other than the receiver.
    pub(crate) fn params(&self) -> impl Iterator<Item = &'a PatType> + 'a {
        self.sig.inputs.iter().filter_map(|arg| match arg {
            FnArg::Typed(param) => Some(param),
            FnArg::Receiver(_) => None,
        })
    }

    /// The bindings a retried fn clones for each attempt: every by-value binding of a
    /// parameter whose type is not a reference.
    pub(crate) fn owned_bindings(&self) -> Vec<Binding<'a>> {
        let mut bindings = Vec::new();
        for param in self.params() {
            if matches!(strip(&param.ty), Type::Reference(_)) {
                continue;
            }
            let span = param.ty.span();
            collect_bindings(&param.pat, span, &mut bindings);
        }
        bindings
    }
}

/// `true` when `receiver` moves `self` into the call (`self`, `mut self`,
/// `self: Box<Self>`), as opposed to borrowing it.
pub(crate) fn receiver_by_value(receiver: &Receiver) -> bool {
    receiver.reference.is_none() && !matches!(strip(&receiver.ty), Type::Reference(_))
}

/// `true` for `Result<..>`, `io::Result<..>`, `ApiResult<..>`, ...: a path whose last
/// segment ends in `Result`.
pub(crate) fn is_result(ty: &Type) -> bool {
    match strip(ty) {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident.to_string().ends_with("Result")),
        _ => false,
    }
}

/// The parameter's plain name, when the pattern is just a name (`x`, `mut x`).
pub(crate) fn plain_name(pat: &Pat) -> Option<&Ident> {
    match pat {
        Pat::Ident(PatIdent {
            by_ref: None,
            subpat: None,
            ident,
            ..
        }) => Some(ident),
        _ => None,
    }
}

/// `true` when `pat` binds some name by value with `mut`.
pub(crate) fn has_mut_binding(pat: &Pat) -> bool {
    let mut bindings = Vec::new();
    collect_bindings(pat, Span::call_site(), &mut bindings);
    bindings.iter().any(|binding| binding.mutable)
}

fn strip(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => strip(&group.elem),
        Type::Paren(paren) => strip(&paren.elem),
        other => other,
    }
}

fn collect_bindings<'a>(pat: &'a Pat, span: Span, out: &mut Vec<Binding<'a>>) {
    match pat {
        Pat::Ident(binding) => {
            if binding.by_ref.is_none() {
                out.push(Binding {
                    ident: &binding.ident,
                    mutable: binding.mutability.is_some(),
                    span,
                });
            }
            if let Some((_, sub)) = &binding.subpat {
                collect_bindings(sub, span, out);
            }
        }
        Pat::Tuple(tuple) => {
            for elem in &tuple.elems {
                collect_bindings(elem, span, out);
            }
        }
        Pat::TupleStruct(tuple) => {
            for elem in &tuple.elems {
                collect_bindings(elem, span, out);
            }
        }
        Pat::Struct(strukt) => {
            for field in &strukt.fields {
                collect_bindings(&field.pat, span, out);
            }
        }
        Pat::Slice(slice) => {
            for elem in &slice.elems {
                collect_bindings(elem, span, out);
            }
        }
        Pat::Paren(paren) => collect_bindings(&paren.pat, span, out),
        Pat::Type(typed) => collect_bindings(&typed.pat, span, out),
        Pat::Reference(reference) => collect_bindings(&reference.pat, span, out),
        _ => {}
    }
}

struct EraseImplTrait;

impl VisitMut for EraseImplTrait {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(impl_trait) = ty {
            let span = impl_trait.impl_token.span;
            *ty = Type::Infer(syn::TypeInfer {
                underscore_token: syn::Token![_](span),
            });
            return;
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;

    fn sig(tokens: &str) -> Signature {
        syn::parse_str(tokens).unwrap()
    }

    #[test]
    fn result_types() {
        for ty in [
            "Result<u8, E>",
            "io::Result<()>",
            "std::io::Result<()>",
            "ApiResult<u8>",
            "(Result<u8, E>)",
        ] {
            assert!(is_result(&syn::parse_str(ty).unwrap()), "{ty}");
        }
        for ty in [
            "u8",
            "Option<u8>",
            "ResultSet",
            "&Result<u8, E>",
            "impl Future",
        ] {
            assert!(!is_result(&syn::parse_str(ty).unwrap()), "{ty}");
        }
    }

    #[test]
    fn anchor_erases_impl_trait() {
        let s = sig("fn f() -> Result<impl Iterator<Item = u8>, E>");
        let ty = FnSig::new(&s).anchor_type();
        assert_eq!(ty.to_token_stream().to_string(), "Result < _ , E >");
    }

    #[test]
    fn owned_bindings_skip_references() {
        let s = sig(
            "fn f(&self, a: String, mut b: Vec<u8>, c: &str, d: &mut u8, (e, ref f): (u8, u8), _: u8, g: impl Fn())",
        );
        let names: Vec<String> = FnSig::new(&s)
            .owned_bindings()
            .iter()
            .map(|b| format!("{}{}", if b.mutable { "mut " } else { "" }, b.ident))
            .collect();
        assert_eq!(names, ["a", "mut b", "e", "g"]);
    }

    #[test]
    fn receivers() {
        let by_value = |text: &str| {
            let s = sig(text);
            receiver_by_value(s.receiver().unwrap())
        };
        assert!(by_value("fn f(self)"));
        assert!(by_value("fn f(mut self)"));
        assert!(by_value("fn f(self: Box<Self>)"));
        assert!(!by_value("fn f(&self)"));
        assert!(!by_value("fn f(&mut self)"));
        assert!(!by_value("fn f(self: &Self)"));
    }
}
