//! The lab's outputs: the terminal table, `summary.json`, a CSV of per-second series per
//! scenario, the charts and the page.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;

use super::record::{Measured, ScenarioSummary, Summary, VariantSummary};
use super::scenario::{Scenario, Service, Timeline, Variant};
use super::{chart, page};

/// One scenario's runs, by variant.
pub type Runs = Vec<(Variant, Measured)>;

/// The table printed at the end, one block per scenario.
pub fn table(summary: &Summary) -> String {
    let mut out = String::new();
    for scenario in &summary.scenarios {
        let _ = writeln!(out, "{}", heading(scenario));
        out += &scenario_table(scenario);
        out.push('\n');
    }
    out
}

/// `name: headline (outage a-b s)`.
pub fn heading(scenario: &ScenarioSummary) -> String {
    let headline = Scenario::ALL
        .iter()
        .find(|s| s.name() == scenario.name)
        .map_or("", |s| s.headline());
    format!(
        "{}: {} (outage {}-{} s)",
        scenario.name, headline, scenario.outage.start_s, scenario.outage.end_s
    )
}

/// The column titles and one row per variant.
pub fn scenario_table(scenario: &ScenarioSummary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  {:<9} {:>13} {:>7} {:>7} {:>8} {:>8} {:>14} {:>10} {:>10} {:>7}",
        "variant",
        "avail before",
        "during",
        "after",
        "p50 ms",
        "p99 ms",
        format!("{} calls", short(scenario.failing_upstream)),
        "saturated",
        "recovered",
        "trials"
    );
    let _ = writeln!(
        out,
        "  {:<9} {:>13} {:>7} {:>7} {:>8} {:>8} {:>14} {:>10} {:>10} {:>7}",
        "", "", "", "", "(during)", "(during)", "(during)", "(s)", "after (s)", "(during)"
    );
    for v in &scenario.variants {
        let _ = writeln!(out, "{}", row(v));
    }
    out
}

fn row(v: &VariantSummary) -> String {
    let [
        name,
        before,
        during,
        after,
        p50,
        p99,
        calls,
        saturated,
        recovered,
        probes,
    ] = cells(v);
    format!(
        "  {name:<9} {before:>13} {during:>7} {after:>7} {p50:>8} {p99:>8} {calls:>14} \
         {saturated:>10} {recovered:>10} {probes:>7}"
    )
}

/// A variant's figures as the table and the page show them: availability as a percentage
/// to a tenth, milliseconds and seconds rounded, `-` where a figure does not apply.
pub fn cells(v: &VariantSummary) -> [String; 10] {
    let percent = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{:.1}%", x * 100.0));
    let whole = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{x:.0}"));
    [
        v.name.to_owned(),
        percent(v.availability.before),
        percent(v.availability.during),
        percent(v.availability.after),
        whole(v.latency_ms.p50_during),
        whole(v.latency_ms.p99_during),
        v.failing_upstream_calls_during.to_string(),
        format!("{:.1}", v.saturated_s),
        v.recovered_after_s
            .map_or("never".to_owned(), |s| format!("{s:.0}")),
        v.probes_during.map_or("-".to_owned(), |p| p.to_string()),
    ]
}

fn short(service: &str) -> &str {
    if service == "recommendations" {
        "recs"
    } else {
        service
    }
}

/// Writes `summary.json`, `<scenario>.csv`, `<scenario>.svg` and `index.html` into `dir`.
pub fn write_all(
    dir: &Path,
    summary: &Summary,
    runs: &[(Scenario, Runs)],
    timeline: Timeline,
) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(summary).map_err(io::Error::other)?;
    fs::write(dir.join("summary.json"), json + "\n")?;
    for ((scenario, runs), scenario_summary) in runs.iter().zip(&summary.scenarios) {
        fs::write(dir.join(format!("{scenario}.csv")), csv(runs, timeline))?;
        let svg = chart::draw(*scenario, runs, scenario_summary, timeline)
            .map_err(|e| io::Error::other(format!("chart of {scenario}: {e}")))?;
        fs::write(dir.join(format!("{scenario}.svg")), svg)?;
    }
    fs::write(dir.join("index.html"), page::html(summary))?;
    Ok(())
}

/// The raw per-second series of every variant, one row per variant and second.
pub fn csv(runs: &Runs, timeline: Timeline) -> String {
    let mut out = String::from(
        "variant,second,arrivals,full,degraded,errors,turned_away,availability,\
         auth_calls,recommendations_calls,popular_calls,busy_workers_max,\
         breakers_closed,breakers_open,breakers_half_open,outage\n",
    );
    for (variant, measured) in runs {
        for (second, s) in measured.seconds.iter().enumerate() {
            let calls = Service::ALL.map(|service| measured.calls[service.index()][second]);
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                variant,
                second,
                s.arrivals,
                s.full,
                s.degraded,
                s.errors,
                s.turned_away,
                s.availability()
                    .map_or(String::new(), |a| format!("{a:.4}")),
                calls[0],
                calls[1],
                calls[2],
                s.busy_max,
                s.closed,
                s.open,
                s.half_open,
                u8::from(timeline.during(second as u64)),
            );
        }
    }
    out
}
