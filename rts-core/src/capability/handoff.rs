//! The lock-free protocol's state word (`WaitPolicy::SpinPark`) and its releasing side: one CAS
//! to take a free capability or to release an uncontended one; a contended release grants the
//! capability to a due heir, wakes a sleeping one owning it, or appoints the next queued waiter
//! heir; a release that leaves a capability free nudges heirs asleep elsewhere.
//!
//! Note [heir hand-off] and Note [moving to a free capability]: the protocol and its proofs are
//! in `README.md` beside this file ("The heir hand-off", "Moving to a free capability", "The
//! SeqCst pairs"). The waiting side is `heir.rs`.

use super::{Capability, CapabilityGuard};
use crate::sync::atomic::Ordering;
use crate::sync::park::{self, UnparkToken};
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
pub(super) const HEIR_WAKING: usize = 1 << 2;
/// The heir is running and polling: the next release grants it the capability.
pub(super) const HEIR_SPINNING: usize = 2 << 2;
/// The heir sleeps (always with `LOCKED`): the next release wakes it already owning it.
pub(super) const HEIR_ASLEEP: usize = 3 << 2;
/// A release granted the capability to the running heir (always with `LOCKED`); the heir
/// clears the field when it notices.
pub(super) const HEIR_GRANTED: usize = 4 << 2;
/// The heir is running and has waited `HEIR_DUE`: the next release grants it the capability
/// (before that, releases leave the capability free and the heir competes for it).
pub(super) const HEIR_DUE_NOW: usize = 5 << 2;

/// Unpark token: the capability was handed to the woken heir, which now holds it.
pub(super) const TOKEN_HANDOFF: UnparkToken = UnparkToken(1);
/// Unpark token: woken from the queue to be the heir.
pub(super) const TOKEN_HEIR: UnparkToken = UnparkToken(2);
/// Unpark token: the queue had emptied meanwhile (nobody receives it).
pub(super) const TOKEN_NONE: UnparkToken = UnparkToken(0);
/// Unpark token: the sleeping heir is woken (not handed anything) because another capability
/// became free; it is running and due again (Note [moving to a free capability]).
pub(super) const TOKEN_RECHECK: UnparkToken = UnparkToken(3);

/// Heirs about to sleep or asleep, all capabilities: a release that leaves its capability free
/// nudges them only when this is non-zero (README.md, "Moving to a free capability"). Written
/// by heirs around their sleep, read by releasers: pair D2, SeqCst both.
#[cfg(not(rts_loom))]
static SLEEPING_HEIRS: process_atomic::AtomicUsize = process_atomic::AtomicUsize::new(0);

/// The sleeping-heir count ([`SLEEPING_HEIRS`]).
#[cfg(not(rts_loom))]
#[inline]
pub(super) fn sleeping_heirs() -> &'static process_atomic::AtomicUsize {
    &SLEEPING_HEIRS
}

/// Under loom the count is a loom atomic, one per model execution, so that the models with
/// two capabilities (`tests/loom_moving.rs`) see pair D2.
#[cfg(rts_loom)]
pub(super) fn sleeping_heirs() -> &'static crate::sync::atomic::AtomicUsize {
    loom::lazy_static! {
        static ref SLEEPING_HEIRS: crate::sync::atomic::AtomicUsize =
            crate::sync::atomic::AtomicUsize::new(0);
    }
    &SLEEPING_HEIRS
}

impl Capability {
    /// Parking key of the FIFO queue.
    pub(super) fn queue_key(&self) -> usize {
        self as *const Capability as usize
    }
    /// Parking key of the heir's sleep (the capability is aligned, so this is no other key).
    pub(super) fn heir_key(&self) -> usize {
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
        sleeping_heirs().load(process_atomic::Ordering::SeqCst) != 0
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
        // ORDERING: SeqCst: Release for the next holder (pairs with `try_grab`), and the
        // releaser's write of pairs D1 and D2 (README.md, "The SeqCst pairs"), before its reads
        // in `Rts::mark_free` and `Rts::nudge_sleeping_heirs`.
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
        // the releaser's write of pair D1, as in `release_lockfree`.
        self.cap.state.fetch_and(!LOCKED, Ordering::SeqCst);
    }
}

/// `(LOCKED, PARKED, an heir is registered)` of a state word.
#[cfg(rts_loom)]
pub(super) fn state_bits(s: usize) -> (bool, bool, bool) {
    (s & LOCKED != 0, s & PARKED != 0, s & HEIR_MASK != HEIR_NONE)
}
