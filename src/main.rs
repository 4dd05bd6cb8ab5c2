//! `callin-bench`: the command-line entry point. Each subcommand lives in `callin_bench::cli::*`;
//! this file only parses arguments and dispatches.

use callin_bench::cli;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Benchmark and profile the GHC FFI call-in path (rts-core model vs the real GHC RTS).
#[derive(Debug, Parser)]
#[command(name = "callin-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Render the HTML report from the results directory and criterion's estimates.
    Report(cli::report::ReportArgs),
    /// Run the threads x capabilities matrix (rts-core default, ghc mode, real GHC), the floor
    /// and the policy ablation; write run.json and print the table.
    Run(cli::run::RunArgs),
    /// Per-phase profile: isolated phases with perf counters, in-situ probes, callgrind counts.
    Profile(cli::profile::ProfileArgs),
    /// NUMA nodes, cores and the capability -> node -> CPU map rts-core would use.
    Topology(cli::topology::TopologyArgs),
    /// NUMA placement experiments: pinned vs unpinned, local vs remote capabilities and memory.
    Numa(cli::numa::NumaArgs),
}

fn main() -> ExitCode {
    let parsed = Cli::parse();
    let outcome = match parsed.command {
        Command::Report(args) => cli::report::main(&args),
        Command::Run(args) => cli::run::main(&args),
        Command::Profile(args) => cli::profile::main(&args),
        Command::Topology(args) => cli::topology::main(&args),
        Command::Numa(args) => cli::numa::main(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("callin-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
