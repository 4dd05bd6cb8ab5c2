//! Driver results: owns the plain, serialisable structs a run produces (per thread, aggregate,
//! latency summary, fairness) and the arithmetic that builds them from worker outcomes.

use std::fmt;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::worker::{WorkerOutcome, new_histogram};
use super::{DriverConfig, RunMode, Value};
use crate::pin::PinReport;

/// One call whose result failed the check.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WrongResult {
    /// Driver thread index that made the call.
    pub thread: usize,
    /// Argument passed.
    pub input: Value,
    /// What the function returned.
    pub got: Value,
    /// What the check expected.
    pub expected: Value,
}

impl fmt::Display for WrongResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "thread {}: f({}) returned {}, expected {}",
            self.thread, self.input, self.got, self.expected
        )
    }
}

/// The configuration as recorded in results.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigSummary {
    pub threads: usize,
    pub mode: RunMode,
    pub pin: &'static str,
    pub sample_every: u32,
    pub warmup_calls: u32,
    pub expect: &'static str,
}

/// One driver thread's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadReport {
    pub index: usize,
    pub pin: PinReport,
    /// Timed calls completed (warm-up excluded).
    pub calls: u64,
    /// Timed calls whose result failed the check.
    pub wrong: u64,
    /// Warm-up calls whose result failed the check.
    pub warmup_wrong: u64,
    /// Calls timed individually (one per block of `sample_every`).
    pub samples: u64,
    /// From this thread's release to its last call's return.
    pub wall_ns: u64,
    pub calls_per_sec: f64,
}

/// Per-call latency of the sampled calls, in ns. Includes one `Instant::now()` read (see
/// [`RunReport::timer_overhead_ns`]).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LatencySummary {
    pub samples: u64,
    pub min_ns: u64,
    pub p50_ns: u64,
    pub p90_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub max_ns: u64,
    pub mean_ns: f64,
}

/// How evenly the threads were served. CoV = population standard deviation / mean.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Fairness {
    pub min_calls: u64,
    pub max_calls: u64,
    pub mean_calls: f64,
    pub cov_calls: f64,
    /// `min_calls / max_calls`; 1.0 = perfectly even, 0.0 = a thread made no calls.
    pub min_over_max_calls: f64,
    pub min_calls_per_sec: f64,
    pub max_calls_per_sec: f64,
    pub cov_calls_per_sec: f64,
}

/// Everything one driver run measured.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub config: ConfigSummary,
    pub threads: Vec<ThreadReport>,
    pub total_calls: u64,
    /// Wrong results among the timed calls of all threads.
    pub wrong_results: u64,
    /// Wrong results among the warm-up calls of all threads.
    pub warmup_wrong_results: u64,
    /// The first wrong result seen (lowest thread index first), if any.
    pub first_wrong: Option<WrongResult>,
    /// From the first thread's release to the last thread's finish.
    pub wall_ns: u64,
    /// `wall_ns / total_calls`.
    pub ns_per_call: f64,
    /// `total_calls / wall`.
    pub calls_per_sec: f64,
    pub latency: LatencySummary,
    pub fairness: Fairness,
    /// Minimum of back-to-back `Instant::now()` pairs measured before the run: the timer cost
    /// contained in every latency sample.
    pub timer_overhead_ns: u64,
    /// All threads' sampled latencies merged (ns).
    #[serde(skip)]
    pub histogram: Histogram<u64>,
}

impl RunReport {
    /// `Err` naming the first wrong result when any call (timed or warm-up) failed its check.
    pub fn ensure_correct(&self) -> Result<(), super::DriverError> {
        let count = self.wrong_results + self.warmup_wrong_results;
        if count == 0 {
            return Ok(());
        }
        Err(super::DriverError::WrongResults {
            count,
            first: self.first_wrong,
        })
    }
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().try_into().unwrap_or(u64::MAX)
}

fn per_sec(calls: u64, ns: u64) -> f64 {
    if ns == 0 {
        0.0
    } else {
        calls as f64 * 1e9 / ns as f64
    }
}

fn thread_report(o: &WorkerOutcome) -> ThreadReport {
    let wall_ns = match (o.start, o.end) {
        (Some(s), Some(e)) => nanos(e - s),
        _ => 0,
    };
    ThreadReport {
        index: o.index,
        pin: o.pin.clone(),
        calls: o.calls,
        wrong: o.wrong,
        warmup_wrong: o.warmup_wrong,
        samples: o.samples,
        wall_ns,
        calls_per_sec: per_sec(o.calls, wall_ns),
    }
}

/// Builds the report from the outcomes, in thread-index order.
pub(crate) fn build_report(
    config: &DriverConfig,
    mut outcomes: Vec<WorkerOutcome>,
    timer_overhead_ns: u64,
) -> RunReport {
    outcomes.sort_by_key(|o| o.index);
    let threads: Vec<ThreadReport> = outcomes.iter().map(thread_report).collect();
    let total_calls = threads.iter().map(|t| t.calls).sum();
    let wall_ns = aggregate_wall_ns(&outcomes);
    let mut histogram = new_histogram();
    for o in &outcomes {
        histogram
            .add(&o.histogram)
            .expect("driver histograms share bounds");
    }
    RunReport {
        config: config.summary(),
        total_calls,
        wrong_results: threads.iter().map(|t| t.wrong).sum(),
        warmup_wrong_results: threads.iter().map(|t| t.warmup_wrong).sum(),
        first_wrong: outcomes.iter().find_map(|o| o.first_wrong),
        wall_ns,
        ns_per_call: if total_calls == 0 {
            f64::NAN
        } else {
            wall_ns as f64 / total_calls as f64
        },
        calls_per_sec: per_sec(total_calls, wall_ns),
        latency: summarise(&histogram),
        fairness: fairness(&threads),
        timer_overhead_ns,
        threads,
        histogram,
    }
}

/// First release to last finish.
fn aggregate_wall_ns(outcomes: &[WorkerOutcome]) -> u64 {
    let first: Option<Instant> = outcomes.iter().filter_map(|o| o.start).min();
    let last: Option<Instant> = outcomes.iter().filter_map(|o| o.end).max();
    match (first, last) {
        (Some(f), Some(l)) => nanos(l - f),
        _ => 0,
    }
}

/// Latency quantiles of a histogram (zeros when it is empty).
pub fn summarise(h: &Histogram<u64>) -> LatencySummary {
    let empty = h.is_empty();
    let q = |p: f64| if empty { 0 } else { h.value_at_quantile(p) };
    LatencySummary {
        samples: h.len(),
        min_ns: if empty { 0 } else { h.min() },
        p50_ns: q(0.50),
        p90_ns: q(0.90),
        p99_ns: q(0.99),
        p999_ns: q(0.999),
        max_ns: if empty { 0 } else { h.max() },
        mean_ns: if empty { 0.0 } else { h.mean() },
    }
}

/// (mean, coefficient of variation) of `xs`; CoV is 0 when the mean is 0.
fn mean_cov(xs: &[f64]) -> (f64, f64) {
    if xs.is_empty() {
        return (0.0, 0.0);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let cov = if mean == 0.0 { 0.0 } else { var.sqrt() / mean };
    (mean, cov)
}

/// Fairness across threads, from calls completed and per-thread throughput.
pub fn fairness(threads: &[ThreadReport]) -> Fairness {
    let calls: Vec<f64> = threads.iter().map(|t| t.calls as f64).collect();
    let rates: Vec<f64> = threads.iter().map(|t| t.calls_per_sec).collect();
    let (mean_calls, cov_calls) = mean_cov(&calls);
    let (_, cov_rates) = mean_cov(&rates);
    let min_calls = threads.iter().map(|t| t.calls).min().unwrap_or(0);
    let max_calls = threads.iter().map(|t| t.calls).max().unwrap_or(0);
    let fmin = |xs: &[f64]| xs.iter().copied().fold(f64::INFINITY, f64::min);
    let fmax = |xs: &[f64]| xs.iter().copied().fold(0.0, f64::max);
    Fairness {
        min_calls,
        max_calls,
        mean_calls,
        cov_calls,
        min_over_max_calls: if max_calls == 0 {
            0.0
        } else {
            min_calls as f64 / max_calls as f64
        },
        min_calls_per_sec: if rates.is_empty() { 0.0 } else { fmin(&rates) },
        max_calls_per_sec: fmax(&rates),
        cov_calls_per_sec: cov_rates,
    }
}
