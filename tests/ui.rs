//! Compile-fail cases: every mistake a user can make with the attributes is a clear error
//! on the token at fault. Regenerate the expected output with `TRYBUILD=overwrite cargo
//! test --test ui`, then read every `.stderr`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
