//! Robust companion of the `skip` criterion bench for shared machines: the dense paths and
//! the skipping path are timed interleaved, 25 rounds each, and the minimum is kept
//! (contention only ever adds time). Prints, per width, granularity and sparsity, the summed
//! time over the four stages' representative gated 3×3 convolutions (ResNet-18 CIFAR, batch
//! 16) and the speed-up over the dense path with the same micro-kernel (`forward_dense`, the
//! fastest dense path here) and over explicit im2col + GEMM (`forward_dense_im2col`), next to
//! the ideal 1/(¼ + ¾(1 − sparsity)).
//!
//! `cargo bench -p cdg-train --bench skip_min`

use cdg_train::gating::block_grid;
use cdg_train::skip::{SkipConv, ideal_speedup, random_gates};
use ndarray::Array4;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::time::Instant;

/// Minimum wall time of each closure over `rounds` interleaved rounds.
fn min_times<const N: usize>(rounds: usize, fs: &mut [&mut dyn FnMut(); N]) -> [f64; N] {
    let mut best = [f64::INFINITY; N];
    for _ in 0..rounds {
        for (f, b) in fs.iter_mut().zip(best.iter_mut()) {
            let t = Instant::now();
            f();
            *b = b.min(t.elapsed().as_secs_f64());
        }
    }
    best
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let batch = 16;
    println!(
        "width | gates | sparsity | dense ms | im2col ms | skip ms | speed-up | vs im2col | ideal"
    );
    println!("---|---|---|---|---|---|---|---|---");
    for width in [0.25, 1.0] {
        let layers: Vec<(usize, usize)> = [(64, 32), (128, 16), (256, 8), (512, 4)]
            .iter()
            .map(|&(c, hw)| (((c as f64 * width).round() as usize).max(1), hw))
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let data: Vec<(Array4<f32>, Array4<f32>)> = layers
            .iter()
            .map(|&(c, hw)| {
                (
                    Array4::from_shape_simple_fn((c, c, 3, 3), || rng.random_range(-1.0..1.0)),
                    Array4::from_shape_simple_fn((batch, c, hw, hw), || {
                        rng.random_range(-1.0..1.0)
                    }),
                )
            })
            .collect();
        for (gname, block) in [
            ("structured 16x1x1", [16, 1, 1]),
            ("unstructured", [1, 1, 1]),
        ] {
            for sp in [0.3, 0.5, 0.7] {
                let (mut td, mut ti, mut ts) = (0.0, 0.0, 0.0);
                for (&(c, hw), (w, x)) in layers.iter().zip(&data) {
                    let sc = SkipConv::new(w.view(), c.div_ceil(4), 1, 1, block);
                    let gates = random_gates(batch, block_grid(c, hw, hw, block), sp, 1);
                    let [d, i, s] = min_times(
                        25,
                        &mut [
                            &mut || {
                                black_box(sc.forward_dense(x.view()));
                            },
                            &mut || {
                                black_box(sc.forward_dense_im2col(x.view()));
                            },
                            &mut || {
                                black_box(sc.forward_skip(x.view(), gates.view()));
                            },
                        ],
                    );
                    td += d;
                    ti += i;
                    ts += s;
                }
                println!(
                    "{width} | {gname} | {sp} | {:.2} | {:.2} | {:.2} | {:.2}× | {:.2}× | {:.2}×",
                    td * 1e3,
                    ti * 1e3,
                    ts * 1e3,
                    td / ts,
                    ti / ts,
                    ideal_speedup(16, 64, sp)
                );
            }
        }
    }
}
