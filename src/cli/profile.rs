//! `callin-bench profile`: parses the arguments of the per-phase profile and runs it
//! (`crate::profile::experiment`): for rts-core systems isolated phases with counters and in-situ
//! probes (feature `probes`); for every system, per threads × caps cell, the plain call with
//! per-call counters and sampling in a child process; for the real GHC the API spans of the
//! wrapped baseline; with `--callgrind` deterministic instruction counts. Prints a table per
//! configuration and writes `profile.json` (schema `callin_reports::schema::ProfileResults`).

use std::path::PathBuf;

use callin_reports::schema::System;

use crate::paths;
use crate::profile::callgrind;
use crate::profile::experiment::{self, Plan};

/// Arguments of `callin-bench profile`.
#[derive(Debug, clap::Args)]
pub struct ProfileArgs {
    /// Systems to profile (`default`, `ghc-mode`, `real-ghc`), comma-separated: the names
    /// `run --systems` takes.
    #[arg(long, value_delimiter = ',', default_values_t = [System::Default, System::GhcMode])]
    pub systems: Vec<System>,
    /// Calling threads; comma-separated for several (every combination with --caps).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub threads: Vec<u32>,
    /// RTS capabilities; comma-separated for several.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub caps: Vec<u32>,
    /// Exactly these threads x caps cells instead of every combination (e.g. `1x1,2x1,2x2`).
    #[arg(long, value_delimiter = ',', value_parser = parse_cell)]
    pub cells: Vec<(u32, u32)>,
    /// Calls per thread in the probe, API-span and counter runs.
    #[arg(long, default_value_t = 50_000)]
    pub calls: u64,
    /// Operations per isolated-phase counter batch (at least 10000).
    #[arg(long, default_value_t = 20_000)]
    pub iters: u64,
    /// Length of each sampling run, in ms.
    #[arg(long, default_value_t = 1_000)]
    pub sample_ms: u64,
    /// Where to write the JSON (always written; default, and with a bare `--json`:
    /// <target>/callin-bench/profile.json).
    #[arg(long, value_name = "PATH", num_args = 0..=1)]
    pub json: Option<Option<PathBuf>>,
    /// Also count instructions under valgrind callgrind (two runs per system).
    #[arg(long)]
    pub callgrind: bool,
    /// Only the callgrind counts (no timing runs).
    #[arg(long)]
    pub callgrind_only: bool,
    /// Operations per region under callgrind.
    #[arg(long, default_value_t = callgrind::DEFAULT_OPS)]
    pub callgrind_ops: u64,
    /// The binary the per-cell children run (default: this one, or the `callin-bench` beside
    /// it when this one was built with `probes`: rts-core is sampled without probes).
    #[arg(long, value_name = "PATH")]
    pub unprobed_exe: Option<PathBuf>,
    /// Report the futex counter as unavailable (exercises the degraded path).
    #[arg(long, hide = true)]
    pub force_unavailable_counter: bool,
    /// Internal: run the callgrind worker of `--systems` (used by `--callgrind`).
    #[arg(long, hide = true)]
    pub callgrind_worker: bool,
    /// Internal: run one profiled cell (a JSON job) in this process.
    #[arg(long, hide = true, requires = "cell_out")]
    pub cell_worker: Option<String>,
    /// Internal: where the cell worker writes its outcome.
    #[arg(long, hide = true)]
    pub cell_out: Option<PathBuf>,
}

/// `TxC` (threads x capabilities).
fn parse_cell(s: &str) -> Result<(u32, u32), String> {
    let (t, c) = s
        .split_once('x')
        .ok_or_else(|| format!("cell {s:?}: expected THREADSxCAPS, e.g. 2x1"))?;
    let n = |v: &str| {
        v.parse::<u32>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("cell {s:?}: {v:?} is not a count of at least 1"))
    };
    Ok((n(t)?, n(c)?))
}

/// Runs the command.
pub fn main(args: &ProfileArgs) -> anyhow::Result<()> {
    if let (Some(job), Some(out)) = (&args.cell_worker, &args.cell_out) {
        return crate::profile::cell::worker(job, out);
    }
    if args.callgrind_worker {
        let system = args.systems.first().copied().unwrap_or(System::Default);
        return callgrind::worker(system, args.callgrind_ops);
    }
    let plan = plan(args)?;
    let results = experiment::run(&plan)?;
    let path = match &args.json {
        Some(Some(p)) => p.clone(),
        _ => paths::result_file(callin_reports::input::PROFILE_FILE),
    };
    crate::results::write_json(&path, &results)?;
    println!("wrote {}", path.display());
    Ok(())
}

fn plan(args: &ProfileArgs) -> anyhow::Result<Plan> {
    anyhow::ensure!(
        args.iters >= crate::profile::MIN_BATCH_ITERS,
        "--iters {} is below the counter batch minimum {}",
        args.iters,
        crate::profile::MIN_BATCH_ITERS
    );
    anyhow::ensure!(args.calls > 0, "--calls must be at least 1");
    anyhow::ensure!(args.sample_ms > 0, "--sample-ms must be at least 1");
    anyhow::ensure!(
        args.threads.iter().chain(&args.caps).all(|&n| n > 0),
        "--threads and --caps must be at least 1"
    );
    let cells = if args.cells.is_empty() {
        args.caps
            .iter()
            .flat_map(|&c| args.threads.iter().map(move |&t| (t, c)))
            .collect()
    } else {
        args.cells.clone()
    };
    let unprobed_exe = match &args.unprobed_exe {
        Some(p) => p.clone(),
        None => experiment::default_unprobed_exe()?,
    };
    Ok(Plan {
        systems: args.systems.clone(),
        cells,
        calls: args.calls,
        iters: args.iters,
        sample_ms: args.sample_ms,
        callgrind: args.callgrind,
        callgrind_only: args.callgrind_only,
        callgrind_ops: args.callgrind_ops,
        unprobed_exe,
        force_unavailable_counter: args.force_unavailable_counter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_parse_and_bad_ones_say_why() {
        assert_eq!(parse_cell("2x1"), Ok((2, 1)));
        assert!(parse_cell("2").unwrap_err().contains("THREADSxCAPS"));
        assert!(parse_cell("0x1").unwrap_err().contains("at least 1"));
    }
}
