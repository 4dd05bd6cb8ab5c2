//! The text view `callin-bench topology` prints: the NUMA nodes with their cores and CPUs, the
//! node distances (hwloc's, or the tree-derived ones rts-core falls back to), and the
//! capability → node → CPU map rts-core's rule gives; with the JSON form of the same
//! (`topology.json`, `callin_reports::schema::TopologyResults`).

use std::fmt::Write as _;

use callin_reports::schema::TopologyResults;

use super::{Machine, Placement, TopologyError};

/// What `callin-bench topology` shows for one machine.
#[derive(Debug, Clone)]
pub struct Description {
    /// The text to print.
    pub text: String,
    /// The same as `topology.json`.
    pub results: TopologyResults,
}

/// Place `caps` capabilities (default: one per PU) on `machine` by `map` (default: GHC's rule,
/// capability i on node i mod n) and describe the machine and the placement.
pub fn describe(
    machine: &Machine,
    caps: Option<u32>,
    map: Option<Vec<u32>>,
) -> Result<Description, TopologyError> {
    let caps = caps.unwrap_or(machine.n_pus() as u32);
    let rule = match &map {
        Some(_) => "explicit map".to_owned(),
        None => format!(
            "GHC rule: capability i on node i mod {}",
            machine.nodes.len()
        ),
    };
    let placement = machine.placement(caps, map)?;
    Ok(Description {
        text: render(machine, &placement, &rule),
        results: machine.results(&placement),
    })
}

/// `0-3,8,10-11` for a sorted CPU list.
pub fn cpu_ranges(cpus: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        match j - i {
            0 => write!(out, "{}", cpus[i]),
            _ => write!(out, "{}-{}", cpus[i], cpus[j]),
        }
        .expect("writing to a String");
        i = j + 1;
    }
    if out.is_empty() { "none".into() } else { out }
}

fn render(m: &Machine, placement: &[Placement], rule: &str) -> String {
    let mut s = String::new();
    let bind_note = if m.bindable {
        "threads and nurseries are bound to these nodes"
    } else {
        "not this machine: binding is a no-op, placement decisions only"
    };
    let _ = writeln!(s, "Topology: {} ({bind_note})", m.source);
    let _ = writeln!(
        s,
        "{} NUMA node(s), {} core(s), {} PU(s)",
        m.nodes.len(),
        m.n_cores(),
        m.n_pus()
    );
    for n in &m.nodes {
        let mem = n
            .memory_bytes
            .map_or("memory unknown".to_owned(), |b| format!("{} MiB", b >> 20));
        let _ = writeln!(
            s,
            "  node {} (OS node {}): {} core(s), CPUs {}, {mem}",
            n.logical,
            n.os_index,
            n.cores.len(),
            cpu_ranges(&n.cpus)
        );
        let cores: Vec<String> = n
            .cores
            .iter()
            .map(|c| {
                let id = c.os_index.map_or("?".to_owned(), |i| i.to_string());
                format!("{id}[{}]", cpu_ranges(&c.pus))
            })
            .collect();
        let _ = writeln!(s, "    cores (core[PUs]): {}", cores.join(" "));
    }
    render_distances(&mut s, m);
    let _ = writeln!(
        s,
        "Capability placement ({rule}), {} capabilities:",
        placement.len()
    );
    let _ = writeln!(s, "  {:>4}  {:>4}  CPUs", "cap", "node");
    for p in placement {
        let _ = writeln!(
            s,
            "  {:>4}  {:>4}  {}",
            p.capability,
            p.node,
            cpu_ranges(&p.cpus)
        );
    }
    s
}

fn render_distances(s: &mut String, m: &Machine) {
    let (label, d) = match &m.distances {
        Some(d) => ("Node distances (hwloc, 10 = local)", d.as_slice()),
        None => (
            "Node distances: none reported by hwloc; selection orders remote nodes by the hwloc \
             tree (10 x (1 + steps to the common ancestor)), derived, not measured",
            m.tree_distances.as_slice(),
        ),
    };
    if m.nodes.len() == 1 {
        let _ = writeln!(s, "One NUMA node: every capability and nursery is local.");
        return;
    }
    let _ = writeln!(s, "{label}:");
    for (i, row) in d.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:>4}")).collect();
        let _ = writeln!(s, "  from {i}: {}", cells.join(""));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ranges_fold_consecutive_cpus() {
        assert_eq!(cpu_ranges(&[0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11");
        assert_eq!(cpu_ranges(&[5]), "5");
        assert_eq!(cpu_ranges(&[]), "none");
    }
}
