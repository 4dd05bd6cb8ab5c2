//! Shared helpers for rts-core's integration tests: the stub's call sequence from Rust, a
//! recording exit hook, and a lock that serialises tests that start their own RTS instance.
#![allow(dead_code)]

use std::ptr;
use std::sync::{Mutex, MutexGuard};

use rts_core::ffi::*;
use rts_core::heap::{ClosurePtr, StaticClosure, base_GHCziTopHandler_runIO_closure};
use rts_core::{Config, ExitEvent, PolicySet};

rts_core::define_io_int_fun!(pub static FOO = foo);

/// `foo x = return (x + 1)`.
pub fn foo(x: i64) -> i64 {
    x + 1
}

/// The call sequence GHC's generated stub makes, from Rust.
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

static SERIAL: Mutex<()> = Mutex::new(());

/// An RTS instance for one test; shut down on drop.
pub struct Instance {
    _serial: MutexGuard<'static, ()>,
}

pub fn start(n_caps: u32, policy: PolicySet) -> Instance {
    start_with(Config {
        n_capabilities: n_caps,
        policy,
        ..Config::default()
    })
}

pub fn start_with(config: Config) -> Instance {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    rts_core::hs_init_with(config).expect("hs_init");
    Instance { _serial: serial }
}

impl Drop for Instance {
    fn drop(&mut self) {
        rts_core::hs_exit();
    }
}

static EVENTS: Mutex<Vec<ExitEvent>> = Mutex::new(Vec::new());

fn record(e: &ExitEvent) {
    EVENTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(e.clone());
}

/// Install the recording exit hook and clear earlier events.
pub fn record_exits() {
    EVENTS.lock().unwrap_or_else(|e| e.into_inner()).clear();
    rts_core::set_exit_hook(Some(record));
}

/// Events recorded since `record_exits`.
pub fn exits() -> Vec<ExitEvent> {
    EVENTS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}
