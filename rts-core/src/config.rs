//! The configuration an instance starts with: capability counts, nursery size, policy set and
//! NUMA layout, with their defaults and limits.
//!
//! Port of the parts of `RtsFlags` (`rts/RtsFlags.c`, `rts/include/rts/Flags.h`) the call-in path
//! reads: `-N` / `-maxN`, `-A`, `--numa` with `numa_map`. `rts_flags.rs` parses `+RTS` options
//! into a [`Config`]; Rust callers build one directly (`hs_init_with`). Ownership: a `Config` is
//! a plain value; an instance keeps its own copy, immutable while it runs.

use crate::error::CallInError;
use crate::policy::PolicySet;

/// GHC 9.0's default `-A`: 1 MiB.
pub const DEFAULT_NURSERY_BYTES: usize = 1 << 20;
/// Capabilities the array is sized for unless the config says otherwise (GHC 9.14 pre-sizes to
/// `max_n_capabilities`, #25560).
pub const DEFAULT_MAX_CAPABILITIES: u32 = 256;
/// GHC's `MAX_NUMA_NODES`.
pub const MAX_NUMA_NODES: u32 = 16;

/// Which node a foreign thread's Task prefers when `rts_pinThreadToNumaNode` never named one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForeignNode {
    /// GHC: node 0 (`newTask` sets `task->node = 0`; only `rts_pinThreadToNumaNode` changes it).
    #[default]
    Zero,
    /// Where the thread is bound, looked up once at its first capability selection: the node
    /// holding every CPU the thread may run on, or else the node of the CPU it runs on now
    /// (needs `cpu_nodes`; without it, node 0). A thread rebound later keeps its first node,
    /// as a GHC Task keeps `task->node`.
    WhereBound,
}

/// NUMA layout of the capabilities (GHC: `--numa`, `numa_map`, `capNoToNumaNode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumaConfig {
    /// Number of nodes (1 = no NUMA).
    pub n_nodes: u32,
    /// Explicit capability → node map; default: capability `i` on node `i mod n_nodes`.
    pub cap_nodes: Option<Vec<u32>>,
    /// Node distance matrix (`distances[a][b]`), if known; nearest-node order uses it.
    pub distances: Option<Vec<Vec<u32>>>,
    /// Where foreign threads start.
    pub foreign_node: ForeignNode,
    /// CPUs of each node, for `rts_pinThreadToNumaNode` / `rts_setInCallCapability` binding.
    pub node_cpus: Vec<Vec<usize>>,
    /// Node of each CPU (index = CPU id), for `ForeignNode::WhereBound`.
    pub cpu_nodes: Vec<u32>,
}

impl Default for NumaConfig {
    fn default() -> Self {
        NumaConfig {
            n_nodes: 1,
            cap_nodes: None,
            distances: None,
            foreign_node: ForeignNode::Zero,
            node_cpus: Vec::new(),
            cpu_nodes: Vec::new(),
        }
    }
}

impl NumaConfig {
    /// The node of capability `i`.
    pub fn node_of_cap(&self, i: u32) -> u32 {
        match &self.cap_nodes {
            Some(map) if (i as usize) < map.len() => map[i as usize],
            _ => i % self.n_nodes.max(1),
        }
    }

    /// Other nodes ordered by distance from `node` (ties by node number).
    pub fn nearest_from(&self, node: u32) -> Vec<u32> {
        let mut others: Vec<u32> = (0..self.n_nodes).filter(|&n| n != node).collect();
        if let Some(d) = &self.distances {
            others.sort_by_key(|&n| {
                (
                    d.get(node as usize)
                        .and_then(|r| r.get(n as usize))
                        .copied(),
                    n,
                )
            });
        }
        others
    }
}

/// Everything `hs_init` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Enabled capabilities (`-N`); 0 means the number of available cores.
    pub n_capabilities: u32,
    /// Size of the capability array; 0 means `max(DEFAULT_MAX_CAPABILITIES, n)`.
    pub max_capabilities: u32,
    /// Nursery size per capability in bytes (`-A`).
    pub nursery_bytes: usize,
    pub policy: PolicySet,
    pub numa: NumaConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            n_capabilities: 0,
            max_capabilities: 0,
            nursery_bytes: DEFAULT_NURSERY_BYTES,
            policy: PolicySet::DEFAULT,
            numa: NumaConfig::default(),
        }
    }
}

impl Config {
    /// Resolve defaults (`0` capabilities = available cores) and check limits.
    pub fn resolved(mut self) -> Result<Config, CallInError> {
        let bad = |detail: String| CallInError::BadArgument {
            call: "hs_init",
            detail,
        };
        if self.n_capabilities == 0 {
            self.n_capabilities =
                std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        }
        if self.max_capabilities == 0 {
            self.max_capabilities = self.n_capabilities.max(DEFAULT_MAX_CAPABILITIES);
        }
        if self.n_capabilities > self.max_capabilities {
            return Err(bad(format!(
                "{} capabilities exceed the maximum of {}",
                self.n_capabilities, self.max_capabilities
            )));
        }
        if self.numa.n_nodes == 0 || self.numa.n_nodes > MAX_NUMA_NODES {
            return Err(bad(format!(
                "{} NUMA nodes (must be 1..={MAX_NUMA_NODES})",
                self.numa.n_nodes
            )));
        }
        if let Some(map) = &self.numa.cap_nodes
            && let Some(n) = map.iter().find(|&&n| n >= self.numa.n_nodes)
        {
            return Err(bad(format!(
                "capability map names node {n} of {}",
                self.numa.n_nodes
            )));
        }
        if self.nursery_bytes < 2 * crate::nursery::HEADROOM_WORDS * crate::heap::WORD_BYTES {
            return Err(bad(format!(
                "nursery of {} bytes is below the 16 KiB minimum",
                self.nursery_bytes
            )));
        }
        Ok(self)
    }
}
