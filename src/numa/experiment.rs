//! The NUMA placement experiments behind `callin-bench numa` and the `numa` criterion group:
//! threads pinned to node A calling `c_function` into capabilities and nurseries on node A, on
//! node B, or unpinned with GHC's map, per policy; the remote acquisition rate (rts-core stats);
//! and the latency of loads from node A into memory first-touched on node A vs node B.
//!
//! Cells that need two nodes are returned with `skipped` set on a one-node machine, never
//! filled with one-node figures.

use std::sync::{Arc, Barrier};
use std::time::Instant;

use callin_reports::schema::{NumaRow, NurseryAccess, Spread};
use rts_core::ForeignNode;
use rts_core::{Config, PolicySet};

use crate::pin::{self, PinTarget};
use crate::stats::spread;
use crate::topology::{Machine, TopologyError};

/// Why cross-node cells are empty on a one-node machine.
pub const NEEDS_MULTI_NODE: &str = "needs a multi-node machine (this one has 1 NUMA node)";

/// Where the calling threads and the capabilities are, for one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Threads bound to node `thread` (and `rts_pinThreadToNumaNode(thread)`); every capability
    /// and nursery on node `caps`.
    Pinned { thread: u32, caps: u32 },
    /// Threads left free (their Tasks' node per the plan's `foreign_node`), capability `i` on
    /// node `i mod n`.
    Unpinned,
}

impl Placement {
    /// Row label.
    pub fn label(self) -> String {
        match self {
            Placement::Pinned { thread, caps } if thread == caps => {
                format!("pinned node {thread}, capabilities + nurseries on node {caps} (local)")
            }
            Placement::Pinned { thread, caps } => {
                format!("pinned node {thread}, capabilities + nurseries on node {caps} (remote)")
            }
            Placement::Unpinned => "unpinned, GHC map (capability i on node i mod n)".into(),
        }
    }
}

impl Placement {
    /// (node the threads are bound to, node of every capability), when fixed.
    pub fn nodes(self) -> (Option<u32>, Option<u32>) {
        match self {
            Placement::Pinned { thread, caps } => (Some(thread), Some(caps)),
            Placement::Unpinned => (None, None),
        }
    }
}

/// `hs_init` for a row: one capability per driver thread, all on the placement's capability
/// node (or GHC's map when unpinned). The caller must `hs_exit`.
pub fn init_for(
    machine: &Machine,
    placement: Placement,
    policy: PolicySet,
    foreign_node: ForeignNode,
) -> Result<&'static rts_core::Rts, TopologyError> {
    let threads = threads_for(machine);
    let map = placement.nodes().1.map(|n| vec![n; threads as usize]);
    let numa = machine.numa_config(map, foreign_node)?;
    let config = Config {
        n_capabilities: threads,
        policy,
        numa,
        ..Config::default()
    };
    rts_core::hs_init_with(config).map_err(|e| TopologyError::Hwloc(e.to_string()))
}

/// Sizes of one experiment run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Calls per thread per repetition.
    pub calls_per_thread: u64,
    /// Repetitions (spread over them).
    pub reps: u32,
    /// Bytes of the memory-latency buffer.
    pub access_bytes: usize,
    /// Dependent loads per repetition.
    pub access_steps: u64,
    /// Node of a Task whose thread never called `rts_pinThreadToNumaNode` (unpinned rows).
    pub foreign_node: ForeignNode,
}

/// The two nodes compared: A = node 0, B = the node farthest from it (None on one node).
pub fn nodes_a_b(machine: &Machine) -> (u32, Option<u32>) {
    let d = machine.selection_distances();
    let b = (1..machine.nodes.len() as u32).max_by_key(|&n| (d[0][n as usize], n));
    (0, b)
}

/// The placements to measure, with the cross-node ones present even on one node (skipped).
pub fn placements(machine: &Machine) -> Vec<(Placement, Option<String>)> {
    let (a, b) = nodes_a_b(machine);
    let remote = match b {
        Some(b) => (Placement::Pinned { thread: a, caps: b }, None),
        None => (
            Placement::Pinned { thread: a, caps: 1 },
            Some(NEEDS_MULTI_NODE.to_owned()),
        ),
    };
    vec![
        (Placement::Pinned { thread: a, caps: a }, None),
        remote,
        (Placement::Unpinned, None),
    ]
}

/// Threads (= capabilities) for a row: one per CPU of node A.
pub fn threads_for(machine: &Machine) -> u32 {
    (machine.nodes[0].cpus.len() as u32).max(1)
}

/// Where the kernel put each capability's nursery: (capability, its node, node of its first
/// page as the kernel reports it, logical index; `None` if unreadable).
pub type NurseryPages = Vec<(u32, u32, Option<u32>)>;

/// Run one row: `hs_init` with the placement's map, drive `c_function` from pinned threads.
pub fn run_row(
    machine: &Machine,
    placement: Placement,
    policy_label: &str,
    policy: PolicySet,
    plan: &Plan,
) -> Result<(NumaRow, NurseryPages), TopologyError> {
    let threads = threads_for(machine);
    let (thread_node, cap_node) = placement.nodes();
    let rts = init_for(machine, placement, policy, plan.foreign_node)?;
    let pages = nursery_page_nodes(machine, rts);
    let before = rts.stats().total();
    let result = drive(machine, thread_node, threads, plan);
    let delta = rts.stats().total() - before;
    rts_core::hs_exit();
    let spread = result?;
    let rate = (rts_core::stats::ENABLED && delta.calls > 0)
        .then(|| delta.remote_acquires as f64 / delta.calls as f64);
    let row = NumaRow {
        placement: placement.label(),
        thread_node,
        capability_node: cap_node,
        policy: policy_label.to_owned(),
        threads,
        capabilities: threads,
        ns_per_call: Some(spread),
        remote_acquisition_rate: rate,
        skipped: None,
    };
    Ok((row, pages))
}

/// `threads` threads (bound to `node` if given) each make `calls_per_thread` calls per rep,
/// released together; ns per call = wall time / all calls. Every result is checked.
pub fn drive(
    machine: &Machine,
    node: Option<u32>,
    threads: u32,
    plan: &Plan,
) -> Result<Spread, TopologyError> {
    let f = rts_core::stub::c_function();
    let reps = plan.reps;
    let gate = Arc::new(Barrier::new(threads as usize + 1));
    let per_rep: Vec<f64> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let gate = Arc::clone(&gate);
                s.spawn(move || -> Result<(), TopologyError> {
                    if let Some(n) = node {
                        pin::bind(machine, PinTarget::Node(n))?;
                        // SAFETY: the RTS is initialised (run_row) and node `n` exists in it.
                        unsafe { rts_core::ffi::rts_pinThreadToNumaNode(n as i32) };
                    }
                    // SAFETY: the RTS is initialised; c_function is callable from any thread.
                    assert_eq!(unsafe { f(1000) }, 1001, "warm-up call");
                    for _ in 0..reps {
                        gate.wait();
                        for i in 0..plan.calls_per_thread as i64 {
                            // SAFETY: as above.
                            let r = unsafe { f(std::hint::black_box(i)) };
                            assert_eq!(r, i + 1, "c_function({i})");
                        }
                        gate.wait();
                    }
                    Ok(())
                })
            })
            .collect();
        let times: Vec<f64> = (0..reps)
            .map(|_| {
                gate.wait();
                let t0 = Instant::now();
                gate.wait();
                let calls = plan.calls_per_thread * u64::from(threads);
                t0.elapsed().as_nanos() as f64 / calls as f64
            })
            .collect();
        for w in workers {
            w.join().expect("driver thread panicked")?;
        }
        Ok::<_, TopologyError>(times)
    })?;
    Ok(spread(&per_rep))
}

/// Load latency from node `thread_node` into `plan.access_bytes` first-touched on `mem_node`.
pub fn access_cost(
    machine: &Machine,
    thread_node: u32,
    mem_node: u32,
    plan: &Plan,
) -> Result<NurseryAccess, TopologyError> {
    let lines = plan.access_bytes / 64;
    let chase = std::thread::scope(|s| {
        s.spawn(|| {
            pin::bind(machine, PinTarget::Node(mem_node))?;
            Ok::<_, TopologyError>(Chase::new(lines))
        })
        .join()
        .expect("memory placement thread panicked")
    })?;
    let pages_on_node = page_node(machine, chase.addr());
    let times = std::thread::scope(|s| {
        s.spawn(|| {
            pin::bind(machine, PinTarget::Node(thread_node))?;
            chase.run(plan.access_steps); // warm the TLB and caches' view of the pattern
            let v = (0..plan.reps)
                .map(|_| {
                    let t0 = Instant::now();
                    std::hint::black_box(chase.run(plan.access_steps));
                    t0.elapsed().as_nanos() as f64 / plan.access_steps as f64
                })
                .collect::<Vec<f64>>();
            Ok::<_, TopologyError>(v)
        })
        .join()
        .expect("memory latency thread panicked")
    })?;
    Ok(NurseryAccess {
        thread_node,
        memory_node: mem_node,
        pages_on_node,
        bytes: (lines * 64) as u64,
        ns_per_access: Some(spread(&times)),
        skipped: None,
    })
}

/// A random cyclic permutation of cache lines: each load's address depends on the previous one,
/// so prefetchers cannot hide the latency.
struct Chase {
    /// `next[i * 8]` = index (in words) of the next line's first word; one u64 per 8 words.
    words: Vec<u64>,
}

impl Chase {
    /// Allocate and link `lines` cache lines on the calling thread (first touch).
    fn new(lines: usize) -> Chase {
        let lines = lines.max(2);
        let mut order: Vec<usize> = (0..lines).collect();
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for i in (1..lines).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            order.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let mut words = vec![0u64; lines * 8];
        for w in 0..lines {
            words[order[w] * 8] = (order[(w + 1) % lines] * 8) as u64;
        }
        Chase { words }
    }

    fn addr(&self) -> usize {
        self.words.as_ptr() as usize
    }

    fn run(&self, steps: u64) -> u64 {
        let mut i = 0usize;
        for _ in 0..steps {
            i = self.words[i] as usize;
        }
        i as u64
    }
}

/// Logical node of the page at `addr`, as the kernel reports it.
fn page_node(machine: &Machine, addr: usize) -> Option<u32> {
    let os = page_os_node(addr)?;
    machine
        .nodes
        .iter()
        .find(|n| n.os_index == os)
        .map(|n| n.logical)
}

/// OS node of the page at `addr` (Linux `move_pages` with no target: query only).
fn page_os_node(addr: usize) -> Option<u32> {
    let mut pages = [(addr & !4095) as *mut libc::c_void];
    let mut status = [-1 as libc::c_int];
    // SAFETY: one page pointer, one status slot, null nodes (query mode), pid 0 = this process.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_pages,
            0,
            1usize,
            pages.as_mut_ptr(),
            std::ptr::null::<libc::c_int>(),
            status.as_mut_ptr(),
            0,
        )
    };
    (rc == 0 && status[0] >= 0).then_some(status[0] as u32)
}

/// The node the kernel reports for each enabled capability's nursery (first page).
pub fn nursery_page_nodes(machine: &Machine, rts: &rts_core::Rts) -> NurseryPages {
    rts.nursery_homes()
        .iter()
        .map(|h| (h.capability, h.node, page_node(machine, h.base)))
        .collect()
}
