//! The supervised objective as a step of the epoch loop ([`SupervisedStep`]): per epoch test
//! accuracy, a metrics row and the summary; and a throughput benchmark of training steps.

use super::{EpochStats, MetricsRow, Observer, Session, Step, Summary};
use crate::data::{DataSplit, Dataset, Normalization};
use crate::error::{Result, TrainError};
use crate::ssl::Objective;
use crate::train::{EpochReport, SupervisedConfig, SupervisedTrainer, supervised_step};
use cdg_core::Macs;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::Value;
use std::time::Instant;

/// Everything a supervised session runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct SupervisedSessionConfig {
    pub config: SupervisedConfig,
    /// Stop after this many completed epochs as if interrupted (tests of resume).
    pub stop_after: Option<usize>,
    /// The run's options as recorded in checkpoints and summaries (`plan`; the CLI's is
    /// [`crate::TrainOptions::record`]); resuming needs the same record.
    pub record: Value,
}

/// `summary.json` of a supervised run, rewritten after every epoch. Fields in alphabetical
/// order, as written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SupervisedSummary {
    /// The data set's name.
    pub data: String,
    pub epochs: usize,
    /// The last epoch's training throughput.
    pub images_per_s: Option<f64>,
    /// Always [`Objective::Supervised`].
    pub objective: Objective,
    pub plan: Value,
    pub test_accuracy: f64,
    pub train_accuracy: f64,
}

/// How a supervised session ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SupervisedOutcome {
    /// Stopped after `epochs` completed epochs (`stop_after`); the last snapshot is resumable.
    Stopped { epochs: usize },
    /// Finished after `epochs`; the last test accuracy (none if no epoch ever ran).
    Complete {
        epochs: usize,
        test_accuracy: Option<f64>,
    },
}

/// The supervised objective as a [`Step`] of the epoch loop: test accuracy after every
/// epoch.
#[derive(Debug)]
pub struct SupervisedStep {
    trainer: SupervisedTrainer,
    /// This invocation's last test and training accuracy.
    last: Option<(f64, f64)>,
}

/// A supervised run from its first (or resumed) epoch to its last.
pub type SupervisedSession = Session<SupervisedStep>;

impl Session<SupervisedStep> {
    /// A fresh run on `train` (normalisation statistics from `train`).
    pub fn new(config: SupervisedSessionConfig, train: &Dataset) -> Result<Self> {
        let trainer = SupervisedTrainer::new(config.config, train)?;
        Ok(Session::with_step(
            SupervisedStep {
                trainer,
                last: None,
            },
            config.stop_after,
            config.record,
        ))
    }
}

impl Step for SupervisedStep {
    type Trainer = SupervisedTrainer;
    type Outcome = SupervisedOutcome;

    fn trainer(&mut self) -> &mut SupervisedTrainer {
        &mut self.trainer
    }

    fn trainer_ref(&self) -> &SupervisedTrainer {
        &self.trainer
    }

    fn epochs(&self) -> usize {
        self.trainer.config.options.epochs
    }

    fn evaluate(
        &mut self,
        data: &DataSplit,
        sums: &EpochStats,
        seconds: f64,
    ) -> Result<MetricsRow> {
        let report = EpochReport::of(sums);
        let acc = self.trainer.evaluate(&data.test)?;
        self.last = Some((acc, report.train_accuracy));
        Ok(MetricsRow {
            epoch: report.epoch,
            loss: report.loss,
            test_accuracy: Some(acc),
            knn_accuracy: None,
            gate_sparsity: None,
            images_per_s: report.images as f64 / seconds,
            lr: report.lr,
        })
    }

    fn summary(&self, data: &DataSplit, rows: &[MetricsRow], record: &Value) -> Summary {
        let (test_accuracy, train_accuracy) = self.last.unwrap_or_default();
        Summary::Supervised(SupervisedSummary {
            data: data.name().to_owned(),
            epochs: self.trainer.epoch,
            images_per_s: rows.last().map(|r| r.images_per_s),
            objective: Objective::Supervised,
            plan: record.clone(),
            test_accuracy,
            train_accuracy,
        })
    }

    fn finish(
        &mut self,
        _data: &DataSplit,
        rows: &mut Vec<MetricsRow>,
        _record: &Value,
        _observer: &mut dyn Observer,
    ) -> Result<SupervisedOutcome> {
        Ok(SupervisedOutcome::Complete {
            epochs: self.trainer.epoch,
            test_accuracy: self
                .last
                .map(|l| l.0)
                .or(rows.last().and_then(|r| r.test_accuracy)),
        })
    }

    fn stopped(epochs: usize) -> SupervisedOutcome {
        SupervisedOutcome::Stopped { epochs }
    }
}

/// The throughput of [`bench_supervised`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchReport {
    /// Timed steps (after one warm-up step).
    pub steps: usize,
    pub seconds: f64,
    pub images_per_s: f64,
    /// Forward MACs of one 32×32 image.
    pub macs_per_image: Macs,
}

/// Times `steps` supervised training steps of `config`'s model on one batch of `config.batch`
/// random 32×32 images with `channels` channels (10 classes, learning rate 0.01), after one
/// warm-up step.
pub fn bench_supervised(
    config: &SupervisedConfig,
    channels: usize,
    steps: usize,
) -> Result<BenchReport> {
    if steps == 0 || channels == 0 {
        return Err(TrainError::config(
            "bench",
            "expected at least 1 step and 1 channel",
        ));
    }
    let mut cfg = config.clone();
    cfg.options.epochs = 1;
    cfg.options.warmup_epochs = 0;
    let batch = cfg.options.batch;
    let seed = cfg.options.seed;
    let mut trainer =
        SupervisedTrainer::with_normalization(cfg, batch, Normalization::identity(channels))?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let x = ndarray::Array4::<f32>::from_shape_simple_fn((batch, channels, 32, 32), || {
        rng.random_range(-1.0..1.0)
    });
    let labels: Vec<usize> = (0..batch).map(|i| i % 10).collect();
    let macs_per_image = trainer.model.macs_per_image(32, 32)?;
    supervised_step(
        &mut trainer.model,
        &mut trainer.opt,
        x.view(),
        &labels,
        0.01,
    )?;
    let start = Instant::now();
    for _ in 0..steps {
        supervised_step(
            &mut trainer.model,
            &mut trainer.opt,
            x.view(),
            &labels,
            0.01,
        )?;
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(BenchReport {
        steps,
        seconds,
        images_per_s: (steps * batch) as f64 / seconds,
        macs_per_image,
    })
}
