//! Policies: every design choice on the call-in path as a value chosen at `hs_init`, so one
//! binary measures each choice against its alternative (DESIGN.md §3).

use std::fmt;

/// How `rts_lock` picks a capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SelectPolicy {
    /// Lock-free and NUMA-aware: the task's last capability, then a free one on its node (per-node
    /// free bitmaps), then the nearest node with a free one, then wait.
    LockFree,
    /// GHC's `find_capability_for_task`: preferred, else the global `last_free_capability[node]`
    /// hint, else a scan of the node, else queue on that one busy capability for good.
    Ghc,
}

/// How a task waits for a busy capability and how release hands it over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitPolicy {
    /// Spin briefly, then become the capability's heir (handed the capability by the next
    /// release) or queue FIFO to become heir; never hands the capability to a sleeping task
    /// while a running one can take it (Note [heir hand-off] in `capability/README.md`).
    SpinPark,
    /// GHC: per-capability mutex, per-task condition variable, per-capability FIFO of returning
    /// tasks; a released capability may be taken by a newcomer before the signalled waiter runs.
    Ghc,
}

/// Where the thread state object of a call lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThreadObjects {
    /// One TSO + stack per InCall, reused by every call on it: no nursery allocation.
    ReusePerInCall,
    /// GHC: a fresh TSO (15 words) + STACK (113 words) per call in the nursery: 1,024 bytes.
    FreshInNursery,
}

/// How thread ids and the thread list are maintained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThreadIds {
    /// Per-capability id ranges and thread lists: no shared write.
    PerCapability,
    /// GHC: global `sched_mutex` per call for `next_thread_id++` and the global thread list.
    GlobalLock,
}

/// What happens when a nursery is exhausted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GcPolicy {
    /// Reset this capability's nursery alone, at a point where no live call uses it.
    PerCapability,
    /// GHC: stop every capability, then collect all nurseries (and walk the thread list).
    StopTheWorld,
}

/// How a nursery lays out objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NurseryLayout {
    /// One contiguous bump region.
    Contiguous,
    /// GHC: 4 KiB blocks, objects never straddle a block (slop; about 3.6 GHC calls per block).
    Blocks,
}

/// One value per design choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PolicySet {
    pub select: SelectPolicy,
    pub wait: WaitPolicy,
    pub thread_objects: ThreadObjects,
    pub thread_ids: ThreadIds,
    pub gc: GcPolicy,
    pub layout: NurseryLayout,
}

impl PolicySet {
    /// The default: every lock-free choice.
    pub const fn lockfree() -> PolicySet {
        PolicySet {
            select: SelectPolicy::LockFree,
            wait: WaitPolicy::SpinPark,
            thread_objects: ThreadObjects::ReusePerInCall,
            thread_ids: ThreadIds::PerCapability,
            gc: GcPolicy::PerCapability,
            layout: NurseryLayout::Contiguous,
        }
    }

    /// Every choice as GHC makes it, to validate the model against the real RTS.
    pub const fn ghc() -> PolicySet {
        PolicySet {
            select: SelectPolicy::Ghc,
            wait: WaitPolicy::Ghc,
            thread_objects: ThreadObjects::FreshInNursery,
            thread_ids: ThreadIds::GlobalLock,
            gc: GcPolicy::StopTheWorld,
            layout: NurseryLayout::Blocks,
        }
    }

    /// Parse `lockfree` / `default` / `ghc`.
    pub fn parse(s: &str) -> Option<PolicySet> {
        match s {
            "lockfree" | "default" | "lock-free" => Some(Self::lockfree()),
            "ghc" => Some(Self::ghc()),
            _ => None,
        }
    }

    /// A short label: `lockfree`, `ghc`, or a list of the choices that differ from lock-free.
    pub fn label(&self) -> String {
        if *self == Self::lockfree() {
            return "lockfree".into();
        }
        if *self == Self::ghc() {
            return "ghc".into();
        }
        let mut parts = Vec::new();
        let d = Self::lockfree();
        if self.select != d.select {
            parts.push("select=ghc");
        }
        if self.wait != d.wait {
            parts.push("wait=ghc");
        }
        if self.thread_objects != d.thread_objects {
            parts.push("tso=ghc");
        }
        if self.thread_ids != d.thread_ids {
            parts.push("ids=ghc");
        }
        if self.gc != d.gc {
            parts.push("gc=ghc");
        }
        if self.layout != d.layout {
            parts.push("blocks=ghc");
        }
        format!("lockfree+{}", parts.join("+"))
    }
}

impl Default for PolicySet {
    fn default() -> Self {
        Self::lockfree()
    }
}

impl fmt::Display for PolicySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}
