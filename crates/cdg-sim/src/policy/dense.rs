//! `dense`: masks ignored; the conditional pass runs every fold and computes every output, gate
//! on or off, discarding the inactive ones at write-back (full MAC energy).

use super::{CondPass, GateSummary, GateView, PolicyModel, SlotCharge};
use crate::mapping::{Fold, Mapping};
use crate::schedule::{PassDims, PassSchedule};
use cdg_core::Dataflow;

/// The `dense` skip policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dense;

impl PolicyModel for Dense {
    fn name(&self) -> &'static str {
        "dense"
    }

    fn gate_view(&self) -> GateView {
        GateView::Totals
    }

    fn inactive_slots(&self) -> SlotCharge {
        SlotCharge::Discarded
    }

    fn runs_every_fold(&self, _gates: &GateSummary) -> bool {
        true
    }

    fn final_after_base(
        &self,
        _gates: &GateSummary,
        _cond: &Mapping,
        _fold: &Fold,
        _outputs: u64,
    ) -> u64 {
        0
    }

    fn run_conditional(&self, pass: &mut CondPass<'_, '_>) {
        pass.run_every_fold();
    }

    fn every_fold_always(&self) -> bool {
        true
    }

    fn schedule(
        &self,
        dims: &PassDims,
        rows: u64,
        cols: u64,
        dataflow: Dataflow,
        _gate: &dyn Fn(u64, u64) -> bool,
    ) -> PassSchedule {
        PassSchedule::dense(dims, rows, cols, dataflow)
    }
}
