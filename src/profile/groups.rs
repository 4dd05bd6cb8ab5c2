//! Phase-group breakdown of contiguous spans: owns splitting one thread's group spans into calls
//! (a call starts at each `lock` span), the per-group mean / median / p99 / share per call, and
//! rolling rts-core's phase spans up into groups (`Phase::group`), so the probes of rts-core and
//! the wrapped API spans of the real GHC give figures of the same shape, column for column.
//!
//! Definitions: a group's time in one call is the sum of its spans in that call (`apply` has
//! two); mean, median and p99 are over all calls, none left out: with more threads than
//! capabilities the calls that waited form a heavy tail (at 2 threads on 1 capability of the real
//! GHC, the slowest 1 % of calls held half of the time), and a mean without it would not be where
//! the time goes, nor comparable with sampling, which sees every call; a group's share is its
//! mean over the sum of the group means. The `corrected` figures are what sampling, which sees
//! CPU time only, should agree with: over the calls whose span sum is at most its 99th
//! percentile (a call preempted by another process, or one that slept, is off the CPU) and with
//! the calibrated cost of one boundary taken off each span (as [`super::breakdown`] does for
//! rts-core's phases).

use callin_vocab::{Phase, PhaseGroup};
use serde::{Deserialize, Serialize};

use super::breakdown::{PhaseSpan, quantile};

/// One span of one phase group: `[start, end)` in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSpan {
    pub group: PhaseGroup,
    pub start: u64,
    pub end: u64,
}

/// Roll rts-core phase spans up into group spans (adjacent spans of one group merge, so a
/// contiguous `task_lookup, incall_push, cap_acquire` run becomes one `lock` span).
pub fn roll_up(spans: &[PhaseSpan]) -> Vec<GroupSpan> {
    let mut out: Vec<GroupSpan> = Vec::with_capacity(spans.len() / 2);
    for s in spans {
        let group = s.phase.group();
        match out.last_mut() {
            Some(last) if last.group == group && last.end == s.start && s.phase != Phase::Apply => {
                last.end = s.end;
            }
            _ => out.push(GroupSpan {
                group,
                start: s.start,
                end: s.end,
            }),
        }
    }
    out
}

/// Split one thread's group spans into calls: a call starts at each `lock` span.
pub fn split_calls(spans: &[GroupSpan]) -> Vec<&[GroupSpan]> {
    super::breakdown::split_at_starts(spans, |s| s.group == PhaseGroup::Lock)
}

/// Whether every call's spans are contiguous (`end == next start`) and in time order.
pub fn contiguous(call: &[GroupSpan]) -> bool {
    call.windows(2).all(|w| w[0].end == w[1].start) && call.iter().all(|s| s.start <= s.end)
}

/// Figures of one group over all calls (ns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStats {
    pub group: PhaseGroup,
    /// Mean ns per call over the kept calls (module docs).
    pub ns_mean: f64,
    pub ns_median: f64,
    pub ns_p99: f64,
    /// `ns_mean` over the sum of the group means.
    pub share: f64,
    /// Mean over the calls at or below the p99 of the span sum, minus `boundary_ns` per span,
    /// clamped at 0 (module docs).
    pub ns_mean_corrected: f64,
    /// `ns_mean_corrected` over the sum of the corrected means.
    pub share_corrected: f64,
    /// Spans per call (median; `apply`: 2).
    pub spans_per_call: f64,
}

/// The group breakdown of a set of calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupBreakdown {
    pub calls: u64,
    /// Calls whose spans were not contiguous (0 unless a buffer overflowed mid-call).
    pub broken_calls: u64,
    /// Groups in call order (every group of [`PhaseGroup::ALL`] that occurred).
    pub groups: Vec<GroupStats>,
    /// Σ of the group means (ns): the mean per-call span sum, `lock`'s start to `unlock`'s end.
    pub sum_ns: f64,
    /// Cost of one boundary taken off each span in the corrected figures (ns).
    pub boundary_ns: f64,
}

/// Build the breakdown of `calls`, converting ticks with `ticks_per_ns`; corrected figures take
/// `boundary_ns` off each span.
pub fn breakdown(calls: &[&[GroupSpan]], ticks_per_ns: f64, boundary_ns: f64) -> GroupBreakdown {
    let n_groups = PhaseGroup::ALL.len();
    let mut per_call: Vec<Vec<(f64, u32)>> = Vec::with_capacity(calls.len());
    let mut broken = 0;
    for c in calls {
        broken += u64::from(!contiguous(c));
        let mut v = vec![(0.0, 0u32); n_groups];
        for s in *c {
            let i = s.group as usize;
            v[i].0 += s.end.saturating_sub(s.start) as f64 / ticks_per_ns;
            v[i].1 += 1;
        }
        per_call.push(v);
    }
    let n = per_call.len().max(1) as f64;
    let sums: Vec<f64> = per_call
        .iter()
        .map(|v| v.iter().map(|g| g.0).sum())
        .collect();
    let limit = quantile(&sorted(sums.clone()), 0.99);
    let kept: Vec<&Vec<(f64, u32)>> = per_call
        .iter()
        .zip(&sums)
        .filter_map(|(v, &s)| (s <= limit).then_some(v))
        .collect();
    let n_kept = kept.len().max(1) as f64;
    let mut groups = Vec::new();
    for (i, &group) in PhaseGroup::ALL.iter().enumerate() {
        if per_call.iter().all(|v| v[i].1 == 0) {
            continue;
        }
        let all = sorted(per_call.iter().map(|v| v[i].0).collect());
        let mean = all.iter().sum::<f64>() / n;
        let kept_mean = kept.iter().map(|v| v[i].0).sum::<f64>() / n_kept;
        let spans = kept.iter().map(|v| f64::from(v[i].1)).sum::<f64>() / n_kept;
        groups.push(GroupStats {
            group,
            ns_mean: mean,
            ns_median: quantile(&all, 0.5),
            ns_p99: quantile(&all, 0.99),
            share: 0.0,
            ns_mean_corrected: (kept_mean - spans * boundary_ns).max(0.0),
            share_corrected: 0.0,
            spans_per_call: quantile(
                &sorted(per_call.iter().map(|v| f64::from(v[i].1)).collect()),
                0.5,
            ),
        });
    }
    let sum_ns: f64 = groups.iter().map(|g| g.ns_mean).sum();
    let sum_corrected: f64 = groups.iter().map(|g| g.ns_mean_corrected).sum();
    for g in &mut groups {
        g.share = if sum_ns > 0.0 {
            g.ns_mean / sum_ns
        } else {
            0.0
        };
        g.share_corrected = if sum_corrected > 0.0 {
            g.ns_mean_corrected / sum_corrected
        } else {
            0.0
        };
    }
    GroupBreakdown {
        calls: calls.len() as u64,
        broken_calls: broken,
        groups,
        sum_ns,
        boundary_ns,
    }
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(group: PhaseGroup, start: u64, end: u64) -> GroupSpan {
        GroupSpan { group, start, end }
    }

    #[test]
    fn phases_roll_up_into_their_groups_keeping_both_applies() {
        let p = |phase, start, end| PhaseSpan { phase, start, end };
        let spans = [
            p(Phase::TaskLookup, 0, 1),
            p(Phase::IncallPush, 1, 3),
            p(Phase::CapAcquire, 3, 6),
            p(Phase::MkInt, 6, 7),
            p(Phase::Apply, 7, 9),
            p(Phase::Apply, 9, 10),
            p(Phase::CreateThread, 10, 12),
            p(Phase::Schedule, 12, 20),
        ];
        let r = roll_up(&spans);
        assert_eq!(
            r,
            [
                g(PhaseGroup::Lock, 0, 6),
                g(PhaseGroup::MkInt, 6, 7),
                g(PhaseGroup::Apply, 7, 9),
                g(PhaseGroup::Apply, 9, 10),
                g(PhaseGroup::Eval, 10, 20),
            ]
        );
    }

    #[test]
    fn calls_split_at_lock_and_groups_add_up() {
        let spans = [
            g(PhaseGroup::Lock, 0, 10),
            g(PhaseGroup::Apply, 10, 14),
            g(PhaseGroup::Apply, 14, 20),
            g(PhaseGroup::Unlock, 20, 30),
            g(PhaseGroup::Lock, 40, 50),
            g(PhaseGroup::Apply, 50, 54),
            g(PhaseGroup::Apply, 54, 60),
            g(PhaseGroup::Unlock, 60, 70),
        ];
        let calls = split_calls(&spans);
        assert_eq!(calls.len(), 2);
        assert!(calls.iter().all(|c| contiguous(c)));
        let b = breakdown(&calls, 2.0, 1.0);
        assert_eq!(b.broken_calls, 0);
        let apply = b
            .groups
            .iter()
            .find(|s| s.group == PhaseGroup::Apply)
            .unwrap();
        assert_eq!(apply.ns_mean, 5.0, "two spans of 4 + 6 ticks at 2 ticks/ns");
        assert_eq!(apply.spans_per_call, 2.0);
        assert_eq!(b.sum_ns, 15.0);
        assert_eq!(
            apply.ns_mean_corrected, 3.0,
            "one boundary off each of the two spans"
        );
        assert!((b.groups.iter().map(|g| g.share).sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_gap_between_spans_is_a_broken_call() {
        let spans = [g(PhaseGroup::Lock, 0, 10), g(PhaseGroup::Unlock, 11, 20)];
        let calls = split_calls(&spans);
        assert!(!contiguous(calls[0]));
        assert_eq!(breakdown(&calls, 1.0, 0.0).broken_calls, 1);
    }
}
