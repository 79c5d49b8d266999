//! The dense model (docs/model.md §2, §8): a layer is one GEMM pass, every fold in full
//! ([`simulate_layer_one_pass`], SCALE-Sim's schedule), or, as reported, its best dense
//! schedule on the design ([`simulate_layer`]; [`crate::baseline`]).

use crate::arch::check_arch;
use crate::baseline::{self, Evaluated, KSplit, LayerGemm, complete_dense};
use crate::counters::Compulsory;
use crate::error::SimError;
use crate::mapper::{self, BatchOrder, LayerMapping, Mapspace};
use crate::mapping::{Mapping, NmSparsity};
use crate::memory::compulsory;
use crate::stats::{Baselines, LayerRun, LayerStats};
use cdg_core::{Accesses, ArchConfig, Layer};
use std::sync::Arc;

/// Most folds one layer may map to. The memory model walks folds one by one (a few ns each), so
/// this bounds a layer at about a second; only absurd arrays (1×1 on a large layer) reach it.
pub const MAX_FOLDS: u64 = 1 << 28;

/// Per-layer simulation options beyond the arch config.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerOptions {
    /// Static N:M weight sparsity as SCALE-Sim v3 models it (weight-stationary only).
    pub weight_sparsity: Option<NmSparsity>,
}

/// The filter rows K of `layer` under `opts`: K, or the compressed K of N:M sparsity.
fn filter_rows(arch: &ArchConfig, layer: &Layer, opts: &LayerOptions) -> Result<u64, SimError> {
    let k = layer.shape.gemm().k;
    let Some(nm) = opts.weight_sparsity else {
        return Ok(k);
    };
    let name = layer.name();
    if nm.n == 0 || nm.m == 0 || nm.n > nm.m {
        return Err(SimError::layer(
            name,
            format!(
                "N:M sparsity {}:{} is malformed; expected 1 ≤ N ≤ M",
                nm.n, nm.m
            ),
        ));
    }
    let dataflow = arch.array.dataflow;
    // SCALE-Sim stores the stationary filter compressed; only a dataflow that keeps the filter
    // in the PEs can do that.
    if crate::dataflow::model(dataflow).axes().stationary_input()
        != Some(crate::dataflow::Input::Filter)
    {
        return Err(SimError::layer(
            name,
            format!(
                "static N:M weight sparsity ({}:{}) is modelled for the weight-stationary \
                 dataflow only (as in SCALE-Sim v3), but the array is `{dataflow}`; use \
                 `array.dataflow = \"ws\"` or a dense layer",
                nm.n, nm.m
            ),
        ));
    }
    Ok(nm.compressed_k(k))
}

/// Checks that `map` can be walked fold by fold: its cycle and fold counts fit u64 and it has
/// at most [`MAX_FOLDS`] folds.
pub(crate) fn check_mapping(map: &Mapping, name: &str, overlap: bool) -> Result<(), SimError> {
    let (r, c) = (map.rows, map.cols);
    if map.groups > 1 && map.grid_folds() > MAX_FOLDS {
        // A grouped mapping adds its folds up one by one: bound the walk first.
        return Err(SimError::layer(
            name,
            format!(
                "maps to {} fold positions on the {r}×{c} array ({} row × {} column folds); \
                 the fold-by-fold memory model takes at most {MAX_FOLDS} per layer, so use a \
                 larger array for this layer",
                map.grid_folds(),
                map.row_folds,
                map.col_folds
            ),
        ));
    }
    map.stall_free_cycles(overlap)
        .ok_or_else(|| SimError::overflow(name, "the cycle count"))?;
    map.folds()
        .checked_mul(r + c)
        .ok_or_else(|| SimError::overflow(name, "the fold count"))?;
    if map.folds() > MAX_FOLDS {
        return Err(SimError::layer(
            name,
            format!(
                "maps to {} folds on the {r}×{c} array ({} row × {} column folds); the \
                 fold-by-fold memory model takes at most {MAX_FOLDS} per layer, so use a larger \
                 array for this layer",
                map.folds(),
                map.row_folds,
                map.col_folds
            ),
        ));
    }
    Ok(())
}

/// A dense layer prepared on a design: its GEMM (K' for N:M layers), single-pass mapping,
/// compulsory traffic and single-pass run.
#[derive(Debug, Clone)]
pub(crate) struct DenseLayer {
    pub gemm: LayerGemm,
    pub map: Mapping,
    pub comp: Compulsory,
    /// The single pass, completed (SCALE-Sim's schedule and figures).
    pub single: Evaluated,
    /// The layer's mapspace on the design (docs/model.md §8).
    pub space: Mapspace,
}

impl DenseLayer {
    /// Checks `layer` on `arch` and runs its single pass.
    pub fn new(arch: &ArchConfig, layer: &Layer, opts: &LayerOptions) -> Result<Self, SimError> {
        check_arch(arch)?;
        let name = layer.name();
        let overlap = arch.array.overlap_folds;
        let dense = LayerGemm::of_batch(&layer.shape, arch.workload.batch);
        let k = filter_rows(arch, layer, opts)?;
        let gemm = dense.with_k(k);
        let map = gemm.map(arch.array.dataflow, arch.array.rows, arch.array.cols);
        check_mapping(&map, name, overlap)?;
        let comp = compulsory(arch, layer, k);
        let mut single = Evaluated::of(arch, gemm, &comp, KSplit::one_pass(k));
        debug_assert_eq!(
            Some(single.totals.compute_cycles),
            map.stall_free_cycles(overlap)
        );
        if opts.weight_sparsity.is_some() {
            // Each compressed weight selects one of the M inputs of its block, so the array
            // still reads the dense ifmap window in every column fold.
            single.totals.sram.ifmap_reads = Accesses(
                map.col_folds
                    .saturating_mul(dense.m)
                    .saturating_mul(dense.k)
                    .saturating_mul(dense.groups),
            );
            single.totals = complete_dense(arch, gemm, single.totals);
        }
        let mut arch1 = arch.clone();
        arch1.workload.batch = 1;
        let comp_1 = compulsory(&arch1, layer, k);
        let per = layer.shape.kernel()[0] * layer.shape.kernel()[1];
        let cin = layer.shape.in_channels();
        let per_channel = (gemm.groups == 1 && per * cin == k).then_some((per, cin));
        let g1 = LayerGemm::of(&layer.shape).with_k(k);
        let mut space = Mapspace::new(arch, g1, comp, comp_1, per_channel);
        if opts.weight_sparsity.is_some() {
            space = space.single_only();
        }
        Ok(Self {
            gemm,
            map,
            comp,
            single,
            space,
        })
    }

    /// The mapping of the single pass (SCALE-Sim's schedule): one pass, column fold outer,
    /// samples stacked, no resident tiles beyond the fit rule, the design's overlap.
    pub fn single_mapping(&self, arch: &ArchConfig) -> LayerMapping {
        LayerMapping {
            split: self.single.split.clone(),
            base_passes: 0,
            order: crate::mapping::FoldOrder::ColumnOuter,
            batch: BatchOrder::Stacked,
            overlap: arch.array.overlap_folds,
            pins: [0, 0],
        }
    }

    /// The best dense mapping for `mapping.objective` (docs/model.md §8), with `extra` (a gated
    /// layer's own split) among the K splits. N:M layers run the single pass only (SCALE-Sim's
    /// model of them has no K split), whose SRAM counts are SCALE-Sim's.
    pub fn best(&self, arch: &ArchConfig, extra: Option<KSplit>) -> mapper::Evaluated {
        if self.space.is_single_only() {
            return mapper::Evaluated {
                name: self.space.name(&self.single_mapping(arch)).into(),
                mapping: self.single_mapping(arch),
                totals: self.single.totals,
                pass_cycles: vec![self.single.totals.compute_cycles],
            };
        }
        let space = match extra {
            Some(s) => self.space.clone().with_split(s),
            None => self.space.clone(),
        };
        mapper::choose(&space, arch.mapping.objective, "dense")
    }

    /// The stats of running `run` (a dense schedule of this layer), with `run` as the ungated
    /// baseline and the single pass for the SCALE-Sim figures.
    fn stats(
        &self,
        arch: &ArchConfig,
        layer: &Layer,
        run: &mapper::Evaluated,
    ) -> Result<LayerStats, SimError> {
        let name: Arc<str> = run.mapping.split.name().into();
        let baselines = Baselines {
            ungated_schedule: name.clone(),
            cycles_ungated: run.totals.cycles,
            energy_ungated: run.totals.energy,
            dense_policy: None,
            single_pass: self.single.totals,
        };
        let mut totals = run.totals;
        totals.compulsory = self.comp;
        LayerStats::of_run(
            arch,
            LayerRun {
                layer,
                sample: None,
                map: &self.map,
                totals,
                schedule: &name,
                mapping: &run.name,
                baselines: &baselines,
                pe_imbalance: baseline::pe_imbalance(arch, self.gemm, &run.mapping.split),
            },
        )
    }
}

/// Simulates one ungated layer as a real dense accelerator would run it: its best dense
/// schedule on the design (one pass, or K split into chunks that fit the buffers; docs/model.md
/// §8), named in `schedule`. The `scalesim_*` figures are those of the single pass.
///
/// Errors: an array side or word size of 0, N:M sparsity with a dataflow that does not keep
/// the filter stationary, a malformed N:M ratio, or counts overflowing u64 — each naming the
/// key or the layer.
pub fn simulate_layer(
    arch: &ArchConfig,
    layer: &Layer,
    opts: &LayerOptions,
) -> Result<LayerStats, SimError> {
    let d = DenseLayer::new(arch, layer, opts)?;
    let best = d.best(arch, None);
    d.stats(arch, layer, &best)
}

/// Simulates one layer as a single GEMM pass, every fold in full: SCALE-Sim's schedule, which
/// the cycle-stepped engine and the closed forms of docs/model.md §2 check. Its baseline
/// columns describe this same run.
///
/// Errors: as [`simulate_layer`].
pub fn simulate_layer_one_pass(
    arch: &ArchConfig,
    layer: &Layer,
    opts: &LayerOptions,
) -> Result<LayerStats, SimError> {
    let d = DenseLayer::new(arch, layer, opts)?;
    let single = mapper::Evaluated {
        name: d.space.name(&d.single_mapping(arch)).into(),
        mapping: d.single_mapping(arch),
        totals: d.single.totals,
        pass_cycles: vec![d.single.totals.compute_cycles],
    };
    d.stats(arch, layer, &single)
}
