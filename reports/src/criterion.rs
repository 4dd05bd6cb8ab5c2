//! Reading criterion's own output: `target/criterion/**/new/{estimates,benchmark}.json`.
//!
//! This module owns the subset of criterion's on-disk format the report uses (benchmark id,
//! throughput, median and mean with confidence intervals) and the path of each benchmark's
//! own HTML page, so the report can link to it.

use crate::ReportError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One criterion estimate (criterion's `Estimate`): a point with its confidence interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionEstimate {
    /// The point estimate, in the measurement's unit per iteration (ns for wall time).
    pub point_estimate: f64,
    /// Confidence interval around the point.
    pub confidence_interval: ConfidenceInterval,
}

/// criterion's `ConfidenceInterval`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceInterval {
    /// Confidence level as a fraction (0.95).
    pub confidence_level: f64,
    /// Lower bound, same unit as the point.
    pub lower_bound: f64,
    /// Upper bound, same unit as the point.
    pub upper_bound: f64,
}

/// The part of `estimates.json` the report uses.
#[derive(Debug, Clone, Deserialize)]
struct EstimatesFile {
    mean: CriterionEstimate,
    median: CriterionEstimate,
}

/// The part of `benchmark.json` the report uses.
#[derive(Debug, Clone, Deserialize)]
struct BenchmarkFile {
    group_id: String,
    full_id: String,
    directory_name: String,
    throughput: Option<serde_json::Value>,
}

/// One criterion benchmark's latest (`new/`) result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionBench {
    /// Full id, `concept/op/param`.
    pub id: String,
    /// criterion group (`callin`, `phases`, `ablation`, `floor`, ...).
    pub group: String,
    /// Directory under the criterion root, `/`-separated (criterion's `directory_name`).
    pub directory: String,
    /// Elements per iteration from `Throughput::Elements`, when set.
    pub elements_per_iter: Option<u64>,
    /// Median per iteration (measurement unit, ns for wall time).
    pub median: CriterionEstimate,
    /// Mean per iteration (measurement unit, ns for wall time).
    pub mean: CriterionEstimate,
    /// Whether `<directory>/report/index.html` exists under the criterion root.
    pub has_html_report: bool,
}

impl CriterionBench {
    /// Median per element (per call): the per-iteration median divided by the element count.
    pub fn median_per_element(&self) -> f64 {
        self.median.point_estimate / self.elements_per_iter.unwrap_or(1).max(1) as f64
    }

    /// The confidence interval of [`Self::median_per_element`].
    pub fn median_ci_per_element(&self) -> (f64, f64) {
        let n = self.elements_per_iter.unwrap_or(1).max(1) as f64;
        let ci = &self.median.confidence_interval;
        (ci.lower_bound / n, ci.upper_bound / n)
    }

    /// Path of criterion's own page for this benchmark, relative to the criterion root.
    pub fn report_page(&self) -> String {
        format!("{}/report/index.html", self.directory)
    }
}

/// Every benchmark under `root` that has `new/estimates.json`, sorted by id.
///
/// Errors name the file when one exists but does not parse.
pub fn load_criterion_dir(root: &Path) -> Result<Vec<CriterionBench>, ReportError> {
    let mut estimate_files = Vec::new();
    collect_estimates(root, &mut estimate_files)?;
    let mut benches = estimate_files
        .iter()
        .map(|new_dir| load_one(root, new_dir))
        .collect::<Result<Vec<_>, _>>()?;
    benches.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(benches)
}

/// Collects every `.../new` directory holding `estimates.json`, skipping criterion's `report/`.
fn collect_estimates(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ReportError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ReportError::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| ReportError::io(dir, e))?.path();
        if !path.is_dir() {
            continue;
        }
        match path.file_name().and_then(|n| n.to_str()) {
            Some("report") => {}
            Some("new") if path.join("estimates.json").is_file() => out.push(path),
            _ => collect_estimates(&path, out)?,
        }
    }
    Ok(())
}

fn load_one(root: &Path, new_dir: &Path) -> Result<CriterionBench, ReportError> {
    let estimates: EstimatesFile = crate::input::read_json(&new_dir.join("estimates.json"))?;
    let benchmark: BenchmarkFile = crate::input::read_json(&new_dir.join("benchmark.json"))?;
    let directory = benchmark.directory_name.clone();
    Ok(CriterionBench {
        id: benchmark.full_id,
        group: benchmark.group_id,
        has_html_report: root.join(&directory).join("report/index.html").is_file(),
        directory,
        elements_per_iter: benchmark.throughput.as_ref().and_then(elements_of),
        median: estimates.median,
        mean: estimates.mean,
    })
}

/// Elements per iteration from criterion's serialised `Throughput` (`{"Elements": 1}` or
/// `{"ElementsAndBytes": {"elements": 1, "bytes": 8}}`); byte throughputs give `None`.
fn elements_of(throughput: &serde_json::Value) -> Option<u64> {
    let value = throughput.get("Elements").or_else(|| {
        throughput
            .get("ElementsAndBytes")
            .and_then(|v| v.get("elements"))
    })?;
    value.as_u64()
}
