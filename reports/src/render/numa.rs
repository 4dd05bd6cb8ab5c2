//! The NUMA section: the topology and capability placement, local-vs-remote experiments,
//! memory access cost local vs remote, selection cost, and the honest notes about what a
//! one-node machine cannot show.

use super::{not_measured, source_note, spread_cell, with_input};
use crate::format;
use crate::input::Input;
use crate::schema::Spread;
use crate::schema::{NumaResults, NumaRow, NurseryAccess, TopologyResults};
use maud::{Markup, html};

pub(super) fn numa(topology: &Input<TopologyResults>, numa: &Input<NumaResults>) -> Markup {
    html! {
        h3 { "Topology and capability placement" }
        (with_input(topology, topology_body))
        h3 { "Placement experiments" }
        (with_input(numa, experiments_body))
    }
}

fn cpu_list(cpus: &[u32]) -> String {
    cpus.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn topology_body(t: &TopologyResults) -> Markup {
    html! {
        p {
            "Source: "
            @match &t.synthetic {
                Some(spec) => { "synthetic hwloc topology " code { (spec) } " (not this machine)" },
                None => { "this machine (hwloc)" },
            }
        }
        table {
            tr { th { "node" } th { "CPUs" } th { "memory" } }
            @for n in &t.nodes {
                tr {
                    td.num { (n.id) } td { (cpu_list(&n.cpus)) }
                    td.num { (n.memory_bytes.map_or("unknown".to_owned(), format::bytes)) }
                }
            }
        }
        @match &t.distances {
            Some(d) => (distance_table(t, d)),
            None => p.note { "Node distances: unknown (not reported by the platform)." },
        }
        @if t.capabilities.is_empty() {
            (not_measured("no capability placement recorded"))
        } @else {
            table {
                tr { th { "capability" } th { "node" } th { "CPUs" } }
                @for c in &t.capabilities { tr { td.num { (c.capability) } td.num { (c.node) } td { (cpu_list(&c.cpus)) } } }
            }
        }
    }
}

fn distance_table(t: &TopologyResults, d: &[Vec<u32>]) -> Markup {
    html! {
        table {
            tr { th { "distance (10 = local)" } @for n in &t.nodes { th { "to " (n.id) } } }
            @for (i, row) in d.iter().enumerate() {
                tr {
                    th { "from " (t.nodes.get(i).map_or(i as u32, |n| n.id)) }
                    @for v in row { td.num { (v) } }
                }
            }
        }
    }
}

fn experiments_body(n: &NumaResults) -> Markup {
    html! {
        p { "Measured on a machine with " strong { (n.nodes) } " NUMA node" @if n.nodes != 1 { "s" } "." }
        @if !n.notes.is_empty() {
            ul { @for note in &n.notes { li.note { (note) } } }
        }
        @if n.rows.is_empty() {
            (not_measured("the NUMA results have no experiment rows"))
        } @else {
            table {
                tr { th { "thread placement" } th { "thread node" } th { "capability / nursery node" } th { "policy" }
                     th { "threads / caps" } th { "ns/call" } th { "remote acquisitions" } }
                @for r in &n.rows { (numa_row(r)) }
            }
            (source_note("ns/call: median (min – max, n repetitions) from the callin-bench numa driver; \
                remote acquisitions: cross-node capability acquisitions ÷ all acquisitions (rts-core stats)."))
        }
        h3 { "Memory access: local vs remote" }
        (memory_access(&n.nursery_access))
        h3 { "Capability selection cost" }
        @if n.selection_cost.is_empty() {
            (not_measured("the NUMA results have no selection-cost figures"))
        } @else {
            table {
                tr { th { "capabilities" } th { "nodes" } th { "policy" } th { "ns per selection" } }
                @for s in &n.selection_cost {
                    tr { td.num { (s.capabilities) } td.num { (s.nodes) } td { (s.policy) } (spread_cell(&s.ns_per_select)) }
                }
            }
            (source_note("Source: selection loop on synthetic topologies, median (min – max, n repetitions)."))
        }
    }
}

/// The dependent-load latency cells: measured ones in a table (remote ones with their factor
/// over the local cell from the same thread node), skipped ones as "not measured" blocks.
fn memory_access(cells: &[NurseryAccess]) -> Markup {
    let measured: Vec<(&NurseryAccess, &Spread)> = cells
        .iter()
        .filter(|c| c.skipped.is_none())
        .filter_map(|c| c.ns_per_access.as_ref().map(|s| (c, s)))
        .collect();
    html! {
        @if cells.is_empty() {
            (not_measured("the NUMA results have no memory-access cells"))
        }
        @if !measured.is_empty() {
            table {
                tr { th { "access" } th { "thread node" } th { "memory first touched on" }
                     th { "pages on node (kernel)" } th { "memory" } th { "ns per load" } th { "vs local" } }
                @for (c, s) in &measured { (access_row(c, s, &measured)) }
            }
            (source_note("ns per load: dependent loads over a random cyclic permutation of cache lines                 (each address comes from the previous load, so prefetchers cannot help), median                 (min – max, n repetitions); memory placed by first touch from a thread bound to the                 node, its pages' node read back with move_pages; vs local: this median ÷ the local                 median from the same thread node."))
        }
        @for c in cells {
            @if let Some(why) = skipped_reason(c) {
                (not_measured(&format!(
                    "{} access from node {} to memory on node {}: {why}",
                    access_kind(c), c.thread_node, c.memory_node
                )))
            }
        }
    }
}

/// Why a memory-access cell has no figure, if it has none.
fn skipped_reason(c: &NurseryAccess) -> Option<&str> {
    match (&c.skipped, &c.ns_per_access) {
        (Some(why), _) => Some(why),
        (None, None) => Some("no figure recorded"),
        (None, Some(_)) => None,
    }
}

fn access_kind(c: &NurseryAccess) -> &'static str {
    if c.thread_node == c.memory_node {
        "local"
    } else {
        "remote"
    }
}

fn access_row(c: &NurseryAccess, s: &Spread, measured: &[(&NurseryAccess, &Spread)]) -> Markup {
    let local = measured
        .iter()
        .find(|(l, _)| l.thread_node == c.thread_node && l.memory_node == c.thread_node)
        .map(|(_, l)| l.median);
    let factor = match local {
        Some(l) if c.thread_node != c.memory_node && l > 0.0 => format::ratio(s.median / l),
        _ => format::MISSING.to_owned(),
    };
    html! {
        tr {
            td { (access_kind(c)) } td.num { (c.thread_node) } td.num { (c.memory_node) }
            @match c.pages_on_node {
                Some(p) if p == c.memory_node => td.num { (p) },
                Some(p) => td.nm { (p) " (not node " (c.memory_node) ": first touch did not place them)" },
                None => td.nm { "unknown (move_pages unreadable)" },
            }
            td.num { (format::bytes(c.bytes)) }
            (spread_cell(s))
            td.num { (factor) }
        }
    }
}

fn opt_node(n: Option<u32>) -> String {
    n.map_or("any".to_owned(), |n| n.to_string())
}

fn numa_row(r: &NumaRow) -> Markup {
    html! {
        tr {
            td { (r.placement) } td.num { (opt_node(r.thread_node)) } td.num { (opt_node(r.capability_node)) }
            td { (r.policy) } td { (r.threads) " / " (r.capabilities) }
            @match (&r.skipped, &r.ns_per_call) {
                (Some(why), _) => td.nm colspan="2" { "not measured: " (why) },
                (None, Some(s)) => {
                    (spread_cell(s))
                    td.num { (r.remote_acquisition_rate.map_or(format::MISSING.to_owned(), format::percent)) }
                },
                (None, None) => td.nm colspan="2" { "not measured: no figure recorded" },
            }
        }
    }
}
