//! The call-in path behind GHC's C API: the operations the compiled stub calls, each the port of
//! its GHC function over the concept modules (`incall`, `select`, `gc`, `sched`, `heap`).
//!
//! Ports `rts_lock` / `rts_mkInt` / `rts_apply` / `rts_evalIO` + `rts_inCall` /
//! `rts_checkSchedStatus` / `rts_getInt` / `rts_unlock` (`rts/RtsAPI.c`), plus the model's
//! `rtscore_throw` and `rtscore_allocate` for function bodies. `ffi.rs` converts C arguments,
//! calls these and maps their errors to GHC's exit behaviour.
//!
//! Unsafe code here is of three kinds, each with its `SAFETY` argument: reading and writing the
//! out-pointers and closures the C caller passes (under the C API's contract, after null
//! checks), dereferencing this thread's own Task and InCall, and rebuilding the guard of the
//! capability a call holds across C API calls (`CapabilityGuard::assume_held`).
//!
//! Note [one ownership check]
//! --------------------------
//! Every entry point that takes a `Capability *` starts with the same check, written once:
//! [`Ctx::holding`] reads this thread's top InCall from one thread-local (`TOP_INCALL`, a mirror
//! of `Task::incall` that `lock`/`unlock` keep, in task.rs) and checks that the call is running
//! and holds exactly that capability, before it touches anything else. The check has two exits.
//! On success the entry point goes straight on with the common case (room in the nursery, a
//! call that succeeded, ...). On failure it takes a cold path that finds out what is wrong
//! ([`Ctx::not_holding`]: no call-in, a call inside a safe foreign call, another capability) and
//! reports it, or answers quietly for a call that still names the capability but no longer runs
//! (`Detached` by `hs_exit`, `Abandoned` after a failure a test hook saw). A bad
//! `Capability *` is only ever compared, never dereferenced.

use std::ptr;

use crate::capability::{Capability, CapabilityGuard};
use crate::error::{CallInError, EXIT_FAILURE, EXIT_HEAPOVERFLOW, ExitKind};
use crate::heap::{self, ClosurePtr, Word};
use crate::incall::{self, CallPhase, Ctx, InCall};
use crate::probe_macros::probe_mark;
use crate::rts::{self, Rts};
use crate::sched::{self, SchedulerStatus};
use crate::task::{self, Task};

/// Port of `rts_lock`: find or create the Task, push an InCall, acquire a capability.
#[inline]
pub(crate) fn lock() -> Result<*const Capability, Box<CallInError>> {
    let Some(rts) = rts::current().filter(|r| !r.is_exited()) else {
        return Err(lock_refused());
    };
    let Ok(t) = task::get_my_task() else {
        return Err(Box::new(CallInError::ThreadExiting { call: "rts_lock" }));
    };
    if Ctx::running().is_some() {
        return Err(Box::new(CallInError::ReenteredUnsafely));
    }
    probe_mark!(TaskLookup);
    // SAFETY: this thread's live Task.
    Ok(lock_task(rts, unsafe { t.as_ref() }))
}

/// Why `rts_lock` finds no running instance: never initialised, or shut down.
#[cold]
fn lock_refused() -> Box<CallInError> {
    let call = "rts_lock";
    Box::new(match rts::current() {
        None => CallInError::NotInitialised { call },
        Some(_) => CallInError::AfterExit { call },
    })
}

/// The rest of `rts_lock` once the checks passed: push an InCall, acquire a capability, make
/// room in its nursery. Ends detached (holding nothing) if the RTS shut down meanwhile.
#[inline(always)]
fn lock_task(rts: &'static Rts, task: &Task) -> *const Capability {
    debug_assert_eq!(
        task::top_incall(),
        task.incall.get(),
        "TOP_INCALL mirrors Task::incall"
    );
    let mut ic = incall::push_incall(task, rts);
    task::set_top_incall(ic.as_ptr());
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
        r.phase = CallPhase::Detached;
        rts.release(g);
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

/// Port of `rts_mkInt`.
#[inline]
pub(crate) fn mk_int(cap: *const Capability, i: i64) -> Result<ClosurePtr, Box<CallInError>> {
    let Some(mut cx) = Ctx::holding(cap) else {
        return mk_int_not_running(cap, i);
    };
    if let Some(p) = heap::intlike(i) {
        return Ok(p);
    }
    let Some(p) = cx.alloc(heap::INT_WORDS) else {
        return Err(heap_overflow("rts_mkInt"));
    };
    // SAFETY: `p` has INT_WORDS fresh words from the nursery.
    Ok(unsafe { heap::write_int(p, i) })
}

/// `rts_mkInt` for a call that does not hold `cap`: report it; a call that no longer runs gets
/// a harmless small int.
#[cold]
#[inline(never)]
fn mk_int_not_running(cap: *const Capability, i: i64) -> Result<ClosurePtr, Box<CallInError>> {
    Ctx::not_holding(cap, "rts_mkInt")?;
    Ok(heap::intlike(i).unwrap_or_else(small_zero))
}

/// Port of `rts_apply`.
#[inline]
pub(crate) fn apply(
    cap: *const Capability,
    f: ClosurePtr,
    arg: ClosurePtr,
) -> Result<ClosurePtr, Box<CallInError>> {
    let Some(mut cx) = Ctx::holding(cap) else {
        return apply_not_running(cap, f, arg);
    };
    check_apply_args(f, arg)?;
    let Some(p) = cx.alloc(heap::AP_WORDS) else {
        return Err(heap_overflow("rts_apply"));
    };
    // SAFETY: `p` has AP_WORDS fresh words from the nursery.
    Ok(unsafe { heap::write_ap(p, f, arg) })
}

/// `rts_apply` for a call that does not hold `cap`: report it (or a null argument); a call that
/// no longer runs gets the function back unapplied.
#[cold]
#[inline(never)]
fn apply_not_running(
    cap: *const Capability,
    f: ClosurePtr,
    arg: ClosurePtr,
) -> Result<ClosurePtr, Box<CallInError>> {
    Ctx::not_holding(cap, "rts_apply")?;
    check_apply_args(f, arg)?;
    Ok(f)
}

#[inline(always)]
fn check_apply_args(f: ClosurePtr, arg: ClosurePtr) -> Result<(), Box<CallInError>> {
    if f.is_null() || arg.is_null() {
        return Err(null_apply_arg(f));
    }
    Ok(())
}

#[cold]
fn null_apply_arg(f: ClosurePtr) -> Box<CallInError> {
    Box::new(CallInError::NullArgument {
        call: "rts_apply",
        what: if f.is_null() {
            "the function closure"
        } else {
            "the argument closure"
        },
    })
}

fn small_zero() -> ClosurePtr {
    heap::intlike(0).expect("0 is a small int")
}

#[cold]
fn heap_overflow(call: &'static str) -> Box<CallInError> {
    Box::new(CallInError::BadArgument {
        call,
        detail: "heap overflow: the nursery cannot hold the object".into(),
    })
}

/// Port of `rts_inCall` / `rts_evalIO` (`call` names which): create the bound thread, run the
/// scheduler until it finishes, store result and status. `*pcap` may come back as a different
/// capability.
///
/// # Safety
/// `pcap` and `ret` must be null (reported) or valid for a read and a write (the C API
/// contract); a non-null `p` must be a closure built with `rts_apply` / `rts_mkInt` or a static
/// closure.
#[inline]
pub(crate) unsafe fn in_call(
    pcap: *mut *const Capability,
    p: ClosurePtr,
    ret: *mut ClosurePtr,
    call: &'static str,
) -> Result<(), Box<CallInError>> {
    if pcap.is_null() || ret.is_null() {
        return Err(null_in_call_arg(pcap, call));
    }
    // SAFETY: `pcap` is non-null and, per the contract, valid for reads.
    let cap = unsafe { pcap.read() };
    let Some(mut cx) = Ctx::holding(cap) else {
        // SAFETY: forwarded contract; both out-pointers are non-null.
        return unsafe { in_call_not_running(cap, pcap, ret, call) };
    };
    if p.is_null() {
        return Err(null_closure_to_evaluate(call));
    }
    // SAFETY: forwarded contract; the call is Running and `p` is non-null.
    unsafe { run_in_call(&mut cx, pcap, p, ret) };
    Ok(())
}

#[cold]
fn null_closure_to_evaluate(call: &'static str) -> Box<CallInError> {
    Box::new(CallInError::NullArgument {
        call,
        what: "the closure to evaluate",
    })
}

#[cold]
fn null_in_call_arg(pcap: *mut *const Capability, call: &'static str) -> Box<CallInError> {
    Box::new(CallInError::NullArgument {
        call,
        what: if pcap.is_null() {
            "the Capability ** argument"
        } else {
            "the result pointer"
        },
    })
}

/// `rts_inCall` for a call that does not hold `cap`: report it, or end a call that no longer
/// runs `Interrupted` without running anything.
///
/// # Safety
/// As for [`in_call`], with both out-pointers non-null.
#[cold]
#[inline(never)]
unsafe fn in_call_not_running(
    cap: *const Capability,
    pcap: *mut *const Capability,
    ret: *mut ClosurePtr,
    call: &'static str,
) -> Result<(), Box<CallInError>> {
    let mut cx = Ctx::not_holding(cap, call)?;
    let status = SchedulerStatus::Interrupted;
    // SAFETY: forwarded contract.
    unsafe { store_outcome(&mut cx, pcap, ret, status, ptr::null()) };
    Ok(())
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
    let (status, result) = match sched::create_thread(cx, rts, p) {
        None => (SchedulerStatus::HeapExhausted, ptr::null()),
        Some(tso) => {
            probe_mark!(CreateThread);
            sched::schedule_wait_thread(cx, rts, tso)
        }
    };
    // SAFETY: forwarded contract.
    unsafe { store_outcome(cx, pcap, ret, status, result) };
    probe_mark!(Schedule);
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

/// What `rts_checkSchedStatus` decided (the FFI layer carries out a thread exit).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum StatusAction {
    Continue,
    /// GHC's `shutdownThread()`: the capability is released; end this OS thread.
    ExitThread,
}

/// Port of `rts_checkSchedStatus`; `site` gives the caller's name for the message (asked for
/// only when there is something to report).
#[inline]
pub(crate) fn check_sched_status(
    cap: *const Capability,
    site: impl FnOnce() -> String,
) -> Result<StatusAction, Box<CallInError>> {
    let Some(mut cx) = Ctx::holding(cap) else {
        return check_sched_status_not_running(cap, site);
    };
    if cx.ic().rstat == SchedulerStatus::Success {
        return Ok(StatusAction::Continue);
    }
    report_status(cx, cap, site())
}

#[cold]
#[inline(never)]
fn check_sched_status_not_running(
    cap: *const Capability,
    site: impl FnOnce() -> String,
) -> Result<StatusAction, Box<CallInError>> {
    let call = "rts_checkSchedStatus";
    if Ctx::current(call)?.ic().phase == CallPhase::Abandoned {
        return Ok(StatusAction::Continue);
    }
    let cx = Ctx::not_holding(cap, call)?;
    report_status(cx, cap, site())
}

/// Act on a status that is not `Success`: GHC's message, then its exit (the process, or for
/// `Interrupted` this OS thread after releasing the capability).
#[cold]
fn report_status(
    mut cx: Ctx,
    cap: *const Capability,
    site: String,
) -> Result<StatusAction, Box<CallInError>> {
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
#[inline]
pub(crate) fn get_int(p: ClosurePtr) -> Result<i64, Box<CallInError>> {
    if p.is_null() {
        return get_int_of_null();
    }
    if heap::is_intlike(p) {
        // SAFETY: `p` points into the static small-int table.
        return Ok(unsafe { heap::payload(p, 0) } as i64);
    }
    // The check of the entry points without a `Capability *`: a running call.
    let Some(mut cx) = Ctx::running() else {
        return Err(get_int_without_a_call(p));
    };
    let mut g = cx.guard();
    let n = g.nursery();
    if !n.owns(heap::untag(p)) {
        return Err(not_in_nursery(p, n));
    }
    // SAFETY: the header (and for an I#, the payload) lies in the allocated part of the held
    // capability's nursery.
    unsafe {
        if !std::ptr::eq(heap::info_of(p), &heap::IZH_CON_INFO) {
            return Err(not_an_int(p));
        }
        Ok(heap::payload(p, 0) as i64)
    }
}

/// `rts_getInt(NULL)`: 0 for a call that no longer runs (it got a placeholder result), else an
/// error.
#[cold]
fn get_int_of_null() -> Result<i64, Box<CallInError>> {
    let call = "rts_getInt";
    let quiet = Ctx::current(call).is_ok_and(|mut cx| cx.ic().phase != CallPhase::Running);
    if quiet {
        return Ok(0);
    }
    Err(CallInError::NullArgument {
        call,
        what: "the closure",
    }
    .into())
}

#[cold]
fn get_int_without_a_call(p: ClosurePtr) -> Box<CallInError> {
    let call = "rts_getInt";
    Box::new(match Ctx::current(call) {
        Err(e) => e,
        Ok(_) => CallInError::NotAnInt {
            call,
            detail: format!("closure {p:p}: this thread's call-in holds no capability"),
        },
    })
}

#[cold]
fn not_in_nursery(p: ClosurePtr, n: &crate::nursery::Nursery) -> Box<CallInError> {
    let why = if n.is_stale(heap::untag(p)) {
        "is in nursery memory that has been reclaimed since it was made"
    } else {
        "is neither in this call's nursery nor a static closure"
    };
    Box::new(CallInError::NotAnInt {
        call: "rts_getInt",
        detail: format!("closure {p:p} {why}"),
    })
}

/// The error for a closure of this call that is not an `I#`.
#[cold]
fn not_an_int(p: ClosurePtr) -> Box<CallInError> {
    // SAFETY: `get_int` checked that `p` is in the allocated part of the held capability's
    // nursery, so its header is readable; a known info table's name is a static C string.
    let name = unsafe {
        let info = heap::info_of(p);
        if heap::is_known_info(info) {
            std::ffi::CStr::from_ptr((*info).name)
                .to_string_lossy()
                .into_owned()
        } else {
            "an unknown object".into()
        }
    };
    Box::new(CallInError::NotAnInt {
        call: "rts_getInt",
        detail: format!("closure {p:p} is {name}, not an I#"),
    })
}

/// Port of `rts_unlock`: release the capability (hand-off) and pop the InCall.
#[inline]
pub(crate) fn unlock(cap: *const Capability) -> Result<(), Box<CallInError>> {
    match Ctx::holding(cap) {
        Some(cx) => {
            end_call(cx, true);
            Ok(())
        }
        None => unlock_not_running(cap),
    }
}

/// `rts_unlock` of a call that does not hold `cap`: report it, or end a call that no longer
/// runs. A detached call never kept its capability; an abandoned one (failure seen by a test
/// hook) still holds it.
#[cold]
#[inline(never)]
fn unlock_not_running(cap: *const Capability) -> Result<(), Box<CallInError>> {
    let mut cx = Ctx::not_holding(cap, "rts_unlock")?;
    let holds = cx.ic().phase == CallPhase::Abandoned;
    end_call(cx, holds);
    Ok(())
}

/// Release the capability the call holds (if `holds_cap`) and pop its InCall.
#[inline(always)]
fn end_call(mut cx: Ctx, holds_cap: bool) {
    if holds_cap {
        let rts = cx.rts();
        let ic = cx.ic();
        if !ic.pins.is_empty() {
            unpin_all(ic);
        }
        // SAFETY: a Running or Abandoned call holds `ic.cap` (the ownership check before).
        let g = unsafe { CapabilityGuard::assume_held(&*ic.cap) };
        cx.task().last_cap.set(Some(rts.hint_for(g.cap())));
        rts.release(g);
    }
    probe_mark!(CapRelease);
    // Take the Task before the pop: past `MAX_SPARE_INCALLS` the pop frees the InCall that
    // `cx` points to (found by valgrind in scripts/sanitize.sh, nested call-ins to depth 64).
    let task = cx.task();
    incall::pop_incall(task);
    task::set_top_incall(task.incall.get());
    probe_mark!(IncallPop);
}

#[cold]
fn unpin_all(ic: &mut InCall) {
    for b in ic.pins.drain(..) {
        // SAFETY: pinned buffers stay alive while pinned (their nursery is only dropped by
        // `hs_exit` when no buffer is pinned).
        unsafe { b.as_ref() }.unpin();
    }
}

/// `rtscore_throw`: the running body raises an exception the call ends with (`Killed`).
pub(crate) fn throw(what: String) -> Result<(), CallInError> {
    let mut cx = Ctx::current("rtscore_throw")?;
    cx.ic().exception = Some(what);
    Ok(())
}

/// `rtscore_allocate`: heap allocation by the body of an exported function.
pub(crate) fn allocate(words: usize) -> Result<*mut Word, CallInError> {
    let mut cx = Ctx::of_body("rtscore_allocate")?;
    match cx.alloc(words.max(1)) {
        Some(p) => Ok(p),
        None => {
            cx.ic().heap_overflow = true;
            Ok(ptr::null_mut())
        }
    }
}

/// Run a Rust function as the body of an exported `Int -> IO Int`: a panic becomes an
/// uncaught Haskell exception (`Killed`), never an unwind into C. Called by the closures
/// [`define_io_int_fun!`](crate::define_io_int_fun) defines.
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
