//! Batch normalisation over (batch, spatial) per channel, for N×C×L views (BatchNorm2d uses
//! L = H·W, BatchNorm1d L = 1).
//!
//! Two memory layouts are handled in place: channel-major (standard N×C×L) and channels-last
//! (N×L×C memory, what convolutions produce, see [`crate::ops::layout`]); any other layout is
//! copied to standard first. Outputs keep the input's layout.
//!
//! Statistics are reduced per channel in `f64` in an order fixed by the shapes alone:
//! channel-major, per channel over images then positions (in parallel over channels);
//! channels-last, over blocks of [`ROWS`] positions in order, each block's partial sums
//! added in block order (in parallel over blocks). Results do not depend on the thread count.

use crate::scalar::Scalar;
use ndarray::{Array1, Array3, ArrayView1, ArrayView3, ShapeBuilder};
use rayon::prelude::*;

/// Positions (rows of C values) per partial sum of a channels-last reduction.
pub const ROWS: usize = 1024;

/// Memory order of an N×C×L tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lay {
    /// Standard: C runs of L per image.
    Ncl,
    /// Channels-last: L rows of C per image.
    Nlc,
}

/// The layout of `x` and its memory, or `None` when it is neither.
fn lay_of<'a, T>(x: &ArrayView3<'a, T>) -> Option<(Lay, &'a [T])> {
    let (n, c, l) = x.dim();
    if let Some(d) = x.to_slice() {
        return Some((Lay::Ncl, d));
    }
    let s = x.strides();
    let ok = |d: usize, st: isize, want: usize| d <= 1 || st == want as isize;
    if ok(c, s[1], 1) && ok(l, s[2], c) && ok(n, s[0], l * c) {
        // SAFETY: the strides are those of a contiguous N×L×C block starting at the view's
        // first element, so these n·c·l elements are the view's own.
        let data = unsafe { std::slice::from_raw_parts(x.as_ptr(), n * c * l) };
        return Some((Lay::Nlc, data));
    }
    None
}

/// An N×C×L array over `data` laid out as `lay`.
fn array_of<T>(lay: Lay, (n, c, l): (usize, usize, usize), data: Vec<T>) -> Array3<T> {
    match lay {
        Lay::Ncl => Array3::from_shape_vec((n, c, l), data).expect("n·c·l values"),
        Lay::Nlc => Array3::from_shape_vec((n, c, l).strides((l * c, 1, c)), data)
            .expect("n·c·l values"),
    }
}

/// Runs `f` on `x`'s layout and memory, copying to standard layout when needed.
fn with_lay<T: Scalar, R>(x: ArrayView3<'_, T>, f: impl FnOnce(Lay, &[T]) -> R) -> R {
    if let Some((lay, d)) = lay_of(&x) {
        return f(lay, d);
    }
    let s = x.as_standard_layout();
    f(Lay::Ncl, s.as_slice().expect("standard"))
}

/// `Σ f(element, channel)` per channel in `f64`, in the fixed order described in the module
/// docs (`f` gets the element's index in memory order and its channel).
fn channel_sums<const K: usize>(
    lay: Lay,
    (n, c, l): (usize, usize, usize),
    f: impl Fn(usize, usize) -> [f64; K] + Sync,
) -> Vec<[f64; K]> {
    let add = |acc: &mut [f64; K], v: [f64; K]| {
        for (a, x) in acc.iter_mut().zip(v) {
            *a += x;
        }
    };
    match lay {
        Lay::Ncl => (0..c)
            .into_par_iter()
            .map(|ch| {
                let mut s = [0.0; K];
                for b in 0..n {
                    let o = (b * c + ch) * l;
                    for i in o..o + l {
                        add(&mut s, f(i, ch));
                    }
                }
                s
            })
            .collect(),
        Lay::Nlc => {
            let rows = n * l;
            let parts: Vec<Vec<[f64; K]>> = (0..rows.div_ceil(ROWS))
                .into_par_iter()
                .map(|blk| {
                    let mut s = vec![[0.0; K]; c];
                    for r in blk * ROWS..((blk + 1) * ROWS).min(rows) {
                        for (ch, acc) in s.iter_mut().enumerate() {
                            add(acc, f(r * c + ch, ch));
                        }
                    }
                    s
                })
                .collect();
            let mut total = vec![[0.0; K]; c];
            for p in parts {
                for (t, v) in total.iter_mut().zip(p) {
                    add(t, v);
                }
            }
            total
        }
    }
}

/// `out[i] = f(i, channel of i)` over `d`'s layout, in parallel.
fn map_channels<T: Scalar>(
    lay: Lay,
    (n, c, l): (usize, usize, usize),
    f: impl Fn(usize, usize) -> T + Sync,
) -> Vec<T> {
    let mut out = vec![T::zero(); n * c * l];
    match lay {
        Lay::Ncl => out
            .par_chunks_mut(l.max(1))
            .enumerate()
            .for_each(|(run, o)| {
                let ch = run % c;
                for (j, v) in o.iter_mut().enumerate() {
                    *v = f(run * l + j, ch);
                }
            }),
        Lay::Nlc => out
            .par_chunks_mut((c * ROWS).max(1))
            .enumerate()
            .for_each(|(blk, o)| {
                for (j, v) in o.iter_mut().enumerate() {
                    *v = f(blk * c * ROWS + j, j % c);
                }
            }),
    }
    out
}

/// What a training-mode forward keeps for its backward.
#[derive(Debug, Clone)]
pub struct BatchNormCache<T> {
    /// Normalised input x̂ = (x − μ)/σ, N×C×L (the input's layout).
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
    let dim = x.dim();
    let m = (dim.0 * dim.2) as f64;
    with_lay(x, |lay, d| {
        let mean: Vec<f64> = channel_sums(lay, dim, |i, _| [d[i].as_f64()])
            .iter()
            .map(|s| s[0] / m)
            .collect();
        let var: Vec<f64> = channel_sums(lay, dim, |i, ch| {
            let e = d[i].as_f64() - mean[ch];
            [e * e]
        })
        .iter()
        .map(|s| s[0] / m)
        .collect();
        BatchStats {
            mean: mean.iter().map(|&v| T::of(v)).collect(),
            var: var.iter().map(|&v| T::of(v)).collect(),
        }
    })
}

/// Normalises with `mean` and `inv_std`, then scales and shifts: (y, x̂) in `x`'s layout.
fn normalize<T: Scalar>(
    x: ArrayView3<'_, T>,
    mean: &[T],
    inv_std: &[T],
    gamma: ArrayView1<'_, T>,
    beta: ArrayView1<'_, T>,
) -> (Array3<T>, Array3<T>) {
    let dim = x.dim();
    let (g, b) = (gamma.to_vec(), beta.to_vec());
    with_lay(x, |lay, d| {
        let xhat = map_channels(lay, dim, |i, ch| (d[i] - mean[ch]) * inv_std[ch]);
        let y = map_channels(lay, dim, |i, ch| g[ch] * xhat[i] + b[ch]);
        (array_of(lay, dim, y), array_of(lay, dim, xhat))
    })
}

/// `(x − μ_c)·inv_std_c` per channel (no scale or shift), in `x`'s layout.
pub fn standardize<T: Scalar>(
    x: ArrayView3<'_, T>,
    mean: ArrayView1<'_, T>,
    inv_std: ArrayView1<'_, T>,
) -> Array3<T> {
    let dim = x.dim();
    let (m, is) = (mean.to_vec(), inv_std.to_vec());
    with_lay(x, |lay, d| {
        array_of(
            lay,
            dim,
            map_channels(lay, dim, |i, ch| (d[i] - m[ch]) * is[ch]),
        )
    })
}

/// `Σ x` per channel in `f64`, in the fixed order of the module docs.
pub fn channel_sums_f64<T: Scalar>(x: ArrayView3<'_, T>) -> Vec<f64> {
    let dim = x.dim();
    with_lay(x, |lay, d| {
        channel_sums(lay, dim, |i, _| [d[i].as_f64()])
            .into_iter()
            .map(|s| s[0])
            .collect()
    })
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
    let mean = stats.mean.to_vec();
    let (y, xhat) = normalize(x, &mean, inv_std.as_slice().expect("fresh"), gamma, beta);
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
    let mean = mean.to_vec();
    let (y, xhat) = normalize(x, &mean, inv_std.as_slice().expect("fresh"), gamma, beta);
    (y, BatchNormCache { xhat, inv_std })
}

/// Gradients of batch normalisation.
#[derive(Debug, Clone)]
pub struct BatchNormGrads<T> {
    /// ∂L/∂x in the layout of the forward's input.
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
    let dim = dy.dim();
    let (n, c, l) = dim;
    let (lay, xh) = lay_of(&cache.xhat.view()).expect("the cache is built in a known layout");
    // The gradient in the cache's layout.
    let converted;
    let dys: &[T] = match lay_of(&dy) {
        Some((l2, d)) if l2 == lay => d,
        _ => {
            let mut a = array_of(lay, dim, vec![T::zero(); n * c * l]);
            a.assign(&dy);
            converted = a;
            lay_of(&converted.view()).expect("known layout").1
        }
    };
    // Σ dy and Σ dy·x̂ per channel, fixed order, f64.
    let sums = channel_sums(lay, dim, |i, _| {
        let d = dys[i].as_f64();
        [d, d * xh[i].as_f64()]
    });
    let m = (n * l) as f64;
    let scale: Vec<T> = (0..c).map(|ch| gamma[ch] * cache.inv_std[ch]).collect();
    let mean_d: Vec<T> = sums.iter().map(|s| T::of(s[0] / m)).collect();
    let mean_dh: Vec<T> = sums.iter().map(|s| T::of(s[1] / m)).collect();
    let dx = if batch_stats {
        map_channels(lay, dim, |i, ch| {
            scale[ch] * (dys[i] - mean_d[ch] - xh[i] * mean_dh[ch])
        })
    } else {
        map_channels(lay, dim, |i, ch| scale[ch] * dys[i])
    };
    BatchNormGrads {
        dx: array_of(lay, dim, dx),
        dgamma: sums.iter().map(|s| T::of(s[1])).collect(),
        dbeta: sums.iter().map(|s| T::of(s[0])).collect(),
    }
}
