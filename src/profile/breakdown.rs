//! Per-phase breakdown of probe spans: owns splitting a thread's spans into calls, converting
//! ticks to ns, and the per-phase median / p99 / share, the phase sum, and its agreement with
//! the end-to-end time. Pure arithmetic on recorded data (no feature needed), so it is tested
//! on synthetic spans.
//!
//! Definitions (printed with the table):
//! - a phase's time in one call is the sum of its spans in that call (`apply` has two);
//! - `ns_median` / `ns_p99` are over all calls, except `gc`, which is over the calls that had one;
//! - the phase sum is Σ of the per-phase *means per call* (calls without the phase count 0, so
//!   `gc` enters at its amortised cost). Means, not medians: the TSC of the development VM
//!   advances in 10 ns steps, so a 3 ns phase reads 0 or 10 ns and its median is a step, not
//!   its duration, while the mean of the quantised readings is unbiased (a span's start is
//!   uncorrelated with the tick). The sum of means equals the mean per-call span sum exactly;
//! - means (phase terms and the end-to-end mean) are over the calls whose end-to-end time minus
//!   their `gc` span is at most the 99th percentile of that figure: a preempted call (tens of
//!   µs when other processes share the cores) would otherwise dominate a mean of ~200 ns calls,
//!   while calls that collected stay in, so `gc` keeps its amortised cost;
//! - `share` is a phase's mean divided by the phase sum;
//! - the gap is `(end_to_end_mean - phase_sum) / end_to_end_mean`, in %: positive when the
//!   glue between probed phases (C stub, argument checks, the driver's own clock reads) is not
//!   covered by any span.

use callin_reports::schema::Phase;
use serde::Serialize;

/// One recorded span with its phase mapped to the schema's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseSpan {
    pub phase: Phase,
    pub start: u64,
    pub end: u64,
}

/// Figures of one phase over all calls.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseStats {
    pub phase: Phase,
    /// Median ns per call (over calls that had the phase, for `gc`).
    pub ns_median: f64,
    /// 99th percentile ns per call (same population).
    pub ns_p99: f64,
    /// Mean ns per call over all calls (0 for calls without the phase): its term in the sum.
    pub sum_term_ns: f64,
    /// `sum_term_ns / phase_sum_ns`.
    pub share: f64,
    /// Calls in which the phase occurred.
    pub calls_with: u64,
}

/// The breakdown of a set of calls.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breakdown {
    pub calls: u64,
    /// Phases that occurred at least once, in call order.
    pub phases: Vec<PhaseStats>,
    /// Σ of the phase terms (ns).
    pub phase_sum_ns: f64,
    /// Median of the per-call sum of all spans (ns), for reference.
    pub per_call_sum_median_ns: f64,
    /// Median end-to-end time of one call (ns), same clock.
    pub end_to_end_median_ns: f64,
    /// Mean end-to-end time of one call (ns), compared with the phase sum.
    pub end_to_end_mean_ns: f64,
    /// 99th percentile end-to-end (ns).
    pub end_to_end_p99_ns: f64,
    /// `(end_to_end_mean - phase_sum) / end_to_end_mean * 100`.
    pub gap_pct: f64,
    /// Calls left out of the means (end-to-end minus gc above its 99th percentile).
    pub trimmed_calls: u64,
    /// Distinct timestamps per call (median): the probe boundaries one call pays for.
    pub boundaries_per_call: f64,
}

/// Split one thread's spans into calls: a call starts at each `task_lookup` span.
pub fn split_calls(spans: &[PhaseSpan]) -> Vec<&[PhaseSpan]> {
    let starts: Vec<usize> = (0..spans.len())
        .filter(|&i| spans[i].phase == Phase::TaskLookup)
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(k, &s)| &spans[s..starts.get(k + 1).copied().unwrap_or(spans.len())])
        .collect()
}

/// Per-phase ns of one call, indexed like `Phase::ALL`; `None` where the phase did not occur.
fn call_phase_ns(call: &[PhaseSpan], ticks_per_ns: f64) -> [Option<f64>; 12] {
    let mut out = [None; 12];
    for s in call {
        let i = Phase::ALL.iter().position(|&p| p == s.phase).unwrap_or(0);
        let ns = s.end.saturating_sub(s.start) as f64 / ticks_per_ns;
        out[i] = Some(out[i].unwrap_or(0.0) + ns);
    }
    out
}

/// Distinct timestamps in one call (chained spans share theirs).
fn boundaries(call: &[PhaseSpan]) -> usize {
    let mut ts: Vec<u64> = call.iter().flat_map(|s| [s.start, s.end]).collect();
    ts.sort_unstable();
    ts.dedup();
    ts.len()
}

/// Value at quantile `q` (nearest rank) of an ascending sample; 0 for an empty one.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Build the breakdown from calls (each a slice of spans) and the end-to-end tick count of
/// every call, converting with `ticks_per_ns`.
pub fn breakdown(calls: &[&[PhaseSpan]], end_to_end_ticks: &[u64], ticks_per_ns: f64) -> Breakdown {
    let per_call: Vec<[Option<f64>; 12]> = calls
        .iter()
        .map(|c| call_phase_ns(c, ticks_per_ns))
        .collect();
    let e2e_all: Vec<f64> = end_to_end_ticks
        .iter()
        .map(|&t| t as f64 / ticks_per_ns)
        .collect();
    let keep = untrimmed(&per_call, &e2e_all);
    let n = keep.iter().filter(|&&k| k).count().max(1) as f64;
    let mut phases = Vec::new();
    for (i, &phase) in Phase::ALL.iter().enumerate() {
        let present = sorted(per_call.iter().filter_map(|c| c[i]).collect());
        if present.is_empty() {
            continue;
        }
        let ns_median = quantile(&present, 0.5);
        let kept: f64 = per_call
            .iter()
            .zip(&keep)
            .filter_map(|(c, &k)| if k { c[i] } else { None })
            .sum();
        let sum_term_ns = kept / n;
        phases.push(PhaseStats {
            phase,
            ns_median,
            ns_p99: quantile(&present, 0.99),
            sum_term_ns,
            share: 0.0,
            calls_with: present.len() as u64,
        });
    }
    let phase_sum_ns: f64 = phases.iter().map(|p| p.sum_term_ns).sum();
    for p in &mut phases {
        p.share = if phase_sum_ns > 0.0 {
            p.sum_term_ns / phase_sum_ns
        } else {
            0.0
        };
    }
    let per_call_sum = sorted(
        per_call
            .iter()
            .map(|c| c.iter().flatten().sum::<f64>())
            .collect(),
    );
    let e2e = sorted(
        end_to_end_ticks
            .iter()
            .map(|&t| t as f64 / ticks_per_ns)
            .collect(),
    );
    let e2e_median = quantile(&e2e, 0.5);
    let e2e_mean = e2e_all
        .iter()
        .zip(&keep)
        .filter_map(|(&v, &k)| k.then_some(v))
        .sum::<f64>()
        / n;
    let bounds = sorted(calls.iter().map(|c| boundaries(c) as f64).collect());
    Breakdown {
        calls: calls.len() as u64,
        phases,
        phase_sum_ns,
        per_call_sum_median_ns: quantile(&per_call_sum, 0.5),
        end_to_end_median_ns: e2e_median,
        end_to_end_mean_ns: e2e_mean,
        end_to_end_p99_ns: quantile(&e2e, 0.99),
        gap_pct: if e2e_mean > 0.0 {
            (e2e_mean - phase_sum_ns) / e2e_mean * 100.0
        } else {
            0.0
        },
        trimmed_calls: keep.iter().filter(|&&k| !k).count() as u64,
        boundaries_per_call: quantile(&bounds, 0.5),
    }
}

/// Which calls enter the means: end-to-end minus the call's `gc` span at most its p99.
fn untrimmed(per_call: &[[Option<f64>; 12]], e2e_ns: &[f64]) -> Vec<bool> {
    let gc = Phase::ALL.len() - 1;
    let key: Vec<f64> = e2e_ns
        .iter()
        .enumerate()
        .map(|(i, &e)| e - per_call.get(i).and_then(|c| c[gc]).unwrap_or(0.0))
        .collect();
    let limit = quantile(&sorted(key.clone()), 0.99);
    key.iter().map(|&k| k <= limit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(phase: Phase, start: u64, end: u64) -> PhaseSpan {
        PhaseSpan { phase, start, end }
    }

    /// Two calls at 2 ticks/ns: task_lookup 10 ns, apply 5+5 ns; the second has a 100 ns gc.
    fn sample() -> Vec<PhaseSpan> {
        vec![
            span(Phase::TaskLookup, 0, 20),
            span(Phase::Apply, 20, 30),
            span(Phase::Apply, 40, 50),
            span(Phase::TaskLookup, 100, 120),
            span(Phase::Gc, 120, 320),
            span(Phase::Apply, 320, 330),
            span(Phase::Apply, 340, 350),
        ]
    }

    #[test]
    fn calls_split_at_task_lookup() {
        let s = sample();
        let calls = split_calls(&s);
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].len(), 3);
        assert_eq!(calls[1].len(), 4);
    }

    #[test]
    fn phases_sum_per_call_and_gc_is_amortised() {
        let s = sample();
        let calls = split_calls(&s);
        let b = breakdown(&calls, &[60, 260], 2.0);
        let get = |p| b.phases.iter().find(|s| s.phase == p).unwrap();
        assert_eq!(get(Phase::Apply).ns_median, 10.0, "two apply spans add up");
        assert_eq!(get(Phase::Gc).ns_median, 100.0);
        assert_eq!(get(Phase::Gc).calls_with, 1);
        assert_eq!(get(Phase::Gc).sum_term_ns, 50.0, "mean per call");
        assert_eq!(get(Phase::Apply).sum_term_ns, 10.0);
        assert_eq!(b.phase_sum_ns, 10.0 + 10.0 + 50.0);
        assert_eq!(b.per_call_sum_median_ns, 20.0);
        assert_eq!(b.end_to_end_mean_ns, 80.0);
        assert_eq!(b.gap_pct, (80.0 - 70.0) / 80.0 * 100.0);
        assert!((b.phases.iter().map(|p| p.share).sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(b.end_to_end_median_ns, 30.0);
        assert_eq!(
            b.boundaries_per_call, 5.0,
            "chained spans share a timestamp"
        );
    }

    #[test]
    fn quantiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
