//! Training sessions: the one epoch loop of `cdg train` ([`Session`]), with resume from a
//! checkpoint, early stop on a non-finite or exploding loss, per-epoch metrics rows and a
//! typed summary (docs/training.md §10), and the one batch loop of an epoch
//! ([`train_epoch`]).
//!
//! As burn's learner does with its train and validation steps, the loops are written once and
//! the objectives plug in as steps: a trainer ([`crate::ssl::SslTrainer`],
//! [`crate::train::SupervisedTrainer`]) is a [`TrainStep`] (one optimiser step on a batch),
//! and a session step ([`SslStep`], [`SupervisedStep`]) is a [`Step`] (what happens after an
//! epoch's steps and at the end of the run). A session runs its step to the configured
//! number of epochs. It touches no file: after every epoch, and once more at the end, it hands a [`Snapshot`]
//! (checkpoint, metrics rows, summary) to an [`Observer`] that persists it, and a gated SSL
//! run hands its calibrated evaluation gates ([`GateTrace`]) to the same observer. The
//! observer also sees progress (steps, epochs) for progress bars.
//!
//! Runs are deterministic: the same config, options record, data, binary and thread count give
//! the same checkpoints and metrics, and a run stopped after epoch k and resumed from its
//! checkpoint ([`Resume`]) ends bit-identical to an uninterrupted one. The options record is
//! an opaque JSON value (the CLI's validated plan) stored in every checkpoint and summary;
//! resuming requires the same record.
//!
//! - [`SslSession`]: SimCLR / SimSiam, dense or gated, with kNN during training and, at the
//!   end, calibration, evaluation gates and cost, kNN and linear probe ([`SslSummary`]).
//! - [`SupervisedSession`]: the supervised classifier ([`SupervisedSummary`]);
//!   [`bench_supervised`] times training steps on random input.

mod ssl;
mod supervised;

pub use ssl::{
    CalibrationSummary, GateTrace, LayerSummary, SslOutcome, SslProgressSummary, SslSession,
    SslSessionConfig, SslStep, SslSummary, TraceProvenance,
};
pub use supervised::{
    BenchReport, SupervisedOutcome, SupervisedSession, SupervisedSessionConfig, SupervisedStep,
    SupervisedSummary, bench_supervised,
};

use crate::checkpoint::Checkpoint;
use crate::data::{Batch, BatchSampler, DataSplit, Dataset, Remainder};
use crate::error::{Result, TrainError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Instant;

/// What one optimiser step reports to the batch loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// The batch's loss (the total the step minimised).
    pub loss: f64,
    pub images: usize,
    /// The step's learning rate.
    pub lr: f64,
    /// Supervised steps: correct arg-max predictions in the batch.
    pub correct: Option<usize>,
    /// SSL steps: the SSL loss and γ·D, the parts of `loss` besides the threshold pull.
    pub parts: [f64; 2],
    /// Gated SSL steps: training gate sparsity of both branches.
    pub branch_sparsity: Option<[f64; 2]>,
}

/// The sums of an epoch's steps so far, added in step order (so means are reproducible).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EpochStats {
    /// The epoch (1-based).
    pub epoch: usize,
    pub steps: usize,
    pub loss: f64,
    pub images: usize,
    /// The last step's learning rate.
    pub lr: f64,
    pub correct: Option<usize>,
    pub parts: [f64; 2],
    pub branch_sparsity: Option<[f64; 2]>,
    /// Σ of each step's mean sparsity over both branches (progress bars).
    pub mean_sparsity: f64,
}

impl EpochStats {
    fn add(&mut self, r: &StepStats) {
        self.steps += 1;
        self.loss += r.loss;
        self.images += r.images;
        self.lr = r.lr;
        if let Some(c) = r.correct {
            *self.correct.get_or_insert(0) += c;
        }
        self.parts[0] += r.parts[0];
        self.parts[1] += r.parts[1];
        if let Some([a, b]) = r.branch_sparsity {
            let sum = self.branch_sparsity.get_or_insert([0.0; 2]);
            sum[0] += a;
            sum[1] += b;
            self.mean_sparsity += 0.5 * (a + b);
        }
    }

    /// A sum over the epoch's steps as a mean per step.
    pub fn per_step(&self, sum: f64) -> f64 {
        sum / self.steps.max(1) as f64
    }

    /// Training accuracy so far (supervised steps).
    pub fn accuracy(&self) -> Option<f64> {
        self.correct.map(|c| c as f64 / self.images.max(1) as f64)
    }
}

/// One optimiser step on a batch, and the counters around it: what a trainer implements for
/// the batch loop ([`train_epoch`]).
pub trait TrainStep {
    /// Completed epochs.
    fn epochs_done(&self) -> usize;
    /// Optimiser steps per epoch (the last partial batch is dropped).
    fn steps_per_epoch(&self) -> usize;
    /// The batch size and the seed of the shuffled batch order.
    fn batching(&self) -> (usize, u64);
    /// One optimiser step on a batch of raw images; a non-finite loss is
    /// [`TrainError::NonFinite`] with the 1-based epoch and step.
    fn train_batch(&mut self, batch: &Batch) -> Result<StepStats>;
    /// Marks the epoch complete.
    fn finish_epoch(&mut self);
    /// The state after the last completed epoch; `meta` describes the run.
    fn checkpoint(&self, meta: Value) -> Checkpoint;
    /// Continues from `checkpoint` (written by [`TrainStep::checkpoint`] of the same run).
    fn restore(&mut self, checkpoint: &Checkpoint) -> Result<()>;
}

/// The one batch loop: trains the next epoch of `trainer` on `train` (batches in the shuffled
/// order of (seed, epoch)), calling `on_step` with the sums so far after each step.
pub fn train_epoch<T: TrainStep + ?Sized>(
    trainer: &mut T,
    train: &Dataset,
    on_step: &mut dyn FnMut(&EpochStats),
) -> Result<EpochStats> {
    let (batch, seed) = trainer.batching();
    let epoch = trainer.epochs_done();
    let sampler = BatchSampler::shuffled(train.len(), batch, seed, epoch as u64, Remainder::Drop)
        .map_err(|e| TrainError::config("batch", e))?;
    let mut sums = EpochStats {
        epoch: epoch + 1,
        ..EpochStats::default()
    };
    for idx in sampler {
        let batch = train
            .batch(&idx)
            .map_err(|e| TrainError::config("data", e))?;
        let r = trainer.train_batch(&batch)?;
        sums.add(&r);
        on_step(&sums);
    }
    trainer.finish_epoch();
    Ok(sums)
}

/// What an objective adds to the epoch loop of a [`Session`]: its trainer, the evaluation
/// after each epoch (the metrics row and the summary), and the end of the run.
pub trait Step {
    type Trainer: TrainStep;
    /// How a run ends (stopped or complete, with the objective's result).
    type Outcome;
    fn trainer(&mut self) -> &mut Self::Trainer;
    fn trainer_ref(&self) -> &Self::Trainer;
    /// The configured number of epochs.
    fn epochs(&self) -> usize;
    /// Called once before the first epoch of this invocation (fresh or resumed), with the
    /// metrics rows of the epochs already done.
    fn begin(&mut self, _data: &DataSplit, _rows: &[MetricsRow]) -> Result<()> {
        Ok(())
    }
    /// After epoch `sums.epoch`'s steps (taking `seconds`): the evaluation and its row.
    fn evaluate(&mut self, data: &DataSplit, sums: &EpochStats, seconds: f64)
    -> Result<MetricsRow>;
    /// `summary.json` after an epoch, `rows` including the epoch's.
    fn summary(&self, data: &DataSplit, rows: &[MetricsRow], record: &Value) -> Summary;
    /// After the last epoch: the final evaluation and snapshot, if any.
    fn finish(
        &mut self,
        data: &DataSplit,
        rows: &mut Vec<MetricsRow>,
        record: &Value,
        observer: &mut dyn Observer,
    ) -> Result<Self::Outcome>;
    /// The outcome of a run stopped after `epochs` (`stop_after`).
    fn stopped(epochs: usize) -> Self::Outcome;
    /// What a resumed run needs besides the weights and the metrics rows, stored in every
    /// checkpoint (null: nothing).
    fn state(&self) -> Value {
        Value::Null
    }
    /// Takes back [`Step::state`] from the checkpoint a run resumes from.
    fn restore_state(&mut self, _state: &Value) -> Result<()> {
        Ok(())
    }
}

/// A run from its first (or resumed) epoch to its last: the one epoch loop. After every epoch
/// it saves a [`Snapshot`] through the observer; the step's [`Step::finish`] ends the run.
#[derive(Debug)]
pub struct Session<S: Step> {
    step: S,
    rows: Vec<MetricsRow>,
    stop_after: Option<usize>,
    record: Value,
}

impl<S: Step> Session<S> {
    /// A session of `step`; `record` goes into every checkpoint and summary (`plan`).
    pub fn with_step(step: S, stop_after: Option<usize>, record: Value) -> Self {
        Self {
            step,
            rows: Vec::new(),
            stop_after,
            record,
        }
    }

    /// The session's step.
    pub fn step(&self) -> &S {
        &self.step
    }

    fn step_mut(&mut self) -> &mut S {
        &mut self.step
    }

    /// Continues from a checked checkpoint of the same run.
    pub fn resume(&mut self, resume: Resume) -> Result<()> {
        self.step.trainer().restore(&resume.checkpoint)?;
        self.step.restore_state(&resume.state)?;
        self.rows = resume.rows;
        Ok(())
    }

    /// Completed epochs.
    pub fn epoch(&self) -> usize {
        self.step.trainer_ref().epochs_done()
    }

    /// Trains the remaining epochs on `data.train`, evaluating on `data.test` after each and
    /// saving through `observer`, then ends the run ([`Step::finish`]). A non-finite or
    /// exploding loss stops the run with [`TrainError::NonFinite`]; the last saved snapshot
    /// is then the last good one.
    pub fn run(mut self, data: &DataSplit, observer: &mut dyn Observer) -> Result<S::Outcome> {
        let epochs = self.step.epochs();
        self.step.begin(data, &self.rows)?;
        let done = self.epoch();
        observer.run_started(done, epochs, self.step.trainer_ref().steps_per_epoch());
        loop {
            let done = self.epoch();
            // `stop_after` = `epochs` stops after the last epoch's snapshot, before the end of
            // the run: a run killed there.
            if self.stop_after.is_some_and(|s| done >= s) {
                observer.stopped(done);
                return Ok(S::stopped(done));
            }
            if done >= epochs {
                break;
            }
            let e = done + 1;
            observer.epoch_started(e);
            let start = Instant::now();
            let sums = train_epoch(self.step.trainer(), &data.train, &mut |sums| {
                observer.step(&StepProgress {
                    epoch: e,
                    mean_loss: sums.per_step(sums.loss),
                    accuracy: sums.accuracy(),
                    gate_sparsity: sums
                        .branch_sparsity
                        .map(|_| sums.per_step(sums.mean_sparsity)),
                    images_per_s: sums.images as f64 / start.elapsed().as_secs_f64(),
                });
            })?;
            let secs = start.elapsed().as_secs_f64();
            observer.epoch_trained(e);
            let row = self.step.evaluate(data, &sums, secs)?;
            self.rows.push(row);
            observer.epoch_finished(&self.rows[self.rows.len() - 1]);
            let checkpoint = self.step.trainer_ref().checkpoint(meta(
                &self.record,
                &self.rows,
                &self.step.state(),
            ));
            let summary = self.step.summary(data, &self.rows, &self.record);
            save(
                observer,
                &Snapshot {
                    checkpoint: &checkpoint,
                    metrics: &self.rows,
                    summary: &summary,
                },
            )?;
        }
        self.step
            .finish(data, &mut self.rows, &self.record, observer)
    }
}

/// One row of `metrics.csv`: the schema shared by every objective (empty where a column does
/// not apply).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsRow {
    pub epoch: usize,
    pub loss: f64,
    /// Supervised runs: top-1 accuracy on the test split after the epoch.
    pub test_accuracy: Option<f64>,
    /// SSL runs: kNN accuracy with calibrated evaluation gates, when it was measured.
    pub knn_accuracy: Option<f64>,
    /// Gated SSL runs: the epoch's mean training gate sparsity over both branches.
    pub gate_sparsity: Option<f64>,
    pub images_per_s: f64,
    pub lr: f64,
}

/// The summary a [`Snapshot`] carries: `summary.json`'s content at that point of the run.
/// Each variant serializes as its own struct, keys in alphabetical order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Summary {
    /// An SSL run after an epoch (`complete: false`).
    SslProgress(SslProgressSummary),
    /// A finished SSL run.
    Ssl(Box<SslSummary>),
    /// A supervised run after an epoch.
    Supervised(SupervisedSummary),
}

/// What an observer persists after every epoch and at the end of a run.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot<'a> {
    /// The state after the last completed epoch (its header holds the options record and the
    /// metrics rows, so a resumed run continues the same `metrics.csv`).
    pub checkpoint: &'a Checkpoint,
    /// Every epoch's row so far (resumed rows included).
    pub metrics: &'a [MetricsRow],
    pub summary: &'a Summary,
}

/// Progress within an epoch, after each optimiser step. Means are over the epoch's steps so
/// far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepProgress {
    /// The epoch being trained (1-based).
    pub epoch: usize,
    pub mean_loss: f64,
    /// Supervised runs: training accuracy so far.
    pub accuracy: Option<f64>,
    /// Gated SSL runs: training gate sparsity so far (mean over both branches).
    pub gate_sparsity: Option<f64>,
    /// Images per second since the epoch started.
    pub images_per_s: f64,
}

/// An error of an [`Observer`] (typically a file that cannot be written); a session returns
/// it as [`TrainError::Output`].
pub type ObserverError = Box<dyn std::error::Error + Send + Sync>;

/// Persists a session's outputs and follows its progress. The progress methods default to
/// doing nothing; the CLI implements them with progress bars and the persistence with atomic
/// file writes.
pub trait Observer {
    /// The run starts with `done` of `epochs` epochs behind it (a resumed run), each of
    /// `steps_per_epoch` steps.
    fn run_started(&mut self, _done: usize, _epochs: usize, _steps_per_epoch: usize) {}
    /// Epoch `epoch` (1-based) starts.
    fn epoch_started(&mut self, _epoch: usize) {}
    /// One optimiser step has finished.
    fn step(&mut self, _progress: &StepProgress) {}
    /// Epoch `epoch`'s training steps have finished (evaluation follows).
    fn epoch_trained(&mut self, _epoch: usize) {}
    /// Epoch `row.epoch` is complete; `row` is its metrics row.
    fn epoch_finished(&mut self, _row: &MetricsRow) {}
    /// The run stops early after `epochs` completed epochs, as configured (`stop_after`).
    fn stopped(&mut self, _epochs: usize) {}
    /// Persists a snapshot: called after every epoch and once more when the run finishes.
    fn save(&mut self, snapshot: &Snapshot<'_>) -> Result<(), ObserverError>;
    /// Persists the calibrated evaluation gates of a finished gated SSL run; returns where
    /// they went (the summary's `trace`).
    fn save_trace(&mut self, trace: GateTrace) -> Result<String, ObserverError>;
}

/// A checkpoint checked to belong to this run, with the metrics rows stored in its header.
#[derive(Debug, Clone)]
pub struct Resume {
    checkpoint: Checkpoint,
    rows: Vec<MetricsRow>,
    /// The step's state beyond the rows ([`Step::state`]; null when it keeps none).
    state: Value,
}

impl Resume {
    /// Checks that `checkpoint` was written by a run with the options record `options` and
    /// takes the metrics rows from its header.
    pub fn check(checkpoint: Checkpoint, options: &Value) -> Result<Self> {
        let stored = checkpoint.meta.get("plan").cloned().unwrap_or_default();
        if stored != *options {
            return Err(TrainError::ResumeMismatch {
                stored: stored.to_string(),
                now: options.to_string(),
            });
        }
        let rows =
            serde_json::from_value(checkpoint.meta.get("metrics").cloned().unwrap_or_default())
                .map_err(|e| {
                    TrainError::Checkpoint(format!("metrics in the checkpoint header: {e}"))
                })?;
        let state = checkpoint.meta.get("state").cloned().unwrap_or_default();
        Ok(Self {
            checkpoint,
            rows,
            state,
        })
    }

    /// Epochs the checkpoint has completed.
    pub fn epoch(&self) -> usize {
        self.checkpoint.epoch
    }

    /// The metrics rows of the completed epochs.
    pub fn rows(&self) -> &[MetricsRow] {
        &self.rows
    }
}

/// A checkpoint header: the options record, the metrics rows so far and, when the step keeps
/// any, the step's state beyond the rows ([`Step::state`]).
fn meta(options: &Value, rows: &[MetricsRow], state: &Value) -> Value {
    let mut meta = serde_json::json!({ "plan": options, "metrics": rows });
    if !state.is_null() {
        meta["state"] = state.clone();
    }
    meta
}

/// Saves through `observer`, wrapping its error.
fn save(observer: &mut dyn Observer, snapshot: &Snapshot<'_>) -> Result<()> {
    observer.save(snapshot).map_err(TrainError::Output)
}
