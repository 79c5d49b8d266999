//! Throughput of the data pipeline and of the feature evaluators:
//! `cargo bench -p cdg-train --bench data_pipeline`.

use std::hint::black_box;

use cdg_train::data::{AugmentConfig, load_builtin, two_views};
use cdg_train::eval::{KnnConfig, ProbeConfig, knn_predict, linear_probe};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ndarray::{Array2, Array4};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn uniform(shape: (usize, usize, usize, usize), seed: u64) -> Array4<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array4::from_shape_simple_fn(shape, || cdg_train::data::rng::unit_f32(&mut rng))
}

fn features(rows: usize, dim: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((rows, dim), || cdg_train::data::rng::unit_f32(&mut rng))
}

fn bench_load(c: &mut Criterion) {
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    g.throughput(Throughput::Elements(12_000));
    g.bench_function("builtin_fashion_mnist_subset_12k_images", |b| {
        b.iter(|| black_box(load_builtin().unwrap()))
    });
    g.finish();
}

fn bench_augment(c: &mut Criterion) {
    let mut g = c.benchmark_group("augment_two_views");
    g.sample_size(20);
    for channels in [1usize, 3] {
        let batch = uniform((256, channels, 32, 32), 1);
        g.throughput(Throughput::Elements(256));
        g.bench_function(format!("ssl_batch256_{channels}x32x32"), |b| {
            let mut rng = ChaCha8Rng::seed_from_u64(0);
            b.iter(|| black_box(two_views(batch.view(), &AugmentConfig::ssl(), &mut rng)))
        });
    }
    g.finish();
}

fn bench_eval(c: &mut Criterion) {
    let mut g = c.benchmark_group("eval");
    g.sample_size(10);
    // Width-0.25 ResNet-18 features (128-d) of the built-in subset: 10 000 bank, 2 000 queries.
    let bank = features(10_000, 128, 1);
    let labels: Vec<u8> = (0..10_000).map(|i| (i % 10) as u8).collect();
    let queries = features(2_000, 128, 2);
    let query_labels: Vec<u8> = (0..2_000).map(|i| (i % 10) as u8).collect();
    g.throughput(Throughput::Elements(2_000));
    g.bench_function("knn_k200_bank10000_queries2000_dim128", |b| {
        b.iter(|| {
            black_box(
                knn_predict(
                    bank.view(),
                    &labels,
                    queries.view(),
                    10,
                    &KnnConfig::default(),
                )
                .unwrap(),
            )
        })
    });
    let cfg = ProbeConfig {
        epochs: 10,
        ..ProbeConfig::default()
    };
    g.throughput(Throughput::Elements(10 * 10_000));
    g.bench_function("linear_probe_10_epochs_10000x128", |b| {
        b.iter(|| {
            black_box(
                linear_probe(
                    bank.view(),
                    &labels,
                    queries.view(),
                    &query_labels,
                    10,
                    &cfg,
                )
                .unwrap(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench_load, bench_augment, bench_eval);
criterion_main!(benches);
