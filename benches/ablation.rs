//! `ablation`: `c_function` end to end with the default set switched one choice to GHC's, and
//! the `ghc` set switched one choice to the default's (plus both base sets). Ids
//! `ablation/<policy label>/t<threads>_c<caps>` (`default`, `ghc`, `default+wait=ghc`, ...), one
//! call per thread per iteration.
//!
//! Note: with GHC's global thread list (`ThreadIds::GlobalLock`) the list's upkeep is part of
//! what the set measures: every call links its thread under `sched_mutex`, and finished threads
//! leave the list when the capability they ended on is reclaimed, per capability or stop the
//! world, or once `THREAD_LIST_PRUNE_BATCH` are pending there (rts-core's Note [thread list
//! pruning]). The list stays bounded under every policy combination (rts-core
//! tests/thread_list.rs); it no longer grows by a word per call with per-capability GC.

use callin_bench::driver;
use callin_bench::matrix::{self, ablation, rts_core_cell};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rts_core::PolicySet;

/// (threads, capabilities) each set is measured at: one caller, and two on two capabilities.
const CONFIGS: &[(u32, u32)] = &[(1, 1), (2, 2)];

fn ablation(c: &mut Criterion) {
    let mut sets = vec![PolicySet::DEFAULT, PolicySet::GHC];
    sets.extend(ablation::sets().iter().map(|s| s.policy));
    for policy in sets {
        let id = policy.label();
        let mut g = c.benchmark_group(format!("ablation/{id}"));
        for &(threads, caps) in CONFIGS {
            rts_core_cell::with_instance(policy, caps, || {
                g.throughput(Throughput::Elements(u64::from(threads)));
                let bid = BenchmarkId::from_parameter(matrix::config_id(threads, caps));
                g.bench_function(bid, |b| {
                    b.iter_custom(|iters| {
                        driver::timed_rounds(rts_core_cell::c_function_target(), threads, iters)
                            .expect("checked c_function calls")
                    })
                });
            })
            .expect("rts-core instance");
        }
        g.finish();
    }
}

criterion_group!(benches, ablation);
criterion_main!(benches);
