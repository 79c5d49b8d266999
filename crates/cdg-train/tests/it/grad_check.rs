//! Every backward checked against central finite differences in f64 (relative error < 1e-3
//! per probed entry; correct gradients agree to ~1e-8), over random small shapes.

use cdg_train::gradcheck::{GradReport, check_input, check_params};
use cdg_train::layers::{
    BasicBlock, BatchNorm1d, BatchNorm2d, BatchNormConfig, Conv, Conv2d, Conv2dConfig, Linear,
    LinearConfig, Mlp, MlpConfig, Mode, Module, plain_conv_factory,
};
use cdg_train::models::{MaxPool2d, ResNet, ResNetConfig, Stem};
use cdg_train::ops;
use ndarray::{Array1, Array2, Array4, ArrayD, Ix2, Ix4};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const EPS: f64 = 1e-6;
const TOL: f64 = 1e-3;

fn rand4(rng: &mut ChaCha8Rng, d: (usize, usize, usize, usize)) -> Array4<f64> {
    Array4::from_shape_simple_fn(d, || rng.random_range(-1.0..1.0))
}
fn rand2(rng: &mut ChaCha8Rng, d: (usize, usize)) -> Array2<f64> {
    Array2::from_shape_simple_fn(d, || rng.random_range(-1.0..1.0))
}
fn dot(a: &ArrayD<f64>, b: &ArrayD<f64>) -> f64 {
    a.iter().zip(b.iter()).map(|(x, y)| x * y).sum()
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn conv_matches_direct_and_gradients(
        seed in 0u64..1000, n in 1usize..4, c in 1usize..4, o in 1usize..4,
        h in 3usize..8, w in 3usize..8, k in prop::sample::select(vec![1usize, 2, 3]),
        stride in 1usize..3, pad in 0usize..3, bias in any::<bool>(),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = rand4(&mut rng, (n, c, h, w));
        let wt = rand4(&mut rng, (o, c, k, k));
        let b = Array1::from_shape_simple_fn(o, || rng.random_range(-1.0..1.0));
        let bv = bias.then(|| b.view());
        let y = ops::conv2d_forward(x.view(), wt.view(), bv, stride, pad);
        let yd = ops::conv2d_direct(x.view(), wt.view(), bv, stride, pad);
        prop_assert!(y.iter().zip(yd.iter()).all(|(a, b)| (a - b).abs() < 1e-10));
        let r = rand4(&mut rng, y.dim()).into_dyn();
        let g = ops::conv2d_backward(x.view(), wt.view(), r.view().into_dimensionality::<Ix4>().unwrap(), stride, pad, true, bias);
        let loss_x = |xx: &ArrayD<f64>| {
            dot(&ops::conv2d_forward(xx.view().into_dimensionality::<Ix4>().unwrap(), wt.view(), bv, stride, pad).into_dyn(), &r)
        };
        assert_ok(&check_input(&mut { loss_x }, &x.clone().into_dyn(), &g.dx.unwrap().into_dyn(), EPS, 200), "conv dx");
        let loss_w = |ww: &ArrayD<f64>| {
            dot(&ops::conv2d_forward(x.view(), ww.view().into_dimensionality::<Ix4>().unwrap(), bv, stride, pad).into_dyn(), &r)
        };
        assert_ok(&check_input(&mut { loss_w }, &wt.clone().into_dyn(), &g.dw.into_dyn(), EPS, 200), "conv dw");
        if bias {
            let loss_b = |bb: &ArrayD<f64>| {
                let bb = bb.view().into_dimensionality::<ndarray::Ix1>().unwrap();
                dot(&ops::conv2d_forward(x.view(), wt.view(), Some(bb), stride, pad).into_dyn(), &r)
            };
            assert_ok(&check_input(&mut { loss_b }, &b.clone().into_dyn(), &g.db.unwrap().into_dyn(), EPS, 200), "conv db");
        }
    }

    #[test]
    fn batchnorm_gradients(seed in 0u64..1000, n in 2usize..5, c in 1usize..4, l in 1usize..6, train in any::<bool>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mode = if train { Mode::Train } else { Mode::Eval };
        let mut bn = BatchNorm2d::<f64>::new("bn", c, BatchNormConfig::default());
        // Non-trivial γ, β and running statistics.
        for p in bn.params_mut() { p.value.mapv_inplace(|_| rng.random_range(0.5..1.5)); }
        for b in bn.buffers_mut() { b.value.mapv_inplace(|_| rng.random_range(0.5..1.5)); }
        let x = rand4(&mut rng, (n, c, l, 2));
        let r = rand4(&mut rng, (n, c, l, 2)).into_dyn();
        // Train mode updates running statistics: snapshot them so every evaluation sees the same.
        let snapshot = bn.clone();
        let y = bn.forward(x.view(), mode).unwrap();
        prop_assert_eq!(y.dim(), x.dim());
        bn.zero_grad();
        let dx = if train {
            bn.backward(r.view().into_dimensionality::<Ix4>().unwrap()).unwrap()
        } else {
            // Eval forward keeps no cache; frozen-statistics backward is dy·γ/σ.
            prop_assert!(bn.backward(r.view().into_dimensionality::<Ix4>().unwrap()).is_err());
            return Ok(());
        };
        let mut fresh = snapshot.clone();
        let mut loss_x = |xx: &ArrayD<f64>| dot(&fresh.forward(xx.view().into_dimensionality::<Ix4>().unwrap(), mode).unwrap().into_dyn(), &r);
        assert_ok(&check_input(&mut loss_x, &x.clone().into_dyn(), &dx.into_dyn(), EPS, 200), "bn dx");
        let mut loss_p = |m: &mut BatchNorm2d<f64>| dot(&m.forward(x.view(), mode).unwrap().into_dyn(), &r);
        assert_ok(&check_params(&mut bn, &mut loss_p, EPS, 50), "bn params");
    }

    #[test]
    fn batchnorm1d_linear_relu_mlp_gradients(seed in 0u64..1000, n in 2usize..6, d_in in 1usize..5, d_h in 1usize..6, d_out in 1usize..4, out_bn in any::<bool>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let cfg = MlpConfig { dims: vec![d_in, d_h, d_out], hidden_bn: true, output_bn: out_bn };
        let mut mlp = Mlp::<f64>::new("head", &cfg, &mut rng).unwrap();
        let x = rand2(&mut rng, (n, d_in));
        let r = rand2(&mut rng, (n, d_out)).into_dyn();
        let y = mlp.forward(x.view(), Mode::Train).unwrap();
        mlp.zero_grad();
        let dx = mlp.backward(r.view().into_dimensionality::<Ix2>().unwrap()).unwrap();
        prop_assert_eq!(y.dim(), (n, d_out));
        let mut m2 = mlp.clone();
        let mut loss_x = |xx: &ArrayD<f64>| dot(&m2.forward(xx.view().into_dimensionality::<Ix2>().unwrap(), Mode::Train).unwrap().into_dyn(), &r);
        assert_ok(&check_input(&mut loss_x, &x.clone().into_dyn(), &dx.into_dyn(), EPS, 100), "mlp dx");
        let mut loss_p = |m: &mut Mlp<f64>| dot(&m.forward(x.view(), Mode::Train).unwrap().into_dyn(), &r);
        assert_ok(&check_params(&mut mlp, &mut loss_p, EPS, 40), "mlp params");
    }

    #[test]
    fn pool_loss_similarity_gradients(seed in 0u64..1000, n in 1usize..5, d in 1usize..6, h in 1usize..4) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Global average pool.
        let x = rand4(&mut rng, (n, d, h, h + 1));
        let r = rand2(&mut rng, (n, d));
        let dx = ops::global_avg_pool_backward(r.view(), h, h + 1);
        let mut lp = |xx: &ArrayD<f64>| dot(&ops::global_avg_pool(xx.view().into_dimensionality::<Ix4>().unwrap()).into_dyn(), &r.clone().into_dyn());
        assert_ok(&check_input(&mut lp, &x.clone().into_dyn(), &dx.into_dyn(), EPS, 200), "avgpool");
        // Softmax cross-entropy.
        let logits = rand2(&mut rng, (n, d + 1)) * 3.0;
        let labels: Vec<usize> = (0..n).map(|_| rng.random_range(0..d + 1)).collect();
        let ce = ops::softmax_cross_entropy(logits.view(), &labels);
        let mut lc = |z: &ArrayD<f64>| ops::softmax_cross_entropy::<f64>(z.view().into_dimensionality::<Ix2>().unwrap(), &labels).loss;
        assert_ok(&check_input(&mut lc, &logits.clone().into_dyn(), &ce.dlogits.into_dyn(), EPS, 200), "cross-entropy");
        // L2 normalisation.
        let a = rand2(&mut rng, (n, d + 1));
        let rr = rand2(&mut rng, (n, d + 1));
        let (y, norms) = ops::l2_normalize(a.view(), 1e-12);
        let dn = ops::l2_normalize_backward(rr.view(), y.view(), norms.view());
        let mut ln = |z: &ArrayD<f64>| dot(&ops::l2_normalize(z.view().into_dimensionality::<Ix2>().unwrap(), 1e-12).0.into_dyn(), &rr.clone().into_dyn());
        assert_ok(&check_input(&mut ln, &a.clone().into_dyn(), &dn.into_dyn(), EPS, 200), "l2 normalise");
        // Cosine similarity, both arguments.
        let b = rand2(&mut rng, (n, d + 1));
        let wc = Array1::from_shape_simple_fn(n, || rng.random_range(-1.0..1.0));
        let (da, db) = ops::cosine_similarity_backward(wc.view(), a.view(), b.view(), 1e-12);
        let mut la = |z: &ArrayD<f64>| dot(&ops::cosine_similarity(z.view().into_dimensionality::<Ix2>().unwrap(), b.view(), 1e-12).into_dyn(), &wc.clone().into_dyn());
        assert_ok(&check_input(&mut la, &a.clone().into_dyn(), &da.into_dyn(), EPS, 200), "cosine da");
        let mut lb = |z: &ArrayD<f64>| dot(&ops::cosine_similarity(a.view(), z.view().into_dimensionality::<Ix2>().unwrap(), 1e-12).into_dyn(), &wc.clone().into_dyn());
        assert_ok(&check_input(&mut lb, &b.clone().into_dyn(), &db.into_dyn(), EPS, 200), "cosine db");
        // ReLU and add are piecewise linear: check against the definition directly.
        let y = ops::relu(a.view());
        let g = ops::relu_backward(rr.view(), y.view());
        for ((&av, &gv), &rv) in a.iter().zip(g.iter()).zip(rr.iter()) {
            prop_assert_eq!(gv, if av > 0.0 { rv } else { 0.0 });
        }
        let s = ops::add(a.view(), b.view());
        prop_assert!(s.iter().zip(a.iter().zip(b.iter())).all(|(s, (x, y))| *s == x + y));
    }

    #[test]
    fn basic_block_gradients(seed in 0u64..1000, n in 2usize..4, c_in in 1usize..4, c_out in 1usize..4, stride in 1usize..3, hw in 3usize..6) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut block = BasicBlock::<f64>::new("b", c_in, c_out, stride, &mut plain_conv_factory::<f64>, &mut rng).unwrap();
        prop_assert_eq!(block.downsample.is_some(), stride != 1 || c_in != c_out);
        let x = rand4(&mut rng, (n, c_in, hw, hw));
        let y = block.forward(x.view(), Mode::Train).unwrap();
        let r = rand4(&mut rng, y.dim()).into_dyn();
        block.zero_grad();
        let dx = block.backward(r.view().into_dimensionality::<Ix4>().unwrap()).unwrap();
        let mut loss_p = |m: &mut BasicBlock<f64>| dot(&m.forward(x.view(), Mode::Train).unwrap().into_dyn(), &r);
        let rep = check_params(&mut block, &mut loss_p, EPS, 20);
        assert_ok(&rep, "block params");
        let mut loss_x = |xx: &ArrayD<f64>| dot(&block.forward(xx.view().into_dimensionality::<Ix4>().unwrap(), Mode::Train).unwrap().into_dyn(), &r);
        assert_ok(&check_input(&mut loss_x, &x.clone().into_dyn(), &dx.into_dyn(), EPS, 100), "block dx");
    }
}

#[test]
fn linear_layer_and_conv_layer_gradients() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut lin = Linear::<f64>::new("fc", 4, 3, LinearConfig::default(), &mut rng);
    let x = rand2(&mut rng, (5, 4));
    let r = rand2(&mut rng, (5, 3)).into_dyn();
    lin.forward(x.view(), Mode::Train).unwrap();
    lin.zero_grad();
    lin.backward(r.view().into_dimensionality::<Ix2>().unwrap())
        .unwrap();
    let mut loss =
        |m: &mut Linear<f64>| dot(&m.forward(x.view(), Mode::Train).unwrap().into_dyn(), &r);
    assert_ok(
        &check_params(&mut lin, &mut loss, EPS, 100),
        "linear params",
    );

    let cfg = Conv2dConfig {
        kernel: 3,
        stride: 2,
        padding: 1,
        bias: true,
    };
    let mut conv = Conv2d::<f64>::new("c", 2, 3, cfg, &mut rng);
    let x = rand4(&mut rng, (2, 2, 5, 6));
    let y = conv.forward(x.view(), Mode::Train).unwrap();
    let r = rand4(&mut rng, y.dim()).into_dyn();
    conv.zero_grad();
    conv.backward(r.view().into_dimensionality::<Ix4>().unwrap())
        .unwrap();
    let mut loss =
        |m: &mut Conv2d<f64>| dot(&m.forward(x.view(), Mode::Train).unwrap().into_dyn(), &r);
    assert_ok(
        &check_params(&mut conv, &mut loss, EPS, 100),
        "conv layer params",
    );
}

#[test]
fn batchnorm1d_layer_gradients() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut bn = BatchNorm1d::<f64>::new(
        "bn",
        3,
        BatchNormConfig {
            affine: false,
            ..BatchNormConfig::default()
        },
    );
    assert!(bn.params().is_empty());
    let x = rand2(&mut rng, (6, 3));
    let r = rand2(&mut rng, (6, 3)).into_dyn();
    let mut fresh = bn.clone();
    bn.forward(x.view(), Mode::Train).unwrap();
    let dx = bn
        .backward(r.view().into_dimensionality::<Ix2>().unwrap())
        .unwrap();
    let mut loss = |xx: &ArrayD<f64>| {
        dot(
            &fresh
                .forward(xx.view().into_dimensionality::<Ix2>().unwrap(), Mode::Train)
                .unwrap()
                .into_dyn(),
            &r,
        )
    };
    assert_ok(
        &check_input(&mut loss, &x.into_dyn(), &dx.into_dyn(), EPS, 100),
        "bn1d dx",
    );
}

#[test]
fn tiny_resnet_end_to_end_gradients() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut net = ResNet::<f64>::new(&ResNetConfig::tiny(1, Some(4)), &mut rng).unwrap();
    let x = rand4(&mut rng, (3, 1, 8, 8));
    let labels = [0usize, 3, 1];
    let logits = net.forward(x.view(), Mode::Train).unwrap();
    let ce = ops::softmax_cross_entropy(logits.view(), &labels);
    net.zero_grad();
    net.backward(ce.dlogits.view()).unwrap();
    let mut loss = |m: &mut ResNet<f64>| {
        ops::softmax_cross_entropy(m.forward(x.view(), Mode::Train).unwrap().view(), &labels).loss
    };
    let rep = check_params(&mut net, &mut loss, EPS, 6);
    assert_ok(&rep, "tiny resnet params");
    assert!(rep.checked > 100, "checked {}", rep.checked);
}

#[test]
fn conv_with_several_gemm_groups_matches_direct() {
    // 64×64 maps give 4096 output pixels: one image per GEMM group, three groups.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x = rand4(&mut rng, (3, 2, 64, 64));
    let w = rand4(&mut rng, (3, 2, 3, 3));
    assert_eq!(ops::group_size(64 * 64, 3), 1);
    let y = ops::conv2d_forward(x.view(), w.view(), None, 1, 1);
    let yd = ops::conv2d_direct(x.view(), w.view(), None, 1, 1);
    assert!(y.iter().zip(yd.iter()).all(|(a, b)| (a - b).abs() < 1e-10));
    let r = rand4(&mut rng, y.dim());
    let g = ops::conv2d_backward(x.view(), w.view(), r.view(), 1, 1, true, false);
    // ∂/∂w of Σ r·y equals Σ_b correlate(x_b, r_b); compare against the single-group result.
    let mut whole = Array4::<f64>::zeros(w.dim());
    for b in 0..3 {
        let gb = ops::conv2d_backward(
            x.slice(ndarray::s![b..b + 1, .., .., ..]),
            w.view(),
            r.slice(ndarray::s![b..b + 1, .., .., ..]),
            1,
            1,
            false,
            false,
        );
        whole += &gb.dw;
    }
    assert!(
        g.dw.iter()
            .zip(whole.iter())
            .all(|(a, b)| (a - b).abs() < 1e-9)
    );
}

#[test]
fn conv_layer_rejects_wrong_channels() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut conv = Conv2d::<f32>::new("layer1.0.conv1", 3, 4, Conv2dConfig::default(), &mut rng);
    let err = conv
        .forward(Array4::<f32>::zeros((1, 2, 8, 8)).view(), Mode::Train)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("layer1.0.conv1") && err.contains("N×3×H×W"),
        "{err}"
    );
    let err = conv
        .backward(Array4::<f32>::zeros((1, 4, 8, 8)).view())
        .unwrap_err()
        .to_string();
    assert!(err.contains("without a cached forward"), "{err}");
}

/// Max pooling by definition: every window's largest in-bounds value (padding never wins).
fn max_pool_reference(x: &Array4<f64>, k: usize, s: usize, p: usize) -> Array4<f64> {
    let (n, c, h, w) = x.dim();
    let out = |len: usize| (len + 2 * p - k) / s + 1;
    Array4::from_shape_fn((n, c, out(h), out(w)), |(i, ch, oy, ox)| {
        let mut best = f64::NEG_INFINITY;
        for ky in 0..k {
            for kx in 0..k {
                let (y, xx) = (
                    (oy * s + ky) as isize - p as isize,
                    (ox * s + kx) as isize - p as isize,
                );
                if y >= 0 && xx >= 0 && (y as usize) < h && (xx as usize) < w {
                    best = best.max(x[[i, ch, y as usize, xx as usize]]);
                }
            }
        }
        best
    })
}

#[test]
fn max_pool_matches_its_definition_and_its_gradient_checks() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    for (h, w) in [(8, 8), (7, 9), (2, 3), (112, 112)] {
        let x = rand4(&mut rng, (2, 3, h, w));
        let mut pool = MaxPool2d::<f64>::new("maxpool", 3, 2, 1).unwrap();
        let y = pool.forward(x.view(), Mode::Train).unwrap();
        assert_eq!(y, max_pool_reference(&x, 3, 2, 1), "{h}×{w}");
        if h > 16 {
            assert_eq!(y.dim(), (2, 3, 56, 56), "the ImageNet stem's 112 → 56");
            continue;
        }
        let g = rand4(&mut rng, y.dim());
        let dx = pool.backward(g.view()).unwrap();
        let mut loss = |xd: &ArrayD<f64>| {
            let x4 = xd.clone().into_dimensionality::<Ix4>().unwrap();
            let y = pool.forward(x4.view(), Mode::Eval).unwrap();
            dot(&y.into_dyn(), &g.clone().into_dyn())
        };
        assert_ok(
            &check_input(&mut loss, &x.into_dyn(), &dx.into_dyn(), EPS, 200),
            "max pool dx",
        );
    }
}

#[test]
fn max_pool_ties_go_to_the_first_pixel_and_bad_calls_are_errors() {
    let mut pool = MaxPool2d::<f64>::new("maxpool", 2, 2, 0).unwrap();
    let x = Array4::from_elem((1, 1, 2, 2), 1.0);
    let y = pool.forward(x.view(), Mode::Train).unwrap();
    assert_eq!(y[[0, 0, 0, 0]], 1.0);
    let dx = pool
        .backward(Array4::from_elem((1, 1, 1, 1), 5.0).view())
        .unwrap();
    assert_eq!(dx.as_slice().unwrap(), &[5.0, 0.0, 0.0, 0.0]);
    // Backward without a training forward, and windows that cannot fit.
    assert!(pool.backward(Array4::zeros((1, 1, 1, 1)).view()).is_err());
    assert!(
        pool.forward(Array4::zeros((1, 1, 1, 1)).view(), Mode::Eval)
            .is_err()
    );
    assert!(MaxPool2d::<f64>::new("p", 3, 2, 3).is_err());
    assert!(MaxPool2d::<f64>::new("p", 3, 0, 1).is_err());
}

#[test]
fn imagenet_stem_resnet_end_to_end_gradients() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let config = ResNetConfig::tiny(2, Some(3)).with_stem(Stem::Imagenet);
    let mut net = ResNet::<f64>::new(&config, &mut rng).unwrap();
    // 16×16 → 7×7 stride-2 conv 8×8 → max-pool 4×4 → stages 4, 2, 1.
    let x = rand4(&mut rng, (3, 2, 16, 16));
    let labels = [0usize, 2, 1];
    let logits = net.forward(x.view(), Mode::Train).unwrap();
    let ce = ops::softmax_cross_entropy(logits.view(), &labels);
    net.zero_grad();
    net.backward(ce.dlogits.view()).unwrap();
    let mut loss = |m: &mut ResNet<f64>| {
        ops::softmax_cross_entropy(m.forward(x.view(), Mode::Train).unwrap().view(), &labels).loss
    };
    let rep = check_params(&mut net, &mut loss, EPS, 6);
    assert_ok(&rep, "ImageNet-stem resnet params");
    assert!(rep.checked > 100, "checked {}", rep.checked);
    // The stem's weights are 7×7 and were among those checked.
    assert_eq!(net.stem.params()[0].value.shape(), &[8, 2, 7, 7]);
    assert!(net.stem.params()[0].grad.iter().any(|&g| g != 0.0));
}

#[test]
fn imagenet_stem_resnet18_layer_shapes_match_the_zoo() {
    use cdg_core::zoo::{Zoo, ZooOptions};
    for width in [1.0, 0.25] {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let net = ResNet::<f32>::new(
            &ResNetConfig::resnet18_imagenet(width, 3, Some(1000)),
            &mut rng,
        )
        .unwrap();
        let ours: Vec<_> = net
            .layer_shapes(224, 224)
            .unwrap()
            .into_iter()
            .map(|l| {
                // The trainer's shortcut conv is torchvision's `downsample.0`; the zoo calls
                // it `downsample`.
                let name = l.name().trim_end_matches(".0").to_owned();
                l.with_name(name)
            })
            .collect();
        let zoo = Zoo::Resnet18
            .build(&ZooOptions {
                width,
                in_channels: 3,
            })
            .unwrap();
        let theirs: Vec<_> = zoo.layers().iter().map(|l| l.shape.clone()).collect();
        assert_eq!(ours.len(), theirs.len(), "width {width}");
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(a, b, "width {width}");
        }
        assert_eq!(ours[1].in_height(), 56, "layer1 sees 56×56");
    }
    // The stem follows the resolution unless chosen.
    assert_eq!(Stem::for_resolution(224), Stem::Imagenet);
    assert_eq!(Stem::for_resolution(64), Stem::Imagenet);
    assert_eq!(Stem::for_resolution(32), Stem::Cifar);
}
