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
//! - the gap is `(end_to_end_mean - phase_sum) / end_to_end_mean`, in %. The probes' spans
//!   are contiguous from `rts_lock`'s entry to `rts_unlock`'s exit (Note [contiguous spans] in
//!   `rts_core::probes`: the glue between two `rts_*` calls is in the phase that follows it), so
//!   the gap is what lies outside them: the stub's code before `rts_lock` and after
//!   `rts_unlock`, and the driver's own clock read;
//! - overhead correction: each span holds one probe boundary (the clock read closing it and
//!   the store of the span before it), calibrated alone as `boundary_ns`. A phase's corrected
//!   figure is its per-call time minus `boundary_ns` per span it has in that call (`apply`
//!   has two), so a corrected median is the median of the corrected per-call values and a
//!   corrected mean is the raw mean minus the mean span count times `boundary_ns`. The
//!   statistic, not each span, is clamped at 0 (clamping 10 ns-quantised spans one by one
//!   would bias every short phase upwards) and flagged when the correction exceeds the raw
//!   value: that phase is below what the probes can resolve.

use callin_reports::schema::Phase;
use serde::Serialize;

/// Boundaries timed back to back per calibration sample.
pub const CALIBRATION_BOUNDARIES: usize = 10_000;
/// Samples per calibration repetition (their median is the repetition's figure).
pub const CALIBRATION_SAMPLES: usize = 15;
/// Calibration repetitions (the smallest median is the probe cost; also the API-span wrappers' boundary cost).
pub const CALIBRATION_REPETITIONS: usize = 7;

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
    /// Mean spans of this phase per call that had it (`apply`: 2).
    pub spans_per_call: f64,
    /// `ns_median` with `boundary_ns` taken off per span, clamped at 0.
    pub corrected_median_ns: f64,
    /// `sum_term_ns` with `boundary_ns` taken off per span, clamped at 0.
    pub corrected_sum_term_ns: f64,
    /// The correction exceeded the raw median or mean (clamped to 0).
    pub correction_exceeds_raw: bool,
}

/// The breakdown of a set of calls.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breakdown {
    pub calls: u64,
    /// Phases that occurred at least once, in call order.
    pub phases: Vec<PhaseStats>,
    /// Σ of the phase terms (ns).
    pub phase_sum_ns: f64,
    /// Cost of one probe boundary taken off each span in the corrected figures (ns).
    pub boundary_ns: f64,
    /// Σ of the corrected phase terms (ns): the probed part of the call without probe cost.
    pub corrected_phase_sum_ns: f64,
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
    split_at_starts(spans, |s| s.phase == Phase::TaskLookup)
}

/// Split `spans` into runs that each begin at a span for which `starts_call` holds (spans before
/// the first such span belong to no call and are left out).
pub fn split_at_starts<T>(spans: &[T], starts_call: impl Fn(&T) -> bool) -> Vec<&[T]> {
    let starts: Vec<usize> = (0..spans.len())
        .filter(|&i| starts_call(&spans[i]))
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(k, &s)| &spans[s..starts.get(k + 1).copied().unwrap_or(spans.len())])
        .collect()
}

/// One phase in one call: its total ns and how many spans it had.
#[derive(Debug, Clone, Copy)]
struct PhaseInCall {
    ns: f64,
    spans: u32,
}

/// Per-phase time of one call, indexed like `Phase::ALL`; `None` where the phase did not occur.
fn call_phase_ns(call: &[PhaseSpan], ticks_per_ns: f64) -> [Option<PhaseInCall>; 12] {
    let mut out: [Option<PhaseInCall>; 12] = [None; 12];
    for s in call {
        let i = Phase::ALL.iter().position(|&p| p == s.phase).unwrap_or(0);
        let ns = s.end.saturating_sub(s.start) as f64 / ticks_per_ns;
        let prev = out[i].unwrap_or(PhaseInCall { ns: 0.0, spans: 0 });
        out[i] = Some(PhaseInCall {
            ns: prev.ns + ns,
            spans: prev.spans + 1,
        });
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
/// every call, converting with `ticks_per_ns`; corrected figures take `boundary_ns` off each
/// span (module docs).
pub fn breakdown(
    calls: &[&[PhaseSpan]],
    end_to_end_ticks: &[u64],
    ticks_per_ns: f64,
    boundary_ns: f64,
) -> Breakdown {
    let per_call: Vec<[Option<PhaseInCall>; 12]> = calls
        .iter()
        .map(|c| call_phase_ns(c, ticks_per_ns))
        .collect();
    let e2e_all: Vec<f64> = end_to_end_ticks
        .iter()
        .map(|&t| t as f64 / ticks_per_ns)
        .collect();
    let keep = untrimmed(&per_call, &e2e_all);
    let phases: Vec<PhaseStats> = (0..Phase::ALL.len())
        .filter_map(|i| phase_stats(i, &per_call, &keep, boundary_ns))
        .collect();
    let mut b = Breakdown {
        calls: calls.len() as u64,
        phase_sum_ns: phases.iter().map(|p| p.sum_term_ns).sum(),
        boundary_ns,
        corrected_phase_sum_ns: phases.iter().map(|p| p.corrected_sum_term_ns).sum(),
        phases,
        per_call_sum_median_ns: quantile(
            &sorted(
                per_call
                    .iter()
                    .map(|c| c.iter().flatten().map(|p| p.ns).sum::<f64>())
                    .collect(),
            ),
            0.5,
        ),
        end_to_end_median_ns: 0.0,
        end_to_end_mean_ns: kept_mean(&e2e_all, &keep),
        end_to_end_p99_ns: 0.0,
        gap_pct: 0.0,
        trimmed_calls: keep.iter().filter(|&&k| !k).count() as u64,
        boundaries_per_call: quantile(
            &sorted(calls.iter().map(|c| boundaries(c) as f64).collect()),
            0.5,
        ),
    };
    let e2e = sorted(e2e_all);
    b.end_to_end_median_ns = quantile(&e2e, 0.5);
    b.end_to_end_p99_ns = quantile(&e2e, 0.99);
    b.gap_pct = gap_pct(b.end_to_end_mean_ns, b.phase_sum_ns);
    let sum = b.phase_sum_ns;
    for p in &mut b.phases {
        p.share = if sum > 0.0 { p.sum_term_ns / sum } else { 0.0 };
    }
    b
}

/// `(end_to_end - part) / end_to_end * 100`, 0 for an empty end-to-end.
pub fn gap_pct(end_to_end: f64, part: f64) -> f64 {
    if end_to_end > 0.0 {
        (end_to_end - part) / end_to_end * 100.0
    } else {
        0.0
    }
}

/// Mean of the kept values (1 as the divisor when none are kept).
fn kept_mean(values: &[f64], keep: &[bool]) -> f64 {
    let n = keep.iter().filter(|&&k| k).count().max(1) as f64;
    values
        .iter()
        .zip(keep)
        .filter_map(|(&v, &k)| k.then_some(v))
        .sum::<f64>()
        / n
}

/// Figures of phase `i` (index into `Phase::ALL`); `None` if it never occurred.
fn phase_stats(
    i: usize,
    per_call: &[[Option<PhaseInCall>; 12]],
    keep: &[bool],
    boundary_ns: f64,
) -> Option<PhaseStats> {
    let present: Vec<PhaseInCall> = per_call.iter().filter_map(|c| c[i]).collect();
    if present.is_empty() {
        return None;
    }
    let raw = sorted(present.iter().map(|p| p.ns).collect());
    let corrected = sorted(
        present
            .iter()
            .map(|p| p.ns - f64::from(p.spans) * boundary_ns)
            .collect(),
    );
    let n = keep.iter().filter(|&&k| k).count().max(1) as f64;
    let kept = per_call
        .iter()
        .zip(keep)
        .filter_map(|(c, &k)| c[i].filter(|_| k));
    let (kept_ns, kept_spans) = kept.fold((0.0, 0.0), |(ns, sp), p| {
        (ns + p.ns, sp + f64::from(p.spans))
    });
    let sum_term_ns = kept_ns / n;
    let corrected_median = quantile(&corrected, 0.5);
    let corrected_term = sum_term_ns - kept_spans / n * boundary_ns;
    Some(PhaseStats {
        phase: Phase::ALL[i],
        ns_median: quantile(&raw, 0.5),
        ns_p99: quantile(&raw, 0.99),
        sum_term_ns,
        share: 0.0,
        calls_with: present.len() as u64,
        spans_per_call: present.iter().map(|p| f64::from(p.spans)).sum::<f64>()
            / present.len() as f64,
        corrected_median_ns: corrected_median.max(0.0),
        corrected_sum_term_ns: corrected_term.max(0.0),
        correction_exceeds_raw: corrected_median < 0.0 || corrected_term < 0.0,
    })
}

/// The probe-cost estimate from repeated timing: the median of each repetition's samples (per
/// boundary), then the smallest of those medians (the repetition least disturbed by other
/// work). `None` without samples.
pub fn min_of_medians(repetitions: &[Vec<f64>]) -> Option<f64> {
    repetitions
        .iter()
        .filter(|r| !r.is_empty())
        .map(|r| quantile(&sorted(r.clone()), 0.5))
        .min_by(f64::total_cmp)
}

/// Which calls enter the means: end-to-end minus the call's `gc` span at most its p99.
fn untrimmed(per_call: &[[Option<PhaseInCall>; 12]], e2e_ns: &[f64]) -> Vec<bool> {
    let gc = Phase::ALL.len() - 1;
    let key: Vec<f64> = e2e_ns
        .iter()
        .enumerate()
        .map(|(i, &e)| e - per_call.get(i).and_then(|c| c[gc]).map_or(0.0, |p| p.ns))
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

    /// The breakdown of [`sample`] (end to end 30 and 130 ns) with `boundary_ns` corrected off.
    fn sample_breakdown(boundary_ns: f64) -> Breakdown {
        let s = sample();
        breakdown(&split_calls(&s), &[60, 260], 2.0, boundary_ns)
    }

    fn stats_of(b: &Breakdown, phase: Phase) -> &PhaseStats {
        b.phases.iter().find(|s| s.phase == phase).unwrap()
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
        let b = sample_breakdown(0.0);
        let get = |p| stats_of(&b, p);
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
    fn correction_takes_one_boundary_off_each_span() {
        let b = sample_breakdown(3.0);
        let get = |p| stats_of(&b, p);
        let apply = get(Phase::Apply);
        assert_eq!(apply.spans_per_call, 2.0);
        assert_eq!(
            apply.corrected_median_ns,
            10.0 - 2.0 * 3.0,
            "two spans, two boundaries"
        );
        assert_eq!(apply.corrected_sum_term_ns, 4.0);
        assert_eq!(get(Phase::TaskLookup).corrected_median_ns, 7.0);
        let gc = get(Phase::Gc);
        assert_eq!(gc.corrected_median_ns, 97.0);
        assert_eq!(
            gc.corrected_sum_term_ns,
            50.0 - 0.5 * 3.0,
            "amortised over all calls"
        );
        assert!(b.phases.iter().all(|p| !p.correction_exceeds_raw));
        assert_eq!(b.corrected_phase_sum_ns, 4.0 + 7.0 + 48.5);
        assert_eq!(b.phase_sum_ns, 70.0, "raw figures are untouched");
    }

    #[test]
    fn a_correction_larger_than_the_phase_clamps_and_flags() {
        let b = sample_breakdown(6.0);
        let apply = stats_of(&b, Phase::Apply);
        assert_eq!(apply.corrected_median_ns, 0.0);
        assert_eq!(apply.corrected_sum_term_ns, 0.0);
        assert!(apply.correction_exceeds_raw);
        let tl = stats_of(&b, Phase::TaskLookup);
        assert_eq!(tl.corrected_median_ns, 4.0);
        assert!(!tl.correction_exceeds_raw);
    }

    #[test]
    fn calibration_takes_the_smallest_median() {
        let reps = vec![vec![9.0, 12.0, 30.0], vec![10.0, 10.5, 11.0], vec![]];
        assert_eq!(min_of_medians(&reps), Some(10.5));
        assert_eq!(min_of_medians(&[]), None);
    }

    #[test]
    fn quantiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
