//! Unit tests of the heir hand-off (`handoff.rs`) on one capability with real threads.

use std::sync::Arc;

use super::Capability;
use super::handoff::{HEIR_ASLEEP, HEIR_DUE_NOW, HEIR_MASK, PARKED};
use crate::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn grab_is_exclusive_and_release_frees() {
    let cap = Capability::new(0, 0, 0);
    let g = cap.try_grab().expect("a new capability is free");
    assert!(cap.try_grab().is_none());
    assert!(!g.release_lockfree());
    assert!(cap.try_grab().is_some());
}

/// Spawn a waiter that acquires with the spin-park protocol, counts its acquisition,
/// waits until `got` reaches `release_at`, and releases; returns its handle.
fn spawn_waiter(
    cap: &Arc<Capability>,
    got: &Arc<AtomicUsize>,
    release_at: usize,
) -> std::thread::JoinHandle<()> {
    let (cap, got) = (Arc::clone(cap), Arc::clone(got));
    std::thread::spawn(move || {
        let (g, _) = cap.acquire_spin_park();
        got.fetch_add(1, Ordering::SeqCst);
        wait_until(|| got.load(Ordering::SeqCst) >= release_at);
        g.release_lockfree();
    })
}

fn heir(cap: &Capability) -> usize {
    cap.state.load(Ordering::SeqCst) & HEIR_MASK
}

fn wait_until(mut cond: impl FnMut() -> bool) {
    while !cond() {
        std::thread::yield_now();
    }
}

#[test]
fn parked_waiter_always_gets_the_capability() {
    let cap = Arc::new(Capability::new(0, 0, 0));
    let g = cap.try_grab().expect("a new capability is free");
    let got = Arc::new(AtomicUsize::new(0));
    let waiters: Vec<_> = (0..3).map(|_| spawn_waiter(&cap, &got, 0)).collect();
    // Two of the three end up queued behind the heir, so the releases below appoint heirs.
    wait_until(|| cap.state.load(Ordering::SeqCst) & PARKED != 0);
    g.release_lockfree();
    for w in waiters {
        w.join().unwrap();
    }
    assert_eq!(got.load(Ordering::SeqCst), 3);
    assert_eq!(
        cap.state.load(Ordering::SeqCst),
        0,
        "free, no heir, nobody queued"
    );
}

/// The bound of Note [heir hand-off]: a release that finds an heir that is due (running or
/// asleep) hands it the capability; the releaser cannot take it back.
#[test]
fn ready_heir_is_never_passed_over() {
    for heir_state in [HEIR_DUE_NOW, HEIR_ASLEEP] {
        let cap = Arc::new(Capability::new(0, 0, 0));
        let g = cap.try_grab().expect("a new capability is free");
        let got = Arc::new(AtomicUsize::new(0));
        // The waiter holds on until the main thread bumps `got` to 2.
        let w = spawn_waiter(&cap, &got, 2);
        wait_until(|| heir(&cap) == heir_state || heir(&cap) == HEIR_ASLEEP);
        assert!(
            g.release_lockfree(),
            "release hands the capability to the heir"
        );
        assert!(
            cap.try_grab().is_none(),
            "the releaser barged past the heir"
        );
        wait_until(|| got.load(Ordering::SeqCst) == 1);
        got.fetch_add(1, Ordering::SeqCst);
        w.join().unwrap();
        assert!(cap.try_grab().is_some(), "the heir released it");
    }
}
