//! The columns cdg adds beside the simulator's rows (docs/model.md §10): the per-sample latency
//! percentiles of a run (`network.csv`, `sweep.csv`) and the gate density of each layer
//! (`layers.csv`), both computed from what the simulator and the trace already hold.

use cdg_core::LayerMasks;
use cdg_core::columns as col;

/// The `p`-th percentile (0 < p ≤ 100) of ascending `sorted` values by the nearest-rank rule:
/// the smallest value with at least `p` % of the values at or below it. `None` when empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil().clamp(1.0, n as f64) as usize;
    Some(sorted[rank - 1])
}

/// Per-sample latency percentiles of one run (µs): the tail a latency budget has to meet,
/// which the mean (`latency_us`) and the maximum (`latency_us_max`) do not show. A run without
/// masks has one "sample", so all three equal its latency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyPercentiles {
    pub latency_us_p50: f64,
    pub latency_us_p95: f64,
    pub latency_us_p99: f64,
}

cdg_core::csv_row!(LatencyPercentiles {
    latency_us_p50 = col::LATENCY_US_P50,
    latency_us_p95 = col::LATENCY_US_P95,
    latency_us_p99 = col::LATENCY_US_P99,
});

impl LatencyPercentiles {
    /// The nearest-rank percentiles of `latencies_us` (any order); zeros when empty.
    pub fn of(latencies_us: &[f64]) -> Self {
        let mut sorted = latencies_us.to_vec();
        sorted.sort_by(f64::total_cmp);
        let p = |q| percentile(&sorted, q).unwrap_or(0.0);
        Self {
            latency_us_p50: p(50.0),
            latency_us_p95: p(95.0),
            latency_us_p99: p(99.0),
        }
    }
}

/// A layer's gate density (fraction of gate blocks on) over the samples of a trace: mean, min
/// and max, or for one sample its density three times. Empty cells for an ungated layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateDensity {
    pub gate_density: Option<f64>,
    pub gate_density_min: Option<f64>,
    pub gate_density_max: Option<f64>,
}

cdg_core::csv_row!(GateDensity {
    gate_density = col::GATE_DENSITY,
    gate_density_min = col::GATE_DENSITY_MIN,
    gate_density_max = col::GATE_DENSITY_MAX,
});

impl GateDensity {
    /// An ungated layer (or a workload without masks): empty cells.
    pub const NONE: GateDensity = GateDensity {
        gate_density: None,
        gate_density_min: None,
        gate_density_max: None,
    };

    /// The density of `masks` over every sample, or of `sample` alone.
    pub fn of(masks: Option<&LayerMasks>, sample: Option<usize>) -> Self {
        let Some(m) = masks else {
            return Self::NONE;
        };
        let densities: Vec<f64> = match sample {
            Some(s) if s < m.samples() => vec![m.density(s)],
            Some(_) => return Self::NONE,
            None => (0..m.samples()).map(|s| m.density(s)).collect(),
        };
        if densities.is_empty() {
            return Self::NONE;
        }
        let mean = densities.iter().sum::<f64>() / densities.len() as f64;
        let min = densities.iter().copied().fold(f64::INFINITY, f64::min);
        let max = densities.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Self {
            gate_density: Some(mean),
            gate_density_min: Some(min),
            gate_density_max: Some(max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_match_a_hand_count() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 95.0), Some(95.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        // 3 values: p50 is the 2nd, p95 and p99 the 3rd (ceil(0.95·3) = 3).
        let p = LatencyPercentiles::of(&[3.0, 1.0, 2.0]);
        assert_eq!(
            (p.latency_us_p50, p.latency_us_p95, p.latency_us_p99),
            (2.0, 3.0, 3.0)
        );
        let one = LatencyPercentiles::of(&[7.5]);
        assert_eq!(one.latency_us_p99, 7.5);
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn gate_density_is_mean_min_max_over_samples() {
        use cdg_core::{ConvParams, GateBlock, GateSpec, LayerMasks, LayerShape, OutputRule};
        // A 1-channel 2×2 output, element gates: 2 samples, 3 of 4 on, then 1 of 4.
        let shape = LayerShape::conv(
            "g",
            ConvParams {
                in_channels: 4,
                in_height: 2,
                in_width: 2,
                out_channels: 1,
                kernel: [3, 3],
                stride: 1,
                padding: 1,
                rule: OutputRule::Floor,
            },
        )
        .unwrap();
        let spec = GateSpec {
            base_channels: 2,
            block: GateBlock::ELEMENT,
        };
        let on = [(0, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 0), (1, 0, 1, 1)];
        let m =
            LayerMasks::from_fn(&shape, &spec, 2, |s, c, h, w| on.contains(&(s, c, h, w))).unwrap();
        let d = GateDensity::of(Some(&m), None);
        assert_eq!(d.gate_density, Some(0.5));
        assert_eq!(
            (d.gate_density_min, d.gate_density_max),
            (Some(0.25), Some(0.75))
        );
        assert_eq!(GateDensity::of(Some(&m), Some(0)).gate_density, Some(0.75));
        assert_eq!(GateDensity::of(None, None), GateDensity::NONE);
    }
}
