//! `counters`: the call and each isolated phase measured in a perf counter instead of wall time,
//! through `callin_bench::profile::measurement::CounterMeasurement` — retired instructions where
//! the PMU exposes them, else task-clock (thread CPU ns), chosen once and printed with the
//! reason. Ids `counters/c_function/<policy>` and `counters/<phase>/<policy>`, one calling
//! thread on one capability (a counter observes the calling thread only, so multi-thread cells
//! stay in the wall-clock `callin` group). If neither counter can be opened the group prints why
//! and measures nothing rather than reporting zeros.

use callin_bench::matrix::rts_core_cell;
use callin_bench::profile::measurement::CounterMeasurement;
use criterion::{BenchmarkId, Criterion, Throughput};
use rts_core::PolicySet;
use rts_core::policy::{POLICY_SET_DEFAULT, POLICY_SET_GHC};
use rts_core::scaffolding::phases::{IsolatedPhase, PhaseLoop};

/// A policy set's label and its constructor.
type NamedPolicy = (&'static str, PolicySet);

const POLICIES: [NamedPolicy; 2] = [
    (POLICY_SET_DEFAULT, PolicySet::DEFAULT),
    (POLICY_SET_GHC, PolicySet::GHC),
];

fn call_counts(c: &mut Criterion<CounterMeasurement>) {
    let target = rts_core_cell::c_function_target();
    for (name, policy) in POLICIES {
        rts_core_cell::with_instance(policy, 1, || {
            let mut g = c.benchmark_group("counters/c_function");
            g.throughput(Throughput::Elements(1));
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                let mut x = 0i64;
                b.iter(|| {
                    x = target.call(x);
                    x
                })
            });
            g.finish();
        })
        .expect("rts-core instance");
    }
}

/// `counter` reads the same event as the group's measurement; `iter_custom` brackets exactly
/// `iters` operations of the phase with it, so the phase's set-up stays outside the count.
fn phase_counts(c: &mut Criterion<CounterMeasurement>, counter: &CounterMeasurement) {
    for (name, policy) in POLICIES {
        rts_core_cell::with_instance(policy, 1, || {
            for &phase in IsolatedPhase::ALL {
                if phase == IsolatedPhase::CapContended {
                    continue; // needs a second thread, which the counter does not observe
                }
                let mut g = c.benchmark_group(format!("counters/{}", phase.name()));
                g.throughput(Throughput::Elements(1));
                g.bench_function(BenchmarkId::from_parameter(name), |b| {
                    let mut lp = PhaseLoop::new(phase).expect("phase set-up");
                    b.iter_custom(|iters| {
                        let start = counter.snapshot();
                        lp.run(iters);
                        counter.count_since(start)
                    })
                });
                g.finish();
            }
        })
        .expect("rts-core instance");
    }
}

fn main() {
    let measurement = match CounterMeasurement::new() {
        Ok(m) => m,
        Err(e) => {
            println!("counters: skipped, no perf counter can be opened here: {e}");
            return;
        }
    };
    let counter = match CounterMeasurement::with_counter(
        measurement.counter(),
        measurement.reason().to_owned(),
    ) {
        Ok(m) => m,
        Err(e) => {
            println!(
                "counters: skipped, a second {} counter cannot be opened: {e}",
                measurement.counter().name()
            );
            return;
        }
    };
    let mut c = Criterion::default()
        .with_measurement(measurement)
        .configure_from_args();
    call_counts(&mut c);
    phase_counts(&mut c, &counter);
    c.final_summary();
}
