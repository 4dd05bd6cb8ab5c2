//! InCall: one per active call-in, stacked on its Task, recycled through a per-Task spare list;
//! and [`Ctx`], the calling thread's top InCall as the C API's entry points see it.
//!
//! Port of `newInCall` / `endInCall` (`rts/Task.c`). Ownership: an InCall belongs to its Task's
//! OS thread; nothing else dereferences it, so it needs no synchronisation. Nested call-ins (a
//! safe foreign call that calls back into Haskell on the same thread) push further InCalls; the
//! stack has no depth limit. While a call runs, its InCall names the capability it holds, so the
//! capability's guard is rebuilt from it between C API calls ([`Ctx::guard`]).

use std::ptr::{self, NonNull};

use crate::capability::{Capability, CapabilityGuard};
use crate::error::CallInError;
use crate::heap::{ClosurePtr, WORD_BYTES, Word};
use crate::nursery::PinList;
use crate::rts::Rts;
use crate::sched::{SchedulerStatus, TsoStorage};
use crate::sync::process_atomic::{AtomicUsize, Ordering};
use crate::task::{self, Task};

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

/// The calling thread's top InCall (and through it, its Task): the call-in the C API's entry
/// points act on.
pub(crate) struct Ctx {
    ic: NonNull<InCall>,
}

impl Ctx {
    /// This thread's top InCall, whatever its phase; `Err` naming `call` if there is none.
    #[inline]
    pub(crate) fn current(call: &'static str) -> Result<Ctx, CallInError> {
        match NonNull::new(task::top_incall()) {
            Some(ic) => Ok(Ctx { ic }),
            None => Err(no_call_in(call)),
        }
    }

    /// The running call-in whose function body calls `call` (`rtscore_safe_ccall`,
    /// `rtscore_allocate`): an error if there is none, or if it does not run.
    pub(crate) fn of_body(call: &'static str) -> Result<Ctx, CallInError> {
        let mut cx = Ctx::current(call)?;
        if cx.ic().phase != CallPhase::Running {
            return Err(CallInError::NotHeld {
                call,
                detail: "not called from inside a running call-in".into(),
            });
        }
        Ok(cx)
    }

    /// This thread's running call-in (it holds its capability), if any.
    #[inline(always)]
    pub(crate) fn running() -> Option<Ctx> {
        let ic = NonNull::new(task::top_incall())?;
        // SAFETY: the top InCall is live and owned by this thread's Task.
        (unsafe { ic.as_ref() }.phase == CallPhase::Running).then_some(Ctx { ic })
    }

    /// The ownership check (Note [one ownership check] in api.rs): this thread's running
    /// call-in, if the capability it holds is `cap`. `cap` is compared, never dereferenced.
    #[inline(always)]
    pub(crate) fn holding(cap: *const Capability) -> Option<Ctx> {
        let mut cx = Ctx::running()?;
        ptr::eq(cx.ic().cap, cap).then_some(cx)
    }

    /// The failure exit of [`Ctx::holding`]: what is wrong with `cap` for `call`. `Ok` for a
    /// call that names its capability but no longer runs (`Detached`, `Abandoned`): the entry
    /// points answer those quietly.
    #[cold]
    #[inline(never)]
    pub(crate) fn not_holding(
        cap: *const Capability,
        call: &'static str,
    ) -> Result<Ctx, Box<CallInError>> {
        let mut cx = Ctx::current(call)?;
        let ic = cx.ic();
        let held = ic.cap;
        match ic.phase {
            CallPhase::Detached | CallPhase::Abandoned if ptr::eq(cap, held) => Ok(cx),
            CallPhase::Suspended => Err(Box::new(CallInError::NotHeld {
                call,
                detail: "the call-in on this thread is inside a safe foreign call and holds no capability".into(),
            })),
            _ => Err(Box::new(CallInError::NotHeld {
                call,
                detail: format!("capability {cap:p} is not held by this thread (it holds {held:p})"),
            })),
        }
    }

    /// The InCall's address (what a bound thread records as its `bound` field).
    #[inline]
    pub(crate) fn incall_ptr(&self) -> *const InCall {
        self.ic.as_ptr()
    }

    #[inline]
    pub(crate) fn task(&self) -> &Task {
        // SAFETY: an InCall's Task outlives it (a Task is freed only when stopped).
        unsafe { self.ic.as_ref().task.as_ref() }
    }

    #[inline]
    pub(crate) fn ic(&mut self) -> &mut InCall {
        // SAFETY: the top InCall is owned by this thread's Task; `&mut self` keeps it unique.
        unsafe { self.ic.as_mut() }
    }

    #[inline]
    pub(crate) fn rts(&mut self) -> &'static Rts {
        // SAFETY: `rts` was set by `lock` from a leaked, never-freed instance.
        unsafe { &*self.ic().rts }
    }

    /// The guard of the capability this running call holds.
    #[inline]
    #[track_caller]
    pub(crate) fn guard(&mut self) -> CapabilityGuard<'static> {
        let task = self.task() as *const Task;
        let ic = self.ic();
        debug_assert_eq!(ic.phase, CallPhase::Running);
        debug_assert_eq!(
            ic.task.as_ptr() as *const Task,
            task,
            "InCall on the wrong Task"
        );
        // SAFETY: `ic.cap` points into a live, never-freed instance (set by `lock`/`resume`).
        let held = unsafe { &*ic.cap };
        debug_assert!(
            held.is_held_by(task),
            "capability {} not held by this task {:p} (holder {:p})",
            held.no,
            task,
            held.holder_hint()
        );
        // SAFETY: `ic.cap` is held by this thread while the call is Running (set by `lock` or
        // `resume` right after acquiring), and capabilities live as long as their instance.
        unsafe { CapabilityGuard::assume_held(&*ic.cap) }
    }

    /// Allocate `n` words on the held capability (Note [nursery reuse never clobbers a live call]).
    #[inline]
    pub(crate) fn alloc(&mut self, n: usize) -> Option<*mut Word> {
        let mut g = self.guard();
        let cap = g.cap();
        // A running call's capability has a nursery (`hs_exit` drops nurseries only while it
        // holds every capability); `None` here would end the call HeapExhausted, not panic.
        let nursery = g.owned().nursery.as_mut()?;
        let p = match nursery.alloc(n) {
            Some(p) => p,
            None => {
                let p = nursery.alloc_cold(n, &mut self.ic().pins)?;
                cap.stats.nursery_resets(1);
                p
            }
        };
        cap.stats.nursery_bytes((n * WORD_BYTES) as u64);
        Some(p.as_ptr())
    }

    /// The RTS shut down while this call waited for `g`: give the capability back; the call
    /// holds nothing from now on and ends `Interrupted` (`CallPhase::Detached`).
    #[cold]
    pub(crate) fn detach(&mut self, g: CapabilityGuard<'_>) {
        self.ic().phase = CallPhase::Detached;
        self.rts().release(g);
    }
}

/// Why there is no current call-in: the thread is exiting, or no `rts_lock` is in effect.
#[cold]
fn no_call_in(call: &'static str) -> CallInError {
    if task::my_task().is_err() {
        return CallInError::ThreadExiting { call };
    }
    CallInError::NotHeld {
        call,
        detail: "no call-in is in progress on this thread (call rts_lock first)".into(),
    }
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
                assert!(outer.as_ref().prev_stack.is_null());
            }
            pop_incall(task);
            assert_eq!(task.incall.get(), outer.as_ptr());
            pop_incall(task);
        })
        .join()
        .unwrap();
    }
}
