//! With the `stats` feature: the `ghc` policy set reproduces GHC's measured per-call figures and
//! the lock-free set removes the locks and the per-call TSO. GHC 9.0.2 (`-threaded -O2`, one
//! thread calling `foo x = return (x + 1)` at `-A1m`): 3.02 `pthread_mutex_lock` per call
//! (`cap->lock` twice, `sched_mutex` once, GC and `sm_mutex` the rest), 1,208 bytes allocated per
//! call (`+RTS -s`), 1,337 minor collections per million calls.
#![cfg(feature = "stats")]

mod common;

use common::{FOO, call, start};
use rts_core::PolicySet;
use rts_core::stats::CapCounters;

/// Totals over `n` single-thread calls with arguments outside the small-int table.
fn measure(policy: PolicySet, n: i64) -> CapCounters {
    let _rts = start(1, policy);
    for i in 0..1000 {
        call(&FOO, 1_000_000 + i); // warm up: task, spare InCall
    }
    let before = rts_core::current().unwrap().stats().total();
    for i in 0..n {
        assert_eq!(call(&FOO, 1_000_000 + i), 1_000_001 + i);
    }
    rts_core::current().unwrap().stats().total() - before
}

#[test]
fn ghc_policy_reproduces_ghc_per_call_figures() {
    let n = 200_000;
    let d = measure(PolicySet::GHC, n);
    assert_eq!(d.calls, n as u64);
    let locks = d.lock_acquisitions as f64 / n as f64;
    assert!(
        (3.0..3.05).contains(&locks),
        "GHC: 3.02 mutex locks per call, model {locks:.3}"
    );
    let bytes = d.nursery_bytes as f64 / n as f64;
    assert!(
        (1100.0..1300.0).contains(&bytes),
        "GHC: ~1.2 KB per call, model {bytes:.0} B"
    );
    assert!(d.stw_gcs > 0);
    let calls_per_gc = n as f64 / d.stw_gcs as f64;
    assert!(
        (750.0..=900.0).contains(&calls_per_gc),
        "GHC: a GC every ~750 calls at -A1m, model {calls_per_gc:.0}"
    );
    assert_eq!(d.tsos_allocated, n as u64);
}

#[test]
fn default_policy_takes_no_lock_and_allocates_no_thread_object() {
    let n = 200_000;
    let d = measure(PolicySet::DEFAULT, n);
    assert_eq!(d.calls, n as u64);
    assert_eq!(d.lock_acquisitions, 0);
    assert_eq!(d.tsos_allocated, 0);
    assert_eq!(
        d.nursery_bytes,
        n as u64 * (16 + 64 + 16),
        "I# + 2 APs + result I#"
    );
    assert_eq!(
        d.spare_hits, n as u64,
        "every InCall comes from the spare list"
    );
    assert_eq!(d.stw_gcs, 0);
    assert!(d.nursery_resets > 0, "the 1 MiB nursery is reset in place");
}
