//! Loom model of a nursery reclaim racing a nested call-in on the same capability
//! (`nursery.rs`, Note [nursery reuse never clobbers a live call]), through the real C API on a
//! one-capability RTS with the smallest nursery.
//!
//! Run by `scripts/loom.sh` (`RUSTFLAGS="--cfg rts_loom"`, `LOOM_MAX_PREEMPTIONS=2`). The outer
//! call allocates an object and fills it with a pattern, then makes a safe foreign call (it
//! gives up the capability; rule 2 pins its buffer) that calls in again. Meanwhile another
//! thread's call fills the nursery past its headroom, so whichever call acquires the capability
//! next reclaims it: the nested call, the other thread, or the outer call on its way back.
//! Checked in every interleaving: the outer call's object still holds its pattern after the
//! nested call and the reclaim (a reset of a pinned buffer would have overwritten it), and
//! every result is right.
#![cfg(rts_loom)]

mod loom_common;

use loom::thread;

use loom_common::{FOO, call, init_small, wait_for_task_destructors};
use rts_core::ffi::rtscore_allocate;
use rts_core::heap::Word;

/// Words of the outer call's object.
const OBJECT_WORDS: usize = 8;
/// More than half the 16 KiB nursery: after it, the next acquirer finds less than the headroom.
const FILL_WORDS: usize = rts_core::scaffolding::HEADROOM_WORDS + 64;

/// Allocate `words` in the running call's nursery and fill them with `pattern`.
fn alloc_filled(words: usize, pattern: Word) -> *mut Word {
    // SAFETY: called from a body during a call-in.
    let p = unsafe { rtscore_allocate(words as i64) };
    assert!(!p.is_null(), "{words} words fit in a fresh buffer");
    for i in 0..words {
        // SAFETY: `p` points to `words` words just allocated for this call.
        unsafe { p.add(i).write(pattern) };
    }
    p
}

rts_core::define_io_int_fun!(static FILLER = filler);

/// A call that uses up most of the nursery.
fn filler(x: i64) -> i64 {
    alloc_filled(FILL_WORDS, 0xF111);
    x + 1
}

rts_core::define_io_int_fun!(static OUTER = outer);

/// Allocate, call in again through a safe foreign call (and fill the nursery there too), check.
fn outer(x: i64) -> i64 {
    let obj = alloc_filled(OBJECT_WORDS, 0xAB_CDEF);
    let inner = rts_core::safe_foreign_call(|| call(&FILLER, x)).expect("inside a call-in");
    let nested_foo = rts_core::safe_foreign_call(|| call(&FOO, x)).expect("inside a call-in");
    for i in 0..OBJECT_WORDS {
        // SAFETY: the object was allocated by this call, which is still running.
        let w = unsafe { obj.add(i).read() };
        assert_eq!(
            w, 0xAB_CDEF,
            "word {i} of a live call's object was clobbered"
        );
    }
    inner + nested_foo
}

#[test]
fn reclaim_never_clobbers_a_suspended_call() {
    loom::model(|| {
        init_small();
        let nesting = thread::spawn(|| assert_eq!(call(&OUTER, 1), 4));
        let filling = thread::spawn(|| assert_eq!(call(&FILLER, 7), 8));
        nesting.join().unwrap();
        filling.join().unwrap();
        wait_for_task_destructors();
        assert!(rts_core::hs_exit());
    });
}
