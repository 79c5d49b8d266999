//! Batch normalisation over (batch, spatial) per channel, for N×C×L views (BatchNorm2d uses
//! L = H·W, BatchNorm1d L = 1).
//!
//! Statistics are reduced per channel in a fixed order (images, then positions) in `f64`,
//! in parallel over channels; the elementwise passes run in parallel over images.

use crate::scalar::Scalar;
use ndarray::{Array1, Array3, ArrayView1, ArrayView3};
use rayon::prelude::*;

/// What a training-mode forward keeps for its backward.
#[derive(Debug, Clone)]
pub struct BatchNormCache<T> {
    /// Normalised input x̂ = (x − μ)/σ, N×C×L.
    pub xhat: Array3<T>,
    /// 1/√(σ² + ε) per channel.
    pub inv_std: Array1<T>,
}

/// Per-channel batch statistics: mean and biased variance.
#[derive(Debug, Clone)]
pub struct BatchStats<T> {
    pub mean: Array1<T>,
    pub var: Array1<T>,
}

/// Per-channel mean and biased variance of `x` (N×C×L), two-pass in `f64`.
pub fn batch_stats<T: Scalar>(x: ArrayView3<'_, T>) -> BatchStats<T> {
    let x = x.as_standard_layout();
    let (n, c, l) = x.dim();
    let xs = x.as_slice().expect("standard layout");
    let m = (n * l) as f64;
    let stats: Vec<f64> = (0..c)
        .into_par_iter()
        .map(|ch| {
            let mut s = 0.0;
            for b in 0..n {
                for &v in &xs[(b * c + ch) * l..][..l] {
                    s += v.as_f64();
                }
            }
            s / m
        })
        .collect();
    let var = (0..c)
        .into_par_iter()
        .map(|ch| {
            let mu = stats[ch];
            let mut s = 0.0;
            for b in 0..n {
                for &v in &xs[(b * c + ch) * l..][..l] {
                    let d = v.as_f64() - mu;
                    s += d * d;
                }
            }
            s / m
        })
        .collect::<Vec<_>>();
    BatchStats {
        mean: stats.iter().map(|&v| T::of(v)).collect(),
        var: var.iter().map(|&v| T::of(v)).collect(),
    }
}

/// Training-mode forward: normalise with the batch statistics, then scale and shift.
/// Returns `y`, the backward cache and the statistics (for running averages).
pub fn batch_norm_train<T: Scalar>(
    x: ArrayView3<'_, T>,
    gamma: ArrayView1<'_, T>,
    beta: ArrayView1<'_, T>,
    eps: f64,
) -> (Array3<T>, BatchNormCache<T>, BatchStats<T>) {
    let stats = batch_stats(x.view());
    let inv_std: Array1<T> = stats.var.mapv(|v| T::of(1.0 / (v.as_f64() + eps).sqrt()));
    let x = x.as_standard_layout();
    let (n, c, l) = x.dim();
    let mut xhat = Array3::<T>::zeros((n, c, l));
    let mut y = Array3::<T>::zeros((n, c, l));
    let xs = x.as_slice().expect("standard layout");
    xhat.as_slice_mut()
        .expect("fresh")
        .par_chunks_mut(c * l)
        .zip(y.as_slice_mut().expect("fresh").par_chunks_mut(c * l))
        .enumerate()
        .for_each(|(b, (xh, yb))| {
            for ch in 0..c {
                let (mu, is, g, bt) = (stats.mean[ch], inv_std[ch], gamma[ch], beta[ch]);
                let src = &xs[(b * c + ch) * l..][..l];
                for ((h, yv), &v) in xh[ch * l..(ch + 1) * l]
                    .iter_mut()
                    .zip(&mut yb[ch * l..(ch + 1) * l])
                    .zip(src)
                {
                    *h = (v - mu) * is;
                    *yv = g * *h + bt;
                }
            }
        });
    (y, BatchNormCache { xhat, inv_std }, stats)
}

/// Evaluation-mode forward with fixed statistics: `γ·(x − μ)/√(σ² + ε) + β`. Also returns x̂
/// and 1/σ so that a backward through frozen statistics is possible.
pub fn batch_norm_eval<T: Scalar>(
    x: ArrayView3<'_, T>,
    gamma: ArrayView1<'_, T>,
    beta: ArrayView1<'_, T>,
    mean: ArrayView1<'_, T>,
    var: ArrayView1<'_, T>,
    eps: f64,
) -> (Array3<T>, BatchNormCache<T>) {
    let inv_std: Array1<T> = var.mapv(|v| T::of(1.0 / (v.as_f64() + eps).sqrt()));
    let x = x.as_standard_layout();
    let (n, c, l) = x.dim();
    let xs = x.as_slice().expect("standard layout");
    let mut xhat = Array3::<T>::zeros((n, c, l));
    let mut y = Array3::<T>::zeros((n, c, l));
    xhat.as_slice_mut()
        .expect("fresh")
        .par_chunks_mut(c * l)
        .zip(y.as_slice_mut().expect("fresh").par_chunks_mut(c * l))
        .enumerate()
        .for_each(|(b, (xh, yb))| {
            for ch in 0..c {
                let (mu, is, g, bt) = (mean[ch], inv_std[ch], gamma[ch], beta[ch]);
                let src = &xs[(b * c + ch) * l..][..l];
                for ((h, yv), &v) in xh[ch * l..(ch + 1) * l]
                    .iter_mut()
                    .zip(&mut yb[ch * l..(ch + 1) * l])
                    .zip(src)
                {
                    *h = (v - mu) * is;
                    *yv = g * *h + bt;
                }
            }
        });
    (y, BatchNormCache { xhat, inv_std })
}

/// Gradients of batch normalisation.
#[derive(Debug, Clone)]
pub struct BatchNormGrads<T> {
    pub dx: Array3<T>,
    pub dgamma: Array1<T>,
    pub dbeta: Array1<T>,
}

/// Backward of [`batch_norm_train`] (`batch_stats = true`: μ and σ depend on x) or of
/// [`batch_norm_eval`] (`batch_stats = false`: fixed statistics).
pub fn batch_norm_backward<T: Scalar>(
    dy: ArrayView3<'_, T>,
    cache: &BatchNormCache<T>,
    gamma: ArrayView1<'_, T>,
    batch_stats: bool,
) -> BatchNormGrads<T> {
    let dy = dy.as_standard_layout();
    let (n, c, l) = dy.dim();
    let dys = dy.as_slice().expect("standard layout");
    let xh = cache.xhat.as_slice().expect("fresh");
    // Σ dy and Σ dy·x̂ per channel, fixed order, f64.
    let sums: Vec<(f64, f64)> = (0..c)
        .into_par_iter()
        .map(|ch| {
            let (mut s1, mut s2) = (0.0, 0.0);
            for b in 0..n {
                let o = (b * c + ch) * l;
                for (&d, &h) in dys[o..o + l].iter().zip(&xh[o..o + l]) {
                    s1 += d.as_f64();
                    s2 += d.as_f64() * h.as_f64();
                }
            }
            (s1, s2)
        })
        .collect();
    let m = (n * l) as f64;
    let mut dx = Array3::<T>::zeros((n, c, l));
    dx.as_slice_mut()
        .expect("fresh")
        .par_chunks_mut(c * l)
        .enumerate()
        .for_each(|(b, dxb)| {
            for ch in 0..c {
                let o = (b * c + ch) * l;
                let scale = gamma[ch] * cache.inv_std[ch];
                let dst = &mut dxb[ch * l..(ch + 1) * l];
                if batch_stats {
                    let mean_d = T::of(sums[ch].0 / m);
                    let mean_dh = T::of(sums[ch].1 / m);
                    for ((d, &g), &h) in dst.iter_mut().zip(&dys[o..o + l]).zip(&xh[o..o + l]) {
                        *d = scale * (g - mean_d - h * mean_dh);
                    }
                } else {
                    for (d, &g) in dst.iter_mut().zip(&dys[o..o + l]) {
                        *d = scale * g;
                    }
                }
            }
        });
    BatchNormGrads {
        dx,
        dgamma: sums.iter().map(|s| T::of(s.1)).collect(),
        dbeta: sums.iter().map(|s| T::of(s.0)).collect(),
    }
}
