// The cycle-stepped reference engine against the closed forms of docs/model.md §2 (written out here,
// independently of the crate) and against a naive matrix product.

use cdg_core::SkipPolicy;
use cdg_core::arch::ArrayConfig;
use cdg_core::{Accesses, Cycles, Dataflow, Macs};
use cdg_sim::SimError;
use cdg_sim::matrix::Matrix;
use cdg_sim::reference::{run_gated, run_gemm};
use cdg_sim::schedule::{GatedSchedule, PassDims, PassSchedule, overlapped_cycles};
use proptest::prelude::*;

use crate::common;
use common::dataflow;

fn matrix(rows: usize, cols: usize, seed: u64) -> Matrix {
    let mut x = seed | 1;
    Matrix::from_fn(rows, cols, |_, _| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 33) % 41) as i64 - 20
    })
}

fn naive_matmul(a: &Matrix, b: &Matrix) -> Matrix {
    let mut c = Matrix::zeros(a.rows(), b.cols());
    for i in 0..a.rows() {
        for j in 0..b.cols() {
            let mut s = 0;
            for k in 0..a.cols() {
                s += a.get(i, k) * b.get(k, j);
            }
            c.set(i, j, s);
        }
    }
    c
}

fn array(rows: u64, cols: u64, dataflow: Dataflow, overlap_folds: bool) -> ArrayConfig {
    ArrayConfig {
        rows,
        cols,
        dataflow,
        overlap_folds,
    }
}

/// docs/model.md §2: (Sr, Sc, T) of each dataflow.
fn mapping(df: Dataflow, m: u64, k: u64, n: u64) -> (u64, u64, u64) {
    match df {
        Dataflow::OutputStationary => (m, n, k),
        Dataflow::WeightStationary => (k, n, m),
        Dataflow::InputStationary => (k, m, n),
    }
}

fn per_fold(df: Dataflow, r: u64, c: u64, t: u64) -> u64 {
    match df {
        Dataflow::OutputStationary => t + r + c - 2,
        Dataflow::WeightStationary | Dataflow::InputStationary => 2 * r + c + t - 2,
    }
}

/// (ifmap reads, filter reads, ofmap writes, psum reads) by the closed forms.
fn sram_closed_form(df: Dataflow, m: u64, k: u64, n: u64, fr: u64, fc: u64) -> [u64; 4] {
    match df {
        Dataflow::OutputStationary => [fc * m * k, fr * k * n, m * n, 0],
        Dataflow::WeightStationary => [fc * m * k, k * n, fr * m * n, (fr - 1) * m * n],
        Dataflow::InputStationary => [m * k, fc * k * n, fr * m * n, (fr - 1) * m * n],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn dense_gemm_matches_closed_forms(
        m in 1u64..=40, k in 1u64..=40, n in 1u64..=40,
        r in 1u64..=8, c in 1u64..=8, df in dataflow(), seed in any::<u64>(),
    ) {
        let a = matrix(m as usize, k as usize, seed);
        let b = matrix(k as usize, n as usize, seed ^ 0xABCD);
        let run = run_gemm(&a, &b, &array(r, c, df, false)).unwrap();
        prop_assert_eq!(&run.output, &naive_matmul(&a, &b));
        let (sr, sc, t) = mapping(df, m, k, n);
        let (fr, fc) = (sr.div_ceil(r), sc.div_ceil(c));
        prop_assert_eq!(run.cycles, Cycles(fr * fc * per_fold(df, r, c, t)));
        let [ifr, flr, ofw, psr] = sram_closed_form(df, m, k, n, fr, fc);
        prop_assert_eq!(run.sram.ifmap_reads, Accesses(ifr));
        prop_assert_eq!(run.sram.filter_reads, Accesses(flr));
        prop_assert_eq!(run.sram.ofmap_writes, Accesses(ofw));
        prop_assert_eq!(run.sram.psum_reads, Accesses(psr));
        prop_assert_eq!(run.macs, Macs(m * k * n));
        // Folds run back to back, each taking exactly the per-fold time.
        prop_assert_eq!(run.folds.len() as u64, fr * fc);
        for (i, f) in run.folds.iter().enumerate() {
            prop_assert_eq!(f.last_cycle - f.first_cycle + 1, per_fold(df, r, c, t));
            if i > 0 {
                prop_assert_eq!(f.first_cycle, run.folds[i - 1].last_cycle + 1);
            }
        }
    }

    /// With `overlap_folds`, OS folds pipeline with period T (each fold after the first saves
    /// R + C − 2, as docs/model.md §2 says). WS/IS folds pipeline with period max(T, R): the next fold's
    /// stationary operands need R cycles through the load chain, and its partial sums must wait
    /// R cycles for the previous fold's to leave the array; the fast model's saving of R + C − 2 + R
    /// (period T) is reached exactly when T ≥ R.
    #[test]
    fn overlapped_folds_pipeline(
        m in 1u64..=32, k in 1u64..=32, n in 1u64..=32,
        r in 1u64..=8, c in 1u64..=8, df in dataflow(), seed in any::<u64>(),
    ) {
        let a = matrix(m as usize, k as usize, seed);
        let b = matrix(k as usize, n as usize, seed ^ 0x1234);
        let run = run_gemm(&a, &b, &array(r, c, df, true)).unwrap();
        prop_assert_eq!(&run.output, &naive_matmul(&a, &b));
        let (sr, sc, t) = mapping(df, m, k, n);
        let folds = sr.div_ceil(r) * sc.div_ceil(c);
        let design = per_fold(df, r, c, t) + (folds - 1) * t;
        let expected = match df {
            Dataflow::OutputStationary => design,
            Dataflow::WeightStationary | Dataflow::InputStationary => per_fold(df, r, c, t) + (folds - 1) * t.max(r),
        };
        prop_assert_eq!(run.cycles, Cycles(expected));
        let dims = PassDims::plain(m, n, 0, k);
        prop_assert_eq!(
            overlapped_cycles(&PassSchedule::dense(&dims, r, c, df).folds, df, r, c),
            Cycles(expected)
        );
        if t >= r {
            prop_assert_eq!(run.cycles, Cycles(design));
        }
        // Overlap changes timing, never traffic.
        let dense = run_gemm(&a, &b, &array(r, c, df, false)).unwrap();
        prop_assert_eq!(run.sram, dense.sram);
    }
}

#[test]
fn single_pe_single_mac() {
    for df in [
        Dataflow::OutputStationary,
        Dataflow::WeightStationary,
        Dataflow::InputStationary,
    ] {
        let a = Matrix::from_vec(1, 1, vec![3]).unwrap();
        let b = Matrix::from_vec(1, 1, vec![-4]).unwrap();
        let run = run_gemm(&a, &b, &array(1, 1, df, false)).unwrap();
        assert_eq!(run.output.get(0, 0), -12);
        // OS: T + R + C − 2 = 1; WS/IS: 2R + C + T − 2 = 2.
        let want = if common::outputs_stay(df) { 1 } else { 2 };
        assert_eq!(run.cycles, Cycles(want), "{df:?}");
    }
}

#[test]
fn bad_operands_and_arrays_are_errors() {
    let a = Matrix::zeros(2, 3);
    let b = Matrix::zeros(4, 2);
    let e = run_gemm(&a, &b, &array(2, 2, Dataflow::OutputStationary, false)).unwrap_err();
    assert!(matches!(e, SimError::Operands { .. }), "{e}");
    let b = Matrix::zeros(3, 2);
    let e = run_gemm(&a, &b, &array(0, 2, Dataflow::WeightStationary, false)).unwrap_err();
    // The error names the config key and the array.
    assert_eq!(
        e.to_string(),
        "`array.rows`: the array is 0×2; expected at least 1×1"
    );
    let e = run_gemm(&a, &b, &array(2, 0, Dataflow::InputStationary, false)).unwrap_err();
    assert!(e.to_string().starts_with("`array.cols`"), "{e}");
}

/// Gated schedules on the stepped array: cycles equal the per-fold sum written out naively from
/// docs/model.md §5's policy formulas, and the output equals P + d ⊙ Cond.
#[test]
fn gated_schedules_on_the_stepped_array() {
    let (m, k, n, k_base) = (23usize, 19usize, 13usize, 7u64);
    let a = matrix(m, k, 7);
    let b = matrix(k, n, 8);
    // Block-structured gate: outputs on in a checkerboard of 3×4 blocks, plus a few stragglers.
    let gate = |mm: u64, nn: u64| ((mm / 3) + (nn / 4)).is_multiple_of(2) || (mm == 22 && nn == 1);
    let mut expected = Matrix::zeros(m, n);
    for i in 0..m {
        for j in 0..n {
            let mut p = 0;
            let mut q = 0;
            for kk in 0..k {
                let v = a.get(i, kk) * b.get(kk, j);
                if (kk as u64) < k_base { p += v } else { q += v }
            }
            expected.set(i, j, p + if gate(i as u64, j as u64) { q } else { 0 });
        }
    }
    let base = PassDims::plain(m as u64, n as u64, 0, k_base);
    let cond = PassDims::plain(m as u64, n as u64, k_base, k as u64);
    for df in [
        Dataflow::OutputStationary,
        Dataflow::WeightStationary,
        Dataflow::InputStationary,
    ] {
        for (r, c) in [(4u64, 4u64), (5, 2), (2, 6), (1, 1)] {
            let arr = array(r, c, df, false);
            let cond_k = k as u64 - k_base;
            // Naive per-policy cycle counts of the conditional pass (docs/model.md §5).
            let (sr, sc, _) = mapping(df, m as u64, cond_k, n as u64);
            let fr = sr.div_ceil(r);
            let dense_cond =
                fr * sc.div_ceil(c) * per_fold(df, r, c, mapping(df, m as u64, cond_k, n as u64).2);
            let mut tile = 0;
            let mut compact = 0;
            match df {
                Dataflow::OutputStationary => {
                    for j in 0..(n as u64).div_ceil(c) {
                        let cols = j * c..((j + 1) * c).min(n as u64);
                        let mut active = 0u64;
                        for mm in 0..m as u64 {
                            if cols.clone().any(|nn| gate(mm, nn)) {
                                active += 1;
                            }
                        }
                        compact += active.div_ceil(r) * (cond_k + r + c - 2);
                        for i in 0..(m as u64).div_ceil(r) {
                            let rows = i * r..((i + 1) * r).min(m as u64);
                            if rows.clone().any(|mm| cols.clone().any(|nn| gate(mm, nn))) {
                                tile += cond_k + r + c - 2;
                            }
                        }
                    }
                }
                Dataflow::WeightStationary => {
                    for j in 0..(n as u64).div_ceil(c) {
                        let cols = j * c..((j + 1) * c).min(n as u64);
                        let active = (0..m as u64)
                            .filter(|&mm| cols.clone().any(|nn| gate(mm, nn)))
                            .count() as u64;
                        if active > 0 {
                            compact += fr * (2 * r + c + active - 2);
                            tile += fr * (2 * r + c + m as u64 - 2);
                        }
                    }
                }
                Dataflow::InputStationary => {
                    for j in 0..(m as u64).div_ceil(c) {
                        let cols = j * c..((j + 1) * c).min(m as u64);
                        let active = (0..n as u64)
                            .filter(|&nn| cols.clone().any(|mm| gate(mm, nn)))
                            .count() as u64;
                        if active > 0 {
                            compact += fr * (2 * r + c + active - 2);
                            tile += fr * (2 * r + c + n as u64 - 2);
                        }
                    }
                }
            }
            let base_cycles = run_gemm(
                &Matrix::from_fn(m, k_base as usize, |i, j| a.get(i, j)),
                &Matrix::from_fn(k_base as usize, n, |i, j| b.get(i, j)),
                &arr,
            )
            .unwrap()
            .cycles;
            for (schedule, want) in [
                (PassSchedule::dense(&cond, r, c, df), dense_cond),
                (
                    PassSchedule::for_policy(SkipPolicy::TileSkip, &cond, r, c, df, gate),
                    tile,
                ),
                (
                    PassSchedule::for_policy(SkipPolicy::Compact, &cond, r, c, df, gate),
                    compact,
                ),
            ] {
                let s = GatedSchedule {
                    base: PassSchedule::dense(&base, r, c, df),
                    cond: schedule,
                };
                let run = run_gated(&a, &b, &arr, &s, &gate).unwrap();
                assert_eq!(run.output, expected, "{df:?} {r}×{c}");
                assert_eq!(run.cycles, base_cycles + Cycles(want), "{df:?} {r}×{c}");
                assert_eq!(run.cycles, s.cycles(df, r, c), "{df:?} {r}×{c}");
            }
        }
    }
}
