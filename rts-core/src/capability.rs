//! Capability: the right to run Haskell code, its ownership word, and hand-off between tasks.
//!
//! Port of `rts/Capability.c` (`waitForCapability`, `releaseCapability_`, `tryGrabCapability`).
//! Ownership: the capability's nursery, run queue and owner-private counters live in `owned`
//! and are reached only through a [`CapabilityGuard`], whose existence proves this thread holds
//! the capability (GHC: `cap->running_task == myTask()`). Holding is one bit of `state`,
//! taken with a CAS: the lock-free fast path. The GHC wait policy adds `cap->lock` and the
//! `returning_tasks` FIFO (see `ghc_wait.rs`).
//!
//! Note [heir hand-off]
//! ---------------------------------------
//! `WaitPolicy::SpinPark`. A call-in holds its capability for tens of nanoseconds, so a waiter
//! should not sleep while the holder is running, and a capability should not be handed to a
//! task that is asleep or descheduled while someone running could use it (the capability would
//! sit idle for a scheduler wake-up, tens of microseconds). Three stages, each bounded:
//!
//! 1. Free competition (`spin_wait`): the waiter polls `state` read-only with a pause backoff
//!    for `SPIN`, and takes the capability with a CAS whenever it is seen free. Here it may
//!    lose to others (barging), for at most `SPIN`.
//! 2. Commitment (`wait_queued`): if nobody is the heir and nobody is queued, the waiter makes
//!    itself the capability's **heir** (`HEIR_SPINNING`). Otherwise it parks in the
//!    capability's FIFO queue (`PARKED`; parking_lot_core, untimed).
//! 3. The heir (`heir_wait`) keeps polling (pauses, then `yield_now` after `HEIR_PAUSE_ONLY`)
//!    and takes the capability whenever it sees it free. Once it has been heir for `HEIR_DUE`
//!    it marks itself due (`HEIR_DUE_NOW`), and **the first release that finds a due heir hands
//!    the capability to it** and never leaves it free: a running heir gets `HEIR_GRANTED`
//!    (noticed within one poll); an heir that polled for `HEIR_SPIN` sleeps (`HEIR_ASLEEP`)
//!    and is woken already owning it. Releases before the heir is due leave the capability
//!    free (the holder keeps running calls; a hand-off on every release would ping-pong the
//!    capability and hand it to heirs that yielded their CPU). A release that finds parked
//!    waiters and no heir wakes the head of the queue as the next heir (`HEIR_WAKING`) and
//!    leaves the capability free meanwhile; once the heir runs it is `HEIR_SPINNING`.
//!
//! Bound (enforced by the release code, tested by `ready_heir_is_never_passed_over` and the
//! loom models): a waiter competes freely for at most `SPIN`, then is the heir or queued; the
//! heir is passed over by releases for at most `HEIR_DUE` of its own running time, then by
//! **zero** releases; queued waiters become heir in FIFO order, and nobody becomes heir ahead
//! of a queued waiter (stage 2 requires an empty queue). So a waiter with `k` queued ahead of
//! it gets the capability within `SPIN` + `k + 1` heir turns, each at most one scheduler
//! wake-up + `HEIR_DUE` + two holds. GHC has no bound (a signalled waiter can be overtaken
//! indefinitely: the monopoly regime of GHC-CALLIN.md §9).
//!
//! No lost wake-up: a task parks only while `LOCKED` is set (checked under the queue lock), and
//! the release of a capability with `PARKED` set and no heir always appoints one under the same
//! lock; the heir sleeps only while `LOCKED` and `HEIR_DUE_NOW` (checked under its own queue
//! lock), and a release that sees `HEIR_ASLEEP` always wakes it. Free ∧ `PARKED` implies an heir
//! is waking or running, and it takes the capability when it sees it free.

use std::marker::PhantomData;
use std::ptr;
#[cfg(not(rts_loom))]
use std::time::{Duration, Instant};

use crate::nursery::Nursery;
use crate::sched::RunQueue;
use crate::stats::CapStats;
use crate::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use crate::sync::park::{self, DEFAULT_PARK_TOKEN, ParkResult, UnparkToken};
use crate::sync::{UnsafeCell, process_atomic};
use crate::task::Task;

/// `state` bit: some task holds the capability.
const LOCKED: usize = 1;
/// `state` bit: tasks are parked in this capability's FIFO queue.
const PARKED: usize = 2;
/// `state` field: the heir (Note [heir hand-off]).
const HEIR_MASK: usize = 0b111 << 2;
/// No heir.
const HEIR_NONE: usize = 0;
/// A queued waiter was woken to be the heir and has not run yet: releases leave the capability
/// free meanwhile.
const HEIR_WAKING: usize = 1 << 2;
/// The heir is running and polling: the next release grants it the capability.
const HEIR_SPINNING: usize = 2 << 2;
/// The heir sleeps (always with `LOCKED`): the next release wakes it already owning it.
const HEIR_ASLEEP: usize = 3 << 2;
/// A release granted the capability to the running heir (always with `LOCKED`); the heir
/// clears the field when it notices.
const HEIR_GRANTED: usize = 4 << 2;
/// The heir is running and has waited `HEIR_DUE`: the next release grants it the capability
/// (before that, releases leave the capability free and the heir competes for it).
const HEIR_DUE_NOW: usize = 5 << 2;

/// Free competition before a waiter commits (stage 1 of Note [heir hand-off]).
#[cfg(not(rts_loom))]
pub const SPIN: Duration = Duration::from_micros(2);
/// How long the heir competes for free releases before the next release must hand it the
/// capability (the bound of Note [heir hand-off]).
#[cfg(not(rts_loom))]
pub const HEIR_DUE: Duration = Duration::from_micros(20);
/// How long the heir polls (pause backoff, then `yield_now`) before it sleeps.
#[cfg(not(rts_loom))]
pub const HEIR_SPIN: Duration = Duration::from_micros(50);
/// The heir polls with pauses only for this long, then yields the CPU between polls (the
/// holder may share its core).
#[cfg(not(rts_loom))]
const HEIR_PAUSE_ONLY: Duration = Duration::from_micros(5);
/// Most pause instructions between two polls.
#[cfg(not(rts_loom))]
const MAX_BACKOFF: u32 = 32;
/// Unpark token: the capability was handed to the woken heir, which now holds it.
const TOKEN_HANDOFF: UnparkToken = UnparkToken(1);
/// Unpark token: woken from the queue to be the heir.
const TOKEN_HEIR: UnparkToken = UnparkToken(2);
/// Unpark token: the queue had emptied meanwhile (nobody receives it).
const TOKEN_NONE: UnparkToken = UnparkToken(0);
/// Unpark token: the sleeping heir is woken (not handed anything) because another capability
/// became free; it is running and due again (Note [moving to a free capability]).
const TOKEN_RECHECK: UnparkToken = UnparkToken(3);

/// Heirs about to sleep or asleep, all capabilities: a release that leaves its capability free
/// nudges them only when this is non-zero (Note [moving to a free capability]).
static SLEEPING_HEIRS: process_atomic::AtomicUsize = process_atomic::AtomicUsize::new(0);

// Note [moving to a free capability]
//
// A waiter commits to one busy capability (its heir, or its queue). GHC's waiter then waits for
// that capability even if another one frees up meanwhile; the lock-free policy does not: a
// running heir checks for a free capability elsewhere between polls (`elsewhere`, given by the
// selector) and, if it sees one, resigns (its heir field goes back to none while the capability
// is held, so the next release appoints the next queued waiter) and selects again. A sleeping
// heir cannot poll, so a release that leaves its capability free wakes every sleeping heir
// (TOKEN_RECHECK, heir field back to due) when SLEEPING_HEIRS is non-zero. No wake-up is lost:
// the heir counts itself in SLEEPING_HEIRS and then checks `elsewhere` (SeqCst both); the
// releaser frees its capability and then reads the count (SeqCst both), so one sees the other;
// and the heir checks `elsewhere` again in `validate`, under the same queue lock the releaser's
// nudge takes, so a nudge that finds nobody asleep yet is followed by a validate that sees the
// free capability. Queued (non-heir) waiters stay queued: the heir moves first, and the next
// release appoints the next one heir, which moves in turn if a capability is still free.

/// A waiting budget: wall-clock normally; under loom (no clock) one poll, since the spin is only
/// a delay and more polls would swamp the model without exploring anything new (STYLE.md R4).
struct Budget {
    #[cfg(not(rts_loom))]
    start: Instant,
    #[cfg(rts_loom)]
    polls: u32,
}

impl Budget {
    fn start() -> Budget {
        Budget {
            #[cfg(not(rts_loom))]
            start: Instant::now(),
            #[cfg(rts_loom)]
            polls: 0,
        }
    }

    /// Whether `limit` has passed since `start` (loom: after one poll).
    #[cfg(not(rts_loom))]
    fn spent(&mut self, limit: Duration) -> bool {
        self.start.elapsed() >= limit
    }

    #[cfg(rts_loom)]
    fn spent(&mut self, _limit: ()) -> bool {
        self.polls += 1;
        self.polls > 1
    }
}

/// The budgets under loom are poll counts (see [`Budget`]).
#[cfg(rts_loom)]
const SPIN: () = ();
#[cfg(rts_loom)]
const HEIR_SPIN: () = ();
#[cfg(rts_loom)]
const HEIR_DUE: () = ();
#[cfg(rts_loom)]
const HEIR_PAUSE_ONLY: () = ();

/// Pause between two polls: exponential backoff of pause instructions (a loom yield).
struct Backoff(u32);

impl Backoff {
    fn new() -> Backoff {
        Backoff(1)
    }

    fn pause(&mut self) {
        for _ in 0..self.0 {
            crate::sync::spin_yield();
        }
        #[cfg(not(rts_loom))]
        {
            self.0 = (self.0 * 2).min(MAX_BACKOFF);
        }
    }
}

/// Port of `Capability` (`rts/Capability.h`). C code sees it as the opaque `Capability *`.
#[derive(Debug)]
pub struct Capability {
    /// `LOCKED | PARKED | heir` (Note [heir hand-off]). Written by acquire (CAS), release, and
    /// the waiting protocol; polled by waiters, so the holder-only fields are on another line.
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
    pub(crate) ghc: crate::ghc_wait::GhcCapState,
    /// Loom models choose whether queued parks time out (see `loom_model`).
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
            ghc: crate::ghc_wait::GhcCapState::default(),
            #[cfg(rts_loom)]
            model: loom_model::Knobs::default(),
        }
    }

    /// When a queued waiter re-checks on its own: never in production (Note [heir hand-off]:
    /// a release always appoints an heir); loom models may make the park time out to explore
    /// the queue emptying under a release.
    fn queue_deadline(&self) -> Option<std::time::Instant> {
        #[cfg(rts_loom)]
        if self.model.timed_parks {
            return Some(std::time::Instant::now());
        }
        None
    }

    /// The `WaitPolicy::SpinPark` acquisition of this one capability, waiting as long as it
    /// takes. Returns whether it had to wait.
    pub(crate) fn acquire_spin_park(&self) -> bool {
        if self.try_grab() {
            return false;
        }
        while !(self.spin_wait() || self.wait_queued(&|| false)) {}
        true
    }

    /// Parking key of the FIFO queue.
    fn queue_key(&self) -> usize {
        self as *const Capability as usize
    }

    /// Parking key of the heir's sleep (the capability is aligned, so this is no other key).
    fn heir_key(&self) -> usize {
        self.queue_key() | 1
    }

    /// Whether the capability is free now, read with SeqCst (the heir's side of Note [moving to
    /// a free capability]).
    pub(crate) fn is_free_now(&self) -> bool {
        self.state.load(Ordering::SeqCst) & LOCKED == 0
    }

    /// Whether any heir is asleep or about to sleep, on any capability (SeqCst: the releaser's
    /// side of Note [moving to a free capability]).
    pub(crate) fn heirs_may_sleep() -> bool {
        SLEEPING_HEIRS.load(process_atomic::Ordering::SeqCst) != 0
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

    /// Take the capability if it is free even though waiters are registered on it (an heir
    /// that is still waking, or running and about to take it itself).
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
    /// a hand-off, or the GHC policy's grant) on behalf of `task`, its own Task.
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
    fn release_lockfree(&self) -> bool {
        // ORDERING: SeqCst: Release for the next holder (pairs with `try_grab`), and ordered before
        // the free-bitmap check in `Rts::mark_free` (the Dekker pair of Note [free bitmaps]).
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
        {
            return false;
        }
        self.release_contended_cold()
    }

    /// A release that found waiters registered (Note [heir hand-off]): hand to the heir, appoint
    /// one from the queue, or leave the capability free while the heir is waking.
    #[cold]
    fn release_contended_cold(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            debug_assert!(s & LOCKED != 0, "release of a capability nobody holds");
            let next = match s & HEIR_MASK {
                HEIR_DUE_NOW => (s & !HEIR_MASK) | HEIR_GRANTED,
                HEIR_ASLEEP => match self.hand_to_sleeping_heir() {
                    Some(handed) => return handed,
                    // A nudge woke it first (its field is due again): look again.
                    None => {
                        s = self.state.load(Ordering::Relaxed);
                        continue;
                    }
                },
                HEIR_NONE if s & PARKED != 0 => match self.appoint_heir() {
                    Some(()) => return false,
                    None => {
                        s = self.state.load(Ordering::Relaxed);
                        continue;
                    }
                },
                HEIR_NONE | HEIR_WAKING | HEIR_SPINNING => s & !LOCKED,
                _ => unreachable!("granted capability released before its heir took it"),
            };
            // ORDERING: SeqCst, as in `release_lockfree` (Release for the next holder, be it the
            // heir reading `HEIR_GRANTED` with Acquire or a barger).
            match self
                .state
                .compare_exchange(s, next, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return next & LOCKED != 0,
                Err(now) => s = now,
            }
        }
    }

    /// Wake the sleeping heir already owning the capability: `Some(true)` (handed off), or
    /// `None` if a nudge (Note [moving to a free capability]) woke it first, under this same
    /// queue lock, and set its field back to due: the caller re-reads the state.
    fn hand_to_sleeping_heir(&self) -> Option<bool> {
        let state = &self.state;
        let mut woke = false;
        // SAFETY: the key is derived from this capability's address and used only as a parking
        // key; the callback runs under the queue lock and neither parks nor unparks.
        unsafe {
            park::unpark_one(self.heir_key(), |r| {
                // The heir set HEIR_ASLEEP under this same queue lock and sleeps untimed, so it
                // is in the queue unless a nudge took it out (and rewrote the field) first.
                if r.unparked_threads == 0 {
                    debug_assert_ne!(
                        state.load(Ordering::Relaxed) & HEIR_MASK,
                        HEIR_ASLEEP,
                        "HEIR_ASLEEP with no heir asleep"
                    );
                    return TOKEN_NONE;
                }
                woke = true;
                // ORDERING: SeqCst; the parking lot's queue lock also orders this before the
                // heir's wake-up. LOCKED stays: the heir now holds the capability.
                state.fetch_and(!HEIR_MASK, Ordering::SeqCst);
                TOKEN_HANDOFF
            });
        }
        woke.then_some(true)
    }

    /// Wake the head of the queue as heir and free the capability; `None` if the queue had
    /// emptied (timed-out parks, loom models only), with `PARKED` cleared.
    fn appoint_heir(&self) -> Option<()> {
        let state = &self.state;
        let mut appointed = None;
        // SAFETY: as in `hand_to_sleeping_heir`.
        unsafe {
            park::unpark_one(self.queue_key(), |r| {
                if r.unparked_threads == 0 {
                    // ORDERING: SeqCst, as every `state` write of the release path.
                    state.fetch_and(!PARKED, Ordering::SeqCst);
                    return TOKEN_NONE;
                }
                appointed = Some(());
                let parked = if r.have_more_threads { PARKED } else { 0 };
                // Nobody else changes `state` now: we hold it (LOCKED), no heir can be claimed
                // while PARKED, and PARKED is only set under this queue lock.
                // ORDERING: SeqCst: Release for a barger that takes the capability next.
                state.store(HEIR_WAKING | parked, Ordering::SeqCst);
                TOKEN_HEIR
            });
        }
        appointed
    }

    /// Stage 1 of Note [heir hand-off]: poll for `SPIN` and take the capability whenever it is
    /// seen free. True if we now hold it.
    #[cold]
    pub(crate) fn spin_wait(&self) -> bool {
        let mut budget = Budget::start();
        let mut backoff = Backoff::new();
        loop {
            if self.state.load(Ordering::Relaxed) & LOCKED == 0 && self.try_grab() {
                return true;
            }
            if budget.spent(SPIN) {
                return false;
            }
            backoff.pause();
        }
    }

    /// Stages 2 and 3 of Note [heir hand-off]: become the heir or queue, and wait. True if we now
    /// hold the capability; false if it was free when we were about to queue (the caller
    /// retries, possibly on another capability).
    #[cold]
    /// `elsewhere` says whether another capability the caller could take is free now (read with
    /// SeqCst; Note [moving to a free capability]); false when only this one will do.
    pub(crate) fn wait_queued(&self, elsewhere: &dyn Fn() -> bool) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        while s & LOCKED != 0 && s & (PARKED | HEIR_MASK) == 0 {
            // ORDERING: Relaxed: claiming the heir role publishes nothing; the capability is
            // received later with Acquire (`take_grant` / `heir_grab_free`).
            match self.state.compare_exchange_weak(
                s,
                s | HEIR_SPINNING,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return self.heir_wait(elsewhere),
                Err(now) => s = now,
            }
        }
        if s & LOCKED == 0 {
            return false;
        }
        match self.park_in_queue() {
            ParkResult::Unparked(TOKEN_HEIR) => {
                self.heir_running();
                self.heir_wait(elsewhere)
            }
            _ => false,
        }
    }

    /// Park in the FIFO queue while the capability is held and the queue or an heir exists.
    fn park_in_queue(&self) -> ParkResult {
        let state = &self.state;
        let validate = || {
            let mut s = state.load(Ordering::Relaxed);
            loop {
                if s & LOCKED == 0 || s & (PARKED | HEIR_MASK) == 0 {
                    return false; // free, or we could be the heir: go back
                }
                if s & PARKED != 0 {
                    return true;
                }
                match state.compare_exchange_weak(
                    s,
                    s | PARKED,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(now) => s = now,
                }
            }
        };
        let timed_out = |_key: usize, was_last: bool| {
            if was_last {
                state.fetch_and(!PARKED, Ordering::Relaxed);
            }
        };
        // SAFETY: the key is this capability's address; validate/timed_out only touch `state`
        // and neither parks nor unparks.
        unsafe {
            park::park(
                self.queue_key(),
                validate,
                || {},
                timed_out,
                DEFAULT_PARK_TOKEN,
                self.queue_deadline(),
            )
        }
    }

    /// A queued waiter woken as heir now runs: `HEIR_WAKING` becomes `HEIR_SPINNING`.
    fn heir_running(&self) {
        // Only the heir changes the field while it is HEIR_WAKING (releases then just clear
        // LOCKED), so xor turns WAKING (01) into SPINNING (10).
        // ORDERING: Relaxed: the capability is received later with Acquire.
        let before = self
            .state
            .fetch_xor(HEIR_WAKING ^ HEIR_SPINNING, Ordering::Relaxed);
        debug_assert_eq!(before & HEIR_MASK, HEIR_WAKING, "woken heir not waking");
    }

    /// Stage 3: we are the heir (`HEIR_SPINNING`); wait until granted, or take the capability
    /// when it is free. True when it ends holding it; false when it resigned because another
    /// capability is free (`elsewhere`, Note [moving to a free capability]).
    fn heir_wait(&self, elsewhere: &dyn Fn() -> bool) -> bool {
        let mut budget = Budget::start();
        let mut due = Budget::start();
        let mut is_due = false;
        let mut backoff = Backoff::new();
        loop {
            if self.heir_try_take() {
                return true;
            }
            if !is_due && due.spent(HEIR_DUE) {
                is_due = true;
                self.heir_now_due();
            }
            // Once polling gives the CPU away (or after a sleep), look at the other capabilities.
            // (`elsewhere` first: under loom it is always false and `spent` counts polls.)
            if elsewhere() && budget.spent(HEIR_PAUSE_ONLY) && self.heir_resign() {
                return false;
            }
            if is_due && budget.spent(HEIR_SPIN) {
                if self.heir_sleep(elsewhere) {
                    return true;
                }
                if elsewhere() && self.heir_resign() {
                    return false;
                }
                budget = Budget::start();
                continue;
            }
            self.heir_pause(&mut budget, &mut backoff);
        }
    }

    /// The running heir gives up the role while the capability is held (Note [moving to a free
    /// capability]). False if it could not: the capability was granted to it or is free (the
    /// next `heir_try_take` takes it). Resigning never leaves a free capability with queued
    /// waiters and no heir: it needs `LOCKED`, and the holder's release appoints the next heir.
    fn heir_resign(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            let heir = s & HEIR_MASK;
            if s & LOCKED == 0 || (heir != HEIR_SPINNING && heir != HEIR_DUE_NOW) {
                return false;
            }
            // ORDERING: Relaxed: resigning receives and publishes nothing; the releaser's CAS
            // sees either the heir (and grants, so this CAS fails) or no heir.
            match self.state.compare_exchange_weak(
                s,
                s & !HEIR_MASK,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }

    /// Wake this capability's sleeping heir, if any, without handing it anything: another
    /// capability became free (Note [moving to a free capability]). Its heir field goes back to
    /// due, so a release of this capability still grants it the capability if it stays.
    pub(crate) fn nudge_sleeping_heir(&self) {
        let state = &self.state;
        // SAFETY: the key is derived from this capability's address and used only as a parking
        // key; the callback runs under the queue lock and neither parks nor unparks.
        unsafe {
            park::unpark_one(self.heir_key(), |r| {
                if r.unparked_threads == 0 {
                    return TOKEN_NONE;
                }
                // The heir set HEIR_ASLEEP under this queue lock and only a release under it
                // clears that, so the field is HEIR_ASLEEP; other bits (PARKED) may change.
                let mut s = state.load(Ordering::Relaxed);
                loop {
                    debug_assert_eq!(s & HEIR_MASK, HEIR_ASLEEP, "nudged heir not asleep");
                    // ORDERING: Relaxed: nothing is handed over; the queue lock orders this
                    // before the heir's wake-up.
                    match state.compare_exchange_weak(
                        s,
                        (s & !HEIR_MASK) | HEIR_DUE_NOW,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => return TOKEN_RECHECK,
                        Err(now) => s = now,
                    }
                }
            });
        }
    }

    /// The heir has waited `HEIR_DUE`: `HEIR_SPINNING` becomes `HEIR_DUE_NOW`.
    fn heir_now_due(&self) {
        // Only the heir changes the field while HEIR_SPINNING (releases then just clear
        // LOCKED), so xor turns SPINNING (010) into DUE_NOW (101).
        // ORDERING: Relaxed: the capability is received later with Acquire.
        let before = self
            .state
            .fetch_xor(HEIR_SPINNING ^ HEIR_DUE_NOW, Ordering::Relaxed);
        debug_assert_eq!(before & HEIR_MASK, HEIR_SPINNING, "heir not spinning");
    }

    /// Between two polls of the heir: pauses at first, then give the CPU away.
    #[cfg(not(rts_loom))]
    fn heir_pause(&self, budget: &mut Budget, backoff: &mut Backoff) {
        if budget.spent(HEIR_PAUSE_ONLY) {
            std::thread::yield_now();
        } else {
            backoff.pause();
        }
    }

    #[cfg(rts_loom)]
    fn heir_pause(&self, _budget: &mut Budget, backoff: &mut Backoff) {
        backoff.pause();
    }

    /// The heir takes a granted capability, or a free one. True if it now holds it.
    fn heir_try_take(&self) -> bool {
        let s = self.state.load(Ordering::Relaxed);
        match s & HEIR_MASK {
            HEIR_GRANTED => {
                // Only the heir changes the field while HEIR_GRANTED (LOCKED is set, so no
                // release or claim can happen; queued parks only add PARKED).
                // ORDERING: Acquire pairs with the releasing CAS that wrote HEIR_GRANTED (later
                // PARKED additions are RMWs, so they continue its release sequence).
                self.state.fetch_and(!HEIR_MASK, Ordering::Acquire);
                true
            }
            HEIR_SPINNING | HEIR_DUE_NOW if s & LOCKED == 0 => {
                // ORDERING: Acquire, as in `try_grab`.
                self.state
                    .compare_exchange(
                        s,
                        (s & !HEIR_MASK) | LOCKED,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    )
                    .is_ok()
            }
            HEIR_SPINNING | HEIR_DUE_NOW => false,
            other => unreachable!("heir sees heir field {other:#x}"),
        }
    }

    /// The heir (due) sleeps until a release wakes it owning the capability. True if it holds the
    /// capability; false if it was granted or freed just before, or another capability is free
    /// (`elsewhere`), or it was nudged (poll again).
    fn heir_sleep(&self, elsewhere: &dyn Fn() -> bool) -> bool {
        // ORDERING: SeqCst: the Dekker pair with a releaser's free-then-read of the count
        // (Note [moving to a free capability]).
        SLEEPING_HEIRS.fetch_add(1, process_atomic::Ordering::SeqCst);
        let held = self.heir_sleep_counted(elsewhere);
        SLEEPING_HEIRS.fetch_sub(1, process_atomic::Ordering::SeqCst);
        held
    }

    fn heir_sleep_counted(&self, elsewhere: &dyn Fn() -> bool) -> bool {
        if elsewhere() {
            return false;
        }
        let state = &self.state;
        let validate = || {
            if elsewhere() {
                return false; // another capability is free: go and take it
            }
            let mut s = state.load(Ordering::Relaxed);
            loop {
                if s & LOCKED == 0 || s & HEIR_MASK != HEIR_DUE_NOW {
                    return false; // free or granted: take it
                }
                match state.compare_exchange_weak(
                    s,
                    (s & !HEIR_MASK) | HEIR_ASLEEP,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(now) => s = now,
                }
            }
        };
        // SAFETY: the key is derived from this capability's address; validate only touches
        // `state` and neither parks nor unparks.
        let r = unsafe {
            park::park(
                self.heir_key(),
                validate,
                || {},
                |_, _| unreachable!("the heir's sleep is untimed"),
                DEFAULT_PARK_TOKEN,
                None,
            )
        };
        match r {
            ParkResult::Unparked(TOKEN_HANDOFF) => {
                // ORDERING: Acquire pairs with the releaser's SeqCst RMW that cleared the heir
                // field (the queue lock orders it too).
                self.state.load(Ordering::Acquire);
                true
            }
            ParkResult::Invalid | ParkResult::Unparked(TOKEN_RECHECK) => false,
            other => unreachable!("heir sleep ended with {other:?}"),
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
    pub(crate) fn release_lockfree(self) -> bool {
        let cap = self.cap;
        let handed = cap.release_lockfree();
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
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Knobs {
        /// Whether a queued waiter's park may time out (production: never). Timed parks
        /// explore a release finding the queue emptied under it; untimed parks turn a lost
        /// wake-up into a loom deadlock.
        pub timed_parks: bool,
    }

    pub fn new_capability(knobs: Knobs) -> Capability {
        let mut cap = Capability::new(0, 0, 0);
        cap.model = knobs;
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

    /// `(LOCKED, PARKED, an heir is registered)` now.
    pub fn state(cap: &Capability) -> (bool, bool, bool) {
        let s = cap.state.load(Ordering::SeqCst);
        (s & LOCKED != 0, s & PARKED != 0, s & HEIR_MASK != HEIR_NONE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::atomic::AtomicUsize;
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

    /// Spawn a waiter that acquires with the spin-park protocol, counts its acquisition,
    /// waits until `got` reaches `release_at`, and releases; returns its handle.
    fn spawn_waiter(
        cap: &Arc<Capability>,
        got: &Arc<AtomicUsize>,
        release_at: usize,
    ) -> std::thread::JoinHandle<()> {
        let (cap, got) = (Arc::clone(cap), Arc::clone(got));
        std::thread::spawn(move || {
            cap.acquire_spin_park();
            got.fetch_add(1, Ordering::SeqCst);
            wait_until(|| got.load(Ordering::SeqCst) >= release_at);
            // SAFETY: we hold it now.
            let g = unsafe { cap.enter(ptr::null()) };
            g.release_lockfree();
        })
    }

    fn heir(cap: &Capability) -> usize {
        cap.state.load(Ordering::SeqCst) & HEIR_MASK
    }

    fn wait_until(mut cond: impl FnMut() -> bool) {
        while !cond() {
            std::thread::yield_now();
        }
    }

    #[test]
    fn parked_waiter_always_gets_the_capability() {
        let cap = Arc::new(Capability::new(0, 0, 0));
        assert!(cap.try_grab());
        let got = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..3).map(|_| spawn_waiter(&cap, &got, 0)).collect();
        // Two of the three end up queued behind the heir, so the releases below appoint heirs.
        wait_until(|| cap.state.load(Ordering::SeqCst) & PARKED != 0);
        // SAFETY: the main thread grabbed it above.
        let g = unsafe { cap.enter(ptr::null()) };
        g.release_lockfree();
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(got.load(Ordering::SeqCst), 3);
        assert_eq!(
            cap.state.load(Ordering::SeqCst),
            0,
            "free, no heir, nobody queued"
        );
    }

    /// The bound of Note [heir hand-off]: a release that finds an heir that is due (running or
    /// asleep) hands it the capability; the releaser cannot take it back.
    #[test]
    fn ready_heir_is_never_passed_over() {
        for heir_state in [HEIR_DUE_NOW, HEIR_ASLEEP] {
            let cap = Arc::new(Capability::new(0, 0, 0));
            assert!(cap.try_grab());
            let got = Arc::new(AtomicUsize::new(0));
            // The waiter holds on until the main thread bumps `got` to 2.
            let w = spawn_waiter(&cap, &got, 2);
            wait_until(|| heir(&cap) == heir_state || heir(&cap) == HEIR_ASLEEP);
            // SAFETY: the main thread grabbed it above.
            let g = unsafe { cap.enter(ptr::null()) };
            assert!(
                g.release_lockfree(),
                "release hands the capability to the heir"
            );
            assert!(!cap.try_grab(), "the releaser barged past the heir");
            wait_until(|| got.load(Ordering::SeqCst) == 1);
            got.fetch_add(1, Ordering::SeqCst);
            w.join().unwrap();
            assert!(cap.try_grab(), "the heir released it");
        }
    }
}
