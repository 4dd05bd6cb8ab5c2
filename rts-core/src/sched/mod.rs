//! The scheduler's part of a call-in: thread objects, the run queue, and the one scheduler
//! body that runs a call's bound thread.
//!
//! Ports `createThread` (`rts/Threads.c`), `scheduleWaitThread` and the steady-state path of
//! `schedule()` with `scheduleHandleThreadFinished` (`rts/Schedule.c`); `rts_inCall` (api.rs)
//! and the isolated `schedule` phase (`scaffolding::phases`) both run [`schedule_wait_thread`].
//! Ownership: a run queue belongs to its capability and is reached through the
//! `CapabilityGuard`; a thread's words belong to its call. The parts: `tso.rs` (the TSO and
//! STACK words), `eval.rs` (the model's `StgRun`), `threads.rs` (thread ids and the thread
//! list), `suspend.rs` (a safe foreign call's `suspendThread` / `resumeThread`).

use std::ptr::{self, NonNull};

use crate::error::ExitKind;
use crate::heap::{self, ClosurePtr, IoIntFn, Word};
use crate::incall::{CallPhase, Ctx};
use crate::policy::{ThreadIds, ThreadObjects};
use crate::rts::Rts;

mod eval;
mod suspend;
pub(crate) mod threads;
mod tso;

pub(crate) use eval::{EvalEnv, Failure};
pub use suspend::safe_foreign_call;
pub(crate) use tso::init_thread;
pub use tso::{STACK_WORDS, TSO_WORDS, TsoPtr, TsoStorage};

/// GHC's `SchedulerStatus` (`rts/include/RtsAPI.h`), same values.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedulerStatus {
    NoStatus = 0,
    Success = 1,
    Killed = 2,
    Interrupted = 3,
    HeapExhausted = 4,
}

/// A capability's run queue, linked through the TSOs' link words (GHC `run_queue_hd/_tl`).
#[derive(Debug, Default)]
pub struct RunQueue {
    head: Option<TsoPtr>,
    tail: Option<TsoPtr>,
    len: usize,
}

// SAFETY: a RunQueue is reached only through its capability's guard (one thread at a time).
unsafe impl Send for RunQueue {}

impl RunQueue {
    /// `appendToRunQueue`.
    ///
    /// # Safety
    /// `tso` must be a live, initialised TSO not already on a run queue.
    pub(crate) unsafe fn push_back(&mut self, tso: TsoPtr) {
        // SAFETY: per contract; the old tail is live while queued.
        unsafe {
            *tso.as_ptr().add(tso::TSO_LINK) = 0;
            match self.tail {
                Some(t) => *t.as_ptr().add(tso::TSO_LINK) = tso.as_ptr() as Word,
                None => self.head = Some(tso),
            }
        }
        self.tail = Some(tso);
        self.len += 1;
    }

    /// `popRunQueue`.
    pub(crate) fn pop_front(&mut self) -> Option<TsoPtr> {
        let h = self.head?;
        // SAFETY: queued TSOs are live until popped.
        let next = unsafe { *h.as_ptr().add(tso::TSO_LINK) } as *mut Word;
        self.head = NonNull::new(next);
        if self.head.is_none() {
            self.tail = None;
        }
        self.len -= 1;
        Some(h)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Port of `scheduleWaitThread` + the `schedule()` loop for the bound thread `tso` of the
/// running call `cx` (made by [`create_thread`], or re-armed by the isolated `schedule` phase):
/// bind it to the call's InCall, run-queue push and pop, evaluate, finish, and record its end
/// in the thread list. The status and result the call ends with.
#[inline(always)]
pub(crate) fn schedule_wait_thread(
    cx: &mut Ctx,
    rts: &Rts,
    tso: TsoPtr,
) -> (SchedulerStatus, ClosurePtr) {
    let outcome = run_bound_thread(cx, rts, tso);
    thread_ended(cx, rts, tso);
    outcome
}

/// Bind, queue and run `tso` for `cx` (one `schedule()` iteration).
#[inline(always)]
fn run_bound_thread(cx: &mut Ctx, rts: &Rts, tso: TsoPtr) -> (SchedulerStatus, ClosurePtr) {
    let ic_addr = cx.incall_ptr() as *const ();
    let mut g = cx.guard();
    // SAFETY: `tso` was just initialised and is on no run queue.
    unsafe {
        tso::bind_thread(tso, ic_addr);
        g.owned().run_queue.push_back(tso);
    }
    // One iteration of `schedule()`: the model's run queue holds only this call's bound thread,
    // so the first iteration finishes it (GHC iterates again after yields, blocking and GC,
    // which the model's function bodies never cause).
    {
        let Some(t) = g.owned().run_queue.pop_front() else {
            return internal_error("schedule: the bound thread is not on the run queue");
        };
        if !rts.is_running() {
            // `hs_exit` in progress: the thread is deleted before it runs (GHC: SCHED_INTERRUPTING).
            return (SchedulerStatus::Interrupted, ptr::null());
        }
        // SAFETY: `t` is a live TSO from our run queue.
        if unsafe { tso::bound_of(t) } != ic_addr {
            // GHC barfs here ("finished bound thread that isn't mine"); the model's run queues
            // only ever hold the running call's thread, so this is an internal error.
            return internal_error("schedule: finished bound thread that isn't mine");
        }
        // SAFETY: `t` is live; its stack holds the closure pushed by `init_thread`.
        let closure = unsafe { tso::thread_closure(t) };
        let mut env = Env { cx: &mut *cx };
        // SAFETY: `closure` came through `rts_apply`/`rts_mkInt` or is a static closure (C API
        // contract); the evaluator checks every info pointer against the model's tables.
        let r = unsafe { eval::eval_io(closure, &mut env) };
        match r {
            Ok(v) => {
                // SAFETY: `t` is still live (reused storage, or a pinned/current nursery buffer).
                unsafe { tso::finish_thread(t) };
                (SchedulerStatus::Success, v)
            }
            Err(Failure::Exception(m)) => {
                cx.ic().exception = Some(m);
                (SchedulerStatus::Killed, ptr::null())
            }
            Err(Failure::HeapOverflow) => (SchedulerStatus::HeapExhausted, ptr::null()),
            Err(Failure::Interrupted) => (SchedulerStatus::Interrupted, ptr::null()),
        }
    }
}

/// A broken internal invariant on the call path: reported like the panics `ffi_guard` catches
/// (exit code 255), without unwinding; the call ends `Killed` if the exit hook returns.
#[cold]
#[inline(never)]
fn internal_error(what: &str) -> (SchedulerStatus, ClosurePtr) {
    crate::error::report_and_exit(
        ExitKind::Process(255),
        format!("{what}: internal error in rts-core"),
    );
    (SchedulerStatus::Killed, ptr::null())
}

/// Port of `createThread`: a TSO + stack per policy, a thread id per policy.
pub(crate) fn create_thread(cx: &mut Ctx, rts: &Rts, p: ClosurePtr) -> Option<TsoPtr> {
    let (tso, stack) = match rts.config().policy.thread_objects {
        ThreadObjects::ReusePerInCall => {
            let mut g = cx.guard();
            let no = g.cap().no;
            let id_for = |_| rts.new_thread_id(&mut g);
            return Some(cx.ic().tso.new_thread(id_for, no, p));
        }
        ThreadObjects::FreshInNursery => {
            let stack = cx.alloc(STACK_WORDS)?;
            let tso = cx.alloc(TSO_WORDS)?;
            cx.guard().cap().stats.tsos_allocated(1);
            // SAFETY: nursery allocations are non-null.
            unsafe { (NonNull::new_unchecked(tso), NonNull::new_unchecked(stack)) }
        }
    };
    let mut g = cx.guard();
    let id = rts.new_thread_id(&mut g);
    // SAFETY: `tso`/`stack` are TSO_WORDS/STACK_WORDS words owned by this call.
    unsafe { tso::init_thread(tso, stack, id, g.cap().no, p) };
    Some(tso)
}

/// The evaluator's view of a running call.
struct Env<'a> {
    cx: &'a mut Ctx,
}

impl EvalEnv for Env<'_> {
    fn call_body(&mut self, f: IoIntFn, x: i64) -> Result<i64, Failure> {
        // SAFETY: `f` is the body of an `Int -> IO Int` closure (checked by the evaluator).
        let r = unsafe { f(x) };
        let ic = self.cx.ic();
        if let Some(m) = ic.exception.take() {
            return Err(Failure::Exception(m));
        }
        if ic.heap_overflow {
            return Err(Failure::HeapOverflow);
        }
        if ic.phase == CallPhase::Detached {
            return Err(Failure::Interrupted);
        }
        Ok(r)
    }

    fn alloc_int(&mut self, v: i64) -> Result<ClosurePtr, Failure> {
        let p = self
            .cx
            .alloc(heap::INT_WORDS)
            .ok_or(Failure::HeapOverflow)?;
        // SAFETY: `p` has INT_WORDS fresh words.
        Ok(unsafe { heap::write_int(p, v) })
    }
}

/// The call's thread has ended: with a global thread list, record it for removal (Note [thread
/// list pruning] in threads.rs). A call detached by `hs_exit` holds no capability; its instance is
/// shutting down and the list goes with it.
#[inline(always)]
fn thread_ended(cx: &mut Ctx, rts: &Rts, tso: TsoPtr) {
    if rts.config().policy.thread_ids == ThreadIds::GlobalLock
        && cx.ic().phase == CallPhase::Running
    {
        // SAFETY: the call's own TSO, live until the call ends (as for `finish_thread`).
        let id = unsafe { tso::thread_id(tso) };
        rts.thread_finished(&mut cx.guard(), id);
    }
}
