//! Sections drawn from `callin-bench run` results: manifest, headline table, scaling, latency and
//! fairness, policy ablation (with the floor beside the headline).

use super::{chart_or_reason, not_measured, source_note, spread_cell, with_input};
use crate::chart::{self, SERIES_COLOURS, Series};
use crate::format;
use crate::input::Input;
use crate::schema::{
    AblationDirection, Cell, FloorMeasurement, Manifest, RatioEstimate, RealGhcVariant, RunResults,
};
use crate::summary;
use maud::{Markup, html};
use std::collections::BTreeMap;

const DRIVER_SOURCE: &str = "Source: callin-bench run driver (per-thread wall clock / calls), \
    median over paired rounds with min – max and the number of rounds (n); ratios from paired rounds with their 95 % interval.";

// --- manifest ---------------------------------------------------------------------------------

pub(super) fn manifest(run: &Input<RunResults>) -> Markup {
    with_input(run, |r| manifest_body(&r.manifest))
}

fn manifest_body(m: &Manifest) -> Markup {
    let ghc = match (&m.ghc.version, &m.ghc.absent_reason) {
        (Some(v), _) => v.clone(),
        (None, Some(why)) => format!("absent: {why}"),
        (None, None) => "absent (no reason recorded)".to_owned(),
    };
    let cores = match m.physical_cores {
        Some(p) => format!("{} logical CPUs, {p} physical cores", m.cores),
        None => format!("{} logical CPUs (physical cores unknown)", m.cores),
    };
    let commit = match (&m.git_commit, m.git_dirty) {
        (Some(c), Some(true)) => format!("{c} (uncommitted changes)"),
        (Some(c), _) => c.clone(),
        (None, _) => "unknown".to_owned(),
    };
    html! {
        dl.manifest {
            dt { "CPU" } dd { (m.cpu_model) }
            dt { "cores" } dd { (cores) }
            dt { "NUMA nodes" } dd { (m.numa_nodes) }
            dt { "kernel" } dd { (m.kernel) }
            dt { "rustc" } dd { (m.rustc) }
            dt { "ghc" } dd { (ghc) }
            dt { "git commit" } dd { code { (commit) } }
            dt { "date" } dd { (m.date) }
            @for (k, v) in &m.config { dt { (k) } dd { (v) } }
        }
        h3 { "Counters" }
        @if m.counters.is_empty() {
            (not_measured("the run recorded no counter availability"))
        } @else {
            table {
                tr { th { "counter" } th { "available" } th { "why not" } }
                @for c in &m.counters {
                    tr {
                        td { (c.name) }
                        @if c.available { td.ok { "yes" } td { } }
                        @else { td.missing { "no" } td { (c.unavailable_reason.as_deref().unwrap_or("no reason recorded")) } }
                    }
                }
            }
        }
    }
}

// --- summary and headline -------------------------------------------------------------------

/// The run's headline comparisons as sentences ([`crate::summary`]): the report's first section.
pub(super) fn summary(run: &Input<RunResults>) -> Markup {
    with_input(run, |r| {
        let comparisons = summary::comparisons(r);
        html! {
            @if comparisons.is_empty() {
                (not_measured("no two systems were measured at the same configuration, so there is nothing to compare"))
            } @else {
                ul { @for c in &comparisons { li { (c.sentence()) } } }
                (source_note(&format!("Ratios of ns per call taken within each of the run's {} paired rounds (every system \
                    measured once per round, order rotated), summarised by the median with a distribution-free 95 % interval \
                    (sign-test order statistics).", r.rounds)))
            }
        }
    })
}

/// The cell of the system labelled `label` at (threads, caps).
pub(super) fn find_cell<'a>(
    run: &'a RunResults,
    label: &str,
    threads: u32,
    caps: u32,
) -> Option<&'a Cell> {
    summary::find(run, label, threads, caps)
}

fn cell_markup(cell: Option<&Cell>) -> Markup {
    match cell {
        None => html! { td.nm { "not measured: no such cell in the run" } },
        Some(c) => match (&c.skipped, &c.ns_per_call) {
            (Some(why), _) => html! { td.nm { "not measured: " (why) } },
            (None, Some(s)) => spread_cell(s),
            (None, None) => html! { td.nm { "not measured: no figure recorded" } },
        },
    }
}

/// A ratio with its interval: `3.13×` / `3.08 – 3.18 (95 %, n = 20)`.
pub(super) fn ratio_markup(r: Option<RatioEstimate>) -> Markup {
    match r {
        None => html! { td.num { (format::MISSING) } },
        Some(r) => html! {
            td.num {
                (format::ratio(r.median))
                br;
                span.spread { @match (r.low, r.high) {
                    (Some(lo), Some(hi)) => { (format::ratio(lo)) " – " (format::ratio(hi)) " (95 %, n = " (r.rounds) ")" }
                    _ => { "no interval (n = " (r.rounds) ")" }
                } }
            }
        },
    }
}

/// The floor the headline shows beside the systems: the empty C call if measured, else the first.
fn headline_floor(floor: &[FloorMeasurement]) -> Option<&FloorMeasurement> {
    floor
        .iter()
        .find(|f| f.name.to_lowercase().contains("empty"))
        .or_else(|| floor.first())
}

pub(super) fn headline(run: &Input<RunResults>) -> Markup {
    with_input(run, headline_body)
}

fn headline_body(r: &RunResults) -> Markup {
    let labels = summary::labels(r);
    let pairs = summary::pairs(r);
    let floor = headline_floor(&r.floor);
    html! {
        table {
            tr {
                th { "configuration" }
                @for l in &labels { th { (l) " (ns/call)" } }
                @for (a, b) in &pairs { th { (a) " ÷ " (b) } }
            }
            @for (threads, caps) in summary::summary_configs(r) {
                tr {
                    td { (summary::config_text(threads, caps)) }
                    @for l in &labels { (cell_markup(find_cell(r, l, threads, caps))) }
                    @for (a, b) in &pairs { (ratio_markup(summary::ratio(r, a, b, threads, caps))) }
                }
            }
        }
        (source_note(DRIVER_SOURCE))
        (variants_table(r))
        @match floor {
            Some(f) => p { "Floor beside it: " strong { (f.name) } " = " (format::spread_ns(&f.ns_per_op)) "." },
            None => (not_measured("no floor measurements in the run")),
        }
        @if !r.floor.is_empty() {
            h3 { "Floor (physical limits)" }
            table {
                tr { th { "operation" } th { "ns per operation" } }
                @for f in &r.floor { tr { td { (f.name) } (spread_cell(&f.ns_per_op)) } }
            }
            (source_note("Source: callin-bench run floor loop (wall clock / operations), median with min – max over n repetitions."))
        }
    }
}

/// The real-GHC systems of the run: which GHC, RTS settings, export and sources each is.
fn variants_table(r: &RunResults) -> Markup {
    let mut seen: Vec<&RealGhcVariant> = Vec::new();
    for v in r.cells.iter().filter_map(|c| c.variant.as_ref()) {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    html! {
        @if !seen.is_empty() {
            h3 { "Real-GHC systems" }
            table {
                tr { th { "system" } th { "ghc" } th { "RTS settings" } th { "export" } th { "checked" } th { "source hash" } th { "library" } }
                @for v in &seen {
                    tr {
                        td { (v.label()) } td { (v.ghc) }
                        td { @if v.rts_args.is_empty() { "GHC's defaults" } @else { code { (v.rts_args.join(" ")) } } }
                        td { code { (v.export) } " :: " (v.signature) @if v.project_export { " (the project's foo x = x + 1)" } }
                        td { (v.check) }
                        td { code { (v.source_hash[..16.min(v.source_hash.len())]) } }
                        td { code { (v.library) } }
                    }
                }
            }
        }
    }
}

// --- scaling ----------------------------------------------------------------------------------

/// Measured cells grouped into lines, one per (system, capabilities), sorted by threads.
fn scaling_series(r: &RunResults, value: impl Fn(&Cell) -> Option<(f64, f64, f64)>) -> Vec<Series> {
    let order = summary::labels(r);
    let mut lines: BTreeMap<(usize, u32), Vec<chart::Point>> = BTreeMap::new();
    for c in r.cells.iter().filter(|c| c.skipped.is_none()) {
        if let Some((m, lo, hi)) = value(c) {
            let at = order.iter().position(|l| *l == c.label).unwrap_or(0);
            lines
                .entry((at, c.capabilities))
                .or_default()
                .push((c.threads, m, lo, hi));
        }
    }
    lines
        .into_iter()
        .map(|((at, caps), mut points)| {
            points.sort_by_key(|p| p.0);
            let plural = if caps == 1 { "" } else { "s" };
            Series {
                label: format!("{}, {caps} cap{plural}", order[at]),
                points,
            }
        })
        .collect()
}

fn legend(series: &[Series]) -> Markup {
    html! {
        ul.legend {
            @for (i, s) in series.iter().enumerate() {
                li { span.swatch style={ "background:" (SERIES_COLOURS[i % SERIES_COLOURS.len()]) } {} (s.label) }
            }
        }
    }
}

pub(super) fn scaling(run: &Input<RunResults>) -> Markup {
    with_input(run, scaling_body)
}

fn scaling_body(r: &RunResults) -> Markup {
    let ns_series = scaling_series(r, |c| c.ns_per_call.map(|s| (s.median, s.min, s.max)));
    let rate_series = scaling_series(r, |c| c.calls_per_sec.map(|v| (v, v, v)));
    html! {
        @if ns_series.is_empty() {
            (not_measured("no measured cells in the run (all skipped or empty)"))
        } @else {
            h3 { "ns per call (log scale; whiskers: min – max over rounds)" }
            (legend(&ns_series))
            (chart_or_reason(chart::scaling_chart(&ns_series, "ns per call", &format::ns)))
            (source_note(DRIVER_SOURCE))
        }
        @if rate_series.is_empty() {
            (not_measured("no calls/s figures in the run"))
        } @else {
            h3 { "Aggregate calls per second (log scale, median over rounds)" }
            (legend(&rate_series))
            (chart_or_reason(chart::scaling_chart(&rate_series, "calls per second (all threads)", &|v| format::rate(v, "calls/s"))))
            (source_note("Source: callin-bench run driver: total calls / wall time, median over rounds (spread not recorded for this figure)."))
        }
        h3 { "All cells" }
        (all_cells_table(r))
    }
}

fn all_cells_table(r: &RunResults) -> Markup {
    html! {
        table {
            tr { th { "system" } th { "threads" } th { "caps" } th { "policy" } th { "pinning" }
                 th { "ns/call" } th { "calls/s" } th { "wrong results" } th { "model stats" } }
            @for c in &r.cells {
                tr {
                    td { (c.label) } td.num { (c.threads) } td.num { (c.capabilities) }
                    td { (c.policy) } td { (c.pinning.as_deref().unwrap_or(format::MISSING)) }
                    (cell_markup(Some(c)))
                    td.num { (c.calls_per_sec.map_or(format::MISSING.to_owned(), |v| format::rate(v, "calls/s"))) }
                    td.num { (c.wrong_results.map_or(format::MISSING.to_owned(), format::count)) }
                    td.stats { (model_stats(c)) }
                }
            }
        }
    }
}

fn model_stats(c: &Cell) -> Markup {
    html! {
        @match &c.model_stats {
            None => { "—" }
            Some(stats) => {
                @for (k, v) in stats { code { (k) } " = " (format::per_call(*v)) br; }
            }
        }
    }
}

// --- latency and fairness ---------------------------------------------------------------------

pub(super) fn latency(run: &Input<RunResults>) -> Markup {
    with_input(run, latency_body)
}

fn latency_body(r: &RunResults) -> Markup {
    let cells: Vec<&Cell> = r.cells.iter().filter(|c| c.skipped.is_none()).collect();
    html! {
        @if cells.is_empty() {
            (not_measured("no measured cells in the run"))
        } @else {
            table {
                tr { th { "system" } th { "threads / caps" } th { "policy" } th { "p50" } th { "p99" } th { "p99.9" }
                     th { "samples" } th { "fairness: min ÷ max calls per thread" } th { "calls per thread" } }
                @for c in cells { (latency_row(c)) }
            }
            (source_note("Latency: per-call hdrhistogram of sampled calls (one call in N timed), in ns. \
                Fairness: calls completed per thread in one repetition; 1.00 = perfectly fair. Source: callin-bench run driver."))
        }
    }
}

fn latency_row(c: &Cell) -> Markup {
    html! {
        tr {
            td { (c.label) }
            td { (c.threads) " / " (c.capabilities) @if c.is_oversubscribed() { " (oversubscribed)" } }
            td { (c.policy) }
            @match &c.latency {
                Some(l) => {
                    td.num { (format::ns(l.p50_ns)) } td.num { (format::ns(l.p99_ns)) } td.num { (format::ns(l.p999_ns)) }
                    td.num { (format::count(l.samples)) " (1 in " (format::count(l.sample_every)) ")" }
                }
                None => { td.nm colspan="4" { "not measured: no latency histogram for this cell" } }
            }
            @match &c.fairness {
                Some(f) => {
                    td.num { (fairness_ratio(f.min_max_ratio)) }
                    td { (f.per_thread_calls.iter().map(|n| format::count(*n)).collect::<Vec<_>>().join(", ")) }
                }
                None => { td.nm colspan="2" { "not measured: no per-thread counts" } }
            }
        }
    }
}

/// min ÷ max calls per thread: two decimals, or three significant digits when a starved thread
/// makes it small (`0.00186`, never `0.00`).
fn fairness_ratio(ratio: f64) -> String {
    if ratio > 0.0 && ratio < 0.01 {
        format::per_call(ratio)
    } else {
        format!("{ratio:.2}")
    }
}

// --- ablation ---------------------------------------------------------------------------------

pub(super) fn ablation(run: &Input<RunResults>) -> Markup {
    with_input(run, |r| {
        if r.ablation.is_empty() {
            return not_measured("the run has no ablation rows");
        }
        html! {
            table {
                tr { th { "choice switched" } th { "base set" } th { "threads / caps" } th { "ns/call" } th { "÷ all-default" }
                     th { "÷ all-ghc" } }
                @for a in &r.ablation {
                    tr {
                        td { code { (a.switched) } }
                        td { (direction_label(a.direction)) }
                        td { (a.threads) " / " (a.capabilities) }
                        @match (&a.skipped, &a.ns_per_call) {
                            (Some(why), _) => td.nm { "not measured: " (why) },
                            (None, Some(s)) => (spread_cell(s)),
                            (None, None) => td.nm { "not measured: no figure recorded" },
                        }
                        (ratio_markup(a.ratio_to_default))
                        (ratio_markup(a.ratio_to_ghc))
                    }
                }
            }
            (source_note("ns/call: median (min – max, n rounds) from the callin-bench run driver. The all-default set, the all-ghc set \
                and every row were measured in the same paired rounds (each once per round, order rotated); ÷ all-default and ÷ all-ghc \
                are the medians of the per-round ratios with their 95 % interval (> 1 = slower than that set)."))
        }
    })
}

fn direction_label(d: AblationDirection) -> &'static str {
    match d {
        AblationDirection::DefaultWithGhcChoice => "default, this choice as GHC",
        AblationDirection::GhcWithDefaultChoice => "ghc, this choice as default",
    }
}
