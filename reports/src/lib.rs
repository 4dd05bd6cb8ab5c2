//! Report generator: results JSON and criterion data to one self-contained HTML page.
//!
//! - [`schema`] owns the JSON types every suite command writes;
//! - [`input`] loads them ([`ReportInputs::load_from_dir`]), turning absent files into
//!   "not measured: why" and malformed ones into errors;
//! - [`render()`] turns inputs into HTML (maud markup, plotters SVG charts, inline CSS);
//! - [`write_report`] writes `<reports_root>/<run-id>/index.html` and `results.json` beside it.
//!
//! ```no_run
//! use std::path::Path;
//! let inputs = callin_reports::ReportInputs::load_from_dir(
//!     Path::new("target/callin-bench/latest"),
//!     Path::new("target/criterion"),
//! )?;
//! let written = callin_reports::write_report(&inputs, Path::new("target/reports"), Path::new("target/criterion"))?;
//! println!("report: {}", written.html.display());
//! # Ok::<(), callin_reports::ReportError>(())
//! ```

pub mod chart;
pub mod criterion;
mod error;
pub mod format;
pub mod input;
pub mod paired;
mod render;
pub mod schema;
pub mod summary;

pub use error::ReportError;
pub use input::{Input, ReportInputs};
pub use render::{
    Change, ChangeStatus, DEFAULT_CRITERION_HREF, REGRESSION_THRESHOLD, SECTIONS, compare_runs,
    mismatches, render, render_with_criterion_href,
};

use serde::Serialize;
use std::path::{Component, Path, PathBuf};

/// What [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenReport {
    /// The report directory, `<reports_root>/<run-id>`.
    pub dir: PathBuf,
    /// `<dir>/index.html`.
    pub html: PathBuf,
    /// `<dir>/results.json`: every input plus the baseline comparison.
    pub json: PathBuf,
}

/// The `results.json` written beside the page: all inputs as loaded, and the comparison.
#[derive(Debug, Serialize)]
pub struct ReportJson<'a> {
    /// [`schema::SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The report's run id (directory name).
    pub run_id: String,
    /// Every input, `{"loaded": ...}` or `{"missing": "why"}`.
    pub inputs: &'a ReportInputs,
    /// Cells measured in both the run and the baseline; `None` when either is missing.
    pub baseline_comparison: Option<Vec<Change>>,
    /// The regression threshold used (fraction).
    pub regression_threshold: f64,
}

/// Writes `<reports_root>/<run-id>/index.html` and `results.json`; links to criterion's pages
/// are made relative from the report directory to `criterion_root`.
pub fn write_report(
    inputs: &ReportInputs,
    reports_root: &Path,
    criterion_root: &Path,
) -> Result<WrittenReport, ReportError> {
    let run_id = inputs.run_id();
    check_run_id(&run_id)?;
    let dir = reports_root.join(&run_id);
    std::fs::create_dir_all(&dir).map_err(|e| ReportError::io(&dir, e))?;
    let href = relative_href(&dir, criterion_root).map_err(|e| ReportError::io(&dir, e))?;
    let html_path = dir.join("index.html");
    let html = render_with_criterion_href(inputs, &href);
    std::fs::write(&html_path, html).map_err(|e| ReportError::io(&html_path, e))?;
    let json_path = dir.join("results.json");
    let json = serde_json::to_string_pretty(&report_json(inputs, run_id))
        .map_err(|e| ReportError::json(&json_path, e))?;
    std::fs::write(&json_path, json).map_err(|e| ReportError::io(&json_path, e))?;
    Ok(WrittenReport {
        dir,
        html: html_path,
        json: json_path,
    })
}

/// The `results.json` content for `inputs`.
pub fn report_json(inputs: &ReportInputs, run_id: String) -> ReportJson<'_> {
    let baseline_comparison = match (inputs.run.loaded(), inputs.baseline.loaded()) {
        (Some(now), Some(then)) => Some(compare_runs(now, then, REGRESSION_THRESHOLD)),
        _ => None,
    };
    ReportJson {
        schema_version: schema::SCHEMA_VERSION,
        run_id,
        inputs,
        baseline_comparison,
        regression_threshold: REGRESSION_THRESHOLD,
    }
}

fn check_run_id(id: &str) -> Result<(), ReportError> {
    let bad = id.is_empty() || id == "." || id == ".." || id.contains(['/', '\\']);
    if bad {
        return Err(ReportError::BadRunId(id.to_owned()));
    }
    Ok(())
}

/// `to` relative to the directory `from`, `/`-separated, for an HTML link.
fn relative_href(from: &Path, to: &Path) -> std::io::Result<String> {
    let from = normalise(&std::path::absolute(from)?);
    let to = normalise(&std::path::absolute(to)?);
    let common = from
        .iter()
        .zip(to.iter())
        .take_while(|(a, b)| a == b)
        .count();
    let ups = from.len() - common;
    let mut parts: Vec<String> = std::iter::repeat_n("..".to_owned(), ups).collect();
    parts.extend(to[common..].iter().cloned());
    Ok(if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    })
}

/// Path components with `.` dropped and `..` applied lexically.
fn normalise(path: &Path) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criterion_href_is_relative_to_the_report_dir() {
        let href = relative_href(
            Path::new("/w/target/reports/r1"),
            Path::new("/w/target/criterion"),
        );
        assert_eq!(href.unwrap(), "../../criterion");
        let href = relative_href(Path::new("/a/b"), Path::new("/a/b/c"));
        assert_eq!(href.unwrap(), "c");
    }

    #[test]
    fn run_ids_that_escape_the_reports_dir_are_rejected() {
        for bad in ["", ".", "..", "a/b", "a\\b"] {
            assert!(
                matches!(check_run_id(bad), Err(ReportError::BadRunId(_))),
                "{bad:?}"
            );
        }
        assert!(check_run_id("2025-01-31T12-00-00Z-abc").is_ok());
    }
}
