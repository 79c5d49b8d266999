// The cycle-stepped reference engine against the fast analytic model's single-pass schedule
// (`simulate_layer_one_pass`) on random small layers: same cycles and SRAM counts for OS, WS and
// IS, square and non-square arrays, with and without `overlap_folds` (exact for every stream
// length, including WS/IS folds shorter than R), with unlimited DRAM bandwidth (no stalls).

use cdg_core::{ArchConfig, ConvParams, Dataflow, DramBandwidth, Layer, LayerShape, OutputRule};
use cdg_sim::functional::{FeatureMap, Filters, filter_matrix, im2col};
use cdg_sim::reference::run_gemm;
use cdg_sim::{LayerOptions, simulate_layer, simulate_layer_one_pass};
use proptest::prelude::*;

use super::common;
use common::dataflow;

fn arch(rows: u64, cols: u64, dataflow: Dataflow, overlap: bool) -> ArchConfig {
    let mut a = ArchConfig::default_with("reference");
    a.array.rows = rows;
    a.array.cols = cols;
    a.array.dataflow = dataflow;
    a.array.overlap_folds = overlap;
    a.memory.dram_bandwidth = DramBandwidth::Unlimited;
    a
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(120))]

    #[test]
    fn stepped_engine_equals_fast_model(
        (c, h, n, k, s, p) in (1u64..=5, 1u64..=8, 1u64..=20, 1u64..=3, 1u64..=2, 0u64..=1),
        fc in any::<bool>(),
        (rows, cols) in (1u64..=8, 1u64..=8),
        df in dataflow(),
        overlap in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let shape = if fc {
            LayerShape::fc("fc", c * h, n)
        } else {
            LayerShape::conv("conv", ConvParams {
                in_channels: c, in_height: h, in_width: h, out_channels: n,
                kernel: [k, k], stride: s, padding: p, rule: OutputRule::Floor,
            })
        };
        prop_assume!(shape.is_ok());
        let shape = shape.unwrap();
        let mut x = seed | 1;
        let mut next = move || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((x >> 40) % 9) as i64 - 4
        };
        let input = FeatureMap::from_fn(
            shape.in_channels() as usize, shape.in_height() as usize, shape.in_width() as usize,
            |_, _, _| next());
        let [kh, kw] = shape.kernel().map(|v| v as usize);
        let weights = Filters::from_fn(
            [shape.out_channels() as usize, shape.in_channels() as usize, kh, kw],
            |_, _, _, _| next());
        let a = im2col(&shape, &input).unwrap();
        let b = filter_matrix(&shape, &weights).unwrap();
        let arch = arch(rows, cols, df, overlap);
        let stepped = run_gemm(&a, &b, &arch.array).unwrap();
        let layer = Layer { shape, gate: None };
        let fast = simulate_layer_one_pass(&arch, &layer, &LayerOptions::default()).unwrap();
        // With unlimited bandwidth no dense schedule is faster than the single pass.
        let best = simulate_layer(&arch, &layer, &LayerOptions::default()).unwrap();
        prop_assert_eq!(best.totals.cycles, stepped.cycles);
        prop_assert_eq!(fast.totals.stall_cycles.get(), 0);
        prop_assert_eq!(fast.totals.cycles, stepped.cycles);
        prop_assert_eq!(fast.totals.compute_cycles, stepped.cycles);
        prop_assert_eq!(fast.totals.sram.ifmap_reads, stepped.sram.ifmap_reads);
        prop_assert_eq!(fast.totals.sram.filter_reads, stepped.sram.filter_reads);
        prop_assert_eq!(fast.totals.sram.ofmap_writes, stepped.sram.ofmap_writes);
        prop_assert_eq!(fast.totals.sram.psum_reads, stepped.sram.psum_reads);
        prop_assert_eq!(fast.totals.macs_dense, stepped.macs);
        prop_assert_eq!(fast.totals.folds, stepped.folds.len() as u64);
    }
}

/// Real layer sizes: every layer of ResNet-18 CIFAR (width 0.125) on a square and a non-square
/// array, for every dataflow, stepped one clock at a time, equals the fast model.
#[test]
fn resnet18_layers_step_like_the_fast_model() {
    let net = cdg_sim::models::resnet18_cifar(0.125, 3, None);
    for (rows, cols) in [(16, 16), (8, 32)] {
        for df in [
            Dataflow::OutputStationary,
            Dataflow::WeightStationary,
            Dataflow::InputStationary,
        ] {
            let arch = arch(rows, cols, df, false);
            for layer in net.layers() {
                let shape = &layer.shape;
                let input = FeatureMap::from_fn(
                    shape.in_channels() as usize,
                    shape.in_height() as usize,
                    shape.in_width() as usize,
                    |c, h, w| ((c * 7 + h * 3 + w) % 5) as i64 - 2,
                );
                let [kh, kw] = shape.kernel().map(|v| v as usize);
                let weights = Filters::from_fn(
                    [
                        shape.out_channels() as usize,
                        shape.in_channels() as usize,
                        kh,
                        kw,
                    ],
                    |n, c, y, x| ((n + 2 * c + y + x) % 3) as i64 - 1,
                );
                let a = im2col(shape, &input).unwrap();
                let b = filter_matrix(shape, &weights).unwrap();
                let stepped = run_gemm(&a, &b, &arch.array).unwrap();
                let fast = simulate_layer_one_pass(&arch, layer, &LayerOptions::default()).unwrap();
                let what = format!("{} on {rows}×{cols} {df:?}", layer.name());
                assert_eq!(fast.totals.cycles, stepped.cycles, "{what}");
                assert_eq!(
                    fast.totals.sram.ifmap_reads, stepped.sram.ifmap_reads,
                    "{what}"
                );
                assert_eq!(
                    fast.totals.sram.filter_reads, stepped.sram.filter_reads,
                    "{what}"
                );
                assert_eq!(
                    fast.totals.sram.ofmap_writes, stepped.sram.ofmap_writes,
                    "{what}"
                );
                assert_eq!(
                    fast.totals.sram.psum_reads, stepped.sram.psum_reads,
                    "{what}"
                );
            }
        }
    }
}
