//! The RTS instance: configuration, capabilities and their NUMA layout, lifecycle
//! (`hs_init` / `hs_exit` / `setNumCapabilities`) and capability selection.
//!
//! Ports `initCapabilities` / `moreCapabilities` (`rts/Capability.c`), `initStorage` /
//! `storageAddCapabilities` (`rts/sm/Storage.c`), `hs_init_ghc` / `hs_exit_`
//! (`rts/RtsStartup.c`), `setNumCapabilities` (`rts/Schedule.c`) and
//! `find_capability_for_task` (`rts/Capability.c`). Ownership: an `Rts` is created by `hs_init`
//! and never freed (tasks may still hold pointers into it, like GHC's capabilities, #8209); its
//! nurseries are freed by `hs_exit` once no call can reach them.
//!
//! Deliberate difference: `hs_init` after a complete `hs_exit` starts a fresh instance (GHC does
//! not support restarting), so one bench binary can measure several policy sets.

use std::sync::atomic::AtomicPtr;

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::capability::{Capability, CapabilityGuard};
use crate::error::CallInError;
use crate::nursery::{Nursery, Reclaim};
use crate::policy::{GcPolicy, NurseryLayout, PolicySet, SelectPolicy, WaitPolicy};
use crate::stats::StatsSnapshot;
use crate::sync::UnsafeCell;
use crate::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use crate::task::{CapHint, Task};

/// GHC 9.0's default `-A`: 1 MiB.
pub const DEFAULT_NURSERY_BYTES: usize = 1 << 20;
/// GHC's `BLOCK_SIZE`.
pub const BLOCK_BYTES: usize = 4096;
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
            policy: PolicySet::lockfree(),
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

/// Lifecycle states of an instance.
const RUNNING: u32 = 1;
const INTERRUPTING: u32 = 2;
const EXITED: u32 = 3;

/// The capabilities of one NUMA node and its free bitmap.
struct NodeCaps {
    /// Capability numbers on this node, in order; bit `j` of `free` stands for `caps[j]`.
    caps: Vec<u32>,
    /// Free-capability hints (see Note [free bitmaps]).
    free: Box<[CachePadded<AtomicU64>]>,
    /// Other nodes, nearest first.
    nearest: Vec<u32>,
}

// Note [free bitmaps]
// ~~~~~~~~~~~~~~~~~~~
// Bit j of a node's bitmap says "caps[j] may be free". The fast path (a task's last capability)
// never touches the bitmap, so in the steady state nobody writes it. A selector that finds a set
// bit but fails to grab the capability clears the bit, then re-reads the capability's state; a
// releaser re-reads the bit after freeing the capability and sets it if clear. Both sides use
// SeqCst for the write-then-read, so at least one sees the other (Dekker): a free, enabled
// capability never stays with its bit clear. A set bit on a busy capability only costs a failed
// CAS. Selection cost: O(nodes × caps/64) words, not a scan of all capabilities.

/// State of GHC's global serialising points, used by the `ghc` policies.
#[derive(Debug, Default)]
struct GhcGlobals {
    /// `sched_mutex`, protecting `next_thread_id` and the global thread list (`g0->threads`).
    sched: Mutex<SchedGlobal>,
    /// `pending_sync`: one stop-the-world collection at a time.
    sync: Mutex<()>,
}

#[derive(Debug, Default)]
struct SchedGlobal {
    next_thread_id: u64,
    /// The global thread list (`ThreadIds::GlobalLock`): the ids of threads not yet known to
    /// be finished (Note [thread list pruning]).
    threads: Vec<u64>,
}

/// Per capability, the ids of global-list threads that finished while it was held, not yet
/// removed from the list. Only the capability's holder touches its slot.
struct FinishedThreads(UnsafeCell<Vec<u64>>);

// SAFETY: the Vec is only reached through `Rts::finished_of`, which requires the guard of the
// slot's capability; one thread holds a capability at a time, and hand-offs synchronise.
unsafe impl Sync for FinishedThreads {}

/// A capability prunes the thread list once this many of its finished threads are pending,
/// even if its nursery is not reclaimed (a call that finishes on a capability it migrated to
/// may allocate nothing there). Bounds the list at live threads + this many per capability.
/// GHC-mode calls (1 KiB of nursery each) reclaim long before, so there it never triggers.
pub const THREAD_LIST_PRUNE_BATCH: usize = 4096;

// Note [thread list pruning]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// GHC links every new TSO on the global thread list under `sched_mutex` (`createThread`) and
// drops the finished ones when the GC tidies the list (`tidyThreadList`, which reads each TSO's
// `what_next`). In GHC every nursery reclaim is such a GC. The model reclaims nurseries per
// capability too (`GcPolicy::PerCapability`), and it cannot read a finished TSO to learn its
// state: a fresh TSO's nursery memory may be reused and a reused TSO (`ReusePerInCall`) may run
// the next call on another capability. So a call whose thread is on the list records the
// thread's id, without a lock, in the finished set of the capability it holds when it ends
// (`thread_finished`). Whoever reclaims that capability's nursery, per capability or stop the
// world, then removes those ids from the list under `sched_mutex` (`prune_finished`), and so
// does the holder once the set reaches `THREAD_LIST_PRUNE_BATCH`. The list keeps exactly the
// threads whose calls have not ended (suspended in a safe foreign call, or running) plus the
// pending sets; a stop-the-world collection empties every held capability's set, so it walks
// only live threads, as GHC's does after its GC.

/// One RTS instance.
pub struct Rts {
    /// Distinguishes instances across `hs_exit` / `hs_init` cycles (task hints carry it).
    pub generation: u64,
    state: AtomicU32,
    config: Config,
    caps: Box<[CachePadded<Capability>]>,
    n_enabled: AtomicU32,
    nodes: Box<[NodeCaps]>,
    /// GHC `last_free_capability[node]` (`SelectPolicy::Ghc` only): written on every release.
    last_free: Box<[CachePadded<AtomicU32>]>,
    ghc: GhcGlobals,
    /// Index = capability number (Note [thread list pruning]).
    finished: Box<[CachePadded<FinishedThreads>]>,
    /// Calls suspended in a safe foreign call (they hold pins but no capability).
    suspended: AtomicUsize,
    /// Where each capability's first nursery buffer was placed (index = capability number).
    nursery_homes: Mutex<Vec<NurseryHome>>,
}

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

impl std::fmt::Debug for Rts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rts")
            .field("generation", &self.generation)
            .field("n_enabled", &self.n_capabilities())
            .field("policy", &self.config.policy)
            .finish_non_exhaustive()
    }
}

impl Rts {
    fn new(config: Config, generation: u64) -> Rts {
        let numa = &config.numa;
        let mut nodes: Vec<NodeCaps> = (0..numa.n_nodes)
            .map(|n| NodeCaps {
                caps: Vec::new(),
                free: Box::new([]),
                nearest: numa.nearest_from(n),
            })
            .collect();
        let caps: Box<[CachePadded<Capability>]> = (0..config.max_capabilities)
            .map(|i| {
                let node = numa.node_of_cap(i);
                let list = &mut nodes[node as usize].caps;
                list.push(i);
                CachePadded::new(Capability::new(i, node, list.len() as u32 - 1))
            })
            .collect();
        for n in &mut nodes {
            n.free = (0..n.caps.len().div_ceil(64))
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect();
        }
        let rts = Rts {
            generation,
            state: AtomicU32::new(RUNNING),
            caps,
            n_enabled: AtomicU32::new(0),
            nodes: nodes.into_boxed_slice(),
            last_free: (0..numa.n_nodes)
                .map(|n| CachePadded::new(AtomicU32::new(n)))
                .collect(),
            ghc: GhcGlobals::default(),
            finished: (0..config.max_capabilities)
                .map(|_| CachePadded::new(FinishedThreads(UnsafeCell::new(Vec::new()))))
                .collect(),
            suspended: AtomicUsize::new(0),
            nursery_homes: Mutex::new(Vec::new()),
            config,
        };
        rts.add_capabilities(0, rts.config.n_capabilities);
        rts
    }

    /// Port of `storageAddCapabilities`: give capabilities `from..to` their nurseries and mark
    /// them enabled. Caller holds every enabled capability (or none exist yet).
    fn add_capabilities(&self, from: u32, to: u32) {
        // Capabilities below `have` got their nursery earlier (a shrink keeps it).
        let have = self.nursery_homes.lock().len() as u32;
        let mut placed = self.place_nurseries(from.max(have), to).into_iter();
        for i in from..to {
            let cap = self.cap(i);
            // A task that chose this capability before a shrink disabled it may hold it for a
            // moment; it gives it back as soon as it sees it disabled (`acquire_for`).
            let mut g = loop {
                match cap.try_grab() {
                    Some(g) => break g,
                    None => std::thread::yield_now(),
                }
            };
            if i >= have {
                let (home, nursery) = placed.next().expect("one nursery per new capability");
                g.set_running_task(std::ptr::null());
                g.owned().nursery = Some(nursery);
                self.nursery_homes.lock().push(home);
            }
            g.force_release();
        }
        // ORDERING: Release publishes the nurseries to threads that read `n_enabled` (Acquire in
        // `n_capabilities`) before they grab one of the new capabilities.
        self.n_enabled.store(to, Ordering::Release);
        for i in from..to {
            self.mark_free(self.cap(i));
        }
    }

    /// Nurseries for capabilities `from..to`, each allocated and first-touched on its node
    /// (Note [nursery placement]), in capability order.
    fn place_nurseries(&self, from: u32, to: u32) -> Vec<(NurseryHome, Nursery)> {
        let numa = &self.config.numa;
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
        match crate::numa::bind_current_thread(cpus, "hs_init") {
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
                let mut n = Nursery::new(self.config.nursery_bytes);
                if self.config.policy.layout == NurseryLayout::Blocks {
                    n = n.with_blocks(BLOCK_BYTES);
                }
                let (base, bytes) = crate::numa::first_touch(&mut n);
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

    /// The configuration this instance runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Enabled capabilities (GHC `enabled_capabilities`).
    pub fn n_capabilities(&self) -> u32 {
        // ORDERING: Acquire pairs with the Release in `add_capabilities`.
        self.n_enabled.load(Ordering::Acquire)
    }

    /// Capability `i` (enabled or not). Panics past the array.
    pub fn cap(&self, i: u32) -> &Capability {
        &self.caps[i as usize]
    }

    /// Whether `p` is the address of one of this instance's capabilities.
    pub(crate) fn cap_index_of(&self, p: *const Capability) -> Option<u32> {
        let base = self.caps.as_ptr() as usize;
        let stride = std::mem::size_of::<CachePadded<Capability>>();
        let off = (p as usize).checked_sub(base)?;
        let i = off / stride;
        (off % stride == 0 && i < self.caps.len() && std::ptr::eq(self.cap(i as u32), p))
            .then_some(i as u32)
    }

    pub(crate) fn is_running(&self) -> bool {
        self.state.load(Ordering::Relaxed) == RUNNING
    }

    pub(crate) fn is_exited(&self) -> bool {
        // ORDERING: Acquire pairs with the Release store of EXITED in `shutdown`, made while
        // `hs_exit` held every capability: a task that grabs one afterwards sees EXITED.
        self.state.load(Ordering::Acquire) == EXITED
    }

    /// Counters of every capability.
    pub fn stats(&self) -> StatsSnapshot {
        let (created, freed) = crate::stats::tasks();
        StatsSnapshot {
            per_cap: self.caps.iter().map(|c| c.stats.snapshot()).collect(),
            tasks_created: created,
            tasks_freed: freed,
            live_tasks: crate::task::live_tasks(),
        }
    }

    // ---------------------------------------------------------------- selection

    /// Port of `waitForCapability(&cap, task)` with `*pCap == NULL`: choose and acquire.
    #[inline] // called once per call-in from api.rs, another codegen unit
    pub(crate) fn acquire_for(&self, task: &Task) -> CapabilityGuard<'_> {
        loop {
            let pref = task.preferred_capability.get();
            let mut g = if pref >= 0 {
                self.task_node(task);
                let c = self.cap(pref as u32 % self.n_capabilities());
                self.acquire_specific(c)
            } else {
                match self.config.policy.select {
                    SelectPolicy::LockFree => self.select_lockfree(task),
                    SelectPolicy::Ghc => self.select_ghc(task),
                }
            };
            g.set_running_task(task);
            let cap = g.cap();
            if cap.no >= self.n_capabilities() {
                // Chosen before a `setNumCapabilities` shrink disabled it (GHC: a task that
                // wakes on a disabled capability moves on). Give it back and choose again;
                // `mark_free` leaves a disabled capability's bit clear.
                self.release(g);
                continue;
            }
            if cap.node != task.node.get() {
                cap.stats.remote_acquires(1);
            }
            return g;
        }
    }

    /// Acquire a capability the caller would rather have (resume after a safe call), else any.
    pub(crate) fn reacquire_for(
        &self,
        task: &Task,
        prefer: *const Capability,
    ) -> CapabilityGuard<'_> {
        if let Some(i) = self.cap_index_of(prefer)
            && i < self.n_capabilities()
            && let Some(mut g) = self.try_take(self.cap(i))
        {
            g.set_running_task(task);
            return g;
        }
        self.acquire_for(task)
    }

    fn try_take<'a>(&self, c: &'a Capability) -> Option<CapabilityGuard<'a>> {
        match self.config.policy.wait {
            WaitPolicy::SpinPark => c.try_grab(),
            WaitPolicy::Ghc => {
                let got = c.try_acquire_ghc();
                if got.is_some() {
                    c.stats.lock_acquisitions(1);
                }
                got
            }
        }
    }

    /// Selection alone, without a Task or a wait, for placement tests and the `selection` bench:
    /// take a free capability for a task on `node` the way this instance's policy would
    /// (`LockFree`: own node, then nearest; `Ghc`: the node's hint, then a scan of the node), or
    /// `None` where `rts_lock` would wait. The capability is held until the result is dropped.
    pub fn select_free(&self, node: u32) -> Result<SelectedCap<'_>, SelectError> {
        if node as usize >= self.nodes.len() {
            return Err(SelectError::NoSuchNode {
                node,
                n_nodes: self.nodes.len() as u32,
            });
        }
        let found = match self.config.policy.select {
            SelectPolicy::LockFree => self.take_free_near(node),
            SelectPolicy::Ghc => self.take_free_ghc(node),
        };
        found
            .map(|g| SelectedCap {
                rts: self,
                guard: Some(g),
            })
            .ok_or(SelectError::AllBusy)
    }

    /// Acquire `c` itself, waiting as long as it takes.
    fn acquire_specific<'a>(&self, c: &'a Capability) -> CapabilityGuard<'a> {
        match self.config.policy.wait {
            WaitPolicy::Ghc => {
                let (g, locks, waited) = c.acquire_ghc();
                c.stats.lock_acquisitions(locks);
                if waited {
                    c.stats.waits(1);
                    c.stats.parks(1);
                }
                g
            }
            WaitPolicy::SpinPark => {
                let (g, waited) = c.acquire_spin_park();
                if waited {
                    c.stats.waits(1);
                }
                g
            }
        }
    }

    fn hinted_cap(&self, task: &Task) -> Option<&Capability> {
        let h = task.last_cap.get()?;
        (h.generation == self.generation && h.index < self.n_capabilities())
            .then(|| self.cap(h.index))
    }

    /// The lock-free NUMA-aware selection (Note [free bitmaps]).
    fn select_lockfree(&self, task: &Task) -> CapabilityGuard<'_> {
        if let Some(c) = self.hinted_cap(task)
            && let Some(g) = self.try_take(c)
        {
            return g;
        }
        self.select_lockfree_cold(task)
    }

    #[cold]
    fn select_lockfree_cold(&self, task: &Task) -> CapabilityGuard<'_> {
        let node = self.task_node(task);
        let mut waited = false;
        loop {
            if let Some(g) = self.take_free_near(node) {
                if waited {
                    g.cap().stats.waits(1);
                }
                return g;
            }
            // Everything is busy: wait on the last capability, or the node's first enabled one.
            let target = self
                .hinted_cap(task)
                .unwrap_or_else(|| self.first_enabled_on(node));
            waited = true;
            if self.config.policy.wait == WaitPolicy::Ghc {
                return self.acquire_specific(target);
            }
            // Spin on it (Note [heir hand-off]), look for another free capability once more,
            // then commit to it: become its heir or queue on it.
            if let Some(g) = target.spin_wait() {
                target.stats.waits(1);
                return g;
            }
            if let Some(g) = self.take_free_near(node) {
                g.cap().stats.waits(1);
                return g;
            }
            // Committed, but not for good: another capability freeing up moves us there
            // (Note [moving to a free capability]).
            let elsewhere = || self.free_elsewhere(node, target);
            if let Some(g) = target.wait_queued(&elsewhere) {
                target.stats.waits(1);
                return g;
            }
        }
    }

    /// The task's node, clamped to this instance's nodes. A foreign thread whose node was never
    /// set gets one per `NumaConfig::foreign_node` (cold paths only: selection, not the hint).
    fn task_node(&self, task: &Task) -> u32 {
        if !task.node_set.get() && self.config.numa.foreign_node == ForeignNode::WhereBound {
            let node = crate::numa::node_of_calling_thread(&self.config.numa).unwrap_or(0);
            task.node.set(node);
            task.node_set.set(true);
        }
        task.node.get().min(self.nodes.len() as u32 - 1)
    }

    /// Take a free capability on `node`, else on the nearest node that has one: O(nodes ×
    /// caps per node / 64) bitmap words, never a scan of every capability.
    fn take_free_near(&self, node: u32) -> Option<CapabilityGuard<'_>> {
        let nearest = self.nodes[node as usize].nearest.iter().copied();
        std::iter::once(node)
            .chain(nearest)
            .find_map(|n| self.take_free_on(n))
    }

    /// GHC's `find_capability_for_task` without the wait: the node's `last_free_capability`
    /// hint, else a scan of the node's capabilities; `None` where GHC would queue.
    fn take_free_ghc(&self, node: u32) -> Option<CapabilityGuard<'_>> {
        let enabled = self.n_capabilities();
        let hint = self.last_free[node as usize].load(Ordering::Relaxed);
        let scan = self.nodes[node as usize].caps.iter().copied();
        std::iter::once(hint)
            .chain(scan)
            .filter(|&i| i < enabled)
            .map(|i| self.cap(i))
            .find_map(|c| {
                if c.is_busy_hint() {
                    None
                } else {
                    self.try_take(c)
                }
            })
    }

    fn first_enabled_on(&self, node: u32) -> &Capability {
        let n = self.n_capabilities();
        let own = self.nodes[node as usize]
            .caps
            .iter()
            .copied()
            .find(|&i| i < n);
        self.cap(own.unwrap_or(0))
    }

    /// Take a free capability of `node` using its bitmap.
    fn take_free_on(&self, node: u32) -> Option<CapabilityGuard<'_>> {
        let nc = &self.nodes[node as usize];
        let enabled = self.n_capabilities();
        for (w, word) in nc.free.iter().enumerate() {
            let mut bits = word.load(Ordering::SeqCst);
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let i = nc.caps[w * 64 + b];
                if i >= enabled {
                    continue;
                }
                let c = self.cap(i);
                if let Some(g) = self.try_take(c) {
                    return Some(g);
                }
                word.fetch_and(!(1 << b), Ordering::SeqCst);
                if !c.is_busy_hint()
                    && let Some(g) = self.try_take(c)
                {
                    return Some(g);
                }
            }
        }
        None
    }

    /// Whether a capability other than `busy`, that a task on `node` would select (own node,
    /// then the nearer ones), is free now (SeqCst reads: Note [moving to a free capability]).
    fn free_elsewhere(&self, node: u32, busy: &Capability) -> bool {
        let enabled = self.n_capabilities();
        let nearest = self.nodes[node as usize].nearest.iter().copied();
        std::iter::once(node).chain(nearest).any(|n| {
            let nc = &self.nodes[n as usize];
            nc.free.iter().enumerate().any(|(w, word)| {
                let mut bits = word.load(Ordering::SeqCst);
                while bits != 0 {
                    let i = nc.caps[w * 64 + bits.trailing_zeros() as usize];
                    bits &= bits - 1;
                    if i < enabled && i != busy.no && self.cap(i).is_free_now() {
                        return true;
                    }
                }
                false
            })
        })
    }

    /// A capability was left free: wake heirs sleeping on other capabilities so they can move
    /// to it (Note [moving to a free capability]). Cold: only while some heir sleeps.
    fn nudge_sleeping_heirs(&self, freed: &Capability) {
        if !Capability::heirs_may_sleep() {
            return;
        }
        (0..self.n_capabilities())
            .filter(|&i| i != freed.no)
            .for_each(|i| self.cap(i).nudge_sleeping_heir());
    }

    /// After a release: make sure the capability's free bit is set (Note [free bitmaps]).
    fn mark_free(&self, c: &Capability) {
        let word = &self.nodes[c.node as usize].free[c.idx_in_node as usize / 64];
        let bit = 1u64 << (c.idx_in_node % 64);
        if word.load(Ordering::SeqCst) & bit == 0 && c.no < self.n_capabilities() {
            word.fetch_or(bit, Ordering::SeqCst);
        }
    }

    /// Port of GHC's `find_capability_for_task` + `waitForCapability`.
    fn select_ghc(&self, task: &Task) -> CapabilityGuard<'_> {
        let node = self.task_node(task);
        let enabled = self.n_capabilities();
        let hint = self.last_free[node as usize].load(Ordering::Relaxed);
        let hinted = (hint < enabled).then(|| self.cap(hint));
        if let Some(c) = hinted
            && !c.is_busy_hint()
        {
            return self.acquire_specific(c);
        }
        let scan = self.nodes[node as usize]
            .caps
            .iter()
            .copied()
            .filter(|&i| i < enabled);
        for i in scan {
            if !self.cap(i).is_busy_hint() {
                return self.acquire_specific(self.cap(i));
            }
        }
        self.acquire_specific(hinted.unwrap_or_else(|| self.first_enabled_on(node)))
    }

    /// Port of `releaseCapability_` for a call-in's capability.
    #[inline] // called once per call-in from api.rs, another codegen unit
    pub(crate) fn release(&self, g: CapabilityGuard<'_>) {
        let c = g.cap();
        let left_idle = match self.config.policy.wait {
            WaitPolicy::SpinPark => !g.release_lockfree(),
            WaitPolicy::Ghc => {
                c.stats.lock_acquisitions(1);
                g.release_ghc()
            }
        };
        if left_idle {
            match self.config.policy.select {
                SelectPolicy::LockFree => {
                    self.mark_free(c);
                    if self.config.policy.wait == WaitPolicy::SpinPark {
                        self.nudge_sleeping_heirs(c);
                    }
                }
                // GHC writes the global hint on every release that leaves the capability idle.
                SelectPolicy::Ghc => self.last_free[c.node as usize].store(c.no, Ordering::Relaxed),
            }
        }
    }

    // ---------------------------------------------------------------- thread ids and GC

    /// A thread id for a new TSO, per policy; `sched_mutex` in GHC mode (`createThread`), which
    /// also links the thread on the global list.
    #[inline] // called once per call-in from api.rs, another codegen unit
    pub(crate) fn new_thread_id(&self, g: &mut CapabilityGuard<'_>) -> u64 {
        match self.config.policy.thread_ids {
            crate::policy::ThreadIds::PerCapability => {
                let cap_no = g.cap().no as u64;
                let o = g.owned();
                o.next_thread_id += 1;
                (cap_no << 48) | o.next_thread_id
            }
            crate::policy::ThreadIds::GlobalLock => {
                g.cap().stats.lock_acquisitions(1);
                let mut s = self.ghc.sched.lock();
                s.next_thread_id += 1;
                let id = s.next_thread_id;
                s.threads.push(id);
                id
            }
        }
    }

    /// The call whose thread is `id` has ended on the capability `g` holds: with a global
    /// thread list, record it for removal (Note [thread list pruning]).
    #[inline]
    pub(crate) fn thread_finished(&self, g: &mut CapabilityGuard<'_>, id: u64) {
        if self.config.policy.thread_ids != crate::policy::ThreadIds::GlobalLock {
            return;
        }
        let finished = self.finished_of(g);
        finished.push(id);
        if finished.len() >= THREAD_LIST_PRUNE_BATCH {
            self.prune_finished(g);
        }
    }

    /// The finished-thread set of the capability `g` holds.
    fn finished_of<'g>(&self, g: &'g mut CapabilityGuard<'_>) -> &'g mut Vec<u64> {
        let slot = &self.finished[g.cap().no as usize];
        // SAFETY: `g` proves this thread holds capability `no`, the only one that touches slot
        // `no`; the `&mut` borrow of `g` prevents two live references through this guard.
        slot.0.with_mut(|p| unsafe { &mut *p })
    }

    /// Remove the finished threads recorded on `g`'s capability from the global list, under
    /// `sched_mutex`. Keeps the set's capacity, so steady-state calls allocate nothing.
    fn prune_finished(&self, g: &mut CapabilityGuard<'_>) {
        if self.finished_of(g).is_empty() {
            return;
        }
        g.cap().stats.lock_acquisitions(1);
        let done = self.finished_of(g);
        done.sort_unstable();
        self.ghc
            .sched
            .lock()
            .threads
            .retain(|id| done.binary_search(id).is_err());
        done.clear();
    }

    /// A copy of the global thread list, oldest first (`ThreadIds::GlobalLock`; empty
    /// otherwise): ids of threads whose calls have not ended, plus finished ones not yet pruned.
    pub fn thread_list(&self) -> Vec<u64> {
        self.ghc.sched.lock().threads.clone()
    }

    /// Called right after a call acquired `g` and before it allocates: reclaim the nursery if
    /// it is nearly full, per the GC policy. Gives back the guard (a stop-the-world collection
    /// may have given the capability up meanwhile and taken it again) and whether the call may
    /// allocate: false if the instance has shut down (the nursery is gone; the call must end
    /// `Interrupted` without allocating).
    #[inline]
    pub(crate) fn prepare_nursery<'a>(
        &self,
        mut g: CapabilityGuard<'a>,
    ) -> (CapabilityGuard<'a>, bool) {
        if self.is_exited() {
            return (g, false);
        }
        match &g.owned().nursery {
            Some(n) if n.remaining_words() >= crate::nursery::HEADROOM_WORDS => (g, true),
            Some(_) => {
                let mut g = self.collect_cold(g);
                let ready = !self.is_exited() && g.owned().nursery.is_some();
                (g, ready)
            }
            None => (g, false),
        }
    }

    #[cold]
    fn collect_cold<'a>(&self, mut g: CapabilityGuard<'a>) -> CapabilityGuard<'a> {
        match self.config.policy.gc {
            GcPolicy::PerCapability => {
                if g.nursery().on_acquire() != Reclaim::None {
                    g.cap().stats.nursery_resets(1);
                }
                self.prune_finished(&mut g);
                g
            }
            GcPolicy::StopTheWorld => self.stop_the_world_gc(g),
        }
    }

    /// Port of `scheduleDoGC` for a nursery-exhausted call-in: `requestSync`, stop every other
    /// capability, collect all nurseries, walk the global thread list, release.
    fn stop_the_world_gc<'a>(&self, mut g: CapabilityGuard<'a>) -> CapabilityGuard<'a> {
        let Some(_sync) = self.ghc.sync.try_lock() else {
            // Another task is collecting and may be waiting for our capability: GHC yields it
            // (`requestSync` fails → `yieldCapability`). Our call has allocated nothing yet, so
            // let the other collection take our nursery too, then carry on.
            return self.yield_to_sync(g);
        };
        let me = g.cap().no;
        let n = self.n_capabilities();
        let mut others: Vec<CapabilityGuard<'_>> = (0..n)
            .filter(|&i| i != me)
            .map(|i| self.acquire_specific(self.cap(i)))
            .collect();
        let mut reclaimed = u64::from(g.nursery().reclaim_now() != Reclaim::None);
        // Every held capability's finished set, gathered in ours (capacities are kept).
        let mut done = std::mem::take(self.finished_of(&mut g));
        for og in &mut others {
            reclaimed += u64::from(og.nursery().reclaim_now() != Reclaim::None);
            done.append(self.finished_of(og));
        }
        done.sort_unstable();
        // `tidyThreadList`: drop the finished threads, walk the live ones.
        let walked = {
            let mut s = self.ghc.sched.lock();
            s.threads.retain(|id| done.binary_search(id).is_err());
            s.threads.len()
        };
        done.clear();
        *self.finished_of(&mut g) = done;
        g.cap().stats.stw_gcs(1);
        g.cap().stats.nursery_resets(reclaimed);
        g.cap().stats.lock_acquisitions(2);
        std::hint::black_box(walked);
        for og in others {
            self.release(og);
        }
        g
    }

    /// Give our capability to a collection in progress and take it back when it is done.
    fn yield_to_sync<'a>(&self, g: CapabilityGuard<'a>) -> CapabilityGuard<'a> {
        let c = g.cap();
        let me = c.holder_hint();
        self.release(g);
        drop(self.ghc.sync.lock());
        let mut g = self.acquire_specific(c);
        // Others may have held it meanwhile: record the holder again.
        g.set_running_task(me);
        match &g.owned().nursery {
            Some(n) if n.remaining_words() < crate::nursery::HEADROOM_WORDS => self.collect_cold(g),
            _ => g,
        }
    }

    // ---------------------------------------------------------------- lifecycle

    pub(crate) fn suspended_inc(&self) {
        self.suspended.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn suspended_dec(&self) {
        self.suspended.fetch_sub(1, Ordering::Relaxed);
    }

    /// Take every enabled capability (GHC `stopAllCapabilities`), in order. Holds the sync
    /// lock meanwhile, so it never deadlocks with a stop-the-world collection.
    fn acquire_all(&self) -> (parking_lot::MutexGuard<'_, ()>, Vec<CapabilityGuard<'_>>) {
        let sync = self.ghc.sync.lock();
        let caps = (0..self.n_capabilities())
            .map(|i| self.acquire_specific(self.cap(i)))
            .collect();
        (sync, caps)
    }

    fn release_all(&self, caps: Vec<CapabilityGuard<'_>>) {
        for g in caps {
            self.release(g);
        }
    }

    /// Port of `setNumCapabilities`: stop everything, grow (allocating nurseries) or shrink.
    fn set_capabilities(&self, n: u32) {
        let (_sync, held) = self.acquire_all();
        let old = held.len() as u32;
        if n > old {
            self.add_capabilities(old, n);
        } else {
            // ORDERING: Release, as in `add_capabilities`.
            self.n_enabled.store(n, Ordering::Release);
        }
        self.release_all(held);
    }

    /// `hs_exit`: interrupt, wait for every running call to leave its capability, then shut down.
    fn shutdown(&self) {
        self.state.store(INTERRUPTING, Ordering::Relaxed);
        let (_sync, mut held) = self.acquire_all();
        // ORDERING: Release pairs with the Acquire in `is_exited`; we hold every capability, so
        // whoever grabs one next sees EXITED before touching its nursery.
        self.state.store(EXITED, Ordering::Release);
        if self.suspended.load(Ordering::Relaxed) == 0 {
            for g in &mut held {
                if !g.nursery().any_pinned() {
                    g.owned().nursery = None;
                }
            }
        }
        self.release_all(held);
    }
}

/// A capability taken by [`Rts::select_free`]; released (as `rts_unlock` would) on drop.
#[derive(Debug)]
pub struct SelectedCap<'a> {
    rts: &'a Rts,
    /// `Some` until dropped.
    guard: Option<CapabilityGuard<'a>>,
}

impl SelectedCap<'_> {
    /// The capability held.
    pub fn cap(&self) -> &Capability {
        self.guard.as_ref().expect("held until dropped").cap()
    }
}

impl Drop for SelectedCap<'_> {
    fn drop(&mut self) {
        if let Some(g) = self.guard.take() {
            self.rts.release(g);
        }
    }
}

/// Why [`Rts::select_free`] took no capability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectError {
    /// Every capability the policy may take is busy: `rts_lock` would wait.
    AllBusy,
    /// The node does not exist in this instance.
    NoSuchNode { node: u32, n_nodes: u32 },
}

impl std::fmt::Display for SelectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SelectError::AllBusy => f.write_str("every capability is busy (rts_lock would wait)"),
            SelectError::NoSuchNode { node, n_nodes } => {
                write!(
                    f,
                    "NUMA node {node} does not exist (the RTS has {n_nodes} nodes)"
                )
            }
        }
    }
}

impl std::error::Error for SelectError {}

/// An instance outside the `hs_init` lifecycle, for selection tests and benches: nothing calls
/// into it through the C API, so several can exist at once. Its nurseries are freed on drop.
pub fn standalone(config: Config) -> Result<Rts, CallInError> {
    // Generation 0 is never used by `init`, so no Task hint can name this instance.
    Ok(Rts::new(config.resolved()?, 0))
}

/// The current instance (null before the first `hs_init`). Instances are leaked, never freed.
static CURRENT: AtomicPtr<Rts> = AtomicPtr::new(std::ptr::null_mut());

struct Lifecycle {
    init_count: u32,
    generation: u64,
}

static LIFECYCLE: Mutex<Lifecycle> = Mutex::new(Lifecycle {
    init_count: 0,
    generation: 0,
});

/// The current instance, if `hs_init` ever ran.
#[inline]
pub fn current() -> Option<&'static Rts> {
    // ORDERING: Acquire pairs with the Release in `init`, publishing the instance's contents.
    let p = CURRENT.load(Ordering::Acquire);
    // SAFETY: instances are leaked by `init` and never freed.
    unsafe { p.as_ref() }
}

/// `hs_init` with an explicit configuration. Counted like GHC's: each `hs_init` needs an
/// `hs_exit`; a second `hs_init` with a different configuration is an error.
pub fn init(config: Config) -> Result<&'static Rts, CallInError> {
    let config = config.resolved()?;
    let mut lc = LIFECYCLE.lock();
    if lc.init_count > 0 {
        let rts = current().expect("initialised");
        if rts.config != config {
            return Err(CallInError::InitMismatch {
                detail: format!(
                    "{} capabilities, {} byte nurseries, policy {}; asked for {} capabilities, {} byte nurseries, policy {}",
                    rts.config.n_capabilities,
                    rts.config.nursery_bytes,
                    rts.config.policy,
                    config.n_capabilities,
                    config.nursery_bytes,
                    config.policy
                ),
            });
        }
        lc.init_count += 1;
        return Ok(rts);
    }
    lc.generation += 1;
    let rts: &'static Rts = Box::leak(Box::new(Rts::new(config, lc.generation)));
    // ORDERING: Release publishes the fully built instance to `current()`.
    CURRENT.store(rts as *const Rts as *mut Rts, Ordering::Release);
    lc.init_count = 1;
    Ok(rts)
}

/// A nested `hs_init` from C: if the RTS is running, count the call and return true. GHC's
/// `hs_init_ghc` does only this (`hs_init_count > 1`: return), without looking at the
/// arguments; the Rust [`init`] instead checks that the configurations agree.
pub(crate) fn count_nested_init() -> bool {
    let mut lc = LIFECYCLE.lock();
    if lc.init_count == 0 {
        return false;
    }
    lc.init_count += 1;
    true
}

/// `hs_exit`: the last matching call shuts the instance down. Returns false if not initialised.
pub fn exit() -> bool {
    let mut lc = LIFECYCLE.lock();
    if lc.init_count == 0 {
        return false;
    }
    lc.init_count -= 1;
    if lc.init_count == 0 {
        current().expect("initialised").shutdown();
    }
    true
}

/// `setNumCapabilities(n)`.
pub fn set_num_capabilities(n: u32) -> Result<(), CallInError> {
    let lc = LIFECYCLE.lock();
    let rts = match current() {
        Some(r) if lc.init_count > 0 => r,
        _ => {
            return Err(CallInError::NotInitialised {
                call: "setNumCapabilities",
            });
        }
    };
    if n == 0 || n > rts.caps.len() as u32 {
        return Err(CallInError::BadArgument {
            call: "setNumCapabilities",
            detail: format!("{n} capabilities requested; must be 1..={}", rts.caps.len()),
        });
    }
    rts.set_capabilities(n);
    Ok(())
}

/// A task's hint for its next call: the capability it just held.
pub(crate) fn hint_for(rts: &Rts, c: &Capability) -> CapHint {
    CapHint {
        generation: rts.generation,
        index: c.no,
    }
}
