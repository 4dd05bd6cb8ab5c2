//! The `extern "C"` surface: GHC's C API names and signatures.
//!
//! Each function converts its arguments, delegates to the module that ports it (`api.rs` for
//! the call path, `rts.rs` for the lifecycle, `numa` for placement), and maps a
//! [`CallInError`] to GHC's behaviour: `errorBelch`-style message, then the exit path (GHC's
//! `exitFn`, or the Rust test hook). Every body runs inside `ffi_guard`, or for the entry
//! points the stub calls on every call-in inside `per_call_guard`, so a Rust panic never
//! unwinds into C. Values returned after a reported error (when a test hook returns) are safe
//! placeholders: a static closure, 0, or the unchanged capability.

use std::ffi::{CStr, c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use crate::api;
use crate::capability::Capability;
use crate::error::{self, CallInError, ExitKind};
use crate::heap::{ClosurePtr, Word};
use crate::probe_macros::{probe_mark, probe_start, probed};
use crate::rts;
use crate::rts_flags;

/// GHC's `HsInt`.
pub type HsInt = i64;

/// Run `f`; a misuse error goes through GHC's exit path, a panic is an internal error. Either
/// way the caller gets `fallback()` if the exit hook returns.
#[inline]
fn ffi_guard<T>(
    call: &'static str,
    fallback: impl FnOnce() -> T,
    f: impl FnOnce() -> Result<T, CallInError>,
) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            misuse_cold(&e);
            fallback()
        }
        Err(_) => {
            panicked_cold(call);
            fallback()
        }
    }
}

/// [`ffi_guard`] for the entry points the stub calls on every call-in, without `catch_unwind`
/// on their path: with it, a call-in runs 708 instructions instead of 697 (callgrind, the C
/// driver `tests/c/callin_driver.c`, 1 thread, lock-free policies). A misuse error is reported
/// the same way. A panic ends the process the same way (GHC's exit path with code 255 and the
/// same message), from the destructor of [`PanicExit`] as the panic unwinds; if a test's exit
/// hook returns instead, the process aborts (there is no placeholder to return mid-unwind).
#[inline(always)]
fn per_call_guard<T>(
    call: &'static str,
    fallback: impl FnOnce() -> T,
    f: impl FnOnce() -> Result<T, Box<CallInError>>,
) -> T {
    let on_panic = PanicExit(call);
    let r = f();
    std::mem::forget(on_panic);
    match r {
        Ok(v) => v,
        Err(e) => misuse_then(e, fallback),
    }
}

/// Report `e` (GHC's exit path), then the placeholder for a returning exit hook.
#[cold]
#[inline(never)]
fn misuse_then<T>(e: Box<CallInError>, fallback: impl FnOnce() -> T) -> T {
    misuse_cold(&e);
    fallback()
}

/// Reports a panic in `per_call_guard`'s body as an internal error when dropped by the unwind.
struct PanicExit(&'static str);

impl Drop for PanicExit {
    fn drop(&mut self) {
        panicked_then_abort(self.0);
    }
}

/// The internal-error exit of a panic in `per_call_guard`'s body; abort if the exit hook
/// returns (the unwind must not reach C).
#[cold]
#[inline(never)]
fn panicked_then_abort(call: &'static str) -> ! {
    panicked_cold(call);
    std::process::abort()
}

#[cold]
#[inline(never)]
fn misuse_cold(e: &CallInError) {
    error::misuse(e);
}

#[cold]
#[inline(never)]
fn panicked_cold(call: &'static str) {
    error::report_and_exit(
        ExitKind::Process(255),
        format!("{call}: internal error (panic in rts-core)"),
    );
}

/// A harmless closure to return after a reported error.
fn placeholder() -> ClosurePtr {
    crate::heap::intlike(0).expect("0 is a small int")
}

/// GHC's `exitFn`: called with the exit code before the RTS exits the process.
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
pub static mut exitFn: Option<unsafe extern "C" fn(c_int)> = None;

pub(crate) fn call_exit_fn(code: i32) {
    // SAFETY: `exitFn` is only written by C code before it starts the RTS (GHC's contract);
    // reading it by value through a raw pointer creates no reference to the static.
    let f = unsafe { (&raw const exitFn).read_volatile() };
    if let Some(f) = f {
        // SAFETY: the C program installed a function with this signature.
        unsafe { f(code) };
    }
}

/// GHC's `shutdownThread()`: end the calling OS thread. Call only from a frame chain with no
/// Rust destructors pending (a forced unwind does not run them reliably).
///
/// # Safety
/// The caller must be on a thread created by C (`pthread_create`), not by Rust's std, whose
/// thread entry would abort on the forced unwind.
pub(crate) unsafe fn shutdown_thread() -> ! {
    // SAFETY: per contract; pthread_exit never returns.
    unsafe { libc::pthread_exit(ptr::null_mut()) }
}

/// Port of `rts_lock()`.
///
/// # Safety
/// Callable from any OS thread after `hs_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rts_lock() -> *const Capability {
    probe_start!();
    per_call_guard("rts_lock", ptr::null, api::lock)
}

/// Port of `rts_unlock(cap)`.
///
/// # Safety
/// `cap` should be the capability `rts_lock`/`rts_inCall` gave this thread; anything else is
/// reported, never dereferenced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rts_unlock(cap: *const Capability) {
    per_call_guard("rts_unlock", || (), || api::unlock(cap))
}

/// Port of `rts_mkInt(cap, i)`.
///
/// # Safety
/// As for `rts_unlock`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rts_mkInt(cap: *const Capability, i: HsInt) -> ClosurePtr {
    probed!(
        MkInt,
        per_call_guard("rts_mkInt", placeholder, || api::mk_int(cap, i))
    )
}

/// Port of `rts_apply(cap, f, arg)`.
///
/// # Safety
/// As for `rts_unlock`; non-null `f`/`arg` must be closures from this RTS or static closures.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rts_apply(
    cap: *const Capability,
    f: ClosurePtr,
    arg: ClosurePtr,
) -> ClosurePtr {
    probed!(
        Apply,
        per_call_guard("rts_apply", placeholder, || api::apply(cap, f, arg))
    )
}

/// Port of `rts_inCall(&cap, p, &ret)` (GHC 9.2+).
///
/// # Safety
/// `cap` and `ret` must be null (reported) or valid for a read and write; `p` must be a closure
/// built with `rts_apply` from `runIO_closure` and an exported function's closure.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rts_inCall(
    cap: *mut *const Capability,
    p: ClosurePtr,
    ret: *mut ClosurePtr,
) {
    // SAFETY: forwarded contract.
    per_call_guard(
        "rts_inCall",
        || (),
        || unsafe { api::in_call(cap, p, ret, "rts_inCall") },
    )
}

/// Port of `rts_evalIO(&cap, p, &ret)` (GHC 9.0's name for the same call).
///
/// # Safety
/// As for `rts_inCall`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rts_evalIO(
    cap: *mut *const Capability,
    p: ClosurePtr,
    ret: *mut ClosurePtr,
) {
    // SAFETY: forwarded contract.
    per_call_guard(
        "rts_evalIO",
        || (),
        || unsafe { api::in_call(cap, p, ret, "rts_evalIO") },
    )
}

/// Port of `rts_checkSchedStatus(site, cap)`. `C-unwind` because GHC's `Interrupted` path ends
/// the calling thread (`pthread_exit`, a forced unwind through this frame).
///
/// # Safety
/// `site` must be null or a NUL-terminated string; `cap` as for `rts_unlock`.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn rts_checkSchedStatus(site: *const c_char, cap: *const Capability) {
    let continue_ = || api::StatusAction::Continue;
    let action = per_call_guard("rts_checkSchedStatus", continue_, || {
        // SAFETY: forwarded contract.
        api::check_sched_status(cap, move || unsafe { site_name(site) })
    });
    if action == api::StatusAction::ExitThread {
        // SAFETY: no Rust value with a destructor is alive in this frame; a C thread called us.
        unsafe { shutdown_thread() }
    }
    probe_mark!(CheckStatus);
}

/// The caller's name `rts_checkSchedStatus` puts in its messages.
///
/// # Safety
/// `site` must be null or a NUL-terminated string.
#[cold]
unsafe fn site_name(site: *const c_char) -> String {
    if site.is_null() {
        return "?".into();
    }
    // SAFETY: per contract, a non-null `site` is a C string.
    unsafe { CStr::from_ptr(site) }
        .to_string_lossy()
        .into_owned()
}

/// Port of `rts_getInt(p)`.
///
/// # Safety
/// `p` is checked against the caller's nursery and the static closures before it is read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rts_getInt(p: ClosurePtr) -> HsInt {
    probed!(
        GetInt,
        per_call_guard("rts_getInt", || 0, || api::get_int(p))
    )
}

/// `argv` as read by `hs_init`: each entry's pointer and its text (a null entry reads as "").
struct Argv {
    ptrs: Vec<*mut c_char>,
    text: Vec<String>,
}

/// Read `*argc` entries of `*argv`; nothing if any of the pointers is null.
///
/// # Safety
/// `argc`/`argv` as for `hs_init`.
unsafe fn read_argv(argc: *mut c_int, argv: *mut *mut *mut c_char) -> Argv {
    let mut out = Argv {
        ptrs: Vec::new(),
        text: Vec::new(),
    };
    // SAFETY: per contract, non-null `argc`/`argv` point to the C program's argc and argv.
    let (n, v) = match unsafe { (argc.as_ref(), argv.as_ref()) } {
        (Some(&n), Some(&v)) if !v.is_null() => (n.max(0) as usize, v),
        _ => return out,
    };
    for i in 0..n {
        // SAFETY: per contract, `v` holds `n` entries, each null or a C string.
        let p = unsafe { v.add(i).read() };
        // SAFETY: as above; a non-null entry is NUL-terminated.
        let text = unsafe { p.as_ref() }
            .map(|_| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned());
        out.ptrs.push(p);
        out.text.push(text.unwrap_or_default());
    }
    out
}

/// Rewrite `argv` in place to the program's arguments and set `*argc` to their count, as
/// GHC's `setupRtsFlags` does: kept entries move to the front, then a NULL terminator.
///
/// # Safety
/// As for `hs_init`, and `read` must be what [`read_argv`] returned for the same pointers.
unsafe fn rewrite_argv(
    argc: *mut c_int,
    argv: *mut *mut *mut c_char,
    read: &Argv,
    program: &[usize],
) {
    if argc.is_null() || argv.is_null() {
        return;
    }
    // SAFETY: per contract; the array holds `*argc + 1` slots (C's argv[argc] == NULL), and
    // `program` holds at most `*argc` indices, so every write is in bounds.
    unsafe {
        let v = *argv;
        if v.is_null() {
            return;
        }
        for (k, &i) in program.iter().enumerate() {
            v.add(k).write(read.ptrs[i]);
        }
        v.add(program.len()).write(ptr::null_mut());
        *argc = program.len() as c_int;
    }
}

/// Port of `hs_init(&argc, &argv)`: `+RTS -N[<n>] -maxN<n> -A<size> --policy=default|ghc -RTS`
/// (rts-core's `rts_flags`). The first `hs_init` removes the RTS arguments from `argv` and
/// updates `argc` as GHC does; a nested one (the RTS already running) only counts, like GHC's,
/// and leaves `argc`/`argv` alone without looking at them.
///
/// # Safety
/// `argc`/`argv` may be null; otherwise `*argv` must hold `*argc` NUL-terminated strings and
/// a NULL after them, and be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hs_init(argc: *mut c_int, argv: *mut *mut *mut c_char) {
    if rts::count_nested_init() {
        return ffi_guard("hs_init", || (), crate::foreign_exports::process);
    }
    // SAFETY: forwarded contract.
    let read = unsafe { read_argv(argc, argv) };
    let split = rts_flags::split_args(&read.text);
    // SAFETY: forwarded contract; `read` came from these pointers.
    unsafe { rewrite_argv(argc, argv, &read, &split.program) };
    ffi_guard(
        "hs_init",
        || (),
        || {
            let config = rts_flags::parse_options(&split.rts)?;
            crate::foreign_exports::process()?;
            rts::init(config).map(|_| ())
        },
    )
}

/// Port of `hs_init_with_rtsopts(&argc, &argv)`: the same as rts-core's `hs_init`, which
/// already accepts every option it knows (GHC's `RtsOptsAll`, Note [RTS option errors]).
///
/// # Safety
/// As for `hs_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hs_init_with_rtsopts(argc: *mut c_int, argv: *mut *mut *mut c_char) {
    // SAFETY: forwarded contract.
    unsafe { hs_init(argc, argv) }
}

/// Port of `hs_exit()`: interrupts calls in flight, waits for running ones, shuts down.
///
/// # Safety
/// Callable from any thread that is not inside a call-in.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hs_exit() {
    ffi_guard(
        "hs_exit",
        || (),
        || {
            if crate::task::my_task().ok().flatten().is_some_and(|t| {
                // SAFETY: this thread's live Task.
                !unsafe { t.as_ref() }.is_stopped()
            }) {
                return Err(CallInError::ExitFromCallIn);
            }
            if !rts::exit() {
                eprintln!("hs_exit: warning: too many hs_exit()s");
            }
            Ok(())
        },
    )
}

/// Port of `hs_thread_done()`: free this thread's Task now (GHC ignores it mid-call).
///
/// # Safety
/// Callable from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hs_thread_done() {
    if let Err(e) = crate::task::free_my_task() {
        eprintln!("{e}");
    }
}

/// Port of `setNumCapabilities(n)`.
///
/// # Safety
/// Callable from any thread not inside a call-in.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn setNumCapabilities(n: u32) {
    ffi_guard("setNumCapabilities", || (), || rts::set_num_capabilities(n))
}

/// Port of `rts_setInCallCapability(preferred_capability, affinity)`.
///
/// # Safety
/// Callable from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rts_setInCallCapability(preferred_capability: c_int, affinity: c_int) {
    ffi_guard(
        "rts_setInCallCapability",
        || (),
        || crate::numa::set_incall_capability(preferred_capability, affinity != 0),
    )
}

/// Port of `rts_pinThreadToNumaNode(node)`.
///
/// # Safety
/// Callable from any thread after `hs_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rts_pinThreadToNumaNode(node: c_int) {
    ffi_guard(
        "rts_pinThreadToNumaNode",
        || (),
        || crate::numa::pin_thread_to_numa_node(node),
    )
}

/// `rtscore_throw(what)`: the running exported function raises an exception.
///
/// # Safety
/// `what` must be null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rtscore_throw(what: *const c_char) {
    let msg = if what.is_null() {
        "exception".into()
    } else {
        // SAFETY: per contract, a non-null `what` is a C string.
        unsafe { CStr::from_ptr(what) }
            .to_string_lossy()
            .into_owned()
    };
    ffi_guard("rtscore_throw", || (), || api::throw(msg))
}

/// `rtscore_allocate(words)`: allocate in the current capability's nursery (NULL and
/// `HeapExhausted` if it cannot fit).
///
/// # Safety
/// Callable only from the body of an exported function during a call-in.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rtscore_allocate(words: HsInt) -> *mut Word {
    ffi_guard("rtscore_allocate", ptr::null_mut, || {
        let w = usize::try_from(words).map_err(|_| CallInError::BadArgument {
            call: "rtscore_allocate",
            detail: format!("{words} words"),
        })?;
        api::allocate(w)
    })
}

/// `rtscore_safe_ccall(fn, arg)`: a safe foreign call from Haskell (may call back in).
///
/// # Safety
/// `f` must be a valid function pointer; callable only from the body of an exported function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rtscore_safe_ccall(
    f: Option<unsafe extern "C" fn(HsInt) -> HsInt>,
    arg: HsInt,
) -> HsInt {
    ffi_guard(
        "rtscore_safe_ccall",
        || 0,
        || {
            let f = f.ok_or(CallInError::NullArgument {
                call: "rtscore_safe_ccall",
                what: "the function",
            })?;
            // SAFETY: per contract, `f` is a C function taking and returning HsInt.
            crate::sched::safe_foreign_call(|| unsafe { f(arg) })
        },
    )
}
