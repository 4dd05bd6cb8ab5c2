//! `callin-bench topology`: prints the NUMA nodes, their cores, distances and the capability →
//! node → CPU map rts-core would use, for this machine, an hwloc synthetic description or an
//! hwloc XML file; `--json` also writes `topology.json` (`callin_reports::schema::TopologyResults`).

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::topology::{Machine, Placement, TopologySource, parse_cap_map};
use crate::{paths, results};

/// Arguments of `callin-bench topology`.
#[derive(Debug, clap::Args)]
pub struct TopologyArgs {
    /// An hwloc synthetic topology instead of this machine, e.g. "pack:2 numa:2 core:4 pu:1".
    #[arg(long, value_name = "SPEC", conflicts_with = "xml")]
    pub synthetic: Option<String>,
    /// An hwloc XML topology file instead of this machine.
    #[arg(long, value_name = "FILE")]
    pub xml: Option<PathBuf>,
    /// Capabilities to place (default: one per PU of the topology).
    #[arg(long, value_name = "N")]
    pub caps: Option<u32>,
    /// Explicit capability → node map, e.g. "0,0,1,1" (default: capability i on node i mod n).
    #[arg(long, value_name = "NODES")]
    pub map: Option<String>,
    /// Also write the JSON (default path: <target>/callin-bench/topology.json).
    #[arg(long, value_name = "PATH", num_args = 0..=1)]
    pub json: Option<Option<PathBuf>>,
}

impl TopologyArgs {
    /// Where `--json` writes: its value, or the results file the report reads when bare.
    pub fn json_path(&self) -> Option<PathBuf> {
        self.json.as_ref().map(|p| {
            p.clone()
                .unwrap_or_else(|| paths::result_file(callin_reports::input::TOPOLOGY_FILE))
        })
    }
}

/// The topology source the arguments name.
pub fn source_of(synthetic: &Option<String>, xml: &Option<PathBuf>) -> TopologySource {
    match (synthetic, xml) {
        (Some(s), _) => TopologySource::Synthetic(s.clone()),
        (None, Some(p)) => TopologySource::Xml(p.clone()),
        (None, None) => TopologySource::Host,
    }
}

/// Runs the command.
pub fn main(args: &TopologyArgs) -> anyhow::Result<()> {
    let machine = Machine::load(source_of(&args.synthetic, &args.xml))?;
    let caps = args.caps.unwrap_or(machine.n_pus() as u32);
    let map = args.map.as_deref().map(parse_cap_map).transpose()?;
    let rule = match &map {
        Some(_) => "explicit map".to_owned(),
        None => format!(
            "GHC rule: capability i on node i mod {}",
            machine.nodes.len()
        ),
    };
    let placement = machine.placement(caps, map)?;
    print!("{}", render(&machine, &placement, &rule));
    if let Some(path) = args.json_path() {
        let results = machine.results(&placement);
        results::write_json(&path, &results)?;
        println!("wrote {}", path.display());
    }
    Ok(())
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
    fn default_json_path_is_the_results_file_the_report_reads() {
        let want = crate::paths::result_file(callin_reports::input::TOPOLOGY_FILE);
        let cmd = <TopologyArgs as clap::Args>::augment_args(clap::Command::new("t"));
        let m = cmd.try_get_matches_from(["t", "--json"]).unwrap();
        let args = <TopologyArgs as clap::FromArgMatches>::from_arg_matches(&m).unwrap();
        assert_eq!(args.json_path(), Some(want));
    }

    #[test]
    fn cpu_ranges_fold_consecutive_cpus() {
        assert_eq!(cpu_ranges(&[0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11");
        assert_eq!(cpu_ranges(&[5]), "5");
        assert_eq!(cpu_ranges(&[]), "none");
    }
}
