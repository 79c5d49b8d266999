//! The gated model on full-width ResNet-18 CIFAR (32×32×3, base_partitions 4, 16 gated 3×3
//! convolutions) with 256 samples of synthetic gates at density 0.5, on one design (16×16,
//! default memories, 16 B/cycle DRAM), under each skip policy and all four in a row — the
//! target is under 1 s for all four on 2 cores.
//!
//! `cargo bench -p cdg-sim --bench gated`

use cdg_core::{ArchConfig, Dataflow, GateBlock, SkipPolicy};
use cdg_sim::models::resnet18_cifar;
use cdg_sim::simulate_network;
use cdg_sim::synth::synth_masks;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("resnet18_cifar_gated_256");
    group.sample_size(10);
    for (label, block) in [
        ("c16", GateBlock::new(16, 1, 1)),
        ("elem", GateBlock::new(1, 1, 1)),
    ] {
        let net = resnet18_cifar(1.0, 3, Some((4, block)));
        let masks = synth_masks(&net, 0.5, 256, 1).unwrap();
        for df in [Dataflow::OutputStationary, Dataflow::WeightStationary] {
            let archs: Vec<ArchConfig> = SkipPolicy::ALL
                .iter()
                .map(|&p| {
                    let mut a = ArchConfig::default_with("bench");
                    a.array.dataflow = df;
                    a.sparsity.support = p;
                    a
                })
                .collect();
            group.bench_function(format!("{label}_{df}_all_policies"), |b| {
                b.iter(|| {
                    for a in &archs {
                        black_box(simulate_network(a, black_box(&net), Some(&masks)).unwrap());
                    }
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
