//! The SSL run description: the run's [`TrainOptions`], its backbone, and the constants of
//! the recipe that are not options.

use crate::error::{Result, TrainError};
use crate::gating::{CondCompute, ConsistencyAlign, GateConfig, Granularity, ThresholdMode};
use crate::models::ResNetConfig;
use crate::options::TrainOptions;
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

/// The contrastive objectives: what an SSL run trains ([`Objective`] without
/// `Supervised`, so the SSL trainer cannot be handed a supervised run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslObjective {
    /// SimCLR: NT-Xent over both views (2B batch), τ = 0.2.
    Simclr,
    /// SimSiam: predictor, stop-gradient, negative cosine.
    Simsiam,
}

impl Objective {
    /// The contrastive objective, or `None` for `Supervised`.
    pub fn ssl(self) -> Option<SslObjective> {
        match self {
            Objective::Supervised => None,
            Objective::Simclr => Some(SslObjective::Simclr),
            Objective::Simsiam => Some(SslObjective::Simsiam),
        }
    }
}

impl From<SslObjective> for Objective {
    fn from(o: SslObjective) -> Self {
        match o {
            SslObjective::Simclr => Objective::Simclr,
            SslObjective::Simsiam => Objective::Simsiam,
        }
    }
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

/// Everything an SSL run depends on (the same seed and config give the same run): the
/// options, the backbone they describe for the data, and the recipe's fixed constants.
#[derive(Debug, Clone, PartialEq)]
pub struct SslConfig {
    /// Backbone (no classifier).
    pub model: ResNetConfig,
    /// The contrastive objective (`options.objective`, checked to be one).
    pub objective: SslObjective,
    /// Every option of the run (epochs, batch, learning rate, gating, thresholds, heads, …).
    pub options: TrainOptions,
    /// λ of the learned thresholds' L2 pull.
    pub threshold_lambda: f64,
    /// Fraction of training over which the scheduled sparsity ramps up.
    pub ramp_fraction: f64,
    /// NT-Xent temperature.
    pub temperature: f64,
    /// SimCLR projection size (128).
    pub proj_out: usize,
}

impl SslConfig {
    /// The SSL run of `options` on `model` with the recipe's constants (docs/training.md §7):
    /// λ = 1e-4, sparsity ramp over half of training, τ = 0.2, 128-wide projection. Fails
    /// when `options.objective` is not contrastive.
    pub fn new(model: ResNetConfig, options: TrainOptions) -> Result<Self> {
        let objective = options.objective.ssl().ok_or_else(|| {
            TrainError::config(
                "objective",
                "the SSL trainer runs simclr or simsiam; supervised runs use \
                 train::SupervisedTrainer",
            )
        })?;
        Ok(SslConfig {
            model,
            objective,
            options,
            threshold_lambda: 1e-4,
            ramp_fraction: 0.5,
            temperature: 0.2,
            proj_out: 128,
        })
    }

    /// The gate configuration, or `None` for dense runs.
    pub fn gate_config(&self) -> Option<GateConfig> {
        let o = &self.options;
        if o.gating == Gating::None {
            return None;
        }
        let threshold = match o.threshold_kind() {
            ThresholdKind::Learned => ThresholdMode::Learned {
                target: o.threshold_target,
                lambda: self.threshold_lambda,
            },
            ThresholdKind::Scheduled => ThresholdMode::Scheduled,
        };
        let mut g = GateConfig::new(o.granularity, o.gate_block.0, threshold);
        g.base_partitions = o.base_partitions;
        if let Some(margin) = o.train_skip_margin {
            g.cond = CondCompute::Skip { margin };
        }
        Some(g)
    }

    /// γ actually applied (0 unless dual).
    pub fn gamma(&self) -> f64 {
        if self.options.gating == Gating::Dual {
            self.options.gate_consistency
        } else {
            0.0
        }
    }

    /// Checks the options ([`TrainOptions::validate`]), the backbone, the constants and the
    /// gate configuration; errors name the key.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        if self.options.objective != Objective::from(self.objective) {
            return Err(TrainError::config(
                "objective",
                format!(
                    "the options say {} but the SSL run is {}",
                    self.options.objective,
                    Objective::from(self.objective)
                ),
            ));
        }
        self.options.validate()?;
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(TrainError::config(
                "temperature",
                format!("must be a positive number, found {}", self.temperature),
            ));
        }
        if !(0.0..=1.0).contains(&self.ramp_fraction) {
            return Err(TrainError::config(
                "ramp_fraction",
                "expected a fraction in [0, 1]",
            ));
        }
        if self.proj_out == 0 {
            return Err(TrainError::config("proj_out", "head sizes must be ≥ 1"));
        }
        if let Some(g) = self.gate_config() {
            g.validate()?;
        }
        Ok(())
    }
}
