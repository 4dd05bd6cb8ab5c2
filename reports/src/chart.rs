//! SVG charts drawn with plotters' SVG backend: the scaling lines and the per-phase stacked bars.
//!
//! This module owns chart geometry and colours only; it takes already-selected numbers and returns
//! an SVG string (plotters' SVG backend writes `<text>` elements, so no font files are needed).
//! Legends are drawn by the HTML around the chart, from [`PHASE_COLOURS`] / [`SERIES_COLOURS`].

use crate::format;
use crate::schema::{Phase, PhaseGroup};
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

/// Colours of the scaling chart's lines, in series order (hex, also used by the HTML legend).
pub const SERIES_COLOURS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
];

/// Colour of each phase in [`Phase::ALL`] order (hex, also used by the HTML legend).
pub const PHASE_COLOURS: [&str; Phase::ALL.len()] = [
    "#4e79a7", "#a0cbe8", "#f28e2b", "#ffbe7d", "#59a14f", "#8cd17d", "#b6992d", "#f1ce63",
    "#499894", "#86bcb6", "#e15759", "#79706e",
];

/// One point of a scaling line: (threads, median, min, max).
pub type Point = (u32, f64, f64, f64);

/// One line of the scaling chart.
pub struct Series {
    /// Legend label.
    pub label: String,
    /// (threads, median, min, max), sorted by threads.
    pub points: Vec<Point>,
}

/// One stacked bar: a label and (phase, ns) segments in call order.
pub struct StackedBar {
    /// Axis label (e.g. `ghc, 2 threads / 1 cap`).
    pub label: String,
    /// Segments; zero-length segments are skipped.
    pub segments: Vec<(Phase, f64)>,
}

/// The hex colour of `phase`.
pub fn phase_colour(phase: Phase) -> &'static str {
    let index = Phase::ALL.iter().position(|p| *p == phase).unwrap_or(0);
    PHASE_COLOURS[index]
}

/// Tick and axis-description font: plotters' SVG backend writes it as a `<text>` attribute.
const LABEL_FONT: (&str, u32) = ("sans-serif", 15);

fn rgb(hex: &str) -> RGBColor {
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0);
    RGBColor(byte(1), byte(3), byte(5))
}

/// A line chart with threads on x and a log-scaled y (`y_desc` names the unit); whiskers show
/// min–max. `y_fmt` formats tick labels with their unit.
pub fn scaling_chart(
    series: &[Series],
    y_desc: &str,
    y_fmt: &dyn Fn(f64) -> String,
) -> Result<String, String> {
    let (y_min, y_max) = y_bounds(series).ok_or("no positive values to plot")?;
    let max_threads = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .max()
        .unwrap_or(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(110)
            .build_cartesian_2d(0u32..max_threads + 1, (y_min..y_max).log_scale())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("OS threads calling concurrently")
            .y_desc(y_desc)
            .label_style(LABEL_FONT)
            .axis_desc_style(LABEL_FONT)
            .x_labels(max_threads as usize + 2)
            .x_label_formatter(&|v| thread_tick(*v, max_threads))
            .y_label_formatter(&|v| y_fmt(*v))
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, s) in series.iter().enumerate() {
            draw_series_line(&mut chart, s, rgb(SERIES_COLOURS[i % SERIES_COLOURS.len()]))?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn thread_tick(v: u32, max_threads: u32) -> String {
    if v == 0 || v > max_threads {
        String::new()
    } else {
        v.to_string()
    }
}

type LogChart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<
        plotters::coord::types::RangedCoordu32,
        plotters::coord::combinators::LogCoord<f64>,
    >,
>;

fn draw_series_line(
    chart: &mut LogChart<'_, '_>,
    s: &Series,
    colour: RGBColor,
) -> Result<(), String> {
    let line = s.points.iter().map(|&(x, median, _, _)| (x, median));
    chart
        .draw_series(LineSeries::new(line, colour.stroke_width(2)))
        .map_err(|e| e.to_string())?;
    let dots = s
        .points
        .iter()
        .map(|&(x, m, _, _)| Circle::new((x, m), 4, colour.filled()));
    chart.draw_series(dots).map_err(|e| e.to_string())?;
    let whiskers = s
        .points
        .iter()
        .map(|&(x, _, lo, hi)| PathElement::new(vec![(x, lo), (x, hi)], colour.stroke_width(1)));
    chart.draw_series(whiskers).map_err(|e| e.to_string())?;
    Ok(())
}

/// Log-scale bounds with some head room, from every positive min/max in `series`.
fn y_bounds(series: &[Series]) -> Option<(f64, f64)> {
    let values = series
        .iter()
        .flat_map(|s| s.points.iter().flat_map(|p| [p.1, p.2, p.3]))
        .filter(|v| v.is_finite() && *v > 0.0);
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    (hi > 0.0).then_some((lo / 1.6, hi * 1.6))
}

/// Horizontal 100 % stacked bars, one per entry, first entry on top: each segment is the phase's
/// share of that bar's phase sum, so a 12 ns call and a 10 µs call are equally readable; the
/// label carries the bar's total in ns. Colours from [`phase_colour`].
pub fn stacked_phase_bars(bars: &[StackedBar]) -> Result<String, String> {
    let bars: Vec<ColouredBar> = bars
        .iter()
        .map(|b| ColouredBar::of(&b.label, &b.segments, phase_colour))
        .collect();
    stacked_bars(&bars, "share of the call's phase-sum time (%)")
}

/// One stacked bar of phase groups: a label and (group, ns) segments in call order.
pub struct GroupBar {
    pub label: String,
    /// Segments; zero-length segments are skipped.
    pub segments: Vec<(PhaseGroup, f64)>,
}

/// A group's colour: the colour of its first phase, so the two charts read alike.
pub fn group_colour(group: PhaseGroup) -> &'static str {
    group
        .phases()
        .first()
        .map_or(PHASE_COLOURS[0], |&p| phase_colour(p))
}

/// Like [`stacked_phase_bars`], for phase groups (colours from [`group_colour`]).
pub fn stacked_group_bars(bars: &[GroupBar]) -> Result<String, String> {
    let bars: Vec<ColouredBar> = bars
        .iter()
        .map(|b| ColouredBar::of(&b.label, &b.segments, group_colour))
        .collect();
    stacked_bars(&bars, "share of the call's time (%)")
}

/// A bar whose segments carry their colour.
struct ColouredBar {
    label: String,
    segments: Vec<(&'static str, f64)>,
}

impl ColouredBar {
    fn of<K: Copy>(label: &str, segments: &[(K, f64)], colour: fn(K) -> &'static str) -> Self {
        ColouredBar {
            label: label.to_owned(),
            segments: segments.iter().map(|&(k, ns)| (colour(k), ns)).collect(),
        }
    }
}

fn stacked_bars(bars: &[ColouredBar], x_desc: &str) -> Result<String, String> {
    if bars.is_empty() || bars.iter().any(|b| bar_total(b) <= 0.0) {
        return Err("a configuration has no positive phase times to plot".into());
    }
    let n = bars.len() as u32;
    let height = 90 + 46 * n;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(36)
            .x_label_area_size(50)
            .y_label_area_size(300)
            .build_cartesian_2d(0f64..100.0, (0u32..n - 1).into_segmented())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(x_desc)
            .label_style(LABEL_FONT)
            .axis_desc_style(LABEL_FONT)
            .x_label_formatter(&|v| format!("{v:.0} %"))
            .y_label_formatter(&|v| bar_label(bars, v))
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, bar) in bars.iter().enumerate() {
            let rects = bar_rectangles(n - 1 - i as u32, bar);
            chart.draw_series(rects).map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn bar_total(bar: &ColouredBar) -> f64 {
    bar.segments.iter().map(|s| s.1.max(0.0)).sum()
}

/// The label of the bar drawn in segment `v` (bars are drawn top-down, so row r is bar n-1-r).
fn bar_label(bars: &[ColouredBar], v: &SegmentValue<u32>) -> String {
    let SegmentValue::CenterOf(row) = v else {
        return String::new();
    };
    let index = bars.len().checked_sub(1 + *row as usize);
    index
        .and_then(|i| bars.get(i))
        .map(|b| format!("{} ({})", b.label, format::ns(bar_total(b))))
        .unwrap_or_default()
}

fn bar_rectangles(row: u32, bar: &ColouredBar) -> Vec<Rectangle<(f64, SegmentValue<u32>)>> {
    let total = bar_total(bar);
    let mut x = 0.0;
    let mut out = Vec::new();
    for &(hex, ns) in &bar.segments {
        if ns <= 0.0 {
            continue;
        }
        let width = 100.0 * ns / total;
        let colour = rgb(hex);
        let mut rect = Rectangle::new(
            [
                (x, SegmentValue::Exact(row)),
                (x + width, SegmentValue::Exact(row + 1)),
            ],
            colour.filled(),
        );
        rect.set_margin(6, 6, 0, 0);
        out.push(rect);
        x += width;
    }
    out
}
