//! Summary statistics of a series of measurements.

use serde::Serialize;

/// count, mean, p50, p95, min and max of a series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Number of values.
    pub count: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median (linear interpolation).
    pub p50: f64,
    /// 95th percentile (linear interpolation).
    pub p95: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Stats {
    /// Statistics of `values` (NaNs ignored); `None` when there are none.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Stats> {
        let mut v: Vec<f64> = values.into_iter().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(Stats {
            count: v.len(),
            mean: v.iter().sum::<f64>() / v.len() as f64,
            p50: percentile(&v, 50.0),
            p95: percentile(&v, 95.0),
            min: v[0],
            max: v[v.len() - 1],
        })
    }
}

/// The `p`-th percentile of sorted values with linear interpolation between closest ranks
/// (numpy's default method).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.len() == 1 {
        return sorted[0];
    }
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_numpy() {
        // numpy.percentile([1..=10], [50, 95]) == [5.5, 9.55]
        let s = Stats::of((1..=10).map(f64::from)).unwrap();
        assert_eq!((s.count, s.min, s.max, s.mean), (10, 1.0, 10.0, 5.5));
        assert!((s.p50 - 5.5).abs() < 1e-12);
        assert!((s.p95 - 9.55).abs() < 1e-12);
        // Order does not matter; NaN is ignored; a single value is every percentile.
        let s = Stats::of([3.0, f64::NAN, 1.0, 2.0]).unwrap();
        assert_eq!((s.count, s.p50), (3, 2.0));
        assert_eq!(Stats::of([7.0]).unwrap().p95, 7.0);
        assert!(Stats::of([]).is_none());
        // numpy.percentile([0, 10, 20, 1000], 95) == 853.0
        assert!((Stats::of([0.0, 10.0, 20.0, 1000.0]).unwrap().p95 - 853.0).abs() < 1e-9);
    }
}
