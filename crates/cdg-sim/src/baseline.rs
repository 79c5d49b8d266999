//! Dense schedules and the ungated baseline (docs/model.md §8).
//!
//! A dense layer need not run as one GEMM pass: a real accelerator whose filter (or ifmap) does
//! not fit its buffer splits the reduction K into chunks that do, runs one pass per chunk, and
//! keeps the partial sums between passes on chip when they fit (spilling them to DRAM and
//! reading them back when they do not). A [`KSplit`] is such a schedule: the lengths of its K
//! chunks, in order. [`stream_split`] runs one through the same [`PassStream`], memory and
//! energy models as every other schedule.
//!
//! **The ungated baseline** of a layer is its best mapping on the design, chosen by
//! [`crate::mapper`] among K splits, fold loop orders, batch orders, resident tiles and overlap
//! for `mapping.objective` (docs/model.md §8).

use crate::counters::{Compulsory, Counters};
use crate::dataflow::Axis;
use crate::energy::energy;
use crate::mapping::Mapping;
use crate::memory::OperandFootprint;
use crate::stream::{Pass, PassStream};
use cdg_core::{ArchConfig, Cycles, GemmDims, LayerShape, Macs};
use std::fmt;

/// Candidates with more folds than this many times the single pass's are not evaluated.
pub const MAX_FOLD_FACTOR: u64 = 16;

/// A dense schedule: the reduction K split into chunks run as consecutive passes over the same
/// outputs. One chunk is the single pass.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KSplit {
    chunks: Vec<u64>,
}

impl KSplit {
    /// The whole window in one pass.
    pub fn one_pass(k: u64) -> Self {
        Self { chunks: vec![k] }
    }

    /// Passes over the given K lengths, in order (zero lengths dropped).
    pub fn new(chunks: impl IntoIterator<Item = u64>) -> Self {
        Self {
            chunks: chunks.into_iter().filter(|&k| k > 0).collect(),
        }
    }

    /// `k` split into chunks of `size` (the last one shorter).
    pub fn chunks_of(k: u64, size: u64) -> Self {
        let size = size.max(1);
        let mut chunks = vec![size; (k / size) as usize];
        if !k.is_multiple_of(size) {
            chunks.push(k % size);
        }
        Self { chunks }
    }

    /// The K length of each pass.
    pub fn chunks(&self) -> &[u64] {
        &self.chunks
    }

    /// Number of passes.
    pub fn passes(&self) -> usize {
        self.chunks.len()
    }

    /// The schedule's name in `layers.csv`: `one pass`, or `k-split` and the chunk lengths
    /// with repeats folded (`k-split 4x504+288`).
    pub fn name(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for KSplit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.chunks.len() <= 1 {
            return f.write_str("one pass");
        }
        f.write_str("k-split ")?;
        let mut i = 0;
        let mut first = true;
        while i < self.chunks.len() {
            let k = self.chunks[i];
            let run = self.chunks[i..].iter().take_while(|&&x| x == k).count();
            if !first {
                f.write_str("+")?;
            }
            first = false;
            if run > 1 {
                write!(f, "{run}x{k}")?;
            } else {
                write!(f, "{k}")?;
            }
            i += run;
        }
        Ok(())
    }
}

/// A layer's GEMM as the dense schedules see it: M, the per-group K_g and N_g, and the groups
/// G (docs/model.md §1). A [`KSplit`] splits K_g: each pass covers the same window range of
/// every group. With G = 1 this is the layer's GEMM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LayerGemm {
    pub m: u64,
    /// K of one group.
    pub k: u64,
    /// N of one group.
    pub n: u64,
    pub groups: u64,
}

impl LayerGemm {
    /// The GEMM of `layer` (one group's GEMM and the groups).
    pub fn of(layer: &LayerShape) -> Self {
        Self::of_batch(layer, 1)
    }

    /// The GEMM of `layer` run on `batch` samples at once: the samples' output pixels stacked
    /// along M (M = B·H_out·W_out; docs/model.md §1).
    pub fn of_batch(layer: &LayerShape, batch: u64) -> Self {
        let g = layer.group_gemm();
        Self {
            m: g.m * batch,
            k: g.k,
            n: g.n,
            groups: layer.groups(),
        }
    }

    /// The same GEMM with `k` window elements per group.
    pub fn with_k(self, k: u64) -> Self {
        Self { k, ..self }
    }

    /// The whole block-diagonal GEMM M × G·K_g × G·N_g.
    pub fn total(&self) -> GemmDims {
        GemmDims {
            m: self.m,
            k: self.k * self.groups,
            n: self.n * self.groups,
        }
    }

    /// Real multiply-accumulates: G·M·K_g·N_g.
    pub fn macs(&self) -> Macs {
        Macs(self.m * self.k * self.n * self.groups)
    }

    /// Outputs M·G·N_g.
    pub fn outputs(&self) -> u64 {
        self.m * self.n * self.groups
    }

    /// The mapping of this GEMM on an `r × c` array with `dataflow`.
    pub fn map(&self, dataflow: cdg_core::Dataflow, r: u64, c: u64) -> Mapping {
        Mapping::grouped(dataflow, r, c, self.total(), self.groups)
    }
}

/// What streaming a schedule produced: the memory model's counters (folds, compute, stalls,
/// SRAM, DRAM).
#[derive(Debug, Clone)]
pub(crate) struct Streamed {
    pub totals: Counters,
}

/// The layer's operands as the memory model sees them.
pub(crate) fn stream_for(arch: &ArchConfig, gemm: LayerGemm, comp: &Compulsory) -> PassStream {
    let g = gemm.groups;
    PassStream::new(
        arch,
        OperandFootprint {
            gemm_elems: gemm.m * gemm.k * g,
            compulsory: comp.ifmap,
        },
        OperandFootprint {
            gemm_elems: gemm.k * gemm.n * g,
            compulsory: comp.filter,
        },
        gemm.outputs(),
    )
}

/// Streams every fold of every pass of `split` (a GEMM `gemm` with compulsory traffic `comp`):
/// pass p continues the partial sums of pass p − 1, and each output is final after the last
/// pass's fold that ends its group.
pub(crate) fn stream_split(
    arch: &ArchConfig,
    gemm: LayerGemm,
    comp: &Compulsory,
    split: &KSplit,
) -> Streamed {
    let (df, r, c) = (arch.array.dataflow, arch.array.rows, arch.array.cols);
    let mut stream = stream_for(arch, gemm, comp);
    let last = split.passes().saturating_sub(1);
    for (p, &k) in split.chunks().iter().enumerate() {
        let map = gemm.with_k(k).map(df, r, c);
        let mut pass = Pass::new(p as u64, &map, p > 0);
        for f in map.folds_iter() {
            let finalised = if p == last && map.group_last(&f) {
                f.m.len() * f.n.len()
            } else {
                0
            };
            stream.dense(&mut pass, &f, finalised);
        }
    }
    Streamed {
        totals: stream.finish(),
    }
}

/// `totals` of a dense run completed: every MAC needed and at full cost, cycles = compute +
/// stalls (saturating; checked by the caller), energy charged.
pub(crate) fn complete_dense(arch: &ArchConfig, gemm: LayerGemm, mut totals: Counters) -> Counters {
    totals.macs_needed = gemm.macs();
    totals.macs_executed = gemm.macs();
    totals.macs_clock_gated = Macs::ZERO;
    totals.cycles = Cycles(
        totals
            .compute_cycles
            .get()
            .saturating_add(totals.stall_cycles.get()),
    );
    totals.energy = energy(arch, &totals);
    totals
}

/// A dense schedule with what it costs.
#[derive(Debug, Clone)]
pub(crate) struct Evaluated {
    pub split: KSplit,
    /// Completed counters ([`complete_dense`]): cycles and energy filled in.
    pub totals: Counters,
}

impl Evaluated {
    pub fn of(arch: &ArchConfig, gemm: LayerGemm, comp: &Compulsory, split: KSplit) -> Self {
        let totals = complete_dense(arch, gemm, stream_split(arch, gemm, comp, &split).totals);
        Self { split, totals }
    }
}

/// Max / mean needed MACs per PE row of a dense schedule: with K on the rows each pass's row
/// folds leave rows idle, so a row's load is M·N × the row folds it works in; otherwise
/// splitting K does not change the rows (F_r·R/Sr).
pub(crate) fn pe_imbalance(arch: &ArchConfig, gemm: LayerGemm, split: &KSplit) -> f64 {
    let r = arch.array.rows;
    let map = gemm.map(arch.array.dataflow, r, arch.array.cols);
    if map.axes.rows != Axis::K || gemm.groups > 1 {
        return (map.row_folds * r) as f64 / map.sr as f64;
    }
    // Row `row` works in ⌊K_p/R⌋ row folds of pass p, plus one if K_p mod R > row.
    let mut max = 0u128;
    let mut sum = 0u128;
    for row in 0..r {
        let uses: u128 = split
            .chunks()
            .iter()
            .map(|&k| u128::from(k / r + u64::from(k % r > row)))
            .sum();
        max = max.max(uses);
        sum += uses;
    }
    if sum == 0 {
        1.0
    } else {
        max as f64 * r as f64 / sum as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fold_repeats() {
        assert_eq!(KSplit::one_pass(2304).name(), "one pass");
        assert_eq!(
            KSplit::chunks_of(2304, 504).name(),
            "k-split 4x504+288",
            "{:?}",
            KSplit::chunks_of(2304, 504)
        );
        assert_eq!(KSplit::new([576, 1728]).name(), "k-split 576+1728");
        assert_eq!(KSplit::new([0, 9]).chunks(), [9]);
        assert_eq!(KSplit::chunks_of(10, 5).chunks(), [5, 5]);
    }
}
