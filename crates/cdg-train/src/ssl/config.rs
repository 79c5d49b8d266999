//! The SSL run description: objective, gating, thresholds, budget.

use crate::error::{Result, TrainError};
use crate::gating::{CondCompute, ConsistencyAlign, GateConfig, Granularity, ThresholdMode};
use crate::models::ResNetConfig;
use std::fmt;
use std::str::FromStr;

/// Training objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Objective {
    /// Softmax cross-entropy on the labels.
    Supervised,
    /// SimCLR: NT-Xent over both views (2B batch), τ = 0.2.
    Simclr,
    /// SimSiam: predictor, stop-gradient, negative cosine.
    Simsiam,
}

/// Gate coupling between the two branches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Gating {
    /// Dense network.
    None,
    /// Plain channel gating in each branch (γ = 0): the baseline.
    Independent,
    /// CDG: each branch gated by its own saliency plus the gate-consistency loss.
    Dual,
}

/// How thresholds are trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ThresholdKind {
    /// Learnable Δ with an L2 pull to the threshold target (channel gating's recipe).
    Learned,
    /// Per-step quantile of the batch's saliency with a cubic ramp to the target sparsity.
    Scheduled,
}

macro_rules! str_enum {
    ($t:ty, $key:literal, $($v:path => $s:literal),+) => {
        impl FromStr for $t {
            type Err = TrainError;
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($s => Ok($v),)+
                    other => Err(TrainError::config(
                        $key,
                        format!("expected one of {}, found `{other}`", [$($s),+].join(", ")),
                    )),
                }
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let s = match self { $($v => $s,)+ };
                f.write_str(s)
            }
        }
    };
}
str_enum!(Objective, "objective", Objective::Simclr => "simclr", Objective::Simsiam => "simsiam", Objective::Supervised => "supervised");
str_enum!(Gating, "gating", Gating::None => "none", Gating::Independent => "independent", Gating::Dual => "dual");
str_enum!(Granularity, "granularity", Granularity::Unstructured => "unstructured", Granularity::Structured => "structured");
str_enum!(ThresholdKind, "threshold", ThresholdKind::Learned => "learned", ThresholdKind::Scheduled => "scheduled");
str_enum!(ConsistencyAlign, "consistency_align", ConsistencyAlign::Pooled => "pooled", ConsistencyAlign::Geometric => "geometric");

/// Everything an SSL run depends on (the same seed and config give the same run).
#[derive(Debug, Clone, PartialEq)]
pub struct SslConfig {
    /// Backbone (no classifier).
    pub model: ResNetConfig,
    pub objective: Objective,
    pub gating: Gating,
    pub granularity: Granularity,
    pub gate_block: [usize; 3],
    /// Evaluation sparsity target (calibration) and the scheduled thresholds' final quantile.
    pub target_sparsity: Option<f64>,
    pub threshold: ThresholdKind,
    /// Δ_target of the learned thresholds' L2 pull.
    pub threshold_target: f64,
    /// λ of the L2 pull.
    pub threshold_lambda: f64,
    /// γ of the gate-consistency loss (dual gating only).
    pub gate_consistency: f64,
    pub consistency_align: ConsistencyAlign,
    pub base_partitions: usize,
    /// Training forwards skip the conditional convolution of gated-off blocks more than this
    /// margin below their threshold ([`CondCompute::Skip`]); `None` computes it densely
    /// ([`CondCompute::Masked`]).
    pub train_skip_margin: Option<f64>,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub warmup_epochs: usize,
    pub weight_decay: f64,
    /// SGD momentum of the backbone, projector and predictor.
    pub momentum: f64,
    pub seed: u64,
    /// Fraction of training over which the scheduled sparsity ramps up.
    pub ramp_fraction: f64,
    /// NT-Xent temperature.
    pub temperature: f64,
    /// Hidden width of projector and predictor (default 2048, docs/training.md §7).
    pub proj_hidden: usize,
    /// SimCLR projection size (128).
    pub proj_out: usize,
    pub calibration_samples: usize,
}

impl SslConfig {
    /// The documented defaults for `model` (docs/training.md §7): SimCLR, dense, batch 128,
    /// lr 0.3 (SGD), 2 048-wide heads.
    pub fn new(model: ResNetConfig) -> Self {
        SslConfig {
            model,
            objective: Objective::Simclr,
            gating: Gating::None,
            granularity: Granularity::Structured,
            gate_block: [16, 1, 1],
            target_sparsity: None,
            threshold: ThresholdKind::Learned,
            threshold_target: 1.0,
            threshold_lambda: 1e-4,
            gate_consistency: 10.0,
            consistency_align: ConsistencyAlign::Pooled,
            base_partitions: 4,
            train_skip_margin: None,
            epochs: 10,
            batch: 128,
            lr: 0.3,
            warmup_epochs: 1,
            weight_decay: 5e-4,
            momentum: 0.9,
            seed: 0,
            ramp_fraction: 0.5,
            temperature: 0.2,
            proj_hidden: 2048,
            proj_out: 128,
            calibration_samples: 2000,
        }
    }

    /// The gate configuration, or `None` for dense runs.
    pub fn gate_config(&self) -> Option<GateConfig> {
        if self.gating == Gating::None {
            return None;
        }
        let threshold = match self.threshold {
            ThresholdKind::Learned => ThresholdMode::Learned {
                target: self.threshold_target,
                lambda: self.threshold_lambda,
            },
            ThresholdKind::Scheduled => ThresholdMode::Scheduled,
        };
        let mut g = GateConfig::new(self.granularity, self.gate_block, threshold);
        g.base_partitions = self.base_partitions;
        if let Some(margin) = self.train_skip_margin {
            g.cond = CondCompute::Skip { margin };
        }
        Some(g)
    }

    /// γ actually applied (0 unless dual).
    pub fn gamma(&self) -> f64 {
        if self.gating == Gating::Dual {
            self.gate_consistency
        } else {
            0.0
        }
    }

    /// Checks every value; errors name the key.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        if self.objective == Objective::Supervised {
            return Err(TrainError::config(
                "objective",
                "the SSL trainer runs simclr or simsiam; supervised runs use train::SupervisedTrainer",
            ));
        }
        if let Some(t) = self.target_sparsity
            && !(0.0..1.0).contains(&t)
        {
            return Err(TrainError::config(
                "target_sparsity",
                format!("expected a fraction in [0, 1), found {t}"),
            ));
        }
        if self.gating != Gating::None
            && self.threshold == ThresholdKind::Scheduled
            && self.target_sparsity.is_none()
        {
            return Err(TrainError::config(
                "threshold",
                "scheduled thresholds need target_sparsity",
            ));
        }
        if self.batch < 2 {
            return Err(TrainError::config(
                "batch",
                "must be ≥ 2 (BatchNorm and negatives)",
            ));
        }
        if self.epochs == 0 {
            return Err(TrainError::config("epochs", "must be ≥ 1"));
        }
        for (k, v) in [("lr", self.lr), ("temperature", self.temperature)] {
            if !(v > 0.0 && v.is_finite()) {
                return Err(TrainError::config(
                    k,
                    format!("must be a positive number, found {v}"),
                ));
            }
        }
        if !(self.gate_consistency >= 0.0 && self.gate_consistency.is_finite()) {
            return Err(TrainError::config("gate_consistency", "must be ≥ 0"));
        }
        if !(0.0..=1.0).contains(&self.ramp_fraction) {
            return Err(TrainError::config(
                "ramp_fraction",
                "expected a fraction in [0, 1]",
            ));
        }
        if self.proj_hidden == 0 || self.proj_out == 0 {
            return Err(TrainError::config("proj_hidden", "head sizes must be ≥ 1"));
        }
        if let Some(g) = self.gate_config() {
            g.validate()?;
        }
        Ok(())
    }
}
