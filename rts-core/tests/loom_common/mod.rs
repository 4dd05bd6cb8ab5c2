//! Shared by the loom models that run whole call-ins: the stub's call sequence, an RTS instance
//! per loom execution, and the wait for thread-local destructors that loom's `join` skips.
#![allow(dead_code)]

use std::ptr;

use rts_core::ffi::*;
use rts_core::heap::{ClosurePtr, StaticClosure, base_GHCziTopHandler_runIO_closure};
use rts_core::{Config, PolicySet};

rts_core::define_io_int_fun!(pub static FOO = foo);

/// `foo x = return (x + 1)`.
pub fn foo(x: i64) -> i64 {
    x + 1
}

/// The call sequence GHC's stub makes, from Rust.
pub fn call(closure: &StaticClosure<1>, x: i64) -> i64 {
    // SAFETY: the C API contract: we pass back what the RTS gave us.
    unsafe {
        let mut cap = rts_lock();
        let runio = &base_GHCziTopHandler_runIO_closure as *const _ as ClosurePtr;
        let f = closure as *const _ as ClosurePtr;
        let arg = rts_apply(cap, runio, rts_apply(cap, f, rts_mkInt(cap, x)));
        let mut ret: ClosurePtr = ptr::null();
        rts_inCall(&mut cap, arg, &mut ret);
        rts_checkSchedStatus(c"c_function".as_ptr(), cap);
        let r = rts_getInt(ret);
        rts_unlock(cap);
        r
    }
}

/// The smallest RTS: one capability (so every call contends), a 16 KiB nursery (the minimum:
/// two `HEADROOM_WORDS`, so a reclaim is one large allocation away), the lock-free policies.
pub fn init_small() {
    rts_core::hs_init_with(Config {
        n_capabilities: 1,
        max_capabilities: 1,
        nursery_bytes: 2 * rts_core::nursery::HEADROOM_WORDS * rts_core::heap::WORD_BYTES,
        policy: PolicySet::lockfree(),
        ..Config::default()
    })
    .expect("hs_init");
}

/// FIXME(loom): loom's `join` returns before the thread's locals are dropped (std's waits for
/// them). Wait until every Task is freed; a leak spins here until loom's branch limit fails.
pub fn wait_for_task_destructors() {
    while rts_core::task::live_tasks() != 0 {
        loom::thread::yield_now();
    }
}
