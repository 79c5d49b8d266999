//! Training sessions: the epoch loops of `cdg train`, with resume from a checkpoint, early stop
//! on a non-finite or exploding loss, per-epoch metrics rows and a typed summary
//! (docs/training.md §10).
//!
//! A session owns a trainer ([`crate::ssl::SslTrainer`] or
//! [`crate::train::SupervisedTrainer`]) and runs it to the configured number of epochs. It
//! touches no file: after every epoch, and once more at the end, it hands a [`Snapshot`]
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
    SslSessionConfig, SslSummary, TraceProvenance,
};
pub use supervised::{
    BenchReport, SupervisedOutcome, SupervisedSession, SupervisedSessionConfig, SupervisedSummary,
    bench_supervised,
};

use crate::checkpoint::Checkpoint;
use crate::error::{Result, TrainError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
        Ok(Self { checkpoint, rows })
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

/// A checkpoint header: the options record and the metrics rows so far.
fn meta(options: &Value, rows: &[MetricsRow]) -> Value {
    serde_json::json!({ "plan": options, "metrics": rows })
}

/// Saves through `observer`, wrapping its error.
fn save(observer: &mut dyn Observer, snapshot: &Snapshot<'_>) -> Result<()> {
    observer.save(snapshot).map_err(TrainError::Output)
}
