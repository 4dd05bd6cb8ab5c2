//! Saved baselines and the regression gate: owns where a baseline lives (`baselines/<name>.json`
//! beside the run's results, so `<target>/callin-bench/baselines/` by default), saving and
//! loading one, and deciding from a comparison ([`callin_reports::compare_runs`], the same one
//! the report's change section shows) whether the run regressed.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use callin_reports::schema::RunResults;
use callin_reports::{Change, ChangeStatus, compare_runs, mismatches};

/// Exit code of `callin-bench run --fail-on-regression` when a cell regressed.
pub const REGRESSION_EXIT_CODE: i32 = 3;

/// The folder of baselines for results written to `out`.
pub fn dir(out: &Path) -> PathBuf {
    out.parent().unwrap_or(Path::new(".")).join("baselines")
}

/// `baselines/<name>.json`, relative to the results directory (as `BaselineRef::file` says).
pub fn relative_file(name: &str) -> String {
    format!("baselines/{name}.json")
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !ok {
        bail!(
            "baseline name {name:?}: use letters, digits, '.', '_' or '-' (it names a file), not starting with '.'"
        );
    }
    Ok(())
}

/// The file of baseline `name` for results written to `out`.
pub fn path(out: &Path, name: &str) -> anyhow::Result<PathBuf> {
    check_name(name)?;
    Ok(dir(out).join(format!("{name}.json")))
}

/// Read baseline `name` (it must exist and parse).
pub fn load(out: &Path, name: &str) -> anyhow::Result<RunResults> {
    let p = path(out, name)?;
    if !p.exists() {
        let saved: Vec<String> = std::fs::read_dir(dir(out))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()?
                            .strip_suffix(".json")
                            .map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default();
        bail!(
            "--baseline {name}: no {} (saved baselines: {}); make one with --save-baseline {name}",
            p.display(),
            if saved.is_empty() {
                "none".to_owned()
            } else {
                saved.join(", ")
            }
        );
    }
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", p.display()))?;
    let version = v.get("schema_version").and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(callin_reports::schema::SCHEMA_VERSION)) {
        bail!(
            "{}: schema_version {version:?}, this build reads {}; save the baseline again",
            p.display(),
            callin_reports::schema::SCHEMA_VERSION
        );
    }
    serde_json::from_value(v).with_context(|| format!("{} is not a run's results", p.display()))
}

/// What comparing with a baseline found.
#[derive(Debug)]
pub struct Verdict {
    /// Machine or configuration differences (the comparison refuses unless forced).
    pub mismatches: Vec<String>,
    pub changes: Vec<Change>,
    /// The threshold of `--fail-on-regression` (a fraction), if given.
    pub fail_threshold: Option<f64>,
}

impl Verdict {
    /// Compare `current` with `baseline`. Refuses (an error listing the mismatches) when the
    /// runs are not comparable, unless `force`.
    pub fn of(
        current: &RunResults,
        baseline: &RunResults,
        fail_pct: Option<f64>,
        force: bool,
    ) -> anyhow::Result<Verdict> {
        let mismatches = mismatches(current, baseline);
        if !mismatches.is_empty() && !force {
            bail!(
                "the baseline is not comparable with this run:\n  {}\n(compare anyway with --force)",
                mismatches.join("\n  ")
            );
        }
        let threshold = fail_pct.map_or(callin_reports::REGRESSION_THRESHOLD, |p| p / 100.0);
        Ok(Verdict {
            mismatches,
            changes: compare_runs(current, baseline, threshold),
            fail_threshold: fail_pct.map(|p| p / 100.0),
        })
    }

    /// The cells that regressed beyond the gate's threshold (empty without a gate).
    pub fn regressions(&self) -> Vec<&Change> {
        if self.fail_threshold.is_none() {
            return Vec::new();
        }
        self.changes
            .iter()
            .filter(|c| c.status == ChangeStatus::Regression)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_names_are_one_safe_file_name() {
        assert!(path(Path::new("t/run.json"), "main-2025.01_a").is_ok());
        assert_eq!(
            path(Path::new("t/run.json"), "a").unwrap(),
            Path::new("t/baselines/a.json")
        );
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert!(path(Path::new("run.json"), bad).is_err(), "{bad:?}");
        }
    }
}
