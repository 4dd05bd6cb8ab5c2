//! Driver behaviour with plain Rust `extern "C"` functions: every call made and checked, wrong
//! results detected and counted, per-thread counts summing to the total, one histogram entry per
//! sample, time-bounded runs, hooks, per-thread tidy-up, pinning reports, bad configurations.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use callin_bench::driver::{
    self, CallTarget, DriverConfig, DriverError, Expect, RunHooks, RunMode, RunReport, Signature,
    Value,
};
use callin_bench::pin::{self, PinPolicy, PinTarget};

extern "C" fn plus_one(x: i64) -> i64 {
    x.wrapping_add(1)
}

extern "C" fn plus_two(x: i64) -> i64 {
    x.wrapping_add(2)
}

/// Correct except when the low 10 bits of `x` are 7.
extern "C" fn sometimes_wrong(x: i64) -> i64 {
    if x & 1023 == 7 { 0 } else { x.wrapping_add(1) }
}

extern "C" fn double(x: i64) -> i64 {
    x.wrapping_mul(2)
}

/// Run `f` under `cfg`; the run itself must succeed.
fn run(f: extern "C" fn(i64) -> i64, cfg: &DriverConfig) -> RunReport {
    driver::run(CallTarget::new(f), cfg).unwrap()
}

fn calls(threads: usize, per_thread: u64) -> DriverConfig {
    DriverConfig {
        threads,
        mode: RunMode::Calls(per_thread),
        ..DriverConfig::default()
    }
}

#[test]
fn every_call_is_made_and_per_thread_counts_sum_to_the_total() {
    let r = run(plus_one, &calls(3, 10_000));
    assert_eq!(r.threads.len(), 3);
    for (i, t) in r.threads.iter().enumerate() {
        assert_eq!(t.index, i);
        assert_eq!(t.calls, 10_000, "thread {i}");
        assert_eq!(t.wrong, 0);
    }
    assert_eq!(r.total_calls, 30_000);
    assert_eq!(
        r.total_calls,
        r.threads.iter().map(|t| t.calls).sum::<u64>()
    );
    assert_eq!(r.wrong_results, 0);
    assert!(r.first_wrong.is_none());
    r.ensure_correct().unwrap();
    assert!(r.wall_ns > 0);
    assert!((r.ns_per_call - r.wall_ns as f64 / 30_000.0).abs() < 1e-6);
    assert_eq!(r.fairness.min_calls, 10_000);
    assert_eq!(r.fairness.max_calls, 10_000);
    assert_eq!(r.fairness.cov_calls, 0.0);
}

#[test]
fn a_wrong_function_is_detected_on_every_call() {
    let cfg = DriverConfig {
        warmup_calls: 2,
        ..calls(2, 1_000)
    };
    let r = run(plus_two, &cfg);
    assert_eq!(r.wrong_results, 2_000);
    assert_eq!(r.warmup_wrong_results, 4);
    let w = r.first_wrong.expect("first wrong result recorded");
    assert_eq!(w.thread, 0);
    let Value::Int(input) = w.input else {
        panic!("an Int target reports Int values: {w:?}")
    };
    assert_eq!(
        (w.got, w.expected),
        (Value::Int(input + 2), Value::Int(input + 1))
    );
    let err = r.ensure_correct().unwrap_err();
    assert!(
        matches!(err, DriverError::WrongResults { count: 2_004, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("2004 wrong results"), "{err}");
}

#[test]
fn occasional_wrong_results_are_counted_exactly() {
    // Thread inputs are `t << 40` + i, so i = 7, 1031, ..., 9223 (10 values below 10,000) hit.
    let r = run(sometimes_wrong, &calls(2, 10_000));
    assert_eq!(r.threads[0].wrong, 10);
    assert_eq!(r.threads[1].wrong, 10);
    assert_eq!(r.wrong_results, 20);
    let Value::Int(input) = r.first_wrong.unwrap().input else {
        panic!("Int input")
    };
    assert_eq!(input & 1023, 7);
}

#[test]
fn the_expected_result_is_a_parameter() {
    let cfg = DriverConfig {
        expect: Expect::Fn(|x| x.wrapping_mul(2)),
        ..calls(2, 1_000)
    };
    let r = run(double, &cfg);
    assert_eq!(r.wrong_results, 0);
    assert_eq!(r.config.expect, "custom");
    let wrong = run(double, &calls(1, 1_000));
    // Thread 0 passes 0..1000; 2x == x + 1 only at x = 1.
    assert_eq!(
        wrong.wrong_results, 999,
        "x*2 checked as x+1 fails everywhere but x = 1"
    );
}

#[test]
fn histogram_holds_one_entry_per_sample() {
    let cfg = DriverConfig {
        sample_every: 64,
        ..calls(3, 1_000)
    };
    let r = run(plus_one, &cfg);
    for t in &r.threads {
        assert_eq!(
            t.samples,
            1_000u64.div_ceil(64),
            "one sample per block of 64"
        );
    }
    let samples: u64 = r.threads.iter().map(|t| t.samples).sum();
    assert_eq!(r.histogram.len(), samples);
    assert_eq!(r.latency.samples, samples);
    assert!(r.latency.min_ns <= r.latency.p50_ns && r.latency.p50_ns <= r.latency.max_ns);
}

#[test]
fn sampling_every_call_times_every_call() {
    let cfg = DriverConfig {
        sample_every: 1,
        ..calls(2, 500)
    };
    let r = run(plus_one, &cfg);
    assert_eq!(r.histogram.len(), 1_000);
}

#[test]
fn time_bounded_run_stops_every_thread_at_the_deadline() {
    let cores = pin::available_core_ids().len().max(1);
    let cfg = DriverConfig {
        threads: cores * 2, // oversubscribed: calls per thread may differ
        mode: RunMode::Duration(Duration::from_millis(50)),
        ..DriverConfig::default()
    };
    let r = run(plus_one, &cfg);
    assert_eq!(
        r.total_calls,
        r.threads.iter().map(|t| t.calls).sum::<u64>()
    );
    assert!(r.total_calls > 0);
    for t in &r.threads {
        assert_eq!(
            t.calls % 64,
            0,
            "time-bounded threads stop at block boundaries"
        );
        assert_eq!(t.samples, t.calls / 64);
    }
    assert!(
        r.wall_ns >= 50_000_000,
        "stop is set no earlier than the deadline"
    );
    assert!(r.fairness.min_calls <= r.fairness.max_calls);
    assert_eq!(r.wrong_results, 0);
}

static HOOKED_CALLS: AtomicU64 = AtomicU64::new(0);

extern "C" fn counting_plus_one(x: i64) -> i64 {
    HOOKED_CALLS.fetch_add(1, SeqCst);
    x.wrapping_add(1)
}

#[derive(Default)]
struct Snapshots {
    before: Option<u64>,
    after: Option<u64>,
}

impl RunHooks for Snapshots {
    fn before(&mut self) {
        self.before = Some(HOOKED_CALLS.load(SeqCst));
    }
    fn after(&mut self) {
        self.after = Some(HOOKED_CALLS.load(SeqCst));
    }
}

#[test]
fn hooks_run_after_warm_up_and_after_the_last_call() {
    let cfg = DriverConfig {
        warmup_calls: 3,
        ..calls(2, 1_000)
    };
    let mut hooks = Snapshots::default();
    driver::run_with_hooks(CallTarget::new(counting_plus_one), &cfg, &mut hooks).unwrap();
    assert_eq!(hooks.before, Some(6), "warm-up done, no timed call yet");
    assert_eq!(hooks.after, Some(6 + 2_000));
}

static THREADS_DONE: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_thread_done() {
    THREADS_DONE.fetch_add(1, SeqCst);
}

#[test]
fn thread_done_runs_once_per_driver_thread() {
    // SAFETY: count_thread_done is a safe Rust function callable from any thread.
    let target = unsafe { CallTarget::new(plus_one).with_thread_done(count_thread_done) };
    driver::run(target, &calls(3, 100)).unwrap();
    assert_eq!(THREADS_DONE.load(SeqCst), 3);
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "reading the affinity back needs Linux"
)]
fn round_robin_pinning_wraps_and_reports_what_it_did() {
    let cores = pin::available_core_ids();
    assert!(!cores.is_empty(), "the OS reports at least one core");
    let cfg = DriverConfig {
        threads: cores.len() + 1,
        pin: PinPolicy::CoresRoundRobin,
        ..calls(cores.len() + 1, 100)
    };
    let r = run(plus_one, &cfg);
    for (i, t) in r.threads.iter().enumerate() {
        let core = cores[i % cores.len()];
        assert_eq!(t.pin.target, PinTarget::Core(core), "thread {i}");
        assert!(t.pin.applied, "thread {i}: {:?}", t.pin.error);
        assert_eq!(
            t.pin.allowed_cpus,
            Some(vec![core]),
            "thread {i} runs only on its core"
        );
    }
    assert_eq!(r.config.pin, "cores-round-robin");
}

#[test]
fn unpinned_threads_report_no_pin() {
    let r = run(plus_one, &calls(2, 10));
    for t in &r.threads {
        assert_eq!(t.pin.target, PinTarget::Unpinned);
        assert!(!t.pin.applied);
        assert!(t.pin.error.is_none());
    }
}

#[test]
fn bad_configurations_are_rejected_with_the_reason() {
    let cases = [
        (
            DriverConfig {
                threads: 0,
                ..DriverConfig::default()
            },
            "threads",
        ),
        (calls(1, 0), "calls per thread"),
        (
            DriverConfig {
                sample_every: 0,
                ..DriverConfig::default()
            },
            "sample_every",
        ),
        (
            DriverConfig {
                mode: RunMode::Duration(Duration::ZERO),
                ..DriverConfig::default()
            },
            "duration",
        ),
    ];
    for (cfg, needle) in cases {
        let err = driver::run(CallTarget::new(plus_one), &cfg).unwrap_err();
        assert!(matches!(err, DriverError::InvalidConfig(_)), "{err}");
        assert!(
            err.to_string().contains(needle),
            "{err} should name {needle}"
        );
    }
}

#[test]
fn report_serialises_to_json() {
    let r = run(plus_one, &calls(1, 100));
    let v: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(v["total_calls"], 100);
    assert_eq!(v["threads"][0]["calls"], 100);
    assert!(
        v.get("histogram").is_none(),
        "the raw histogram is not serialised"
    );
}

extern "C" fn times_two_five(x: f64) -> f64 {
    x * 2.5
}

extern "C" fn counter(_: i32) -> i32 {
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, SeqCst) as i32
}

fn raw<A, R>(f: extern "C" fn(A) -> R, sig: &str) -> CallTarget {
    // SAFETY: `f` is a safe function of exactly the parsed signature.
    unsafe { CallTarget::from_raw(f as *const std::ffi::c_void, Signature::parse(sig).unwrap()) }
}

#[test]
fn other_signatures_are_checked_against_a_reference_call() {
    let target = raw(
        times_two_five as extern "C" fn(f64) -> f64,
        "Double -> IO Double",
    );
    let arg = Value::Double(4.0);
    let result = target.call_value(arg).unwrap();
    assert_eq!(result, Value::Double(10.0));
    let cfg = DriverConfig {
        expect: Expect::Same { arg, result },
        ..calls(2, 1_000)
    };
    let r = driver::run(target, &cfg).unwrap();
    assert_eq!((r.total_calls, r.wrong_results), (2_000, 0));
    assert_eq!(r.config.expect, "same as reference call");
    // A function that is not deterministic fails the check on (nearly) every call.
    let target = raw(counter as extern "C" fn(i32) -> i32, "CInt -> IO CInt");
    let result = target.call_value(Value::CInt(0)).unwrap();
    let cfg = DriverConfig {
        expect: Expect::Same {
            arg: Value::CInt(0),
            result,
        },
        ..calls(1, 100)
    };
    let r = driver::run(target, &cfg).unwrap();
    assert_eq!(r.wrong_results, 100, "every timed call returns a new count");
}

#[test]
fn a_check_that_does_not_fit_the_signature_is_refused() {
    let target = raw(
        times_two_five as extern "C" fn(f64) -> f64,
        "Double -> IO Double",
    );
    let err = driver::run(target, &calls(1, 10)).unwrap_err();
    assert!(
        err.to_string().contains("needs an Int -> IO Int target"),
        "{err}"
    );
    let cfg = DriverConfig {
        expect: Expect::Same {
            arg: Value::Int(1),
            result: Value::Double(2.5),
        },
        ..calls(1, 10)
    };
    let err = driver::run(target, &cfg).unwrap_err();
    assert!(err.to_string().contains("do not fit"), "{err}");
    assert!(target.call_value(Value::Int(1)).is_err());
}
