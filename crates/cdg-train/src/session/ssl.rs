//! The SSL session (docs/training.md §7, §9, §10): per epoch a metrics row, a checkpoint and a
//! progress summary; kNN every `knn_every` epochs and after the last, always with calibrated
//! evaluation gates (the training thresholds are restored afterwards). At the end:
//! calibration, evaluation sparsity and cost on the test split, kNN and linear probe, the
//! final summary, and for gated runs the evaluation gates of the first `trace_samples` test
//! images.

use super::{EpochStats, MetricsRow, Observer, Session, Snapshot, Step, Summary, meta, save};
use crate::data::{DataSplit, Dataset};
use crate::error::{Result, TrainError};
use crate::eval::ProbeConfig;
use crate::ssl::{
    EpochReport, EvalGates, Gating, LayerCalibration, Objective, SslConfig, SslTrainer,
};
use cdg_core::{MaskSet, Network};
use ndarray::{ArrayD, s};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Instant;

/// Everything an SSL session runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct SslSessionConfig {
    /// The model, objective and every option (epochs, batch, seed, calibration samples,
    /// `knn_every`, `knn_init`, `trace_samples`, `probe_epochs`).
    pub ssl: SslConfig,
    /// Stop after this many completed epochs as if interrupted (tests of resume).
    pub stop_after: Option<usize>,
    /// The run's options as recorded in checkpoints and summaries (`plan`; the CLI's is
    /// [`crate::TrainOptions::record`]); resuming needs the same record.
    pub record: Value,
}

/// `summary.json` of an SSL run between epochs. Fields in alphabetical order, as written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SslProgressSummary {
    /// Always `false`: the run has not finished.
    pub complete: bool,
    pub epochs: usize,
    /// The latest kNN accuracy measured.
    pub knn_accuracy: Option<f64>,
    pub objective: Objective,
    pub plan: Value,
    pub train_gate_sparsity: Option<f64>,
}

/// Calibration of one gated layer, as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationSummary {
    /// Achieved evaluation sparsity on the calibration images.
    pub achieved: f64,
    /// Largest tied mass at a threshold.
    pub max_tied_fraction: f64,
}

/// One layer of the final summary (per test image). Fields in alphabetical order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerSummary {
    pub calibration: Option<CalibrationSummary>,
    pub gate_ops: u64,
    pub gate_sparsity: Option<f64>,
    pub gated: bool,
    pub macs_base: u64,
    pub macs_dense: u64,
    pub macs_needed: f64,
    pub name: String,
}

/// `summary.json` of a finished SSL run. Fields in alphabetical order, as written; MAC and
/// gate-op counts are per test image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SslSummary {
    /// Always `true`.
    pub complete: bool,
    /// The data set's name.
    pub data: String,
    pub epochs: usize,
    /// Dense MACs / needed MACs over the whole network.
    pub flops_reduction: f64,
    pub gate_ops_per_image: u64,
    /// Evaluation gate sparsity on the test split (gated runs).
    pub gate_sparsity: Option<f64>,
    /// FLOPs reduction of the gated layers alone.
    pub gated_layers_flops_reduction: f64,
    pub gating: Gating,
    /// Mean of the epochs' training throughput.
    pub images_per_s: f64,
    /// kNN accuracy of the initial network (`knn_init`).
    pub init_knn_accuracy: Option<f64>,
    pub knn_accuracy: f64,
    pub layers: Vec<LayerSummary>,
    pub linear_accuracy: f64,
    pub macs_dense_per_image: u64,
    pub macs_needed_per_image: f64,
    pub objective: Objective,
    pub plan: Value,
    /// The epoch a resumed run continued from (`None` for a run in one go).
    pub resumed_from_epoch: Option<usize>,
    /// Element-weighted evaluation sparsity per stage (`layer1` … `layer4`; gated runs).
    pub stage_gate_sparsity: Option<BTreeMap<String, f64>>,
    /// Where the observer stored the evaluation gates (gated runs).
    pub trace: Option<String>,
    /// The last epoch's training gate sparsity (gated runs).
    pub train_gate_sparsity: Option<f64>,
    /// The same per branch.
    pub train_gate_sparsity_branches: [Option<f64>; 2],
    /// Training wall time, summed over the invocations of a resumed run.
    pub train_seconds: f64,
}

/// Provenance of exported evaluation gates. Fields in alphabetical order; the writer may add
/// its own keys (tool, command, commit).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceProvenance {
    /// The calibration target: the evaluation gate sparsity calibration aimed at.
    pub calibration_target: Option<f64>,
    /// The run's options record.
    pub config: Value,
    pub data: String,
    pub epoch: usize,
    pub first_test_images: usize,
    pub flops_reduction: f64,
    /// The calibrated evaluation gate sparsity measured on the test split.
    pub gate_sparsity: f64,
    /// What the masks are: `calibrated evaluation gates`.
    pub gates: &'static str,
    /// kNN accuracy of the randomly initialised network (the floor), when measured.
    pub init_knn_accuracy: Option<f64>,
    pub knn_accuracy: f64,
    pub linear_accuracy: f64,
    pub seed: u64,
    /// The split the images come from: `test`.
    pub split: &'static str,
}

/// The calibrated evaluation gates of the first `samples` test images, as a network and masks
/// (a trace's content).
#[derive(Debug, Clone, PartialEq)]
pub struct GateTrace {
    pub network: Network,
    pub masks: MaskSet,
    pub samples: usize,
    pub provenance: TraceProvenance,
}

/// How an SSL session ended.
#[derive(Debug, Clone, PartialEq)]
pub enum SslOutcome {
    /// Stopped after `epochs` completed epochs (`stop_after`); the last snapshot is resumable.
    Stopped { epochs: usize },
    /// Finished; the summary as saved.
    Complete(Box<SslSummary>),
}

/// The SSL objectives as a [`Step`] of the epoch loop: kNN every `knn_every` epochs and
/// after the last, and at the end calibration, evaluation gates, cost, kNN, linear probe and
/// the exported gates.
#[derive(Debug)]
pub struct SslStep {
    trainer: SslTrainer,
    /// Weights to start from, applied when the run starts (after the random-initialisation
    /// floor is measured).
    init: Option<crate::checkpoint::Checkpoint>,
    /// The floor: kNN accuracy of the random network (`knn_init`).
    init_knn: Option<f64>,
    last_train_sparsity: Option<f64>,
    branch: [Option<f64>; 2],
    resumed_from_epoch: Option<usize>,
    /// Training wall time of the earlier invocations of a resumed run.
    earlier_seconds: f64,
    started: Instant,
}

/// What an SSL run keeps in its checkpoints besides the weights and the metrics rows, so that
/// a resumed run (also one resumed after its last epoch) reports what an uninterrupted one
/// does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SslState {
    /// The last epoch's training gate sparsity per branch.
    train_gate_sparsity_branches: [Option<f64>; 2],
    /// Training wall time so far, over every invocation.
    train_seconds: f64,
}

impl SslStep {
    /// Training wall time over every invocation, up to now.
    fn train_seconds(&self) -> f64 {
        self.earlier_seconds + self.started.elapsed().as_secs_f64()
    }
}

/// An SSL run from its first (or resumed) epoch to its final evaluation.
pub type SslSession = Session<SslStep>;

impl Session<SslStep> {
    /// A fresh run on `train` (normalisation statistics from `train`).
    pub fn new(config: SslSessionConfig, train: &Dataset) -> Result<Self> {
        let trainer = SslTrainer::new(config.ssl, train)?;
        let step = SslStep {
            trainer,
            init: None,
            init_knn: None,
            last_train_sparsity: None,
            branch: [None; 2],
            resumed_from_epoch: None,
            earlier_seconds: 0.0,
            started: Instant::now(),
        };
        Ok(Session::with_step(step, config.stop_after, config.record))
    }

    /// Starts a fresh run from the weights of `checkpoint` (typically a dense SSL run's
    /// backbone) instead of random ones: checked now (the same backbone, tensor for tensor;
    /// see [`crate::checkpoint::Checkpoint::load_weights`]), applied when [`Session::run`]
    /// starts, after `knn_init` has measured the random network. A resumed run already holds
    /// them and ignores this. Returns the tensors that keep fresh values (gate state, heads).
    pub fn init_from(&mut self, checkpoint: crate::checkpoint::Checkpoint) -> Result<Vec<String>> {
        let step = self.step_mut();
        let fresh = step.trainer.init_from(&checkpoint, false)?;
        step.init = Some(checkpoint);
        Ok(fresh)
    }
}

impl Step for SslStep {
    type Trainer = SslTrainer;
    type Outcome = SslOutcome;

    fn trainer(&mut self) -> &mut SslTrainer {
        &mut self.trainer
    }

    fn trainer_ref(&self) -> &SslTrainer {
        &self.trainer
    }

    fn epochs(&self) -> usize {
        self.trainer.config.options.epochs
    }

    fn begin(&mut self, data: &DataSplit, rows: &[MetricsRow]) -> Result<()> {
        let trainer = &mut self.trainer;
        if trainer.config.options.knn_init && trainer.epoch == 0 {
            self.init_knn = Some(eval_knn(trainer, data)?);
        }
        if let Some(init) = self.init.take()
            && trainer.epoch == 0
        {
            trainer.init_from(&init, true)?;
        }
        self.last_train_sparsity = rows.last().and_then(|r| r.gate_sparsity);
        self.resumed_from_epoch = (trainer.epoch > 0).then_some(trainer.epoch);
        self.started = Instant::now();
        Ok(())
    }

    fn evaluate(
        &mut self,
        data: &DataSplit,
        sums: &EpochStats,
        seconds: f64,
    ) -> Result<MetricsRow> {
        let report = EpochReport::of(sums);
        let e = report.epoch;
        let options = &self.trainer.config.options;
        let knn_due =
            options.knn_every > 0 && e.is_multiple_of(options.knn_every) || e == options.epochs;
        let knn = if knn_due {
            Some(eval_knn(&mut self.trainer, data)?)
        } else {
            None
        };
        let gated = self.trainer.is_gated();
        if gated {
            self.last_train_sparsity = Some(report.gate_sparsity);
            self.branch = [
                Some(report.branch_sparsity[0]),
                Some(report.branch_sparsity[1]),
            ];
        }
        Ok(MetricsRow {
            epoch: report.epoch,
            loss: report.loss,
            test_accuracy: None,
            knn_accuracy: knn,
            gate_sparsity: gated.then_some(report.gate_sparsity),
            images_per_s: report.images as f64 / seconds,
            lr: report.lr,
        })
    }

    fn summary(&self, _data: &DataSplit, rows: &[MetricsRow], record: &Value) -> Summary {
        Summary::SslProgress(SslProgressSummary {
            complete: false,
            epochs: self.trainer.epoch,
            knn_accuracy: rows.iter().rev().find_map(|r| r.knn_accuracy),
            objective: self.trainer.config.objective.into(),
            plan: record.clone(),
            train_gate_sparsity: self.last_train_sparsity,
        })
    }

    fn stopped(epochs: usize) -> SslOutcome {
        SslOutcome::Stopped { epochs }
    }

    fn state(&self) -> Value {
        serde_json::to_value(SslState {
            train_gate_sparsity_branches: self.branch,
            train_seconds: self.train_seconds(),
        })
        .expect("the state serializes")
    }

    fn restore_state(&mut self, state: &Value) -> Result<()> {
        // Checkpoints written before the state was kept have none.
        if state.is_null() {
            return Ok(());
        }
        let state: SslState = serde_json::from_value(state.clone())
            .map_err(|e| TrainError::Checkpoint(format!("state in the checkpoint header: {e}")))?;
        self.branch = state.train_gate_sparsity_branches;
        self.earlier_seconds = state.train_seconds;
        Ok(())
    }

    fn finish(
        &mut self,
        data: &DataSplit,
        rows: &mut Vec<MetricsRow>,
        record: &Value,
        observer: &mut dyn Observer,
    ) -> Result<SslOutcome> {
        let gated = self.trainer.is_gated();
        let trainer = &mut self.trainer;
        // Final evaluation with calibrated gates.
        let probe = ProbeConfig {
            epochs: trainer.config.options.probe_epochs,
            seed: trainer.config.options.seed,
            ..ProbeConfig::default()
        };
        let n_trace = trainer.config.options.trace_samples.min(data.test.len());
        let ((knn, linear, ev, exported), cal) = with_eval_gates(trainer, data, |t| {
            let ev = t.eval_gates(data.test.images.view())?;
            let (knn, lin) = t.knn_and_probe(&data.train, &data.test, &probe)?;
            let exported = if t.is_gated() && n_trace > 0 {
                Some(t.export_masks(data.test.images.slice(s![..n_trace, .., .., ..]))?)
            } else {
                None
            };
            Ok((knn, lin, ev, exported))
        })?;
        if let Some(last) = rows.last_mut() {
            last.knn_accuracy = Some(knn);
        }
        let trace = match exported {
            Some((network, masks)) => {
                let trace = GateTrace {
                    network,
                    masks,
                    samples: n_trace,
                    provenance: TraceProvenance {
                        calibration_target: trainer.config.options.target_sparsity,
                        config: record.clone(),
                        data: data.name().to_owned(),
                        epoch: trainer.epoch,
                        first_test_images: n_trace,
                        flops_reduction: ev.cost.flops_reduction,
                        gate_sparsity: ev.sparsity,
                        gates: "calibrated evaluation gates",
                        init_knn_accuracy: self.init_knn,
                        knn_accuracy: knn,
                        linear_accuracy: linear,
                        seed: trainer.config.options.seed,
                        split: "test",
                    },
                };
                Some(observer.save_trace(trace).map_err(TrainError::Output)?)
            }
            None => None,
        };
        let layers =
            ev.cost
                .layers
                .iter()
                .map(|l| LayerSummary {
                    calibration: cal.iter().find(|c| c.name == l.name).map(|c| {
                        CalibrationSummary {
                            achieved: c.achieved,
                            max_tied_fraction: c.max_tied,
                        }
                    }),
                    gate_ops: l.gate_ops,
                    gate_sparsity: ev.layers.iter().find(|(n, _)| n == &l.name).map(|x| x.1),
                    gated: l.gated,
                    macs_base: l.macs_base,
                    macs_dense: l.macs_dense,
                    macs_needed: l.macs_needed,
                    name: l.name.clone(),
                })
                .collect();
        let ips: Vec<f64> = rows.iter().map(|r| r.images_per_s).collect();
        let summary = SslSummary {
            complete: true,
            data: data.name().to_owned(),
            epochs: trainer.epoch,
            flops_reduction: ev.cost.flops_reduction,
            gate_ops_per_image: ev.cost.gate_ops,
            gate_sparsity: gated.then_some(ev.sparsity),
            gated_layers_flops_reduction: ev.cost.gated_reduction(),
            gating: trainer.config.options.gating,
            images_per_s: if ips.is_empty() {
                0.0
            } else {
                ips.iter().sum::<f64>() / ips.len() as f64
            },
            init_knn_accuracy: self.init_knn,
            knn_accuracy: knn,
            layers,
            linear_accuracy: linear,
            macs_dense_per_image: ev.cost.macs_dense,
            macs_needed_per_image: ev.cost.macs_needed,
            objective: trainer.config.objective.into(),
            plan: record.clone(),
            resumed_from_epoch: self.resumed_from_epoch,
            stage_gate_sparsity: gated.then(|| stage_sparsity(&ev)),
            trace,
            train_gate_sparsity: self.last_train_sparsity,
            train_gate_sparsity_branches: self.branch,
            train_seconds: self.train_seconds(),
        };
        let state = self.state();
        let checkpoint = self.trainer.checkpoint(meta(record, rows, &state));
        save(
            observer,
            &Snapshot {
                checkpoint: &checkpoint,
                metrics: rows,
                summary: &Summary::Ssl(Box::new(summary.clone())),
            },
        )?;
        Ok(SslOutcome::Complete(Box::new(summary)))
    }
}

/// Runs `f` with calibrated evaluation gates (when the run has a target sparsity), then puts
/// the training thresholds back.
fn with_eval_gates<R>(
    t: &mut SslTrainer,
    data: &DataSplit,
    f: impl FnOnce(&mut SslTrainer) -> Result<R>,
) -> Result<(R, Vec<LayerCalibration>)> {
    let saved: Vec<ArrayD<f32>> = t
        .model
        .gated()
        .iter()
        .map(|g| g.threshold.value.clone())
        .collect();
    let cal = match t.config.options.target_sparsity {
        Some(target) if t.is_gated() => {
            let n = t.config.options.calibration_samples.min(data.train.len());
            t.calibrate(data.train.images.slice(s![..n, .., .., ..]), target)?
        }
        _ => Vec::new(),
    };
    let r = f(t);
    for (g, v) in t.model.gated_mut().into_iter().zip(saved) {
        g.threshold.value = v;
    }
    Ok((r?, cal))
}

/// kNN accuracy on the test split with evaluation (calibrated) gates.
fn eval_knn(trainer: &mut SslTrainer, data: &DataSplit) -> Result<f64> {
    let (k, _) = with_eval_gates(trainer, data, |t| t.knn(&data.train, &data.test))?;
    Ok(k)
}

/// The stage of a layer name (`layer2.1.conv1` → `layer2`).
fn stage_of(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// Element-weighted sparsity per stage (`layer1` … `layer4`).
fn stage_sparsity(ev: &EvalGates) -> BTreeMap<String, f64> {
    let mut acc: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for (name, sp) in &ev.layers {
        let elems = ev
            .cost
            .layers
            .iter()
            .find(|l| &l.name == name)
            .map_or(0.0, |l| l.out_elements as f64);
        let e = acc.entry(stage_of(name).to_owned()).or_insert((0.0, 0.0));
        e.0 += sp * elems;
        e.1 += elems;
    }
    acc.into_iter()
        .map(|(k, (a, b))| (k, if b > 0.0 { a / b } else { 0.0 }))
        .collect()
}
