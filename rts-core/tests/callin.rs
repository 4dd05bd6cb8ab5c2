//! End-to-end call-ins through GHC's C API: results, threads, nesting, capabilities, exit.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::{FOO, call, start};
use rts_core::PolicySet;

const POLICIES: [PolicySet; 2] = [PolicySet::GHC, PolicySet::DEFAULT];

#[test]
fn every_result_is_x_plus_one_on_one_thread() {
    for p in POLICIES {
        let _rts = start(1, p);
        for x in (-1000..1000).chain([i64::MIN + 1, i64::MAX - 1, 1 << 40]) {
            assert_eq!(call(&FOO, x), x + 1, "policy {p}");
        }
    }
}

fn run_threads(threads: usize, calls: i64) -> u64 {
    let wrong = Arc::new(AtomicU64::new(0));
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let wrong = Arc::clone(&wrong);
            std::thread::spawn(move || {
                let base = t as i64 * 1_000_000;
                for i in 0..calls {
                    if call(&FOO, base + i) != base + i + 1 {
                        wrong.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    wrong.load(Ordering::Relaxed)
}

#[test]
fn one_two_and_eight_threads_over_two_capabilities() {
    for p in POLICIES {
        let _rts = start(2, p);
        for threads in [1, 2, 8] {
            assert_eq!(
                run_threads(threads, 5_000),
                0,
                "{threads} threads, policy {p}"
            );
        }
    }
}

rts_core::define_io_int_fun!(static NESTED = nested);

/// `nested n`: a safe foreign call that calls back in with `n - 1`; depth n+1 call-ins.
fn nested(n: i64) -> i64 {
    if n <= 0 {
        return 1;
    }
    rts_core::safe_foreign_call(|| call(&NESTED, n - 1)).expect("inside a call-in") + 1
}

#[test]
fn nested_call_ins_to_depth_64_from_several_threads() {
    for p in POLICIES {
        let _rts = start(2, p);
        assert_eq!(call(&NESTED, 64), 65, "policy {p}");
        let hs: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..20).all(|_| call(&NESTED, 64) == 65)))
            .collect();
        for h in hs {
            assert!(h.join().unwrap(), "policy {p}");
        }
    }
}

#[test]
fn small_nursery_is_reclaimed_and_results_stay_right() {
    for p in POLICIES {
        let cfg = rts_core::Config {
            n_capabilities: 2,
            nursery_bytes: 32 << 10,
            policy: p,
            ..Default::default()
        };
        let _rts = common::start_with(cfg);
        assert_eq!(run_threads(3, 20_000), 0, "policy {p}");
        let hs: Vec<_> = (0..3)
            .map(|_| std::thread::spawn(|| (0..200).all(|_| call(&NESTED, 20) == 21)))
            .collect();
        for h in hs {
            assert!(h.join().unwrap(), "nested with reclaims, policy {p}");
        }
    }
}

#[test]
fn set_num_capabilities_grows_and_shrinks_under_load() {
    for p in POLICIES {
        let _rts = start(1, p);
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..4)
            .map(|t| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut n = 0i64;
                    while !stop.load(Ordering::Relaxed) {
                        assert_eq!(call(&FOO, t * 1_000_000 + n), t * 1_000_000 + n + 1);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        for n in [2, 4, 1, 3, 2, 1] {
            rts_core::set_num_capabilities(n).unwrap();
            assert_eq!(rts_core::current().unwrap().n_capabilities(), n);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
        let total: i64 = workers.into_iter().map(|h| h.join().unwrap()).sum();
        assert!(total > 0);
    }
}

#[test]
fn short_lived_threads_leave_no_task_behind() {
    let _rts = start(2, PolicySet::DEFAULT);
    call(&FOO, 1); // this thread's own task exists from here on
    let before = rts_core::scaffolding::live_tasks();
    for round in 0..10 {
        let hs: Vec<_> = (0..50)
            .map(|i| std::thread::spawn(move || call(&FOO, i) == i + 1))
            .collect();
        for h in hs {
            assert!(h.join().unwrap(), "round {round}");
        }
    }
    assert!(
        rts_core::scaffolding::live_tasks() <= before,
        "tasks of exited threads are freed"
    );
}

#[test]
fn calls_after_exit_and_reinit_work_on_a_fresh_instance() {
    let g1 = {
        let _rts = start(2, PolicySet::DEFAULT);
        assert_eq!(call(&FOO, 41), 42);
        rts_core::current().unwrap().generation
    };
    let _rts = start(1, PolicySet::GHC);
    assert_eq!(
        call(&FOO, 41),
        42,
        "the task's stale capability hint is ignored"
    );
    assert!(rts_core::current().unwrap().generation > g1);
}
