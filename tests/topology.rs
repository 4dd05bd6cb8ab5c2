//! Topology loading (hwloc synthetic, XML, host), the capability → node → CPU map, and
//! NUMA-aware selection on rts-core instances built from synthetic 1-, 2-, 4- and 8-node
//! topologies: own node first, nearest remote only when the own node is full, `AllBusy` only when
//! every capability is held.

use std::collections::BTreeSet;

use callin_bench::pin::{self, PinTarget};
use callin_bench::topology::{Machine, TopologyError, parse_cap_map};
use rts_core::ForeignNode;
use rts_core::scaffolding::{self, SelectError};
use rts_core::{Config, PolicySet};

/// (spec, nodes, cores) for 1, 2, 4 and 8 nodes.
const SPECS: [(&str, usize, usize); 4] = [
    ("core:4 pu:2", 1, 4),
    ("numa:2 core:2 pu:1", 2, 4),
    ("pack:2 numa:2 core:4 pu:1", 4, 16),
    ("pack:2 group:2 numa:2 core:2 pu:1", 8, 16),
];

#[test]
fn synthetic_topologies_have_the_nodes_cores_and_pus_described() {
    for (spec, nodes, cores) in SPECS {
        let m = Machine::synthetic(spec).unwrap();
        assert_eq!(m.nodes.len(), nodes, "{spec}");
        assert_eq!(m.n_cores(), cores, "{spec}");
        assert!(!m.bindable, "{spec}: a synthetic topology is never bound");
        for (i, n) in m.nodes.iter().enumerate() {
            assert_eq!(n.logical, i as u32);
            let pus: usize = n.cores.iter().map(|c| c.pus.len()).sum();
            assert_eq!(
                pus,
                n.cpus.len(),
                "{spec} node {i}: cores cover the node's PUs"
            );
        }
        let all: BTreeSet<u32> = m
            .nodes
            .iter()
            .flat_map(|n| n.cpus.iter().copied())
            .collect();
        assert_eq!(all.len(), m.n_pus(), "{spec}: no PU on two nodes");
    }
}

#[test]
fn every_capability_lands_on_node_i_mod_n_with_that_node_cpus() {
    for (spec, nodes, _) in SPECS {
        let m = Machine::synthetic(spec).unwrap();
        let placement = m.placement(20, None).unwrap();
        for p in &placement {
            assert_eq!(
                p.node,
                p.capability % nodes as u32,
                "{spec} cap {}",
                p.capability
            );
            assert_eq!(p.cpus, m.nodes[p.node as usize].cpus);
        }
        let numa = m.numa_config(None, ForeignNode::Zero).unwrap();
        let rts = scaffolding::standalone(config(20, numa)).unwrap();
        for p in &placement {
            assert_eq!(
                rts.cap(p.capability).node,
                p.node,
                "rts-core agrees with the map"
            );
        }
    }
}

#[test]
fn an_explicit_map_is_used_and_checked() {
    let m = Machine::synthetic("pack:2 numa:2 core:4 pu:1").unwrap();
    let map = parse_cap_map("3,3,1,0").unwrap();
    let nodes: Vec<u32> = m
        .placement(4, Some(map))
        .unwrap()
        .iter()
        .map(|p| p.node)
        .collect();
    assert_eq!(nodes, [3, 3, 1, 0]);
    let err = m.placement(2, Some(vec![0, 4])).unwrap_err();
    assert!(err.to_string().contains("names node 4"), "{err}");
    assert!(
        parse_cap_map("0,x")
            .unwrap_err()
            .to_string()
            .contains("`x`")
    );
}

#[test]
fn bad_input_gets_a_clear_error() {
    let err = Machine::synthetic("pack:2 bogus:3").unwrap_err();
    assert!(matches!(err, TopologyError::BadSynthetic { .. }), "{err:?}");
    assert!(err.to_string().contains("bogus:3"), "{err}");
    let err = Machine::synthetic("  ").unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    let err = Machine::xml(std::path::Path::new("/nonexistent/topo.xml")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/topo.xml"), "{err}");
    assert!(err.to_string().contains("no such file"), "{err}");
    let m = Machine::synthetic("numa:2 core:2 pu:1").unwrap();
    let err = m.placement(0, None).unwrap_err();
    assert!(err.to_string().contains("0 capabilities"), "{err}");
}

#[test]
fn an_xml_export_loads_back_as_the_same_topology() {
    let synthetic = Machine::synthetic("pack:2 numa:2 core:4 pu:1").unwrap();
    let dir = std::env::temp_dir().join(format!("callin-topo-xml-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("four-nodes.xml");
    let flags = hwlocality::topology::export::xml::XMLExportFlags::empty();
    synthetic
        .hwloc()
        .export_xml_file(Some(&path), flags)
        .unwrap();
    let m = Machine::xml(&path).unwrap();
    assert!(!m.bindable, "an XML topology is not bound");
    assert_eq!(m.nodes, synthetic.nodes);
    let placement = m.placement(8, None).unwrap();
    assert_eq!(placement, synthetic.placement(8, None).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_xml_file_that_is_not_a_topology_is_rejected() {
    let dir = std::env::temp_dir().join(format!("callin-topo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.xml");
    std::fs::write(&path, "<not-a-topology/>").unwrap();
    let err = Machine::xml(&path).unwrap_err();
    assert!(matches!(err, TopologyError::BadXml { .. }), "{err:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn remote_nodes_are_ordered_by_the_tree_when_hwloc_has_no_distances() {
    let m = Machine::synthetic("pack:2 numa:2 core:4 pu:1").unwrap();
    let numa = m.numa_config(None, ForeignNode::Zero).unwrap();
    // Node 1 shares node 0's package; nodes 2 and 3 are on the other package.
    assert_eq!(numa.nearest_from(0), [1, 2, 3]);
    assert_eq!(numa.nearest_from(3), [2, 0, 1]);
    let d = m.selection_distances();
    assert!(d[0][1] < d[0][2], "same package is nearer: {d:?}");
}

fn config(n_caps: u32, numa: rts_core::NumaConfig) -> Config {
    Config {
        n_capabilities: n_caps,
        max_capabilities: n_caps,
        nursery_bytes: 64 << 10,
        policy: PolicySet::DEFAULT,
        numa,
    }
}

/// Fill every capability from node `k`: each pick is on the first node (own, then nearest)
/// that still has a free capability; `AllBusy` exactly when all are held.
#[test]
fn selection_on_synthetic_topologies_prefers_own_node_then_nearest() {
    for (spec, nodes, cores) in SPECS {
        let m = Machine::synthetic(spec).unwrap();
        let numa = m.numa_config(None, ForeignNode::Zero).unwrap();
        for k in 0..nodes as u32 {
            let rts = scaffolding::standalone(config(cores as u32, numa.clone())).unwrap();
            let mut held = Vec::new();
            let mut free_per_node = vec![0u32; nodes];
            for i in 0..cores as u32 {
                free_per_node[numa.node_of_cap(i) as usize] += 1;
            }
            loop {
                let want = std::iter::once(k)
                    .chain(numa.nearest_from(k))
                    .find(|&n| free_per_node[n as usize] > 0);
                match scaffolding::select_free(&rts, k) {
                    Ok(sel) => {
                        assert_eq!(Some(sel.cap().node), want, "{spec}, task node {k}");
                        free_per_node[sel.cap().node as usize] -= 1;
                        held.push(sel);
                    }
                    Err(SelectError::AllBusy) => {
                        assert_eq!(want, None, "{spec}: AllBusy with a free capability");
                        break;
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            assert_eq!(held.len(), cores, "{spec}: every capability taken once");
        }
    }
}

#[test]
fn the_host_topology_loads_and_binds_threads_to_its_nodes() {
    let m = Machine::host().unwrap();
    assert!(m.bindable);
    assert!(m.n_pus() >= 1);
    let numa = m.numa_config(None, ForeignNode::Zero).unwrap();
    assert_eq!(numa.node_cpus.len(), m.nodes.len());
    let cpus0: Vec<usize> = m.nodes[0].cpus.iter().map(|&c| c as usize).collect();
    let got = std::thread::scope(|s| {
        s.spawn(|| pin::bind(&m, PinTarget::Node(0)).unwrap())
            .join()
            .unwrap()
    });
    assert!(got.applied);
    assert_eq!(got.allowed_cpus, Some(cpus0));
    let err = pin::bind(&m, PinTarget::Node(99)).unwrap_err();
    assert!(err.to_string().contains("node 99"), "{err}");
}

#[test]
fn binding_on_a_synthetic_topology_is_a_reported_no_op() {
    let m = Machine::synthetic("pack:2 numa:2 core:4 pu:1").unwrap();
    let before = rts_core::numa::allowed_cpus();
    let got = pin::bind(&m, PinTarget::Node(3)).unwrap();
    assert!(!got.applied);
    assert!(got.error.unwrap().contains("no-op"));
    assert_eq!(got.allowed_cpus, before);
}
