//! Typed results of a simulation and their report rows. The models fill the stats structs;
//! [`LayerRow`] and [`NetworkRow`] are the CSV rows (field names = column names, unit-suffixed,
//! fractions in [0, 1]).

use crate::energy::EnergyBreakdown;
use crate::memory::{DramTraffic, SramAccesses};
use cdg_core::{
    Accesses, ArchConfig, Bytes, Cycles, Dataflow, GemmDims, Macs, Microseconds, PicoJoules,
};
use serde::Serialize;

/// Compulsory DRAM traffic of a layer: every unique input element touched by a window, every
/// weight, every output, once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compulsory {
    pub ifmap: Bytes,
    pub filter: Bytes,
    pub ofmap: Bytes,
}

impl Compulsory {
    pub fn total(&self) -> Bytes {
        self.ifmap + self.filter + self.ofmap
    }
}

/// The figures SCALE-Sim v3.0.0 would report for the layer, with its conventions and quirks.
/// They appear only in `scalesim_*` columns and the compatibility report.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ScaleSimFigures {
    /// L − 1 + stalls: SCALE-Sim reports the index of the last cycle.
    pub total_cycles: Cycles,
    pub stall_cycles: Cycles,
    /// Ifmap SRAM reads as SCALE-Sim reports them (N:M sparse layers scaled back to dense).
    pub ifmap_reads: Accesses,
    pub filter_reads: Accesses,
    /// Ofmap SRAM writes; for OS, M·N + folds·(R + C) (a quirk of its OS code).
    pub ofmap_writes: Accesses,
    /// Mean over folds of used PEs / (R·C), a fraction.
    pub mapping_efficiency: f64,
    /// Mean over folds of used PEs·T / (R·C·fold_cycles) with its WS/IS fold_cycles
    /// 2R + 2C + T − 3, a fraction.
    pub compute_utilization: f64,
    /// Dense MACs / (total_cycles·R·C), a fraction.
    pub overall_utilization: f64,
}

/// The largest per-sample figures of a run that averages several samples (for a single run,
/// its own figures): the `_max` companions of the mean columns.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SampleMax {
    pub macs_needed: Macs,
    pub macs_executed: Macs,
    pub cycles: Cycles,
    pub latency: Microseconds,
    pub energy: PicoJoules,
    /// Layers only; 0 for a network.
    pub pe_imbalance: f64,
}

impl SampleMax {
    /// Element-wise maximum.
    pub fn max(self, o: Self) -> Self {
        Self {
            macs_needed: self.macs_needed.max(o.macs_needed),
            macs_executed: self.macs_executed.max(o.macs_executed),
            cycles: self.cycles.max(o.cycles),
            latency: Microseconds(self.latency.get().max(o.latency.get())),
            energy: PicoJoules(self.energy.get().max(o.energy.get())),
            pe_imbalance: self.pe_imbalance.max(o.pe_imbalance),
        }
    }
}

/// Everything the simulator knows about one layer: of one run (a dense run, or one sample of a
/// trace), or the mean over a trace's samples (`samples > 1`; counts are then rounded to the
/// nearest integer, energies, latencies and ratios are exact means or ratios of sums, and
/// `max` holds the per-sample maxima).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerStats {
    pub layer: String,
    /// The trace sample, or `None` for a dense (mask-free) run or a mean over samples.
    pub sample: Option<usize>,
    /// Samples this figure averages (1 for a single run).
    pub samples: usize,
    pub dataflow: Dataflow,
    pub array_rows: u64,
    pub array_cols: u64,
    /// The layer's dense GEMM.
    pub gemm: GemmDims,
    /// F_r and F_c of the dense mapping.
    pub row_folds: u64,
    pub col_folds: u64,
    /// Folds the array actually ran (over all passes).
    pub folds_executed: u64,
    /// M·K·N.
    pub macs_dense: Macs,
    /// MACs whose result is used (dense: all; gated: base + active conditional).
    pub macs_needed: Macs,
    /// MAC slots the array spent: needed plus clock-gated ones.
    pub macs_executed: Macs,
    /// Compute cycles plus stalls.
    pub cycles: Cycles,
    /// Σ fold cycles (L for a dense layer).
    pub compute_cycles: Cycles,
    /// DRAM stalls, including `prefetch_cycles` and the final drain.
    pub stall_cycles: Cycles,
    pub prefetch_cycles: Cycles,
    /// Cycles of the layer simulated as one dense GEMM (equal to `cycles` for a dense run).
    pub cycles_ungated: Cycles,
    /// Compute cycles of the conditional pass of a gated layer (0 for an ungated layer).
    pub cond_cycles: Cycles,
    pub latency: Microseconds,
    /// macs_needed / (R·C·cycles).
    pub utilization: f64,
    /// Max / mean active MACs per PE row over the executed folds.
    pub pe_imbalance: f64,
    pub gate_ops: u64,
    pub sram: SramAccesses,
    pub dram: DramTraffic,
    pub compulsory: Compulsory,
    pub energy: EnergyBreakdown,
    pub scalesim: ScaleSimFigures,
    /// Per-sample maxima (a single run's own figures).
    pub max: SampleMax,
}

impl LayerStats {
    /// This run's own figures as maxima (what a single run reports in its `_max` columns).
    pub fn own_max(&self) -> SampleMax {
        SampleMax {
            macs_needed: self.macs_needed,
            macs_executed: self.macs_executed,
            cycles: self.cycles,
            latency: self.latency,
            energy: self.energy.total(),
            pe_imbalance: self.pe_imbalance,
        }
    }

    pub fn energy_total(&self) -> PicoJoules {
        self.energy.total()
    }

    /// Energy × latency in pJ·µs.
    pub fn edp_pj_us(&self) -> f64 {
        self.energy.total().get() * self.latency.get()
    }

    /// The CSV row of this layer.
    pub fn to_row(&self) -> LayerRow {
        let e = &self.energy;
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 1.0 };
        LayerRow {
            layer: self.layer.clone(),
            sample: self.sample,
            samples: self.samples,
            dataflow: self.dataflow.as_str(),
            array_rows: self.array_rows,
            array_cols: self.array_cols,
            gemm_m: self.gemm.m,
            gemm_k: self.gemm.k,
            gemm_n: self.gemm.n,
            row_folds: self.row_folds,
            col_folds: self.col_folds,
            folds_executed: self.folds_executed,
            macs_dense: self.macs_dense.get(),
            macs_needed: self.macs_needed.get(),
            macs_executed: self.macs_executed.get(),
            macs_wasted: self.macs_executed.get() - self.macs_needed.get(),
            macs_needed_max: self.max.macs_needed.get(),
            macs_executed_max: self.max.macs_executed.get(),
            cycles: self.cycles.get(),
            cycles_max: self.max.cycles.get(),
            compute_cycles: self.compute_cycles.get(),
            stall_cycles: self.stall_cycles.get(),
            prefetch_cycles: self.prefetch_cycles.get(),
            cycles_ungated: self.cycles_ungated.get(),
            cond_cycles: self.cond_cycles.get(),
            latency_us: self.latency.get(),
            latency_us_max: self.max.latency.get(),
            utilization: self.utilization,
            flops_reduction: ratio(self.macs_dense.as_f64(), self.macs_needed.as_f64()),
            cycle_reduction: ratio(self.cycles_ungated.as_f64(), self.cycles.as_f64()),
            pe_imbalance: self.pe_imbalance,
            pe_imbalance_max: self.max.pe_imbalance,
            gate_ops: self.gate_ops,
            sram_ifmap_reads: self.sram.ifmap_reads.get(),
            sram_filter_reads: self.sram.filter_reads.get(),
            sram_ofmap_writes: self.sram.ofmap_writes.get(),
            sram_psum_reads: self.sram.psum_reads.get(),
            dram_ifmap_read_bytes: self.dram.ifmap_read.get(),
            dram_filter_read_bytes: self.dram.filter_read.get(),
            dram_ofmap_write_bytes: self.dram.ofmap_write.get(),
            dram_psum_bytes: self.dram.psum().get(),
            dram_mask_bytes: self.dram.mask_read.get(),
            dram_read_bytes: self.dram.reads().get(),
            dram_write_bytes: self.dram.writes().get(),
            dram_compulsory_bytes: self.compulsory.total().get(),
            energy_pj: e.total().get(),
            energy_pj_max: self.max.energy.get(),
            energy_mac_pj: e.mac.get(),
            energy_sram_ifmap_pj: e.sram_ifmap.get(),
            energy_sram_filter_pj: e.sram_filter.get(),
            energy_sram_ofmap_pj: e.sram_ofmap.get(),
            energy_dram_pj: e.dram.get(),
            energy_gate_pj: e.gate.get(),
            energy_leak_pj: e.leak.get(),
            edp_pj_us: self.edp_pj_us(),
            scalesim_total_cycles: self.scalesim.total_cycles.get(),
            scalesim_stall_cycles: self.scalesim.stall_cycles.get(),
            scalesim_ifmap_reads: self.scalesim.ifmap_reads.get(),
            scalesim_filter_reads: self.scalesim.filter_reads.get(),
            scalesim_ofmap_writes: self.scalesim.ofmap_writes.get(),
            scalesim_mapping_efficiency: self.scalesim.mapping_efficiency,
            scalesim_compute_utilization: self.scalesim.compute_utilization,
            scalesim_overall_utilization: self.scalesim.overall_utilization,
        }
    }
}

/// One row of `layers.csv`. Counts are plain integers here because this is the file boundary;
/// the unit is in each column name (`_bytes`, `_pj`, `_us`; bare counts are cycles, MACs or
/// element accesses as named).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerRow {
    pub layer: String,
    pub sample: Option<usize>,
    pub samples: usize,
    pub dataflow: &'static str,
    pub array_rows: u64,
    pub array_cols: u64,
    pub gemm_m: u64,
    pub gemm_k: u64,
    pub gemm_n: u64,
    pub row_folds: u64,
    pub col_folds: u64,
    pub folds_executed: u64,
    pub macs_dense: u64,
    pub macs_needed: u64,
    pub macs_executed: u64,
    pub macs_wasted: u64,
    pub macs_needed_max: u64,
    pub macs_executed_max: u64,
    pub cycles: u64,
    pub cycles_max: u64,
    pub compute_cycles: u64,
    pub stall_cycles: u64,
    pub prefetch_cycles: u64,
    pub cycles_ungated: u64,
    pub cond_cycles: u64,
    pub latency_us: f64,
    pub latency_us_max: f64,
    pub utilization: f64,
    pub flops_reduction: f64,
    pub cycle_reduction: f64,
    pub pe_imbalance: f64,
    pub pe_imbalance_max: f64,
    pub gate_ops: u64,
    pub sram_ifmap_reads: u64,
    pub sram_filter_reads: u64,
    pub sram_ofmap_writes: u64,
    pub sram_psum_reads: u64,
    pub dram_ifmap_read_bytes: u64,
    pub dram_filter_read_bytes: u64,
    pub dram_ofmap_write_bytes: u64,
    pub dram_psum_bytes: u64,
    pub dram_mask_bytes: u64,
    pub dram_read_bytes: u64,
    pub dram_write_bytes: u64,
    pub dram_compulsory_bytes: u64,
    pub energy_pj: f64,
    pub energy_pj_max: f64,
    pub energy_mac_pj: f64,
    pub energy_sram_ifmap_pj: f64,
    pub energy_sram_filter_pj: f64,
    pub energy_sram_ofmap_pj: f64,
    pub energy_dram_pj: f64,
    pub energy_gate_pj: f64,
    pub energy_leak_pj: f64,
    pub edp_pj_us: f64,
    pub scalesim_total_cycles: u64,
    pub scalesim_stall_cycles: u64,
    pub scalesim_ifmap_reads: u64,
    pub scalesim_filter_reads: u64,
    pub scalesim_ofmap_writes: u64,
    pub scalesim_mapping_efficiency: f64,
    pub scalesim_compute_utilization: f64,
    pub scalesim_overall_utilization: f64,
}

/// Network totals of one run (one sample, or a dense run).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkTotals {
    pub layers: usize,
    pub macs_dense: Macs,
    pub macs_needed: Macs,
    pub macs_executed: Macs,
    pub cycles: Cycles,
    pub compute_cycles: Cycles,
    pub stall_cycles: Cycles,
    pub prefetch_cycles: Cycles,
    pub cycles_ungated: Cycles,
    pub cond_cycles: Cycles,
    pub gate_ops: u64,
    pub sram: SramAccesses,
    pub dram: DramTraffic,
    pub compulsory: Compulsory,
    pub energy: EnergyBreakdown,
    pub scalesim_total_cycles: Cycles,
}

impl NetworkTotals {
    /// Sums `layers`.
    pub fn of(layers: &[LayerStats]) -> Self {
        let mut t = Self {
            layers: layers.len(),
            ..Self::default()
        };
        for l in layers {
            t.macs_dense += l.macs_dense;
            t.macs_needed += l.macs_needed;
            t.macs_executed += l.macs_executed;
            t.cycles += l.cycles;
            t.compute_cycles += l.compute_cycles;
            t.stall_cycles += l.stall_cycles;
            t.prefetch_cycles += l.prefetch_cycles;
            t.cycles_ungated += l.cycles_ungated;
            t.cond_cycles += l.cond_cycles;
            t.gate_ops += l.gate_ops;
            t.sram.ifmap_reads += l.sram.ifmap_reads;
            t.sram.filter_reads += l.sram.filter_reads;
            t.sram.ofmap_writes += l.sram.ofmap_writes;
            t.sram.psum_reads += l.sram.psum_reads;
            t.dram.ifmap_read += l.dram.ifmap_read;
            t.dram.filter_read += l.dram.filter_read;
            t.dram.ofmap_write += l.dram.ofmap_write;
            t.dram.psum_read += l.dram.psum_read;
            t.dram.psum_write += l.dram.psum_write;
            t.dram.mask_read += l.dram.mask_read;
            t.compulsory.ifmap += l.compulsory.ifmap;
            t.compulsory.filter += l.compulsory.filter;
            t.compulsory.ofmap += l.compulsory.ofmap;
            t.energy += l.energy;
            t.scalesim_total_cycles += l.scalesim.total_cycles;
        }
        t
    }
}

/// A simulated network: every layer in order, and their totals.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkStats {
    pub arch_name: String,
    pub dataflow: Dataflow,
    pub array_rows: u64,
    pub array_cols: u64,
    pub frequency_mhz: f64,
    /// The trace sample, or `None` for a dense run or a mean over samples.
    pub sample: Option<usize>,
    /// Samples the figures average (1 for a single run); see [`LayerStats`].
    pub samples: usize,
    pub layers: Vec<LayerStats>,
    pub totals: NetworkTotals,
    /// Per-sample maxima of the network figures.
    pub max: SampleMax,
}

impl NetworkStats {
    /// The stats of one run on `arch` (one `sample`, or `None` for a dense run): `layers`,
    /// their totals, and the run's own figures as its maxima.
    pub(crate) fn of_layers(
        arch: &ArchConfig,
        sample: Option<usize>,
        layers: Vec<LayerStats>,
    ) -> Self {
        let totals = NetworkTotals::of(&layers);
        let mut stats = Self {
            arch_name: arch.name.clone(),
            dataflow: arch.array.dataflow,
            array_rows: arch.array.rows,
            array_cols: arch.array.cols,
            frequency_mhz: arch.clock.frequency_mhz,
            sample,
            samples: 1,
            layers,
            totals,
            max: SampleMax::default(),
        };
        stats.max = stats.own_max();
        stats
    }

    /// This run's own network figures as maxima.
    pub fn own_max(&self) -> SampleMax {
        SampleMax {
            macs_needed: self.totals.macs_needed,
            macs_executed: self.totals.macs_executed,
            cycles: self.totals.cycles,
            latency: self.latency(),
            energy: self.totals.energy.total(),
            pe_imbalance: 0.0,
        }
    }

    /// Network utilization: Σ macs_needed / (R·C·Σ cycles).
    pub fn utilization(&self) -> f64 {
        let pe_cycles = (self.array_rows * self.array_cols) as f64 * self.totals.cycles.as_f64();
        if pe_cycles > 0.0 {
            self.totals.macs_needed.as_f64() / pe_cycles
        } else {
            0.0
        }
    }

    pub fn latency(&self) -> Microseconds {
        Microseconds::from_cycles(self.totals.cycles, self.frequency_mhz)
    }

    /// The CSV row of the network totals.
    pub fn to_row(&self) -> NetworkRow {
        let t = &self.totals;
        let e = &t.energy;
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 1.0 };
        let latency = self.latency().get();
        NetworkRow {
            arch: self.arch_name.clone(),
            sample: self.sample,
            samples: self.samples,
            dataflow: self.dataflow.as_str(),
            array_rows: self.array_rows,
            array_cols: self.array_cols,
            layers: t.layers,
            macs_dense: t.macs_dense.get(),
            macs_needed: t.macs_needed.get(),
            macs_executed: t.macs_executed.get(),
            macs_wasted: t.macs_executed.get() - t.macs_needed.get(),
            macs_needed_max: self.max.macs_needed.get(),
            macs_executed_max: self.max.macs_executed.get(),
            cycles: t.cycles.get(),
            cycles_max: self.max.cycles.get(),
            compute_cycles: t.compute_cycles.get(),
            stall_cycles: t.stall_cycles.get(),
            prefetch_cycles: t.prefetch_cycles.get(),
            cycles_ungated: t.cycles_ungated.get(),
            cond_cycles: t.cond_cycles.get(),
            latency_us: latency,
            latency_us_max: self.max.latency.get(),
            utilization: self.utilization(),
            flops_reduction: ratio(t.macs_dense.as_f64(), t.macs_needed.as_f64()),
            cycle_reduction: ratio(t.cycles_ungated.as_f64(), t.cycles.as_f64()),
            gate_ops: t.gate_ops,
            sram_ifmap_reads: t.sram.ifmap_reads.get(),
            sram_filter_reads: t.sram.filter_reads.get(),
            sram_ofmap_writes: t.sram.ofmap_writes.get(),
            sram_psum_reads: t.sram.psum_reads.get(),
            dram_ifmap_read_bytes: t.dram.ifmap_read.get(),
            dram_filter_read_bytes: t.dram.filter_read.get(),
            dram_ofmap_write_bytes: t.dram.ofmap_write.get(),
            dram_psum_bytes: t.dram.psum().get(),
            dram_mask_bytes: t.dram.mask_read.get(),
            dram_read_bytes: t.dram.reads().get(),
            dram_write_bytes: t.dram.writes().get(),
            dram_compulsory_bytes: t.compulsory.total().get(),
            energy_pj: e.total().get(),
            energy_pj_max: self.max.energy.get(),
            energy_mac_pj: e.mac.get(),
            energy_sram_ifmap_pj: e.sram_ifmap.get(),
            energy_sram_filter_pj: e.sram_filter.get(),
            energy_sram_ofmap_pj: e.sram_ofmap.get(),
            energy_dram_pj: e.dram.get(),
            energy_gate_pj: e.gate.get(),
            energy_leak_pj: e.leak.get(),
            edp_pj_us: e.total().get() * latency,
            scalesim_total_cycles: t.scalesim_total_cycles.get(),
        }
    }
}

/// One row of `network.csv`: the network totals of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkRow {
    pub arch: String,
    pub sample: Option<usize>,
    pub samples: usize,
    pub dataflow: &'static str,
    pub array_rows: u64,
    pub array_cols: u64,
    pub layers: usize,
    pub macs_dense: u64,
    pub macs_needed: u64,
    pub macs_executed: u64,
    pub macs_wasted: u64,
    pub macs_needed_max: u64,
    pub macs_executed_max: u64,
    pub cycles: u64,
    pub cycles_max: u64,
    pub compute_cycles: u64,
    pub stall_cycles: u64,
    pub prefetch_cycles: u64,
    pub cycles_ungated: u64,
    pub cond_cycles: u64,
    pub latency_us: f64,
    pub latency_us_max: f64,
    pub utilization: f64,
    pub flops_reduction: f64,
    pub cycle_reduction: f64,
    pub gate_ops: u64,
    pub sram_ifmap_reads: u64,
    pub sram_filter_reads: u64,
    pub sram_ofmap_writes: u64,
    pub sram_psum_reads: u64,
    pub dram_ifmap_read_bytes: u64,
    pub dram_filter_read_bytes: u64,
    pub dram_ofmap_write_bytes: u64,
    pub dram_psum_bytes: u64,
    pub dram_mask_bytes: u64,
    pub dram_read_bytes: u64,
    pub dram_write_bytes: u64,
    pub dram_compulsory_bytes: u64,
    pub energy_pj: f64,
    pub energy_pj_max: f64,
    pub energy_mac_pj: f64,
    pub energy_sram_ifmap_pj: f64,
    pub energy_sram_filter_pj: f64,
    pub energy_sram_ofmap_pj: f64,
    pub energy_dram_pj: f64,
    pub energy_gate_pj: f64,
    pub energy_leak_pj: f64,
    pub edp_pj_us: f64,
    pub scalesim_total_cycles: u64,
}
