//! `clock-gate`: the conditional pass runs every fold; MAC slots of outputs whose gate is off
//! are clock-gated (`energy.gated_mac`). Cycles and traffic are those of `dense`.

use super::{CondPass, GateSummary, GateView, PolicyModel, SlotCharge};
use crate::mapping::{Fold, Mapping};
use crate::schedule::{PassDims, PassSchedule};
use cdg_core::Dataflow;

/// The `clock-gate` skip policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClockGate;

impl PolicyModel for ClockGate {
    fn name(&self) -> &'static str {
        "clock-gate"
    }

    fn gate_view(&self) -> GateView {
        GateView::Totals
    }

    fn inactive_slots(&self) -> SlotCharge {
        SlotCharge::ClockGated
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
