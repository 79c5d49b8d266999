//! The dense model: a layer is one GEMM pass, every fold runs in full.

use crate::energy::{Actions, energy};
use crate::error::SimError;
use crate::mapping::{Fold, Mapping, NmSparsity};
use crate::memory::{
    FoldWork, MemoryModel, MemoryTotals, OperandFootprint, OutputUse, TileUse,
    touched_input_elements,
};
use crate::stats::{Compulsory, LayerStats, NetworkStats, SampleMax, ScaleSimFigures};
use cdg_core::{
    Accesses, ArchConfig, Bytes, Cycles, Dataflow, GemmDims, Layer, Macs, MaskSet, Microseconds,
    Network,
};

/// Most folds one layer may map to. The memory model walks folds one by one (a few ns each), so
/// this bounds a layer at about a second; only absurd arrays (1×1 on a large layer) reach it.
pub const MAX_FOLDS: u64 = 1 << 28;

/// Per-layer simulation options beyond the arch config.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerOptions {
    /// Static N:M weight sparsity as SCALE-Sim v3 models it (weight-stationary only).
    pub weight_sparsity: Option<NmSparsity>,
}

/// Checks the parts of `arch` the model divides by or multiplies with. `ArchConfig` values made
/// by `TryFrom<RawArchConfig>` always pass; hand-built ones may not.
pub fn check_arch(arch: &ArchConfig) -> Result<(), SimError> {
    let bad = |key: &str, problem: String| {
        Err(SimError::Config {
            key: key.to_owned(),
            problem,
        })
    };
    if arch.array.rows == 0 {
        return bad("array.rows", "must be at least 1, found 0".into());
    }
    if arch.array.cols == 0 {
        return bad("array.cols", "must be at least 1, found 0".into());
    }
    if arch.memory.word_bytes == 0 {
        return bad("memory.word_bytes", "must be at least 1, found 0".into());
    }
    if let cdg_core::DramBandwidth::BytesPerCycle(bw) = arch.memory.dram_bandwidth
        && !(bw.is_finite() && bw > 0.0)
    {
        return bad(
            "memory.dram_bytes_per_cycle",
            format!("must be a positive number, found {bw}"),
        );
    }
    if !(arch.clock.frequency_mhz.is_finite() && arch.clock.frequency_mhz > 0.0) {
        return bad(
            "clock.frequency_mhz",
            format!(
                "must be a positive number, found {}",
                arch.clock.frequency_mhz
            ),
        );
    }
    Ok(())
}

/// The [`FoldWork`] of a dense fold: its tiles, outputs and cycles. `position` is the fold's
/// place among the folds that actually run (for `overlap`).
///
/// Tiles: the ifmap tile covers the fold's M×K ranges, the filter tile its K×N ranges, the
/// outputs its M×N ranges. OS reuses the filter tile across row folds and the ifmap tile
/// across column folds; WS reuses the ifmap tile (M×K_i) across column folds; IS reuses the
/// filter tile (K_i×N) across column folds. WS and IS accumulate each column fold's outputs
/// over its row folds.
pub fn dense_fold_work(map: &Mapping, fold: &Fold, position: u64, overlap: bool) -> FoldWork {
    let (ifmap_id, ifmap_first, filter_id, filter_first) = match map.dataflow {
        Dataflow::OutputStationary => (
            fold.row_fold,
            fold.col_fold == 0,
            fold.col_fold,
            fold.row_fold == 0,
        ),
        Dataflow::WeightStationary => (fold.row_fold, fold.col_fold == 0, fold.index, true),
        Dataflow::InputStationary => (fold.index, true, fold.row_fold, fold.col_fold == 0),
    };
    let out_elems = fold.m.len() * fold.n.len();
    let output = match map.dataflow {
        Dataflow::OutputStationary => OutputUse {
            group: fold.index,
            elems: out_elems,
            group_elems: out_elems,
            first: true,
            last: true,
            reload: false,
            continued: false,
        },
        Dataflow::WeightStationary | Dataflow::InputStationary => OutputUse {
            group: fold.col_fold,
            elems: out_elems,
            group_elems: out_elems,
            first: fold.row_fold == 0,
            last: fold.row_fold + 1 == map.row_folds,
            reload: false,
            continued: false,
        },
    };
    FoldWork {
        compute: map.fold_cycles_at(position, map.t, overlap),
        ifmap: TileUse {
            id: ifmap_id,
            elems: fold.m.len() * fold.k.len(),
            first_use: ifmap_first,
            new_elems: if ifmap_first {
                fold.m.len() * fold.k.len()
            } else {
                0
            },
        },
        filter: TileUse {
            id: filter_id,
            elems: fold.k.len() * fold.n.len(),
            first_use: filter_first,
            new_elems: if filter_first {
                fold.k.len() * fold.n.len()
            } else {
                0
            },
        },
        output,
    }
}

/// The compulsory traffic of `layer` with a filter of `k` rows (K, or the compressed K of N:M
/// sparsity): touched input elements, K·N weights, M·N outputs, in bytes.
pub fn compulsory(arch: &ArchConfig, layer: &Layer, k: u64) -> Compulsory {
    let wb = arch.memory.word_bytes;
    let g = layer.shape.gemm();
    Compulsory {
        ifmap: Bytes(touched_input_elements(&layer.shape) * wb),
        filter: Bytes(k * g.n * wb),
        ofmap: Bytes(g.m * g.n * wb),
    }
}

/// Simulates one layer densely (every fold in full).
///
/// Errors: an array side or word size of 0, N:M sparsity with OS or IS, a malformed N:M
/// ratio, or counts overflowing u64 — each naming the key or the layer.
pub fn simulate_layer(
    arch: &ArchConfig,
    layer: &Layer,
    opts: &LayerOptions,
) -> Result<LayerStats, SimError> {
    check_arch(arch)?;
    let name = layer.name();
    let (r, c) = (arch.array.rows, arch.array.cols);
    let dataflow = arch.array.dataflow;
    let overlap = arch.array.overlap_folds;
    let dense = layer.shape.gemm();
    let k = match opts.weight_sparsity {
        None => dense.k,
        Some(nm) => {
            if nm.n == 0 || nm.m == 0 || nm.n > nm.m {
                return Err(SimError::layer(
                    name,
                    format!(
                        "N:M sparsity {}:{} is malformed; expected 1 ≤ N ≤ M",
                        nm.n, nm.m
                    ),
                ));
            }
            if dataflow != Dataflow::WeightStationary {
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
            nm.compressed_k(dense.k)
        }
    };
    let gemm = GemmDims { k, ..dense };
    let map = Mapping::new(dataflow, r, c, gemm);
    let stall_free = map
        .stall_free_cycles(overlap)
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

    let comp = compulsory(arch, layer, k);
    let mut mem = MemoryModel::new(
        arch,
        OperandFootprint {
            gemm_elems: gemm.m * gemm.k,
            compulsory: comp.ifmap,
        },
        OperandFootprint {
            gemm_elems: gemm.k * gemm.n,
            compulsory: comp.filter,
        },
    );
    for (position, fold) in map.folds_iter().enumerate() {
        mem.push(&dense_fold_work(&map, &fold, position as u64, overlap));
    }
    let mut totals: MemoryTotals = mem.finish();
    debug_assert_eq!(totals.compute, stall_free);
    if opts.weight_sparsity.is_some() {
        // Each compressed weight selects one of the M inputs of its block, so the array still
        // reads the dense ifmap window in every column fold.
        totals.sram.ifmap_reads = Accesses(map.col_folds * dense.m * dense.k);
    }

    let pe_imbalance = (map.row_folds * r) as f64 / map.sr as f64;
    Ok(layer_stats(
        arch,
        LayerOutcome {
            layer,
            sample: None,
            map,
            totals,
            compulsory: comp,
            macs_needed: gemm.macs(),
            gated_slots: Macs::ZERO,
            wasted_slots: Macs::ZERO,
            gate_ops: 0,
            extra_dram_bytes: 0,
            cycles_ungated: None,
            cond_cycles: Cycles::ZERO,
            pe_imbalance,
        },
    ))
}

/// What simulating a layer produced, before it becomes [`LayerStats`]. Gated models fill
/// this from their own passes and call [`layer_stats`], so every model reports alike.
#[derive(Debug, Clone, Copy)]
pub struct LayerOutcome<'a> {
    pub layer: &'a Layer,
    pub sample: Option<usize>,
    /// The layer's dense mapping (folds, SCALE-Sim figures).
    pub map: Mapping,
    /// The memory model's totals over every fold that ran (all passes).
    pub totals: MemoryTotals,
    pub compulsory: Compulsory,
    /// MACs whose result is used, charged at `energy.mac`.
    pub macs_needed: Macs,
    /// MAC slots spent on outputs whose gate is off, charged at `energy.gated_mac`.
    pub gated_slots: Macs,
    /// MAC slots run at full cost whose result is discarded (the `dense` policy on a gated
    /// layer computes every conditional output, gate on or off), charged at `energy.mac`.
    pub wasted_slots: Macs,
    pub gate_ops: u64,
    /// DRAM bytes beyond operand traffic (masks with `sparsity.mask_in_dram`).
    pub extra_dram_bytes: u64,
    /// Cycles of the layer as one dense GEMM; `None` when this run is that GEMM.
    pub cycles_ungated: Option<Cycles>,
    /// Compute cycles of a gated layer's conditional pass (0 when ungated).
    pub cond_cycles: Cycles,
    pub pe_imbalance: f64,
}

/// Assembles the stats of a layer: cycles = compute + stalls, energy from the actions,
/// utilization, latency and the SCALE-Sim figures of the dense mapping.
pub fn layer_stats(arch: &ArchConfig, o: LayerOutcome<'_>) -> LayerStats {
    let (r, c) = (arch.array.rows, arch.array.cols);
    let dense = o.layer.shape.gemm();
    let macs_dense = dense.macs();
    let t = &o.totals;
    let cycles = t.compute + t.stall;
    let actions = Actions {
        macs: o.macs_needed + o.wasted_slots,
        gated_slots: o.gated_slots,
        gate_ops: o.gate_ops,
        extra_dram_bytes: o.extra_dram_bytes,
        sram: t.sram,
        dram: t.dram,
        cycles,
    };
    let pe_cycles = (r * c) as f64 * cycles.as_f64();
    let latency = Microseconds::from_cycles(cycles, arch.clock.frequency_mhz);
    let energy = energy(arch, &actions);
    LayerStats {
        layer: o.layer.name().to_owned(),
        sample: o.sample,
        dataflow: arch.array.dataflow,
        array_rows: r,
        array_cols: c,
        gemm: dense,
        row_folds: o.map.row_folds,
        col_folds: o.map.col_folds,
        folds_executed: t.folds,
        macs_dense,
        macs_needed: o.macs_needed,
        macs_executed: o.macs_needed + o.gated_slots + o.wasted_slots,
        cycles,
        compute_cycles: t.compute,
        stall_cycles: t.stall,
        prefetch_cycles: t.prefetch,
        cycles_ungated: o.cycles_ungated.unwrap_or(cycles),
        cond_cycles: o.cond_cycles,
        latency,
        utilization: if pe_cycles > 0.0 {
            o.macs_needed.as_f64() / pe_cycles
        } else {
            0.0
        },
        pe_imbalance: o.pe_imbalance,
        gate_ops: o.gate_ops,
        sram: t.sram,
        dram: t.dram,
        compulsory: o.compulsory,
        energy,
        scalesim: scalesim_figures(&o.map, t, macs_dense),
        samples: 1,
        max: SampleMax {
            macs_needed: o.macs_needed,
            macs_executed: o.macs_needed + o.gated_slots + o.wasted_slots,
            cycles,
            latency,
            energy: energy.total(),
            pe_imbalance: o.pe_imbalance,
        },
    }
}

/// SCALE-Sim's report figures for a dense mapping (see `shared/reference/README.md`).
fn scalesim_figures(map: &Mapping, totals: &MemoryTotals, macs_dense: Macs) -> ScaleSimFigures {
    let (r, c) = (map.rows, map.cols);
    let total_cycles = (totals.compute + totals.stall).saturating_sub(Cycles(1));
    let fold_cycles = match map.dataflow {
        Dataflow::OutputStationary => map.t + r + c - 2,
        // Its WS/IS code counts C − 1 more cycles per fold than it simulates.
        Dataflow::WeightStationary | Dataflow::InputStationary => 2 * r + 2 * c + map.t - 3,
    };
    let mapping_efficiency = map.mapping_efficiency();
    let ofmap_writes = match map.dataflow {
        Dataflow::OutputStationary => totals.sram.ofmap_writes + Accesses(map.folds() * (r + c)),
        _ => totals.sram.ofmap_writes,
    };
    let denom = total_cycles.as_f64() * (r * c) as f64;
    ScaleSimFigures {
        total_cycles,
        stall_cycles: totals.stall,
        ifmap_reads: totals.sram.ifmap_reads,
        filter_reads: totals.sram.filter_reads,
        ofmap_writes,
        mapping_efficiency,
        compute_utilization: mapping_efficiency * map.t as f64 / fold_cycles as f64,
        overall_utilization: if denom > 0.0 {
            macs_dense.as_f64() / denom
        } else {
            0.0
        },
    }
}

/// Simulates every layer of `network`.
///
/// Without masks every layer runs densely (one GEMM). With masks, every sample is simulated
/// by the gated model ([`crate::gated::simulate_samples`]: base then conditional pass under
/// `sparsity.support`) and the result is the mean over samples, with per-sample maxima.
///
/// Errors: masks that miss a gated layer or disagree with its shape, and everything
/// [`simulate_layer`] refuses — each naming the layer or the key.
pub fn simulate_network(
    arch: &ArchConfig,
    network: &Network,
    masks: Option<&MaskSet>,
) -> Result<NetworkStats, SimError> {
    match masks {
        Some(masks) => Ok(crate::gated::simulate_samples(arch, network, masks)?.mean),
        None => simulate_network_with(arch, network, &[]),
    }
}

/// Simulates every layer of `network` densely with per-layer options (`opts[i]` for layer i;
/// an empty slice means defaults for every layer).
pub fn simulate_network_with(
    arch: &ArchConfig,
    network: &Network,
    opts: &[LayerOptions],
) -> Result<NetworkStats, SimError> {
    if !opts.is_empty() && opts.len() != network.len() {
        return Err(SimError::Mismatch(format!(
            "per-layer options for {} layers given for a network of {} layers",
            opts.len(),
            network.len()
        )));
    }
    let default = LayerOptions::default();
    let layers = network
        .layers()
        .iter()
        .enumerate()
        .map(|(i, l)| simulate_layer(arch, l, opts.get(i).unwrap_or(&default)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NetworkStats::of_layers(arch, None, layers))
}
