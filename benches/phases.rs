//! `phases`: each phase of the call-in path alone (`rts_core::scaffolding::phases`), per policy
//! set. Ids `phases/<isolated phase>/<policy>`, one operation per iteration. Set-up (a held
//! capability, a contending helper thread, ...) happens outside the timed part, once per sample.

use std::time::{Duration, Instant};

use callin_bench::matrix::rts_core_cell;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rts_core::PolicySet;
use rts_core::policy::{POLICY_SET_DEFAULT, POLICY_SET_GHC};
use rts_core::scaffolding::phases::{IsolatedPhase, PhaseLoop};

/// Capabilities of the instance the phases run against.
const CAPS: u32 = 2;

fn timed(phase: IsolatedPhase, iters: u64) -> Duration {
    let mut l = PhaseLoop::new(phase).expect("phase set-up");
    let t0 = Instant::now();
    l.run(iters);
    let el = t0.elapsed();
    drop(l);
    el
}

fn phases(c: &mut Criterion) {
    for (label, policy) in [
        (POLICY_SET_DEFAULT, PolicySet::DEFAULT),
        (POLICY_SET_GHC, PolicySet::GHC),
    ] {
        rts_core_cell::with_instance(policy, CAPS, || {
            for &phase in IsolatedPhase::ALL {
                let mut g = c.benchmark_group(format!("phases/{}", phase.name()));
                g.throughput(Throughput::Elements(1));
                g.bench_function(BenchmarkId::from_parameter(label), |b| {
                    b.iter_custom(|iters| timed(phase, iters))
                });
                g.finish();
            }
        })
        .expect("rts-core instance");
    }
}

criterion_group!(benches, phases);
criterion_main!(benches);
