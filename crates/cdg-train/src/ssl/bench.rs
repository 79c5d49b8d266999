//! Throughput of SSL training steps: what `cdg train --objective simclr --bench-steps N`
//! reports and `scripts/bench_pytorch.py` compares with PyTorch.

use crate::data::{BatchSampler, Dataset, Remainder};
use crate::error::{Result, TrainError};
use crate::ssl::{SslConfig, SslTrainer};
use std::time::Instant;

/// The throughput of [`bench_ssl`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SslBenchReport {
    /// Timed steps (after one warm-up step).
    pub steps: usize,
    pub seconds: f64,
    /// Augmented views (2 per image) per second.
    pub views_per_s: f64,
    /// Training-time gate sparsity of the timed steps (both branches), for gated runs.
    pub gate_sparsity: Option<f64>,
}

/// Times `steps` SSL training steps of `config` on batches of `train` (augmentation, forward,
/// loss, backward and the SGD step: [`SslTrainer::train_step`]), after one warm-up step.
///
/// The sparsity ramp is switched off (`ramp_fraction = 0`) so that scheduled thresholds sit
/// at the target sparsity from the first step, as they do for most of a real run.
pub fn bench_ssl(config: &SslConfig, train: &Dataset, steps: usize) -> Result<SslBenchReport> {
    if steps == 0 {
        return Err(TrainError::config("bench", "expected at least 1 step"));
    }
    let mut cfg = config.clone();
    cfg.ramp_fraction = 0.0;
    cfg.options.warmup_epochs = 0;
    cfg.options.epochs = cfg.options.epochs.max(1);
    let mut trainer = SslTrainer::new(cfg, train)?;
    let batch = trainer.config.options.batch;
    let mut batches = Vec::with_capacity(steps + 1);
    let mut epoch = 0u64;
    while batches.len() < steps + 1 {
        let sampler = BatchSampler::shuffled(
            train.len(),
            batch,
            config.options.seed,
            epoch,
            Remainder::Drop,
        )
        .map_err(|e| TrainError::config("batch", e))?;
        for idx in sampler.take(steps + 1 - batches.len()) {
            batches.push(
                train
                    .batch(&idx)
                    .map_err(|e| TrainError::config("data", e))?
                    .images,
            );
        }
        epoch += 1;
    }
    trainer.train_step(batches[0].view())?;
    let mut sparsity = 0.0;
    let start = Instant::now();
    for b in &batches[1..] {
        let r = trainer.train_step(b.view())?;
        sparsity += 0.5 * (r.branch_sparsity[0] + r.branch_sparsity[1]);
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(SslBenchReport {
        steps,
        seconds,
        views_per_s: (2 * steps * batch) as f64 / seconds,
        gate_sparsity: trainer.is_gated().then(|| sparsity / steps as f64),
    })
}
