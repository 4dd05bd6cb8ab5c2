//! Policies: every design choice on the call-in path as a value chosen at `hs_init`, so one
//! binary measures each choice against its alternative (DESIGN.md §3).

use std::fmt;

pub use callin_vocab::{POLICY_SET_DEFAULT, POLICY_SET_GHC};

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

/// One design choice of a [`PolicySet`]: the axes the policy ablation switches one at a time.
/// Names are the `PolicySet` field names, used in labels (`default+gc=ghc`), results and
/// bench ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Axis {
    Select,
    Wait,
    ThreadObjects,
    ThreadIds,
    Gc,
    Layout,
}

impl Axis {
    /// Every axis, in `PolicySet` field order.
    pub const ALL: [Axis; 6] = [
        Axis::Select,
        Axis::Wait,
        Axis::ThreadObjects,
        Axis::ThreadIds,
        Axis::Gc,
        Axis::Layout,
    ];

    /// The axis's name: its `PolicySet` field.
    pub const fn name(self) -> &'static str {
        match self {
            Axis::Select => "select",
            Axis::Wait => "wait",
            Axis::ThreadObjects => "thread_objects",
            Axis::ThreadIds => "thread_ids",
            Axis::Gc => "gc",
            Axis::Layout => "layout",
        }
    }

    /// The axis named `name`.
    pub fn from_name(name: &str) -> Option<Axis> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Whether `a` and `b` make the same choice on this axis.
    pub fn same(self, a: &PolicySet, b: &PolicySet) -> bool {
        match self {
            Axis::Select => a.select == b.select,
            Axis::Wait => a.wait == b.wait,
            Axis::ThreadObjects => a.thread_objects == b.thread_objects,
            Axis::ThreadIds => a.thread_ids == b.thread_ids,
            Axis::Gc => a.gc == b.gc,
            Axis::Layout => a.layout == b.layout,
        }
    }

    /// `base` with this axis's choice taken from `from`.
    pub fn switch(self, base: PolicySet, from: PolicySet) -> PolicySet {
        let mut p = base;
        match self {
            Axis::Select => p.select = from.select,
            Axis::Wait => p.wait = from.wait,
            Axis::ThreadObjects => p.thread_objects = from.thread_objects,
            Axis::ThreadIds => p.thread_ids = from.thread_ids,
            Axis::Gc => p.gc = from.gc,
            Axis::Layout => p.layout = from.layout,
        }
        p
    }
}

impl PolicySet {
    /// The default: every lock-free choice (policy set [`POLICY_SET_DEFAULT`]).
    pub const DEFAULT: PolicySet = PolicySet {
        select: SelectPolicy::LockFree,
        wait: WaitPolicy::SpinPark,
        thread_objects: ThreadObjects::ReusePerInCall,
        thread_ids: ThreadIds::PerCapability,
        gc: GcPolicy::PerCapability,
        layout: NurseryLayout::Contiguous,
    };

    /// Every choice as GHC makes it, to validate the model against the real RTS (policy set
    /// [`POLICY_SET_GHC`]).
    pub const GHC: PolicySet = PolicySet {
        select: SelectPolicy::Ghc,
        wait: WaitPolicy::Ghc,
        thread_objects: ThreadObjects::FreshInNursery,
        thread_ids: ThreadIds::GlobalLock,
        gc: GcPolicy::StopTheWorld,
        layout: NurseryLayout::Blocks,
    };

    /// The named sets, `(name, set)`.
    const NAMED: [(&'static str, PolicySet); 2] = [
        (POLICY_SET_DEFAULT, PolicySet::DEFAULT),
        (POLICY_SET_GHC, PolicySet::GHC),
    ];

    /// Parse a [`label`](Self::label): `default`, `ghc`, or a named set with axes taken from the
    /// other one, `<set>+<axis>=<set>[+...]` (e.g. `default+wait=ghc`, `ghc+gc=default`).
    pub fn parse(s: &str) -> Result<PolicySet, String> {
        let named = |n: &str| {
            Self::NAMED
                .iter()
                .find(|(name, _)| *name == n)
                .map(|&(_, set)| set)
                .ok_or_else(|| {
                    format!("unknown policy set {n:?}: expected {POLICY_SET_DEFAULT} or {POLICY_SET_GHC}")
                })
        };
        let mut parts = s.split('+');
        let mut set = named(parts.next().unwrap_or_default())?;
        for part in parts {
            let (axis, from) = part
                .split_once('=')
                .ok_or_else(|| format!("policy {s:?}: {part:?} is not <axis>=<set>"))?;
            let axis = Axis::from_name(axis).ok_or_else(|| {
                let names: Vec<&str> = Axis::ALL.iter().map(|a| a.name()).collect();
                format!(
                    "policy {s:?}: unknown axis {axis:?} (axes: {})",
                    names.join(", ")
                )
            })?;
            set = axis.switch(set, named(from)?);
        }
        Ok(set)
    }

    /// A short label: `default`, `ghc`, or the nearer named set and the axes that differ from
    /// it, each with the set its choice comes from (`default+gc=ghc`, `ghc+thread_objects=default`).
    /// [`parse`](Self::parse) reads it back.
    pub fn label(&self) -> String {
        let differing = |base: &PolicySet| -> Vec<Axis> {
            Axis::ALL
                .into_iter()
                .filter(|a| !a.same(self, base))
                .collect()
        };
        let (base_name, base) = Self::NAMED
            .into_iter()
            .min_by_key(|(_, set)| differing(set).len())
            .expect("named sets exist");
        let other = Self::NAMED
            .into_iter()
            .find(|(name, _)| *name != base_name)
            .map(|(name, _)| name)
            .expect("two named sets");
        let mut label = base_name.to_owned();
        for axis in differing(&base) {
            label.push('+');
            label.push_str(axis.name());
            label.push('=');
            label.push_str(other);
        }
        label
    }
}

impl Default for PolicySet {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for PolicySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_the_nearer_set_and_parse_back() {
        assert_eq!(PolicySet::DEFAULT.label(), "default");
        assert_eq!(PolicySet::GHC.label(), "ghc");
        for axis in Axis::ALL {
            let d = axis.switch(PolicySet::DEFAULT, PolicySet::GHC);
            assert_eq!(d.label(), format!("default+{}=ghc", axis.name()));
            assert_eq!(PolicySet::parse(&d.label()), Ok(d));
            let g = axis.switch(PolicySet::GHC, PolicySet::DEFAULT);
            assert_eq!(g.label(), format!("ghc+{}=default", axis.name()));
            assert_eq!(PolicySet::parse(&g.label()), Ok(g));
        }
    }

    #[test]
    fn bad_labels_say_what_is_wrong() {
        assert_eq!(
            PolicySet::parse("lockfree").unwrap_err(),
            "unknown policy set \"lockfree\": expected default or ghc"
        );
        assert!(
            PolicySet::parse("default+speed=ghc")
                .unwrap_err()
                .contains("unknown axis \"speed\"")
        );
        assert!(
            PolicySet::parse("default+wait")
                .unwrap_err()
                .contains("is not <axis>=<set>")
        );
    }
}
