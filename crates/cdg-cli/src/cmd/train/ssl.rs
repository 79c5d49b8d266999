//! `cdg train --objective simclr|simsiam`: contrastive SSL with optional gating
//! (docs/training.md §7, §10), run by `cdg_train::session::SslSession`.
//!
//! Per epoch: one progress bar (loss, training gate sparsity of both branches, images/s),
//! a metrics.csv row, an atomic checkpoint. kNN every `--knn-every` epochs and at the end,
//! always with calibrated evaluation gates. At the end: calibration, evaluation sparsity and
//! cost on the test split, kNN and linear probe, `summary.json`, and for gated runs the trace
//! `DIR/trace/` of the evaluation gates of `--trace-samples` test images.

use super::observer::{Mode, TrainOutputs};
use super::{TrainPlan, load_data, read_resume};
use crate::ui::Ui;
use anyhow::Context;
use cdg_io::layout::train::{CHECKPOINT_FILE, SUMMARY_JSON};
use cdg_io::output::OutputDir;
use cdg_train::checkpoint::Checkpoint;
use cdg_train::session::{SslOutcome, SslSession, SslSessionConfig};
use cdg_train::ssl::SslConfig;
use std::process::ExitCode;

impl TrainPlan {
    /// The SSL run for `side`×`side` images with `in_channels` channels.
    pub(super) fn ssl_config(&self, in_channels: usize, side: usize) -> anyhow::Result<SslConfig> {
        let model = self.options.model_config(in_channels, side, None);
        let c = SslConfig::new(model, self.options.clone())?;
        // The trainer names its keys as config keys; name them as the user gave them.
        c.validate().map_err(|e| match e {
            cdg_train::TrainError::Config { key, reason } => {
                anyhow::anyhow!("{}: {reason}", self.name(&key))
            }
            other => anyhow::Error::new(other),
        })?;
        Ok(c)
    }
}

pub(super) fn run_ssl(plan: &TrainPlan, out: &mut OutputDir, ui: &Ui) -> anyhow::Result<ExitCode> {
    let split = load_data(plan)?;
    plan.check_data(&split)?;
    let config = SslSessionConfig {
        ssl: plan.ssl_config(split.train.channels(), split.train.height())?,
        stop_after: plan.stop_after,
        record: plan.record(),
    };
    let mut session = SslSession::new(config, &split.train).context("setting up training")?;
    if let Some(path) = &plan.options.init_from
        && !plan.resume
    {
        let context = || format!("{} {}", plan.name("init_from"), path.display());
        let bytes = cdg_io::limits::read_input(path).with_context(context)?;
        let checkpoint = Checkpoint::from_bytes(&bytes).with_context(context)?;
        session.init_from(checkpoint).with_context(context)?;
    }
    if let Some(resume) = read_resume(plan)? {
        session
            .resume(resume)
            .with_context(|| format!("--resume: {}", plan.out.join(CHECKPOINT_FILE).display()))?;
    }
    out.begin(plan.resume)?;
    let mut outputs = TrainOutputs::new(out, ui, Mode::Ssl);
    let outcome = session.run(&split, &mut outputs);
    let SslOutcome::Complete(s) = outputs.outcome(outcome)? else {
        return Ok(ExitCode::SUCCESS);
    };
    outputs.finish()?;
    let sp = match s.gate_sparsity {
        Some(sparsity) => format!(
            ", gate sparsity {sparsity:.3}, FLOPs reduction {:.2}×",
            s.flops_reduction
        ),
        None => String::new(),
    };
    eprintln!(
        "after {} epochs: kNN {:.2}%, linear {:.2}%{sp} ({})",
        s.epochs,
        100.0 * s.knn_accuracy,
        100.0 * s.linear_accuracy,
        plan.out.join(SUMMARY_JSON).display()
    );
    Ok(ExitCode::SUCCESS)
}
