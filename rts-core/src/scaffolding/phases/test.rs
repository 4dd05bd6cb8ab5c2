//! Every isolated phase runs, leaves nothing held, and moves the counters as its policy says.

use super::*;
use crate::config::Config;
use crate::policy::PolicySet;
use callin_vocab::Phase;
use std::sync::Mutex;

/// Tests that start their own RTS instance run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Nursery small enough that allocating phases reclaim it several times in a test.
const SMALL_NURSERY: usize = 64 * 1024;

fn with_rts(policy: PolicySet, caps: u32, f: impl FnOnce(&'static Rts)) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rts = crate::hs_init_with(Config {
        n_capabilities: caps,
        nursery_bytes: SMALL_NURSERY,
        policy,
        ..Config::default()
    })
    .expect("hs_init");
    /// Shuts the instance down even when `f` panics, so later tests can start theirs.
    struct Exit;
    impl Drop for Exit {
        fn drop(&mut self) {
            crate::hs_exit();
        }
    }
    let _exit = Exit;
    f(rts);
}

fn assert_nothing_held(rts: &Rts, phase: IsolatedPhase) {
    let t = task::my_task().unwrap().expect("the loop left a Task");
    // SAFETY: this thread's live Task.
    let stopped = unsafe { t.as_ref() }.is_stopped();
    assert!(stopped, "{phase:?} left an InCall");
    for i in 0..rts.n_capabilities() {
        assert!(
            !rts.cap(i).is_busy_hint(),
            "{phase:?} left capability {i} held"
        );
    }
}

#[test]
fn names_are_unique_and_every_phase_but_the_release_halves_has_a_variant() {
    for (i, p) in IsolatedPhase::ALL.iter().enumerate() {
        assert_eq!(IsolatedPhase::from_name(p.name()), Some(*p));
        assert!(IsolatedPhase::ALL[..i].iter().all(|q| q.name() != p.name()));
    }
    // cap_release and incall_pop are measured inside the cap_* and incall_* pairs.
    for phase in Phase::ALL {
        let has = IsolatedPhase::ALL.iter().any(|v| v.phase() == phase);
        let paired = matches!(phase, Phase::CapRelease | Phase::IncallPop);
        assert_eq!(has, !paired, "{phase}");
    }
}

#[test]
fn new_without_an_rts_is_an_error_naming_the_call() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Every test of this binary that starts an instance holds SERIAL and shuts it down.
    assert!(
        rts::current().is_none_or(|r| r.is_exited()),
        "an instance outlived its test"
    );
    let e = PhaseLoop::new(IsolatedPhase::MkInt).unwrap_err();
    assert!(e.to_string().contains("PhaseLoop::new"), "{e}");
}

#[test]
fn every_phase_runs_and_leaves_nothing_held() {
    for policy in [PolicySet::DEFAULT, PolicySet::GHC] {
        for caps in [1, 2] {
            with_rts(policy, caps, |rts| {
                for &phase in IsolatedPhase::ALL {
                    let mut l = PhaseLoop::new(phase).unwrap();
                    l.run(0);
                    // Enough operations to reclaim the small nursery several times.
                    l.run(if phase == IsolatedPhase::CapContended {
                        500
                    } else {
                        10_000
                    });
                    drop(l);
                    assert_nothing_held(rts, phase);
                }
            });
        }
    }
}

#[test]
fn a_thread_inside_a_call_in_is_refused() {
    with_rts(PolicySet::DEFAULT, 1, |_| {
        let cap = api::lock().unwrap();
        let e = PhaseLoop::new(IsolatedPhase::TaskLookupHot).unwrap_err();
        assert!(matches!(e, CallInError::TaskNotStopped), "{e}");
        api::unlock(cap).unwrap();
    });
}

#[test]
fn incall_phases_use_and_empty_the_spare_list() {
    with_rts(PolicySet::DEFAULT, 1, |_| {
        let t = task::get_my_task().unwrap();
        // SAFETY: this thread's live Task.
        let task = unsafe { t.as_ref() };
        PhaseLoop::new(IsolatedPhase::IncallSpare).unwrap().run(10);
        assert!(task.n_spare_incalls.get() >= 1);
        PhaseLoop::new(IsolatedPhase::IncallNoSpare)
            .unwrap()
            .run(10);
        assert_eq!(task.n_spare_incalls.get(), 0);
    });
}

#[test]
fn task_lookup_first_creates_a_task_per_operation() {
    with_rts(PolicySet::DEFAULT, 1, |_| {
        let (created, _) = crate::stats::tasks();
        PhaseLoop::new(IsolatedPhase::TaskLookupFirst)
            .unwrap()
            .run(25);
        let (after, _) = crate::stats::tasks();
        // Other tests may create tasks concurrently; ours made at least 25.
        assert!(after - created >= 25, "{created} -> {after}");
    });
}

#[cfg(feature = "stats")]
fn delta(rts: &Rts, f: impl FnOnce()) -> crate::stats::CapCounters {
    let before = rts.stats().total();
    f();
    rts.stats().total() - before
}

#[cfg(feature = "stats")]
#[test]
fn stats_move_as_each_policy_says() {
    const N: u64 = 100;
    for policy in [PolicySet::DEFAULT, PolicySet::GHC] {
        let ghc = policy == PolicySet::GHC;
        with_rts(policy, 2, |rts| {
            let run_n = |p: IsolatedPhase, n: u64| {
                let mut l = PhaseLoop::new(p).unwrap();
                delta(rts, || l.run(n))
            };
            let run = |p: IsolatedPhase| run_n(p, N);
            let d = run(IsolatedPhase::MkInt);
            assert_eq!(d.nursery_bytes, N * 16, "mk_int allocates one I# each");
            let d = run(IsolatedPhase::Apply);
            assert_eq!(d.nursery_bytes, N * 32, "apply allocates one thunk each");
            // 20 GHC-mode threads (20 KiB) fit in the nursery: no relock in between.
            let d = run_n(IsolatedPhase::CreateThread, 20);
            assert_eq!(d.tsos_allocated, if ghc { 20 } else { 0 });
            assert_eq!(d.lock_acquisitions, if ghc { 20 } else { 0 }, "sched_mutex");
            let d = run(IsolatedPhase::Schedule);
            assert_eq!(d.nursery_bytes, N * 16, "the result I#");
            let d = run(IsolatedPhase::CapUncontended);
            assert_eq!(
                d.lock_acquisitions,
                if ghc { 2 * N } else { 0 },
                "cap->lock"
            );
            let d = run(IsolatedPhase::Gc);
            assert_eq!(d.stw_gcs, if ghc { N } else { 0 });
            assert!(d.nursery_resets >= N, "{d:?}");
            let d = run(IsolatedPhase::CheckStatus);
            assert_eq!(d.nursery_bytes, 0);
            let d = run(IsolatedPhase::GetInt);
            assert_eq!(d.nursery_bytes, 0);
        });
    }
}
