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
use crate::baseline::LayerGemm;
use crate::counters::{Compulsory, Counters};
use crate::dataflow::Axes;
use crate::dense::{DenseLayer, LayerOptions};
use crate::energy::energy;
use crate::error::SimError;
use crate::gates::{GateSummary, summarize_gates};
use crate::mapper::{self, BatchOrder, LayerMapping};
use crate::mapping::FoldOrder;
use crate::mapping::Mapping;
use crate::memory::OperandFootprint;
use crate::memory::compulsory;
use crate::policy::{self, CondPass, PolicyModel, SlotCharge};
use crate::stats::{Baselines, LayerRun, LayerStats};
use crate::stream::Pass;
use crate::stream::PassStream;
use cdg_core::{ArchConfig, Bytes, Cycles, Layer, LayerMasks, Macs};
use std::sync::Arc;

/// What does not depend on the sample: shapes, the mapper's choice, both baselines
/// (docs/model.md §8), and the run of a conditional pass that runs every fold.
#[derive(Debug, Clone)]
pub(crate) struct GatedPlan<'a> {
    layer: &'a Layer,
    /// The GEMM the passes run (per-group K and N, and the groups): the batch's, or one
    /// sample's when the mapping runs the batch per sample or as the inner loop.
    gemm: LayerGemm,
    /// Outputs of the whole batch.
    outputs: u64,
    /// Window of one group in the base and the conditional pass.
    kb: u64,
    kc: u64,
    /// The layer's single dense GEMM (for SCALE-Sim figures and `row_folds`/`col_folds`).
    full: Mapping,
    /// The mapped K chunks of the base and the conditional pass.
    base: Vec<Mapping>,
    cond: Vec<Mapping>,
    /// The whole conditional window mapped on the GEMM the gates are summarised on.
    cond_summary: Option<Mapping>,
    /// Compulsory traffic of the GEMM the passes run, and of the whole batch.
    comp: Compulsory,
    comp_batch: Compulsory,
    /// `gated K_base+K_cond` (a split pass's chunks in parentheses).
    schedule: Arc<str>,
    /// The mapper's name of the chosen mapping.
    mapping_name: Arc<str>,
    mapping: LayerMapping,
    baselines: Baselines,
    /// Samples per batch (`workload.batch`).
    batch: u64,
    /// Gate blocks of one batch (the gate unit's work).
    gates: u64,
    /// Both passes with every fold (mask-independent), for the whole batch.
    every_fold: Streamed,
}
/// What streaming a layer's folds produced.
#[derive(Debug, Clone, Copy, Default)]
struct Streamed {
    totals: Counters,
    cond_cycles: Cycles,
    /// MAC slots of outputs whose gate is off in conditional folds that ran.
    inactive: u64,
}

impl<'a> GatedPlan<'a> {
    /// Checks `masks` against `layer` and prepares the sample-independent parts for `policy`.
    pub(crate) fn new(
        arch: &ArchConfig,
        layer: &'a Layer,
        masks: &LayerMasks,
        policy: &dyn PolicyModel,
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
        // A batch's samples are stacked along M (docs/model.md §1) unless the mapper runs
        // them per sample or as the inner loop.
        let g = LayerGemm::of_batch(&layer.shape, batch);
        let g1 = LayerGemm::of(&layer.shape);
        let kb = layer.shape.window_for(spec.base_channels);
        let kc = g.k - kb;
        let (r, c, df) = (arch.array.rows, arch.array.cols, arch.array.dataflow);
        let t = g.total();
        t.m.checked_mul(t.n)
            .and_then(|x| x.checked_mul(t.k))
            .ok_or_else(|| SimError::overflow(name, "the MAC count"))?;
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
        let objective = arch.mapping.objective;
        // The mapping is chosen before the masks are known, on the `dense` policy's cost
        // (both passes, every fold; docs/model.md §8), within what `policy` can run.
        let orders: &[FoldOrder] = if policy.any_fold_order() {
            &[FoldOrder::ColumnOuter, FoldOrder::RowOuter]
        } else {
            &[FoldOrder::ColumnOuter]
        };
        let space = dense.space.clone();
        let chosen = mapper::choose(
            &space.clone().gated(kb, orders, policy.every_fold_always()),
            objective,
            "gated",
        );
        let dense_policy = if policy.any_fold_order() && policy.every_fold_always() {
            chosen.clone()
        } else {
            mapper::choose(
                &space.gated(kb, &[FoldOrder::ColumnOuter, FoldOrder::RowOuter], true),
                objective,
                "gated",
            )
        };
        // The ungated baseline's mapspace is the layer's own with the `dense` policy's (both
        // passes as a dense K split): the better of the two searches' choices.
        let own = dense.best(arch, None);
        let best = if mapper::compare(objective, &dense_policy, &own).is_lt() {
            dense_policy.clone()
        } else {
            own
        };
        let gates = masks
            .blocks_per_sample()
            .checked_mul(batch)
            .ok_or_else(|| SimError::overflow(name, "the gate count of a batch"))?;
        let mut policy_dense = dense_policy.totals;
        policy_dense.gate_ops = gates;
        policy_dense.dram.mask_read = mask_bytes(arch, gates);
        policy_dense.energy = energy(arch, &policy_dense);
        let baselines = Baselines {
            ungated_schedule: best.mapping.split.name().into(),
            cycles_ungated: best.totals.cycles,
            energy_ungated: best.totals.energy,
            dense_policy: Some((policy_dense.cycles, policy_dense.energy)),
            single_pass: dense.single.totals,
        };
        let m = chosen.mapping.clone();
        let (run, run_comp) = match m.batch {
            BatchOrder::Stacked => (g, comp),
            BatchOrder::PerSample | BatchOrder::Inner => {
                let mut arch1 = arch.clone();
                arch1.workload.batch = 1;
                (g1, compulsory(&arch1, layer, g.k))
            }
        };
        let summary_gemm = if m.batch == BatchOrder::PerSample {
            g1
        } else {
            g
        };
        let (base_k, cond_k) = m.passes();
        let maps = |ks: &[u64]| -> Vec<Mapping> {
            ks.iter().map(|&k| run.with_k(k).map(df, r, c)).collect()
        };
        let part = |ks: &[u64], total: u64| {
            if ks.len() <= 1 {
                total.to_string()
            } else {
                let v: Vec<String> = ks.iter().map(u64::to_string).collect();
                format!("({})", v.join("+"))
            }
        };
        let schedule = format!("gated {}+{}", part(base_k, kb), part(cond_k, kc));
        let cond_cycles = chosen.pass_cycles[m.base_passes..]
            .iter()
            .fold(Cycles::ZERO, |a, &b| a + b);
        Ok(Self {
            layer,
            gemm: run,
            outputs: g.outputs(),
            kb,
            kc,
            full,
            base: maps(base_k),
            cond: maps(cond_k),
            cond_summary: (kc > 0).then(|| summary_gemm.with_k(kc).map(df, r, c)),
            comp: run_comp,
            comp_batch: comp,
            schedule: schedule.into(),
            mapping_name: chosen.name.clone(),
            baselines,
            batch,
            gates,
            every_fold: Streamed {
                totals: chosen.totals,
                cond_cycles,
                inactive: 0,
            },
            mapping: m,
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
    ) -> Result<Vec<GateSummary>, SimError> {
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
        let cond = self.cond_summary.as_ref();
        if batch == 1 || self.mapping.batch == BatchOrder::PerSample {
            // One summary per sample (the batch-1 mapping runs once per sample).
            return Ok((first..first + batch)
                .map(|s| summarize_gates(cond, masks, s, policy.gate_view()))
                .collect());
        }
        let stacked = masks
            .stack(first, batch)
            .map_err(|e| SimError::layer(name, e.to_string()))?;
        Ok(vec![summarize_gates(cond, &stacked, 0, policy.gate_view())])
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
/// conditional pass of `policy` for a sample (or stacked batch) with `gates`, each pass in the
/// mapping's K chunks and loop order.
fn stream(
    arch: &ArchConfig,
    p: &GatedPlan<'_>,
    policy: &dyn PolicyModel,
    gates: &GateSummary,
) -> Streamed {
    let g = p.gemm;
    let mut opts = crate::stream::StreamOptions::of(arch);
    opts.overlap = p.mapping.overlap;
    opts.pins = p.mapping.pins;
    let mut stream = PassStream::with_options(
        arch,
        OperandFootprint {
            gemm_elems: g.m * g.k * g.groups,
            compulsory: p.comp.ifmap,
        },
        OperandFootprint {
            gemm_elems: g.k * g.n * g.groups,
            compulsory: p.comp.filter,
        },
        g.outputs(),
        opts,
    );
    let order = p.mapping.order;
    let nb = p.base.len();
    // Base pass: every fold; after its last chunk its outputs are final where no conditional
    // fold will touch them.
    for (i, base) in p.base.iter().enumerate() {
        let last = i + 1 == nb;
        let mut pass = Pass::new(i as u64, base, i > 0)
            .in_order(order)
            .continued_later(!last);
        for f in pass.folds() {
            let outputs = f.m.len() * f.n.len();
            let finalised = match (base.group_last(&f), p.cond.is_empty()) {
                (false, _) => 0,
                (true, true) => outputs,
                (true, false) => policy.final_after_base(gates, &p.cond[0], &f, outputs),
            };
            stream.dense(&mut pass, &f, finalised);
        }
    }
    let mut cond_cycles = Cycles::ZERO;
    let mut inactive = 0;
    let nc = p.cond.len();
    for (j, cond) in p.cond.iter().enumerate() {
        let index = nb + j;
        let mut pass = Pass::new(index as u64, cond, index > 0)
            .in_order(order)
            .continued_later(j + 1 < nc);
        let mut c = CondPass::new(&mut stream, &mut pass, gates);
        policy.run_conditional(&mut c);
        inactive += c.inactive();
        cond_cycles += pass.cycles();
    }
    Streamed {
        totals: stream.finish(),
        cond_cycles,
        inactive,
    }
}

/// Simulates the batch of a gated layer whose first sample is `sample` under `policy`, from its
/// [`GateSummary`]s ([`GatedPlan::summarize`]: one for a stacked batch, one per sample for a
/// batch run per sample).
pub(crate) fn simulate_gated_sample(
    arch: &ArchConfig,
    p: &GatedPlan<'_>,
    summaries: &[GateSummary],
    policy: &dyn PolicyModel,
    sample: usize,
) -> Result<LayerStats, SimError> {
    let gates = p.gates;
    let outputs = p.outputs;
    let active: u64 = summaries.iter().map(GateSummary::active).sum();
    // A policy that runs every fold has the plan's time and traffic, computed once (the inner
    // batch loop is offered only to policies that always do).
    let every = p.cond.is_empty()
        || p.mapping.batch == BatchOrder::Inner
        || summaries.iter().all(|s| policy.runs_every_fold(s));
    let run = if every {
        Streamed {
            inactive: p.kc * (outputs - active),
            ..p.every_fold
        }
    } else {
        summaries
            .iter()
            .map(|s| stream(arch, p, policy, s))
            .fold(Streamed::default(), |a, b| Streamed {
                totals: a.totals + b.totals,
                cond_cycles: a.cond_cycles + b.cond_cycles,
                inactive: a.inactive + b.inactive,
            })
    };
    let mut t = run.totals;
    t.dram.mask_read = mask_bytes(arch, gates);
    let needed = p.kb * outputs + p.kc * active;
    t.macs_needed = Macs(needed);
    t.macs_executed = Macs(needed + run.inactive);
    t.macs_clock_gated = Macs(match policy.inactive_slots() {
        SlotCharge::ClockGated => run.inactive,
        SlotCharge::Discarded => 0,
    });
    t.gate_ops = gates;
    t.cond_cycles = run.cond_cycles;
    t.compulsory = p.comp_batch;
    LayerStats::of_run(
        arch,
        LayerRun {
            layer: p.layer,
            sample: Some(sample),
            map: &p.full,
            totals: t,
            schedule: &p.schedule,
            mapping: &p.mapping_name,
            baselines: &p.baselines,
            pe_imbalance: pe_imbalance(p, summaries),
        },
    )
}

/// Max / mean needed MACs per PE row over the folds that run (both passes).
fn pe_imbalance(p: &GatedPlan<'_>, summaries: &[GateSummary]) -> f64 {
    let mut rows = vec![0u128; p.full.rows as usize];
    for s in summaries {
        for (x, y) in rows.iter_mut().zip(row_loads(p, s)) {
            *x += y;
        }
    }
    let max = rows.iter().copied().max().unwrap_or(0);
    let sum: u128 = rows.iter().sum();
    if sum == 0 {
        1.0
    } else {
        max as f64 * p.full.rows as f64 / sum as f64
    }
}

/// Needed MACs per PE row of one summary's run (both passes).
fn row_loads(p: &GatedPlan<'_>, s: &GateSummary) -> Vec<u128> {
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
            let cond = if p.cond.is_empty() {
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
    rows
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
    let plan = GatedPlan::new(arch, layer, masks, policy)?;
    let summary = plan.summarize(masks, sample, policy)?;
    simulate_gated_sample(arch, &plan, &summary, policy, sample)
}
