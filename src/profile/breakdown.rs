//! Per-phase breakdown of probe spans: owns splitting a thread's spans into calls, converting
//! ticks to ns, and the per-phase median / p99 / share, the phase sum, and its agreement with
//! the end-to-end time. Pure arithmetic on recorded data (no feature needed), so it is tested
//! on synthetic spans.
//!
//! Definitions (printed with the table):
//! - a phase's time in one call is the sum of its spans in that call (`apply` has two);
//! - `ns_median` / `ns_p99` are over all calls, except `gc`, which is over the calls that had one;
//! - the phase sum is Σ of the per-phase medians, with `gc` counted at its mean per call
//!   (a collection every few hundred calls has a median of 0 per call but a real amortised cost);
//! - `share` is a phase's term in that sum divided by the sum;
//! - agreement is `(end_to_end_median - phase_sum) / end_to_end_median`, in %: positive when
//!   the glue between probed phases (C stub, argument checks) is not covered by any span.

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
    /// The phase's term in the phase sum (median, or mean per call for `gc`), ns.
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
    /// 99th percentile end-to-end (ns).
    pub end_to_end_p99_ns: f64,
    /// `(end_to_end_median - phase_sum) / end_to_end_median * 100`.
    pub gap_pct: f64,
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
    let n = calls.len().max(1) as f64;
    let mut phases = Vec::new();
    for (i, &phase) in Phase::ALL.iter().enumerate() {
        let present = sorted(per_call.iter().filter_map(|c| c[i]).collect());
        if present.is_empty() {
            continue;
        }
        let ns_median = quantile(&present, 0.5);
        let sum_term_ns = match phase {
            Phase::Gc => present.iter().sum::<f64>() / n,
            _ => ns_median,
        };
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
    let bounds = sorted(calls.iter().map(|c| boundaries(c) as f64).collect());
    Breakdown {
        calls: calls.len() as u64,
        phases,
        phase_sum_ns,
        per_call_sum_median_ns: quantile(&per_call_sum, 0.5),
        end_to_end_median_ns: e2e_median,
        end_to_end_p99_ns: quantile(&e2e, 0.99),
        gap_pct: if e2e_median > 0.0 {
            (e2e_median - phase_sum_ns) / e2e_median * 100.0
        } else {
            0.0
        },
        boundaries_per_call: quantile(&bounds, 0.5),
    }
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
        assert_eq!(b.phase_sum_ns, 10.0 + 10.0 + 50.0);
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
