//! The real-skipping inference path equals the masked path (and a gated layer's own
//! evaluation forward), for structured and unstructured gates at several sparsities.

use cdg_train::gating::{CondCompute, GateConfig, GatedConv, ThresholdMode, block_grid};
use cdg_train::layers::{Conv, Conv2dConfig, Mode, Module};
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

/// `CondCompute::Skip` in training: the forward equals the masked one for any margin; with an
/// infinite margin every block's conditional output exists and the gradients equal the
/// masked ones; with margin 0 the only change is the straight-through term of inactive
/// blocks, so without that term the gradients are the masked ones again.
#[test]
fn training_skip_forward_is_exact_and_only_the_straight_through_term_changes() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let (n, c_in, c_out, hw) = (3, 32, 32, 6);
    let gate = GateConfig {
        base_partitions: 4,
        block: [8, 1, 1],
        alpha: 2.0,
        threshold: ThresholdMode::Learned {
            target: 0.3,
            lambda: 0.05,
        },
        norm_momentum: 0.1,
        norm_eps: 1e-5,
        cond: CondCompute::Masked,
    };
    let rand64 = |rng: &mut ChaCha8Rng, d| {
        Array4::<f64>::from_shape_simple_fn(d, || rng.random_range(-1.0..1.0))
    };
    let w = rand64(&mut rng, (c_out, c_in, 3, 3));
    let x = rand64(&mut rng, (n, c_in, hw, hw));
    let r = rand64(&mut rng, (n, c_out, hw, hw));
    let mut masked =
        GatedConv::<f64>::from_weights("g", w, Conv2dConfig::default(), gate).expect("valid");
    masked.zero_grad();
    for d in masked.threshold.value.iter_mut() {
        *d = rng.random_range(-0.3..0.3);
    }
    let run = |layer: &mut GatedConv<f64>| {
        let y = layer.forward(x.view(), Mode::Train).expect("forward");
        let dx = layer.backward(r.view()).expect("backward");
        let grads = (layer.weight.grad.clone(), layer.threshold.grad.clone());
        (y, dx, grads)
    };
    let close = |a: &[f64], b: &[f64], what: &str| {
        let d = a
            .iter()
            .zip(b)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0f64, f64::max);
        assert!(d < 1e-9, "{what}: max difference {d}");
    };
    for (margin, straight_through, same_grads) in [
        (f64::INFINITY, true, true),
        (0.0, false, true),
        (0.0, true, false),
    ] {
        let mut a = masked.clone();
        a.straight_through = straight_through;
        let mut b = a.clone();
        b.set_cond_compute(CondCompute::Skip { margin });
        let (ya, dxa, (gwa, gta)) = run(&mut a);
        let (yb, dxb, (gwb, gtb)) = run(&mut b);
        let what = format!("margin {margin}, straight-through {straight_through}");
        let s = |v: &ndarray::ArrayD<f64>| v.iter().copied().collect::<Vec<_>>();
        let s4 = |v: &Array4<f64>| v.iter().copied().collect::<Vec<_>>();
        close(&s4(&ya), &s4(&yb), &what);
        if same_grads {
            close(&s4(&dxa), &s4(&dxb), &what);
            close(&s(&gwa), &s(&gwb), &what);
            close(&s(&gta), &s(&gtb), &what);
        } else {
            // Some inactive block's straight-through gradient was dropped.
            let d = s(&gta)
                .iter()
                .zip(s(&gtb))
                .map(|(p, q)| (p - q).abs())
                .fold(0.0f64, f64::max);
            assert!(
                d > 1e-9,
                "{what}: expected the threshold gradient to change"
            );
        }
    }
}
