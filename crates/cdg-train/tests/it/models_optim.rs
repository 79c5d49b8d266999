//! ResNet sizes against their closed forms, the optimiser's weight-decay exclusions and
//! schedule, checkpoint round trips, and run determinism.

use cdg_train::checkpoint::Checkpoint;
use cdg_train::layers::{Mode, Module, Param, ParamKind};
use cdg_train::models::{ResNet, ResNetConfig};
use cdg_train::ops;
use cdg_train::optim::{CosineSchedule, Sgd, SgdConfig};
use ndarray::{Array4, ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn round(c: usize, w: f64) -> usize {
    ((c as f64 * w).round() as usize).max(1)
}

/// Parameters of ResNet-18 CIFAR by the closed form.
fn resnet18_params(c_in: usize, w: f64, classes: usize) -> usize {
    let c: Vec<usize> = [64, 128, 256, 512].iter().map(|&x| round(x, w)).collect();
    let mut total = 9 * c_in * c[0] + 2 * c[0];
    let mut prev = c[0];
    for (i, &ci) in c.iter().enumerate() {
        // First block: 3×3 prev→ci, 3×3 ci→ci, two BNs, shortcut when shape changes.
        total += 9 * prev * ci + 9 * ci * ci + 4 * ci;
        if prev != ci || i > 0 {
            total += prev * ci + 2 * ci;
        }
        // Second block.
        total += 18 * ci * ci + 4 * ci;
        prev = ci;
    }
    total + c[3] * classes + classes
}

/// MACs per 32×32 image by the closed form (convolutions and classifier).
fn resnet18_macs(c_in: usize, w: f64, classes: usize) -> u64 {
    let c: Vec<usize> = [64, 128, 256, 512].iter().map(|&x| round(x, w)).collect();
    let sides = [32usize, 16, 8, 4];
    let mut total = 32 * 32 * 9 * c_in * c[0];
    let mut prev = c[0];
    for i in 0..4 {
        let (ci, p) = (c[i], sides[i] * sides[i]);
        total += p * 9 * prev * ci + 3 * p * 9 * ci * ci;
        if prev != ci || i > 0 {
            total += p * prev * ci;
        }
        prev = ci;
    }
    (total + c[3] * classes) as u64
}

#[test]
fn resnet18_size_matches_closed_form() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    // The well-known figures of the full-width CIFAR ResNet-18.
    assert_eq!(resnet18_params(3, 1.0, 10), 11_173_962);
    assert_eq!(resnet18_macs(3, 1.0, 10), 555_422_720);
    for (c_in, w, k) in [(3, 1.0, 10), (1, 0.25, 10), (1, 0.5, 100), (3, 0.125, 7)] {
        let net =
            ResNet::<f32>::new(&ResNetConfig::resnet18_cifar(w, c_in, Some(k)), &mut rng).unwrap();
        assert_eq!(
            net.num_params(),
            resnet18_params(c_in, w, k),
            "params at c_in {c_in}, width {w}"
        );
        assert_eq!(
            net.macs_per_image(32, 32).unwrap().get(),
            resnet18_macs(c_in, w, k),
            "MACs at width {w}"
        );
        // 20 convolutions (stem, 16 block convs, 3 shortcuts) and the classifier.
        assert_eq!(net.layer_shapes(32, 32).unwrap().len(), 21);
        assert_eq!(net.block_convs().len(), 16);
        assert_eq!(net.feature_dim(), round(512, w));
    }
}

#[test]
fn tiny_resnet_size_and_shapes() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut net = ResNet::<f32>::new(&ResNetConfig::tiny(1, Some(10)), &mut rng).unwrap();
    // stem 1→8; block 8→8 (two 3×3); block 8→16 s2 (+1×1); block 16→32 s2 (+1×1); BNs; fc.
    let expect = 9 * 8
        + 2 * 8
        + (2 * 9 * 8 * 8 + 4 * 8)
        + (9 * 8 * 16 + 9 * 16 * 16 + 4 * 16 + 8 * 16 + 2 * 16)
        + (9 * 16 * 32 + 9 * 32 * 32 + 4 * 32 + 16 * 32 + 2 * 32)
        + 32 * 10
        + 10;
    assert_eq!(net.num_params(), expect);
    let logits = net
        .forward(Array4::<f32>::zeros((2, 1, 32, 32)).view(), Mode::Eval)
        .unwrap();
    assert_eq!(logits.dim(), (2, 10));
    let err = net
        .forward(Array4::<f32>::zeros((2, 3, 32, 32)).view(), Mode::Eval)
        .unwrap_err()
        .to_string();
    assert!(err.contains("conv1"), "{err}");
}

#[test]
fn weight_decay_skips_norms_biases_and_thresholds() {
    let mk = |kind| {
        let mut p = Param::<f32>::new(
            format!("{kind:?}"),
            kind,
            ArrayD::from_elem(IxDyn(&[2]), 1.0),
        );
        p.grad.fill(0.0);
        p
    };
    let mut params = [
        mk(ParamKind::Weight),
        mk(ParamKind::Bias),
        mk(ParamKind::Norm),
        mk(ParamKind::Threshold),
    ];
    let cfg = SgdConfig {
        momentum: 0.9,
        weight_decay: 0.1,
        nesterov: false,
        lars: None,
    };
    let mut opt = Sgd::new(cfg, &params.iter().collect::<Vec<_>>());
    opt.step(&mut params.iter_mut().collect::<Vec<_>>(), 1.0)
        .unwrap();
    // Zero gradient: only decayed parameters move, by lr·wd·w.
    assert!((params[0].value[0] - 0.9).abs() < 1e-7);
    for p in &params[1..] {
        assert_eq!(p.value[0], 1.0, "{} must not decay", p.name());
    }
    // Momentum: second step moves by lr·(μ·v + g + wd·w).
    opt.step(&mut params.iter_mut().collect::<Vec<_>>(), 1.0)
        .unwrap();
    let v = 0.9 * 0.1 + 0.1 * 0.9;
    assert!((params[0].value[0] - (0.9 - v)).abs() < 1e-6);
    // Steps with other parameters are refused with the names.
    params.swap(0, 1);
    let err = opt
        .step(&mut params.iter_mut().collect::<Vec<_>>(), 1.0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("Bias") && err.contains("Weight"), "{err}");
}

#[test]
fn lars_scales_decayed_parameters_by_the_trust_ratio() {
    let mut w = Param::<f64>::new("w", ParamKind::Weight, ArrayD::from_elem(IxDyn(&[4]), 3.0));
    w.grad.fill(0.5);
    let mut b = Param::<f64>::new("b", ParamKind::Bias, ArrayD::from_elem(IxDyn(&[4]), 3.0));
    b.grad.fill(0.5);
    let cfg = SgdConfig {
        momentum: 0.0,
        weight_decay: 0.01,
        nesterov: false,
        lars: Some(0.02),
    };
    let mut opt = Sgd::new(cfg, &[&w, &b]);
    opt.step(&mut [&mut w, &mut b], 1.0).unwrap();
    // ‖w‖ = 6, ‖g‖ = 1: local lr = 0.02·6/(1 + 0.01·6); update = lr·(g + wd·w).
    let local = 0.02 * 6.0 / (1.0 + 0.06);
    assert!((w.value[0] - (3.0 - local * (0.5 + 0.03))).abs() < 1e-12);
    // Biases keep the plain rate and no decay.
    assert!((b.value[0] - 2.5).abs() < 1e-12);
}

#[test]
fn cosine_schedule_warms_up_then_decays() {
    let s = CosineSchedule {
        base_lr: 0.4,
        final_lr: 0.0,
        warmup_steps: 4,
        total_steps: 14,
    };
    assert!((s.lr(0) - 0.1).abs() < 1e-12);
    assert!((s.lr(3) - 0.4).abs() < 1e-12);
    assert!((s.lr(4) - 0.4).abs() < 1e-12);
    assert!((s.lr(9) - 0.2).abs() < 1e-12);
    assert!(s.lr(13) < 0.02 && s.lr(13) > 0.0);
    assert!((s.lr(14)).abs() < 1e-12 && s.lr(100).abs() < 1e-12);
    for t in 4..14 {
        assert!(s.lr(t + 1) <= s.lr(t));
    }
}

fn train_steps(net: &mut ResNet<f32>, opt: &mut Sgd<f32>, rng: &mut ChaCha8Rng, steps: usize) {
    for _ in 0..steps {
        let x = Array4::<f32>::from_shape_simple_fn((8, 1, 16, 16), || rng.random_range(-1.0..1.0));
        let labels: Vec<usize> = (0..8).map(|_| rng.random_range(0..10)).collect();
        let logits = net.forward(x.view(), Mode::Train).unwrap();
        let ce = ops::softmax_cross_entropy(logits.view(), &labels);
        net.zero_grad();
        net.backward(ce.dlogits.view()).unwrap();
        opt.step(&mut net.params_mut(), 0.05).unwrap();
    }
}

#[test]
fn checkpoint_round_trip_continues_bit_identically() {
    let cfg = ResNetConfig::tiny(1, Some(10));
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let mut net = ResNet::<f32>::new(&cfg, &mut rng).unwrap();
    let mut opt = Sgd::new(SgdConfig::default(), &net.params());
    train_steps(&mut net, &mut opt, &mut rng, 2);
    let bytes = Checkpoint::capture(
        &[&net],
        &[&opt],
        1,
        2,
        &rng,
        serde_json::json!({"run": "a"}),
    )
    .to_bytes();
    // Uninterrupted continuation.
    train_steps(&mut net, &mut opt, &mut rng, 2);
    // Restored continuation in a fresh model with different initial weights.
    let ck = Checkpoint::from_bytes(&bytes).unwrap();
    assert_eq!((ck.epoch, ck.step), (1, 2));
    assert_eq!(ck.meta["run"], "a");
    let mut net2 = ResNet::<f32>::new(&cfg, &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
    let mut opt2 = Sgd::new(SgdConfig::default(), &net2.params());
    ck.restore(&mut [&mut net2], &mut [&mut opt2]).unwrap();
    let mut rng2 = ck.rng.to_rng();
    train_steps(&mut net2, &mut opt2, &mut rng2, 2);
    for (a, b) in net.params().iter().zip(net2.params()) {
        assert!(
            a.value
                .iter()
                .zip(b.value.iter())
                .all(|(x, y)| x.to_bits() == y.to_bits()),
            "{}",
            a.name()
        );
    }
    for (a, b) in net.buffers().iter().zip(net2.buffers()) {
        assert_eq!(a.value, b.value, "{}", a.name());
    }
}

#[test]
fn checkpoint_errors_name_the_problem() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let net = ResNet::<f32>::new(&ResNetConfig::tiny(1, Some(10)), &mut rng).unwrap();
    let opt = Sgd::new(SgdConfig::default(), &net.params());
    let bytes =
        Checkpoint::capture(&[&net], &[&opt], 0, 0, &rng, serde_json::Value::Null).to_bytes();
    let e = Checkpoint::from_bytes(b"not a checkpoint at all")
        .unwrap_err()
        .to_string();
    assert!(e.contains("magic"), "{e}");
    let e = Checkpoint::from_bytes(&bytes[..bytes.len() - 100])
        .unwrap_err()
        .to_string();
    assert!(e.contains("truncated") || e.contains("offset"), "{e}");
    let mut bad = bytes.clone();
    let n = bad.len();
    bad[n - 20] ^= 1;
    let e = Checkpoint::from_bytes(&bad).unwrap_err().to_string();
    assert!(e.contains("checksum"), "{e}");
    // A checkpoint of a different architecture is refused with the tensor's name.
    let ck = Checkpoint::from_bytes(&bytes).unwrap();
    let mut other =
        ResNet::<f32>::new(&ResNetConfig::resnet18_cifar(0.125, 1, Some(10)), &mut rng).unwrap();
    let mut oopt = Sgd::new(SgdConfig::default(), &other.params());
    let e = ck
        .restore(&mut [&mut other], &mut [&mut oopt])
        .unwrap_err()
        .to_string();
    assert!(e.contains("conv1.weight"), "{e}");
}

#[test]
fn training_is_deterministic_for_a_seed() {
    let run = || {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut net = ResNet::<f32>::new(&ResNetConfig::tiny(1, Some(10)), &mut rng).unwrap();
        let mut opt = Sgd::new(SgdConfig::default(), &net.params());
        train_steps(&mut net, &mut opt, &mut rng, 3);
        Checkpoint::capture(&[&net], &[&opt], 0, 3, &rng, serde_json::Value::Null).to_bytes()
    };
    assert_eq!(run(), run());
}

/// A checkpoint written by the NCHW/im2col engine this branch replaced (the `main` branch's
/// `cdg train --model tiny --objective supervised --epochs 1 --limit-train 64 --limit-test 32
/// --batch 32 --threads 1`): the stored tensors keep their logical layout (OIHW weights), so
/// it restores into today's model, re-captures to the same bytes, and evaluates to the test
/// accuracy that run recorded.
#[test]
fn checkpoint_written_by_the_previous_engine_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/main-tiny-supervised.cdgckpt");
    let bytes = std::fs::read(&path).unwrap();
    let ck = Checkpoint::from_bytes(&bytes).unwrap();
    let mut net = ResNet::<f32>::new(
        &ResNetConfig::tiny(1, Some(10)),
        &mut ChaCha8Rng::seed_from_u64(99),
    )
    .unwrap();
    let mut opt = Sgd::new(SgdConfig::default(), &net.params());
    ck.restore(&mut [&mut net], &mut [&mut opt]).unwrap();
    let again = Checkpoint::capture(
        &[&net],
        &[&opt],
        ck.epoch,
        ck.step,
        &ck.rng.to_rng(),
        ck.meta.clone(),
    );
    assert!(again.to_bytes() == bytes, "re-captured checkpoint differs");

    let split = cdg_train::data::load_builtin().unwrap();
    let train = split.train.head(64);
    let test = split.test.head(32);
    let aug = cdg_train::data::Augmenter::new(
        cdg_train::data::AugmentConfig::none(),
        cdg_train::data::Normalization::fit(train.images.view()),
    );
    let x = aug.eval_view(test.images.view()).unwrap();
    let acc = cdg_train::train::evaluate_accuracy(&mut net, x.view(), &test.labels, 256).unwrap();
    let recorded = ck.meta["metrics"][0]["test_accuracy"].as_f64();
    assert_eq!(Some(acc), recorded, "metadata: {}", ck.meta["metrics"]);
}
