//! The fused gather-GEMM micro-kernel behind every convolution of the engine (an
//! implicit-im2col kernel): for one chunk of up to [`LANES`] columns and a list of rows,
//! `dst[outs[i] + c] (+)= Σ_{kk<k} src[bases[i] + offs[kk]] · panel[kk·stride + c]` for
//! `c < width`.
//!
//! In a forward convolution `src` is a zero-padded channels-last input, `bases[i]` the offset
//! of output pixel i's window corner, `offs[kk]` the offset of kernel tap kk = (row, column,
//! channel) within a window and the panel the weights as K × N_out: the kernel computes the
//! listed pixels' outputs with no im2col matrix and no gather copy. It walks up to 12
//! (AVX-512) or 6 (AVX2) rows at once, broadcasting one `src` value of each and multiplying it
//! by one panel vector, so every panel load feeds that many multiply-adds and the
//! accumulators stay in registers — the shape of a BLAS micro-kernel with the gather folded
//! into its operand addressing. Results go straight to a row-major (channels-last) output, one
//! vector store per row. The same kernel computes the data gradient (src = the padded output
//! gradient, panel = the flipped, transposed weights) and the weight gradient (rows = window
//! taps, kk = output pixels, panel = the output gradient read in place with its row stride),
//! see [`crate::ops::direct`].
//!
//! Each output is one sum over kk in order (with [`Store::Accumulate`], added to what `dst`
//! held), whatever the caller's threading. The instruction set is detected at run time
//! ([`detect`]); `f64` (gradient checks) and CPUs without AVX2 use a portable loop computing
//! the same sums.

use crate::scalar::Scalar;
use std::any::TypeId;

/// Columns per panel chunk (one 16-lane AVX-512 vector, two AVX2 vectors).
pub const LANES: usize = 16;

/// Packs rows `c0..c1` (at most [`LANES`]) of a row-major `n × k` weight matrix into a
/// `k × LANES` panel, zero-padded past `c1 − c0`.
pub fn pack_chunk<T: Scalar>(w: &[T], k: usize, c0: usize, c1: usize) -> Vec<T> {
    debug_assert!(c1 - c0 <= LANES);
    let mut out = vec![T::zero(); k * LANES];
    for (ci, c) in (c0..c1).enumerate() {
        let row = &w[c * k..(c + 1) * k];
        for (kk, &v) in row.iter().enumerate() {
            out[kk * LANES + ci] = v;
        }
    }
    out
}

/// The instruction set the kernel runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F: 12 rows × 16 columns per step.
    Avx512,
    /// AVX2 + FMA: 6 rows × 16 columns per step.
    Avx2,
    /// Plain loops.
    Portable,
}

/// The best [`Isa`] this CPU supports.
pub fn detect() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Isa::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Isa::Avx2;
        }
    }
    Isa::Portable
}

/// Whether results overwrite `dst` or are added to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// `dst = Σ`.
    Overwrite,
    /// `dst = dst + Σ` (the sum is formed first, then added).
    Accumulate,
}

/// A reduction's offset table with its largest entry, computed once so that each
/// [`gather_gemm`] call bounds-checks in O(rows) however long the reduction.
#[derive(Debug, Clone, Copy)]
pub struct Taps<'a> {
    offs: &'a [usize],
    reach: usize,
}

impl<'a> Taps<'a> {
    /// Wraps `offs` (one offset per reduction step).
    pub fn new(offs: &'a [usize]) -> Self {
        Taps {
            offs,
            reach: offs.iter().copied().max().unwrap_or(0),
        }
    }
    /// The offsets.
    pub fn offs(&self) -> &'a [usize] {
        self.offs
    }
    /// Reduction steps.
    pub fn len(&self) -> usize {
        self.offs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.offs.is_empty()
    }
}

/// The operands of one [`gather_gemm`] call.
#[derive(Debug)]
pub struct Operands<'a, T = f32> {
    /// Broadcast values (a zero-padded image or group of images).
    pub src: &'a [T],
    /// Per reduction step kk, its offset added to each row's base; the first `k` are used.
    pub offs: Taps<'a>,
    /// Reduction steps to sum over.
    pub k: usize,
    /// The chunk's panel: row kk's `width` values start at `kk · stride`.
    pub panel: &'a [T],
    /// Distance between panel rows ([`LANES`] for a [`pack_chunk`] panel).
    pub stride: usize,
    /// Columns of the chunk that are real (≤ [`LANES`]); only these are read and written.
    pub width: usize,
}

impl<T> Clone for Operands<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Operands<'_, T> {}

/// For each row i: `dst[outs[i] + c] (+)= Σ_{kk<k} src[bases[i] + offs[kk]] · panel[kk·stride + c]`
/// for `c < width`, with the best kernel for `T` on this CPU (AVX-512 or AVX2 for `f32`).
///
/// # Panics
/// If `bases` and `outs` differ in length, `offs` is shorter than `k`, the panel shorter than
/// `(k − 1)·stride + width`, `width > LANES`, or a read would leave `src` or a write `dst`.
pub fn gather_gemm<T: Scalar>(
    op: Operands<'_, T>,
    bases: &[usize],
    outs: &[usize],
    dst: &mut [T],
    store: Store,
) {
    check(&op, bases, outs, dst);
    // The instruction-set dispatch: `f32` runs the detected SIMD kernel, every other element
    // type (`f64` for gradient checks) the portable loop.
    if let (Some(src), Some(panel), Some(dst32)) =
        (as_f32(op.src), as_f32(op.panel), as_f32_mut(dst))
    {
        let op32 = Operands {
            src,
            offs: op.offs,
            k: op.k,
            panel,
            stride: op.stride,
            width: op.width,
        };
        return run_f32(detect(), op32, bases, outs, dst32, store);
    }
    portable(op, bases, outs, dst, store);
}

/// `s` as `f32` values when `T` is `f32`.
fn as_f32<T: 'static>(s: &[T]) -> Option<&[f32]> {
    if TypeId::of::<T>() != TypeId::of::<f32>() {
        return None;
    }
    // SAFETY: `T` is `f32` (the same `TypeId`), so the slice is one of `f32` values.
    Some(unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<f32>(), s.len()) })
}

/// `s` as `f32` values when `T` is `f32`.
fn as_f32_mut<T: 'static>(s: &mut [T]) -> Option<&mut [f32]> {
    if TypeId::of::<T>() != TypeId::of::<f32>() {
        return None;
    }
    // SAFETY: `T` is `f32` (the same `TypeId`), so the slice is one of `f32` values; the
    // mutable borrow of `s` is moved into the result.
    Some(unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<f32>(), s.len()) })
}

/// [`gather_gemm`] on `f32` with a chosen instruction set (tests and benchmarks compare them);
/// one this CPU lacks falls back to the portable loop.
pub fn gather_gemm_isa(
    isa: Isa,
    op: Operands<'_, f32>,
    bases: &[usize],
    outs: &[usize],
    dst: &mut [f32],
    store: Store,
) {
    check(&op, bases, outs, dst);
    run_f32(isa, op, bases, outs, dst, store);
}

fn check<T>(op: &Operands<'_, T>, bases: &[usize], outs: &[usize], dst: &[T]) {
    assert_eq!(bases.len(), outs.len(), "one output offset per row");
    assert!(op.offs.len() >= op.k, "offs shorter than k");
    assert!(op.width <= LANES, "chunk wider than {LANES} columns");
    assert!(
        op.k == 0 || op.width == 0 || op.panel.len() >= (op.k - 1) * op.stride + op.width,
        "panel shorter than k rows"
    );
    // The whole table's largest offset bounds every prefix's.
    let reach = op.offs.reach;
    if let Some(&b) = bases.iter().max() {
        assert!(
            op.k == 0 || b + reach < op.src.len(),
            "row window past the input"
        );
    }
    if let Some(&o) = outs.iter().max() {
        assert!(o + op.width <= dst.len(), "output past the destination");
    }
}

/// The `f32` dispatch (operands checked by the caller).
pub(crate) fn run_f32(
    isa: Isa,
    op: Operands<'_, f32>,
    bases: &[usize],
    outs: &[usize],
    dst: &mut [f32],
    store: Store,
) {
    let acc = store == Store::Accumulate;
    macro_rules! dispatch {
        ($kernel:ident, $step:expr, [$($n:literal),*]) => {
            for (group, out) in bases.chunks($step).zip(outs.chunks($step)) {
                // SAFETY: the CPU has the kernel's features (checked by the caller's match
                // guard); every read and write is in bounds (checked by `check`).
                unsafe {
                    match group.len() {
                        $($n => x86::$kernel::<$n>(op, group, out, dst, acc),)*
                        _ => unreachable!("group of at most {} rows", $step),
                    }
                }
            }
        };
    }
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if std::arch::is_x86_feature_detected!("avx512f") => {
            dispatch!(k512, 12, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma") =>
        {
            dispatch!(k256, 6, [1, 2, 3, 4, 5, 6])
        }
        _ => portable(op, bases, outs, dst, store),
    }
}

/// The portable kernel (any [`Scalar`]; operands checked by the caller).
pub(crate) fn portable<T: Scalar>(
    op: Operands<'_, T>,
    bases: &[usize],
    outs: &[usize],
    dst: &mut [T],
    store: Store,
) {
    let w = op.width;
    for (&b, &o) in bases.iter().zip(outs) {
        let mut acc = [T::zero(); LANES];
        for (kk, &t) in op.offs.offs[..op.k].iter().enumerate() {
            let a = op.src[b + t];
            let row = &op.panel[kk * op.stride..][..w];
            for (s, &wv) in acc.iter_mut().zip(row) {
                *s += a * wv;
            }
        }
        let d = &mut dst[o..o + w];
        match store {
            Store::Overwrite => d.copy_from_slice(&acc[..w]),
            Store::Accumulate => {
                for (d, &a) in d.iter_mut().zip(&acc[..w]) {
                    *d += a;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{LANES, Operands};
    use std::arch::x86_64::*;

    /// Pointers to the first `N` rows' bases in `src`.
    fn row_ptrs<const N: usize>(src: &[f32], bases: &[usize]) -> [*const f32; N] {
        // `wrapping_add` needs no safety argument; the kernels only dereference these at
        // offsets the caller has bounds-checked.
        std::array::from_fn(|i| src.as_ptr().wrapping_add(bases[i]))
    }

    /// # Safety
    /// The CPU must support AVX-512F; `bases.len() == outs.len() == N`, `op.offs.len() ≥ k`,
    /// `op.panel.len() ≥ (k − 1)·stride + width`, every `bases[i] + offs[kk] < src.len()` and
    /// every `outs[i] + width ≤ dst.len()`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn k512<const N: usize>(
        op: Operands<'_, f32>,
        bases: &[usize],
        outs: &[usize],
        dst: &mut [f32],
        accumulate: bool,
    ) {
        let a = row_ptrs::<N>(op.src, bases);
        let mut acc = [_mm512_setzero_ps(); N];
        let w = op.panel.as_ptr();
        let mask: __mmask16 = if op.width >= LANES {
            0xffff
        } else {
            (1u16 << op.width) - 1
        };
        let stride = op.stride;
        for kk in 0..op.k {
            // SAFETY: the masked load reads only the `width` real columns of panel row kk
            // (inside the panel by the caller's contract; masked lanes do not fault), and
            // every bases[i] + offs[kk] is inside src.
            unsafe {
                let wv = _mm512_maskz_loadu_ps(mask, w.add(kk * stride));
                let o = *op.offs.offs.get_unchecked(kk);
                for i in 0..N {
                    let b = _mm512_set1_ps(*a[i].add(o));
                    acc[i] = _mm512_fmadd_ps(b, wv, acc[i]);
                }
            }
        }
        for i in 0..N {
            // SAFETY: lanes past `width` are masked off; outs[i] + width ≤ dst.len().
            unsafe {
                let d = dst.as_mut_ptr().add(outs[i]);
                let v = if accumulate {
                    _mm512_add_ps(_mm512_maskz_loadu_ps(mask, d), acc[i])
                } else {
                    acc[i]
                };
                _mm512_mask_storeu_ps(d, mask, v);
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA; otherwise as [`k512`].
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn k256<const N: usize>(
        op: Operands<'_, f32>,
        bases: &[usize],
        outs: &[usize],
        dst: &mut [f32],
        accumulate: bool,
    ) {
        let a = row_ptrs::<N>(op.src, bases);
        let mut acc = [[_mm256_setzero_ps(); 2]; N];
        let w = op.panel.as_ptr();
        let lane = |j: i32| {
            if (j as usize) < op.width { -1 } else { 0 }
        };
        let m0 = _mm256_setr_epi32(
            lane(0),
            lane(1),
            lane(2),
            lane(3),
            lane(4),
            lane(5),
            lane(6),
            lane(7),
        );
        let m1 = _mm256_setr_epi32(
            lane(8),
            lane(9),
            lane(10),
            lane(11),
            lane(12),
            lane(13),
            lane(14),
            lane(15),
        );
        let stride = op.stride;
        for kk in 0..op.k {
            // SAFETY: as in k512 (masked loads read only the real columns).
            unsafe {
                let p = w.add(kk * stride);
                let w0 = _mm256_maskload_ps(p, m0);
                let w1 = _mm256_maskload_ps(p.add(8), m1);
                let o = *op.offs.offs.get_unchecked(kk);
                for i in 0..N {
                    let b = _mm256_broadcast_ss(&*a[i].add(o));
                    acc[i][0] = _mm256_fmadd_ps(b, w0, acc[i][0]);
                    acc[i][1] = _mm256_fmadd_ps(b, w1, acc[i][1]);
                }
            }
        }
        for i in 0..N {
            // SAFETY: masked loads and stores touch only the `width` real columns, and
            // outs[i] + width ≤ dst.len().
            unsafe {
                let d = dst.as_mut_ptr().add(outs[i]);
                let (mut v0, mut v1) = (acc[i][0], acc[i][1]);
                if accumulate {
                    v0 = _mm256_add_ps(_mm256_maskload_ps(d, m0), v0);
                    v1 = _mm256_add_ps(_mm256_maskload_ps(d.add(8), m1), v1);
                }
                _mm256_maskstore_ps(d, m0, v0);
                _mm256_maskstore_ps(d.add(8), m1, v1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn isas() -> Vec<Isa> {
        let mut isas = vec![Isa::Portable];
        if detect() != Isa::Portable {
            isas.push(Isa::Avx2);
        }
        if detect() == Isa::Avx512 {
            isas.push(Isa::Avx512);
        }
        isas
    }

    /// Every kernel this CPU supports (and the portable loop) equals a naive triple loop for
    /// every row count up to two full AVX-512 groups, full and ragged chunks, packed and
    /// strided panels (whose last row ends the buffer), odd K, a non-contiguous offset table
    /// and both store modes, and writes nothing past `width`.
    #[test]
    fn gather_gemm_matches_naive_sums() {
        let (k, len) = (37usize, 2000usize);
        let src: Vec<f32> = (0..len)
            .map(|i| ((i * 104729) % 31) as f32 / 15.0 - 1.0)
            .collect();
        let offs: Vec<usize> = (0..k).map(|kk| (kk * 17) % 211 + kk / 5).collect();
        for n in [5usize, 13, 16] {
            let w: Vec<f32> = (0..n * k)
                .map(|i| ((i * 7919) % 23) as f32 / 11.0 - 1.0)
                .collect();
            // Packed: K × LANES. Strided: K × 21 with the chunk at column 3, cut right after
            // the last real value so that an unmasked read would leave the slice.
            let packed = pack_chunk(&w, k, 0, n);
            let mut strided = vec![f32::NAN; k * 21];
            for kk in 0..k {
                for c in 0..n {
                    strided[kk * 21 + 3 + c] = w[c * k + kk];
                }
            }
            let strided = &strided[3..(k - 1) * 21 + 3 + n];
            for (panel, stride) in [(&packed[..], LANES), (strided, 21)] {
                let op = Operands {
                    src: &src,
                    offs: Taps::new(&offs),
                    k,
                    panel,
                    stride,
                    width: n,
                };
                for isa in isas() {
                    for store in [Store::Overwrite, Store::Accumulate] {
                        for count in 0..=25 {
                            let bases: Vec<usize> =
                                (0..count).map(|i| (i * 61 + 3) % 1700).collect();
                            // Output rows 20 apart: the values past a row must stay NaN.
                            let outs: Vec<usize> =
                                (0..count).map(|i| (count - 1 - i) * 20).collect();
                            let mut dst = vec![f32::NAN; count * 20];
                            for &o in &outs {
                                dst[o..o + n].fill(0.5);
                            }
                            gather_gemm_isa(isa, op, &bases, &outs, &mut dst, store);
                            for (i, &b) in bases.iter().enumerate() {
                                for c in 0..20 {
                                    let got = dst[outs[i] + c];
                                    if c >= n {
                                        assert!(got.is_nan(), "{isa:?} wrote past width {n}");
                                        continue;
                                    }
                                    let mut want: f64 = (0..k)
                                        .map(|kk| src[b + offs[kk]] as f64 * w[c * k + kk] as f64)
                                        .sum();
                                    if store == Store::Accumulate {
                                        want += 0.5;
                                    }
                                    assert!(
                                        (got as f64 - want).abs() < 1e-4,
                                        "{isa:?} {store:?} {count} {i} {c}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The generic entry point in `f64` runs the portable loop and agrees with `f32`.
    #[test]
    fn gather_gemm_f64_matches_f32() {
        let src: Vec<f64> = (0..50).map(|i| (i as f64 * 0.37).sin()).collect();
        let panel: Vec<f64> = (0..4 * LANES).map(|i| (i as f64 * 0.11).cos()).collect();
        let offs = [0usize, 3, 7, 11];
        let op = Operands {
            src: &src,
            offs: Taps::new(&offs),
            k: 4,
            panel: &panel,
            stride: LANES,
            width: 9,
        };
        let mut d64 = vec![0.0f64; 2 * LANES];
        gather_gemm(op, &[1, 30], &[0, LANES], &mut d64, Store::Overwrite);
        let src32: Vec<f32> = src.iter().map(|&v| v as f32).collect();
        let panel32: Vec<f32> = panel.iter().map(|&v| v as f32).collect();
        let op32 = Operands {
            src: &src32,
            offs: Taps::new(&offs),
            k: 4,
            panel: &panel32,
            stride: LANES,
            width: 9,
        };
        let mut d32 = vec![0.0f32; 2 * LANES];
        gather_gemm(op32, &[1, 30], &[0, LANES], &mut d32, Store::Overwrite);
        for (a, b) in d64.iter().zip(&d32) {
            assert!((a - *b as f64).abs() < 1e-5);
        }
    }

    /// One 4-step, 1-column packed panel over a 10-value input, written into 4 outputs: `base`
    /// and `out` place the single row, `width` the columns written.
    fn one_row(base: usize, out: usize, width: usize) {
        let panel = pack_chunk(&[1.0f32; 4], 4, 0, 1);
        let op = Operands {
            src: &[0.0; 10],
            offs: Taps::new(&[0, 1, 2, 3]),
            k: 4,
            panel: &panel,
            stride: LANES,
            width,
        };
        gather_gemm(op, &[base], &[out], &mut [0.0; 4], Store::Overwrite);
    }

    #[test]
    fn gather_gemm_accepts_the_last_window_and_output() {
        one_row(6, 2, 2);
    }

    #[test]
    #[should_panic(expected = "row window past the input")]
    fn gather_gemm_rejects_reads_past_the_input() {
        one_row(7, 0, 1);
    }

    #[test]
    #[should_panic(expected = "output past the destination")]
    fn gather_gemm_rejects_writes_past_the_output() {
        one_row(0, 3, 2);
    }

    #[test]
    #[should_panic(expected = "panel shorter than k rows")]
    fn gather_gemm_rejects_short_panels() {
        let op = Operands {
            src: &[0.0f32; 10],
            offs: Taps::new(&[0, 1, 2, 3]),
            k: 4,
            panel: &[0.0; 3 * 8 + 4],
            stride: 8,
            width: 5,
        };
        gather_gemm(op, &[0], &[0], &mut [0.0; 8], Store::Overwrite);
    }
}
