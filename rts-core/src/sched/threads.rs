//! Thread ids and the global thread list.
//!
//! Port of `createThread`'s bookkeeping (`rts/Threads.c`: `next_thread_id++` and the link onto
//! `g0->threads`, both under `sched_mutex`) and of the collector's `tidyThreadList`. Which one
//! runs is `ThreadIds`: per-capability id ranges with no list (no shared write), or GHC's
//! global lock and list. Ownership: the list is behind `sched_mutex`; each capability's set of
//! finished threads is touched only by its holder (through its guard).

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::capability::CapabilityGuard;
use crate::policy::ThreadIds;
use crate::rts::Rts;
use crate::sync::UnsafeCell;

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
// world, then removes those ids from the list under `sched_mutex` (`prune_finished`,
// `tidy_thread_list`), and so does the holder once the set reaches `THREAD_LIST_PRUNE_BATCH`.
// The list keeps exactly the threads whose calls have not ended (suspended in a safe foreign
// call, or running) plus the pending sets; a stop-the-world collection empties every held
// capability's set, so it walks only live threads, as GHC's does after its GC.

/// The global thread list and, per capability, the threads that finished on it.
pub(crate) struct ThreadList {
    /// `sched_mutex`, protecting `next_thread_id` and the global thread list (`g0->threads`).
    sched: Mutex<SchedGlobal>,
    /// Index = capability number (Note [thread list pruning]).
    finished: Box<[CachePadded<FinishedThreads>]>,
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

impl ThreadList {
    pub(crate) fn new(max_capabilities: u32) -> ThreadList {
        ThreadList {
            sched: Mutex::new(SchedGlobal::default()),
            finished: (0..max_capabilities)
                .map(|_| CachePadded::new(FinishedThreads(UnsafeCell::new(Vec::new()))))
                .collect(),
        }
    }
}

impl Rts {
    /// A thread id for a new TSO, per policy; `sched_mutex` in GHC mode (`createThread`), which
    /// also links the thread on the global list.
    #[inline] // called once per call-in from api.rs, another codegen unit
    pub(crate) fn new_thread_id(&self, g: &mut CapabilityGuard<'_>) -> u64 {
        match self.config().policy.thread_ids {
            ThreadIds::PerCapability => {
                let cap_no = g.cap().no as u64;
                let o = g.owned();
                o.next_thread_id += 1;
                (cap_no << 48) | o.next_thread_id
            }
            ThreadIds::GlobalLock => {
                g.cap().stats.lock_acquisitions(1);
                let mut s = self.threads.sched.lock();
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
        if self.config().policy.thread_ids != ThreadIds::GlobalLock {
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
        let slot = &self.threads.finished[g.cap().no as usize];
        // SAFETY: `g` proves this thread holds capability `no`, the only one that touches slot
        // `no`; the `&mut` borrow of `g` prevents two live references through this guard.
        slot.0.with_mut(|p| unsafe { &mut *p })
    }

    /// Remove the finished threads recorded on `g`'s capability from the global list, under
    /// `sched_mutex`. Keeps the set's capacity, so steady-state calls allocate nothing.
    pub(crate) fn prune_finished(&self, g: &mut CapabilityGuard<'_>) {
        if self.finished_of(g).is_empty() {
            return;
        }
        g.cap().stats.lock_acquisitions(1);
        let done = self.finished_of(g);
        done.sort_unstable();
        self.threads
            .sched
            .lock()
            .threads
            .retain(|id| done.binary_search(id).is_err());
        done.clear();
    }

    /// A copy of the global thread list, oldest first (`ThreadIds::GlobalLock`; empty
    /// otherwise): ids of threads whose calls have not ended, plus finished ones not yet pruned.
    pub(crate) fn thread_list(&self) -> Vec<u64> {
        self.threads.sched.lock().threads.clone()
    }

    /// `tidyThreadList` for a stop-the-world collection holding `g` and `others` (every enabled
    /// capability): drop the threads finished on any of them, under `sched_mutex`. Returns the
    /// length of the list then (the live threads GHC's collector would walk).
    pub(crate) fn tidy_thread_list(
        &self,
        g: &mut CapabilityGuard<'_>,
        others: &mut [CapabilityGuard<'_>],
    ) -> usize {
        // Every held capability's finished set, gathered in ours (capacities are kept).
        let mut done = std::mem::take(self.finished_of(g));
        for og in others {
            done.append(self.finished_of(og));
        }
        done.sort_unstable();
        let walked = {
            let mut s = self.threads.sched.lock();
            s.threads.retain(|id| done.binary_search(id).is_err());
            s.threads.len()
        };
        done.clear();
        *self.finished_of(g) = done;
        walked
    }
}
