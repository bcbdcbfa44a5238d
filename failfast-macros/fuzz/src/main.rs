//! AFL++ harness of the attributes: the input picks an attribute and a fn, and the rest of
//! it is the attribute's arguments (or arguments, then a NUL byte, then the item), lexed as
//! the compiler would hand them over. The expansion must not panic; it is a fn that parses,
//! or compile errors that each have a message and sit on a token of the input or on the
//! attribute. The text is also given to the duration parser as it is.
//!
//! The macro crate is a `proc-macro` crate, which exports only its macros, so its modules
//! are compiled in here from `../src` as they are.

#![allow(dead_code)]

#[path = "../../src/args.rs"]
mod args;
#[path = "../../src/ast.rs"]
mod ast;
#[path = "../../src/boxed.rs"]
mod boxed;
#[path = "../../src/duration.rs"]
mod duration;
#[path = "../../src/errors.rs"]
mod errors;
#[path = "../../src/expand.rs"]
mod expand;
#[path = "../../src/signature.rs"]
mod signature;
#[path = "../../src/stack.rs"]
mod stack;
#[path = "../../src/suggest.rs"]
mod suggest;
#[path = "../../src/validate.rs"]
mod validate;
#[path = "../../src/value.rs"]
mod value;

use args::Attr;
use proc_macro2::TokenStream;
use stack::{Rejected, try_expand};
use std::str::FromStr;

/// The fns the attributes are put on; the last entry means "the item follows the NUL byte".
const ITEMS: &[&str] = &[
    "fn f(x: String) -> Result<u32, E> { Ok(1) }",
    "async fn f(x: String, y: &str) -> Result<u32, E> { Ok(1) }",
    "fn m(&self, a: u8) -> Result<(), E> { Ok(()) }",
    "async fn m(&mut self, (a, b): (u8, u8)) -> Result<(), E> { Ok(()) }",
    "fn m<'life0, 'async_trait>(&'life0 mut self, x: String) -> ::core::pin::Pin<Box<dyn \
     ::core::future::Future<Output = Result<u8, E>> + ::core::marker::Send + 'async_trait>> \
     where 'life0: 'async_trait, Self: 'async_trait { Box::pin(async move { let mut __self = \
     self; let x = x; let __ret: Result<u8, E> = { Ok(x.len() as u8) }; __ret }) }",
    "async fn v(self) -> Result<(), E> { Ok(()) }",
    "fn nothing() {}",
    "",
];

fn one(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let _ = duration::parse(text);
    let attr = Attr::ALL[usize::from(selector % 3)];
    let (args, item) = match ITEMS[usize::from(selector / 3) % ITEMS.len()] {
        "" => text.split_once('\0').unwrap_or((text, "")),
        item => (text, item),
    };
    let (Ok(args), Ok(item)) = (TokenStream::from_str(args), TokenStream::from_str(item)) else {
        return;
    };
    check(attr, args, item);
    // The spans of one input point into its text, which proc-macro2 keeps for as long as
    // the thread lives: forget it, or a long run grows without bound.
    proc_macro2::extra::invalidate_current_thread_spans();
}

/// As `check` in `src/fuzz.rs`, with panics for failures.
fn check(attr: Attr, args: TokenStream, item: TokenStream) {
    match try_expand(attr, args.clone(), item.clone()) {
        Ok(expanded) => {
            if let Err(error) = syn::parse2::<syn::File>(expanded.clone()) {
                panic!(
                    "the expansion of #[{}({args})] {item} does not parse ({error}):\n{expanded}",
                    attr.name()
                );
            }
        }
        Err(Rejected { error, .. }) => {
            for error in error {
                let message = error.to_string();
                assert!(!message.trim().is_empty(), "an empty message");
                let span = error.span();
                let on_a_token = span.source_text().is_some_and(|s| !s.trim().is_empty());
                assert!(
                    on_a_token || span.byte_range() == (0..0),
                    "{message:?} sits on {:?}",
                    span.byte_range()
                );
            }
        }
    }
}

fn main() {
    // `FUZZ_REPLAY=1 expand < input` runs one input once, outside AFL (to see its panic).
    if std::env::var_os("FUZZ_REPLAY").is_some() {
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut data).unwrap();
        one(&data);
        return;
    }
    afl::fuzz!(|data: &[u8]| one(data));
}
