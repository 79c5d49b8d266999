//! The exponential and the logistic sigmoid in `f64`, written so that they vectorise: the soft
//! gates σ(α(s − Δ)) of every gated output element (docs/training.md §3, §4).
//!
//! [`exp`] reduces `x = k·ln 2 + r` (|r| ≤ ln 2 / 2; k rounded to nearest with the 1.5·2⁵²
//! trick, ln 2 split in two so that `k·ln2_hi` is exact), evaluates the degree-13 Taylor
//! polynomial of e^r by Horner's rule and scales by 2^k as the product of two powers of two
//! built from their bits (so that results down to the subnormal range are rounded once). It has
//! no branches and no table, uses only additions, multiplications, one division-free bit
//! construction and comparisons, and never a fused multiply-add: Rust does not contract
//! `a * b + c`, so the scalar loop and its AVX2 and AVX-512F compilations (chosen at run time,
//! as for batch norm) compute every value by the same operations and give the same bits. The
//! unit tests bound its error against the C library's `exp`: at most 2 ulp wherever e^x is
//! normal (x in [−708, 709.7]), one subnormal step where it is subnormal, at most 1 ulp (mostly
//! equal) at the edges (±0, subnormal and tiny inputs, ±∞, NaN, overflow, underflow); and
//! [`sigmoid`] within 4 ulp of `1 / (1 + libm exp(−x))`. Results differ from the libm-based
//! ones only in the last bits.

use crate::scalar::Scalar;

/// 1.5·2⁵²: adding it rounds a value of magnitude < 2⁵¹ to an integer held in the low bits.
const ROUND: f64 = 6_755_399_441_055_744.0;
const LOG2_E: f64 = std::f64::consts::LOG2_E;
/// ln 2 in two parts (fdlibm's): `LN2_HI` has 32 trailing zero bits, so `k·LN2_HI` is exact
/// for |k| < 2²⁰.
const LN2_HI: f64 = 6.931_471_803_691_238e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
/// Beyond these, e^x is +∞ or 0 (clamping keeps 2^k representable as two factors).
const X_MAX: f64 = 710.0;
const X_MIN: f64 = -746.0;

/// 1/n! for n = 0..=13.
const INV_FACT: [f64; 14] = [
    1.0,
    1.0,
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5_040.0,
    1.0 / 40_320.0,
    1.0 / 362_880.0,
    1.0 / 3_628_800.0,
    1.0 / 39_916_800.0,
    1.0 / 479_001_600.0,
    1.0 / 6_227_020_800.0,
];

/// 2^k for an integer-valued `k` in [−1022, 1023], from its bits.
#[inline(always)]
fn pow2(k: f64) -> f64 {
    // `k + ROUND` holds k in the low bits of its mantissa (two's complement relative to ROUND).
    let ki = (k + ROUND).to_bits().wrapping_sub(ROUND.to_bits());
    f64::from_bits(ki.wrapping_add(1023) << 52)
}

/// e^x (see the module docs for the method and its error bound). NaN gives NaN.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    // Comparisons rather than `clamp`/`min`/`max`, so that NaN passes through.
    let x = if x > X_MAX { X_MAX } else { x };
    let x = if x < X_MIN { X_MIN } else { x };
    let k = (x * LOG2_E + ROUND) - ROUND;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut p = INV_FACT[13];
    for &c in INV_FACT[..13].iter().rev() {
        p = p * r + c;
    }
    // 2^k = 2^k1 · 2^k2 with both factors normal (k ∈ [−1076, 1024]).
    let k1 = (k * 0.5 + ROUND) - ROUND;
    let k2 = k - k1;
    p * pow2(k1) * pow2(k2)
}

/// The logistic sigmoid 1 / (1 + e^(−x)) on [`exp`].
#[inline(always)]
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + exp(-x))
}

/// Soft gates of channels-last rows: `out[row·c + ch] = σ(alpha·(x[row·c + ch] − delta[ch]))`
/// with `c = delta.len()`, computed in `f64` and rounded to `T` once. Vectorised on AVX-512F
/// or AVX2 when the CPU has it, with the same bits on every path.
pub fn soft_gates_rows<T: Scalar>(out: &mut [T], x: &[T], delta: &[f64], alpha: f64) {
    assert_eq!(out.len(), x.len(), "one output per input");
    if delta.is_empty() {
        return;
    }
    assert_eq!(x.len() % delta.len(), 0, "whole rows of delta.len() values");
    isa::soft_gates_rows(out, x, delta, alpha)
}

mod isa {
    use crate::ops::kernel::{Isa, detect};
    use crate::scalar::Scalar;
    use std::sync::OnceLock;

    fn best() -> Isa {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(detect)
    }

    #[inline(always)]
    pub(super) fn rows_generic<T: Scalar>(out: &mut [T], x: &[T], delta: &[f64], alpha: f64) {
        let c = delta.len();
        for (o, xr) in out.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
            for ((o, &v), &d) in o.iter_mut().zip(xr).zip(delta) {
                *o = T::of(super::sigmoid(alpha * (v.as_f64() - d)));
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    pub(super) mod x86 {
        use super::*;

        #[target_feature(enable = "avx512f")]
        pub unsafe fn rows512<T: Scalar>(out: &mut [T], x: &[T], delta: &[f64], alpha: f64) {
            rows_generic(out, x, delta, alpha)
        }

        #[target_feature(enable = "avx2")]
        pub unsafe fn rows256<T: Scalar>(out: &mut [T], x: &[T], delta: &[f64], alpha: f64) {
            rows_generic(out, x, delta, alpha)
        }
    }

    pub fn soft_gates_rows<T: Scalar>(out: &mut [T], x: &[T], delta: &[f64], alpha: f64) {
        match best() {
            // SAFETY: `best` detected the feature on this CPU.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86::rows512(out, x, delta, alpha) },
            // SAFETY: as above (AVX2 is detected with FMA, which is not used here).
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { x86::rows256(out, x, delta, alpha) },
            _ => rows_generic(out, x, delta, alpha),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Distance in units in the last place between two finite `f64` of the same sign.
    fn ulps(a: f64, b: f64) -> u64 {
        assert_eq!(a.is_sign_negative(), b.is_sign_negative(), "{a} vs {b}");
        a.to_bits().abs_diff(b.to_bits())
    }

    #[test]
    fn exp_is_within_2_ulp_of_libm_over_its_whole_range() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut worst = 0;
        let mut check = |x: f64| {
            let (a, b) = (exp(x), x.exp());
            let d = ulps(a, b);
            assert!(d <= 2, "exp({x:e}) = {a:e}, libm {b:e}: {d} ulp");
            worst = worst.max(d);
        };
        // Uniform over the range where e^x is finite and non-zero, and log-uniform near 0.
        for _ in 0..200_000 {
            check(rng.random_range(-745.0..709.7));
        }
        for _ in 0..100_000 {
            let m: f64 = rng.random_range(-300.0..2.0);
            let x = 10f64.powf(m);
            check(x);
            check(-x);
        }
        // The sigmoid's working range, densely.
        for i in -400_000..=400_000 {
            check(f64::from(i) * 1e-4);
        }
        // Where e^x is subnormal (relative error grows as precision is lost: compare
        // absolutely, within one subnormal step of libm's correctly rounded value).
        for _ in 0..50_000 {
            let x: f64 = rng.random_range(-745.1..-708.4);
            let (a, b) = (exp(x), x.exp());
            assert!(
                a.to_bits().abs_diff(b.to_bits()) <= 1,
                "exp({x}) = {a:e}, libm {b:e}"
            );
        }
        assert!(worst <= 2);
    }

    #[test]
    fn exp_agrees_with_libm_at_the_edges() {
        for x in [
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            1e-310,
            1e-17,
            -1e-17,
            1.0,
            -1.0,
            709.78,
            709.79,
            710.0,
            1e4,
            f64::MAX,
            f64::INFINITY,
            -745.14,
            -745.2,
            -746.0,
            -1e4,
            f64::MIN,
            f64::NEG_INFINITY,
        ] {
            let (a, b) = (exp(x), x.exp());
            assert!(a == b || ulps(a, b) <= 1, "exp({x:e}) = {a:e}, libm {b:e}");
        }
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(f64::INFINITY), f64::INFINITY);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp(1e4), f64::INFINITY);
        assert_eq!(exp(-1e4), 0.0);
        assert!(exp(f64::NAN).is_nan());
    }

    #[test]
    fn sigmoid_is_within_4_ulp_of_the_libm_formula() {
        let libm = |x: f64| 1.0 / (1.0 + (-x).exp());
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for _ in 0..200_000 {
            let x: f64 = rng.random_range(-60.0..60.0);
            let (a, b) = (sigmoid(x), libm(x));
            // exp's 2 ulp, plus the roundings of 1 + e and of the division on either side.
            assert!(ulps(a, b) <= 4, "σ({x}) = {a:e}, libm {b:e}");
        }
        for x in [f64::NEG_INFINITY, -1e300, -800.0, -746.0] {
            assert_eq!(sigmoid(x), 0.0, "σ({x})");
        }
        for x in [f64::INFINITY, 1e300, 800.0, 40.0, 5e-324, 0.0] {
            assert_eq!(sigmoid(x), libm(x), "σ({x})");
        }
        assert_eq!(sigmoid(0.0), 0.5);
        assert!(sigmoid(f64::NAN).is_nan());
    }

    /// The same bits, or both NaN (a NaN's payload may depend on operand order).
    fn same32(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }
    fn same64(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    /// Inputs that exercise every part of the soft-gate rows: random saliencies, ±large,
    /// ±0, subnormal, NaN and ±∞, in rows whose width is not a multiple of any vector width.
    fn awkward_rows(c: usize, rows: usize) -> (Vec<f32>, Vec<f64>, Vec<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let specials = [
            0.0f64,
            -0.0,
            1e-40,
            -1e-40,
            5e-324,
            1e30,
            -1e30,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ];
        let mut x32 = Vec::with_capacity(c * rows);
        let mut x64 = Vec::with_capacity(c * rows);
        for i in 0..c * rows {
            let v: f64 = if i % 17 == 5 {
                specials[(i / 17) % specials.len()]
            } else {
                rng.random_range(-8.0..8.0)
            };
            x32.push(v as f32);
            x64.push(v);
        }
        let delta: Vec<f64> = (0..c).map(|_| rng.random_range(-1.0..1.0)).collect();
        (x32, x64, delta)
    }

    #[test]
    fn soft_gate_rows_match_the_scalar_sigmoid_bit_for_bit() {
        let (c, rows, alpha) = (37, 29, 2.0);
        let (x32, x64, delta) = awkward_rows(c, rows);
        let mut o32 = vec![0.0f32; x32.len()];
        soft_gates_rows(&mut o32, &x32, &delta, alpha);
        let mut o64 = vec![0.0f64; x64.len()];
        soft_gates_rows(&mut o64, &x64, &delta, alpha);
        for (i, ((&o, &v), (&o2, &v2))) in
            o32.iter().zip(&x32).zip(o64.iter().zip(&x64)).enumerate()
        {
            let want = sigmoid(alpha * (f64::from(v) - delta[i % c])) as f32;
            assert!(same32(o, want), "f32 element {i}: {o} vs {want}");
            let want = sigmoid(alpha * (v2 - delta[i % c]));
            assert!(same64(o2, want), "f64 element {i}: {o2} vs {want}");
        }
    }

    /// Every instruction set this CPU has gives the portable loop's bits (the run-time choice
    /// cannot change results).
    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        let (c, rows, alpha) = (48, 40, 2.0);
        let (x32, x64, delta) = awkward_rows(c, rows);
        let mut want32 = vec![0.0f32; x32.len()];
        isa::rows_generic(&mut want32, &x32, &delta, alpha);
        let mut want64 = vec![0.0f64; x64.len()];
        isa::rows_generic(&mut want64, &x64, &delta, alpha);
        let nan = f32::NAN.to_bits();
        let bits32 = |v: &[f32]| {
            v.iter()
                .map(|&x| if x.is_nan() { nan } else { x.to_bits() })
                .collect::<Vec<_>>()
        };
        let bits64 = |v: &[f64]| {
            v.iter()
                .map(|&x| if x.is_nan() { u64::MAX } else { x.to_bits() })
                .collect::<Vec<_>>()
        };
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") {
                let mut o = vec![0.0f32; x32.len()];
                // SAFETY: the feature was detected.
                unsafe { isa::x86::rows512(&mut o, &x32, &delta, alpha) };
                assert_eq!(bits32(&o), bits32(&want32), "AVX-512F f32");
                let mut o = vec![0.0f64; x64.len()];
                // SAFETY: as above.
                unsafe { isa::x86::rows512(&mut o, &x64, &delta, alpha) };
                assert_eq!(bits64(&o), bits64(&want64), "AVX-512F f64");
            }
            if is_x86_feature_detected!("avx2") {
                let mut o = vec![0.0f32; x32.len()];
                // SAFETY: the feature was detected.
                unsafe { isa::x86::rows256(&mut o, &x32, &delta, alpha) };
                assert_eq!(bits32(&o), bits32(&want32), "AVX2 f32");
                let mut o = vec![0.0f64; x64.len()];
                // SAFETY: as above.
                unsafe { isa::x86::rows256(&mut o, &x64, &delta, alpha) };
                assert_eq!(bits64(&o), bits64(&want64), "AVX2 f64");
            }
        }
        let mut o = vec![0.0f32; x32.len()];
        soft_gates_rows(&mut o, &x32, &delta, alpha);
        assert_eq!(bits32(&o), bits32(&want32), "dispatched f32");
        let mut o = vec![0.0f64; x64.len()];
        soft_gates_rows(&mut o, &x64, &delta, alpha);
        assert_eq!(bits64(&o), bits64(&want64), "dispatched f64");
    }
}
