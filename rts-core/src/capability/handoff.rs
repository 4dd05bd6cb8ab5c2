//! The lock-free wait and hand-off protocol (`WaitPolicy::SpinPark`): one CAS to take a free
//! capability or to release an uncontended one; a bounded spin, then an heir, then a FIFO queue
//! for a busy one.
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

#[cfg(not(rts_loom))]
use std::time::{Duration, Instant};

use super::{Capability, CapabilityGuard};
use crate::sync::atomic::Ordering;
use crate::sync::park::{self, DEFAULT_PARK_TOKEN, ParkResult, UnparkToken};
use crate::sync::process_atomic;

/// `state` bit: some task holds the capability.
pub(super) const LOCKED: usize = 1;
/// `state` bit: tasks are parked in this capability's FIFO queue.
pub(super) const PARKED: usize = 2;
/// `state` field: the heir (Note [heir hand-off]).
pub(super) const HEIR_MASK: usize = 0b111 << 2;
/// No heir.
pub(super) const HEIR_NONE: usize = 0;
/// A queued waiter was woken to be the heir and has not run yet: releases leave the capability
/// free meanwhile.
const HEIR_WAKING: usize = 1 << 2;
/// The heir is running and polling: the next release grants it the capability.
const HEIR_SPINNING: usize = 2 << 2;
/// The heir sleeps (always with `LOCKED`): the next release wakes it already owning it.
pub(super) const HEIR_ASLEEP: usize = 3 << 2;
/// A release granted the capability to the running heir (always with `LOCKED`); the heir
/// clears the field when it notices.
const HEIR_GRANTED: usize = 4 << 2;
/// The heir is running and has waited `HEIR_DUE`: the next release grants it the capability
/// (before that, releases leave the capability free and the heir competes for it).
pub(super) const HEIR_DUE_NOW: usize = 5 << 2;

/// Free competition before a waiter commits (stage 1 of Note [heir hand-off]).
#[cfg(not(rts_loom))]
pub const SPIN: Duration = Duration::from_micros(2);
/// How long the heir competes for free releases before the next release must hand it the
/// capability (the bound of Note [heir hand-off]).
#[cfg(not(rts_loom))]
const HEIR_DUE: Duration = Duration::from_micros(20);
/// How long the heir polls (pause backoff, then `yield_now`) before it sleeps.
#[cfg(not(rts_loom))]
const HEIR_SPIN: Duration = Duration::from_micros(50);
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

impl Capability {
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
    /// takes. Also returns whether it had to wait.
    pub(crate) fn acquire_spin_park(&self) -> (CapabilityGuard<'_>, bool) {
        if let Some(g) = self.try_grab() {
            return (g, false);
        }
        loop {
            if let Some(g) = self.spin_wait().or_else(|| self.wait_queued(&|| false)) {
                return (g, true);
            }
        }
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

    /// Port of `tryGrabCapability` without `cap->lock`: take a free capability with one CAS.
    #[inline]
    pub(crate) fn try_grab(&self) -> Option<CapabilityGuard<'_>> {
        // SAFETY: `grab` succeeded, so this thread set LOCKED.
        self.grab().then(|| unsafe { self.held() })
    }

    /// The CAS of `try_grab`: true if this thread set LOCKED.
    #[inline]
    pub(super) fn grab(&self) -> bool {
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

    /// The release CAS of `CapabilityGuard::release_lockfree`. True if a waiter was handed
    /// the capability directly.
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
    pub(crate) fn spin_wait(&self) -> Option<CapabilityGuard<'_>> {
        let mut budget = Budget::start();
        let mut backoff = Backoff::new();
        loop {
            if self.state.load(Ordering::Relaxed) & LOCKED == 0
                && let Some(g) = self.try_grab()
            {
                return Some(g);
            }
            if budget.spent(SPIN) {
                return None;
            }
            backoff.pause();
        }
    }

    /// Stages 2 and 3 of Note [heir hand-off]: become the heir or queue, and wait. The guard if
    /// we now hold the capability; `None` if it was free when we were about to queue, or if we
    /// resigned as heir because another capability is free (the caller selects again).
    /// `elsewhere` says whether another capability the caller could take is free now (read with
    /// SeqCst; Note [moving to a free capability]); false when only this one will do.
    #[cold]
    pub(crate) fn wait_queued(&self, elsewhere: &dyn Fn() -> bool) -> Option<CapabilityGuard<'_>> {
        let mut s = self.state.load(Ordering::Relaxed);
        while s & LOCKED != 0 && s & (PARKED | HEIR_MASK) == 0 {
            // ORDERING: Relaxed: claiming the heir role publishes nothing; the capability is
            // received later with Acquire (`heir_try_take` / `heir_sleep`).
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
            return None;
        }
        match self.park_in_queue() {
            ParkResult::Unparked(TOKEN_HEIR) => {
                self.heir_running();
                self.heir_wait(elsewhere)
            }
            _ => None,
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
    /// when it is free. The guard when it ends holding it; `None` when it resigned because
    /// another capability is free (`elsewhere`, Note [moving to a free capability]).
    fn heir_wait(&self, elsewhere: &dyn Fn() -> bool) -> Option<CapabilityGuard<'_>> {
        let mut budget = Budget::start();
        let mut due = Budget::start();
        let mut is_due = false;
        let mut backoff = Backoff::new();
        loop {
            if self.heir_try_take() {
                // SAFETY: the heir took a granted capability (LOCKED kept for it) or set LOCKED.
                return Some(unsafe { self.held() });
            }
            if !is_due && due.spent(HEIR_DUE) {
                is_due = true;
                self.heir_now_due();
            }
            // Once polling gives the CPU away (or after a sleep), look at the other capabilities.
            // (`elsewhere` first, so that under loom, where `spent` counts polls, a poll is only
            // spent here when another capability is free.)
            if elsewhere() && budget.spent(HEIR_PAUSE_ONLY) && self.heir_resign() {
                return None;
            }
            if is_due && budget.spent(HEIR_SPIN) {
                if self.heir_sleep(elsewhere) {
                    // SAFETY: woken with TOKEN_HANDOFF: the releaser kept LOCKED set for us.
                    return Some(unsafe { self.held() });
                }
                if elsewhere() && self.heir_resign() {
                    return None;
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

impl CapabilityGuard<'_> {
    /// Release with the lock-free protocol; true if handed directly to a waiter.
    pub(crate) fn release_lockfree(self) -> bool {
        let cap = self.cap;
        let handed = cap.release_lockfree();
        if handed {
            cap.stats.handoffs(1);
        }
        handed
    }

    /// Clear `LOCKED` unconditionally, leaving any waiter bits alone (the GHC policy, under
    /// `cap->lock` where nobody parks in this queue; a capability being enabled).
    pub(crate) fn force_release(self) {
        // ORDERING: SeqCst: Release for the next holder (pairs with `try_grab`'s Acquire), and
        // ordered before the free-bitmap check as in `release_lockfree`.
        self.cap.state.fetch_and(!LOCKED, Ordering::SeqCst);
    }
}

/// `(LOCKED, PARKED, an heir is registered)` of a state word.
#[cfg(rts_loom)]
pub(super) fn state_bits(s: usize) -> (bool, bool, bool) {
    (s & LOCKED != 0, s & PARKED != 0, s & HEIR_MASK != HEIR_NONE)
}
