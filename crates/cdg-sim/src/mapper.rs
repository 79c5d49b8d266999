//! The mapper (docs/model.md §8): for each layer (and each pass of a gated layer) and design, the
//! mapspace of schedules the memory model can run, and a search for the best one under
//! `mapping.objective`.
//!
//! As in Timeloop, the mapspace is data ([`Mapspace`]: the lists of choices along each
//! dimension, [`Mapspace::candidates`] their product) and the search ([`search`]) is separate
//! from the evaluation ([`Mapspace::evaluate`], the same [`PassStream`], memory, energy and
//! stall models every run uses). A [`LayerMapping`] fixes:
//!
//! - **the K split**: the reduction split into passes over the same outputs (a gated layer
//!   splits its base and its conditional window separately);
//! - **the loop order** of the row and column folds ([`FoldOrder`]: which operand's tile stays
//!   on chip across consecutive folds);
//! - **the batch order** ([`BatchOrder`]) when `workload.batch` > 1;
//! - **resident tiles**: how many tiles of each input a pass keeps on chip when its share does
//!   not fit (`pins`);
//! - **fold overlap**, where the design has `array.overlap_folds`.
//!
//! **Search.** Exhaustive over the enumerated candidates, with two exact reductions: (1) a
//! candidate is streamed only if its lower bound ([`Mapspace::bound`]: stall-free cycles, and
//! an energy with every DRAM byte at its compulsory minimum and the exact SRAM counts) can beat
//! the best so far; (2) resident tiles are enumerated at their maximum only: keeping more tiles
//! never fetches more bytes in any fold, so stalls, cycles, DRAM and energy never rise
//! (`brute_force` enumerates every count; the property tests check both agree).
//!
//! **Ties** go to fewer cycles, then lower energy, then the mapping's name, then the K split.

use crate::baseline::{KSplit, LayerGemm, complete_dense};
use crate::counters::{Compulsory, Counters, DramTraffic, SramAccesses};
use crate::dataflow::Axis;
use crate::energy::energy;
use crate::mapping::{FoldOrder, Mapping};
use crate::memory::{OperandFootprint, usable_bytes};

use crate::stream::{Pass, PassStream, StreamOptions};
use cdg_core::{Accesses, ArchConfig, Bytes, Cycles, MappingObjective};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The pass counts a K window is split into (besides one pass): enough to make any share of a
/// network layer fit a buffer of a few KiB, few enough to search per layer.
pub const PASS_COUNTS: [u64; 11] = [2, 3, 4, 5, 6, 8, 12, 16, 24, 32, 64];
/// Candidates with more folds than this many times the single pass's are not enumerated.
pub const MAX_FOLD_FACTOR: u64 = crate::baseline::MAX_FOLD_FACTOR;

/// How a batch of B samples runs (docs/model.md §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BatchOrder {
    /// The samples' output pixels stacked along M: one GEMM of B·M rows.
    Stacked,
    /// The batch-1 mapping run once per sample, one after the other.
    PerSample,
    /// Every fold of the batch-1 mapping run for each sample before the next fold: the filter
    /// tile stays on chip for all samples.
    Inner,
}

impl BatchOrder {
    /// The name in the `mapping` column.
    pub fn as_str(&self) -> &'static str {
        match self {
            BatchOrder::Stacked => "batch-stacked",
            BatchOrder::PerSample => "batch-outer",
            BatchOrder::Inner => "batch-inner",
        }
    }
}

/// One point of a layer's mapspace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LayerMapping {
    /// K chunks (per group) of every pass, in order; a gated layer's base chunks first.
    pub split: KSplit,
    /// Of `split`, how many chunks belong to the base pass (0 for an ungated layer).
    pub base_passes: usize,
    /// The fold loop order of every pass.
    pub order: FoldOrder,
    pub batch: BatchOrder,
    /// `array.overlap_folds` used (never where the design does not have it).
    pub overlap: bool,
    /// Tiles of `[ifmap, filter]` kept resident in a pass whose share does not fit.
    pub pins: [u64; 2],
}

impl LayerMapping {
    /// The base chunks and the conditional (or, ungated, the only) chunks.
    pub fn passes(&self) -> (&[u64], &[u64]) {
        self.split.chunks().split_at(self.base_passes)
    }

    fn stream_options(&self, batch: u64) -> StreamOptions {
        StreamOptions {
            overlap: self.overlap,
            pins: self.pins,
            batch_inner: if self.batch == BatchOrder::Inner {
                batch
            } else {
                1
            },
        }
    }
}

/// A candidate with what it costs.
#[derive(Debug, Clone)]
pub struct Evaluated {
    pub mapping: LayerMapping,
    /// The `mapping` column: short and readable (`k3 n-outer batch-inner ifmap-resident`).
    pub name: Arc<str>,
    /// Completed counters: cycles and energy filled in (no gate unit).
    pub totals: Counters,
    /// Compute cycles of each pass (every sample of a batch).
    pub pass_cycles: Vec<Cycles>,
}

impl Evaluated {
    /// The objective's value (smaller is better).
    pub fn value(&self, objective: MappingObjective) -> f64 {
        value(
            objective,
            self.totals.cycles,
            self.totals.energy.total().get(),
        )
    }
}

fn value(objective: MappingObjective, cycles: Cycles, energy: f64) -> f64 {
    match objective {
        MappingObjective::Latency => cycles.as_f64(),
        MappingObjective::Energy => energy,
        MappingObjective::Edp => energy * cycles.as_f64(),
    }
}

/// The order of two evaluated candidates under `objective`: the objective, then cycles, then
/// energy, then the name, then the K split, then more resident tiles.
pub fn compare(objective: MappingObjective, a: &Evaluated, b: &Evaluated) -> Ordering {
    let (ea, eb) = (a.totals.energy.total().get(), b.totals.energy.total().get());
    a.value(objective)
        .total_cmp(&b.value(objective))
        .then(a.totals.cycles.cmp(&b.totals.cycles))
        .then(ea.total_cmp(&eb))
        .then_with(|| a.name.cmp(&b.name))
        .then_with(|| a.mapping.split.chunks().cmp(b.mapping.split.chunks()))
        .then_with(|| b.mapping.pins.cmp(&a.mapping.pins))
        .then_with(|| a.mapping.order.cmp(&b.mapping.order))
        .then_with(|| a.mapping.batch.cmp(&b.mapping.batch))
}

/// What a layer's mapspace is enumerated from.
#[derive(Debug, Clone)]
pub struct Mapspace {
    arch: ArchConfig,
    /// The design at batch 1 (a per-sample or inner-loop batch runs one sample's GEMM).
    arch1: ArchConfig,
    /// One sample's GEMM (K' for N:M).
    g1: LayerGemm,
    comp_b: Compulsory,
    comp_1: Compulsory,
    batch: u64,
    /// Window elements per input channel (kh·kw) and input channels per group, when K splits
    /// along channels.
    per_channel: Option<(u64, u64)>,
    /// A gated layer: K_base per group.
    k_base: Option<u64>,
    /// Loop orders the conditional pass may take (the policy's; every order when ungated).
    cond_orders: Vec<FoldOrder>,
    /// Whether the batch may run as the inner loop (its conditional pass runs every fold).
    inner_ok: bool,
    /// Extra K splits to enumerate (an ungated layer's own gated split).
    extra_splits: Vec<KSplit>,
    /// The single pass only (N:M layers: SCALE-Sim's model has no K split).
    single_only: bool,
}

impl Mapspace {
    /// The mapspace of a layer whose one-sample GEMM is `g1`, with compulsory traffic `comp_b`
    /// for the batch of `arch.workload.batch` samples and `comp_1` for one sample.
    /// `per_channel` is (kh·kw, input channels per group) when K may split along channels.
    pub fn new(
        arch: &ArchConfig,
        g1: LayerGemm,
        comp_b: Compulsory,
        comp_1: Compulsory,
        per_channel: Option<(u64, u64)>,
    ) -> Self {
        let mut arch1 = arch.clone();
        arch1.workload.batch = 1;
        Self {
            arch: arch.clone(),
            arch1,
            g1,
            comp_b,
            comp_1,
            batch: arch.workload.batch,
            per_channel,
            k_base: None,
            cond_orders: vec![FoldOrder::ColumnOuter, FoldOrder::RowOuter],
            inner_ok: true,
            extra_splits: Vec::new(),
            single_only: false,
        }
    }

    /// The same mapspace for a gated layer with `k_base` base window elements per group:
    /// the conditional pass may take the `cond_orders` and, if `inner_ok`, the inner batch loop.
    pub fn gated(mut self, k_base: u64, cond_orders: &[FoldOrder], inner_ok: bool) -> Self {
        self.k_base = Some(k_base);
        self.cond_orders = cond_orders.to_vec();
        self.inner_ok = inner_ok;
        self
    }

    /// Adds `split` to the K splits enumerated (an ungated layer's own gated split, so the
    /// ungated baseline's mapspace holds the `dense` policy's).
    pub fn with_split(mut self, split: KSplit) -> Self {
        if split.passes() > 0 {
            self.extra_splits.push(split);
        }
        self
    }

    /// The single pass only.
    pub fn single_only(mut self) -> Self {
        self.single_only = true;
        self
    }

    /// Whether only the single pass is enumerated.
    pub fn is_single_only(&self) -> bool {
        self.single_only
    }

    /// The batch size.
    pub fn batch(&self) -> u64 {
        self.batch
    }

    /// One sample's GEMM.
    pub fn gemm1(&self) -> LayerGemm {
        self.g1
    }

    fn gemm_b(&self) -> LayerGemm {
        LayerGemm {
            m: self.g1.m * self.batch,
            ..self.g1
        }
    }

    fn map(&self, gemm: LayerGemm, k: u64) -> Mapping {
        let a = &self.arch.array;
        gemm.with_k(k).map(a.dataflow, a.rows, a.cols)
    }

    /// The K splits of a window of `k` elements per group over `channels` input channels
    /// (module docs): one pass, and for each pass count p of [`PASS_COUNTS`] up to the channels,
    /// p passes of whole channels as even as possible and, with K on the array rows, passes of
    /// whole row folds (⌈K/p⌉ rounded down to a multiple of R). The list does not depend on the
    /// buffer sizes, so a larger buffer never loses a candidate (every candidate's cost can only
    /// fall when a buffer grows: more of each share fits, more tiles stay).
    fn splits_of(&self, k: u64, channels: Option<u64>) -> Vec<KSplit> {
        self.tagged_splits_of(k, channels)
            .into_iter()
            .map(|(_, s)| s)
            .collect()
    }

    /// [`Mapspace::splits_of`], each split tagged by its pass count p and kind (0: whole
    /// channels, 1: whole row folds); the single pass is `(1, 0)`.
    fn tagged_splits_of(&self, k: u64, channels: Option<u64>) -> Vec<((u64, u8), KSplit)> {
        let mut out = vec![((1, 0), KSplit::one_pass(k))];
        let add = |tag, s: KSplit, out: &mut Vec<((u64, u8), KSplit)>| {
            if s.passes() > 0
                && s.chunks().iter().sum::<u64>() == k
                && !out.iter().any(|(_, x)| *x == s)
            {
                out.push((tag, s));
            }
        };
        let (Some((per, _)), Some(cin)) = (self.per_channel, channels) else {
            return out;
        };
        if self.g1.groups > 1 || self.single_only || cin <= 1 || per * cin != k {
            return out;
        }
        let a = &self.arch.array;
        let k_on_rows = crate::dataflow::model(a.dataflow).axes().rows == Axis::K;
        for &p in PASS_COUNTS.iter().filter(|&&p| p <= cin) {
            add(
                (p, 0),
                KSplit::new((0..p).map(|i| (cin / p + u64::from(i < cin % p)) * per)),
                &mut out,
            );
            if k_on_rows {
                let kr = k.div_ceil(p) / a.rows * a.rows;
                if kr >= a.rows && kr < k {
                    add((p, 1), KSplit::chunks_of(k, kr), &mut out);
                }
            }
        }
        out
    }

    fn folds_of(&self, chunks: &[u64]) -> u64 {
        chunks
            .iter()
            .map(|&k| self.map(self.g1, k).folds())
            .fold(0u64, u64::saturating_add)
    }

    /// Every K split of the layer (gated: base splits × conditional splits).
    fn splits(&self) -> Vec<(KSplit, usize)> {
        let k = self.g1.k;
        let cin = self.per_channel.map(|(_, c)| c);
        let per = self.per_channel.map_or(1, |(p, _)| p.max(1));
        let mut out: Vec<(KSplit, usize)> = match self.k_base {
            None => self
                .splits_of(k, cin)
                .into_iter()
                .chain(self.extra_splits.iter().cloned())
                .map(|s| (s, 0))
                .collect(),
            Some(kb) => {
                // The base and the conditional window split alike (the same pass count and
                // kind), or the base in one pass: a mapspace about as large as an ungated
                // layer's, equal to it when K_base = 0.
                let window = |kx: u64| {
                    if kx == 0 {
                        vec![((1, 0), KSplit::new([]))]
                    } else {
                        self.tagged_splits_of(kx, cin.map(|_| kx / per))
                    }
                };
                let (base, cond) = (window(kb), window(k - kb));
                let single_base = &base[0].1;
                let mut v = Vec::new();
                for (tag, c) in &cond {
                    let like = base.iter().find(|(t, _)| t == tag).map(|(_, b)| b);
                    for b in like.into_iter().chain([single_base]) {
                        v.push((
                            KSplit::new(b.chunks().iter().chain(c.chunks()).copied()),
                            b.passes(),
                        ));
                    }
                }
                for (tag, b) in &base {
                    if !cond.iter().any(|(t, _)| t == tag) {
                        let c = &cond[0].1;
                        v.push((
                            KSplit::new(b.chunks().iter().chain(c.chunks()).copied()),
                            b.passes(),
                        ));
                    }
                }
                v
            }
        };
        let mut seen = std::collections::HashSet::new();
        out.retain(|s| seen.insert(s.clone()));
        let budget = self
            .folds_of(&[k])
            .saturating_mul(MAX_FOLD_FACTOR)
            .max(self.folds_of(out[0].0.chunks()));
        out.retain(|(s, _)| self.folds_of(s.chunks()) <= budget);
        out
    }

    /// Loop orders worth enumerating for `split`: the row-outer order only when some pass has
    /// more than one row fold and more than one column fold (otherwise both orders run the
    /// same folds in the same order), and only the policy's orders for a gated layer.
    fn orders(&self, split: &KSplit) -> Vec<FoldOrder> {
        let g = self.g1;
        let differs = split.chunks().iter().any(|&k| {
            let m = self.map(g, k);
            m.row_folds > 1 && m.col_folds > 1
        });
        let mut v = vec![FoldOrder::ColumnOuter];
        if differs && self.cond_orders.contains(&FoldOrder::RowOuter) {
            v.push(FoldOrder::RowOuter);
        }
        v
    }

    fn batch_orders(&self) -> Vec<BatchOrder> {
        if self.batch == 1 {
            return vec![BatchOrder::Stacked];
        }
        let mut v = vec![BatchOrder::Stacked, BatchOrder::PerSample];
        if self.inner_ok {
            v.push(BatchOrder::Inner);
        }
        v
    }

    fn overlaps(&self) -> Vec<bool> {
        if self.arch.array.overlap_folds {
            vec![true, false]
        } else {
            vec![false]
        }
    }

    /// The most tiles of each input a pass of `chunks` can keep resident with `batch` (module
    /// docs): n with (n + 1) full tiles within the usable half, over the passes whose share
    /// does not fit; 0 for grouped layers and the inner batch loop.
    fn max_pins(&self, chunks: &[u64], batch: BatchOrder) -> [u64; 2] {
        if self.g1.groups > 1 || batch == BatchOrder::Inner {
            return [0, 0];
        }
        let (g, comp) = match batch {
            BatchOrder::Stacked => (self.gemm_b(), &self.comp_b),
            _ => (self.g1, &self.comp_1),
        };
        let mem = &self.arch.memory;
        let caps = [
            usable_bytes(mem.ifmap_sram_kib),
            usable_bytes(mem.filter_sram_kib),
        ];
        let totals = [g.m * g.k, g.k * g.n];
        let comps = [comp.ifmap.get(), comp.filter.get()];
        let mut pins = [u64::MAX, u64::MAX];
        for &k in chunks {
            let map = self.map(g, k);
            let f = map.fold_at(0, 0);
            let tiles = [f.m.len() * f.k.len(), f.k.len() * f.n.len()];
            let shares = [g.m * k, k * g.n];
            for x in 0..2 {
                let bytes = |e: u64| {
                    if totals[x] == 0 {
                        0
                    } else {
                        (u128::from(e) * u128::from(comps[x])).div_ceil(u128::from(totals[x]))
                            as u64
                    }
                };
                if bytes(shares[x]) <= caps[x] {
                    continue; // fetched once anyway
                }
                let tile = bytes(tiles[x]).max(1);
                pins[x] = pins[x].min((caps[x] / tile).saturating_sub(1));
            }
        }
        pins.map(|p| if p == u64::MAX { 0 } else { p })
    }

    /// Every candidate the search considers: K splits × loop orders × batch orders × overlap,
    /// each with its most resident tiles.
    pub fn candidates(&self) -> Vec<LayerMapping> {
        self.enumerate(false)
    }

    fn enumerate(&self, every_pin: bool) -> Vec<LayerMapping> {
        let mut out = Vec::new();
        for (split, base_passes) in self.splits() {
            for order in self.orders(&split) {
                for batch in self.batch_orders() {
                    for overlap in self.overlaps() {
                        let max = self.max_pins(split.chunks(), batch);
                        let pins: Vec<[u64; 2]> = if every_pin {
                            (0..=max[0])
                                .flat_map(|a| (0..=max[1]).map(move |b| [a, b]))
                                .collect()
                        } else {
                            vec![max]
                        };
                        for pins in pins {
                            out.push(LayerMapping {
                                split: split.clone(),
                                base_passes,
                                order,
                                batch,
                                overlap,
                                pins,
                            });
                        }
                    }
                }
            }
        }
        out
    }

    /// The SRAM accesses of `m` (they depend on the folds only; exact for ungrouped GEMMs,
    /// `None` for grouped ones).
    fn sram(&self, m: &LayerMapping) -> Option<SramAccesses> {
        if self.g1.groups > 1 {
            return None;
        }
        let (g, times) = match m.batch {
            BatchOrder::Stacked => (self.gemm_b(), 1),
            _ => (self.g1, self.batch),
        };
        let mut s = SramAccesses::default();
        for (p, &k) in m.split.chunks().iter().enumerate() {
            let map = self.map(g, k);
            let along = |axis: Axis| {
                if map.axes.rows == axis {
                    map.row_folds
                } else if map.axes.cols == axis {
                    map.col_folds
                } else {
                    1
                }
            };
            let (mm, nn) = (g.m, g.n);
            let ifmap = along(Axis::N) * mm * k;
            let filter = along(Axis::M) * k * nn;
            let writes = along(Axis::K) * mm * nn;
            let psum = if p == 0 { writes - mm * nn } else { writes };
            s.ifmap_reads += Accesses(ifmap * times);
            s.filter_reads += Accesses(filter * times);
            s.ofmap_writes += Accesses(writes * times);
            s.psum_reads += Accesses(psum * times);
        }
        Some(s)
    }

    /// A lower bound on `m`'s cycles and energy: its stall-free cycles, and the energy of its
    /// MACs, SRAM accesses and compulsory DRAM traffic with leakage over those cycles.
    pub fn bound(&self, m: &LayerMapping) -> (Cycles, f64) {
        let (g, times) = match m.batch {
            BatchOrder::Stacked => (self.gemm_b(), 1),
            _ => (self.g1, self.batch),
        };
        let mut compute = 0u64;
        for &k in m.split.chunks() {
            let map = self.map(g, k);
            let c = map
                .stall_free_cycles(m.overlap)
                .map_or(u64::MAX, |c| c.get());
            let c = if m.batch == BatchOrder::Inner && m.overlap {
                // The first sample's copies are charged as one sample's overlapped folds; every
                // other copy follows a fold of its own stream length, one period (≥ 1) later.
                c.saturating_add((times - 1).saturating_mul(map.folds()))
            } else {
                c.saturating_mul(times)
            };
            compute = compute.saturating_add(c);
        }
        let gb = self.gemm_b();
        let mut t = Counters {
            compute_cycles: Cycles(compute),
            cycles: Cycles(compute),
            dram: DramTraffic {
                ifmap_read: self.comp_b.ifmap,
                filter_read: if m.batch == BatchOrder::PerSample {
                    Bytes(self.comp_b.filter.get().saturating_mul(self.batch))
                } else {
                    self.comp_b.filter
                },
                ofmap_write: self.comp_b.ofmap,
                ..DramTraffic::default()
            },
            ..Counters::default()
        };
        if let Some(s) = self.sram(m) {
            t.sram = s;
        }
        t.macs_executed = gb.macs();
        t.macs_needed = gb.macs();
        (Cycles(compute), energy(&self.arch, &t).total().get())
    }

    /// Streams every fold of every pass of `m` (all passes in full) and completes the counters.
    pub fn evaluate(&self, m: &LayerMapping) -> Evaluated {
        let (totals, pass_cycles) = match m.batch {
            BatchOrder::Stacked => {
                let g = self.gemm_b();
                let (t, p) = self.stream(&self.arch, g, g, &self.comp_b, m);
                (complete_dense(&self.arch, g, t), p)
            }
            BatchOrder::Inner => {
                let (t, p) = self.stream(&self.arch, self.g1, self.gemm_b(), &self.comp_b, m);
                (complete_dense(&self.arch, self.gemm_b(), t), p)
            }
            BatchOrder::PerSample => {
                let (t, p) = self.stream(&self.arch1, self.g1, self.g1, &self.comp_1, m);
                let one = complete_dense(&self.arch1, self.g1, t);
                let mut all = (0..self.batch).map(|_| one).sum::<Counters>();
                all.energy = energy(&self.arch, &all);
                let p = p.iter().map(|c| Cycles(c.get() * self.batch)).collect();
                (all, p)
            }
        };
        Evaluated {
            name: self.name(m).into(),
            mapping: m.clone(),
            totals,
            pass_cycles,
        }
    }

    /// Streams the passes of `m` with maps of `run` and the operands of `whole` (the batch's,
    /// with the inner batch loop).
    fn stream(
        &self,
        arch: &ArchConfig,
        run: LayerGemm,
        whole: LayerGemm,
        comp: &Compulsory,
        m: &LayerMapping,
    ) -> (Counters, Vec<Cycles>) {
        let g = whole.groups;
        let mut stream = PassStream::with_options(
            arch,
            OperandFootprint {
                gemm_elems: whole.m * whole.k * g,
                compulsory: comp.ifmap,
            },
            OperandFootprint {
                gemm_elems: whole.k * whole.n * g,
                compulsory: comp.filter,
            },
            whole.outputs(),
            m.stream_options(self.batch),
        );
        let chunks = m.split.chunks();
        let last = chunks.len().saturating_sub(1);
        let mut cycles = Vec::with_capacity(chunks.len());
        for (p, &k) in chunks.iter().enumerate() {
            let map = self.map(run, k);
            let mut pass = Pass::new(p as u64, &map, p > 0)
                .in_order(m.order)
                .continued_later(p < last);
            for f in pass.folds() {
                let finalised = if map.group_last(&f) {
                    f.m.len() * f.n.len()
                } else {
                    0
                };
                stream.dense(&mut pass, &f, finalised);
            }
            cycles.push(pass.cycles());
        }
        (stream.finish(), cycles)
    }

    /// Whether every pass's share of `input` (0 ifmap, 1 filter) fits its buffer.
    fn fits(&self, m: &LayerMapping, x: usize) -> bool {
        let (g, comp) = match m.batch {
            BatchOrder::Stacked | BatchOrder::Inner => (self.gemm_b(), &self.comp_b),
            BatchOrder::PerSample => (self.g1, &self.comp_1),
        };
        let mem = &self.arch.memory;
        let (cap, total, c) = if x == 0 {
            (
                usable_bytes(mem.ifmap_sram_kib),
                g.m * g.k,
                comp.ifmap.get(),
            )
        } else {
            (
                usable_bytes(mem.filter_sram_kib),
                g.k * g.n,
                comp.filter.get(),
            )
        };
        m.split.chunks().iter().all(|&k| {
            let share = if x == 0 { g.m * k } else { k * g.n };
            total == 0
                || (u128::from(share) * u128::from(c)).div_ceil(u128::from(total))
                    <= u128::from(cap)
        })
    }

    /// The `mapping` column of `m`: the passes (`k3`; a gated layer `k1+2`, base + conditional),
    /// the outer fold loop (`n-outer`), the batch order when B > 1, the inputs whose every
    /// pass share stays on chip (`ifmap-resident`) or of which n tiles are kept (`filter-keep3`),
    /// and `no-overlap` where the design overlaps folds.
    pub fn name(&self, m: &LayerMapping) -> String {
        let (base, cond) = m.passes();
        let mut s = match self.k_base {
            None => format!("k{}", m.split.passes()),
            Some(_) => format!("k{}+{}", base.len(), cond.len()),
        };
        let axes = crate::dataflow::model(self.arch.array.dataflow).axes();
        let outer = match m.order {
            FoldOrder::ColumnOuter => axes.cols,
            FoldOrder::RowOuter => axes.rows,
        };
        s.push_str(match outer {
            Axis::M => " m-outer",
            Axis::K => " k-outer",
            Axis::N => " n-outer",
        });
        if self.batch > 1 {
            s.push(' ');
            s.push_str(m.batch.as_str());
        }
        for (x, input) in [(0, "ifmap"), (1, "filter")] {
            if self.fits(m, x) {
                s.push_str(&format!(" {input}-resident"));
            } else if m.pins[x] > 0 {
                s.push_str(&format!(" {input}-keep{}", m.pins[x]));
            }
        }
        if self.arch.array.overlap_folds && !m.overlap {
            s.push_str(" no-overlap");
        }
        s
    }

    /// Every candidate with every count of resident tiles (no reduction): what the property
    /// tests compare [`search`] against.
    pub fn brute_force(&self, objective: MappingObjective) -> Evaluated {
        let all: Vec<Evaluated> = self
            .enumerate(true)
            .iter()
            .map(|m| self.evaluate(m))
            .collect();
        all.into_iter()
            .min_by(|a, b| compare(objective, a, b))
            .expect("a mapspace has at least the single pass")
    }

    /// How many candidates [`search`] considers.
    pub fn size(&self) -> usize {
        self.candidates().len()
    }
}

/// The best candidate of `space` under `objective` (module docs), exhaustive with exact bounds.
pub fn search(space: &Mapspace, objective: MappingObjective) -> Evaluated {
    search_counted(space, objective).0
}

/// [`search`], with how many candidates it streamed (the others were cut by their bounds).
pub fn search_counted(space: &Mapspace, objective: MappingObjective) -> (Evaluated, usize) {
    let mut cands: Vec<(f64, Cycles, LayerMapping)> = space
        .candidates()
        .into_iter()
        .map(|m| {
            let (c, e) = space.bound(&m);
            (value(objective, c, e), c, m)
        })
        .collect();
    // Most promising first, so the bound cuts early; the order does not change the result.
    cands.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut best: Option<Evaluated> = None;
    let mut evals = 0;
    for (bound, _, m) in cands {
        if let Some(b) = &best
            && bound > b.value(objective)
        {
            continue;
        }
        let e = space.evaluate(&m);
        evals += 1;
        debug_assert!(
            value(objective, e.totals.cycles, e.totals.energy.total().get())
                >= bound * (1.0 - 1e-9),
            "the bound of {m:?} exceeds its cost"
        );
        if best
            .as_ref()
            .is_none_or(|b| compare(objective, &e, b) == Ordering::Less)
        {
            best = Some(e);
        }
    }
    (
        best.expect("a mapspace has at least the single pass"),
        evals,
    )
}

/// Chosen mappings with their costs by (layer and design key, objective): a sweep pays the
/// search once per distinct layer and design (the cost is a pure function of the key). Holds at
/// most [`CACHE_ENTRIES`] entries (cleared when full).
static CACHE: Mutex<Option<HashMap<String, Evaluated>>> = Mutex::new(None);
const CACHE_ENTRIES: usize = 1 << 16;

/// [`search`] through the cache: `key` names everything the mapspace depends on besides the
/// design's memory, array, energy, clock and batch (which are added here).
pub fn choose(space: &Mapspace, objective: MappingObjective, key: &str) -> Evaluated {
    let a = &space.arch;
    let full = format!(
        "{key}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{}|{objective:?}|{:?}|{:?}|{:?}|{}|{}",
        a.array,
        a.memory,
        a.energy,
        a.clock,
        space.g1,
        space.comp_b,
        space.comp_1,
        space.extra_splits,
        space.batch,
        space.per_channel,
        space.k_base,
        space.cond_orders,
        space.inner_ok && space.batch > 1,
        space.single_only,
    );
    let hit = CACHE
        .lock()
        .ok()
        .and_then(|c| c.as_ref().and_then(|m| m.get(&full).cloned()));
    if let Some(e) = hit {
        return e;
    }
    let best = search(space, objective);
    if let Ok(mut c) = CACHE.lock() {
        let map = c.get_or_insert_with(HashMap::new);
        if map.len() >= CACHE_ENTRIES {
            map.clear();
        }
        map.insert(full, best.clone());
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdg_core::{ConvParams, Layer, LayerShape, OutputRule};

    /// 3×3, 256 → 256 channels on a 10×10 input (issue #13's layer) on the 16×16 OS design.
    fn space(batch: u64, overlap: bool) -> Mapspace {
        let mut arch = ArchConfig::default_with("t");
        arch.workload.batch = batch;
        arch.array.overlap_folds = overlap;
        let shape = LayerShape::conv(
            "c",
            ConvParams {
                in_channels: 256,
                in_height: 10,
                in_width: 10,
                out_channels: 256,
                kernel: [3, 3],
                stride: 1,
                padding: 0,
                rule: OutputRule::Floor,
            },
        )
        .unwrap();
        let layer = Layer { shape, gate: None };
        let g1 = LayerGemm::of(&layer.shape);
        let mut a1 = arch.clone();
        a1.workload.batch = 1;
        Mapspace::new(
            &arch,
            g1,
            crate::memory::compulsory(&arch, &layer, g1.k),
            crate::memory::compulsory(&a1, &layer, g1.k),
            Some((9, 256)),
        )
    }

    #[test]
    fn the_mapspace_is_the_product_of_its_dimensions() {
        let s = space(1, false);
        let splits = s.splits();
        // One pass and the even channel splits into 2 … 16 passes (K streams on OS: no
        // row-aligned ones); 24, 32 and 64 passes exceed 16× the single pass's folds.
        assert_eq!(splits.len(), 1 + 8, "{splits:?}");
        assert!(
            splits
                .iter()
                .any(|(k, _)| k.chunks() == [52 * 9, 51 * 9, 51 * 9, 51 * 9, 51 * 9])
        );
        // Two loop orders each, one batch order, no overlap choice.
        assert_eq!(s.size(), 2 * splits.len());
        // Batch 8: three batch orders; overlap on: two overlap choices.
        assert_eq!(space(8, false).size(), 3 * s.size());
        assert_eq!(space(1, true).size(), 2 * s.size());
        // A gated layer without a base path has the ungated layer's splits.
        let g = space(1, false).gated(0, &[FoldOrder::ColumnOuter, FoldOrder::RowOuter], true);
        let gs: Vec<KSplit> = g.splits().into_iter().map(|(k, _)| k).collect();
        let us: Vec<KSplit> = splits.into_iter().map(|(k, _)| k).collect();
        assert_eq!(gs, us);
    }

    #[test]
    fn names_say_passes_order_batch_and_residency() {
        let s = space(8, true);
        let m = LayerMapping {
            split: KSplit::new([1152, 1152]),
            base_passes: 0,
            order: FoldOrder::ColumnOuter,
            batch: BatchOrder::Inner,
            overlap: false,
            pins: [0, 0],
        };
        let name = s.name(&m);
        assert!(name.starts_with("k2 n-outer batch-inner"), "{name}");
        assert!(name.ends_with("no-overlap"), "{name}");
        let g = space(1, false).gated(576, &[FoldOrder::ColumnOuter], false);
        let m = LayerMapping {
            split: KSplit::new([576, 864, 864]),
            base_passes: 1,
            order: FoldOrder::RowOuter,
            batch: BatchOrder::Stacked,
            overlap: false,
            pins: [0, 3],
        };
        let name = g.name(&m);
        assert!(name.starts_with("k1+2 m-outer"), "{name}");
        assert!(name.contains("filter-keep3"), "{name}");
    }
}
