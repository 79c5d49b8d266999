//! The dense model (docs/model.md §2): a layer is one GEMM pass, every fold runs in full.

use crate::arch::check_arch;
use crate::counters::Counters;
use crate::error::SimError;
use crate::mapping::{Mapping, NmSparsity};
use crate::memory::{OperandFootprint, compulsory};
use crate::stats::{LayerRun, LayerStats};
use crate::stream::{Pass, PassStream};
use cdg_core::{Accesses, ArchConfig, GemmDims, Layer, Macs};

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
fn check_mapping(map: &Mapping, name: &str, overlap: bool) -> Result<(), SimError> {
    let (r, c) = (map.rows, map.cols);
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

/// Simulates one layer densely (every fold in full).
///
/// Errors: an array side or word size of 0, N:M sparsity with a dataflow that does not keep
/// the filter stationary, a malformed N:M ratio, or counts overflowing u64 — each naming the
/// key or the layer.
pub fn simulate_layer(
    arch: &ArchConfig,
    layer: &Layer,
    opts: &LayerOptions,
) -> Result<LayerStats, SimError> {
    check_arch(arch)?;
    crate::arch::check_layer(layer)?;
    let name = layer.name();
    let overlap = arch.array.overlap_folds;
    let dense = layer.shape.gemm();
    let k = filter_rows(arch, layer, opts)?;
    let gemm = GemmDims { k, ..dense };
    let map = Mapping::new(arch.array.dataflow, arch.array.rows, arch.array.cols, gemm);
    check_mapping(&map, name, overlap)?;

    let comp = compulsory(arch, layer, k);
    let mut stream = PassStream::new(
        arch,
        OperandFootprint {
            gemm_elems: gemm.m * gemm.k,
            compulsory: comp.ifmap,
        },
        OperandFootprint {
            gemm_elems: gemm.k * gemm.n,
            compulsory: comp.filter,
        },
        gemm.m * gemm.n,
    );
    let mut pass = Pass::new(0, &map, false);
    for f in map.folds_iter() {
        let finalised = if map.group_last(&f) {
            f.m.len() * f.n.len()
        } else {
            0
        };
        stream.dense(&mut pass, &f, finalised);
    }
    let mut totals: Counters = stream.finish();
    debug_assert_eq!(Some(totals.compute_cycles), map.stall_free_cycles(overlap));
    if opts.weight_sparsity.is_some() {
        // Each compressed weight selects one of the M inputs of its block, so the array still
        // reads the dense ifmap window in every column fold.
        totals.sram.ifmap_reads = Accesses(map.col_folds * dense.m * dense.k);
    }
    totals.macs_needed = gemm.macs();
    totals.macs_executed = gemm.macs();
    totals.macs_clock_gated = Macs::ZERO;
    totals.compulsory = comp;

    Ok(LayerStats::of_run(
        arch,
        LayerRun {
            layer,
            sample: None,
            map: &map,
            totals,
            cycles_ungated: None,
            pe_imbalance: (map.row_folds * map.rows) as f64 / map.sr as f64,
        },
    ))
}
