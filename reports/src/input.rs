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
/// File name of the main job's step log (`scripts/bench.sh`) inside a results directory.
pub const STEPS_FILE: &str = "steps.tsv";
/// Prefix of the main job's criterion steps: `criterion <group>`, one per `[[bench]]` target.
pub const CRITERION_STEP_PREFIX: &str = "criterion ";

/// How one step of the main job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// The step's command exited 0.
    Ok,
    /// The step's command exited non-zero.
    Failed,
    /// The step could not run here (a missing tool, or an earlier step it needs failed).
    Skipped,
}

/// One step of the main job, as `scripts/bench.sh` recorded it in [`STEPS_FILE`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobStep {
    /// Step name (`matrix`, `profile`, `criterion callin`, ...).
    pub step: String,
    /// How it ended.
    pub status: StepStatus,
    /// Wall time of the step in seconds.
    pub seconds: f64,
    /// Result files (in the results directory) the step writes.
    pub produces: Vec<String>,
    /// The command it ran (empty for a skipped step).
    pub command: String,
    /// For a failed step, the line of its output that says what went wrong; for a skipped one,
    /// the reason.
    pub detail: String,
}

impl JobStep {
    /// Why a result this step should have produced is absent, or `None` if the step succeeded.
    pub fn absence_reason(&self) -> Option<String> {
        match self.status {
            StepStatus::Ok => None,
            StepStatus::Failed => Some(format!("{} failed: {}", self.step, self.detail)),
            StepStatus::Skipped => Some(format!("{} skipped: {}", self.step, self.detail)),
        }
    }

    /// The criterion group of a `criterion <group>` step.
    pub fn criterion_group(&self) -> Option<&str> {
        self.step.strip_prefix(CRITERION_STEP_PREFIX)
    }
}

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
    /// The main job's steps, when the results came from `scripts/bench.sh`.
    pub steps: Input<Vec<JobStep>>,
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
            steps: Input::Missing(why.to_owned()),
        }
    }

    /// Reads [`RUN_FILE`], [`PROFILE_FILE`], [`TOPOLOGY_FILE`], [`NUMA_FILE`] and
    /// [`BASELINE_FILE`] from `results_dir`, and criterion's estimates under `criterion_root`
    /// (normally `target/criterion`). Absent files become [`Input::Missing`] with the command
    /// that would produce them, or, when the main job's [`STEPS_FILE`] is there, with the reason
    /// the step that writes them failed or was skipped; present but malformed files are errors
    /// naming the file.
    pub fn load_from_dir(results_dir: &Path, criterion_root: &Path) -> Result<Self, ReportError> {
        let steps = load_steps(&results_dir.join(STEPS_FILE))?;
        let job = steps.loaded().map_or(&[][..], Vec::as_slice);
        let dir = results_dir;
        let run: Input<RunResults> = load_result(
            dir,
            job,
            RUN_FILE,
            "run `callin-bench run` to measure the matrix",
        )?;
        // A run compared with a named baseline (`run --baseline NAME`) says which file that is.
        let named_baseline = run
            .loaded()
            .and_then(|r| r.baseline.as_ref())
            .map(|b| dir.join(&b.file))
            .filter(|p| p.exists());
        let mut inputs = ReportInputs {
            run,
            profile: load_result(
                dir,
                job,
                PROFILE_FILE,
                "run `callin-bench profile --json` for the phase breakdown",
            )?,
            criterion: load_criterion(criterion_root)?,
            topology: load_result(
                dir,
                job,
                TOPOLOGY_FILE,
                "run `callin-bench topology --json` for the topology",
            )?,
            numa: load_result(
                dir,
                job,
                NUMA_FILE,
                "run `callin-bench numa` for the placement experiments",
            )?,
            baseline: load_result(
                dir,
                job,
                BASELINE_FILE,
                "no baseline: run `callin-bench run --baseline NAME` (after `--save-baseline NAME`), \
                 or copy an earlier run's JSON there",
            )?,
            steps,
        };
        if let Some(path) = named_baseline {
            inputs = inputs.with_baseline_file(&path)?;
        }
        Ok(inputs)
    }

    /// Every input by name, loaded (`Ok`) or missing with the reason, in the page's order.
    pub fn statuses(&self) -> [(&'static str, Result<(), &str>); 7] {
        [
            ("run results", self.run.get().map(drop)),
            ("profile", self.profile.get().map(drop)),
            ("criterion estimates", self.criterion.get().map(drop)),
            ("topology", self.topology.get().map(drop)),
            ("NUMA experiments", self.numa.get().map(drop)),
            ("baseline run", self.baseline.get().map(drop)),
            ("main job steps", self.steps.get().map(drop)),
        ]
    }

    /// The criterion groups the main job ran (one `criterion <group>` step each), in job order;
    /// empty when the results did not come from the main job.
    pub fn job_criterion_groups(&self) -> Vec<&JobStep> {
        self.steps.loaded().map_or_else(Vec::new, |steps| {
            steps
                .iter()
                .filter(|s| s.criterion_group().is_some())
                .collect()
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

/// `file` in the results directory, or why it is absent: the job step that should have written
/// it failed or was skipped, else `hint`.
fn load_result<T: DeserializeOwned>(
    dir: &Path,
    job: &[JobStep],
    file: &str,
    hint: &str,
) -> Result<Input<T>, ReportError> {
    let path = dir.join(file);
    match job_absence(job, file) {
        Some(why) if !path.exists() => Ok(Input::Missing(why)),
        _ => load_optional(&path, hint),
    }
}

/// Why `file` is absent according to the job's steps: the first step that should have written it
/// and did not succeed.
fn job_absence(steps: &[JobStep], file: &str) -> Option<String> {
    steps
        .iter()
        .filter(|s| s.produces.iter().any(|p| p == file))
        .find_map(JobStep::absence_reason)
}

/// Reads the main job's step log: a header line, then one tab-separated row per step (`step`,
/// `status`, `seconds`, `produces` (space-separated), `command`, `detail`). `Missing` when the
/// file is absent; a malformed row is an error naming the file and line.
pub fn load_steps(path: &Path) -> Result<Input<Vec<JobStep>>, ReportError> {
    if !path.exists() {
        return Ok(Input::Missing(format!(
            "{} not found; the results did not come from scripts/bench.sh",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
    let bad = |line: usize, why: String| ReportError::Malformed {
        path: path.to_owned(),
        detail: format!("line {line}: {why}"),
    };
    let mut steps = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 6 {
            return Err(bad(i + 1, format!("{} fields, expected 6", f.len())));
        }
        let status = match f[1] {
            "ok" => StepStatus::Ok,
            "failed" => StepStatus::Failed,
            "skipped" => StepStatus::Skipped,
            other => return Err(bad(i + 1, format!("unknown status {other:?}"))),
        };
        let seconds = f[2]
            .parse::<f64>()
            .map_err(|_| bad(i + 1, format!("seconds {:?} is not a number", f[2])))?;
        steps.push(JobStep {
            step: f[0].to_owned(),
            status,
            seconds,
            produces: f[3].split_whitespace().map(str::to_owned).collect(),
            command: f[4].to_owned(),
            detail: f[5].to_owned(),
        });
    }
    Ok(Input::Loaded(steps))
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
