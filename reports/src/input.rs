//! The report's inputs: which JSON files it reads, and what it says when one is absent.
//!
//! Each input is an [`Input`]: either loaded, or missing with a reason the report prints
//! ("not measured: ..."). A file that exists but is malformed is an error, never "missing".

use crate::ReportError;
use crate::criterion::{CriterionBench, load_criterion_dir};
use crate::schema::{NumaResults, ProfileResults, RunResults, SCHEMA_VERSION, TopologyResults};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;

/// File name of `callin-bench run`'s results inside a results directory.
pub const RUN_FILE: &str = "run.json";
/// File name of `callin-bench profile --json`'s output inside a results directory.
pub const PROFILE_FILE: &str = "profile.json";
/// File name of `callin-bench topology --json`'s output inside a results directory.
pub const TOPOLOGY_FILE: &str = "topology.json";
/// File name of `callin-bench numa`'s output inside a results directory.
pub const NUMA_FILE: &str = "numa.json";
/// File name of a saved baseline run (a [`RunResults`]) inside a results directory.
pub const BASELINE_FILE: &str = "baseline.json";

/// One input of the report: loaded, or missing with the reason shown in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Input<T> {
    /// The input was read.
    Loaded(T),
    /// The input is absent; the string says why (shown as `not measured: <why>`).
    Missing(String),
}

impl<T> Input<T> {
    /// The loaded value, or the reason it is missing.
    pub fn get(&self) -> Result<&T, &str> {
        match self {
            Input::Loaded(v) => Ok(v),
            Input::Missing(why) => Err(why),
        }
    }

    /// The loaded value, if any.
    pub fn loaded(&self) -> Option<&T> {
        self.get().ok()
    }
}

/// Everything the report can show; any part may be missing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportInputs {
    /// `callin-bench run` results: manifest, matrix, floor, ablation.
    pub run: Input<RunResults>,
    /// `callin-bench profile` results.
    pub profile: Input<ProfileResults>,
    /// criterion's latest estimates (may be an empty list when criterion ran nothing).
    pub criterion: Input<Vec<CriterionBench>>,
    /// Topology and capability placement.
    pub topology: Input<TopologyResults>,
    /// NUMA placement experiments.
    pub numa: Input<NumaResults>,
    /// A saved earlier run to compare against.
    pub baseline: Input<RunResults>,
}

impl ReportInputs {
    /// All inputs missing, each with `why`; a starting point for building inputs by hand.
    pub fn all_missing(why: &str) -> Self {
        ReportInputs {
            run: Input::Missing(why.to_owned()),
            profile: Input::Missing(why.to_owned()),
            criterion: Input::Missing(why.to_owned()),
            topology: Input::Missing(why.to_owned()),
            numa: Input::Missing(why.to_owned()),
            baseline: Input::Missing(why.to_owned()),
        }
    }

    /// Reads [`RUN_FILE`], [`PROFILE_FILE`], [`TOPOLOGY_FILE`], [`NUMA_FILE`] and
    /// [`BASELINE_FILE`] from `results_dir`, and criterion's estimates under `criterion_root`
    /// (normally `target/criterion`). Absent files become [`Input::Missing`] with the command
    /// that would produce them; present but malformed files are errors naming the file.
    pub fn load_from_dir(results_dir: &Path, criterion_root: &Path) -> Result<Self, ReportError> {
        Ok(ReportInputs {
            run: load_optional(
                &results_dir.join(RUN_FILE),
                "run `callin-bench run` to measure the matrix",
            )?,
            profile: load_optional(
                &results_dir.join(PROFILE_FILE),
                "run `callin-bench profile --json` for the phase breakdown",
            )?,
            criterion: load_criterion(criterion_root)?,
            topology: load_optional(
                &results_dir.join(TOPOLOGY_FILE),
                "run `callin-bench topology --json` for the topology",
            )?,
            numa: load_optional(
                &results_dir.join(NUMA_FILE),
                "run `callin-bench numa` for the placement experiments",
            )?,
            baseline: load_optional(
                &results_dir.join(BASELINE_FILE),
                "no baseline saved: copy an earlier run's JSON there to compare",
            )?,
        })
    }

    /// Replaces the baseline with the run results at `path` (must exist and parse).
    pub fn with_baseline_file(mut self, path: &Path) -> Result<Self, ReportError> {
        self.baseline = Input::Loaded(read_versioned(path)?);
        Ok(self)
    }

    /// The run id for the report directory: the run's, else the profile's or NUMA's, else
    /// `unnamed-<unix seconds>`.
    pub fn run_id(&self) -> String {
        let from_parts = self
            .run
            .loaded()
            .map(|r| r.run_id.clone())
            .or_else(|| self.profile.loaded().and_then(|p| p.run_id.clone()))
            .or_else(|| self.numa.loaded().and_then(|n| n.run_id.clone()));
        from_parts.unwrap_or_else(|| {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            format!("unnamed-{secs}")
        })
    }
}

/// Loads `path` as `T` if it exists; `Missing` with `hint` if it does not.
pub fn load_optional<T: DeserializeOwned>(
    path: &Path,
    hint: &str,
) -> Result<Input<T>, ReportError> {
    if path.exists() {
        Ok(Input::Loaded(read_versioned(path)?))
    } else {
        Ok(Input::Missing(format!(
            "{} not found; {hint}",
            path.display()
        )))
    }
}

/// criterion's estimates under `root`, `Missing` when the directory is absent or empty.
pub fn load_criterion(root: &Path) -> Result<Input<Vec<CriterionBench>>, ReportError> {
    if !root.is_dir() {
        return Ok(Input::Missing(format!(
            "{} not found; run `cargo bench` for criterion's estimates",
            root.display()
        )));
    }
    let benches = load_criterion_dir(root)?;
    if benches.is_empty() {
        return Ok(Input::Missing(format!(
            "no new/estimates.json under {}; run `cargo bench`",
            root.display()
        )));
    }
    Ok(Input::Loaded(benches))
}

/// Reads a suite JSON file, checking `schema_version` before the shape, so a version mismatch is
/// reported as such rather than as a missing field.
pub fn read_versioned<T: DeserializeOwned>(path: &Path) -> Result<T, ReportError> {
    let value: serde_json::Value = read_json(path)?;
    let found = value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64);
    if found != Some(u64::from(SCHEMA_VERSION)) {
        return Err(ReportError::SchemaVersion {
            path: path.to_owned(),
            found,
            expected: SCHEMA_VERSION,
        });
    }
    serde_json::from_value(value).map_err(|e| ReportError::json(path, e))
}

/// Reads and parses any JSON file, naming the file in errors.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| ReportError::json(path, e))
}
