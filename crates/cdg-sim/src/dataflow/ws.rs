//! Weight stationary: the window K on the array rows, filters N on the columns, output pixels M
//! streamed. The filter tile is shifted in first; partial sums flow down the columns.

use super::{Axes, Axis, DataflowModel, OutputGroups, TileKey, preloaded_fold_cycles};
use cdg_core::Dataflow;

/// The weight-stationary dataflow (`ws`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Ws;

impl DataflowModel for Ws {
    fn dataflow(&self) -> Dataflow {
        Dataflow::WeightStationary
    }

    fn axes(&self) -> Axes {
        Axes {
            rows: Axis::K,
            cols: Axis::N,
            stream: Axis::M,
        }
    }

    /// 2R + C + T − 2: R cycles to load the filter tile, then the stream.
    fn fold_cycles(&self, rows: u64, cols: u64, t: u64) -> u64 {
        preloaded_fold_cycles(rows, cols, t)
    }

    /// max(T, R): the next filter tile needs R cycles through the load chain.
    fn pipeline_period(&self, rows: u64, t: u64) -> u64 {
        t.max(rows)
    }

    /// The ifmap tile M × K_i: reused across column folds.
    fn ifmap_tile(&self) -> TileKey {
        TileKey::RowFold
    }

    /// The filter tile K_i × N_j: one per fold.
    fn filter_tile(&self) -> TileKey {
        TileKey::Fold
    }

    fn output_groups(&self) -> OutputGroups {
        OutputGroups::PerColumnFold
    }

    /// 2R + 2C + T − 3: SCALE-Sim's WS code counts C − 1 more cycles than it simulates.
    fn scalesim_fold_cycles(&self, rows: u64, cols: u64, t: u64) -> u64 {
        2 * rows + 2 * cols + t - 3
    }

    fn scalesim_extra_ofmap_writes(&self, _folds: u64, _rows: u64, _cols: u64) -> u64 {
        0
    }
}
