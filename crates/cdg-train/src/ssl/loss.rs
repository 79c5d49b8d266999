//! SSL objectives on projector outputs: NT-Xent (SimCLR) and negative cosine with
//! stop-gradient (SimSiam).

use crate::error::{Result, TrainError};
use crate::ops::{
    cosine_similarity, cosine_similarity_backward, l2_normalize, l2_normalize_backward,
};
use crate::scalar::{Scalar, gemm};
use ndarray::{Array1, Array2, ArrayView2, s};

/// Norm clamp of the L2 normalisations.
pub const NORM_EPS: f64 = 1e-8;

/// NT-Xent over a 2B batch (row i's positive is row (i + B) mod 2B; every other row is a
/// negative): `mean_i [−sim(i, j) + log Σ_{k≠i} exp sim(i, k)]` with cosine similarities
/// divided by `temperature`. Returns the loss and ∂L/∂z.
pub fn nt_xent<T: Scalar>(z: ArrayView2<'_, T>, temperature: f64) -> Result<(f64, Array2<T>)> {
    let (n2, _) = z.dim();
    if n2 < 2 || n2 % 2 != 0 {
        return Err(TrainError::shape("nt_xent", "2B×D with B ≥ 1", z.shape()));
    }
    let b = n2 / 2;
    let (zn, norms) = l2_normalize(z, NORM_EPS);
    let mut sim = Array2::<T>::zeros((n2, n2));
    gemm(T::one(), zn.view(), zn.t(), T::zero(), sim.view_mut());
    let inv_t = 1.0 / temperature;
    let mut dsim = Array2::<f64>::zeros((n2, n2));
    let mut loss = 0.0;
    for i in 0..n2 {
        let j = (i + b) % n2;
        let row: Vec<f64> = (0..n2).map(|k| sim[[i, k]].as_f64() * inv_t).collect();
        let m = row
            .iter()
            .enumerate()
            .filter(|&(k, _)| k != i)
            .map(|(_, &v)| v)
            .fold(f64::NEG_INFINITY, f64::max);
        let denom: f64 = row
            .iter()
            .enumerate()
            .filter(|&(k, _)| k != i)
            .map(|(_, &v)| (v - m).exp())
            .sum();
        loss += -row[j] + m + denom.ln();
        for k in 0..n2 {
            if k != i {
                let p = (row[k] - m).exp() / denom;
                dsim[[i, k]] = (p - if k == j { 1.0 } else { 0.0 }) / n2 as f64;
            }
        }
    }
    loss /= n2 as f64;
    // sim = zn·znᵀ/τ → ∂L/∂zn = (dsim + dsimᵀ)·zn/τ.
    let sym = (&dsim + &dsim.t()).mapv(|v| T::of(v * inv_t));
    let mut dzn = Array2::<T>::zeros(zn.raw_dim());
    gemm(T::one(), sym.view(), zn.view(), T::zero(), dzn.view_mut());
    let dz = l2_normalize_backward(dzn.view(), zn.view(), norms.view());
    Ok((loss, dz))
}

/// SimSiam's symmetric negative cosine `−½[cos(p1, sg(z2)) + cos(p2, sg(z1))]`, averaged over
/// the B pairs, where `p` and `z` are 2B×D (rows `..B` are branch 1, `B..` branch 2). Returns
/// the loss and ∂L/∂p (z gets no gradient: stop-gradient).
pub fn simsiam_loss<T: Scalar>(
    p: ArrayView2<'_, T>,
    z: ArrayView2<'_, T>,
) -> Result<(f64, Array2<T>)> {
    let (n2, d) = p.dim();
    if n2 < 2 || n2 % 2 != 0 || z.dim() != (n2, d) {
        return Err(TrainError::shape(
            "simsiam_loss",
            format!("p and z both 2B×D, z {:?}", z.shape()),
            p.shape(),
        ));
    }
    let b = n2 / 2;
    // Pair p of row i with z of its partner row.
    let mut zp = Array2::<T>::zeros((n2, d));
    zp.slice_mut(s![..b, ..]).assign(&z.slice(s![b.., ..]));
    zp.slice_mut(s![b.., ..]).assign(&z.slice(s![..b, ..]));
    let cos = cosine_similarity(p, zp.view(), NORM_EPS);
    let loss = -0.5 * cos.iter().map(|v| v.as_f64()).sum::<f64>() / b as f64;
    let dcos = Array1::<T>::from_elem(n2, T::of(-0.5 / b as f64));
    let (dp, _) = cosine_similarity_backward(dcos.view(), p, zp.view(), NORM_EPS);
    Ok((loss, dp))
}
