//! ReLU, residual add and global average pooling.

use crate::scalar::Scalar;
use ndarray::{Array, Array2, Array4, ArrayView, ArrayView2, ArrayView4, Dimension, Zip};

/// `max(x, 0)`.
pub fn relu<T: Scalar, D: Dimension>(x: ArrayView<'_, T, D>) -> Array<T, D> {
    Zip::from(&x).par_map_collect(|&v| if v > T::zero() { v } else { T::zero() })
}

/// Backward of [`relu`] given its output `y`: `dy` where `y > 0`, else 0.
pub fn relu_backward<T: Scalar, D: Dimension>(
    dy: ArrayView<'_, T, D>,
    y: ArrayView<'_, T, D>,
) -> Array<T, D> {
    Zip::from(&dy)
        .and(&y)
        .par_map_collect(|&d, &v| if v > T::zero() { d } else { T::zero() })
}

/// Elementwise `a + b` (residual connections); shapes must match.
pub fn add<T: Scalar, D: Dimension>(a: ArrayView<'_, T, D>, b: ArrayView<'_, T, D>) -> Array<T, D> {
    Zip::from(&a).and(&b).par_map_collect(|&x, &y| x + y)
}

/// Mean over H×W: N×C×H×W → N×C (fixed order per channel).
pub fn global_avg_pool<T: Scalar>(x: ArrayView4<'_, T>) -> Array2<T> {
    let (n, c, h, w) = x.dim();
    let inv = 1.0 / (h * w) as f64;
    Array2::from_shape_fn((n, c), |(b, ch)| {
        let mut s = 0.0f64;
        for v in x.slice(ndarray::s![b, ch, .., ..]).iter() {
            s += v.as_f64();
        }
        T::of(s * inv)
    })
}

/// Backward of [`global_avg_pool`]: spreads `dy / (H·W)` over each map.
pub fn global_avg_pool_backward<T: Scalar>(dy: ArrayView2<'_, T>, h: usize, w: usize) -> Array4<T> {
    let (n, c) = dy.dim();
    let inv = T::of(1.0 / (h * w) as f64);
    Array4::from_shape_fn((n, c, h, w), |(b, ch, _, _)| dy[[b, ch]] * inv)
}
