//! Mapping a GEMM onto the PE array (docs/model.md §2; SCALE-Sim v3.0.0): the dataflow's
//! [`Axes`] put Sr on the array rows, Sc on the columns and stream T, giving F_r = ⌈Sr/R⌉ row
//! folds and F_c = ⌈Sc/C⌉ column folds.
//!
//! Folds run one after another, column fold outer, row fold inner. [`Mapping::folds_iter`]
//! lists them with the M, K and N ranges each covers, so skip policies can decide per fold what
//! runs; [`Mapping::tile_slot`] and [`Mapping::group_first`] / [`Mapping::group_last`] apply the
//! dataflow's tile reuse and output accumulation to a fold.

use crate::dataflow::{self, Axes, Axis, DataflowModel, Input, OutputGroups, TileKey};
use cdg_core::{Cycles, Dataflow, GemmDims};

/// A half-open index range `[start, end)` of one GEMM dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: u64,
    pub end: u64,
}

impl Span {
    pub const fn new(start: u64, end: u64) -> Self {
        Self { start, end }
    }

    /// `[0, n)`.
    pub const fn all(n: u64) -> Self {
        Self { start: 0, end: n }
    }

    pub const fn len(&self) -> u64 {
        self.end - self.start
    }

    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// One fold: the part of the GEMM the array computes between two reloads of its stationary
/// operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fold {
    /// Position in execution order (column fold outer, row fold inner).
    pub index: u64,
    /// Row-fold index `i` in `0..F_r`.
    pub row_fold: u64,
    /// Column-fold index `j` in `0..F_c`.
    pub col_fold: u64,
    /// The Sr range mapped onto array rows (at most R long).
    pub rows: Span,
    /// The Sc range mapped onto array columns (at most C long).
    pub cols: Span,
    /// Output pixels (GEMM rows) this fold touches.
    pub m: Span,
    /// Window elements (reduction dimension) this fold touches.
    pub k: Span,
    /// Filters (GEMM columns) this fold touches.
    pub n: Span,
}

/// A GEMM mapped onto an R×C array with one dataflow.
///
/// Contract: `row_folds · col_folds` folds, each streaming `t` steps; [`Mapping::fold`] covers
/// every (m, k, n) of the GEMM exactly once over all folds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub dataflow: Dataflow,
    /// The dataflow's axes (rows, columns, stream).
    pub axes: Axes,
    /// Array rows R.
    pub rows: u64,
    /// Array columns C.
    pub cols: u64,
    pub gemm: GemmDims,
    /// Extent mapped onto array rows.
    pub sr: u64,
    /// Extent mapped onto array columns.
    pub sc: u64,
    /// Extent streamed through the array in each fold.
    pub t: u64,
    /// F_r = ⌈Sr/R⌉.
    pub row_folds: u64,
    /// F_c = ⌈Sc/C⌉.
    pub col_folds: u64,
    ifmap_tile: TileKey,
    filter_tile: TileKey,
    groups: OutputGroups,
    /// Cycles of a full fold (streaming `t` steps): the dataflow's, kept here because every
    /// fold of the memory model asks.
    full_fold_cycles: u64,
    /// Which axis lies on the rows, the columns and the stream.
    layout: Layout,
}

/// The six ways to lay M, K and N on (rows, columns, stream), named in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Mnk,
    Nmk,
    Knm,
    Kmn,
    Mkn,
    Nkm,
}

impl Layout {
    fn of(axes: Axes) -> Self {
        match axes.as_array() {
            [Axis::M, Axis::N, _] => Layout::Mnk,
            [Axis::N, Axis::M, _] => Layout::Nmk,
            [Axis::K, Axis::N, _] => Layout::Knm,
            [Axis::K, Axis::M, _] => Layout::Kmn,
            [Axis::M, Axis::K, _] => Layout::Mkn,
            [Axis::N, Axis::K, _] | [_, _, _] => Layout::Nkm,
        }
    }

    /// (m, k, n) of the spans on the rows, the columns and the stream.
    #[inline]
    fn mkn(self, rows: Span, cols: Span, stream: Span) -> (Span, Span, Span) {
        match self {
            Layout::Mnk => (rows, stream, cols),
            Layout::Nmk => (cols, stream, rows),
            Layout::Knm => (stream, rows, cols),
            Layout::Kmn => (cols, rows, stream),
            Layout::Mkn => (rows, cols, stream),
            Layout::Nkm => (stream, cols, rows),
        }
    }
}

impl Mapping {
    /// Maps `gemm` onto a `rows × cols` array. All sizes must be at least 1.
    pub fn new(dataflow: Dataflow, rows: u64, cols: u64, gemm: GemmDims) -> Self {
        debug_assert!(rows > 0 && cols > 0 && gemm.m > 0 && gemm.k > 0 && gemm.n > 0);
        let unit = dataflow::model(dataflow);
        let axes = unit.axes();
        let extent = |a: Axis| Axes::extent(a, gemm.m, gemm.k, gemm.n);
        let (sr, sc, t) = (extent(axes.rows), extent(axes.cols), extent(axes.stream));
        Self {
            dataflow,
            axes,
            rows,
            cols,
            gemm,
            sr,
            sc,
            t,
            row_folds: sr.div_ceil(rows),
            col_folds: sc.div_ceil(cols),
            ifmap_tile: unit.ifmap_tile(),
            filter_tile: unit.filter_tile(),
            groups: unit.output_groups(),
            full_fold_cycles: unit.fold_cycles(rows, cols, t),
            layout: Layout::of(axes),
        }
    }

    /// The dataflow's unit.
    pub fn unit(&self) -> &'static dyn DataflowModel {
        dataflow::model(self.dataflow)
    }

    /// F_r · F_c.
    pub fn folds(&self) -> u64 {
        self.row_folds * self.col_folds
    }

    /// Cycles of one fold that streams `t` steps ([`DataflowModel::fold_cycles`]).
    #[inline]
    pub fn fold_cycles_for(&self, t: u64) -> Cycles {
        Cycles(if t == self.t {
            self.full_fold_cycles
        } else {
            self.unit().fold_cycles(self.rows, self.cols, t)
        })
    }

    /// Cycles of one full fold of this mapping.
    pub fn cycles_per_fold(&self) -> Cycles {
        Cycles(self.full_fold_cycles)
    }

    /// Cycles a fold streaming `t` steps keeps the array busy before the next overlapped fold
    /// can start ([`DataflowModel::pipeline_period`]: OS T, WS/IS max(T, R)).
    #[inline]
    pub fn pipeline_period(&self, t: u64) -> u64 {
        self.unit().pipeline_period(self.rows, t)
    }

    /// Compute cycles charged to a fold streaming `t` steps with `array.overlap_folds` when
    /// `prev` is the stream length of the fold before it in the same pass (`None` for the first
    /// fold of a layer or of a pass that continues an earlier pass's partial sums, which starts
    /// only when the previous fold has finished).
    ///
    /// Charges are differences of finishing times: a fold starts one pipeline period after the
    /// previous one (the cycle-stepped engine's timing, docs/model.md §2), so its charge is
    /// period(prev) + full(t) − full(prev), and a layer's charges add up to
    /// [`schedule::overlapped_cycles`](crate::schedule::overlapped_cycles) of its folds.
    #[inline]
    pub fn overlapped_fold_cycles(&self, prev: Option<u64>, t: u64) -> Cycles {
        let full = self.fold_cycles_for(t).get();
        match prev {
            None => Cycles(full),
            Some(p) => {
                let prev_full = self.fold_cycles_for(p).get();
                // full(prev) − period(prev) ≤ full(t) for t ≥ 1, so this never saturates.
                Cycles((full + self.pipeline_period(p)).saturating_sub(prev_full))
            }
        }
    }

    /// L, the stall-free cycles of the whole mapping: F_r·F_c·per_fold, or with `overlap` the
    /// engine's overlapped time (F − 1)·period(T) + per_fold. `None` on u64 overflow.
    pub fn stall_free_cycles(&self, overlap: bool) -> Option<Cycles> {
        let folds = self.row_folds.checked_mul(self.col_folds)?;
        if overlap && folds > 0 {
            let period = self.pipeline_period(self.t).checked_mul(folds - 1)?;
            period.checked_add(self.full_fold_cycles).map(Cycles)
        } else {
            self.cycles_per_fold().checked_mul(folds)
        }
    }

    /// Fold number `index` in execution order (column fold outer, row fold inner).
    pub fn fold(&self, index: u64) -> Fold {
        debug_assert!(index < self.folds());
        self.fold_at(index % self.row_folds, index / self.row_folds)
    }

    /// The fold at row fold `i` and column fold `j`.
    #[inline]
    pub fn fold_at(&self, i: u64, j: u64) -> Fold {
        let rows = Span::new(i * self.rows, ((i + 1) * self.rows).min(self.sr));
        let cols = Span::new(j * self.cols, ((j + 1) * self.cols).min(self.sc));
        let (m, k, n) = self.layout.mkn(rows, cols, Span::all(self.t));
        Fold {
            index: j * self.row_folds + i,
            row_fold: i,
            col_fold: j,
            rows,
            cols,
            m,
            k,
            n,
        }
    }

    /// Every fold in execution order.
    pub fn folds_iter(&self) -> FoldIter<'_> {
        FoldIter {
            map: self,
            i: 0,
            j: 0,
        }
    }

    /// The dataflow's tile key of `input`.
    #[inline]
    pub fn tile_key(&self, input: Input) -> TileKey {
        match input {
            Input::Ifmap => self.ifmap_tile,
            Input::Filter => self.filter_tile,
        }
    }

    /// Which tile of `input` fold `f` reads, in `0..tile_slots(input)`: folds with equal slots
    /// read equal data (the dataflow's [`TileKey`]).
    #[inline]
    pub fn tile_slot(&self, input: Input, f: &Fold) -> u64 {
        match self.tile_key(input) {
            TileKey::RowFold => f.row_fold,
            TileKey::ColFold => f.col_fold,
            TileKey::Fold => f.index,
        }
    }

    /// How many distinct tiles of `input` the folds read.
    #[inline]
    pub fn tile_slots(&self, input: Input) -> u64 {
        match self.tile_key(input) {
            TileKey::RowFold => self.row_folds,
            TileKey::ColFold => self.col_folds,
            TileKey::Fold => self.folds(),
        }
    }

    /// The GEMM elements of `input` that fold `f` reads: M×K of the ifmap, K×N of the filter.
    #[inline]
    pub fn tile_elems(&self, input: Input, f: &Fold) -> u64 {
        match input {
            Input::Ifmap => f.m.len() * f.k.len(),
            Input::Filter => f.k.len() * f.n.len(),
        }
    }

    /// Whether fold `f` is the first of its output accumulation group (no partial sums of this
    /// pass to add onto).
    #[inline]
    pub fn group_first(&self, f: &Fold) -> bool {
        match self.groups {
            OutputGroups::PerFold => true,
            OutputGroups::PerColumnFold => f.row_fold == 0,
        }
    }

    /// Whether fold `f` is the last of its output accumulation group (its outputs are complete
    /// for this pass).
    #[inline]
    pub fn group_last(&self, f: &Fold) -> bool {
        match self.groups {
            OutputGroups::PerFold => true,
            OutputGroups::PerColumnFold => f.row_fold + 1 == self.row_folds,
        }
    }

    /// Mean over folds of (rows used · columns used)/(R·C): Sr·Sc/(F_r·F_c·R·C).
    pub fn mapping_efficiency(&self) -> f64 {
        (self.sr as f64 * self.sc as f64)
            / (self.folds() as f64 * self.rows as f64 * self.cols as f64)
    }
}

/// The folds of a [`Mapping`] in execution order (see [`Mapping::folds_iter`]).
#[derive(Debug, Clone)]
pub struct FoldIter<'a> {
    map: &'a Mapping,
    i: u64,
    j: u64,
}

impl Iterator for FoldIter<'_> {
    type Item = Fold;

    fn next(&mut self) -> Option<Fold> {
        if self.j >= self.map.col_folds {
            return None;
        }
        let fold = self.map.fold_at(self.i, self.j);
        self.i += 1;
        if self.i == self.map.row_folds {
            self.i = 0;
            self.j += 1;
        }
        Some(fold)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.map.col_folds - self.j.min(self.map.col_folds)) * self.map.row_folds
            - if self.j < self.map.col_folds {
                self.i
            } else {
                0
            };
        let left = usize::try_from(left).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

/// Static N:M weight sparsity (n non-zeros in every block of m consecutive window elements),
/// as SCALE-Sim v3 models it: weight-stationary only, the stationary filter is stored
/// compressed, so the K rows shrink to [`NmSparsity::compressed_k`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NmSparsity {
    pub n: u64,
    pub m: u64,
}

impl NmSparsity {
    /// Kept window elements: n per full block of m, and min(n, r) of a final partial block of r.
    pub fn compressed_k(&self, k: u64) -> u64 {
        (k / self.m) * self.n + (k % self.m).min(self.n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_cover_the_gemm_once() {
        let g = GemmDims {
            m: 37,
            k: 19,
            n: 11,
        };
        for df in Dataflow::ALL {
            let map = Mapping::new(df, 4, 5, g);
            let mut covered = 0;
            for f in map.folds_iter() {
                covered += f.m.len() * f.k.len() * f.n.len();
            }
            assert_eq!(covered, g.m * g.k * g.n, "{df}");
        }
    }

    #[test]
    fn iteration_order_is_column_fold_outer() {
        let map = Mapping::new(
            Dataflow::WeightStationary,
            4,
            4,
            GemmDims { m: 5, k: 9, n: 6 },
        );
        let order: Vec<_> = map.folds_iter().map(|f| (f.row_fold, f.col_fold)).collect();
        assert_eq!(order, [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]);
        for (x, f) in map.folds_iter().enumerate() {
            assert_eq!(f, map.fold(x as u64));
        }
        assert_eq!(map.folds_iter().size_hint(), (6, Some(6)));
    }

    #[test]
    fn nm_compression() {
        let nm = NmSparsity { n: 2, m: 4 };
        assert_eq!(nm.compressed_k(2304), 1152);
        assert_eq!(nm.compressed_k(27), 14);
        assert_eq!(nm.compressed_k(1), 1);
    }
}
