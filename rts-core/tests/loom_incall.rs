//! Loom model of InCall push / pop / spare reuse with a nested call-in (`incall.rs`), through
//! the real C API on a one-capability RTS.
//!
//! Run by `scripts/loom.sh` (`RUSTFLAGS="--cfg rts_loom"`, `LOOM_MAX_PREEMPTIONS=2`). Under loom
//! `MAX_SPARE_INCALLS` is 1 (so that both bounds are reached): popping the nested InCall fills the spare list, so
//! popping the outer one finds it full and frees it, and the next call reuses the spare.
//! Checked in every interleaving: every result; the stack is empty between calls; the spare
//! list never exceeds its bound; no InCall outlives its Task (the process-wide live count is
//! back where it started once the Tasks are freed); the capability hand-offs between the two
//! threads (one of them suspended in a safe foreign call) never lose a call.
#![cfg(rts_loom)]

mod loom_common;

use loom::thread;

use loom_common::{FOO, call, init_small, wait_for_task_destructors};
use rts_core::scaffolding::{MAX_SPARE_INCALLS, live_incalls};

rts_core::define_io_int_fun!(static NESTER = nester);

/// `nester x = (+ 1) <$> c_function_foo x` through a safe foreign call: a nested call-in on the
/// same OS thread, made while the outer call has given up its capability.
fn nester(x: i64) -> i64 {
    rts_core::safe_foreign_call(|| call(&FOO, x)).expect("inside a call-in") + 1
}

fn my_task() -> &'static rts_core::scaffolding::Task {
    let t = rts_core::scaffolding::my_task()
        .unwrap()
        .expect("called in before");
    // SAFETY: this thread's Task lives until the thread exits.
    unsafe { t.as_ref() }
}

#[test]
fn nested_call_in_pushes_pops_and_reuses_spares() {
    loom::model(|| {
        let before = live_incalls();
        init_small();
        let nesting = thread::spawn(|| {
            assert_eq!(call(&NESTER, 10), 12);
            let t = my_task();
            assert!(t.is_stopped(), "both InCalls popped");
            assert_eq!(t.spare_incall_count(), MAX_SPARE_INCALLS);
            assert_eq!(call(&FOO, 1), 2, "the next call reuses the spare");
            assert_eq!(t.spare_incall_count(), MAX_SPARE_INCALLS);
        });
        let plain = thread::spawn(|| {
            assert_eq!(call(&FOO, 41), 42);
            assert!(my_task().is_stopped());
        });
        nesting.join().unwrap();
        plain.join().unwrap();
        wait_for_task_destructors();
        assert_eq!(live_incalls(), before, "no InCall outlived its Task");
        assert!(rts_core::hs_exit());
    });
}
