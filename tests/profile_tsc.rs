//! Behaviour of the probe clock: TSC calibration agrees with `Instant`, `now()` advances,
//! and the timestamp read cost is measured for the chosen source.

use std::time::{Duration, Instant};

use callin_bench::profile::tsc::{self, Clock, ClockSource};

/// Relative tolerance between the calibrated clock and `Instant` over a 50 ms interval:
/// covers the pairing error of the reads and a descheduled thread in a busy VM; a wrong
/// frequency (e.g. the nominal CPU MHz of a non-invariant TSC) is off by far more.
const TOLERANCE: f64 = 0.02;

#[test]
fn calibrated_clock_agrees_with_instant() {
    let clock = Clock::detect();
    eprintln!("clock: {} — {}", clock.source(), clock.reason());
    let (i0, t0) = (Instant::now(), clock.now());
    std::thread::sleep(Duration::from_millis(50));
    let (t1, i1) = (clock.now(), Instant::now());
    let clock_ns = clock.ticks_to_ns(t1 - t0);
    let instant_ns = i1.duration_since(i0).as_nanos() as f64;
    let rel = (clock_ns - instant_ns).abs() / instant_ns;
    assert!(
        rel < TOLERANCE,
        "clock {clock_ns} ns vs Instant {instant_ns} ns (rel {rel:.4})"
    );
}

#[test]
fn tsc_choice_follows_the_flags() {
    let clock = Clock::detect();
    match clock.source() {
        ClockSource::Tsc(_) => {
            let f = clock.flags();
            assert!(
                f.constant_tsc && f.nonstop_tsc,
                "TSC chosen only when invariant: {f:?}"
            );
            let cal = clock.calibration().expect("a TSC clock is calibrated");
            assert_eq!(cal.windows.len(), tsc::CALIBRATION_WINDOWS);
            assert!(cal.core_spread <= tsc::MAX_CALIBRATION_SPREAD);
            assert!(cal.core_spread <= cal.spread);
        }
        ClockSource::Instant => {
            assert_eq!(clock.ticks_per_ns(), 1.0);
            assert!(
                clock.reason().contains("not"),
                "fallback says why: {}",
                clock.reason()
            );
        }
    }
}

#[test]
fn now_is_monotonic_on_one_thread() {
    let clock = Clock::detect();
    let mut prev = clock.now();
    for _ in 0..100_000 {
        let t = clock.now();
        assert!(t >= prev, "{t} < {prev}");
        prev = t;
    }
}

#[test]
fn read_cost_is_measured_for_each_source() {
    let clock = Clock::detect();
    let costs = tsc::measure_all_read_costs(&clock, 1_000);
    assert!(costs.iter().any(|c| c.source == ClockSource::Instant));
    assert!(costs.iter().any(|c| c.source == clock.source()));
    for c in &costs {
        assert_eq!(c.samples, 1_000);
        assert!(
            c.gap_min_ns >= 0.0 && c.gap_min_ns <= c.gap_median_ns,
            "{c:?}"
        );
        assert!(c.amortised_ns > 0.0, "a read takes time: {c:?}");
    }
}

#[test]
fn instant_clock_ticks_are_nanoseconds() {
    let clock = Clock::instant();
    assert_eq!(clock.source(), ClockSource::Instant);
    assert_eq!(clock.ticks_to_ns(1_234), 1_234.0);
}
