//! The co-design table of the README: full-width ResNet-18 CIFAR (32×32×3 input,
//! base_partitions 4) on a 16×16 array (default memories and energies,
//! an ideal gather), synthetic gates at density 0.5, for three gate-block shapes ×
//! three dataflows × four skip policies.
//!
//! `cargo run --release --example codesign -p cdg-sim [-- SAMPLES [SEED]]` (default 256, 1)
//!
//! Columns (docs/model.md §8): FLOPs reduction (dense MACs / needed MACs); the share of the
//! conditional pass's cycles the policy removes against the `dense` policy; the network's cycle
//! reduction against the ungated network (each layer on its best dense schedule); the
//! whole-network cycle cut against the `dense` policy; the energy saving against each
//! baseline; utilization (needed MACs / (R·C·cycles)).

use cdg_sim::codesign::{markdown_table, readme_experiment};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let samples: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(256);
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);
    let rows = readme_experiment(samples, seed)?;
    println!(
        "ResNet-18 CIFAR (width 1, 32x32x3, base_partitions 4), 16x16 array, density 0.5, \
         {samples} samples, seed {seed}, gather 0"
    );
    print!("{}", markdown_table(&rows));
    Ok(())
}
