//! `callin-bench numa`: the NUMA placement experiments on this machine ([`crate::numa`]), written
//! to `numa.json` (`callin_reports::schema::NumaResults`).

use std::path::PathBuf;

use rts_core::ForeignNode;

use crate::topology::Machine;
use crate::{numa, results};

/// Arguments of `callin-bench numa`.
#[derive(Debug, clap::Args)]
pub struct NumaArgs {
    /// Calls per thread per repetition.
    #[arg(long, default_value_t = 50_000)]
    pub calls: u64,
    /// Repetitions per cell (median, min and max are reported).
    #[arg(long, default_value_t = 5)]
    pub reps: u32,
    /// Node of an unpinned thread's Task: `zero` (GHC: node 0) or `where-bound` (the node its
    /// thread is bound to, else the node of the CPU it first runs on).
    #[arg(long, default_value = "zero", value_parser = ["zero", "where-bound"])]
    pub foreign_node: String,
    /// Where to write the JSON.
    #[arg(long, default_value_os_t = crate::paths::result_file(callin_reports::input::NUMA_FILE))]
    pub json: PathBuf,
}

/// Runs the command.
pub fn main(args: &NumaArgs) -> anyhow::Result<()> {
    if args.calls == 0 || args.reps == 0 {
        anyhow::bail!("--calls and --reps must be at least 1");
    }
    let foreign_node = match args.foreign_node.as_str() {
        "where-bound" => ForeignNode::WhereBound,
        _ => ForeignNode::Zero,
    };
    let machine = Machine::host()?;
    let results = numa::run(&machine, args.calls, args.reps, foreign_node)?;
    results::write_json(&args.json, &results)?;
    println!("wrote {}", args.json.display());
    Ok(())
}
