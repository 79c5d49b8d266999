//! Quantile thresholds: the value Δ that leaves a fraction `r` of a sample at or below it.

/// A threshold and how exactly it meets the requested fraction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantileThreshold {
    /// Values strictly above `delta` are "on"; a fraction `achieved` is at or below it.
    pub delta: f64,
    /// Fraction of the values that are off (≤ `delta`).
    pub achieved: f64,
    /// Fraction of the values tied at the sorted position the target fell on (0 when the
    /// target position fell between two distinct values).
    pub tied: f64,
}

/// The threshold that turns off a fraction `r` ∈ [0, 1] of `values` (the gate is
/// `1[v − Δ > 0]`). Δ is placed halfway between the two neighbouring distinct values so it
/// transfers to unseen data without bias. When the target position falls inside a run of
/// equal values (blank backgrounds give many), Δ goes to the side of the run whose fraction
/// is closer to `r`, and the run's mass is reported as `tied`. Sorts `values` in place.
/// NaNs are ordered last (treated as +∞: always on). Empty input gives Δ = 0.
pub fn quantile_threshold(values: &mut [f32], r: f64) -> QuantileThreshold {
    let n = values.len();
    if n == 0 {
        return QuantileThreshold {
            delta: 0.0,
            achieved: 0.0,
            tied: 0.0,
        };
    }
    values.sort_unstable_by(|a, b| a.total_cmp(b));
    let k = ((r.clamp(0.0, 1.0) * n as f64).round() as usize).min(n);
    let v = |i: usize| f64::from(values[i]);
    let below = |i: usize| -> f64 {
        // Δ that leaves exactly the first i values off.
        if i == 0 {
            v(0) - 1.0
        } else if i == n {
            v(n - 1)
        } else {
            0.5 * (v(i - 1) + v(i))
        }
    };
    if k == 0 || k == n || values[k - 1] < values[k] {
        return QuantileThreshold {
            delta: below(k),
            achieved: k as f64 / n as f64,
            tied: 0.0,
        };
    }
    // values[k-1] == values[k]: a run [a, b) of equal values straddles the target.
    let t = values[k];
    let a = values.partition_point(|x| x.total_cmp(&t).is_lt());
    let b = values.partition_point(|x| x.total_cmp(&t).is_le());
    let (fa, fb) = (a as f64 / n as f64, b as f64 / n as f64);
    let tied = (b - a) as f64 / n as f64;
    let target = r.clamp(0.0, 1.0);
    if (fa - target).abs() <= (fb - target).abs() {
        QuantileThreshold {
            delta: below(a),
            achieved: fa,
            tied,
        }
    } else {
        QuantileThreshold {
            delta: below(b),
            achieved: fb,
            tied,
        }
    }
}

/// Like [`quantile_threshold`] without tie handling, in O(n) (training-time schedule).
pub fn fast_quantile_threshold(values: &mut [f32], r: f64) -> f64 {
    let n = values.len();
    if n == 0 {
        return 0.0;
    }
    let k = ((r.clamp(0.0, 1.0) * n as f64).round() as usize).min(n);
    if k == 0 {
        let m = values.iter().copied().fold(f32::INFINITY, f32::min);
        return f64::from(m) - 1.0;
    }
    if k == n {
        return f64::from(values.iter().copied().fold(f32::NEG_INFINITY, f32::max));
    }
    let (lo, kth, _) = values.select_nth_unstable_by(k, |a, b| a.total_cmp(b));
    let kth = f64::from(*kth);
    let lo_max = lo.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    0.5 * (f64::from(lo_max) + kth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_distinct_values() {
        let mut v: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let q = quantile_threshold(&mut v, 0.3);
        assert_eq!(q.delta, 2.5);
        assert_eq!(q.achieved, 0.3);
        assert_eq!(q.tied, 0.0);
        let mut v: Vec<f32> = (0..10).rev().map(|i| i as f32).collect();
        assert_eq!(fast_quantile_threshold(&mut v, 0.3), 2.5);
    }

    #[test]
    fn ties_take_the_closer_side() {
        // 6 zeros then 1..=4: target 0.5 lies in the zero run [0, 6): 0.6 is closer than 0.0.
        let mut v = vec![0.0f32, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0];
        let q = quantile_threshold(&mut v, 0.5);
        assert_eq!(q.achieved, 0.6);
        assert_eq!(q.tied, 0.6);
        assert_eq!(q.delta, 0.5);
        // Target 0.2: closer to 0.0 (all zeros on).
        let q = quantile_threshold(&mut v, 0.2);
        assert_eq!(q.achieved, 0.0);
        assert!(q.delta < 0.0);
    }

    #[test]
    fn extremes() {
        let mut v = vec![1.0f32, 2.0, 3.0];
        assert_eq!(quantile_threshold(&mut v, 0.0).achieved, 0.0);
        let q = quantile_threshold(&mut v, 1.0);
        assert_eq!((q.achieved, q.delta), (1.0, 3.0));
    }
}
