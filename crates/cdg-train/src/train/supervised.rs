//! Supervised training of a ResNet classifier with softmax cross-entropy.
//!
//! Determinism: batches come from [`crate::data::BatchSampler::shuffled`] (a function of seed and epoch),
//! augmentation draws from one ChaCha8 generator whose state is checkpointed, and every kernel
//! reduces in a fixed order, so a run resumed from an epoch checkpoint produces the same bits
//! as an uninterrupted one (same binary and thread count).

use crate::checkpoint::Checkpoint;
use crate::data::{AugmentConfig, Augmenter, Batch, Dataset, Normalization};
use crate::error::{Result, TrainError};
use crate::layers::{Mode, Module};
use crate::models::{ResNet, ResNetConfig};
use crate::ops;
use crate::optim::{CosineSchedule, Sgd};
use crate::options::TrainOptions;
use crate::session::{EpochStats, StepStats, TrainStep};
use ndarray::{ArrayView4, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Everything that determines a supervised run besides the data: the backbone (with its
/// classifier) and the run's options (epochs, batch, learning rate and warm-up, SGD, seed,
/// `augment`: padded random crop + flip, the CIFAR recipe).
#[derive(Debug, Clone, PartialEq)]
pub struct SupervisedConfig {
    pub model: ResNetConfig,
    pub options: TrainOptions,
}

/// What one optimiser step saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// Mean cross-entropy of the batch.
    pub loss: f64,
    /// Correct arg-max predictions in the batch.
    pub correct: usize,
    pub images: usize,
    pub lr: f64,
}

/// Summary of one epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochReport {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches.
    pub loss: f64,
    /// Training accuracy (on augmented images), in [0, 1].
    pub train_accuracy: f64,
    pub images: usize,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
}

impl EpochReport {
    /// The epoch's means from its sums.
    pub fn of(sums: &EpochStats) -> Self {
        EpochReport {
            epoch: sums.epoch,
            loss: sums.per_step(sums.loss),
            train_accuracy: sums.accuracy().unwrap_or(0.0),
            images: sums.images,
            lr: sums.lr,
        }
    }
}

/// Forward, cross-entropy, backward and one SGD step on one batch. The step is not applied
/// when the loss is not finite (the caller gets [`TrainError::NonFinite`]).
pub fn supervised_step(
    model: &mut ResNet<f32>,
    opt: &mut Sgd<f32>,
    images: ArrayView4<'_, f32>,
    labels: &[usize],
    lr: f64,
) -> Result<StepReport> {
    let logits = model.forward(images, Mode::Train)?;
    let ce = ops::softmax_cross_entropy(logits.view(), labels);
    if !ce.loss.is_finite() {
        return Err(TrainError::NonFinite {
            loss: ce.loss,
            epoch: 0,
            step: 0,
        });
    }
    model.zero_grad();
    model.backward(ce.dlogits.view())?;
    opt.step(&mut model.params_mut(), lr)?;
    Ok(StepReport {
        loss: ce.loss,
        correct: ce.correct,
        images: labels.len(),
        lr,
    })
}

/// Top-1 accuracy in [0, 1] of `model` (evaluation mode) on already-normalised `images`.
pub fn evaluate_accuracy(
    model: &mut ResNet<f32>,
    images: ArrayView4<'_, f32>,
    labels: &[u8],
    batch: usize,
) -> Result<f64> {
    if labels.is_empty() {
        return Ok(0.0);
    }
    let mut correct = 0usize;
    for (chunk, lab) in images
        .axis_chunks_iter(Axis(0), batch.max(1))
        .zip(labels.chunks(batch.max(1)))
    {
        let logits = model.forward(chunk, Mode::Eval)?;
        for (row, &l) in logits.axis_iter(Axis(0)).zip(lab) {
            let mut best = 0;
            for (j, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = j;
                }
            }
            correct += usize::from(best == usize::from(l));
        }
    }
    Ok(correct as f64 / labels.len() as f64)
}

/// A supervised run: model, optimiser, schedule, augmentation and counters.
#[derive(Debug)]
pub struct SupervisedTrainer {
    pub config: SupervisedConfig,
    pub model: ResNet<f32>,
    pub opt: Sgd<f32>,
    pub schedule: CosineSchedule,
    pub augmenter: Augmenter,
    /// Completed epochs.
    pub epoch: usize,
    /// Completed optimiser steps.
    pub step: usize,
    /// Augmentation randomness (checkpointed).
    pub rng: ChaCha8Rng,
    steps_per_epoch: usize,
}

impl SupervisedTrainer {
    /// A fresh run on `train` (which fixes the normalisation statistics and steps per epoch).
    pub fn new(config: SupervisedConfig, train: &Dataset) -> Result<Self> {
        Self::with_normalization(config, train.len(), Normalization::fit(train.images.view()))
    }

    /// A fresh run for `train_len` training images with the given normalisation.
    pub fn with_normalization(
        config: SupervisedConfig,
        train_len: usize,
        normalization: Normalization,
    ) -> Result<Self> {
        if config.options.is_ssl() {
            return Err(TrainError::config(
                "objective",
                format!(
                    "the supervised trainer runs supervised; {} runs use ssl::SslTrainer",
                    config.options.objective
                ),
            ));
        }
        config.options.validate()?;
        config.model.validate()?;
        if train_len < config.options.batch {
            return Err(TrainError::config(
                "batch",
                format!(
                    "{} is larger than the {train_len} training images",
                    config.options.batch
                ),
            ));
        }
        let mut init = ChaCha8Rng::seed_from_u64(config.options.seed);
        let model = ResNet::<f32>::new(&config.model, &mut init)?;
        let opt = Sgd::new(config.options.sgd(), &model.params());
        let steps_per_epoch = train_len / config.options.batch;
        let schedule = CosineSchedule {
            base_lr: config.options.lr,
            final_lr: 0.0,
            warmup_steps: config.options.warmup_epochs * steps_per_epoch,
            total_steps: config.options.epochs * steps_per_epoch,
        };
        let aug = if config.options.augment {
            AugmentConfig::supervised()
        } else {
            AugmentConfig::none()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(config.options.seed);
        rng.set_stream(1);
        Ok(SupervisedTrainer {
            augmenter: Augmenter::new(aug, normalization),
            model,
            opt,
            schedule,
            epoch: 0,
            step: 0,
            rng,
            steps_per_epoch,
            config,
        })
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.steps_per_epoch
    }

    /// Trains one epoch ([`crate::session::train_epoch`]); `on_step` sees the epoch's sums
    /// after each step (progress bars).
    pub fn train_epoch(
        &mut self,
        train: &Dataset,
        on_step: &mut dyn FnMut(&EpochStats),
    ) -> Result<EpochReport> {
        let sums = crate::session::train_epoch(self, train, on_step)?;
        Ok(EpochReport::of(&sums))
    }

    /// Test accuracy (no augmentation, evaluation mode).
    pub fn evaluate(&mut self, test: &Dataset) -> Result<f64> {
        let x = self
            .augmenter
            .eval_view(test.images.view())
            .map_err(|e| TrainError::config("data", e))?;
        evaluate_accuracy(&mut self.model, x.view(), &test.labels, 256)
    }

    /// The run's state after the last completed epoch; `meta` describes the run.
    pub fn checkpoint(&self, meta: serde_json::Value) -> Checkpoint {
        Checkpoint::capture(
            &[&self.model],
            &[&self.opt],
            self.epoch,
            self.step,
            &self.rng,
            meta,
        )
    }

    /// Continues from `ckpt` (written by [`SupervisedTrainer::checkpoint`] of the same config).
    pub fn restore(&mut self, ckpt: &Checkpoint) -> Result<()> {
        ckpt.restore(&mut [&mut self.model], &mut [&mut self.opt])?;
        self.epoch = ckpt.epoch;
        self.step = ckpt.step;
        self.rng = ckpt.rng.to_rng();
        Ok(())
    }
}

impl TrainStep for SupervisedTrainer {
    fn epochs_done(&self) -> usize {
        self.epoch
    }

    fn steps_per_epoch(&self) -> usize {
        self.steps_per_epoch
    }

    fn batching(&self) -> (usize, u64) {
        (self.config.options.batch, self.config.options.seed)
    }

    fn train_batch(&mut self, batch: &Batch) -> Result<StepStats> {
        let (x, _) = self
            .augmenter
            .view(batch.images.view(), &mut self.rng)
            .map_err(|e| TrainError::config("data", e))?;
        let labels: Vec<usize> = batch.labels.iter().map(|&l| usize::from(l)).collect();
        let lr = self.schedule.lr(self.step);
        let r = supervised_step(&mut self.model, &mut self.opt, x.view(), &labels, lr).map_err(
            |e| match e {
                TrainError::NonFinite { loss, .. } => TrainError::NonFinite {
                    loss,
                    epoch: self.epoch + 1,
                    step: self.step + 1,
                },
                other => other,
            },
        )?;
        self.step += 1;
        Ok(StepStats {
            loss: r.loss,
            images: r.images,
            lr: r.lr,
            correct: Some(r.correct),
            parts: [0.0; 2],
            branch_sparsity: None,
        })
    }

    fn finish_epoch(&mut self) {
        self.epoch += 1;
    }

    fn checkpoint(&self, meta: serde_json::Value) -> Checkpoint {
        SupervisedTrainer::checkpoint(self, meta)
    }

    fn restore(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        SupervisedTrainer::restore(self, checkpoint)
    }
}
