//! The `callin-bench` subcommands: one module per command, each with a clap `Args` struct and a
//! `main(&Args) -> anyhow::Result<()>`. Results go to [`DEFAULT_RESULTS_DIR`] under `target/`,
//! with the file names the report reads (`callin_reports::input`).

pub mod numa;
pub mod profile;
pub mod report;
pub mod run;
pub mod topology;

/// Where commands write their JSON by default (relative to the workspace root).
pub const DEFAULT_RESULTS_DIR: &str = "target/callin-bench";
/// Where criterion writes its estimates by default.
pub const DEFAULT_CRITERION_DIR: &str = "target/criterion";
/// Where the report command writes `<run-id>/index.html` by default.
pub const DEFAULT_REPORTS_DIR: &str = "target/reports";
