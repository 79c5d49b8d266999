//! Robust companion of the `skip` criterion bench for shared machines: dense and skipping
//! paths are timed interleaved, 25 rounds each, and the minimum is kept (contention only
//! ever adds time). Prints, per width, granularity and sparsity, the summed time over the
//! four stages' representative gated 3×3 convolutions (ResNet-18 CIFAR, batch 16) and the
//! speed-up dense / skip next to the ideal 1/(¼ + ¾(1 − sparsity)).
//!
//! `cargo bench -p cdg-train --bench skip_min`

use cdg_train::gating::block_grid;
use cdg_train::skip::{SkipConv, ideal_speedup, random_gates};
use ndarray::Array4;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::time::Instant;

fn min_time(rounds: usize, mut f: impl FnMut(), mut g: impl FnMut()) -> (f64, f64) {
    let (mut a, mut b) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..rounds {
        let t = Instant::now();
        f();
        a = a.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        g();
        b = b.min(t.elapsed().as_secs_f64());
    }
    (a, b)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let batch = 16;
    println!("width | gates | sparsity | dense ms | skip ms | speed-up | ideal");
    println!("---|---|---|---|---|---|---");
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
                let (mut td, mut ts) = (0.0, 0.0);
                for (&(c, hw), (w, x)) in layers.iter().zip(&data) {
                    let sc = SkipConv::new(w.view(), c.div_ceil(4), 1, 1, block);
                    let gates = random_gates(batch, block_grid(c, hw, hw, block), sp, 1);
                    let (d, s) = min_time(
                        25,
                        || {
                            black_box(sc.forward_dense(x.view()));
                        },
                        || {
                            black_box(sc.forward_skip(x.view(), gates.view()));
                        },
                    );
                    td += d;
                    ts += s;
                }
                println!(
                    "{width} | {gname} | {sp} | {:.2} | {:.2} | {:.2}× | {:.2}×",
                    td * 1e3,
                    ts * 1e3,
                    td / ts,
                    ideal_speedup(16, 64, sp)
                );
            }
        }
    }
}
