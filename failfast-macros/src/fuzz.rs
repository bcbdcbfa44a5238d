//! Fuzzing of the argument parsing and of the duration parser with generated input: whatever
//! the arguments and the fn, each attribute gives a fn that parses or a compile error with a
//! message on a real token (or on the attribute), and never panics; every duration string
//! parses or is an error, and the ones that hold a number of units parse to that number.
//!
//! The inputs come from a grammar (keys real and misspelt, values of every literal kind,
//! paths, closures, nested groups and invisible groups, broken punctuation, unicode) and
//! from arbitrary strings lexed as tokens; the fns are sync and async fns, methods, boxed
//! `#[async_trait]` futures, stacks of attributes, and things that are not fns.
//!
//! Each property runs 256 cases (the duration ones 1024), the whole module in a few
//! seconds; `FAILFAST_PROPTEST_CASES=N` runs N cases of each, and `--nocapture` shows the
//! counts:
//! `FAILFAST_PROPTEST_CASES=20000 cargo test -p failfast-macros --lib fuzz -- --nocapture`.
//! `fuzz/` beside `src/` has the coverage-guided fuzzer of the same entry point.

use crate::args::Attr;
use crate::duration;
use crate::stack::{Rejected, try_expand};
use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestCaseError, TestRunner};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::str::FromStr;

/// The keys of the three attributes.
const KEYS: &[&str] = &[
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
    "probe_timeout",
    "is_failure",
    "fallback",
    "fallback_on",
    "store",
    "enabled",
    "mode",
    "crate",
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
    "after",
];

/// Typos, other libraries' names, other cases, keywords and unicode identifiers.
const NEAR_KEYS: &[&str] = &[
    "attemps",
    "dely",
    "Delay",
    "DELAY",
    "retries",
    "max_retries",
    "threshold",
    "timeout",
    "duration",
    "secs",
    "ms",
    "backend",
    "retry_budget",
    "failure",
    "fallbak",
    "mode_",
    "_",
    "__",
    "self",
    "Self",
    "super",
    "fn",
    "async",
    "move",
    "r#type",
    "r#retry",
    "r#delay",
    "é",
    "délai",
    "δ",
    "重试",
    "ｄｅｌａｙ",
    "a\u{301}",
];

const UNITS: &[&str] = &[
    "ns", "us", "µs", "μs", "ms", "s", "m", "h", "d", "S", "MS", "sec", "secs", "min", "hours",
    "days", "", "ms ", " s", "s-", "é", "🕐", ".",
];

/// A duration-like string: groups of numbers and units, sometimes broken.
fn duration_text() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        any::<u8>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<u128>().prop_map(|n| n.to_string()),
        (any::<u32>(), "[0-9]{1,12}").prop_map(|(w, f)| format!("{w}.{f}")),
        "[0-9.]{0,6}",
        Just("-1".to_owned()),
        Just(" ".to_owned()),
    ];
    prop::collection::vec((number, select(UNITS)), 1..4).prop_map(|groups| {
        groups
            .into_iter()
            .map(|(number, unit)| format!("{number}{unit}"))
            .collect()
    })
}

/// A value as written after `key =`.
fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        4 => duration_text().prop_map(|text| format!("{text:?}")),
        2 => any::<String>().prop_map(|text| format!("{text:?}")),
        1 => "[^\"#]{0,12}".prop_map(|text| format!("r#\"{text}\"#")),
        1 => select(&["\"\"", "\" \"", "\"none\"", "\"observe\"", "\"Observe\"",
            "\"enforce\"", "\"full\"", "\"equal\"", "\"decorrelated\"", "\"failure\"",
            "\"open\"", "\"50%\"", "\"0.5\"", "\"5\"", "\"::failfast\"", "\"a::b\"",
            "\"not a path\"", "\"(\"", "\"\\u{0}\"", "\"\\n\"", "b\"5s\"", "c\"5s\"",
            "'s'", "b's'", "\"1m30s\"", "\"250ms\"", "\"0s\""][..])
            .prop_map(str::to_owned),
        3 => (any::<u128>(), select(INT_SUFFIXES)).prop_map(|(n, s)| format!("{n}{s}")),
        2 => (any::<i64>(), select(INT_SUFFIXES)).prop_map(|(n, s)| format!("{n}{s}")),
        1 => any::<u64>().prop_map(|n| format!("{n:#x}")),
        1 => select(&["0", "1", "0o7", "0b1", "1_000", "00", "0x0", "4294967295",
            "4294967296", "18446744073709551616"][..]).prop_map(str::to_owned),
        2 => (any::<f64>(), select(&["", "f64", "f32", "ms"][..]))
            .prop_map(|(x, s)| format!("{x:?}{s}")),
        1 => select(&["0.5", "1.0", "1e999", "1e-999", "-0.0", "1.", "1e3", "2.5e-1",
            "1E2", "0.0000000001", "100.0", "50"][..]).prop_map(str::to_owned),
        1 => select(&["true", "false"][..]).prop_map(str::to_owned),
        3 => select(PATHS).prop_map(str::to_owned),
        2 => select(EXPRS).prop_map(str::to_owned),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            (
                select(&["()", "[]", "{}"][..]),
                prop::collection::vec(inner.clone(), 0..4)
            )
                .prop_map(|(delimiters, items)| {
                    let (open, close) = delimiters.split_at(1);
                    format!("{open}{}{close}", items.join(", "))
                }),
            (
                inner.clone(),
                select(&["+", "-", "*", "..", "as", "==", "=", "=>", ".", "?"][..]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            (
                select(&["-", "!", "&", "*", "move ||", "|e|", "async", "||"][..]),
                inner.clone()
            )
                .prop_map(|(op, a)| format!("{op} {a}")),
            (select(PATHS), prop::collection::vec(inner, 0..3))
                .prop_map(|(path, args)| format!("{path}({})", args.join(", "))),
        ]
    })
}

const INT_SUFFIXES: &[&str] = &[
    "", "", "", "u32", "u64", "u8", "i32", "usize", "i128", "ms", "s", "h", "f64", "_u32", "foo",
    "é",
];

const PATHS: &[&str] = &[
    "is_transient",
    "cached",
    "my::path",
    "::failfast",
    "crate::x",
    "self::f",
    "Self::f",
    "super::f",
    "<T as Tr>::f",
    "f::<u8>",
    "Vec::<u8>::new",
    "Duration::from_secs",
    "failfast::not_open",
    "None",
    "none",
    "Jitter::Full",
    "LIMIT",
    "é",
    "r#type",
];

const EXPRS: &[&str] = &[
    "|e| true",
    "|e: &E| e.is_transient()",
    "move || x",
    "async || {}",
    "|| ||",
    "|_| -> bool { false }",
    "x.clone()",
    "shared::STORE.clone()",
    "Duration::from_millis(250)",
    "std::time::Duration::MAX",
    "vec![1, 2]",
    "format!(\"{}\", 1)",
    "{ 1 }",
    "if a { b } else { c }",
    "S { a: 1 }",
    "match x { _ => 1 }",
    "loop {}",
    "1..2",
    "..",
    "&x",
    "5 as u32",
    "!flag()",
    "-x",
    "-5",
    "- -5",
    "--5",
    "(5)",
    "(\"5s\")",
    "[\"5s\"]",
    "\"5s\".parse().unwrap()",
    "return",
    "break",
    "'a: {}",
    "unsafe { x }",
    "x?",
    "x.await",
    "a = b",
    "#[attr] x",
    "_",
];

/// How a key meets its value.
const KEY_VALUE: &[&str] = &[
    "=", "=", "=", "=", "=", "=", ":", "::", "==", "=>", "= =", "", "+=", "<-", "=!",
];

/// Between two arguments.
const SEPARATORS: &[&str] = &[
    ",", ",", ",", ",", ",", ",", ",,", ";", "", "::", ".", "|", "=",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(KEYS).prop_map(str::to_owned),
        2 => select(NEAR_KEYS).prop_map(str::to_owned),
        1 => "[a-z_][a-z0-9_]{0,10}",
    ]
}

fn argument() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (key(), select(KEY_VALUE), value()).prop_map(|(k, eq, v)| format!("{k} {eq} {v}")),
        1 => (key(), select(KEY_VALUE)).prop_map(|(k, eq)| format!("{k} {eq}")),
        1 => key(),
        2 => value(),
        1 => select(&["#", "$", "@", "?", "!", "'a", "..", "::", "=", "()", "[,]", "{=}"][..])
            .prop_map(str::to_owned),
    ]
}

/// An argument list: arguments and separators, a trailing one sometimes.
fn arguments() -> impl Strategy<Value = String> {
    prop::collection::vec((argument(), select(SEPARATORS)), 0..7).prop_map(|arguments| {
        let last = arguments.len().saturating_sub(1);
        let mut out = String::new();
        for (index, (argument, separator)) in arguments.into_iter().enumerate() {
            out += &argument;
            // A trailing separator every other time.
            if index < last || separator.len() % 2 == 0 {
                out += " ";
                out += separator;
                out += " ";
            }
        }
        out
    })
}

/// Values that mostly make sense, per key.
const GOOD_VALUES: &[(&str, &[&str])] = &[
    ("name", &["\"sales\"", "NAME", "\"\"", "\" \"", "5"]),
    ("failures", COUNTS),
    ("probes", COUNTS),
    ("min_calls", COUNTS),
    ("attempts", COUNTS),
    ("failure_rate", RATES),
    ("slow_rate", RATES),
    (
        "window",
        &[
            "100", "1", "0", "\"60s\"", "\"0s\"", "W", "-1", "1.5", "5s", "\"x\"",
        ],
    ),
    ("slow", DURATIONS),
    ("reset", DURATIONS),
    ("reset_max", DURATIONS),
    ("probe_timeout", DURATIONS),
    ("delay", DURATIONS),
    ("max_delay", DURATIONS),
    ("deadline", DURATIONS),
    ("after", DURATIONS),
    ("is_failure", PREDICATES),
    ("retry_if", PREDICATES),
    ("retry_if_ok", PREDICATES),
    ("retry_after", PREDICATES),
    ("on_retry", PREDICATES),
    (
        "fallback",
        &["cached", "Self::cached", "|| 1", "\"cached\""],
    ),
    (
        "fallback_on",
        &["\"failure\"", "\"open\"", "\"Failure\"", "failure", "\"\""],
    ),
    (
        "store",
        &["failfast::InProcess", "STORE.clone()", "\"redis\""],
    ),
    ("enabled", &["true", "false", "flag()", "\"yes\""]),
    (
        "mode",
        &[
            "\"observe\"",
            "\"enforce\"",
            "\"dry_run\"",
            "Mode::Observe",
            "\"\"",
        ],
    ),
    (
        "crate",
        &[
            "::failfast",
            "\"::failfast\"",
            "my::ff",
            "\"a b\"",
            "\"\"",
            "5",
        ],
    ),
    (
        "factor",
        &[
            "2.0", "1", "1.0", "0.5", "-2.0", "1e999", "\"2\"", "2.0f32", "2u8",
        ],
    ),
    (
        "jitter",
        &[
            "\"full\"",
            "\"none\"",
            "\"equal\"",
            "\"decorrelated\"",
            "Full",
            "\"\"",
        ],
    ),
    (
        "budget",
        &["\"none\"", "\"payments\"", "\"default\"", "\"\"", "None"],
    ),
];

const COUNTS: &[&str] = &[
    "1",
    "5",
    "0",
    "4294967296",
    "3u32",
    "3i32",
    "\"3\"",
    "-1",
    "1.5",
];
const RATES: &[&str] = &[
    "0.5", "1", "1.0", "50", "0", "\"50%\"", "1e-300", "-0.5", "2.0f64",
];
const DURATIONS: &[&str] = &[
    "\"1s\"",
    "\"250ms\"",
    "\"1m30s\"",
    "\"0s\"",
    "\"10m\"",
    "\"1.5s\"",
    "\"5 s\"",
    "\"5secs\"",
    "Duration::from_secs(1)",
    "LIMIT",
    "5",
    "5ms",
    "\"\"",
];
const PREDICATES: &[&str] = &[
    "is_transient",
    "|e| true",
    "failfast::not_open",
    "5",
    "\"f\"",
];

/// The keys of `attr`, with positional values where it takes one.
fn keys_of(attr: Attr) -> &'static [&'static str] {
    match attr {
        Attr::CircuitBreaker => &KEYS[..18],
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

/// Arguments of `attr` that mostly make sense: its own keys with values of the right kind
/// (and a few of the wrong kind), so that the cases get past the parsing to the checks of
/// the values together and to the expansion.
fn plausible_arguments(attr: Attr) -> impl Strategy<Value = String> {
    let keys = keys_of(attr);
    let argument =
        (select(keys), any::<prop::sample::Index>(), 0..12u8).prop_map(|(key, index, form)| {
            let values = GOOD_VALUES.iter().find(|(k, _)| *k == key).unwrap().1;
            // The first two values of each key are right, the others mostly wrong: two
            // draws in three are right.
            let value = if form % 3 == 0 {
                index.get(values)
            } else {
                index.get(&values[..2])
            };
            match form {
                0 if key == "retry_after" => key.to_owned(),
                _ => format!("{key} = {value}"),
            }
        });
    let first = match attr {
        Attr::CircuitBreaker => prop_oneof![Just(""), Just("\"sales\", ")].boxed(),
        Attr::Timeout => prop_oneof![
            Just(""),
            Just("\"3s\", "),
            Just("\"3s\", "),
            Just("LIMIT, "),
            Just("\"x\", ")
        ]
        .boxed(),
        Attr::Retry => Just("").boxed(),
    };
    (first, prop::collection::vec(argument, 0..5))
        .prop_map(|(first, arguments)| format!("{first}{}", arguments.join(", ")))
}

/// Token-level damage: each `(at, op)` deletes, doubles, replaces or ungroups the token at
/// preorder position `at`, or wraps it in an invisible group; the result still lexes.
fn damage(tokens: TokenStream, ops: &[(usize, u8)]) -> TokenStream {
    fn walk(tokens: TokenStream, at: &mut usize, op: u8) -> TokenStream {
        let mut out = Vec::new();
        for token in tokens {
            if *at == 0 {
                *at = usize::MAX;
                match op % 6 {
                    0 => {}
                    1 => out.extend([token.clone(), token]),
                    2 => out.push(TokenTree::Punct(proc_macro2::Punct::new(
                        if op % 12 < 6 { ',' } else { '=' },
                        proc_macro2::Spacing::Alone,
                    ))),
                    3 => match token {
                        TokenTree::Group(group) => out.extend(group.stream()),
                        other => out.push(other),
                    },
                    4 => out.push(TokenTree::Group(Group::new(Delimiter::None, token.into()))),
                    _ => out.push(TokenTree::Literal(proc_macro2::Literal::string("1x"))),
                }
                continue;
            }
            if *at != usize::MAX {
                *at -= 1;
            }
            out.push(match token {
                TokenTree::Group(group) => {
                    let mut inner = Group::new(group.delimiter(), walk(group.stream(), at, op));
                    inner.set_span(group.span());
                    TokenTree::Group(inner)
                }
                other => other,
            });
        }
        out.into_iter().collect()
    }
    ops.iter().fold(tokens, |tokens, &(at, op)| {
        let size = count_tokens(tokens.clone()).max(1);
        walk(tokens, &mut (at % size), op)
    })
}

fn count_tokens(tokens: TokenStream) -> usize {
    tokens
        .into_iter()
        .map(|token| match token {
            TokenTree::Group(group) => 1 + count_tokens(group.stream()),
            _ => 1,
        })
        .sum()
}

/// Wraps some tokens in invisible groups, as a `macro_rules!` `$value:expr` hands them over
/// (and `$key:ident` does not). `mask` picks the tokens.
fn invisible_groups(tokens: TokenStream, mask: &mut u64) -> TokenStream {
    tokens
        .into_iter()
        .map(|token| {
            let pick = *mask & 1 == 1;
            *mask = mask.rotate_right(1);
            let token = match token {
                TokenTree::Group(group) => {
                    let mut inner =
                        Group::new(group.delimiter(), invisible_groups(group.stream(), mask));
                    inner.set_span(group.span());
                    TokenTree::Group(inner)
                }
                other => other,
            };
            if pick && !matches!(token, TokenTree::Punct(_)) {
                TokenTree::Group(Group::new(Delimiter::None, token.into()))
            } else {
                token
            }
        })
        .collect()
}

/// The fns (and not-fns) the attributes are put on, in spirit `{stack} {item}`.
const ITEMS: &[&str] = &[
    "fn f(x: String) -> Result<u32, E> { Ok(1) }",
    "async fn f(x: String, y: &str) -> Result<u32, E> { Ok(1) }",
    "pub async fn g<T: Clone>(t: T) -> Result<T, E> where T: Send { Ok(t) }",
    "fn m(&self, a: u8) -> Result<(), E> { Ok(()) }",
    "async fn m(&mut self, a: u8) -> Result<(), E> { Ok(()) }",
    // The fns above take every attribute (`#[timeout]` the async ones).
    "async fn m(&mut self, (a, b): (u8, u8)) -> Result<(), E> { Ok(()) }",
    "async fn v(self, mut a: Vec<u8>) -> Result<(), E> { Ok(()) }",
    "fn v(mut self: Box<Self>) -> Result<(), E> { Ok(()) }",
    "const fn c() -> Result<(), E> { Ok(()) }",
    "unsafe extern \"C\" fn u() -> Result<(), E> { Ok(()) }",
    "fn nothing() {}",
    "fn not_result() -> u32 { 1 }",
    "fn boxed() -> Pin<Box<dyn Future<Output = u8>>> { Box::pin(async { 1 }) }",
    "fn boxed(&self) -> Pin<Box<dyn Future<Output = Result<u8, E>> + Send + '_>> { Box::pin(self.call()) }",
    "fn boxed(&self) -> Pin<Box<dyn Future<Output = Result<u8, E>> + Send + '_>> { let __self = self; Box::pin(async move { Ok(1) }) }",
    "async fn r#type(r#in: u8, _: u8, ..: u8) -> Result<(), E> { Ok(()) }",
    "fn é(ñ: u8) -> Result<(), E> { Ok(()) }",
    "fn f(&self) -> Result<(), E>;",
    "struct S;",
    "impl X { fn f() {} }",
    "trait T {}",
    "mod m {}",
    "",
    "fn",
    "= garbage",
];

/// Attributes stacked on the fn, around the fuzzed arguments.
const STACKED: &[&str] = &[
    "retry",
    "timeout",
    "circuit_breaker",
    "failfast::retry",
    "::failfast::timeout",
    "failfast::circuit_breaker",
    "other::retry",
    "inline",
    "doc",
    "tokio::test",
];

/// An attribute of the stack: `#[path]`, `#[path(args)]`, `#[path = value]`, or inner.
fn stacked() -> impl Strategy<Value = String> {
    (select(STACKED), 0..5u8, arguments(), value()).prop_map(|(path, form, args, value)| match form
    {
        0 => format!("#[{path}]"),
        1 => format!("#[{path} = {value}]"),
        2 => format!("#![{path}({args})]"),
        _ => format!("#[{path}({args})]"),
    })
}

/// The item: a stack of attributes on one of `ITEMS`, or the async-trait shape.
fn item() -> impl Strategy<Value = String> {
    let async_trait = crate::boxed::tests::async_trait_output();
    let async_trait = quote::ToTokens::to_token_stream(&async_trait).to_string();
    let body = prop_oneof![
        6 => select(&ITEMS[..5]).prop_map(str::to_owned),
        6 => select(ITEMS).prop_map(str::to_owned),
        2 => Just(async_trait),
    ];
    let stack = prop_oneof![
        2 => Just(Vec::new()),
        1 => prop::collection::vec(stacked(), 1..3),
    ];
    (stack, body).prop_map(|(stack, body)| format!("{} {body}", stack.join(" ")))
}

fn attr() -> impl Strategy<Value = Attr> {
    select(&Attr::ALL[..])
}

/// The seed CI explores from, unless `FAILFAST_PROPTEST_SEED` says otherwise.
const CI_SEED: u64 = 0xfa11_fa57;

/// Cases per property: `FAILFAST_PROPTEST_CASES`, else `default`. Seeded as the runtime's
/// model tests are: under CI (`CI` set) from a fixed seed, anywhere from
/// `FAILFAST_PROPTEST_SEED`; otherwise each run explores new cases.
fn config(default: u32) -> Config {
    let cases = std::env::var("FAILFAST_PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default);
    let seed = std::env::var("FAILFAST_PROPTEST_SEED")
        .ok()
        .and_then(|seed| seed.trim().parse().ok())
        .or_else(|| std::env::var_os("CI").map(|_| CI_SEED));
    Config {
        cases,
        // The regressions found are unit tests of their own, below.
        failure_persistence: None,
        max_shrink_iters: 4096,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: seed.map_or(RngSeed::Random, RngSeed::Fixed),
        ..Config::default()
    }
}

/// What the property saw, for the counts printed at the end.
#[derive(Default)]
struct Counts {
    runs: Cell<u64>,
    expanded: Cell<u64>,
    rejected: Cell<u64>,
    unlexed: Cell<u64>,
}

impl Counts {
    fn add(&self, cell: fn(&Counts) -> &Cell<u64>) {
        let cell = cell(self);
        cell.set(cell.get() + 1);
    }
}

/// Runs `test` over `strategy`, reports how many cases ran and what came of them.
fn run<S: Strategy>(
    name: &str,
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value, &Counts) -> Result<(), TestCaseError>,
) -> Counts {
    let counts = Counts::default();
    let mut runner = TestRunner::new(config(default_cases));
    let result = runner.run(&strategy, |value| {
        counts.add(|c| &c.runs);
        test(value, &counts)
    });
    eprintln!(
        "fuzz {name}: {} runs: {} Ok (an expansion, a duration), {} Err (compile errors), \
         {} inputs that do not lex",
        counts.runs.get(),
        counts.expanded.get(),
        counts.rejected.get(),
        counts.unlexed.get(),
    );
    if let Err(failure) = result {
        panic!("{name}: {failure}");
    }
    counts
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// The property of one expansion: no panic; a fn that parses, or errors that each have a
/// message and sit on a token of the input or on the attribute (the call site).
fn check(
    attr: Attr,
    args: TokenStream,
    item: TokenStream,
    counts: &Counts,
) -> Result<(), TestCaseError> {
    let shown = || format!("#[{}({args})] {item}", attr.name());
    let result = catch_unwind(AssertUnwindSafe(|| {
        try_expand(attr, args.clone(), item.clone())
    }))
    .map_err(|panic| {
        TestCaseError::fail(format!("panicked: {}\n{}", panic_message(&*panic), shown()))
    })?;
    match result {
        Ok(expanded) => {
            counts.add(|c| &c.expanded);
            if let Err(error) = syn::parse2::<syn::File>(expanded.clone()) {
                return Err(TestCaseError::fail(format!(
                    "the expansion does not parse ({error}):\n{expanded}\nfrom {}",
                    shown()
                )));
            }
        }
        Err(Rejected { item: kept, error }) => {
            counts.add(|c| &c.rejected);
            for error in error.clone() {
                let message = error.to_string();
                prop_assert!(!message.trim().is_empty(), "an empty message: {}", shown());
                let span = error.span();
                let on_a_token = span.source_text().is_some_and(|s| !s.trim().is_empty());
                let on_the_attribute = span.byte_range() == (0..0);
                prop_assert!(
                    on_a_token || on_the_attribute,
                    "{message:?} sits on {:?}, {:?}: {}",
                    span.byte_range(),
                    span.source_text(),
                    shown()
                );
            }
            let rendered = error.to_compile_error();
            prop_assert!(rendered.to_string().contains("compile_error"));
            // What the compiler gets: the item as written, then the errors.
            let _ = quote::quote!(#kept #rendered);
        }
    }
    Ok(())
}

/// Lexes `text` as the compiler would hand it over; `None` (counted) when it does not lex.
fn lex(text: &str, counts: &Counts) -> Option<TokenStream> {
    match catch_unwind(|| TokenStream::from_str(text)) {
        Ok(Ok(tokens)) => Some(tokens),
        Ok(Err(_)) => {
            counts.add(|c| &c.unlexed);
            None
        }
        Err(panic) => panic!("lexing {text:?} panicked: {}", panic_message(&*panic)),
    }
}

#[test]
fn spans_have_locations() {
    // The span checks of `check` need proc-macro2's `span-locations` (a dev-dependency
    // feature); without it every span would look like the call site.
    let tokens = TokenStream::from_str("delay = \"5s\"").unwrap();
    let first = tokens.into_iter().next().unwrap();
    assert_eq!(first.span().source_text().as_deref(), Some("delay"));
}

/// The arguments of the grammar, or plausible ones, for `attr`.
fn arguments_for(attr: Attr) -> impl Strategy<Value = String> {
    prop_oneof![arguments(), plausible_arguments(attr)]
}

/// Token damage for a case: none half of the time.
fn damages() -> impl Strategy<Value = Vec<(usize, u8)>> {
    prop_oneof![
        Just(Vec::new()),
        prop::collection::vec(any::<(usize, u8)>(), 1..3)
    ]
}

#[test]
fn grammar_arguments_on_every_fn() {
    let strategy = attr().prop_flat_map(|attr| {
        (
            Just(attr),
            arguments_for(attr),
            item(),
            any::<u64>(),
            damages(),
            damages(),
        )
    });
    run(
        "grammar",
        256,
        strategy,
        |(attr, args, item, mut mask, args_damage, item_damage), counts| {
            let (Some(args), Some(item)) = (lex(&args, counts), lex(&item, counts)) else {
                return Ok(());
            };
            // Invisible groups in a quarter of the cases.
            let args = if mask & 3 == 0 {
                invisible_groups(args, &mut mask)
            } else {
                args
            };
            let args = damage(args, &args_damage);
            let item = damage(item, &item_damage);
            check(attr, args, item, counts)
        },
    );
}

/// Arguments that mostly make sense on the fns that take them: about half expand, so the
/// checks of the values together and the expansion get their share of the cases.
#[test]
fn plausible_arguments_on_plain_fns() {
    let strategy = attr().prop_flat_map(|attr| {
        (
            Just(attr),
            plausible_arguments(attr),
            select(&ITEMS[..5]),
            any::<u64>(),
        )
    });
    let counts = run(
        "plausible",
        256,
        strategy,
        |(attr, args, item, mut mask), counts| {
            let (Some(args), Some(item)) = (lex(&args, counts), lex(item, counts)) else {
                return Ok(());
            };
            let args = if mask & 3 == 0 {
                invisible_groups(args, &mut mask)
            } else {
                args
            };
            check(attr, args, item, counts)
        },
    );
    // About 40% expand: the cases reach the expansion, and the check of its syntax.
    let (expanded, runs) = (counts.expanded.get(), counts.runs.get());
    assert!(expanded * 5 >= runs, "{expanded} of {runs} expanded");
}

/// The keys the grammar gives each attribute are the ones it takes (a key added to the
/// macros and not here is still fuzzed, as a near miss, until it is added).
#[test]
fn key_lists_match_the_macros() {
    let item = TokenStream::from_str(ITEMS[1]).unwrap();
    for attr in Attr::ALL {
        for key in KEYS.iter().chain(NEAR_KEYS) {
            let args = TokenStream::from_str(&format!("{key} = 1")).unwrap();
            let unknown = match try_expand(attr, args, item.clone()) {
                Ok(_) => false,
                Err(Rejected { error, .. }) => error.to_string().contains("unknown argument"),
            };
            assert_eq!(
                unknown,
                !keys_of(attr).contains(key),
                "#[{}({key} = 1)]",
                attr.name()
            );
        }
    }
}

#[test]
fn arbitrary_strings_as_arguments() {
    let text = prop_oneof![
        1 => any::<String>(),
        2 => "[ -~]{0,40}",
        4 => "[a-z_=,.:0-9 -]{0,40}",
        2 => "[a-z_=,.:\"0-9 -]{0,40}",
        2 => "[a-z_=,.:0-9 ()-]{0,40}",
    ];
    let strategy = (attr(), text, select(&ITEMS[..5]));
    run("strings", 256, strategy, |(attr, text, item), counts| {
        let (Some(args), Some(item)) = (lex(&text, counts), lex(item, counts)) else {
            return Ok(());
        };
        check(attr, args, item, counts)
    });
}

#[test]
fn arbitrary_strings_as_items() {
    let text = prop_oneof![
        1 => any::<String>(),
        2 => "[ -~]{0,60}",
        // Near a fn: one of the fns, damaged below.
        4 => select(ITEMS).prop_map(str::to_owned),
    ];
    let strategy = attr().prop_flat_map(|attr| {
        (
            Just(attr),
            arguments_for(attr),
            text.clone(),
            prop::collection::vec(any::<(usize, u8)>(), 1..4),
        )
    });
    run(
        "items",
        256,
        strategy,
        |(attr, args, text, item_damage), counts| {
            let (Some(args), Some(item)) = (lex(&args, counts), lex(&text, counts)) else {
                return Ok(());
            };
            check(attr, args, damage(item, &item_damage), counts)
        },
    );
}

const NANOS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

#[test]
fn duration_any_string() {
    let text = prop_oneof![any::<String>(), duration_text(), "[0-9.a-zµ -]{0,16}"];
    run("duration strings", 1024, text, |text, counts| {
        let result = catch_unwind(|| duration::parse(&text)).map_err(|panic| {
            TestCaseError::fail(format!("{text:?} panicked: {}", panic_message(&*panic)))
        })?;
        match result {
            Ok(_) => counts.add(|c| &c.expanded),
            Err(message) => {
                counts.add(|c| &c.rejected);
                prop_assert!(!message.trim().is_empty(), "{text:?}");
            }
        }
        Ok(())
    });
}

#[test]
fn duration_one_group_is_n_units() {
    let strategy = (any::<u64>(), select(NANOS));
    run(
        "duration N unit",
        1024,
        strategy,
        |(n, (unit, nanos)), counts| {
            let text = format!("{n}{unit}");
            match n.checked_mul(nanos) {
                Some(expected) => {
                    counts.add(|c| &c.expanded);
                    prop_assert_eq!(duration::parse(&text), Ok(expected), "{}", text);
                }
                None => {
                    counts.add(|c| &c.rejected);
                    let error = duration::parse(&text).unwrap_err();
                    prop_assert!(error.contains("too long"), "{text}: {error}");
                }
            }
            Ok(())
        },
    );
}

#[test]
fn duration_groups_add_up_or_overflow() {
    let group = (0..=u64::MAX / 4, select(NANOS)).prop_map(|(n, (unit, nanos))| {
        // Small numbers mostly, so most sums fit.
        let n = if n % 3 == 0 { n } else { n % 100_000 };
        (n, unit, nanos)
    });
    let strategy = prop::collection::vec(group, 1..5);
    run("duration groups", 1024, strategy, |groups, counts| {
        let text: String = groups
            .iter()
            .map(|(n, unit, _)| format!("{n}{unit}"))
            .collect();
        let total = groups.iter().try_fold(0u64, |total, (n, _, nanos)| {
            n.checked_mul(*nanos)?.checked_add(total)
        });
        match total {
            Some(total) => {
                counts.add(|c| &c.expanded);
                prop_assert_eq!(duration::parse(&text), Ok(total), "{}", text);
            }
            None => {
                counts.add(|c| &c.rejected);
                let error = duration::parse(&text).unwrap_err();
                prop_assert!(error.contains("too long"), "{text}: {error}");
            }
        }
        Ok(())
    });
}

/// A `Duration` split into `1h2m3s4ms5us6ns` parses back to itself.
#[test]
fn duration_round_trip() {
    run(
        "duration round trip",
        1024,
        any::<u64>(),
        |nanos, counts| {
            counts.add(|c| &c.expanded);
            let mut rest = nanos;
            let mut text = String::new();
            for (unit, size) in NANOS.iter().rev().filter(|(unit, _)| *unit != "µs") {
                let n = rest / size;
                rest %= size;
                if n > 0 {
                    text += &format!("{n}{unit}");
                }
            }
            if text.is_empty() {
                text = "0s".to_owned();
            }
            prop_assert_eq!(duration::parse(&text), Ok(nanos), "{}", text);
            // In seconds with a fraction of nine digits: the same.
            let seconds = format!("{}.{:09}s", nanos / 1_000_000_000, nanos % 1_000_000_000);
            prop_assert_eq!(duration::parse(&seconds), Ok(nanos), "{}", seconds);
            Ok(())
        },
    );
}

/// A fraction is exact when it is a whole number of nanoseconds, and an error otherwise.
#[test]
fn duration_fractions_are_exact() {
    let strategy = (0..1_000_000u64, "[0-9]{1,12}", select(NANOS));
    run(
        "duration fractions",
        1024,
        strategy,
        |(whole, fraction, (unit, nanos)), counts| {
            let text = format!("{whole}.{fraction}{unit}");
            // (whole + fraction / 10^k) * nanos, exactly, in u128.
            let k = fraction.len() as u32;
            let numerator = (u128::from(whole) * 10u128.pow(k) + fraction.parse::<u128>().unwrap())
                * u128::from(nanos);
            let exact = numerator % 10u128.pow(k) == 0;
            let result = duration::parse(&text);
            // The parser stops at the first digit finer than a nanosecond, even a zero:
            // a unit of 10^z * c nanoseconds (c not a multiple of 10) takes z digits.
            let mut zeros = 0;
            while nanos % 10u64.pow(zeros + 1) == 0 {
                zeros += 1;
            }
            let significant = k <= zeros;
            if significant {
                prop_assert!(exact);
                let expected = u64::try_from(numerator / 10u128.pow(k));
                match expected {
                    Ok(expected) => {
                        counts.add(|c| &c.expanded);
                        prop_assert_eq!(result, Ok(expected), "{}", text);
                    }
                    Err(_) => {
                        counts.add(|c| &c.rejected);
                        prop_assert!(result.unwrap_err().contains("too long"), "{}", text);
                    }
                }
            } else {
                counts.add(|c| &c.rejected);
                let error = result.unwrap_err();
                prop_assert!(error.contains("finer than a nanosecond"), "{text}: {error}");
            }
            Ok(())
        },
    );
}

/// Spaces are refused, and the message shows the text without them when that parses.
#[test]
fn duration_spaces() {
    let strategy = (any::<u16>(), select(NANOS), 0..3usize);
    run(
        "duration spaces",
        256,
        strategy,
        |(n, (unit, _), at), counts| {
            counts.add(|c| &c.rejected);
            let compact = format!("{n}{unit}");
            let at = [0, compact.len() - unit.len(), compact.len()][at];
            let spaced = format!("{} {}", &compact[..at], &compact[at..]);
            let error = duration::parse(&spaced).unwrap_err();
            prop_assert!(
                error == format!("durations are written without spaces: \"{compact}\""),
                "{spaced:?}: {error}"
            );
            Ok(())
        },
    );
}
