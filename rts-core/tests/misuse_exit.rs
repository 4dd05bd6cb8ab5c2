//! C-API misuse and call faults that end the process, each in a CHILD process: this test
//! binary re-executes itself with `RTS_MISUSE_CASE=<case>`, the child runs the case with no
//! Rust exit hook (so GHC's real exit path runs: message on stderr, the C `exitFn` hook, exit),
//! and the parent checks the exit status, the message (naming the call and the problem) and
//! that `exitFn` saw the same code. Cases GHC only warns about must exit 0 after their message.
//! `misuse.rs` covers the same calls in-process through the Rust hook; this file checks that
//! the process really behaves as GHC's does.

mod common;

use std::process::Command;
use std::ptr;

use common::{FOO, call};
use rts_core::ffi::*;
use rts_core::heap::ClosurePtr;
use rts_core::{Config, PolicySet};

const CASE_VAR: &str = "RTS_MISUSE_CASE";

/// GHC's `exitFn`: print the code so the parent sees the exit went through the hook.
extern "C" fn child_exit_fn(code: libc::c_int) {
    eprintln!("exitFn({code})");
}

fn init(n_caps: u32) {
    rts_core::hs_init_with(Config {
        n_capabilities: n_caps,
        policy: PolicySet::DEFAULT,
        ..Config::default()
    })
    .expect("hs_init");
}

rts_core::define_io_int_fun!(static THROWS = throws);
fn throws(_: i64) -> i64 {
    panic!("Prelude.head: empty list")
}

rts_core::define_io_int_fun!(static HOG = hog);
fn hog(x: i64) -> i64 {
    // SAFETY: called from a body during a call-in.
    unsafe { rtscore_allocate(1 << 40) };
    x
}

rts_core::define_io_int_fun!(static UNSAFE_REENTRY = reenter);
fn reenter(x: i64) -> i64 {
    call(&FOO, x)
}

rts_core::define_io_int_fun!(static EXIT_INSIDE = exit_inside);
fn exit_inside(x: i64) -> i64 {
    // SAFETY: exercising misuse: hs_exit from inside a call-in.
    unsafe { hs_exit() };
    x
}

rts_core::define_io_int_fun!(static DONE_INSIDE = done_inside);
fn done_inside(x: i64) -> i64 {
    // SAFETY: exercising misuse: hs_thread_done from inside a call-in (GHC ignores it).
    unsafe { hs_thread_done() };
    x + 1
}

/// Run one case in the child. Returns normally only for cases that do not exit.
fn run_case(case: &str) {
    // SAFETY: set before any RTS call, from the only thread using the RTS (GHC's contract).
    unsafe { exitFn = Some(child_exit_fn) };
    // SAFETY: deliberate C-API misuse; the RTS checks each argument before using it, which is
    // what each case demonstrates.
    unsafe {
        match case {
            "lock_before_init" => {
                rts_lock();
            }
            "unlock_not_held" => {
                init(2);
                let cap = rts_lock();
                let rts = rts_core::current().unwrap();
                let other = if ptr::eq(cap, rts.cap(0)) {
                    rts.cap(1)
                } else {
                    rts.cap(0)
                };
                rts_unlock(other);
            }
            "unlock_without_call" => {
                init(1);
                rts_unlock(0x1000 as *const _);
            }
            "get_int_not_an_int" => {
                init(1);
                let cap = rts_lock();
                let i = rts_mkInt(cap, 1000);
                rts_getInt(rts_apply(cap, i, i));
            }
            "get_int_from_another_nursery" => {
                init(2);
                // This thread holds one capability; the other thread's call gets the other
                // one and reads our closure, which is not in its capability's nursery.
                let cap = rts_lock();
                let i = rts_mkInt(cap, 1000) as usize;
                std::thread::spawn(move || {
                    let theirs = rts_lock();
                    rts_getInt(i as ClosurePtr);
                    rts_unlock(theirs);
                })
                .join()
                .unwrap();
                rts_unlock(cap);
            }
            "apply_null_closure" => {
                init(1);
                let cap = rts_lock();
                rts_apply(cap, ptr::null(), rts_mkInt(cap, 3));
            }
            "in_call_null_capability" => {
                init(1);
                let cap = rts_lock();
                let mut ret: ClosurePtr = ptr::null();
                rts_inCall(ptr::null_mut(), rts_mkInt(cap, 1), &mut ret);
            }
            "call_after_hs_exit" => {
                init(1);
                assert_eq!(call(&FOO, 1), 2);
                hs_exit();
                rts_lock();
            }
            "set_num_capabilities_huge" => {
                init(1);
                setNumCapabilities(u32::MAX);
            }
            "set_num_capabilities_zero" => {
                init(1);
                setNumCapabilities(0);
            }
            "set_in_call_capability_negative" => {
                init(1);
                rts_setInCallCapability(-1, 0);
            }
            "pin_to_missing_numa_node" => {
                init(1);
                rts_pinThreadToNumaNode(7);
            }
            "reentered_unsafely" => {
                init(1);
                call(&UNSAFE_REENTRY, 1);
            }
            "hs_exit_inside_call_in" => {
                init(1);
                call(&EXIT_INSIDE, 1);
            }
            "hs_thread_done_inside_call_in" => {
                init(1);
                assert_eq!(call(&DONE_INSIDE, 1), 2);
                assert_eq!(call(&FOO, 2), 3, "the Task was kept and still works");
            }
            "call_after_hs_thread_done" => {
                init(1);
                assert_eq!(call(&FOO, 1), 2);
                hs_thread_done();
                assert_eq!(call(&FOO, 2), 3, "a new Task is made, as GHC does");
            }
            "fault_uncaught_exception" => {
                init(1);
                call(&THROWS, 1);
            }
            "fault_heap_exhausted" => {
                init(1);
                call(&HOG, 1);
            }
            other => panic!("unknown {CASE_VAR} {other:?}"),
        }
    }
}

/// The child's entry: does nothing unless the parent named a case.
#[test]
fn child_entry() {
    if let Ok(case) = std::env::var(CASE_VAR) {
        run_case(&case);
        eprintln!("case {case} returned");
    }
}

/// Run `case` in a child; check its exit code and that stderr has `message` (and `exitFn`).
fn expect_child(case: &str, code: i32, message: &str) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(CASE_VAR, case)
        .output()
        .expect("re-running the test binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{case}: exit status; stderr:\n{stderr}"
    );
    assert!(
        stderr.contains(message),
        "{case}: expected {message:?} in stderr:\n{stderr}"
    );
    if code != 0 {
        let hook = format!("exitFn({code})");
        assert!(
            stderr.contains(&hook),
            "{case}: exit went through exitFn; stderr:\n{stderr}"
        );
    } else {
        assert!(
            stderr.contains(&format!("case {case} returned")),
            "{stderr}"
        );
    }
    let line = stderr
        .lines()
        .find(|l| l.contains(message))
        .unwrap_or_default();
    println!("{case} -> exit {code}: {line}");
}

macro_rules! child_cases {
    ($($case:ident => ($code:expr, $msg:expr);)*) => {
        $(#[test] fn $case() { expect_child(stringify!($case), $code, $msg); })*
    };
}

child_cases! {
    lock_before_init => (1, "rts_lock: RTS is not initialised; call hs_init() first");
    unlock_not_held => (1, "is not held by this thread");
    unlock_without_call => (1, "rts_unlock: no call-in is in progress");
    get_int_not_an_int => (1, "stg_ap_2_upd, not an I#");
    get_int_from_another_nursery => (1, "is neither in this call's nursery nor a static closure");
    apply_null_closure => (1, "rts_apply: the function closure is NULL");
    in_call_null_capability => (1, "rts_inCall: the Capability ** argument is NULL");
    call_after_hs_exit => (1, "rts_lock: the RTS has been shut down by hs_exit()");
    set_num_capabilities_huge => (1, "setNumCapabilities: 4294967295 capabilities requested");
    set_num_capabilities_zero => (1, "setNumCapabilities: 0 capabilities requested");
    set_in_call_capability_negative => (1, "rts_setInCallCapability: capability index -1 is negative");
    pin_to_missing_numa_node => (1, "NUMA node 7 does not exist");
    reentered_unsafely => (1, "schedule: re-entered unsafely.");
    hs_exit_inside_call_in => (1, "hs_exit: called from inside a call-in");
    hs_thread_done_inside_call_in => (0, "hs_thread_done: a call-in is still active on this thread; ignored");
    call_after_hs_thread_done => (0, "returned");
    fault_uncaught_exception => (1, "c_function: uncaught exception: Prelude.head: empty list");
    fault_heap_exhausted => (251, "c_function: Return code (4) not ok");
}
