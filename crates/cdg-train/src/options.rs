//! [`TrainOptions`]: every option of a training run, declared once.
//!
//! One field per option, with its documentation (the `cdg train --help` text), its default
//! (in [`Default`], so library users and the command line start from the same values), its
//! TOML key (the field name, for `cdg train --config`) and, under the `clap` feature, its flag
//! (the field name with dashes). [`TrainOptions::validate`] checks every value once, naming
//! the option. Adding an option is adding a field here (plus its check in `validate` when it
//! has a range); the command line, the config file, the run's record and the trainers pick it
//! up from this type.

use crate::error::{Result, TrainError};
use crate::gating::{ConsistencyAlign, Granularity};
use crate::models::{ResNetConfig, Stem};
use crate::optim::SgdConfig;
use crate::ssl::{Gating, Objective, ThresholdKind};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The backbone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ModelKind {
    /// Stem 8, stages 8/16/32 × 1 block: seconds per epoch on the built-in subset.
    Tiny,
    /// ResNet-18 CIFAR (64/128/256/512 × `--width`).
    Resnet18,
}

/// A structured gate block `c,h,w` (output channels × rows × columns), every dimension ≥ 1.
/// Parsed from `16,1,1` or `16x1x1` (flag, TOML string) or `[16, 1, 1]` (TOML array);
/// recorded as an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct GateBlockDims(pub [usize; 3]);

impl FromStr for GateBlockDims {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        // `16,1,1` or, as in gate rules, `16x1x1`.
        let parts: Vec<&str> = s.split([',', 'x']).map(str::trim).collect();
        let bad = || {
            format!("expected three positive integers c,h,w or cxhxw (e.g. 16,1,1), found `{s}`")
        };
        if parts.len() != 3 {
            return Err(bad());
        }
        let mut out = [0usize; 3];
        for (o, p) in out.iter_mut().zip(parts) {
            *o = p.parse().map_err(|_| bad())?;
            if *o == 0 {
                return Err(bad());
            }
        }
        Ok(GateBlockDims(out))
    }
}

impl fmt::Display for GateBlockDims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [c, h, w] = self.0;
        write!(f, "{c},{h},{w}")
    }
}

impl<'de> Deserialize<'de> for GateBlockDims {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            List(Vec<usize>),
        }
        match Raw::deserialize(d)? {
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
            Raw::List(v) => match v.as_slice() {
                &[c, h, w] if c > 0 && h > 0 && w > 0 => Ok(GateBlockDims([c, h, w])),
                _ => Err(serde::de::Error::custom(format!(
                    "expected three positive integers [c, h, w], found {v:?}"
                ))),
            },
        }
    }
}

/// Every option of a training run (supervised, SimCLR or SimSiam; dense or gated). The
/// serialised form (every field, `threshold` resolved; see [`TrainOptions::record`]) is the
/// run's record in checkpoints and summaries: a run resumes only with the same record.
/// Optional fields that were added later are left out of the record when unset, so that
/// older runs still resume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct TrainOptions {
    /// Training objective.
    #[cfg_attr(feature = "clap", arg(long, value_enum, default_value_t = TrainOptions::default().objective))]
    pub objective: Objective,
    /// Backbone.
    #[cfg_attr(feature = "clap", arg(long, value_enum, default_value_t = TrainOptions::default().model))]
    pub model: ModelKind,
    /// ResNet-18 width multiplier: stages 64w/128w/256w/512w.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = TrainOptions::default().width))]
    pub width: f64,
    /// Training epochs.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = TrainOptions::default().epochs))]
    pub epochs: usize,
    /// Mini-batch size.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = TrainOptions::default().batch))]
    pub batch: usize,
    /// Peak learning rate of the cosine schedule.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = TrainOptions::default().lr))]
    pub lr: f64,
    /// Linear warm-up epochs.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = TrainOptions::default().warmup_epochs))]
    pub warmup_epochs: usize,
    /// Weight decay (not on BatchNorm or biases).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = TrainOptions::default().weight_decay))]
    pub weight_decay: f64,
    /// SGD momentum.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = TrainOptions::default().momentum))]
    pub momentum: f64,
    /// Random crop (4-pixel padding) and flip during training.
    #[cfg_attr(
        feature = "clap",
        arg(long, action = clap::ArgAction::Set, default_value_t = TrainOptions::default().augment)
    )]
    pub augment: bool,
    /// Seed of initialisation, shuffling and augmentation.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = TrainOptions::default().seed))]
    pub seed: u64,
    /// `builtin` (the shipped Fashion-MNIST subset), `debian-fashion-mnist`, a directory
    /// of IDX or CIFAR binary files, or `image-folder:PATH` (PATH/train/<class>/*.jpg|png and
    /// PATH/val/<class>/…). Nothing is downloaded.
    #[cfg_attr(
        feature = "clap",
        arg(long, value_name = "builtin|PATH|image-folder:PATH", default_value_t = TrainOptions::default().data)
    )]
    pub data: String,
    /// Image folders: side of the square images after resizing the shorter side and
    /// center-cropping [default: 224]. Other data sets have a fixed size.
    #[cfg_attr(feature = "clap", arg(long, value_name = "PIXELS"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<usize>,
    /// ResNet stem: `cifar` (3×3 stride 1) or `imagenet` (7×7 stride 2 + 3×3 max-pool)
    /// [default: imagenet for images of 64 pixels or more, else cifar].
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stem: Option<Stem>,
    /// Start from the weights of this checkpoint (a dense SSL run's checkpoint.cdgckpt or a
    /// backbone file such as models/*.cdgckpt) instead of random ones; gate thresholds and
    /// missing heads stay fresh. The backbone must match tensor for tensor.
    #[cfg_attr(feature = "clap", arg(long, value_name = "CKPT"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
    /// Use only the first N training images (quick runs).
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub limit_train: Option<usize>,
    /// Use only the first N test images (quick runs).
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub limit_test: Option<usize>,
    /// SSL gating: none (dense), independent (channel gating, γ = 0) or dual (CDG).
    #[cfg_attr(feature = "clap", arg(long, value_enum, default_value_t = TrainOptions::default().gating))]
    pub gating: Gating,
    /// Gate granularity.
    #[cfg_attr(feature = "clap", arg(long, value_enum, default_value_t = TrainOptions::default().granularity))]
    pub granularity: Granularity,
    /// Structured gate block c,h,w (output channels × rows × columns).
    #[cfg_attr(
        feature = "clap",
        arg(long, value_name = "C,H,W", default_value_t = TrainOptions::default().gate_block)
    )]
    pub gate_block: GateBlockDims,
    /// Evaluation gate sparsity in [0, 1) that calibration meets (and the scheduled
    /// thresholds' final quantile).
    #[cfg_attr(feature = "clap", arg(long, value_name = "FRACTION"))]
    pub target_sparsity: Option<f64>,
    /// Threshold training [default: scheduled with --target-sparsity, else learned].
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<ThresholdKind>,
    /// Δ_target of learned thresholds' L2 pull (λ = 1e-4).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = TrainOptions::default().threshold_target))]
    pub threshold_target: f64,
    /// γ of the gate-consistency loss (dual gating).
    #[cfg_attr(
        feature = "clap",
        arg(long, value_name = "GAMMA", default_value_t = TrainOptions::default().gate_consistency)
    )]
    pub gate_consistency: f64,
    /// Gate-consistency alignment.
    #[cfg_attr(feature = "clap", arg(long, value_enum, default_value_t = TrainOptions::default().consistency_align))]
    pub consistency_align: ConsistencyAlign,
    /// Base partitions p: the first ⌈C_in/p⌉ input channels are always computed.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = TrainOptions::default().base_partitions))]
    pub base_partitions: usize,
    /// Training forwards compute the conditional convolution only for gated-on blocks and
    /// the gated-off ones within M of their threshold (block pre-gate z > −M); the
    /// straight-through gradient of the other gated-off blocks is taken as 0
    /// (docs/training.md §3). Structured gates of ≥ 8 channels only [default: off, the
    /// conditional convolution is computed densely and masked].
    #[cfg_attr(feature = "clap", arg(long, value_name = "M"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_skip_margin: Option<f64>,
    /// Test images whose calibrated evaluation gates go into DIR/trace.
    #[cfg_attr(
        feature = "clap",
        arg(long, value_name = "N", default_value_t = TrainOptions::default().trace_samples)
    )]
    pub trace_samples: usize,
    /// Un-augmented training images of the calibration pass.
    #[cfg_attr(
        feature = "clap",
        arg(long, value_name = "N", default_value_t = TrainOptions::default().calibration_samples)
    )]
    pub calibration_samples: usize,
    /// kNN accuracy every N epochs (and always after the last; 0: only after the last).
    #[cfg_attr(
        feature = "clap",
        arg(long, value_name = "N", default_value_t = TrainOptions::default().knn_every)
    )]
    pub knn_every: usize,
    /// Hidden width of the SSL projector/predictor.
    #[cfg_attr(
        feature = "clap",
        arg(long, value_name = "N", default_value_t = TrainOptions::default().proj_hidden)
    )]
    pub proj_hidden: usize,
    /// Epochs of the final linear probe.
    #[cfg_attr(
        feature = "clap",
        arg(long, value_name = "N", default_value_t = TrainOptions::default().probe_epochs)
    )]
    pub probe_epochs: usize,
    /// Also report the kNN accuracy of the randomly initialised network (the floor).
    #[cfg_attr(feature = "clap", arg(long))]
    pub knn_init: bool,
}

impl Default for TrainOptions {
    /// The documented defaults (docs/training.md §10), the same for `cdg train` and for
    /// library users: supervised ResNet-18 at width 0.25, 30 epochs, batch 128, lr 0.1 without
    /// warm-up, dense.
    fn default() -> Self {
        TrainOptions {
            objective: Objective::Supervised,
            model: ModelKind::Resnet18,
            width: 0.25,
            epochs: 30,
            batch: 128,
            lr: 0.1,
            warmup_epochs: 0,
            weight_decay: 5e-4,
            momentum: 0.9,
            augment: false,
            seed: 0,
            data: "builtin".to_owned(),
            resolution: None,
            stem: None,
            init_from: None,
            limit_train: None,
            limit_test: None,
            gating: Gating::None,
            granularity: Granularity::Structured,
            gate_block: GateBlockDims([16, 1, 1]),
            target_sparsity: None,
            threshold: None,
            threshold_target: 1.0,
            gate_consistency: 10.0,
            consistency_align: ConsistencyAlign::Pooled,
            base_partitions: 4,
            train_skip_margin: None,
            trace_samples: 256,
            calibration_samples: 2000,
            knn_every: 5,
            proj_hidden: 2048,
            probe_epochs: 100,
            knn_init: false,
        }
    }
}

/// Widest ResNet-18 `width` accepted.
const MAX_WIDTH: f64 = 64.0;

impl TrainOptions {
    /// Whether the objective is contrastive (SimCLR, SimSiam).
    pub fn is_ssl(&self) -> bool {
        self.objective != Objective::Supervised
    }

    /// The threshold training in effect: `threshold`, else scheduled with a target sparsity
    /// and learned without.
    pub fn threshold_kind(&self) -> ThresholdKind {
        self.threshold.unwrap_or(if self.target_sparsity.is_some() {
            ThresholdKind::Scheduled
        } else {
            ThresholdKind::Learned
        })
    }

    /// The run's record (checkpoints and summaries: `plan`): every option, the threshold
    /// training resolved.
    pub fn record(&self) -> serde_json::Value {
        let resolved = TrainOptions {
            threshold: Some(self.threshold_kind()),
            ..self.clone()
        };
        serde_json::to_value(resolved).expect("training options serialize")
    }

    /// The backbone for `side`×`side` images with `in_channels` channels and a classifier of
    /// `classes` (none for SSL backbones); the stem follows `stem`, else the image size.
    pub fn model_config(
        &self,
        in_channels: usize,
        side: usize,
        classes: Option<usize>,
    ) -> ResNetConfig {
        let stem = self.stem.unwrap_or_else(|| Stem::for_resolution(side));
        match self.model {
            ModelKind::Tiny => ResNetConfig::tiny(in_channels, classes),
            ModelKind::Resnet18 => ResNetConfig::resnet18_cifar(self.width, in_channels, classes),
        }
        .with_stem(stem)
    }

    /// SGD with this run's momentum and weight decay.
    pub fn sgd(&self) -> SgdConfig {
        SgdConfig {
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            ..SgdConfig::default()
        }
    }

    /// Images per training example: 1, or 2 views for the contrastive objectives.
    pub fn views(&self) -> usize {
        if self.is_ssl() { 2 } else { 1 }
    }

    /// A rough size in bytes of training `model` on `h`×`w` images: weights, gradients,
    /// momentum and a copy of the backbone and the SSL heads in f32, plus the activations of
    /// a batch of every view ([`ResNetConfig::memory_estimate`]). Meant to refuse absurd runs
    /// before they allocate.
    pub fn estimated_training_bytes(&self, model: &ResNetConfig, h: usize, w: usize) -> u64 {
        let m = model.memory_estimate(h, w, self.batch.saturating_mul(self.views()));
        let head = if self.is_ssl() {
            // Projector and predictor: a few feature × hidden and hidden × hidden matrices.
            (model.feature_dim() as u64 + 2 * self.proj_hidden as u64)
                .saturating_mul(self.proj_hidden as u64)
                .saturating_mul(3)
        } else {
            0
        };
        m.params
            .saturating_add(head)
            .saturating_mul(16)
            .saturating_add(m.activation_bytes)
    }

    /// Checks the range of every option and the combinations that cannot run; errors are
    /// [`TrainError::Config`] naming the key (and any other option involved by its key).
    pub fn validate(&self) -> Result<()> {
        self.validate_named(&|key| format!("`{key}`"))
    }

    /// [`TrainOptions::validate`], naming the other options a message mentions with `name`
    /// (the command line names them as the flag or config key the user gave).
    pub fn validate_named(&self, name: &dyn Fn(&str) -> String) -> Result<()> {
        let err = |key: &str, reason: String| Err(TrainError::config(key, reason));
        let positive = |key: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                err(key, format!("expected a positive number, found {v}"))
            }
        };
        let non_negative = |key: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                err(key, format!("expected a number ≥ 0, found {v}"))
            }
        };
        let at_least = |key: &str, v: usize, min: usize| {
            if v >= min {
                Ok(())
            } else {
                err(key, format!("expected at least {min}, found {v}"))
            }
        };
        positive("width", self.width)?;
        if self.model == ModelKind::Resnet18 && self.width > MAX_WIDTH {
            return err(
                "width",
                format!(
                    "expected at most {MAX_WIDTH} (ResNet-18 at width {} has about {:.0e} \
                     parameters)",
                    self.width,
                    11.2e6 * self.width * self.width
                ),
            );
        }
        // The tiny model has fixed widths: a width other than the default would be ignored.
        if self.model == ModelKind::Tiny && self.width != Self::default().width {
            return err(
                "width",
                format!(
                    "{} given, but the width multiplier applies to --model resnet18 only; the \
                     tiny model has fixed widths (drop the width or use --model resnet18)",
                    self.width
                ),
            );
        }
        positive("lr", self.lr)?;
        non_negative("weight_decay", self.weight_decay)?;
        if !(0.0..1.0).contains(&self.momentum) {
            return err(
                "momentum",
                format!("expected a number in [0, 1), found {}", self.momentum),
            );
        }
        at_least("epochs", self.epochs, 1)?;
        let ssl = self.is_ssl();
        // Contrastive losses need negatives and BatchNorm needs two images.
        at_least("batch", self.batch, if ssl { 2 } else { 1 })?;
        if self.warmup_epochs > self.epochs {
            return err(
                "warmup_epochs",
                format!(
                    "{} is more than {} {}",
                    self.warmup_epochs,
                    name("epochs"),
                    self.epochs
                ),
            );
        }
        if let Some(limit) = self.limit_train {
            at_least("limit_train", limit, 1)?;
        }
        if let Some(limit) = self.limit_test {
            at_least("limit_test", limit, 1)?;
        }
        if let Some(r) = self.resolution {
            let (lo, hi) = crate::data::RESOLUTION_RANGE;
            if !(lo..=hi).contains(&r) {
                return err(
                    "resolution",
                    format!("expected {lo} to {hi} pixels, found {r}"),
                );
            }
        }
        if self.init_from.is_some() && !ssl {
            return err(
                "init_from",
                format!(
                    "initialises SSL runs; use it with {} simclr or simsiam",
                    name("objective")
                ),
            );
        }
        if let Some(t) = self.target_sparsity
            && !(0.0..1.0).contains(&t)
        {
            return err(
                "target_sparsity",
                format!("expected a fraction in [0, 1), found {t}"),
            );
        }
        if !ssl && self.gating != Gating::None {
            return err(
                "gating",
                format!(
                    "{}: gated training runs with {} simclr or simsiam",
                    self.gating,
                    name("objective")
                ),
            );
        }
        if self.gating != Gating::None
            && self.threshold_kind() == ThresholdKind::Scheduled
            && self.target_sparsity.is_none()
        {
            return err(
                "threshold",
                format!("scheduled needs {}", name("target_sparsity")),
            );
        }
        non_negative("threshold_target", self.threshold_target)?;
        non_negative("gate_consistency", self.gate_consistency)?;
        if let Some(d) = self.gate_block.0.iter().find(|&&d| d == 0) {
            return err(
                "gate_block",
                format!(
                    "every dimension must be at least 1, found {d} in {:?}",
                    self.gate_block.0
                ),
            );
        }
        at_least("base_partitions", self.base_partitions, 1)?;
        if let Some(m) = self.train_skip_margin {
            if m.is_nan() || m < 0.0 {
                return err(
                    "train_skip_margin",
                    format!("expected a number ≥ 0 (or inf), found {m}"),
                );
            }
            if self.gating == Gating::None {
                return err(
                    "train_skip_margin",
                    format!(
                        "applies to gated training; use it with {} independent or dual",
                        name("gating")
                    ),
                );
            }
        }
        at_least("calibration_samples", self.calibration_samples, 1)?;
        at_least("proj_hidden", self.proj_hidden, 1)?;
        if ssl {
            at_least("probe_epochs", self.probe_epochs, 1)?;
            if self.gating != Gating::None {
                at_least("trace_samples", self.trace_samples, 1)?;
            }
        }
        Ok(())
    }
}
