//! Per-capability event counters behind the `stats` feature (the shape of tokio's `counters.rs`).
//!
//! Call sites are unconditional; without the feature every counter call compiles to nothing.
//! Each capability's counters are written only by its current holder, so an increment is a
//! Relaxed load + store (no locked instruction); capability hand-off orders successive holders.
//! Task counts are process-wide and touched only on the cold create/free paths.

#[cfg(feature = "stats")]
use crate::sync::atomic::AtomicU64;
use crate::sync::atomic::Ordering;
#[cfg(feature = "stats")]
use crate::sync::atomic::Ordering::Relaxed;
use crate::sync::process_atomic;

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// A plain copy of one capability's counters.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct CapCounters { $($(#[$doc])* pub $name: u64,)* }

        /// One capability's counters (empty without the `stats` feature).
        #[derive(Debug, Default)]
        pub struct CapStats {
            $(#[cfg(feature = "stats")] $name: AtomicU64,)*
        }

        impl CapStats {
            $(
                $(#[$doc])*
                #[inline(always)]
                pub(crate) fn $name(&self, n: u64) {
                    #[cfg(feature = "stats")]
                    {
                        // Single writer (the capability holder): load + store is enough.
                        let c = &self.$name;
                        c.store(c.load(Relaxed) + n, Relaxed);
                    }
                    #[cfg(not(feature = "stats"))]
                    let _ = n;
                }
            )*

            /// A copy of the counters (all zero without the `stats` feature).
            pub fn snapshot(&self) -> CapCounters {
                #[cfg(feature = "stats")]
                { CapCounters { $($name: self.$name.load(Relaxed),)* } }
                #[cfg(not(feature = "stats"))]
                { CapCounters::default() }
            }
        }

        impl std::ops::AddAssign for CapCounters {
            fn add_assign(&mut self, o: CapCounters) { $(self.$name += o.$name;)* }
        }

        impl std::ops::Sub for CapCounters {
            type Output = CapCounters;
            fn sub(self, o: CapCounters) -> CapCounters {
                CapCounters { $($name: self.$name.wrapping_sub(o.$name),)* }
            }
        }
    };
}

counters! {
    /// Call-ins that acquired this capability in `rts_lock`.
    calls,
    /// Bytes bump-allocated in this capability's nursery.
    nursery_bytes,
    /// Nursery reclaims: resets in place (the default "minor GC") and buffer switches.
    nursery_resets,
    /// Stop-the-world nursery collections started on this capability (`gc = ghc` policy).
    stw_gcs,
    /// Acquisitions that had to wait (spin or park) for a busy capability.
    waits,
    /// Acquisitions that slept (parked / condvar wait).
    parks,
    /// Releases that handed this capability directly to a waiting task.
    handoffs,
    /// InCalls taken from the Task's spare list.
    spare_hits,
    /// InCalls that had to be allocated.
    spare_misses,
    /// Acquisitions by a task whose NUMA node differs from this capability's.
    remote_acquires,
    /// Mutex acquisitions on the call path (the `ghc` policies' `cap->lock` and `sched_mutex`).
    lock_acquisitions,
    /// Thread objects (TSO + stack) allocated in the nursery.
    tsos_allocated,
}

// Process-wide (not modelled under loom): see `sync::process_atomic`.
static TASKS_CREATED: process_atomic::AtomicU64 = process_atomic::AtomicU64::new(0);
static TASKS_FREED: process_atomic::AtomicU64 = process_atomic::AtomicU64::new(0);

pub(crate) fn task_created() {
    TASKS_CREATED.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn task_freed() {
    TASKS_FREED.fetch_add(1, Ordering::Relaxed);
}

/// Whether the crate was built with the `stats` feature (counters are real, not zeros).
pub const ENABLED: bool = cfg!(feature = "stats");

/// Counters of the whole RTS at one moment.
#[derive(Debug, Clone, Default)]
pub struct StatsSnapshot {
    /// One entry per capability (enabled or not).
    pub per_cap: Vec<CapCounters>,
    /// Tasks ever created / freed in this process (GHC `taskCount` bookkeeping).
    pub tasks_created: u64,
    pub tasks_freed: u64,
    /// Tasks alive now (registry count).
    pub live_tasks: usize,
}

impl StatsSnapshot {
    /// Sum over all capabilities.
    pub fn total(&self) -> CapCounters {
        let mut t = CapCounters::default();
        for c in &self.per_cap {
            t += *c;
        }
        t
    }
}

pub(crate) fn tasks() -> (u64, u64) {
    (
        TASKS_CREATED.load(Ordering::Relaxed),
        TASKS_FREED.load(Ordering::Relaxed),
    )
}
