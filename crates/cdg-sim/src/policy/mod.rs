//! Skip policies (`sparsity.support`, docs/model.md §5): what the conditional pass of a gated
//! layer runs. Each policy is one unit (`dense.rs`, `clock_gate.rs`, `tile_skip.rs`,
//! `compact.rs`) implementing [`PolicyModel`]; [`model`] is the one place that turns the
//! config's [`SkipPolicy`] into its unit.
//!
//! A gated layer runs a base pass (K_base = kh·kw·base_channels) to completion, then a
//! conditional pass (K_cond = K − K_base) over the same M×N outputs that adds onto the stored
//! partial sums where the gate is on. The base pass always runs every fold; the policy decides
//! which folds of the conditional pass run, with which rows or streamed indices, and how the
//! MAC slots of outputs whose gate is off are charged. It says so twice, in one file: for the
//! fast model ([`PolicyModel::run_conditional`], from a [`GateSummary`] of the packed mask) and
//! as an explicit [`PassSchedule`] ([`PolicyModel::schedule`], from the expanded gate) that
//! the functional executor and the stepped engine run. The tests check the two fold by fold.

mod clock_gate;
mod compact;
mod dense;
mod tile_skip;

pub use clock_gate::ClockGate;
pub use compact::Compact;
pub use dense::Dense;
pub use tile_skip::TileSkip;

use crate::dataflow::Input;
pub use crate::gates::{Column, GateSummary, GateView, Pack};
use crate::mapping::{Fold, Mapping};
use crate::memory::TileUse;
use crate::schedule::{GatedSchedule, PassDims, PassSchedule, split_dims};
use crate::stream::{FoldRun, Pass, PassStream};
use cdg_core::{Dataflow, GateSpec, LayerShape, SkipPolicy};

/// The unit of `policy`: the only `match` on [`SkipPolicy`] in the crate.
pub fn model(policy: SkipPolicy) -> &'static dyn PolicyModel {
    match policy {
        SkipPolicy::Dense => &Dense,
        SkipPolicy::ClockGate => &ClockGate,
        SkipPolicy::TileSkip => &TileSkip,
        SkipPolicy::Compact => &Compact,
    }
}

/// How the MAC slots of outputs whose gate is off, in conditional folds that run, are charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlotCharge {
    /// Computed at full cost and discarded at write-back (`energy.mac`).
    Discarded,
    /// Clock-gated (`energy.gated_mac`).
    ClockGated,
}

/// One skip policy. Implementations are zero-sized unit structs in this module's files.
///
/// Contract:
/// - [`schedule`](Self::schedule) and [`run_conditional`](Self::run_conditional) run the same
///   folds in the same order, with the same rows, columns and streamed indices (counted, not
///   listed, in the fast model); every output whose gate is on is covered by exactly one fold
///   of every row fold it needs (so the executed values are P + d ⊙ Cond).
/// - [`final_after_base`](Self::final_after_base) counts the outputs of a base-pass group that
///   no conditional fold touches (each output is made final exactly once).
/// - [`runs_every_fold`](Self::runs_every_fold) is true only when `run_conditional` would run
///   every dense fold exactly as [`PassSchedule::dense`] does and `final_after_base` is 0: the
///   fast model then reuses the layer's mask-independent run.
/// - [`gate_view`](Self::gate_view) asks for everything the other methods read of the
///   [`GateSummary`].
pub trait PolicyModel: Sync + std::fmt::Debug {
    /// The config spelling (`sparsity.support`).
    fn name(&self) -> &'static str;
    /// What the fast model must extract from a sample's gates for this policy.
    fn gate_view(&self) -> GateView;
    /// How MAC slots of outputs whose gate is off, in conditional folds that run, are charged.
    fn inactive_slots(&self) -> SlotCharge;
    /// Whether the conditional pass runs every dense fold for a sample with `gates`.
    fn runs_every_fold(&self, gates: &GateSummary) -> bool;
    /// Of the `outputs` outputs of base fold `fold` (the last fold of its accumulation group),
    /// those no conditional fold touches: they are final after the base pass. `cond` is the
    /// dense mapping of the conditional pass (as [`CondPass::map`] gives `run_conditional`), so
    /// a policy can relate the base fold to the conditional folds it will run, wherever on
    /// the array it places them.
    fn final_after_base(
        &self,
        gates: &GateSummary,
        cond: &Mapping,
        fold: &Fold,
        outputs: u64,
    ) -> u64;
    /// Streams the folds of the conditional pass (fast model).
    fn run_conditional(&self, pass: &mut CondPass<'_, '_>);
    /// Whether `run_conditional` runs every dense fold whatever the gates (the mapper may then
    /// run a batch as the inner loop around each fold, docs/model.md §8).
    fn every_fold_always(&self) -> bool {
        false
    }
    /// Whether the conditional pass may run its folds in either loop order
    /// ([`FoldOrder`](crate::mapping::FoldOrder)); otherwise column fold outer only.
    fn any_fold_order(&self) -> bool {
        true
    }
    /// The explicit folds of the conditional pass over `dims` on a `rows × cols` array, with
    /// `gate(m, n)` the sample's expanded gate.
    fn schedule(
        &self,
        dims: &PassDims,
        rows: u64,
        cols: u64,
        dataflow: Dataflow,
        gate: &dyn Fn(u64, u64) -> bool,
    ) -> PassSchedule;
}

/// The conditional pass of one gated layer and sample, as a policy streams it through the
/// memory model: the pass's dense mapping, the sample's [`GateSummary`], and the ways to run a
/// fold.
#[derive(Debug)]
pub struct CondPass<'s, 'm> {
    stream: &'s mut PassStream,
    pass: &'s mut Pass<'m>,
    gates: &'s GateSummary,
    inactive: u64,
}

impl<'s, 'm> CondPass<'s, 'm> {
    pub(crate) fn new(
        stream: &'s mut PassStream,
        pass: &'s mut Pass<'m>,
        gates: &'s GateSummary,
    ) -> Self {
        Self {
            stream,
            pass,
            gates,
            inactive: 0,
        }
    }

    /// The MAC slots of inactive outputs charged so far.
    pub(crate) fn inactive(&self) -> u64 {
        self.inactive
    }

    /// The dense mapping of the conditional pass (K = K_cond).
    pub fn map(&self) -> &'m Mapping {
        self.pass.map()
    }

    /// The pass's dense folds in the mapper's loop order.
    pub fn folds(&self) -> crate::mapping::FoldIter<'m> {
        self.pass.folds()
    }

    /// `sparsity.gather_rows_per_cycle` of the design (`None`: an ideal gather).
    pub fn gather_rows_per_cycle(&self) -> Option<u64> {
        self.stream.gather_rows_per_cycle()
    }

    /// Array cycles since the gather unit last handed over a unit, carried across the
    /// conditional passes of a layer (a K split does not restart the gather unit).
    pub fn gather_since(&self) -> u64 {
        self.stream.gather_since()
    }

    /// Records the gather unit's state at the end of this conditional pass.
    pub fn set_gather_since(&mut self, since: u64) {
        self.stream.set_gather_since(since);
    }

    /// The sample's gates, reduced as the policy's [`GateView`] asked.
    pub fn gates(&self) -> &'s GateSummary {
        self.gates
    }

    /// Runs every dense fold; the inactive slots are K_cond per output whose gate is off (the
    /// window of one group for a grouped layer).
    pub fn run_every_fold(&mut self) {
        run_every_fold(self.stream, self.pass);
        let map = self.map();
        let outputs = map.gemm.m * map.gemm.n;
        self.inactive += map.gemm.k / map.groups * (outputs - self.gates.active());
    }

    /// Runs dense fold `f` in full; its inactive slots are the real MACs of its outputs whose
    /// gate is off.
    pub fn run_dense(&mut self, f: &Fold) {
        let outputs = f.m.len() * f.n.len();
        self.inactive += real_k(self.map(), f) * (outputs - self.gates.fold_active(f));
        let finalised = if self.map().group_last(f) { outputs } else { 0 };
        self.stream.dense(self.pass, f, finalised);
    }

    /// The tile of `input` dense fold `f` reads (new on its first use in this pass).
    pub fn dense_tile(&mut self, input: Input, f: &Fold) -> TileUse {
        self.pass.dense_tile(input, f)
    }

    /// A tile of gathered rows or columns: `elems` GEMM elements, `new_elems` of them never read
    /// before in this layer.
    pub fn gathered_tile(&mut self, elems: u64, new_elems: u64) -> TileUse {
        self.stream.gathered_tile(elems, new_elems)
    }

    /// Runs one fold as described.
    pub fn run(&mut self, run: &FoldRun) {
        self.stream.push(self.pass, run);
    }

    /// Charges `slots` MAC slots of outputs whose gate is off (see
    /// [`PolicyModel::inactive_slots`]).
    pub fn charge_inactive(&mut self, slots: u64) {
        self.inactive += slots;
    }
}

/// Real MACs per output of fold `f` that a policy charges with the fold: its K span for an
/// ungrouped GEMM. For a grouped one each output has K_g real MACs (its group's window):
/// charged with the fold when the fold holds the output's whole window (K streamed), else
/// with the last fold of the output's accumulation group (K on the rows; policies run or skip
/// a column's row folds together, as their gates are per column).
pub fn real_k(map: &Mapping, f: &Fold) -> u64 {
    if map.groups == 1 {
        f.k.len()
    } else if map.axes.outputs_on_array() || map.group_last(f) {
        map.gemm.k / map.groups
    } else {
        0
    }
}

/// Streams every dense fold of `pass`, each group's outputs final at its last fold.
pub(crate) fn run_every_fold(stream: &mut PassStream, pass: &mut Pass<'_>) {
    let map = pass.map();
    for f in pass.folds() {
        let finalised = if map.group_last(&f) {
            f.m.len() * f.n.len()
        } else {
            0
        };
        stream.dense(pass, &f, finalised);
    }
}

impl PassSchedule {
    /// The folds `policy` keeps for a gated pass over `dims` ([`PolicyModel::schedule`]).
    pub fn for_policy(
        policy: SkipPolicy,
        dims: &PassDims,
        rows: u64,
        cols: u64,
        dataflow: Dataflow,
        gate: impl Fn(u64, u64) -> bool,
    ) -> Self {
        model(policy).schedule(dims, rows, cols, dataflow, &gate)
    }
}

impl GatedSchedule {
    /// The schedule `policy` executes for `layer` gated by `spec`, with `gate(m, n)` the
    /// sample's expanded gate: the dense base pass, then the policy's conditional pass.
    pub fn for_policy(
        policy: SkipPolicy,
        layer: &LayerShape,
        spec: &GateSpec,
        rows: u64,
        cols: u64,
        dataflow: Dataflow,
        gate: impl Fn(u64, u64) -> bool,
    ) -> Self {
        Self::with_policy(model(policy), layer, spec, rows, cols, dataflow, &gate)
    }

    /// [`GatedSchedule::for_policy`] for any policy unit.
    pub fn with_policy(
        policy: &dyn PolicyModel,
        layer: &LayerShape,
        spec: &GateSpec,
        rows: u64,
        cols: u64,
        dataflow: Dataflow,
        gate: &dyn Fn(u64, u64) -> bool,
    ) -> Self {
        let [base, cond] = split_dims(layer, spec);
        Self {
            base: PassSchedule::dense(&base, rows, cols, dataflow),
            cond: policy.schedule(&cond, rows, cols, dataflow, gate),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_is_named_as_configured() {
        for p in SkipPolicy::ALL {
            assert_eq!(model(p).name(), p.as_str());
        }
    }
}
