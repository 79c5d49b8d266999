//! Fully connected layer: `y = x·Wᵀ + b` with W stored out×in (PyTorch's layout).

use crate::scalar::{Scalar, gemm};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

/// `y = x·Wᵀ + b`: x N×in, w out×in, b out.
pub fn linear_forward<T: Scalar>(
    x: ArrayView2<'_, T>,
    w: ArrayView2<'_, T>,
    b: Option<ArrayView1<'_, T>>,
) -> Array2<T> {
    let mut y = match b {
        Some(b) => b
            .broadcast((x.nrows(), w.nrows()))
            .expect("bias length = out")
            .to_owned(),
        None => Array2::zeros((x.nrows(), w.nrows())),
    };
    let beta = if b.is_some() { T::one() } else { T::zero() };
    gemm(T::one(), x, w.t(), beta, y.view_mut());
    y
}

/// Gradients of [`linear_forward`].
#[derive(Debug, Clone)]
pub struct LinearGrads<T> {
    pub dx: Array2<T>,
    pub dw: Array2<T>,
    pub db: Option<Array1<T>>,
}

/// Backward of [`linear_forward`]: dx = dy·W, dW = dyᵀ·x, db = Σ_batch dy.
pub fn linear_backward<T: Scalar>(
    x: ArrayView2<'_, T>,
    w: ArrayView2<'_, T>,
    dy: ArrayView2<'_, T>,
    with_bias: bool,
) -> LinearGrads<T> {
    let mut dx = Array2::zeros(x.raw_dim());
    gemm(T::one(), dy, w, T::zero(), dx.view_mut());
    let mut dw = Array2::zeros(w.raw_dim());
    gemm(T::one(), dy.t(), x, T::zero(), dw.view_mut());
    let db = with_bias.then(|| {
        dy.axis_iter(Axis(1))
            .map(|col| T::of(col.iter().map(|v| v.as_f64()).sum::<f64>()))
            .collect()
    });
    LinearGrads { dx, dw, db }
}
