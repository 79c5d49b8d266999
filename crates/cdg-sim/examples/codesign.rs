//! The co-design table: full-width ResNet-18 CIFAR (32×32×3 input, base_partitions 4) on a
//! 16×16 array (default memories and energies, `gather_cycles_per_fold = 0`), synthetic gates at
//! density 0.5, for three gate-block shapes × three dataflows × four skip policies.
//!
//! `cargo run --release --example codesign -p cdg-sim [-- SAMPLES [SEED]]` (default 256, 1)
//!
//! Columns: FLOPs reduction (dense MACs / needed MACs), the fraction of the conditional pass's
//! cycles the policy removes against the `dense` policy, the network's cycle reduction against
//! the ungated network (one GEMM per layer), the whole-network cycle cut and energy saving
//! against the `dense` policy, and utilization (needed MACs / (R·C·cycles)).

use cdg_core::{ArchConfig, Cycles, GateBlock};
use cdg_sim::codesign::codesign;
use cdg_sim::models::resnet18_cifar;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let samples: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(256);
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);
    let mut arch = ArchConfig::default_with("codesign-16x16");
    arch.sparsity.gather_cycles_per_fold = Cycles(0);
    let blocks = [
        GateBlock::new(16, 1, 1),
        GateBlock::new(1, 1, 16),
        GateBlock::new(1, 1, 1),
    ];
    let rows = codesign(
        &arch,
        |b| resnet18_cifar(1.0, 3, Some((4, b))),
        &blocks,
        0.5,
        samples,
        seed,
    )?;
    println!(
        "ResNet-18 CIFAR (width 1, 32x32x3, base_partitions 4), 16x16 array, density 0.5, \
         {samples} samples, seed {seed}, gather 0"
    );
    println!(
        "| block | dataflow | policy | FLOPs red. | cond-pass cycle cut | cycle red. vs ungated | \
         cycle cut vs dense | energy saving vs dense | utilization |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| ({},{},{}) | {} | {} | {:.2}× | {:.1} % | {:.2}× | {:.1} % | {:.1} % | {:.3} |",
            r.block_c,
            r.block_h,
            r.block_w,
            r.dataflow,
            r.policy,
            r.flops_reduction,
            100.0 * r.cond_cycle_cut,
            r.cycle_reduction,
            100.0 * r.cycle_cut,
            100.0 * r.energy_saving,
            r.utilization
        );
    }
    Ok(())
}
