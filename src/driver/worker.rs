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
use super::{CValue, CallTarget, DriverConfig, Expect, RunMode, Value, WrongResult};
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
    // Monomorphise the loop per signature and check, so the common `Int -> Int` call with the
    // `x + 1` check is a direct indirect call with an inlined check, never a dispatch per call.
    let t = &shared.target;
    let plus_one = |x: i64| x.wrapping_add(1);
    match shared.config.expect {
        Expect::PlusOne => run_worker_with(shared, index, pin_to, Varying(plus_one)),
        Expect::Fn(f) => run_worker_with(shared, index, pin_to, Varying(f)),
        Expect::Same { arg, result } => {
            // Expect::fits checked that `arg` and `result` have the target's types, so the
            // first (argument, result) type pair both values fit is the target's signature.
            macro_rules! same {
                ($($a:ty => [$($r:ty),*]),*) => {$($(
                    if let (Some(arg), Some(result)) = (<$a>::of(arg), <$r>::of(result)) {
                        return run_worker_with(shared, index, pin_to, Same { arg, result });
                    }
                )*)*};
            }
            same!(i64 => [i64, i32, u64, f64], i32 => [i64, i32, u64, f64],
                  u64 => [i64, i32, u64, f64], f64 => [i64, i32, u64, f64]);
            unreachable!("Expect::fits checked {} against the values", t.signature())
        }
    }
}

/// How a loop picks arguments and checks results.
trait Check: Copy {
    type Arg: CValue;
    type Ret: CValue;
    /// Argument of call `i` of a thread whose inputs start at `base`.
    fn input(&self, base: i64, i: u64) -> Self::Arg;
    /// The expected result for `x`.
    fn expected(&self, x: Self::Arg) -> Self::Ret;
}

/// Distinct inputs `base + i`, result `f(x)`.
#[derive(Clone, Copy)]
struct Varying<F>(F);

impl<F: Fn(i64) -> i64 + Copy> Check for Varying<F> {
    type Arg = i64;
    type Ret = i64;
    #[inline(always)]
    fn input(&self, base: i64, i: u64) -> i64 {
        base.wrapping_add(i as i64)
    }
    #[inline(always)]
    fn expected(&self, x: i64) -> i64 {
        (self.0)(x)
    }
}

/// One argument for every call; one expected result.
#[derive(Clone, Copy)]
struct Same<A, R> {
    arg: A,
    result: R,
}

impl<A: CValue, R: CValue> Check for Same<A, R> {
    type Arg = A;
    type Ret = R;
    #[inline(always)]
    fn input(&self, _base: i64, _i: u64) -> A {
        self.arg
    }
    #[inline(always)]
    fn expected(&self, _x: A) -> R {
        self.result
    }
}

fn run_worker_with<C: Check>(
    shared: &WorkerShared<'_>,
    index: usize,
    pin_to: PinTarget,
    check: C,
) -> WorkerOutcome {
    let f = shared
        .target
        .typed::<C::Arg, C::Ret>()
        .expect("run_worker dispatched on the target's signature");
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
    for i in 0..u64::from(shared.config.warmup_calls) {
        // Warm-up inputs count down from base - 1, so they never repeat a timed input.
        let x = check.input(base.wrapping_sub(1), i.wrapping_neg());
        // SAFETY: `f` has the target's signature and is callable from any thread with the
        // arguments `check` makes (CallTarget constructor contracts).
        let r = unsafe { f(x) };
        if !r.same(check.expected(x)) {
            out.warmup_wrong += 1;
        }
    }
    if shared.gate.arrive_and_wait() {
        out.start = Some(Instant::now());
        timed_loop(shared, f, base, &mut out, check);
        out.end = Some(Instant::now());
    }
    shared.target.thread_done();
    out
}

/// The measured loop: blocks of `sample_every` calls, the first of each timed.
fn timed_loop<C: Check>(
    shared: &WorkerShared<'_>,
    f: unsafe extern "C" fn(C::Arg) -> C::Ret,
    base: i64,
    out: &mut WorkerOutcome,
    check: C,
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
        let x = check.input(base, out.calls);
        let t0 = Instant::now();
        // SAFETY: as in run_worker_with.
        let r = unsafe { f(black_box(x)) };
        let dt = t0.elapsed();
        out.histogram
            .saturating_record(dt.as_nanos().try_into().unwrap_or(u64::MAX));
        out.samples += 1;
        verify(out, x, r, check);
        for j in 1..block {
            let x = check.input(base, out.calls + j);
            // SAFETY: as in run_worker_with.
            let r = unsafe { f(black_box(x)) };
            verify(out, x, r, check);
        }
        out.calls += block;
    }
}

#[inline(always)]
fn verify<C: Check>(out: &mut WorkerOutcome, x: C::Arg, got: C::Ret, check: C) {
    let want = check.expected(x);
    if !got.same(want) {
        record_wrong(out, x.value(), got.value(), want.value());
    }
}

#[cold]
#[inline(never)]
fn record_wrong(out: &mut WorkerOutcome, input: Value, got: Value, expected: Value) {
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
