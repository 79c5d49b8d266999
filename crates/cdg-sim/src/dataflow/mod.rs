//! Dataflows: how a GEMM is laid onto the R×C array. Each dataflow is one unit (`os.rs`,
//! `ws.rs`, `is.rs`, as SCALE-Sim keeps one compute file per dataflow) implementing
//! [`DataflowModel`]; [`model`] is the one place that turns the config's [`Dataflow`] into its
//! unit. See docs/model.md §2 (dataflows and the dense cycle model) and §3 (SCALE-Sim
//! compatibility).
//!
//! | dataflow | array rows | array columns | stream | cycles per fold |
//! |---|---|---|---|---|
//! | os | M | N | K | T + R + C − 2 |
//! | ws | K | N | M | 2R + C + T − 2 |
//! | is | K | M | N | 2R + C + T − 2 |
//!
//! Everything else the models need of a dataflow — which operand stays in the PEs, which axis a
//! skip policy gathers along, how the stepped engine moves operands — follows from its
//! [`Axes`], so the fast model, the schedules and the stepped engine are written once for all
//! dataflows.

mod is;
mod os;
mod ws;

pub use is::Is;
pub use os::Os;
pub use ws::Ws;

use cdg_core::Dataflow;

/// The unit of `dataflow`: the only `match` on [`Dataflow`] in the crate.
pub fn model(dataflow: Dataflow) -> &'static dyn DataflowModel {
    match dataflow {
        Dataflow::OutputStationary => &Os,
        Dataflow::WeightStationary => &Ws,
        Dataflow::InputStationary => &Is,
    }
}

/// A GEMM axis: M output pixels, K window elements (the reduction), N filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Axis {
    M,
    K,
    N,
}

/// One of the two GEMM inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Input {
    /// A, M×K (the im2col ifmap).
    Ifmap,
    /// B, K×N (the filters).
    Filter,
}

impl Input {
    /// The input an axis indexes besides K: M → ifmap, N → filter, K → `None` (both have it).
    pub fn of(axis: Axis) -> Option<Input> {
        match axis {
            Axis::M => Some(Input::Ifmap),
            Axis::N => Some(Input::Filter),
            Axis::K => None,
        }
    }

    /// The other input.
    pub fn other(self) -> Input {
        match self {
            Input::Ifmap => Input::Filter,
            Input::Filter => Input::Ifmap,
        }
    }
}

/// Which GEMM axis lies on the array rows, on the array columns and on the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Axes {
    pub rows: Axis,
    pub cols: Axis,
    pub stream: Axis,
}

impl Axes {
    /// `[rows, cols, stream]`.
    pub const fn as_array(&self) -> [Axis; 3] {
        [self.rows, self.cols, self.stream]
    }

    /// The input that stays in the PEs during a fold (the one the stream axis does not index),
    /// or `None` when the outputs stay (K streams).
    pub fn stationary_input(&self) -> Option<Input> {
        match self.stream {
            Axis::K => None,
            Axis::M => Some(Input::Filter),
            Axis::N => Some(Input::Ifmap),
        }
    }

    /// Whether the outputs occupy the array (rows and columns both index outputs; K streams and
    /// each fold completes its outputs). Otherwise K lies on the rows and partial sums flow down
    /// the columns.
    pub fn outputs_on_array(&self) -> bool {
        self.stream == Axis::K
    }

    /// The output axis (M or N) not on the columns: on the rows when the outputs occupy the
    /// array, else on the stream. A skip policy gathers active work along it (docs/model.md §5).
    pub fn gather_axis(&self) -> Axis {
        if self.outputs_on_array() {
            self.rows
        } else {
            self.stream
        }
    }

    /// The extent of `axis` in a GEMM of `m`, `k`, `n`.
    pub fn extent(axis: Axis, m: u64, k: u64, n: u64) -> u64 {
        match axis {
            Axis::M => m,
            Axis::K => k,
            Axis::N => n,
        }
    }
}

/// Which fold coordinates identify the tile of an input operand a fold reads: folds with equal
/// coordinates read the same tile (equal data). With folds run column fold outer, row fold
/// inner, a tile is first used by the first fold (among those that run) with its coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TileKey {
    /// The row fold: the operand spans the row axis, not the column axis (reused across column
    /// folds).
    RowFold,
    /// The column fold: the operand spans the column axis, not the row axis (reused across row
    /// folds).
    ColFold,
    /// Both: every fold reads its own tile.
    Fold,
}

/// How the outputs of a fold accumulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputGroups {
    /// Each fold completes its outputs (K streams).
    PerFold,
    /// The row folds of one column fold accumulate onto the same outputs (K on the rows): the
    /// group's first fold starts them, its last completes them.
    PerColumnFold,
}

/// One dataflow. Implementations are zero-sized unit structs in this module's files.
///
/// Contract:
/// - [`axes`](Self::axes) puts K on the rows or on the stream, never on the columns (partial
///   sums flow down columns or stay in place); the other two axes are M and N.
/// - [`fold_cycles`](Self::fold_cycles) is the stall-free time of one fold streaming `t ≥ 1`
///   steps on an R×C array, whatever part of the array holds work (the array is statically
///   scheduled); [`pipeline_period`](Self::pipeline_period) is the cycles the stepped engine's
///   pipeline needs between the starts of two overlapped folds (`array.overlap_folds`), never
///   more than a full fold.
/// - [`ifmap_tile`](Self::ifmap_tile), [`filter_tile`](Self::filter_tile) and
///   [`output_groups`](Self::output_groups) agree with the axes: an operand's tile is keyed by
///   the fold coordinates whose axes it spans; outputs accumulate over row folds exactly when K
///   is on the rows (checked for every unit by the tests).
/// - The `scalesim_*` methods hold SCALE-Sim v3.0.0's quirks; they feed only `scalesim_*`
///   columns and `COMPUTE_REPORT.csv` (docs/model.md §3).
pub trait DataflowModel: Sync + std::fmt::Debug {
    /// The config value this unit implements.
    fn dataflow(&self) -> Dataflow;
    /// Which GEMM axis lies on the array rows, the array columns and the stream.
    fn axes(&self) -> Axes;
    /// Stall-free cycles of one fold streaming `t` steps on a `rows × cols` array.
    fn fold_cycles(&self, rows: u64, cols: u64, t: u64) -> u64;
    /// Cycles between the starts of two consecutive overlapped folds in the stepped engine, the
    /// earlier streaming `t` steps.
    fn pipeline_period(&self, rows: u64, t: u64) -> u64;
    /// The ifmap tile a fold reads.
    fn ifmap_tile(&self) -> TileKey;
    /// The filter tile a fold reads.
    fn filter_tile(&self) -> TileKey;
    /// How fold outputs accumulate.
    fn output_groups(&self) -> OutputGroups;
    /// SCALE-Sim's per-fold cycles in its Compute Util (its WS/IS code counts C − 1 more than
    /// it simulates).
    fn scalesim_fold_cycles(&self, rows: u64, cols: u64, t: u64) -> u64;
    /// Ofmap writes SCALE-Sim reports beyond the real ones, for `folds` folds.
    fn scalesim_extra_ofmap_writes(&self, folds: u64, rows: u64, cols: u64) -> u64;
}

/// Fold cycles of the dataflows whose stationary operand is an input: R cycles to shift it in,
/// then the stream skewed over R rows and C columns.
pub(crate) fn preloaded_fold_cycles(rows: u64, cols: u64, t: u64) -> u64 {
    2 * rows + cols + t - 2
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tile key an operand's axes imply under `axes`.
    fn implied_key(axes: Axes, operand_axes: [Axis; 2]) -> TileKey {
        let has = |a: Axis| operand_axes.contains(&a);
        match (has(axes.rows), has(axes.cols)) {
            (true, true) => TileKey::Fold,
            (true, false) => TileKey::RowFold,
            (false, true) => TileKey::ColFold,
            (false, false) => unreachable!("every input operand spans K and one output axis"),
        }
    }

    #[test]
    fn every_unit_keeps_its_contract() {
        for df in Dataflow::ALL {
            let unit = model(df);
            assert_eq!(unit.dataflow(), df);
            let axes = unit.axes();
            let mut all = axes.as_array();
            all.sort_by_key(|a| *a as u8);
            assert_eq!(all, [Axis::M, Axis::K, Axis::N], "{df}");
            assert_ne!(axes.cols, Axis::K, "{df}: K on the columns");
            assert_eq!(
                unit.ifmap_tile(),
                implied_key(axes, [Axis::M, Axis::K]),
                "{df}"
            );
            assert_eq!(
                unit.filter_tile(),
                implied_key(axes, [Axis::K, Axis::N]),
                "{df}"
            );
            let groups = if axes.outputs_on_array() {
                OutputGroups::PerFold
            } else {
                OutputGroups::PerColumnFold
            };
            assert_eq!(unit.output_groups(), groups, "{df}");
            for (r, c, t) in [(1, 1, 1), (4, 7, 3), (16, 16, 100)] {
                let full = unit.fold_cycles(r, c, t);
                assert!(full >= t, "{df}");
                assert!(unit.pipeline_period(r, t) >= t, "{df}");
                assert!(unit.pipeline_period(r, t) <= full, "{df}");
                assert!(unit.scalesim_fold_cycles(r, c, t) >= t, "{df}");
            }
        }
    }
}
