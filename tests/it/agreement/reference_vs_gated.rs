// The fast gated model (`simulate_gated_layer`) against the cycle-stepped engine running the
// same policy's schedule: equal compute cycles without `overlap_folds`, equal MAC counts, and
// equal SRAM traffic. With overlap the fast model runs the engine's pipeline within each pass
// and starts the conditional pass when the base pass has finished (docs/model.md §2), so it is
// never below what the stepped array achieves — even when a compacted fold must wait for
// partial sums the previous fold has not yet written (regression: OS, compact, 5×1 array, c=2
// h=4 n=1 k=1, block 1×1×1 took 12 stepped cycles against the pipeline's 11) — and never above
// the folds run back to back.

use cdg_core::{ArchConfig, DramBandwidth, Layer};
use cdg_sim::functional::{FeatureMap, Filters, filter_matrix, im2col};
use cdg_sim::reference::run_gated;
use cdg_sim::schedule::{GatedSchedule, gate_fn, overlapped_cycles};
use cdg_sim::simulate_gated_layer;
use proptest::prelude::*;

use super::common;
use common::{dataflow, gated_case, lcg, policy};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn fast_gated_model_equals_stepped_engine(
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
        let (shape, spec, masks) = case.unwrap();
        let gate = gate_fn(&masks, 0);
        let input = FeatureMap::from_fn(c as usize, h as usize, h as usize, |_, _, _| 1);
        let weights = Filters::from_fn([n as usize, c as usize, k as usize, k as usize],
            |_, _, _, _| 1);
        let a = im2col(&shape, &input).unwrap();
        let b = filter_matrix(&shape, &weights).unwrap();
        let schedule = GatedSchedule::for_policy(pol, &shape, &spec, rows, cols, df, &gate);

        let mut arch = ArchConfig::default_with("reference");
        arch.array.rows = rows;
        arch.array.cols = cols;
        arch.array.dataflow = df;
        arch.memory.dram_bandwidth = DramBandwidth::Unlimited;
        arch.sparsity.support = pol;
        arch.sparsity.gather_rows_per_cycle = None;
        let layer = Layer { shape, gate: Some(spec) };
        for overlap in [false, true] {
            arch.array.overlap_folds = overlap;
            let fast = simulate_gated_layer(&arch, &layer, &masks, 0).unwrap();
            let stepped = run_gated(&a, &b, &arch.array, &schedule, &gate).unwrap();
            if !overlap {
                prop_assert_eq!(fast.totals.compute_cycles, stepped.cycles);
            } else {
                // Never less than the engine achieves; never more than folds back to back.
                prop_assert!(fast.totals.compute_cycles >= stepped.cycles, "overlap upper bound");
                prop_assert!(
                    fast.totals.compute_cycles <= schedule.cycles(df, rows, cols),
                    "overlap never slower than sequential"
                );
                // Within a pass the fast model runs the engine's pipeline: a single-pass
                // schedule (no base or no conditional channels) is exact unless a compacted
                // fold waits for partial sums.
                let waited = stepped.cycles
                    > overlapped_cycles(
                        schedule.base.folds.iter().chain(&schedule.cond.folds), df, rows, cols);
                if (schedule.base.is_empty() || schedule.cond.is_empty()) && !waited {
                    prop_assert_eq!(fast.totals.compute_cycles, stepped.cycles, "overlap");
                }
            }
            prop_assert_eq!(fast.totals.macs_needed, stepped.macs);
            prop_assert_eq!(fast.totals.folds, stepped.folds.len() as u64);
            prop_assert_eq!(fast.totals.sram.ifmap_reads, stepped.sram.ifmap_reads, "ifmap");
            prop_assert_eq!(fast.totals.sram.filter_reads, stepped.sram.filter_reads, "filter");
            prop_assert_eq!(fast.totals.sram.ofmap_writes, stepped.sram.ofmap_writes, "ofmap");
            prop_assert_eq!(fast.totals.sram.psum_reads, stepped.sram.psum_reads, "psum");
        }
    }
}
