//! The call-in path behind GHC's C API, in safe Rust over the concept modules.
//!
//! Ports `rts_lock` / `rts_mkInt` / `rts_apply` / `rts_evalIO` + `rts_inCall` /
//! `rts_checkSchedStatus` / `rts_getInt` / `rts_unlock` (`rts/RtsAPI.c`) and
//! `suspendThread` / `resumeThread` (`rts/Schedule.c`) for safe foreign calls. Every entry
//! point first finds the calling thread's Task and top InCall and checks that the capability
//! it names is the one this thread holds, so a bad `Capability *` is reported, never
//! dereferenced. `ffi.rs` only converts and maps errors to GHC's exit behaviour.
//!
//! Note [fast paths]
//! ------------------
//! The entry points the compiled stub calls on every call-in (`rts_mkInt`, `rts_apply`,
//! `rts_getInt`, `rts_checkSchedStatus`, `rts_unlock`) first try a `*_fast` function here. It
//! reads this thread's top InCall from one thread-local ([`top_incall`], a mirror of
//! `Task::incall` kept by `lock`/`unlock`) and compares the `Capability *` it was given with the
//! one that InCall holds, before it touches anything else. It succeeds only in the common case
//! (a running call holding exactly that capability, room in the nursery, ...) and otherwise
//! returns `None`/`false` having changed nothing, so the entry point runs the full function,
//! which repeats every check and reports what is wrong. A bad `Capability *` is only ever
//! compared, never dereferenced, on both paths.

#[cfg(not(rts_loom))] // only the non-loom TOP_INCALL mirror uses it
use std::cell::Cell;
use std::ptr::{self, NonNull};

use crate::capability::{Capability, CapabilityGuard};
use crate::error::{CallInError, EXIT_FAILURE, EXIT_HEAPOVERFLOW, ExitKind};
use crate::heap::{self, ClosurePtr, IoIntFn, Word};
use crate::incall::{self, CallPhase, InCall};
use crate::policy::{ThreadIds, ThreadObjects};
use crate::rts::{self, Rts};
use crate::sched::{self, Failure, SchedulerStatus};
use crate::task::{self, Task};

// Phase probes (feature `probes`, Note [contiguous spans] in probes.rs): `probe_start!()` is the
// first boundary of a call (rts_lock's entry), `probe_mark!(Phase)` a later boundary, recording
// `[last boundary, now)` as the phase that just ended. Without the feature both expand to nothing.
#[cfg(feature = "probes")]
macro_rules! probe_start {
    () => {
        $crate::probes::call_begins()
    };
}
#[cfg(feature = "probes")]
macro_rules! probe_mark {
    ($phase:ident) => {
        $crate::probes::boundary($crate::probes::Phase::$phase)
    };
}
/// `probed!(Phase, expr)`: `expr`, then a boundary ending `Phase`.
#[cfg(feature = "probes")]
macro_rules! probed {
    ($phase:ident, $e:expr) => {{
        let r = $e;
        $crate::probes::boundary($crate::probes::Phase::$phase);
        r
    }};
}
#[cfg(not(feature = "probes"))]
macro_rules! probed {
    ($phase:ident, $e:expr) => {
        $e
    };
}
#[cfg(not(feature = "probes"))]
macro_rules! probe_start {
    () => {};
}
#[cfg(not(feature = "probes"))]
macro_rules! probe_mark {
    ($phase:ident) => {};
}
pub(crate) use {probe_mark, probe_start, probed};

#[cfg(not(rts_loom))]
std::thread_local! {
    /// This thread's top InCall (null when no call-in is active): a mirror of `Task::incall`,
    /// written only by `lock` and `unlock` right after they push or pop. No destructor, so
    /// reading it is one load, valid even while the thread's other thread-locals are destroyed.
    static TOP_INCALL: Cell<*mut InCall> = const { Cell::new(ptr::null_mut()) };
}

/// This thread's top InCall, or null (Note [fast paths]).
#[cfg(not(rts_loom))]
#[inline(always)]
fn top_incall() -> *mut InCall {
    TOP_INCALL.with(Cell::get)
}

#[cfg(not(rts_loom))]
#[inline(always)]
fn set_top_incall(ic: *mut InCall) {
    TOP_INCALL.with(|t| t.set(ic));
}

/// Under loom, std thread-locals would be shared by the modelled threads: read the Task's.
#[cfg(rts_loom)]
fn top_incall() -> *mut InCall {
    match task::my_task() {
        // SAFETY: this thread's live Task.
        Ok(Some(t)) => unsafe { t.as_ref() }.incall.get(),
        _ => ptr::null_mut(),
    }
}

#[cfg(rts_loom)]
fn set_top_incall(_: *mut InCall) {}

/// The calling thread's top InCall (and through it, its Task).
pub(crate) struct Ctx {
    ic: NonNull<InCall>,
}

impl Ctx {
    #[inline]
    pub(crate) fn current(call: &'static str) -> Result<Ctx, CallInError> {
        match NonNull::new(top_incall()) {
            Some(ic) => Ok(Ctx { ic }),
            None => Err(no_call_in(call)),
        }
    }

    #[inline]
    fn task(&self) -> &Task {
        // SAFETY: an InCall's Task outlives it (a Task is freed only when stopped).
        unsafe { self.ic.as_ref().task.as_ref() }
    }

    #[inline]
    fn ic(&mut self) -> &mut InCall {
        // SAFETY: the top InCall is owned by this thread's Task; `&mut self` keeps it unique.
        unsafe { self.ic.as_mut() }
    }

    #[inline]
    fn rts(&mut self) -> &'static Rts {
        // SAFETY: `rts` was set by `lock` from a leaked, never-freed instance.
        unsafe { &*self.ic().rts }
    }

    /// Check that `cap` is the capability this call holds; `Ok(false)` for a detached call.
    #[inline]
    fn check_cap(
        &mut self,
        cap: *const Capability,
        call: &'static str,
    ) -> Result<bool, CallInError> {
        let ic = self.ic();
        let held = ic.cap;
        match ic.phase {
            CallPhase::Running if ptr::eq(cap, held) => Ok(true),
            CallPhase::Detached | CallPhase::Abandoned if ptr::eq(cap, held) => Ok(false),
            CallPhase::Suspended => Err(CallInError::NotHeld {
                call,
                detail: "the call-in on this thread is inside a safe foreign call and holds no capability".into(),
            }),
            _ => Err(CallInError::NotHeld {
                call,
                detail: format!("capability {cap:p} is not held by this thread (it holds {held:p})"),
            }),
        }
    }

    /// The guard of the capability this running call holds.
    #[inline]
    #[track_caller]
    fn guard(&mut self) -> CapabilityGuard<'static> {
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
    fn alloc(&mut self, n: usize) -> Option<*mut Word> {
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
        cap.stats.nursery_bytes((n * heap::WORD_BYTES) as u64);
        Some(p.as_ptr())
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

/// The running call-in of this thread if it holds `cap`: the whole ownership check of the fast
/// paths (Note [fast paths]). `cap` is compared, never dereferenced.
#[inline(always)]
fn running_call_holding(cap: *const Capability) -> Option<NonNull<InCall>> {
    let ic = NonNull::new(top_incall())?;
    // SAFETY: the top InCall is live and owned by this thread's Task.
    let r = unsafe { ic.as_ref() };
    (ptr::eq(r.cap, cap) && r.phase == CallPhase::Running).then_some(ic)
}

/// Bump-allocate `n` words on `cap` if its nursery has room (no reclaim, no pinning).
///
/// # Safety
/// `cap` must have passed [`running_call_holding`] on this thread.
#[inline(always)]
unsafe fn alloc_fast(cap: *const Capability, n: usize) -> Option<*mut Word> {
    // SAFETY: a running call holds `ic.cap`, a capability of a never-freed instance; the caller
    // checked `cap` is that pointer, so this thread holds it.
    let c = unsafe { &*cap };
    // SAFETY: as above.
    let mut g = unsafe { CapabilityGuard::assume_held(c) };
    let p = g.owned().nursery.as_mut()?.alloc(n)?;
    c.stats.nursery_bytes((n * heap::WORD_BYTES) as u64);
    Some(p.as_ptr())
}

/// `rts_mkInt` in the common case (Note [fast paths]).
#[inline]
pub(crate) fn mk_int_fast(cap: *const Capability, i: i64) -> Option<ClosurePtr> {
    running_call_holding(cap)?;
    if let Some(p) = heap::intlike(i) {
        return Some(p);
    }
    // SAFETY: `cap` passed `running_call_holding`.
    let p = unsafe { alloc_fast(cap, heap::INT_WORDS) }?;
    // SAFETY: `p` has INT_WORDS fresh words from the nursery.
    Some(unsafe { heap::write_int(p, i) })
}

/// `rts_apply` in the common case (Note [fast paths]).
#[inline]
pub(crate) fn apply_fast(
    cap: *const Capability,
    f: ClosurePtr,
    arg: ClosurePtr,
) -> Option<ClosurePtr> {
    running_call_holding(cap)?;
    if f.is_null() || arg.is_null() {
        return None;
    }
    // SAFETY: `cap` passed `running_call_holding`.
    let p = unsafe { alloc_fast(cap, heap::AP_WORDS) }?;
    // SAFETY: `p` has AP_WORDS fresh words from the nursery.
    Some(unsafe { heap::write_ap(p, f, arg) })
}

/// `rts_getInt` in the common case: a static small int, or an `I#` in the current buffer of
/// the nursery of the capability this thread's running call holds (Note [fast paths]).
#[inline]
pub(crate) fn get_int_fast(p: ClosurePtr) -> Option<i64> {
    if p.is_null() {
        return None;
    }
    if heap::is_intlike(p) {
        // SAFETY: `p` points into the static small-int table.
        return Some(unsafe { heap::payload(p, 0) } as i64);
    }
    let ic = NonNull::new(top_incall())?;
    // SAFETY: the top InCall is live and owned by this thread's Task.
    let r = unsafe { ic.as_ref() };
    if r.phase != CallPhase::Running {
        return None;
    }
    // SAFETY: a running call holds `r.cap` (set by `lock`/`resume` right after acquiring).
    let mut g = unsafe { CapabilityGuard::assume_held(&*r.cap) };
    if !g.owned().nursery.as_ref()?.owns(heap::untag(p)) {
        return None;
    }
    // SAFETY: the header (and for an I#, the payload) lies in the allocated part of the held
    // capability's nursery.
    unsafe {
        if !std::ptr::eq(heap::info_of(p), &heap::IZH_CON_INFO) {
            return None;
        }
        Some(heap::payload(p, 0) as i64)
    }
}

/// `rts_unlock` in the common case: a running call holding `cap` with no pinned buffers.
/// False (nothing changed) sends the caller to [`unlock`] (Note [fast paths]).
#[inline]
pub(crate) fn unlock_fast(cap: *const Capability) -> bool {
    let Some(mut ic) = running_call_holding(cap) else {
        return false;
    };
    // SAFETY: the top InCall is live and owned by this thread's Task.
    let r = unsafe { ic.as_mut() };
    if !r.pins.is_empty() {
        return false;
    }
    // SAFETY: `rts` was set by `lock` from a leaked, never-freed instance; the Task outlives
    // its InCalls.
    let (rts, task) = unsafe { (&*r.rts, r.task.as_ref()) };
    // SAFETY: a running call holds `r.cap`, a capability of `rts`.
    let g = unsafe { CapabilityGuard::assume_held(&*r.cap) };
    task.last_cap.set(Some(rts.hint_for(g.cap())));
    rts.release(g);
    probe_mark!(CapRelease);
    incall::pop_incall(task);
    set_top_incall(task.incall.get());
    probe_mark!(IncallPop);
    true
}

/// Port of `rts_lock`: find or create the Task, push an InCall, acquire a capability.
pub(crate) fn lock() -> Result<*const Capability, CallInError> {
    let call = "rts_lock";
    let rts = rts::current().ok_or(CallInError::NotInitialised { call })?;
    if rts.is_exited() {
        return Err(CallInError::AfterExit { call });
    }
    let t = task::get_my_task().map_err(|_| CallInError::ThreadExiting { call })?;
    // SAFETY: this thread's live Task.
    let task = unsafe { t.as_ref() };
    if top_is_running() {
        return Err(CallInError::ReenteredUnsafely);
    }
    probe_mark!(TaskLookup);
    Ok(lock_task(rts, task))
}

/// `rts_lock` in the common case: an initialised RTS and a thread that already has its Task
/// and is not inside a running call. `None` (nothing changed) sends the caller to [`lock`].
#[inline]
pub(crate) fn lock_fast() -> Option<*const Capability> {
    let rts = rts::current()?;
    if rts.is_exited() {
        return None;
    }
    let t = task::my_task().ok()??;
    if top_is_running() {
        return None;
    }
    probe_mark!(TaskLookup);
    // SAFETY: this thread's live Task.
    Some(lock_task(rts, unsafe { t.as_ref() }))
}

/// Whether this thread is inside a running call-in (`rts_lock` now would re-enter unsafely).
#[inline(always)]
fn top_is_running() -> bool {
    // SAFETY: the top InCall, if any, is live and owned by this thread's Task.
    NonNull::new(top_incall())
        .is_some_and(|top| unsafe { top.as_ref() }.phase == CallPhase::Running)
}

/// The rest of `rts_lock` once the checks passed: push an InCall, acquire a capability, make
/// room in its nursery. Ends detached (holding nothing) if the RTS shut down meanwhile.
#[inline(always)]
fn lock_task(rts: &'static Rts, task: &Task) -> *const Capability {
    debug_assert_eq!(
        top_incall(),
        task.incall.get(),
        "TOP_INCALL mirrors Task::incall"
    );
    let mut ic = incall::push_incall(task, rts);
    set_top_incall(ic.as_ptr());
    probe_mark!(IncallPush);
    #[cfg_attr(not(feature = "probes"), allow(unused_mut))]
    let mut g = rts.acquire_for(task);
    let cap = g.cap();
    // SAFETY: `ic` was just pushed by this thread.
    let r = unsafe { ic.as_mut() };
    r.cap = cap;
    task.last_cap.set(Some(rts.hint_for(cap)));
    // A reclaim is its own phase; otherwise preparing the nursery is part of `cap_acquire`.
    #[cfg(feature = "probes")]
    let gc_due = nursery_exhausted(&mut g);
    #[cfg(feature = "probes")]
    if gc_due {
        probe_mark!(CapAcquire);
    }
    let (g, ready) = rts.prepare_nursery(g);
    #[cfg(feature = "probes")]
    if gc_due {
        probe_mark!(Gc);
    } else {
        probe_mark!(CapAcquire);
    }
    if !ready {
        detach(rts, g, r);
        return cap;
    }
    cap.stats.calls(1);
    if r.from_spare {
        cap.stats.spare_hits(1);
    } else {
        cap.stats.spare_misses(1);
    }
    cap
}

/// Whether `prepare_nursery` will reclaim (the probes' `gc` phase).
#[cfg(feature = "probes")]
fn nursery_exhausted(g: &mut CapabilityGuard<'_>) -> bool {
    g.owned()
        .nursery
        .as_ref()
        .is_some_and(|n| n.remaining_words() < crate::nursery::HEADROOM_WORDS)
}

/// The RTS shut down while this call waited: give the capability back, end `Interrupted`.
#[cold]
fn detach(rts: &Rts, g: CapabilityGuard<'_>, ic: &mut InCall) {
    ic.phase = CallPhase::Detached;
    rts.release(g);
}

/// Port of `rts_mkInt`.
#[inline]
pub(crate) fn mk_int(cap: *const Capability, i: i64) -> Result<ClosurePtr, CallInError> {
    let mut cx = Ctx::current("rts_mkInt")?;
    let live = cx.check_cap(cap, "rts_mkInt")?;
    if let Some(p) = heap::intlike(i) {
        return Ok(p);
    }
    if !live {
        return Ok(heap::intlike(0).expect("0 is a small int"));
    }
    let p = cx
        .alloc(heap::INT_WORDS)
        .ok_or_else(heap_overflow_in("rts_mkInt"))?;
    // SAFETY: `p` has INT_WORDS fresh words from the nursery.
    Ok(unsafe { heap::write_int(p, i) })
}

/// Port of `rts_apply`.
#[inline]
pub(crate) fn apply(
    cap: *const Capability,
    f: ClosurePtr,
    arg: ClosurePtr,
) -> Result<ClosurePtr, CallInError> {
    let mut cx = Ctx::current("rts_apply")?;
    let live = cx.check_cap(cap, "rts_apply")?;
    if f.is_null() {
        return Err(CallInError::NullArgument {
            call: "rts_apply",
            what: "the function closure",
        });
    }
    if arg.is_null() {
        return Err(CallInError::NullArgument {
            call: "rts_apply",
            what: "the argument closure",
        });
    }
    if !live {
        return Ok(f);
    }
    let p = cx
        .alloc(heap::AP_WORDS)
        .ok_or_else(heap_overflow_in("rts_apply"))?;
    // SAFETY: `p` has AP_WORDS fresh words from the nursery.
    Ok(unsafe { heap::write_ap(p, f, arg) })
}

fn heap_overflow_in(call: &'static str) -> impl Fn() -> CallInError {
    move || CallInError::BadArgument {
        call,
        detail: "heap overflow: the nursery cannot hold the object".into(),
    }
}

/// Port of `rts_inCall` / `rts_evalIO`: create the bound thread, run the scheduler until it
/// finishes, store result and status. `*pcap` may come back as a different capability.
pub(crate) fn in_call(
    pcap: *mut *const Capability,
    p: ClosurePtr,
    ret: *mut ClosurePtr,
    call: &'static str,
) -> Result<(), CallInError> {
    if pcap.is_null() {
        return Err(CallInError::NullArgument {
            call,
            what: "the Capability ** argument",
        });
    }
    if ret.is_null() {
        return Err(CallInError::NullArgument {
            call,
            what: "the result pointer",
        });
    }
    let mut cx = Ctx::current(call)?;
    // SAFETY: `pcap` is non-null and, per the C API contract, valid for reads and writes.
    let cap = unsafe { pcap.read() };
    let live = cx.check_cap(cap, call)?;
    if live && p.is_null() {
        return Err(CallInError::NullArgument {
            call,
            what: "the closure to evaluate",
        });
    }
    if live {
        // SAFETY: forwarded contract; `p` is non-null.
        unsafe { run_in_call(&mut cx, pcap, p, ret) };
    } else {
        // SAFETY: both out-pointers are non-null and valid per the C API contract.
        unsafe {
            store_outcome(
                &mut cx,
                pcap,
                ret,
                SchedulerStatus::Interrupted,
                ptr::null(),
            )
        };
    }
    Ok(())
}

/// `rts_inCall` in the common case: non-null arguments and a running call holding `*pcap`.
/// False (nothing changed) sends the caller to [`in_call`] (Note [fast paths]).
///
/// # Safety
/// `pcap` and `ret` must be null or valid for a read and a write (the C API contract).
#[inline]
pub(crate) unsafe fn in_call_fast(
    pcap: *mut *const Capability,
    p: ClosurePtr,
    ret: *mut ClosurePtr,
) -> bool {
    if pcap.is_null() || ret.is_null() || p.is_null() {
        return false;
    }
    // SAFETY: non-null, valid per the contract.
    let cap = unsafe { pcap.read() };
    let Some(ic) = running_call_holding(cap) else {
        return false;
    };
    // SAFETY: as above; `p` is non-null.
    unsafe { run_in_call(&mut Ctx { ic }, pcap, p, ret) };
    true
}

/// Create the bound thread, run it, store status and result (the body of `rts_inCall` once
/// its checks passed).
///
/// # Safety
/// The current call is Running; `pcap`/`ret` are non-null and valid; `p` is non-null.
#[inline(always)]
unsafe fn run_in_call(
    cx: &mut Ctx,
    pcap: *mut *const Capability,
    p: ClosurePtr,
    ret: *mut ClosurePtr,
) {
    let rts = cx.rts();
    let (status, result) = match create_thread(cx, rts, p) {
        None => (SchedulerStatus::HeapExhausted, ptr::null()),
        Some(tso) => {
            probe_mark!(CreateThread);
            let outcome = schedule_wait_thread(cx, rts, tso);
            thread_ended(cx, rts, tso);
            outcome
        }
    };
    // SAFETY: forwarded contract.
    unsafe { store_outcome(cx, pcap, ret, status, result) };
    probe_mark!(Schedule);
}

/// The call's thread has ended: with a global thread list, record it for removal (Note [thread
/// list pruning] in sched/threads.rs). A call detached by `hs_exit` holds no capability; its instance is
/// shutting down and the list goes with it.
#[inline(always)]
fn thread_ended(cx: &mut Ctx, rts: &Rts, tso: sched::TsoPtr) {
    if rts.config().policy.thread_ids == ThreadIds::GlobalLock
        && cx.ic().phase == CallPhase::Running
    {
        // SAFETY: the call's own TSO, live until the call ends (as for `finish_thread`).
        let id = unsafe { sched::thread_id(tso) };
        rts.thread_finished(&mut cx.guard(), id);
    }
}

/// Record the call's outcome in its InCall and the C caller's out-pointers.
///
/// # Safety
/// `pcap`/`ret` are non-null and valid for writes.
#[inline(always)]
unsafe fn store_outcome(
    cx: &mut Ctx,
    pcap: *mut *const Capability,
    ret: *mut ClosurePtr,
    status: SchedulerStatus,
    result: ClosurePtr,
) {
    let ic = cx.ic();
    ic.rstat = status;
    ic.ret = result;
    // SAFETY: per contract.
    unsafe {
        pcap.write(ic.cap);
        ret.write(result);
    }
}

/// `scheduleWaitThread` + the `schedule()` loop for one bound thread `tso` made by
/// [`create_thread`].
fn schedule_wait_thread(
    cx: &mut Ctx,
    rts: &Rts,
    tso: sched::TsoPtr,
) -> (SchedulerStatus, ClosurePtr) {
    let ic_addr = cx.ic.as_ptr() as *const ();
    let mut g = cx.guard();
    // SAFETY: `tso` was just initialised and is on no run queue.
    unsafe {
        sched::bind_thread(tso, ic_addr);
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
        if unsafe { sched::bound_of(t) } != ic_addr {
            // GHC barfs here ("finished bound thread that isn't mine"); the model's run queues
            // only ever hold the running call's thread, so this is an internal error.
            return internal_error("schedule: finished bound thread that isn't mine");
        }
        // SAFETY: `t` is live; its stack holds the closure pushed by `init_thread`.
        let closure = unsafe { sched::thread_closure(t) };
        let mut env = Env { cx: &mut *cx };
        // SAFETY: `closure` came through `rts_apply`/`rts_mkInt` or is a static closure (C API
        // contract); the evaluator checks every info pointer against the model's tables.
        let r = unsafe { sched::eval_io(closure, &mut env) };
        match r {
            Ok(v) => {
                // SAFETY: `t` is still live (reused storage, or a pinned/current nursery buffer).
                unsafe { sched::finish_thread(t) };
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
pub(crate) fn create_thread(cx: &mut Ctx, rts: &Rts, p: ClosurePtr) -> Option<sched::TsoPtr> {
    let (tso, stack) = match rts.config().policy.thread_objects {
        ThreadObjects::ReusePerInCall => {
            let mut g = cx.guard();
            let no = g.cap().no;
            let id_for = |_| rts.new_thread_id(&mut g);
            return Some(cx.ic().tso.new_thread(id_for, no, p));
        }
        ThreadObjects::FreshInNursery => {
            let stack = cx.alloc(sched::STACK_WORDS)?;
            let tso = cx.alloc(sched::TSO_WORDS)?;
            cx.guard().cap().stats.tsos_allocated(1);
            // SAFETY: nursery allocations are non-null.
            unsafe { (NonNull::new_unchecked(tso), NonNull::new_unchecked(stack)) }
        }
    };
    let mut g = cx.guard();
    let id = rts.new_thread_id(&mut g);
    // SAFETY: `tso`/`stack` are TSO_WORDS/STACK_WORDS words owned by this call.
    unsafe { sched::init_thread(tso, stack, id, g.cap().no, p) };
    Some(tso)
}

/// The evaluator's view of a running call.
struct Env<'a> {
    cx: &'a mut Ctx,
}

impl sched::EvalEnv for Env<'_> {
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

/// What `rts_checkSchedStatus` decided (the FFI layer carries out a thread exit).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum StatusAction {
    Continue,
    /// GHC's `shutdownThread()`: the capability is released; end this OS thread.
    ExitThread,
}

/// The common case of `rts_checkSchedStatus`: this thread's running call holds `cap` and ended
/// `Success`, so there is nothing to report. False sends the caller to [`check_sched_status`].
#[inline]
pub(crate) fn sched_status_is_success(cap: *const Capability) -> bool {
    let Ok(mut cx) = Ctx::current("rts_checkSchedStatus") else {
        return false;
    };
    let ic = cx.ic();
    ic.phase == CallPhase::Running && ptr::eq(ic.cap, cap) && ic.rstat == SchedulerStatus::Success
}

/// Port of `rts_checkSchedStatus`.
pub(crate) fn check_sched_status(
    site: &str,
    cap: *const Capability,
) -> Result<StatusAction, CallInError> {
    let mut cx = Ctx::current("rts_checkSchedStatus")?;
    if cx.ic().phase == CallPhase::Abandoned {
        return Ok(StatusAction::Continue);
    }
    cx.check_cap(cap, "rts_checkSchedStatus")?;
    let (kind, msg) = match cx.ic().rstat {
        SchedulerStatus::Success => return Ok(StatusAction::Continue),
        SchedulerStatus::Killed => {
            let why = cx.ic().exception.take().unwrap_or_default();
            (
                ExitKind::Process(EXIT_FAILURE),
                format!("{site}: uncaught exception: {why}"),
            )
        }
        SchedulerStatus::Interrupted => (ExitKind::Thread, format!("{site}: interrupted")),
        SchedulerStatus::HeapExhausted => (
            ExitKind::Process(EXIT_HEAPOVERFLOW),
            format!("{site}: Return code (4) not ok (heap exhausted)"),
        ),
        SchedulerStatus::NoStatus => (
            ExitKind::Process(EXIT_FAILURE),
            format!("{site}: Return code (0) not ok"),
        ),
    };
    let observed = crate::error::has_rust_hook();
    if kind == ExitKind::Thread && !observed {
        // GHC: rts_unlock(cap) then shutdownThread(); the FFI layer ends the thread.
        crate::error::report_and_exit(kind, msg);
        unlock(cap)?;
        return Ok(StatusAction::ExitThread);
    }
    if cx.ic().phase == CallPhase::Running {
        cx.ic().phase = CallPhase::Abandoned;
    }
    crate::error::report_and_exit(kind, msg);
    Ok(StatusAction::Continue)
}

/// Port of `rts_getInt`: read an `I#` made by this call (or a static small int).
pub(crate) fn get_int(p: ClosurePtr) -> Result<i64, CallInError> {
    let call = "rts_getInt";
    let not_int = |detail: String| CallInError::NotAnInt { call, detail };
    if p.is_null() {
        let quiet = Ctx::current(call).is_ok_and(|mut cx| cx.ic().phase != CallPhase::Running);
        return if quiet {
            Ok(0)
        } else {
            Err(CallInError::NullArgument {
                call,
                what: "the closure",
            })
        };
    }
    if heap::is_intlike(p) {
        // SAFETY: `p` points into the static small-int table.
        return Ok(unsafe { heap::payload(p, 0) } as i64);
    }
    let mut cx = Ctx::current(call)?;
    if cx.ic().phase != CallPhase::Running {
        return Err(not_int(format!(
            "closure {p:p}: this thread's call-in holds no capability"
        )));
    }
    let addr = heap::untag(p);
    let mut g = cx.guard();
    let n = g.nursery();
    if !n.owns(addr) {
        let why = if n.is_stale(addr) {
            "is in nursery memory that has been reclaimed since it was made"
        } else {
            "is neither in this call's nursery nor a static closure"
        };
        return Err(not_int(format!("closure {p:p} {why}")));
    }
    // SAFETY: `addr` is inside the allocated part of the held capability's nursery, so its
    // header and (for an I#) payload words are readable.
    unsafe {
        let info = heap::info_of(p);
        if !std::ptr::eq(info, &heap::IZH_CON_INFO) {
            let name = if heap::is_known_info(info) {
                std::ffi::CStr::from_ptr((*info).name)
                    .to_string_lossy()
                    .into_owned()
            } else {
                "an unknown object".into()
            };
            return Err(not_int(format!("closure {p:p} is {name}, not an I#")));
        }
        Ok(heap::payload(p, 0) as i64)
    }
}

/// Port of `rts_unlock`: release the capability (hand-off) and pop the InCall.
pub(crate) fn unlock(cap: *const Capability) -> Result<(), CallInError> {
    let mut cx = Ctx::current("rts_unlock")?;
    cx.check_cap(cap, "rts_unlock")?;
    let rts = cx.rts();
    // A detached call never kept its capability; an abandoned one (failure seen by a test hook)
    // still holds it.
    if matches!(cx.ic().phase, CallPhase::Running | CallPhase::Abandoned) {
        unpin_all(cx.ic());
        // SAFETY: Running/Abandoned calls hold `ic.cap` (checked by `check_cap` above).
        let g = unsafe { CapabilityGuard::assume_held(&*cx.ic().cap) };
        cx.task().last_cap.set(Some(rts.hint_for(g.cap())));
        rts.release(g);
    }
    probe_mark!(CapRelease);
    // Take the Task before the pop: past `MAX_SPARE_INCALLS` the pop frees the InCall that
    // `cx` points to (found by valgrind in scripts/sanitize.sh, nested call-ins to depth 64).
    let task = cx.task();
    incall::pop_incall(task);
    set_top_incall(task.incall.get());
    probe_mark!(IncallPop);
    Ok(())
}

fn unpin_all(ic: &mut InCall) {
    for b in ic.pins.drain(..) {
        // SAFETY: pinned buffers stay alive while pinned (their nursery is only dropped by
        // `hs_exit` when no buffer is pinned).
        unsafe { b.as_ref() }.unpin();
    }
}

/// Port of `suspendThread` + `resumeThread` around a safe foreign call made by the body of an
/// exported function: release the capability, run `f` (which may call in again), reacquire.
pub fn safe_foreign_call<R>(f: impl FnOnce() -> R) -> Result<R, CallInError> {
    let call = "rtscore_safe_ccall";
    let mut cx = Ctx::current(call)?;
    if cx.ic().phase != CallPhase::Running {
        return Err(CallInError::NotHeld {
            call,
            detail: "not called from inside a running call-in".into(),
        });
    }
    let rts = cx.rts();
    let mut g = cx.guard();
    let cap = g.cap();
    g.nursery().pin_current(&mut cx.ic().pins);
    cx.task().last_cap.set(Some(rts.hint_for(cap)));
    {
        let ic = cx.ic();
        ic.suspended_cap = ic.cap;
        ic.cap = ptr::null();
        ic.phase = CallPhase::Suspended;
    }
    rts.suspended_inc();
    rts.release(g);
    let r = f();
    rts.suspended_dec();
    let prefer = cx.ic().suspended_cap;
    let g = rts.reacquire_for(cx.task(), prefer);
    let ic = cx.ic();
    ic.cap = g.cap();
    let (g, ready) = rts.prepare_nursery(g);
    if !ready {
        detach(rts, g, ic);
    } else {
        ic.phase = CallPhase::Running;
    }
    Ok(r)
}

/// `rtscore_throw`: the running body raises an exception the call ends with (`Killed`).
pub(crate) fn throw(what: String) -> Result<(), CallInError> {
    let mut cx = Ctx::current("rtscore_throw")?;
    cx.ic().exception = Some(what);
    Ok(())
}

/// `rtscore_allocate`: heap allocation by the body of an exported function.
pub(crate) fn allocate(words: usize) -> Result<*mut Word, CallInError> {
    let call = "rtscore_allocate";
    let mut cx = Ctx::current(call)?;
    if cx.ic().phase != CallPhase::Running {
        return Err(CallInError::NotHeld {
            call,
            detail: "not called from inside a running call-in".into(),
        });
    }
    match cx.alloc(words.max(1)) {
        Some(p) => Ok(p),
        None => {
            cx.ic().heap_overflow = true;
            Ok(ptr::null_mut())
        }
    }
}

/// Run a Rust function as the body of an exported `Int -> IO Int`: a panic becomes an
/// uncaught Haskell exception (`Killed`), never an unwind into C.
pub fn run_rust_body(x: i64, f: fn(i64) -> i64) -> i64 {
    match std::panic::catch_unwind(|| f(x)) {
        Ok(v) => v,
        Err(e) => {
            let msg = e
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| e.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            let _ = throw(msg);
            0
        }
    }
}

/// Port of `rts_setInCallCapability` (without the CPU binding, done by the FFI layer).
pub(crate) fn set_incall_capability(pref: i32) -> Result<(), CallInError> {
    let call = "rts_setInCallCapability";
    if pref < 0 {
        return Err(CallInError::BadArgument {
            call,
            detail: format!("capability index {pref} is negative"),
        });
    }
    let t = task::get_my_task().map_err(|_| CallInError::ThreadExiting { call })?;
    // SAFETY: this thread's live Task.
    unsafe { t.as_ref() }.preferred_capability.set(pref);
    Ok(())
}

/// Port of `rts_pinThreadToNumaNode`'s bookkeeping: set the Task's node.
pub(crate) fn pin_thread_to_numa_node(node: i32) -> Result<(), CallInError> {
    let call = "rts_pinThreadToNumaNode";
    let rts = rts::current()
        .filter(|r| !r.is_exited())
        .ok_or(CallInError::NotInitialised { call })?;
    let n_nodes = rts.config().numa.n_nodes as i32;
    if !(0..n_nodes).contains(&node) {
        return Err(CallInError::BadArgument {
            call,
            detail: format!("NUMA node {node} does not exist (nodes 0..{})", n_nodes - 1),
        });
    }
    let t = task::get_my_task().map_err(|_| CallInError::ThreadExiting { call })?;
    // SAFETY: this thread's live Task.
    let task = unsafe { t.as_ref() };
    task.node.set(node as u32);
    task.node_set.set(true);
    Ok(())
}
