//! The mapper's cost per layer (docs/model.md §8, BENCHMARKS.md): for each layer of ResNet-50
//! (224×224, batch 1) on the 16×16 OS design (`arch-configs/os-16x16-int8.toml`'s array and
//! memories; default energies), the size of its mapspace, how many candidates the search
//! streamed (the rest cut by their bounds) and the search time, for `mapping.objective = edp`.
//!
//! `cargo run --release --example mapspace -p cdg-sim [-- BATCH]` (default 1)

use cdg_core::{ArchConfig, Layer, Zoo, ZooOptions};
use cdg_sim::baseline::LayerGemm;
use cdg_sim::mapper::{Mapspace, search_counted};
use cdg_sim::memory::compulsory;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let batch: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1);
    let mut arch = ArchConfig::default_with("os-16x16-int8");
    arch.memory.dram_bandwidth = cdg_core::DramBandwidth::BytesPerCycle(16.0);
    arch.workload.batch = batch;
    let mut arch1 = arch.clone();
    arch1.workload.batch = 1;
    let net = Zoo::Resnet50.build(&ZooOptions::default())?;
    println!("| layer | M×K×N | mapspace | streamed | search (ms) | mapping |");
    println!("|---|---|---|---|---|---|");
    let (mut size, mut streamed, mut ms) = (0, 0, 0.0);
    for l in net.layers() {
        let ungated = Layer {
            shape: l.shape.clone(),
            gate: None,
        };
        let g1 = LayerGemm::of(&l.shape);
        let per = l.shape.kernel()[0] * l.shape.kernel()[1];
        let per_channel = (g1.groups == 1).then_some((per, l.shape.in_channels()));
        let space = Mapspace::new(
            &arch,
            g1,
            compulsory(&arch, &ungated, g1.k),
            compulsory(&arch1, &ungated, g1.k),
            per_channel,
        );
        let t = Instant::now();
        let (best, n) = search_counted(&space, arch.mapping.objective);
        let dt = t.elapsed().as_secs_f64() * 1e3;
        println!(
            "| {} | {}×{}×{} | {} | {n} | {dt:.1} | {} |",
            l.name(),
            g1.m,
            g1.k,
            g1.n,
            space.size(),
            best.name
        );
        size += space.size();
        streamed += n;
        ms += dt;
    }
    println!(
        "| total ({} layers) | | {size} | {streamed} | {ms:.0} | |",
        net.len()
    );
    Ok(())
}
