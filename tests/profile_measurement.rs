//! Behaviour of the criterion counter measurement: a chosen counter with a name and reason,
//! monotonic cumulative values, and non-negative intervals.

use std::hint::black_box;

use callin_bench::profile::measurement::{CounterMeasurement, MeasuredCounter};
use criterion::measurement::Measurement;

mod common;

fn measurement() -> Option<CounterMeasurement> {
    match CounterMeasurement::new() {
        Ok(m) => Some(m),
        Err(e) => {
            common::skip(&format!("no perf counter for criterion here: {e}"));
            None
        }
    }
}

#[test]
#[cfg_attr(not(target_os = "linux"), ignore)]
fn choice_has_a_name_and_a_reason_or_skip() {
    let Some(m) = measurement() else { return };
    assert!(["instructions", "task-clock ns"].contains(&m.counter().name()));
    assert!(!m.reason().is_empty());
    if m.counter() == MeasuredCounter::TaskClockNs {
        assert!(
            m.reason().starts_with("instructions unavailable: "),
            "{}",
            m.reason()
        );
    }
}

#[test]
#[cfg_attr(not(target_os = "linux"), ignore)]
fn cumulative_value_is_monotonic_or_skip() {
    let Some(m) = measurement() else { return };
    let mut prev = m.snapshot();
    for i in 0..1_000u64 {
        black_box((0..i).sum::<u64>());
        let now = m.snapshot();
        assert!(
            now.count >= prev.count,
            "count went back: {now:?} after {prev:?}"
        );
        assert!(now.enabled_ns >= prev.enabled_ns);
        prev = now;
    }
}

#[test]
#[cfg_attr(not(target_os = "linux"), ignore)]
fn busy_interval_is_positive_and_adds_up_or_skip() {
    let Some(m) = measurement() else { return };
    let start = m.start();
    black_box((0..1_000_000u64).fold(0u64, |a, i| black_box(a ^ i)));
    let v = m.end(start);
    assert!(v > 0.0, "{} over a busy loop: {v}", m.counter().name());
    assert_eq!(m.add(&v, &m.zero()), v);
    assert_eq!(m.to_f64(&v), v);
}

#[test]
#[cfg_attr(not(target_os = "linux"), ignore)]
fn forced_task_clock_formats_as_ns_or_skip() {
    let m = match CounterMeasurement::with_counter(MeasuredCounter::TaskClockNs, "forced".into()) {
        Ok(m) => m,
        Err(e) => return common::skip(&format!("task-clock unavailable: {e}")),
    };
    let mut values = [1_500.0];
    assert_eq!(
        m.formatter().scale_values(1_500.0, &mut values),
        "µs (task-clock)"
    );
    assert_eq!(values, [1.5]);
    assert_eq!(m.formatter().scale_for_machines(&mut values), "ns");
}

#[test]
#[cfg_attr(not(target_os = "linux"), ignore)]
fn criterion_runs_a_bench_with_the_counter_or_skip() {
    let Some(m) = measurement() else { return };
    let out =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("profile_measurement_criterion");
    let mut c = criterion::Criterion::default()
        .with_measurement(m)
        .output_directory(&out)
        .without_plots()
        .sample_size(10)
        .warm_up_time(std::time::Duration::from_millis(20))
        .measurement_time(std::time::Duration::from_millis(100));
    c.bench_function("profile/counter_measurement/sum_1000", |b| {
        b.iter(|| black_box((0..1_000u64).sum::<u64>()))
    });
    let estimates = out.join("profile_counter_measurement_sum_1000/new/estimates.json");
    let json = std::fs::read_to_string(&estimates)
        .unwrap_or_else(|e| panic!("{}: {e}", estimates.display()));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mean = v["mean"]["point_estimate"].as_f64().expect("mean estimate");
    assert!(
        mean > 0.0,
        "per-iteration counter value is positive: {mean}"
    );
}
