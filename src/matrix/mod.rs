//! The experiment matrix shared by the criterion benches and `callin-bench run`: which systems,
//! thread and capability counts, policy sets (the ablation) and floor primitives are measured,
//! and how one rts-core configuration is started and driven.

pub mod ablation;
pub mod floor;
pub mod manifest;
pub mod rts_core_cell;

/// Thread counts of the end-to-end matrix (more threads than capabilities, and than cores).
pub const THREADS: &[u32] = &[1, 2, 4];
/// Capability counts of the end-to-end matrix.
pub const CAPABILITIES: &[u32] = &[1, 2];

/// `t{threads}_c{caps}`: the configuration part of bench ids and table rows.
pub fn config_id(threads: u32, caps: u32) -> String {
    format!("t{threads}_c{caps}")
}
