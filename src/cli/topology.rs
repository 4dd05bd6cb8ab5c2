//! `callin-bench topology`: prints the NUMA nodes, their cores, distances and the capability →
//! node → CPU map rts-core would use, for this machine, an hwloc synthetic description or an
//! hwloc XML file; `--json` also writes `topology.json` (`callin_reports::schema::TopologyResults`).

use std::path::PathBuf;

use crate::topology::{Machine, TopologySource, parse_cap_map, view};
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
    let map = args.map.as_deref().map(parse_cap_map).transpose()?;
    let view = view::describe(&machine, args.caps, map)?;
    print!("{}", view.text);
    if let Some(path) = args.json_path() {
        results::write_json(&path, &view.results)?;
        println!("wrote {}", path.display());
    }
    Ok(())
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
}
