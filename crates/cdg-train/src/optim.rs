//! SGD with momentum and decoupled-by-kind weight decay, LARS, and learning-rate schedules.
//!
//! Weight decay applies only to parameters whose [`ParamKind::decays`] is true (conv and
//! linear weights); BatchNorm, biases and gate thresholds are exempt. Optimiser state is one
//! momentum buffer per parameter, matched by position and checked by name.

use crate::error::{Result, TrainError};
use crate::layers::Param;
use crate::scalar::Scalar;
use ndarray::{ArrayD, Zip};

/// SGD hyper-parameters (PyTorch semantics: `v ← μ·v + g + λ·w`, `w ← w − lr·v`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    pub momentum: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
    /// Layer-wise adaptive rate scaling (LARS, You et al. 2017) with this trust coefficient,
    /// applied to decayed parameters only (BN and biases keep the plain rate, as in SimCLR).
    pub lars: Option<f64>,
}

impl Default for SgdConfig {
    /// Momentum 0.9, weight decay 5e-4 (docs/training.md §7), no Nesterov, no LARS.
    fn default() -> Self {
        SgdConfig {
            momentum: 0.9,
            weight_decay: 5e-4,
            nesterov: false,
            lars: None,
        }
    }
}

/// SGD state: one momentum buffer per parameter.
#[derive(Debug, Clone)]
pub struct Sgd<T: Scalar = f32> {
    config: SgdConfig,
    names: Vec<String>,
    velocity: Vec<ArrayD<T>>,
}

impl<T: Scalar> Sgd<T> {
    /// State for `params` (zero momentum).
    pub fn new(config: SgdConfig, params: &[&Param<T>]) -> Self {
        Sgd {
            config,
            names: params.iter().map(|p| p.name().to_owned()).collect(),
            velocity: params
                .iter()
                .map(|p| ArrayD::zeros(p.value.raw_dim()))
                .collect(),
        }
    }

    pub fn config(&self) -> SgdConfig {
        self.config
    }

    /// Parameter names in the order the state was built for.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Momentum buffers, in parameter order (for checkpoints).
    pub fn velocity(&self) -> &[ArrayD<T>] {
        &self.velocity
    }
    pub fn velocity_mut(&mut self) -> &mut [ArrayD<T>] {
        &mut self.velocity
    }

    /// One update of `params` (the same parameters, in the same order, as at construction)
    /// with learning rate `lr`.
    pub fn step(&mut self, params: &mut [&mut Param<T>], lr: f64) -> Result<()> {
        if params.len() != self.names.len() {
            return Err(TrainError::config(
                "optimizer",
                format!(
                    "built for {} parameters, stepped with {}",
                    self.names.len(),
                    params.len()
                ),
            ));
        }
        let mu = T::of(self.config.momentum);
        for ((p, v), name) in params.iter_mut().zip(&mut self.velocity).zip(&self.names) {
            if p.name() != name || p.value.shape() != v.shape() {
                return Err(TrainError::config(
                    "optimizer",
                    format!(
                        "parameter `{}` {:?} where `{name}` {:?} was expected",
                        p.name(),
                        p.value.shape(),
                        v.shape()
                    ),
                ));
            }
            let decay = p.kind().decays();
            let wd = T::of(if decay { self.config.weight_decay } else { 0.0 });
            let mut local_lr = lr;
            if let (Some(eta), true) = (self.config.lars, decay) {
                let wn = p
                    .value
                    .iter()
                    .map(|x| x.as_f64() * x.as_f64())
                    .sum::<f64>()
                    .sqrt();
                let gn = p
                    .grad
                    .iter()
                    .map(|x| x.as_f64() * x.as_f64())
                    .sum::<f64>()
                    .sqrt();
                let denom = gn + self.config.weight_decay * wn;
                if wn > 0.0 && denom > 0.0 {
                    local_lr *= eta * wn / denom;
                }
            }
            let lr_t = T::of(local_lr);
            let nesterov = self.config.nesterov;
            let p = &mut **p;
            Zip::from(&mut p.value)
                .and(&p.grad)
                .and(v)
                .for_each(|w, &g, v| {
                    let g = g + wd * *w;
                    *v = mu * *v + g;
                    let upd = if nesterov { g + mu * *v } else { *v };
                    *w -= lr_t * upd;
                });
        }
        Ok(())
    }
}

/// Cosine decay from `base_lr` to `final_lr` after a linear warm-up, per optimiser step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CosineSchedule {
    pub base_lr: f64,
    pub final_lr: f64,
    /// Steps of linear warm-up from `base_lr / warmup_steps` to `base_lr`.
    pub warmup_steps: usize,
    pub total_steps: usize,
}

impl CosineSchedule {
    /// The learning rate at step `t` (0-based).
    pub fn lr(&self, t: usize) -> f64 {
        if t < self.warmup_steps {
            return self.base_lr * (t + 1) as f64 / self.warmup_steps as f64;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = ((t - self.warmup_steps) as f64 / span as f64).min(1.0);
        self.final_lr
            + 0.5 * (self.base_lr - self.final_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}
