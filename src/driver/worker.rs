//! One driver thread: owns pinning itself, the warm-up calls, the timed call loop with sampled
//! latency, and checking every result. Produces a [`WorkerOutcome`] that the report aggregates.
//!
//! Sampling: the loop runs in blocks of `sample_every` calls; the first call of each block is
//! timed with two `Instant::now()` reads, the rest run untimed. `Instant` (vDSO
//! `clock_gettime(CLOCK_MONOTONIC)` on Linux) was chosen over `rdtsc` because it needs no
//! calibration or invariant-TSC trust decision on this KVM guest, and at one timed call in 64
//! its cost (two reads, measured per run as `timer_overhead_ns`) is spread over 64 calls.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use hdrhistogram::Histogram;

use super::gate::StartGate;
use super::{CallTarget, DriverConfig, Expect, RunMode, WrongResult};
use crate::pin::{self, PinReport, PinTarget};

/// Upper bound of the latency histogram: 60 s in ns. Larger samples saturate to it. Fixed
/// bounds so recording never allocates inside the timed loop.
pub(crate) const HISTOGRAM_MAX_NS: u64 = 60_000_000_000;

/// Inputs of thread `t` start at `t << INPUT_SHIFT`, so every thread passes distinct values.
const INPUT_SHIFT: u32 = 40;

/// What one worker hands back.
pub(crate) struct WorkerOutcome {
    pub(crate) index: usize,
    pub(crate) pin: PinReport,
    pub(crate) warmup_wrong: u64,
    pub(crate) calls: u64,
    pub(crate) wrong: u64,
    pub(crate) first_wrong: Option<WrongResult>,
    pub(crate) samples: u64,
    pub(crate) histogram: Histogram<u64>,
    pub(crate) start: Option<Instant>,
    pub(crate) end: Option<Instant>,
}

/// Shared state every worker of one run reads.
pub(crate) struct WorkerShared<'a> {
    pub(crate) target: CallTarget,
    pub(crate) config: &'a DriverConfig,
    pub(crate) gate: &'a StartGate,
    pub(crate) stop: &'a AtomicBool,
}

pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, 3).expect("static histogram bounds are valid")
}

/// Body of driver thread `index`: pin, warm up, wait at the gate, run, tidy up.
pub(crate) fn run_worker(
    shared: &WorkerShared<'_>,
    index: usize,
    pin_to: PinTarget,
) -> WorkerOutcome {
    // Monomorphise the loop per check so the common `x + 1` check is inlined, not an
    // indirect call per result.
    match shared.config.expect {
        Expect::PlusOne => run_worker_with(shared, index, pin_to, |x: i64| x.wrapping_add(1)),
        Expect::Fn(f) => run_worker_with(shared, index, pin_to, f),
    }
}

fn run_worker_with<E: Fn(i64) -> i64 + Copy>(
    shared: &WorkerShared<'_>,
    index: usize,
    pin_to: PinTarget,
    expected: E,
) -> WorkerOutcome {
    let mut out = WorkerOutcome {
        index,
        pin: pin::apply(pin_to),
        warmup_wrong: 0,
        calls: 0,
        wrong: 0,
        first_wrong: None,
        samples: 0,
        histogram: new_histogram(),
        start: None,
        end: None,
    };
    shared.target.thread_start();
    let base = (index as i64) << INPUT_SHIFT;
    for i in 0..i64::from(shared.config.warmup_calls) {
        let x = base.wrapping_sub(1 + i);
        if shared.target.call(x) != expected(x) {
            out.warmup_wrong += 1;
        }
    }
    if shared.gate.arrive_and_wait() {
        out.start = Some(Instant::now());
        timed_loop(shared, base, &mut out, expected);
        out.end = Some(Instant::now());
    }
    shared.target.thread_done();
    out
}

/// The measured loop: blocks of `sample_every` calls, the first of each timed.
fn timed_loop<E: Fn(i64) -> i64 + Copy>(
    shared: &WorkerShared<'_>,
    base: i64,
    out: &mut WorkerOutcome,
    expected: E,
) {
    let every = u64::from(shared.config.sample_every);
    loop {
        let block = match shared.config.mode {
            RunMode::Calls(per_thread) => every.min(per_thread - out.calls),
            // ORDERING: Relaxed — the flag carries no data; a late observation only adds calls
            // after the deadline, all of which are counted.
            RunMode::Duration(_) if shared.stop.load(Ordering::Relaxed) => 0,
            RunMode::Duration(_) => every,
        };
        if block == 0 {
            break;
        }
        let x = base.wrapping_add(out.calls as i64);
        let t0 = Instant::now();
        let r = shared.target.call(black_box(x));
        let dt = t0.elapsed();
        out.histogram
            .saturating_record(dt.as_nanos().try_into().unwrap_or(u64::MAX));
        out.samples += 1;
        check(out, x, r, expected);
        for j in 1..block {
            let x = x.wrapping_add(j as i64);
            let r = shared.target.call(black_box(x));
            check(out, x, r, expected);
        }
        out.calls += block;
    }
}

#[inline(always)]
fn check<E: Fn(i64) -> i64>(out: &mut WorkerOutcome, x: i64, got: i64, expected: E) {
    let want = expected(x);
    if got != want {
        record_wrong(out, x, got, want);
    }
}

#[cold]
#[inline(never)]
fn record_wrong(out: &mut WorkerOutcome, input: i64, got: i64, expected: i64) {
    out.wrong += 1;
    if out.first_wrong.is_none() {
        out.first_wrong = Some(WrongResult {
            thread: out.index,
            input,
            got,
            expected,
        });
    }
}
