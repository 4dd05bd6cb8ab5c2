//! Nursery placement: each capability's nursery allocated and first touched on the
//! capability's NUMA node, at `hs_init` and when `setNumCapabilities` adds capabilities.
//!
//! Port of `allocNurseries` / `allocNursery` with `capNoToNumaNode` (`rts/sm/Storage.c`), by
//! Linux's first-touch rule instead of `mbind` (Note [nursery placement]). Ownership: the
//! nurseries are built here, on helper threads bound to each node, and handed to their
//! capabilities by `Rts::add_capabilities`; the record of where each went ([`NurseryHome`]) is
//! kept by the instance for tests and the NUMA experiments.

use crate::nursery::{BLOCK_BYTES, Nursery};
use crate::policy::NurseryLayout;
use crate::rts::Rts;

/// Page size assumed for first touch: touching every 4 KiB also touches every larger page.
const TOUCH_STRIDE: usize = 4096;

/// Where a capability's nursery was placed at `hs_init` / `setNumCapabilities` (diagnostics for
/// tests and the NUMA experiments; Note [nursery placement]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NurseryHome {
    /// Capability number.
    pub capability: u32,
    /// The capability's node.
    pub node: u32,
    /// Address of the first buffer (valid while the instance runs; for page-node queries).
    pub base: usize,
    /// Size of that buffer in bytes.
    pub bytes: usize,
    /// CPUs the allocating thread was bound to while it first touched every page; `None` when
    /// the node's CPUs are unknown (no `node_cpus`) and the calling thread allocated it unbound.
    pub touched_on_cpus: Option<Vec<usize>>,
    /// Why binding to the node's CPUs failed, if it did (the nursery is then touched unbound).
    pub bind_error: Option<String>,
}

// Note [nursery placement]
// ~~~~~~~~~~~~~~~~~~~~~~~~
// GHC allocates each capability's nursery on the capability's node (`allocNursery` with
// `capNoToNumaNode`, through `mbind`). rts-core has no libnuma/hwloc (so `librts_core.a` links
// alone); it relies on Linux's first-touch rule instead: for each node whose CPUs the
// configuration names (`NumaConfig::node_cpus`, filled by the harness from hwloc), one helper
// thread bound to those CPUs allocates that node's new nurseries and writes one byte of every
// page, so the kernel backs them with that node's memory. Without `node_cpus` (the C `hs_init`,
// synthetic topologies) the calling thread allocates them, as before. Buffers added later when a
// pinned buffer forces a switch (nursery.rs) are first touched by the thread that needs them.

impl Rts {
    /// Nurseries for capabilities `from..to`, each allocated and first-touched on its node
    /// (Note [nursery placement]), in capability order.
    pub(crate) fn place_nurseries(&self, from: u32, to: u32) -> Vec<(NurseryHome, Nursery)> {
        let numa = &self.config().numa;
        let mut by_node: Vec<Vec<u32>> = vec![Vec::new(); numa.n_nodes as usize];
        for i in from..to {
            by_node[numa.node_of_cap(i) as usize].push(i);
        }
        let mut out: Vec<(NurseryHome, Nursery)> = std::thread::scope(|s| {
            let workers: Vec<_> = by_node
                .iter()
                .enumerate()
                .filter(|(_, caps)| !caps.is_empty())
                .map(|(node, caps)| {
                    let cpus = numa.node_cpus.get(node).filter(|c| !c.is_empty());
                    match cpus {
                        Some(cpus) => {
                            let job = move || self.nurseries_bound_to(node as u32, caps, cpus);
                            Ok(std::thread::Builder::new()
                                .name(format!("rts-nursery-node{node}"))
                                .spawn_scoped(s, job)
                                .expect("spawning the nursery placement thread"))
                        }
                        None => Err(self.nurseries_here(node as u32, caps, None)),
                    }
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| match w {
                    Ok(h) => h.join().expect("nursery placement thread panicked"),
                    Err(done) => done,
                })
                .collect()
        });
        out.sort_by_key(|(h, _)| h.capability);
        out
    }

    /// On a fresh thread: bind to `cpus`, then allocate and touch the nurseries of `caps`.
    fn nurseries_bound_to(
        &self,
        node: u32,
        caps: &[u32],
        cpus: &[usize],
    ) -> Vec<(NurseryHome, Nursery)> {
        match super::bind_current_thread(cpus, "hs_init") {
            Ok(()) => self.nurseries_here(node, caps, Some(cpus.to_vec())),
            Err(e) => {
                let mut v = self.nurseries_here(node, caps, None);
                for (h, _) in &mut v {
                    h.bind_error = Some(e.to_string());
                }
                v
            }
        }
    }

    /// Allocate the nurseries of `caps` on this thread and write one byte of every page.
    fn nurseries_here(
        &self,
        node: u32,
        caps: &[u32],
        bound: Option<Vec<usize>>,
    ) -> Vec<(NurseryHome, Nursery)> {
        caps.iter()
            .map(|&i| {
                let mut n = Nursery::new(self.config().nursery_bytes);
                if self.config().policy.layout == NurseryLayout::Blocks {
                    n = n.with_blocks(BLOCK_BYTES);
                }
                let (base, bytes) = first_touch(&mut n);
                let home = NurseryHome {
                    capability: i,
                    node,
                    base,
                    bytes,
                    touched_on_cpus: bound.clone(),
                    bind_error: None,
                };
                (home, n)
            })
            .collect()
    }

    /// Where each enabled capability's nursery was placed (Note [nursery placement]).
    pub fn nursery_homes(&self) -> Vec<NurseryHome> {
        let n = self.n_capabilities() as usize;
        self.nursery_homes.lock().iter().take(n).cloned().collect()
    }
}

/// Write one byte of every page of `n`'s current buffer, so the calling thread's node backs it
/// (first touch; Note [nursery placement]). Returns the buffer's address and size.
fn first_touch(n: &mut Nursery) -> (usize, usize) {
    let bytes = n.size_bytes();
    // A zero-word allocation returns the bump pointer, which is the buffer's base when fresh.
    let base = n
        .alloc(0)
        .expect("a zero-word allocation always fits")
        .as_ptr() as *mut u8;
    for off in (0..bytes).step_by(TOUCH_STRIDE) {
        // SAFETY: `off < bytes`, the size of the buffer starting at `base`, which `n` owns and
        // nobody else can reach yet. The buffer was zero-allocated, so writing 0 changes nothing.
        unsafe { std::ptr::write_volatile(base.add(off), 0) };
    }
    (base as usize, bytes)
}
