//! One sample's gate mask reduced to what the fast model's skip policies need (docs/model.md
//! §5): counts per column fold and per fold of the conditional pass, computed at gate-block
//! granularity on the packed mask words ([`LayerMasks::sample_words`]), never expanded to a
//! dense tensor.
//!
//! The reduction is written once for every dataflow, in terms of its [`Axes`]: a column fold
//! covers indices C_j of the column axis (N for OS and WS, M for IS); the other output axis is
//! the *gather axis* (M for OS and WS, N for IS), on the array rows when K streams (OS) and on
//! the stream otherwise (WS, IS). For each column fold the scan yields, per gather index o, how
//! many outputs (o, c ∈ C_j) have the gate on — in runs of indices sharing one gate block.

use crate::dataflow::{Axes, Axis};
use crate::mapping::{Fold, Mapping};
use cdg_core::LayerMasks;

/// What a skip policy needs to know of a sample's gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GateView {
    /// The number of active outputs, and, when the outputs occupy the array (K streams), their
    /// spread over PE rows with gather index o on row o mod R.
    Totals,
    /// Per column fold: active outputs and kept gather indices; when the outputs occupy the
    /// array, also per fold, and the spread over PE rows by index.
    Folds,
    /// [`GateView::Folds`], but when the outputs occupy the array the kept gather indices of
    /// each column fold are packed R at a time into [`Pack`]s, and the spread over PE rows
    /// follows the packing.
    Packed,
}

/// One column fold j of the conditional pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Column {
    /// Outputs with the gate on among those the column fold covers.
    pub active: u64,
    /// |A_j|: gather indices o with the gate on for some column index of the fold.
    pub kept: u64,
    /// Of `kept`, the indices no earlier column fold kept.
    pub new_kept: u64,
    /// Gather indices from the column's first through its last kept one (0 when none is
    /// kept): what the `compact` gather unit scans to list the column (docs/model.md §5).
    pub scanned: u64,
    /// First pack of this column fold in [`GateSummary::packs`].
    pack_start: usize,
}

/// One packed row group of a column fold ([`GateView::Packed`], outputs on the array): up to R
/// kept gather indices computed together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pack {
    /// Kept indices in the pack (≤ R).
    pub size: u64,
    /// Active outputs among the pack's size × |C_j| outputs.
    pub active: u64,
    /// Of `size`, indices no earlier column fold kept.
    pub new_kept: u64,
    /// Gather indices the gather unit scans to fill the pack: from the one after the previous
    /// pack's last (the column's first for its first pack) through the pack's last.
    pub scanned: u64,
}

/// Active outputs and kept gather indices of one dense fold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tile {
    active: u64,
    kept: u64,
}

/// The gates of one sample reduced to what a [`GateView`] asks for.
#[derive(Debug, Clone, Default)]
pub struct GateSummary {
    /// The outputs occupy the array: per-fold figures are per (row fold, column fold).
    per_fold: bool,
    row_folds: u64,
    cols: Vec<Column>,
    /// Outputs on the array: per (j, i) at j·F_r + i.
    tiles: Vec<Tile>,
    packs: Vec<Pack>,
    /// Outputs on the array: active conditional outputs per PE row.
    row_load: Vec<u64>,
    active_total: u64,
    /// Every dense fold of the conditional pass covers an active output.
    all_active: bool,
    /// A grouped layer whose N is streamed (IS): per (column fold j, group g) at j·G + g, the
    /// kept gather indices (filters), active outputs and newly kept filters, so that a fold
    /// streaming only its row fold's groups is counted on those.
    group_cols: Vec<Column>,
    /// N_g of the conditional pass (with `group_cols`).
    group_n: u64,
    groups: u64,
}

impl GateSummary {
    /// Active output elements of the sample.
    pub fn active(&self) -> u64 {
        self.active_total
    }

    /// Column fold `j` ([`GateView::Folds`] or [`GateView::Packed`]).
    pub fn column(&self, j: u64) -> Column {
        self.cols[j as usize]
    }

    /// Every column fold, in order ([`GateView::Folds`] or [`GateView::Packed`]).
    pub fn columns(&self) -> &[Column] {
        &self.cols
    }

    /// The packs of column fold `j` ([`GateView::Packed`], outputs on the array).
    pub fn packs(&self, j: u64) -> &[Pack] {
        let j = j as usize;
        let start = self.cols[j].pack_start;
        let end = self
            .cols
            .get(j + 1)
            .map_or(self.packs.len(), |c| c.pack_start);
        &self.packs[start..end]
    }

    /// Active outputs among those dense fold `f` of either pass covers (the same row and column
    /// fold of the conditional pass).
    pub fn fold_active(&self, f: &Fold) -> u64 {
        if !self.group_cols.is_empty() {
            return self.fold_groups(f).active;
        }
        if self.per_fold {
            self.tile(f).active
        } else {
            self.cols[f.col_fold as usize].active
        }
    }

    /// Kept gather indices among those dense fold `f` of either pass covers.
    pub fn fold_kept(&self, f: &Fold) -> u64 {
        if !self.group_cols.is_empty() {
            return self.fold_groups(f).kept;
        }
        if self.per_fold {
            self.tile(f).kept
        } else {
            self.cols[f.col_fold as usize].kept
        }
    }

    /// Whether every dense fold of the conditional pass covers an active output.
    pub fn every_fold_active(&self) -> bool {
        self.all_active
    }

    /// Outputs on the array: active conditional outputs per PE row, as the view places them
    /// (empty otherwise).
    pub fn row_load(&self) -> &[u64] {
        &self.row_load
    }

    /// A grouped layer with N streamed: the figures of column fold `f.col_fold` over the groups
    /// of the fold's N span.
    pub fn fold_groups(&self, f: &Fold) -> Column {
        let (g0, g1) = (f.n.start / self.group_n, (f.n.end - 1) / self.group_n);
        let row = &self.group_cols
            [(f.col_fold * self.groups) as usize..((f.col_fold + 1) * self.groups) as usize];
        let mut c = Column::default();
        for x in &row[g0 as usize..=g1 as usize] {
            c.active += x.active;
            c.kept += x.kept;
            c.new_kept += x.new_kept;
        }
        c
    }

    fn tile(&self, f: &Fold) -> Tile {
        self.tiles[(f.col_fold * self.row_folds + f.row_fold) as usize]
    }
}

/// Set bits in `start..start + len` of the packed `words`.
fn count_ones(words: &[u64], start: u64, len: u64) -> u64 {
    let end = start + len;
    let mut w = start >> 6;
    let mut total = 0;
    while w << 6 < end {
        let lo = (w << 6).max(start);
        let hi = ((w + 1) << 6).min(end);
        let mut bits = words[w as usize] >> (lo & 63);
        if hi - lo < 64 {
            bits &= (1u64 << (hi - lo)) - 1;
        }
        total += u64::from(bits.count_ones());
        w += 1;
    }
    total
}

/// [`LayerMasks::active_elements`] by popcount when no spatial block is partial.
fn active_elements(masks: &LayerMasks, sample: usize) -> u64 {
    let [gc, gh, gw] = masks.grid();
    let b = masks.block();
    let [c, h, w] = masks.out_shape();
    if h % b.h != 0 || w % b.w != 0 {
        return masks.active_elements(sample);
    }
    let words = masks.sample_words(sample);
    let per = gh * gw;
    (0..gc)
        .map(|cb| (c.min((cb + 1) * b.c) - cb * b.c) * b.h * b.w * count_ones(words, cb * per, per))
        .sum()
}

/// Calls `f(i - start)` for every set bit i in `start..start + len` of the packed `words`.
#[inline]
fn for_set_bits(words: &[u64], start: u64, len: u64, mut f: impl FnMut(u64)) {
    let end = start + len;
    let mut w = start >> 6;
    while w << 6 < end {
        let lo = (w << 6).max(start);
        let hi = ((w + 1) << 6).min(end);
        let mut bits = words[w as usize] >> (lo & 63);
        if hi - lo < 64 {
            bits &= (1u64 << (hi - lo)) - 1;
        }
        while bits != 0 {
            let t = u64::from(bits.trailing_zeros());
            f(lo + t - start);
            bits &= bits - 1;
        }
        w += 1;
    }
}

#[inline]
fn bit(words: &[u64], i: u64) -> bool {
    (words[(i >> 6) as usize] >> (i & 63)) & 1 == 1
}

/// The scan of one sample's packed gates along a column axis.
struct Scan<'a> {
    masks: &'a LayerMasks,
    words: &'a [u64],
    col_axis: Axis,
    /// Column axis N: per spatial gate block, active channels of the column range.
    blk: Vec<u64>,
    /// Column axis M: the spatial gate blocks the column range touches, with how many of its
    /// pixels each holds.
    touched: Vec<(u64, u64)>,
}

impl<'a> Scan<'a> {
    fn new(masks: &'a LayerMasks, sample: usize, col_axis: Axis) -> Self {
        let [_, gh, gw] = masks.grid();
        Self {
            masks,
            words: masks.sample_words(sample),
            col_axis,
            blk: vec![0; (gh * gw) as usize],
            touched: Vec::new(),
        }
    }

    /// How many distinct run granules [`Scan::runs`] reports.
    fn granules(&self) -> usize {
        let [gc, _, gw] = self.masks.grid();
        match self.col_axis {
            Axis::M => gc as usize,
            Axis::N | Axis::K => (self.masks.out_shape()[1] * gw) as usize,
        }
    }

    /// Calls `sink(o, len, count, granule)` for runs `o..o + len` of gather indices, in
    /// increasing order and covering the whole gather axis, where each index of the run has
    /// `count` active outputs over the column indices `c0..c1`. A run lies in one gate block
    /// (its `granule`), so its indices are on or off together in every column range.
    fn runs(&mut self, c0: u64, c1: u64, mut sink: impl FnMut(u64, u64, u64, usize)) {
        let [gc, gh, gw] = self.masks.grid();
        let b = self.masks.block();
        let [channels, ho, wo] = self.masks.out_shape();
        let words = self.words;
        match self.col_axis {
            Axis::M => {
                // Columns over pixels, gather over channels: per channel block, the active
                // pixels of the range.
                self.touched.clear();
                let (mut oh, mut ow) = (c0 / wo, c0 % wo);
                let mut m = c0;
                while m < c1 {
                    // The rest of this block's columns on this output row.
                    let run = (b.w - ow % b.w).min(wo - ow).min(c1 - m);
                    let sb = (oh / b.h) * gw + ow / b.w;
                    match self.touched.last_mut() {
                        Some((last, k)) if *last == sb => *k += run,
                        _ => self.touched.push((sb, run)),
                    }
                    m += run;
                    ow += run;
                    if ow == wo {
                        ow = 0;
                        oh += 1;
                    }
                }
                for cb in 0..gc {
                    let width = channels.min((cb + 1) * b.c) - cb * b.c;
                    let base = cb * gh * gw;
                    let count: u64 = self
                        .touched
                        .iter()
                        .filter(|&&(sb, _)| bit(words, base + sb))
                        .map(|&(_, k)| k)
                        .sum();
                    sink(cb * b.c, width, count, cb as usize);
                }
            }
            Axis::N | Axis::K => {
                // Columns over channels, gather over pixels: per spatial block, the active
                // channels of the range, expanded a run of block columns at a time.
                self.blk.fill(0);
                for cb in c0 / b.c..=(c1 - 1) / b.c {
                    let overlap = c1.min((cb + 1) * b.c) - c0.max(cb * b.c);
                    let blk = &mut self.blk;
                    for_set_bits(words, cb * gh * gw, gh * gw, |i| blk[i as usize] += overlap);
                }
                let mut o = 0;
                for oh in 0..ho {
                    let row = (oh / b.h) * gw;
                    let mut ow = 0;
                    for (bw, &v) in self.blk[row as usize..(row + gw) as usize]
                        .iter()
                        .enumerate()
                    {
                        let run = b.w.min(wo - ow);
                        sink(o, run, v, (oh * gw) as usize + bw);
                        o += run;
                        ow += run;
                    }
                }
            }
        }
    }
}

/// Reduces `sample` of `masks` to what `view` asks for, for a conditional pass mapped by
/// `cond` (`None` when the layer has no conditional pass: only the active count).
pub(crate) fn summarize_gates(
    cond: Option<&Mapping>,
    masks: &LayerMasks,
    sample: usize,
    view: GateView,
) -> GateSummary {
    let Some(cond) = cond else {
        return GateSummary {
            active_total: active_elements(masks, sample),
            ..GateSummary::default()
        };
    };
    let axes: Axes = cond.axes;
    let per_fold = axes.outputs_on_array();
    let r = cond.rows;
    if view == GateView::Totals {
        if !per_fold {
            return GateSummary {
                active_total: active_elements(masks, sample),
                ..GateSummary::default()
            };
        }
        // Every fold runs: only the active count and its spread over PE rows matter. Gather
        // index o sits on PE row o mod R in every column fold.
        let mut s = GateSummary {
            per_fold,
            row_folds: cond.row_folds,
            row_load: vec![0; r as usize],
            ..GateSummary::default()
        };
        let mut scan = Scan::new(masks, sample, axes.cols);
        let mut row = 0;
        scan.runs(0, cond.sc, |_, len, v, _| {
            if v == 0 {
                row = (row + len) % r;
                return;
            }
            for _ in 0..len {
                s.row_load[row as usize] += v;
                row += 1;
                if row == r {
                    row = 0;
                }
            }
            s.active_total += v * len;
        });
        return s;
    }
    let packed = view == GateView::Packed;
    let fr = cond.row_folds;
    let mut s = GateSummary {
        per_fold,
        row_folds: fr,
        cols: Vec::with_capacity(cond.col_folds as usize),
        all_active: true,
        ..GateSummary::default()
    };
    if per_fold {
        s.tiles = vec![Tile::default(); (cond.col_folds * fr) as usize];
        s.row_load = vec![0; r as usize];
    }
    let mut scan = Scan::new(masks, sample, axes.cols);
    let mut seen = vec![false; scan.granules()];
    let groups = cond.groups;
    let grouped_stream_n = groups > 1 && axes.stream == Axis::N;
    let group_n = cond.gemm.n / groups;
    if grouped_stream_n {
        s.group_cols = vec![Column::default(); (cond.col_folds * groups) as usize];
        s.group_n = group_n;
        s.groups = groups;
    }
    // A grouped layer with K or M streamed (OS, WS): the groups (OS) or row folds (WS) of the
    // previous column fold; a column fold sharing none of them reads other ifmap columns, so
    // nothing it keeps was read before. (A column sharing a straddling group with an earlier
    // one counts the rows that column kept as read: exact unless a group straddles columns.)
    let mut prev_groups: Option<u64> = None;
    for j in 0..cond.col_folds {
        let (c0, c1) = (j * cond.cols, ((j + 1) * cond.cols).min(cond.sc));
        let mut col = Column {
            pack_start: s.packs.len(),
            ..Column::default()
        };
        if groups > 1 && axes.stream != Axis::N {
            // OS: the column's groups; WS: its live row folds (the K rows its tiles cover).
            let (g0, g1) = if axes.stream == Axis::K {
                (c0 / group_n, (c1 - 1) / group_n)
            } else {
                cond.live_row_folds(&cond.fold_at(0, j))
            };
            if prev_groups.is_none_or(|last| g0 > last) {
                seen.fill(false);
            }
            prev_groups = Some(g1);
        }
        if grouped_stream_n {
            let cols = &mut s.group_cols[(j * groups) as usize..((j + 1) * groups) as usize];
            scan.runs(c0, c1, |o, len, v, g| {
                col.active += v * len;
                if v == 0 {
                    return;
                }
                col.kept += len;
                let new = !std::mem::replace(&mut seen[g], true);
                col.new_kept += if new { len } else { 0 };
                // Split the run of filters o..o + len by group.
                let mut n = o;
                while n < o + len {
                    let gg = n / group_n;
                    let end = ((gg + 1) * group_n).min(o + len);
                    let x = &mut cols[gg as usize];
                    x.kept += end - n;
                    x.active += v * (end - n);
                    x.new_kept += if new { end - n } else { 0 };
                    n = end;
                }
            });
            s.all_active &= (0..cond.row_folds).map(|i| cond.fold_at(i, j)).all(|f| {
                let (g0, g1) = (f.n.start / group_n, (f.n.end - 1) / group_n);
                cols[g0 as usize..=g1 as usize].iter().any(|x| x.active > 0)
            });
        } else if per_fold {
            // Row folds are runs of R gather indices, so an index's PE row is its place in the
            // run; packs fill PE rows in order.
            let tiles = &mut s.tiles[(j * fr) as usize..((j + 1) * fr) as usize];
            let (row_load, packs) = (&mut s.row_load, &mut s.packs);
            let (mut i, mut row) = (0usize, 0u64);
            let mut pack = Pack::default();
            // The gather index after the last pack closed (where its successor's scan starts).
            let mut resume = 0u64;
            scan.runs(c0, c1, |o, len, v, g| {
                if v == 0 {
                    let next = row + len;
                    i += (next / r) as usize;
                    row = next % r;
                    return;
                }
                let new = !std::mem::replace(&mut seen[g], true);
                col.active += v * len;
                col.kept += len;
                col.new_kept += if new { len } else { 0 };
                col.scanned = o + len;
                for x in o..o + len {
                    let t = &mut tiles[i];
                    t.active += v;
                    t.kept += 1;
                    if packed {
                        row_load[pack.size as usize] += v;
                        pack.size += 1;
                        pack.active += v;
                        pack.new_kept += u64::from(new);
                        pack.scanned = x + 1 - resume;
                        if pack.size == r {
                            packs.push(pack);
                            pack = Pack::default();
                            resume = x + 1;
                        }
                    } else {
                        row_load[row as usize] += v;
                    }
                    row += 1;
                    if row == r {
                        row = 0;
                        i += 1;
                    }
                }
            });
            if pack.size > 0 {
                s.packs.push(pack);
            }
            s.all_active &= tiles_active(&s.tiles[(j * fr) as usize..((j + 1) * fr) as usize]);
        } else {
            scan.runs(c0, c1, |o, len, v, g| {
                col.active += v * len;
                if v > 0 {
                    col.kept += len;
                    col.scanned = o + len;
                    if !std::mem::replace(&mut seen[g], true) {
                        col.new_kept += len;
                    }
                }
            });
            s.all_active &= col.active > 0;
        }
        s.active_total += col.active;
        s.cols.push(col);
    }
    s
}

fn tiles_active(tiles: &[Tile]) -> bool {
    tiles.iter().all(|t| t.active > 0)
}
