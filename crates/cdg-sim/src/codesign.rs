//! The co-design experiment (docs/model.md §5): which gate-block shape pays off on which
//! dataflow and skip policy, against the same design running the `dense` policy.

use crate::error::SimError;
use crate::network::simulate_samples;
use cdg_core::{ArchConfig, Dataflow, GateBlock, Network, SkipPolicy};

/// One line of the co-design table: a gate-block shape, a dataflow and a skip policy on one
/// network, against both baselines of docs/model.md §8: the ungated network (each layer's best
/// dense schedule on the design) and the same design running the `dense` policy.
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
    pub cond_cycle_cut_vs_dense_policy: f64,
    /// Network cycles_ungated / cycles: what gating buys against the ungated network.
    pub cycle_reduction_vs_ungated: f64,
    /// 1 − cycles / cycles of the `dense` policy, whole network: what skipping buys.
    pub cycle_cut_vs_dense_policy: f64,
    /// 1 − energy / energy of the ungated network.
    pub energy_saving_vs_ungated: f64,
    /// 1 − energy / energy of the `dense` policy.
    pub energy_saving_vs_dense_policy: f64,
    /// Network macs_needed / (R·C·cycles).
    pub utilization: f64,
}

/// The co-design experiment: for every block shape and dataflow, `network_for(block)` with
/// synthetic gates at `density` (`samples` samples, `seed`) simulated on `arch` with that
/// dataflow under every skip policy; rows in block × dataflow × policy order.
pub fn codesign(
    arch: &ArchConfig,
    network_for: impl Fn(GateBlock) -> Network,
    blocks: &[GateBlock],
    density: f64,
    samples: usize,
    seed: u64,
) -> Result<Vec<CodesignRow>, SimError> {
    let mut rows = Vec::new();
    for &block in blocks {
        let net = network_for(block);
        let masks = crate::synth::synth_masks(&net, density, samples, seed)?;
        for df in Dataflow::ALL {
            let run = |policy: SkipPolicy| {
                let mut a = arch.clone();
                a.array.dataflow = df;
                a.sparsity.support = policy;
                simulate_samples(&a, &net, &masks).map(|s| s.mean)
            };
            let dense = run(SkipPolicy::Dense)?.totals;
            for policy in SkipPolicy::ALL {
                let stats = run(policy)?;
                let t = &stats.totals;
                let row = stats.to_row();
                let frac = |a: f64, b: f64| if b > 0.0 { 1.0 - a / b } else { 0.0 };
                rows.push(CodesignRow {
                    block_c: block.c,
                    block_h: block.h,
                    block_w: block.w,
                    dataflow: df.as_str(),
                    policy: policy.as_str(),
                    flops_reduction: row.counters.flops_reduction,
                    cond_cycle_cut_vs_dense_policy: frac(
                        t.cond_cycles.as_f64(),
                        dense.cond_cycles.as_f64(),
                    ),
                    cycle_reduction_vs_ungated: row.counters.cycle_reduction_vs_ungated,
                    cycle_cut_vs_dense_policy: frac(
                        t.cycles.as_f64(),
                        t.cycles_dense_policy.as_f64(),
                    ),
                    energy_saving_vs_ungated: row.counters.energy_saving_vs_ungated,
                    energy_saving_vs_dense_policy: row.counters.energy_saving_vs_dense_policy,
                    utilization: row.counters.utilization,
                });
            }
        }
    }
    Ok(rows)
}

/// The co-design table as Markdown, one row per block × dataflow × policy, as the README shows
/// it (`cargo run --release --example codesign -p cdg-sim` prints it; a test compares the two).
pub fn markdown_table(rows: &[CodesignRow]) -> String {
    let mut out = String::from(
        "| gate block | dataflow | policy | FLOPs red. | cond-pass cut vs dense policy | \
         cycle red. vs ungated | cycle cut vs dense policy | energy saving vs ungated | \
         energy saving vs dense policy | utilization |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {}×{}×{} | {} | {} | {:.2}× | {:.1} % | {:.3}× | {:.1} % | {:.1} % | {:.1} % | \
             {:.3} |\n",
            r.block_c,
            r.block_h,
            r.block_w,
            r.dataflow.to_uppercase(),
            r.policy,
            r.flops_reduction,
            100.0 * r.cond_cycle_cut_vs_dense_policy,
            r.cycle_reduction_vs_ungated,
            100.0 * r.cycle_cut_vs_dense_policy,
            100.0 * r.energy_saving_vs_ungated,
            100.0 * r.energy_saving_vs_dense_policy,
            r.utilization
        ));
    }
    out
}

/// The README's co-design experiment: full-width ResNet-18 CIFAR (32×32×3, base partitions 4)
/// on a 16×16 array with default memories and energies, an ideal gather (`gather_rows_per_cycle = None`),
/// synthetic gates at density 0.5, blocks 16×1×1, 1×1×16 and 1×1×1.
pub fn readme_experiment(samples: usize, seed: u64) -> Result<Vec<CodesignRow>, SimError> {
    let mut arch = ArchConfig::default_with("codesign-16x16");
    arch.sparsity.gather_rows_per_cycle = None;
    codesign(
        &arch,
        |b| crate::models::resnet18_cifar(1.0, 3, Some((4, b))),
        &[
            GateBlock::new(16, 1, 1),
            GateBlock::new(1, 1, 16),
            GateBlock::new(1, 1, 1),
        ],
        0.5,
        samples,
        seed,
    )
}
