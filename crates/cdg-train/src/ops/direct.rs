//! Convolution on channels-last tensors by implicit GEMM: forward, data gradient and weight
//! gradient all run the gather-GEMM micro-kernel of [`crate::ops::kernel`] on a zero-padded
//! channels-last copy of their input ([`Padded`]), with no im2col matrix.
//!
//! - **Forward** `y[p, o] = Σ_{ki,kj,c} x[p·s + (ki, kj), c] · W[o, c, ki, kj]`: rows are output
//!   pixels, the reduction runs over taps then channels, columns are output channels (weights
//!   packed in 16-channel panels).
//! - **Data gradient** `dx[q, c] = Σ dy[(q + p − (ki, kj))/s, o] · W[o, c, ki, kj]` over the taps
//!   whose offset is divisible by the stride: the input positions split into s² phases
//!   (q mod s), each a dense convolution of the padded output gradient with its own taps
//!   (all of them at stride 1, where this is the convolution with the flipped, transposed
//!   kernel). Rows are input pixels, columns input channels.
//! - **Weight gradient** `dW[o, c, ki, kj] = Σ_p x[p·s + (ki, kj), c] · dy[p, o]`: rows are
//!   window taps (ki, kj, c), the reduction runs over output pixels in order, columns are output
//!   channels read in place from the channels-last output gradient. The pixels are cut into
//!   blocks that stay in cache while every tap runs over them; blocks are summed in order into
//!   one of a few partial sums (their number depends on the shapes only) that are added in
//!   order at the end.
//!
//! Every output element is one sum in a fixed order, however rayon splits the work, so results
//! are bit-identical for any thread count. Everything is generic over [`Scalar`]: `f64`
//! (gradient checks) runs the same loops with the portable kernel.

use crate::ops::kernel::{self, LANES, Operands, Store, Taps};
use crate::ops::layout::{is_nhwc, nhwc_slice};
use crate::scalar::Scalar;
use ndarray::{Array4, ArrayView4, Axis};
use rayon::prelude::*;

/// A batch zero-padded in channel blocks: per image, `⌈c/cb⌉` blocks of `hp × wp × cb` values
/// (channels-last within a block of `cb` = min(c, 16) channels; the last block zero-filled past
/// `c`), the images at rows `top..top + h`, columns `left..left + w`. Within a block a pixel's
/// channels share one cache line, and a 3×3 window over 12 pixels of one block stays in L1
/// while the micro-kernel runs every tap over it.
#[derive(Debug, Clone, Default)]
pub struct Padded<T> {
    data: Vec<T>,
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    cb: usize,
    hp: usize,
    wp: usize,
    pads: [usize; 4],
}

impl<T: Scalar> Padded<T> {
    /// Pads `x` (N×C×H×W, any memory layout) by `[top, bottom, left, right]` zeros.
    pub fn new(x: &ArrayView4<'_, T>, pads: [usize; 4]) -> Self {
        let mut p = Padded::default();
        p.fill(x, pads);
        p
    }

    /// [`Padded::new`] into this buffer's memory (no allocation when the size is unchanged;
    /// the border, zero from the last fill, is not rewritten when the geometry is the same).
    pub fn fill(&mut self, x: &ArrayView4<'_, T>, pads: [usize; 4]) {
        let (n, c, h, w) = x.dim();
        let [top, bottom, left, right] = pads;
        let (hp, wp) = (h + top + bottom, w + left + right);
        let cb = c.clamp(1, LANES);
        let same = (n, c, h, w, pads) == (self.n, self.c, self.h, self.w, self.pads)
            && self.data.len() == n * c.div_ceil(cb) * hp * wp * cb;
        *self = Padded {
            data: std::mem::take(&mut self.data),
            n,
            c,
            h,
            w,
            cb,
            hp,
            wp,
            pads,
        };
        let img = self.image_len();
        if !same {
            self.data.clear();
            self.data.resize(n * img, T::zero());
        }
        if n * c * h * w == 0 {
            return;
        }
        let blocks = c.div_ceil(cb);
        let plane = hp * wp * cb;
        if is_nhwc(x) {
            let xs = nhwc_slice(x);
            self.data
                .par_chunks_mut(img)
                .zip(xs.par_chunks(h * w * c))
                .for_each(|(d, s)| {
                    for r in 0..h {
                        let src = &s[r * w * c..][..w * c];
                        for b in 0..blocks {
                            let (c0, c1) = (b * cb, ((b + 1) * cb).min(c));
                            let dst = &mut d[b * plane + ((r + top) * wp + left) * cb..][..w * cb];
                            if c1 - c0 == c {
                                dst.copy_from_slice(src);
                            } else {
                                for (dp, sp) in dst.chunks_exact_mut(cb).zip(src.chunks_exact(c)) {
                                    dp[..c1 - c0].copy_from_slice(&sp[c0..c1]);
                                }
                            }
                        }
                    }
                });
        } else {
            self.data
                .par_chunks_mut(img)
                .enumerate()
                .for_each(|(i, d)| {
                    let xi = x.index_axis(Axis(0), i);
                    for ch in 0..c {
                        let blk = &mut d[(ch / cb) * plane..][..plane];
                        for (r, row) in xi.index_axis(Axis(0), ch).outer_iter().enumerate() {
                            let base = (r + top) * wp + left;
                            for (col, &v) in row.iter().enumerate() {
                                blk[(base + col) * cb + ch % cb] = v;
                            }
                        }
                    }
                });
        }
    }

    /// Images.
    pub fn images(&self) -> usize {
        self.n
    }
    /// Channels.
    pub fn channels(&self) -> usize {
        self.c
    }
    /// The unpadded map (H, W).
    pub fn hw(&self) -> (usize, usize) {
        (self.h, self.w)
    }
    /// The padded values (see the type's docs for their order).
    pub fn data(&self) -> &[T] {
        &self.data
    }
    fn image_len(&self) -> usize {
        self.c.div_ceil(self.cb.max(1)) * self.hp * self.wp * self.cb
    }
    /// Offset within an image of channel `ch` at padded position (r, col).
    fn at(&self, ch: usize, r: usize, col: usize) -> usize {
        (ch / self.cb) * self.hp * self.wp * self.cb + (r * self.wp + col) * self.cb + ch % self.cb
    }
    /// Offset within an image of a window corner at padded position (r, col); `at(ch, r, col)`
    /// = `corner(r, col) + at(ch, 0, 0)`.
    fn corner(&self, r: usize, col: usize) -> usize {
        (r * self.wp + col) * self.cb
    }
    /// Reduction order over channels `c0..c0 + c` and the taps of a kh × kw kernel: per
    /// channel block, taps, then the block's channels (so that consecutive steps share cache
    /// lines). Yields (channel − c0, ki, kj).
    fn taps(&self, c0: usize, c: usize, kh: usize, kw: usize) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::with_capacity(c * kh * kw);
        let mut b0 = c0;
        while b0 < c0 + c {
            let b1 = ((b0 / self.cb + 1) * self.cb).min(c0 + c);
            for ki in 0..kh {
                for kj in 0..kw {
                    out.extend((b0..b1).map(|ch| (ch - c0, ki, kj)));
                }
            }
            b0 = b1;
        }
        out
    }
}

/// Images per task: about `TILE` rows of the micro-kernel, but at least four tasks per
/// worker thread when the batch allows. Only the split of the work depends on this, never a
/// result.
fn group_images(images: usize, pixels: usize) -> usize {
    const TILE: usize = 240;
    let want = TILE.div_ceil(pixels.max(1));
    let per = images.div_ceil(4 * rayon::current_num_threads().max(1));
    want.min(per).max(1)
}

/// Output channels `n0..n0 + width` (width ≤ [`LANES`]) and, optionally, the only output
/// pixels to compute for them: flat indices `(image·ho + row)·wo + column`, ascending.
#[derive(Debug, Clone, Copy)]
pub struct Columns<'a> {
    pub n0: usize,
    pub width: usize,
    pub pixels: Option<&'a [u32]>,
}

/// Every output channel, in chunks of [`LANES`], every pixel.
pub fn dense_columns(nout: usize) -> Vec<Columns<'static>> {
    (0..nout)
        .step_by(LANES)
        .map(|n0| Columns {
            n0,
            width: LANES.min(nout - n0),
            pixels: None,
        })
        .collect()
}

/// `w` (N × C × kh × kw) packed for the forward: per column group a `K × LANES` panel whose
/// rows follow `order` ((channel, ki, kj) per reduction step).
fn pack_forward<T: Scalar>(
    w: &ArrayView4<'_, T>,
    order: &[(usize, usize, usize)],
    cols: &[Columns<'_>],
) -> Vec<T> {
    let (_, c, kh, kw) = w.dim();
    let k = order.len();
    let w = w.as_standard_layout();
    let ws = w.as_slice().expect("standard layout");
    let row_len = c * kh * kw;
    let idx: Vec<usize> = order
        .iter()
        .map(|&(ch, ki, kj)| (ch * kh + ki) * kw + kj)
        .collect();
    let mut out = vec![T::zero(); cols.len() * k * LANES];
    out.par_chunks_mut(k * LANES)
        .zip(cols)
        .for_each(|(panel, col)| {
            let rows = &ws[col.n0 * row_len..];
            for (prow, &i) in panel.chunks_exact_mut(LANES).zip(&idx) {
                for (l, v) in prow[..col.width].iter_mut().enumerate() {
                    *v = rows[l * row_len + i];
                }
            }
        });
    out
}

/// Forward convolution of input channels `c0..c0 + C` of `xp` with `w` (N × C × kh × kw) at
/// `stride`, into `out` (`images × ho × wo × N`, channels-last; written, or added to with
/// [`Store::Accumulate`]). `xp` must carry the convolution's padding.
///
/// # Panics
/// If the channels or the output size do not fit `xp`, or `out` has the wrong length.
pub fn forward_into<T: Scalar>(
    xp: &Padded<T>,
    c0: usize,
    w: &ArrayView4<'_, T>,
    stride: usize,
    out_hw: (usize, usize),
    out: &mut [T],
    store: Store,
) {
    forward_columns_into(
        xp,
        c0,
        w,
        stride,
        out_hw,
        out,
        store,
        &dense_columns(w.dim().0),
    );
}

/// [`forward_into`] for the listed column groups only (other outputs are untouched): the
/// skipping path of gated convolutions, whose channel blocks each list their active pixels.
///
/// # Panics
/// As [`forward_into`], and if a column group leaves the output channels or lists a pixel
/// past the batch.
#[allow(clippy::too_many_arguments)]
pub fn forward_columns_into<T: Scalar>(
    xp: &Padded<T>,
    c0: usize,
    w: &ArrayView4<'_, T>,
    stride: usize,
    (ho, wo): (usize, usize),
    out: &mut [T],
    store: Store,
    cols: &[Columns<'_>],
) {
    let (nout, c, kh, kw) = w.dim();
    assert!(c0 + c <= xp.c, "channels {c0}..{} of {}", c0 + c, xp.c);
    assert!(
        ho == 0 || wo == 0 || ((ho - 1) * stride + kh <= xp.hp && (wo - 1) * stride + kw <= xp.wp),
        "output {ho}×{wo} does not fit the padded input"
    );
    let pix = ho * wo;
    assert_eq!(out.len(), xp.n * pix * nout, "output length");
    for col in cols {
        assert!(
            col.width <= LANES && col.n0 + col.width <= nout,
            "column group past the output channels"
        );
        if let Some(&q) = col.pixels.and_then(|p| p.last()) {
            assert!((q as usize) < xp.n * pix, "pixel past the batch");
        }
    }
    if out.is_empty() || cols.is_empty() {
        return;
    }
    let k = c * kh * kw;
    if k == 0 {
        if store == Store::Overwrite {
            out.fill(T::zero());
        }
        return;
    }
    let order = xp.taps(c0, c, kh, kw);
    let packed = pack_forward(w, &order, cols);
    let offs: Vec<usize> = order
        .iter()
        .map(|&(ch, ki, kj)| xp.at(c0 + ch, ki, kj))
        .collect();
    let taps = Taps::new(&offs);
    let img_len = xp.image_len();
    let g = group_images(xp.n, pix);
    let corner = |q: usize| {
        let (i, oh, ow) = (q / pix, q / wo % ho, q % wo);
        i * img_len + xp.corner(oh * stride, ow * stride)
    };
    out.par_chunks_mut(g * pix * nout)
        .enumerate()
        .for_each(|(gi, dst)| {
            let q0 = gi * g * pix;
            let q1 = q0 + dst.len() / nout;
            let all_bases: Vec<usize> = (q0..q1).map(corner).collect();
            let all_outs: Vec<usize> = (0..q1 - q0).map(|q| q * nout).collect();
            let (mut bases, mut outs) = (Vec::new(), Vec::new());
            for (col, panel) in cols.iter().zip(packed.chunks_exact(k * LANES)) {
                let (b, o) = match col.pixels {
                    None => (&all_bases[..], &all_outs[..]),
                    Some(list) => {
                        let lo = list.partition_point(|&q| (q as usize) < q0);
                        let hi = list.partition_point(|&q| (q as usize) < q1);
                        bases.clear();
                        outs.clear();
                        for &q in &list[lo..hi] {
                            bases.push(all_bases[q as usize - q0]);
                            outs.push(all_outs[q as usize - q0]);
                        }
                        (&bases[..], &outs[..])
                    }
                };
                let op = Operands {
                    src: &xp.data,
                    offs: taps,
                    k,
                    panel,
                    stride: LANES,
                    width: col.width,
                };
                kernel::gather_gemm(op, b, o, &mut dst[col.n0..], store);
            }
        });
}

/// [`forward_into`] into a fresh channels-last N × N_out × ho × wo array.
pub fn forward<T: Scalar>(
    xp: &Padded<T>,
    c0: usize,
    w: &ArrayView4<'_, T>,
    stride: usize,
    out_hw: (usize, usize),
) -> Array4<T> {
    let nout = w.dim().0;
    let mut out = vec![T::zero(); xp.n * out_hw.0 * out_hw.1 * nout];
    forward_into(xp, c0, w, stride, out_hw, &mut out, Store::Overwrite);
    crate::ops::layout::from_nhwc(out, (xp.n, nout, out_hw.0, out_hw.1))
}

/// One phase of the data gradient: input positions (s·i + a, s·j + b) and the taps that reach
/// them, as (ki, kj, dh, dw) with output position (i + dh, j + dw).
struct Phase {
    a: usize,
    b: usize,
    taps: Vec<(usize, usize, isize, isize)>,
}

/// Data gradient: `dx` (`images × h × w × c_total`, channels-last) gets, in channels
/// `c0..c0 + C`, the gradient of the convolution of those input channels with `w`
/// (N × C × kh × kw) at `stride` and `padding` (input map `h × w`) for the output gradient
/// `dy` (N × N_out × ho × wo, any layout). Other channels of `dx` are untouched.
///
/// # Panics
/// If the shapes do not match.
#[allow(clippy::too_many_arguments)]
pub fn backward_data_into<T: Scalar>(
    dy: &ArrayView4<'_, T>,
    w: &ArrayView4<'_, T>,
    stride: usize,
    padding: usize,
    (h, wd): (usize, usize),
    dx: &mut [T],
    c_total: usize,
    c0: usize,
) {
    let (n, nout, ho, wo) = dy.dim();
    let (nw, c, kh, kw) = w.dim();
    assert_eq!(nw, nout, "weight and gradient channels");
    assert!(c0 + c <= c_total, "channels past c_total");
    assert_eq!(dx.len(), n * h * wd * c_total, "dx length");
    if dx.is_empty() || c == 0 {
        return;
    }
    let (s, p) = (stride as isize, padding as isize);
    // Phases and their taps; the offsets fix the output gradient's padding.
    let mut phases = Vec::new();
    let (mut top, mut bottom, mut left, mut right) = (0isize, 0isize, 0isize, 0isize);
    for a in 0..stride.min(h) {
        for b in 0..stride.min(wd) {
            let mut taps = Vec::new();
            for ki in 0..kh {
                let rh = a as isize + p - ki as isize;
                if rh.rem_euclid(s) != 0 {
                    continue;
                }
                for kj in 0..kw {
                    let rw = b as isize + p - kj as isize;
                    if rw.rem_euclid(s) != 0 {
                        continue;
                    }
                    let (dh, dw) = (rh.div_euclid(s), rw.div_euclid(s));
                    let imax = ((h - 1 - a) / stride) as isize;
                    let jmax = ((wd - 1 - b) / stride) as isize;
                    top = top.max(-dh);
                    left = left.max(-dw);
                    bottom = bottom.max(imax + dh - (ho as isize - 1));
                    right = right.max(jmax + dw - (wo as isize - 1));
                    taps.push((ki, kj, dh, dw));
                }
            }
            phases.push(Phase { a, b, taps });
        }
    }
    let dyp = Padded::new(dy, [top, bottom, left, right].map(|v| v as usize));
    // Per phase, the reduction order (per block of output channels, taps, then the block's
    // channels), its offsets into the padded gradient, and the packed panels: rows in that
    // order, columns input channels, one panel per chunk of LANES channels.
    let chunks = c.div_ceil(LANES);
    let orders: Vec<Vec<(usize, usize)>> = phases
        .iter()
        .map(|ph| {
            let mut v = Vec::with_capacity(ph.taps.len() * nout);
            for b0 in (0..nout).step_by(dyp.cb) {
                for t in 0..ph.taps.len() {
                    v.extend((b0..(b0 + dyp.cb).min(nout)).map(|o| (o, t)));
                }
            }
            v
        })
        .collect();
    let w = w.as_standard_layout();
    let ws = w.as_slice().expect("standard layout");
    let taps_len = kh * kw;
    let packed: Vec<Vec<T>> = phases
        .iter()
        .zip(&orders)
        .map(|(ph, order)| {
            let k = order.len();
            let mut out = vec![T::zero(); chunks * k * LANES];
            if k == 0 {
                return out;
            }
            // Flat index of W[o, 0, ki, kj] per reduction step; lane l adds l·kh·kw.
            let idx: Vec<usize> = order
                .iter()
                .map(|&(o, t)| {
                    let (ki, kj, _, _) = ph.taps[t];
                    o * c * taps_len + ki * kw + kj
                })
                .collect();
            out.par_chunks_mut(k * LANES)
                .enumerate()
                .for_each(|(j, panel)| {
                    let lanes = LANES.min(c - j * LANES);
                    let first = j * LANES * taps_len;
                    for (row, &i) in panel.chunks_exact_mut(LANES).zip(&idx) {
                        for (l, r) in row[..lanes].iter_mut().enumerate() {
                            *r = ws[i + first + l * taps_len];
                        }
                    }
                });
            out
        })
        .collect();
    let offs: Vec<Vec<usize>> = phases
        .iter()
        .zip(&orders)
        .map(|(ph, order)| {
            order
                .iter()
                .map(|&(o, t)| {
                    let (_, _, dh, dw) = ph.taps[t];
                    dyp.at(o, (dh + top) as usize, (dw + left) as usize)
                })
                .collect()
        })
        .collect();
    let taps: Vec<Taps<'_>> = offs.iter().map(|o| Taps::new(o)).collect();
    let img_len = dyp.image_len();
    let g = group_images(n, h * wd);
    dx.par_chunks_mut(g * h * wd * c_total)
        .enumerate()
        .for_each(|(gi, dst)| {
            let images = dst.len() / (h * wd * c_total);
            for (pi, ph) in phases.iter().enumerate() {
                let (mut bases, mut outs) = (Vec::new(), Vec::new());
                for i in 0..images {
                    let img = (gi * g + i) * img_len;
                    for ii in 0..(h - ph.a).div_ceil(stride) {
                        for jj in 0..(wd - ph.b).div_ceil(stride) {
                            bases.push(img + dyp.corner(ii, jj));
                            let (ih, iw) = (ii * stride + ph.a, jj * stride + ph.b);
                            outs.push(((i * h + ih) * wd + iw) * c_total + c0);
                        }
                    }
                }
                if ph.taps.is_empty() {
                    for &o in &outs {
                        dst[o..o + c].fill(T::zero());
                    }
                    continue;
                }
                let k = ph.taps.len() * nout;
                for (j, panel) in packed[pi].chunks_exact(k * LANES).enumerate() {
                    let op = Operands {
                        src: &dyp.data,
                        offs: taps[pi],
                        k,
                        panel,
                        stride: LANES,
                        width: LANES.min(c - j * LANES),
                    };
                    kernel::gather_gemm(op, &bases, &outs, &mut dst[j * LANES..], Store::Overwrite);
                }
            }
        });
}

/// Weight gradient of the convolution of input channels `c0..c0 + C` of `xp` (which carries
/// the padding) with a kh × kw kernel at `stride`, for the output gradient `dy` (N × N_out ×
/// ho × wo, any layout): N_out × C × kh × kw.
pub fn backward_weight<T: Scalar>(
    xp: &Padded<T>,
    c0: usize,
    c: usize,
    dy: &ArrayView4<'_, T>,
    kernel_hw: (usize, usize),
    stride: usize,
) -> Array4<T> {
    let (_, nout, ho, wo) = dy.dim();
    let dys = nhwc_slice(dy);
    backward_weight_columns(
        xp,
        c0,
        c,
        &dys,
        (nout, ho, wo),
        kernel_hw,
        stride,
        &dense_columns(nout),
    )
}

/// [`backward_weight`] from a channels-last output gradient `dy` (`images × ho × wo × N_out`)
/// where each column group sums only over its listed pixels (the gradient is zero at the
/// others: the skipped outputs of a gated convolution). Output channels in no group get zero.
#[allow(clippy::too_many_arguments)]
pub fn backward_weight_columns<T: Scalar>(
    xp: &Padded<T>,
    c0: usize,
    c: usize,
    dy: &[T],
    (nout, ho, wo): (usize, usize, usize),
    (kh, kw): (usize, usize),
    stride: usize,
    cols: &[Columns<'_>],
) -> Array4<T> {
    let n = xp.n;
    assert!(c0 + c <= xp.c, "channels past the input");
    assert_eq!(dy.len(), n * ho * wo * nout, "gradient length");
    let k = kh * kw * c;
    let total = n * ho * wo;
    let mut dw = Array4::<T>::zeros((nout, c, kh, kw));
    if k == 0 || nout == 0 || total == 0 {
        return dw;
    }
    // Rows: window taps in the input's reduction order.
    let order = xp.taps(c0, c, kh, kw);
    let row_base: Vec<usize> = order
        .iter()
        .map(|&(ch, ki, kj)| xp.at(c0 + ch, ki, kj))
        .collect();
    // The reduction: output pixels, as window-corner offsets into xp.
    let pix = ho * wo;
    let img_len = xp.image_len();
    let corner = |q: usize| {
        let (i, oh, ow) = (q / pix, q / wo % ho, q % wo);
        i * img_len + xp.corner(oh * stride, ow * stride)
    };
    let corners: Vec<usize> = (0..total).map(corner).collect();
    // Listed columns read a compact copy of their gradient rows (LANES wide) and the corners
    // of their pixels; dense ones read `dy` in place.
    let compact: Vec<Option<(Vec<usize>, Vec<T>)>> = cols
        .par_iter()
        .map(|col| {
            col.pixels.map(|list| {
                let cs = list.iter().map(|&q| corners[q as usize]).collect();
                let mut g = vec![T::zero(); list.len() * LANES];
                for (row, &q) in g.chunks_exact_mut(LANES).zip(list) {
                    row[..col.width]
                        .copy_from_slice(&dy[q as usize * nout + col.n0..][..col.width]);
                }
                (cs, g)
            })
        })
        .collect();
    // The reduction runs over pixel blocks in order, each block's gradient rows (≈ 256 KB)
    // staying in cache while a range of row groups (whose partial sums, ≈ 192 KB, stay in
    // cache across blocks) runs over it. For small K·N_out the blocks are also split into a
    // few consecutive parts with their own partial sums, added in order at the end. Block
    // and part boundaries depend on the shapes only.
    const ROWS: usize = 12;
    let block = (65_536 / nout.max(1)).clamp(64, 4096);
    let nblocks = total.div_ceil(block);
    let parts = (2_097_152 / (k * nout)).clamp(1, 8).min(nblocks);
    let per_part = nblocks.div_ceil(parts);
    let range_rows = ((49_152 / (nout * 4).max(1)) / ROWS).max(1) * ROWS;
    // Per block: the dense columns' offsets, and per listed column its sub-list.
    let block_taps: Vec<Taps<'_>> = (0..nblocks)
        .map(|b| Taps::new(&corners[b * block..((b + 1) * block).min(total)]))
        .collect();
    let list_taps: Vec<Vec<(usize, Taps<'_>)>> = cols
        .iter()
        .zip(&compact)
        .map(|(col, comp)| match (col.pixels, comp) {
            (Some(list), Some((cs, _))) => (0..nblocks)
                .map(|b| {
                    let lo = list.partition_point(|&q| (q as usize) < b * block);
                    let hi = list.partition_point(|&q| (q as usize) < (b + 1) * block);
                    (lo, Taps::new(&cs[lo..hi]))
                })
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    let partials: Vec<Vec<T>> = (0..parts)
        .into_par_iter()
        .map(|pt| {
            let mut acc = vec![T::zero(); k * nout];
            let b0 = pt * per_part;
            let b1 = ((pt + 1) * per_part).min(nblocks);
            acc.par_chunks_mut(range_rows * nout)
                .enumerate()
                .for_each(|(ri, range)| {
                    let r0 = ri * range_rows;
                    let outs: Vec<usize> = (0..ROWS).map(|r| r * nout).collect();
                    for blk in b0..b1 {
                        let q0 = blk * block;
                        for (gi, dst) in range.chunks_mut(ROWS * nout).enumerate() {
                            let rows = dst.len() / nout;
                            let bases = &row_base[r0 + gi * ROWS..][..rows];
                            for ((col, comp), lt) in cols.iter().zip(&compact).zip(&list_taps) {
                                let (offs, panel, stride_p) = match comp {
                                    Some((_, g)) => {
                                        let (lo, t) = lt[blk];
                                        (t, &g[lo * LANES..], LANES)
                                    }
                                    None => (block_taps[blk], &dy[q0 * nout + col.n0..], nout),
                                };
                                if offs.is_empty() {
                                    continue;
                                }
                                let op = Operands {
                                    src: &xp.data,
                                    offs,
                                    k: offs.len(),
                                    panel,
                                    stride: stride_p,
                                    width: col.width,
                                };
                                kernel::gather_gemm(
                                    op,
                                    bases,
                                    &outs[..rows],
                                    &mut dst[col.n0..],
                                    Store::Accumulate,
                                );
                            }
                        }
                    }
                });
            acc
        })
        .collect();
    let mut sum = partials.into_iter();
    let mut total_acc = sum.next().expect("at least one part");
    for p in sum {
        for (a, b) in total_acc.iter_mut().zip(p) {
            *a += b;
        }
    }
    // Rows in `order` × N_out → N_out × C × kh × kw, in tiles of 16 rows.
    let dws = dw.as_slice_mut().expect("fresh");
    let widx: Vec<usize> = order
        .iter()
        .map(|&(ch, ki, kj)| (ch * kh + ki) * kw + kj)
        .collect();
    for (rows, idx) in total_acc.chunks(16 * nout).zip(widx.chunks(16)) {
        for o in 0..nout {
            for (row, &i) in rows.chunks_exact(nout).zip(idx) {
                dws[o * k + i] = row[o];
            }
        }
    }
    dw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv::{conv2d_backward_im2col, conv2d_direct};
    use crate::ops::layout::{from_nhwc, to_nhwc};

    fn arr(dim: (usize, usize, usize, usize), seed: usize) -> Array4<f64> {
        Array4::from_shape_fn(dim, |(a, b, c, d)| {
            let i = ((a * 7 + b) * 13 + c) * 17 + d + seed * 1000;
            ((i * 2654435761usize) % 1000) as f64 / 500.0 - 1.0
        })
    }

    /// Forward, data gradient and weight gradient against the direct convolution and the
    /// im2col backward, for strides 1–2, kernels 1–3, padding 0–1, channel sub-ranges (also
    /// across channel blocks), ragged channel chunks and blocks, and NCHW or NHWC inputs.
    #[test]
    fn direct_matches_references() {
        for &(n, c, h, w, nout, k, s, p, c0, cr) in &[
            (2, 3, 7, 6, 5, 3, 1, 1, 0, 3),
            (3, 20, 8, 8, 17, 3, 2, 1, 0, 20),
            (2, 20, 8, 8, 33, 3, 1, 1, 5, 11),
            (2, 6, 9, 7, 4, 1, 2, 0, 0, 6),
            (1, 4, 5, 5, 3, 3, 2, 0, 1, 3),
            (2, 5, 4, 4, 18, 3, 1, 1, 0, 5),
            (1, 2, 6, 6, 2, 2, 2, 1, 0, 2),
            (2, 40, 6, 6, 7, 3, 1, 1, 10, 20),
            (2, 33, 7, 7, 35, 3, 2, 1, 0, 33),
        ] {
            let x = arr((n, c, h, w), 1);
            let wt = arr((nout, cr, k, k), 2);
            let xs = x.slice(ndarray::s![.., c0..c0 + cr, .., ..]);
            let want = conv2d_direct(xs, wt.view(), None, s, p);
            let (_, _, ho, wo) = want.dim();
            let dy = arr((n, nout, ho, wo), 3);
            let refg = conv2d_backward_im2col(xs, wt.view(), dy.view(), s, p, true, false);
            for nhwc in [false, true] {
                let xin = if nhwc { to_nhwc(x.view()) } else { x.clone() };
                let xp = Padded::new(&xin.view(), [p, p, p, p]);
                let y = forward(&xp, c0, &wt.view(), s, (ho, wo));
                for (a, b) in y.iter().zip(want.iter()) {
                    assert!((a - b).abs() < 1e-9, "forward {n} {c} {h} {k} {s} {p}");
                }
                let dyin = if nhwc { to_nhwc(dy.view()) } else { dy.clone() };
                let mut dx = vec![f64::NAN; n * h * w * c];
                backward_data_into(&dyin.view(), &wt.view(), s, p, (h, w), &mut dx, c, c0);
                let dx = from_nhwc(dx, (n, c, h, w));
                let rdx = refg.dx.as_ref().expect("dx");
                for ch in 0..c {
                    for (a, b) in dx.index_axis(Axis(1), ch).iter().zip(
                        rdx.index_axis(Axis(1), ch.wrapping_sub(c0).min(cr - 1))
                            .iter(),
                    ) {
                        if (c0..c0 + cr).contains(&ch) {
                            assert!((a - b).abs() < 1e-9, "dx {n} {c} {h} {k} {s} {p}");
                        } else {
                            assert!(a.is_nan(), "dx wrote channel {ch} outside the range");
                        }
                    }
                }
                let dw = backward_weight(&xp, c0, cr, &dyin.view(), (k, k), s);
                for (a, b) in dw.iter().zip(refg.dw.iter()) {
                    assert!((a - b).abs() < 1e-9, "dw {n} {c} {h} {k} {s} {p}");
                }
            }
        }
    }

    /// f32 (SIMD kernels) agrees with f64 on a ResNet-like shape large enough for several
    /// weight-gradient blocks and partial sums.
    #[test]
    fn f32_matches_f64() {
        let (n, c, h, nout) = (6, 24, 12, 40);
        let x = arr((n, c, h, h), 4);
        let wt = arr((nout, c, 3, 3), 5);
        let dy = arr((n, nout, h, h), 6);
        let xp = Padded::new(&x.view(), [1, 1, 1, 1]);
        let y = forward(&xp, 0, &wt.view(), 1, (h, h));
        let dw = backward_weight(&xp, 0, c, &dy.view(), (3, 3), 1);
        let x32 = x.mapv(|v| v as f32);
        let w32 = wt.mapv(|v| v as f32);
        let dy32 = dy.mapv(|v| v as f32);
        let xp32 = Padded::new(&x32.view(), [1, 1, 1, 1]);
        let y32 = forward(&xp32, 0, &w32.view(), 1, (h, h));
        let dw32 = backward_weight(&xp32, 0, c, &dy32.view(), (3, 3), 1);
        for (a, b) in y.iter().zip(y32.iter()) {
            assert!((a - *b as f64).abs() < 1e-3);
        }
        for (a, b) in dw.iter().zip(dw32.iter()) {
            assert!((a - *b as f64).abs() < 1e-2 * (1.0 + a.abs()));
        }
    }

    /// Column groups with pixel lists compute exactly the listed outputs (others untouched),
    /// and their weight gradient equals the dense one of the gradient zeroed off the lists.
    #[test]
    fn listed_columns_match_masked_dense() {
        let (n, c, h, nout, s) = (3, 10, 7, 24, 1);
        let x = arr((n, c, h, h), 7);
        let wt = arr((nout, c - 3, 3, 3), 8);
        let xp = Padded::new(&x.view(), [1, 1, 1, 1]);
        let pix = n * h * h;
        // Channel groups of 8: every third pixel off in group 0, every second in group 1,
        // all on in group 2 (as None).
        let lists: Vec<Vec<u32>> = (0..2)
            .map(|gi| (0..pix as u32).filter(|q| q % (3 - gi) != 0).collect())
            .collect();
        let cols = [
            Columns {
                n0: 0,
                width: 8,
                pixels: Some(&lists[0]),
            },
            Columns {
                n0: 8,
                width: 8,
                pixels: Some(&lists[1]),
            },
            Columns {
                n0: 16,
                width: 8,
                pixels: None,
            },
        ];
        let dense = forward(&xp, 3, &wt.view(), s, (h, h));
        let dense = crate::ops::layout::nhwc_slice(&dense.view()).into_owned();
        let mut out = vec![f64::NAN; pix * nout];
        forward_columns_into(
            &xp,
            3,
            &wt.view(),
            s,
            (h, h),
            &mut out,
            Store::Overwrite,
            &cols,
        );
        let on = |q: usize, o: usize| o >= 16 || lists[o / 8].binary_search(&(q as u32)).is_ok();
        let mut dy = arr((n, nout, h, h), 9);
        for q in 0..pix {
            for o in 0..nout {
                let (got, want) = (out[q * nout + o], dense[q * nout + o]);
                if on(q, o) {
                    assert!((got - want).abs() < 1e-9);
                } else {
                    assert!(got.is_nan());
                    dy[[q / (h * h), o, q / h % h, q % h]] = 0.0;
                }
            }
        }
        let dys = crate::ops::layout::to_nhwc_vec(&dy.view());
        let got = backward_weight_columns(&xp, 3, c - 3, &dys, (nout, h, h), (3, 3), s, &cols);
        let want = backward_weight(&xp, 3, c - 3, &dy.view(), (3, 3), s);
        for (a, b) in got.iter().zip(want.iter()) {
            assert!((a - b).abs() < 1e-9);
        }
    }
}
