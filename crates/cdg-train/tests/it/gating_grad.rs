//! Finite-difference checks (f64) of every gated-convolution gradient that is not the
//! straight-through surrogate: the base and conditional convolutions, the saliency
//! normalisation (batch statistics), the soft gates, learned thresholds with their L2 pull,
//! and the gate-consistency loss (pooled and geometric).

use cdg_train::data::ViewGeometry;
use cdg_train::gating::{
    CondCompute, ConsistencyAlign, GateConfig, GatedConv, ThresholdMode, consistency_loss,
};
use cdg_train::gradcheck::{GradReport, check_input, check_params};
use cdg_train::layers::{Conv, Conv2dConfig, Mode, Module};
use ndarray::{Array4, ArrayD, Ix4};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const EPS: f64 = 1e-6;
const TOL: f64 = 1e-3;

fn rand4(rng: &mut ChaCha8Rng, d: (usize, usize, usize, usize)) -> Array4<f64> {
    Array4::from_shape_simple_fn(d, || rng.random_range(-1.0..1.0))
}

fn assert_ok(r: &GradReport, what: &str) {
    assert!(r.checked > 0, "{what}: nothing checked");
    assert!(
        r.max_rel_error < TOL,
        "{what}: max relative error {:e} at {}",
        r.max_rel_error,
        r.worst
    );
}

fn geoms(b: usize) -> (Vec<ViewGeometry>, Vec<ViewGeometry>) {
    let a = (0..b)
        .map(|i| ViewGeometry {
            y0: 1.0 + i as f32,
            x0: 0.5,
            h: 6.0,
            w: 5.0,
            flipped: i % 2 == 0,
        })
        .collect();
    let c = (0..b)
        .map(|i| ViewGeometry {
            y0: 0.0,
            x0: 1.0 + i as f32 * 0.5,
            h: 7.0,
            w: 6.5,
            flipped: i % 2 == 1,
        })
        .collect();
    (a, c)
}

/// L = Σ R ⊙ y + consistency(soft gates) + threshold pull, with hard gates held (no
/// straight-through): every term is differentiable away from gate flips.
fn layer_case(block: [usize; 3], align: ConsistencyAlign, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (n, c_in, c_out, hw) = (4, 5, 6, 6);
    let gate = GateConfig {
        base_partitions: 2,
        block,
        alpha: 2.0,
        threshold: ThresholdMode::Learned {
            target: 0.3,
            lambda: 0.05,
        },
        norm_momentum: 0.1,
        norm_eps: 1e-5,
        cond: CondCompute::Masked,
    };
    let w = rand4(&mut rng, (c_out, c_in, 3, 3));
    let mut layer =
        GatedConv::<f64>::from_weights("g", w, Conv2dConfig::default(), gate).expect("valid");
    layer.straight_through = false;
    for d in layer.threshold.value.iter_mut() {
        *d = rng.random_range(-0.3..0.3);
    }
    let x = rand4(&mut rng, (n, c_in, hw, hw));
    let r = rand4(&mut rng, (n, c_out, hw, hw));
    let (ga, gb) = geoms(n / 2);
    let gamma = 3.0;
    let loss_of = |layer: &mut GatedConv<f64>, x: &Array4<f64>| -> (f64, Option<Array4<f64>>) {
        let y = layer.forward(x.view(), Mode::Train).expect("forward");
        let g = layer.soft_gates().expect("cached");
        let cl =
            consistency_loss(&[g.view()], gamma, align, Some((&ga, &gb)), (hw, hw)).expect("loss");
        let l = (&y * &r).sum() + cl.loss + layer.threshold_pull_loss();
        (l, cl.grads.into_iter().next())
    };
    layer.zero_grad();
    let (_, dg) = loss_of(&mut layer, &x);
    layer.set_gate_grad(dg.expect("one layer")).expect("shape");
    let dx = layer.backward(r.view()).expect("backward");
    let rep = check_params(
        &mut layer,
        &mut |m: &mut GatedConv<f64>| loss_of(m, &x).0,
        EPS,
        40,
    );
    assert_ok(&rep, &format!("params, block {block:?}, {align:?}"));
    let mut l2 = layer.clone();
    let rep = check_input(
        &mut |xd: &ArrayD<f64>| {
            let x4 = xd.clone().into_dimensionality::<Ix4>().expect("4-D");
            loss_of(&mut l2, &x4).0
        },
        &x.clone().into_dyn(),
        &dx.into_dyn(),
        EPS,
        60,
    );
    assert_ok(&rep, &format!("input, block {block:?}, {align:?}"));
}

#[test]
fn unstructured_pooled_gradients_match_finite_differences() {
    layer_case([1, 1, 1], ConsistencyAlign::Pooled, 1);
}

#[test]
fn structured_pooled_gradients_match_finite_differences() {
    layer_case([4, 1, 1], ConsistencyAlign::Pooled, 2);
}

#[test]
fn structured_spatial_geometric_gradients_match_finite_differences() {
    layer_case([2, 2, 3], ConsistencyAlign::Geometric, 3);
}

#[test]
fn consistency_loss_gradients_match_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (ga, gb) = geoms(3);
    for align in [ConsistencyAlign::Pooled, ConsistencyAlign::Geometric] {
        let g1 = rand4(&mut rng, (6, 3, 4, 4)).mapv(|v| 0.5 + 0.4 * v);
        let g2 = rand4(&mut rng, (6, 2, 2, 2)).mapv(|v| 0.5 + 0.4 * v);
        let f = |a: &Array4<f64>, b: &Array4<f64>| {
            consistency_loss(&[a.view(), b.view()], 10.0, align, Some((&ga, &gb)), (8, 8))
                .expect("loss")
        };
        let cl = f(&g1, &g2);
        assert!(cl.loss > 0.0);
        assert!((cl.loss - 10.0 * cl.raw).abs() < 1e-12);
        let rep = check_input(
            &mut |v: &ArrayD<f64>| f(&v.clone().into_dimensionality().expect("4-D"), &g2).loss,
            &g1.clone().into_dyn(),
            &cl.grads[0].clone().into_dyn(),
            EPS,
            96,
        );
        assert_ok(&rep, &format!("{align:?} layer 0"));
        let rep = check_input(
            &mut |v: &ArrayD<f64>| f(&g1, &v.clone().into_dimensionality().expect("4-D")).loss,
            &g2.clone().into_dyn(),
            &cl.grads[1].clone().into_dyn(),
            EPS,
            48,
        );
        assert_ok(&rep, &format!("{align:?} layer 1"));
    }
}

#[test]
fn identical_branches_have_zero_consistency_loss() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let half = rand4(&mut rng, (2, 3, 4, 4));
    let g = ndarray::concatenate(ndarray::Axis(0), &[half.view(), half.view()]).expect("cat");
    let same = vec![ViewGeometry::full(8, 8); 2];
    for align in [ConsistencyAlign::Pooled, ConsistencyAlign::Geometric] {
        let cl =
            consistency_loss(&[g.view()], 10.0, align, Some((&same, &same)), (8, 8)).expect("loss");
        assert_eq!(cl.loss, 0.0, "{align:?}");
        assert!(cl.grads[0].iter().all(|&v| v == 0.0));
    }
}

/// The pooled loss against its definition, γ·mean over pairs and channels of
/// (mean_hw g_i − mean_hw g_{i+B})², with soft gates in standard (NCHW) and in channels-last
/// memory (as `GatedConv::soft_gates` gives them): the same loss bits, the same gradient
/// values, and the gradient in the gates' own memory order.
#[test]
fn pooled_consistency_loss_matches_its_definition_in_both_memory_layouts() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let (n2, c, h, w) = (6, 5, 3, 4);
    let g = rand4(&mut rng, (n2, c, h, w));
    let gamma = 7.0;
    let b = n2 / 2;
    let mut want = 0.0;
    let mut want_grad = Array4::<f64>::zeros((n2, c, h, w));
    for i in 0..b {
        for cc in 0..c {
            let mean = |r: usize| {
                let mut s = 0.0;
                for y in 0..h {
                    for x in 0..w {
                        s += g[[r, cc, y, x]];
                    }
                }
                s / (h * w) as f64
            };
            let diff = mean(i) - mean(i + b);
            want += diff * diff / (b * c) as f64;
            let gd = gamma * 2.0 * diff / (b * c * h * w) as f64;
            want_grad.slice_mut(ndarray::s![i, cc, .., ..]).fill(gd);
            want_grad
                .slice_mut(ndarray::s![i + b, cc, .., ..])
                .fill(-gd);
        }
    }
    // The same values in channels-last memory.
    let mut nhwc = Array4::<f64>::zeros((n2, h, w, c));
    nhwc.assign(&g.view().permuted_axes([0, 2, 3, 1]));
    let g_last = nhwc.view().permuted_axes([0, 3, 1, 2]);
    assert_eq!(g_last, g.view());
    let a =
        consistency_loss(&[g.view()], gamma, ConsistencyAlign::Pooled, None, (8, 8)).expect("loss");
    let l =
        consistency_loss(&[g_last], gamma, ConsistencyAlign::Pooled, None, (8, 8)).expect("loss");
    assert!((a.loss - gamma * want).abs() <= 1e-12 * want.abs().max(1.0));
    assert_eq!(a.loss.to_bits(), l.loss.to_bits());
    for (x, y) in a.grads[0].iter().zip(want_grad.iter()) {
        assert!((x - y).abs() <= 1e-12 * y.abs().max(1e-9), "{x} vs {y}");
    }
    assert_eq!(a.grads[0], l.grads[0]);
    assert!(a.grads[0].is_standard_layout());
    assert_eq!(l.grads[0].strides(), g_last.strides());
}

#[test]
fn straight_through_threshold_gradient_matches_the_surrogate_formula() {
    // Unstructured, one image, one output channel: ∂L/∂Δ from the surrogate is
    // −Σ dy·Q·α·σ(αz)(1 − σ(αz)) with z = s − Δ, plus nothing else (no pull, λ = 0).
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let gate = GateConfig {
        base_partitions: 2,
        block: [1, 1, 1],
        alpha: 2.0,
        threshold: ThresholdMode::Learned {
            target: 0.0,
            lambda: 0.0,
        },
        norm_momentum: 0.1,
        norm_eps: 1e-5,
        cond: CondCompute::Masked,
    };
    let w = rand4(&mut rng, (1, 2, 3, 3));
    let mut layer = GatedConv::<f64>::from_weights("g", w.clone(), Conv2dConfig::default(), gate)
        .expect("valid");
    layer.freeze_stats = true;
    let x = rand4(&mut rng, (1, 2, 4, 4));
    let dy = rand4(&mut rng, (1, 1, 4, 4));
    layer.zero_grad();
    layer.forward(x.view(), Mode::Train).expect("forward");
    layer.backward(dy.view()).expect("backward");
    let got = layer.threshold.grad[[0]];
    let p = cdg_train::ops::conv2d_direct(
        x.slice(ndarray::s![.., ..1, .., ..]),
        w.slice(ndarray::s![.., ..1, .., ..]),
        None,
        1,
        1,
    );
    let q = cdg_train::ops::conv2d_direct(
        x.slice(ndarray::s![.., 1.., .., ..]),
        w.slice(ndarray::s![.., 1.., .., ..]),
        None,
        1,
        1,
    );
    // Running stats are mean 0, var 1: s = P/√(1 + ε).
    let inv = 1.0 / (1.0f64 + 1e-5).sqrt();
    let want: f64 = p
        .iter()
        .zip(q.iter())
        .zip(dy.iter())
        .map(|((&pv, &qv), &d)| {
            let sg = 1.0 / (1.0 + (-2.0 * pv * inv).exp());
            -d * qv * 2.0 * sg * (1.0 - sg)
        })
        .sum();
    assert!((got - want).abs() < 1e-10, "got {got}, want {want}");
}
