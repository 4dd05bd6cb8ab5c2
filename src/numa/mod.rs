//! The NUMA placement experiments of `callin-bench numa`, run and printed as they are measured:
//! threads pinned to node A calling into capabilities and nurseries on node A vs node B vs
//! unpinned, per policy ([`experiment`]); the remote acquisition rate; memory access cost local
//! vs remote; capability selection cost on synthetic topologies ([`selection`]). The result is
//! `numa.json` (`callin_reports::schema::NumaResults`). Cross-node cells on a one-node machine
//! are reported as not measured, with the reason.

pub mod experiment;
pub mod selection;

use callin_reports::schema::{NumaResults, NumaRow, NurseryAccess, SCHEMA_VERSION};
use rts_core::ForeignNode;
use rts_core::PolicySet;

use crate::topology::{Machine, TopologyError};
use experiment::{NEEDS_MULTI_NODE, Plan};

/// Bytes of the memory-latency buffer: 64 MiB, far beyond the last-level cache, so the
/// dependent loads go to the node's memory.
pub const ACCESS_BYTES: usize = 64 << 20;

/// Dependent loads per repetition of the memory-latency measurement.
pub const ACCESS_STEPS: u64 = 2_000_000;

/// Selections per repetition of the selection-cost loop.
pub const SELECTION_ITERS: u32 = 200_000;

/// Run every experiment on `machine` (this host) with `calls` calls per thread and `reps`
/// repetitions per cell, printing each figure as it is measured.
pub fn run(
    machine: &Machine,
    calls: u64,
    reps: u32,
    foreign_node: ForeignNode,
) -> Result<NumaResults, TopologyError> {
    let plan = Plan {
        calls_per_thread: calls,
        reps,
        access_bytes: ACCESS_BYTES,
        access_steps: ACCESS_STEPS,
        foreign_node,
    };
    let n = machine.nodes.len() as u32;
    println!(
        "NUMA experiments on this machine: {n} node(s), {} core(s), {} PU(s); {} thread(s) per row",
        machine.n_cores(),
        machine.n_pus(),
        experiment::threads_for(machine)
    );
    let mut notes = Vec::new();
    if n == 1 {
        notes.push(format!(
            "This machine has one NUMA node: rows and accesses with capabilities, nurseries or \
             memory on another node are not measured ({NEEDS_MULTI_NODE}). The remote acquisition \
             rate is 0 by construction here; run on a multi-socket machine for cross-node figures."
        ));
    }
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let one_min = load.split_whitespace().next().unwrap_or("?");
        notes.push(format!(
            "1-minute load average at start: {one_min} on {} PU(s); other work competing for the \
             CPUs widens the min-max spread.",
            machine.n_pus()
        ));
    }
    if !rts_core::stats::ENABLED {
        notes.push("rts-core built without `stats`: no remote acquisition rate".into());
    }
    if plan.foreign_node == ForeignNode::WhereBound {
        notes.push("Unpinned rows: a Task's node is where its thread is bound (--foreign-node where-bound), not GHC's node 0.".into());
    }
    let rows = run_rows(machine, &plan, &mut notes)?;
    let nursery_access = run_access(machine, &plan)?;
    println!("Selection cost on synthetic topologies (select + release, ns):");
    let selection_cost = selection::measure_all(SELECTION_ITERS, reps)?
        .into_iter()
        .map(|(_, c)| {
            println!(
                "  {:>4} caps, {} nodes, {:<28} {:>7.1} (min {:.1}, max {:.1})",
                c.capabilities,
                c.nodes,
                c.policy,
                c.ns_per_select.median,
                c.ns_per_select.min,
                c.ns_per_select.max
            );
            c
        })
        .collect();
    let results = NumaResults {
        schema_version: SCHEMA_VERSION,
        run_id: None,
        nodes: n,
        rows,
        selection_cost,
        notes,
        nursery_access,
    };
    for note in &results.notes {
        println!("note: {note}");
    }
    Ok(results)
}

/// The policy sets every experiment compares, with the label `numa.json` gives them.
pub fn policies() -> [(&'static str, PolicySet); 2] {
    [
        (callin_vocab::POLICY_SET_DEFAULT, PolicySet::DEFAULT),
        (callin_vocab::POLICY_SET_GHC, PolicySet::GHC),
    ]
}

fn run_rows(
    machine: &Machine,
    plan: &Plan,
    notes: &mut Vec<String>,
) -> Result<Vec<NumaRow>, TopologyError> {
    println!(
        "c_function per placement and policy (ns/call: median (min - max), remote acquisitions):"
    );
    let mut rows = Vec::new();
    for (label, policy) in policies() {
        for (placement, skip) in experiment::placements(machine) {
            let row = match skip {
                Some(why) => skipped_row(machine, placement, label, why),
                None => {
                    let (row, pages) =
                        experiment::run_row(machine, placement, label, policy, plan)?;
                    note_nursery_pages(&pages, label, &row.placement, notes);
                    row
                }
            };
            print_row(&row);
            rows.push(row);
        }
    }
    Ok(rows)
}

fn skipped_row(
    machine: &Machine,
    placement: experiment::Placement,
    label: &str,
    why: String,
) -> NumaRow {
    let threads = experiment::threads_for(machine);
    let (thread_node, capability_node) = placement.nodes();
    NumaRow {
        placement: placement.label(),
        thread_node,
        capability_node,
        policy: label.to_owned(),
        threads,
        capabilities: threads,
        ns_per_call: None,
        remote_acquisition_rate: None,
        skipped: Some(why),
    }
}

fn print_row(r: &NumaRow) {
    let figure = match (&r.ns_per_call, &r.skipped) {
        (_, Some(why)) => format!("not measured: {why}"),
        (Some(s), None) => {
            let rate = r
                .remote_acquisition_rate
                .map_or("n/a".to_owned(), |x| format!("{:.1} %", 100.0 * x));
            format!(
                "{:>7.1} ({:.1} - {:.1}) ns/call, remote {rate}",
                s.median, s.min, s.max
            )
        }
        (None, None) => "no figure".into(),
    };
    println!("  {:<9} {:<66} {figure}", r.policy, r.placement);
}

fn note_nursery_pages(
    pages: &experiment::NurseryPages,
    policy: &str,
    placement: &str,
    notes: &mut Vec<String>,
) {
    let wrong: Vec<String> = pages
        .iter()
        .filter(|(_, want, got)| got.is_some_and(|g| g != *want))
        .map(|(cap, want, got)| format!("capability {cap}: node {want}, pages on {got:?}"))
        .collect();
    let unknown = pages.iter().filter(|(_, _, got)| got.is_none()).count();
    if !wrong.is_empty() {
        notes.push(format!(
            "{policy}, {placement}: nursery pages not on their capability's node: {}",
            wrong.join("; ")
        ));
    } else if unknown == 0 && !pages.is_empty() && !notes.iter().any(|n| n.starts_with("Nursery")) {
        notes.push(format!(
            "Nursery placement checked with move_pages: every capability's nursery is on its node \
             ({} nurseries in the first row checked).",
            pages.len()
        ));
    }
}

fn run_access(machine: &Machine, plan: &Plan) -> Result<Vec<NurseryAccess>, TopologyError> {
    let (a, b) = experiment::nodes_a_b(machine);
    println!(
        "Memory access from node {a} (dependent loads over {} MiB, ns/load):",
        plan.access_bytes >> 20
    );
    let local = experiment::access_cost(machine, a, a, plan)?;
    let remote = match b {
        Some(b) => experiment::access_cost(machine, a, b, plan)?,
        None => NurseryAccess {
            thread_node: a,
            memory_node: 1,
            pages_on_node: None,
            bytes: plan.access_bytes as u64,
            ns_per_access: None,
            skipped: Some(NEEDS_MULTI_NODE.to_owned()),
        },
    };
    for x in [&local, &remote] {
        let figure = match (&x.ns_per_access, &x.skipped) {
            (_, Some(why)) => format!("not measured: {why}"),
            (Some(s), None) => format!("{:.1} ({:.1} - {:.1})", s.median, s.min, s.max),
            (None, None) => "no figure".into(),
        };
        let pages = x
            .pages_on_node
            .map_or("unknown".to_owned(), |p| p.to_string());
        println!(
            "  memory on node {} (pages on node {pages}): {figure}",
            x.memory_node
        );
    }
    Ok(vec![local, remote])
}
