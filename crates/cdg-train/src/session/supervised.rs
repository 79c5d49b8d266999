//! The supervised session: per epoch the training pass, test accuracy, a metrics row, a
//! checkpoint and the summary; and a throughput benchmark of training steps.

use super::{MetricsRow, Observer, Resume, Snapshot, StepProgress, Summary, meta, save};
use crate::data::{DataSplit, Dataset, Normalization};
use crate::error::{Result, TrainError};
use crate::ssl::Objective;
use crate::train::{SupervisedConfig, SupervisedTrainer, supervised_step};
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

/// A supervised run from its first (or resumed) epoch to its last.
#[derive(Debug)]
pub struct SupervisedSession {
    config: SupervisedSessionConfig,
    trainer: SupervisedTrainer,
    rows: Vec<MetricsRow>,
}

impl SupervisedSession {
    /// A fresh run on `train` (normalisation statistics from `train`).
    pub fn new(config: SupervisedSessionConfig, train: &Dataset) -> Result<Self> {
        let trainer = SupervisedTrainer::new(config.config.clone(), train)?;
        Ok(Self {
            config,
            trainer,
            rows: Vec::new(),
        })
    }

    /// Continues from a checked checkpoint of the same run.
    pub fn resume(&mut self, resume: Resume) -> Result<()> {
        self.trainer.restore(&resume.checkpoint)?;
        self.rows = resume.rows;
        Ok(())
    }

    /// Completed epochs.
    pub fn epoch(&self) -> usize {
        self.trainer.epoch
    }

    /// Trains the remaining epochs on `data.train`, measuring test accuracy on `data.test`
    /// after each and saving through `observer`. A non-finite loss stops the run with
    /// [`TrainError::NonFinite`]; the last saved snapshot is then the last good one.
    pub fn run(
        mut self,
        data: &DataSplit,
        observer: &mut dyn Observer,
    ) -> Result<SupervisedOutcome> {
        let epochs = self.config.config.options.epochs;
        let trainer = &mut self.trainer;
        let rows = &mut self.rows;
        observer.run_started(trainer.epoch, epochs, trainer.steps_per_epoch());
        let mut last_acc = None;
        while trainer.epoch < epochs {
            if self.config.stop_after.is_some_and(|s| trainer.epoch >= s) {
                observer.stopped(trainer.epoch);
                return Ok(SupervisedOutcome::Stopped {
                    epochs: trainer.epoch,
                });
            }
            let e = trainer.epoch + 1;
            observer.epoch_started(e);
            let start = Instant::now();
            let (mut seen, mut correct, mut loss_sum, mut steps) = (0usize, 0usize, 0.0, 0usize);
            let report = trainer.train_epoch(&data.train, &mut |r| {
                seen += r.images;
                correct += r.correct;
                loss_sum += r.loss;
                steps += 1;
                observer.step(&StepProgress {
                    epoch: e,
                    mean_loss: loss_sum / steps as f64,
                    accuracy: Some(correct as f64 / seen as f64),
                    gate_sparsity: None,
                    images_per_s: seen as f64 / start.elapsed().as_secs_f64(),
                });
            })?;
            let secs = start.elapsed().as_secs_f64();
            observer.epoch_trained(e);
            let acc = trainer.evaluate(&data.test)?;
            last_acc = Some(acc);
            rows.push(MetricsRow {
                epoch: report.epoch,
                loss: report.loss,
                test_accuracy: Some(acc),
                knn_accuracy: None,
                gate_sparsity: None,
                images_per_s: report.images as f64 / secs,
                lr: report.lr,
            });
            observer.epoch_finished(&rows[rows.len() - 1]);
            let checkpoint = trainer.checkpoint(meta(&self.config.record, rows));
            let summary = Summary::Supervised(SupervisedSummary {
                data: data.name().to_owned(),
                epochs: trainer.epoch,
                images_per_s: rows.last().map(|r| r.images_per_s),
                objective: Objective::Supervised,
                plan: self.config.record.clone(),
                test_accuracy: acc,
                train_accuracy: report.train_accuracy,
            });
            save(
                observer,
                &Snapshot {
                    checkpoint: &checkpoint,
                    metrics: rows,
                    summary: &summary,
                },
            )?;
        }
        Ok(SupervisedOutcome::Complete {
            epochs: trainer.epoch,
            test_accuracy: last_acc.or(rows.last().and_then(|r| r.test_accuracy)),
        })
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
