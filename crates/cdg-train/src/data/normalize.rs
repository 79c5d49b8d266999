//! Per-channel normalisation with training-set statistics.

use ndarray::{ArrayView4, ArrayViewMut4, Axis};
use serde::{Deserialize, Serialize};

use super::DataError;

/// Per-channel affine normalisation `(x − mean_c) / std_c`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Mean per channel.
    pub mean: Vec<f32>,
    /// Standard deviation per channel (never zero: a constant channel gets 1).
    pub std: Vec<f32>,
}

impl Normalization {
    /// Mean and (population) standard deviation per channel over N, H and W, accumulated in
    /// `f64` in a fixed order so the result does not depend on threads.
    pub fn fit(images: ArrayView4<'_, f32>) -> Self {
        let channels = images.shape()[1];
        let mut mean = Vec::with_capacity(channels);
        let mut std = Vec::with_capacity(channels);
        for c in 0..channels {
            let plane = images.index_axis(Axis(1), c);
            let count = plane.len().max(1) as f64;
            let m = plane.iter().map(|&v| f64::from(v)).sum::<f64>() / count;
            let var = plane
                .iter()
                .map(|&v| (f64::from(v) - m).powi(2))
                .sum::<f64>()
                / count;
            let s = var.sqrt();
            mean.push(m as f32);
            std.push(if s > 1e-12 { s as f32 } else { 1.0 });
        }
        Normalization { mean, std }
    }

    /// The identity for `channels` channels (mean 0, std 1).
    pub fn identity(channels: usize) -> Self {
        Normalization {
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
        }
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.mean.len()
    }

    /// Normalises `images` (N×C×H×W) in place.
    pub fn apply(&self, mut images: ArrayViewMut4<'_, f32>) -> Result<(), DataError> {
        if images.shape()[1] != self.channels() {
            return Err(DataError::invalid(
                "Normalization::apply",
                format!(
                    "images have {} channels, the statistics {}",
                    images.shape()[1],
                    self.channels()
                ),
            ));
        }
        for (c, mut plane) in images.axis_iter_mut(Axis(1)).enumerate() {
            let (m, inv) = (self.mean[c], 1.0 / self.std[c]);
            plane.mapv_inplace(|v| (v - m) * inv);
        }
        Ok(())
    }
}
