//! `callin`: `c_function` end to end through the compiled C stub, per policy set, with threads
//! started and pinned before timing and released together by a barrier. Measures aggregate
//! wall time per call (all threads' calls / elapsed), not per-thread latency.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rts_core::{Config, PolicySet};

/// Run `iters` calls split over `threads` pinned threads; returns the elapsed wall time.
fn run(threads: usize, iters: u64) -> Duration {
    let f = rts_core::stub::c_function();
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let start = Arc::new(Barrier::new(threads + 1));
    let done = Arc::new(Barrier::new(threads + 1));
    let per = iters.div_ceil(threads as u64);
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let (start, done) = (Arc::clone(&start), Arc::clone(&done));
            let core = cores.get(t % cores.len().max(1)).copied();
            std::thread::spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(c);
                }
                // SAFETY: the RTS is initialised before the benchmark runs.
                assert_eq!(unsafe { f(1000) }, 1001, "warm-up call");
                start.wait();
                for i in 0..per as i64 {
                    // SAFETY: as above.
                    std::hint::black_box(unsafe { f(std::hint::black_box(i)) });
                }
                done.wait();
            })
        })
        .collect();
    start.wait();
    let t0 = Instant::now();
    done.wait();
    let el = t0.elapsed();
    for h in hs {
        h.join().unwrap();
    }
    el
}

fn callin(c: &mut Criterion) {
    for (label, policy) in [
        ("lockfree", PolicySet::lockfree()),
        ("ghc", PolicySet::ghc()),
    ] {
        rts_core::hs_init_with(Config {
            n_capabilities: 2,
            policy,
            ..Config::default()
        })
        .expect("hs_init");
        let mut g = c.benchmark_group(format!("callin/c_function/{label}"));
        g.throughput(Throughput::Elements(1));
        for threads in [1usize, 2] {
            g.bench_with_input(BenchmarkId::new("threads", threads), &threads, |b, &t| {
                b.iter_custom(|iters| run(t, iters))
            });
        }
        g.finish();
        rts_core::hs_exit();
    }
}

criterion_group!(benches, callin);
criterion_main!(benches);
