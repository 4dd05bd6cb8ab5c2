//! `numa`: `c_function` from threads pinned to node A into capabilities and nurseries on node A,
//! on node B (the farthest node), or unpinned with GHC's map, per policy (the cells of
//! `callin-bench numa`). On a one-node machine the cross-node cells are not run and the bench
//! says so. Ids: `numa/c_function/<policy>/<placement>`.

use std::time::Duration;

use callin_bench::numa::experiment::{self, Placement, Plan};
use callin_bench::topology::Machine;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rts_core::ForeignNode;
use rts_core::PolicySet;
use rts_core::policy::{POLICY_SET_DEFAULT, POLICY_SET_GHC};

fn id(p: Placement) -> String {
    match p {
        Placement::Pinned { thread, caps } => format!("thread_node{thread}_caps_node{caps}"),
        Placement::Unpinned => "unpinned".into(),
    }
}

fn numa(c: &mut Criterion) {
    let machine = Machine::host().expect("host topology (hwloc)");
    let threads = experiment::threads_for(&machine);
    for (label, policy) in [
        (POLICY_SET_DEFAULT, PolicySet::DEFAULT),
        (POLICY_SET_GHC, PolicySet::GHC),
    ] {
        let mut g = c.benchmark_group(format!("numa/c_function/{label}"));
        g.throughput(Throughput::Elements(1));
        for (placement, skip) in experiment::placements(&machine) {
            if let Some(why) = skip {
                eprintln!("numa/c_function/{label}/{}: not run: {why}", id(placement));
                continue;
            }
            experiment::init_for(&machine, placement, policy, ForeignNode::Zero).expect("hs_init");
            g.bench_function(id(placement), |b| {
                b.iter_custom(|iters| {
                    let plan = Plan {
                        calls_per_thread: iters.div_ceil(u64::from(threads)),
                        reps: 1,
                        access_bytes: 0,
                        access_steps: 0,
                        foreign_node: ForeignNode::Zero,
                    };
                    let ns = experiment::drive(&machine, placement.nodes().0, threads, &plan)
                        .expect("driving c_function")
                        .median;
                    Duration::from_nanos((ns * iters as f64) as u64)
                })
            });
            rts_core::hs_exit();
        }
        g.finish();
    }
}

criterion_group!(benches, numa);
criterion_main!(benches);
