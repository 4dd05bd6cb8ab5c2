//! The machine's NUMA topology through hwloc (hwlocality): nodes, their cores and PUs, distances,
//! from the host, an hwloc synthetic description or an hwloc XML file; and what rts-core makes
//! of it: the [`rts_core::NumaConfig`] and the capability → node → CPU map.
//!
//! rts-core has no hwloc dependency (so `librts_core.a` links alone); this module is the only
//! place that reads hwloc and hands rts-core plain vectors. Node numbers given to rts-core are
//! hwloc *logical* indices (0..n, in topology order); the OS index is kept beside them.
//!
//! On a synthetic or XML topology nothing is bound: [`Machine::bindable`] is false, the
//! `NumaConfig` carries no CPU sets, and the placement decisions are all there is to check.

pub mod view;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use callin_reports::schema::{CapabilityPlacement, NumaNode, SCHEMA_VERSION, TopologyResults};
use hwlocality::Topology;
use hwlocality::object::TopologyObject;
use hwlocality::object::attributes::ObjectAttributes;
use hwlocality::object::types::ObjectType;
use rts_core::NumaConfig;
use rts_core::{ForeignNode, MAX_NUMA_NODES};

/// Where the topology comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopologySource {
    /// This machine, as hwloc discovers it.
    Host,
    /// An hwloc synthetic description, e.g. `pack:2 numa:2 core:4 pu:1`.
    Synthetic(String),
    /// An hwloc XML export (`lstopo foo.xml`).
    Xml(PathBuf),
}

impl TopologySource {
    /// The error for a topology from this source that hwloc cannot load: `detail` says why.
    fn error(&self, detail: String) -> TopologyError {
        match self {
            TopologySource::Host => TopologyError::Hwloc(detail),
            TopologySource::Synthetic(spec) => TopologyError::BadSynthetic {
                spec: spec.clone(),
                detail,
            },
            TopologySource::Xml(path) => TopologyError::BadXml {
                path: path.clone(),
                detail,
            },
        }
    }
}

impl fmt::Display for TopologySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopologySource::Host => f.write_str("this machine (hwloc)"),
            TopologySource::Synthetic(s) => write!(f, "synthetic hwloc topology `{s}`"),
            TopologySource::Xml(p) => write!(f, "hwloc XML {}", p.display()),
        }
    }
}

/// A topology that cannot be loaded or used.
#[derive(Debug)]
#[non_exhaustive]
pub enum TopologyError {
    /// hwloc rejected the synthetic description.
    BadSynthetic { spec: String, detail: String },
    /// The XML file is missing, unreadable or rejected by hwloc.
    BadXml { path: PathBuf, detail: String },
    /// hwloc could not discover or build the topology.
    Hwloc(String),
    /// More NUMA nodes than rts-core supports (GHC's `MAX_NUMA_NODES`).
    TooManyNodes(usize),
    /// A capability count or map that cannot be placed.
    BadCapabilities(String),
    /// A thread could not be bound to a node of the topology.
    Bind(crate::pin::PinError),
}

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopologyError::BadSynthetic { spec, detail } => write!(
                f,
                "bad hwloc synthetic topology `{spec}`: {detail} (expected e.g. `pack:2 numa:2 core:4 pu:1`)"
            ),
            TopologyError::BadXml { path, detail } => {
                write!(
                    f,
                    "cannot load hwloc XML topology {}: {detail}",
                    path.display()
                )
            }
            TopologyError::Hwloc(d) => write!(f, "hwloc could not build the topology: {d}"),
            TopologyError::TooManyNodes(n) => write!(
                f,
                "the topology has {n} NUMA nodes; rts-core supports at most {MAX_NUMA_NODES}"
            ),
            TopologyError::BadCapabilities(d) => write!(f, "bad capability placement: {d}"),
            TopologyError::Bind(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for TopologyError {}

impl From<crate::pin::PinError> for TopologyError {
    fn from(e: crate::pin::PinError) -> Self {
        TopologyError::Bind(e)
    }
}

/// One core: its OS index (when hwloc knows it) and its PUs' OS indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Core {
    pub os_index: Option<u32>,
    pub pus: Vec<u32>,
}

/// One NUMA node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// hwloc logical index: the node number rts-core uses.
    pub logical: u32,
    /// OS node index (Linux `nodeN`), when known; else the logical index.
    pub os_index: u32,
    /// PU (logical CPU) OS indices of the node, ascending.
    pub cpus: Vec<u32>,
    /// Cores of the node, in topology order.
    pub cores: Vec<Core>,
    /// Local memory in bytes, when hwloc knows it.
    pub memory_bytes: Option<u64>,
}

/// A loaded topology reduced to what the suite needs, plus the hwloc handle.
pub struct Machine {
    pub source: TopologySource,
    /// NUMA nodes in logical order (never empty).
    pub nodes: Vec<Node>,
    /// Node distances hwloc reports (`[from][to]`, logical order), when it has a matrix.
    pub distances: Option<Vec<Vec<u32>>>,
    /// Distances derived from the hwloc tree (10 × (1 + levels up to the common ancestor and
    /// down again)); rts-core orders remote nodes by these when hwloc has no matrix.
    pub tree_distances: Vec<Vec<u32>>,
    /// Whether this is the running machine, so binding threads and memory means something.
    pub bindable: bool,
    topology: Topology,
}

impl fmt::Debug for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Machine")
            .field("source", &self.source)
            .field("nodes", &self.nodes)
            .field("distances", &self.distances)
            .field("bindable", &self.bindable)
            .finish_non_exhaustive()
    }
}

impl Machine {
    /// Load the topology from `source`.
    pub fn load(source: TopologySource) -> Result<Machine, TopologyError> {
        let topology = build(&source)?;
        let nodes = read_nodes(&topology);
        if nodes.is_empty() {
            return Err(TopologyError::Hwloc("no NUMA node and no PU found".into()));
        }
        if nodes.len() > MAX_NUMA_NODES as usize {
            return Err(TopologyError::TooManyNodes(nodes.len()));
        }
        let distances = read_distances(&topology, nodes.len());
        let tree_distances = tree_distances(&topology, nodes.len());
        let bindable = source == TopologySource::Host && topology.is_this_system();
        Ok(Machine {
            source,
            nodes,
            distances,
            tree_distances,
            bindable,
            topology,
        })
    }

    /// This machine.
    pub fn host() -> Result<Machine, TopologyError> {
        Machine::load(TopologySource::Host)
    }

    /// An hwloc synthetic topology.
    pub fn synthetic(spec: &str) -> Result<Machine, TopologyError> {
        Machine::load(TopologySource::Synthetic(spec.to_owned()))
    }

    /// An hwloc XML file.
    pub fn xml(path: &Path) -> Result<Machine, TopologyError> {
        Machine::load(TopologySource::Xml(path.to_owned()))
    }

    /// The hwloc topology (e.g. to export it as XML).
    pub fn hwloc(&self) -> &Topology {
        &self.topology
    }

    /// Number of cores over all nodes.
    pub fn n_cores(&self) -> usize {
        self.nodes.iter().map(|n| n.cores.len()).sum()
    }

    /// Number of PUs over all nodes.
    pub fn n_pus(&self) -> usize {
        self.nodes.iter().map(|n| n.cpus.len()).sum()
    }

    /// The distances rts-core orders remote nodes by: hwloc's matrix, else the tree's.
    pub fn selection_distances(&self) -> &[Vec<u32>] {
        self.distances.as_deref().unwrap_or(&self.tree_distances)
    }

    /// The NUMA configuration rts-core gets: GHC's `i mod n` map (or `cap_nodes`), distances,
    /// and, on the host only, the CPU sets used to bind threads and place nurseries.
    pub fn numa_config(
        &self,
        cap_nodes: Option<Vec<u32>>,
        foreign_node: ForeignNode,
    ) -> Result<NumaConfig, TopologyError> {
        let n = self.nodes.len() as u32;
        if let Some(map) = &cap_nodes
            && let Some(bad) = map.iter().find(|&&k| k >= n)
        {
            return Err(TopologyError::BadCapabilities(format!(
                "the map names node {bad}, but the topology has nodes 0..{}",
                n - 1
            )));
        }
        let (node_cpus, cpu_nodes) = if self.bindable {
            (self.node_cpus(), self.cpu_nodes())
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(NumaConfig {
            n_nodes: n,
            cap_nodes,
            distances: Some(self.selection_distances().to_vec()),
            foreign_node,
            node_cpus,
            cpu_nodes,
        })
    }

    fn node_cpus(&self) -> Vec<Vec<usize>> {
        let to_usize = |c: &u32| *c as usize;
        self.nodes
            .iter()
            .map(|n| n.cpus.iter().map(to_usize).collect())
            .collect()
    }

    fn cpu_nodes(&self) -> Vec<u32> {
        let max = self.nodes.iter().flat_map(|n| n.cpus.iter()).max();
        let mut map = vec![0; max.map_or(0, |&m| m as usize + 1)];
        for n in &self.nodes {
            for &c in &n.cpus {
                map[c as usize] = n.logical;
            }
        }
        map
    }

    /// Capability → node → CPUs for `n_caps` capabilities, computed by rts-core's own rule.
    pub fn placement(
        &self,
        n_caps: u32,
        cap_nodes: Option<Vec<u32>>,
    ) -> Result<Vec<Placement>, TopologyError> {
        if n_caps == 0 {
            return Err(TopologyError::BadCapabilities(
                "0 capabilities requested; need at least 1".into(),
            ));
        }
        let numa = self.numa_config(cap_nodes, ForeignNode::Zero)?;
        Ok((0..n_caps)
            .map(|i| {
                let node = &self.nodes[numa.node_of_cap(i) as usize];
                Placement {
                    capability: i,
                    node: node.logical,
                    node_os_index: node.os_index,
                    cpus: node.cpus.clone(),
                }
            })
            .collect())
    }

    /// The JSON form (`topology.json`).
    pub fn results(&self, placement: &[Placement]) -> TopologyResults {
        let synthetic = match &self.source {
            TopologySource::Host => None,
            TopologySource::Synthetic(s) => Some(s.clone()),
            TopologySource::Xml(p) => Some(p.display().to_string()),
        };
        TopologyResults {
            schema_version: SCHEMA_VERSION,
            synthetic,
            nodes: self
                .nodes
                .iter()
                .map(|n| NumaNode {
                    id: n.os_index,
                    cpus: n.cpus.clone(),
                    memory_bytes: n.memory_bytes,
                })
                .collect(),
            distances: self.distances.clone(),
            capabilities: placement
                .iter()
                .map(|p| CapabilityPlacement {
                    capability: p.capability,
                    node: p.node_os_index,
                    cpus: p.cpus.clone(),
                })
                .collect(),
        }
    }
}

/// This machine's topology, loaded once per process (for binding threads to a node's CPUs:
/// [`crate::pin`]).
pub fn host() -> Result<&'static Machine, TopologyError> {
    static HOST: OnceLock<Result<Machine, String>> = OnceLock::new();
    HOST.get_or_init(|| Machine::host().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| TopologyError::Hwloc(e.clone()))
}

/// Where rts-core puts one capability (and its nursery).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub capability: u32,
    /// Logical node index (rts-core's node number).
    pub node: u32,
    /// OS index of that node.
    pub node_os_index: u32,
    /// CPUs a thread bound to this capability may run on.
    pub cpus: Vec<u32>,
}

/// Parse a capability → node map such as `0,0,1,1`.
pub fn parse_cap_map(s: &str) -> Result<Vec<u32>, TopologyError> {
    s.split(',')
        .map(|t| {
            t.trim().parse::<u32>().map_err(|e| {
                TopologyError::BadCapabilities(format!("capability map `{s}`: `{t}`: {e}"))
            })
        })
        .collect()
}

fn build(source: &TopologySource) -> Result<Topology, TopologyError> {
    let builder = Topology::builder();
    let fail = |detail: String| source.error(detail);
    let builder = match source {
        TopologySource::Host => builder,
        TopologySource::Synthetic(spec) if spec.trim().is_empty() => {
            return Err(fail("empty description".into()));
        }
        TopologySource::Synthetic(spec) => builder
            .from_synthetic(spec)
            .map_err(|e| fail(e.to_string()))?,
        TopologySource::Xml(path) if !path.is_file() => return Err(fail("no such file".into())),
        TopologySource::Xml(path) => builder
            .from_xml_file(path)
            .map_err(|e| fail(e.to_string()))?,
    };
    builder.build().map_err(|e| match source {
        TopologySource::Xml(_) => fail(format!("hwloc could not build a topology from it ({e})")),
        TopologySource::Host | TopologySource::Synthetic(_) => fail(e.to_string()),
    })
}

fn index_list(
    set: Option<hwlocality::bitmap::BitmapRef<'_, hwlocality::cpu::cpuset::CpuSet>>,
) -> Vec<u32> {
    set.map(|s| s.iter_set().map(|i| usize::from(i) as u32).collect())
        .unwrap_or_default()
}

fn read_nodes(topology: &Topology) -> Vec<Node> {
    let numa: Vec<&TopologyObject> = topology.objects_with_type(ObjectType::NUMANode).collect();
    let cores: Vec<&TopologyObject> = topology.objects_with_type(ObjectType::Core).collect();
    numa.iter()
        .map(|obj| {
            let cpus = index_list(obj.cpuset());
            let node_cores = cores
                .iter()
                .map(|c| Core {
                    os_index: c.os_index().map(|i| i as u32),
                    pus: index_list(c.cpuset()),
                })
                .filter(|c| !c.pus.is_empty() && c.pus.iter().all(|p| cpus.contains(p)))
                .collect();
            let memory_bytes = match obj.attributes() {
                Some(ObjectAttributes::NUMANode(a)) => a.local_memory().map(|m| m.get()),
                _ => None,
            };
            Node {
                logical: obj.logical_index() as u32,
                os_index: obj
                    .os_index()
                    .map_or(obj.logical_index() as u32, |i| i as u32),
                cpus,
                cores: node_cores,
                memory_bytes,
            }
        })
        .collect()
}

/// hwloc's NUMA distance matrix, when it has one covering every node.
fn read_distances(topology: &Topology, n: usize) -> Option<Vec<Vec<u32>>> {
    let all = topology
        .distances_with_type(None, ObjectType::NUMANode)
        .ok()?;
    let d = all.into_iter().find(|d| d.num_objects() == n)?;
    let order: Vec<usize> = d
        .objects()
        .map(|o| o.map(|o| o.logical_index()))
        .collect::<Option<Vec<_>>>()?;
    let mut m = vec![vec![0u32; n]; n];
    for ((from, to), v) in d.enumerate_distances() {
        m[*order.get(from)?][*order.get(to)?] = u32::try_from(v).ok()?;
    }
    Some(m)
}

/// 10 on the diagonal, else 10 × (1 + steps from each node up to their common ancestor).
fn tree_distances(topology: &Topology, n: usize) -> Vec<Vec<u32>> {
    let numa: Vec<&TopologyObject> = topology.objects_with_type(ObjectType::NUMANode).collect();
    let steps_up = |from: &TopologyObject, to: &TopologyObject| {
        from.ancestors()
            .position(|a| std::ptr::eq(a, to))
            .map_or(8, |p| p as u32)
    };
    (0..n)
        .map(|a| {
            (0..n)
                .map(|b| {
                    if a == b {
                        return 10;
                    }
                    let (x, y) = (numa[a], numa[b]);
                    match x.first_common_ancestor(y) {
                        Some(c) => 10 * (1 + steps_up(x, c) + steps_up(y, c)),
                        None => 100,
                    }
                })
                .collect()
        })
        .collect()
}
