//! Output stationary: output pixels M on the array rows, filters N on the columns, the window K
//! streamed. Each PE accumulates one output in place.

use super::{Axes, Axis, DataflowModel, OutputGroups, TileKey};
use cdg_core::Dataflow;

/// The output-stationary dataflow (`os`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Os;

impl DataflowModel for Os {
    fn dataflow(&self) -> Dataflow {
        Dataflow::OutputStationary
    }

    fn axes(&self) -> Axes {
        Axes {
            rows: Axis::M,
            cols: Axis::N,
            stream: Axis::K,
        }
    }

    /// T + R + C − 2: the stream skewed over R rows and C columns; each accumulator drains
    /// while the next fold starts.
    fn fold_cycles(&self, rows: u64, cols: u64, t: u64) -> u64 {
        t + rows + cols - 2
    }

    /// A fold follows the previous one's last step at PE (0, 0).
    fn pipeline_period(&self, _rows: u64, t: u64) -> u64 {
        t
    }

    /// The ifmap tile M_i × K: reused across column folds.
    fn ifmap_tile(&self) -> TileKey {
        TileKey::RowFold
    }

    /// The filter tile K × N_j: reused across row folds.
    fn filter_tile(&self) -> TileKey {
        TileKey::ColFold
    }

    fn output_groups(&self) -> OutputGroups {
        OutputGroups::PerFold
    }

    fn scalesim_fold_cycles(&self, rows: u64, cols: u64, t: u64) -> u64 {
        self.fold_cycles(rows, cols, t)
    }

    /// SCALE-Sim's OS code writes R + C more ofmap entries per fold than there are outputs.
    fn scalesim_extra_ofmap_writes(&self, folds: u64, rows: u64, cols: u64) -> u64 {
        folds * (rows + cols)
    }
}
