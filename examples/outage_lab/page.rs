//! `index.html`: every scenario's chart (the SVG files beside it) and its table, on one
//! self-contained page (no script, no external asset).

use std::fmt::Write as _;

use super::record::{Summary, VariantSummary};
use super::report;
use super::scenario::Scenario;

/// The page for `summary`.
pub fn html(summary: &Summary) -> String {
    let mut body = String::new();
    for scenario in &summary.scenarios {
        let explain = Scenario::ALL
            .iter()
            .find(|s| s.name() == scenario.name)
            .map_or("", |s| s.explanation());
        let _ = write!(
            body,
            "<section id=\"{name}\">\n<h2>{name}</h2>\n<p>{explain}</p>\n\
             <img src=\"{name}.svg\" alt=\"{heading}\">\n{table}</section>\n",
            name = scenario.name,
            heading = escape(&report::heading(scenario)),
            table = table(&scenario.variants, scenario.failing_upstream),
        );
    }
    let toc: String = summary
        .scenarios
        .iter()
        .map(|s| format!("<a href=\"#{0}\">{0}</a>", s.name))
        .collect::<Vec<_>>()
        .join(" · ");
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>failfast outage lab</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>failfast outage lab</h1>\n<p class=\"meta\">{mode} time · seed {seed} · {rps} \
         requests/s into {workers} workers (queue {queue}) · <a href=\"summary.json\">summary.json</a></p>\n\
         <nav>{toc}</nav>\n{body}</body>\n</html>\n",
        mode = summary.mode,
        seed = summary.seed,
        rps = summary.rps,
        workers = summary.workers,
        queue = summary.queue,
    )
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1040px;margin:2em auto;padding:0 1em;\
color:#222}h1{margin-bottom:0.2em}.meta{color:#666}nav{margin:1em 0 2em}\
section{margin-bottom:3em}img{width:100%;border:1px solid #ddd}\
table{border-collapse:collapse;margin-top:0.8em;font-size:14px}\
th,td{padding:4px 10px;text-align:right;border-bottom:1px solid #e4e4e4}\
th:first-child,td:first-child{text-align:left}th{background:#f6f6f6}";

/// One scenario's figures as an HTML table.
fn table(variants: &[VariantSummary], failing: &str) -> String {
    let mut out = format!(
        "<table>\n<tr><th>variant</th><th>availability before</th><th>during</th>\
         <th>after</th><th>p50 during (ms)</th><th>p99 during (ms)</th>\
         <th>calls to {failing} during</th><th>pool saturated (s)</th>\
         <th>recovered after (s)</th><th>trial calls during</th></tr>\n"
    );
    for v in variants {
        let cells: String = report::cells(v)
            .iter()
            .map(|cell| format!("<td>{}</td>", escape(cell)))
            .collect();
        let _ = writeln!(out, "<tr>{cells}</tr>");
    }
    out + "</table>\n"
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
