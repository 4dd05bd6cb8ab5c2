//! The `callin-bench` subcommands: one module per command, each with a clap `Args` struct and a
//! `main(&Args) -> anyhow::Result<()>`. Results go to [`crate::paths::results_dir`] under cargo's
//! target directory, with the file names the report reads (`callin_reports::input`).

pub mod numa;
pub mod profile;
pub mod report;
pub mod run;
pub mod topology;
