//! Dense simulation of the 21-layer ResNet-18 CIFAR network (full width, 32×32×3 input) on the
//! three designs SCALE-Sim 3.0.0 was timed on (335 s for 16×16 OS, 247 s for 32×32 IS, 171 s
//! for 32×32 OS, summed over single-layer runs), plus 32×32 WS.
//!
//! `cargo bench -p cdg-sim --bench dense`

use cdg_core::{ArchConfig, Dataflow, DramBandwidth};
use cdg_sim::models::resnet18_cifar;
use cdg_sim::simulate_network;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn design(rows: u64, dataflow: Dataflow, bandwidth: DramBandwidth) -> ArchConfig {
    let mut a = ArchConfig::default_with("bench");
    a.array.rows = rows;
    a.array.cols = rows;
    a.array.dataflow = dataflow;
    a.memory.dram_bandwidth = bandwidth;
    a
}

fn bench(c: &mut Criterion) {
    let net = resnet18_cifar(1.0, 3, None);
    let mut group = c.benchmark_group("resnet18_cifar_dense");
    for (label, rows, df) in [
        ("os_16x16", 16, Dataflow::OutputStationary),
        ("ws_32x32", 32, Dataflow::WeightStationary),
        ("is_32x32", 32, Dataflow::InputStationary),
        ("os_32x32", 32, Dataflow::OutputStationary),
    ] {
        // With a finite bandwidth every fold's traffic and stall is computed.
        for (bw_label, bw) in [
            ("16Bpc", DramBandwidth::BytesPerCycle(16.0)),
            ("unlimited", DramBandwidth::Unlimited),
        ] {
            let arch = design(rows, df, bw);
            group.bench_function(format!("{label}_{bw_label}"), |b| {
                b.iter(|| simulate_network(black_box(&arch), black_box(&net), None).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
