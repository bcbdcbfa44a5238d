//! The outage lab: a homepage service composed of auth, recommendations and popular items,
//! put through five outages with and without failfast's patterns, measured, charted.
//!
//! ```text
//! cargo run --release --example outage_lab                 # every scenario, every variant
//! cargo run --release --example outage_lab -- --help
//! cargo run --release --example outage_lab -- --scenario fleet --http
//! ```
//!
//! By default it runs in virtual time (tokio's paused clock): three simulated minutes per
//! scenario in about a second of wall time, the same numbers for the same `--seed`. It
//! prints a table and writes into `--out` (default `target/outage-lab/`): `summary.json`,
//! one CSV of per-second series and one SVG chart per scenario, and `index.html` with
//! every chart and table. `--http` runs the same scenarios over real sockets on 127.0.0.1,
//! shortened to 20 s each.
//!
//! Modules: `scenario` (the outages and variants), `upstream` (the simulated services),
//! `client` (how the homepage reaches them), `homepage` (the service, with failfast's
//! attributes), `traffic` (open-loop load into a bounded worker pool), `sim` (one run in
//! virtual time), `http` (the same over sockets), `record` (measurements and summary),
//! `report` (table, JSON, CSV), `chart` (SVG), `page` (HTML).

mod chart;
mod client;
mod homepage;
mod http;
mod page;
mod record;
mod report;
mod scenario;
mod sim;
mod traffic;
mod upstream;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use clap::error::{ContextKind, ContextValue, ErrorKind};

use record::{Measured, ScenarioSummary, Summary};
use scenario::{Scenario, Timeline, Variant};

/// The homepage service through five outages, with and without failfast's patterns.
///
/// Runs every scenario with every variant that fits it, in virtual time unless `--http`,
/// prints a table and writes summary.json, a CSV and an SVG chart per scenario, and
/// index.html into --out.
#[derive(Debug, Parser)]
#[command(name = "outage_lab")]
pub struct Cli {
    /// A scenario to run (repeatable; default: all five)
    #[arg(long = "scenario", value_name = "NAME", value_enum)]
    pub scenarios: Vec<Scenario>,
    /// A variant to run (repeatable; default: every variant that fits each scenario)
    #[arg(long = "variant", value_name = "NAME", value_enum)]
    pub variants: Vec<Variant>,
    /// Seed of the simulated latencies, faults and jitter
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Requests per second, open loop (sent whatever happens to earlier ones)
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=2000))]
    pub rps: u32,
    /// Workers of the homepage's pool, each with its own breakers (at most 32)
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=homepage::MAX_WORKERS as i64))]
    pub workers: u16,
    /// Requests that may wait for a worker; one that finds the queue full is turned away
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub queue: u16,
    /// Where to write summary.json, the CSVs, the charts and index.html
    #[arg(long, value_name = "DIR", default_value = "target/outage-lab")]
    pub out: PathBuf,
    /// Real sockets on 127.0.0.1 instead of virtual time: axum upstreams, a reqwest client,
    /// the homepage as an axum server with worker processes, a load generator (20 s per
    /// scenario; `fleet`'s shared variant through Redis, with the redis feature)
    #[arg(long)]
    pub http: bool,
    /// Internal: run as one homepage worker process of `--http`
    #[arg(long, hide = true, value_name = "SPEC")]
    pub serve_worker: Option<String>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{}", one_line(&e));
            return ExitCode::from(2);
        }
    };
    if let Some(spec) = &cli.serve_worker {
        return http::serve_worker(spec);
    }
    if let Err(e) = writable(&cli.out) {
        eprintln!("error: cannot write to --out {}: {e}", cli.out.display());
        return ExitCode::from(2);
    }
    match lab(&cli) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs what `cli` asks for, prints the table and writes every file.
pub fn lab(cli: &Cli) -> Result<Summary, String> {
    let scenarios = if cli.scenarios.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        let mut chosen = cli.scenarios.clone();
        chosen.sort();
        chosen.dedup();
        chosen
    };
    let load = sim::Load {
        rps: cli.rps,
        workers: cli.workers.into(),
        queue: cli.queue.into(),
    };
    let timeline = if cli.http {
        Timeline::HTTP
    } else {
        Timeline::VIRTUAL
    };
    let mode = if cli.http { "http" } else { "virtual" };
    println!(
        "outage lab: {} scenario(s), {} rps into {} workers (queue {}), seed {}, {} time, {} s each",
        scenarios.len(),
        load.rps,
        load.workers,
        load.queue,
        cli.seed,
        mode,
        timeline.total
    );
    let started = Instant::now();
    let mut lab_http = if cli.http {
        Some(http::Lab::start(load)?)
    } else {
        None
    };
    // Virtual time: every run on one current-thread runtime whose clock is paused (tokio
    // moves it on whenever every task waits), so failfast's clock follows it too.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;

    let mut summaries = Vec::new();
    let mut series = Vec::new();
    for scenario in scenarios {
        let variants: Vec<Variant> = scenario
            .variants()
            .iter()
            .copied()
            .filter(|v| cli.variants.is_empty() || cli.variants.contains(v))
            .collect();
        let mut runs: Vec<(Variant, Measured)> = Vec::new();
        for variant in variants {
            let run_started = Instant::now();
            let measured = match &mut lab_http {
                None => runtime.block_on(sim::run(scenario, variant, load, cli.seed)),
                Some(lab) => match lab.run(scenario, variant, cli.seed)? {
                    Some(measured) => measured,
                    None => continue,
                },
            };
            println!(
                "  {:<22} {:<9} {:>6.1} s wall ({} s {})",
                scenario.name(),
                variant.name(),
                run_started.elapsed().as_secs_f64(),
                timeline.total,
                if cli.http { "real" } else { "simulated" }
            );
            runs.push((variant, measured));
        }
        let summary = ScenarioSummary {
            name: scenario.name(),
            failing_upstream: scenario.failing().name(),
            outage: record::Outage {
                start_s: timeline.outage_start,
                end_s: timeline.outage_end,
            },
            variants: runs
                .iter()
                .map(|(variant, measured)| {
                    let breakers = homepage::clients(scenario, *variant, 1)[0]
                        .breakers
                        .is_some();
                    measured.summary(*variant, timeline, scenario.failing(), breakers)
                })
                .collect(),
        };
        summaries.push(summary);
        series.push((scenario, runs));
    }
    drop(lab_http);

    let summary = Summary {
        seed: cli.seed,
        mode,
        rps: cli.rps,
        workers: cli.workers.into(),
        queue: cli.queue.into(),
        scenarios: summaries,
    };
    println!();
    print!("{}", report::table(&summary));
    report::write_all(&cli.out, &summary, &series, timeline)
        .map_err(|e| format!("cannot write the results into {}: {e}", cli.out.display()))?;
    println!(
        "\nwrote {} (summary.json, per-scenario CSV and SVG, index.html) in {:.1} s",
        cli.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(summary)
}

/// `--out` exists (or can be made) and takes files.
fn writable(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(".outage-lab-probe");
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(probe)
}

/// clap's error on one line, with the values that were possible.
fn one_line(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let mut line = rendered
        .lines()
        .next()
        .unwrap_or("error")
        .trim_end()
        .to_owned();
    if let Some(ContextValue::Strings(valid)) = e.get(ContextKind::ValidValue) {
        line += &format!(" (expected one of: {})", valid.join(", "));
    }
    if !line.starts_with("error") {
        line = format!("error: {line}");
    }
    line + "; see --help"
}
