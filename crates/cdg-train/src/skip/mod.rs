//! Real skipping at inference: a gated convolution that computes the conditional part only
//! for active gates.
//!
//! Per image, the input is unrolled pixel-major (one row of K = C·kh·kw values per output
//! pixel). The base path is one GEMM over all pixels. For the conditional path, each channel
//! block gathers the rows of the pixels whose gate is on into a compact matrix and multiplies
//! it by its own slice of `W_cond` (one GEMM per channel block); unstructured gates
//! (one channel per block) use a dot product per active output instead of a gather. The
//! result equals the masked path `P + d ⊙ conv(x_cond, W_cond)` up to summation order.

use crate::ops::ConvGeom;
use crate::scalar::gemm;
use ndarray::{Array2, Array4, ArrayView2, ArrayView3, ArrayView4, Axis, s};
use rayon::prelude::*;

/// A gated convolution prepared for inference.
#[derive(Debug, Clone)]
pub struct SkipConv {
    in_channels: usize,
    out_channels: usize,
    base_channels: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    block: [usize; 3],
    /// W_base as N × K_base.
    w_base: Array2<f32>,
    /// W_cond as N × K_cond.
    w_cond: Array2<f32>,
    /// The full weight N × K (dense path).
    w_full: Array2<f32>,
}

/// Pixel-major im2col of one image (C×H×W, any layout): P × C·kh·kw, row `oh·W_out + ow`
/// holds the window of output pixel (oh, ow), column `(c·kh + ki)·kw + kj`; zero padding.
pub fn im2row(x: ArrayView3<'_, f32>, geom: &ConvGeom) -> Array2<f32> {
    im2row_range(x, geom, 0, geom.out_pixels())
}

/// Output pixels per tile of the inference paths: a tile's im2row block (≤ 256 × K floats)
/// stays in cache while the base GEMM, the gathers and the block GEMMs read it.
pub const TILE_PIXELS: usize = 256;

/// Rows `p0..p1` of [`im2row`].
pub fn im2row_range(x: ArrayView3<'_, f32>, geom: &ConvGeom, p0: usize, p1: usize) -> Array2<f32> {
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let (c_in, h, w) = (geom.in_channels, geom.in_height, geom.in_width);
    let (kh, kw) = (geom.kernel[0], geom.kernel[1]);
    let (ho, wo, st, p) = (
        geom.out_height(),
        geom.out_width(),
        geom.stride,
        geom.padding,
    );
    let kk = c_in * kh * kw;
    let _ = ho;
    let mut out = Array2::<f32>::zeros((p1 - p0, kk));
    let os = out.as_slice_mut().expect("fresh");
    for pix in p0..p1 {
        let (oh, ow) = (pix / wo, pix % wo);
        {
            let row = &mut os[(pix - p0) * kk..][..kk];
            // Valid kernel columns for this output column.
            let x0 = (ow * st) as isize - p as isize;
            let kj_lo = (-x0).max(0) as usize;
            let kj_hi = ((w as isize - x0).min(kw as isize)).max(0) as usize;
            for ki in 0..kh {
                let ih = (oh * st + ki) as isize - p as isize;
                if ih < 0 || ih as usize >= h || kj_lo >= kj_hi {
                    continue;
                }
                let ih = ih as usize;
                for c in 0..c_in {
                    let src = &xs[(c * h + ih) * w..][..w];
                    let dst = &mut row[(c * kh + ki) * kw..][..kw];
                    let s0 = (x0 + kj_lo as isize) as usize;
                    dst[kj_lo..kj_hi].copy_from_slice(&src[s0..s0 + (kj_hi - kj_lo)]);
                }
            }
        }
    }
    out
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ac, ar) = a.split_at(a.len() / 8 * 8);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(8).zip(bc.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

impl SkipConv {
    /// From a weight N × C_in × k × k (square kernel), the base-channel count, stride,
    /// padding and gate block (channels, rows, columns).
    pub fn new(
        weight: ArrayView4<'_, f32>,
        base_channels: usize,
        stride: usize,
        padding: usize,
        block: [usize; 3],
    ) -> Self {
        let (n, c, k, _) = weight.dim();
        let w = weight.as_standard_layout().into_owned();
        let w_full = w
            .clone()
            .into_shape_with_order((n, c * k * k))
            .expect("standard");
        let split = base_channels * k * k;
        SkipConv {
            in_channels: c,
            out_channels: n,
            base_channels,
            kernel: k,
            stride,
            padding,
            block,
            w_base: w_full.slice(s![.., ..split]).to_owned(),
            w_cond: w_full.slice(s![.., split..]).to_owned(),
            w_full,
        }
    }

    fn geom(&self, h: usize, w: usize) -> ConvGeom {
        ConvGeom {
            in_channels: self.in_channels,
            in_height: h,
            in_width: w,
            out_channels: self.out_channels,
            kernel: [self.kernel; 2],
            stride: self.stride,
            padding: self.padding,
        }
    }

    /// Output map size for an H×W input.
    pub fn out_hw(&self, h: usize, w: usize) -> (usize, usize) {
        let g = self.geom(h, w);
        (g.out_height(), g.out_width())
    }

    /// Dense convolution with the same kernels (the speed-up baseline).
    pub fn forward_dense(&self, x: ArrayView4<'_, f32>) -> Array4<f32> {
        let (n, _, h, w) = x.dim();
        let g = self.geom(h, w);
        let (ho, wo) = (g.out_height(), g.out_width());
        let mut y = Array4::<f32>::zeros((n, self.out_channels, ho, wo));
        y.axis_iter_mut(Axis(0))
            .into_par_iter()
            .zip(x.axis_iter(Axis(0)))
            .for_each(|(mut yi, xi)| {
                let mut yt = yi
                    .view_mut()
                    .into_shape_with_order((self.out_channels, ho * wo))
                    .expect("fresh");
                for p0 in (0..ho * wo).step_by(TILE_PIXELS) {
                    let p1 = (p0 + TILE_PIXELS).min(ho * wo);
                    let rows = im2row_range(xi, &g, p0, p1);
                    gemm(
                        1.0,
                        self.w_full.view(),
                        rows.t(),
                        0.0,
                        yt.slice_mut(s![.., p0..p1]),
                    );
                }
            });
        y
    }

    /// The masked path: base and conditional parts computed densely, the conditional one
    /// multiplied by the broadcast gates `gates` (N × gc × gh × gw, non-zero = on).
    pub fn forward_masked(&self, x: ArrayView4<'_, f32>, gates: ArrayView4<'_, u8>) -> Array4<f32> {
        let (n, _, h, w) = x.dim();
        let g = self.geom(h, w);
        let (ho, wo) = (g.out_height(), g.out_width());
        let [bc, bh, bw] = self.block;
        let mut y = Array4::<f32>::zeros((n, self.out_channels, ho, wo));
        y.axis_iter_mut(Axis(0))
            .into_par_iter()
            .zip(x.axis_iter(Axis(0)))
            .zip(gates.axis_iter(Axis(0)))
            .for_each(|((mut yi, xi), gi)| {
                let rows = im2row(xi, &g);
                let split = self.w_base.dim().1;
                let rb = rows.slice(s![.., ..split]);
                let rc = rows.slice(s![.., split..]);
                let mut p = Array2::<f32>::zeros((self.out_channels, ho * wo));
                gemm(1.0, self.w_base.view(), rb.t(), 0.0, p.view_mut());
                let mut q = Array2::<f32>::zeros((self.out_channels, ho * wo));
                gemm(1.0, self.w_cond.view(), rc.t(), 0.0, q.view_mut());
                for c in 0..self.out_channels {
                    for oh in 0..ho {
                        for ow in 0..wo {
                            let on = gi[[c / bc, oh / bh, ow / bw]] != 0;
                            let pix = oh * wo + ow;
                            yi[[c, oh, ow]] = p[[c, pix]] + if on { q[[c, pix]] } else { 0.0 };
                        }
                    }
                }
            });
        y
    }

    /// Real skipping: the conditional part only where the gate is on.
    pub fn forward_skip(&self, x: ArrayView4<'_, f32>, gates: ArrayView4<'_, u8>) -> Array4<f32> {
        let (n, _, h, w) = x.dim();
        let g = self.geom(h, w);
        let (ho, wo) = (g.out_height(), g.out_width());
        let mut y = Array4::<f32>::zeros((n, self.out_channels, ho, wo));
        y.axis_iter_mut(Axis(0))
            .into_par_iter()
            .zip(x.axis_iter(Axis(0)))
            .zip(gates.axis_iter(Axis(0)))
            .for_each(|((yi, xi), gi)| {
                self.skip_image(xi, gi, &g, yi);
            });
        y
    }

    fn skip_image(
        &self,
        xi: ArrayView3<'_, f32>,
        gi: ArrayView3<'_, u8>,
        g: &ConvGeom,
        yi: ndarray::ArrayViewMut3<'_, f32>,
    ) {
        let (ho, wo) = (g.out_height(), g.out_width());
        let pixels = ho * wo;
        let [bc, bh, bw] = self.block;
        let nout = self.out_channels;
        let mut yt = yi.into_shape_with_order((nout, pixels)).expect("fresh");
        let split = self.w_base.dim().1;
        let gc = nout.div_ceil(bc);
        let mut active: Vec<usize> = Vec::with_capacity(TILE_PIXELS);
        let mut gathered: Vec<f32> = Vec::new();
        let mut out: Vec<f32> = Vec::new();
        for p0 in (0..pixels).step_by(TILE_PIXELS) {
            let p1 = (p0 + TILE_PIXELS).min(pixels);
            let tile = p1 - p0;
            let rows = im2row_range(xi, g, p0, p1);
            gemm(
                1.0,
                self.w_base.view(),
                rows.slice(s![.., ..split]).t(),
                0.0,
                yt.slice_mut(s![.., p0..p1]),
            );
            if self.base_channels == self.in_channels {
                continue;
            }
            let k = rows.dim().1;
            let kc = k - split;
            let rs = rows.as_slice().expect("fresh");
            for jb in 0..gc {
                let c0 = jb * bc;
                let c1 = (c0 + bc).min(nout);
                active.clear();
                for pix in p0..p1 {
                    if gi[[jb, pix / wo / bh, pix % wo / bw]] != 0 {
                        active.push(pix - p0);
                    }
                }
                if active.is_empty() {
                    continue;
                }
                if c1 - c0 == 1 {
                    let wr = self.w_cond.row(c0);
                    let wr = wr.as_slice().expect("row-major");
                    let mut yr = yt.row_mut(c0);
                    let yr = yr.as_slice_mut().expect("row-major");
                    for &p in &active {
                        yr[p0 + p] += dot(&rs[p * k + split..(p + 1) * k], wr);
                    }
                    continue;
                }
                let na = active.len();
                if na == tile {
                    // Every pixel of the tile active: no gather.
                    gemm(
                        1.0,
                        self.w_cond.slice(s![c0..c1, ..]),
                        rows.slice(s![.., split..]).t(),
                        1.0,
                        yt.slice_mut(s![c0..c1, p0..p1]),
                    );
                    continue;
                }
                gathered.resize(na * kc, 0.0);
                for (i, &p) in active.iter().enumerate() {
                    gathered[i * kc..(i + 1) * kc].copy_from_slice(&rs[p * k + split..(p + 1) * k]);
                }
                out.resize((c1 - c0) * na, 0.0);
                let gv = ArrayView2::from_shape((na, kc), &gathered[..]).expect("sized");
                let ov =
                    ndarray::ArrayViewMut2::from_shape((c1 - c0, na), &mut out[..]).expect("sized");
                gemm(1.0, self.w_cond.slice(s![c0..c1, ..]), gv.t(), 0.0, ov);
                for (ci, c) in (c0..c1).enumerate() {
                    let o = &out[ci * na..(ci + 1) * na];
                    let mut yr = yt.row_mut(c);
                    let yr = yr.as_slice_mut().expect("row-major");
                    for (&p, &v) in active.iter().zip(o) {
                        yr[p0 + p] += v;
                    }
                }
            }
        }
    }

    /// Multiply-accumulates per image of the dense layer and of the skipping path for
    /// `gates` (mean over images).
    pub fn macs(&self, h: usize, w: usize, gates: ArrayView4<'_, u8>) -> (u64, f64) {
        let g = self.geom(h, w);
        let (ho, wo) = (g.out_height(), g.out_width());
        let k2 = (self.kernel * self.kernel) as u64;
        let dense = g.macs();
        let base = (ho * wo * self.out_channels) as u64 * self.base_channels as u64 * k2;
        let kc = (self.in_channels - self.base_channels) as u64 * k2;
        let [bc, bh, bw] = self.block;
        let n = gates.dim().0.max(1);
        let mut act = 0u64;
        for gi in gates.axis_iter(Axis(0)) {
            for c in 0..self.out_channels {
                for oh in 0..ho {
                    for ow in 0..wo {
                        if gi[[c / bc, oh / bh, ow / bw]] != 0 {
                            act += 1;
                        }
                    }
                }
            }
        }
        (dense, base as f64 + (kc * act) as f64 / n as f64)
    }
}

/// Random block gates with an exact off-fraction per image (for tests and benches):
/// `round(sparsity · blocks)` blocks off, chosen by a seeded shuffle.
pub fn random_gates(n: usize, grid: [usize; 3], sparsity: f64, seed: u64) -> Array4<u8> {
    let [gc, gh, gw] = grid;
    let per = gc * gh * gw;
    let off = ((sparsity.clamp(0.0, 1.0) * per as f64).round() as usize).min(per);
    let mut out = Array4::<u8>::ones((n, gc, gh, gw));
    for i in 0..n {
        let mut rng = crate::data::rng::rng_for(seed, &[i as u64]);
        let mut idx: Vec<usize> = (0..per).collect();
        crate::data::rng::shuffle(&mut rng, &mut idx);
        let mut img = out.index_axis_mut(Axis(0), i);
        let flat = img.as_slice_mut().expect("fresh");
        for &j in &idx[..off] {
            flat[j] = 0;
        }
    }
    out
}

/// The base path's share of a layer: used to express the ideal speed-up
/// `1 / (b + (1 − b)(1 − sparsity))` with b = base_channels / in_channels.
pub fn ideal_speedup(base_channels: usize, in_channels: usize, sparsity: f64) -> f64 {
    let b = base_channels as f64 / in_channels as f64;
    1.0 / (b + (1.0 - b) * (1.0 - sparsity))
}
