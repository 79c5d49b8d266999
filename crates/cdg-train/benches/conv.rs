//! Convolution forward and backward on the ResNet-18 CIFAR shapes (batch 32, width 1): the
//! channels-last implicit-GEMM path the layers use (`conv2d_forward`, `conv2d_backward`, on
//! channels-last tensors) against explicit im2col + GEMM (`*_im2col`, on standard NCHW).
//! Throughput is reported in FLOP (2 per MAC), so criterion's "Gelem/s" reads GFLOP/s.
//! Threads: rayon's default (all cores) or `RAYON_NUM_THREADS`.
//!
//! `cargo bench -p cdg-train --bench conv`

use cdg_train::ops::{self, layout::to_nhwc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndarray::Array4;

const BATCH: usize = 32;

/// (name, in channels, out channels, input side, stride) of the distinct 3×3 convolutions.
const SHAPES: &[(&str, usize, usize, usize, usize)] = &[
    ("layer1 64-64 32x32", 64, 64, 32, 1),
    ("layer2 128-128 16x16", 128, 128, 16, 1),
    ("layer3 256-256 8x8", 256, 256, 8, 1),
    ("layer4 512-512 4x4", 512, 512, 4, 1),
    ("layer2.0 64-128 s2", 64, 128, 32, 2),
];

fn filled(d: (usize, usize, usize, usize), seed: u32) -> Array4<f32> {
    let mut s = seed;
    Array4::from_shape_simple_fn(d, || {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (s >> 9) as f32 / (1u32 << 23) as f32 - 0.5
    })
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("conv3x3_batch32");
    g.sample_size(10);
    for &(name, cin, cout, side, stride) in SHAPES {
        let x = filled((BATCH, cin, side, side), 1);
        let w = filled((cout, cin, 3, 3), 2);
        let out = (side + 2 - 3) / stride + 1;
        let dy = filled((BATCH, cout, out, out), 3);
        let flops = 2 * BATCH * out * out * cout * cin * 9;
        g.throughput(Throughput::Elements(flops as u64));
        let (xl, dyl) = (to_nhwc(x.view()), to_nhwc(dy.view()));
        g.bench_with_input(BenchmarkId::new("forward", name), &(), |b, _| {
            b.iter(|| ops::conv2d_forward(xl.view(), w.view(), None, stride, 1))
        });
        g.bench_with_input(BenchmarkId::new("forward_im2col", name), &(), |b, _| {
            b.iter(|| ops::conv2d_forward_im2col(x.view(), w.view(), None, stride, 1))
        });
        // Backward does two GEMMs (dW and dX) of the forward's size.
        g.throughput(Throughput::Elements(2 * flops as u64));
        g.bench_with_input(BenchmarkId::new("backward", name), &(), |b, _| {
            b.iter(|| ops::conv2d_backward(xl.view(), w.view(), dyl.view(), stride, 1, true, false))
        });
        g.bench_with_input(BenchmarkId::new("backward_im2col", name), &(), |b, _| {
            b.iter(|| {
                ops::conv2d_backward_im2col(x.view(), w.view(), dy.view(), stride, 1, true, false)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
