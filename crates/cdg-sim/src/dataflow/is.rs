//! Input stationary: the window K on the array rows, output pixels M on the columns, filters N
//! streamed. The ifmap tile is shifted in first; partial sums flow down the columns.

use super::{Axes, Axis, DataflowModel, OutputGroups, TileKey, preloaded_fold_cycles};
use cdg_core::Dataflow;

/// The input-stationary dataflow (`is`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Is;

impl DataflowModel for Is {
    fn dataflow(&self) -> Dataflow {
        Dataflow::InputStationary
    }

    fn axes(&self) -> Axes {
        Axes {
            rows: Axis::K,
            cols: Axis::M,
            stream: Axis::N,
        }
    }

    /// 2R + C + T − 2: R cycles to load the ifmap tile, then the stream.
    fn fold_cycles(&self, rows: u64, cols: u64, t: u64) -> u64 {
        preloaded_fold_cycles(rows, cols, t)
    }

    /// max(T, R): the next ifmap tile needs R cycles through the load chain.
    fn pipeline_period(&self, rows: u64, t: u64) -> u64 {
        t.max(rows)
    }

    /// The ifmap tile K_i × M_j: one per fold.
    fn ifmap_tile(&self) -> TileKey {
        TileKey::Fold
    }

    /// The filter tile K_i × N: reused across column folds.
    fn filter_tile(&self) -> TileKey {
        TileKey::RowFold
    }

    fn output_groups(&self) -> OutputGroups {
        OutputGroups::PerColumnFold
    }

    /// 2R + 2C + T − 3: SCALE-Sim's IS code counts C − 1 more cycles than it simulates.
    fn scalesim_fold_cycles(&self, rows: u64, cols: u64, t: u64) -> u64 {
        2 * rows + 2 * cols + t - 3
    }

    fn scalesim_extra_ofmap_writes(&self, _folds: u64, _rows: u64, _cols: u64) -> u64 {
        0
    }
}
