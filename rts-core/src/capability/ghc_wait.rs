//! GHC's wait and hand-off protocol (`WaitPolicy::Ghc`): `cap->lock`, the per-capability FIFO of
//! returning tasks, and a per-task condition variable.
//!
//! Port of `waitForCapability` / `waitForReturnCapability` / `releaseCapability_` /
//! `giveCapabilityToTask` (`rts/Capability.c`). Faithful to GHC's serialising points: every
//! acquisition and release takes `cap->lock`; a waiter queues on one capability for good; a
//! release signals the head of the queue but leaves the capability free, so a newcomer can take
//! it first (barging) and the woken waiter goes back to sleep (`README.md`, "GHC's protocol").

use std::collections::VecDeque;

use super::{Capability, CapabilityGuard};
use crate::sync::{Condvar, Mutex};

/// A task sleeping in `waitForReturnCapability` (GHC: `task->lock`, `task->cond`, `task->wakeup`).
#[derive(Debug, Default)]
struct GhcWaiter {
    wakeup: Mutex<bool>,
    cond: Condvar,
}

impl GhcWaiter {
    /// Port of `giveCapabilityToTask`'s signal: set the sticky flag and signal.
    fn signal(&self) {
        let mut w = self.wakeup.lock();
        if !*w {
            *w = true;
            self.cond.notify_one();
        }
    }

    fn sleep(&self) {
        let mut w = self.wakeup.lock();
        while !*w {
            self.cond.wait(&mut w);
        }
        *w = false;
    }
}

/// `cap->returning_tasks_hd/_tl`: waiters live on their own stack frames while queued.
#[derive(Debug, Default)]
struct ReturningTasks(VecDeque<*const GhcWaiter>);

// SAFETY: the pointers are only dereferenced under `cap->lock`, and a waiter removes itself from
// the queue (under the same lock) before its stack frame goes away.
unsafe impl Send for ReturningTasks {}

/// Per-capability state of the GHC wait policy.
#[derive(Debug, Default)]
pub(crate) struct GhcCapState {
    lock: Mutex<ReturningTasks>,
}

impl Capability {
    /// Port of `waitForCapability` on one chosen capability. Also returns the number of mutex
    /// acquisitions it took (for the stats) and whether it had to wait.
    pub(crate) fn acquire_ghc(&self) -> (CapabilityGuard<'_>, u64, bool) {
        let mut locks = 1;
        let mut q = self.ghc.lock.lock();
        if let Some(g) = self.try_grab() {
            return (g, locks, false);
        }
        let me = GhcWaiter::default();
        q.0.push_back(&me);
        drop(q);
        loop {
            me.sleep();
            locks += 1;
            let mut q = self.ghc.lock.lock();
            if self.is_busy_hint() {
                continue; // a newcomer barged in; wait for the next signal
            }
            let head = *q.0.front().expect("a queued waiter is in the queue");
            if std::ptr::eq(head, &me) {
                let got = self.try_grab().expect("a free capability under cap->lock");
                q.0.pop_front();
                return (got, locks, true);
            }
            // SAFETY: `head` is queued, so its frame is alive while we hold `cap->lock`.
            unsafe { (*head).signal() };
        }
    }

    /// `tryGrabCapability` under `cap->lock`: take it only if free, never wait.
    pub(crate) fn try_acquire_ghc(&self) -> Option<CapabilityGuard<'_>> {
        let _q = self.ghc.lock.lock();
        self.try_grab()
    }
}

impl CapabilityGuard<'_> {
    /// Port of `releaseCapability_` under `cap->lock`. Returns true if the capability was left
    /// idle with nobody queued (the caller then writes `last_free_capability`).
    pub(crate) fn release_ghc(self) -> bool {
        let q = self.cap.ghc.lock.lock();
        self.force_release();
        match q.0.front() {
            Some(&head) => {
                // SAFETY: queued waiters stay alive while queued; we hold `cap->lock`.
                unsafe { (*head).signal() };
                false
            }
            None => true,
        }
    }
}
