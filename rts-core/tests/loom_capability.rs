//! Loom models of capability acquire / release / hand-off on one capability
//! (`capability/handoff.rs`, `heir.rs`, `ghc_wait.rs`; the arguments are in
//! `capability/README.md`).
//!
//! Run by `scripts/loom.sh` (`RUSTFLAGS="--cfg rts_loom"`, `LOOM_MAX_PREEMPTIONS=2`; `=1` is the
//! quick smoke setting). Each model runs the crate's real code through
//! `rts_core::scaffolding::loom_model`; only the knobs differ.
//!
//! Shape of every model: the main thread holds the capability, two threads try to acquire it
//! (so at least one spins and parks), the main thread releases, everyone releases once done.
//! Checked in every interleaving loom explores:
//! - never two owners: a `holders` counter is 0 when a task enters, and every holder increments
//!   a counter in the capability's holder-only state (`owned`, a loom `UnsafeCell`), so a
//!   holder whose accesses are not ordered after the previous holder's is a loom causality error;
//! - no lost wake-up: with untimed parks, a waiter that is never handed the capability nor sees
//!   it free sleeps forever, which loom reports as a deadlock;
//! - a released capability reaches a waiter or becomes free: after all threads finish, the
//!   capability is neither `LOCKED` nor `PARKED`, and the counter shows every acquisition.
#![cfg(rts_loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;

use rts_core::Capability;
use rts_core::scaffolding::CapabilityGuard;
use rts_core::scaffolding::loom_model::{self, Knobs};

/// Branch points allowed per execution (loom's default is 1,000; `LOOM_MAX_BRANCHES` can raise it).
const MAX_BRANCHES: usize = 20_000;

/// Acquire/release pair under test.
#[derive(Clone, Copy)]
enum Protocol {
    SpinPark,
    Ghc,
}

impl Protocol {
    fn acquire(self, cap: &Capability) -> CapabilityGuard<'_> {
        match self {
            Protocol::SpinPark => loom_model::acquire_spin_park(cap),
            Protocol::Ghc => loom_model::acquire_ghc(cap),
        }
    }

    fn release(self, g: CapabilityGuard<'_>) {
        match self {
            Protocol::SpinPark => {
                loom_model::release_spin_park(g);
            }
            Protocol::Ghc => loom_model::release_ghc(g),
        }
    }
}

/// Enter as holder: nobody else holds it, and our view of `owned` follows the last holder's.
fn hold(cap: &Capability, p: Protocol, holders: &AtomicUsize) {
    let mut g = p.acquire(cap);
    assert_eq!(
        holders.fetch_add(1, SeqCst),
        0,
        "two owners of one capability"
    );
    g.owned().next_thread_id += 1;
    holders.fetch_sub(1, SeqCst);
    p.release(g);
}

/// Main holds first (and comes back for `main_rounds - 1` more); thread i makes `rounds[i]`
/// acquisitions; then the end state is checked.
fn model(p: Protocol, knobs: Knobs, main_rounds: u64, rounds: &'static [u64]) {
    let mut builder = loom::model::Builder::new();
    // A timed-out waiter retries (grab, spin, park) until the holder runs: each retry is a
    // dozen branch points, so such paths exceed loom's default of 1,000.
    builder.max_branches = builder.max_branches.max(MAX_BRANCHES);
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&runs);
    builder.check(move || {
        counted.fetch_add(1, SeqCst);
        let cap = Arc::new(loom_model::new_capability(knobs));
        let holders = Arc::new(AtomicUsize::new(0));
        let mut g = p.acquire(&cap);
        holders.fetch_add(1, SeqCst);
        let threads: Vec<_> = rounds
            .iter()
            .map(|&n| {
                let (cap, holders) = (Arc::clone(&cap), Arc::clone(&holders));
                thread::spawn(move || {
                    for _ in 0..n {
                        hold(&cap, p, &holders);
                    }
                })
            })
            .collect();
        g.owned().next_thread_id += 1;
        holders.fetch_sub(1, SeqCst);
        p.release(g);
        for _ in 1..main_rounds {
            hold(&cap, p, &holders);
        }
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(
            loom_model::state(&cap),
            (false, false, false),
            "a released capability ends free, with nobody left parked and no heir"
        );
        let mut g = p.acquire(&cap);
        let total = main_rounds + rounds.iter().sum::<u64>();
        assert_eq!(g.owned().next_thread_id, total, "every acquisition ran");
        p.release(g);
    });
    println!("explored {} executions", runs.load(SeqCst));
}

/// Untimed parks (Note [heir hand-off]): one waiter becomes the heir, the other queues (or
/// both race for the heir role); the heir becomes due, sleeps, and is handed the capability;
/// the release that finds the queue appoints the queued one as the next heir. A lost wake-up
/// deadlocks.
#[test]
fn spin_park_heir_and_queue_never_lose_a_wakeup() {
    let knobs = Knobs { timed_parks: false };
    model(Protocol::SpinPark, knobs, 1, &[1, 1]);
}

/// The holder comes back while one waiter is heir (a barge before the heir is due, or a grant
/// after), with queued parks that may time out (a release finding the queue emptied under it).
/// One waiter only: the timeouts multiply the retry paths past what CI can afford with two.
#[test]
fn spin_park_heir_with_a_returning_holder() {
    model(Protocol::SpinPark, Knobs { timed_parks: true }, 2, &[1]);
}

/// A returning waiter and a second one: heir turns in sequence, untimed.
#[test]
fn spin_park_heir_turns_with_a_returning_waiter() {
    model(Protocol::SpinPark, Knobs { timed_parks: false }, 1, &[2, 1]);
}

/// GHC's protocol: `cap->lock`, FIFO of returning tasks, per-task condvar, barging allowed.
/// Condvar waits are untimed, so a lost signal deadlocks.
#[test]
fn ghc_wait_queue_never_loses_a_wakeup() {
    model(Protocol::Ghc, Knobs::default(), 1, &[1, 1]);
}

/// GHC's protocol with a barger: one thread returns for a second round while the other waits.
#[test]
fn ghc_wait_queue_with_a_barger() {
    model(Protocol::Ghc, Knobs::default(), 1, &[2, 1]);
}
