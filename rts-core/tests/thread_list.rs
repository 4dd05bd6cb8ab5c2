//! The global thread list (`ThreadIds::GlobalLock`, GHC's `g0->threads` under `sched_mutex`)
//! stays bounded under every combination of thread-id, GC and thread-object policy: finished
//! threads leave it when the capability they ended on is reclaimed (or has a batch pending),
//! and a thread whose call is still running (suspended in a safe foreign call) stays on it.

mod common;

use common::{FOO, call, start_with};
use rts_core::policy::{GcPolicy, ThreadIds, ThreadObjects};
use rts_core::scaffolding::{THREAD_LIST_PRUNE_BATCH, thread_list};
use rts_core::{Config, PolicySet};

const CALLS: u64 = 1_000_000;
const THREADS: u64 = 2;
const CAPS: u32 = 2;
/// Calls between two looks at the list, per thread.
const SAMPLE_EVERY: u64 = 5_000;

fn policy(ids: ThreadIds, gc: GcPolicy, objects: ThreadObjects) -> PolicySet {
    PolicySet {
        thread_ids: ids,
        gc,
        thread_objects: objects,
        ..PolicySet::DEFAULT
    }
}

/// Make `CALLS` calls from `THREADS` threads; the longest thread list seen and its final length.
fn run(set: PolicySet, nursery_bytes: usize) -> (usize, usize) {
    let _rts = start_with(Config {
        n_capabilities: CAPS,
        nursery_bytes,
        policy: set,
        ..Config::default()
    });
    let rts = rts_core::current().expect("running");
    let longest = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                s.spawn(move || {
                    let mut longest = 0;
                    for i in 0..CALLS / THREADS {
                        let x = (t << 32 | i) as i64;
                        assert_eq!(call(&FOO, x), x + 1);
                        if i % SAMPLE_EVERY == 0 {
                            longest = longest.max(thread_list(rts).len());
                        }
                    }
                    longest
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .max()
            .unwrap()
    });
    (longest, thread_list(rts).len())
}

/// Live calls (at most one per caller) plus a pending batch per capability.
const BOUND: usize = THREADS as usize + CAPS as usize * THREAD_LIST_PRUNE_BATCH;

#[test]
fn the_thread_list_stays_bounded_under_every_policy_combination() {
    for ids in [ThreadIds::PerCapability, ThreadIds::GlobalLock] {
        for gc in [GcPolicy::PerCapability, GcPolicy::StopTheWorld] {
            for objects in [ThreadObjects::ReusePerInCall, ThreadObjects::FreshInNursery] {
                let set = policy(ids, gc, objects);
                let (longest, last) = run(set, rts_core::DEFAULT_NURSERY_BYTES);
                eprintln!(
                    "{ids:?} {gc:?} {objects:?}: {CALLS} calls, longest thread list {longest}, \
                     final {last}"
                );
                assert!(
                    longest <= BOUND,
                    "{set}: thread list reached {longest} > {BOUND}"
                );
                assert!(last <= BOUND, "{set}: thread list ends at {last} > {BOUND}");
                if ids == ThreadIds::PerCapability {
                    assert_eq!(longest, 0, "{set}: no global list without GlobalLock");
                }
            }
        }
    }
}

#[test]
fn a_per_capability_reclaim_prunes_the_threads_that_ended_there() {
    // GHC-sized threads (1 KiB in the nursery) in 64 KiB nurseries: a reclaim every ~50 calls,
    // so the list stays far below one batch; only the reclaim path can keep it there.
    let set = policy(
        ThreadIds::GlobalLock,
        GcPolicy::PerCapability,
        ThreadObjects::FreshInNursery,
    );
    let (longest, _) = run(set, 64 << 10);
    assert!(
        longest < THREAD_LIST_PRUNE_BATCH / 4,
        "longest thread list {longest}: the per-capability reclaim did not prune it"
    );
}

rts_core::define_io_int_fun!(static SUSPENDS = suspend_and_call_in);

/// Inside a safe foreign call: this call's own thread (the newest on the list when it starts)
/// must survive the prunes that many nested call-ins cause. Returns 1 if it did.
fn suspend_and_call_in(n: i64) -> i64 {
    let rts = rts_core::current().expect("running");
    let mine = *thread_list(rts)
        .iter()
        .max()
        .expect("this call's thread is listed");
    rts_core::safe_foreign_call(|| {
        for i in 0..n {
            assert_eq!(call(&FOO, i), i + 1);
        }
        let list = thread_list(rts);
        assert!(
            list.len() < n as usize,
            "the nested calls' threads were pruned"
        );
        i64::from(list.contains(&mine))
    })
    .expect("inside a call-in")
}

#[test]
fn a_suspended_calls_thread_stays_on_the_list() {
    for gc in [GcPolicy::PerCapability, GcPolicy::StopTheWorld] {
        for objects in [ThreadObjects::ReusePerInCall, ThreadObjects::FreshInNursery] {
            let set = policy(ThreadIds::GlobalLock, gc, objects);
            let _rts = start_with(Config {
                n_capabilities: 1,
                nursery_bytes: 64 << 10,
                policy: set,
                ..Config::default()
            });
            let nested = 3 * THREAD_LIST_PRUNE_BATCH as i64;
            assert_eq!(
                call(&SUSPENDS, nested),
                1,
                "{set}: the live thread was dropped"
            );
        }
    }
}
