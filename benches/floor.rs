//! `floor`: the physical limits the report compares the call against — an empty C call through
//! a function pointer, a thread-local read, an uncontended CAS + release store and an
//! uncontended pthread mutex lock/unlock pair. Ids `floor/<primitive>/op`.

use std::time::Instant;

use callin_bench::matrix::floor;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn floor(c: &mut Criterion) {
    for op in floor::OPS {
        let mut g = c.benchmark_group(format!("floor/{}", op.id));
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::from_parameter("op"), |b| {
            b.iter_custom(|iters| {
                let t0 = Instant::now();
                (op.run)(iters);
                t0.elapsed()
            })
        });
        g.finish();
    }
}

criterion_group!(benches, floor);
criterion_main!(benches);
