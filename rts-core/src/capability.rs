//! Capability: the right to run Haskell code, its ownership word, and hand-off between tasks.
//!
//! Port of `rts/Capability.c` (`waitForCapability`, `releaseCapability_`, `tryGrabCapability`).
//! Ownership: the capability's nursery, run queue and owner-private counters live in `owned`
//! and are reached only through a [`CapabilityGuard`], whose existence proves this thread holds
//! the capability (GHC: `cap->running_task == myTask()`). Holding is one bit of `state`,
//! taken with a CAS: the lock-free fast path. The GHC wait policy adds `cap->lock` and the
//! `returning_tasks` FIFO (see `ghc_wait.rs`).
//!
//! Note [bounded barging]
//! ---------------------------------------
//! With `WaitPolicy::SpinPark`, a release that finds parked waiters (`PARKED`) may leave the
//! capability free for a newcomer to take ("barging", like GHC), which keeps a thread that calls
//! in a loop running at full speed. This is bounded: after `BARGE_BOUND` consecutive such
//! releases the releaser hands the capability directly to the longest-parked waiter (it wakes
//! up already owning it), and a parked waiter re-checks after `PARK_RECHECK` even if nobody
//! wakes it, so a capability left free never strands a waiter. Bound: a parked waiter gets
//! a capability after at most `BARGE_BOUND` releases of it by others, or `PARK_RECHECK` after
//! it was left free. GHC has no bound (monopoly regime, GHC-CALLIN.md §9).

use std::marker::PhantomData;
use std::ptr;
use std::time::{Duration, Instant};

use crate::nursery::Nursery;
use crate::sched::RunQueue;
use crate::stats::CapStats;
use crate::sync::UnsafeCell;
use crate::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use crate::sync::park::{self, DEFAULT_PARK_TOKEN, ParkResult, UnparkToken};
use crate::task::Task;

/// `state` bit: some task holds the capability.
const LOCKED: usize = 1;
/// `state` bit: tasks are parked on this capability's queue.
const PARKED: usize = 2;
/// Releases that may leave the capability to a newcomer while tasks are parked on it.
pub const BARGE_BOUND: u32 = 64;
/// How long a parked waiter sleeps before re-checking without being woken.
pub const PARK_RECHECK: Duration = Duration::from_micros(200);
/// Spin rounds before parking (each spins 2^round pause instructions, as parking_lot does).
#[cfg(not(rts_loom))]
const SPIN_ROUNDS: u32 = 6;
/// One round of one yield under loom (STYLE.md R4): the spin is only a delay, and 63 yields per
/// wait would swamp the model without exploring anything new.
#[cfg(rts_loom)]
const SPIN_ROUNDS: u32 = 1;
/// Unpark token: the capability was handed to the woken task, which now holds it.
const TOKEN_HANDOFF: UnparkToken = UnparkToken(1);
/// Unpark token: woken to compete for the capability.
const TOKEN_RETRY: UnparkToken = UnparkToken(0);

/// Port of `Capability` (`rts/Capability.h`). C code sees it as the opaque `Capability *`.
#[derive(Debug)]
pub struct Capability {
    /// `LOCKED | PARKED`. Written by acquire (CAS), release, and the parking protocol.
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
    owned: UnsafeCell<CapOwned>,
    /// Event counters (empty without the `stats` feature).
    pub stats: CapStats,
    /// State of the GHC wait policy (`cap->lock`, `returning_tasks`).
    pub(crate) ghc: crate::ghc_wait::GhcCapState,
    /// Loom models choose the barge bound and whether parks time out (see `loom_model`).
    #[cfg(rts_loom)]
    model: loom_model::Knobs,
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
    /// Releases left before a direct hand-off (Note [bounded barging]).
    barge_credit: u32,
    /// Per-capability thread-id counter (`ThreadIds::PerCapability`).
    pub next_thread_id: u64,
    /// Threads created on this capability since its nursery was last collected.
    pub threads_since_gc: u64,
}

impl Capability {
    pub(crate) fn new(no: u32, node: u32, idx_in_node: u32) -> Capability {
        Capability {
            state: AtomicUsize::new(0),
            running_task: AtomicPtr::new(ptr::null_mut()),
            no,
            node,
            idx_in_node,
            owned: UnsafeCell::new(CapOwned {
                barge_credit: BARGE_BOUND,
                ..CapOwned::default()
            }),
            stats: CapStats::default(),
            ghc: crate::ghc_wait::GhcCapState::default(),
            #[cfg(rts_loom)]
            model: loom_model::Knobs::default(),
        }
    }

    /// Releases that may barge before a hand-off: `BARGE_BOUND`, or the model's choice.
    #[inline]
    fn barge_bound(&self) -> u32 {
        #[cfg(rts_loom)]
        return self.model.barge_bound;
        #[cfg(not(rts_loom))]
        BARGE_BOUND
    }

    /// When a parked waiter re-checks on its own (`None`: only when woken; loom models only).
    fn park_deadline(&self) -> Option<Instant> {
        #[cfg(rts_loom)]
        if !self.model.timed_parks {
            return None;
        }
        Some(Instant::now() + PARK_RECHECK)
    }

    /// The `WaitPolicy::SpinPark` acquisition of this one capability, waiting as long as it
    /// takes: grab, else spin and park until handed the capability or able to grab it.
    /// Returns whether it had to wait.
    pub(crate) fn acquire_spin_park(&self) -> bool {
        if self.try_grab() {
            return false;
        }
        while !self.wait_lockfree() {
            if self.try_grab() {
                break;
            }
        }
        true
    }

    fn key(&self) -> usize {
        self as *const Capability as usize
    }

    /// Whether some task holds the capability now (a racy hint).
    pub fn is_busy_hint(&self) -> bool {
        // ORDERING: Relaxed — a stale answer only steers selection; `try_grab` decides.
        self.state.load(Ordering::Relaxed) & LOCKED != 0
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

    /// Port of `tryGrabCapability` without `cap->lock`: take a free capability with one CAS.
    #[inline]
    pub(crate) fn try_grab(&self) -> bool {
        // ORDERING: Acquire pairs with the releasing CAS of the previous holder, so its writes to
        // `owned` (nursery, run queue) happen-before ours.
        self.state
            .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            || self.try_grab_barging()
    }

    /// Take the capability if it is free even though tasks are parked on it.
    fn try_grab_barging(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        while s & LOCKED == 0 {
            // ORDERING: Acquire, as in `try_grab`.
            match self.state.compare_exchange_weak(
                s,
                s | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }

    /// Record `task` as holder and hand out the guard.
    ///
    /// # Safety
    /// The calling thread must have just acquired the capability (a successful `try_grab`,
    /// a hand-off token, or the GHC policy's grant) on behalf of `task`, its own Task.
    #[inline]
    pub(crate) unsafe fn enter(&self, task: *const Task) -> CapabilityGuard<'_> {
        self.running_task
            .store(task as *mut Task, Ordering::Relaxed);
        CapabilityGuard {
            cap: self,
            _not_send: PhantomData,
        }
    }

    /// Release after `try_grab`-style acquisition. Returns true if a waiter was handed the
    /// capability directly.
    #[inline]
    fn release_lockfree(&self, owned: &mut CapOwned) -> bool {
        // ORDERING: SeqCst: Release for the next holder (pairs with `try_grab`), and ordered before
        // the free-bitmap check in `Rts::mark_free` (the Dekker pair in select.rs).
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
        {
            return false;
        }
        self.release_contended_cold(owned)
    }

    #[cold]
    fn release_contended_cold(&self, owned: &mut CapOwned) -> bool {
        if owned.barge_credit > 0 {
            owned.barge_credit -= 1;
            // ORDERING: SeqCst, as in `release_lockfree`; keeps PARKED so newcomers barge.
            self.state.fetch_and(!LOCKED, Ordering::SeqCst);
            return false;
        }
        owned.barge_credit = self.barge_bound();
        let mut handed = false;
        let state = &self.state;
        // SAFETY: `key` is this capability's address, used only as a parking key; the callback
        // runs with the queue locked and does not park or unpark.
        unsafe {
            park::unpark_one(self.key(), |r| {
                if r.unparked_threads == 0 {
                    // Waiters all timed out meanwhile: plain release.
                    state.store(0, Ordering::SeqCst);
                    return TOKEN_RETRY;
                }
                handed = true;
                // The woken task now holds the capability; keep LOCKED, PARKED if more sleep.
                let s = if r.have_more_threads {
                    LOCKED | PARKED
                } else {
                    LOCKED
                };
                state.store(s, Ordering::SeqCst);
                TOKEN_HANDOFF
            });
        }
        handed
    }

    /// Spin, then park until this capability is handed to us or might be free. Returns true if
    /// we now hold it (hand-off); false if the caller should retry its selection.
    #[cold]
    pub(crate) fn wait_lockfree(&self) -> bool {
        for round in 0..SPIN_ROUNDS {
            if self.try_grab() {
                return true;
            }
            for _ in 0..(1u32 << round) {
                crate::sync::spin_yield();
            }
        }
        self.park_once()
    }

    fn park_once(&self) -> bool {
        let state = &self.state;
        let validate = || loop {
            let s = state.load(Ordering::Relaxed);
            if s & LOCKED == 0 {
                return false; // free again: go back and grab it
            }
            if s & PARKED != 0 {
                return true;
            }
            if state
                .compare_exchange_weak(s, s | PARKED, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return true;
            }
        };
        let timed_out = |_key: usize, was_last: bool| {
            if was_last {
                state.fetch_and(!PARKED, Ordering::Relaxed);
            }
        };
        let deadline = self.park_deadline();
        // SAFETY: the key is this capability's address; validate/timed_out only touch `state`
        // and neither parks nor unparks.
        let r = unsafe {
            park::park(
                self.key(),
                validate,
                || {},
                timed_out,
                DEFAULT_PARK_TOKEN,
                deadline,
            )
        };
        match r {
            // ORDERING: the hand-off happened under the parking-lot bucket lock, which orders the
            // releaser's writes before our wake-up (the bucket lock's Release/Acquire).
            ParkResult::Unparked(TOKEN_HANDOFF) => true,
            _ => false,
        }
    }
}

/// Proof that the current OS thread holds `cap` (GHC: `cap->running_task == myTask()`).
#[derive(Debug)]
pub struct CapabilityGuard<'a> {
    cap: &'a Capability,
    _not_send: PhantomData<*const ()>,
}

impl<'a> CapabilityGuard<'a> {
    /// Rebuild the guard of a capability this thread holds, across C API calls.
    ///
    /// # Safety
    /// The calling thread must hold `cap` (checked by the caller against its InCall).
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

    /// Release with the lock-free protocol; true if handed directly to a waiter.
    pub(crate) fn release_lockfree(mut self) -> bool {
        let cap = self.cap;
        let handed = cap.release_lockfree(self.owned());
        if handed {
            cap.stats.handoffs(1);
        }
        handed
    }
}

impl Capability {
    /// Clear `LOCKED` unconditionally (GHC policy: under `cap->lock`, where nobody parks).
    pub(crate) fn force_release(&self) {
        // ORDERING: SeqCst: Release for the next holder (pairs with `try_grab`'s Acquire), and
        // ordered before the free-bitmap check as in `release_lockfree`.
        self.state.fetch_and(!LOCKED, Ordering::SeqCst);
    }
}

/// Entry points for the loom models (`tests/loom_capability.rs`): the real acquire, park,
/// hand-off and release code on one standalone capability, with the model's knobs.
#[cfg(rts_loom)]
#[doc(hidden)]
pub mod loom_model {
    use super::*;

    /// What a model varies (STYLE.md R4: small numbers, so every branch is reached).
    #[derive(Debug, Clone, Copy)]
    pub struct Knobs {
        /// Contended releases that barge before one hands off (production: `BARGE_BOUND`).
        pub barge_bound: u32,
        /// Whether a parked waiter re-checks on its own (production: always, `PARK_RECHECK`).
        pub timed_parks: bool,
    }

    impl Default for Knobs {
        fn default() -> Self {
            Knobs {
                barge_bound: 1,
                timed_parks: true,
            }
        }
    }

    pub fn new_capability(knobs: Knobs) -> Capability {
        let mut cap = Capability::new(0, 0, 0);
        cap.model = knobs;
        // SAFETY: `cap` is not shared yet; nobody else can reach `owned`.
        cap.owned
            .with_mut(|o| unsafe { (*o).barge_credit = knobs.barge_bound });
        cap
    }

    /// `WaitPolicy::SpinPark` acquisition, as `Rts::acquire_specific` does it.
    pub fn acquire_spin_park(cap: &Capability) -> CapabilityGuard<'_> {
        cap.acquire_spin_park();
        // SAFETY: acquired just above by this thread.
        unsafe { cap.enter(ptr::null()) }
    }

    /// `WaitPolicy::SpinPark` release; true if handed directly to a parked waiter.
    pub fn release_spin_park(g: CapabilityGuard<'_>) -> bool {
        g.release_lockfree()
    }

    /// `WaitPolicy::Ghc` acquisition (`cap->lock`, FIFO of returning tasks, per-task condvar).
    pub fn acquire_ghc(cap: &Capability) -> CapabilityGuard<'_> {
        cap.acquire_ghc();
        // SAFETY: acquired just above by this thread.
        unsafe { cap.enter(ptr::null()) }
    }

    /// `WaitPolicy::Ghc` release (`releaseCapability_`).
    pub fn release_ghc(g: CapabilityGuard<'_>) {
        g.cap().release_ghc();
    }

    /// `(LOCKED, PARKED)` now.
    pub fn state(cap: &Capability) -> (bool, bool) {
        let s = cap.state.load(Ordering::SeqCst);
        (s & LOCKED != 0, s & PARKED != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn grab_is_exclusive_and_release_frees() {
        let cap = Capability::new(0, 0, 0);
        assert!(cap.try_grab());
        assert!(!cap.try_grab());
        // SAFETY: we just grabbed it.
        let g = unsafe { cap.enter(ptr::null()) };
        assert!(!g.release_lockfree());
        assert!(cap.try_grab());
    }

    #[test]
    fn parked_waiter_always_gets_the_capability() {
        let cap = Arc::new(Capability::new(0, 0, 0));
        assert!(cap.try_grab());
        let c2 = Arc::clone(&cap);
        let waiter = std::thread::spawn(move || {
            while !c2.wait_lockfree() {
                if c2.try_grab() {
                    break;
                }
            }
            // SAFETY: we hold it now.
            let g = unsafe { c2.enter(ptr::null()) };
            g.release_lockfree();
        });
        std::thread::sleep(Duration::from_millis(5));
        // SAFETY: the main thread grabbed it above.
        let g = unsafe { cap.enter(ptr::null()) };
        g.release_lockfree();
        waiter.join().unwrap();
        assert!(!cap.is_busy_hint());
    }
}
