//! Real skipping at inference: a gated convolution that computes the conditional part only
//! for active gates.
//!
//! Per image, the input is unrolled pixel-major (one row of K = C·kh·kw values per output
//! pixel), one tile of [`TILE_PIXELS`] pixels at a time. The base path is one GEMM over the
//! tile. For the conditional path, each channel block lists the tile's pixels whose gate is
//! on and multiplies their rows, read in place, by its slice of `W_cond` (pre-packed in
//! 16-channel panels) with the fused gather-GEMM micro-kernel of [`kernel`]; unstructured
//! gates (one channel per block) use a dot product per active output instead. The result
//! equals the masked path `P + d ⊙ conv(x_cond, W_cond)` up to summation order.

pub use crate::ops::kernel;

use crate::ops::ConvGeom;
use crate::scalar::gemm;
use ndarray::{Array2, Array4, ArrayView3, ArrayView4, Axis, s};
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
    /// The full weight in chunks of at most [`kernel::LANES`] output channels, each
    /// `(first channel, end channel, K × LANES panel)`; the base taps come first, so a
    /// panel's first K_base rows are its base part. The chunks of all channels (in order)
    /// come first, then, when channel blocks do not align to them, each block's own chunks.
    chunks: Vec<(usize, usize, Vec<f32>)>,
    /// Per channel block (structured gates): indices into `chunks` covering its channels.
    block_chunks: Vec<Vec<usize>>,
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
        let bc = block[0].max(1);
        let kf = c * k * k;
        let ws = w_full.as_slice().expect("fresh");
        let lanes = kernel::LANES;
        let mut chunks: Vec<(usize, usize, Vec<f32>)> = (0..n)
            .step_by(lanes)
            .map(|c0| {
                let c1 = (c0 + lanes).min(n);
                (c0, c1, kernel::pack_chunk(ws, kf, c0, c1))
            })
            .collect();
        let mut block_chunks = Vec::new();
        if bc > 1 {
            for jb in 0..n.div_ceil(bc) {
                let (b0, b1) = (jb * bc, ((jb + 1) * bc).min(n));
                let mut ids = Vec::new();
                for c0 in (b0..b1).step_by(lanes) {
                    let c1 = (c0 + lanes).min(b1);
                    if c0 % lanes == 0 && c1 == (c0 + lanes).min(n) {
                        ids.push(c0 / lanes);
                    } else {
                        ids.push(chunks.len());
                        chunks.push((c0, c1, kernel::pack_chunk(ws, kf, c0, c1)));
                    }
                }
                block_chunks.push(ids);
            }
        }
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
            chunks,
            block_chunks,
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

    /// Dense convolution with the same kernels and the same implicit-im2col micro-kernel as
    /// the skipping path, every tap of every pixel (the speed-up baseline: the fastest dense
    /// path here, so the speed-up measures skipped work, not a better kernel). The result is
    /// N × C × H × W in channels-last memory order (a permuted view, as a channels-last
    /// inference engine would hand it to the next layer); `as_standard_layout` makes it NCHW.
    pub fn forward_dense(&self, x: ArrayView4<'_, f32>) -> Array4<f32> {
        let (n, _, h, w) = x.dim();
        let g = self.geom(h, w);
        let (ho, wo) = (g.out_height(), g.out_width());
        let mut y = Array4::<f32>::zeros((n, ho, wo, self.out_channels));
        let group = image_group(n, ho * wo);
        y.axis_chunks_iter_mut(Axis(0), group)
            .into_par_iter()
            .zip(x.axis_chunks_iter(Axis(0), group))
            .for_each(|(yg, xg)| self.implicit_group(xg, None, &g, yg));
        y.permuted_axes([0, 3, 1, 2])
    }

    /// Dense convolution as explicit im2col (pixel-major, tiles of [`TILE_PIXELS`]) and one
    /// GEMM per tile through the `gemm` crate: the textbook CPU baseline.
    pub fn forward_dense_im2col(&self, x: ArrayView4<'_, f32>) -> Array4<f32> {
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

    /// Real skipping: the conditional part only where the gate is on. With structured gates
    /// the result is in channels-last memory order like [`Self::forward_dense`]'s; with
    /// unstructured gates it is standard NCHW.
    ///
    /// # Panics
    /// If `gates` is not N × ⌈C_out/bc⌉ × ⌈H_out/bh⌉ × ⌈W_out/bw⌉ for this input.
    pub fn forward_skip(&self, x: ArrayView4<'_, f32>, gates: ArrayView4<'_, u8>) -> Array4<f32> {
        let (n, _, h, w) = x.dim();
        let g = self.geom(h, w);
        let (ho, wo) = (g.out_height(), g.out_width());
        let [bc, bh, bw] = self.block;
        let want = (
            n,
            self.out_channels.div_ceil(bc),
            ho.div_ceil(bh),
            wo.div_ceil(bw),
        );
        assert_eq!(
            gates.dim(),
            want,
            "forward_skip: gate grid for {n} images of {h}×{w}"
        );
        if bc == 1 {
            let mut y = Array4::<f32>::zeros((n, self.out_channels, ho, wo));
            y.axis_iter_mut(Axis(0))
                .into_par_iter()
                .zip(x.axis_iter(Axis(0)))
                .zip(gates.axis_iter(Axis(0)))
                .for_each(|((yi, xi), gi)| self.skip_image_unstructured(xi, gi, &g, yi));
            return y;
        }
        let mut y = Array4::<f32>::zeros((n, ho, wo, self.out_channels));
        let group = image_group(n, ho * wo);
        y.axis_chunks_iter_mut(Axis(0), group)
            .into_par_iter()
            .zip(x.axis_chunks_iter(Axis(0), group))
            .zip(gates.axis_chunks_iter(Axis(0), group))
            .for_each(|((yg, xg), gg)| self.implicit_group(xg, Some(gg), &g, yg));
        y.permuted_axes([0, 3, 1, 2])
    }

    /// Unstructured gates (one channel per block): base GEMM per tile, then a dot product
    /// per active output over the conditional columns.
    fn skip_image_unstructured(
        &self,
        xi: ArrayView3<'_, f32>,
        gi: ArrayView3<'_, u8>,
        g: &ConvGeom,
        yi: ndarray::ArrayViewMut3<'_, f32>,
    ) {
        let (ho, wo) = (g.out_height(), g.out_width());
        let pixels = ho * wo;
        let [_, bh, bw] = self.block;
        let nout = self.out_channels;
        let mut yt = yi.into_shape_with_order((nout, pixels)).expect("fresh");
        let split = self.w_base.dim().1;
        for p0 in (0..pixels).step_by(TILE_PIXELS) {
            let p1 = (p0 + TILE_PIXELS).min(pixels);
            let rows = im2row_range(xi, g, p0, p1);
            let k = rows.dim().1;
            let rs = rows.as_slice().expect("fresh");
            {
                gemm(
                    1.0,
                    self.w_base.view(),
                    rows.slice(s![.., ..split]).t(),
                    0.0,
                    yt.slice_mut(s![.., p0..p1]),
                );
                for c in 0..nout {
                    let wr = self.w_cond.row(c);
                    let wr = wr.as_slice().expect("row-major");
                    let mut yr = yt.row_mut(c);
                    let yr = yr.as_slice_mut().expect("row-major");
                    for pix in p0..p1 {
                        if gi[[c, pix / wo / bh, pix % wo / bw]] != 0 {
                            let q = pix - p0;
                            yr[pix] += dot(&rs[q * k + split..(q + 1) * k], wr);
                        }
                    }
                }
            }
        }
    }

    /// The implicit-im2col path of a group of images, into `yg` (images × H_out × W_out × C_out,
    /// channels last). The images are zero-padded once into one buffer and each output chunk
    /// of channels runs through the fused gather-GEMM over the group's pixels, so small maps
    /// still fill the micro-kernel and each weight panel is read once per group. Dense (`gates` = None): every pixel takes every tap. Structured
    /// gates: per channel block, the pixels whose gate is on take every tap (base and
    /// conditional channels, base first) and the others the base taps only.
    fn implicit_group(
        &self,
        xg: ArrayView4<'_, f32>,
        gates: Option<ArrayView4<'_, u8>>,
        g: &ConvGeom,
        mut yg: ndarray::ArrayViewMut4<'_, f32>,
    ) {
        let (ho, wo) = (g.out_height(), g.out_width());
        let pixels = ho * wo;
        let [_, bh, bw] = self.block;
        let nout = self.out_channels;
        let images = xg.dim().0;
        let ys = yg.as_slice_mut().expect("standard layout");
        let (c_in, h, w, pad, st, kk) = (
            g.in_channels,
            g.in_height,
            g.in_width,
            g.padding,
            g.stride,
            self.kernel,
        );
        let (hp, wp) = (h + 2 * pad, w + 2 * pad);
        let image_len = c_in * hp * wp;
        let mut xp = vec![0.0f32; images * image_len];
        let xg = xg.as_standard_layout();
        let xs = xg.as_slice().expect("standard layout");
        for (plane, src) in xs.chunks_exact(h * w).enumerate() {
            // Plane `plane` = image i, channel c: rows land inside the zero border.
            let dst = &mut xp[plane * hp * wp..][..hp * wp];
            for (r, row) in src.chunks_exact(w).enumerate() {
                dst[(r + pad) * wp + pad..][..w].copy_from_slice(row);
            }
        }
        let offs: Vec<usize> = (0..c_in * kk * kk)
            .map(|t| {
                let (c, ki, kj) = (t / (kk * kk), t / kk % kk, t % kk);
                (c * hp + ki) * wp + kj
            })
            .collect();
        let k_base = self.base_channels * kk * kk;
        let k_full = offs.len();
        let taps = kernel::Taps::new(&offs);
        let isa = kernel::detect();
        // Input offset of pixel p's window corner in image i, and its output offset (channel 0).
        let corner = |i: usize, p: usize| i * image_len + (p / wo) * st * wp + (p % wo) * st;
        let out_at = |i: usize, p: usize| (i * pixels + p) * nout;
        let mut run =
            |bases: &[usize], outs: &[usize], k: usize, chunk: &(usize, usize, Vec<f32>)| {
                let (c0, c1, ref panel) = *chunk;
                let op = kernel::Operands {
                    src: &xp,
                    offs: taps,
                    k,
                    panel,
                    stride: kernel::LANES,
                    width: c1 - c0,
                };
                kernel::gather_gemm_isa(
                    isa,
                    op,
                    bases,
                    outs,
                    &mut ys[c0..],
                    kernel::Store::Overwrite,
                );
            };
        let Some(gg) = gates else {
            let (mut bases, mut outs) = (Vec::new(), Vec::new());
            for i in 0..images {
                for oh in 0..ho {
                    let (b0, o0) = (corner(i, oh * wo), out_at(i, oh * wo));
                    bases.extend((0..wo).map(|ow| b0 + ow * st));
                    outs.extend((0..wo).map(|ow| o0 + ow * nout));
                }
            }
            for chunk in self.chunks.iter().take(nout.div_ceil(kernel::LANES)) {
                run(&bases, &outs, k_full, chunk);
            }
            return;
        };
        // Branch-free split (random gates would defeat a branch predictor): every pixel is
        // written at both cursors and only the matching cursor advances.
        let total = images * pixels;
        let (mut active, mut idle) = (vec![0usize; total + 1], vec![0usize; total + 1]);
        let (mut out_a, mut out_i) = (vec![0usize; total + 1], vec![0usize; total + 1]);
        let gg = gg.as_standard_layout();
        let gs = gg.as_slice().expect("standard layout");
        let (_, gc, gh, gw) = gg.dim();
        let col_block: Vec<usize> = (0..wo).map(|ow| ow / bw).collect();
        for jb in 0..gc {
            let (mut na, mut ni) = (0usize, 0usize);
            for i in 0..images {
                let plane = &gs[(i * gc + jb) * gh * gw..][..gh * gw];
                for oh in 0..ho {
                    let grow = &plane[(oh / bh) * gw..][..gw];
                    let (b0, o0) = (corner(i, oh * wo), out_at(i, oh * wo));
                    for (ow, &cb) in col_block.iter().enumerate() {
                        let (b, o) = (b0 + ow * st, o0 + ow * nout);
                        let on = usize::from(grow[cb] != 0);
                        active[na] = b;
                        out_a[na] = o;
                        idle[ni] = b;
                        out_i[ni] = o;
                        na += on;
                        ni += 1 - on;
                    }
                }
            }
            let (active, out_a) = (&active[..na], &out_a[..na]);
            let (idle, out_i) = (&idle[..ni], &out_i[..ni]);
            for &ci in &self.block_chunks[jb] {
                run(active, out_a, k_full, &self.chunks[ci]);
                run(idle, out_i, k_base, &self.chunks[ci]);
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

/// Images per group of the implicit-im2col path: enough that a group holds about
/// [`TILE_PIXELS`] output pixels (so 4×4 maps still fill the micro-kernel and share each
/// weight read), but no fewer groups than worker threads when the batch allows.
fn image_group(images: usize, pixels: usize) -> usize {
    let want = TILE_PIXELS.div_ceil(pixels.max(1));
    let per_thread = images.div_ceil(rayon::current_num_threads().max(1));
    want.min(per_thread).max(1)
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
