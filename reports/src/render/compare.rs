//! Change against a saved baseline run: matching cells, relative change, regression marks.

use super::{not_measured, source_note};
use crate::format;
use crate::input::Input;
use crate::schema::{RunResults, Spread, System};
use maud::{Markup, html};
use serde::Serialize;

/// A cell is marked a regression when its median ns/call grew by more than this fraction (10 %).
/// Chosen above the run-to-run spread the driver typically shows on a shared VM; the table also
/// says whether the min – max ranges overlap, so a marked row can be judged against noise.
pub const REGRESSION_THRESHOLD: f64 = 0.10;

/// How one cell moved against the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    /// Median slower by more than [`REGRESSION_THRESHOLD`].
    Regression,
    /// Median faster by more than [`REGRESSION_THRESHOLD`].
    Improvement,
    /// Within ± [`REGRESSION_THRESHOLD`].
    Unchanged,
}

/// One cell measured in both runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// System of the cell.
    pub system: System,
    /// Threads (count).
    pub threads: u32,
    /// Capabilities (count).
    pub capabilities: u32,
    /// Policy label.
    pub policy: String,
    /// Baseline ns/call.
    pub baseline_ns: Spread,
    /// Current ns/call.
    pub current_ns: Spread,
    /// (current median − baseline median) ÷ baseline median.
    pub change: f64,
    /// Whether the min – max ranges of the two runs overlap.
    pub ranges_overlap: bool,
    /// Regression, improvement or unchanged, by [`REGRESSION_THRESHOLD`].
    pub status: ChangeStatus,
}

/// Every cell measured (not skipped, with ns/call) in both runs, in the current run's order.
pub fn compare_runs(current: &RunResults, baseline: &RunResults) -> Vec<Change> {
    current
        .cells
        .iter()
        .filter_map(|c| {
            let now = c.ns_per_call.filter(|_| c.skipped.is_none())?;
            let base = baseline.cells.iter().find(|b| {
                b.system == c.system
                    && b.threads == c.threads
                    && b.capabilities == c.capabilities
                    && b.policy == c.policy
                    && b.skipped.is_none()
            })?;
            let then = base.ns_per_call?;
            (then.median > 0.0).then(|| {
                let change = (now.median - then.median) / then.median;
                Change {
                    system: c.system,
                    threads: c.threads,
                    capabilities: c.capabilities,
                    policy: c.policy.clone(),
                    baseline_ns: then,
                    current_ns: now,
                    change,
                    ranges_overlap: now.min <= then.max && then.min <= now.max,
                    status: status_of(change),
                }
            })
        })
        .collect()
}

fn status_of(change: f64) -> ChangeStatus {
    if change > REGRESSION_THRESHOLD {
        ChangeStatus::Regression
    } else if change < -REGRESSION_THRESHOLD {
        ChangeStatus::Improvement
    } else {
        ChangeStatus::Unchanged
    }
}

pub(super) fn baseline(current: &Input<RunResults>, baseline: &Input<RunResults>) -> Markup {
    match (current.get(), baseline.get()) {
        (Err(why), _) => not_measured(&format!("no current run to compare: {why}")),
        (_, Err(why)) => not_measured(why),
        (Ok(now), Ok(then)) => comparison(now, then),
    }
}

fn comparison(now: &RunResults, then: &RunResults) -> Markup {
    let changes = compare_runs(now, then);
    let regressions = changes
        .iter()
        .filter(|c| c.status == ChangeStatus::Regression)
        .count();
    html! {
        p {
            "Baseline run " code { (then.run_id) } " (" (then.manifest.date) ", commit "
            code { (then.manifest.git_commit.as_deref().unwrap_or("unknown")) } "). "
            "Threshold: a cell is marked " span.regression { "▲ regression" } " when its median ns/call is more than "
            (format::percent(REGRESSION_THRESHOLD)) " slower than the baseline, "
            span.improvement { "▼ improvement" } " when more than " (format::percent(REGRESSION_THRESHOLD)) " faster."
        }
        @if then.manifest.cpu_model != now.manifest.cpu_model {
            p.note { "Warning: the baseline ran on a different CPU (" (then.manifest.cpu_model) "); changes mix code and machine." }
        }
        @if changes.is_empty() {
            (not_measured("no cell was measured in both runs"))
        } @else {
            p { strong { (regressions) } " regression" @if regressions != 1 { "s" } " among " (changes.len()) " cells compared." }
            table {
                tr { th { "system" } th { "threads / caps" } th { "policy" } th { "baseline ns/call" } th { "current ns/call" }
                     th { "change" } th { "ranges overlap" } th { "status" } }
                @for c in &changes { (change_row(c)) }
            }
            (source_note("Both columns: median (min – max, n repetitions) from the callin-bench run driver; change = relative change of the medians."))
        }
    }
}

fn change_row(c: &Change) -> Markup {
    let (class, mark) = match c.status {
        ChangeStatus::Regression => ("regression", "▲ regression"),
        ChangeStatus::Improvement => ("improvement", "▼ improvement"),
        ChangeStatus::Unchanged => ("unchanged", "unchanged"),
    };
    html! {
        tr class=(class) {
            td { (c.system.title()) } td { (c.threads) " / " (c.capabilities) } td { (c.policy) }
            td.num { (format::spread_ns(&c.baseline_ns)) } td.num { (format::spread_ns(&c.current_ns)) }
            td.num { (format::signed_percent(c.change)) }
            td { @if c.ranges_overlap { "yes (within noise)" } @else { "no" } }
            td { span class=(class) { (mark) } }
        }
    }
}
