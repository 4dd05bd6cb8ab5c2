//! Capability: the right to run Haskell code, its ownership word, and the guard that proves a
//! thread holds it.
//!
//! Port of `Capability` (`rts/Capability.h`, `rts/Capability.c`). Ownership: the capability's
//! nursery, run queue and owner-private counters live in `owned` and are reached only through a
//! [`CapabilityGuard`], whose existence proves this thread holds the capability (GHC:
//! `cap->running_task == myTask()`). Holding is one bit of `state`. Every acquisition returns a
//! guard and every release consumes one; the only other way to a guard is
//! [`CapabilityGuard::assume_held`], for a call-in that holds its capability across C API calls.
//!
//! The two ways to wait for a busy capability and to hand it over are the two wait policies:
//! - `handoff.rs` (the state word, the releasing side) and `heir.rs` (the waiting side): the
//!   lock-free heir hand-off (`WaitPolicy::SpinPark`);
//! - `ghc_wait.rs`: GHC's protocol with `cap->lock` and the returning-tasks FIFO
//!   (`WaitPolicy::Ghc`).
//!
//! Their protocols, and the proofs that no wake-up is lost and no capability has two owners,
//! are in `README.md` beside this file.

use std::marker::PhantomData;
use std::ptr;

use crate::nursery::Nursery;
use crate::sched::RunQueue;
use crate::stats::CapStats;
use crate::sync::UnsafeCell;
use crate::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use crate::task::Task;

mod ghc_wait;
mod handoff;
mod heir;
#[cfg(test)]
mod test;

#[cfg(not(rts_loom))]
pub use heir::SPIN;

/// Port of `Capability` (`rts/Capability.h`). C code sees it as the opaque `Capability *`.
#[derive(Debug)]
pub struct Capability {
    /// `LOCKED | PARKED | heir` (`README.md`, "The state word"). Written by acquire (CAS),
    /// release, and the waiting protocol; polled by waiters, so the holder-only fields are on
    /// another line.
    state: AtomicUsize,
    /// The Task holding this capability (GHC `running_task`). Written by the holder right after
    /// it acquired; read by any thread, Relaxed, only to check that a caller holds the
    /// capability it names (a thread reads back its own write, or a stale foreign value).
    running_task: AtomicPtr<Task>,
    /// Capability number (GHC `cap->no`).
    pub no: u32,
    /// NUMA node (GHC `cap->node`).
    pub node: u32,
    /// Position of this capability among its node's capabilities (its free-bitmap bit).
    pub(crate) idx_in_node: u32,
    /// Holder-only fields, on their own cache line(s) so the holder's writes do not invalidate
    /// the line waiters poll.
    owned: crossbeam_utils::CachePadded<UnsafeCell<CapOwned>>,
    /// Event counters (empty without the `stats` feature).
    pub stats: CapStats,
    /// State of the GHC wait policy (`cap->lock`, `returning_tasks`).
    ghc: ghc_wait::GhcCapState,
    /// Loom models choose whether queued parks time out (`scaffolding::loom_model`).
    #[cfg(rts_loom)]
    model: crate::scaffolding::loom_model::Knobs,
}

// SAFETY: `owned` is only accessed through a CapabilityGuard, i.e. by the one thread holding the
// capability; acquisition (Acquire) and release (Release) order successive holders' accesses.
// All other fields are atomics or immutable after construction.
unsafe impl Sync for Capability {}
// SAFETY: as above; a Capability is not tied to a thread.
unsafe impl Send for Capability {}

/// Fields only the holder of the capability touches.
#[derive(Debug, Default)]
pub struct CapOwned {
    /// Allocated at `hs_init` / `setNumCapabilities` for enabled capabilities.
    pub nursery: Option<Nursery>,
    pub run_queue: RunQueue,
    /// Per-capability thread-id counter (`ThreadIds::PerCapability`).
    pub next_thread_id: u64,
}

impl Capability {
    pub(crate) fn new(no: u32, node: u32, idx_in_node: u32) -> Capability {
        Capability {
            state: AtomicUsize::new(0),
            running_task: AtomicPtr::new(ptr::null_mut()),
            no,
            node,
            idx_in_node,
            owned: crossbeam_utils::CachePadded::new(UnsafeCell::new(CapOwned::default())),
            stats: CapStats::default(),
            ghc: ghc_wait::GhcCapState::default(),
            #[cfg(rts_loom)]
            model: Default::default(),
        }
    }

    /// The guard of a capability this thread has just acquired: where every acquisition of
    /// both wait policies turns its successful step into the proof of ownership.
    ///
    /// # Safety
    /// The calling thread must have just set `LOCKED` itself (a CAS that found it clear) or
    /// been handed the capability with `LOCKED` kept set for it (a grant or a hand-off), and
    /// must not have released it since.
    #[inline]
    unsafe fn held(&self) -> CapabilityGuard<'_> {
        CapabilityGuard {
            cap: self,
            _not_send: PhantomData,
        }
    }

    /// Whether some task holds the capability now (a racy hint).
    pub fn is_busy_hint(&self) -> bool {
        // ORDERING: Relaxed — a stale answer only steers selection; acquisition decides.
        self.state.load(Ordering::Relaxed) & handoff::LOCKED != 0
    }

    /// The recorded holder (a hint; for diagnostics).
    pub(crate) fn holder_hint(&self) -> *const Task {
        self.running_task.load(Ordering::Relaxed)
    }

    /// Whether `task` is recorded as the holder.
    #[inline]
    pub(crate) fn is_held_by(&self, task: *const Task) -> bool {
        std::ptr::eq(self.running_task.load(Ordering::Relaxed), task)
    }

    /// `(LOCKED, PARKED, an heir is registered)` now, for the loom models.
    #[cfg(rts_loom)]
    pub(crate) fn state_bits(&self) -> (bool, bool, bool) {
        handoff::state_bits(self.state.load(Ordering::SeqCst))
    }

    /// Whether the heir sleeps now (`HEIR_ASLEEP`), for the loom models.
    #[cfg(rts_loom)]
    pub(crate) fn heir_is_asleep(&self) -> bool {
        self.state.load(Ordering::SeqCst) & handoff::HEIR_MASK == handoff::HEIR_ASLEEP
    }

    /// A capability outside any instance, for the loom models.
    #[cfg(rts_loom)]
    pub(crate) fn for_model(knobs: crate::scaffolding::loom_model::Knobs) -> Capability {
        let mut cap = Capability::new(0, 0, 0);
        cap.model = knobs;
        cap
    }
}

/// Proof that the current OS thread holds `cap` (GHC: `cap->running_task == myTask()`).
#[derive(Debug)]
pub struct CapabilityGuard<'a> {
    cap: &'a Capability,
    _not_send: PhantomData<*const ()>,
}

impl<'a> CapabilityGuard<'a> {
    /// Rebuild the guard of a capability this thread holds, across C API calls (a call-in keeps
    /// its capability from `rts_lock` to `rts_unlock`; the guard cannot cross the C boundary).
    ///
    /// # Safety
    /// The calling thread must hold `cap` (checked by the caller against its InCall), and no
    /// other guard of `cap` may be used while this one is.
    #[inline]
    pub(crate) unsafe fn assume_held(cap: &'a Capability) -> CapabilityGuard<'a> {
        CapabilityGuard {
            cap,
            _not_send: PhantomData,
        }
    }

    pub fn cap(&self) -> &'a Capability {
        self.cap
    }

    /// Record `task` as the holder (GHC `cap->running_task = task`); null for a holder that is
    /// not a call-in (`hs_exit`, `setNumCapabilities`, a stop-the-world collection).
    #[inline]
    pub(crate) fn set_running_task(&mut self, task: *const Task) {
        self.cap
            .running_task
            .store(task as *mut Task, Ordering::Relaxed);
    }

    /// The holder-only fields.
    #[inline]
    pub fn owned(&mut self) -> &mut CapOwned {
        // SAFETY: the guard proves this thread holds the capability, so no other thread touches
        // `owned`; the `&mut self` borrow prevents two live references through this guard.
        self.cap.owned.with_mut(|p| unsafe { &mut *p })
    }

    /// This capability's nursery.
    #[inline]
    pub fn nursery(&mut self) -> &mut Nursery {
        self.owned()
            .nursery
            .as_mut()
            .expect("enabled capability has a nursery")
    }
}
