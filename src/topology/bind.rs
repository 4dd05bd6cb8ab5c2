//! Binding the calling thread to a core, a NUMA node, or nowhere, through hwloc's `cpubind`
//! (nodes) and core_affinity (cores), with a read-back of where the thread may then run.
//!
//! On a topology that is not this machine (synthetic, XML) binding is a no-op, reported as such.

use std::sync::OnceLock;

use hwlocality::cpu::binding::CpuBindingFlags;
use hwlocality::cpu::cpuset::CpuSet;

use super::{Machine, TopologyError};

/// Where a driver thread goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadPlacement {
    /// Wherever the OS puts it.
    Free,
    /// One PU, by OS index.
    Core(u32),
    /// Any PU of a NUMA node, by logical node index.
    Node(u32),
}

/// What [`bind_current_thread`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindOutcome {
    /// Whether the OS accepted a binding (false for `Free` and for non-host topologies).
    pub applied: bool,
    /// CPUs the thread may run on afterwards, read back from the OS.
    pub allowed_cpus: Option<Vec<usize>>,
    /// Why nothing was bound although a binding was asked for.
    pub skipped: Option<String>,
}

/// Bind the calling thread as `placement` says, on `machine`.
pub fn bind_current_thread(
    machine: &Machine,
    placement: ThreadPlacement,
) -> Result<BindOutcome, TopologyError> {
    let outcome = |applied, skipped| BindOutcome {
        applied,
        allowed_cpus: rts_core::numa::allowed_cpus(),
        skipped,
    };
    if placement == ThreadPlacement::Free {
        return Ok(outcome(false, None));
    }
    if !machine.bindable {
        let why = format!("{}: binding is a no-op", machine.source);
        return Ok(outcome(false, Some(why)));
    }
    let cpus: Vec<u32> = match placement {
        ThreadPlacement::Free => unreachable!("handled above"),
        ThreadPlacement::Core(pu) => vec![pu],
        ThreadPlacement::Node(n) => match machine.nodes.get(n as usize) {
            Some(node) => node.cpus.clone(),
            None => {
                return Err(TopologyError::BadCapabilities(format!(
                    "NUMA node {n} does not exist (nodes 0..{})",
                    machine.nodes.len() - 1
                )));
            }
        },
    };
    let mut set = CpuSet::new();
    for &c in &cpus {
        set.set(c as usize);
    }
    machine
        .hwloc()
        .bind_cpu(&set, CpuBindingFlags::THREAD)
        .map_err(|e| TopologyError::Hwloc(format!("binding to CPUs {cpus:?}: {e}")))?;
    Ok(outcome(true, None))
}

/// This machine's topology, loaded once per process (for [`crate::pin`]'s node targets).
pub fn host() -> Result<&'static Machine, TopologyError> {
    static HOST: OnceLock<Result<Machine, String>> = OnceLock::new();
    HOST.get_or_init(|| Machine::host().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| TopologyError::Hwloc(e.clone()))
}
