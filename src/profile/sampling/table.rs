//! The symbol → phase-group table of each system: owns naming, for a sample whose stack copy
//! holds no C API return address of `c_function` (see [`super::callsites`]), the group its leaf
//! function belongs to. One table per system; a name not in it leaves the sample in "other".
//!
//! Only functions whose group does not depend on the caller are listed: `allocate` (called by
//! `rts_mkInt`, `rts_apply` and `createThread`) and `pthread_mutex_lock` (every group) are not,
//! so they are attributed by the call chain or not at all. GHC's table names GHC 9.0's RTS
//! functions (rts/RtsAPI.c, rts/Task.c, rts/Capability.c, rts/Schedule.c, rts/Threads.c,
//! rts/sm/GC.c); Debian's `libHSrts_thr` exports only some of them in `.dynsym`, the others
//! show as unnamed code of that file (and are attributed by the call chain).

use callin_vocab::{PhaseGroup, System};

/// How a table entry matches a function name.
#[derive(Debug, Clone, Copy)]
enum Pattern {
    Exact(&'static str),
    Prefix(&'static str),
}

impl Pattern {
    fn matches(self, name: &str) -> bool {
        match self {
            Pattern::Exact(s) => name == s,
            Pattern::Prefix(p) => name.starts_with(p),
        }
    }
}

/// One system's table.
#[derive(Debug, Clone)]
pub struct Table {
    entries: Vec<(Pattern, PhaseGroup)>,
}

use Pattern::{Exact, Prefix};

/// GHC 9.0.2's RTS (the C API functions themselves map through `PhaseGroup::of_c_function`).
const GHC: &[(Pattern, PhaseGroup)] = &[
    (Exact("newBoundTask"), PhaseGroup::Lock),
    (Exact("getTask"), PhaseGroup::Lock),
    (Exact("getMyTask"), PhaseGroup::Lock),
    (Exact("newTask"), PhaseGroup::Lock),
    (Exact("newInCall"), PhaseGroup::Lock),
    (Exact("waitForCapability"), PhaseGroup::Lock),
    (Exact("find_capability_for_task"), PhaseGroup::Lock),
    (Exact("waitForReturnCapability"), PhaseGroup::Lock),
    (Exact("newReturningTask"), PhaseGroup::Lock),
    (Exact("createThread"), PhaseGroup::Eval),
    (Exact("createStrictIOThread"), PhaseGroup::Eval),
    (Exact("scheduleWaitThread"), PhaseGroup::Eval),
    (Exact("schedule"), PhaseGroup::Eval),
    (Prefix("schedule"), PhaseGroup::Eval),
    (Exact("StgRun"), PhaseGroup::Eval),
    (Exact("StgReturn"), PhaseGroup::Eval),
    (Prefix("stg_"), PhaseGroup::Eval),
    (Exact("GarbageCollect"), PhaseGroup::Eval),
    (Prefix("base_"), PhaseGroup::Eval),
    (Prefix("ghczmprim_"), PhaseGroup::Eval),
    (Prefix("Fun_"), PhaseGroup::Eval),
    (Exact("releaseCapability_"), PhaseGroup::Unlock),
    (Exact("boundTaskExiting"), PhaseGroup::Unlock),
    (Exact("exitMyTask"), PhaseGroup::Unlock),
    (Exact("endInCall"), PhaseGroup::Unlock),
];

/// rts-core: its modules by the phase they implement (demangled Rust paths).
const RTS_CORE: &[(Pattern, PhaseGroup)] = &[
    (Prefix("rts_core::task::"), PhaseGroup::Lock),
    (Prefix("rts_core::sched::"), PhaseGroup::Eval),
    (Prefix("rts_core::foreign_exports::"), PhaseGroup::Eval),
    (Prefix("foo"), PhaseGroup::Eval),
];

impl Table {
    /// The table of `system`.
    pub fn of(system: System) -> Table {
        let own = match system {
            System::RealGhc => GHC,
            System::Default | System::GhcMode => RTS_CORE,
        };
        Table {
            entries: own.to_vec(),
        }
    }

    /// The group of leaf function `name`, if the table knows it.
    pub fn group_of(&self, name: &str) -> Option<PhaseGroup> {
        PhaseGroup::of_c_function(name).or_else(|| {
            self.entries
                .iter()
                .find(|(p, _)| p.matches(name))
                .map(|&(_, g)| g)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_functions_and_listed_functions_map_callers_do_not() {
        let t = Table::of(System::RealGhc);
        assert_eq!(t.group_of("rts_lock"), Some(PhaseGroup::Lock));
        assert_eq!(t.group_of("waitForCapability"), Some(PhaseGroup::Lock));
        assert_eq!(t.group_of("stg_ap_2_upd_info"), Some(PhaseGroup::Eval));
        assert_eq!(t.group_of("allocate"), None, "caller-dependent");
        assert_eq!(t.group_of("pthread_mutex_lock"), None, "caller-dependent");
        let r = Table::of(System::Default);
        assert_eq!(r.group_of("rts_core::sched::run"), Some(PhaseGroup::Eval));
        assert_eq!(r.group_of("waitForCapability"), None);
    }
}
