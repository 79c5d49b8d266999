//! The memory model (docs/model.md §6): double-buffered SRAMs with half their size usable,
//! compulsory DRAM traffic, re-fetch per fold when an operand does not fit, partial-sum spills,
//! and bandwidth stalls.
//!
//! The model consumes the folds of a layer one at a time ([`FoldWork`], in execution order,
//! from any number of passes and any skip policy) and keeps only running totals (the layer's
//! [`Counters`]: folds, compute, stall and prefetch cycles, SRAM accesses, DRAM traffic), so it
//! allocates nothing. [`crate::stream`] turns the folds of a list of passes into `FoldWork`.
//!
//! **Fetch rule.** Per pass: an operand whose share in the pass (the pass's K range of it, see
//! [`MemoryModel::begin_pass`]) fits in its buffer's usable half is fetched once: a fold fetches
//! its tile only on the tile's first use. Otherwise a fold fetches its tile unless the previous
//! fold used the same tile and that tile fits. A tile's bytes are
//! its share of the operand's compulsory bytes, in proportion to the GEMM elements it covers
//! (cumulative flooring, so one full pass over an operand moves exactly its compulsory bytes).
//!
//! **Outputs.** A fold writes its outputs (`OutputUse`). Outputs of an accumulation group (all
//! row folds of one column fold when K is on the rows) stay on chip while the group's partial
//! sums fit in the ofmap buffer's usable half and go to DRAM once, after the last fold;
//! otherwise every fold writes its partial sums to DRAM and every fold but the first reads them
//! back (`psum` traffic).
//!
//! **Stalls.** DRAM bandwidth is shared by reads and writes. Fold 0's fetch is the prefetch
//! (`prefetch_cycles`); while fold i computes, fold i+1's fetch and fold i's write-back move, and
//! stall_i = max(0, ⌈bytes/bw⌉ − compute_i). The last fold's write-back drains after it. Each
//! layer starts with cold buffers. With unlimited bandwidth every stall is 0.
//!
//! **Overflow.** Sums saturate at u64::MAX (checked once per layer by the caller, see
//! [`crate::counters::Figure::unrepresentable`]); a transfer longer than 2^63 cycles also
//! saturates, so a bandwidth too small to count is reported, never wrapped.

use crate::counters::{Compulsory, Counters, SatAdd};
use cdg_core::arch::DramBandwidth;
use cdg_core::{Accesses, ArchConfig, Bytes, Cycles, Layer};

/// An input tile (ifmap or filter) a fold needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileUse {
    /// Identity of the tile within its operand: equal ids hold equal data.
    pub id: u64,
    /// GEMM elements the fold reads from SRAM (its tile, e.g. |M_i|·K ifmap elements in OS).
    pub elems: u64,
    /// Of `elems`, the GEMM elements no earlier fold of this layer read: what a fold fetches
    /// when the whole operand fits on chip. A dense tile has all (on its first use) or none of
    /// them new; a gathered tile (rows or columns picked by a skip policy) may have some.
    pub new_elems: u64,
}

/// The outputs a fold produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputUse {
    /// Output elements written (to SRAM) by this fold.
    pub elems: u64,
    /// Elements of the whole accumulation group (its partial-sum footprint).
    pub group_elems: u64,
    /// The first fold contributing to the group (no partial sums to read back).
    pub first: bool,
    /// The last fold contributing to the group (its outputs are final).
    pub last: bool,
    /// The group continues partial sums an earlier pass of the layer left in DRAM (a gated
    /// layer whose outputs do not fit on chip): this fold reads its outputs back from DRAM
    /// even when the group fits.
    pub reload: bool,
    /// When `last`, the group's outputs are still partial (a later pass continues them), so
    /// writing them is partial-sum traffic.
    pub continued: bool,
}

/// What one fold does, as the memory and energy models see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoldWork {
    /// Array cycles of the fold (fill, stream, drain; after any overlap saving).
    pub compute: Cycles,
    pub ifmap: TileUse,
    pub filter: TileUse,
    pub output: OutputUse,
}

/// One input operand of a layer as the memory model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperandFootprint {
    /// GEMM elements of the whole operand (M·K for the ifmap, K·N for the filter).
    pub gemm_elems: u64,
    /// Compulsory DRAM bytes: unique elements that must come from DRAM at least once.
    pub compulsory: Bytes,
}

#[derive(Debug, Clone, Copy)]
struct OperandState {
    fp: OperandFootprint,
    cap: u64,
    word: u64,
    /// The current pass's share of the operand fits in the usable buffer.
    fits: bool,
    /// Every GEMM element is its own word (filters, GEMM-mode inputs): bytes need no scaling.
    exact: bool,
    /// GEMM elements fetched so far (may exceed `gemm_elems` with re-fetches).
    fetched_elems: u128,
    /// Bytes charged so far.
    fetched_bytes: u64,
    prev_id: Option<u64>,
    /// Tile ids `[pin_base, pin_base + pins)` stay on chip after their first use in the pass
    /// (the mapper's resident tiles; used only when the pass's share does not fit).
    pin_base: u64,
    pins: u64,
}

impl OperandState {
    fn new(fp: OperandFootprint, cap: u64, word: u64) -> Self {
        Self {
            fp,
            cap,
            word,
            fits: fp.compulsory.get() <= cap,
            exact: Some(fp.compulsory.get()) == fp.gemm_elems.checked_mul(word),
            fetched_elems: 0,
            fetched_bytes: 0,
            prev_id: None,
            pin_base: 0,
            pins: 0,
        }
    }

    /// The on-chip footprint of a tile of `elems` GEMM elements: its share of the operand's
    /// compulsory bytes (an im2col tile repeats input elements; the buffer holds them once).
    fn tile_bytes(&self, elems: u64) -> u64 {
        if self.fp.gemm_elems == 0 {
            return 0;
        }
        (u128::from(elems) * u128::from(self.fp.compulsory.get()))
            .div_ceil(u128::from(self.fp.gemm_elems)) as u64
    }

    /// Starts a pass that reads `elems` GEMM elements of the operand (its K range): the operand
    /// is fetched once in this pass if that share fits.
    fn begin_pass(&mut self, elems: u64) {
        self.fits = self.tile_bytes(elems) <= self.cap;
    }

    /// Bytes this tile moves from DRAM.
    fn fetch(&mut self, t: &TileUse) -> u64 {
        let pinned = self.pins > 0
            && t.id >= self.pin_base
            && t.id - self.pin_base < self.pins
            && t.id < crate::stream::GATHERED_IDS;
        let elems = if self.fits || pinned {
            // Everything fetched stays: only elements never read before move.
            t.new_elems
        } else if self.prev_id == Some(t.id) && self.tile_bytes(t.elems) <= self.cap {
            0
        } else {
            t.elems
        };
        self.prev_id = Some(t.id);
        if elems == 0 || self.fp.gemm_elems == 0 {
            return 0;
        }
        self.fetched_elems += u128::from(elems);
        let compulsory = self.fp.compulsory.get();
        let total = if self.exact {
            u64::try_from(self.fetched_elems)
                .ok()
                .and_then(|f| f.checked_mul(self.word))
                .unwrap_or(u64::MAX)
        } else {
            // The hot path: u64 arithmetic when it cannot overflow, u128 otherwise.
            match u64::try_from(self.fetched_elems)
                .ok()
                .and_then(|f| f.checked_mul(compulsory))
            {
                Some(p) => p / self.fp.gemm_elems,
                None => u64::try_from(
                    self.fetched_elems.saturating_mul(u128::from(compulsory))
                        / u128::from(self.fp.gemm_elems),
                )
                .unwrap_or(u64::MAX),
            }
        };
        let bytes = total.saturating_sub(self.fetched_bytes);
        self.fetched_bytes = total;
        bytes
    }
}

/// Streams a layer's folds through the memory model. Build with [`MemoryModel::new`], call
/// [`MemoryModel::push`] for every fold in execution order, then [`MemoryModel::finish`].
#[derive(Debug, Clone)]
pub struct MemoryModel {
    ifmap: OperandState,
    filter: OperandState,
    ofmap_cap: u64,
    word: u64,
    bandwidth: DramBandwidth,
    prev_compute: Option<Cycles>,
    prev_writes: u64,
    totals: Counters,
}

/// Usable bytes of a buffer of `kib` KiB: half of it (double buffering, as SCALE-Sim).
pub fn usable_bytes(kib: f64) -> u64 {
    (kib * 1024.0 / 2.0).floor() as u64
}

impl MemoryModel {
    pub fn new(arch: &ArchConfig, ifmap: OperandFootprint, filter: OperandFootprint) -> Self {
        let mem = &arch.memory;
        let word = mem.word_bytes;
        Self {
            ifmap: OperandState::new(ifmap, usable_bytes(mem.ifmap_sram_kib), word),
            filter: OperandState::new(filter, usable_bytes(mem.filter_sram_kib), word),
            ofmap_cap: usable_bytes(mem.ofmap_sram_kib),
            word,
            bandwidth: mem.dram_bandwidth,
            prev_compute: None,
            prev_writes: 0,
            totals: Counters::default(),
        }
    }

    /// Starts a pass that reads `ifmap_elems` and `filter_elems` GEMM elements of the two
    /// inputs: each is fetched once in this pass if its share fits in its buffer (docs/model.md
    /// §6). Passes cover disjoint K ranges, so their tiles are distinct.
    pub fn begin_pass(&mut self, ifmap_elems: u64, filter_elems: u64) {
        self.ifmap.begin_pass(ifmap_elems);
        self.filter.begin_pass(filter_elems);
    }

    /// Keeps the tiles with ids `[base, base + n)` of each input (`[ifmap, filter]`) resident
    /// in the current pass: each is fetched on its first use only. The caller keeps them (and
    /// one more tile) within the buffer's usable half.
    pub fn pin(&mut self, base: u64, [ifmap, filter]: [u64; 2]) {
        self.ifmap.pin_base = base;
        self.ifmap.pins = ifmap;
        self.filter.pin_base = base;
        self.filter.pins = filter;
    }

    /// Cycles to move `bytes`; saturates at u64::MAX (reported by the caller) when the
    /// bandwidth is too small for the count to fit.
    fn transfer_cycles(&self, bytes: u64) -> Cycles {
        match self.bandwidth {
            DramBandwidth::Unlimited => Cycles::ZERO,
            DramBandwidth::BytesPerCycle(bw) => {
                let c = (bytes as f64 / bw).ceil();
                // 2^63: far beyond any real run, and below where f64 → u64 saturates.
                Cycles(if c < 9.223_372_036_854_776e18 {
                    c as u64
                } else {
                    u64::MAX
                })
            }
        }
    }

    /// Accounts one fold.
    pub fn push(&mut self, w: &FoldWork) {
        // Folds, compute cycles, SRAM accesses and DRAM bytes are bounded by the layer's checks
        // (at most MAX_FOLDS folds whose cycles fit u64; M·K·N·2^16 fits u64, and no fold moves
        // more than its tiles), so plain sums cannot overflow; stalls depend on the bandwidth
        // and saturate.
        let t = &mut self.totals;
        t.folds += 1;
        t.compute_cycles += w.compute;
        t.sram.ifmap_reads += Accesses(w.ifmap.elems);
        t.sram.filter_reads += Accesses(w.filter.elems);
        t.sram.ofmap_writes += Accesses(w.output.elems);
        if !w.output.first {
            t.sram.psum_reads += Accesses(w.output.elems);
        }

        let ifmap_bytes = self.ifmap.fetch(&w.ifmap);
        let filter_bytes = self.filter.fetch(&w.filter);
        let out_bytes = w.output.elems * self.word;
        let group_fits = w.output.group_elems.saturating_mul(self.word) <= self.ofmap_cap;
        let (psum_read, write, psum_write) = if group_fits {
            // Partial sums stay on chip; the group leaves once, complete (or, `continued`, to
            // be reloaded by a later pass).
            let write = if w.output.last {
                w.output.group_elems * self.word
            } else {
                0
            };
            (
                if w.output.reload { out_bytes } else { 0 },
                write,
                if w.output.continued { write } else { 0 },
            )
        } else {
            let read = if w.output.first { 0 } else { out_bytes };
            let spill = if w.output.last { 0 } else { out_bytes };
            (read, out_bytes, spill)
        };
        let t = &mut self.totals;
        t.dram.ifmap_read += Bytes(ifmap_bytes);
        t.dram.filter_read += Bytes(filter_bytes);
        t.dram.psum_read += Bytes(psum_read);
        t.dram.ofmap_write += Bytes(write);
        t.dram.psum_write += Bytes(psum_write);

        let reads = ifmap_bytes + filter_bytes + psum_read;
        match self.prev_compute {
            None => {
                let p = self.transfer_cycles(reads);
                self.totals.prefetch_cycles = p;
                self.totals.stall_cycles.sat_add(p);
            }
            Some(prev) => {
                let need = self.transfer_cycles(reads + self.prev_writes);
                self.totals.stall_cycles.sat_add(need.saturating_sub(prev));
            }
        }
        self.prev_compute = Some(w.compute);
        self.prev_writes = write;
    }

    /// Charges `bytes` of outputs written to DRAM outside any fold (outputs no fold produced,
    /// which still leave the chip once).
    pub fn write_outputs(&mut self, bytes: Bytes) {
        self.totals.dram.ofmap_write.sat_add(bytes);
    }

    /// The counters of the folds pushed (folds, compute, stall and prefetch cycles, SRAM
    /// accesses, DRAM traffic), with the last fold's write-back drained.
    pub fn finish(mut self) -> Counters {
        let drain = self.transfer_cycles(self.prev_writes);
        self.totals.stall_cycles.sat_add(drain);
        self.totals
    }
}

/// The compulsory traffic of `layer` with a filter of `k` rows (K, or the compressed K of N:M
/// sparsity) for one batch of `workload.batch` samples: touched input elements and M·N outputs
/// of every sample, K·N weights once, in bytes.
pub fn compulsory(arch: &ArchConfig, layer: &Layer, k: u64) -> Compulsory {
    let wb = arch.memory.word_bytes;
    let batch = arch.workload.batch;
    // Per group: k window rows × N_g filters; G groups.
    let g = layer.shape.group_gemm();
    let groups = layer.shape.groups();
    Compulsory {
        ifmap: Bytes(touched_input_elements(&layer.shape) * wb * batch),
        filter: Bytes(k * g.n * groups * wb),
        ofmap: Bytes(g.m * g.n * groups * wb * batch),
    }
}

/// Input elements (excluding padding) that the windows of `layer` touch: the compulsory ifmap
/// traffic in elements. A dilated kernel touches only its taps (every d-th position of its
/// effective extent d·(k − 1) + 1).
pub fn touched_input_elements(layer: &cdg_core::LayerShape) -> u64 {
    let [kh, kw] = layer.kernel();
    let d = layer.dilation();
    let (s, p) = (layer.stride(), layer.padding());
    let h = touched_axis(layer.in_height(), layer.out_height(), kh, s, p, d);
    let w = touched_axis(layer.in_width(), layer.out_width(), kw, s, p, d);
    layer.in_channels() * h * w
}

/// Positions of `[0, size)` touched by the taps `o·s − p + t·d` (o in `0..out`, t in `0..k`).
fn touched_axis(size: u64, out: u64, k: u64, s: u64, p: u64, d: u64) -> u64 {
    if d == 1 || k == 1 {
        return touched_1d(size, out, k, s, p);
    }
    // Tap t of every window is a strided run of positions o·s + t·d − p; count the union by
    // marking (a dilated layer's input row is small enough to walk).
    let mut hit = vec![false; size as usize];
    for t in 0..k {
        for o in 0..out {
            let x = o * s + t * d;
            if x >= p && x - p < size {
                hit[(x - p) as usize] = true;
            }
        }
    }
    hit.iter().filter(|&&h| h).count() as u64
}

/// Positions of `[0, size)` covered by windows `[o·s − p, o·s − p + k)` for o in `0..out`.
fn touched_1d(size: u64, out: u64, k: u64, s: u64, p: u64) -> u64 {
    let clip = |o: u64| -> u64 {
        let start = (o * s).saturating_sub(p);
        let end = (o * s + k).saturating_sub(p).min(size);
        end.saturating_sub(start)
    };
    if s <= k {
        // Windows overlap or touch: their union is one interval.
        // The first window starts at −p ≤ 0, so the union clipped to the input starts at 0.
        ((out - 1) * s + k).saturating_sub(p).min(size)
    } else {
        // Disjoint windows; only the first and last can be clipped by padding or the edge.
        // Interior windows lie fully inside, each covering k positions.
        // Windows o with o·s ≥ p and o·s − p + k ≤ size are whole; the few clipped ones sit at
        // the two ends, so this loops over those only.
        let mut total = 0;
        let mut first = 0;
        while first < out && first * s < p {
            total += clip(first);
            first += 1;
        }
        let mut last = out;
        while last > first && ((last - 1) * s + k).saturating_sub(p) > size {
            last -= 1;
            total += clip(last);
        }
        total + (last - first) * k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_touched(size: u64, out: u64, k: u64, s: u64, p: u64) -> u64 {
        (0..size)
            .filter(|&x| (0..out).any(|o| o * s <= x + p && x + p < o * s + k))
            .count() as u64
    }

    #[test]
    fn dilated_touched_matches_naive() {
        // Naive: every tap position of every window.
        for size in 1..20u64 {
            for k in 1..4u64 {
                for d in 1..4u64 {
                    for s in 1..4u64 {
                        for p in 0..3u64 {
                            let eff = d * (k - 1) + 1;
                            if eff > size + 2 * p {
                                continue;
                            }
                            let out = (size + 2 * p - eff) / s + 1;
                            let naive = (0..size)
                                .filter(|&x| {
                                    (0..out).any(|o| (0..k).any(|t| o * s + t * d == x + p))
                                })
                                .count() as u64;
                            assert_eq!(
                                touched_axis(size, out, k, s, p, d),
                                naive,
                                "size {size} k {k} d {d} s {s} p {p}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn touched_matches_naive() {
        for size in 1..14 {
            for k in 1..=size + 2 {
                for s in 1..6 {
                    for p in 0..3 {
                        if k > size + 2 * p {
                            continue;
                        }
                        let out = (size + 2 * p - k) / s + 1;
                        assert_eq!(
                            touched_1d(size, out, k, s, p),
                            naive_touched(size, out, k, s, p),
                            "size {size} k {k} s {s} p {p}"
                        );
                        // The SCALE-Sim ceil rule lets the last window hang over the edge.
                        if p == 0 && k <= size {
                            let out = (size - k).div_ceil(s) + 1;
                            assert_eq!(
                                touched_1d(size, out, k, s, 0),
                                naive_touched(size, out, k, s, 0)
                            );
                        }
                    }
                }
            }
        }
    }
}
