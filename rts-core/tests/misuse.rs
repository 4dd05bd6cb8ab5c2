//! C-API misuse: each case prints a message naming the call and the problem and takes GHC's
//! exit path, observed here through the Rust exit hook (which returns, so the test goes on).

mod common;

use std::ptr;

use common::{FOO, call, exits, record_exits, start};
use rts_core::ffi::*;
use rts_core::heap::ClosurePtr;
use rts_core::{ExitKind, PolicySet};

/// Run `f` with the recording hook and return the first exit event's message and kind.
fn first_exit(f: impl FnOnce()) -> (String, ExitKind) {
    record_exits();
    f();
    let ev = exits();
    rts_core::set_exit_hook(None);
    let e = ev
        .first()
        .expect("the misuse was reported through the exit hook");
    (e.message.clone(), e.kind)
}

#[test]
fn unlock_of_a_capability_this_thread_does_not_hold() {
    let _rts = start(2, PolicySet::DEFAULT);
    let (msg, kind) = first_exit(|| {
        // SAFETY: exercising misuse: a capability pointer held by nobody on this thread.
        unsafe {
            let cap = rts_lock();
            let other = rts_core::current().unwrap().cap(1) as *const _;
            let target = if ptr::eq(cap, other) {
                rts_core::current().unwrap().cap(0) as *const _
            } else {
                other
            };
            rts_unlock(target);
            rts_unlock(cap);
        }
    });
    assert!(msg.starts_with("rts_unlock: capability"), "{msg}");
    assert!(msg.contains("is not held by this thread"), "{msg}");
    assert_eq!(kind, ExitKind::Process(1));
    assert_eq!(call(&FOO, 1), 2, "the RTS is still usable");
}

#[test]
fn unlock_with_no_call_in_progress() {
    let _rts = start(1, PolicySet::DEFAULT);
    let (msg, _) = first_exit(|| {
        // SAFETY: exercising misuse with a garbage pointer; it is compared, never dereferenced.
        unsafe { rts_unlock(0x1234 as *const _) }
    });
    assert!(
        msg.contains("rts_unlock: no call-in is in progress"),
        "{msg}"
    );
}

#[test]
fn get_int_of_something_that_is_not_an_int() {
    let _rts = start(1, PolicySet::DEFAULT);
    let (msg, kind) = first_exit(|| {
        // SAFETY: exercising misuse: an application thunk passed to rts_getInt.
        unsafe {
            let cap = rts_lock();
            let i = rts_mkInt(cap, 1000);
            let ap = rts_apply(cap, i, i);
            assert_eq!(rts_getInt(ap), 0, "placeholder after the report");
            rts_unlock(cap);
        }
    });
    assert!(
        msg.contains("rts_getInt: closure") && msg.contains("stg_ap_2_upd, not an I#"),
        "{msg}"
    );
    assert_eq!(kind, ExitKind::Process(1));
}

#[test]
fn get_int_of_a_pointer_outside_the_nursery() {
    let _rts = start(1, PolicySet::DEFAULT);
    let local = [0usize; 2];
    let (msg, _) = first_exit(|| {
        // SAFETY: exercising misuse: the pointer is range-checked before any read.
        unsafe {
            let cap = rts_lock();
            rts_getInt(local.as_ptr());
            rts_unlock(cap);
        }
    });
    assert!(
        msg.contains("is neither in this call's nursery nor a static closure"),
        "{msg}"
    );
}

#[test]
fn null_capability_pointer_to_in_call() {
    let _rts = start(1, PolicySet::DEFAULT);
    let (msg, _) = first_exit(|| {
        // SAFETY: exercising misuse: null `Capability **` is reported before use.
        unsafe {
            let cap = rts_lock();
            let mut ret: ClosurePtr = ptr::null();
            rts_inCall(ptr::null_mut(), rts_mkInt(cap, 1), &mut ret);
            rts_evalIO(ptr::null_mut(), rts_mkInt(cap, 1), &mut ret);
            rts_unlock(cap);
        }
    });
    assert_eq!(msg, "rts_inCall: the Capability ** argument is NULL");
}

#[test]
fn apply_with_a_null_closure() {
    let _rts = start(1, PolicySet::DEFAULT);
    let (msg, _) = first_exit(|| {
        // SAFETY: exercising misuse: null closure.
        unsafe {
            let cap = rts_lock();
            rts_apply(cap, ptr::null(), rts_mkInt(cap, 3));
            rts_unlock(cap);
        }
    });
    assert_eq!(msg, "rts_apply: the function closure is NULL");
}

#[test]
fn double_init_with_a_different_capability_count() {
    let _rts = start(2, PolicySet::DEFAULT);
    let err = rts_core::hs_init_with(rts_core::Config {
        n_capabilities: 3,
        ..Default::default()
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("hs_init: already initialised with 2 capabilities"),
        "{err}"
    );
    // Same configuration: counted, like GHC's hs_init_count; one more hs_exit balances it.
    rts_core::hs_init_with(rts_core::Config {
        n_capabilities: 2,
        ..Default::default()
    })
    .unwrap();
    assert!(rts_core::hs_exit());
    assert_eq!(call(&FOO, 5), 6, "still running after the balanced hs_exit");
}

rts_core::define_io_int_fun!(static UNSAFE_REENTRY = reenter_unsafely);

/// A body that calls back into Haskell without a safe foreign call (a `foreign import unsafe`).
fn reenter_unsafely(x: i64) -> i64 {
    call(&FOO, x)
}

#[test]
fn rts_lock_reentered_from_inside_a_call() {
    let _rts = start(1, PolicySet::DEFAULT);
    let (msg, _) = first_exit(|| {
        call(&UNSAFE_REENTRY, 1);
    });
    assert!(msg.starts_with("schedule: re-entered unsafely."), "{msg}");
    assert_eq!(
        call(&FOO, 1),
        2,
        "the outer call finished and released its capability"
    );
}

#[test]
fn calls_after_hs_exit() {
    let rts = start(1, PolicySet::DEFAULT);
    drop(rts);
    let (msg, _) = first_exit(|| {
        // SAFETY: exercising misuse: rts_lock after shutdown returns NULL after the report.
        assert!(unsafe { rts_lock() }.is_null());
    });
    assert!(
        msg.contains("rts_lock: the RTS has been shut down by hs_exit()"),
        "{msg}"
    );
}

rts_core::define_io_int_fun!(static THROWS = throws);

fn throws(_: i64) -> i64 {
    panic!("boom from the exported function")
}

#[test]
fn uncaught_exception_ends_the_call_killed() {
    let _rts = start(1, PolicySet::DEFAULT);
    let (msg, kind) = first_exit(|| {
        assert_eq!(
            call(&THROWS, 1),
            0,
            "rts_getInt of the missing result is answered quietly"
        );
    });
    assert!(
        msg.starts_with("c_function: uncaught exception: boom"),
        "{msg}"
    );
    assert_eq!(kind, ExitKind::Process(1));
    assert_eq!(call(&FOO, 1), 2, "the killed call released its capability");
}

rts_core::define_io_int_fun!(static HOG = hog);

fn hog(x: i64) -> i64 {
    // SAFETY: called from a body during a call-in.
    let p = unsafe { rtscore_allocate(1 << 40) };
    assert!(p.is_null());
    x
}

#[test]
fn heap_exhausted_ends_the_call() {
    let _rts = start(1, PolicySet::DEFAULT);
    let (msg, kind) = first_exit(|| {
        call(&HOG, 1);
    });
    assert!(msg.contains("c_function: Return code (4) not ok"), "{msg}");
    assert_eq!(kind, ExitKind::Process(251));
}

#[test]
fn set_num_capabilities_out_of_range_and_bad_numa_arguments() {
    let _rts = start(1, PolicySet::DEFAULT);
    let (msg, _) = first_exit(|| {
        // SAFETY: exercising misuse: the count is checked.
        unsafe { setNumCapabilities(u32::MAX) }
    });
    assert!(
        msg.starts_with("setNumCapabilities: 4294967295 capabilities requested"),
        "{msg}"
    );
    let (msg, _) = first_exit(|| {
        // SAFETY: exercising misuse.
        unsafe { setNumCapabilities(0) }
    });
    assert!(msg.contains("0 capabilities requested"), "{msg}");
    let (msg, _) = first_exit(|| {
        // SAFETY: exercising misuse.
        unsafe { rts_setInCallCapability(-1, 0) }
    });
    assert_eq!(
        msg,
        "rts_setInCallCapability: capability index -1 is negative"
    );
    let (msg, _) = first_exit(|| {
        // SAFETY: exercising misuse.
        unsafe { rts_pinThreadToNumaNode(7) }
    });
    assert!(msg.contains("NUMA node 7 does not exist"), "{msg}");
}

#[test]
fn hs_thread_done_then_call_again_creates_a_new_task() {
    let _rts = start(1, PolicySet::DEFAULT);
    std::thread::spawn(|| {
        assert_eq!(call(&FOO, 1), 2);
        let t1 = rts_core::scaffolding::my_task().unwrap().unwrap();
        // SAFETY: not inside a call-in.
        unsafe { hs_thread_done() };
        assert!(
            rts_core::scaffolding::my_task().unwrap().is_none(),
            "the Task is freed"
        );
        assert_eq!(call(&FOO, 2), 3);
        assert!(
            rts_core::scaffolding::registry()
                .contains(rts_core::scaffolding::my_task().unwrap().unwrap())
        );
        let _ = t1;
    })
    .join()
    .unwrap();
}

#[test]
fn preferred_capability_is_used() {
    let _rts = start(2, PolicySet::DEFAULT);
    std::thread::spawn(|| {
        // SAFETY: plain setter.
        unsafe { rts_setInCallCapability(1, 0) };
        // SAFETY: the stub sequence; we only compare the capability pointer.
        unsafe {
            let cap = rts_lock();
            assert!(ptr::eq(cap, rts_core::current().unwrap().cap(1)));
            rts_unlock(cap);
        }
    })
    .join()
    .unwrap();
}
