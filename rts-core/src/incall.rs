//! InCall: one per active call-in, stacked on its Task, recycled through a per-Task spare list.
//!
//! Port of `newInCall` / `endInCall` (`rts/Task.c`). Ownership: an InCall belongs to its Task's
//! OS thread; nothing else dereferences it, so it needs no synchronisation. Nested call-ins (a
//! safe foreign call that calls back into Haskell on the same thread) push further InCalls; the
//! stack has no depth limit.

use std::ptr::{self, NonNull};

use crate::capability::Capability;
use crate::heap::ClosurePtr;
use crate::nursery::PinList;
use crate::rts::Rts;
use crate::sched::{SchedulerStatus, TsoStorage};
use crate::sync::process_atomic::{AtomicUsize, Ordering};
use crate::task::Task;

/// Port of `MAX_SPARE_INCALLS` (`rts/Task.c`): bounds the per-Task free list.
#[cfg(not(any(rts_loom, miri)))]
pub const MAX_SPARE_INCALLS: usize = 8;
/// Tiny under loom/miri so that "list full" and "list empty" both occur in every model.
#[cfg(any(rts_loom, miri))]
pub const MAX_SPARE_INCALLS: usize = 1;

/// Where a call-in is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallPhase {
    /// Holds `cap` (between `rts_lock` and `rts_unlock`, outside safe foreign calls).
    Running,
    /// In a safe foreign call: no capability held (GHC `suspendThread`).
    Suspended,
    /// The call acquired a capability only after `hs_exit` shut the RTS down: it holds nothing
    /// and ends `Interrupted` without allocating.
    Detached,
    /// `rts_checkSchedStatus` reported a failure and the (test) exit hook returned; the stub's
    /// remaining calls for this call-in are answered quietly.
    Abandoned,
}

/// Port of `InCall` (`rts/Task.h`).
#[derive(Debug)]
pub struct InCall {
    pub(crate) task: NonNull<Task>,
    /// The enclosing call-in of the same Task (GHC `prev_stack`).
    pub(crate) prev_stack: *mut InCall,
    /// Link in the Task's spare list.
    pub(crate) next: *mut InCall,
    /// RTS instance this call runs on.
    pub(crate) rts: *const Rts,
    /// Capability held while `phase == Running`.
    pub(crate) cap: *const Capability,
    /// Capability given up by a safe foreign call (GHC `suspended_cap`), preferred on resume.
    pub(crate) suspended_cap: *const Capability,
    pub(crate) phase: CallPhase,
    /// GHC `rstat`.
    pub(crate) rstat: SchedulerStatus,
    /// The result closure (GHC writes it through `incall->ret`).
    pub(crate) ret: ClosurePtr,
    /// Message of an exception thrown by the exported function (`rtscore_throw`).
    pub(crate) exception: Option<String>,
    /// The body asked for more heap than a nursery holds (`rtscore_allocate`).
    pub(crate) heap_overflow: bool,
    /// Nursery buffers this call pinned (Note [nursery reuse never clobbers a live call]).
    pub(crate) pins: PinList,
    /// TSO + stack reused by every call on this InCall under `ThreadObjects::ReusePerInCall`.
    pub(crate) tso: TsoStorage,
    /// Whether this InCall came from the spare list (counted once a capability is held).
    pub(crate) from_spare: bool,
}

impl InCall {
    fn new(task: NonNull<Task>) -> InCall {
        InCall {
            task,
            prev_stack: ptr::null_mut(),
            next: ptr::null_mut(),
            rts: ptr::null(),
            cap: ptr::null(),
            suspended_cap: ptr::null(),
            phase: CallPhase::Running,
            rstat: SchedulerStatus::NoStatus,
            ret: ptr::null(),
            exception: None,
            heap_overflow: false,
            pins: PinList::new(),
            tso: TsoStorage::new(),
            from_spare: false,
        }
    }

    /// Whether this call-in is nested inside another on the same Task.
    pub fn is_nested(&self) -> bool {
        !self.prev_stack.is_null()
    }
}

/// Port of `newInCall`: pop a spare InCall (or allocate one) and push it on the Task's stack.
#[inline]
pub(crate) fn push_incall(task: &Task, rts: *const Rts) -> NonNull<InCall> {
    let spare = task.spare_incalls.get();
    let mut ic = match NonNull::new(spare) {
        Some(mut ic) => {
            // SAFETY: spare InCalls are owned by this task and not on its stack.
            let r = unsafe { ic.as_mut() };
            task.spare_incalls.set(r.next);
            task.n_spare_incalls.set(task.n_spare_incalls.get() - 1);
            r.from_spare = true;
            ic
        }
        None => new_incall_cold(task),
    };
    // SAFETY: `ic` is exclusively ours: just popped from the spare list or just allocated.
    let r = unsafe { ic.as_mut() };
    r.next = ptr::null_mut();
    r.prev_stack = task.incall.get();
    r.rts = rts;
    r.cap = ptr::null();
    r.suspended_cap = ptr::null();
    r.phase = CallPhase::Running;
    r.rstat = SchedulerStatus::NoStatus;
    r.ret = ptr::null();
    r.heap_overflow = false;
    task.incall.set(ic.as_ptr());
    ic
}

/// InCalls allocated and not yet freed, process-wide (on a stack, spare, or kept by a Task
/// whose thread left mid-call). Cold paths only: the hot path reuses spares.
static LIVE_INCALLS: AtomicUsize = AtomicUsize::new(0);

/// InCalls allocated and not yet freed in this process (for leak checks).
pub fn live_incalls() -> usize {
    LIVE_INCALLS.load(Ordering::Relaxed)
}

fn incall_freed() {
    LIVE_INCALLS.fetch_sub(1, Ordering::Relaxed);
}

#[cold]
fn new_incall_cold(task: &Task) -> NonNull<InCall> {
    LIVE_INCALLS.fetch_add(1, Ordering::Relaxed);
    NonNull::from(Box::leak(Box::new(InCall::new(NonNull::from(task)))))
}

/// Port of `endInCall`: pop the top InCall to the spare list (or free it past the cap).
#[inline]
pub(crate) fn pop_incall(task: &Task) {
    let top = task.incall.get();
    debug_assert!(!top.is_null(), "pop_incall with no active call-in");
    // SAFETY: `top` is this task's current InCall, owned by the task.
    let r = unsafe { &mut *top };
    debug_assert!(
        r.pins.is_empty(),
        "InCall popped with pinned nursery buffers"
    );
    task.incall.set(r.prev_stack);
    r.prev_stack = ptr::null_mut();
    r.exception = None;
    if task.n_spare_incalls.get() < MAX_SPARE_INCALLS {
        r.next = task.spare_incalls.get();
        task.spare_incalls.set(top);
        task.n_spare_incalls.set(task.n_spare_incalls.get() + 1);
    } else {
        // SAFETY: `top` came from `Box::leak` in `new_incall_cold` and is now unreferenced.
        drop(unsafe { Box::from_raw(top) });
        incall_freed();
    }
}

/// Free every spare InCall of a Task being freed.
pub(crate) fn free_spares(task: &Task) {
    let mut p = task.spare_incalls.replace(ptr::null_mut());
    while let Some(ic) = NonNull::new(p) {
        // SAFETY: spare InCalls are owned by the task and referenced only by this list.
        let b = unsafe { Box::from_raw(ic.as_ptr()) };
        p = b.next;
        incall_freed();
    }
    task.n_spare_incalls.set(0);
}

/// The InCall on top of `task`'s stack.
#[inline]
pub(crate) fn current(task: &Task) -> Option<NonNull<InCall>> {
    NonNull::new(task.incall.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spare_list_is_capped_and_reused() {
        std::thread::spawn(|| {
            let t = crate::task::get_my_task().unwrap();
            // SAFETY: this thread's Task, alive for the thread.
            let task = unsafe { t.as_ref() };
            let ics: Vec<_> = (0..MAX_SPARE_INCALLS + 3)
                .map(|_| push_incall(task, ptr::null()))
                .collect();
            assert_eq!(task.incall_depth(), MAX_SPARE_INCALLS + 3);
            for _ in &ics {
                pop_incall(task);
            }
            assert!(task.is_stopped());
            assert_eq!(task.n_spare_incalls.get(), MAX_SPARE_INCALLS);
            let again = push_incall(task, ptr::null());
            // SAFETY: `again` is the task's live top InCall.
            assert!(unsafe { again.as_ref() }.from_spare);
            assert_eq!(task.n_spare_incalls.get(), MAX_SPARE_INCALLS - 1);
            pop_incall(task);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn nested_incalls_link_to_the_outer_one() {
        std::thread::spawn(|| {
            let t = crate::task::get_my_task().unwrap();
            // SAFETY: this thread's Task, alive for the thread.
            let task = unsafe { t.as_ref() };
            let outer = push_incall(task, ptr::null());
            let inner = push_incall(task, ptr::null());
            // SAFETY: both InCalls are live on the task's stack.
            unsafe {
                assert_eq!(inner.as_ref().prev_stack, outer.as_ptr());
                assert!(inner.as_ref().is_nested());
                assert!(!outer.as_ref().is_nested());
            }
            pop_incall(task);
            assert_eq!(current(task), Some(outer));
            pop_incall(task);
        })
        .join()
        .unwrap();
    }
}
