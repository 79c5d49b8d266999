//! `compact`: active work gathered into dense folds. Per column fold j (indices C_j of the
//! column axis) the kept indices A_j of the gather axis are those with the gate on for some
//! c ∈ C_j (docs/model.md §5):
//!
//! - when the outputs occupy the array (OS: gather axis M on the rows), A_j is packed R at a
//!   time, each pack a fold streaming the whole window;
//! - otherwise (WS: gather axis M streamed; IS: gather axis N streamed) every row fold of the
//!   column streams only A_j, and a column with empty A_j is skipped.
//!
//! The gather unit (`rtl/cdg_gather.sv`, docs/model.md §5) lists the kept indices: it scans
//! the column's gather indices `gather_rows_per_cycle` at a time, one unit ahead of the array
//! (a pack of ≤ R rows on OS, the column's whole list on WS and IS), starting each unit when the
//! array takes the previous one; a fold waits ([`GatherClock`]) only when its unit is not ready,
//! so the cost is a start-up per layer plus a stall wherever a fold is shorter than the next
//! unit's scan. The gathered tile (rows of the gather axis's input) reads only the kept indices, and when that input fits on chip only indices
//! never read before come from DRAM. MAC slots of inactive outputs in a kept row are
//! clock-gated.

use super::{CondPass, GateSummary, GateView, PolicyModel, SlotCharge};
use crate::dataflow::{self, Axes, Axis, Input};
use crate::mapping::{Fold, Mapping};
use crate::memory::TileUse;
use crate::schedule::{Indices, PassDims, PassSchedule, PlannedFold};
use crate::stream::FoldRun;
use cdg_core::{Cycles, Dataflow};

/// The `compact` skip policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Compact;

/// The input whose rows compact gathers, and the other one.
fn inputs(axes: Axes) -> (Input, Input) {
    let gathered = Input::of(axes.gather_axis()).unwrap_or(Input::Ifmap);
    (gathered, gathered.other())
}

/// `(ifmap, filter)` from the gathered tile and the other one.
fn assign(gathered: Input, g: TileUse, other: TileUse) -> (TileUse, TileUse) {
    match gathered {
        Input::Ifmap => (g, other),
        Input::Filter => (other, g),
    }
}

/// When the gather unit's next unit (pack or column list) is ready, against the array's
/// timeline: it scans `scanned` indices in ⌈scanned / P⌉ cycles from the moment the array took
/// the previous unit (the conditional pass's start for the first), and the fold that takes the
/// unit waits for what is left of that scan.
#[derive(Debug, Clone, Copy)]
pub struct GatherClock {
    rate: Option<u64>,
    /// Array cycles since the last unit was taken.
    since: u64,
}

impl GatherClock {
    /// A clock for a gather unit examining `rate` indices per cycle (`None`: ideal, never
    /// waits) that has scanned for `since` array cycles since it last handed over a unit (0 at
    /// the first conditional pass; what an earlier conditional pass of the layer left).
    pub fn resume(rate: Option<u64>, since: u64) -> Self {
        Self { rate, since }
    }

    /// Array cycles since the last unit was taken.
    pub fn since(&self) -> u64 {
        self.since
    }

    /// The stall of the fold that takes a unit of `scanned` indices (the unit is then taken).
    pub fn take(&mut self, scanned: u64) -> Cycles {
        let Some(p) = self.rate else {
            return Cycles::ZERO;
        };
        let stall = scanned.div_ceil(p.max(1)).saturating_sub(self.since);
        self.since = 0;
        Cycles(stall)
    }

    /// The array ran a fold of `cycles`.
    pub fn ran(&mut self, cycles: Cycles) {
        self.since = self.since.saturating_add(cycles.get());
    }
}

impl PolicyModel for Compact {
    fn name(&self) -> &'static str {
        "compact"
    }

    fn gate_view(&self) -> GateView {
        GateView::Packed
    }

    fn inactive_slots(&self) -> SlotCharge {
        SlotCharge::ClockGated
    }

    fn runs_every_fold(&self, _gates: &GateSummary) -> bool {
        false
    }

    /// Outputs of gather indices the column does not keep are final after the base pass.
    fn final_after_base(
        &self,
        gates: &GateSummary,
        _cond: &Mapping,
        fold: &Fold,
        outputs: u64,
    ) -> u64 {
        outputs - gates.fold_kept(fold) * fold.cols.len()
    }

    /// Gathers per column fold: the conditional pass runs column fold outer.
    fn any_fold_order(&self) -> bool {
        false
    }

    fn run_conditional(&self, pass: &mut CondPass<'_, '_>) {
        let map = pass.map();
        let gates = pass.gates();
        // Real MACs per output (the window of one group for a grouped layer).
        let k = map.gemm.k / map.groups;
        let grouped_stream_n = map.groups > 1 && map.axes.stream == Axis::N;
        let (gathered, other) = inputs(map.axes);
        // The gather unit runs on from the previous conditional pass of a K split.
        let mut clock = GatherClock::resume(pass.gather_rows_per_cycle(), pass.gather_since());
        for j in 0..map.col_folds {
            let col = gates.column(j);
            if col.kept == 0 {
                continue;
            }
            let first = map.fold_at(0, j);
            let width = first.cols.len();
            if map.axes.outputs_on_array() {
                // Pack the kept rows R at a time; each pack streams the column's window (of
                // the column's groups, for a grouped layer) against the column's tile of the
                // other input.
                let t = map.stream_span(&first).len();
                for pack in gates.packs(j) {
                    let outputs = pack.size * width;
                    let other_tile = pass.dense_tile(other, &first);
                    let g = pass.gathered_tile(pack.size * t, pack.new_kept * t);
                    let (ifmap, filter) = assign(gathered, g, other_tile);
                    pass.charge_inactive(k * (outputs - pack.active));
                    let gather_stall = clock.take(pack.scanned);
                    clock.ran(map.fold_cycles_for(t));
                    pass.run(&FoldRun {
                        fold: first,
                        t,
                        ifmap,
                        filter,
                        outputs,
                        finalised: outputs,
                        gather_stall,
                    });
                }
            } else if grouped_stream_n {
                // Grouped, N streamed (IS): row fold i streams the kept filters of its own
                // groups; each holds min(K_g, |K_i|) real weights in the fold's rows.
                for i in 0..map.row_folds {
                    let f = map.fold_at(i, j);
                    let c = gates.fold_groups(&f);
                    if c.kept == 0 {
                        continue;
                    }
                    let per = f.k.len().min(k);
                    let outputs = c.kept * width;
                    if map.group_last(&f) {
                        pass.charge_inactive(k * (outputs - c.active));
                    }
                    let stationary = pass.dense_tile(other, &f);
                    let g = pass.gathered_tile(per * c.kept, per * c.new_kept);
                    let (ifmap, filter) = assign(gathered, g, stationary);
                    // Each row fold lists the kept filters of its own groups: a unit scanning
                    // the fold's filter span.
                    let gather_stall = clock.take(f.n.len());
                    clock.ran(map.fold_cycles_for(c.kept));
                    pass.run(&FoldRun {
                        fold: f,
                        t: c.kept,
                        ifmap,
                        filter,
                        outputs,
                        finalised: if map.group_last(&f) { outputs } else { 0 },
                        gather_stall,
                    });
                }
            } else {
                // Every row fold keeps its stationary tile K_i × C_j and streams only A_j (a
                // grouped layer's row folds outside the column's groups do not run).
                let outputs = col.kept * width;
                pass.charge_inactive(k * (outputs - col.active));
                // The column's list is one unit, taken by its first row fold.
                let mut unit = Some(col.scanned);
                for i in 0..map.row_folds {
                    let f = map.fold_at(i, j);
                    if !map.is_live(&f) {
                        continue;
                    }
                    let ki = f.k.len();
                    let stationary = pass.dense_tile(other, &f);
                    let g = pass.gathered_tile(ki * col.kept, ki * col.new_kept);
                    let (ifmap, filter) = assign(gathered, g, stationary);
                    let gather_stall = unit.take().map_or(Cycles::ZERO, |u| clock.take(u));
                    clock.ran(map.fold_cycles_for(col.kept));
                    pass.run(&FoldRun {
                        fold: f,
                        t: col.kept,
                        ifmap,
                        filter,
                        outputs,
                        finalised: if map.group_last(&f) { outputs } else { 0 },
                        gather_stall,
                    });
                }
            }
        }
        pass.set_gather_since(clock.since());
    }

    fn schedule(
        &self,
        dims: &PassDims,
        rows: u64,
        cols: u64,
        dataflow: Dataflow,
        gate: &dyn Fn(u64, u64) -> bool,
    ) -> PassSchedule {
        let axes = dataflow::model(dataflow).axes();
        let k = dims.axis(Axis::K);
        let mut folds = Vec::new();
        if k.is_empty() || dims.m == 0 || dims.n == 0 {
            return PassSchedule { folds };
        }
        if dims.groups > 1 {
            return grouped_schedule(dims, rows, cols, dataflow, gate);
        }
        let (col_axis, gather_axis) = (axes.cols, axes.gather_axis());
        // g(o, c) for gather index o and column index c.
        let gate_at = |o: u64, c: u64| match col_axis {
            Axis::M => gate(c, o),
            Axis::N | Axis::K => gate(o, c),
        };
        let extent = dims.axis(gather_axis).len();
        for cj in dims.axis(col_axis).chunks(cols) {
            let active: Vec<u64> = (0..extent)
                .filter(|&o| cj.iter().any(|c| gate_at(o, c)))
                .collect();
            if axes.outputs_on_array() {
                for packed in active.chunks(rows.max(1) as usize) {
                    folds.push(PlannedFold {
                        rows: Indices::List(packed.to_vec()),
                        cols: cj.clone(),
                        steps: k.clone(),
                    });
                }
            } else if !active.is_empty() {
                for ki in k.chunks(rows) {
                    folds.push(PlannedFold {
                        rows: ki,
                        cols: cj.clone(),
                        steps: Indices::List(active.clone()),
                    });
                }
            }
        }
        PassSchedule { folds }
    }
}

/// [`Compact::schedule`] of a grouped pass, over the live folds of its block-diagonal mapping
/// (docs/model.md §5): OS packs the kept rows of each column fold, streaming the column's
/// groups' window; WS streams the column's kept rows through its live row folds; IS streams,
/// through row fold i, the kept filters of the row fold's groups.
fn grouped_schedule(
    dims: &PassDims,
    rows: u64,
    cols: u64,
    dataflow: Dataflow,
    gate: &dyn Fn(u64, u64) -> bool,
) -> PassSchedule {
    let map = dims.mapping(dataflow, rows, cols);
    let axes = map.axes;
    let mut folds = Vec::new();
    let gate_at = |o: u64, c: u64| match axes.cols {
        Axis::M => gate(c, o),
        Axis::N | Axis::K => gate(o, c),
    };
    for j in 0..map.col_folds {
        let first = map.fold_at(0, j);
        let cj = Indices::range(first.cols.start, first.cols.end);
        let keep = |o: u64| cj.iter().any(|c| gate_at(o, c));
        if axes.outputs_on_array() {
            let steps = dims.global_k(first.k);
            let active: Vec<u64> = (0..dims.m).filter(|&o| keep(o)).collect();
            for packed in active.chunks(rows.max(1) as usize) {
                folds.push(PlannedFold {
                    rows: Indices::List(packed.to_vec()),
                    cols: cj.clone(),
                    steps: steps.clone(),
                });
            }
            continue;
        }
        let all: Option<Vec<u64>> =
            (axes.stream == Axis::M).then(|| (0..dims.m).filter(|&o| keep(o)).collect());
        for i in 0..map.row_folds {
            let f = map.fold_at(i, j);
            if !map.is_live(&f) {
                continue;
            }
            let active = match &all {
                Some(a) => a.clone(),
                None => (f.n.start..f.n.end).filter(|&o| keep(o)).collect(),
            };
            if active.is_empty() {
                continue;
            }
            folds.push(PlannedFold {
                rows: dims.global_k(f.k),
                cols: cj.clone(),
                steps: Indices::List(active),
            });
        }
    }
    PassSchedule { folds }
}
