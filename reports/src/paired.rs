//! Ratios with 95 % intervals, the one place every ratio the suite prints is computed: between
//! two systems of one run from paired rounds ([`paired_ratio`]), and between two runs of one
//! system ([`run_ratio`]). The harness's terminal summary and the report both call these.
//!
//! Intervals are distribution-free, from exact order statistics, not from a bootstrap:
//! - within a run, the per-round ratios r₁..rₙ are summarised by their median, and the interval
//!   is [r₍ₖ₎, r₍ₙ₊₁₋ₖ₎] with the largest k for which P(Binomial(n, ½) < k) ≤ 2.5 %, which covers
//!   the median ratio with probability ≥ 95 % for any continuous distribution of independent
//!   rounds (the sign-test interval; e.g. n = 20 gives [r₍₆₎, r₍₁₅₎]);
//! - between runs (independent samples), the change is the Hodges–Lehmann shift of the log
//!   times, the median of all n·m differences log cᵢ − log bⱼ, with Moses' interval from the
//!   exact Mann–Whitney distribution (normal approximation past 120 rounds in all).
//!
//! Why not a bootstrap: with the 6–30 rounds a run affords, percentile bootstrap intervals of a
//! median undercover (the resampled median takes few distinct values), and they are random, so
//! the same results could pass a regression gate once and fail it the next time. The exact
//! intervals are deterministic and need at least 6 rounds (below that no k exists: the interval
//! is absent and the estimate says so).

use crate::schema::RatioEstimate;

/// Two-sided confidence of every interval.
pub const CONFIDENCE: f64 = 0.95;
/// Fewest rounds that give a 95 % interval for a median: P(Binomial(6, ½) = 0) = 1/64 ≤ 2.5 %.
pub const MIN_ROUNDS_FOR_INTERVAL: usize = 6;

/// The median of `v` (mean of the middle two for an even count); `None` when empty.
pub fn median(v: &[f64]) -> Option<f64> {
    let mut s: Vec<f64> = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(s[n / 2]),
        _ => Some((s[n / 2 - 1] + s[n / 2]) / 2.0),
    }
}

/// The 1-based rank k of the sign-test interval [x₍ₖ₎, x₍ₙ₊₁₋ₖ₎] for n values, if any.
fn order_statistic_rank(n: usize) -> Option<usize> {
    let alpha_half = (1.0 - CONFIDENCE) / 2.0;
    // P(B < k) for B ~ Binomial(n, 1/2), accumulated term by term.
    let mut term = 0.5f64.powi(n as i32); // P(B = 0)
    let mut below = 0.0;
    let mut rank = None;
    for k in 1..=n / 2 {
        below += term; // now P(B < k) = P(B <= k - 1)
        if below > alpha_half {
            break;
        }
        rank = Some(k);
        term *= (n - (k - 1)) as f64 / k as f64; // P(B = k)
    }
    rank
}

/// Median of `values` with its distribution-free 95 % interval (absent below
/// [`MIN_ROUNDS_FOR_INTERVAL`] values).
pub fn median_estimate(values: &[f64]) -> Option<RatioEstimate> {
    let mut s: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    let m = median(&s)?;
    let (low, high) = match order_statistic_rank(s.len()) {
        Some(k) => (Some(s[k - 1]), Some(s[s.len() - k])),
        None => (None, None),
    };
    Some(RatioEstimate {
        median: m,
        low,
        high,
        rounds: s.len() as u32,
    })
}

/// `num ÷ den` per round (index i of both is the same round), then [`median_estimate`]. Rounds
/// where either value is missing or not positive are left out; `None` when none is left.
pub fn paired_ratio(num: &[f64], den: &[f64]) -> Option<RatioEstimate> {
    let ratios: Vec<f64> = num
        .iter()
        .zip(den)
        .filter(|(a, b)| **a > 0.0 && **b > 0.0)
        .map(|(a, b)| a / b)
        .collect();
    median_estimate(&ratios)
}

/// `current ÷ baseline` between two runs (independent samples of one system's ns per call):
/// exp of the Hodges–Lehmann shift of the log times, with Moses' 95 % interval.
pub fn run_ratio(current: &[f64], baseline: &[f64]) -> Option<RatioEstimate> {
    let logs = |v: &[f64]| -> Vec<f64> { v.iter().filter(|x| **x > 0.0).map(|x| x.ln()).collect() };
    let (c, b) = (logs(current), logs(baseline));
    if c.is_empty() || b.is_empty() {
        return None;
    }
    let mut d: Vec<f64> = c
        .iter()
        .flat_map(|x| b.iter().map(move |y| x - y))
        .collect();
    d.sort_by(f64::total_cmp);
    let shift = median(&d)?;
    let (low, high) = match mann_whitney_rank(c.len(), b.len()) {
        Some(k) => (Some(d[k - 1].exp()), Some(d[d.len() - k].exp())),
        None => (None, None),
    };
    Some(RatioEstimate {
        median: shift.exp(),
        low,
        high,
        rounds: (c.len() * b.len()) as u32,
    })
}

/// The 1-based rank k of Moses' interval [d₍ₖ₎, d₍ₙₘ₊₁₋ₖ₎]: the largest k with P(U < k) ≤ 2.5 %
/// for the Mann–Whitney U of sizes n, m under no shift.
fn mann_whitney_rank(n: usize, m: usize) -> Option<usize> {
    let alpha_half = (1.0 - CONFIDENCE) / 2.0;
    let nm = n * m;
    if n + m > 120 {
        // Normal approximation, with continuity correction.
        let mean = nm as f64 / 2.0;
        let sd = (nm as f64 * (n + m + 1) as f64 / 12.0).sqrt();
        let k = (mean - 1.959_964 * sd - 0.5).floor();
        return (k >= 1.0).then_some(k as usize);
    }
    let counts = mann_whitney_counts(n, m);
    let total: f64 = counts.iter().map(|&c| c as f64).sum();
    let mut below = 0.0; // P(U < k)
    let mut rank = None;
    for k in 1..=nm / 2 {
        below += counts[k - 1] as f64 / total;
        if below > alpha_half {
            break;
        }
        rank = Some(k);
    }
    rank
}

/// Number of orderings of n + m values with Mann–Whitney U = u, for u = 0..=n·m: the
/// coefficients of the Gaussian binomial [n+m choose n]_q = ∏ᵢ₌₁ⁿ (1 − q^(m+i)) / (1 − qⁱ).
/// Exact in i128 for n + m ≤ 120 (the largest coefficient is below C(120, 60) < 10³⁵).
fn mann_whitney_counts(n: usize, m: usize) -> Vec<i128> {
    let len = n * m + 1;
    let mut p = vec![0i128; len];
    p[0] = 1;
    for i in 1..=n {
        // Multiply by (1 - q^(m+i)), highest degree first so each term uses the old value.
        for u in (m + i..len).rev() {
            p[u] -= p[u - (m + i)];
        }
        // Divide by (1 - q^i): p_new[u] = p[u] + p_new[u - i].
        for u in i..len {
            p[u] += p[u - i];
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_test_ranks_match_the_binomial_tables() {
        assert_eq!(order_statistic_rank(5), None);
        assert_eq!(order_statistic_rank(6), Some(1));
        assert_eq!(order_statistic_rank(8), Some(1));
        assert_eq!(order_statistic_rank(9), Some(2));
        assert_eq!(order_statistic_rank(15), Some(4));
        assert_eq!(order_statistic_rank(20), Some(6));
    }

    #[test]
    fn paired_ratios_take_the_median_and_order_statistics() {
        let den = [10.0; 20];
        let num: Vec<f64> = (1..=20).map(|i| 10.0 + f64::from(i)).collect();
        let e = paired_ratio(&num, &den).unwrap();
        assert_eq!(e.rounds, 20);
        assert!((e.median - 2.05).abs() < 1e-12);
        assert_eq!((e.low, e.high), (Some(1.6), Some(2.5)));
        let few = paired_ratio(&num[..3], &den[..3]).unwrap();
        assert_eq!((few.low, few.high), (None, None));
        assert_eq!(paired_ratio(&[], &[]), None);
    }

    #[test]
    fn mann_whitney_counts_sum_to_the_binomial_and_are_symmetric() {
        let c = mann_whitney_counts(3, 4);
        assert_eq!(c.iter().sum::<i128>(), 35); // C(7, 3)
        assert_eq!(c, c.iter().rev().copied().collect::<Vec<_>>());
        assert_eq!(c[0], 1);
        // Tabled critical values (two-sided 5 %): n = m = 10 rejects for U <= 23, so the interval
        // is [d(24), d(77)].
        assert_eq!(mann_whitney_rank(10, 10), Some(24));
        assert_eq!(mann_whitney_rank(2, 2), None);
    }

    #[test]
    fn run_ratio_finds_a_doubling_and_no_change() {
        let base: Vec<f64> = (0..10).map(|i| 100.0 + f64::from(i)).collect();
        let twice: Vec<f64> = base.iter().map(|x| 2.0 * x).collect();
        let e = run_ratio(&twice, &base).unwrap();
        assert!((e.median - 2.0).abs() < 0.1, "{e:?}");
        assert!(e.low.unwrap() > 1.0);
        let same = run_ratio(&base, &base).unwrap();
        assert!(
            same.low.unwrap() < 1.0 && same.high.unwrap() > 1.0,
            "{same:?}"
        );
    }
}
