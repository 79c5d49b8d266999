//! Channels-last activations.
//!
//! Every activation of the engine is an `Array4` indexed `[image, channel, row, column]` (the
//! NCHW *logical* order the layers, tests and traces use) whose memory is channels-last
//! (NHWC): the convolution kernels ([`crate::ops::direct`]) read channels-last inputs and
//! write channels-last outputs, and the element-wise layers keep whatever layout they are
//! given. These helpers build such arrays and get at their memory.

use crate::scalar::Scalar;
use ndarray::{Array3, Array4, ArrayView3, ArrayView4, CowArray, Ix3, ShapeBuilder};
use rayon::prelude::*;
use std::borrow::Cow;

/// True when `x`'s memory is channels-last and contiguous (NHWC order).
pub fn is_nhwc<T>(x: &ArrayView4<'_, T>) -> bool {
    let (n, c, h, w) = x.dim();
    if n * c * h * w == 0 {
        return true;
    }
    let s = x.strides();
    let ok = |d: usize, st: isize, want: usize| d == 1 || st == want as isize;
    ok(c, s[1], 1) && ok(w, s[3], c) && ok(h, s[2], w * c) && ok(n, s[0], h * w * c)
}

/// `x`'s memory when it is channels-last and contiguous.
pub fn nhwc_data<'a, T>(x: &ArrayView4<'a, T>) -> Option<&'a [T]> {
    if !is_nhwc(x) {
        return None;
    }
    let (n, c, h, w) = x.dim();
    if n * c * h * w == 0 {
        return Some(&[]);
    }
    // SAFETY: the strides were checked to be those of a contiguous NHWC block starting at the
    // view's first element, so the n·c·h·w elements from it are the view's own, borrowed for 'a.
    Some(unsafe { std::slice::from_raw_parts(x.as_ptr(), n * c * h * w) })
}

/// `x` (N×C×H×W) as N×C×(H·W) over the same memory when it is standard or channels-last
/// (what per-channel kernels such as batch norm take), else a channels-last copy.
pub fn view3<'a, T: Scalar>(x: ArrayView4<'a, T>) -> CowArray<'a, T, Ix3> {
    let (n, c, h, w) = x.dim();
    if let Some(d) = nhwc_data(&x) {
        return CowArray::from(
            ArrayView3::from_shape((n, c, h * w).strides((h * w * c, 1, c)), d)
                .expect("n·c·h·w values"),
        );
    }
    if let Some(d) = x.to_slice() {
        return CowArray::from(ArrayView3::from_shape((n, c, h * w), d).expect("standard"));
    }
    let v = to_nhwc_vec(&x);
    CowArray::from(
        Array3::from_shape_vec((n, c, h * w).strides((h * w * c, 1, c)), v)
            .expect("n·c·h·w values"),
    )
}

/// An owned N×C×H×W array as N×C×(H·W) over the same memory when it is standard or
/// channels-last, else a channels-last copy.
pub fn into3<T: Scalar>(x: Array4<T>) -> Array3<T> {
    let (n, c, h, w) = x.dim();
    if x.is_standard_layout() {
        return x.into_shape_with_order((n, c, h * w)).expect("standard");
    }
    if is_nhwc(&x.view()) {
        let (v, off) = x.into_raw_vec_and_offset();
        if off.unwrap_or(0) == 0 && v.len() == n * c * h * w {
            return Array3::from_shape_vec((n, c, h * w).strides((h * w * c, 1, c)), v)
                .expect("n·c·h·w values");
        }
        return view3(from_nhwc(v, (n, c, h, w)).view()).into_owned();
    }
    view3(x.view()).into_owned()
}

/// The inverse of [`view3`] for an owned result: N×C×L (standard or channels-last) as
/// N×C×H×W over the same memory.
pub fn array4<T: Scalar>(y: Array3<T>, (n, c, h, w): (usize, usize, usize, usize)) -> Array4<T> {
    if y.is_standard_layout() {
        return y.into_shape_with_order((n, c, h, w)).expect("same size");
    }
    let lc = y.view().permuted_axes([0, 2, 1]).is_standard_layout();
    if lc {
        let (v, off) = y.into_raw_vec_and_offset();
        debug_assert_eq!(off.unwrap_or(0), 0);
        return from_nhwc(v, (n, c, h, w));
    }
    let mut out = zeros_nhwc((n, c, h, w));
    out.assign(
        &y.into_shape_with_order((n, c, h, w))
            .unwrap_or_else(|e| panic!("array4: {e}")),
    );
    out
}

/// `x`'s memory in NHWC order (borrowed when `x` is already channels-last).
pub fn nhwc_slice<'a, T: Scalar>(x: &'a ArrayView4<'a, T>) -> Cow<'a, [T]> {
    if is_nhwc(x) {
        let (n, c, h, w) = x.dim();
        if n * c * h * w == 0 {
            return Cow::Owned(Vec::new());
        }
        // SAFETY: the strides were checked to be those of a contiguous NHWC block starting at
        // the view's first element, so the n·c·h·w elements from it are the view's own.
        Cow::Borrowed(unsafe { std::slice::from_raw_parts(x.as_ptr(), n * c * h * w) })
    } else {
        Cow::Owned(to_nhwc_vec(x))
    }
}

/// Copies `x` into a fresh NHWC buffer (parallel over images).
pub fn to_nhwc_vec<T: Scalar>(x: &ArrayView4<'_, T>) -> Vec<T> {
    let (n, c, h, w) = x.dim();
    let mut out = vec![T::zero(); n * c * h * w];
    if out.is_empty() {
        return out;
    }
    out.par_chunks_mut(c * h * w)
        .enumerate()
        .for_each(|(i, img)| {
            let xi = x.index_axis(ndarray::Axis(0), i);
            for ch in 0..c {
                let plane = xi.index_axis(ndarray::Axis(0), ch);
                for (p, &v) in plane.iter().enumerate() {
                    img[p * c + ch] = v;
                }
            }
        });
    out
}

/// A logical N×C×H×W array over NHWC memory `data` (length n·c·h·w).
pub fn from_nhwc<T>(data: Vec<T>, (n, c, h, w): (usize, usize, usize, usize)) -> Array4<T> {
    Array4::from_shape_vec((n, h, w, c), data)
        .expect("n·h·w·c values")
        .permuted_axes([0, 3, 1, 2])
}

/// Zeros as a channels-last N×C×H×W array.
pub fn zeros_nhwc<T: Scalar>(dim: (usize, usize, usize, usize)) -> Array4<T> {
    let (n, c, h, w) = dim;
    from_nhwc(vec![T::zero(); n * c * h * w], dim)
}

/// `x` itself when it is channels-last, else a channels-last copy.
pub fn to_nhwc<T: Scalar>(x: ArrayView4<'_, T>) -> Array4<T> {
    let dim = x.dim();
    from_nhwc(nhwc_slice(&x).into_owned(), dim)
}

/// An NCHW-strided (standard layout) copy; for code that needs `as_slice` in NCHW order.
pub fn to_nchw<T: Scalar>(x: ArrayView4<'_, T>) -> Array4<T> {
    let mut out = Array4::<T>::zeros(x.raw_dim());
    out.assign(&x);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nhwc_round_trip_and_detection() {
        let x = Array4::<f64>::from_shape_fn((2, 3, 4, 5), |(a, b, c, d)| {
            (a * 1000 + b * 100 + c * 10 + d) as f64
        });
        assert!(!is_nhwc(&x.view()));
        let y = to_nhwc(x.view());
        assert!(is_nhwc(&y.view()));
        assert_eq!(x, y);
        let s = nhwc_slice(&y.view()).into_owned();
        assert_eq!(s[1], 100.0, "channel is the fastest axis");
        assert_eq!(s[3], 1.0, "then the column");
        assert_eq!(from_nhwc(s, x.dim()), x);
        let z = to_nchw(y.view());
        assert_eq!(z, x);
        assert!(z.is_standard_layout());
        // One channel: NCHW and NHWC coincide.
        let one = Array4::<f64>::zeros((2, 1, 3, 3));
        assert!(is_nhwc(&one.view()));
    }
}
