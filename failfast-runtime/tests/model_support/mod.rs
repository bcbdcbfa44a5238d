//! What the model-based property tests (`tests/model_*.rs`) share: how many cases, which
//! seed, where shrunk failures are kept, and a paused tokio runtime per case.
//!
//! - `FAILFAST_PROPTEST_CASES=N` runs N cases per property instead of the file's default
//!   (the default keeps each file under about 20 s in a debug build).
//! - Under CI (`CI` set), the generator is seeded with a fixed seed (ChaCha), so every run
//!   explores the same cases; `FAILFAST_PROPTEST_SEED=N` picks that seed anywhere, and a
//!   run outside CI without it explores new cases each time.
//! - Shrunk failures are appended to `failfast-runtime/proptest-regressions/<file>.txt`,
//!   which is committed: every run replays them first.

use proptest::test_runner::{Config, FileFailurePersistence, RngAlgorithm, RngSeed};

/// The seed CI explores from, unless `FAILFAST_PROPTEST_SEED` says otherwise.
const CI_SEED: u64 = 0xfa11_fa57;

/// The proptest config of one model test file: `default_cases` cases unless
/// `FAILFAST_PROPTEST_CASES` says otherwise; failures persisted in `regressions` (a path
/// relative to the package, where cargo runs the tests).
pub fn config(default_cases: u32, regressions: &'static str) -> Config {
    let cases = std::env::var("FAILFAST_PROPTEST_CASES")
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(default_cases);
    let seed = std::env::var("FAILFAST_PROPTEST_SEED")
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .or_else(|| std::env::var_os("CI").map(|_| CI_SEED));
    let mut config = Config::with_cases(cases);
    config.failure_persistence = Some(Box::new(FileFailurePersistence::Direct(regressions)));
    config.rng_algorithm = RngAlgorithm::ChaCha;
    if let Some(seed) = seed {
        config.rng_seed = RngSeed::Fixed(seed);
    }
    config
}

/// A current-thread runtime whose clock is paused: `tokio::time::advance` moves it, and
/// nothing else does (the tests never wait on a timer without advancing past it).
pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime")
}
