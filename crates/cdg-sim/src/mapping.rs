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
///
/// **Grouped GEMMs** ([`Mapping::grouped`], docs/model.md §1, §2): a layer of G groups is the
/// block-diagonal GEMM M × (G·K_g) × (G·N_g) whose weight (k, n) is non-zero only when k and n
/// belong to the same group. Folds are laid over the whole block-diagonal GEMM as for G = 1;
/// a fold whose K span and N span share no group does no work and is not run
/// ([`Mapping::folds_iter`] skips it), and where the stream is K (N) a fold streams only the
/// K (N) indices of the groups its N (K) span touches. The remaining zero-weight slots of a
/// fold are idle PEs: they take time, not MACs. With G = 1 nothing changes.
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
    groups_of_outputs: OutputGroups,
    /// Cycles of a full fold (streaming `t` steps): the dataflow's, kept here because every
    /// fold of the memory model asks.
    full_fold_cycles: u64,
    /// Which axis lies on the rows, the columns and the stream.
    layout: Layout,
    /// Groups G of a block-diagonal GEMM (1: a plain GEMM).
    pub groups: u64,
    /// Folds that run (all `row_folds · col_folds` unless groups leave some empty).
    live_folds: u64,
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
        Self::grouped(dataflow, rows, cols, gemm, 1)
    }

    /// Maps the block-diagonal GEMM of `groups` groups, `gemm` being the whole GEMM
    /// (M, G·K_g, G·N_g): `gemm.k` and `gemm.n` must be multiples of `groups`.
    pub fn grouped(dataflow: Dataflow, rows: u64, cols: u64, gemm: GemmDims, groups: u64) -> Self {
        debug_assert!(rows > 0 && cols > 0 && gemm.m > 0 && gemm.k > 0 && gemm.n > 0);
        debug_assert!(groups > 0 && gemm.k.is_multiple_of(groups) && gemm.n.is_multiple_of(groups));
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
            row_folds: if groups > 1 && axes.rows == Axis::K {
                let kg = gemm.k / groups;
                if kg <= rows {
                    groups.div_ceil(rows / kg)
                } else {
                    groups * kg.div_ceil(rows)
                }
            } else {
                sr.div_ceil(rows)
            },
            col_folds: sc.div_ceil(cols),
            ifmap_tile: unit.ifmap_tile(),
            filter_tile: unit.filter_tile(),
            groups_of_outputs: unit.output_groups(),
            full_fold_cycles: unit.fold_cycles(rows, cols, t),
            layout: Layout::of(axes),
            groups,
            live_folds: 0,
        }
        .with_live_folds()
    }

    /// Counts the folds that run: with the stream on K or N every fold streams some group's
    /// indices; with M streamed (K on the rows, N on the columns) row fold i works with the
    /// column folds whose N span meets the groups of its K span.
    fn with_live_folds(mut self) -> Self {
        self.live_folds = if self.groups == 1 || self.axes.stream != Axis::M {
            self.row_folds * self.col_folds
        } else {
            (0..self.row_folds)
                .map(|i| {
                    let (g0, g1) = self.k_groups(self.row_span(i));
                    let ng = self.gemm.n / self.groups;
                    let (j0, j1) = (g0 * ng / self.cols, ((g1 + 1) * ng - 1) / self.cols);
                    j1 - j0 + 1
                })
                .sum()
        };
        self
    }

    /// Grouped GEMM with K on the rows: whole groups per row fold (K_g ≤ R, ⌊R/K_g⌋ of them)
    /// or row folds within one group (K_g > R, ⌈K_g/R⌉ per group): `(groups per row fold,
    /// row folds per group)`, one of them 1.
    fn row_grouping(&self) -> (u64, u64) {
        let kg = self.kg();
        if kg <= self.rows {
            (self.rows / kg, 1)
        } else {
            (1, kg.div_ceil(self.rows))
        }
    }

    /// K per group, K_g.
    fn kg(&self) -> u64 {
        self.gemm.k / self.groups
    }

    /// N per group, N_g.
    fn ng(&self) -> u64 {
        self.gemm.n / self.groups
    }

    /// The groups `[first, last]` a non-empty K span touches.
    fn k_groups(&self, k: Span) -> (u64, u64) {
        (k.start / self.kg(), (k.end - 1) / self.kg())
    }

    /// The groups `[first, last]` a non-empty N span touches.
    fn n_groups(&self, n: Span) -> (u64, u64) {
        (n.start / self.ng(), (n.end - 1) / self.ng())
    }

    /// The span of the row axis row fold `i` holds. A grouped GEMM with K on the rows aligns
    /// row folds with groups ([`Mapping::row_grouping`]), so no row fold holds part of two
    /// groups' windows.
    #[inline]
    fn row_span(&self, i: u64) -> Span {
        if self.groups > 1 && self.axes.rows == Axis::K {
            let kg = self.kg();
            let (per_fold, per_group) = self.row_grouping();
            if per_group == 1 {
                return Span::new(i * per_fold * kg, ((i + 1) * per_fold * kg).min(self.sr));
            }
            let (g, q) = (i / per_group, i % per_group);
            return Span::new(
                g * kg + q * self.rows,
                g * kg + ((q + 1) * self.rows).min(kg),
            );
        }
        Span::new(i * self.rows, ((i + 1) * self.rows).min(self.sr))
    }

    /// Whether fold `f` does any work: always for G = 1; for a grouped GEMM, when its K and N
    /// spans share a group.
    #[inline]
    pub fn is_live(&self, f: &Fold) -> bool {
        if self.groups == 1 {
            return true;
        }
        let (k0, k1) = self.k_groups(f.k);
        let (n0, n1) = self.n_groups(f.n);
        k0.max(n0) <= k1.min(n1)
    }

    /// The span of the streamed axis fold `f` streams (its T = `len()`).
    #[inline]
    pub fn stream_span(&self, f: &Fold) -> Span {
        match self.axes.stream {
            Axis::M => f.m,
            Axis::K => f.k,
            Axis::N => f.n,
        }
    }

    /// Non-zero weights (k, n) of fold `f`: K span × N span, or for a grouped GEMM the pairs
    /// of the same group.
    #[inline]
    pub fn weights_in(&self, k: Span, n: Span) -> u64 {
        if self.groups == 1 {
            return k.len() * n.len();
        }
        let (kg, ng) = (self.kg(), self.ng());
        let (k0, k1) = self.k_groups(k);
        let (n0, n1) = self.n_groups(n);
        let (g0, g1) = (k0.max(n0), k1.min(n1));
        if g0 > g1 {
            return 0;
        }
        let clip = |s: Span, g: u64, size: u64| {
            let (lo, hi) = (g * size, (g + 1) * size);
            s.end.min(hi).saturating_sub(s.start.max(lo))
        };
        let edge = |g: u64| clip(k, g, kg) * clip(n, g, ng);
        if g0 == g1 {
            edge(g0)
        } else {
            edge(g0) + edge(g1) + (g1 - g0 - 1) * kg * ng
        }
    }

    /// Real multiply-accumulates of the GEMM: M·K·N / G.
    pub fn real_macs(&self) -> u64 {
        self.gemm.m * self.gemm.k / self.groups * self.gemm.n
    }

    /// The dataflow's unit.
    pub fn unit(&self) -> &'static dyn DataflowModel {
        dataflow::model(self.dataflow)
    }

    /// Folds that run: F_r · F_c, less the empty folds of a grouped GEMM.
    pub fn folds(&self) -> u64 {
        self.live_folds
    }

    /// F_r · F_c, every fold position of the grid (run or not).
    pub fn grid_folds(&self) -> u64 {
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
        if self.groups > 1 {
            // Folds stream different lengths: add them up (the caller bounds the fold count).
            let mut total = 0u64;
            let mut prev = None;
            for f in self.folds_iter() {
                let t = self.stream_span(&f).len();
                let c = if overlap {
                    self.overlapped_fold_cycles(prev, t)
                } else {
                    self.fold_cycles_for(t)
                };
                total = total.checked_add(c.get())?;
                prev = Some(t);
            }
            return Some(Cycles(total));
        }
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
        let rows = self.row_span(i);
        let cols = Span::new(j * self.cols, ((j + 1) * self.cols).min(self.sc));
        let (m, mut k, mut n) = self.layout.mkn(rows, cols, Span::all(self.t));
        if self.groups > 1 {
            // The stream carries only the indices of the groups the array's spans touch.
            match self.axes.stream {
                Axis::K => {
                    let (g0, g1) = self.n_groups(n);
                    k = Span::new(g0 * self.kg(), (g1 + 1) * self.kg());
                }
                Axis::N => {
                    let (g0, g1) = self.k_groups(k);
                    n = Span::new(g0 * self.ng(), (g1 + 1) * self.ng());
                }
                Axis::M => {}
            }
        }
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

    /// Every fold that runs, in execution order (column fold outer).
    pub fn folds_iter(&self) -> FoldIter<'_> {
        self.folds_in(FoldOrder::ColumnOuter)
    }

    /// Every fold that runs, with `order`'s fold loop outer. A fold keeps its `index` (its
    /// place in the column-outer order), so tile ids do not depend on the order.
    pub fn folds_in(&self, order: FoldOrder) -> FoldIter<'_> {
        FoldIter {
            map: self,
            i: 0,
            j: 0,
            row_outer: order == FoldOrder::RowOuter,
            visited: 0,
        }
    }

    /// The GEMM axis whose folds `order` puts outer: the column axis for
    /// [`FoldOrder::ColumnOuter`], the row axis for [`FoldOrder::RowOuter`].
    pub fn outer_axis(&self, order: FoldOrder) -> Axis {
        match order {
            FoldOrder::ColumnOuter => self.axes.cols,
            FoldOrder::RowOuter => self.axes.rows,
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
            Input::Filter => self.weights_in(f.k, f.n),
        }
    }

    /// Whether fold `f` is the first of its output accumulation group (no partial sums of this
    /// pass to add onto).
    #[inline]
    pub fn group_first(&self, f: &Fold) -> bool {
        match self.groups_of_outputs {
            OutputGroups::PerFold => true,
            OutputGroups::PerColumnFold => f.row_fold == self.live_row_folds(f).0,
        }
    }

    /// The first and last row folds that run in the column fold of `f` (`0` and `F_r − 1`
    /// unless a grouped GEMM skips some).
    #[inline]
    pub fn live_row_folds(&self, f: &Fold) -> (u64, u64) {
        if self.groups == 1 || self.axes.rows != Axis::K {
            return (0, self.row_folds - 1);
        }
        let (per_fold, per_group) = self.row_grouping();
        // The row folds of groups g0..=g1.
        let folds_of = |g0: u64, g1: u64| {
            (
                g0 / per_fold * per_group,
                (g1 / per_fold + 1) * per_group - 1,
            )
        };
        match self.axes.stream {
            // N on the columns: the row folds of the column's groups.
            Axis::M => {
                let (n0, n1) = self.n_groups(f.n);
                folds_of(n0, n1)
            }
            // N streamed, restricted to the row fold's groups: outputs accumulate over the row
            // folds of the fold's own groups.
            _ => {
                let (k0, k1) = self.k_groups(f.k);
                folds_of(k0, k1)
            }
        }
    }

    /// Whether fold `f` is the last of its output accumulation group (its outputs are complete
    /// for this pass).
    #[inline]
    pub fn group_last(&self, f: &Fold) -> bool {
        match self.groups_of_outputs {
            OutputGroups::PerFold => true,
            OutputGroups::PerColumnFold => f.row_fold == self.live_row_folds(f).1,
        }
    }

    /// Mean over folds of (rows used · columns used)/(R·C): Sr·Sc/(F_r·F_c·R·C).
    pub fn mapping_efficiency(&self) -> f64 {
        (self.sr as f64 * self.sc as f64)
            / (self.grid_folds() as f64 * self.rows as f64 * self.cols as f64)
    }
}

/// Which fold loop of a pass is the outer one (docs/model.md §8, the mapper's loop order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FoldOrder {
    /// Column fold outer, row fold inner (SCALE-Sim's order; the default).
    ColumnOuter,
    /// Row fold outer, column fold inner.
    RowOuter,
}

/// The folds of a [`Mapping`] in execution order (see [`Mapping::folds_iter`] and
/// [`Mapping::folds_in`]).
#[derive(Debug, Clone)]
pub struct FoldIter<'a> {
    map: &'a Mapping,
    i: u64,
    j: u64,
    row_outer: bool,
    /// Fold positions visited so far (run or not).
    visited: u64,
}

impl Iterator for FoldIter<'_> {
    type Item = Fold;

    fn next(&mut self) -> Option<Fold> {
        loop {
            if self.visited >= self.map.grid_folds() {
                return None;
            }
            let fold = self.map.fold_at(self.i, self.j);
            self.visited += 1;
            if self.row_outer {
                self.j += 1;
                if self.j == self.map.col_folds {
                    self.j = 0;
                    self.i += 1;
                }
            } else {
                self.i += 1;
                if self.i == self.map.row_folds {
                    self.i = 0;
                    self.j += 1;
                }
            }
            if self.map.is_live(&fold) {
                return Some(fold);
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let grid = self.map.grid_folds().saturating_sub(self.visited);
        let grid = usize::try_from(grid).unwrap_or(usize::MAX);
        if self.map.groups > 1 {
            return (0, Some(grid));
        }
        (grid, Some(grid))
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
        let rows: Vec<_> = map
            .folds_in(FoldOrder::RowOuter)
            .map(|f| (f.row_fold, f.col_fold))
            .collect();
        assert_eq!(rows, [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]);
    }

    #[test]
    fn nm_compression() {
        let nm = NmSparsity { n: 2, m: 4 };
        assert_eq!(nm.compressed_k(2304), 1152);
        assert_eq!(nm.compressed_k(27), 14);
        assert_eq!(nm.compressed_k(1), 1);
    }
}
