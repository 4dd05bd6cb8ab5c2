//! The waiting side of the lock-free protocol (`WaitPolicy::SpinPark`): a bounded spin, then
//! becoming the capability's heir (or queueing to become it), the heir's polls, its sleep, and
//! its move to a capability that frees up elsewhere.
//!
//! Note [heir hand-off] and Note [moving to a free capability]: the protocol and its proofs are
//! in `README.md` beside this file. The state word and the releasing side are `handoff.rs`.

#[cfg(not(rts_loom))]
use std::time::{Duration, Instant};

use super::handoff::{
    HEIR_ASLEEP, HEIR_DUE_NOW, HEIR_GRANTED, HEIR_MASK, HEIR_SPINNING, HEIR_WAKING, LOCKED, PARKED,
    TOKEN_HANDOFF, TOKEN_HEIR, TOKEN_RECHECK, sleeping_heirs,
};
use super::{Capability, CapabilityGuard};
use crate::sync::atomic::Ordering;
use crate::sync::park::{self, DEFAULT_PARK_TOKEN, ParkResult};
use crate::sync::process_atomic;

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

/// A waiting budget: wall-clock normally; under loom (no clock) one poll, since the spin is only
/// a delay and more polls would swamp the model without exploring anything new (as tokio
/// shrinks its queues under loom, so that every branch is reached).
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
        // ORDERING: SeqCst: the heir's write of pair D2 (README.md, "The SeqCst pairs"), before
        // its reads in `elsewhere`.
        sleeping_heirs().fetch_add(1, process_atomic::Ordering::SeqCst);
        crate::sync::seqcst_pair_point();
        let held = self.heir_sleep_counted(elsewhere);
        sleeping_heirs().fetch_sub(1, process_atomic::Ordering::SeqCst);
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
