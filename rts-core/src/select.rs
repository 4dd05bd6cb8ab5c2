//! Capability selection: which capability `rts_lock` takes, the free bitmaps and hints that
//! steer the choice, and the release that keeps them right.
//!
//! Port of `find_capability_for_task` + `waitForCapability` and the release side of
//! `releaseCapability_` (`rts/Capability.c`). `SelectPolicy::Ghc` is GHC's choice: the task's
//! preferred capability, else the node's `last_free_capability` hint, else a scan of the node,
//! else queue on one busy capability for good. `SelectPolicy::LockFree` is NUMA-aware and never
//! scans every capability: the task's last capability, else a free one from its node's free
//! bitmap, else from the nearest node that has one, else wait (and move if another frees up).
//! Ownership: the bitmaps and hints ([`FreeCaps`]) are shared atomics written by releasers and
//! selectors; they only steer the choice, the capability's state word decides.

use crossbeam_utils::CachePadded;

use crate::capability::{Capability, CapabilityGuard};
use crate::config::{ForeignNode, NumaConfig};
use crate::policy::{SelectPolicy, WaitPolicy};
use crate::rts::Rts;
use crate::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use crate::task::{CapHint, Task};

/// Which capabilities may be free: the per-node bitmaps of `SelectPolicy::LockFree` and GHC's
/// per-node `last_free_capability` hints of `SelectPolicy::Ghc`.
pub(crate) struct FreeCaps {
    nodes: Box<[NodeCaps]>,
    /// GHC `last_free_capability[node]` (`SelectPolicy::Ghc` only): written on every release
    /// that leaves a capability idle.
    last_free: Box<[CachePadded<AtomicU32>]>,
}

/// The capabilities of one NUMA node and its free bitmap.
struct NodeCaps {
    /// Capability numbers on this node, in order; bit `j` of `free` stands for `caps[j]`.
    caps: Vec<u32>,
    /// Free-capability hints (Note [free bitmaps]).
    free: Box<[CachePadded<AtomicU64>]>,
    /// Other nodes, nearest first.
    nearest: Vec<u32>,
}

// Note [free bitmaps]
// ~~~~~~~~~~~~~~~~~~~
// Bit j of a node's bitmap says "caps[j] may be free"; a free, enabled capability never stays
// with its bit clear. The argument (the SeqCst pair D1 between `take_free_on` and `mark_free`,
// each side's write then read) is in capability/README.md, "Free bitmaps" and "The SeqCst
// pairs", beside its partner, the release of the capability's state word.

impl FreeCaps {
    /// The hints for `max_capabilities` capabilities laid out as `numa` says, all clear; also
    /// each capability's position among its node's capabilities (its bit).
    pub(crate) fn new(numa: &NumaConfig, max_capabilities: u32) -> (FreeCaps, Vec<u32>) {
        let mut nodes: Vec<NodeCaps> = (0..numa.n_nodes)
            .map(|n| NodeCaps {
                caps: Vec::new(),
                free: Box::new([]),
                nearest: numa.nearest_from(n),
            })
            .collect();
        let idx_in_node = (0..max_capabilities)
            .map(|i| {
                let list = &mut nodes[numa.node_of_cap(i) as usize].caps;
                list.push(i);
                list.len() as u32 - 1
            })
            .collect();
        for n in &mut nodes {
            n.free = (0..n.caps.len().div_ceil(64))
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect();
        }
        let free = FreeCaps {
            nodes: nodes.into_boxed_slice(),
            last_free: (0..numa.n_nodes)
                .map(|n| CachePadded::new(AtomicU32::new(n)))
                .collect(),
        };
        (free, idx_in_node)
    }
}

impl Rts {
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
                match self.config().policy.select {
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
        match self.config().policy.wait {
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
    pub(crate) fn select_free(&self, node: u32) -> Result<SelectedCap<'_>, SelectError> {
        if node as usize >= self.free.nodes.len() {
            return Err(SelectError::NoSuchNode {
                node,
                n_nodes: self.free.nodes.len() as u32,
            });
        }
        let found = match self.config().policy.select {
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
    pub(crate) fn acquire_specific<'a>(&self, c: &'a Capability) -> CapabilityGuard<'a> {
        match self.config().policy.wait {
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
            if self.config().policy.wait == WaitPolicy::Ghc {
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
            // (Note [moving to a free capability], capability/README.md).
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
        if !task.node_set.get() && self.config().numa.foreign_node == ForeignNode::WhereBound {
            let node = crate::numa::node_of_calling_thread(&self.config().numa).unwrap_or(0);
            task.node.set(node);
            task.node_set.set(true);
        }
        task.node.get().min(self.free.nodes.len() as u32 - 1)
    }

    /// Take a free capability on `node`, else on the nearest node that has one: O(nodes ×
    /// caps per node / 64) bitmap words, never a scan of every capability.
    fn take_free_near(&self, node: u32) -> Option<CapabilityGuard<'_>> {
        let nearest = self.free.nodes[node as usize].nearest.iter().copied();
        std::iter::once(node)
            .chain(nearest)
            .find_map(|n| self.take_free_on(n))
    }

    /// GHC's `find_capability_for_task` without the wait: the node's `last_free_capability`
    /// hint, else a scan of the node's capabilities; `None` where GHC would queue.
    fn take_free_ghc(&self, node: u32) -> Option<CapabilityGuard<'_>> {
        let enabled = self.n_capabilities();
        let hint = self.free.last_free[node as usize].load(Ordering::Relaxed);
        let scan = self.free.nodes[node as usize].caps.iter().copied();
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
        let own = self.free.nodes[node as usize]
            .caps
            .iter()
            .copied()
            .find(|&i| i < n);
        self.cap(own.unwrap_or(0))
    }

    /// Take a free capability of `node` using its bitmap.
    fn take_free_on(&self, node: u32) -> Option<CapabilityGuard<'_>> {
        let nc = &self.free.nodes[node as usize];
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
                // Pair D1 (capability/README.md): clear the bit, then read the state, both
                // SeqCst; a releaser that freed it meanwhile sees the bit clear and sets it.
                word.fetch_and(!(1 << b), Ordering::SeqCst);
                crate::sync::seqcst_pair_point();
                if c.is_free_now()
                    && let Some(g) = self.try_take(c)
                {
                    return Some(g);
                }
            }
        }
        None
    }

    /// Whether a capability other than `busy`, that a task on `node` would select (own node,
    /// then the nearer ones), is free now: the heir's reads of pair D2 (SeqCst; Note [moving to
    /// a free capability], capability/README.md).
    fn free_elsewhere(&self, node: u32, busy: &Capability) -> bool {
        let enabled = self.n_capabilities();
        let nearest = self.free.nodes[node as usize].nearest.iter().copied();
        std::iter::once(node).chain(nearest).any(|n| {
            let nc = &self.free.nodes[n as usize];
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
    /// to it. The releaser's read of pair D2 (Note [moving to a free capability],
    /// capability/README.md), after freeing the state and setting its bit. Cold: only while some
    /// heir sleeps.
    fn nudge_sleeping_heirs(&self, freed: &Capability) {
        crate::sync::seqcst_pair_point();
        if !Capability::heirs_may_sleep() {
            return;
        }
        (0..self.n_capabilities())
            .filter(|&i| i != freed.no)
            .for_each(|i| self.cap(i).nudge_sleeping_heir());
    }

    /// After a release left `c` free: make sure its free bit is set. The releaser's read of
    /// pair D1 (Note [free bitmaps], capability/README.md), after the SeqCst write that freed
    /// the state (`CapabilityGuard::release_lockfree`, `force_release`).
    pub(crate) fn mark_free(&self, c: &Capability) {
        crate::sync::seqcst_pair_point();
        let word = &self.free.nodes[c.node as usize].free[c.idx_in_node as usize / 64];
        let bit = 1u64 << (c.idx_in_node % 64);
        if word.load(Ordering::SeqCst) & bit == 0 && c.no < self.n_capabilities() {
            word.fetch_or(bit, Ordering::SeqCst);
        }
    }

    /// Port of GHC's `find_capability_for_task` + `waitForCapability`.
    fn select_ghc(&self, task: &Task) -> CapabilityGuard<'_> {
        let node = self.task_node(task);
        let enabled = self.n_capabilities();
        let hint = self.free.last_free[node as usize].load(Ordering::Relaxed);
        let hinted = (hint < enabled).then(|| self.cap(hint));
        if let Some(c) = hinted
            && !c.is_busy_hint()
        {
            return self.acquire_specific(c);
        }
        let scan = self.free.nodes[node as usize]
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
        let left_idle = match self.config().policy.wait {
            WaitPolicy::SpinPark => !g.release_lockfree(),
            WaitPolicy::Ghc => {
                c.stats.lock_acquisitions(1);
                g.release_ghc()
            }
        };
        if left_idle {
            match self.config().policy.select {
                SelectPolicy::LockFree => {
                    self.mark_free(c);
                    if self.config().policy.wait == WaitPolicy::SpinPark {
                        self.nudge_sleeping_heirs(c);
                    }
                }
                // GHC writes the global hint on every release that leaves the capability idle.
                SelectPolicy::Ghc => {
                    self.free.last_free[c.node as usize].store(c.no, Ordering::Relaxed)
                }
            }
        }
    }

    /// A task's hint for its next call: the capability it just held.
    pub(crate) fn hint_for(&self, c: &Capability) -> CapHint {
        CapHint {
            generation: self.generation,
            index: c.no,
        }
    }
}

/// A capability taken by `scaffolding::select_free`; released (as `rts_unlock` would) on drop.
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

/// Why `scaffolding::select_free` took no capability.
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
