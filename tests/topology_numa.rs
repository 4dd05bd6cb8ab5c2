//! The NUMA experiments' shape: which cells run, which are skipped and why, and that a measured
//! row carries a figure, its placement and a remote acquisition rate (0 when threads and
//! capabilities share the node). Uses the real RTS, so it lives in its own test binary.

use callin_bench::numa::experiment::{self, NEEDS_MULTI_NODE, Placement, Plan};
use callin_bench::topology::Machine;
use rts_core::PolicySet;

#[test]
fn node_b_is_the_farthest_node_and_missing_on_one_node() {
    let four = Machine::synthetic("pack:2 numa:2 core:4 pu:1").unwrap();
    assert_eq!(
        experiment::nodes_a_b(&four),
        (0, Some(3)),
        "other package, highest index"
    );
    let one = Machine::synthetic("core:2 pu:1").unwrap();
    assert_eq!(experiment::nodes_a_b(&one), (0, None));
    let cells = experiment::placements(&one);
    let skipped: Vec<_> = cells.iter().filter(|(_, s)| s.is_some()).collect();
    assert_eq!(
        skipped.len(),
        1,
        "only the cross-node cell is skipped: {cells:?}"
    );
    assert_eq!(skipped[0].1.as_deref(), Some(NEEDS_MULTI_NODE));
    let four_cells = experiment::placements(&four);
    assert!(four_cells.iter().all(|(_, s)| s.is_none()));
    assert!(four_cells.contains(&(Placement::Pinned { thread: 0, caps: 3 }, None)));
}

#[test]
fn a_local_row_on_the_host_is_measured_with_no_remote_acquisitions() {
    let host = Machine::host().unwrap();
    let plan = Plan {
        calls_per_thread: 2_000,
        reps: 2,
        access_bytes: 1 << 20,
        access_steps: 10_000,
        foreign_node: rts_core::ForeignNode::Zero,
    };
    let local = Placement::Pinned { thread: 0, caps: 0 };
    let (row, pages) = experiment::run_row(
        &host,
        local,
        callin_vocab::POLICY_SET_DEFAULT,
        PolicySet::DEFAULT,
        &plan,
    )
    .unwrap();
    assert_eq!(row.skipped, None);
    assert_eq!((row.thread_node, row.capability_node), (Some(0), Some(0)));
    let s = row.ns_per_call.expect("measured");
    assert!(s.min > 0.0 && s.min <= s.median && s.median <= s.max && s.reps == 2);
    if rts_core::stats::ENABLED {
        assert_eq!(row.remote_acquisition_rate, Some(0.0));
    }
    assert_eq!(pages.len(), row.capabilities as usize);
    for (cap, node, on) in pages {
        assert_eq!(node, 0, "capability {cap}");
        if let Some(on) = on {
            assert_eq!(on, 0, "nursery of capability {cap} is on node 0's memory");
        }
    }
    let access = experiment::access_cost(&host, 0, 0, &plan).unwrap();
    assert_eq!(access.pages_on_node.unwrap_or(0), 0);
    assert!(access.ns_per_access.unwrap().median > 0.0);
}
