//! In-situ probe runs (feature `probes`): owns driving the real compiled `c_function` from N
//! pinned threads with `rts_core::probes` recording, timing each call end to end with the
//! probes' own clock, the same calls on threads that do not record (how much the probes
//! inflate a call), and calibrating the probe's cost per boundary.
//!
//! Own threads rather than `crate::driver`: recording must start and stop *on each driver
//! thread* around its calls, which the driver's hooks (run on the main thread) cannot do.
//! Threads are pinned round-robin (`crate::pin`) and released together by a barrier.
//!
//! Note [probe inflation]: a run alternates [`ROUNDS`] rounds of recording threads and
//! rounds of threads that never call `start_recording` (their boundaries are one thread-local
//! load and a branch, no clock read), pooling the calls of each kind, so drift over the run
//! (frequency, neighbours on the host) hits both alike. The inflation is the difference of the
//! trimmed end-to-end means.

use std::sync::Barrier;

use rts_core::probes::{self, Span};
use serde::Serialize;

use super::breakdown::{self, Breakdown, PhaseSpan};
use crate::pin::{self, PinPolicy};

/// Warm-up calls per thread before recording (creates the Task and a spare InCall).
pub const WARMUP_CALLS: u64 = 100;

/// Spans reserved per call: 12 phases, one possible `gc`, one spare.
const SPANS_PER_CALL: usize = 14;

/// Alternating rounds of unprobed and recording threads per run (Note [probe inflation]).
pub const ROUNDS: usize = 3;

pub use super::breakdown::{CALIBRATION_BOUNDARIES, CALIBRATION_REPETITIONS, CALIBRATION_SAMPLES};

/// What one thread recorded.
struct ThreadRecord {
    spans: Vec<Span>,
    end_to_end_ticks: Vec<u64>,
    dropped: u64,
    wrong: u64,
}

/// Result of one in-situ run.
#[derive(Debug, Clone, Serialize)]
pub struct InSituRun {
    pub threads: u32,
    pub calls_per_thread: u64,
    pub breakdown: Breakdown,
    /// The same spans rolled up into phase groups (the C API calls).
    pub groups: super::groups::GroupBreakdown,
    /// The same calls on threads that never record (Note [probe inflation]).
    pub unprobed: EndToEnd,
    /// `breakdown.end_to_end_mean_ns - unprobed.mean_ns`: what recording adds to a call (ns).
    pub inflation_ns: f64,
    /// `inflation_ns` over the unprobed mean, in %.
    pub inflation_pct: f64,
    /// `inflation_ns` per probe boundary of a call (compare with the calibrated cost).
    pub inflation_per_boundary_ns: f64,
    /// `(unprobed mean - corrected phase sum) / unprobed mean`, in %: how far the phases with
    /// the probe cost taken off fall short of the unprobed call.
    pub corrected_gap_pct: f64,
    /// Spans lost to full buffers (all threads); 0 unless the buffer sizing is wrong.
    pub dropped_spans: u64,
    /// Calls whose result was not `x + 1`.
    pub wrong_results: u64,
}

fn call(x: i64) -> i64 {
    // SAFETY: the caller initialised the RTS (`hs_init_with`) before starting the run, and the
    // stub is callable from any thread with any argument.
    unsafe { rts_core::stub::c_function()(x) }
}

fn to_phase(s: &Span) -> PhaseSpan {
    PhaseSpan {
        phase: s.phase,
        start: s.start,
        end: s.end,
    }
}

/// One thread: warm up, make `calls` calls with end-to-end ticks, recording probes if asked.
fn record_thread(index: usize, calls: u64, recording: bool) -> ThreadRecord {
    let base = (index as i64) << 40;
    for i in 0..WARMUP_CALLS as i64 {
        std::hint::black_box(call(base - 1 - i));
    }
    // Written through before the timed loop, so storing a call's time never page-faults.
    let mut e2e = vec![u64::MAX; calls as usize];
    if recording {
        probes::start_recording(calls as usize * SPANS_PER_CALL);
    }
    let mut wrong = 0;
    for (i, slot) in e2e.iter_mut().enumerate() {
        let x = base + i as i64;
        let t0 = probes::now();
        let r = call(std::hint::black_box(x));
        let t1 = probes::now();
        *slot = t1.wrapping_sub(t0);
        wrong += u64::from(r != x.wrapping_add(1));
    }
    let dropped = if recording { probes::dropped() } else { 0 };
    let spans = if recording {
        probes::stop_recording()
    } else {
        Vec::new()
    };
    ThreadRecord {
        spans,
        end_to_end_ticks: e2e,
        dropped,
        wrong,
    }
}

/// End-to-end figures of a set of calls (ns).
#[derive(Debug, Clone, Serialize)]
pub struct EndToEnd {
    pub calls: u64,
    /// Mean over the calls at or below the 99th percentile (as the breakdown's mean).
    pub mean_ns: f64,
    pub median_ns: f64,
    pub p99_ns: f64,
}

impl EndToEnd {
    fn of(ticks: &[u64], ticks_per_ns: f64) -> EndToEnd {
        let mut ns: Vec<f64> = ticks.iter().map(|&t| t as f64 / ticks_per_ns).collect();
        ns.sort_by(f64::total_cmp);
        let p99 = breakdown::quantile(&ns, 0.99);
        let kept: Vec<f64> = ns.iter().copied().filter(|&v| v <= p99).collect();
        EndToEnd {
            calls: ns.len() as u64,
            mean_ns: kept.iter().sum::<f64>() / kept.len().max(1) as f64,
            median_ns: breakdown::quantile(&ns, 0.5),
            p99_ns: p99,
        }
    }
}

/// Run `threads` pinned threads making `calls` calls each, [`ROUNDS`] times recording probes
/// and as often not recording, alternating (Note [probe inflation]); `boundary_ns` is the
/// calibrated probe cost the corrected figures take off each span.
///
/// The RTS must be initialised by the caller.
pub fn run(
    threads: u32,
    calls: u64,
    ticks_per_ns: f64,
    boundary_ns: f64,
) -> std::io::Result<InSituRun> {
    let mut recorded = Vec::new();
    let mut unprobed_ticks = Vec::new();
    for _ in 0..ROUNDS {
        for r in run_threads(threads, calls, false)? {
            unprobed_ticks.extend_from_slice(&r.end_to_end_ticks);
        }
        recorded.extend(run_threads(threads, calls, true)?);
    }
    let mut spans_by_thread = Vec::new();
    let mut e2e = Vec::new();
    for r in &recorded {
        spans_by_thread.push(r.spans.iter().map(to_phase).collect::<Vec<_>>());
        e2e.extend_from_slice(&r.end_to_end_ticks);
    }
    let calls_split: Vec<&[PhaseSpan]> = spans_by_thread
        .iter()
        .flat_map(|s| breakdown::split_calls(s))
        .collect();
    let b = breakdown::breakdown(&calls_split, &e2e, ticks_per_ns, boundary_ns);
    let rolled: Vec<Vec<super::groups::GroupSpan>> = spans_by_thread
        .iter()
        .map(|s| super::groups::roll_up(s))
        .collect();
    let groups = super::cell::spans_breakdown(&rolled, ticks_per_ns, boundary_ns);
    let unprobed = EndToEnd::of(&unprobed_ticks, ticks_per_ns);
    let inflation_ns = b.end_to_end_mean_ns - unprobed.mean_ns;
    Ok(InSituRun {
        threads,
        calls_per_thread: calls,
        inflation_pct: inflation_ns / unprobed.mean_ns.max(f64::MIN_POSITIVE) * 100.0,
        inflation_per_boundary_ns: inflation_ns / b.boundaries_per_call.max(1.0),
        corrected_gap_pct: breakdown::gap_pct(unprobed.mean_ns, b.corrected_phase_sum_ns),
        inflation_ns,
        unprobed,
        breakdown: b,
        groups,
        dropped_spans: recorded.iter().map(|r| r.dropped).sum(),
        wrong_results: recorded.iter().map(|r| r.wrong).sum(),
    })
}

fn run_threads(threads: u32, calls: u64, recording: bool) -> std::io::Result<Vec<ThreadRecord>> {
    let plan = PinPolicy::CoresRoundRobin
        .plan(threads as usize)
        .unwrap_or_else(|_| vec![pin::PinTarget::Unpinned; threads as usize]);
    let barrier = Barrier::new(threads as usize);
    std::thread::scope(|s| {
        let handles: Vec<_> = plan
            .iter()
            .enumerate()
            .map(|(i, &target)| {
                let barrier = &barrier;
                std::thread::Builder::new()
                    .name(format!("probe-{i}"))
                    .spawn_scoped(s, move || {
                        pin::apply(target);
                        barrier.wait();
                        record_thread(i, calls, recording)
                    })
            })
            .collect::<std::io::Result<_>>()?;
        Ok(handles
            .into_iter()
            .map(|h| h.join().expect("probe thread panicked"))
            .collect())
    })
}

/// The probe's own cost per boundary, calibrated on one thread.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeCost {
    /// The smallest of the repetition medians (ns per boundary): the cost taken off each span.
    pub per_boundary_ns: f64,
    /// Median ns per boundary of each repetition.
    pub repetition_medians_ns: Vec<f64>,
    /// Boundaries per sample, samples per repetition.
    pub boundaries_per_sample: usize,
    pub samples_per_repetition: usize,
}

/// Calibrate the probe cost: [`CALIBRATION_REPETITIONS`] repetitions of
/// [`CALIBRATION_SAMPLES`] samples, each timing [`CALIBRATION_BOUNDARIES`] consecutive
/// boundaries (`rts_core::probes::time_boundaries`, the call path's own operation, recording
/// into a pre-faulted buffer); the per-boundary cost is the smallest repetition median. Runs
/// on a fresh thread, so no caller's recording is disturbed.
pub fn calibrate_probe_cost(ticks_per_ns: f64) -> ProbeCost {
    let n = CALIBRATION_BOUNDARIES;
    let reps: Vec<Vec<f64>> = std::thread::scope(|s| {
        s.spawn(|| {
            probes::time_boundaries(n); // warm: code, allocator
            (0..CALIBRATION_REPETITIONS)
                .map(|_| {
                    (0..CALIBRATION_SAMPLES)
                        .map(|_| probes::time_boundaries(n) as f64 / ticks_per_ns / n as f64)
                        .collect()
                })
                .collect()
        })
        .join()
        .expect("calibration thread panicked")
    });
    let medians = reps
        .iter()
        .map(|r| breakdown::min_of_medians(std::slice::from_ref(r)).unwrap_or(f64::NAN))
        .collect();
    ProbeCost {
        per_boundary_ns: breakdown::min_of_medians(&reps).unwrap_or(f64::NAN),
        repetition_medians_ns: medians,
        boundaries_per_sample: n,
        samples_per_repetition: CALIBRATION_SAMPLES,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_cost_is_positive_and_finite() {
        let cost = calibrate_probe_cost(1.0);
        assert!(cost.per_boundary_ns.is_finite() && cost.per_boundary_ns > 0.0);
        assert_eq!(cost.repetition_medians_ns.len(), CALIBRATION_REPETITIONS);
        assert!(
            cost.repetition_medians_ns
                .iter()
                .all(|&m| m.is_finite() && m >= cost.per_boundary_ns)
        );
        assert!(!probes::is_recording(), "the caller's thread never records");
    }

    #[test]
    fn end_to_end_mean_leaves_out_calls_above_p99() {
        let mut ticks = vec![100u64; 99];
        ticks.push(1_000_000);
        let e = EndToEnd::of(&ticks, 2.0);
        assert_eq!(e.calls, 100);
        assert_eq!(e.mean_ns, 50.0);
        assert_eq!(e.median_ns, 50.0);
        assert_eq!(e.p99_ns, 50.0);
    }
}
