//! Thread pinning for the drivers: owns the pinning policy (which driver thread goes where), the
//! per-thread plan made from it, applying one plan entry to the calling OS thread, and the
//! report of what was actually done (requested target, whether the OS accepted it, and the CPU
//! set the thread ended up allowed on).
//!
//! NUMA: [`PinPolicy::NodesRoundRobin`] / [`PinTarget::Node`] bind to a node's CPUs through
//! [`crate::topology::bind`] (hwloc); the report type is the same, so driver output keeps its
//! shape.

use std::fmt;

use serde::Serialize;

/// How the driver places its threads. Chosen once per run, applied before timing starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[non_exhaustive]
pub enum PinPolicy {
    /// Leave every thread where the OS scheduler puts it.
    #[default]
    None,
    /// Thread `i` goes to the `i mod n`-th core the process may run on (core ids as
    /// `core_affinity` lists them), so more threads than cores wrap round-robin.
    CoresRoundRobin,
    /// Thread `i` may run on any CPU of NUMA node `i mod n` (hwloc logical node numbers of this
    /// machine, bound with hwloc cpubind; see [`crate::topology::bind`]).
    NodesRoundRobin,
}

/// Where one thread should go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum PinTarget {
    /// No pinning requested.
    Unpinned,
    /// Pin to this core id (an id from `core_affinity::get_core_ids`).
    Core(usize),
    /// Bind to the CPUs of this NUMA node (hwloc logical index on this machine).
    Node(u32),
}

/// What [`apply`] did on one thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinReport {
    /// What the plan asked for.
    pub target: PinTarget,
    /// True when a pin was requested and the OS accepted it; false for [`PinTarget::Unpinned`].
    pub applied: bool,
    /// The CPUs the thread may run on after applying, read back from the OS; `None` where the
    /// platform has no way to read it.
    pub allowed_cpus: Option<Vec<usize>>,
    /// Why a requested pin failed, when it did.
    pub error: Option<String>,
}

/// A plan that cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PinError {
    /// The policy needs core ids and the OS reported none for this process.
    NoCoresReported,
    /// The policy needs the NUMA topology and hwloc could not provide it.
    Topology(String),
}

impl fmt::Display for PinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinError::NoCoresReported => {
                f.write_str("pinning to cores requested, but the OS reported no usable core ids")
            }
            PinError::Topology(e) => write!(f, "pinning to NUMA nodes requested: {e}"),
        }
    }
}

impl std::error::Error for PinError {}

impl PinPolicy {
    /// One target per thread, index = driver thread index.
    pub fn plan(&self, threads: usize) -> Result<Vec<PinTarget>, PinError> {
        match self {
            PinPolicy::None => Ok(vec![PinTarget::Unpinned; threads]),
            PinPolicy::CoresRoundRobin => {
                let cores = available_core_ids();
                if cores.is_empty() {
                    return Err(PinError::NoCoresReported);
                }
                Ok(plan_round_robin(threads, &cores))
            }
            PinPolicy::NodesRoundRobin => {
                let host =
                    crate::topology::bind::host().map_err(|e| PinError::Topology(e.to_string()))?;
                let n = host.nodes.len() as u32;
                Ok((0..threads as u32)
                    .map(|i| PinTarget::Node(i % n))
                    .collect())
            }
        }
    }

    /// Short name for tables and JSON.
    pub fn label(&self) -> &'static str {
        match self {
            PinPolicy::None => "none",
            PinPolicy::CoresRoundRobin => "cores-round-robin",
            PinPolicy::NodesRoundRobin => "nodes-round-robin",
        }
    }
}

/// Thread `i` gets `cores[i % cores.len()]`. `cores` must not be empty.
pub fn plan_round_robin(threads: usize, cores: &[usize]) -> Vec<PinTarget> {
    assert!(
        !cores.is_empty(),
        "plan_round_robin needs at least one core id"
    );
    (0..threads)
        .map(|i| PinTarget::Core(cores[i % cores.len()]))
        .collect()
}

/// Core ids the process may run on, in the order `core_affinity` reports them.
pub fn available_core_ids() -> Vec<usize> {
    core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

/// Apply `target` to the calling OS thread and report what happened. Never panics: a refused
/// pin is reported in [`PinReport::error`] and the thread keeps running unpinned.
pub fn apply(target: PinTarget) -> PinReport {
    let (applied, error) = match target {
        PinTarget::Unpinned => (false, None),
        PinTarget::Core(id) => {
            if core_affinity::set_for_current(core_affinity::CoreId { id }) {
                (true, None)
            } else {
                (
                    false,
                    Some(format!("the OS refused to pin this thread to core {id}")),
                )
            }
        }
        PinTarget::Node(node) => apply_node(node),
    };
    PinReport {
        target,
        applied,
        allowed_cpus: current_allowed_cpus(),
        error,
    }
}

/// Bind the calling thread to NUMA node `node` of this machine: (applied, error).
fn apply_node(node: u32) -> (bool, Option<String>) {
    use crate::topology::bind::{ThreadPlacement, bind_current_thread, host};
    match host().and_then(|m| bind_current_thread(m, ThreadPlacement::Node(node))) {
        Ok(outcome) => (outcome.applied, outcome.skipped),
        Err(e) => (false, Some(e.to_string())),
    }
}

cfg_if::cfg_if! {
    if #[cfg(target_os = "linux")] {
        /// CPUs the calling thread may run on (`sched_getaffinity`), ascending.
        pub fn current_allowed_cpus() -> Option<Vec<usize>> {
            // SAFETY: cpu_set_t is a plain bit array; all-zero is a valid (empty) set.
            let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            // SAFETY: `set` is a live, writable cpu_set_t and we pass its exact size; pid 0
            // means the calling thread.
            let rc = unsafe {
                libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set)
            };
            if rc != 0 {
                return None;
            }
            let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
            // SAFETY: `cpu < max`, the number of bits in `set`, which the kernel filled above.
            Some((0..max).filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) }).collect())
        }
    } else {
        /// CPUs the calling thread may run on: not readable on this platform.
        pub fn current_allowed_cpus() -> Option<Vec<usize>> {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_wraps_when_threads_exceed_cores() {
        let plan = plan_round_robin(5, &[3, 7]);
        let want = [3, 7, 3, 7, 3].map(PinTarget::Core);
        assert_eq!(plan, want);
    }

    #[test]
    fn nodes_policy_binds_each_thread_to_its_node_cpus() {
        let host = crate::topology::bind::host().unwrap();
        let plan = PinPolicy::NodesRoundRobin.plan(3).unwrap();
        let n = host.nodes.len() as u32;
        assert_eq!(
            plan,
            (0..3).map(|i| PinTarget::Node(i % n)).collect::<Vec<_>>()
        );
        let report = std::thread::spawn(|| apply(PinTarget::Node(0)))
            .join()
            .unwrap();
        assert!(report.applied, "{report:?}");
        let want: Vec<usize> = host.nodes[0].cpus.iter().map(|&c| c as usize).collect();
        assert_eq!(report.allowed_cpus, Some(want));
    }

    #[test]
    fn none_policy_plans_unpinned_threads() {
        let plan = PinPolicy::None.plan(3).unwrap();
        assert_eq!(plan, vec![PinTarget::Unpinned; 3]);
    }
}
