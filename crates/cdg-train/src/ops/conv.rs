//! 2-D convolution: the engine's entry points [`conv2d_forward`] and [`conv2d_backward`]
//! (channels-last implicit GEMM, [`crate::ops::direct`]), the reference [`conv2d_direct`], and
//! the earlier im2col + GEMM path ([`conv2d_forward_im2col`], [`conv2d_backward_im2col`]) kept
//! as a second reference and for benchmarks.
//!
//! In the im2col path the batch is processed in groups of `g` images whose im2col matrices sit side by side
//! (`K × g·P`, K = C·kh·kw window length, P = output pixels per image), so the GEMMs stay wide
//! even for the 4×4 maps of ResNet-18's last stage. The group size depends only on the shapes
//! ([`group_size`]), and groups are reduced in order, so results are bit-identical for any
//! thread count. im2col runs in parallel over window rows, col2im in parallel over images; the
//! GEMM itself is multi-threaded by the backend (see [`crate::scalar::gemm`]).

use crate::ops::{direct, layout};
use crate::scalar::{Scalar, gemm};
use ndarray::{
    Array1, Array2, Array4, ArrayView1, ArrayView2, ArrayView4, ArrayViewMut2, Axis, ShapeBuilder,
    s,
};
use rayon::prelude::*;

/// The geometry of one convolution (batch excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeom {
    pub in_channels: usize,
    pub in_height: usize,
    pub in_width: usize,
    pub out_channels: usize,
    pub kernel: [usize; 2],
    pub stride: usize,
    pub padding: usize,
}

impl ConvGeom {
    /// ⌊(H + 2p − kh)/s⌋ + 1 (PyTorch's rule).
    pub fn out_height(&self) -> usize {
        (self.in_height + 2 * self.padding - self.kernel[0]) / self.stride + 1
    }
    /// ⌊(W + 2p − kw)/s⌋ + 1.
    pub fn out_width(&self) -> usize {
        (self.in_width + 2 * self.padding - self.kernel[1]) / self.stride + 1
    }
    /// Window length K = C·kh·kw (rows of the im2col matrix).
    pub fn window(&self) -> usize {
        self.in_channels * self.kernel[0] * self.kernel[1]
    }
    /// Output pixels per image P = H_out·W_out.
    pub fn out_pixels(&self) -> usize {
        self.out_height() * self.out_width()
    }
    /// Multiply-accumulates per image: P·K·N.
    pub fn macs(&self) -> u64 {
        (self.out_pixels() * self.window() * self.out_channels) as u64
    }
    /// True when the kernel (with padding) fits the input.
    pub fn is_valid(&self) -> bool {
        self.stride > 0
            && self.kernel[0] > 0
            && self.kernel[1] > 0
            && self.in_height + 2 * self.padding >= self.kernel[0]
            && self.in_width + 2 * self.padding >= self.kernel[1]
    }

    /// The geometry of `x` (N×C×H×W) convolved with `w` (N_out×C×kh×kw).
    pub fn of<T>(
        x: &ArrayView4<'_, T>,
        w: &ArrayView4<'_, T>,
        stride: usize,
        padding: usize,
    ) -> Self {
        let (_, c, h, wd) = x.dim();
        let (n, _, kh, kw) = w.dim();
        ConvGeom {
            in_channels: c,
            in_height: h,
            in_width: wd,
            out_channels: n,
            kernel: [kh, kw],
            stride,
            padding,
        }
    }
}

/// Images per GEMM group: enough to give at least `TARGET_COLUMNS` im2col columns, capped by
/// the batch. A function of the shapes only, which keeps reductions thread-count independent.
pub fn group_size(out_pixels: usize, batch: usize) -> usize {
    const TARGET_COLUMNS: usize = 4096;
    (TARGET_COLUMNS / out_pixels.max(1)).clamp(1, batch.max(1))
}

/// Output column range of window offset `k` along one axis (stride 1 or more): the `o` with
/// `0 ≤ o·s + k − p < n` lie in `lo..hi`.
#[inline]
fn valid_range(n_in: usize, n_out: usize, k: usize, s: usize, p: usize) -> (usize, usize) {
    // o·s + k ≥ p  ⇔  o ≥ ceil((p − k)/s)
    let lo = if p > k { (p - k).div_ceil(s) } else { 0 };
    // o·s + k − p ≤ n − 1  ⇔  o ≤ (n − 1 + p − k)/s
    let hi = if n_in + p > k {
        ((n_in - 1 + p - k) / s + 1).min(n_out)
    } else {
        0
    };
    (lo.min(n_out), hi.max(lo.min(n_out)))
}

/// im2col of `g` images into `cols` (K × g·P, row-major): column `i·P + oh·W_out + ow` holds
/// image `i`'s window at output pixel (oh, ow); row `(c·kh + ki)·kw + kj`. Zero padding.
pub fn im2col<T: Scalar>(x: &[T], g: usize, geom: &ConvGeom, cols: &mut [T]) {
    let ld = g * geom.out_pixels();
    im2col_ld(x, g, geom, cols, ld);
}

/// Row stride for an im2col matrix of `columns` columns: a multiple of 16 elements that is
/// not a multiple of 128. Power-of-two strides put every row in the same cache set, which
/// made the GEMM's packing of the transposed matrix (for ∂L/∂W) thrash and cost more than
/// the multiplication itself.
pub fn padded_ld(columns: usize) -> usize {
    let ld = columns.div_ceil(16) * 16;
    if ld.is_multiple_of(128) { ld + 16 } else { ld }
}

/// [`im2col`] into a matrix with row stride `ld` ≥ g·P (the padding is left untouched).
pub fn im2col_ld<T: Scalar>(x: &[T], g: usize, geom: &ConvGeom, cols: &mut [T], ld: usize) {
    let (c_in, h, w) = (geom.in_channels, geom.in_height, geom.in_width);
    let (kh, kw) = (geom.kernel[0], geom.kernel[1]);
    let (ho, wo, s, p) = (
        geom.out_height(),
        geom.out_width(),
        geom.stride,
        geom.padding,
    );
    let pix = ho * wo;
    debug_assert!(ld >= g * pix);
    debug_assert_eq!(x.len(), g * c_in * h * w);
    debug_assert!(cols.len() >= geom.window() * ld);
    cols[..geom.window() * ld]
        .par_chunks_mut(ld)
        .enumerate()
        .for_each(|(r, row)| {
            let c = r / (kh * kw);
            let ki = (r / kw) % kh;
            let kj = r % kw;
            let (oh_lo, oh_hi) = valid_range(h, ho, ki, s, p);
            let (ow_lo, ow_hi) = valid_range(w, wo, kj, s, p);
            for i in 0..g {
                let plane = &x[(i * c_in + c) * h * w..][..h * w];
                let dst = &mut row[i * pix..(i + 1) * pix];
                dst[..oh_lo * wo].fill(T::zero());
                dst[oh_hi * wo..].fill(T::zero());
                for oh in oh_lo..oh_hi {
                    let ih = oh * s + ki - p;
                    let src = &plane[ih * w..(ih + 1) * w];
                    let drow = &mut dst[oh * wo..(oh + 1) * wo];
                    drow[..ow_lo].fill(T::zero());
                    drow[ow_hi..].fill(T::zero());
                    if s == 1 {
                        let off = ow_lo + kj - p;
                        drow[ow_lo..ow_hi].copy_from_slice(&src[off..off + (ow_hi - ow_lo)]);
                    } else {
                        for ow in ow_lo..ow_hi {
                            drow[ow] = src[ow * s + kj - p];
                        }
                    }
                }
            }
        });
}

/// col2im: the adjoint of [`im2col`]. Adds column block `i` of `cols` into image `i` of `dx`
/// (g×C×H×W, which the caller zeroes or pre-fills). Parallel over images, fixed order inside.
pub fn col2im<T: Scalar>(cols: &[T], g: usize, geom: &ConvGeom, dx: &mut [T]) {
    col2im_ld(cols, g, geom, dx, g * geom.out_pixels());
}

/// [`col2im`] from a matrix with row stride `ld` ≥ g·P.
pub fn col2im_ld<T: Scalar>(cols: &[T], g: usize, geom: &ConvGeom, dx: &mut [T], ld: usize) {
    let (c_in, h, w) = (geom.in_channels, geom.in_height, geom.in_width);
    let (kh, kw) = (geom.kernel[0], geom.kernel[1]);
    let (ho, wo, s, p) = (
        geom.out_height(),
        geom.out_width(),
        geom.stride,
        geom.padding,
    );
    let pix = ho * wo;
    debug_assert_eq!(dx.len(), g * c_in * h * w);
    dx.par_chunks_mut(c_in * h * w)
        .enumerate()
        .for_each(|(i, img)| {
            for r in 0..geom.window() {
                let c = r / (kh * kw);
                let ki = (r / kw) % kh;
                let kj = r % kw;
                let (oh_lo, oh_hi) = valid_range(h, ho, ki, s, p);
                let (ow_lo, ow_hi) = valid_range(w, wo, kj, s, p);
                let src = &cols[r * ld + i * pix..][..pix];
                let plane = &mut img[c * h * w..(c + 1) * h * w];
                for oh in oh_lo..oh_hi {
                    let ih = oh * s + ki - p;
                    let drow = &mut plane[ih * w..(ih + 1) * w];
                    let srow = &src[oh * wo..(oh + 1) * wo];
                    if s == 1 {
                        let off = ow_lo + kj - p;
                        for (d, &v) in drow[off..off + (ow_hi - ow_lo)]
                            .iter_mut()
                            .zip(&srow[ow_lo..ow_hi])
                        {
                            *d += v;
                        }
                    } else {
                        for ow in ow_lo..ow_hi {
                            drow[ow * s + kj - p] += srow[ow];
                        }
                    }
                }
            }
        });
}

/// `y = conv(x, w) + b`: x N×C×H×W, w N_out×C×kh×kw, optional bias N_out. Any memory layout
/// in; the result is channels-last (see [`crate::ops::layout`]). Implicit GEMM
/// ([`crate::ops::direct`]).
///
/// # Panics
/// When the channel counts of `x` and `w` differ or the kernel does not fit; layers check
/// shapes and return errors before calling this.
pub fn conv2d_forward<T: Scalar>(
    x: ArrayView4<'_, T>,
    w: ArrayView4<'_, T>,
    bias: Option<ArrayView1<'_, T>>,
    stride: usize,
    padding: usize,
) -> Array4<T> {
    let geom = ConvGeom::of(&x, &w, stride, padding);
    assert_eq!(
        x.dim().1,
        w.dim().1,
        "conv2d: input channels of x and w differ"
    );
    assert!(
        geom.is_valid(),
        "conv2d: kernel does not fit the input: {geom:?}"
    );
    let xp = direct::Padded::new(&x, [padding; 4]);
    let mut y = direct::forward(&xp, 0, &w, stride, (geom.out_height(), geom.out_width()));
    if let Some(b) = bias {
        for (c, mut plane) in y.axis_iter_mut(Axis(1)).enumerate() {
            let bc = b[c];
            plane.mapv_inplace(|v| v + bc);
        }
    }
    y
}

/// Backward of [`conv2d_forward`]: `dy` is ∂L/∂y (N×N_out×H_out×W_out, any layout). `dx`
/// (channels-last) is computed only when `need_dx` (the stem's input needs none), `db` only
/// when `with_bias`.
pub fn conv2d_backward<T: Scalar>(
    x: ArrayView4<'_, T>,
    w: ArrayView4<'_, T>,
    dy: ArrayView4<'_, T>,
    stride: usize,
    padding: usize,
    need_dx: bool,
    with_bias: bool,
) -> Conv2dGrads<T> {
    let geom = ConvGeom::of(&x, &w, stride, padding);
    let xp = direct::Padded::new(&x, [padding; 4]);
    conv2d_backward_padded(&xp, w, dy, stride, padding, need_dx, with_bias, &geom)
}

/// [`conv2d_backward`] from the forward's padded input (layers keep it from the forward).
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_padded<T: Scalar>(
    xp: &direct::Padded<T>,
    w: ArrayView4<'_, T>,
    dy: ArrayView4<'_, T>,
    stride: usize,
    padding: usize,
    need_dx: bool,
    with_bias: bool,
    geom: &ConvGeom,
) -> Conv2dGrads<T> {
    let batch = xp.images();
    let (n, c, kh, kw) = w.dim();
    assert_eq!(
        dy.dim(),
        (batch, n, geom.out_height(), geom.out_width()),
        "conv2d_backward: dy shape"
    );
    let dw = direct::backward_weight(xp, 0, c, &dy, (kh, kw), stride);
    let dx = need_dx.then(|| {
        let (h, wd) = (geom.in_height, geom.in_width);
        let mut dx = vec![T::zero(); batch * c * h * wd];
        direct::backward_data_into(&dy, &w, stride, padding, (h, wd), &mut dx, c, 0);
        layout::from_nhwc(dx, (batch, c, h, wd))
    });
    let db = with_bias.then(|| {
        let dys = layout::nhwc_slice(&dy);
        // Fixed order: pixels (images, rows, columns), accumulated in f64.
        let mut acc = vec![0.0f64; n];
        for px in dys.chunks_exact(n.max(1)) {
            for (a, &v) in acc.iter_mut().zip(px) {
                *a += v.as_f64();
            }
        }
        acc.into_iter().map(T::of).collect()
    });
    Conv2dGrads { dx, dw, db }
}

/// [`conv2d_forward`] by im2col + GEMM (NCHW result).
pub fn conv2d_forward_im2col<T: Scalar>(
    x: ArrayView4<'_, T>,
    w: ArrayView4<'_, T>,
    bias: Option<ArrayView1<'_, T>>,
    stride: usize,
    padding: usize,
) -> Array4<T> {
    let geom = ConvGeom::of(&x, &w, stride, padding);
    assert_eq!(
        x.dim().1,
        w.dim().1,
        "conv2d: input channels of x and w differ"
    );
    assert!(
        geom.is_valid(),
        "conv2d: kernel does not fit the input: {geom:?}"
    );
    let batch = x.dim().0;
    let (ho, wo, pix, k, n) = (
        geom.out_height(),
        geom.out_width(),
        geom.out_pixels(),
        geom.window(),
        geom.out_channels,
    );
    let x = x.as_standard_layout();
    let w = w.as_standard_layout();
    let w2 = w
        .view()
        .into_shape_with_order((n, k))
        .expect("standard layout");
    let xs = x.as_slice().expect("standard layout");
    let img = geom.in_channels * geom.in_height * geom.in_width;
    let mut y = Array4::<T>::zeros((batch, n, ho, wo));
    let g_max = group_size(pix, batch);
    let mut cols = vec![T::zero(); k * padded_ld(g_max * pix)];
    let mut out = Array2::<T>::zeros((n, g_max * pix));
    let mut start = 0;
    while start < batch {
        let g = g_max.min(batch - start);
        let ld = padded_ld(g * pix);
        let cols_g = &mut cols[..k * ld];
        im2col_ld(&xs[start * img..(start + g) * img], g, &geom, cols_g, ld);
        let cols_v =
            ArrayView2::from_shape((k, g * pix).strides((ld, 1)), &*cols_g).expect("sized above");
        let mut out_g = out.slice_mut(s![.., ..g * pix]);
        gemm(T::one(), w2, cols_v, T::zero(), out_g.view_mut());
        let out_g = out_g.view();
        y.slice_mut(s![start..start + g, .., .., ..])
            .axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(i, mut yi)| {
                let yi = yi.as_slice_mut().expect("fresh array");
                for c in 0..n {
                    let src = out_g.slice(s![c, i * pix..(i + 1) * pix]);
                    let dst = &mut yi[c * pix..(c + 1) * pix];
                    match bias {
                        Some(ref b) => {
                            let bc = b[c];
                            for (d, &v) in dst.iter_mut().zip(src.iter()) {
                                *d = v + bc;
                            }
                        }
                        None => {
                            for (d, &v) in dst.iter_mut().zip(src.iter()) {
                                *d = v;
                            }
                        }
                    }
                }
            });
        start += g;
    }
    y
}

/// Gradients of a convolution.
#[derive(Debug, Clone)]
pub struct Conv2dGrads<T> {
    /// ∂L/∂x, when requested.
    pub dx: Option<Array4<T>>,
    /// ∂L/∂w, same shape as w.
    pub dw: Array4<T>,
    /// ∂L/∂b, when the convolution has a bias.
    pub db: Option<Array1<T>>,
}

/// [`conv2d_backward`] by im2col + GEMM + col2im (NCHW gradients).
pub fn conv2d_backward_im2col<T: Scalar>(
    x: ArrayView4<'_, T>,
    w: ArrayView4<'_, T>,
    dy: ArrayView4<'_, T>,
    stride: usize,
    padding: usize,
    need_dx: bool,
    with_bias: bool,
) -> Conv2dGrads<T> {
    let geom = ConvGeom::of(&x, &w, stride, padding);
    let batch = x.dim().0;
    let (pix, k, n) = (geom.out_pixels(), geom.window(), geom.out_channels);
    assert_eq!(
        dy.dim(),
        (batch, n, geom.out_height(), geom.out_width()),
        "conv2d_backward: dy shape"
    );
    let x = x.as_standard_layout();
    let w = w.as_standard_layout();
    let dy = dy.as_standard_layout();
    let w2 = w
        .view()
        .into_shape_with_order((n, k))
        .expect("standard layout");
    let xs = x.as_slice().expect("standard layout");
    let dys = dy.as_slice().expect("standard layout");
    let img = geom.in_channels * geom.in_height * geom.in_width;
    let mut dw2 = Array2::<T>::zeros((n, k));
    let mut dx = need_dx.then(|| Array4::<T>::zeros(x.raw_dim()));
    let g_max = group_size(pix, batch);
    let ld_max = padded_ld(g_max * pix);
    let mut cols = vec![T::zero(); k * ld_max];
    let mut dcols = if need_dx {
        vec![T::zero(); k * ld_max]
    } else {
        Vec::new()
    };
    let mut dyg = vec![T::zero(); n * ld_max];
    let mut start = 0;
    while start < batch {
        let g = g_max.min(batch - start);
        let cols_n = g * pix;
        let ld = padded_ld(cols_n);
        // Gather dy of the group as N × g·P (column i·P + p), parallel over filters.
        let dyg_s = &mut dyg[..n * ld];
        dyg_s.par_chunks_mut(ld).enumerate().for_each(|(c, row)| {
            for i in 0..g {
                let src = &dys[((start + i) * n + c) * pix..][..pix];
                row[i * pix..(i + 1) * pix].copy_from_slice(src);
            }
        });
        let dyg_v =
            ArrayView2::from_shape((n, cols_n).strides((ld, 1)), &*dyg_s).expect("sized above");
        let cols_g = &mut cols[..k * ld];
        im2col_ld(&xs[start * img..(start + g) * img], g, &geom, cols_g, ld);
        let cols_v =
            ArrayView2::from_shape((k, cols_n).strides((ld, 1)), &*cols_g).expect("sized above");
        // dW += dy_g · cols_gᵀ, groups accumulated in order.
        gemm(T::one(), dyg_v, cols_v.t(), T::one(), dw2.view_mut());
        if let Some(dx) = dx.as_mut() {
            let dcols_g = &mut dcols[..k * ld];
            let dcols_v = ArrayViewMut2::from_shape((k, cols_n).strides((ld, 1)), &mut *dcols_g)
                .expect("sized above");
            gemm(T::one(), w2.t(), dyg_v, T::zero(), dcols_v);
            let dxs = dx.as_slice_mut().expect("fresh array");
            col2im_ld(
                &*dcols_g,
                g,
                &geom,
                &mut dxs[start * img..(start + g) * img],
                ld,
            );
        }
        start += g;
    }
    let db = with_bias.then(|| {
        let mut db = Array1::<T>::zeros(n);
        // Fixed order: images, then pixels, accumulated in f64.
        let sums: Vec<f64> = (0..n)
            .into_par_iter()
            .map(|c| {
                let mut acc = 0.0f64;
                for b in 0..batch {
                    for &v in &dys[(b * n + c) * pix..][..pix] {
                        acc += v.as_f64();
                    }
                }
                acc
            })
            .collect();
        for (d, s) in db.iter_mut().zip(sums) {
            *d = T::of(s);
        }
        db
    });
    let dw = dw2
        .into_shape_with_order(w.raw_dim())
        .expect("same element count");
    Conv2dGrads { dx, dw, db }
}

/// Direct (seven-loop) convolution: the slow reference the tests compare against.
pub fn conv2d_direct<T: Scalar>(
    x: ArrayView4<'_, T>,
    w: ArrayView4<'_, T>,
    bias: Option<ArrayView1<'_, T>>,
    stride: usize,
    padding: usize,
) -> Array4<T> {
    let geom = ConvGeom::of(&x, &w, stride, padding);
    let (batch, c_in, h, wd) = x.dim();
    let (n, _, kh, kw) = w.dim();
    let (ho, wo) = (geom.out_height(), geom.out_width());
    let mut y = Array4::<T>::zeros((batch, n, ho, wo));
    for b in 0..batch {
        for o in 0..n {
            for oh in 0..ho {
                for ow in 0..wo {
                    let mut acc = bias.as_ref().map_or(T::zero(), |b| b[o]);
                    for c in 0..c_in {
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let ih = (oh * stride + ki) as isize - padding as isize;
                                let iw = (ow * stride + kj) as isize - padding as isize;
                                if ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < wd {
                                    acc += x[[b, c, ih as usize, iw as usize]] * w[[o, c, ki, kj]];
                                }
                            }
                        }
                    }
                    y[[b, o, oh, ow]] = acc;
                }
            }
        }
    }
    y
}
