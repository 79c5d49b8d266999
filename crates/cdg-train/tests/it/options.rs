//! `TrainOptions`: the documented defaults, every key deserialises into its field, the record
//! resolves the threshold training, and `validate` names the key at fault.

use cdg_train::gating::{ConsistencyAlign, Granularity};
use cdg_train::models::{ResNetConfig, Stem};
use cdg_train::options::{GateBlockDims, ModelKind};
use cdg_train::ssl::{Gating, Objective, ThresholdKind};
use cdg_train::{TrainError, TrainOptions};
use serde_json::json;

/// The defaults docs/training.md and `cdg train --help` document (lr 0.1, no warm-up, 30
/// epochs were once 0.3, 1 and 10 for library users).
#[test]
fn defaults_are_the_documented_ones() {
    let d = TrainOptions::default();
    assert_eq!(d.objective, Objective::Supervised);
    assert_eq!((d.model, d.width), (ModelKind::Resnet18, 0.25));
    assert_eq!(
        (d.epochs, d.batch, d.lr, d.warmup_epochs),
        (30, 128, 0.1, 0)
    );
    assert_eq!((d.weight_decay, d.momentum), (5e-4, 0.9));
    assert_eq!(d.gate_block, GateBlockDims([16, 1, 1]));
    assert_eq!((d.threshold_target, d.gate_consistency), (1.0, 10.0));
    assert_eq!(
        (d.trace_samples, d.calibration_samples, d.knn_every),
        (256, 2000, 5)
    );
    assert_eq!((d.proj_hidden, d.probe_epochs), (2048, 100));
    d.validate().expect("the defaults are valid");
}

/// Every field set to a value other than its default, spelled as the config file spells it.
/// The struct literal lists every field, so a new option fails to compile here until it is
/// added.
#[test]
fn every_key_deserialises_into_its_field() {
    let expected = TrainOptions {
        objective: Objective::Simsiam,
        model: ModelKind::Tiny,
        width: 0.5,
        epochs: 3,
        batch: 16,
        lr: 0.05,
        warmup_epochs: 1,
        weight_decay: 1e-4,
        momentum: 0.8,
        augment: true,
        seed: 7,
        data: "image-folder:/data".to_owned(),
        resolution: Some(64),
        stem: Some(Stem::Imagenet),
        init_from: Some("models/x.cdgckpt".into()),
        limit_train: Some(100),
        limit_test: Some(50),
        gating: Gating::Dual,
        granularity: Granularity::Unstructured,
        gate_block: GateBlockDims([8, 2, 1]),
        target_sparsity: Some(0.4),
        threshold: Some(ThresholdKind::Scheduled),
        threshold_target: 0.5,
        gate_consistency: 5.0,
        consistency_align: ConsistencyAlign::Geometric,
        base_partitions: 2,
        train_skip_margin: Some(2.0),
        trace_samples: 4,
        calibration_samples: 32,
        knn_every: 1,
        proj_hidden: 32,
        probe_epochs: 2,
        knn_init: true,
    };
    let text = json!({
        "objective": "simsiam", "model": "tiny", "width": 0.5, "epochs": 3, "batch": 16,
        "lr": 0.05, "warmup_epochs": 1, "weight_decay": 1e-4, "momentum": 0.8,
        "augment": true, "seed": 7, "data": "image-folder:/data", "resolution": 64,
        "stem": "imagenet", "init_from": "models/x.cdgckpt", "limit_train": 100,
        "limit_test": 50, "gating": "dual", "granularity": "unstructured",
        "gate_block": "8x2x1", "target_sparsity": 0.4, "threshold": "scheduled",
        "threshold_target": 0.5, "gate_consistency": 5.0, "consistency_align": "geometric",
        "base_partitions": 2, "train_skip_margin": 2.0, "trace_samples": 4,
        "calibration_samples": 32, "knn_every": 1, "proj_hidden": 32, "probe_epochs": 2,
        "knn_init": true
    });
    let parsed: TrainOptions = serde_json::from_value(text.clone()).unwrap();
    assert_eq!(parsed, expected);
    // Every key differs from its default, and the record holds every key.
    let default = TrainOptions::default().record();
    let record = expected.record();
    for (key, value) in text.as_object().unwrap() {
        assert_ne!(
            default.get(key),
            Some(value),
            "`{key}` is set to its default"
        );
        assert!(record.get(key).is_some(), "`{key}` is not in the record");
    }
    assert_eq!(
        record.as_object().unwrap().len(),
        text.as_object().unwrap().len()
    );
    // The array spelling of the gate block, and unknown keys refused by name.
    let o: TrainOptions = serde_json::from_value(json!({ "gate_block": [4, 1, 1] })).unwrap();
    assert_eq!(o.gate_block, GateBlockDims([4, 1, 1]));
    let e = serde_json::from_value::<TrainOptions>(json!({ "modle": "tiny" })).unwrap_err();
    assert!(e.to_string().contains("modle"), "{e}");
}

#[test]
fn the_record_resolves_the_threshold_training_and_leaves_out_unset_late_options() {
    let dense = TrainOptions::default().record();
    assert_eq!(dense["threshold"], "learned");
    for late in ["resolution", "stem", "init_from", "train_skip_margin"] {
        assert!(dense.get(late).is_none(), "{late}");
    }
    assert_eq!(dense["limit_train"], serde_json::Value::Null);
    let targeted = TrainOptions {
        target_sparsity: Some(0.5),
        ..TrainOptions::default()
    };
    assert_eq!(targeted.threshold_kind(), ThresholdKind::Scheduled);
    assert_eq!(targeted.record()["threshold"], "scheduled");
}

#[test]
fn validate_names_the_key() {
    let check = |o: TrainOptions, key: &str, needle: &str| match o.validate() {
        Err(TrainError::Config { key: k, reason }) => {
            assert_eq!(k, key, "{reason}");
            assert!(reason.contains(needle), "{key}: {reason}");
        }
        other => panic!("{key}: expected a config error, got {other:?}"),
    };
    let d = TrainOptions::default;
    check(TrainOptions { lr: 0.0, ..d() }, "lr", "positive");
    check(TrainOptions { width: 65.0, ..d() }, "width", "at most 64");
    check(
        TrainOptions {
            momentum: 1.0,
            ..d()
        },
        "momentum",
        "[0, 1)",
    );
    check(TrainOptions { epochs: 0, ..d() }, "epochs", "at least 1");
    check(
        TrainOptions {
            warmup_epochs: 31,
            ..d()
        },
        "warmup_epochs",
        "more than `epochs` 30",
    );
    check(
        TrainOptions {
            gating: Gating::Dual,
            ..d()
        },
        "gating",
        "`objective` simclr or simsiam",
    );
    let ssl = || TrainOptions {
        objective: Objective::Simclr,
        ..d()
    };
    check(TrainOptions { batch: 1, ..ssl() }, "batch", "at least 2");
    check(
        TrainOptions {
            gating: Gating::Dual,
            threshold: Some(ThresholdKind::Scheduled),
            ..ssl()
        },
        "threshold",
        "`target_sparsity`",
    );
    check(
        TrainOptions {
            target_sparsity: Some(1.0),
            ..ssl()
        },
        "target_sparsity",
        "[0, 1)",
    );
    check(
        TrainOptions {
            train_skip_margin: Some(1.0),
            ..ssl()
        },
        "train_skip_margin",
        "gated training",
    );
    check(
        TrainOptions {
            probe_epochs: 0,
            ..ssl()
        },
        "probe_epochs",
        "at least 1",
    );
}

/// The memory estimate of the model's config: a tiny ResNet on 32×32 images counts its
/// convolution weights exactly (stem 1→8, then per block two 3×3 convolutions).
#[test]
fn memory_estimate_counts_the_convolution_weights() {
    let m = ResNetConfig::tiny(1, None).memory_estimate(32, 32, 1);
    let expected = 9 * (8 + (8 * 8 + 8 * 8) + (8 * 16 + 16 * 16) + (16 * 32 + 32 * 32));
    assert_eq!(m.params, expected as u64);
    let two = ResNetConfig::tiny(1, None).memory_estimate(32, 32, 2);
    assert_eq!(two.activation_bytes, 2 * m.activation_bytes);
    let huge =
        ResNetConfig::resnet18_cifar(64.0, 3, None).memory_estimate(1 << 20, 1 << 20, 1 << 20);
    assert_eq!(huge.activation_bytes, u64::MAX, "saturates");
}

/// Issue #26, 13: a width given for the tiny model (whose widths are fixed) is refused, naming
/// `width`, instead of being ignored; the default width is what the tiny model runs at.
#[test]
fn a_width_for_the_tiny_model_is_refused() {
    let tiny = TrainOptions {
        model: ModelKind::Tiny,
        ..TrainOptions::default()
    };
    tiny.validate()
        .expect("the tiny model at the default width");
    let wide = TrainOptions { width: 1e9, ..tiny };
    match wide.validate() {
        Err(TrainError::Config { key, reason }) => {
            assert_eq!(key, "width");
            assert!(
                reason.contains("applies to --model resnet18 only"),
                "{reason}"
            );
        }
        other => panic!("expected a width error, got {other:?}"),
    }
}
