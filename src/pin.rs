//! Thread binding, the one place the harness binds a thread: the pinning policy (which driver
//! thread goes where), the per-thread plan made from it, the CPU set of a target (one core id,
//! or the CPUs hwloc lists for a NUMA node), the bind itself through rts-core's primitive
//! ([`rts_core::numa::bind_current_thread`], `sched_setaffinity`), and the report of what was
//! done (requested target, whether the OS accepted it, the CPU set the thread may then run on).
//!
//! Two callers, two error policies over the same bind: the drivers call [`apply`], which never
//! fails (a refused pin is reported and the thread runs unpinned); the NUMA experiments call
//! [`bind`] on a [`Machine`] and stop on an error. On a topology that is not this machine
//! (synthetic, XML) binding is a no-op, reported as such.

use std::fmt;

use serde::Serialize;

use crate::topology::{self, Machine};

/// How the driver places its threads. Chosen once per run, applied before timing starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[non_exhaustive]
pub enum PinPolicy {
    /// Leave every thread where the OS scheduler puts it.
    #[default]
    None,
    /// Thread `i` goes to the `i mod n`-th CPU the process may run on (in the order
    /// [`available_core_ids`] lists them), so more threads than cores wrap round-robin.
    CoresRoundRobin,
    /// Thread `i` may run on any CPU of NUMA node `i mod n` (hwloc logical node numbers of this
    /// machine).
    NodesRoundRobin,
}

/// Where one thread should go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum PinTarget {
    /// No pinning requested.
    Unpinned,
    /// Pin to this CPU (an id from [`available_core_ids`], an OS CPU index).
    Core(usize),
    /// Bind to the CPUs of this NUMA node (hwloc logical index on this machine).
    Node(u32),
}

/// What [`apply`] or [`bind`] did on one thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinReport {
    /// What the plan asked for.
    pub target: PinTarget,
    /// True when a pin was requested and the OS accepted it; false for [`PinTarget::Unpinned`].
    pub applied: bool,
    /// The CPUs the thread may run on after applying, read back from the OS; `None` where the
    /// platform has no way to read it.
    pub allowed_cpus: Option<Vec<usize>>,
    /// Why a requested pin was not applied: the OS refused it, or (from [`bind`]) the topology
    /// is not this machine, so binding is a no-op.
    pub error: Option<String>,
}

/// A plan or a binding that cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PinError {
    /// The policy needs core ids and the OS reported none for this process.
    NoCoresReported,
    /// The policy needs the NUMA topology and hwloc could not provide it.
    Topology(String),
    /// A node target names a node the topology does not have.
    NoSuchNode {
        /// The node asked for.
        node: u32,
        /// How many nodes the topology has.
        nodes: usize,
    },
    /// The OS refused the binding.
    Refused {
        /// What was asked for.
        target: PinTarget,
        /// Its CPUs.
        cpus: Vec<usize>,
        /// The OS error.
        detail: String,
    },
}

impl fmt::Display for PinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinError::NoCoresReported => {
                f.write_str("pinning to cores requested, but the OS reported no usable core ids")
            }
            PinError::Topology(e) => write!(f, "pinning to NUMA nodes requested: {e}"),
            PinError::NoSuchNode { node, nodes } => write!(
                f,
                "NUMA node {node} does not exist (nodes 0..{})",
                nodes.saturating_sub(1)
            ),
            PinError::Refused {
                target: PinTarget::Core(id),
                detail,
                ..
            } => write!(
                f,
                "the OS refused to pin this thread to core {id}: {detail}"
            ),
            PinError::Refused { cpus, detail, .. } => {
                write!(f, "binding to CPUs {cpus:?}: {detail}")
            }
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
                let n = host()?.nodes.len() as u32;
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

/// CPUs the process may run on (the calling thread's affinity mask), ascending.
pub fn available_core_ids() -> Vec<usize> {
    rts_core::numa::allowed_cpus().unwrap_or_default()
}

/// Bind the calling thread to `target` on this machine and report what happened. Never panics
/// and never fails: a refused pin is reported in [`PinReport::error`] and the thread keeps
/// running where it was allowed to.
pub fn apply(target: PinTarget) -> PinReport {
    let bound = match target {
        // A core id needs no topology; only node targets load hwloc's view of this machine.
        PinTarget::Unpinned | PinTarget::Core(_) => bind_cpus(target, cpus_of_core(target)),
        PinTarget::Node(_) => host().and_then(|m| bind(m, target)),
    };
    bound.unwrap_or_else(|e| report(target, false, Some(e.to_string())))
}

/// Bind the calling thread to `target` on `machine`: a core's CPU, or every CPU of a node. On a
/// machine that is not this one nothing is bound and the report says why.
///
/// # Errors
/// [`PinError::NoSuchNode`] for a node `machine` does not have, [`PinError::Refused`] when the
/// OS refuses the binding.
pub fn bind(machine: &Machine, target: PinTarget) -> Result<PinReport, PinError> {
    let cpus = match target {
        PinTarget::Node(n) => match machine.nodes.get(n as usize) {
            Some(node) => Some(node.cpus.iter().map(|&c| c as usize).collect()),
            None => {
                return Err(PinError::NoSuchNode {
                    node: n,
                    nodes: machine.nodes.len(),
                });
            }
        },
        PinTarget::Unpinned | PinTarget::Core(_) => cpus_of_core(target),
    };
    if cpus.is_some() && !machine.bindable {
        let why = format!("{}: binding is a no-op", machine.source);
        return Ok(report(target, false, Some(why)));
    }
    bind_cpus(target, cpus)
}

/// The CPU set of a core target; `None` for [`PinTarget::Unpinned`] (and for node targets, whose
/// CPUs come from a topology: [`bind`]).
fn cpus_of_core(target: PinTarget) -> Option<Vec<usize>> {
    match target {
        PinTarget::Core(id) => Some(vec![id]),
        PinTarget::Unpinned | PinTarget::Node(_) => None,
    }
}

/// The one bind: `cpus` through rts-core's `sched_setaffinity` wrapper (nothing when `None`),
/// then the read-back.
fn bind_cpus(target: PinTarget, cpus: Option<Vec<usize>>) -> Result<PinReport, PinError> {
    let Some(cpus) = cpus else {
        return Ok(report(target, false, None));
    };
    match rts_core::numa::bind_current_thread(&cpus, "callin-bench pin") {
        Ok(()) => Ok(report(target, true, None)),
        Err(e) => {
            let detail = match e {
                rts_core::CallInError::BadArgument { detail, .. } => detail,
                other => other.to_string(),
            };
            Err(PinError::Refused {
                target,
                cpus,
                detail,
            })
        }
    }
}

fn report(target: PinTarget, applied: bool, error: Option<String>) -> PinReport {
    PinReport {
        target,
        applied,
        // Read back from the OS (`sched_getaffinity`), so the report says what took effect.
        allowed_cpus: rts_core::numa::allowed_cpus(),
        error,
    }
}

/// This machine's topology, loaded once per process (for node targets).
fn host() -> Result<&'static Machine, PinError> {
    topology::host().map_err(|e| PinError::Topology(e.to_string()))
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
        let host = crate::topology::host().unwrap();
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

    #[test]
    fn a_refused_core_pin_is_reported_with_the_os_reason() {
        let report = std::thread::spawn(|| apply(PinTarget::Core(1 << 20)))
            .join()
            .unwrap();
        assert!(!report.applied);
        let why = report.error.expect("a reason");
        assert!(
            why.contains("the OS refused to pin this thread to core 1048576"),
            "{why}"
        );
    }
}
