//! Channels-last activations.
//!
//! Every activation of the engine is an `Array4` indexed `[image, channel, row, column]` (the
//! NCHW *logical* order the layers, tests and traces use) whose memory is channels-last
//! (NHWC): the convolution kernels ([`crate::ops::direct`]) read channels-last inputs and
//! write channels-last outputs, and the element-wise layers keep whatever layout they are
//! given. These helpers build such arrays and get at their memory.

use crate::scalar::Scalar;
use ndarray::{Array4, ArrayView4};
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
