//! `selection`: the cost of choosing a capability (`Rts::select_free` + release) at 4, 64 and
//! 256 capabilities on synthetic hwloc topologies (2, 4 and 8 nodes), for the lock-free
//! NUMA-aware policy and GHC's `find_capability_for_task`, in three cases: a free capability on
//! the task's node, only one free capability on the farthest node, and everything busy.
//! Ids: `selection/<case>/<policy>/<caps>`.

use callin_bench::numa::selection::{Case, SIZES, instance, select_once, with_case};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rts_core::PolicySet;
use rts_core::policy::{POLICY_SET_DEFAULT, POLICY_SET_GHC};

fn selection(c: &mut Criterion) {
    for (label, policy) in [
        (POLICY_SET_DEFAULT, PolicySet::DEFAULT),
        (POLICY_SET_GHC, PolicySet::GHC),
    ] {
        for &case in Case::for_policy(&policy) {
            let mut g = c.benchmark_group(format!("selection/{}/{label}", case.name()));
            for (caps, spec) in SIZES {
                let (rts, _) = instance(caps, spec, policy).expect("synthetic topology");
                with_case(&rts, case, || {
                    g.bench_with_input(BenchmarkId::from_parameter(caps), &caps, |b, _| {
                        b.iter(|| select_once(std::hint::black_box(&rts)))
                    });
                });
            }
            g.finish();
        }
    }
}

criterion_group!(benches, selection);
criterion_main!(benches);
