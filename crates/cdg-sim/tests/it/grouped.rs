// Grouped, depthwise and dilated layers (docs/model.md §1, §2, §4): the fast model, the
// cycle-stepped engine and the integer executor agree on the block-diagonal schedule of every
// dataflow, dense and gated under every skip policy, and the executor computes the direct
// grouped, dilated convolution.

use cdg_core::{
    ArchConfig, ConvExtras, ConvParams, Dataflow, DramBandwidth, GateBlock, GateSpec, Layer,
    LayerMasks, LayerShape, OutputRule, SkipPolicy,
};
use cdg_sim::functional::{
    ArrayShape, FeatureMap, Filters, filter_matrix, im2col, output_map, run_gated_layer, run_layer,
};
use cdg_sim::reference::{FoldJob, run_folds_grouped, run_gated_grouped};
use cdg_sim::schedule::{GatedSchedule, PassSchedule, gate_fn, layer_dims};
use cdg_sim::{LayerOptions, simulate_gated_layer, simulate_layer, simulate_layer_one_pass};
use proptest::prelude::*;

use crate::common::{dataflow, lcg, policy};

/// A grouped, dilated conv: `g` groups of `cin`→`cout` channels on an `h`×`h` input.
#[allow(clippy::too_many_arguments)]
fn grouped(
    g: u64,
    cin: u64,
    cout: u64,
    h: u64,
    k: u64,
    s: u64,
    p: u64,
    d: u64,
) -> Option<LayerShape> {
    LayerShape::conv_with(
        "grouped",
        ConvParams {
            in_channels: g * cin,
            in_height: h,
            in_width: h + 1,
            out_channels: g * cout,
            kernel: [k, k],
            stride: s,
            padding: p,
            rule: OutputRule::Floor,
        },
        ConvExtras {
            groups: g,
            dilation: d,
            padding_end: None,
        },
    )
    .ok()
}

fn arch(rows: u64, cols: u64, df: Dataflow, overlap: bool) -> ArchConfig {
    let mut a = ArchConfig::default_with("grouped");
    a.array.rows = rows;
    a.array.cols = cols;
    a.array.dataflow = df;
    a.array.overlap_folds = overlap;
    a.memory.dram_bandwidth = DramBandwidth::Unlimited;
    a.sparsity.gather_rows_per_cycle = None;
    a
}

fn tensors(shape: &LayerShape, seed: u64) -> (FeatureMap, Filters) {
    let mut next = lcg(seed);
    let mut v = move || (next() % 9) as i64 - 4;
    let input = FeatureMap::from_fn(
        shape.in_channels() as usize,
        shape.in_height() as usize,
        shape.in_width() as usize,
        |_, _, _| v(),
    );
    let [kh, kw] = shape.kernel().map(|x| x as usize);
    let weights = Filters::from_fn(
        [
            shape.out_channels() as usize,
            shape.in_channels_per_group() as usize,
            kh,
            kw,
        ],
        |_, _, _, _| v(),
    );
    (input, weights)
}

/// The direct grouped, dilated convolution; input channels `c` of each group with
/// `lo ≤ c − group start < hi` only, and output (n, y, x) kept when `keep(n, y, x)`.
fn naive(
    shape: &LayerShape,
    input: &FeatureMap,
    w: &Filters,
    (lo, hi): (u64, u64),
    keep: &dyn Fn(usize, usize, usize) -> bool,
) -> Vec<i64> {
    let (cg, ng) = (
        shape.in_channels_per_group() as usize,
        shape.out_channels_per_group() as usize,
    );
    let [kh, kw] = shape.kernel().map(|x| x as usize);
    let (s, p, d) = (
        shape.stride() as i64,
        shape.padding() as i64,
        shape.dilation() as i64,
    );
    let (ho, wo) = (shape.out_height() as usize, shape.out_width() as usize);
    let (hi_h, hi_w) = (shape.in_height() as i64, shape.in_width() as i64);
    let mut out = Vec::new();
    for n in 0..shape.out_channels() as usize {
        let g = n / ng;
        for y in 0..ho {
            for x in 0..wo {
                let mut acc = 0;
                if keep(n, y, x) {
                    for c in lo as usize..hi as usize {
                        for dy in 0..kh {
                            for dx in 0..kw {
                                let iy = y as i64 * s + dy as i64 * d - p;
                                let ix = x as i64 * s + dx as i64 * d - p;
                                if iy >= 0 && ix >= 0 && iy < hi_h && ix < hi_w {
                                    acc += input.get(g * cg + c, iy as usize, ix as usize)
                                        * w.get(n, c, dy, dx);
                                }
                            }
                        }
                    }
                }
                out.push(acc);
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    /// Dense grouped layers: the fast single pass equals the stepped engine on the same
    /// block-diagonal folds (cycles, SRAM counts, real MACs, folds); the executor and the
    /// engine both compute the direct grouped convolution; cycles are at least the real MACs
    /// spread over every PE.
    #[test]
    fn grouped_layers_agree_in_all_three_models(
        (g, cin, cout) in (1u64..=5, 1u64..=3, 1u64..=3),
        (h, k, s, p, d) in (1u64..=7, 1u64..=3, 1u64..=2, 0u64..=2, 1u64..=2),
        (rows, cols) in (1u64..=6, 1u64..=6),
        df in dataflow(),
        overlap in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let shape = grouped(g, cin, cout, h, k, s, p, d);
        prop_assume!(shape.is_some());
        let shape = shape.unwrap();
        let (input, weights) = tensors(&shape, seed);
        let arch = arch(rows, cols, df, overlap);
        let schedule = PassSchedule::dense(&layer_dims(&shape), rows, cols, df);
        let a = im2col(&shape, &input).unwrap();
        let b = filter_matrix(&shape, &weights).unwrap();
        let jobs: Vec<_> =
            schedule.folds.iter().map(|fold| FoldJob { fold, gated: false }).collect();
        let stepped = run_folds_grouped(&a, &b, g, &arch.array, &jobs, &|_, _| true).unwrap();
        let layer = Layer { shape: shape.clone(), gate: None };
        let fast = simulate_layer_one_pass(&arch, &layer, &LayerOptions::default()).unwrap();
        let best = simulate_layer(&arch, &layer, &LayerOptions::default()).unwrap();
        prop_assert_eq!(fast.totals.cycles, stepped.cycles);
        prop_assert_eq!(best.totals.cycles, stepped.cycles);
        prop_assert_eq!(fast.totals.sram.ifmap_reads, stepped.sram.ifmap_reads, "ifmap");
        prop_assert_eq!(fast.totals.sram.filter_reads, stepped.sram.filter_reads, "filter");
        prop_assert_eq!(fast.totals.sram.ofmap_writes, stepped.sram.ofmap_writes, "ofmap");
        prop_assert_eq!(fast.totals.sram.psum_reads, stepped.sram.psum_reads, "psum");
        prop_assert_eq!(fast.totals.macs_needed, shape.macs());
        prop_assert_eq!(stepped.macs, shape.macs());
        prop_assert_eq!(fast.totals.folds, stepped.folds.len() as u64);
        prop_assert!(
            fast.totals.cycles.get() * rows * cols >= shape.macs().get(),
            "cycles below the real MACs over the array"
        );
        let array = ArrayShape { rows, cols, dataflow: df };
        let (out, exec) = run_layer(&shape, &input, &weights, &array, &schedule).unwrap();
        let want = naive(&shape, &input, &weights, (0, cin), &|_, _, _| true);
        prop_assert_eq!(out.as_slice(), &want[..]);
        let engine_out = output_map(&shape, &stepped.output);
        prop_assert_eq!(engine_out.as_slice(), &want[..]);
        prop_assert_eq!(exec.macs_performed, shape.macs().get());
    }

    /// Gated grouped layers (base channels per group): the fast gated model equals the stepped
    /// engine without overlap (cycles, real MACs, folds, SRAM counts), and both the engine and
    /// the executor compute base + gate ⊙ conditional.
    #[test]
    fn gated_grouped_layers_agree_in_all_three_models(
        (g, cin, cout) in (2u64..=5, 1u64..=3, 1u64..=3),
        (h, k, s, p, d) in (1u64..=6, 1u64..=3, 1u64..=2, 0u64..=1, 1u64..=2),
        base in 0u64..=3,
        block in (1u64..=4, 1u64..=3, 1u64..=3),
        density in 0.0f64..=1.0,
        (rows, cols) in (1u64..=6, 1u64..=6),
        df in dataflow(),
        pol in policy(),
        seed in any::<u64>(),
    ) {
        let shape = grouped(g, cin, cout, h, k, s, p, d);
        prop_assume!(shape.is_some());
        let shape = shape.unwrap();
        let spec = GateSpec {
            base_channels: base.min(cin),
            block: GateBlock::new(block.0, block.1, block.2),
        };
        let mut next = lcg(seed ^ 0x9e37);
        let masks = LayerMasks::from_fn(&shape, &spec, 1, |_, _, _, _| {
            (next() as f64 / (1u64 << 53) as f64) < density
        })
        .unwrap();
        let gate = gate_fn(&masks, 0);
        let (input, weights) = tensors(&shape, seed);
        let a = im2col(&shape, &input).unwrap();
        let b = filter_matrix(&shape, &weights).unwrap();
        let schedule = GatedSchedule::for_policy(pol, &shape, &spec, rows, cols, df, &gate);
        let mut arch = arch(rows, cols, df, false);
        arch.sparsity.support = pol;
        let layer = Layer { shape: shape.clone(), gate: Some(spec) };
        let fast = simulate_gated_layer(&arch, &layer, &masks, 0).unwrap();
        let stepped = run_gated_grouped(&a, &b, g, &arch.array, &schedule, &gate).unwrap();
        prop_assert_eq!(fast.totals.compute_cycles, stepped.cycles, "cycles");
        prop_assert_eq!(fast.totals.macs_needed, stepped.macs, "macs");
        if pol != SkipPolicy::Dense {
            prop_assert_eq!(fast.totals.macs_clock_gated, stepped.macs_clock_gated, "gated");
        }
        prop_assert_eq!(fast.totals.folds, stepped.folds.len() as u64, "folds");
        prop_assert_eq!(fast.totals.sram.ifmap_reads, stepped.sram.ifmap_reads, "ifmap");
        prop_assert_eq!(fast.totals.sram.filter_reads, stepped.sram.filter_reads, "filter");
        prop_assert_eq!(fast.totals.sram.ofmap_writes, stepped.sram.ofmap_writes, "ofmap");
        prop_assert_eq!(fast.totals.sram.psum_reads, stepped.sram.psum_reads, "psum");
        let array = ArrayShape { rows, cols, dataflow: df };
        let (out, _) =
            run_gated_layer(&shape, &spec, &input, &weights, &array, &schedule, &gate).unwrap();
        let wo = shape.out_width() as usize;
        let base_part = naive(&shape, &input, &weights, (0, spec.base_channels), &|_, _, _| true);
        let cond_part = naive(&shape, &input, &weights, (spec.base_channels, cin),
            &|n, y, x| gate(y as u64 * wo as u64 + x as u64, n as u64));
        let want: Vec<i64> = base_part.iter().zip(&cond_part).map(|(x, y)| x + y).collect();
        prop_assert_eq!(out.as_slice(), &want[..]);
        let engine_out = output_map(&shape, &stepped.output);
        prop_assert_eq!(engine_out.as_slice(), &want[..]);
        // With overlapped folds: never below the engine, never above the folds back to back.
        arch.array.overlap_folds = true;
        let fast = simulate_gated_layer(&arch, &layer, &masks, 0).unwrap();
        let stepped = run_gated_grouped(&a, &b, g, &arch.array, &schedule, &gate).unwrap();
        prop_assert!(fast.totals.compute_cycles >= stepped.cycles, "overlap lower bound");
        prop_assert!(fast.totals.compute_cycles <= schedule.cycles(df, rows, cols), "overlap");
    }
}

/// Depthwise layers on every dataflow map as one layer of block-diagonal folds: fewer folds
/// and cycles than SCALE-Sim's one layer per channel, and the same real MACs. (On a 32×32
/// array WS holds ⌊32/9⌋ = 3 channels' 3×3 windows per weight tile; on 16×16 it would hold one,
/// and gain nothing over one layer per channel.)
#[test]
fn depthwise_is_one_layer_with_packed_groups() {
    let dw = grouped(32, 1, 1, 28, 3, 1, 1, 1).unwrap();
    for df in Dataflow::ALL {
        let a = arch(32, 32, df, false);
        let layer = Layer {
            shape: dw.clone(),
            gate: None,
        };
        let s = simulate_layer(&a, &layer, &LayerOptions::default()).unwrap();
        assert_eq!(s.totals.macs_needed, dw.macs(), "{df}");
        let per_channel = LayerShape::conv(
            "one",
            ConvParams {
                in_channels: 1,
                in_height: 28,
                in_width: 29,
                out_channels: 1,
                kernel: [3, 3],
                stride: 1,
                padding: 1,
                rule: OutputRule::Floor,
            },
        )
        .unwrap();
        let one = simulate_layer(
            &a,
            &Layer {
                shape: per_channel,
                gate: None,
            },
            &LayerOptions::default(),
        )
        .unwrap();
        assert!(
            s.totals.cycles < one.totals.cycles * 32,
            "{df}: {} cycles against {} per channel",
            s.totals.cycles.get(),
            one.totals.cycles.get()
        );
        assert!(s.totals.folds < one.totals.folds * 32, "{df}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(120))]

    /// Batches (docs/model.md §1): a batch of N samples takes at least as long as one sample
    /// and at most as long as N samples one after another, on any dataflow, array and DRAM
    /// bandwidth; batch 1 is the single-sample run.
    #[test]
    fn batch_cycles_lie_between_one_and_n_samples(
        (g, cin, cout) in (1u64..=4, 1u64..=4, 1u64..=4),
        (h, k, s, p, d) in (1u64..=9, 1u64..=3, 1u64..=2, 0u64..=1, 1u64..=2),
        batch in 2u64..=6,
        (rows, cols) in (1u64..=8, 1u64..=8),
        df in dataflow(),
        overlap in any::<bool>(),
        bandwidth in proptest::option::of(1.0f64..64.0),
    ) {
        let shape = grouped(g, cin, cout, h, k, s, p, d);
        prop_assume!(shape.is_some());
        let layer = Layer { shape: shape.unwrap(), gate: None };
        let mut a = arch(rows, cols, df, overlap);
        if let Some(bw) = bandwidth {
            a.memory.dram_bandwidth = DramBandwidth::BytesPerCycle(bw);
        }
        let one = simulate_layer(&a, &layer, &LayerOptions::default()).unwrap();
        a.workload.batch = batch;
        let many = simulate_layer(&a, &layer, &LayerOptions::default()).unwrap();
        prop_assert!(many.totals.cycles >= one.totals.cycles, "faster than one sample");
        prop_assert!(
            many.totals.cycles.get() <= batch * one.totals.cycles.get(),
            "{} cycles for {batch} samples, {} for one", many.totals.cycles.get(),
            one.totals.cycles.get()
        );
        prop_assert_eq!(many.totals.macs_needed.get(), batch * one.totals.macs_needed.get());
        // Weights are fetched once per batch.
        prop_assert_eq!(many.totals.compulsory.filter, one.totals.compulsory.filter);
    }
}
