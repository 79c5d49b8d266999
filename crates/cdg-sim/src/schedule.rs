//! Explicit schedules: the folds a pass runs, index by index, shared by the functional executor
//! ([`crate::functional`]) and the cycle-stepped engine ([`crate::reference`]); the fast model
//! produces the same folds without materialising them (docs/model.md §4, §9).
//!
//! A layer is lowered to an im2col GEMM (docs/model.md §1): A = M×K ifmap, B = K×N filter, with
//! output pixel (h, w) at row m = h·W_out + w, filter n at column n, and the window index
//! k = c·kh·kw + dy·kw + dx (channel-major, so the base channels of a gated layer are the first
//! K_base = kh·kw·base_channels columns of A).
//!
//! A [`PassSchedule`] is the ordered list of [`PlannedFold`]s one GEMM pass executes on an R×C
//! array. A fold names, for each of the three GEMM axes, the indices it covers ([`Indices`]): on
//! the array rows, on the array columns and on the stream, whose meaning is the dataflow's
//! [`Axes`].
//!
//! A fold computes, for every output (m, n) it covers, the partial sum over its k indices and
//! adds it onto the stored output (the first contribution to an output starts from zero). In a
//! gated (conditional) fold, outputs whose gate is off are clock-gated: they receive nothing.
//! A [`GatedSchedule`] is a base pass (k < K_base, ungated) followed by a conditional pass
//! (k ≥ K_base, gated) whose folds the skip policy picks (`GatedSchedule::for_policy`, in
//! [`crate::policy`]); [`PlannedFold::cycles`] gives the stall-free per-fold time all three
//! models use.

pub use crate::dataflow::Axis;
use crate::dataflow::{self, Axes};
use crate::mapping::{Fold, Mapping, Span};
use cdg_core::{Cycles, Dataflow, GateSpec, LayerMasks, LayerShape};

/// Indices along one GEMM axis, in execution order: a contiguous range (dense folds) or an
/// explicit list (compacted folds).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Indices {
    /// `start..end`.
    Range { start: u64, end: u64 },
    /// Explicit indices, each used once.
    List(Vec<u64>),
}

impl Indices {
    pub fn range(start: u64, end: u64) -> Self {
        Self::Range { start, end }
    }

    pub fn len(&self) -> u64 {
        match self {
            Self::Range { start, end } => end.saturating_sub(*start),
            Self::List(v) => v.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th index (`i < len`).
    pub fn at(&self, i: u64) -> u64 {
        match self {
            Self::Range { start, .. } => start + i,
            Self::List(v) => v[i as usize],
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.len()).map(move |i| self.at(i))
    }

    /// Chunks of `size` indices, in order (ranges stay ranges).
    pub fn chunks(&self, size: u64) -> Vec<Indices> {
        let size = size.max(1);
        match self {
            Self::Range { start, end } => (*start..*end)
                .step_by(size as usize)
                .map(|s| Indices::range(s, (s + size).min(*end)))
                .collect(),
            Self::List(v) => v
                .chunks(size as usize)
                .map(|c| Indices::List(c.to_vec()))
                .collect(),
        }
    }
}

/// One fold: the GEMM indices on the array rows, on the array columns and on the stream (their
/// axes depend on the dataflow). `rows.len() ≤ R` and `cols.len() ≤ C`; unused PEs idle, and
/// the fold still takes a full fold's time (statically scheduled array, as SCALE-Sim).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlannedFold {
    pub rows: Indices,
    pub cols: Indices,
    pub steps: Indices,
}

impl PlannedFold {
    /// The span holding `axis` under `dataflow`.
    pub fn span(&self, dataflow: Dataflow, axis: Axis) -> &Indices {
        self.span_in(dataflow::model(dataflow).axes(), axis)
    }

    /// The span holding `axis` when the array holds `axes`.
    pub fn span_in(&self, axes: Axes, axis: Axis) -> &Indices {
        if axis == axes.rows {
            &self.rows
        } else if axis == axes.cols {
            &self.cols
        } else {
            &self.steps
        }
    }

    /// Stall-free time of this fold on an R×C array under `dataflow`, with T = `steps.len()`
    /// (docs/model.md §2).
    pub fn cycles(&self, dataflow: Dataflow, rows: u64, cols: u64) -> Cycles {
        Cycles(dataflow::model(dataflow).fold_cycles(rows, cols, self.steps.len()))
    }

    /// The fold `fold` of the fast model's dense [`Mapping`], as a planned fold (its Sr and Sc
    /// ranges on the array, the whole streamed axis).
    pub fn from_mapping(mapping: &Mapping, fold: &Fold) -> Self {
        let steps = match mapping.axes.stream {
            Axis::M => fold.m,
            Axis::K => fold.k,
            Axis::N => fold.n,
        };
        Self {
            rows: Indices::range(fold.rows.start, fold.rows.end),
            cols: Indices::range(fold.cols.start, fold.cols.end),
            steps: Indices::range(steps.start, steps.end),
        }
    }

    /// Multiply-accumulate slots the fold occupies with real operands
    /// (`rows.len() · cols.len() · steps.len()`).
    pub fn mac_slots(&self) -> u64 {
        self.rows.len() * self.cols.len() * self.steps.len()
    }

    /// The outputs (m, n) this fold covers, M-axis major.
    pub fn outputs(&self, dataflow: Dataflow) -> impl Iterator<Item = (u64, u64)> + '_ {
        let axes = dataflow::model(dataflow).axes();
        let ms = self.span_in(axes, Axis::M);
        let ns = self.span_in(axes, Axis::N);
        ms.iter().flat_map(move |m| ns.iter().map(move |n| (m, n)))
    }
}

/// The GEMM extent of one pass: all M output pixels, all N filters, and the window indices
/// `k_start..k_end` this pass covers (the whole window for an ungated layer; `0..K_base` or
/// `K_base..K` for the two passes of a gated one).
///
/// A grouped layer (`groups` = G > 1, docs/model.md §1) is the block-diagonal GEMM
/// M × G·K_g × N: `n` counts all filters, `k_group` is K_g, and the pass covers window indices
/// `k_start..k_end` *of every group*, i.e. the global indices g·K_g + k for k in that range.
/// For G = 1, `k_group` is not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PassDims {
    pub m: u64,
    pub n: u64,
    pub k_start: u64,
    pub k_end: u64,
    /// Groups G (1: a plain GEMM).
    pub groups: u64,
    /// K_g, the window of one group (the stride of groups along the global K).
    pub k_group: u64,
}

impl PassDims {
    /// A pass of an ungrouped GEMM.
    pub fn plain(m: u64, n: u64, k_start: u64, k_end: u64) -> Self {
        Self {
            m,
            n,
            k_start,
            k_end,
            groups: 1,
            k_group: k_end,
        }
    }

    /// The indices of `axis` this pass covers (for a grouped pass, K lists every group's).
    pub fn axis(&self, axis: Axis) -> Indices {
        match axis {
            Axis::M => Indices::range(0, self.m),
            Axis::N => Indices::range(0, self.n),
            Axis::K if self.groups == 1 => Indices::range(self.k_start, self.k_end),
            Axis::K => self.global_k(Span::all(self.groups * self.pass_k())),
        }
    }

    /// Window indices of one group in this pass.
    pub fn pass_k(&self) -> u64 {
        self.k_end.saturating_sub(self.k_start)
    }

    /// The pass as a [`Mapping`] on an `rows × cols` array: the block-diagonal GEMM
    /// M × G·(k_end − k_start) × N in pass-local K (local index g·(k_end − k_start) + k is
    /// global g·K_g + k_start + k).
    pub fn mapping(&self, dataflow: Dataflow, rows: u64, cols: u64) -> Mapping {
        Mapping::grouped(
            dataflow,
            rows,
            cols,
            cdg_core::GemmDims {
                m: self.m,
                k: self.groups * self.pass_k(),
                n: self.n,
            },
            self.groups,
        )
    }

    /// The global K indices of a span of pass-local ones.
    pub fn global_k(&self, local: Span) -> Indices {
        let kp = self.pass_k();
        if self.groups == 1 || (self.k_start == 0 && kp == self.k_group) {
            return Indices::range(self.k_start + local.start, self.k_start + local.end);
        }
        Indices::List(
            (local.start..local.end)
                .map(|l| (l / kp) * self.k_group + self.k_start + l % kp)
                .collect(),
        )
    }

    /// The planned fold of dense fold `f` of this pass's [`PassDims::mapping`] (global K).
    pub fn planned(&self, map: &Mapping, f: &Fold) -> PlannedFold {
        let span = |axis: Axis| -> Indices {
            let s = match axis {
                Axis::M => f.m,
                Axis::K => return self.global_k(f.k),
                Axis::N => f.n,
            };
            Indices::range(s.start, s.end)
        };
        PlannedFold {
            rows: span(map.axes.rows),
            cols: span(map.axes.cols),
            steps: span(map.axes.stream),
        }
    }
}

/// The ordered folds of one GEMM pass.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PassSchedule {
    pub folds: Vec<PlannedFold>,
}

impl PassSchedule {
    /// Every fold of the pass: F_r·F_c folds, column folds outer, row folds inner, each streaming
    /// the whole T axis.
    pub fn dense(dims: &PassDims, rows: u64, cols: u64, dataflow: Dataflow) -> Self {
        if dims.groups > 1 {
            // The live folds of the block-diagonal GEMM (docs/model.md §2).
            if dims.m == 0 || dims.n == 0 || dims.pass_k() == 0 {
                return Self::default();
            }
            let map = dims.mapping(dataflow, rows, cols);
            return Self {
                folds: map.folds_iter().map(|f| dims.planned(&map, &f)).collect(),
            };
        }
        let axes = dataflow::model(dataflow).axes();
        let steps = dims.axis(axes.stream);
        let (on_rows, on_cols) = (dims.axis(axes.rows), dims.axis(axes.cols));
        let mut folds = Vec::new();
        if on_rows.is_empty() || on_cols.is_empty() || steps.is_empty() {
            return Self { folds };
        }
        for c in on_cols.chunks(cols) {
            for r in on_rows.chunks(rows) {
                folds.push(PlannedFold {
                    rows: r,
                    cols: c.clone(),
                    steps: steps.clone(),
                });
            }
        }
        Self { folds }
    }

    /// Σ of [`PlannedFold::cycles`]: the stall-free time of the pass with folds run back to back.
    pub fn cycles(&self, dataflow: Dataflow, rows: u64, cols: u64) -> Cycles {
        self.folds
            .iter()
            .map(|f| f.cycles(dataflow, rows, cols))
            .sum()
    }

    /// Number of folds.
    pub fn len(&self) -> usize {
        self.folds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.folds.is_empty()
    }
}

/// Stall-free cycles of `folds` run back to back with `array.overlap_folds`, as the cycle-stepped
/// engine ([`crate::reference`]) realises them: each fold starts one
/// [`pipeline_period`](crate::dataflow::DataflowModel::pipeline_period) after the previous
/// one (OS: T_f; WS/IS: max(T_f, R), because the next fold's stationary operands take R cycles
/// through the load chain and its partial sums must leave the array first), and the last fold
/// takes its full time. The fast model's overlap saving (R + C − 2, plus R for WS/IS, per fold
/// after the first) is this exactly when every T_f ≥ R. The engine can take longer only when a
/// fold accumulates onto an output the previous fold has not yet written (gated schedules;
/// never for dense ones).
pub fn overlapped_cycles<'a>(
    folds: impl IntoIterator<Item = &'a PlannedFold>,
    dataflow: Dataflow,
    rows: u64,
    cols: u64,
) -> Cycles {
    let unit = dataflow::model(dataflow);
    let mut total = 0;
    let mut last = None;
    for f in folds {
        if let Some(t) = last {
            total += unit.pipeline_period(rows, t);
        }
        last = Some(f.steps.len());
    }
    Cycles(last.map_or(0, |t| total + unit.fold_cycles(rows, cols, t)))
}

/// The schedule of a gated layer: the base pass (k < K_base, never gated) to completion, then
/// the conditional pass (k ≥ K_base) accumulating onto the stored partial sums where the gate is
/// on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GatedSchedule {
    pub base: PassSchedule,
    pub cond: PassSchedule,
}

impl GatedSchedule {
    /// Stall-free cycles of both passes run back to back.
    pub fn cycles(&self, dataflow: Dataflow, rows: u64, cols: u64) -> Cycles {
        self.base.cycles(dataflow, rows, cols) + self.cond.cycles(dataflow, rows, cols)
    }
}

/// `[base, cond]` pass extents of `layer` gated by `spec` (for a grouped layer, each group's
/// first `base_channels` channels, then the rest of each group).
pub fn split_dims(layer: &LayerShape, spec: &GateSpec) -> [PassDims; 2] {
    let g = layer.group_gemm();
    let k_base = layer.window_for(spec.base_channels);
    let pass = |k_start, k_end| PassDims {
        m: g.m,
        n: layer.out_channels(),
        k_start,
        k_end,
        groups: layer.groups(),
        k_group: g.k,
    };
    [pass(0, k_base), pass(k_base, g.k)]
}

/// The whole-window pass of an ungated layer.
pub fn layer_dims(layer: &LayerShape) -> PassDims {
    let g = layer.group_gemm();
    PassDims {
        m: g.m,
        n: layer.out_channels(),
        k_start: 0,
        k_end: g.k,
        groups: layer.groups(),
        k_group: g.k,
    }
}

/// The expanded gate g(m, n) of one sample of a layer: output pixel m = oh·W_out + ow, filter n.
pub fn gate_fn(masks: &LayerMasks, sample: usize) -> impl Fn(u64, u64) -> bool + '_ {
    let wo = masks.out_shape()[2];
    move |m, n| masks.gate_at(sample, n, m / wo, m % wo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_schedule_orders_column_folds_outer() {
        let dims = PassDims::plain(5, 3, 0, 4);
        let s = PassSchedule::dense(&dims, 2, 2, Dataflow::OutputStationary);
        // F_r = 3 (m), F_c = 2 (n).
        assert_eq!(s.len(), 6);
        assert_eq!(s.folds[0].rows, Indices::range(0, 2));
        assert_eq!(s.folds[1].rows, Indices::range(2, 4));
        assert_eq!(s.folds[2].rows, Indices::range(4, 5));
        assert_eq!(s.folds[3].cols, Indices::range(2, 3));
        assert_eq!(
            s.cycles(Dataflow::OutputStationary, 2, 2),
            Cycles(6 * (4 + 2))
        );
    }

    #[test]
    fn chunks_keep_order_and_kind() {
        assert_eq!(
            Indices::range(3, 8).chunks(2),
            [
                Indices::range(3, 5),
                Indices::range(5, 7),
                Indices::range(7, 8)
            ]
        );
        assert_eq!(
            Indices::List(vec![9, 2, 4]).chunks(2),
            [Indices::List(vec![9, 2]), Indices::List(vec![4])]
        );
        assert!(Indices::range(4, 4).chunks(3).is_empty());
    }
}
