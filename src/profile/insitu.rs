//! In-situ probe runs (feature `probes`): owns driving the real compiled `c_function` from N
//! pinned threads with `rts_core::probes` recording, timing each call end to end with the
//! probes' own clock, and calibrating the probe's cost per boundary.
//!
//! Own threads rather than `crate::driver`: recording must start and stop *on each driver
//! thread* around its calls, which the driver's hooks (run on the main thread) cannot do.
//! Threads are pinned round-robin (`crate::pin`) and released together by a barrier.

use std::sync::Barrier;

use rts_core::probes::{self, Span};
use serde::Serialize;

use super::breakdown::{self, Breakdown, PhaseSpan};
use crate::pin::{self, PinPolicy};

/// Warm-up calls per thread before recording (creates the Task and a spare InCall).
pub const WARMUP_CALLS: u64 = 100;

/// Spans reserved per call: 12 phases, one possible `gc`, one spare.
const SPANS_PER_CALL: usize = 14;

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
    let phase = callin_reports::schema::Phase::ALL[s.phase as usize];
    PhaseSpan {
        phase,
        start: s.start,
        end: s.end,
    }
}

/// One thread: warm up, record `calls` calls with end-to-end ticks, stop.
fn record_thread(index: usize, calls: u64, recording: bool) -> ThreadRecord {
    let base = (index as i64) << 40;
    for i in 0..WARMUP_CALLS as i64 {
        std::hint::black_box(call(base - 1 - i));
    }
    let mut e2e = Vec::with_capacity(calls as usize);
    if recording {
        probes::start_recording(calls as usize * SPANS_PER_CALL);
    }
    let mut wrong = 0;
    for i in 0..calls as i64 {
        let x = base + i;
        let t0 = probes::now();
        let r = call(std::hint::black_box(x));
        let t1 = probes::now();
        e2e.push(t1.wrapping_sub(t0));
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

/// Run `threads` pinned threads making `calls` calls each with probes recording.
///
/// The RTS must be initialised by the caller.
pub fn run(threads: u32, calls: u64, ticks_per_ns: f64) -> std::io::Result<InSituRun> {
    let records = run_threads(threads, calls, true)?;
    let mut spans_by_thread = Vec::new();
    let mut e2e = Vec::new();
    for r in &records {
        spans_by_thread.push(r.spans.iter().map(to_phase).collect::<Vec<_>>());
        e2e.extend_from_slice(&r.end_to_end_ticks);
    }
    let calls_split: Vec<&[PhaseSpan]> = spans_by_thread
        .iter()
        .flat_map(|s| breakdown::split_calls(s))
        .collect();
    Ok(InSituRun {
        threads,
        calls_per_thread: calls,
        breakdown: breakdown::breakdown(&calls_split, &e2e, ticks_per_ns),
        dropped_spans: records.iter().map(|r| r.dropped).sum(),
        wrong_results: records.iter().map(|r| r.wrong).sum(),
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

/// The probe's own cost, calibrated on one thread.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeCost {
    /// Amortised cost of one probe clock read (`rdtsc`), ns.
    pub clock_read_ns: f64,
    /// Mean end-to-end ns per call with recording on.
    pub recording_call_ns: f64,
    /// Mean end-to-end ns per call with the feature compiled in but this thread not
    /// recording (each boundary still reads the clock and checks the thread-local buffer).
    pub idle_call_ns: f64,
    /// Distinct timestamps per call.
    pub boundaries_per_call: f64,
    /// `clock_read_ns + (recording_call_ns - idle_call_ns) / boundaries_per_call`: one clock
    /// read plus the store of one span. The thread-local check of the idle path is not in it.
    pub per_boundary_ns: f64,
}

/// Calibrate the probe cost: median call time recording vs not recording (same thread, same
/// binary), divided over the boundaries of a call, plus one clock read.
pub fn calibrate_probe_cost(calls: u64, ticks_per_ns: f64, clock_read_ns: f64) -> ProbeCost {
    // Means, not medians: the TSC here steps in 10 ns, so medians of ~200 ns calls move in
    // whole steps while the mean of many quantised readings resolves a fraction of one.
    let mean_ns = |r: &ThreadRecord| {
        let total: u64 = r.end_to_end_ticks.iter().sum();
        total as f64 / ticks_per_ns / r.end_to_end_ticks.len().max(1) as f64
    };
    let idle = std::thread::scope(|s| s.spawn(|| record_thread(0, calls, false)).join());
    let rec = std::thread::scope(|s| s.spawn(|| record_thread(0, calls, true)).join());
    let (idle, rec) = (
        idle.expect("calibration thread panicked"),
        rec.expect("calibration thread panicked"),
    );
    let spans: Vec<PhaseSpan> = rec.spans.iter().map(to_phase).collect();
    let calls_split = breakdown::split_calls(&spans);
    let b = breakdown::breakdown(&calls_split, &rec.end_to_end_ticks, ticks_per_ns);
    let (rec_ns, idle_ns) = (mean_ns(&rec), mean_ns(&idle));
    ProbeCost {
        clock_read_ns,
        recording_call_ns: rec_ns,
        idle_call_ns: idle_ns,
        boundaries_per_call: b.boundaries_per_call,
        per_boundary_ns: clock_read_ns + (rec_ns - idle_ns) / b.boundaries_per_call.max(1.0),
    }
}
