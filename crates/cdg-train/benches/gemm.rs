//! The GEMM backend choice: the `gemm` crate (the engine's backend, on rayon's pool) against
//! `matrixmultiply` (its own thread pool, `MATMUL_NUM_THREADS`) on the im2col GEMMs of
//! ResNet-18 CIFAR at batch 32: forward (N × K · K × cols), dX (K × N · N × cols) and
//! dW (N × cols · cols × K), with cols = one GEMM group (see `ops::conv::group_size`).
//! Throughput in FLOP, so "Gelem/s" reads GFLOP/s.
//!
//! `cargo bench -p cdg-train --bench gemm`

use cdg_train::scalar::gemm;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndarray::Array2;

/// (name, filters N, window K, columns of one group).
const SHAPES: &[(&str, usize, usize, usize)] = &[
    ("layer1", 64, 576, 4096),
    ("layer2", 128, 1152, 4096),
    ("layer3", 256, 2304, 2048),
    ("layer4", 512, 4608, 512),
];

fn filled(d: (usize, usize), seed: u32) -> Array2<f32> {
    let mut s = seed;
    Array2::from_shape_simple_fn(d, || {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (s >> 9) as f32 / (1u32 << 23) as f32 - 0.5
    })
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("im2col_gemm");
    g.sample_size(10);
    for &(name, n, k, cols) in SHAPES {
        for (what, (m, kk, nn)) in [
            ("forward", (n, k, cols)),
            ("dx", (k, n, cols)),
            ("dw", (n, cols, k)),
        ] {
            let a = filled((m, kk), 1);
            let b = filled((kk, nn), 2);
            let mut out = Array2::<f32>::zeros((m, nn));
            g.throughput(Throughput::Elements(2 * (m * kk * nn) as u64));
            let id = format!("{name} {what} {m}x{kk}x{nn}");
            g.bench_with_input(BenchmarkId::new("gemm-crate", &id), &(), |bch, _| {
                bch.iter(|| gemm(1.0, a.view(), b.view(), 0.0, out.view_mut()))
            });
            g.bench_with_input(BenchmarkId::new("matrixmultiply", &id), &(), |bch, _| {
                bch.iter(|| ndarray::linalg::general_mat_mul(1.0, &a, &b, 0.0, &mut out))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
