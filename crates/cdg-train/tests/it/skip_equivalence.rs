//! The real-skipping inference path equals the masked path (and a gated layer's own
//! evaluation forward), for structured and unstructured gates at several sparsities.

use cdg_train::gating::{CondCompute, GateConfig, GatedConv, ThresholdMode, block_grid};
use cdg_train::layers::{Conv, Conv2dConfig, Mode};
use cdg_train::skip::{SkipConv, ideal_speedup, random_gates};
use ndarray::Array4;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn rand4(rng: &mut ChaCha8Rng, d: (usize, usize, usize, usize)) -> Array4<f32> {
    Array4::from_shape_simple_fn(d, || rng.random_range(-1.0..1.0))
}

fn max_diff(a: &Array4<f32>, b: &Array4<f32>) -> f32 {
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn skip_equals_masked_for_every_block_and_sparsity() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    // Blocks aligned to the 16-channel kernel chunks, ragged (20 = 16 + 4, 40 = 32 + 8),
    // wider than a chunk (32 → two chunks per block), narrower (4, 5) and unstructured;
    // 3×3 with padding 1, 1×1 without, 5×5 with padding 2; strides 1 and 2.
    for (block, stride, n_out, k, pad) in [
        ([16, 1, 1], 1, 20, 3, 1),
        ([1, 1, 1], 1, 20, 3, 1),
        ([4, 2, 2], 2, 20, 3, 1),
        ([5, 3, 1], 1, 20, 3, 1),
        ([32, 1, 1], 1, 40, 3, 1),
        ([16, 2, 2], 2, 40, 3, 1),
        ([16, 1, 1], 2, 20, 1, 0),
        ([8, 1, 1], 1, 20, 5, 2),
    ] {
        let w = rand4(&mut rng, (n_out, 12, k, k));
        let x = rand4(&mut rng, (3, 12, 9, 9));
        let sc = SkipConv::new(w.view(), 3, stride, pad, block);
        let (ho, wo) = sc.out_hw(9, 9);
        let case = format!("{block:?} {k}x{k} s{stride} n{n_out}");
        for sp in [0.0, 0.3, 0.5, 0.7, 1.0] {
            let gates = random_gates(3, block_grid(n_out, ho, wo, block), sp, 7);
            let m = sc.forward_masked(x.view(), gates.view());
            let s = sc.forward_skip(x.view(), gates.view());
            assert!(max_diff(&m, &s) < 1e-4, "{case} sparsity {sp}");
        }
        let ones = random_gates(3, block_grid(n_out, ho, wo, block), 0.0, 0);
        let direct = cdg_train::ops::conv2d_direct(x.view(), w.view(), None, stride, pad);
        assert!(
            max_diff(&sc.forward_dense(x.view()), &direct) < 1e-4,
            "{case}"
        );
        assert!(
            max_diff(&sc.forward_dense_im2col(x.view()), &direct) < 1e-4,
            "{case}"
        );
        assert!(
            max_diff(&sc.forward_skip(x.view(), ones.view()), &direct) < 1e-4,
            "{case}"
        );
    }
}

#[test]
fn skip_reproduces_a_gated_layer_with_its_recorded_gates() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for block in [[16, 1, 1], [1, 1, 1]] {
        let gate = GateConfig {
            base_partitions: 4,
            block,
            alpha: 2.0,
            threshold: ThresholdMode::Scheduled,
            norm_momentum: 0.1,
            norm_eps: 1e-5,
            cond: CondCompute::Masked,
        };
        let w = rand4(&mut rng, (32, 16, 3, 3));
        let mut g = GatedConv::<f32>::from_weights("g", w.clone(), Conv2dConfig::default(), gate)
            .expect("layer");
        for d in g.threshold.value.iter_mut() {
            *d = rng.random_range(-0.5..0.5);
        }
        g.record_blocks = true;
        let x = rand4(&mut rng, (2, 16, 8, 8));
        let y = g.forward(x.view(), Mode::Eval).expect("forward");
        let gates = g.record().blocks.clone().expect("recorded");
        let sc = SkipConv::new(w.view(), g.base_channels(), 1, 1, block);
        let s = sc.forward_skip(x.view(), gates.view());
        assert!(max_diff(&y, &s) < 1e-4, "{block:?}");
        let (dense, needed) = sc.macs(8, 8, gates.view());
        assert!(needed < dense as f64);
    }
    assert!((ideal_speedup(16, 64, 0.5) - 1.6).abs() < 1e-12);
}
