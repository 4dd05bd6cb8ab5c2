//! Change against a saved baseline run: which cells match, how much each moved with its 95 %
//! interval ([`paired::run_ratio`] over the two runs' rounds), whether the two runs are
//! comparable at all (machine and configuration), and the section that shows it. The harness's
//! `--fail-on-regression` gate uses [`compare_runs`] and [`mismatches`] too.

use super::{not_measured, source_note};
use crate::format;
use crate::input::Input;
use crate::paired;
use crate::schema::{RatioEstimate, RunResults, Spread, System};
use maud::{Markup, html};
use serde::Serialize;

/// The report marks a cell a regression (improvement) when it is slower (faster) by more than
/// this fraction (10 %) with an interval that excludes no change; `callin-bench run
/// --fail-on-regression PCT` applies its own threshold the same way.
pub const REGRESSION_THRESHOLD: f64 = 0.10;

/// How one cell moved against the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    /// Slower by more than the threshold, the whole interval above no change.
    Regression,
    /// Faster by more than the threshold, the whole interval below no change.
    Improvement,
    /// Within the threshold, or the interval contains no change.
    Unchanged,
    /// Too few rounds for an interval.
    NoInterval,
}

impl ChangeStatus {
    /// The status of `ratio` (current ÷ baseline) at `threshold` (a fraction).
    pub fn of(ratio: &RatioEstimate, threshold: f64) -> ChangeStatus {
        let (Some(low), Some(high)) = (ratio.low, ratio.high) else {
            return ChangeStatus::NoInterval;
        };
        let change = ratio.median - 1.0;
        if change > threshold && low > 1.0 {
            ChangeStatus::Regression
        } else if change < -threshold && high < 1.0 {
            ChangeStatus::Improvement
        } else {
            ChangeStatus::Unchanged
        }
    }
}

/// One cell measured in both runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub system: System,
    /// The system's label in both runs.
    pub label: String,
    pub threads: u32,
    pub capabilities: u32,
    pub baseline_ns: Spread,
    pub current_ns: Spread,
    /// current ÷ baseline ns per call, with its 95 % interval.
    pub ratio: RatioEstimate,
    /// (baseline, current) source hashes of a real-GHC export whose sources changed.
    pub source_changed: Option<(String, String)>,
    pub status: ChangeStatus,
}

impl Change {
    /// `1 x 1 real-ghc 9.0.2: +12.3 % (95 % interval +10.1 % – +14.0 %)`.
    pub fn line(&self) -> String {
        let pct = |x: f64| format::signed_percent(x - 1.0);
        let interval = match (self.ratio.low, self.ratio.high) {
            (Some(lo), Some(hi)) => format!("95 % interval {} – {}", pct(lo), pct(hi)),
            _ => "no interval".to_owned(),
        };
        format!(
            "{} x {} {}: {} -> {} per call, {} ({interval})",
            self.threads,
            self.capabilities,
            self.label,
            format::ns(self.baseline_ns.median),
            format::ns(self.current_ns.median),
            pct(self.ratio.median)
        )
    }
}

/// Every cell measured in both runs (matched by label, threads and capabilities), in the
/// current run's order, classified at `threshold`.
pub fn compare_runs(current: &RunResults, baseline: &RunResults, threshold: f64) -> Vec<Change> {
    current
        .cells
        .iter()
        .filter_map(|c| {
            let now = c.ns_per_call.filter(|_| c.skipped.is_none())?;
            let base = baseline.cells.iter().find(|b| {
                b.label == c.label
                    && b.threads == c.threads
                    && b.capabilities == c.capabilities
                    && b.skipped.is_none()
            })?;
            let then = base.ns_per_call?;
            let ratio = paired::run_ratio(&c.rounds_ns, &base.rounds_ns)?;
            let hash =
                |cell: &crate::schema::Cell| cell.variant.as_ref().map(|v| v.source_hash.clone());
            let source_changed = match (hash(base), hash(c)) {
                (Some(a), Some(b)) if a != b => Some((a, b)),
                _ => None,
            };
            Some(Change {
                system: c.system,
                label: c.label.clone(),
                threads: c.threads,
                capabilities: c.capabilities,
                baseline_ns: then,
                current_ns: now,
                status: ChangeStatus::of(&ratio, threshold),
                ratio,
                source_changed,
            })
        })
        .collect()
}

/// Configuration keys whose difference makes two runs' figures incomparable.
const COMPARABLE_CONFIG: [&str; 4] = ["ms_per_round", "pinning", "ns_per_call", "rts_core_stats"];

/// Why `current` and `baseline` are not comparable (machine or configuration), one line each;
/// empty when they are.
pub fn mismatches(current: &RunResults, baseline: &RunResults) -> Vec<String> {
    let (a, b) = (&current.manifest, &baseline.manifest);
    let mut out = Vec::new();
    let mut differ = |what: &str, then: String, now: String| {
        if then != now {
            out.push(format!("{what}: baseline {then}, this run {now}"));
        }
    };
    differ("machine: CPU", b.cpu_model.clone(), a.cpu_model.clone());
    differ(
        "machine: logical CPUs",
        b.cores.to_string(),
        a.cores.to_string(),
    );
    differ(
        "machine: NUMA nodes",
        b.numa_nodes.to_string(),
        a.numa_nodes.to_string(),
    );
    differ("machine: kernel", b.kernel.clone(), a.kernel.clone());
    for key in COMPARABLE_CONFIG {
        let get = |m: &crate::schema::Manifest| {
            m.config.get(key).cloned().unwrap_or_else(|| "unset".into())
        };
        differ(&format!("configuration: {key}"), get(b), get(a));
    }
    out
}

pub(super) fn baseline(current: &Input<RunResults>, baseline: &Input<RunResults>) -> Markup {
    match (current.get(), baseline.get()) {
        (Err(why), _) => not_measured(&format!("no current run to compare: {why}")),
        (_, Err(why)) => not_measured(why),
        (Ok(now), Ok(then)) => comparison(now, then),
    }
}

fn comparison(now: &RunResults, then: &RunResults) -> Markup {
    let changes = compare_runs(now, then, REGRESSION_THRESHOLD);
    let mismatched = mismatches(now, then);
    let regressions = changes
        .iter()
        .filter(|c| c.status == ChangeStatus::Regression)
        .count();
    html! {
        @if !mismatched.is_empty() {
            div.not-measured {
                strong { "The runs are not comparable: " }
                "the harness refuses this comparison unless given --force. Differences:"
                ul { @for m in &mismatched { li { (m) } } }
            }
        }
        p {
            "Baseline run " code { (then.run_id) } " (" (then.manifest.date) ", commit "
            code { (then.manifest.git_commit.as_deref().unwrap_or("unknown")) } "). "
            "A cell is marked " span.regression { "▲ regression" } " when it is more than "
            (format::percent(REGRESSION_THRESHOLD)) " slower with a 95 % interval that excludes no change, "
            span.improvement { "▼ improvement" } " when more than " (format::percent(REGRESSION_THRESHOLD)) " faster likewise."
        }
        @if changes.is_empty() {
            (not_measured("no cell was measured in both runs"))
        } @else {
            p { strong { (regressions) } " regression" @if regressions != 1 { "s" } " among " (changes.len()) " cells compared." }
            table {
                tr { th { "system" } th { "threads / caps" } th { "baseline ns/call" } th { "current ns/call" }
                     th { "change" } th { "95 % interval" } th { "status" } }
                @for c in &changes { (change_row(c)) }
            }
            (source_note("ns/call: median (min – max, n rounds) from the callin-bench run driver. Change: current ÷ baseline − 1, \
                the Hodges–Lehmann shift of the log times over all pairs of rounds of the two runs, with Moses' distribution-free \
                95 % interval (exact Mann–Whitney order statistics)."))
        }
    }
}

fn change_row(c: &Change) -> Markup {
    let (class, mark) = match c.status {
        ChangeStatus::Regression => ("regression", "▲ regression"),
        ChangeStatus::Improvement => ("improvement", "▼ improvement"),
        ChangeStatus::Unchanged => ("unchanged", "unchanged"),
        ChangeStatus::NoInterval => ("unchanged", "no interval (too few rounds)"),
    };
    let pct = |x: f64| format::signed_percent(x - 1.0);
    html! {
        tr class=(class) {
            td { (c.label)
                @if let Some((a, b)) = &c.source_changed { br; span.spread { "sources changed: " (a[..8.min(a.len())]) " → " (b[..8.min(b.len())]) } } }
            td { (c.threads) " / " (c.capabilities) }
            td.num { (format::spread_ns(&c.baseline_ns)) } td.num { (format::spread_ns(&c.current_ns)) }
            td.num { (pct(c.ratio.median)) }
            td.num { @match (c.ratio.low, c.ratio.high) {
                (Some(lo), Some(hi)) => { (pct(lo)) " – " (pct(hi)) }
                _ => { (format::MISSING) }
            } }
            td { span class=(class) { (mark) } }
        }
    }
}
