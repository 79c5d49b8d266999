//! Typed results of a simulation and their report rows (docs/model.md §10). The models fill a
//! layer's [`Counters`]; [`LayerStats`] adds what is not a sum (latency, ratios, per-sample
//! maxima), [`NetworkStats`] sums layers, [`summarize`] averages samples, and [`LayerRow`] /
//! [`NetworkRow`] are the CSV rows (field names = column names, unit-suffixed, fractions in
//! [0, 1]).

use crate::counters::{Counters, EnergyBreakdown, Figure, ScaleSimCounts, figures};
use crate::energy::energy;
use crate::error::SimError;
use crate::mapping::Mapping;
use cdg_core::columns::{self, Columns};
use cdg_core::{
    Accesses, ArchConfig, Cycles, Dataflow, DramBandwidth, EnergyPart, GemmDims, Layer, Macs,
    Microseconds, PicoJoules,
};
use std::sync::Arc;

figures! {
    /// The largest per-sample figures of a run that averages several samples (for a single
    /// run, its own figures): the `_max` companions of the mean columns.
    #[derive(Debug, Clone, Copy, Default, PartialEq)]
    pub struct SampleMax {
        pub macs_needed: Macs,
        pub macs_executed: Macs,
        pub cycles: Cycles,
        pub latency: Microseconds,
        /// Total energy of the sample.
        pub energy: PicoJoules,
        /// Layers only; 0 for a network.
        pub pe_imbalance: f64,
    }
}

impl SampleMax {
    /// A single run's own figures.
    fn of(totals: &Counters, latency: Microseconds, pe_imbalance: f64) -> Self {
        Self {
            macs_needed: totals.macs_needed,
            macs_executed: totals.macs_executed,
            cycles: totals.cycles,
            latency,
            energy: totals.energy.total(),
            pe_imbalance,
        }
    }
}

figures! {
    /// Per-layer figures that are not sums over folds: a mean over samples averages each.
    #[derive(Debug, Clone, Copy, Default, PartialEq)]
    pub struct LayerRates {
        /// Cycles at `clock.frequency_mhz`.
        pub latency: Microseconds,
        /// Max / mean needed MACs per PE row over the executed folds.
        pub pe_imbalance: f64,
        /// SCALE-Sim's Compute Util: mean over folds of used PEs·T / (R·C·fold_cycles) with its
        /// WS/IS fold_cycles 2R + 2C + T − 3, a fraction.
        pub scalesim_compute_utilization: f64,
        /// SCALE-Sim's Overall Util: dense MACs / (total_cycles·R·C), a fraction.
        pub scalesim_overall_utilization: f64,
    }
}

/// Everything the simulator knows about one layer: of one run (a dense run, or one sample of a
/// trace), or the mean over a trace's samples (`samples > 1`; counts are then rounded to the
/// nearest integer, energies, latencies and rates are exact means, utilization a ratio of sums,
/// and `max` holds the per-sample maxima).
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
    /// SCALE-Sim's Mapping Efficiency of the dense mapping: mean over folds of used PEs /
    /// (R·C), a fraction (the same in every sample).
    pub scalesim_mapping_efficiency: f64,
    /// The schedule this run's figures come from: a dense schedule's name (`one pass`,
    /// `k-split 4x504+288`; [`crate::baseline::KSplit`]) or `gated` and the two passes' K.
    pub schedule: Arc<str>,
    /// The mapper's choice for this run (docs/model.md §8, [`crate::mapper`]): passes, loop
    /// order, batch order, resident inputs (`k3 n-outer batch-inner ifmap-resident`).
    pub mapping: Arc<str>,
    /// The ungated baseline's schedule (docs/model.md §8).
    pub ungated_schedule: Arc<str>,
    /// The layer's counters (totals over its folds and passes, with both baselines).
    pub totals: Counters,
    /// macs_needed / (R·C·cycles).
    pub utilization: f64,
    pub rates: LayerRates,
    /// Per-sample maxima (a single run's own figures).
    pub max: SampleMax,
}

/// The baselines of a layer on one design (docs/model.md §8), computed once per layer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Baselines {
    /// The best dense schedule: its name, cycles and energy.
    pub ungated_schedule: Arc<str>,
    pub cycles_ungated: Cycles,
    pub energy_ungated: EnergyBreakdown,
    /// The `dense` policy's cycles and energy; `None` for an ungated layer (its own figures).
    pub dense_policy: Option<(Cycles, EnergyBreakdown)>,
    /// The single-pass dense run, completed (cycles, stalls, SRAM reads): SCALE-Sim's figures
    /// come from it.
    pub single_pass: Counters,
}

/// What a model measured for one run of a layer, before it becomes [`LayerStats`]. Every model
/// reports through [`LayerStats::of_run`], so they report alike.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LayerRun<'a> {
    pub layer: &'a Layer,
    pub sample: Option<usize>,
    /// The layer's single-pass dense mapping (folds, SCALE-Sim figures).
    pub map: &'a Mapping,
    /// What the run counted: the memory model's counters (folds, compute, stalls, SRAM, DRAM)
    /// plus MACs, gate ops, conditional cycles and compulsory traffic. `cycles`, the
    /// baselines, `macs_dense`, `energy` and `scalesim` are filled in here.
    pub totals: Counters,
    /// The schedule of this run.
    pub schedule: &'a Arc<str>,
    /// The mapper's name of this run's mapping.
    pub mapping: &'a Arc<str>,
    pub baselines: &'a Baselines,
    pub pe_imbalance: f64,
}

/// The arch key whose value makes energy part `part` of a layer non-finite: the largest of the
/// per-action costs it charges.
fn energy_key(arch: &ArchConfig, part: EnergyPart) -> (&'static str, f64) {
    part.cost_keys(&arch.energy)
        .into_iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or(("energy", f64::NAN))
}

/// Refuses figures that cannot be reported: a count that saturated at u64::MAX or an energy (or
/// energy-delay product) that is not finite in `totals` of `whose` (`layer `x`` or `the
/// network`), naming the arch key that caused it.
pub(crate) fn check_representable(
    arch: &ArchConfig,
    whose: impl FnOnce() -> String,
    totals: &Counters,
    edp: f64,
) -> Result<(), SimError> {
    // Counts first (a saturated cycle count also makes energies huge), then energies.
    let counts = totals
        .unrepresentable()
        .filter(|p| !p.starts_with("energy"));
    let energies = totals
        .energy
        .unrepresentable()
        .map(|p| format!("energy.{p}"))
        .or_else(|| totals.unrepresentable().filter(|p| p.starts_with("energy")));
    if counts.is_none() && energies.is_none() && edp.is_finite() {
        return Ok(());
    }
    let whose = whose();
    if let Some(path) = counts {
        let what = path.replace(['_', '.'], " ");
        if let DramBandwidth::BytesPerCycle(bw) = arch.memory.dram_bandwidth
            && path.contains("cycles")
        {
            return Err(SimError::Config {
                key: "memory.dram_bytes_per_cycle".to_owned(),
                problem: format!(
                    "{bw:e} bytes per cycle is too small: {whose}'s {what} do not fit in 64 bits \
                     (its DRAM transfers would take more than 2^64 cycles); expected a \
                     bandwidth that keeps cycle counts below 2^64"
                ),
            });
        }
        return Err(SimError::Mismatch(format!(
            "{whose}: the {what} does not fit in 64 bits"
        )));
    }
    // Which energy: a part of the run's own breakdown, else (a baseline's or the energy-delay
    // product) the largest part of the breakdown that overflowed.
    let own_part = energies
        .as_deref()
        .and_then(|p| p.strip_prefix("energy."))
        .and_then(EnergyPart::from_name);
    let (part, total) = match (own_part, energies.as_deref()) {
        (Some(part), _) => (part, "energy"),
        (None, Some(p)) if p.starts_with("energy_ungated") => (
            totals.energy_ungated.largest_part(),
            "ungated baseline's energy",
        ),
        (None, Some(p)) if p.starts_with("energy_dense_policy") => (
            totals.energy_dense_policy.largest_part(),
            "`dense`-policy energy",
        ),
        _ => (totals.energy.largest_part(), "energy-delay product"),
    };
    let (key, value) = energy_key(arch, part);
    Err(SimError::Config {
        key: key.to_owned(),
        problem: format!(
            "{value:e} makes {whose}'s {} infinite (through its {} energy); expected per-action \
             energies whose totals stay finite",
            total,
            part.name().replace('_', " ")
        ),
    })
}

impl LayerStats {
    /// Assembles the stats of a run: cycles = compute + stalls, energy from the counters,
    /// both baselines, utilization, latency and the SCALE-Sim figures of the single-pass
    /// dense run. Errors when a figure does not fit (a count beyond 64 bits, a non-finite
    /// energy), naming the layer and the key that caused it.
    pub(crate) fn of_run(arch: &ArchConfig, run: LayerRun<'_>) -> Result<Self, SimError> {
        let (r, c) = (arch.array.rows, arch.array.cols);
        let map = run.map;
        let dense = run.layer.shape.gemm();
        let b = run.baselines;
        let mut t = run.totals;
        t.cycles = Cycles(t.compute_cycles.get().saturating_add(t.stall_cycles.get()));
        t.macs_dense = Macs(run.layer.shape.macs().get() * arch.workload.batch);
        t.energy = energy(arch, &t);
        t.cycles_ungated = b.cycles_ungated;
        t.energy_ungated = b.energy_ungated;
        (t.cycles_dense_policy, t.energy_dense_policy) =
            b.dense_policy.unwrap_or((t.cycles, t.energy));
        let unit = map.unit();
        let single = &b.single_pass;
        let total_cycles = single.cycles.saturating_sub(Cycles(1));
        t.scalesim =
            ScaleSimCounts {
                total_cycles,
                stall_cycles: single.stall_cycles,
                ifmap_reads: single.sram.ifmap_reads,
                filter_reads: single.sram.filter_reads,
                ofmap_writes: Accesses(single.sram.ofmap_writes.get().saturating_add(
                    unit.scalesim_extra_ofmap_writes(map.folds(), map.rows, map.cols),
                )),
            };
        let mapping_efficiency = map.mapping_efficiency();
        let scalesim_fold_cycles = unit.scalesim_fold_cycles(map.rows, map.cols, map.t);
        let denom = total_cycles.as_f64() * (map.rows * map.cols) as f64;
        let pe_cycles = (r * c) as f64 * t.cycles.as_f64();
        let latency = Microseconds::from_cycles(t.cycles, arch.clock.frequency_mhz);
        check_representable(
            arch,
            || format!("layer `{}`", run.layer.name()),
            &t,
            t.energy.total().get() * latency.get(),
        )?;
        Ok(Self {
            layer: run.layer.name().to_owned(),
            sample: run.sample,
            samples: 1,
            dataflow: arch.array.dataflow,
            array_rows: r,
            array_cols: c,
            gemm: dense,
            row_folds: map.row_folds,
            col_folds: map.col_folds,
            scalesim_mapping_efficiency: mapping_efficiency,
            schedule: run.schedule.clone(),
            mapping: run.mapping.clone(),
            ungated_schedule: b.ungated_schedule.clone(),
            utilization: if pe_cycles > 0.0 {
                t.macs_needed.as_f64() / pe_cycles
            } else {
                0.0
            },
            rates: LayerRates {
                latency,
                pe_imbalance: run.pe_imbalance,
                scalesim_compute_utilization: mapping_efficiency * map.t as f64
                    / scalesim_fold_cycles as f64,
                scalesim_overall_utilization: if denom > 0.0 {
                    t.macs_dense.as_f64() / denom
                } else {
                    0.0
                },
            },
            max: SampleMax::of(&t, latency, run.pe_imbalance),
            totals: t,
        })
    }

    /// Energy × latency in pJ·µs.
    pub fn edp_pj_us(&self) -> f64 {
        self.totals.energy.total().get() * self.rates.latency.get()
    }

    /// The CSV row of this layer.
    pub fn to_row(&self) -> LayerRow {
        let t = &self.totals;
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
            folds_executed: t.folds,
            schedule: self.schedule.to_string(),
            mapping: self.mapping.to_string(),
            ungated_schedule: self.ungated_schedule.to_string(),
            counters: CounterColumns::of(
                t,
                &self.max,
                self.rates.latency.get(),
                self.utilization,
                Some(PeImbalance {
                    pe_imbalance: self.rates.pe_imbalance,
                    pe_imbalance_max: self.max.pe_imbalance,
                }),
            ),
            scalesim_stall_cycles: t.scalesim.stall_cycles.get(),
            scalesim_ifmap_reads: t.scalesim.ifmap_reads.get(),
            scalesim_filter_reads: t.scalesim.filter_reads.get(),
            scalesim_ofmap_writes: t.scalesim.ofmap_writes.get(),
            scalesim_mapping_efficiency: self.scalesim_mapping_efficiency,
            scalesim_compute_utilization: self.rates.scalesim_compute_utilization,
            scalesim_overall_utilization: self.rates.scalesim_overall_utilization,
        }
    }
}

/// The mean of per-sample stats of one layer on one design: counters averaged
/// ([`Counters::mean`]), rates averaged, utilization the ratio of the sums, `max` the
/// per-sample maxima. `None` for no samples.
pub fn mean_layer<'a>(xs: impl Iterator<Item = &'a LayerStats> + Clone) -> Option<LayerStats> {
    let first = xs.clone().next()?;
    let n = xs.clone().count();
    let sum_cycles: f64 = xs.clone().map(|l| l.totals.cycles.as_f64()).sum();
    let sum_needed: f64 = xs.clone().map(|l| l.totals.macs_needed.as_f64()).sum();
    let pes = (first.array_rows * first.array_cols) as f64;
    Some(LayerStats {
        sample: None,
        samples: n,
        totals: Counters::mean(xs.clone().map(|l| &l.totals))?,
        utilization: if sum_cycles > 0.0 {
            sum_needed / (pes * sum_cycles)
        } else {
            0.0
        },
        rates: Figure::mean_of(xs.clone().map(|l| &l.rates), n),
        max: xs.map(|l| l.max).reduce(Figure::larger)?,
        ..first.clone()
    })
}

/// The mean of per-sample network runs (same network and design): per-layer means
/// ([`mean_layer`]), network counters averaged the same way, and per-sample network maxima.
/// `None` for an empty slice.
pub fn summarize(runs: &[NetworkStats]) -> Option<NetworkStats> {
    let first = runs.first()?;
    let layers = (0..first.layers.len())
        .map(|i| mean_layer(runs.iter().map(|r| &r.layers[i])))
        .collect::<Option<Vec<_>>>()?;
    Some(NetworkStats {
        sample: None,
        samples: runs.len(),
        layers,
        totals: Counters::mean(runs.iter().map(|r| &r.totals))?,
        max: runs.iter().map(|r| r.max).reduce(Figure::larger)?,
        ..first.clone_header()
    })
}

/// The columns of a run's counters, shared by [`LayerRow`] and [`NetworkRow`]: MACs, cycles,
/// latency, reductions, SRAM and DRAM traffic, energy by part and against both baselines. A
/// new figure of `Counters` that both rows report is one field here, built in
/// [`CounterColumns::of`] and listed in the `csv_columns!` below (the column order).
#[derive(Debug, Clone, PartialEq)]
pub struct CounterColumns {
    pub macs_dense: u64,
    pub macs_needed: u64,
    pub macs_executed: u64,
    pub macs_discarded: u64,
    pub macs_clock_gated: u64,
    pub macs_needed_max: u64,
    pub macs_executed_max: u64,
    pub cycles: u64,
    pub cycles_max: u64,
    pub compute_cycles: u64,
    pub stall_cycles: u64,
    pub prefetch_cycles: u64,
    pub cycles_ungated: u64,
    pub cycles_dense_policy: u64,
    pub cond_cycles: u64,
    pub latency_us: f64,
    pub latency_us_max: f64,
    pub utilization: f64,
    pub flops_reduction: f64,
    pub cycle_reduction_vs_ungated: f64,
    pub cycle_reduction_vs_dense_policy: f64,
    /// Layer rows only.
    pub pe: Option<PeImbalance>,
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
    /// One `energy_<part>_pj` column per [`EnergyPart`].
    pub energy_parts_pj: EnergyColumns,
    pub energy_ungated_pj: f64,
    pub energy_dense_policy_pj: f64,
    pub energy_saving_vs_ungated: f64,
    pub energy_saving_vs_dense_policy: f64,
    pub edp_pj_us: f64,
    pub scalesim_total_cycles: u64,
}

cdg_core::csv_columns!(CounterColumns {
    macs_dense,
    macs_needed,
    macs_executed,
    macs_discarded,
    macs_clock_gated,
    macs_needed_max,
    macs_executed_max,
    cycles = columns::CYCLES,
    cycles_max,
    compute_cycles,
    stall_cycles,
    prefetch_cycles,
    cycles_ungated = columns::CYCLES_UNGATED,
    cycles_dense_policy = columns::CYCLES_DENSE_POLICY,
    cond_cycles,
    latency_us = columns::LATENCY_US,
    latency_us_max,
    utilization = columns::UTILIZATION,
    flops_reduction = columns::FLOPS_REDUCTION,
    cycle_reduction_vs_ungated = columns::CYCLE_REDUCTION_VS_UNGATED,
    cycle_reduction_vs_dense_policy = columns::CYCLE_REDUCTION_VS_DENSE_POLICY,
    ..pe,
    gate_ops = columns::GATE_OPS,
    sram_ifmap_reads,
    sram_filter_reads,
    sram_ofmap_writes,
    sram_psum_reads,
    dram_ifmap_read_bytes,
    dram_filter_read_bytes,
    dram_ofmap_write_bytes,
    dram_psum_bytes,
    dram_mask_bytes,
    dram_read_bytes,
    dram_write_bytes,
    dram_compulsory_bytes,
    energy_pj = columns::ENERGY_PJ,
    energy_pj_max,
    ..energy_parts_pj,
    energy_ungated_pj = columns::ENERGY_UNGATED_PJ,
    energy_dense_policy_pj = columns::ENERGY_DENSE_POLICY_PJ,
    energy_saving_vs_ungated = columns::ENERGY_SAVING_VS_UNGATED,
    energy_saving_vs_dense_policy = columns::ENERGY_SAVING_VS_DENSE_POLICY,
    edp_pj_us,
    scalesim_total_cycles,
});

impl CounterColumns {
    /// The columns of `t` with per-sample maxima `max`, the run's latency and utilization, and
    /// (layers) its PE imbalance.
    pub fn of(
        t: &Counters,
        max: &SampleMax,
        latency_us: f64,
        utilization: f64,
        pe: Option<PeImbalance>,
    ) -> Self {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 1.0 };
        let saving = |e: f64, base: f64| if base > 0.0 { 1.0 - e / base } else { 0.0 };
        let energy = t.energy.total().get();
        Self {
            macs_dense: t.macs_dense.get(),
            macs_needed: t.macs_needed.get(),
            macs_executed: t.macs_executed.get(),
            macs_discarded: t.macs_discarded().get(),
            macs_clock_gated: t.macs_clock_gated.get(),
            macs_needed_max: max.macs_needed.get(),
            macs_executed_max: max.macs_executed.get(),
            cycles: t.cycles.get(),
            cycles_max: max.cycles.get(),
            compute_cycles: t.compute_cycles.get(),
            stall_cycles: t.stall_cycles.get(),
            prefetch_cycles: t.prefetch_cycles.get(),
            cycles_ungated: t.cycles_ungated.get(),
            cycles_dense_policy: t.cycles_dense_policy.get(),
            cond_cycles: t.cond_cycles.get(),
            latency_us,
            latency_us_max: max.latency.get(),
            utilization,
            flops_reduction: ratio(t.macs_dense.as_f64(), t.macs_needed.as_f64()),
            cycle_reduction_vs_ungated: ratio(t.cycles_ungated.as_f64(), t.cycles.as_f64()),
            cycle_reduction_vs_dense_policy: ratio(
                t.cycles_dense_policy.as_f64(),
                t.cycles.as_f64(),
            ),
            pe,
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
            energy_pj: energy,
            energy_pj_max: max.energy.get(),
            energy_parts_pj: EnergyColumns::of(&t.energy),
            energy_ungated_pj: t.energy_ungated.total().get(),
            energy_dense_policy_pj: t.energy_dense_policy.total().get(),
            energy_saving_vs_ungated: saving(energy, t.energy_ungated.total().get()),
            energy_saving_vs_dense_policy: saving(energy, t.energy_dense_policy.total().get()),
            edp_pj_us: energy * latency_us,
            scalesim_total_cycles: t.scalesim.total_cycles.get(),
        }
    }
}

/// The PE-imbalance columns of a layer row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeImbalance {
    pub pe_imbalance: f64,
    pub pe_imbalance_max: f64,
}

cdg_core::csv_columns!(PeImbalance {
    pe_imbalance,
    pe_imbalance_max,
});

/// The energy of each [`EnergyPart`] in pJ, one column each (`energy_mac_pj`, …, in
/// [`EnergyPart::ALL`] order); index it with the part.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnergyColumns(pub [f64; EnergyPart::COUNT]);

impl EnergyColumns {
    pub fn of(e: &EnergyBreakdown) -> Self {
        Self(EnergyPart::ALL.map(|p| e[p].get()))
    }
}

impl std::ops::Index<EnergyPart> for EnergyColumns {
    type Output = f64;
    fn index(&self, part: EnergyPart) -> &f64 {
        &self.0[part.index()]
    }
}

impl Columns for EnergyColumns {
    fn columns<S: serde::ser::SerializeStruct>(&self, s: &mut S) -> Result<(), S::Error> {
        for p in EnergyPart::ALL {
            serde::ser::SerializeStruct::serialize_field(s, p.column(), &self[p])?;
        }
        Ok(())
    }
    fn count(&self) -> usize {
        EnergyPart::COUNT
    }
}

/// One row of `layers.csv`. Counts are plain integers here because this is the file boundary;
/// the unit is in each column name (`_bytes`, `_pj`, `_us`; bare counts are cycles, MACs or
/// element accesses as named). The columns are the fields in the order `csv_row!` lists them.
#[derive(Debug, Clone, PartialEq)]
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
    pub schedule: String,
    pub mapping: String,
    pub ungated_schedule: String,
    pub counters: CounterColumns,
    pub scalesim_stall_cycles: u64,
    pub scalesim_ifmap_reads: u64,
    pub scalesim_filter_reads: u64,
    pub scalesim_ofmap_writes: u64,
    pub scalesim_mapping_efficiency: f64,
    pub scalesim_compute_utilization: f64,
    pub scalesim_overall_utilization: f64,
}

cdg_core::csv_row!(LayerRow {
    layer = columns::LAYER,
    sample = columns::SAMPLE,
    samples = columns::SAMPLES,
    dataflow,
    array_rows,
    array_cols,
    gemm_m,
    gemm_k,
    gemm_n,
    row_folds,
    col_folds,
    folds_executed,
    schedule,
    mapping,
    ungated_schedule,
    ..counters,
    scalesim_stall_cycles,
    scalesim_ifmap_reads,
    scalesim_filter_reads,
    scalesim_ofmap_writes,
    scalesim_mapping_efficiency,
    scalesim_compute_utilization,
    scalesim_overall_utilization,
});

/// A simulated network: every layer in order, and their totals.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkStats {
    pub arch_name: String,
    pub dataflow: Dataflow,
    pub array_rows: u64,
    pub array_cols: u64,
    pub frequency_mhz: f64,
    /// Samples per batch (`workload.batch`): every figure is that of one batch.
    pub batch: u64,
    /// The trace sample, or `None` for a dense run or a mean over samples.
    pub sample: Option<usize>,
    /// Samples the figures average (1 for a single run); see [`LayerStats`].
    pub samples: usize,
    pub layers: Vec<LayerStats>,
    /// The sum of the layers' counters (of a mean: the mean of the per-sample sums).
    pub totals: Counters,
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
    ) -> Result<Self, SimError> {
        let totals: Counters = layers.iter().map(|l| &l.totals).sum();
        let mut stats = Self {
            arch_name: arch.name.clone(),
            dataflow: arch.array.dataflow,
            array_rows: arch.array.rows,
            array_cols: arch.array.cols,
            frequency_mhz: arch.clock.frequency_mhz,
            batch: arch.workload.batch,
            sample,
            samples: 1,
            layers,
            totals,
            max: SampleMax::default(),
        };
        stats.max = SampleMax::of(&stats.totals, stats.latency(), 0.0);
        let edp = stats.totals.energy.total().get() * stats.latency().get();
        check_representable(arch, || "the network".to_owned(), &stats.totals, edp)?;
        Ok(stats)
    }

    /// The design fields, with no layers.
    fn clone_header(&self) -> Self {
        Self {
            arch_name: self.arch_name.clone(),
            layers: Vec::new(),
            ..*self
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

    /// Latency of one run: of one batch (`batch` samples).
    pub fn latency(&self) -> Microseconds {
        Microseconds::from_cycles(self.totals.cycles, self.frequency_mhz)
    }

    /// Throughput: `batch` images per batch latency, per second (0 for an empty run).
    pub fn images_per_s(&self) -> f64 {
        let us = self.latency().get();
        if us > 0.0 {
            self.batch as f64 * 1e6 / us
        } else {
            0.0
        }
    }

    /// The CSV row of the network totals.
    pub fn to_row(&self) -> NetworkRow {
        let latency = self.latency().get();
        NetworkRow {
            arch: self.arch_name.clone(),
            sample: self.sample,
            samples: self.samples,
            dataflow: self.dataflow.as_str(),
            array_rows: self.array_rows,
            array_cols: self.array_cols,
            layers: self.layers.len(),
            counters: CounterColumns::of(
                &self.totals,
                &self.max,
                latency,
                self.utilization(),
                None,
            ),
            batch: self.batch,
            latency_per_batch_us: latency,
            images_per_s: self.images_per_s(),
            energy_per_image_pj: self.totals.energy.total().get() / self.batch.max(1) as f64,
            latency_per_image_us: latency / self.batch.max(1) as f64,
        }
    }
}

/// One row of `network.csv`: the network totals of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkRow {
    pub arch: String,
    pub sample: Option<usize>,
    pub samples: usize,
    pub dataflow: &'static str,
    pub array_rows: u64,
    pub array_cols: u64,
    pub layers: usize,
    pub counters: CounterColumns,
    /// Samples per batch (`workload.batch`); every count above is per batch.
    pub batch: u64,
    /// Latency of one batch (= `latency_us`).
    pub latency_per_batch_us: f64,
    /// Throughput: batch / latency of one batch.
    pub images_per_s: f64,
    /// Energy of one image: `energy_pj` / batch.
    pub energy_per_image_pj: f64,
    /// Latency of one batch per image: `latency_us` / batch (the inverse of the throughput).
    pub latency_per_image_us: f64,
}

cdg_core::csv_row!(NetworkRow {
    arch = columns::ARCH,
    sample = columns::SAMPLE,
    samples = columns::SAMPLES,
    dataflow,
    array_rows,
    array_cols,
    layers = columns::LAYERS,
    ..counters,
    batch,
    latency_per_batch_us,
    images_per_s,
    energy_per_image_pj,
    latency_per_image_us,
});
