//! The statistics every command quotes over repetitions: the median with its spread (min, max,
//! count), as `callin_reports::schema::Spread`.
//!
//! The median is the true median: the middle value of an odd count, the mean of the two middle
//! values of an even count (so two repetitions report their mean, not the larger one).

use callin_reports::schema::Spread;

/// The median of `sorted`, non-empty (the report's [`callin_reports::paired::median`], which the
/// paired-round intervals use too).
///
/// # Panics
/// If `sorted` is empty.
pub fn median(sorted: &[f64]) -> f64 {
    callin_reports::paired::median(sorted).expect("the median of no values")
}

/// Median, min, max and count of `values` (any order, non-empty).
///
/// # Panics
/// If `values` is empty.
pub fn spread(values: &[f64]) -> Spread {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    Spread {
        median: median(&v),
        min: v[0],
        max: v[v.len() - 1],
        reps: v.len() as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_takes_the_median_and_extremes() {
        let s = spread(&[3.0, 1.0, 2.0, 10.0]);
        assert_eq!((s.median, s.min, s.max, s.reps), (2.5, 1.0, 10.0, 4));
        assert_eq!(spread(&[5.0]).median, 5.0);
    }

    #[test]
    fn an_even_count_takes_the_mean_of_the_middle_two() {
        assert_eq!(median(&[1.0, 4.0]), 2.5, "not the upper median 4");
        assert_eq!(median(&[1.0, 2.0, 6.0, 7.0]), 4.0);
        assert_eq!(median(&[1.0, 2.0, 9.0]), 2.0);
    }
}
