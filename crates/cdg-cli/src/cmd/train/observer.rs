//! The training session's observer: writes checkpoint, metrics, summary and trace into
//! `--out` (atomically, through `cdg-io`) and draws the progress bars.

use crate::ui::Ui;
use anyhow::bail;
use cdg_io::layout::train::{CHECKPOINT_FILE, METRICS_CSV, SUMMARY_JSON, TRACE_DIR};
use cdg_io::output::{OutputDir, Outputs};
use cdg_io::trace::{Trace, commit_trace};
use cdg_train::TrainError;
use cdg_train::session::{GateTrace, MetricsRow, Observer, ObserverError, Snapshot, StepProgress};
use indicatif::ProgressBar;
use std::path::PathBuf;

/// How progress is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One bar over every step of the run.
    Supervised,
    /// One bar per epoch, and a line per finished epoch.
    Ssl,
}

/// Persists a training run into its output directory and draws its progress. The directory is
/// locked for the run and its record says `writing` until [`TrainOutputs::finish`]; each
/// snapshot's checkpoint, metrics and summary are staged and renamed into place (each file
/// whole), and the trace is an output directory of its own (docs/formats.md §5).
#[derive(Debug)]
pub struct TrainOutputs<'a> {
    dir: &'a mut OutputDir,
    out: PathBuf,
    ui: &'a Ui,
    mode: Mode,
    epochs: usize,
    steps_per_epoch: u64,
    bar: Option<ProgressBar>,
}

impl<'a> TrainOutputs<'a> {
    pub fn new(dir: &'a mut OutputDir, ui: &'a Ui, mode: Mode) -> Self {
        Self {
            out: dir.path().to_owned(),
            dir,
            ui,
            mode,
            epochs: 0,
            steps_per_epoch: 0,
            bar: None,
        }
    }

    /// The session's result, with a divergence turned into a message that says which
    /// checkpoint is kept.
    pub fn outcome<R>(&mut self, result: Result<R, TrainError>) -> anyhow::Result<R> {
        match result {
            Ok(r) => Ok(r),
            Err(TrainError::NonFinite { loss, epoch, step }) => {
                if let Some(bar) = &self.bar {
                    bar.abandon();
                }
                let ckpt = self.out.join(CHECKPOINT_FILE);
                let kept = if ckpt.exists() {
                    format!(
                        "the last good checkpoint (epoch {}) is kept in {}",
                        epoch - 1,
                        ckpt.display()
                    )
                } else {
                    "no checkpoint had been written yet".to_owned()
                };
                bail!(
                    "training diverged: loss {loss} at epoch {epoch}, step {step}; {kept}. Try a smaller --lr."
                );
            }
            Err(e @ TrainError::Output(_)) => Err(e.into()),
            Err(e) => Err(anyhow::Error::new(e).context("training")),
        }
    }

    /// Clears the bar of a finished run and marks the output directory complete.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.dir.finish()?;
        Ok(())
    }
}

impl Observer for TrainOutputs<'_> {
    fn run_started(&mut self, done: usize, epochs: usize, steps_per_epoch: usize) {
        self.epochs = epochs;
        self.steps_per_epoch = steps_per_epoch as u64;
        if self.mode == Mode::Supervised {
            let bar = self.ui.bar(epochs as u64 * self.steps_per_epoch, "train");
            bar.set_position(done as u64 * self.steps_per_epoch);
            self.bar = Some(bar);
        }
    }

    fn epoch_started(&mut self, epoch: usize) {
        if self.mode == Mode::Ssl {
            let what = format!("epoch {epoch}/{}", self.epochs);
            self.bar = Some(self.ui.bar(self.steps_per_epoch, &what));
        }
    }

    fn step(&mut self, p: &StepProgress) {
        let Some(bar) = &self.bar else { return };
        bar.inc(1);
        match self.mode {
            Mode::Supervised => bar.set_message(format!(
                "epoch {} loss {:.3} acc {:.1}% {:.0} img/s",
                p.epoch,
                p.mean_loss,
                100.0 * p.accuracy.unwrap_or(0.0),
                p.images_per_s
            )),
            Mode::Ssl => {
                let sp = p
                    .gate_sparsity
                    .map_or(String::new(), |s| format!(" sparsity {s:.3}"));
                bar.set_message(format!(
                    "loss {:.4}{sp} {:.0} img/s",
                    p.mean_loss, p.images_per_s
                ));
            }
        }
    }

    fn epoch_trained(&mut self, _epoch: usize) {
        if self.mode == Mode::Ssl
            && let Some(bar) = &self.bar
        {
            bar.finish_and_clear();
        }
    }

    fn epoch_finished(&mut self, r: &MetricsRow) {
        if self.mode == Mode::Ssl && self.ui.bars_enabled() {
            let knn = r
                .knn_accuracy
                .map_or(String::new(), |k| format!(" kNN {:.2}%", 100.0 * k));
            let sp = r
                .gate_sparsity
                .map_or(String::new(), |s| format!(" sparsity {s:.3}"));
            eprintln!(
                "epoch {} loss {:.4}{sp}{knn} {:.0} img/s",
                r.epoch, r.loss, r.images_per_s
            );
        }
    }

    fn stopped(&mut self, epochs: usize) {
        if let Some(bar) = &self.bar
            && self.mode == Mode::Supervised
        {
            bar.abandon_with_message(format!("stopped after epoch {epochs}"));
        }
    }

    fn save(&mut self, s: &Snapshot<'_>) -> Result<(), ObserverError> {
        let mut files = Outputs::new();
        files.add(CHECKPOINT_FILE, s.checkpoint.to_bytes());
        files.add(
            METRICS_CSV,
            cdg_io::csv_out::csv_text(&self.out.join(METRICS_CSV), s.metrics)?,
        );
        files.add(SUMMARY_JSON, serde_json::to_vec_pretty(s.summary)?);
        self.dir.update(&files)?;
        Ok(())
    }

    fn save_trace(&mut self, t: GateTrace) -> Result<String, ObserverError> {
        let mut provenance = serde_json::to_value(&t.provenance)?;
        if let Some(map) = provenance.as_object_mut() {
            map.insert(
                "tool".to_owned(),
                format!("cdg {}", env!("CARGO_PKG_VERSION")).into(),
            );
            map.insert("command".to_owned(), "cdg train".into());
        }
        let trace = Trace {
            network: t.network,
            masks: Some(t.masks),
            samples: t.samples,
            provenance,
        };
        // Recorded in the run's directory before it is written, so a replacing run removes it.
        self.dir.claim_dir(TRACE_DIR)?;
        let dir = self.out.join(TRACE_DIR);
        let mut trace_dir = OutputDir::create(&dir, &cdg_io::layout::trace::KIND)?;
        commit_trace(&mut trace_dir, &trace, true)?;
        Ok(dir.display().to_string())
    }
}
