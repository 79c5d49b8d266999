//! Softmax cross-entropy, cosine similarity and L2 normalisation.

use crate::scalar::Scalar;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

/// The result of [`softmax_cross_entropy`].
#[derive(Debug, Clone)]
pub struct CrossEntropy<T> {
    /// Mean loss over the batch (natural log).
    pub loss: f64,
    /// ∂loss/∂logits = (softmax − one-hot)/N.
    pub dlogits: Array2<T>,
    /// Rows whose arg-max equals the label (first maximum wins ties).
    pub correct: usize,
}

/// Mean softmax cross-entropy of `logits` (N×K) against class indices `labels` (< K).
///
/// # Panics
/// When `labels.len() != N` or a label is ≥ K; callers validate labels against the class count.
pub fn softmax_cross_entropy<T: Scalar>(
    logits: ArrayView2<'_, T>,
    labels: &[usize],
) -> CrossEntropy<T> {
    let (n, k) = logits.dim();
    assert_eq!(labels.len(), n, "one label per row");
    let mut dlogits = Array2::<T>::zeros((n, k));
    let mut loss = 0.0f64;
    let mut correct = 0;
    for (i, (row, &label)) in logits.axis_iter(Axis(0)).zip(labels).enumerate() {
        assert!(label < k, "label {label} out of range for {k} classes");
        let mut max = f64::NEG_INFINITY;
        let mut arg = 0;
        for (j, &v) in row.iter().enumerate() {
            if v.as_f64() > max {
                max = v.as_f64();
                arg = j;
            }
        }
        if arg == label {
            correct += 1;
        }
        let sum: f64 = row.iter().map(|&v| (v.as_f64() - max).exp()).sum();
        let log_z = max + sum.ln();
        loss += log_z - row[label].as_f64();
        for (j, &v) in row.iter().enumerate() {
            let p = (v.as_f64() - log_z).exp();
            let t = if j == label { 1.0 } else { 0.0 };
            dlogits[[i, j]] = T::of((p - t) / n as f64);
        }
    }
    CrossEntropy {
        loss: loss / n as f64,
        dlogits,
        correct,
    }
}

/// Row-wise L2 normalisation `y = x/max(‖x‖, eps)`; returns `y` and the clamped norms.
pub fn l2_normalize<T: Scalar>(x: ArrayView2<'_, T>, eps: f64) -> (Array2<T>, Array1<T>) {
    let norms: Array1<T> = x
        .axis_iter(Axis(0))
        .map(|r| {
            T::of(
                r.iter()
                    .map(|v| v.as_f64() * v.as_f64())
                    .sum::<f64>()
                    .sqrt()
                    .max(eps),
            )
        })
        .collect();
    let mut y = x.to_owned();
    for (mut row, &nrm) in y.axis_iter_mut(Axis(0)).zip(&norms) {
        row.mapv_inplace(|v| v / nrm);
    }
    (y, norms)
}

/// Backward of [`l2_normalize`]: `dx = (dy − y·⟨y, dy⟩)/‖x‖`.
pub fn l2_normalize_backward<T: Scalar>(
    dy: ArrayView2<'_, T>,
    y: ArrayView2<'_, T>,
    norms: ArrayView1<'_, T>,
) -> Array2<T> {
    let mut dx = Array2::zeros(dy.raw_dim());
    for (((mut d, g), yr), &nrm) in dx
        .axis_iter_mut(Axis(0))
        .zip(dy.axis_iter(Axis(0)))
        .zip(y.axis_iter(Axis(0)))
        .zip(&norms)
    {
        let dot = T::of(
            g.iter()
                .zip(yr.iter())
                .map(|(a, b)| a.as_f64() * b.as_f64())
                .sum::<f64>(),
        );
        for ((o, &gv), &yv) in d.iter_mut().zip(g.iter()).zip(yr.iter()) {
            *o = (gv - yv * dot) / nrm;
        }
    }
    dx
}

/// Row-wise cosine similarity of `a` and `b` (N×D each) with norms clamped at `eps`.
pub fn cosine_similarity<T: Scalar>(
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    eps: f64,
) -> Array1<T> {
    let (an, _) = l2_normalize(a, eps);
    let (bn, _) = l2_normalize(b, eps);
    row_dot(an.view(), bn.view())
}

fn row_dot<T: Scalar>(a: ArrayView2<'_, T>, b: ArrayView2<'_, T>) -> Array1<T> {
    a.axis_iter(Axis(0))
        .zip(b.axis_iter(Axis(0)))
        .map(|(x, y)| {
            T::of(
                x.iter()
                    .zip(y.iter())
                    .map(|(p, q)| p.as_f64() * q.as_f64())
                    .sum::<f64>(),
            )
        })
        .collect()
}

/// Backward of [`cosine_similarity`]: given ∂L/∂cos per row, returns (∂L/∂a, ∂L/∂b).
pub fn cosine_similarity_backward<T: Scalar>(
    dcos: ArrayView1<'_, T>,
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    eps: f64,
) -> (Array2<T>, Array2<T>) {
    let (an, a_norm) = l2_normalize(a, eps);
    let (bn, b_norm) = l2_normalize(b, eps);
    let dcol = dcos.insert_axis(Axis(1));
    let d_an = &bn * &dcol;
    let d_bn = &an * &dcol;
    (
        l2_normalize_backward(d_an.view(), an.view(), a_norm.view()),
        l2_normalize_backward(d_bn.view(), bn.view(), b_norm.view()),
    )
}
