//! The fast gated-layer model (docs/model.md §4, §5): per sample (or per batch of samples
//! stacked along M, each row with its own sample's gates; docs/model.md §1), a gated layer runs
//! a base pass (K_base = kh·kw·base_channels) to completion, then a conditional pass
//! (K_cond = K − K_base) over the same M×N outputs that adds onto the stored partial sums where
//! the gate is on. What the conditional pass runs is the skip policy's ([`crate::policy`]).
//!
//! The schedule is exactly the policy's explicit [`GatedSchedule`](crate::schedule::GatedSchedule)
//! (tests compare the two fold by fold), but it is never materialised: the model works at
//! gate-block granularity on the packed mask words ([`crate::gates`]) and keeps, per layer and
//! sample, a few counters per fold. Memory stays proportional to the packed masks.
//!
//! **Memory.** Both passes stream through one [`PassStream`](crate::stream::PassStream) (the
//! layer's operands, in fold order; see [`crate::stream`] for tiles and partial sums).
//!
//! **Baselines** (docs/model.md §8, computed once per layer): the `dense` policy's run (both
//! passes, every fold, gate unit included) and the ungated baseline, the layer's best dense
//! schedule with the gated split among the candidates ([`crate::baseline`]).
//!
//! **Gate unit.** Every policy charges one `gate_op` per gate of the layer (the network computes
//! its gates whether or not the array exploits them), with no extra cycles. With
//! `sparsity.mask_in_dram = true` the packed mask (⌈blocks/8⌉ bytes) is read from DRAM once per
//! layer and sample (`dram_mask_bytes`), assumed hidden behind the base pass.

use crate::arch::check_arch;
use crate::baseline::{self, Evaluated, KSplit, LayerGemm};
use crate::counters::{Compulsory, Counters};
use crate::dataflow::Axes;
use crate::dense::{DenseLayer, LayerOptions};
use crate::energy::energy;
use crate::error::SimError;
use crate::gates::{GateSummary, summarize_gates};
use crate::mapping::Mapping;
use crate::memory::compulsory;
use crate::policy::{self, CondPass, PolicyModel, SlotCharge};
use crate::stats::{Baselines, LayerRun, LayerStats};
use crate::stream::Pass;
use cdg_core::{ArchConfig, Bytes, Cycles, Layer, LayerMasks, Macs};
use std::sync::Arc;

/// What does not depend on the sample: shapes, mappings, both baselines (docs/model.md §8), and
/// the run of a conditional pass that runs every fold.
#[derive(Debug, Clone)]
pub(crate) struct GatedPlan<'a> {
    layer: &'a Layer,
    /// The layer's GEMM (per-group K and N, and the groups).
    gemm: LayerGemm,
    /// Window of one group in the base and the conditional pass.
    kb: u64,
    kc: u64,
    /// The layer's single dense GEMM (for SCALE-Sim figures and `row_folds`/`col_folds`).
    full: Mapping,
    base: Option<Mapping>,
    cond: Option<Mapping>,
    comp: Compulsory,
    /// `gated K_base+K_cond`.
    schedule: Arc<str>,
    baselines: Baselines,
    /// Samples per batch (`workload.batch`).
    batch: u64,
    /// Gate blocks of one batch (the gate unit's work).
    gates: u64,
    /// Both passes with every fold (mask-independent).
    every_fold: Streamed,
}

/// What streaming a layer's folds produced.
#[derive(Debug, Clone, Copy)]
struct Streamed {
    totals: Counters,
    cond_cycles: Cycles,
    /// MAC slots of outputs whose gate is off in conditional folds that ran.
    inactive: u64,
}

impl<'a> GatedPlan<'a> {
    /// Checks `masks` against `layer` and prepares the sample-independent parts.
    pub(crate) fn new(
        arch: &ArchConfig,
        layer: &'a Layer,
        masks: &LayerMasks,
    ) -> Result<Self, SimError> {
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
        let batch = arch.workload.batch;
        // A batch's samples are stacked along M (docs/model.md §1); every mapping below is
        // that of the whole batch.
        let g = LayerGemm::of_batch(&layer.shape, batch);
        let kb = layer.shape.window_for(spec.base_channels);
        let kc = g.k - kb;
        let (r, c, df) = (arch.array.rows, arch.array.cols, arch.array.dataflow);
        let t = g.total();
        t.m.checked_mul(t.n)
            .and_then(|x| x.checked_mul(t.k))
            .ok_or_else(|| SimError::overflow(name, "the MAC count"))?;
        let pass = |k: u64| (k > 0).then(|| g.with_k(k).map(df, r, c));
        let full = g.map(df, r, c);
        full.stall_free_cycles(false)
            .and_then(|x| x.checked_mul(4))
            .ok_or_else(|| SimError::overflow(name, "the cycle count"))?;
        let ungated = Layer {
            shape: layer.shape.clone(),
            gate: None,
        };
        // The dense layer also checks that its folds can be walked (each pass has at most as
        // many folds as the whole layer).
        let dense = DenseLayer::new(arch, &ungated, &LayerOptions::default())?;
        let comp = compulsory(arch, layer, g.k);
        // Both passes, every fold: the `dense` policy's run, which is also the reference
        // schedule of the ungated baseline (without the gate unit).
        let split = KSplit::new([kb, kc]);
        let streamed = baseline::stream_split(arch, g, &comp, &split);
        let cond_cycles = if kc > 0 {
            streamed.pass_cycles.last().copied().unwrap_or(Cycles::ZERO)
        } else {
            Cycles::ZERO
        };
        let reference = Evaluated {
            split,
            totals: baseline::complete_dense(arch, g, streamed.totals),
        };
        let best = dense.best(arch, &ungated, Some(&reference));
        let gates = masks
            .blocks_per_sample()
            .checked_mul(batch)
            .ok_or_else(|| SimError::overflow(name, "the gate count of a batch"))?;
        let mut policy_dense = reference.totals;
        policy_dense.gate_ops = gates;
        policy_dense.dram.mask_read = mask_bytes(arch, gates);
        policy_dense.energy = energy(arch, &policy_dense);
        let baselines = Baselines {
            ungated_schedule: best.split.name().into(),
            cycles_ungated: best.totals.cycles,
            energy_ungated: best.totals.energy,
            dense_policy: Some((policy_dense.cycles, policy_dense.energy)),
            single_pass: dense.single.totals,
        };
        Ok(Self {
            layer,
            gemm: g,
            kb,
            kc,
            full,
            base: pass(kb),
            cond: pass(kc),
            comp,
            schedule: format!("gated {kb}+{kc}").into(),
            baselines,
            batch,
            gates,
            every_fold: Streamed {
                totals: streamed.totals,
                cond_cycles,
                inactive: 0,
            },
        })
    }

    /// The gates of the batch whose first sample is `first` (samples `first..first + B`),
    /// reduced as `policy` needs them. A batch of B > 1 samples is reduced on the samples' masks
    /// stacked along the output rows ([`LayerMasks::stack`]): the same M order as the stacked
    /// GEMM, each output row keeping its own sample's gate. Errors if the masks do not hold the
    /// whole batch.
    pub(crate) fn summarize(
        &self,
        masks: &LayerMasks,
        first: usize,
        policy: &dyn PolicyModel,
    ) -> Result<GateSummary, SimError> {
        let name = self.layer.name();
        let batch =
            usize::try_from(self.batch).map_err(|_| SimError::overflow(name, "the batch size"))?;
        if first
            .checked_add(batch)
            .is_none_or(|end| end > masks.samples())
        {
            return Err(SimError::layer(
                name,
                format!(
                    "the batch of samples {first}..{} is requested; the masks hold {} samples",
                    first.saturating_add(batch),
                    masks.samples()
                ),
            ));
        }
        if batch == 1 {
            return Ok(summarize_gates(
                self.cond.as_ref(),
                masks,
                first,
                policy.gate_view(),
            ));
        }
        let stacked = masks
            .stack(first, batch)
            .map_err(|e| SimError::layer(name, e.to_string()))?;
        Ok(summarize_gates(
            self.cond.as_ref(),
            &stacked,
            0,
            policy.gate_view(),
        ))
    }
}

/// Packed mask bytes read from DRAM per layer and batch (`sparsity.mask_in_dram`): `gates` is
/// the gate blocks of the batch.
fn mask_bytes(arch: &ArchConfig, gates: u64) -> Bytes {
    Bytes(if arch.sparsity.mask_in_dram {
        gates.div_ceil(8)
    } else {
        0
    })
}

/// Streams both passes of `p` through the memory model: the base pass in full, then the
/// conditional pass of `policy` for a sample with `gates`.
fn stream(
    arch: &ArchConfig,
    p: &GatedPlan<'_>,
    policy: &dyn PolicyModel,
    gates: &GateSummary,
) -> Streamed {
    let mut stream = baseline::stream_for(arch, p.gemm, &p.comp);
    // Base pass: every fold; its outputs are final where no conditional fold will touch them.
    if let Some(base) = &p.base {
        let mut pass = Pass::new(0, base, false);
        for f in base.folds_iter() {
            let outputs = f.m.len() * f.n.len();
            let finalised = match (base.group_last(&f), &p.cond) {
                (false, _) => 0,
                (true, None) => outputs,
                (true, Some(cond)) => policy.final_after_base(gates, cond, &f, outputs),
            };
            stream.dense(&mut pass, &f, finalised);
        }
    }
    let (cond_cycles, inactive) = match &p.cond {
        None => (Cycles::ZERO, 0),
        Some(cond) => {
            let mut pass = Pass::new(1, cond, p.base.is_some());
            let mut c = CondPass::new(&mut stream, &mut pass, gates);
            policy.run_conditional(&mut c);
            let inactive = c.inactive();
            (pass.cycles(), inactive)
        }
    };
    Streamed {
        totals: stream.finish(),
        cond_cycles,
        inactive,
    }
}

/// Simulates the batch of a gated layer whose first sample is `sample` under `policy`, from its
/// [`GateSummary`] ([`GatedPlan::summarize`]).
pub(crate) fn simulate_gated_sample(
    arch: &ArchConfig,
    p: &GatedPlan<'_>,
    summary: &GateSummary,
    policy: &dyn PolicyModel,
    sample: usize,
) -> Result<LayerStats, SimError> {
    let gates = p.gates;
    let outputs = p.gemm.outputs();
    // A policy that runs every fold has the plan's time and traffic, computed once.
    let run = if p.cond.is_none() || policy.runs_every_fold(summary) {
        Streamed {
            inactive: p.kc * (outputs - summary.active()),
            ..p.every_fold
        }
    } else {
        stream(arch, p, policy, summary)
    };
    let mut t = run.totals;
    t.dram.mask_read = mask_bytes(arch, gates);
    let needed = p.kb * outputs + p.kc * summary.active();
    t.macs_needed = Macs(needed);
    t.macs_executed = Macs(needed + run.inactive);
    t.macs_clock_gated = Macs(match policy.inactive_slots() {
        SlotCharge::ClockGated => run.inactive,
        SlotCharge::Discarded => 0,
    });
    t.gate_ops = gates;
    t.cond_cycles = run.cond_cycles;
    t.compulsory = p.comp;
    LayerStats::of_run(
        arch,
        LayerRun {
            layer: p.layer,
            sample: Some(sample),
            map: &p.full,
            totals: t,
            schedule: &p.schedule,
            baselines: &p.baselines,
            pe_imbalance: pe_imbalance(p, summary),
        },
    )
}

/// Max / mean needed MACs per PE row over the folds that run (both passes).
fn pe_imbalance(p: &GatedPlan<'_>, s: &GateSummary) -> f64 {
    let r = p.full.rows;
    let axes = p.full.axes;
    let g = p.gemm.total();
    let groups = p.gemm.groups;
    // Folds i with i·R + row < extent: how often PE row `row` holds work.
    let uses = |extent: u64, row: u64| extent / r + u64::from(extent % r > row);
    let mut rows = vec![0u128; r as usize];
    for (row, x) in rows.iter_mut().enumerate() {
        let row = row as u64;
        *x = if axes.outputs_on_array() {
            // A row holds one gather index of every fold it works in, for the whole window.
            let on_rows = Axes::extent(axes.rows, g.m, g.k, g.n);
            let on_cols = Axes::extent(axes.cols, g.m, g.k, g.n);
            let base = u128::from(p.kb * on_cols) * u128::from(uses(on_rows, row));
            let cond = if p.cond.is_none() {
                0
            } else {
                s.row_load()[row as usize]
            };
            base + u128::from(p.kc) * u128::from(cond)
        } else {
            // A row holds one window index for every output of the folds it works in (for a
            // grouped layer, every output of that index's group; the conditional load takes
            // the group's share of the active outputs as the mean over groups).
            u128::from(g.m * g.n / groups) * u128::from(uses(p.kb * groups, row))
                + u128::from(s.active() / groups) * u128::from(uses(p.kc * groups, row))
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

/// Simulates `sample` of a gated layer under the design's `sparsity.support`. With
/// `workload.batch` = B > 1 it simulates the batch of samples `sample..sample + B`, stacked along
/// M (docs/model.md §4, batches).
///
/// Errors: masks that disagree with the layer (grid, block, output shape), an ungated layer, a
/// design the model cannot run — each naming the layer or the key.
pub fn simulate_gated_layer(
    arch: &ArchConfig,
    layer: &Layer,
    masks: &LayerMasks,
    sample: usize,
) -> Result<LayerStats, SimError> {
    simulate_gated_layer_with(
        arch,
        layer,
        masks,
        sample,
        policy::model(arch.sparsity.support),
    )
}

/// [`simulate_gated_layer`] under any policy unit (`sparsity.support` is not read).
pub fn simulate_gated_layer_with(
    arch: &ArchConfig,
    layer: &Layer,
    masks: &LayerMasks,
    sample: usize,
    policy: &dyn PolicyModel,
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
    let summary = plan.summarize(masks, sample, policy)?;
    simulate_gated_sample(arch, &plan, &summary, policy, sample)
}
