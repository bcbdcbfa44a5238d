//! The outage lab (`examples/outage_lab/`) run as a user runs it, and held to the figures
//! its README quotes: the default run's `summary.json` (virtual time, seed 1), its files,
//! its command line, and one scenario over real sockets.
//!
//! The example is built (a no-op after `cargo test`, which builds examples) with this test
//! binary's features, and run as a process: each run is a fresh process, as a user's is.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The features this test binary was built with, for the example's build.
fn features() -> Vec<&'static str> {
    let mut on = Vec::new();
    if cfg!(feature = "redis") {
        on.push("redis");
    }
    if cfg!(feature = "serde") {
        on.push("serde");
    }
    if cfg!(feature = "tracing") {
        on.push("tracing");
    }
    if cfg!(feature = "metrics") {
        on.push("metrics");
    }
    on
}

/// The lab's binary, built in this test's profile (debug).
fn lab_binary() -> PathBuf {
    let features = features().join(",");
    let mut build = Command::new(env!("CARGO"));
    build.args(["build", "--quiet", "--example", "outage_lab"]);
    if !features.is_empty() {
        build.args(["--features", &features]);
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "the outage lab builds");
    let test_exe = std::env::current_exe().unwrap();
    // target/debug/deps/outage_lab-HASH -> target/debug/examples/outage_lab
    let profile_dir = test_exe.parent().unwrap().parent().unwrap();
    profile_dir
        .join("examples")
        .join(format!("outage_lab{}", std::env::consts::EXE_SUFFIX))
}

fn run(args: &[&str]) -> Output {
    Command::new(lab_binary())
        .args(args)
        .output()
        .expect("the lab starts")
}

/// A fresh directory for one run's files.
fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("failfast-lab-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn summary(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json written");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

/// The block of `name` in summary.json.
fn scenario<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("scenario {name} in summary.json"))
}

/// The variants of `name` in summary.json.
fn variants<'a>(summary: &'a Value, name: &str) -> &'a Vec<Value> {
    scenario(summary, name)["variants"].as_array().unwrap()
}

/// The figures of `variant` in `scenario`.
fn figures<'a>(summary: &'a Value, scenario: &str, variant: &str) -> &'a Value {
    variants(summary, scenario)
        .iter()
        .find(|v| v["name"] == variant)
        .unwrap_or_else(|| panic!("variant {variant} of {scenario} in summary.json"))
}

fn f(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("a number, not {value}"))
}

/// The per-second availability of `variant` from a scenario's CSV.
fn availability_per_second(csv: &str, variant: &str) -> Vec<(u64, f64)> {
    csv.lines()
        .skip(1)
        .filter_map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            (cells[0] == variant).then(|| (cells[1].parse().unwrap(), cells[7].parse().unwrap()))
        })
        .collect()
}

#[test]
fn the_default_run_shows_what_the_readme_says_and_is_the_same_twice() {
    let (first, second) = (out_dir("first"), out_dir("second"));
    for dir in [&first, &second] {
        let output = run(&["--out", dir.to_str().unwrap()]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        for scenario in [
            "recommendations-down",
            "auth-down",
            "recommendations-slow",
            "retry-storm",
            "fleet",
        ] {
            assert!(
                stdout.contains(&format!("{scenario}:")),
                "a table block for {scenario}"
            );
        }
    }
    let bytes = |dir: &Path| std::fs::read(dir.join("summary.json")).unwrap();
    assert_eq!(
        bytes(&first),
        bytes(&second),
        "the same seed, the same summary.json"
    );

    let s = summary(&first);
    assert_eq!(s["seed"], 1);
    let scenarios: Vec<&str> = s["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        scenarios,
        [
            "recommendations-down",
            "auth-down",
            "recommendations-slow",
            "retry-storm",
            "fleet"
        ]
    );
    let rd = scenario(&s, "recommendations-down");
    assert_eq!(
        (
            rd["outage"]["start_s"].as_u64(),
            rd["outage"]["end_s"].as_u64()
        ),
        (Some(60), Some(120))
    );
    for key in [
        "availability",
        "latency_ms",
        "upstream_calls",
        "failing_upstream_calls_during",
        "saturated_s",
        "recovered_after_s",
    ] {
        assert!(
            rd["variants"][0].get(key).is_some(),
            "{key} in every variant"
        );
    }

    // recommendations-down: failfast stays available and keeps calls off the dead service.
    let bare = figures(&s, "recommendations-down", "bare");
    let naive = figures(&s, "recommendations-down", "naive");
    let failfast = figures(&s, "recommendations-down", "failfast");
    assert!(f(&failfast["availability"]["during"]) >= 0.95);
    assert!(
        f(&failfast["failing_upstream_calls_during"])
            <= 0.10 * f(&bare["failing_upstream_calls_during"]),
        "{failfast} vs {bare}"
    );
    assert_eq!(f(&bare["availability"]["during"]), 0.0);
    // naive dips at the start of the outage, failfast does not; and naive climbs back above
    // its level before the outage once its breakers are open.
    let csv = std::fs::read_to_string(first.join("recommendations-down.csv")).unwrap();
    let first_ten = |variant: &str| {
        availability_per_second(&csv, variant)
            .into_iter()
            .filter(|(second, _)| (60..70).contains(second))
            .map(|(_, a)| a)
            .fold(f64::INFINITY, f64::min)
    };
    assert!(
        first_ten("naive") < first_ten("failfast"),
        "{} vs {}",
        first_ten("naive"),
        first_ten("failfast")
    );
    assert!(f(&naive["availability"]["during"]) > f(&naive["availability"]["before"]));

    // recommendations-slow: failfast answers within its timeout and never fills the pool.
    let failfast = figures(&s, "recommendations-slow", "failfast");
    assert!(
        f(&failfast["latency_ms"]["p99_during"]) <= 250.0 + 100.0,
        "{failfast}"
    );
    assert_eq!(f(&failfast["saturated_s"]), 0.0);
    assert!(f(&figures(&s, "recommendations-slow", "bare")["saturated_s"]) > 30.0);

    // auth-down: no page without auth, but failfast says so fast; bare ties up the pool.
    let failfast = figures(&s, "auth-down", "failfast");
    assert!(
        f(&failfast["latency_ms"]["p99_during"]) <= 100.0 + 50.0,
        "{failfast}"
    );
    assert!(f(&failfast["availability"]["during"]) < 0.05);
    assert!(f(&figures(&s, "auth-down", "bare")["saturated_s"]) > 30.0);

    // retry-storm: no budget multiplies the calls, the default budget holds them to 1.5x.
    let calls = |variant| f(&figures(&s, "retry-storm", variant)["failing_upstream_calls_during"]);
    assert!(
        calls("naive") >= 10.0 * calls("bare"),
        "{} vs {}",
        calls("naive"),
        calls("bare")
    );
    assert!(
        calls("failfast") <= 1.5 * calls("bare"),
        "{} vs {}",
        calls("failfast"),
        calls("bare")
    );

    // fleet: one shared breaker probes at most an eighth as often, as available.
    let per_worker = figures(&s, "fleet", "failfast");
    let shared = figures(&s, "fleet", "shared");
    assert!(
        f(&shared["probes_during"]) * 8.0 <= f(&per_worker["probes_during"]),
        "{shared} vs {per_worker}"
    );
    assert!(
        f(&shared["probes_during"]) >= 1.0,
        "the shared breaker still probes"
    );
    assert!(
        (f(&shared["availability"]["during"]) - f(&per_worker["availability"]["during"])).abs()
            < 0.01
    );

    // The files: a CSV and a chart per scenario, and the page showing them all.
    for scenario in scenarios {
        let csv = std::fs::read_to_string(first.join(format!("{scenario}.csv"))).unwrap();
        let variants = variants(&s, scenario).len();
        assert_eq!(
            csv.lines().count(),
            1 + 180 * variants,
            "{scenario}.csv: a row per variant and second"
        );
        let svg = std::fs::read_to_string(first.join(format!("{scenario}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains(&format!("{scenario}: ")),
            "{scenario}.svg titled"
        );
        assert!(
            svg.contains("time (s)") && svg.contains("available (%)"),
            "{scenario}.svg axes"
        );
    }
    let html = std::fs::read_to_string(first.join("index.html")).unwrap();
    assert_eq!(html.matches("<img src=\"").count(), 5);
    assert_eq!(html.matches("<table>").count(), 5);
    for dir in [first, second] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn bad_flags_are_one_line_errors_with_exit_code_2() {
    let unwritable = "/proc/failfast-lab-cannot-write-here";
    for args in [
        &["--scenario", "no-such-scenario"][..],
        &["--rps", "0"],
        &["--workers", "0"],
        &["--out", unwritable],
        &["--no-such-flag"],
    ] {
        let output = run(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let output = run(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for word in [
        "recommendations-down",
        "auth-down",
        "recommendations-slow",
        "retry-storm",
        "fleet",
        "bare",
        "naive",
        "failfast",
        "shared",
        "[default: 50]",
        "[default: 16]",
        "--http",
    ] {
        assert!(help.contains(word), "--help lists {word}");
    }
}

/// `fleet` over real sockets: upstreams, the homepage's front and its worker processes,
/// and a load generator on 127.0.0.1; the shared variant through a redis-server the lab
/// starts (skipped, and said so, without one or without the redis feature).
#[test]
fn fleet_over_http() {
    let dir = out_dir("http");
    let output = run(&[
        "--http",
        "--scenario",
        "fleet",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let s = summary(&dir);
    assert_eq!(s["mode"], "http");
    let bare = figures(&s, "fleet", "bare");
    let failfast = figures(&s, "fleet", "failfast");
    assert!(f(&failfast["availability"]["during"]) >= 0.9, "{failfast}");
    assert!(f(&bare["availability"]["during"]) <= 0.1, "{bare}");
    assert!(
        f(&failfast["failing_upstream_calls_during"])
            < 0.5 * f(&bare["failing_upstream_calls_during"]),
        "{failfast} vs {bare}"
    );
    let redis = cfg!(feature = "redis")
        && Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok();
    if redis {
        let shared = figures(&s, "fleet", "shared");
        assert!(f(&shared["availability"]["during"]) >= 0.9, "{shared}");
        assert!(
            f(&shared["probes_during"]) < f(&failfast["probes_during"]),
            "one breaker shared through Redis probes less: {shared} vs {failfast}"
        );
    } else {
        assert!(
            stderr.contains("shared") && stderr.contains("skipped"),
            "{stderr}"
        );
        assert_eq!(variants(&s, "fleet").len(), 2);
    }
    let _ = std::fs::remove_dir_all(dir);
}
