//! Steady state allocates nothing on the C heap per call (a counting global allocator).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::{FOO, call, start};
use rts_core::PolicySet;

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_calls_do_not_allocate() {
    for p in [PolicySet::DEFAULT, PolicySet::GHC] {
        let _rts = start(1, p);
        for i in 0..5_000 {
            call(&FOO, 1_000 + i); // warm up: Task, InCall, TSO storage, GC bookkeeping
        }
        ALLOCS.store(0, Ordering::Relaxed);
        COUNTING.store(true, Ordering::Relaxed);
        for i in 0..100_000 {
            assert_eq!(call(&FOO, 1_000 + i), 1_001 + i);
        }
        COUNTING.store(false, Ordering::Relaxed);
        assert_eq!(
            ALLOCS.load(Ordering::Relaxed),
            0,
            "C-heap allocations in 100k calls, policy {p}"
        );
    }
}
