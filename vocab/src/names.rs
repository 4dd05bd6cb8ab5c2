//! The enums and their one spelling each.

/// Declares a fieldless enum with its one spelling per variant, `ALL` in declaration order,
/// `name()`, `from_name()`, `Display` and (feature `serde`) (de)serialisation by name.
macro_rules! named_enum {
    (@unit $var:ident) => { () };
    ($(#[$m:meta])* pub enum $ty:ident { $($(#[$vm:meta])* $var:ident = $name:literal,)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $ty { $($(#[$vm])* $var,)+ }

        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: [$ty; <[()]>::len(&[$(named_enum!(@unit $var)),+])] = [$($ty::$var,)+];

            /// The spelling used in code, on the command line, in JSON and in the report.
            pub const fn name(self) -> &'static str {
                match self { $($ty::$var => $name,)+ }
            }

            /// The value spelled `name`, if any.
            pub fn from_name(name: &str) -> Option<$ty> {
                Self::ALL.into_iter().find(|v| v.name() == name)
            }

            /// Every spelling, in declaration order.
            pub fn names() -> Vec<&'static str> {
                Self::ALL.iter().map(|v| v.name()).collect()
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<$ty, String> {
                $ty::from_name(s).ok_or_else(|| {
                    format!(
                        "unknown {} {s:?}: expected {}",
                        stringify!($ty),
                        crate::one_of(&$ty::names())
                    )
                })
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

named_enum! {
    /// A phase of the call-in path, in call order (`gc` last: it happens only when a nursery is
    /// exhausted).
    pub enum Phase {
        /// `newBoundTask` → `getMyTask`/`newTask`: the thread's Task.
        TaskLookup = "task_lookup",
        /// `newInCall`: a spare InCall (or a new one) pushed on the Task's stack.
        IncallPush = "incall_push",
        /// `waitForCapability` → `find_capability_for_task`: choose and take a capability.
        CapAcquire = "cap_acquire",
        /// `rts_mkInt`: the `I#` argument.
        MkInt = "mk_int",
        /// `rts_apply`: one application thunk (twice per call).
        Apply = "apply",
        /// `createThread`: the TSO and stack (GHC: under the global `sched_mutex`).
        CreateThread = "create_thread",
        /// `scheduleWaitThread` / `schedule`: run the bound thread, store the result.
        Schedule = "schedule",
        /// `rts_checkSchedStatus`: act on the call's status.
        CheckStatus = "check_status",
        /// `rts_getInt`: read the result.
        GetInt = "get_int",
        /// `releaseCapability_`: hand the capability to a waiter or mark it free.
        CapRelease = "cap_release",
        /// `boundTaskExiting` / `exitMyTask`: pop the InCall to the spare list.
        IncallPop = "incall_pop",
        /// `scheduleDoGC`: the nursery was exhausted.
        Gc = "gc",
    }
}

named_enum! {
    /// A group of phases bounded by one call of GHC's C API: what a wrapped `rts_*` call of the
    /// real GHC can time, and what rts-core's phases roll up into for a side-by-side view.
    pub enum PhaseGroup {
        /// `rts_lock`: task_lookup + incall_push + cap_acquire.
        Lock = "lock",
        /// `rts_mkInt`.
        MkInt = "mk_int",
        /// `rts_apply`, both calls.
        Apply = "apply",
        /// `rts_evalIO` (GHC 9.0) / `rts_inCall` (9.2+): create_thread + schedule + gc.
        Eval = "eval",
        /// `rts_checkSchedStatus`.
        CheckStatus = "check_status",
        /// `rts_getInt`.
        GetInt = "get_int",
        /// `rts_unlock`: cap_release + incall_pop.
        Unlock = "unlock",
    }
}

named_enum! {
    /// A call-in implementation the suite measures.
    pub enum System {
        /// rts-core with its default policy set (every lock-free choice).
        Default = "default",
        /// rts-core with the `ghc` policy set (GHC's serialising points reproduced).
        GhcMode = "ghc-mode",
        /// The real GHC RTS, through the stub GHC generates.
        RealGhc = "real-ghc",
    }
}

impl Phase {
    /// The C API call whose span contains this phase.
    pub const fn group(self) -> PhaseGroup {
        match self {
            Phase::TaskLookup | Phase::IncallPush | Phase::CapAcquire => PhaseGroup::Lock,
            Phase::MkInt => PhaseGroup::MkInt,
            Phase::Apply => PhaseGroup::Apply,
            Phase::CreateThread | Phase::Schedule | Phase::Gc => PhaseGroup::Eval,
            Phase::CheckStatus => PhaseGroup::CheckStatus,
            Phase::GetInt => PhaseGroup::GetInt,
            Phase::CapRelease | Phase::IncallPop => PhaseGroup::Unlock,
        }
    }
}

impl PhaseGroup {
    /// The phases in this group, in call order.
    pub fn phases(self) -> Vec<Phase> {
        Phase::ALL
            .into_iter()
            .filter(|p| p.group() == self)
            .collect()
    }

    /// The group of the C API function `name` that GHC's stub calls (`rts_evalIO` in GHC 9.0,
    /// `rts_inCall` from 9.2); `None` for any other name. The wrapped baseline and the sampling
    /// call-site scan name what they saw by function; this is the one place that maps it.
    pub fn of_c_function(name: &str) -> Option<PhaseGroup> {
        Some(match name {
            "rts_lock" => PhaseGroup::Lock,
            "rts_mkInt" => PhaseGroup::MkInt,
            "rts_apply" => PhaseGroup::Apply,
            "rts_evalIO" | "rts_inCall" => PhaseGroup::Eval,
            "rts_checkSchedStatus" => PhaseGroup::CheckStatus,
            "rts_getInt" => PhaseGroup::GetInt,
            "rts_unlock" => PhaseGroup::Unlock,
            _ => return None,
        })
    }

    /// The GHC C API function(s) whose span this group is.
    pub const fn c_api(self) -> &'static str {
        match self {
            PhaseGroup::Lock => "rts_lock",
            PhaseGroup::MkInt => "rts_mkInt",
            PhaseGroup::Apply => "rts_apply",
            PhaseGroup::Eval => "rts_evalIO / rts_inCall",
            PhaseGroup::CheckStatus => "rts_checkSchedStatus",
            PhaseGroup::GetInt => "rts_getInt",
            PhaseGroup::Unlock => "rts_unlock",
        }
    }
}

impl System {
    /// How the report titles the system in tables and legends.
    pub const fn title(self) -> &'static str {
        match self {
            System::Default => "rts-core default",
            System::GhcMode => "rts-core ghc mode",
            System::RealGhc => "real GHC",
        }
    }

    /// The rts-core policy set the system runs, `None` for the real GHC.
    pub const fn policy_set(self) -> Option<&'static str> {
        match self {
            System::Default => Some(crate::POLICY_SET_DEFAULT),
            System::GhcMode => Some(crate::POLICY_SET_GHC),
            System::RealGhc => None,
        }
    }

    /// The system that runs policy set `name` (`default` or `ghc`).
    pub fn of_policy_set(name: &str) -> Option<System> {
        System::ALL
            .into_iter()
            .find(|s| s.policy_set() == Some(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_and_names_are_distinct() {
        for names in [Phase::names(), PhaseGroup::names(), System::names()] {
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), names.len(), "duplicate name in {names:?}");
        }
        for p in Phase::ALL {
            assert_eq!(Phase::from_name(p.name()), Some(p));
        }
        for s in System::ALL {
            assert_eq!(s.name().parse::<System>(), Ok(s));
        }
        assert_eq!(
            "lockfree".parse::<System>().unwrap_err(),
            "unknown System \"lockfree\": expected default, ghc-mode or real-ghc"
        );
    }

    #[test]
    fn groups_cover_every_phase_once_in_call_order() {
        let rolled: Vec<Phase> = PhaseGroup::ALL.iter().flat_map(|g| g.phases()).collect();
        let mut expected = Phase::ALL.to_vec();
        // gc belongs to eval, which ends before check_status.
        expected.retain(|&p| p != Phase::Gc);
        let pos = expected.iter().position(|&p| p == Phase::Schedule).unwrap();
        expected.insert(pos + 1, Phase::Gc);
        assert_eq!(rolled, expected);
        assert_eq!(
            PhaseGroup::Lock.phases(),
            [Phase::TaskLookup, Phase::IncallPush, Phase::CapAcquire]
        );
        assert_eq!(
            PhaseGroup::Unlock.phases(),
            [Phase::CapRelease, Phase::IncallPop]
        );
    }

    #[test]
    fn every_c_api_function_maps_to_its_group() {
        for g in PhaseGroup::ALL {
            for f in g.c_api().split(" / ") {
                assert_eq!(PhaseGroup::of_c_function(f), Some(g), "{f}");
            }
        }
        assert_eq!(PhaseGroup::of_c_function("hs_init"), None);
    }

    #[test]
    fn rts_core_systems_name_their_policy_sets() {
        assert_eq!(System::of_policy_set("default"), Some(System::Default));
        assert_eq!(System::of_policy_set("ghc"), Some(System::GhcMode));
        assert_eq!(System::of_policy_set("lockfree"), None);
        assert_eq!(System::RealGhc.policy_set(), None);
    }
}
