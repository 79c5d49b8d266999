//! The SSL trainer on a tiny ResNet and a slice of the built-in data: calibration lands the
//! evaluation sparsity within ±2 points of the target on the test split, the export is a
//! valid Network + MaskSet that agrees with the evaluation gates, cost accounting adds up,
//! runs are deterministic, and a diverging run stops with NonFinite.

use cdg_train::data::{Dataset, load_builtin};
use cdg_train::gating::ConsistencyAlign;
use cdg_train::gating::Granularity;
use cdg_train::models::ResNetConfig;
use cdg_train::options::GateBlockDims;
use cdg_train::ssl::{Gating, Objective, SslConfig, SslTrainer, ThresholdKind};
use cdg_train::{TrainError, TrainOptions};

fn data() -> (Dataset, Dataset) {
    let split = load_builtin().expect("built-in data");
    (split.train.head(512), split.test.head(1000))
}

fn options(gating: Gating, granularity: Granularity) -> TrainOptions {
    TrainOptions {
        objective: Objective::Simclr,
        gating,
        granularity,
        gate_block: GateBlockDims([4, 1, 1]),
        target_sparsity: Some(0.5),
        threshold: Some(ThresholdKind::Scheduled),
        consistency_align: ConsistencyAlign::Geometric,
        epochs: 1,
        // The warm-up these tests were written with.
        warmup_epochs: 1,
        batch: 64,
        lr: 0.1,
        proj_hidden: 64,
        ..TrainOptions::default()
    }
}

fn ssl_config(options: TrainOptions) -> SslConfig {
    let mut c = SslConfig::new(ResNetConfig::tiny(1, None), options).expect("an SSL objective");
    c.proj_out = 32;
    c
}

fn config(gating: Gating, granularity: Granularity) -> SslConfig {
    ssl_config(options(gating, granularity))
}

#[test]
fn calibrated_sparsity_is_within_two_points_and_export_matches() {
    let (train, test) = data();
    for (gating, gran, objective) in [
        (Gating::Dual, Granularity::Structured, Objective::Simclr),
        (
            Gating::Independent,
            Granularity::Unstructured,
            Objective::Simsiam,
        ),
    ] {
        let cfg = ssl_config(TrainOptions {
            objective,
            ..options(gating, gran)
        });
        let mut t = SslTrainer::new(cfg, &train).expect("trainer");
        let rep = t.train_epoch(&train, &mut |_| {}).expect("epoch");
        assert!(rep.loss.is_finite());
        assert!(
            rep.gate_sparsity > 0.0,
            "scheduled sparsity ramps up: {rep:?}"
        );
        let cal = t.calibrate(train.images.view(), 0.5).expect("calibrate");
        assert_eq!(cal.len(), 6, "tiny ResNet has 3 blocks × 2 gated convs");
        let ev = t.eval_gates(test.images.view()).expect("eval");
        assert!(
            (ev.sparsity - 0.5).abs() <= 0.02,
            "{gating:?}/{gran:?}: evaluation sparsity {} (calibration {cal:?})",
            ev.sparsity
        );
        // Cost: Σ dense / Σ needed, with needed between base and dense on gated layers.
        let c = &ev.cost;
        assert!(c.flops_reduction > 1.0);
        for l in &c.layers {
            assert!(l.macs_needed >= l.macs_base as f64 - 1e-6);
            assert!(l.macs_needed <= l.macs_dense as f64 + 1e-6);
        }
        let want = c.macs_dense as f64 / c.layers.iter().map(|l| l.macs_needed).sum::<f64>();
        assert!((c.flops_reduction - want).abs() < 1e-9);
        // Export: gates of 32 test images.
        let (net, masks) = t
            .export_masks(test.images.slice(ndarray::s![..32, .., .., ..]))
            .expect("export");
        assert_eq!(masks.samples(), 32);
        assert_eq!(net.gated().count(), 6);
        for (_, layer, spec) in net.gated() {
            assert_eq!(spec.base_channels, layer.shape.in_channels().div_ceil(4));
            let want = if gran == Granularity::Structured {
                [4, 1, 1]
            } else {
                [1, 1, 1]
            };
            assert_eq!(spec.block.as_array(), want);
        }
        assert_eq!(net.layers()[0].name(), "conv1");
        assert!(net.layers()[0].gate.is_none());
        let ev32 = t
            .eval_gates(test.images.slice(ndarray::s![..32, .., .., ..]))
            .expect("eval");
        for (name, sp) in &ev32.layers {
            let m = masks.layer(name).expect("masks for every gated layer");
            let dens: f64 = (0..32).map(|s| m.density(s)).sum::<f64>() / 32.0;
            assert!(
                (1.0 - dens - sp).abs() < 1e-9,
                "{name}: mask density {dens} vs sparsity {sp}"
            );
        }
    }
}

#[test]
fn same_seed_same_run() {
    let (train, _) = data();
    let run = || {
        let mut t = SslTrainer::new(config(Gating::Dual, Granularity::Structured), &train)
            .expect("trainer");
        t.train_epoch(&train, &mut |_| {}).expect("epoch");
        t.checkpoint(serde_json::Value::Null).to_bytes()
    };
    assert_eq!(run(), run());
}

#[test]
fn diverging_loss_stops_with_a_clear_error() {
    let (train, _) = data();
    let mut cfg = config(Gating::None, Granularity::Structured);
    cfg.options.lr = 1e30;
    cfg.options.warmup_epochs = 0;
    cfg.options.epochs = 2;
    let mut t = SslTrainer::new(cfg, &train).expect("trainer");
    let mut err = None;
    for _ in 0..2 {
        if let Err(e) = t.train_epoch(&train, &mut |_| {}) {
            err = Some(e);
            break;
        }
    }
    match err {
        Some(TrainError::NonFinite { step, .. }) => assert!(step >= 1),
        other => panic!("expected NonFinite, got {other:?}"),
    }
}

#[test]
fn bad_config_names_the_key() {
    let (train, _) = data();
    let mut cfg = config(Gating::Independent, Granularity::Structured);
    cfg.options.target_sparsity = None;
    let e = SslTrainer::new(cfg, &train).expect_err("scheduled without target");
    assert!(e.to_string().contains("threshold"), "{e}");
    let mut cfg = config(Gating::Independent, Granularity::Structured);
    cfg.options.target_sparsity = Some(1.5);
    let e = SslTrainer::new(cfg, &train).expect_err("bad target");
    assert!(e.to_string().contains("target_sparsity"), "{e}");
}

/// `momentum` reaches the SSL optimiser: an epoch with momentum 0 ends with a different loss
/// than the default 0.9 (it was once ignored), and the default gives the same bits as before.
#[test]
fn ssl_momentum_reaches_the_optimiser() {
    let (train, _) = data();
    let loss = |momentum: f64| {
        let mut cfg = config(Gating::None, Granularity::Structured);
        cfg.options.momentum = momentum;
        cfg.options.batch = 32;
        let mut t = SslTrainer::new(cfg, &train).expect("trainer");
        t.train_epoch(&train, &mut |_| {}).expect("epoch").loss
    };
    let default = loss(TrainOptions::default().momentum);
    assert_eq!(default.to_bits(), loss(0.9).to_bits());
    assert_ne!(default.to_bits(), loss(0.0).to_bits());
}
