//! Linear probe: softmax regression on frozen, precomputed features, trained by
//! deterministic mini-batch SGD with momentum and a cosine learning-rate schedule.
//!
//! Features are standardised with the training features' per-dimension mean and standard
//! deviation (a fixed affine map, as the BatchNorm-without-affine in front of MAE/MoCo v3
//! probes), which makes one learning rate work across backbones.

use ndarray::{Array1, Array2, ArrayView2, Axis};

use super::{EvalError, accuracy, argmax_rows, check_labels, shape_error};
use crate::data::epoch_permutation;

/// Probe training settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeConfig {
    /// Passes over the training features.
    pub epochs: usize,
    /// Mini-batch size (the last, smaller batch of an epoch is kept).
    pub batch: usize,
    /// Peak learning rate; decays to 0 by a cosine over all steps.
    pub lr: f32,
    /// SGD momentum (PyTorch convention: v ← μv + g, w ← w − lr·v).
    pub momentum: f32,
    /// L2 weight decay on the weights (not the bias).
    pub weight_decay: f32,
    /// Seed of the per-epoch shuffles.
    pub seed: u64,
    /// Standardise features with training statistics before the linear layer.
    pub standardize: bool,
}

impl Default for ProbeConfig {
    /// 100 epochs (docs/training.md §9), batch 256, lr 0.1, momentum 0.9, no weight decay.
    fn default() -> Self {
        ProbeConfig {
            epochs: 100,
            batch: 256,
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.0,
            seed: 0,
            standardize: true,
        }
    }
}

/// A trained linear classifier on standardised features.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearProbe {
    /// Weights, classes × feature dimensions.
    pub weight: Array2<f32>,
    /// Bias per class.
    pub bias: Array1<f32>,
    /// Feature mean subtracted before the linear layer.
    pub mean: Array1<f32>,
    /// Feature standard deviation divided out before the linear layer.
    pub std: Array1<f32>,
}

/// The outcome of training and testing a probe.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeReport {
    /// Top-1 accuracy on the training features, in [0, 1].
    pub train_accuracy: f64,
    /// Top-1 accuracy on the test features, in [0, 1].
    pub test_accuracy: f64,
    /// Mean cross-entropy over the last epoch's batches.
    pub final_loss: f64,
}

impl LinearProbe {
    fn standardized(&self, features: ArrayView2<'_, f32>) -> Result<Array2<f32>, EvalError> {
        if features.ncols() != self.mean.len() {
            return Err(shape_error(
                "LinearProbe",
                format!(
                    "features have {} dimensions, the probe {}",
                    features.ncols(),
                    self.mean.len()
                ),
            ));
        }
        Ok((&features - &self.mean) / &self.std)
    }

    /// Class scores (N × classes).
    pub fn logits(&self, features: ArrayView2<'_, f32>) -> Result<Array2<f32>, EvalError> {
        let x = self.standardized(features)?;
        Ok(x.dot(&self.weight.t()) + &self.bias)
    }

    /// Predicted classes.
    pub fn predict(&self, features: ArrayView2<'_, f32>) -> Result<Vec<u8>, EvalError> {
        Ok(argmax_rows(self.logits(features)?.view())
            .into_iter()
            .map(|c| c as u8)
            .collect())
    }
}

fn feature_stats(x: ArrayView2<'_, f32>, standardize: bool) -> (Array1<f32>, Array1<f32>) {
    let d = x.ncols();
    if !standardize {
        return (Array1::zeros(d), Array1::ones(d));
    }
    let n = x.nrows().max(1) as f64;
    let mut mean = Array1::<f32>::zeros(d);
    let mut std = Array1::<f32>::ones(d);
    for (j, col) in x.axis_iter(Axis(1)).enumerate() {
        let m = col.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = col.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / n;
        mean[j] = m as f32;
        std[j] = if var.sqrt() > 1e-6 {
            var.sqrt() as f32
        } else {
            1.0
        };
    }
    (mean, std)
}

/// Trains a probe on `features` (N × D) with `labels`; returns it and the last epoch's mean
/// loss.
pub fn train_linear_probe(
    features: ArrayView2<'_, f32>,
    labels: &[u8],
    classes: usize,
    config: &ProbeConfig,
) -> Result<(LinearProbe, f64), EvalError> {
    const OP: &str = "train_linear_probe";
    if features.nrows() != labels.len() {
        return Err(shape_error(
            OP,
            format!(
                "{} feature rows but {} labels",
                features.nrows(),
                labels.len()
            ),
        ));
    }
    if features.nrows() == 0 {
        return Err(shape_error(OP, "no training features"));
    }
    if classes == 0
        || classes > 256
        || config.batch == 0
        || config.epochs == 0
        || config.lr.is_nan()
        || config.lr <= 0.0
    {
        return Err(EvalError::Config {
            op: OP,
            message: format!(
                "classes = {classes}, batch = {}, epochs = {}, lr = {}: expected classes in 1..=256 and the rest > 0",
                config.batch, config.epochs, config.lr
            ),
        });
    }
    check_labels(OP, labels, classes)?;
    let (mean, std) = feature_stats(features, config.standardize);
    let mut probe = LinearProbe {
        weight: Array2::zeros((classes, features.ncols())),
        bias: Array1::zeros(classes),
        mean,
        std,
    };
    let x = probe.standardized(features)?;
    let n = x.nrows();
    let steps_per_epoch = n.div_ceil(config.batch);
    let total_steps = (steps_per_epoch * config.epochs) as f64;
    let mut vel_w = Array2::<f32>::zeros(probe.weight.raw_dim());
    let mut vel_b = Array1::<f32>::zeros(classes);
    let mut step = 0usize;
    let mut last_epoch_loss = 0.0f64;
    for epoch in 0..config.epochs {
        let order = epoch_permutation(n, config.seed, epoch as u64);
        let mut loss_sum = 0.0f64;
        for chunk in order.chunks(config.batch) {
            let lr = (0.5
                * f64::from(config.lr)
                * (1.0 + (std::f64::consts::PI * step as f64 / total_steps).cos()))
                as f32;
            let xb = x.select(Axis(0), chunk);
            let mut g = xb.dot(&probe.weight.t()) + &probe.bias;
            let inv_b = 1.0 / chunk.len() as f32;
            for (mut row, &i) in g.rows_mut().into_iter().zip(chunk) {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                row.mapv_inplace(|v| (v - max).exp());
                let sum: f32 = row.sum();
                row.mapv_inplace(|v| v / sum);
                let y = usize::from(labels[i]);
                loss_sum -= f64::from(row[y].max(1e-30)).ln();
                row[y] -= 1.0;
                row.mapv_inplace(|v| v * inv_b);
            }
            let grad_w = g.t().dot(&xb) + &(&probe.weight * config.weight_decay);
            let grad_b = g.sum_axis(Axis(0));
            vel_w = &vel_w * config.momentum + &grad_w;
            vel_b = &vel_b * config.momentum + &grad_b;
            probe.weight.scaled_add(-lr, &vel_w);
            probe.bias.scaled_add(-lr, &vel_b);
            step += 1;
        }
        last_epoch_loss = loss_sum / n as f64;
    }
    Ok((probe, last_epoch_loss))
}

/// Trains a probe on the training features and reports train and test accuracy.
pub fn linear_probe(
    train_features: ArrayView2<'_, f32>,
    train_labels: &[u8],
    test_features: ArrayView2<'_, f32>,
    test_labels: &[u8],
    classes: usize,
    config: &ProbeConfig,
) -> Result<ProbeReport, EvalError> {
    if test_features.nrows() != test_labels.len() {
        return Err(shape_error(
            "linear_probe",
            format!(
                "{} test feature rows but {} labels",
                test_features.nrows(),
                test_labels.len()
            ),
        ));
    }
    let (probe, final_loss) = train_linear_probe(train_features, train_labels, classes, config)?;
    Ok(ProbeReport {
        train_accuracy: accuracy(&probe.predict(train_features)?, train_labels)?,
        test_accuracy: accuracy(&probe.predict(test_features)?, test_labels)?,
        final_loss,
    })
}
