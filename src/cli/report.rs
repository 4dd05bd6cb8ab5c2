//! `callin-bench report`: reads the results directory (run, profile, topology, NUMA, baseline
//! JSON) and criterion's estimates, writes `<reports>/<run-id>/index.html` + `results.json`, and
//! prints the page's path. Missing inputs become "not measured" blocks in the page.

use crate::paths;
use anyhow::Context;
use callin_reports::input::ReportInputs;
use std::path::PathBuf;

/// Arguments of `callin-bench report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Directory holding run.json, profile.json, topology.json, numa.json, baseline.json.
    #[arg(long, default_value_os_t = paths::results_dir())]
    pub results: PathBuf,
    /// criterion's output directory (its `**/new/estimates.json` are read).
    #[arg(long, default_value_os_t = paths::criterion_dir())]
    pub criterion: PathBuf,
    /// Where `<run-id>/index.html` is written.
    #[arg(long, default_value_os_t = paths::reports_dir())]
    pub out: PathBuf,
    /// A saved earlier `run.json` to compare against (overrides `<results>/baseline.json`).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
}

/// Runs the command.
pub fn main(args: &ReportArgs) -> anyhow::Result<()> {
    if !args.results.is_dir() {
        anyhow::bail!(
            "results directory {} does not exist; run `callin-bench run` (or scripts/bench.sh) first",
            args.results.display()
        );
    }
    let mut inputs = ReportInputs::load_from_dir(&args.results, &args.criterion)
        .with_context(|| format!("reading inputs from {}", args.results.display()))?;
    if let Some(path) = &args.baseline {
        inputs = inputs
            .with_baseline_file(path)
            .with_context(|| format!("reading baseline {}", path.display()))?;
    }
    let written = callin_reports::write_report(&inputs, &args.out, &args.criterion)
        .context("writing the report")?;
    for (name, why) in missing_inputs(&inputs) {
        eprintln!("report: {name} not measured: {why}");
    }
    println!("{}", written.html.display());
    Ok(())
}

/// The inputs that are missing, with the reason the page shows.
fn missing_inputs(inputs: &ReportInputs) -> Vec<(&'static str, &str)> {
    inputs
        .statuses()
        .into_iter()
        .filter_map(|(name, r)| r.err().map(|why| (name, why)))
        .collect()
}
