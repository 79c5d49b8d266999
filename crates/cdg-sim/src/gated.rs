//! The fast gated-layer model (DESIGN §4 "Gated layers"): per sample, a gated layer runs a base
//! pass (K_base = kh·kw·base_channels) to completion, then a conditional pass (K_cond = K −
//! K_base) over the same M×N outputs that adds onto the stored partial sums where the gate is
//! on. What the conditional pass runs depends on `sparsity.support`:
//!
//! - `dense`: every fold, masks ignored (every conditional MAC at full cost);
//! - `clock-gate`: every fold; MAC slots of outputs whose gate is off cost `gated_mac`;
//! - `tile-skip`: a fold is skipped when the gate is off on all the outputs it covers (OS
//!   M_i × N_j, WS all M × N_j, IS M_j × all N); leftovers in kept folds are clock-gated;
//! - `compact`: OS packs the active rows A_j = {m : ∃n ∈ N_j, g = 1} R at a time; WS streams
//!   only A_j through every row fold of column fold j; IS streams only B_j = {n : ∃m ∈ M_j,
//!   g = 1}; each executed fold pays `gather_cycles_per_fold`; leftovers are clock-gated.
//!
//! The schedule is exactly [`crate::functional::GatedSchedule::for_policy`]'s (tests compare
//! the two fold by fold in cycles), but it is never materialised: the model works at gate-block
//! granularity on the packed mask words ([`LayerMasks::sample_words`]) and keeps, per layer and
//! sample, a few counters per fold. Memory stays proportional to the packed masks.
//!
//! **Memory.** Both passes stream through one [`MemoryModel`] (the layer's operands, in fold
//! order). Tiles a skip policy gathers (OS compact rows, WS compact streamed rows, IS compact
//! streamed filters) read only the kept rows from SRAM; when the operand fits on chip only rows
//! never read before come from DRAM. The partial sums P of the base pass must live until the
//! conditional pass: if the layer's M·N outputs fit in the ofmap buffer's usable half they stay
//! on chip and each output goes to DRAM once, when final (after the base pass if no conditional
//! fold touches it); otherwise each pass accumulates its groups (OS fold tiles, WS/IS column
//! folds) as the dense model does, a base group the conditional pass continues is written to
//! DRAM (partial-sum traffic), and the conditional group's first fold reads back the outputs it
//! covers.
//!
//! **Gate unit.** Every policy charges one `gate_op` per gate of the layer (the network computes
//! its gates whether or not the array exploits them), with no extra cycles. With
//! `sparsity.mask_in_dram = true` the packed mask (⌈blocks/8⌉ bytes) is read from DRAM once per
//! layer and sample (`dram_mask_bytes`), assumed hidden behind the base pass.
//!
//! **Samples.** [`simulate_samples`] simulates every sample of a [`MaskSet`] (rayon over samples
//! and layers, reductions in a fixed order) and returns the per-sample stats and their mean
//! ([`summarize`]).

use crate::dense::{LayerOptions, LayerOutcome, check_arch, compulsory, layer_stats};
use crate::energy::EnergyBreakdown;
use crate::error::SimError;
use crate::mapping::{Fold, Mapping};
use crate::memory::{
    DramTraffic, FoldWork, MemoryModel, MemoryTotals, OperandFootprint, OutputUse, SramAccesses,
    TileUse, usable_bytes,
};
use crate::stats::{
    Compulsory, LayerStats, NetworkStats, NetworkTotals, SampleMax, ScaleSimFigures,
};
use cdg_core::{
    Accesses, ArchConfig, Bytes, Cycles, Dataflow, GemmDims, Layer, LayerMasks, Macs, MaskSet,
    Microseconds, Network, PicoJoules, SkipPolicy,
};
use rayon::prelude::*;

/// Tile ids of the conditional pass start here (base-pass ids are fold or fold-row indices).
const COND_IDS: u64 = 1 << 40;
/// Ids of gathered tiles, each used once.
const GATHERED_IDS: u64 = 1 << 41;

/// What does not depend on the sample: shapes, mappings, the ungated reference.
#[derive(Debug, Clone)]
pub struct GatedPlan<'a> {
    layer: &'a Layer,
    df: Dataflow,
    r: u64,
    c: u64,
    m: u64,
    n: u64,
    kb: u64,
    kc: u64,
    /// Output rows and columns of the layer (m = oh·wo + ow).
    wo: u64,
    /// The layer's single dense GEMM (for SCALE-Sim figures and `row_folds`/`col_folds`).
    full: Mapping,
    base: Option<Mapping>,
    cond: Option<Mapping>,
    /// The M·N outputs fit in the usable half of the ofmap buffer.
    out_fits: bool,
    comp: Compulsory,
    cycles_ungated: Cycles,
    /// The run of the `dense` policy (mask-independent); `None` until computed.
    dense_run: Option<Emitted>,
}

impl<'a> GatedPlan<'a> {
    /// Checks `masks` against `layer` and prepares the sample-independent parts.
    pub fn new(arch: &ArchConfig, layer: &'a Layer, masks: &LayerMasks) -> Result<Self, SimError> {
        check_arch(arch)?;
        let name = layer.name();
        let spec = layer.gate.ok_or_else(|| {
            SimError::layer(name, "is not gated; the gated model needs a gate spec")
        })?;
        spec.validate(&layer.shape)?;
        let want = spec.grid(&layer.shape);
        if masks.grid() != want {
            return Err(SimError::layer(
                name,
                format!(
                    "mask grid is {:?} (channels, rows, columns); the layer's output {:?} with \
                     gate block {:?} expects {:?}",
                    masks.grid(),
                    [
                        layer.shape.out_channels(),
                        layer.shape.out_height(),
                        layer.shape.out_width()
                    ],
                    spec.block.as_array(),
                    want
                ),
            ));
        }
        if masks.block() != spec.block {
            return Err(SimError::layer(
                name,
                format!(
                    "mask gate block is {:?}; the layer's gate spec says {:?}",
                    masks.block().as_array(),
                    spec.block.as_array()
                ),
            ));
        }
        let out = [
            layer.shape.out_channels(),
            layer.shape.out_height(),
            layer.shape.out_width(),
        ];
        if masks.out_shape() != out {
            return Err(SimError::layer(
                name,
                format!(
                    "masks were made for an output of {:?}; the layer's output is {:?}",
                    masks.out_shape(),
                    out
                ),
            ));
        }
        let g = layer.shape.gemm();
        let kb = layer.shape.window_for(spec.base_channels);
        let kc = g.k - kb;
        let (r, c, df) = (arch.array.rows, arch.array.cols, arch.array.dataflow);
        g.m.checked_mul(g.n)
            .and_then(|x| x.checked_mul(g.k))
            .ok_or_else(|| SimError::overflow(name, "the MAC count"))?;
        let pass = |k: u64| (k > 0).then(|| Mapping::new(df, r, c, GemmDims { k, ..g }));
        let full = Mapping::new(df, r, c, g);
        full.stall_free_cycles(false)
            .and_then(|x| x.checked_mul(4))
            .ok_or_else(|| SimError::overflow(name, "the cycle count"))?;
        let ungated = Layer {
            shape: layer.shape.clone(),
            gate: None,
        };
        let cycles_ungated =
            crate::dense::simulate_layer(arch, &ungated, &LayerOptions::default())?.cycles;
        let mut plan = Self {
            layer,
            df,
            r,
            c,
            m: g.m,
            n: g.n,
            kb,
            kc,
            wo: layer.shape.out_width(),
            full,
            base: pass(kb),
            cond: pass(kc),
            out_fits: g
                .m
                .saturating_mul(g.n)
                .saturating_mul(arch.memory.word_bytes)
                <= usable_bytes(arch.memory.ofmap_sram_kib),
            comp: compulsory(arch, layer, g.k),
            cycles_ungated,
            dense_run: None,
        };
        plan.dense_run = Some(emit(
            arch,
            &plan,
            &GateSummary::default(),
            SkipPolicy::Dense,
        ));
        Ok(plan)
    }

    /// K_base and K_cond.
    pub fn k_split(&self) -> (u64, u64) {
        (self.kb, self.kc)
    }
}

/// One packed row group of an OS `compact` column fold.
#[derive(Debug, Clone, Copy, Default)]
struct Pack {
    size: u64,
    active: u64,
    new_rows: u64,
}

/// Per column fold of the conditional pass.
#[derive(Debug, Clone, Copy, Default)]
struct Column {
    /// Outputs with the gate on among those the column fold covers.
    active: u64,
    /// |A_j| (OS, WS) or |B_j| (IS).
    kept: u64,
    /// Of `kept`, rows (OS/WS: m; IS: n) no earlier column fold kept.
    new_kept: u64,
    /// First pack of this column (OS).
    pack_start: usize,
}

/// The gate of one sample reduced to what the schedules need.
#[derive(Debug, Clone, Default)]
pub struct GateSummary {
    cols: Vec<Column>,
    /// OS: per (j, i) at j·F_r + i, active outputs in M_i × N_j and |M_i ∩ A_j|.
    tiles: Vec<(u64, u64)>,
    packs: Vec<Pack>,
    /// OS: Σ over outputs of row m ≡ r (mod R) of active conditional outputs, per PE row.
    pe_dense: Vec<u64>,
    /// OS compact: the same with rows packed.
    pe_compact: Vec<u64>,
    active_total: u64,
    /// Every fold of the conditional pass covers an active output (`tile-skip` skips none).
    all_kept: bool,
}

impl GateSummary {
    /// Active output elements of the sample.
    pub fn active_outputs(&self) -> u64 {
        self.active_total
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

/// Reduces `sample` of `masks` for `plan` (see [`GateSummary`]).
/// `policy` says what is needed: WS/IS `dense` and `clock-gate` need only the active count.
pub fn summarize_gates(
    plan: &GatedPlan<'_>,
    masks: &LayerMasks,
    sample: usize,
    policy: SkipPolicy,
) -> GateSummary {
    let light = plan.df != Dataflow::OutputStationary
        && matches!(policy, SkipPolicy::Dense | SkipPolicy::ClockGate);
    let cond = match &plan.cond {
        Some(cond) if !light => cond,
        _ => {
            return GateSummary {
                active_total: active_elements(masks, sample),
                ..GateSummary::default()
            };
        }
    };
    let words = masks.sample_words(sample);
    let [gc, gh, gw] = masks.grid();
    let b = masks.block();
    let [_, ho, wo] = masks.out_shape();
    let (m_total, n_total, r) = (plan.m, plan.n, plan.r);
    if matches!(policy, SkipPolicy::Dense | SkipPolicy::ClockGate) {
        // OS running every fold: only the active count and its spread over PE rows matter.
        // Pixel m sits on PE row m mod R in every column fold.
        let mut blk = vec![0u64; (gh * gw) as usize];
        for cb in 0..gc {
            let width = n_total.min((cb + 1) * b.c) - cb * b.c;
            for_set_bits(words, cb * gh * gw, gh * gw, |i| blk[i as usize] += width);
        }
        let mut s = GateSummary {
            pe_dense: vec![0; r as usize],
            ..GateSummary::default()
        };
        let mut row = 0usize;
        for oh in 0..ho {
            let line = &blk[((oh / b.h) * gw) as usize..((oh / b.h + 1) * gw) as usize];
            let mut ow = 0;
            for &v in line {
                let run = b.w.min(wo - ow);
                for _ in 0..run {
                    s.pe_dense[row] += v;
                    row += 1;
                    if row == r as usize {
                        row = 0;
                    }
                }
                s.active_total += v * run;
                ow += run;
            }
        }
        return s;
    }
    let mut s = GateSummary {
        cols: Vec::with_capacity(cond.col_folds as usize),
        ..GateSummary::default()
    };
    s.all_kept = true;
    match plan.df {
        Dataflow::OutputStationary | Dataflow::WeightStationary => {
            let os = plan.df == Dataflow::OutputStationary;
            let fr = if os { cond.row_folds } else { 0 };
            if os {
                s.tiles = vec![(0, 0); (cond.col_folds * fr) as usize];
                s.pe_dense = vec![0; r as usize];
                s.pe_compact = vec![0; r as usize];
            }
            let mut blk = vec![0u64; (gh * gw) as usize];
            let mut cnt = vec![0u64; m_total as usize];
            let mut seen = vec![false; m_total as usize];
            for j in 0..cond.col_folds {
                let (n0, n1) = (j * plan.c, ((j + 1) * plan.c).min(n_total));
                blk.iter_mut().for_each(|x| *x = 0);
                for cb in n0 / b.c..=(n1 - 1) / b.c {
                    let overlap = n1.min((cb + 1) * b.c) - n0.max(cb * b.c);
                    for_set_bits(words, cb * gh * gw, gh * gw, |i| blk[i as usize] += overlap);
                }
                let mut col = Column {
                    pack_start: s.packs.len(),
                    ..Column::default()
                };
                // Expand the block counts to output pixels, a run of block columns at a time.
                let mut m = 0usize;
                for oh in 0..ho {
                    let row = &blk[((oh / b.h) * gw) as usize..((oh / b.h + 1) * gw) as usize];
                    let mut ow = 0;
                    for &v in row {
                        let run = b.w.min(wo - ow) as usize;
                        cnt[m..m + run].fill(v);
                        m += run;
                        ow += run as u64;
                    }
                }
                let mut pack = Pack::default();
                // Row folds are runs of R pixels, so a pixel's PE row is its place in the run.
                for (i, chunk) in cnt.chunks(r as usize).enumerate() {
                    let first = i * r as usize;
                    for (row, &v) in chunk.iter().enumerate() {
                        if v == 0 {
                            continue;
                        }
                        let m = first + row;
                        col.active += v;
                        let new = !seen[m];
                        seen[m] = true;
                        if os {
                            let t = &mut s.tiles[(j * fr) as usize + i];
                            t.0 += v;
                            t.1 += 1;
                            s.pe_dense[row] += v;
                            s.pe_compact[pack.size as usize] += v;
                            pack.size += 1;
                            pack.active += v;
                            pack.new_rows += u64::from(new);
                            if pack.size == r {
                                s.packs.push(pack);
                                pack = Pack::default();
                            }
                        }
                        col.kept += 1;
                        col.new_kept += u64::from(new);
                    }
                }
                if pack.size > 0 {
                    s.packs.push(pack);
                }
                if os {
                    let tiles = &s.tiles[(j * fr) as usize..((j + 1) * fr) as usize];
                    s.all_kept &= tiles.iter().all(|t| t.0 > 0);
                } else {
                    s.all_kept &= col.active > 0;
                }
                s.active_total += col.active;
                s.cols.push(col);
            }
        }
        Dataflow::InputStationary => {
            // Column fold j covers output pixels M_j; per spatial gate block, how many of them.
            let mut touched: Vec<(u64, u64)> = Vec::new();
            let mut seen = vec![false; gc as usize];
            for j in 0..cond.col_folds {
                let (m0, m1) = (j * plan.c, ((j + 1) * plan.c).min(m_total));
                touched.clear();
                let (mut oh, mut ow) = (m0 / plan.wo, m0 % plan.wo);
                let mut m = m0;
                while m < m1 {
                    // The rest of this block's columns on this output row.
                    let run = (b.w - ow % b.w).min(plan.wo - ow).min(m1 - m);
                    let sb = (oh / b.h) * gw + ow / b.w;
                    match touched.last_mut() {
                        Some((last, k)) if *last == sb => *k += run,
                        _ => touched.push((sb, run)),
                    }
                    m += run;
                    ow += run;
                    if ow == plan.wo {
                        ow = 0;
                        oh += 1;
                    }
                }
                let mut col = Column::default();
                for cb in 0..gc {
                    let width = n_total.min((cb + 1) * b.c) - cb * b.c;
                    let base = cb * gh * gw;
                    let mut any = false;
                    for &(sb, k) in &touched {
                        if bit(words, base + sb) {
                            any = true;
                            col.active += k * width;
                        }
                    }
                    if any {
                        col.kept += width;
                        if !seen[cb as usize] {
                            seen[cb as usize] = true;
                            col.new_kept += width;
                        }
                    }
                }
                s.all_kept &= col.active > 0;
                s.active_total += col.active;
                s.cols.push(col);
            }
        }
    }
    s
}

/// The per-layer figures a pass accumulates besides the memory model's.
#[derive(Debug, Clone, Copy, Default)]
struct Extra {
    cond_cycles: Cycles,
    /// Σ of the finalised outputs (every output exactly once; checked in debug builds).
    finalised: u64,
}

/// Streams the folds of both passes through the memory model.
struct Emitter<'p, 'a> {
    plan: &'p GatedPlan<'a>,
    mem: MemoryModel,
    position: u64,
    overlap: bool,
    gather: Cycles,
    extra: Extra,
}

impl Emitter<'_, '_> {
    /// The outputs of a fold writing `elems` outputs, `finalised` of them final; `first` when
    /// no earlier fold contributed to them, `ends_group` at the last fold of its accumulation
    /// group within the pass, `reload` at a conditional group's first fold (its partial sums
    /// come from the base pass).
    fn output(
        &mut self,
        elems: u64,
        first: bool,
        finalised: u64,
        ends_group: bool,
        reload: bool,
    ) -> OutputUse {
        self.extra.finalised += finalised;
        if self.plan.out_fits {
            // P stays on chip; each output leaves once, when final.
            OutputUse {
                group: 0,
                elems,
                group_elems: finalised,
                first,
                last: finalised > 0,
                reload: false,
                continued: false,
            }
        } else {
            // Each pass accumulates its groups as the dense model does; a base group the
            // conditional pass continues goes to DRAM and comes back.
            OutputUse {
                group: 0,
                elems,
                group_elems: elems,
                first,
                last: ends_group,
                reload,
                continued: ends_group && finalised < elems,
            }
        }
    }

    fn push(&mut self, mut w: FoldWork, cond: bool, gathered: bool) {
        if gathered {
            w.compute += self.gather;
        }
        if cond {
            self.extra.cond_cycles += w.compute;
        }
        self.mem.push(&w);
        self.position += 1;
    }

    fn compute(&self, map: &Mapping, t: u64) -> Cycles {
        map.fold_cycles_at(self.position, t, self.overlap)
    }
}

/// A dense tile, fetched on its first use among the folds that run.
fn tile(id: u64, elems: u64, seen: &mut [bool], slot: u64) -> TileUse {
    let first = !std::mem::replace(&mut seen[slot as usize], true);
    TileUse {
        id,
        elems,
        first_use: first,
        new_elems: if first { elems } else { 0 },
    }
}

/// Outputs of fold `f` of a pass (OS M_i × N_j, WS all M × N_j, IS M_j × all N) and whether it
/// ends its accumulation group (OS always; WS/IS at the last row fold).
fn fold_outputs(map: &Mapping, f: &Fold) -> (u64, bool) {
    let last = match map.dataflow {
        Dataflow::OutputStationary => true,
        _ => f.row_fold + 1 == map.row_folds,
    };
    (f.m.len() * f.n.len(), last)
}

/// Simulates `sample` of a gated layer under `policy`, from its [`GateSummary`].
pub fn simulate_gated_sample(
    arch: &ArchConfig,
    plan: &GatedPlan<'_>,
    summary: &GateSummary,
    policy: SkipPolicy,
    sample: usize,
    gates: u64,
) -> LayerStats {
    let p = plan;
    let policy = if p.cond.is_none() {
        SkipPolicy::Dense
    } else {
        policy
    };
    // `dense` and `clock-gate` run every fold whatever the gates, and so does `tile-skip` when
    // no fold is empty: their time and traffic are the plan's, computed once.
    let reuse = match policy {
        SkipPolicy::Dense | SkipPolicy::ClockGate => true,
        SkipPolicy::TileSkip => summary.all_kept,
        SkipPolicy::Compact => false,
    };
    let run = match (&p.dense_run, reuse) {
        (Some(run), true) => Emitted {
            gated_slots: if policy == SkipPolicy::Dense {
                0
            } else {
                p.kc * (p.m * p.n - summary.active_total)
            },
            ..*run
        },
        _ => emit(arch, p, summary, policy),
    };
    let mut totals = run.totals;
    let mask_bytes = if arch.sparsity.mask_in_dram {
        gates.div_ceil(8)
    } else {
        0
    };
    let macs_needed = p.kb * p.m * p.n + p.kc * summary.active_total;
    let wasted = if policy == SkipPolicy::Dense {
        p.kc * (p.m * p.n) - p.kc * summary.active_total
    } else {
        0
    };
    totals.dram.mask_read = Bytes(mask_bytes);
    layer_stats(
        arch,
        LayerOutcome {
            layer: p.layer,
            sample: Some(sample),
            map: p.full,
            totals,
            compulsory: p.comp,
            macs_needed: Macs(macs_needed),
            gated_slots: Macs(run.gated_slots),
            wasted_slots: Macs(wasted),
            gate_ops: gates,
            extra_dram_bytes: 0,
            cycles_ungated: Some(p.cycles_ungated),
            cond_cycles: run.cond_cycles,
            pe_imbalance: pe_imbalance(p, summary, policy),
        },
    )
}

/// What streaming a layer's folds produced.
#[derive(Debug, Clone, Copy)]
struct Emitted {
    totals: MemoryTotals,
    cond_cycles: Cycles,
    gated_slots: u64,
}

/// Streams the folds `policy` runs for a sample with `summary` through the memory model.
fn emit(
    arch: &ArchConfig,
    p: &GatedPlan<'_>,
    summary: &GateSummary,
    policy: SkipPolicy,
) -> Emitted {
    let g = p.layer.shape.gemm();
    let mem = MemoryModel::new(
        arch,
        OperandFootprint {
            gemm_elems: g.m * g.k,
            compulsory: p.comp.ifmap,
        },
        OperandFootprint {
            gemm_elems: g.k * g.n,
            compulsory: p.comp.filter,
        },
    );
    let mut e = Emitter {
        plan: p,
        mem,
        position: 0,
        overlap: arch.array.overlap_folds,
        gather: arch.sparsity.gather_cycles_per_fold,
        extra: Extra::default(),
    };
    let os = p.df == Dataflow::OutputStationary;

    // Base pass: every fold; its outputs are final where no conditional fold will touch them.
    if let Some(base) = &p.base {
        let mut seen_if = vec![false; base.folds() as usize];
        let mut seen_f = vec![false; base.folds() as usize];
        for f in base.folds_iter() {
            let (elems, ends_group) = fold_outputs(base, &f);
            let first = os || f.row_fold == 0;
            let fin = if !ends_group {
                0
            } else if p.cond.is_none() {
                elems
            } else {
                untouched(p, summary, policy, &f, elems)
            };
            let (ifmap, filter) = dense_tiles(base, &f, 0, &mut seen_if, &mut seen_f);
            let w = FoldWork {
                compute: e.compute(base, base.t),
                ifmap,
                filter,
                output: e.output(elems, first, fin, ends_group, false),
            };
            e.push(w, false, false);
        }
    }

    // Conditional pass.
    let mut gated_slots = 0u64;
    if let Some(cond) = &p.cond {
        let no_base = p.base.is_none();
        let kc = p.kc;
        let mut seen_if = vec![false; cond.folds() as usize];
        let mut seen_f = vec![false; cond.folds() as usize];
        match policy {
            SkipPolicy::Dense | SkipPolicy::ClockGate | SkipPolicy::TileSkip => {
                for f in cond.folds_iter() {
                    let (elems, ends_group) = fold_outputs(cond, &f);
                    if policy != SkipPolicy::Dense {
                        let active = if os {
                            summary.tiles[(f.col_fold * cond.row_folds + f.row_fold) as usize].0
                        } else {
                            summary.cols[f.col_fold as usize].active
                        };
                        if policy == SkipPolicy::TileSkip && active == 0 {
                            continue;
                        }
                        gated_slots += f.k.len() * (elems - active);
                    }
                    let (ifmap, filter) =
                        dense_tiles(cond, &f, COND_IDS, &mut seen_if, &mut seen_f);
                    let first = no_base && (os || f.row_fold == 0);
                    let w = FoldWork {
                        compute: e.compute(cond, cond.t),
                        ifmap,
                        filter,
                        output: e.output(
                            elems,
                            first,
                            if ends_group { elems } else { 0 },
                            ends_group,
                            !no_base && (os || f.row_fold == 0),
                        ),
                    };
                    e.push(w, true, false);
                }
            }
            SkipPolicy::Compact => {
                let mut gathered_id = GATHERED_IDS;
                for j in 0..cond.col_folds {
                    let col = summary.cols[j as usize];
                    if col.kept == 0 {
                        continue;
                    }
                    match p.df {
                        Dataflow::OutputStationary => {
                            let nj = ((j + 1) * p.c).min(p.n) - j * p.c;
                            let end = summary
                                .cols
                                .get(j as usize + 1)
                                .map_or(summary.packs.len(), |c| c.pack_start);
                            for (q, pack) in summary.packs[col.pack_start..end].iter().enumerate() {
                                let elems = pack.size * nj;
                                gated_slots += kc * (elems - pack.active);
                                gathered_id += 1;
                                let w = FoldWork {
                                    compute: e.compute(cond, kc),
                                    ifmap: TileUse {
                                        id: gathered_id,
                                        elems: pack.size * kc,
                                        first_use: pack.new_rows > 0,
                                        new_elems: pack.new_rows * kc,
                                    },
                                    filter: TileUse {
                                        id: COND_IDS + j,
                                        elems: kc * nj,
                                        first_use: q == 0,
                                        new_elems: if q == 0 { kc * nj } else { 0 },
                                    },
                                    output: e.output(elems, no_base, elems, true, !no_base),
                                };
                                e.push(w, true, true);
                            }
                        }
                        Dataflow::WeightStationary | Dataflow::InputStationary => {
                            // WS: stationary filter K_i × N_j, stream A_j (gathered ifmap rows).
                            // IS: stationary ifmap K_i × M_j, stream B_j (gathered filters).
                            let width = ((j + 1) * p.c).min(cond.sc) - j * p.c;
                            let elems = col.kept * width;
                            gated_slots += kc * (elems - col.active);
                            for i in 0..cond.row_folds {
                                let ki = ((i + 1) * p.r).min(kc) - i * p.r;
                                let index = j * cond.row_folds + i;
                                let stationary = TileUse {
                                    id: COND_IDS + index,
                                    elems: ki * width,
                                    first_use: true,
                                    new_elems: ki * width,
                                };
                                gathered_id += 1;
                                let streamed = TileUse {
                                    id: gathered_id,
                                    elems: ki * col.kept,
                                    first_use: col.new_kept > 0,
                                    new_elems: ki * col.new_kept,
                                };
                                let (ifmap, filter) = if p.df == Dataflow::WeightStationary {
                                    (streamed, stationary)
                                } else {
                                    (stationary, streamed)
                                };
                                let last = i + 1 == cond.row_folds;
                                let w = FoldWork {
                                    compute: e.compute(cond, col.kept),
                                    ifmap,
                                    filter,
                                    output: e.output(
                                        elems,
                                        no_base && i == 0,
                                        if last { elems } else { 0 },
                                        last,
                                        !no_base && i == 0,
                                    ),
                                };
                                e.push(w, true, true);
                            }
                        }
                    }
                }
            }
        }
    }
    let mut totals = e.mem.finish();
    if p.base.is_none() {
        // No base pass (base_channels = 0): outputs no conditional fold touched are zeros that
        // still leave the chip once.
        let missing = p.m * p.n - e.extra.finalised;
        totals.dram.ofmap_write += Bytes(missing * arch.memory.word_bytes);
        e.extra.finalised += missing;
    }
    debug_assert_eq!(e.extra.finalised, p.m * p.n, "layer {}", p.layer.name());
    Emitted {
        totals,
        cond_cycles: e.extra.cond_cycles,
        gated_slots,
    }
}

/// The tiles of a dense fold (ids as [`crate::dense::dense_fold_work`], offset by `offset`),
/// fetched on their first use among the folds that run.
fn dense_tiles(
    map: &Mapping,
    f: &Fold,
    offset: u64,
    seen_if: &mut [bool],
    seen_f: &mut [bool],
) -> (TileUse, TileUse) {
    let (if_slot, f_slot) = match map.dataflow {
        Dataflow::OutputStationary => (f.row_fold, f.col_fold),
        Dataflow::WeightStationary => (f.row_fold, f.index),
        Dataflow::InputStationary => (f.index, f.row_fold),
    };
    (
        tile(offset + if_slot, f.m.len() * f.k.len(), seen_if, if_slot),
        tile(offset + f_slot, f.k.len() * f.n.len(), seen_f, f_slot),
    )
}

/// Outputs of base fold `f` (ending its group, `elems` outputs) that no conditional fold of
/// `policy` touches: they are final after the base pass.
fn untouched(p: &GatedPlan<'_>, s: &GateSummary, policy: SkipPolicy, f: &Fold, elems: u64) -> u64 {
    let j = f.col_fold as usize;
    match policy {
        SkipPolicy::Dense | SkipPolicy::ClockGate => 0,
        SkipPolicy::TileSkip => {
            let active = match p.df {
                Dataflow::OutputStationary => {
                    let fr = p.cond.as_ref().map_or(0, |c| c.row_folds);
                    s.tiles[(f.col_fold * fr + f.row_fold) as usize].0
                }
                _ => s.cols[j].active,
            };
            if active > 0 { 0 } else { elems }
        }
        SkipPolicy::Compact => match p.df {
            Dataflow::OutputStationary => {
                let fr = p.cond.as_ref().map_or(0, |c| c.row_folds);
                let kept_rows = s.tiles[(f.col_fold * fr + f.row_fold) as usize].1;
                elems - kept_rows * f.n.len()
            }
            // WS: group M × N_j, kept A_j × N_j; IS: group M_j × N, kept M_j × B_j.
            Dataflow::WeightStationary => elems - s.cols[j].kept * f.n.len(),
            Dataflow::InputStationary => elems - s.cols[j].kept * f.m.len(),
        },
    }
}

/// Max / mean needed MACs per PE row over the folds that run (both passes).
fn pe_imbalance(p: &GatedPlan<'_>, s: &GateSummary, policy: SkipPolicy) -> f64 {
    let r = p.r;
    // Folds i with i·R + row < extent: how often PE row `row` holds work.
    let uses = |extent: u64, row: u64| extent / r + u64::from(extent % r > row);
    let mut rows = vec![0u128; r as usize];
    for (row, x) in rows.iter_mut().enumerate() {
        let row = row as u64;
        *x = match p.df {
            Dataflow::OutputStationary => {
                let base = u128::from(p.kb * p.n) * u128::from(uses(p.m, row));
                let cond = if p.cond.is_none() {
                    0
                } else if policy == SkipPolicy::Compact {
                    s.pe_compact[row as usize]
                } else {
                    s.pe_dense[row as usize]
                };
                base + u128::from(p.kc) * u128::from(cond)
            }
            _ => {
                u128::from(p.m * p.n) * u128::from(uses(p.kb, row))
                    + u128::from(s.active_total) * u128::from(uses(p.kc, row))
            }
        };
    }
    let max = rows.iter().copied().max().unwrap_or(0);
    let sum: u128 = rows.iter().sum();
    if sum == 0 {
        1.0
    } else {
        max as f64 * r as f64 / sum as f64
    }
}

/// Simulates `sample` of a gated layer under the design's `sparsity.support`.
///
/// Errors: masks that disagree with the layer (grid, block, output shape), an ungated layer, a
/// design the model cannot run — each naming the layer or the key.
pub fn simulate_gated_layer(
    arch: &ArchConfig,
    layer: &Layer,
    masks: &LayerMasks,
    sample: usize,
) -> Result<LayerStats, SimError> {
    if sample >= masks.samples() {
        return Err(SimError::layer(
            layer.name(),
            format!(
                "sample {sample} requested; the masks hold {} samples",
                masks.samples()
            ),
        ));
    }
    let plan = GatedPlan::new(arch, layer, masks)?;
    let summary = summarize_gates(&plan, masks, sample, arch.sparsity.support);
    Ok(simulate_gated_sample(
        arch,
        &plan,
        &summary,
        arch.sparsity.support,
        sample,
        masks.blocks_per_sample(),
    ))
}

/// Every sample of a trace simulated, and their mean.
#[derive(Debug, Clone, PartialEq)]
pub struct SampledStats {
    /// One run per sample, in sample order (`sample = Some(s)`).
    pub per_sample: Vec<NetworkStats>,
    /// The mean over samples with per-sample maxima ([`summarize`]).
    pub mean: NetworkStats,
}

/// Checks that `masks` covers exactly the gated layers of `network`.
fn check_masks(network: &Network, masks: &MaskSet) -> Result<(), SimError> {
    for (_, l, _) in network.gated() {
        if masks.layer(l.name()).is_none() {
            return Err(SimError::layer(
                l.name(),
                "is gated, but the trace has no masks for it; expected a mask array named \
                 after the layer",
            ));
        }
    }
    for (name, _) in masks.iter() {
        match network.position(name) {
            None => {
                return Err(SimError::layer(
                    name,
                    "has masks in the trace but is not a layer of the network",
                ));
            }
            Some(i) if network.layers()[i].gate.is_none() => {
                return Err(SimError::layer(
                    name,
                    "has masks in the trace but is not gated in the network",
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// A layer as the sampled run sees it.
enum Prepared<'a> {
    /// Ungated: one dense run, the same for every sample.
    Dense(LayerStats),
    Gated {
        plan: GatedPlan<'a>,
        masks: &'a LayerMasks,
    },
}

/// Simulates every sample of `masks` on `network` under `arch` (rayon over layers and samples;
/// the result does not depend on the thread count).
pub fn simulate_samples(
    arch: &ArchConfig,
    network: &Network,
    masks: &MaskSet,
) -> Result<SampledStats, SimError> {
    check_arch(arch)?;
    check_masks(network, masks)?;
    let samples = masks.samples();
    let prepared = network
        .layers()
        .par_iter()
        .map(|l| match &l.gate {
            None => {
                crate::dense::simulate_layer(arch, l, &LayerOptions::default()).map(Prepared::Dense)
            }
            Some(_) => {
                let m = masks.layer(l.name()).ok_or_else(|| {
                    SimError::layer(l.name(), "is gated, but the trace has no masks for it")
                })?;
                Ok(Prepared::Gated {
                    plan: GatedPlan::new(arch, l, m)?,
                    masks: m,
                })
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let policy = arch.sparsity.support;
    let per_sample: Vec<NetworkStats> = (0..samples)
        .into_par_iter()
        .map(|s| {
            let layers: Vec<LayerStats> = prepared
                .iter()
                .map(|p| match p {
                    Prepared::Dense(stats) => LayerStats {
                        sample: Some(s),
                        ..stats.clone()
                    },
                    Prepared::Gated { plan, masks } => {
                        let summary = summarize_gates(plan, masks, s, policy);
                        simulate_gated_sample(
                            arch,
                            plan,
                            &summary,
                            policy,
                            s,
                            masks.blocks_per_sample(),
                        )
                    }
                })
                .collect();
            NetworkStats::of_layers(arch, Some(s), layers)
        })
        .collect();
    let mean = summarize(&per_sample).ok_or_else(|| {
        SimError::Mismatch("the mask set has no samples; expected at least 1".into())
    })?;
    Ok(SampledStats { per_sample, mean })
}

/// Rounded mean of counts.
fn mean_count(xs: impl Iterator<Item = u64>, n: usize) -> u64 {
    let sum: u128 = xs.map(u128::from).sum();
    let n = n as u128;
    ((sum + n / 2) / n) as u64
}

fn mean_f64(xs: impl Iterator<Item = f64>, n: usize) -> f64 {
    xs.sum::<f64>() / n as f64
}

/// Field-wise [`mean_count`] of per-sample SRAM access counts.
fn mean_sram<'a>(xs: impl Iterator<Item = &'a SramAccesses>) -> SramAccesses {
    let xs: Vec<_> = xs.collect();
    let m = |f: fn(&SramAccesses) -> Accesses| {
        Accesses(mean_count(xs.iter().map(|x| f(x).get()), xs.len()))
    };
    SramAccesses {
        ifmap_reads: m(|x| x.ifmap_reads),
        filter_reads: m(|x| x.filter_reads),
        ofmap_writes: m(|x| x.ofmap_writes),
        psum_reads: m(|x| x.psum_reads),
    }
}

/// Field-wise [`mean_count`] of per-sample DRAM traffic.
fn mean_dram<'a>(xs: impl Iterator<Item = &'a DramTraffic>) -> DramTraffic {
    let xs: Vec<_> = xs.collect();
    let m =
        |f: fn(&DramTraffic) -> Bytes| Bytes(mean_count(xs.iter().map(|x| f(x).get()), xs.len()));
    DramTraffic {
        ifmap_read: m(|x| x.ifmap_read),
        filter_read: m(|x| x.filter_read),
        ofmap_write: m(|x| x.ofmap_write),
        psum_read: m(|x| x.psum_read),
        psum_write: m(|x| x.psum_write),
        mask_read: m(|x| x.mask_read),
    }
}

/// Field-wise [`mean_f64`] of per-sample energy breakdowns.
fn mean_energy<'a>(xs: impl Iterator<Item = &'a EnergyBreakdown>) -> EnergyBreakdown {
    let xs: Vec<_> = xs.collect();
    let m = |f: fn(&EnergyBreakdown) -> PicoJoules| {
        PicoJoules(mean_f64(xs.iter().map(|x| f(x).get()), xs.len()))
    };
    EnergyBreakdown {
        mac: m(|x| x.mac),
        sram_ifmap: m(|x| x.sram_ifmap),
        sram_filter: m(|x| x.sram_filter),
        sram_ofmap: m(|x| x.sram_ofmap),
        dram: m(|x| x.dram),
        gate: m(|x| x.gate),
        leak: m(|x| x.leak),
    }
}

/// The mean of per-sample layer stats (same layer, same design): counts rounded to the nearest
/// integer, energies and latencies exact means, utilization the ratio of sums, `max` the
/// per-sample maxima.
pub fn mean_layer(xs: &[LayerStats]) -> Option<LayerStats> {
    let first = xs.first()?;
    let n = xs.len();
    macro_rules! mc {
        ($($f:tt)+) => { mean_count(xs.iter().map(|l| l.$($f)+.get()), n) };
    }
    macro_rules! mf {
        ($($f:tt)+) => { mean_f64(xs.iter().map(|l| l.$($f)+.get()), n) };
    }
    let sum_cycles: f64 = xs.iter().map(|l| l.cycles.as_f64()).sum();
    let sum_needed: f64 = xs.iter().map(|l| l.macs_needed.as_f64()).sum();
    let pes = (first.array_rows * first.array_cols) as f64;
    Some(LayerStats {
        layer: first.layer.clone(),
        sample: None,
        samples: n,
        dataflow: first.dataflow,
        array_rows: first.array_rows,
        array_cols: first.array_cols,
        gemm: first.gemm,
        row_folds: first.row_folds,
        col_folds: first.col_folds,
        folds_executed: mean_count(xs.iter().map(|l| l.folds_executed), n),
        macs_dense: first.macs_dense,
        macs_needed: Macs(mc!(macs_needed)),
        macs_executed: Macs(mc!(macs_executed)),
        cycles: Cycles(mc!(cycles)),
        compute_cycles: Cycles(mc!(compute_cycles)),
        stall_cycles: Cycles(mc!(stall_cycles)),
        prefetch_cycles: Cycles(mc!(prefetch_cycles)),
        cycles_ungated: first.cycles_ungated,
        cond_cycles: Cycles(mc!(cond_cycles)),
        latency: Microseconds(mf!(latency)),
        utilization: if sum_cycles > 0.0 {
            sum_needed / (pes * sum_cycles)
        } else {
            0.0
        },
        pe_imbalance: mean_f64(xs.iter().map(|l| l.pe_imbalance), n),
        gate_ops: mean_count(xs.iter().map(|l| l.gate_ops), n),
        sram: mean_sram(xs.iter().map(|l| &l.sram)),
        dram: mean_dram(xs.iter().map(|l| &l.dram)),
        compulsory: first.compulsory,
        energy: mean_energy(xs.iter().map(|l| &l.energy)),
        scalesim: ScaleSimFigures {
            total_cycles: Cycles(mc!(scalesim.total_cycles)),
            stall_cycles: Cycles(mc!(scalesim.stall_cycles)),
            ifmap_reads: Accesses(mc!(scalesim.ifmap_reads)),
            filter_reads: Accesses(mc!(scalesim.filter_reads)),
            ofmap_writes: Accesses(mc!(scalesim.ofmap_writes)),
            mapping_efficiency: first.scalesim.mapping_efficiency,
            compute_utilization: mean_f64(xs.iter().map(|l| l.scalesim.compute_utilization), n),
            overall_utilization: mean_f64(xs.iter().map(|l| l.scalesim.overall_utilization), n),
        },
        max: xs.iter().map(|l| l.max).reduce(SampleMax::max)?,
    })
}

/// The mean of per-sample network runs (same network and design): per-layer means
/// ([`mean_layer`]), network totals averaged the same way, and per-sample network maxima.
/// `None` for an empty slice.
pub fn summarize(runs: &[NetworkStats]) -> Option<NetworkStats> {
    let first = runs.first()?;
    let n = runs.len();
    let layers = (0..first.layers.len())
        .map(|i| {
            let xs: Vec<LayerStats> = runs.iter().map(|r| r.layers[i].clone()).collect();
            mean_layer(&xs)
        })
        .collect::<Option<Vec<_>>>()?;
    let t: Vec<&NetworkTotals> = runs.iter().map(|r| &r.totals).collect();
    macro_rules! mc {
        ($($f:tt)+) => { mean_count(t.iter().map(|x| x.$($f)+.get()), n) };
    }
    let totals = NetworkTotals {
        layers: first.totals.layers,
        macs_dense: first.totals.macs_dense,
        macs_needed: Macs(mc!(macs_needed)),
        macs_executed: Macs(mc!(macs_executed)),
        cycles: Cycles(mc!(cycles)),
        compute_cycles: Cycles(mc!(compute_cycles)),
        stall_cycles: Cycles(mc!(stall_cycles)),
        prefetch_cycles: Cycles(mc!(prefetch_cycles)),
        cycles_ungated: first.totals.cycles_ungated,
        cond_cycles: Cycles(mc!(cond_cycles)),
        gate_ops: mean_count(t.iter().map(|x| x.gate_ops), n),
        sram: mean_sram(t.iter().map(|x| &x.sram)),
        dram: mean_dram(t.iter().map(|x| &x.dram)),
        compulsory: first.totals.compulsory,
        energy: mean_energy(t.iter().map(|x| &x.energy)),
        scalesim_total_cycles: Cycles(mc!(scalesim_total_cycles)),
    };
    Some(NetworkStats {
        arch_name: first.arch_name.clone(),
        dataflow: first.dataflow,
        array_rows: first.array_rows,
        array_cols: first.array_cols,
        frequency_mhz: first.frequency_mhz,
        sample: None,
        samples: n,
        layers,
        totals,
        max: runs.iter().map(|r| r.max).reduce(SampleMax::max)?,
    })
}

/// One line of the co-design table: a gate-block shape, a dataflow and a skip policy on one
/// network, against the same design running the `dense` policy.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CodesignRow {
    pub block_c: u64,
    pub block_h: u64,
    pub block_w: u64,
    pub dataflow: &'static str,
    pub policy: &'static str,
    /// Σ macs_dense / Σ macs_needed (mean sample).
    pub flops_reduction: f64,
    /// 1 − conditional-pass cycles / those of the `dense` policy: the fraction of the
    /// conditional pass the policy removes.
    pub cond_cycle_cut: f64,
    /// Network cycles_ungated / cycles (the single dense GEMM per layer over the gated run).
    pub cycle_reduction: f64,
    /// 1 − cycles / cycles of the `dense` policy, whole network.
    pub cycle_cut: f64,
    /// 1 − energy / energy of the `dense` policy.
    pub energy_saving: f64,
    /// Network macs_needed / (R·C·cycles).
    pub utilization: f64,
}

/// The co-design experiment: for every block shape and dataflow, `network_for(block)` with
/// synthetic gates at `density` (`samples` samples, `seed`) simulated on `arch` with that
/// dataflow under every skip policy; rows in block × dataflow × policy order.
pub fn codesign(
    arch: &ArchConfig,
    network_for: impl Fn(cdg_core::GateBlock) -> Network,
    blocks: &[cdg_core::GateBlock],
    density: f64,
    samples: usize,
    seed: u64,
) -> Result<Vec<CodesignRow>, CodesignError> {
    let mut rows = Vec::new();
    for &block in blocks {
        let net = network_for(block);
        let masks = crate::synth::synth_masks(&net, density, samples, seed)?;
        for df in Dataflow::ALL {
            let runs = SkipPolicy::ALL
                .iter()
                .map(|&policy| {
                    let mut a = arch.clone();
                    a.array.dataflow = df;
                    a.sparsity.support = policy;
                    Ok((policy, simulate_samples(&a, &net, &masks)?.mean))
                })
                .collect::<Result<Vec<_>, SimError>>()?;
            let dense = &runs[0].1.totals;
            for (policy, stats) in &runs {
                let t = &stats.totals;
                let row = stats.to_row();
                let frac = |a: f64, b: f64| if b > 0.0 { 1.0 - a / b } else { 0.0 };
                rows.push(CodesignRow {
                    block_c: block.c,
                    block_h: block.h,
                    block_w: block.w,
                    dataflow: df.as_str(),
                    policy: policy.as_str(),
                    flops_reduction: row.flops_reduction,
                    cond_cycle_cut: frac(t.cond_cycles.as_f64(), dense.cond_cycles.as_f64()),
                    cycle_reduction: row.cycle_reduction,
                    cycle_cut: frac(t.cycles.as_f64(), dense.cycles.as_f64()),
                    energy_saving: frac(t.energy.total().get(), dense.energy.total().get()),
                    utilization: row.utilization,
                });
            }
        }
    }
    Ok(rows)
}

/// Why the co-design experiment could not run.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum CodesignError {
    #[error(transparent)]
    Synth(#[from] crate::synth::SynthError),
    #[error(transparent)]
    Sim(#[from] SimError),
}
