//! Batches of gated layers (docs/model.md §4, batches): a batch of B samples is one stacked GEMM
//! (M = B·H_out·W_out) whose rows keep their own sample's gates. Checked against the single
//! samples (bounds) and against the cycle-stepped engine running the policy's schedule over the
//! stacked rows.

use cdg_core::{
    ArchConfig, ConvParams, Dataflow, DramBandwidth, GateBlock, GateSpec, Layer, LayerMasks,
    LayerShape, OutputRule, SkipPolicy,
};
use cdg_sim::functional::{FeatureMap, Filters, filter_matrix, im2col};
use cdg_sim::reference::run_gated;
use cdg_sim::schedule::{GatedSchedule, gate_fn};
use cdg_sim::simulate_gated_layer;
use proptest::prelude::*;

use crate::common::{dataflow, lcg, policy};

fn conv(c: u64, h: u64, w: u64, n: u64, k: u64, s: u64, p: u64) -> Option<LayerShape> {
    LayerShape::conv(
        "g",
        ConvParams {
            in_channels: c,
            in_height: h,
            in_width: w,
            out_channels: n,
            kernel: [k, k],
            stride: s,
            padding: p,
            rule: OutputRule::Floor,
        },
    )
    .ok()
}

fn design(rows: u64, cols: u64, df: cdg_core::Dataflow, pol: cdg_core::SkipPolicy) -> ArchConfig {
    let mut arch = ArchConfig::default_with("batches");
    arch.array.rows = rows;
    arch.array.cols = cols;
    arch.array.dataflow = df;
    arch.sparsity.support = pol;
    arch
}

#[test]
fn stacking_keeps_each_samples_gates() {
    let shape = conv(3, 5, 4, 6, 1, 1, 0).unwrap();
    for block in [GateBlock::new(2, 1, 1), GateBlock::new(2, 2, 3)] {
        let spec = GateSpec {
            base_channels: 1,
            block,
        };
        let mut next = lcg(7);
        let masks =
            LayerMasks::from_fn(&shape, &spec, 4, |_, _, _, _| next().is_multiple_of(3)).unwrap();
        let stacked = masks.stack(1, 3).unwrap();
        assert_eq!(stacked.out_shape(), [6, 15, 4]);
        assert_eq!(stacked.samples(), 1);
        for b in 0..3u64 {
            for n in 0..6 {
                for oh in 0..5 {
                    for ow in 0..4 {
                        assert_eq!(
                            stacked.gate_at(0, n, b * 5 + oh, ow),
                            masks.gate_at(1 + b as usize, n, oh, ow),
                            "{block:?} sample {} ({n},{oh},{ow})",
                            1 + b
                        );
                    }
                }
            }
        }
        let active: u64 = (1..4).map(|s| masks.active_elements(s)).sum();
        assert_eq!(stacked.active_elements(0), active);
        assert!(masks.stack(2, 3).is_err(), "beyond the samples");
        assert!(masks.stack(0, 0).is_err(), "empty");
        assert_eq!(
            masks.stack(2, 1).unwrap().sample_words(0),
            masks.sample_words(2)
        );
    }
}

#[test]
fn a_batch_needs_its_samples() {
    let shape = conv(4, 4, 4, 4, 3, 1, 1).unwrap();
    let spec = GateSpec {
        base_channels: 2,
        block: GateBlock::new(1, 1, 1),
    };
    let masks = LayerMasks::from_fn(&shape, &spec, 3, |_, _, _, _| true).unwrap();
    let layer = Layer {
        shape,
        gate: Some(spec),
    };
    let mut arch = ArchConfig::default_with("batches");
    arch.workload.batch = 2;
    assert!(simulate_gated_layer(&arch, &layer, &masks, 1).is_ok());
    let e = simulate_gated_layer(&arch, &layer, &masks, 2)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`g`") && e.contains("2..4") && e.contains("3 samples"),
        "{e}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(120))]

    /// A gated batch of B samples (each with its own gates) takes at least as long as its
    /// slowest sample alone and at most as long as its samples one after another, on every
    /// policy and dataflow; it needs exactly the samples' MACs and fetches the weights once.
    #[test]
    fn gated_batch_cycles_lie_between_one_and_n_samples(
        (c, h, n, k, s, p) in (2u64..=6, 1u64..=7, 1u64..=8, 1u64..=3, 1u64..=2, 0u64..=1),
        base in 1u64..=3,
        block in (1u64..=4, 1u64..=3, 1u64..=3),
        density in 0.0f64..=1.0,
        batch in 2u64..=4,
        (rows, cols) in (1u64..=6, 1u64..=6),
        df in dataflow(),
        pol in policy(),
        overlap in any::<bool>(),
        bandwidth in proptest::option::of(1.0f64..64.0),
        seed in any::<u64>(),
        same in any::<bool>(),
    ) {
        let shape = conv(c, h, h, n, k, s, p);
        prop_assume!(shape.is_some());
        let shape = shape.unwrap();
        let spec = GateSpec {
            base_channels: base.min(c - 1),
            block: GateBlock::new(block.0, block.1, block.2),
        };
        let mut next = lcg(seed);
        let draws = LayerMasks::from_fn(&shape, &spec, batch as usize, |_, _, _, _| {
            (next() as f64 / (1u64 << 53) as f64) < density
        })
        .unwrap();
        // Every sample its own gates, or every sample the first sample's.
        let masks = LayerMasks::from_fn(&shape, &spec, batch as usize, |s, c, h, w| {
            draws.get(if same { 0 } else { s }, c, h, w)
        })
        .unwrap();
        let layer = Layer { shape, gate: Some(spec) };
        let mut a = design(rows, cols, df, pol);
        a.array.overlap_folds = overlap;
        if let Some(bw) = bandwidth {
            a.memory.dram_bandwidth = DramBandwidth::BytesPerCycle(bw);
        }
        let ones: Vec<_> = (0..batch as usize)
            .map(|s| simulate_gated_layer(&a, &layer, &masks, s).unwrap())
            .collect();
        a.workload.batch = batch;
        let many = simulate_gated_layer(&a, &layer, &masks, 0).unwrap();
        let slowest = ones.iter().map(|o| o.totals.cycles.get()).max().unwrap();
        let serial: u64 = ones.iter().map(|o| o.totals.cycles.get()).sum();
        prop_assert!(many.totals.cycles.get() >= slowest,
            "{} cycles for the batch, {slowest} for its slowest sample", many.totals.cycles.get());
        // A fold of the batch that holds several samples' outputs runs (tile-skip) or keeps
        // a filter (compact on IS, where the batch's pixels share column folds) when any of
        // those samples needs it. So samples with different gates can make the batch slower
        // than the samples in turn (see `different_gates_can_cost_more_in_a_batch`), and so can
        // the same gates in every sample when a sample's pixels do not fill whole folds along M
        // (a fold then holds the end of one sample and the start of the next: IS, tile-skip,
        // 1×2 array, 7×7 outputs, 3×3×1 blocks took 12350 cycles for two samples, 12226 in
        // turn). Compact on OS and WS packs the active pixels of the whole batch and never loses.
        let packs_batch = match pol {
            SkipPolicy::Dense | SkipPolicy::ClockGate => true,
            SkipPolicy::Compact => df != Dataflow::InputStationary,
            SkipPolicy::TileSkip => false,
        };
        let pixels = layer.shape.out_height() * layer.shape.out_width();
        let aligned = match df {
            Dataflow::OutputStationary => pixels.is_multiple_of(rows),
            Dataflow::InputStationary => pixels.is_multiple_of(cols),
            Dataflow::WeightStationary => true,
        };
        if packs_batch || (same && aligned) {
            prop_assert!(many.totals.cycles.get() <= serial,
                "{} cycles for the batch, {serial} for its samples in turn",
                many.totals.cycles.get());
        }
        let needed: u64 = ones.iter().map(|o| o.totals.macs_needed.get()).sum();
        prop_assert_eq!(many.totals.macs_needed.get(), needed);
        prop_assert_eq!(many.totals.compulsory.filter, ones[0].totals.compulsory.filter);
        let gate_ops: u64 = ones.iter().map(|o| o.totals.gate_ops).sum();
        prop_assert_eq!(many.totals.gate_ops, gate_ops);
    }

    /// The fast model's gated batch equals the stepped engine running the policy's schedule over
    /// the stacked rows. For a 1×1 stride-1 convolution without padding, the batch's stacked
    /// GEMM is that of one sample B times as high, so the engine's own schedule path builds the
    /// stacked schedule from the stacked masks.
    #[test]
    fn fast_gated_batch_equals_stepped_engine(
        (c, h, w, n) in (2u64..=6, 1u64..=5, 1u64..=4, 1u64..=8),
        base in 1u64..=3,
        block in (1u64..=4, 1u64..=3, 1u64..=3),
        density in 0.0f64..=1.0,
        batch in 2u64..=4,
        (rows, cols) in (1u64..=6, 1u64..=6),
        df in dataflow(),
        pol in policy(),
        seed in any::<u64>(),
    ) {
        let shape = conv(c, h, w, n, 1, 1, 0).unwrap();
        let spec = GateSpec {
            base_channels: base.min(c - 1),
            block: GateBlock::new(block.0, block.1, block.2),
        };
        let mut next = lcg(seed);
        let masks = LayerMasks::from_fn(&shape, &spec, batch as usize, |_, _, _, _| {
            (next() as f64 / (1u64 << 53) as f64) < density
        })
        .unwrap();
        let stacked_shape = conv(c, batch * h, w, n, 1, 1, 0).unwrap();
        let stacked = masks.stack(0, batch as usize).unwrap();
        let gate = gate_fn(&stacked, 0);
        let input = FeatureMap::from_fn(c as usize, (batch * h) as usize, w as usize,
            |_, _, _| 1);
        let weights = Filters::from_fn([n as usize, c as usize, 1, 1], |_, _, _, _| 1);
        let a = im2col(&stacked_shape, &input).unwrap();
        let b = filter_matrix(&stacked_shape, &weights).unwrap();
        let schedule =
            GatedSchedule::for_policy(pol, &stacked_shape, &spec, rows, cols, df, &gate);

        let mut arch = design(rows, cols, df, pol);
        arch.memory.dram_bandwidth = DramBandwidth::Unlimited;
        arch.sparsity.gather_rows_per_cycle = None;
        arch.array.overlap_folds = false;
        arch.workload.batch = batch;
        let layer = Layer { shape, gate: Some(spec) };
        let fast = simulate_gated_layer(&arch, &layer, &masks, 0).unwrap();
        let stepped = run_gated(&a, &b, &arch.array, &schedule, &gate).unwrap();
        prop_assert_eq!(fast.totals.compute_cycles, stepped.cycles);
        prop_assert_eq!(fast.totals.macs_needed, stepped.macs);
        prop_assert_eq!(fast.totals.folds, stepped.folds.len() as u64);
        prop_assert_eq!(fast.totals.sram.ifmap_reads, stepped.sram.ifmap_reads, "ifmap");
        prop_assert_eq!(fast.totals.sram.filter_reads, stepped.sram.filter_reads, "filter");
        prop_assert_eq!(fast.totals.sram.ofmap_writes, stepped.sram.ofmap_writes, "ofmap");
        prop_assert_eq!(fast.totals.sram.psum_reads, stepped.sram.psum_reads, "psum");
    }
}

/// The batch of `masks` (every sample) on a `rows`×`cols` array and the cycles of each sample
/// alone.
fn batch_and_samples(
    layer: &Layer,
    masks: &LayerMasks,
    rows: u64,
    cols: u64,
    df: Dataflow,
    pol: SkipPolicy,
) -> (u64, Vec<u64>) {
    let mut a = design(rows, cols, df, pol);
    let ones = (0..masks.samples())
        .map(|s| {
            simulate_gated_layer(&a, layer, masks, s)
                .unwrap()
                .totals
                .cycles
                .get()
        })
        .collect();
    a.workload.batch = masks.samples() as u64;
    let many = simulate_gated_layer(&a, layer, masks, 0).unwrap();
    (many.totals.cycles.get(), ones)
}

/// Samples share the folds of a batch, so where a policy decides per fold, the fold runs for
/// all of its samples. WS with tile skipping: sample 0 has every gate on, sample 1 none; alone,
/// sample 1 skips its conditional fold, but in the batch the conditional fold streams the
/// pixels of both samples. The batch is slower than the samples in turn, and still no slower
/// than its slowest sample B times.
#[test]
fn different_gates_can_cost_more_in_a_batch() {
    let shape = conv(2, 2, 2, 1, 1, 1, 0).unwrap();
    let spec = GateSpec {
        base_channels: 1,
        block: GateBlock::ELEMENT,
    };
    let masks = LayerMasks::from_fn(&shape, &spec, 2, |s, _, _, _| s == 0).unwrap();
    let layer = Layer {
        shape,
        gate: Some(spec),
    };
    let (many, ones) = batch_and_samples(
        &layer,
        &masks,
        1,
        1,
        Dataflow::WeightStationary,
        SkipPolicy::TileSkip,
    );
    assert!(many > ones[0] + ones[1], "{many} against {ones:?}");
    assert!(many <= 2 * ones[0], "{many} against {ones:?}");
    // Compact gathers the batch's active pixels into the stream: never slower than in turn.
    let (many, ones) = batch_and_samples(
        &layer,
        &masks,
        1,
        1,
        Dataflow::WeightStationary,
        SkipPolicy::Compact,
    );
    assert!(many <= ones[0] + ones[1], "{many} against {ones:?}");
}
