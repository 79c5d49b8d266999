//! Real skipping vs dense on the gated 3×3 layers of ResNet-18 CIFAR (width 0.25 and 1):
//! wall time of the dense convolution (same kernels; with the skipping path's micro-kernel and
//! as explicit im2col + GEMM), the masked path and the skipping path
//! at gate sparsity 0.3 / 0.5 / 0.7, structured (16×1×1) and unstructured gates, batch 16.
//! Speed-up = dense / skip; the ideal with base_partitions 4 is 1/(¼ + ¾·(1 − sparsity)).
//!
//! `cargo bench -p cdg-train --bench skip` (set RAYON_NUM_THREADS for a fixed thread count).

use cdg_train::gating::block_grid;
use cdg_train::skip::{SkipConv, random_gates};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ndarray::Array4;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

/// (name, channels, map side): the 3×3 stride-1 gated convolutions of each stage.
fn layers(width: f64) -> Vec<(String, usize, usize)> {
    [(1, 64, 32), (2, 128, 16), (3, 256, 8), (4, 512, 4)]
        .iter()
        .map(|&(s, c, hw)| {
            let c = ((c as f64 * width).round() as usize).max(1);
            (format!("w{width}/layer{s}.conv2/{c}x{hw}x{hw}"), c, hw)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("skip");
    group
        .sample_size(10)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    let batch = 16;
    for width in [0.25, 1.0] {
        for (name, ch, hw) in layers(width) {
            let mut rng = ChaCha8Rng::seed_from_u64(0);
            let w =
                Array4::<f32>::from_shape_simple_fn((ch, ch, 3, 3), || rng.random_range(-1.0..1.0));
            let x = Array4::<f32>::from_shape_simple_fn((batch, ch, hw, hw), || {
                rng.random_range(-1.0..1.0)
            });
            let base = ch.div_ceil(4);
            let sc = SkipConv::new(w.view(), base, 1, 1, [1, 1, 1]);
            group.bench_function(BenchmarkId::new("dense", &name), |b| {
                b.iter(|| black_box(sc.forward_dense(x.view())))
            });
            group.bench_function(BenchmarkId::new("dense-im2col", &name), |b| {
                b.iter(|| black_box(sc.forward_dense_im2col(x.view())))
            });
            for (gname, block) in [("structured", [16, 1, 1]), ("unstructured", [1, 1, 1])] {
                let sc = SkipConv::new(w.view(), base, 1, 1, block);
                for sp in [0.3, 0.5, 0.7] {
                    let gates = random_gates(batch, block_grid(ch, hw, hw, block), sp, 1);
                    let id = format!("{name}/{gname}/s{sp}");
                    group.bench_function(BenchmarkId::new("skip", &id), |b| {
                        b.iter(|| black_box(sc.forward_skip(x.view(), gates.view())))
                    });
                    if sp == 0.5 {
                        group.bench_function(BenchmarkId::new("masked", &id), |b| {
                            b.iter(|| black_box(sc.forward_masked(x.view(), gates.view())))
                        });
                    }
                }
            }
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
