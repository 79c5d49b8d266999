//! Batch normalisation over (batch, spatial) per channel, for N×C×L views (BatchNorm2d uses
//! L = H·W, BatchNorm1d L = 1), optionally fused with the ReLU that follows it.
//!
//! Two memory layouts are handled in place: channel-major (standard N×C×L) and channels-last
//! (N×L×C memory, what convolutions produce, see [`crate::ops::layout`]); any other layout is
//! copied to standard first. Outputs keep the input's layout.
//!
//! Statistics are one pass over the data in `f64`, shifted by each channel's first value
//! (Σ(x − k), Σ(x − k)², so the variance does not cancel catastrophically), reduced in an
//! order fixed by the shapes alone: channel-major, per channel over images then positions (in
//! parallel over channels); channels-last, over blocks of [`ROWS`] positions in order, each
//! block's partial sums added in block order (in parallel over blocks). Results do not depend
//! on the thread count.

use crate::scalar::Scalar;
use ndarray::{Array1, Array3, ArrayView1, ArrayView3, ShapeBuilder};
use rayon::prelude::*;

/// Positions (rows of C values) per partial sum of a channels-last reduction, and per
/// parallel task of the element-wise passes.
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
        Lay::Nlc => {
            Array3::from_shape_vec((n, c, l).strides((l * c, 1, c)), data).expect("n·c·l values")
        }
    }
}

/// `x`'s layout and memory, with a standard copy when it has neither known layout.
fn memory<'a, T: Scalar>(x: &ArrayView3<'a, T>) -> (Lay, std::borrow::Cow<'a, [T]>) {
    match lay_of(x) {
        Some((lay, d)) => (lay, std::borrow::Cow::Borrowed(d)),
        None => (
            Lay::Ncl,
            std::borrow::Cow::Owned(x.as_standard_layout().iter().copied().collect()),
        ),
    }
}

/// `y`'s memory in layout `lay` (borrowed when it already is).
fn memory_as<'a, T: Scalar>(y: &ArrayView3<'a, T>, lay: Lay) -> std::borrow::Cow<'a, [T]> {
    match lay_of(y) {
        Some((l2, d)) if l2 == lay => std::borrow::Cow::Borrowed(d),
        _ => {
            let (n, c, l) = y.dim();
            let mut a = array_of(lay, (n, c, l), vec![T::zero(); n * c * l]);
            a.assign(y);
            std::borrow::Cow::Owned(a.into_raw_vec_and_offset().0)
        }
    }
}

/// Per channel `[Σ f₀, Σ f₁]` over the elements of `a` (and the matching ones of `b`), with
/// `f(params[channel], a, b)`, in `f64` in the module's fixed order.
///
/// The per-channel parameters come as a table zipped with each row (not indexed by channel)
/// and the two sums are kept in separate arrays, so the channels-last loop vectorises across
/// channels; each channel's sum still runs over its elements in the fixed order.
fn channel_sums2<T: Scalar, P: Sync>(
    lay: Lay,
    (n, c, l): (usize, usize, usize),
    a: &[T],
    b: &[T],
    params: &[P],
    f: impl Fn(&P, T, T) -> (f64, f64) + Sync,
) -> Vec<(f64, f64)> {
    assert_eq!(params.len(), c, "one parameter set per channel");
    match lay {
        Lay::Ncl => (0..c)
            .into_par_iter()
            .map(|ch| {
                let (mut s0, mut s1) = (0.0, 0.0);
                let p = &params[ch];
                for i in 0..n {
                    let o = (i * c + ch) * l;
                    for (&x, &y) in a[o..o + l].iter().zip(&b[o..o + l]) {
                        let (u, v) = f(p, x, y);
                        s0 += u;
                        s1 += v;
                    }
                }
                (s0, s1)
            })
            .collect(),
        Lay::Nlc => {
            if c == 0 {
                return Vec::new();
            }
            let parts: Vec<(Vec<f64>, Vec<f64>)> = a
                .par_chunks(ROWS * c)
                .zip(b.par_chunks(ROWS * c))
                .map(|(ab, bb)| {
                    let (mut s0, mut s1) = (vec![0.0; c], vec![0.0; c]);
                    isa::sums_rows(ab, bb, params, &mut s0, &mut s1, &f);
                    (s0, s1)
                })
                .collect();
            let mut total = vec![(0.0, 0.0); c];
            for (p0, p1) in parts {
                for ((t, v0), v1) in total.iter_mut().zip(p0).zip(p1) {
                    t.0 += v0;
                    t.1 += v1;
                }
            }
            total
        }
    }
}

/// `out = f(params[channel], a, b)` element-wise over the layout, in parallel (the parameter
/// table is zipped with each row, as in [`channel_sums2`]).
fn map2<T: Scalar, P: Sync>(
    lay: Lay,
    (n, c, l): (usize, usize, usize),
    a: &[T],
    b: &[T],
    params: &[P],
    f: impl Fn(&P, T, T) -> T + Sync,
) -> Vec<T> {
    assert_eq!(params.len(), c, "one parameter set per channel");
    let mut out = vec![T::zero(); n * c * l];
    if out.is_empty() {
        return out;
    }
    match lay {
        Lay::Ncl => out
            .par_chunks_mut(l)
            .zip(a.par_chunks(l).zip(b.par_chunks(l)))
            .enumerate()
            .for_each(|(run, (o, (ra, rb)))| {
                let p = &params[run % c];
                for ((o, &x), &y) in o.iter_mut().zip(ra).zip(rb) {
                    *o = f(p, x, y);
                }
            }),
        Lay::Nlc => out
            .par_chunks_mut(ROWS * c)
            .zip(a.par_chunks(ROWS * c).zip(b.par_chunks(ROWS * c)))
            .for_each(|(o, (ba, bb))| isa::map_rows(o, ba, bb, params, &f)),
    }
    out
}

/// The channels-last row loops, compiled once for the baseline and once for AVX-512F and
/// AVX2 (chosen at run time). Only the vector width differs: without fused multiply-add
/// contraction or reassociation, every channel's values and sums are computed by the same
/// operations in the same order, so the results are identical bit for bit.
mod isa {
    use crate::ops::kernel::{Isa, detect};
    use crate::scalar::Scalar;
    use std::sync::OnceLock;

    fn best() -> Isa {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(detect)
    }

    #[inline(always)]
    fn sums_generic<T: Scalar, P>(
        a: &[T],
        b: &[T],
        params: &[P],
        s0: &mut [f64],
        s1: &mut [f64],
        f: &impl Fn(&P, T, T) -> (f64, f64),
    ) {
        let c = params.len();
        for (ra, rb) in a.chunks_exact(c).zip(b.chunks_exact(c)) {
            for ((((a0, a1), &x), &y), p) in
                s0.iter_mut().zip(s1.iter_mut()).zip(ra).zip(rb).zip(params)
            {
                let (u, v) = f(p, x, y);
                *a0 += u;
                *a1 += v;
            }
        }
    }

    #[inline(always)]
    fn map_generic<T: Scalar, P>(
        o: &mut [T],
        a: &[T],
        b: &[T],
        params: &[P],
        f: &impl Fn(&P, T, T) -> T,
    ) {
        let c = params.len();
        for ((ro, ra), rb) in o
            .chunks_exact_mut(c)
            .zip(a.chunks_exact(c))
            .zip(b.chunks_exact(c))
        {
            for (((o, &x), &y), p) in ro.iter_mut().zip(ra).zip(rb).zip(params) {
                *o = f(p, x, y);
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    mod x86 {
        use super::*;

        #[target_feature(enable = "avx512f")]
        pub unsafe fn sums512<T: Scalar, P>(
            a: &[T],
            b: &[T],
            params: &[P],
            s0: &mut [f64],
            s1: &mut [f64],
            f: &impl Fn(&P, T, T) -> (f64, f64),
        ) {
            sums_generic(a, b, params, s0, s1, f)
        }

        #[target_feature(enable = "avx2")]
        pub unsafe fn sums256<T: Scalar, P>(
            a: &[T],
            b: &[T],
            params: &[P],
            s0: &mut [f64],
            s1: &mut [f64],
            f: &impl Fn(&P, T, T) -> (f64, f64),
        ) {
            sums_generic(a, b, params, s0, s1, f)
        }

        #[target_feature(enable = "avx512f")]
        pub unsafe fn map512<T: Scalar, P>(
            o: &mut [T],
            a: &[T],
            b: &[T],
            params: &[P],
            f: &impl Fn(&P, T, T) -> T,
        ) {
            map_generic(o, a, b, params, f)
        }

        #[target_feature(enable = "avx2")]
        pub unsafe fn map256<T: Scalar, P>(
            o: &mut [T],
            a: &[T],
            b: &[T],
            params: &[P],
            f: &impl Fn(&P, T, T) -> T,
        ) {
            map_generic(o, a, b, params, f)
        }
    }

    /// `s0[ch] += f(…).0`, `s1[ch] += f(…).1` over the rows of `a` and `b` in order
    /// (`params.len()` values per row).
    pub fn sums_rows<T: Scalar, P>(
        a: &[T],
        b: &[T],
        params: &[P],
        s0: &mut [f64],
        s1: &mut [f64],
        f: &impl Fn(&P, T, T) -> (f64, f64),
    ) {
        match best() {
            // SAFETY: `best` detected the feature on this CPU.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86::sums512(a, b, params, s0, s1, f) },
            // SAFETY: as above (AVX2 is detected with FMA, which is not needed here).
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { x86::sums256(a, b, params, s0, s1, f) },
            _ => sums_generic(a, b, params, s0, s1, f),
        }
    }

    /// `o = f(params[ch], a, b)` over the rows.
    pub fn map_rows<T: Scalar, P>(
        o: &mut [T],
        a: &[T],
        b: &[T],
        params: &[P],
        f: &impl Fn(&P, T, T) -> T,
    ) {
        match best() {
            // SAFETY: `best` detected the feature on this CPU.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86::map512(o, a, b, params, f) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { x86::map256(o, a, b, params, f) },
            _ => map_generic(o, a, b, params, f),
        }
    }
}

/// Per-channel batch statistics: mean and biased variance.
#[derive(Debug, Clone)]
pub struct BatchStats<T> {
    pub mean: Array1<T>,
    pub var: Array1<T>,
}

/// Per-channel mean and biased variance of `x` (N×C×L), in `f64` (see the module docs).
pub fn batch_stats<T: Scalar>(x: ArrayView3<'_, T>) -> BatchStats<T> {
    let dim = x.dim();
    let (n, c, l) = dim;
    let m = (n * l) as f64;
    let (lay, d) = memory(&x);
    // Shift: each channel's first element.
    let shift: Vec<f64> = (0..c)
        .map(|ch| {
            if n * l == 0 {
                return 0.0;
            }
            match lay {
                Lay::Ncl => d[ch * l].as_f64(),
                Lay::Nlc => d[ch].as_f64(),
            }
        })
        .collect();
    let sums = channel_sums2(lay, dim, &d, &d, &shift, |&k, v, _| {
        let e = v.as_f64() - k;
        (e, e * e)
    });
    let (mut mean, mut var) = (Array1::zeros(c), Array1::zeros(c));
    for (ch, &(s1, s2)) in sums.iter().enumerate() {
        let mu = s1 / m;
        mean[ch] = T::of(shift[ch] + mu);
        var[ch] = T::of((s2 / m - mu * mu).max(0.0));
    }
    BatchStats { mean, var }
}

/// `1/√(σ² + ε)` per channel.
pub fn inv_std<T: Scalar>(var: ArrayView1<'_, T>, eps: f64) -> Array1<T> {
    var.mapv(|v| T::of(1.0 / (v.as_f64() + eps).sqrt()))
}

/// The per-channel affine map of a batch norm: `y = γ·(x − μ)·inv_std + β`, then ReLU when
/// `relu`.
#[derive(Debug, Clone)]
pub struct Affine<T> {
    pub mean: Vec<T>,
    pub inv_std: Vec<T>,
    pub gamma: Vec<T>,
    pub beta: Vec<T>,
    pub relu: bool,
}

impl<T: Scalar> Affine<T> {
    /// The per-channel table the element-wise loops zip with each row.
    fn table(&self) -> Vec<Chan<T>> {
        self.mean
            .iter()
            .zip(&self.inv_std)
            .zip(&self.gamma)
            .zip(&self.beta)
            .map(|(((&mean, &inv_std), &gamma), &beta)| Chan {
                mean,
                inv_std,
                gamma,
                beta,
            })
            .collect()
    }
}

/// One channel's affine parameters.
#[derive(Debug, Clone, Copy)]
struct Chan<T> {
    mean: T,
    inv_std: T,
    gamma: T,
    beta: T,
}

impl<T: Scalar> Chan<T> {
    #[inline(always)]
    fn xhat(&self, x: T) -> T {
        (x - self.mean) * self.inv_std
    }
    #[inline(always)]
    fn pre(&self, x: T) -> T {
        self.gamma * self.xhat(x) + self.beta
    }
}

/// `y = Affine(x)` in `x`'s layout (the fused batch norm + ReLU forward).
pub fn bn_apply<T: Scalar>(x: ArrayView3<'_, T>, a: &Affine<T>) -> Array3<T> {
    let dim = x.dim();
    let (lay, d) = memory(&x);
    let relu = a.relu;
    let y = map2(lay, dim, &d, &d, &a.table(), |p, v, _| {
        let y = p.pre(v);
        if !relu || y > T::zero() { y } else { T::zero() }
    });
    array_of(lay, dim, y)
}

/// Gradients of [`bn_backward`].
#[derive(Debug, Clone)]
pub struct AffineGrads<T> {
    /// ∂L/∂x in `x`'s layout.
    pub dx: Array3<T>,
    pub dgamma: Array1<T>,
    pub dbeta: Array1<T>,
}

/// Backward of [`bn_apply`] from its input `x`: through the ReLU when `a.relu` (its mask
/// recomputed from x), then the normalisation with batch statistics (`batch_stats`: μ and σ
/// depend on x) or fixed ones.
pub fn bn_backward<T: Scalar>(
    dy: ArrayView3<'_, T>,
    x: ArrayView3<'_, T>,
    a: &Affine<T>,
    batch_stats: bool,
) -> AffineGrads<T> {
    let scale: Vec<T> = a
        .gamma
        .iter()
        .zip(&a.inv_std)
        .map(|(&g, &s)| g * s)
        .collect();
    bn_backward_scaled(dy, x, a, &scale, batch_stats)
}

/// [`bn_backward`] with the per-channel factor γ·inv_std given (x̂ comes from `a`).
fn bn_backward_scaled<T: Scalar>(
    dy: ArrayView3<'_, T>,
    x: ArrayView3<'_, T>,
    a: &Affine<T>,
    scale: &[T],
    batch_stats: bool,
) -> AffineGrads<T> {
    let dim = x.dim();
    let (n, _, l) = dim;
    let (lay, xd) = memory(&x);
    let dyd = memory_as(&dy, lay);
    let relu = a.relu;
    let g = move |p: &Chan<T>, d: T, v: T| {
        if !relu || p.pre(v) > T::zero() {
            d
        } else {
            T::zero()
        }
    };
    let table = a.table();
    // Σ g and Σ g·x̂ per channel, fixed order, f64.
    let sums = channel_sums2(lay, dim, &dyd, &xd, &table, |p, d, v| {
        let gd = g(p, d, v).as_f64();
        (gd, gd * p.xhat(v).as_f64())
    });
    let m = (n * l) as f64;
    let dx = if batch_stats {
        // Per channel: the affine parameters, γ·inv_std, mean ∂L/∂y and mean ∂L/∂y·x̂.
        let t: Vec<(Chan<T>, [T; 3])> = table
            .iter()
            .zip(scale)
            .zip(&sums)
            .map(|((&p, &k), s)| (p, [k, T::of(s.0 / m), T::of(s.1 / m)]))
            .collect();
        map2(lay, dim, &dyd, &xd, &t, |(p, [k, md, mdh]), d, v| {
            *k * (g(p, d, v) - *md - p.xhat(v) * *mdh)
        })
    } else {
        let t: Vec<(Chan<T>, T)> = table.iter().copied().zip(scale.iter().copied()).collect();
        map2(lay, dim, &dyd, &xd, &t, |(p, k), d, v| *k * g(p, d, v))
    };
    AffineGrads {
        dx: array_of(lay, dim, dx),
        dgamma: sums.iter().map(|s| T::of(s.1)).collect(),
        dbeta: sums.iter().map(|s| T::of(s.0)).collect(),
    }
}

/// What a training-mode forward keeps for its backward (the x̂ form, used by the saliency
/// normalisation of gated convolutions).
#[derive(Debug, Clone)]
pub struct BatchNormCache<T> {
    /// Normalised input x̂ = (x − μ)/σ, N×C×L (the input's layout).
    pub xhat: Array3<T>,
    /// 1/√(σ² + ε) per channel.
    pub inv_std: Array1<T>,
}

/// `(x − μ_c)·inv_std_c` per channel (no scale or shift), in `x`'s layout.
pub fn standardize<T: Scalar>(
    x: ArrayView3<'_, T>,
    mean: ArrayView1<'_, T>,
    inv_std: ArrayView1<'_, T>,
) -> Array3<T> {
    let c = x.dim().1;
    bn_apply(
        x,
        &Affine {
            mean: mean.to_vec(),
            inv_std: inv_std.to_vec(),
            gamma: vec![T::one(); c],
            beta: vec![T::zero(); c],
            relu: false,
        },
    )
}

/// `Σ x` per channel in `f64`, in the fixed order of the module docs.
pub fn channel_sums_f64<T: Scalar>(x: ArrayView3<'_, T>) -> Vec<f64> {
    let dim = x.dim();
    let (lay, d) = memory(&x);
    channel_sums2(lay, dim, &d, &d, &vec![(); dim.1], |_, v, _| {
        (v.as_f64(), 0.0)
    })
    .into_iter()
    .map(|s| s.0)
    .collect()
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
    let (y, cache) = batch_norm_eval(x, gamma, beta, stats.mean.view(), stats.var.view(), eps);
    (y, cache, stats)
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
    let inv = inv_std(var, eps);
    let xhat = standardize(x, mean, inv.view());
    let a = Affine {
        mean: vec![T::zero(); gamma.len()],
        inv_std: vec![T::one(); gamma.len()],
        gamma: gamma.to_vec(),
        beta: beta.to_vec(),
        relu: false,
    };
    let y = bn_apply(xhat.view(), &a);
    (y, BatchNormCache { xhat, inv_std: inv })
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
/// [`batch_norm_eval`] (`batch_stats = false`: fixed statistics), from the cached x̂.
pub fn batch_norm_backward<T: Scalar>(
    dy: ArrayView3<'_, T>,
    cache: &BatchNormCache<T>,
    gamma: ArrayView1<'_, T>,
    batch_stats: bool,
) -> BatchNormGrads<T> {
    // x̂ is "x" normalised with μ = 0 and inv_std = 1; the factor is γ·inv_std.
    let c = gamma.len();
    let a = Affine {
        mean: vec![T::zero(); c],
        inv_std: vec![T::one(); c],
        gamma: gamma.to_vec(),
        beta: vec![T::zero(); c],
        relu: false,
    };
    let scale: Vec<T> = gamma
        .iter()
        .zip(cache.inv_std.iter())
        .map(|(&g, &s)| g * s)
        .collect();
    let g = bn_backward_scaled(dy, cache.xhat.view(), &a, &scale, batch_stats);
    BatchNormGrads {
        dx: g.dx,
        dgamma: g.dgamma,
        dbeta: g.dbeta,
    }
}
