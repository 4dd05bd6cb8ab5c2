//! Capability selection cost on synthetic topologies of 4, 64 and 256 capabilities: the
//! scenarios (shared by the `selection` criterion bench and `callin-bench numa`) and a plain
//! timing loop. One selection = `Rts::select_free` + the release of what it took.

use std::time::Instant;

use callin_reports::schema::{SelectionCost, Spread};
use rts_core::ForeignNode;
use rts_core::scaffolding::{self, SelectError, SelectedCap};
use rts_core::{Config, PolicySet, Rts};

use crate::stats::spread;
use crate::topology::{Machine, TopologyError};

/// (capabilities, synthetic topology with one core per capability).
pub const SIZES: [(u32, &str); 3] = [
    (4, "numa:2 core:2 pu:1"),
    (64, "pack:2 numa:2 core:16 pu:1"),
    (256, "pack:2 group:2 numa:2 core:32 pu:1"),
];

/// Which capabilities are busy when node 0's task selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// Everything free: the first free capability of the task's node.
    OwnNode,
    /// Everything busy except one capability on the farthest node: the worst successful scan.
    FarthestRemote,
    /// Everything the policy may take is busy: the cost of deciding to wait.
    AllBusy,
}

impl Case {
    /// Bench id part.
    pub fn name(self) -> &'static str {
        match self {
            Case::OwnNode => "own_node",
            Case::FarthestRemote => "farthest_remote",
            Case::AllBusy => "all_busy",
        }
    }

    /// The cases a policy can reach (GHC's selection never leaves the task's node).
    pub fn for_policy(policy: &PolicySet) -> &'static [Case] {
        if policy.select == rts_core::policy::SelectPolicy::Ghc {
            &[Case::OwnNode, Case::AllBusy]
        } else {
            &[Case::OwnNode, Case::FarthestRemote, Case::AllBusy]
        }
    }
}

/// A standalone rts-core instance for `spec` with `caps` capabilities under `policy`.
pub fn instance(caps: u32, spec: &str, policy: PolicySet) -> Result<(Rts, u32), TopologyError> {
    let machine = Machine::synthetic(spec)?;
    let numa = machine.numa_config(None, ForeignNode::Zero)?;
    let n_nodes = numa.n_nodes;
    let config = Config {
        n_capabilities: caps,
        max_capabilities: caps,
        nursery_bytes: 64 << 10,
        policy,
        numa,
    };
    let rts = scaffolding::standalone(config).map_err(|e| TopologyError::Hwloc(e.to_string()))?;
    Ok((rts, n_nodes))
}

/// Set `rts` up for `case` (holding capabilities as needed) and run `f` while it stands.
pub fn with_case<R>(rts: &Rts, case: Case, f: impl FnOnce() -> R) -> R {
    let mut held: Vec<SelectedCap<'_>> = Vec::new();
    if case != Case::OwnNode {
        while let Ok(c) = scaffolding::select_free(rts, 0) {
            held.push(c);
        }
        // Under GHC's policy this holds node 0 only; take every other node's too.
        for n in 1..rts.config().numa.n_nodes {
            while let Ok(c) = scaffolding::select_free(rts, n) {
                held.push(c);
            }
        }
    }
    if case == Case::FarthestRemote {
        let farthest = rts
            .config()
            .numa
            .nearest_from(0)
            .last()
            .copied()
            .unwrap_or(0);
        let i = held
            .iter()
            .position(|c| c.cap().node == farthest)
            .expect("the farthest node has a capability");
        held.swap_remove(i);
    }
    let out = f();
    drop(held);
    out
}

/// One selection from node 0, released at once; true if a capability was taken.
#[inline]
pub fn select_once(rts: &Rts) -> bool {
    match scaffolding::select_free(rts, 0) {
        Ok(c) => {
            drop(c);
            true
        }
        Err(SelectError::AllBusy) => false,
        Err(e) => panic!("selection from node 0: {e}"),
    }
}

/// Median / min / max nanoseconds per selection over `reps` loops of `iters`.
pub fn time_selection(rts: &Rts, case: Case, iters: u32, reps: u32) -> Spread {
    with_case(rts, case, || {
        let per: Vec<f64> = (0..reps)
            .map(|_| {
                let t0 = Instant::now();
                for _ in 0..iters {
                    std::hint::black_box(select_once(std::hint::black_box(rts)));
                }
                t0.elapsed().as_nanos() as f64 / f64::from(iters)
            })
            .collect();
        spread(&per)
    })
}

/// Selection cost at every size, for both policies and each reachable case.
pub fn measure_all(iters: u32, reps: u32) -> Result<Vec<(Case, SelectionCost)>, TopologyError> {
    let mut out = Vec::new();
    for (label, policy) in super::policies() {
        for (caps, spec) in SIZES {
            let (rts, nodes) = instance(caps, spec, policy)?;
            for &case in Case::for_policy(&policy) {
                let ns = time_selection(&rts, case, iters, reps);
                let policy = format!("{label} ({})", case.name());
                out.push((
                    case,
                    SelectionCost {
                        capabilities: caps,
                        nodes,
                        policy,
                        ns_per_select: ns,
                    },
                ));
            }
        }
    }
    Ok(out)
}
