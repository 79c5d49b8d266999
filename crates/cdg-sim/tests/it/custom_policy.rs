// The skip-policy seam: a fifth policy written here, outside the crate, as one unit
// (`PolicyModel`), runs through the fast model, the functional executor and the stepped engine
// with no change to cdg-sim, and the three agree — as they do for the shipped policies. A real
// fifth policy is this file's `ColumnSkip` as `src/policy/column_skip.rs` plus a `SkipPolicy`
// variant (cdg-core), which the `match` in `policy::model` then asks for.

use cdg_core::{ArchConfig, DramBandwidth, Layer, SkipPolicy};
use cdg_sim::functional::{
    ArrayShape, FeatureMap, Filters, filter_matrix, im2col, output_map, run_gated_layer,
};
use cdg_sim::mapping::{Fold, Mapping};
use cdg_sim::policy::{CondPass, GateSummary, GateView, PolicyModel, SlotCharge};
use cdg_sim::reference::run_gated;
use cdg_sim::schedule::{Axis, GatedSchedule, PassDims, PassSchedule, gate_fn};
use cdg_sim::simulate_gated_layer_with;
use proptest::prelude::*;

use crate::common;
use common::{dataflow, gated_case, lcg};

/// `column-skip`: a column fold of the conditional pass (all its row folds) is skipped when no
/// output it covers has the gate on; kept folds run in full with inactive slots clock-gated.
/// On WS and IS it equals `tile-skip`; on OS it skips less.
#[derive(Debug)]
struct ColumnSkip;

impl PolicyModel for ColumnSkip {
    fn name(&self) -> &'static str {
        "column-skip"
    }

    fn gate_view(&self) -> GateView {
        GateView::Folds
    }

    fn inactive_slots(&self) -> SlotCharge {
        SlotCharge::ClockGated
    }

    fn runs_every_fold(&self, gates: &GateSummary) -> bool {
        gates.columns().iter().all(|c| c.active > 0)
    }

    fn final_after_base(
        &self,
        gates: &GateSummary,
        _cond: &Mapping,
        fold: &Fold,
        outputs: u64,
    ) -> u64 {
        if gates.column(fold.col_fold).active > 0 {
            0
        } else {
            outputs
        }
    }

    fn run_conditional(&self, pass: &mut CondPass<'_, '_>) {
        for f in pass.map().folds_iter() {
            if pass.gates().column(f.col_fold).active > 0 {
                pass.run_dense(&f);
            }
        }
    }

    fn schedule(
        &self,
        dims: &PassDims,
        rows: u64,
        cols: u64,
        dataflow: cdg_core::Dataflow,
        gate: &dyn Fn(u64, u64) -> bool,
    ) -> PassSchedule {
        let axes = cdg_sim::dataflow::model(dataflow).axes();
        let other = if axes.cols == Axis::M { dims.n } else { dims.m };
        let active_col = |c: u64| {
            (0..other).any(|o| {
                if axes.cols == Axis::M {
                    gate(c, o)
                } else {
                    gate(o, c)
                }
            })
        };
        let mut s = PassSchedule::dense(dims, rows, cols, dataflow);
        s.folds.retain(|f| f.cols.iter().any(active_col));
        s
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(120))]

    #[test]
    fn a_policy_defined_outside_the_crate_runs_in_all_three_models(
        (c, h, n, k, s, p) in (2u64..=6, 1u64..=7, 1u64..=12, 1u64..=3, 1u64..=2, 0u64..=1),
        partitions in 2u64..=4,
        block in (1u64..=4, 1u64..=3, 1u64..=3),
        density in 0.0f64..=0.6,
        (rows, cols) in (1u64..=6, 1u64..=6),
        df in dataflow(),
        seed in any::<u64>(),
    ) {
        let mut next = lcg(seed);
        let case = gated_case((c, h, n, k, s, p), partitions, block, density, &mut next);
        prop_assume!(case.is_some());
        let (shape, spec, masks) = case.unwrap();
        let gate = gate_fn(&masks, 0);
        let input = FeatureMap::from_fn(c as usize, h as usize, h as usize,
            |_, _, _| (next() % 7) as i64 - 3);
        let weights = Filters::from_fn([n as usize, c as usize, k as usize, k as usize],
            |_, _, _, _| (next() % 7) as i64 - 3);
        let schedule = GatedSchedule::with_policy(&ColumnSkip, &shape, &spec, rows, cols, df, &gate);

        // Functional executor: the values are P + d ⊙ Cond, as under `dense`.
        let array = ArrayShape { rows, cols, dataflow: df };
        let (y, _) = run_gated_layer(&shape, &spec, &input, &weights, &array, &schedule, &gate)
            .unwrap();
        let dense = GatedSchedule::for_policy(SkipPolicy::Dense, &shape, &spec, rows, cols, df, &gate);
        let (y_dense, _) = run_gated_layer(&shape, &spec, &input, &weights, &array, &dense, &gate)
            .unwrap();
        prop_assert_eq!(&y, &y_dense);

        // Stepped engine and fast model: the same folds, cycles, MACs and SRAM traffic.
        let mut arch = ArchConfig::default_with("custom-policy");
        arch.array.rows = rows;
        arch.array.cols = cols;
        arch.array.dataflow = df;
        arch.memory.dram_bandwidth = DramBandwidth::Unlimited;
        arch.sparsity.gather_rows_per_cycle = None;
        let a = im2col(&shape, &input).unwrap();
        let b = filter_matrix(&shape, &weights).unwrap();
        let stepped = run_gated(&a, &b, &arch.array, &schedule, &gate).unwrap();
        prop_assert_eq!(&output_map(&shape, &stepped.output), &y);
        let layer = Layer { shape, gate: Some(spec) };
        let fast = simulate_gated_layer_with(&arch, &layer, &masks, 0, &ColumnSkip).unwrap();
        let t = &fast.totals;
        prop_assert_eq!(t.compute_cycles, stepped.cycles);
        prop_assert_eq!(t.compute_cycles, schedule.cycles(df, rows, cols));
        prop_assert_eq!(t.folds, stepped.folds.len() as u64);
        prop_assert_eq!(t.macs_needed, stepped.macs);
        prop_assert_eq!(t.macs_clock_gated, stepped.macs_clock_gated);
        prop_assert_eq!(t.macs_executed, stepped.macs + stepped.macs_clock_gated);
        prop_assert_eq!(t.sram, stepped.sram);
        // Every output leaves the chip.
        prop_assert!(t.dram.ofmap_write >= t.compulsory.ofmap);

        // Between `tile-skip` (which skips every empty fold) and `dense`.
        let under = |policy: SkipPolicy| {
            let mut a = arch.clone();
            a.sparsity.support = policy;
            cdg_sim::simulate_gated_layer(&a, &layer, &masks, 0).unwrap().totals.cycles
        };
        prop_assert!(under(SkipPolicy::TileSkip) <= t.cycles);
        prop_assert!(t.cycles <= under(SkipPolicy::Dense));
        // With K on the rows a dense fold covers its whole column fold.
        if !cdg_sim::dataflow::model(df).axes().outputs_on_array() {
            prop_assert_eq!(t.cycles, under(SkipPolicy::TileSkip));
        }
    }
}
