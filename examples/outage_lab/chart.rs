//! One SVG chart per scenario, drawn with plotters' SVG backend (text is left to the
//! viewer's fonts, so no system font is needed to draw it): availability per second,
//! calls per second to the failing service, and a band per variant with breakers showing
//! their state, the outage shaded in each.

use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::record::{ScenarioSummary, Second};
use super::report::Runs;
use super::scenario::{Scenario, Timeline, Variant};

const WIDTH: u32 = 1000;
const LEFT: u32 = 70;
const FONT: &str = "sans-serif";
const OUTAGE: RGBColor = RGBColor(220, 50, 47);
const CLOSED: RGBColor = RGBColor(133, 200, 120);
const HALF_OPEN: RGBColor = RGBColor(240, 173, 40);

type Error = Box<dyn std::error::Error>;

/// The color of a variant's line, the same on every chart.
pub fn color(variant: Variant) -> RGBColor {
    match variant {
        Variant::Bare => RGBColor(100, 100, 100),
        Variant::Naive => RGBColor(230, 120, 20),
        Variant::Failfast => RGBColor(31, 110, 200),
        Variant::Shared => RGBColor(140, 60, 170),
    }
}

/// The chart of `scenario` as an SVG document.
pub fn draw(
    scenario: Scenario,
    runs: &Runs,
    summary: &ScenarioSummary,
    timeline: Timeline,
) -> Result<String, Error> {
    let banded: Vec<&(Variant, _)> = runs
        .iter()
        .filter(|(_, m)| {
            m.seconds
                .iter()
                .any(|s| s.closed + s.open + s.half_open > 0)
        })
        .collect();
    let band_height = 26;
    let bands_height = if banded.is_empty() {
        0
    } else {
        40 + band_height * banded.len() as u32 + 50
    };
    let height = 60 + 330 + 250 + bands_height + 10;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let (title, rest) = root.split_vertically(60);
        title.draw(&Text::new(
            format!("{}: {}", scenario.name(), scenario.headline()),
            (LEFT as i32, 12),
            (FONT, 20).into_font().style(FontStyle::Bold),
        ))?;
        title.draw(&Text::new(
            format!(
                "{} s, outage (shaded) from {} s to {} s; every variant under the same load",
                timeline.total, timeline.outage_start, timeline.outage_end
            ),
            (LEFT as i32, 38),
            (FONT, 14).into_font().color(&RGBColor(90, 90, 90)),
        ))?;
        let (top, rest) = rest.split_vertically(330);
        availability(&top, runs, timeline)?;
        let (middle, rest) = rest.split_vertically(250);
        calls(&middle, runs, summary, timeline)?;
        bands(&rest, &banded, summary, timeline, band_height)?;
        root.present()?;
    }
    Ok(svg)
}

/// Share of each second's requests answered with a page (full or degraded).
fn availability(
    area: &DrawingArea<SVGBackend, Shift>,
    runs: &Runs,
    timeline: Timeline,
) -> Result<(), Error> {
    let total = timeline.total as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(
            "Availability: share of the requests arriving each second that got a page",
            (FONT, 16),
        )
        .margin_left(10)
        .margin_right(30)
        .x_label_area_size(35)
        .y_label_area_size(LEFT - 10)
        .build_cartesian_2d(0f64..total, 0f64..1.05)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc("available (%)")
        .y_label_formatter(&|v| format!("{:.0}", v * 100.0))
        .max_light_lines(0)
        .draw()?;
    shade_outage(&mut chart, timeline, 1.05)?;
    // Earlier variants drawn wider, so a line that runs along another shows at its edges.
    for (index, (variant, measured)) in runs.iter().enumerate() {
        let points = measured
            .seconds
            .iter()
            .enumerate()
            .filter_map(|(second, s)| s.availability().map(|a| (second as f64 + 0.5, a)));
        let style = color(*variant).stroke_width(width(index, runs.len()));
        chart
            .draw_series(LineSeries::new(points, style))?
            .label(variant.name())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(180, 180, 180))
        .label_font((FONT, 14))
        .draw()?;
    Ok(())
}

/// Calls per second the failing service received (log scale when the variants differ by
/// more than a hundredfold, as in the retry storm).
fn calls(
    area: &DrawingArea<SVGBackend, Shift>,
    runs: &Runs,
    summary: &ScenarioSummary,
    timeline: Timeline,
) -> Result<(), Error> {
    let failing = Scenario::ALL
        .iter()
        .find(|s| s.name() == summary.name)
        .map(|s| s.failing())
        .expect("a known scenario");
    let series: Vec<(Variant, &Vec<u64>)> = runs
        .iter()
        .map(|(variant, m)| (*variant, &m.calls[failing.index()]))
        .collect();
    let max = series
        .iter()
        .flat_map(|(_, calls)| calls.iter().copied())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let caption = format!(
        "Calls per second to {} (the failing service)",
        failing.name()
    );
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(caption.as_str(), (FONT, 16))
        .margin_left(10)
        .margin_right(30)
        .x_label_area_size(35)
        .y_label_area_size(LEFT - 10);
    let x = 0f64..timeline.total as f64;
    if summary.name == Scenario::RetryStorm.name() {
        // Zero calls drawn at the bottom of the log scale.
        let chart = builder.build_cartesian_2d(x, (0.5f64..max * 2.0).log_scale())?;
        call_lines(
            chart,
            &series,
            timeline,
            "calls/s (log scale)",
            0.5,
            max * 2.0,
        )
    } else {
        let chart = builder.build_cartesian_2d(x, 0f64..max * 1.1)?;
        call_lines(chart, &series, timeline, "calls/s", 0.0, max * 1.1)
    }
}

/// The axes, the outage and a line per variant on the calls chart, from `floor` (where
/// a second without calls is drawn) to `top`.
fn call_lines<Y: Ranged<ValueType = f64> + ValueFormatter<f64>>(
    mut chart: ChartContext<SVGBackend, Cartesian2d<RangedCoordf64, Y>>,
    series: &[(Variant, &Vec<u64>)],
    timeline: Timeline,
    y_desc: &str,
    floor: f64,
    top: f64,
) -> Result<(), Error> {
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc(y_desc)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .max_light_lines(0)
        .draw()?;
    shade_outage(&mut chart, timeline, top)?;
    for (index, (variant, calls)) in series.iter().enumerate() {
        let points = calls
            .iter()
            .enumerate()
            .map(|(second, n)| (second as f64 + 0.5, (*n as f64).max(floor)));
        let style = color(*variant).stroke_width(width(index, series.len()));
        chart.draw_series(LineSeries::new(points, style))?;
    }
    Ok(())
}

/// A band per variant with breakers: the state of the failing service's breakers each
/// second (green all closed, red all open, lighter red some open, amber: a breaker went
/// half-open and let a trial call through).
fn bands(
    area: &DrawingArea<SVGBackend, Shift>,
    banded: &[&(Variant, super::record::Measured)],
    summary: &ScenarioSummary,
    timeline: Timeline,
    band_height: u32,
) -> Result<(), Error> {
    if banded.is_empty() {
        return Ok(());
    }
    let (heading, rest) = area.split_vertically(40);
    heading.draw(&Text::new(
        format!(
            "State of the {} breakers, each second:",
            summary.failing_upstream
        ),
        (LEFT as i32, 14),
        (FONT, 16).into_font(),
    ))?;
    let legend = [
        (CLOSED, "all closed"),
        (mix_open(0.4), "some open"),
        (OUTAGE, "all open"),
        (HALF_OPEN, "a trial call"),
    ];
    let mut x = 470;
    for (swatch, words) in legend {
        heading.draw(&Rectangle::new([(x, 15), (x + 14, 29)], swatch.filled()))?;
        heading.draw(&Text::new(words, (x + 20, 14), (FONT, 14).into_font()))?;
        x += 40 + 7 * words.len() as i32;
    }
    let total = timeline.total as f64;
    let (rows, axis) = rest.split_vertically(band_height * banded.len() as u32);
    let row_areas = rows.split_evenly((banded.len(), 1));
    for ((variant, measured), row) in banded.iter().map(|r| (&r.0, &r.1)).zip(&row_areas) {
        let (label, plot) = row.split_horizontally(LEFT);
        label.draw(&Text::new(
            variant.name(),
            (8, (band_height / 2) as i32 - 8),
            (FONT, 14).into_font().color(&color(*variant)),
        ))?;
        let (plot, _) = plot.split_horizontally(WIDTH - LEFT - 30);
        let mut chart = ChartBuilder::on(&plot)
            .margin_top(2)
            .margin_bottom(2)
            .build_cartesian_2d(0f64..total, 0f64..1f64)?;
        // One rectangle per run of seconds of one color.
        let colors: Vec<RGBColor> = measured
            .seconds
            .iter()
            .enumerate()
            .map(
                |(second, s)| match measured.probes.contains(&(second as u64)) {
                    true => HALF_OPEN,
                    false => state_color(s),
                },
            )
            .collect();
        let mut start = 0;
        for (second, color) in colors.iter().enumerate() {
            if colors.get(second + 1) != Some(color) {
                let (from, to) = (start as f64, (second + 1) as f64);
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(from, 0.0), (to, 1.0)],
                    color.filled(),
                )))?;
                start = second + 1;
            }
        }
    }
    // The time axis under the bands, drawn by hand: a tick and a label every 20 s.
    let width = f64::from(WIDTH - LEFT - 30);
    let step = if timeline.total > 60 { 20 } else { 2 };
    for t in (0..=timeline.total).step_by(step) {
        let x = LEFT as i32 + (width * t as f64 / total) as i32;
        axis.draw(&PathElement::new(vec![(x, 0), (x, 5)], BLACK))?;
        axis.draw(&Text::new(
            t.to_string(),
            (x - 4 * t.to_string().len() as i32, 9),
            (FONT, 12).into_font(),
        ))?;
    }
    axis.draw(&PathElement::new(
        vec![(LEFT as i32, 0), (LEFT as i32 + width as i32, 0)],
        BLACK,
    ))?;
    axis.draw(&Text::new(
        "time (s)",
        (LEFT as i32 + width as i32 / 2 - 25, 30),
        (FONT, 12).into_font(),
    ))?;
    Ok(())
}

/// The width of the `index`-th of `count` lines: 2 for the last, one more for each
/// before it.
fn width(index: usize, count: usize) -> u32 {
    2 + (count - 1 - index) as u32
}

/// The color of one second of a band, from the states sampled at its end.
fn state_color(s: &Second) -> RGBColor {
    let breakers = s.closed + s.open + s.half_open;
    if s.half_open > 0 {
        HALF_OPEN
    } else if breakers == 0 || s.open == 0 {
        CLOSED
    } else {
        mix_open(s.open as f64 / breakers as f64)
    }
}

/// Between a pale red (few breakers open) and the outage red (all open).
fn mix_open(share: f64) -> RGBColor {
    let pale = (250.0, 200.0, 195.0);
    let full = (OUTAGE.0 as f64, OUTAGE.1 as f64, OUTAGE.2 as f64);
    let mix = |a: f64, b: f64| (a + (b - a) * share).round() as u8;
    RGBColor(
        mix(pale.0, full.0),
        mix(pale.1, full.1),
        mix(pale.2, full.2),
    )
}

/// The outage window, shaded.
fn shade_outage<X, Y>(
    chart: &mut ChartContext<SVGBackend, Cartesian2d<X, Y>>,
    timeline: Timeline,
    top: f64,
) -> Result<(), Error>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let (start, end) = (timeline.outage_start as f64, timeline.outage_end as f64);
    chart.draw_series(std::iter::once(Rectangle::new(
        [(start, 0.0), (end, top)],
        OUTAGE.mix(0.08).filled(),
    )))?;
    Ok(())
}
