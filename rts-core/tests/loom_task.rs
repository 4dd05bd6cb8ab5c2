//! Loom model of the Task registry (`task.rs`): insert at a thread's first call-in, removal by
//! `hs_thread_done` or by the thread-local destructor when the thread exits.
//!
//! Run by `scripts/loom.sh` (`RUSTFLAGS="--cfg rts_loom"`, `LOOM_MAX_PREEMPTIONS=2`; `=1` is the
//! smoke setting). Under loom a registry segment has 1 slot, so two threads race
//! to append a segment, and a slot freed by one thread is reused by the other.
//! Checked in every interleaving: a task is registered from its creation until it is freed;
//! the thread-local lookup returns the same task; no task outlives its thread (the live count is
//! back to zero once the threads are joined).
#![cfg(rts_loom)]

use loom::thread;

use rts_core::scaffolding::{free_my_task, get_my_task, live_tasks, my_task, registry};

fn register_and_check() -> std::ptr::NonNull<rts_core::scaffolding::Task> {
    assert!(my_task().unwrap().is_none(), "a fresh thread has no Task");
    let t = get_my_task().unwrap();
    assert!(registry().contains(t), "a new task is registered");
    assert_eq!(get_my_task().unwrap(), t, "the lookup is stable");
    t
}

#[test]
fn registry_insert_and_removal_at_thread_exit() {
    loom::model(|| {
        let early_free = thread::spawn(|| {
            let t = register_and_check();
            free_my_task().unwrap();
            assert!(
                my_task().unwrap().is_none(),
                "hs_thread_done cleared the slot"
            );
            // (Not `!registry().contains(t)`: the allocator may give `t`'s address to the other
            // thread's new Task at once.)
            let _ = t;
        });
        let exiting = thread::spawn(|| {
            let t = register_and_check();
            assert!(registry().contains(t));
        });
        early_free.join().unwrap();
        exiting.join().unwrap();
        // FIXME(loom): loom's join returns before the thread's locals are dropped (std's waits
        // for them), so wait for the destructors; a leaked task would spin here until loom's
        // branch limit fails the model.
        while live_tasks() != 0 {
            thread::yield_now();
        }
    });
}
