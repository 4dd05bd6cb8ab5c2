//! Loom models of Note [moving to a free capability] (`capability/heir.rs`, `handoff.rs`,
//! `select.rs`; the argument is in `capability/README.md`): a waiter committed to a busy
//! capability moves to another one that frees up, on a standalone instance of two capabilities
//! with the lock-free policies, through the real selection, wait and release code
//! (`rts_core::scaffolding::loom_model`).
//!
//! Run by `scripts/loom.sh` (`RUSTFLAGS="--cfg rts_loom"`, `LOOM_MAX_PREEMPTIONS=2`; `=1` is the
//! quick smoke setting). Shape: the main thread holds both capabilities A and B; a waiter whose
//! last capability was A asks for one, and commits to A (spins, becomes A's heir, polls, may
//! sleep); the main thread then frees B and waits for the waiter, still holding A. Checked in
//! every interleaving loom explores:
//! - no lost wake-up, every call finishes: the waiter gets a capability while A stays held, so
//!   it must have moved to B (by a poll, by the nudge of a sleeping heir, or by its check under
//!   the queue lock); a waiter left asleep on A is a loom deadlock at the join;
//! - never two owners: the waiter's capability is B, never A, which the main thread holds, and
//!   each holder counts in the capability's holder-only state (a loom `UnsafeCell`), so a
//!   holder not ordered after the previous one is a loom causality error;
//! - nothing is left behind: after everyone released, both capabilities are free, with no heir
//!   and nobody parked.
#![cfg(rts_loom)]

mod loom_common;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;

use loom_common::wait_for_task_destructors;
use rts_core::scaffolding::loom_model;

/// Branch points allowed per execution (loom's default is 1,000): the heir's polls, its sleep
/// and the selection's bitmap scans make long paths.
const MAX_BRANCHES: usize = 20_000;

/// When the main thread frees B.
#[derive(Clone, Copy)]
enum FreeB {
    /// Right after starting the waiter: the waiter may see B free while it selects, while it
    /// polls as heir, or under the queue lock as it goes to sleep (pair D2).
    AtOnce,
    /// Once the waiter, as A's heir, has counted itself among the sleeping heirs: it has looked
    /// for a free capability, or is about to, and then checks once more under the queue lock.
    WhenTheHeirGoesToSleep,
    /// Only once the waiter sleeps as A's heir: then only the release's nudge can move it.
    WhenTheHeirSleeps,
}

/// The main thread holds A and B; a waiter whose last capability was A asks for one; the main
/// thread frees B (`free_b`) and joins the waiter, still holding A; then the end state.
fn model(free_b: FreeB) {
    let mut builder = loom::model::Builder::new();
    builder.max_branches = builder.max_branches.max(MAX_BRANCHES);
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&runs);
    builder.check(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let rts = Arc::new(loom_model::instance(2));
        let mut a = loom_model::acquire_specific(&rts, 0);
        let mut b = loom_model::acquire_specific(&rts, 1);
        a.owned().next_thread_id += 1;
        b.owned().next_thread_id += 1;
        let waiter = {
            let rts = Arc::clone(&rts);
            thread::spawn(move || {
                let mut g = loom_model::acquire_after(&rts, 0);
                g.owned().next_thread_id += 1;
                let no = g.cap().no;
                loom_model::release(&rts, g);
                no
            })
        };
        match free_b {
            FreeB::AtOnce => {}
            FreeB::WhenTheHeirGoesToSleep => {
                while !loom_model::heirs_may_sleep() {
                    thread::yield_now();
                }
            }
            FreeB::WhenTheHeirSleeps => {
                while !loom_model::heir_is_asleep(rts.cap(0)) {
                    thread::yield_now();
                }
            }
        }
        loom_model::release(&rts, b);
        let got = waiter.join().unwrap();
        assert_eq!(
            got, 1,
            "the waiter took capability A, which the main thread holds"
        );
        loom_model::release(&rts, a);
        for i in 0..2 {
            assert_eq!(
                loom_model::state(rts.cap(i)),
                (false, false, false),
                "capability {i} ends free, with no heir and nobody parked"
            );
        }
        let mut b = loom_model::acquire_specific(&rts, 1);
        assert_eq!(b.owned().next_thread_id, 2, "both holders of B ran");
        loom_model::release(&rts, b);
        wait_for_task_destructors();
    });
    println!(
        "explored {} executions",
        runs.load(std::sync::atomic::Ordering::Relaxed)
    );
}

/// B frees up while the waiter selects, spins, commits to A or polls as A's heir.
#[test]
fn a_committed_heir_moves_to_a_capability_that_frees_up() {
    model(FreeB::AtOnce);
}

/// B frees up while the waiter goes to sleep as A's heir: its own check (before it parks, and
/// under the queue lock) or the release's nudge moves it.
#[test]
fn an_heir_going_to_sleep_sees_a_capability_that_frees_up() {
    model(FreeB::WhenTheHeirGoesToSleep);
}

/// B frees up while the waiter sleeps as A's heir: the release's nudge wakes it to move.
#[test]
fn a_sleeping_heir_is_nudged_to_a_capability_that_frees_up() {
    model(FreeB::WhenTheHeirSleeps);
}

/// Two waiters whose last capability was A: one becomes A's heir, the other queues behind it.
/// Once both wait, the main thread frees B, then A, and joins them. The heir moves to B (or
/// takes A), the queued one is appointed heir by a release of A and takes it: each gets one
/// capability, no capability ever has two holders, and nobody is left waiting. Three threads:
/// at most one preemption, whatever `LOOM_MAX_PREEMPTIONS` says (two ran for over ten minutes).
#[test]
fn the_queued_waiter_is_appointed_after_the_heir_moves() {
    let mut builder = loom::model::Builder::new();
    builder.max_branches = builder.max_branches.max(MAX_BRANCHES);
    builder.preemption_bound = Some(1);
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&runs);
    builder.check(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let rts = Arc::new(loom_model::instance(2));
        let holders: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let a = loom_model::acquire_specific(&rts, 0);
        let b = loom_model::acquire_specific(&rts, 1);
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let (rts, holders) = (Arc::clone(&rts), Arc::clone(&holders));
                thread::spawn(move || {
                    let mut g = loom_model::acquire_after(&rts, 0);
                    let no = g.cap().no as usize;
                    assert_eq!(holders[no].fetch_add(1, SeqCst), 0, "two holders of {no}");
                    g.owned().next_thread_id += 1;
                    holders[no].fetch_sub(1, SeqCst);
                    loom_model::release(&rts, g);
                })
            })
            .collect();
        // Both wait on A: one as its heir, the other parked behind it.
        while loom_model::state(rts.cap(0)) != (true, true, true) {
            thread::yield_now();
        }
        loom_model::release(&rts, b);
        loom_model::release(&rts, a);
        for w in waiters {
            w.join().unwrap();
        }
        for i in 0..2 {
            assert_eq!(
                loom_model::state(rts.cap(i)),
                (false, false, false),
                "capability {i} ends free, with no heir and nobody parked"
            );
        }
        wait_for_task_destructors();
    });
    println!(
        "explored {} executions",
        runs.load(std::sync::atomic::Ordering::Relaxed)
    );
}
