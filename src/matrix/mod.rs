//! The experiment matrix shared by the criterion benches and `callin-bench run`: which systems,
//! thread and capability counts, policy sets (the ablation) and floor primitives are measured,
//! how one rts-core configuration is started and driven, and (for `run`) the paired rounds that
//! measure them side by side in worker processes, the statistics of a cell, baselines and the
//! regression gate, and the terminal table.
//!
//! [`run::execute`] is the experiment; [`rounds`] the round engine over [`worker`] processes
//! (one per system and capability count); [`contender`] and [`real_ghc`] say what the systems
//! are; [`cells`] turns rounds into results; [`baseline`] compares with a saved run.

pub mod ablation;
pub mod baseline;
pub mod cells;
pub mod contender;
pub mod floor;
pub mod manifest;
pub mod plan;
pub mod real_ghc;
pub mod rounds;
pub mod rts_core_cell;
pub mod run;
pub mod table;
pub mod worker;

/// Thread counts of the end-to-end matrix (more threads than capabilities, and than cores).
pub const THREADS: &[u32] = &[1, 2, 4];
/// Capability counts of the end-to-end matrix.
pub const CAPABILITIES: &[u32] = &[1, 2];

/// `t{threads}_c{caps}`: the configuration part of bench ids and table rows.
pub fn config_id(threads: u32, caps: u32) -> String {
    format!("t{threads}_c{caps}")
}
