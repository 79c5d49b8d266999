//! Training sessions: the observer sees one snapshot per epoch plus the final one, a run
//! stopped and resumed from its checkpoint ends bit-identical to one run in one go, resuming
//! with other options is refused, a diverging run stops with `NonFinite`, gated SSL runs hand
//! over their evaluation gates, and every summary serializes with its keys in alphabetical
//! order (the byte layout `summary.json` has always had).

use cdg_train::TrainError;
use cdg_train::TrainOptions;
use cdg_train::checkpoint::Checkpoint;
use cdg_train::data::{DataSplit, load_builtin};
use cdg_train::gating::{ConsistencyAlign, Granularity};
use cdg_train::models::ResNetConfig;
use cdg_train::options::GateBlockDims;
use cdg_train::session::{
    GateTrace, MetricsRow, Observer, ObserverError, Resume, Snapshot, SslOutcome, SslSession,
    SslSessionConfig, SupervisedOutcome, SupervisedSession, SupervisedSessionConfig,
};
use cdg_train::ssl::{Gating, Objective, SslConfig, ThresholdKind};
use cdg_train::train::SupervisedConfig;
use serde_json::{Value, json};

fn data(train: usize, test: usize) -> DataSplit {
    let split = load_builtin().expect("built-in data");
    DataSplit {
        train: split.train.head(train),
        test: split.test.head(test),
    }
}

/// Keeps everything a session hands over, in memory.
#[derive(Default)]
struct Memory {
    checkpoints: Vec<Checkpoint>,
    metrics: Vec<Vec<MetricsRow>>,
    summaries: Vec<Value>,
    summary_bytes: Vec<Vec<u8>>,
    /// The summary through a `serde_json::Value` (sorted keys), as it was once written.
    summary_value_bytes: Vec<Vec<u8>>,
    traces: Vec<GateTrace>,
    steps: usize,
    epochs_finished: Vec<usize>,
    stopped: Option<usize>,
}

impl Observer for Memory {
    fn step(&mut self, _: &cdg_train::session::StepProgress) {
        self.steps += 1;
    }

    fn epoch_finished(&mut self, row: &MetricsRow) {
        self.epochs_finished.push(row.epoch);
    }

    fn stopped(&mut self, epochs: usize) {
        self.stopped = Some(epochs);
    }

    fn save(&mut self, s: &Snapshot<'_>) -> Result<(), ObserverError> {
        // Through the byte encoding, as a file would.
        self.checkpoints
            .push(Checkpoint::from_bytes(&s.checkpoint.to_bytes())?);
        self.metrics.push(s.metrics.to_vec());
        self.summaries.push(serde_json::to_value(s.summary)?);
        self.summary_bytes
            .push(serde_json::to_vec_pretty(s.summary)?);
        self.summary_value_bytes
            .push(serde_json::to_vec_pretty(&serde_json::to_value(
                s.summary,
            )?)?);
        Ok(())
    }

    fn save_trace(&mut self, trace: GateTrace) -> Result<String, ObserverError> {
        self.traces.push(trace);
        Ok("memory".to_owned())
    }
}

fn supervised(epochs: usize, stop_after: Option<usize>, record: Value) -> SupervisedSessionConfig {
    SupervisedSessionConfig {
        config: SupervisedConfig {
            model: ResNetConfig::tiny(1, Some(10)),
            options: TrainOptions {
                epochs,
                batch: 64,
                lr: 0.05,
                warmup_epochs: 0,
                seed: 5,
                augment: true,
                ..TrainOptions::default()
            },
        },
        stop_after,
        record,
    }
}

#[test]
fn supervised_resume_equals_the_uninterrupted_run_and_checks_the_options() {
    let split = data(256, 128);
    let options = json!({ "run": "a" });
    let mut whole = Memory::default();
    let s = SupervisedSession::new(supervised(2, None, options.clone()), &split.train).unwrap();
    let outcome = s.run(&split, &mut whole).unwrap();
    let SupervisedOutcome::Complete {
        epochs: 2,
        test_accuracy: Some(acc),
    } = outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!(whole.checkpoints.len(), 2, "one snapshot per epoch");
    assert_eq!(whole.epochs_finished, [1, 2]);
    assert_eq!(whole.steps, 2 * 4, "256 images in batches of 64");
    assert_eq!(whole.metrics[1].len(), 2);
    assert_eq!(whole.metrics[1][1].test_accuracy, Some(acc));
    assert_eq!(whole.summaries[1]["test_accuracy"], json!(acc));
    assert_eq!(whole.summaries[1]["objective"], "supervised");
    assert_eq!(whole.summaries[1]["plan"], options);

    let mut first = Memory::default();
    let s = SupervisedSession::new(supervised(2, Some(1), options.clone()), &split.train).unwrap();
    assert_eq!(
        s.run(&split, &mut first).unwrap(),
        SupervisedOutcome::Stopped { epochs: 1 }
    );
    assert_eq!(first.stopped, Some(1));
    let ckpt = first.checkpoints.pop().unwrap();

    // Other options are refused before anything runs.
    let e = Resume::check(ckpt.clone(), &json!({ "run": "b" })).unwrap_err();
    assert!(matches!(e, TrainError::ResumeMismatch { .. }), "{e}");
    assert!(e.to_string().contains("different options"), "{e}");

    let resume = Resume::check(ckpt, &options).unwrap();
    assert_eq!((resume.epoch(), resume.rows().len()), (1, 1));
    let mut rest = Memory::default();
    let mut s = SupervisedSession::new(supervised(2, None, options), &split.train).unwrap();
    s.resume(resume).unwrap();
    assert_eq!(s.epoch(), 1);
    s.run(&split, &mut rest).unwrap();
    let (a, b) = (&whole.checkpoints[1], &rest.checkpoints[0]);
    assert_eq!((a.epoch, a.step, &a.rng), (b.epoch, b.step, &b.rng));
    assert_eq!(a.tensors, b.tensors, "bit-identical weights and momentum");
    let strip = |rows: &[MetricsRow]| -> Vec<(usize, f64, Option<f64>)> {
        rows.iter()
            .map(|r| (r.epoch, r.loss, r.test_accuracy))
            .collect()
    };
    assert_eq!(strip(&whole.metrics[1]), strip(&rest.metrics[0]));
}

fn ssl(gating: Gating, epochs: usize, stop_after: Option<usize>) -> SslSessionConfig {
    let options = TrainOptions {
        objective: Objective::Simsiam,
        gating,
        granularity: Granularity::Structured,
        gate_block: GateBlockDims([4, 1, 1]),
        target_sparsity: Some(0.5),
        threshold: Some(ThresholdKind::Learned),
        consistency_align: ConsistencyAlign::Pooled,
        epochs,
        // The warm-up these tests were written with.
        warmup_epochs: 1,
        batch: 64,
        lr: 0.1,
        proj_hidden: 64,
        calibration_samples: 128,
        knn_every: 1,
        knn_init: false,
        trace_samples: 8,
        probe_epochs: 2,
        ..TrainOptions::default()
    };
    let mut c = SslConfig::new(ResNetConfig::tiny(1, None), options).unwrap();
    c.proj_out = 32;
    SslSessionConfig {
        ssl: c,
        stop_after,
        record: json!({ "ssl": true }),
    }
}

#[test]
fn gated_ssl_resume_equals_the_uninterrupted_run_and_exports_the_gates() {
    let split = data(128, 160);
    let mut whole = Memory::default();
    let s = SslSession::new(ssl(Gating::Independent, 2, None), &split.train).unwrap();
    let SslOutcome::Complete(summary) = s.run(&split, &mut whole).unwrap() else {
        panic!("complete");
    };
    assert_eq!(
        whole.checkpoints.len(),
        3,
        "two epochs and the final snapshot"
    );
    assert_eq!(whole.summaries[0]["complete"], false);
    assert_eq!(whole.summaries[2]["complete"], true);
    assert_eq!(summary.trace.as_deref(), Some("memory"));
    assert_eq!(summary.resumed_from_epoch, None);
    assert!(summary.gate_sparsity.is_some() && summary.stage_gate_sparsity.is_some());
    let [trace] = whole.traces.as_slice() else {
        panic!("one trace");
    };
    assert_eq!(trace.samples, 8);
    assert_eq!(trace.masks.samples(), 8);
    assert_eq!(trace.network.gated().count(), 6);
    assert_eq!(trace.provenance.epoch, 2);
    assert_eq!(
        whole.metrics[2].last().unwrap().knn_accuracy,
        Some(summary.knn_accuracy),
        "the final kNN replaces the last epoch's"
    );

    let mut first = Memory::default();
    let s = SslSession::new(ssl(Gating::Independent, 2, Some(1)), &split.train).unwrap();
    assert_eq!(
        s.run(&split, &mut first).unwrap(),
        SslOutcome::Stopped { epochs: 1 }
    );
    assert!(first.traces.is_empty(), "no trace before the run completes");
    let resume = Resume::check(first.checkpoints.pop().unwrap(), &json!({ "ssl": true })).unwrap();
    let mut rest = Memory::default();
    let mut s = SslSession::new(ssl(Gating::Independent, 2, None), &split.train).unwrap();
    s.resume(resume).unwrap();
    let SslOutcome::Complete(resumed) = s.run(&split, &mut rest).unwrap() else {
        panic!("complete");
    };
    assert_eq!(resumed.resumed_from_epoch, Some(1));
    assert_eq!(rest.traces[0].masks, trace.masks, "bit-identical gates");
    assert_eq!(
        whole.checkpoints.last().unwrap().tensors,
        rest.checkpoints.last().unwrap().tensors
    );
    assert_eq!(resumed.knn_accuracy, summary.knn_accuracy);
    assert_eq!(resumed.linear_accuracy, summary.linear_accuracy);
}

#[test]
fn diverging_runs_stop_with_non_finite_after_the_last_good_snapshot() {
    let split = data(256, 64);
    let mut cfg = supervised(1, None, json!({}));
    cfg.config.options.lr = 1e30;
    let mut seen = Memory::default();
    let e = SupervisedSession::new(cfg, &split.train)
        .unwrap()
        .run(&split, &mut seen)
        .unwrap_err();
    assert!(matches!(e, TrainError::NonFinite { epoch: 1, .. }), "{e}");
    assert!(seen.checkpoints.is_empty());

    let mut cfg = ssl(Gating::None, 1, None);
    cfg.ssl.options.lr = 1e30;
    cfg.ssl.options.objective = Objective::Simclr;
    let proj_out = cfg.ssl.proj_out;
    cfg.ssl = SslConfig::new(cfg.ssl.model.clone(), cfg.ssl.options.clone()).unwrap();
    cfg.ssl.proj_out = proj_out;
    let e = SslSession::new(cfg, &split.train)
        .unwrap()
        .run(&split, &mut Memory::default())
        .unwrap_err();
    assert!(matches!(e, TrainError::NonFinite { .. }), "{e}");
}

/// An observer whose files cannot be written.
struct Broken;

impl Observer for Broken {
    fn save(&mut self, _: &Snapshot<'_>) -> Result<(), ObserverError> {
        Err("disk full: metrics.csv".into())
    }

    fn save_trace(&mut self, _: GateTrace) -> Result<String, ObserverError> {
        Err("disk full".into())
    }
}

#[test]
fn an_observer_error_ends_the_run_with_its_message() {
    let split = data(128, 64);
    let e = SupervisedSession::new(supervised(1, None, json!({})), &split.train)
        .unwrap()
        .run(&split, &mut Broken)
        .unwrap_err();
    assert!(matches!(e, TrainError::Output(_)));
    assert_eq!(e.to_string(), "disk full: metrics.csv");
}

/// `summary.json` was written from `serde_json::Value` maps, which keep keys sorted; the typed
/// summaries must serialize to the same bytes.
fn assert_sorted_keys<T: serde::Serialize>(typed: &T) {
    let direct = serde_json::to_vec_pretty(typed).unwrap();
    let via_value = serde_json::to_vec_pretty(&serde_json::to_value(typed).unwrap()).unwrap();
    assert_eq!(
        String::from_utf8(direct).unwrap(),
        String::from_utf8(via_value).unwrap()
    );
}

#[test]
fn summaries_serialize_with_sorted_keys() {
    let split = data(128, 160);
    let mut seen = Memory::default();
    SslSession::new(ssl(Gating::Dual, 1, None), &split.train)
        .unwrap()
        .run(&split, &mut seen)
        .unwrap();
    let mut sup = Memory::default();
    SupervisedSession::new(
        supervised(1, None, json!({ "b": 1, "a": [2] })),
        &split.train,
    )
    .unwrap()
    .run(&split, &mut sup)
    .unwrap();
    for m in [&seen, &sup] {
        assert_eq!(m.summary_bytes.len(), m.summary_value_bytes.len());
        for (direct, via_value) in m.summary_bytes.iter().zip(&m.summary_value_bytes) {
            assert_eq!(
                String::from_utf8_lossy(direct),
                String::from_utf8_lossy(via_value)
            );
        }
    }
    assert_sorted_keys(&seen.traces[0].provenance);
    assert!(matches!(
        serde_json::from_slice::<Value>(&seen.summary_bytes[1]).unwrap()["layers"][1]["calibration"],
        Value::Object(_)
    ));
    // The untagged summary is the inner struct, not a tagged enum.
    let s: Value = serde_json::from_slice(&sup.summary_bytes[0]).unwrap();
    assert!(s.get("Supervised").is_none() && s.get("data").is_some());
}

/// `--init-from`: a dense run's weights start a gated run; the floor is still the random
/// network's; other architectures are refused naming the tensor and both shapes.
#[test]
fn gated_ssl_starts_from_a_dense_checkpoint_and_keeps_the_random_floor() {
    let split = data(128, 160);
    // A dense run (SimSiam, tiny), one epoch: its final checkpoint is the source.
    let mut dense = Memory::default();
    let s = SslSession::new(ssl(Gating::None, 1, None), &split.train).unwrap();
    s.run(&split, &mut dense).unwrap();
    let source = dense.checkpoints.pop().unwrap();
    let backbone = source.backbone_weights(json!({ "from": "test" }));
    assert!(
        backbone
            .tensors
            .iter()
            .all(|t| !t.name.starts_with("projector.") && !t.name.starts_with("predictor."))
    );
    assert!(backbone.tensors.len() < source.tensors.len() / 2);
    let conv = |c: &Checkpoint| {
        c.tensors
            .iter()
            .find(|t| t.name == "layer2.0.conv1.weight")
            .unwrap()
            .value
            .clone()
    };

    let gated = |knn_init: bool| {
        let mut c = ssl(Gating::Dual, 1, None);
        c.ssl.options.knn_init = knn_init;
        c.ssl.options.seed = 9;
        c
    };
    // Without init: the floor of the random network at seed 9.
    let mut plain = Memory::default();
    let s = SslSession::new(gated(true), &split.train).unwrap();
    let SslOutcome::Complete(plain_summary) = s.run(&split, &mut plain).unwrap() else {
        panic!("not complete");
    };
    // With init: the same floor, but training starts from the dense weights.
    let mut init = Memory::default();
    let mut s = SslSession::new(gated(true), &split.train).unwrap();
    let fresh = s.init_from(backbone.clone()).unwrap();
    assert!(
        fresh.iter().any(|n| n == "layer2.0.conv1.gate.threshold"),
        "{fresh:?}"
    );
    assert!(
        fresh.iter().any(|n| n.starts_with("projector.")),
        "{fresh:?}"
    );
    let SslOutcome::Complete(init_summary) = s.run(&split, &mut init).unwrap() else {
        panic!("not complete");
    };
    assert_eq!(
        init_summary.init_knn_accuracy, plain_summary.init_knn_accuracy,
        "the floor is measured before the weights are loaded"
    );
    assert!(init_summary.init_knn_accuracy.is_some());
    // One epoch of fine-tuning moves the weights only a little away from the source's,
    // and far less than the distance between two random initialisations.
    let dist = |a: &ndarray::ArrayD<f32>, b: &ndarray::ArrayD<f32>| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f32>()
            .sqrt()
    };
    let src = conv(&source);
    let from_init = dist(&conv(&init.checkpoints[0]), &src);
    let from_plain = dist(&conv(&plain.checkpoints[0]), &src);
    assert!(from_init < 0.5 * from_plain, "{from_init} vs {from_plain}");

    // A full dense checkpoint (heads and momentum included) loads as well.
    let mut s = SslSession::new(gated(false), &split.train).unwrap();
    let fresh = s.init_from(source.clone()).unwrap();
    assert!(fresh.iter().all(|n| n.contains(".gate.")), "{fresh:?}");

    // Another architecture: the error names the tensor and both shapes.
    let mut wide = gated(false);
    wide.ssl.model = ResNetConfig::resnet18_cifar(0.25, 1, None);
    let mut s = SslSession::new(wide, &split.train).unwrap();
    let e = s.init_from(backbone.clone()).unwrap_err().to_string();
    assert!(e.contains("conv1.weight"), "{e}");
    assert!(
        e.contains("[8, 1, 3, 3] in the checkpoint but [16, 1, 3, 3] in this model"),
        "{e}"
    );
    // A checkpoint with a tensor the model lacks.
    let mut extra = backbone.clone();
    let mut t = extra.tensors[0].clone();
    t.name = "layer9.0.conv1.weight".into();
    extra.tensors.push(t);
    let mut s = SslSession::new(gated(false), &split.train).unwrap();
    let e = s.init_from(extra).unwrap_err().to_string();
    assert!(e.contains("layer9.0.conv1.weight"), "{e}");
    // A checkpoint missing a backbone tensor.
    let mut missing = backbone;
    missing
        .tensors
        .retain(|t| t.name != "layer3.0.conv2.weight");
    let mut s = SslSession::new(gated(false), &split.train).unwrap();
    let e = s.init_from(missing).unwrap_err().to_string();
    assert!(e.contains("no tensor `layer3.0.conv2.weight`"), "{e}");
}

/// Pins: the metrics rows a checkpoint header holds lost their last digit when read back
/// (`gate_sparsity` 0.11508178710937499 became 0.115081787109375), so a resumed run rewrote
/// the earlier rows of metrics.csv differently.
#[test]
fn metrics_rows_read_back_from_a_checkpoint_keep_every_bit() {
    let split = data(256, 64);
    let mut first = Memory::default();
    let s = SupervisedSession::new(supervised(2, Some(1), json!({})), &split.train).unwrap();
    s.run(&split, &mut first).unwrap();
    let mut ckpt = first.checkpoints.pop().unwrap();
    let hard = [
        0.11508178710937499,
        0.1 + 0.2,
        1.0 / 3.0,
        5e-324,
        0.9999999999999999,
    ];
    let mut rows: Vec<MetricsRow> = serde_json::from_value(ckpt.meta["metrics"].clone()).unwrap();
    for (i, &v) in hard.iter().enumerate() {
        rows.push(MetricsRow {
            epoch: 2 + i,
            loss: v,
            test_accuracy: Some(v),
            knn_accuracy: None,
            gate_sparsity: Some(v),
            images_per_s: v,
            lr: v,
        });
    }
    ckpt.meta["metrics"] = serde_json::to_value(&rows).unwrap();
    let back = Checkpoint::from_bytes(&ckpt.to_bytes()).unwrap();
    let resume = Resume::check(back, &json!({})).unwrap();
    let bits = |r: &[MetricsRow]| -> Vec<u64> {
        r.iter()
            .flat_map(|r| [r.loss, r.gate_sparsity.unwrap_or(0.0), r.lr, r.images_per_s])
            .map(f64::to_bits)
            .collect()
    };
    assert_eq!(bits(resume.rows()), bits(&rows));
}
