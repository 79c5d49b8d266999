//! Streaming the folds of a layer's passes through the memory model (docs/model.md §4, §6).
//!
//! A layer runs one or more *passes*, each a GEMM over a range of K (the whole window for a
//! dense layer; the base and the conditional window of a gated layer). Passes run one after the
//! other over the same M×N outputs: a later pass adds onto the partial sums of the earlier ones.
//! [`PassStream`] turns each fold the model runs into a [`FoldWork`] for the
//! [`MemoryModel`] and keeps what that needs across folds and passes:
//!
//! - **Time.** A fold's compute cycles come from the dataflow, plus
//!   the gather unit's stalls before folds of gathered work (`policy/compact.rs`). With `array.overlap_folds`
//!   a fold starts one pipeline period after the previous fold of its pass (the cycle-stepped
//!   engine's timing, [`Mapping::overlapped_fold_cycles`]); the first fold of a pass that
//!   continues an earlier pass's partial sums starts only when the previous fold has finished,
//!   so it never reads a partial sum before it is written.
//! - **Tiles.** Each pass has its own tile identities (tiles of different passes cover
//!   different K ranges); a dense fold's tile is the one the dataflow's tile key names, new on
//!   its first use among the folds that run; gathered tiles are unique. Whether an input is
//!   fetched once is decided per pass, on the pass's share of it
//!   ([`MemoryModel::begin_pass`]).
//! - **Outputs.** If all M·N outputs fit in the usable half of the ofmap buffer, partial sums
//!   stay on chip between passes and each output goes to DRAM once, when final. Otherwise each
//!   pass accumulates its groups as a dense layer does; a group a later pass continues is
//!   written to DRAM (partial-sum traffic) and the later pass's first fold of that group reads
//!   it back. Outputs no fold made final (a pass that skipped them, with no earlier pass) leave
//!   the chip once at the end.

use crate::counters::Counters;
use crate::dataflow::{Input, TileKey};
use crate::mapping::{Fold, FoldIter, FoldOrder, Mapping};
use crate::memory::{FoldWork, MemoryModel, OperandFootprint, OutputUse, TileUse, usable_bytes};
use cdg_core::{ArchConfig, Bytes, Cycles};

/// Tile ids of pass p start at p·2^40 (dense slots are fold or fold-row indices, below 2^40).
const PASS_IDS: u64 = 1 << 40;
/// Ids of gathered tiles, each used once.
pub(crate) const GATHERED_IDS: u64 = 1 << 63;
/// Tile ids of sample b of a batch run as the inner loop are offset by b·2^28 (a dense slot is
/// below `MAX_FOLDS` = 2^28, a batch below 2^11, so they stay below `PASS_IDS`).
const SAMPLE_IDS: u64 = 1 << 28;

/// How a layer's passes are streamed beyond their mappings: the mapper's choices that are not
/// a K split (docs/model.md §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamOptions {
    /// `array.overlap_folds` applied (only where the design has it).
    pub overlap: bool,
    /// Tiles of each input `[ifmap, filter]` kept resident in a pass whose share does not fit:
    /// the first n slots a pass uses are fetched once (the mapper keeps n + 1 tiles within the
    /// buffer's usable half).
    pub pins: [u64; 2],
    /// Samples run as the inner loop around every dense fold (1: off): the filter tile stays
    /// for all samples, each sample streams its own ifmap tile.
    pub batch_inner: u64,
}

impl StreamOptions {
    /// The design's own: its overlap, no pinned tiles, no inner batch loop.
    pub fn of(arch: &ArchConfig) -> Self {
        Self {
            overlap: arch.array.overlap_folds,
            pins: [0, 0],
            batch_inner: 1,
        }
    }
}

/// Which tiles of one input a pass has used so far.
#[derive(Debug, Clone)]
enum Seen {
    /// Every slot is used by exactly one fold (the dataflow's key is the fold itself).
    Once,
    /// One bit per slot.
    Bits(Vec<u64>),
}

impl Seen {
    fn new(key: TileKey, slots: u64) -> Self {
        match key {
            TileKey::Fold => Seen::Once,
            TileKey::RowFold | TileKey::ColFold => Seen::Bits(vec![0; slots.div_ceil(64) as usize]),
        }
    }

    /// Marks `slot` used; whether it was new.
    #[inline]
    fn first_use(&mut self, slot: u64) -> bool {
        match self {
            Seen::Once => true,
            Seen::Bits(bits) => {
                let (w, b) = ((slot >> 6) as usize, 1u64 << (slot & 63));
                let new = bits[w] & b == 0;
                bits[w] |= b;
                new
            }
        }
    }
}

/// One pass of a layer over a range of K, as the stream tracks it.
#[derive(Debug, Clone)]
pub struct Pass<'m> {
    map: &'m Mapping,
    ids: u64,
    /// An earlier pass wrote partial sums of this pass's outputs.
    continues: bool,
    seen_ifmap: Seen,
    seen_filter: Seen,
    /// A grouped GEMM whose stream is K (OS): the ifmap tile of row fold i and column fold j is
    /// M_i × the K of the column's groups, so it is tracked per row fold as the groups read so
    /// far (column folds run in order, their groups never go back).
    ifmap_groups_read: Option<Vec<u64>>,
    /// Compute cycles of this pass's folds so far (gather overhead included).
    cycles: Cycles,
    /// Stream length of the last fold of this pass streamed so far.
    prev_t: Option<u64>,
    /// The order of this pass's folds.
    order: FoldOrder,
    /// A later pass continues this pass's outputs (a K chunk before the last): nothing is
    /// final after it.
    partial: bool,
}

impl<'m> Pass<'m> {
    /// Pass number `index` of a layer (its tile ids), mapped by `map`; `continues` when an
    /// earlier pass wrote partial sums of its outputs.
    pub fn new(index: u64, map: &'m Mapping, continues: bool) -> Self {
        let seen = |input| Seen::new(map.tile_key(input), map.tile_slots(input));
        Self {
            map,
            ids: index * PASS_IDS,
            continues,
            seen_ifmap: seen(Input::Ifmap),
            seen_filter: seen(Input::Filter),
            ifmap_groups_read: (map.groups > 1 && map.axes.stream == crate::dataflow::Axis::K)
                .then(|| vec![0; map.row_folds as usize]),
            cycles: Cycles::ZERO,
            prev_t: None,
            order: FoldOrder::ColumnOuter,
            partial: false,
        }
    }

    /// The same pass with its folds in `order`.
    pub fn in_order(mut self, order: FoldOrder) -> Self {
        self.order = order;
        self
    }

    /// The same pass, continued by a later pass: no output is final after it, whatever its
    /// folds say.
    pub fn continued_later(mut self, partial: bool) -> Self {
        self.partial = partial;
        self
    }

    /// The pass's dense folds in its order.
    pub fn folds(&self) -> FoldIter<'m> {
        self.map.folds_in(self.order)
    }

    /// The order of the pass's folds.
    pub fn order(&self) -> FoldOrder {
        self.order
    }

    /// The pass's mapping.
    pub fn map(&self) -> &'m Mapping {
        self.map
    }

    /// Compute cycles of the folds streamed so far (gather overhead included).
    pub fn cycles(&self) -> Cycles {
        self.cycles
    }

    /// The tile of `input` that dense fold `f` reads, new on its first use among the folds of
    /// this pass that run.
    #[inline]
    pub fn dense_tile(&mut self, input: Input, f: &Fold) -> TileUse {
        if let (Input::Ifmap, Some(read)) = (input, self.ifmap_groups_read.as_mut()) {
            // Groups [g0, g1) of this fold's K; those below `read[i]` came in earlier.
            let kg = self.map.gemm.k / self.map.groups;
            let (g0, g1) = (f.k.start / kg, f.k.end / kg);
            let done = &mut read[f.row_fold as usize];
            let new_groups = g1.saturating_sub((*done).max(g0));
            *done = (*done).max(g1);
            return TileUse {
                id: self.ids + f.index,
                elems: f.m.len() * f.k.len(),
                new_elems: f.m.len() * new_groups * kg,
            };
        }
        let slot = self.map.tile_slot(input, f);
        let seen = match input {
            Input::Ifmap => &mut self.seen_ifmap,
            Input::Filter => &mut self.seen_filter,
        };
        let elems = self.map.tile_elems(input, f);
        TileUse {
            id: self.ids + slot,
            elems,
            new_elems: if seen.first_use(slot) { elems } else { 0 },
        }
    }
}

/// A fold to stream: the dense fold of its pass it stands for (its place in the output groups),
/// what it streams, reads and writes.
#[derive(Debug, Clone, Copy)]
pub struct FoldRun {
    /// The dense fold of the pass this fold stands for (a gathered fold: the dense fold whose
    /// column and row fold it runs).
    pub fold: Fold,
    /// Steps streamed.
    pub t: u64,
    pub ifmap: TileUse,
    pub filter: TileUse,
    /// Outputs written.
    pub outputs: u64,
    /// Of `outputs`, those final after this fold (no later fold or pass adds onto them); 0
    /// unless the fold ends its accumulation group.
    pub finalised: u64,
    /// Cycles the fold waits for the `compact` gather unit before it starts (docs/model.md §5;
    /// 0 for every other fold).
    pub gather_stall: Cycles,
}

/// Streams the folds of a layer's passes, in execution order, through a [`MemoryModel`].
#[derive(Debug, Clone)]
pub struct PassStream {
    mem: MemoryModel,
    position: u64,
    /// Tile-id base of the pass being streamed.
    current_pass: Option<u64>,
    overlap: bool,
    /// `sparsity.gather_rows_per_cycle` (read by `compact`'s gather model).
    gather_rate: Option<u64>,
    /// Array cycles since the gather unit's last unit was taken: the unit runs on through the
    /// conditional passes of a K split, as the RTL's does over the whole fold list.
    gather_since: u64,
    word: u64,
    outputs: u64,
    outputs_fit: bool,
    finalised: u64,
    next_gathered: u64,
    pins: [u64; 2],
    batch_inner: u64,
}

impl PassStream {
    /// A stream for a layer with `outputs` = M·N outputs and the given input footprints.
    pub fn new(
        arch: &ArchConfig,
        ifmap: OperandFootprint,
        filter: OperandFootprint,
        outputs: u64,
    ) -> Self {
        Self::with_options(arch, ifmap, filter, outputs, StreamOptions::of(arch))
    }

    /// [`PassStream::new`] with the mapper's `opts`. With `opts.batch_inner` = B > 1, `outputs`
    /// and the footprints are the whole batch's while the passes' mappings are one sample's.
    pub fn with_options(
        arch: &ArchConfig,
        ifmap: OperandFootprint,
        filter: OperandFootprint,
        outputs: u64,
        opts: StreamOptions,
    ) -> Self {
        let word = arch.memory.word_bytes;
        Self {
            mem: MemoryModel::new(arch, ifmap, filter),
            position: 0,
            current_pass: None,
            overlap: opts.overlap,
            gather_rate: arch.sparsity.gather_rows_per_cycle,
            gather_since: 0,
            word,
            outputs,
            outputs_fit: outputs.saturating_mul(word) <= usable_bytes(arch.memory.ofmap_sram_kib),
            finalised: 0,
            next_gathered: GATHERED_IDS,
            pins: opts.pins,
            batch_inner: opts.batch_inner.max(1),
        }
    }

    /// The gather unit's indices per cycle (`None`: an ideal gather).
    pub fn gather_rows_per_cycle(&self) -> Option<u64> {
        self.gather_rate
    }

    /// Array cycles since the gather unit's last unit was taken (0 before the first
    /// conditional pass; carried from one conditional pass of a K split to the next).
    pub fn gather_since(&self) -> u64 {
        self.gather_since
    }

    /// Records where the gather unit stands at the end of a conditional pass.
    pub fn set_gather_since(&mut self, since: u64) {
        self.gather_since = since;
    }

    /// A tile of gathered work (rows or columns a skip policy picked): unique, with `new_elems`
    /// of its `elems` never read before.
    pub fn gathered_tile(&mut self, elems: u64, new_elems: u64) -> TileUse {
        self.next_gathered += 1;
        TileUse {
            id: self.next_gathered,
            elems,
            new_elems,
        }
    }

    /// Streams dense fold `f` of `pass` in full, `finalised` of its outputs final after it.
    #[inline]
    pub fn dense(&mut self, pass: &mut Pass<'_>, f: &Fold, finalised: u64) {
        let ifmap = pass.dense_tile(Input::Ifmap, f);
        let filter = pass.dense_tile(Input::Filter, f);
        let outputs = f.m.len() * f.n.len();
        let t = pass.map.stream_span(f).len();
        let writes = (outputs, finalised);
        self.fold(pass, f, t, [ifmap, filter], writes, Cycles::ZERO);
        // The batch as the inner loop: the same fold for every other sample, the filter tile
        // already on chip, each sample's own ifmap tile.
        for b in 1..self.batch_inner {
            let ifmap = TileUse {
                id: ifmap.id + b * SAMPLE_IDS,
                ..ifmap
            };
            let filter = TileUse {
                new_elems: 0,
                ..filter
            };
            self.fold(pass, f, t, [ifmap, filter], writes, Cycles::ZERO);
        }
    }

    /// Streams one fold of `pass`.
    #[inline]
    pub fn push(&mut self, pass: &mut Pass<'_>, run: &FoldRun) {
        let gather = run.gather_stall;
        let tiles = [run.ifmap, run.filter];
        let writes = (run.outputs, run.finalised);
        self.fold(pass, &run.fold, run.t, tiles, writes, gather);
    }

    /// [`PassStream::push`] with the fold's parts: `[ifmap, filter]` tiles, `(outputs,
    /// finalised)` writes, and `extra` cycles added to its compute.
    #[inline]
    fn fold(
        &mut self,
        pass: &mut Pass<'_>,
        f: &Fold,
        t: u64,
        [ifmap, filter]: [TileUse; 2],
        (outputs, finalised): (u64, u64),
        extra: Cycles,
    ) {
        let map = pass.map;
        if self.current_pass != Some(pass.ids) {
            self.current_pass = Some(pass.ids);
            let g = map.gemm;
            self.mem
                .begin_pass(g.m * g.k * self.batch_inner, g.k * g.n / map.groups);
            self.mem.pin(pass.ids, self.pins);
        }
        let finalised = if pass.partial { 0 } else { finalised };
        let group_first = map.group_first(f);
        let (first, reload) = (
            group_first && !pass.continues,
            group_first && pass.continues,
        );
        self.finalised += finalised;
        let output = if self.outputs_fit {
            // Partial sums stay on chip; each output leaves once, when final.
            OutputUse {
                elems: outputs,
                group_elems: finalised,
                first,
                last: finalised > 0,
                reload: false,
                continued: false,
            }
        } else {
            // Each pass accumulates its groups as a dense layer does; a group a later pass
            // continues goes to DRAM and comes back. With K on the rows, the row-fold-outer
            // order keeps every column fold's partial sums live at once, and the batch as the
            // inner loop every sample's.
            let ends_group = map.group_last(f);
            let on_rows = !map.axes.outputs_on_array();
            let group_elems = if on_rows && pass.order == FoldOrder::RowOuter {
                self.outputs
            } else if on_rows {
                outputs * self.batch_inner
            } else {
                outputs
            };
            OutputUse {
                elems: outputs,
                group_elems,
                first,
                last: ends_group,
                reload,
                continued: ends_group && finalised < outputs,
            }
        };
        let compute = if self.overlap && self.position > 0 {
            // The first fold of a pass has no predecessor in it: it waits for the previous
            // fold to finish (a continuing pass reads partial sums the previous pass wrote).
            map.overlapped_fold_cycles(pass.prev_t, t)
        } else {
            map.fold_cycles_for(t)
        } + extra;
        pass.prev_t = Some(t);
        pass.cycles += compute;
        self.mem.push(&FoldWork {
            compute,
            ifmap,
            filter,
            output,
        });
        self.position += 1;
    }

    /// The counters of everything streamed (see [`MemoryModel::finish`]). Outputs no fold made
    /// final (possible only when no pass covered them, e.g. a conditional pass without a base
    /// pass skipping them) are zeros that still leave the chip once.
    pub fn finish(mut self) -> Counters {
        debug_assert!(
            self.finalised <= self.outputs,
            "an output was finalised twice"
        );
        let missing = self.outputs.saturating_sub(self.finalised);
        self.mem.write_outputs(Bytes(missing * self.word));
        self.mem.finish()
    }
}
