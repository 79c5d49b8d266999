// Gated layers on the cycle-stepped array: every policy's schedule (docs/model.md §5), executed one
// clock at a time, produces P + d ⊙ Cond (equal to the functional model, itself checked against
// a direct convolution in functional_conv.rs), takes exactly the schedule's per-fold cycles back
// to back, and with `overlap_folds` never takes longer — and never less than the fast model's overlap
// formula. Also pins the SRAM traffic of the two-pass (base + conditional) execution.

use cdg_core::arch::ArrayConfig;
use cdg_core::{
    Accesses, ConvParams, Cycles, Dataflow, GateBlock, GateSpec, LayerMasks, LayerShape,
    OutputRule, SkipPolicy,
};
use cdg_sim::functional::{
    ArrayShape, FeatureMap, Filters, filter_matrix, im2col, output_map, run_gated_layer,
};
use cdg_sim::reference::run_gated;
use cdg_sim::schedule::{GatedSchedule, gate_fn, overlapped_cycles};
use proptest::prelude::*;

use super::common;
use common::{dataflow, gated_case, lcg, policy};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn gated_schedules_step_correctly(
        (c, h, n, k, s, p) in (2u64..=6, 1u64..=7, 1u64..=12, 1u64..=3, 1u64..=2, 0u64..=1),
        partitions in 2u64..=4,
        block in (1u64..=4, 1u64..=3, 1u64..=3),
        density in 0.0f64..=1.0,
        (rows, cols) in (1u64..=6, 1u64..=6),
        df in dataflow(),
        pol in policy(),
        seed in any::<u64>(),
    ) {
        let mut next = lcg(seed);
        let case = gated_case((c, h, n, k, s, p), partitions, block, density, &mut next);
        prop_assume!(case.is_some());
        let (layer, spec, masks) = case.unwrap();
        let gate = gate_fn(&masks, 0);
        let input = FeatureMap::from_fn(c as usize, h as usize, h as usize,
            |_, _, _| (next() % 11) as i64 - 5);
        let weights = Filters::from_fn([n as usize, c as usize, k as usize, k as usize],
            |_, _, _, _| (next() % 11) as i64 - 5);
        let schedule = GatedSchedule::for_policy(pol, &layer, &spec, rows, cols, df, &gate);
        let (expected, stats) = run_gated_layer(
            &layer, &spec, &input, &weights,
            &ArrayShape { rows, cols, dataflow: df }, &schedule, &gate).unwrap();
        let a = im2col(&layer, &input).unwrap();
        let b = filter_matrix(&layer, &weights).unwrap();
        let mut arr = ArrayConfig { rows, cols, dataflow: df, overlap_folds: false };
        let seq = run_gated(&a, &b, &arr, &schedule, &gate).unwrap();
        prop_assert_eq!(&output_map(&layer, &seq.output), &expected);
        prop_assert_eq!(seq.cycles, schedule.cycles(df, rows, cols));
        prop_assert_eq!(seq.macs.get(), stats.macs_performed);
        prop_assert_eq!(seq.macs_clock_gated.get(), stats.macs_clock_gated);

        arr.overlap_folds = true;
        let ovl = run_gated(&a, &b, &arr, &schedule, &gate).unwrap();
        prop_assert_eq!(&output_map(&layer, &ovl.output), &expected);
        prop_assert!(ovl.cycles <= seq.cycles);
        let saving = match df {
            Dataflow::OutputStationary => rows + cols - 2,
            Dataflow::WeightStationary | Dataflow::InputStationary => 2 * rows + cols - 2,
        };
        let folds = (schedule.base.len() + schedule.cond.len()) as u64;
        let design = seq.cycles.get() - saving * folds.saturating_sub(1);
        prop_assert!(ovl.cycles >= Cycles(design));
        let pipeline = overlapped_cycles(
            schedule.base.folds.iter().chain(&schedule.cond.folds), df, rows, cols);
        prop_assert!(ovl.cycles >= pipeline);
        prop_assert!(pipeline >= Cycles(design));
        prop_assert_eq!(ovl.sram, seq.sram);

        // Two-pass SRAM traffic of the schedules that keep every fold.
        let g = layer.gemm();
        let k_base = layer.window_for(spec.base_channels);
        if !common::traits(pol).skips && k_base < g.k {
            let (m, kk, nn) = (g.m, g.k, g.n);
            let (frb, frc) = (k_base.div_ceil(rows), (kk - k_base).div_ceil(rows));
            let [ifr, flr, ofw, psr] = match df {
                Dataflow::OutputStationary => {
                    let (fr, fc) = (m.div_ceil(rows), nn.div_ceil(cols));
                    [fc * m * kk, fr * kk * nn, 2 * m * nn, m * nn]
                }
                Dataflow::WeightStationary => {
                    let fc = nn.div_ceil(cols);
                    [fc * m * kk, kk * nn, (frb + frc) * m * nn, (frb + frc - 1) * m * nn]
                }
                Dataflow::InputStationary => {
                    let fc = m.div_ceil(cols);
                    [m * kk, fc * kk * nn, (frb + frc) * m * nn, (frb + frc - 1) * m * nn]
                }
            };
            prop_assert_eq!(seq.sram.ifmap_reads, Accesses(ifr));
            prop_assert_eq!(seq.sram.filter_reads, Accesses(flr));
            prop_assert_eq!(seq.sram.ofmap_writes, Accesses(ofw));
            prop_assert_eq!(seq.sram.psum_reads, Accesses(psr));
        }
    }
}

/// Pins the read-after-write case `overlap_folds` must respect: a compacted WS fold streams an
/// output at an earlier step than the base fold that wrote it, right after that base fold.
#[test]
fn overlapped_compact_fold_waits_for_its_partial_sums() {
    let layer = LayerShape::conv(
        "g",
        ConvParams {
            in_channels: 4,
            in_height: 2,
            in_width: 2,
            out_channels: 3,
            kernel: [1, 1],
            stride: 1,
            padding: 0,
            rule: OutputRule::Floor,
        },
    )
    .unwrap();
    // M = 4 output pixels, K = 4 (base 2, cond 2), N = 3, gate on only for pixel 3.
    let spec = GateSpec {
        base_channels: 2,
        block: GateBlock::new(1, 1, 1),
    };
    let masks = LayerMasks::from_fn(&layer, &spec, 1, |_, _, h, w| h == 1 && w == 1).unwrap();
    let gate = gate_fn(&masks, 0);
    let input = FeatureMap::from_fn(4, 2, 2, |c, h, w| (c * 4 + h * 2 + w) as i64 + 1);
    let weights = Filters::from_fn([3, 4, 1, 1], |n, c, _, _| (n * 4 + c) as i64 - 5);
    let (rows, cols, df) = (6, 4, Dataflow::WeightStationary);
    let schedule =
        GatedSchedule::for_policy(SkipPolicy::Compact, &layer, &spec, rows, cols, df, &gate);
    assert_eq!((schedule.base.len(), schedule.cond.len()), (1, 1));
    let (expected, _) = run_gated_layer(
        &layer,
        &spec,
        &input,
        &weights,
        &ArrayShape {
            rows,
            cols,
            dataflow: df,
        },
        &schedule,
        &gate,
    )
    .unwrap();
    let a = im2col(&layer, &input).unwrap();
    let b = filter_matrix(&layer, &weights).unwrap();
    let arr = ArrayConfig {
        rows,
        cols,
        dataflow: df,
        overlap_folds: true,
    };
    let run = run_gated(&a, &b, &arr, &schedule, &gate).unwrap();
    assert_eq!(output_map(&layer, &run.output), expected);
    // Base fold: T = 4, streams from cycle R = 6; it writes pixel 3 (step 3) of column c at
    // 6 + 3 + R − 1 + c. The compact fold streams pixel 3 as its step 0, so its stream cannot
    // start before 6 + 3 + 5 + 1 = 15 (the pipeline alone would allow 6 + max(4, 6) = 12).
    // It ends at 15 + 1 + R + C − 2 − 1 = 23.
    assert_eq!(run.folds[1].last_cycle, 23);
    assert_eq!(run.cycles, Cycles(24));
    // The pipeline alone: R + max(4, R) + 1 + R + C − 2 = 21.
    let all = schedule.base.folds.iter().chain(&schedule.cond.folds);
    assert_eq!(overlapped_cycles(all, df, rows, cols), Cycles(21));
}
