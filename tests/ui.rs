//! Compile-fail cases: every mistake a user can make with the attributes is a clear error
//! on the token at fault. Regenerate the expected output with `TRYBUILD=overwrite cargo
//! test --test ui` (and once more with `--features redis`), then read every `.stderr`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    // rustc lists the types that implement `Store` under these errors, and the `redis`
    // feature adds one: one expected output without it, one with it.
    #[cfg(not(feature = "redis"))]
    t.compile_fail("tests/ui/without_redis/*.rs");
    #[cfg(feature = "redis")]
    t.compile_fail("tests/ui/with_redis/*.rs");
}
