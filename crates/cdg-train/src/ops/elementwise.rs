//! ReLU, residual add and global average pooling.
//!
//! The element-wise operations keep their inputs' memory layout (channels-last activations
//! stay channels-last) and run over memory in parallel when the operands share one contiguous
//! layout; otherwise they fall back to logical-order iteration.

use crate::scalar::Scalar;
use ndarray::{Array, Array2, Array4, ArrayView, ArrayView2, ArrayView4, Dimension, Zip};
use rayon::prelude::*;

/// Elements per parallel task of the element-wise operations.
const CHUNK: usize = 1 << 15;

/// `f` applied element-wise to `a` and `b` (same shape), in `a`'s layout when both share a
/// contiguous one.
fn zip_map<T: Scalar, D: Dimension>(
    a: ArrayView<'_, T, D>,
    b: ArrayView<'_, T, D>,
    f: impl Fn(T, T) -> T + Sync + Send,
) -> Array<T, D> {
    assert_eq!(
        a.shape(),
        b.shape(),
        "element-wise operands differ in shape"
    );
    if a.strides() == b.strides()
        && let (Some(sa), Some(sb)) = (a.as_slice_memory_order(), b.as_slice_memory_order())
    {
        let mut out = a.to_owned();
        out.as_slice_memory_order_mut()
            .expect("to_owned keeps a contiguous layout")
            .par_chunks_mut(CHUNK)
            .zip(sa.par_chunks(CHUNK).zip(sb.par_chunks(CHUNK)))
            .for_each(|(o, (x, y))| {
                for ((o, &x), &y) in o.iter_mut().zip(x).zip(y) {
                    *o = f(x, y);
                }
            });
        return out;
    }
    Zip::from(&a).and(&b).par_map_collect(|&x, &y| f(x, y))
}

/// `a += b` element-wise (residual connections), in memory order when both share a layout.
pub fn add_assign<T: Scalar, D: Dimension>(a: &mut Array<T, D>, b: ArrayView<'_, T, D>) {
    assert_eq!(
        a.shape(),
        b.shape(),
        "element-wise operands differ in shape"
    );
    if a.strides() == b.strides()
        && let Some(sb) = b.as_slice_memory_order()
        && let Some(sa) = a.as_slice_memory_order_mut()
    {
        sa.par_chunks_mut(CHUNK)
            .zip(sb.par_chunks(CHUNK))
            .for_each(|(x, y)| {
                for (x, &y) in x.iter_mut().zip(y) {
                    *x += y;
                }
            });
        return;
    }
    Zip::from(a).and(&b).par_for_each(|x, &y| *x += y);
}

/// `max(x, 0)` in place.
pub fn relu_inplace<T: Scalar, D: Dimension>(x: &mut Array<T, D>) {
    let r = |v: &mut T| {
        *v = if *v > T::zero() { *v } else { T::zero() };
    };
    match x.as_slice_memory_order_mut() {
        Some(s) => s
            .par_chunks_mut(CHUNK)
            .for_each(|c| c.iter_mut().for_each(r)),
        None => x.par_map_inplace(r),
    }
}

/// Backward of a ReLU from the mask of its positive outputs (`mask` non-zero where y > 0).
pub fn relu_backward_mask<T: Scalar, D: Dimension>(
    dy: ArrayView<'_, T, D>,
    mask: ArrayView<'_, u8, D>,
) -> Array<T, D> {
    assert_eq!(
        dy.shape(),
        mask.shape(),
        "gradient and mask differ in shape"
    );
    if dy.strides() == mask.strides()
        && let (Some(sd), Some(sm)) = (dy.as_slice_memory_order(), mask.as_slice_memory_order())
    {
        let mut out = dy.to_owned();
        out.as_slice_memory_order_mut()
            .expect("to_owned keeps a contiguous layout")
            .par_chunks_mut(CHUNK)
            .zip(sd.par_chunks(CHUNK).zip(sm.par_chunks(CHUNK)))
            .for_each(|(o, (d, m))| {
                for ((o, &d), &m) in o.iter_mut().zip(d).zip(m) {
                    *o = if m != 0 { d } else { T::zero() };
                }
            });
        return out;
    }
    Zip::from(&dy)
        .and(&mask)
        .par_map_collect(|&d, &m| if m != 0 { d } else { T::zero() })
}

/// `max(x, 0)`.
pub fn relu<T: Scalar, D: Dimension>(x: ArrayView<'_, T, D>) -> Array<T, D> {
    let r = |v: T| if v > T::zero() { v } else { T::zero() };
    if let Some(s) = x.as_slice_memory_order() {
        let mut out = x.to_owned();
        out.as_slice_memory_order_mut()
            .expect("to_owned keeps a contiguous layout")
            .par_chunks_mut(CHUNK)
            .zip(s.par_chunks(CHUNK))
            .for_each(|(o, x)| {
                for (o, &v) in o.iter_mut().zip(x) {
                    *o = r(v);
                }
            });
        return out;
    }
    Zip::from(&x).par_map_collect(|&v| r(v))
}

/// Backward of [`relu`] given its output `y`: `dy` where `y > 0`, else 0.
pub fn relu_backward<T: Scalar, D: Dimension>(
    dy: ArrayView<'_, T, D>,
    y: ArrayView<'_, T, D>,
) -> Array<T, D> {
    zip_map(dy, y, |d, v| if v > T::zero() { d } else { T::zero() })
}

/// Elementwise `a + b` (residual connections); shapes must match.
pub fn add<T: Scalar, D: Dimension>(a: ArrayView<'_, T, D>, b: ArrayView<'_, T, D>) -> Array<T, D> {
    zip_map(a, b, |x, y| x + y)
}

/// Mean over H×W: N×C×H×W → N×C (fixed order per channel: rows, then columns, in `f64`).
pub fn global_avg_pool<T: Scalar>(x: ArrayView4<'_, T>) -> Array2<T> {
    let (n, c, h, w) = x.dim();
    let inv = 1.0 / (h * w) as f64;
    if let Some(d) = crate::ops::layout::nhwc_data(&x) {
        let mut out = Array2::<T>::zeros((n, c));
        for (b, mut row) in out.outer_iter_mut().enumerate() {
            let mut acc = vec![0.0f64; c];
            for px in d[b * h * w * c..][..h * w * c].chunks_exact(c.max(1)) {
                for (a, &v) in acc.iter_mut().zip(px) {
                    *a += v.as_f64();
                }
            }
            for (o, a) in row.iter_mut().zip(acc) {
                *o = T::of(a * inv);
            }
        }
        return out;
    }
    Array2::from_shape_fn((n, c), |(b, ch)| {
        let mut s = 0.0f64;
        for v in x.slice(ndarray::s![b, ch, .., ..]).iter() {
            s += v.as_f64();
        }
        T::of(s * inv)
    })
}

/// Backward of [`global_avg_pool`]: spreads `dy / (H·W)` over each map (channels-last).
pub fn global_avg_pool_backward<T: Scalar>(dy: ArrayView2<'_, T>, h: usize, w: usize) -> Array4<T> {
    let (n, c) = dy.dim();
    let inv = T::of(1.0 / (h * w) as f64);
    let mut data = Vec::with_capacity(n * h * w * c);
    for row in dy.outer_iter() {
        for _ in 0..h * w {
            data.extend(row.iter().map(|&v| v * inv));
        }
    }
    crate::ops::layout::from_nhwc(data, (n, c, h, w))
}
