//! `callin`: `c_function` end to end — rts-core default, rts-core `ghc` mode and the real GHC
//! RTS — over threads {1, 2, 4} × capabilities {1, 2}, including oversubscription. Ids
//! `callin/<system>/t<threads>_c<caps>` (`<system>`: `default`, `ghc-mode`, `real-ghc`). One iteration is one round of calls: every thread
//! makes one call (`Throughput::Elements(threads)`), so the reported time is the wall time per
//! call as one caller sees it. Threads are created, pinned and warmed up by the driver before
//! its timed part (`iter_custom` returns only that part).
//!
//! The real GHC RTS starts once per process (here with `-N2`) and `setNumCapabilities` sets the
//! capability count per configuration. Without ghc or the built library its rows are skipped
//! with one printed line saying why and how to build it.

use callin_bench::driver::{self, CallTarget};
use callin_bench::ghc;
use callin_bench::matrix::{self, CAPABILITIES, THREADS, rts_core_cell};
use callin_vocab::System;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rts_core::PolicySet;

fn bench_system(c: &mut Criterion, system: System, caps: u32, target: CallTarget) {
    let mut g = c.benchmark_group(format!("callin/{system}"));
    for &threads in THREADS {
        g.throughput(Throughput::Elements(u64::from(threads)));
        let id = BenchmarkId::from_parameter(matrix::config_id(threads, caps));
        g.bench_function(id, |b| {
            b.iter_custom(|iters| {
                driver::timed_rounds(target, threads, iters).expect("checked c_function calls")
            })
        });
    }
    g.finish();
}

fn rts_core(c: &mut Criterion) {
    for system in [System::Default, System::GhcMode] {
        let policy = PolicySet::parse(system.policy_set().expect("an rts-core system"))
            .expect("the vocabulary's policy sets parse");
        for &caps in CAPABILITIES {
            rts_core_cell::with_instance(policy, caps, || {
                bench_system(c, system, caps, rts_core_cell::c_function_target())
            })
            .expect("rts-core instance");
        }
    }
}

fn real_ghc(c: &mut Criterion) {
    let max_caps = CAPABILITIES.iter().max().copied().unwrap_or(1);
    let rts = match ghc::start(&[&format!("-N{max_caps}")]) {
        Ok(rts) => rts,
        Err(e) => {
            println!(
                "callin/real-ghc: skipped: {e} (build it with scripts/build-ghc-baseline.sh; \
                 needs ghc, e.g. apt-get install -y ghc)"
            );
            return;
        }
    };
    for &caps in CAPABILITIES {
        rts.set_num_capabilities(caps).expect("setNumCapabilities");
        bench_system(
            c,
            System::RealGhc,
            caps,
            rts.c_function().expect("c_function"),
        );
    }
}

criterion_group!(benches, rts_core, real_ghc);
criterion_main!(benches);
