//! The fused gather-GEMM of the skipping path (an implicit-im2col micro-kernel): for one chunk
//! of up to [`LANES`] output channels and a list of pixels,
//! `dst[outs[i] + c] = Σ_{kk<k} src[bases[i] + offs[kk]] · panel[kk][c]` for `c < width`.
//!
//! With `src` a zero-padded input image, `bases[i]` the offset of output pixel i's window
//! corner and `offs[kk]` the offset of kernel tap kk = (channel, row, column) within a window,
//! this is the convolution of the listed pixels — no im2col matrix and no gather copy: the
//! kernel walks up to 12 (AVX-512) or 6 (AVX2) pixels at once, broadcasting one input value of
//! each and multiplying it by the chunk's pre-packed weights (`K × LANES`, channel-contiguous),
//! so every weight load feeds that many multiply-adds and the accumulators stay in registers —
//! the shape of a BLAS micro-kernel with the pixel gather folded into its operand addressing.
//! Results go straight to a channels-last output (one vector store per pixel, no scatter).
//! The instruction set is detected at run time ([`detect`]); a portable loop computes the same
//! sums elsewhere.

/// Output channels per weight chunk (one 16-lane AVX-512 vector, two AVX2 vectors).
pub const LANES: usize = 16;

/// Packs rows `c0..c1` (at most [`LANES`]) of a row-major `n × k` weight matrix into a
/// `k × LANES` panel, zero-padded past `c1 − c0`.
pub fn pack_chunk(w: &[f32], k: usize, c0: usize, c1: usize) -> Vec<f32> {
    debug_assert!(c1 - c0 <= LANES);
    let mut out = vec![0.0f32; k * LANES];
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
    /// AVX-512F: 12 pixels × 16 channels per step.
    Avx512,
    /// AVX2 + FMA: 6 pixels × 16 channels per step.
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

/// The operands of one [`gather_gemm`] call.
#[derive(Debug, Clone, Copy)]
pub struct Operands<'a> {
    /// Input values (a zero-padded image or group of images).
    pub src: &'a [f32],
    /// Per kernel tap, its offset within a window; the first `k` are used.
    pub offs: &'a [usize],
    /// Taps to sum over.
    pub k: usize,
    /// The chunk's `K × LANES` weight panel ([`pack_chunk`]).
    pub panel: &'a [f32],
    /// Channels of the chunk that are real (≤ [`LANES`]); only these are written.
    pub width: usize,
}

/// For each pixel i: `dst[outs[i] + c] = Σ_{kk<k} src[bases[i] + offs[kk]] · panel[kk·LANES + c]`
/// for `c < width`.
///
/// `isa` selects the kernel; one this CPU lacks falls back to the portable loop.
///
/// # Panics
/// If `bases` and `outs` differ in length, `offs` or `panel` is shorter than `k`
/// (resp. `k·LANES`), `width > LANES`, or a read would leave `src` or a write `dst`.
pub fn gather_gemm(isa: Isa, op: Operands<'_>, bases: &[usize], outs: &[usize], dst: &mut [f32]) {
    let Operands {
        src,
        offs,
        k,
        panel,
        width,
    } = op;
    assert_eq!(bases.len(), outs.len(), "one output offset per pixel");
    assert!(
        offs.len() >= k && panel.len() >= k * LANES,
        "offs/panel shorter than k"
    );
    assert!(width <= LANES, "chunk wider than {LANES} channels");
    let reach = offs[..k].iter().copied().max().unwrap_or(0);
    if let Some(&b) = bases.iter().max() {
        assert!(
            k == 0 || b + reach < src.len(),
            "pixel window past the input"
        );
    }
    if let Some(&o) = outs.iter().max() {
        assert!(o + width <= dst.len(), "output past the destination");
    }
    macro_rules! dispatch {
        ($kernel:ident, $step:expr, [$($n:literal),*]) => {
            for (group, out) in bases.chunks($step).zip(outs.chunks($step)) {
                // SAFETY: the CPU has the kernel's features (checked by the caller's match
                // guard); every read and write is in bounds (asserted above).
                unsafe {
                    match group.len() {
                        $($n => x86::$kernel::<$n>(op, group, out, dst),)*
                        _ => unreachable!("group of at most {} pixels", $step),
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
        _ => portable(op, bases, outs, dst),
    }
}

fn portable(op: Operands<'_>, bases: &[usize], outs: &[usize], dst: &mut [f32]) {
    for (&b, &o) in bases.iter().zip(outs) {
        let mut acc = [0.0f32; LANES];
        for (kk, &t) in op.offs[..op.k].iter().enumerate() {
            let a = op.src[b + t];
            let w = &op.panel[kk * LANES..][..LANES];
            for (s, &wv) in acc.iter_mut().zip(w) {
                *s += a * wv;
            }
        }
        dst[o..o + op.width].copy_from_slice(&acc[..op.width]);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{LANES, Operands};
    use std::arch::x86_64::*;

    /// Pointers to the first `N` pixels' window corners in `src`.
    fn window_ptrs<const N: usize>(src: &[f32], bases: &[usize]) -> [*const f32; N] {
        // `wrapping_add` needs no safety argument; the kernels only dereference these at
        // offsets the caller has bounds-checked.
        std::array::from_fn(|i| src.as_ptr().wrapping_add(bases[i]))
    }

    /// # Safety
    /// The CPU must support AVX-512F; `bases.len() == outs.len() == N`, `op.offs.len() ≥ k`,
    /// `op.panel.len() ≥ k·LANES`, every `bases[i] + offs[kk] < src.len()` and every
    /// `outs[i] + width ≤ dst.len()`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn k512<const N: usize>(
        op: Operands<'_>,
        bases: &[usize],
        outs: &[usize],
        dst: &mut [f32],
    ) {
        let a = window_ptrs::<N>(op.src, bases);
        let mut acc = [_mm512_setzero_ps(); N];
        let w = op.panel.as_ptr();
        for kk in 0..op.k {
            // SAFETY: kk < k ≤ offs.len() keeps the panel read within k·LANES, and every
            // bases[i] + offs[kk] is inside src (caller's contract).
            unsafe {
                let wv = _mm512_loadu_ps(w.add(kk * LANES));
                let o = *op.offs.get_unchecked(kk);
                for i in 0..N {
                    let b = _mm512_set1_ps(*a[i].add(o));
                    acc[i] = _mm512_fmadd_ps(b, wv, acc[i]);
                }
            }
        }
        let mask: __mmask16 = if op.width >= LANES {
            0xffff
        } else {
            (1u16 << op.width) - 1
        };
        for i in 0..N {
            // SAFETY: lanes past `width` are masked off; outs[i] + width ≤ dst.len().
            unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr().add(outs[i]), mask, acc[i]) };
        }
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA; otherwise as [`k512`].
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn k256<const N: usize>(
        op: Operands<'_>,
        bases: &[usize],
        outs: &[usize],
        dst: &mut [f32],
    ) {
        let a = window_ptrs::<N>(op.src, bases);
        let mut acc = [[_mm256_setzero_ps(); 2]; N];
        let w = op.panel.as_ptr();
        for kk in 0..op.k {
            // SAFETY: as in k512.
            unsafe {
                let w0 = _mm256_loadu_ps(w.add(kk * LANES));
                let w1 = _mm256_loadu_ps(w.add(kk * LANES + 8));
                let o = *op.offs.get_unchecked(kk);
                for i in 0..N {
                    let b = _mm256_broadcast_ss(&*a[i].add(o));
                    acc[i][0] = _mm256_fmadd_ps(b, w0, acc[i][0]);
                    acc[i][1] = _mm256_fmadd_ps(b, w1, acc[i][1]);
                }
            }
        }
        for i in 0..N {
            let mut tmp = [0.0f32; LANES];
            // SAFETY: tmp holds LANES floats; outs[i] + width ≤ dst.len().
            unsafe {
                if op.width == LANES {
                    let d = dst.as_mut_ptr().add(outs[i]);
                    _mm256_storeu_ps(d, acc[i][0]);
                    _mm256_storeu_ps(d.add(8), acc[i][1]);
                } else {
                    _mm256_storeu_ps(tmp.as_mut_ptr(), acc[i][0]);
                    _mm256_storeu_ps(tmp.as_mut_ptr().add(8), acc[i][1]);
                    std::ptr::copy_nonoverlapping(
                        tmp.as_ptr(),
                        dst.as_mut_ptr().add(outs[i]),
                        op.width,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel this CPU supports (and the portable loop) equals a naive triple loop for
    /// every pixel count up to two full AVX-512 groups, full and ragged chunks, odd K and a
    /// non-contiguous tap table, and writes nothing past `width`.
    #[test]
    fn gather_gemm_matches_naive_sums() {
        let (k, len) = (37usize, 2000usize);
        let src: Vec<f32> = (0..len)
            .map(|i| ((i * 104729) % 31) as f32 / 15.0 - 1.0)
            .collect();
        let offs: Vec<usize> = (0..k).map(|kk| (kk * 17) % 211 + kk / 5).collect();
        let mut isas = vec![Isa::Portable];
        if detect() != Isa::Portable {
            isas.push(Isa::Avx2);
        }
        if detect() == Isa::Avx512 {
            isas.push(Isa::Avx512);
        }
        for n in [13usize, 16] {
            let w: Vec<f32> = (0..n * k)
                .map(|i| ((i * 7919) % 23) as f32 / 11.0 - 1.0)
                .collect();
            let panel = pack_chunk(&w, k, 0, n);
            let op = Operands {
                src: &src,
                offs: &offs,
                k,
                panel: &panel,
                width: n,
            };
            for &isa in &isas {
                for count in 0..=25 {
                    let bases: Vec<usize> = (0..count).map(|i| (i * 61 + 3) % 1700).collect();
                    // Output rows 20 apart: the 4 values past a 16-wide row must stay NaN.
                    let outs: Vec<usize> = (0..count).map(|i| (count - 1 - i) * 20).collect();
                    let mut dst = vec![f32::NAN; count * 20];
                    gather_gemm(isa, op, &bases, &outs, &mut dst);
                    for (i, &b) in bases.iter().enumerate() {
                        for c in 0..20 {
                            let got = dst[outs[i] + c];
                            if c >= n {
                                assert!(got.is_nan(), "{isa:?} wrote past width {n}");
                                continue;
                            }
                            let want: f64 = (0..k)
                                .map(|kk| src[b + offs[kk]] as f64 * w[c * k + kk] as f64)
                                .sum();
                            assert!((got as f64 - want).abs() < 1e-4, "{isa:?} {count} {i} {c}");
                        }
                    }
                }
            }
        }
    }

    /// One 4-tap, 1-channel panel over a 10-value input, written into 4 outputs: `base` and
    /// `out` place the single pixel, `width` the channels written.
    fn one_pixel(base: usize, out: usize, width: usize) {
        let panel = pack_chunk(&[1.0; 4], 4, 0, 1);
        let op = Operands {
            src: &[0.0; 10],
            offs: &[0, 1, 2, 3],
            k: 4,
            panel: &panel,
            width,
        };
        gather_gemm(detect(), op, &[base], &[out], &mut [0.0; 4]);
    }

    #[test]
    fn gather_gemm_accepts_the_last_window_and_output() {
        one_pixel(6, 2, 2);
    }

    #[test]
    #[should_panic(expected = "pixel window past the input")]
    fn gather_gemm_rejects_reads_past_the_input() {
        one_pixel(7, 0, 1);
    }

    #[test]
    #[should_panic(expected = "output past the destination")]
    fn gather_gemm_rejects_writes_past_the_output() {
        one_pixel(0, 3, 2);
    }
}
