//! `tile-skip`: a dense fold of the conditional pass is skipped when the gate is off on all the
//! outputs it covers (OS M_i × N_j, WS all M × N_j, IS M_j × all N); in kept folds, MAC slots
//! of inactive outputs are clock-gated.

use super::{CondPass, GateSummary, GateView, PolicyModel, SlotCharge};
use crate::mapping::{Fold, Mapping};
use crate::schedule::{PassDims, PassSchedule};
use cdg_core::Dataflow;

/// The `tile-skip` skip policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct TileSkip;

impl PolicyModel for TileSkip {
    fn name(&self) -> &'static str {
        "tile-skip"
    }

    fn gate_view(&self) -> GateView {
        GateView::Folds
    }

    fn inactive_slots(&self) -> SlotCharge {
        SlotCharge::ClockGated
    }

    fn runs_every_fold(&self, gates: &GateSummary) -> bool {
        gates.every_fold_active()
    }

    /// A group whose conditional fold is skipped is final after the base pass.
    fn final_after_base(
        &self,
        gates: &GateSummary,
        _cond: &Mapping,
        fold: &Fold,
        outputs: u64,
    ) -> u64 {
        if gates.fold_active(fold) > 0 {
            0
        } else {
            outputs
        }
    }

    fn run_conditional(&self, pass: &mut CondPass<'_, '_>) {
        for f in pass.folds() {
            if pass.gates().fold_active(&f) > 0 {
                pass.run_dense(&f);
            }
        }
    }

    fn schedule(
        &self,
        dims: &PassDims,
        rows: u64,
        cols: u64,
        dataflow: Dataflow,
        gate: &dyn Fn(u64, u64) -> bool,
    ) -> PassSchedule {
        let mut s = PassSchedule::dense(dims, rows, cols, dataflow);
        s.folds
            .retain(|f| f.outputs(dataflow).any(|(m, n)| gate(m, n)));
        s
    }
}
