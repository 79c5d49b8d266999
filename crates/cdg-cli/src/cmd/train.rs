//! `cdg train`: train a ResNet on an image data set and write metrics and a resumable
//! checkpoint.
//!
//! ```text
//! cdg train --objective supervised --epochs E --out DIR [--model tiny|resnet18] [--width W]
//!           [--batch B] [--lr LR] [--seed S] [--data builtin|PATH|image-folder:PATH]
//!           [--resolution R] [--stem cifar|imagenet] [--resume] [--config FILE]
//! cdg train --objective simclr --gating dual --init-from CKPT …   # gates on a pretrained net
//! cdg train --bench-steps N [--model resnet18 --width 1 --batch 32]   # throughput only
//! ```
//!
//! Writes `DIR/metrics.csv` (one row per epoch: `epoch,loss,test_accuracy,knn_accuracy,
//! gate_sparsity,images_per_s,lr`, empty where not applicable), `DIR/summary.json` and
//! `DIR/checkpoint.cdgckpt` (after every epoch, atomically). `--resume` continues from that
//! checkpoint to the same result as an uninterrupted run (same binary and `--threads`).
//!
//! Parsing is two-stage: [`TrainArgs`] (flags, all optional) are merged over the TOML file of
//! `--config` (keys = flag names with underscores) and the defaults into a validated
//! [`TrainPlan`]; only then does anything load or run. The epoch loops, resume and the
//! summaries are `cdg_train::session`; `train/observer.rs` is the session's observer that
//! writes the files (through `cdg-io`) and draws the progress bars.

mod observer;
mod ssl;

use crate::ui::Ui;
use anyhow::{Context, bail};
use cdg_io::layout::train::CHECKPOINT_FILE;
use cdg_io::output::OutputDir;
use cdg_train::TrainError;
use cdg_train::checkpoint::Checkpoint;
use cdg_train::data::{DataSource, DataSplit, LoadOptions};
use cdg_train::gating::{ConsistencyAlign, Granularity};
use cdg_train::models::{ResNetConfig, Stem};
use cdg_train::optim::SgdConfig;
use cdg_train::session::{
    Resume, SupervisedOutcome, SupervisedSession, SupervisedSessionConfig, bench_supervised,
};
use cdg_train::ssl::{Gating, Objective, ThresholdKind};
use cdg_train::train::SupervisedConfig;
use observer::{Mode, TrainOutputs};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::process::ExitCode;

/// `c,h,w` gate block (flag) or `[c, h, w]` / `"c,h,w"` (TOML).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GateBlockArg(pub [usize; 3]);

impl std::str::FromStr for GateBlockArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
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
        Ok(GateBlockArg(out))
    }
}

impl<'de> Deserialize<'de> for GateBlockArg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            List(Vec<usize>),
        }
        match Raw::deserialize(d)? {
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
            Raw::List(v) => match v.as_slice() {
                &[c, h, w] if c > 0 && h > 0 && w > 0 => Ok(GateBlockArg([c, h, w])),
                _ => Err(serde::de::Error::custom(format!(
                    "gate_block: expected three positive integers [c, h, w], found {v:?}"
                ))),
            },
        }
    }
}

/// The backbone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Stem 8, stages 8/16/32 × 1 block: seconds per epoch on the built-in subset.
    Tiny,
    /// ResNet-18 CIFAR (64/128/256/512 × `--width`).
    Resnet18,
}

/// Flags of `cdg train`. Every value flag is optional so that `--config` can supply it;
/// the defaults are applied last.
#[derive(Debug, Default, Clone, clap::Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainArgs {
    /// TOML file with any of these options (keys = flag names with underscores); flags given
    /// on the command line win.
    #[arg(long, value_name = "FILE.toml")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Training objective [default: supervised].
    #[arg(long, value_enum)]
    pub objective: Option<Objective>,
    /// Backbone [default: resnet18].
    #[arg(long, value_enum)]
    pub model: Option<ModelKind>,
    /// ResNet-18 width multiplier: stages 64w/128w/256w/512w [default: 0.25].
    #[arg(long)]
    pub width: Option<f64>,
    /// Training epochs [default: 30].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Mini-batch size [default: 128].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Peak learning rate of the cosine schedule [default: 0.1].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Linear warm-up epochs [default: 0].
    #[arg(long)]
    pub warmup_epochs: Option<usize>,
    /// Weight decay (not on BatchNorm or biases) [default: 5e-4].
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// SGD momentum [default: 0.9].
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Random crop (4-pixel padding) and flip during training [default: false].
    #[arg(long)]
    pub augment: Option<bool>,
    /// Seed of initialisation, shuffling and augmentation [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// `builtin` (the shipped Fashion-MNIST subset), `debian-fashion-mnist`, a directory
    /// of IDX or CIFAR binary files, or `image-folder:PATH` (PATH/train/<class>/*.jpg|png and
    /// PATH/val/<class>/…) [default: builtin]. Nothing is downloaded.
    #[arg(long, value_name = "builtin|PATH|image-folder:PATH")]
    pub data: Option<String>,
    /// Image folders: side of the square images after resizing the shorter side and
    /// center-cropping [default: 224]. Other data sets have a fixed size.
    #[arg(long, value_name = "PIXELS")]
    pub resolution: Option<usize>,
    /// ResNet stem: `cifar` (3×3 stride 1) or `imagenet` (7×7 stride 2 + 3×3 max-pool)
    /// [default: imagenet for images of 64 pixels or more, else cifar].
    #[arg(long, value_enum)]
    pub stem: Option<Stem>,
    /// Start from the weights of this checkpoint (a dense SSL run's checkpoint.cdgckpt or a
    /// backbone file such as models/*.cdgckpt) instead of random ones; gate thresholds and
    /// missing heads stay fresh. The backbone must match tensor for tensor.
    #[arg(long, value_name = "CKPT")]
    pub init_from: Option<PathBuf>,
    /// Use only the first N training images (quick runs).
    #[arg(long, value_name = "N")]
    pub limit_train: Option<usize>,
    /// Use only the first N test images (quick runs).
    #[arg(long, value_name = "N")]
    pub limit_test: Option<usize>,
    /// Worker threads for kernels and GEMM [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// SSL options (gating, thresholds, calibration, traces).
    #[command(flatten)]
    #[serde(skip)]
    pub ssl: Box<SslArgs>,
    /// Output directory (metrics.csv, summary.json, checkpoint.cdgckpt).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue from DIR/checkpoint.cdgckpt (same options required).
    #[arg(long, conflicts_with = "force")]
    #[serde(skip)]
    pub resume: bool,
    /// Replace the earlier run in --out (its checkpoint, metrics, summary and trace).
    #[arg(long)]
    #[serde(skip)]
    pub force: bool,
    /// Benchmark: time N training steps (after one warm-up step), print images/s and exit.
    /// Supervised: random input, using --model, --width, --batch, --threads and
    /// --bench-channels. SimCLR/SimSiam: batches of --data with augmentation and every SSL
    /// and gating option, sparsity ramp off; prints views/s (two views per image).
    #[arg(long, value_name = "N")]
    #[serde(skip)]
    pub bench_steps: Option<usize>,
    /// Input channels of the benchmark's random images [default: 3, as CIFAR].
    #[arg(long, value_name = "C")]
    #[serde(skip)]
    pub bench_channels: Option<usize>,
    /// Stop after this many epochs as if interrupted (tests of --resume).
    #[arg(long, hide = true)]
    #[serde(skip)]
    pub stop_after: Option<usize>,
}

/// The SSL and gating flags of `cdg train` (boxed inside [`TrainArgs`]; TOML keys are the
/// field names, in the same file as the other options).
#[derive(Debug, Default, Clone, clap::Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SslArgs {
    /// SSL gating: none (dense), independent (channel gating, γ = 0) or dual (CDG)
    /// [default: none].
    #[arg(long, value_enum)]
    pub gating: Option<Gating>,
    /// Gate granularity [default: structured].
    #[arg(long, value_enum)]
    pub granularity: Option<Granularity>,
    /// Structured gate block c,h,w (output channels × rows × columns) [default: 16,1,1].
    #[arg(long, value_name = "C,H,W")]
    pub gate_block: Option<GateBlockArg>,
    /// Evaluation gate sparsity in [0, 1) that calibration meets (and the scheduled
    /// thresholds' final quantile).
    #[arg(long, value_name = "FRACTION")]
    pub target_sparsity: Option<f64>,
    /// Threshold training [default: scheduled with --target-sparsity, else learned].
    #[arg(long, value_enum)]
    pub threshold: Option<ThresholdKind>,
    /// Δ_target of learned thresholds' L2 pull (λ = 1e-4) [default: 1.0].
    #[arg(long)]
    pub threshold_target: Option<f64>,
    /// γ of the gate-consistency loss (dual gating) [default: 10].
    #[arg(long, value_name = "GAMMA")]
    pub gate_consistency: Option<f64>,
    /// Gate-consistency alignment [default: pooled].
    #[arg(long, value_enum)]
    pub consistency_align: Option<ConsistencyAlign>,
    /// Base partitions p: the first ⌈C_in/p⌉ input channels are always computed [default: 4].
    #[arg(long)]
    pub base_partitions: Option<usize>,
    /// Training forwards compute the conditional convolution only for gated-on blocks and
    /// the gated-off ones within M of their threshold (block pre-gate z > −M); the
    /// straight-through gradient of the other gated-off blocks is taken as 0
    /// (docs/training.md §3). Structured gates of ≥ 8 channels only [default: off, the
    /// conditional convolution is computed densely and masked].
    #[arg(long, value_name = "M")]
    pub train_skip_margin: Option<f64>,
    /// Test images whose calibrated evaluation gates go into DIR/trace [default: 256].
    #[arg(long, value_name = "N")]
    pub trace_samples: Option<usize>,
    /// Un-augmented training images of the calibration pass [default: 2000].
    #[arg(long, value_name = "N")]
    pub calibration_samples: Option<usize>,
    /// kNN accuracy every N epochs (and always after the last) [default: 5].
    #[arg(long, value_name = "N")]
    pub knn_every: Option<usize>,
    /// Hidden width of the SSL projector/predictor [default: 2048].
    #[arg(long, value_name = "N")]
    pub proj_hidden: Option<usize>,
    /// Epochs of the final linear probe [default: 100].
    #[arg(long, value_name = "N")]
    pub probe_epochs: Option<usize>,
    /// Also report the kNN accuracy of the randomly initialised network (the floor).
    #[arg(long)]
    #[serde(default)]
    pub knn_init: bool,
}

/// TOML keys that belong to [`SslArgs`].
const SSL_KEYS: &[&str] = &[
    "gating",
    "granularity",
    "gate_block",
    "target_sparsity",
    "threshold",
    "threshold_target",
    "gate_consistency",
    "consistency_align",
    "base_partitions",
    "train_skip_margin",
    "trace_samples",
    "calibration_samples",
    "knn_every",
    "proj_hidden",
    "probe_epochs",
    "knn_init",
];

impl SslArgs {
    fn or(self, other: SslArgs) -> SslArgs {
        SslArgs {
            gating: self.gating.or(other.gating),
            granularity: self.granularity.or(other.granularity),
            gate_block: self.gate_block.or(other.gate_block),
            target_sparsity: self.target_sparsity.or(other.target_sparsity),
            threshold: self.threshold.or(other.threshold),
            threshold_target: self.threshold_target.or(other.threshold_target),
            gate_consistency: self.gate_consistency.or(other.gate_consistency),
            consistency_align: self.consistency_align.or(other.consistency_align),
            base_partitions: self.base_partitions.or(other.base_partitions),
            train_skip_margin: self.train_skip_margin.or(other.train_skip_margin),
            trace_samples: self.trace_samples.or(other.trace_samples),
            calibration_samples: self.calibration_samples.or(other.calibration_samples),
            knn_every: self.knn_every.or(other.knn_every),
            proj_hidden: self.proj_hidden.or(other.proj_hidden),
            probe_epochs: self.probe_epochs.or(other.probe_epochs),
            knn_init: self.knn_init || other.knn_init,
        }
    }
}

/// A validated training run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainPlan {
    pub objective: Objective,
    pub model: ModelKind,
    pub width: f64,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub warmup_epochs: usize,
    pub weight_decay: f64,
    pub momentum: f64,
    pub augment: bool,
    pub seed: u64,
    pub data: String,
    /// Absent from the record when not given, so that older runs still resume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stem: Option<Stem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
    pub limit_train: Option<usize>,
    pub limit_test: Option<usize>,
    pub gating: Gating,
    pub granularity: Granularity,
    pub gate_block: [usize; 3],
    pub target_sparsity: Option<f64>,
    pub threshold: ThresholdKind,
    pub threshold_target: f64,
    pub gate_consistency: f64,
    pub consistency_align: ConsistencyAlign,
    pub base_partitions: usize,
    /// Absent from the record when not given, so that older runs still resume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_skip_margin: Option<f64>,
    pub trace_samples: usize,
    pub calibration_samples: usize,
    pub knn_every: usize,
    pub proj_hidden: usize,
    pub probe_epochs: usize,
    pub knn_init: bool,
    #[serde(skip)]
    pub threads: usize,
    #[serde(skip)]
    pub out: PathBuf,
    #[serde(skip)]
    pub resume: bool,
    #[serde(skip)]
    pub force: bool,
    #[serde(skip)]
    pub stop_after: Option<usize>,
    /// Where each option came from, for messages (`--lr` or `lr` in the config file).
    #[serde(skip)]
    pub names: OptionNames,
}

/// How to name an option in a message: as the flag the user typed, or as the key of the
/// `--config` file that set it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OptionNames {
    config: Option<PathBuf>,
    from_config: std::collections::BTreeSet<String>,
}

impl OptionNames {
    /// `--probe-epochs`, or `` `probe_epochs` in config FILE `` when the file set it.
    pub fn name(&self, key: &str) -> String {
        match &self.config {
            Some(path) if self.from_config.contains(key) => {
                format!("`{key}` in config {}", path.display())
            }
            _ => format!("--{}", key.replace('_', "-")),
        }
    }
}

impl TrainArgs {
    /// The option keys (config-file spelling) given on the command line.
    fn flags_given(&self) -> std::collections::BTreeSet<&'static str> {
        let mut given = std::collections::BTreeSet::new();
        macro_rules! given {
            ($base:expr; $($field:ident),*) => {
                $(if $base.$field.is_some() {
                    given.insert(stringify!($field));
                })*
            };
        }
        given!(self; objective, model, width, epochs, batch, lr, warmup_epochs, weight_decay,
               momentum, augment, seed, data, resolution, stem, init_from, limit_train,
               limit_test, threads, out);
        given!(self.ssl; gating, granularity, gate_block, target_sparsity, threshold,
               threshold_target, gate_consistency, consistency_align, base_partitions,
               train_skip_margin, trace_samples, calibration_samples, knn_every, proj_hidden, probe_epochs);
        if self.ssl.knn_init {
            given.insert("knn_init");
        }
        given
    }

    /// Fills every option the command line left out from `other` (the config file).
    fn or(self, other: TrainArgs) -> TrainArgs {
        TrainArgs {
            config: self.config,
            objective: self.objective.or(other.objective),
            model: self.model.or(other.model),
            width: self.width.or(other.width),
            epochs: self.epochs.or(other.epochs),
            batch: self.batch.or(other.batch),
            lr: self.lr.or(other.lr),
            warmup_epochs: self.warmup_epochs.or(other.warmup_epochs),
            weight_decay: self.weight_decay.or(other.weight_decay),
            momentum: self.momentum.or(other.momentum),
            augment: self.augment.or(other.augment),
            seed: self.seed.or(other.seed),
            data: self.data.or(other.data),
            resolution: self.resolution.or(other.resolution),
            stem: self.stem.or(other.stem),
            init_from: self.init_from.or(other.init_from),
            limit_train: self.limit_train.or(other.limit_train),
            limit_test: self.limit_test.or(other.limit_test),
            threads: self.threads.or(other.threads),
            out: self.out.or(other.out),
            ssl: Box::new((*self.ssl).or(*other.ssl)),
            resume: self.resume,
            force: self.force,
            bench_steps: self.bench_steps,
            bench_channels: self.bench_channels,
            stop_after: self.stop_after,
        }
    }

    /// Merges `--config` and defaults, and checks every value.
    pub fn plan(self) -> anyhow::Result<TrainPlan> {
        let mut names = OptionNames {
            config: self.config.clone(),
            from_config: Default::default(),
        };
        let args = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config {}", path.display()))?;
                let mut table: toml::Table = toml::from_str(&text).map_err(|e| {
                    anyhow::anyhow!(
                        "config {}: invalid training options: {}",
                        path.display(),
                        cdg_io::error::clip_text(e.message())
                    )
                })?;
                // A key the file sets is named as the file's key in messages, unless the
                // command line gives the flag too (the flag wins).
                let on_command_line = self.flags_given();
                for key in table.keys() {
                    if !on_command_line.contains(key.as_str()) {
                        names.from_config.insert(key.clone());
                    }
                }
                let mut ssl_table = toml::Table::new();
                for key in SSL_KEYS {
                    if let Some(v) = table.remove(*key) {
                        ssl_table.insert((*key).to_owned(), v);
                    }
                }
                let mut file: TrainArgs = table.try_into().map_err(|e: toml::de::Error| {
                    anyhow::anyhow!(
                        "config {}: invalid training options: {}",
                        path.display(),
                        cdg_io::error::clip_text(e.message())
                    )
                })?;
                file.ssl = Box::new(ssl_table.try_into().map_err(|e: toml::de::Error| {
                    anyhow::anyhow!(
                        "config {}: invalid SSL options: {}",
                        path.display(),
                        cdg_io::error::clip_text(e.message())
                    )
                })?);
                self.or(file)
            }
            None => self,
        };
        let threads = args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let plan = TrainPlan {
            objective: args.objective.unwrap_or(Objective::Supervised),
            model: args.model.unwrap_or(ModelKind::Resnet18),
            width: args.width.unwrap_or(0.25),
            epochs: args.epochs.unwrap_or(30),
            batch: args.batch.unwrap_or(128),
            lr: args.lr.unwrap_or(0.1),
            warmup_epochs: args.warmup_epochs.unwrap_or(0),
            weight_decay: args.weight_decay.unwrap_or(5e-4),
            momentum: args.momentum.unwrap_or(0.9),
            augment: args.augment.unwrap_or(false),
            seed: args.seed.unwrap_or(0),
            data: args.data.unwrap_or_else(|| "builtin".to_owned()),
            resolution: args.resolution,
            stem: args.stem,
            init_from: args.init_from,
            limit_train: args.limit_train,
            limit_test: args.limit_test,
            gating: args.ssl.gating.unwrap_or(Gating::None),
            granularity: args.ssl.granularity.unwrap_or(Granularity::Structured),
            gate_block: args.ssl.gate_block.map_or([16, 1, 1], |b| b.0),
            target_sparsity: args.ssl.target_sparsity,
            threshold: args
                .ssl
                .threshold
                .unwrap_or(if args.ssl.target_sparsity.is_some() {
                    ThresholdKind::Scheduled
                } else {
                    ThresholdKind::Learned
                }),
            threshold_target: args.ssl.threshold_target.unwrap_or(1.0),
            gate_consistency: args.ssl.gate_consistency.unwrap_or(10.0),
            consistency_align: args
                .ssl
                .consistency_align
                .unwrap_or(ConsistencyAlign::Pooled),
            base_partitions: args.ssl.base_partitions.unwrap_or(4),
            train_skip_margin: args.ssl.train_skip_margin,
            trace_samples: args.ssl.trace_samples.unwrap_or(256),
            calibration_samples: args.ssl.calibration_samples.unwrap_or(2000),
            knn_every: args.ssl.knn_every.unwrap_or(5),
            proj_hidden: args.ssl.proj_hidden.unwrap_or(2048),
            probe_epochs: args.ssl.probe_epochs.unwrap_or(100),
            knn_init: args.ssl.knn_init,
            threads,
            out: match (args.out, args.bench_steps) {
                (Some(o), _) => o,
                (None, Some(_)) => PathBuf::new(),
                (None, None) => bail!("--out DIR is required (or `out` in the --config file)"),
            },
            resume: args.resume,
            force: args.force,
            stop_after: args.stop_after,
            names,
        };
        plan.validate()?;
        Ok(plan)
    }
}

/// The `cdg train` command that reproduces a run, from its options record (the validated
/// plan): every option as a flag, in the plan's order; `--out`, `--threads` and `--force`
/// are not part of the record and are left to the user (`--out DIR`).
pub(crate) fn command_line(plan: &serde_json::Value) -> String {
    use serde_json::Value;
    let quote = |s: &str| {
        if !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.,/:=+".contains(c))
        {
            s.to_owned()
        } else {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
    };
    let mut words = vec!["cdg".to_owned(), "train".to_owned()];
    if let Value::Object(map) = plan {
        for (key, value) in map {
            let flag = format!("--{}", key.replace('_', "-"));
            let text = match value {
                Value::Null => continue,
                // `--knn-init` is a switch; `--augment` takes a value.
                Value::Bool(b) if key == "knn_init" => {
                    if *b {
                        words.push(flag);
                    }
                    continue;
                }
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                Value::Array(items) => items
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                Value::Object(_) => continue,
            };
            words.push(flag);
            words.push(quote(&text));
        }
    }
    words.push("--out".to_owned());
    words.push("DIR".to_owned());
    words.join(" ")
}

/// Most worker threads `--threads` accepts.
const MAX_THREADS: usize = 1024;

impl TrainPlan {
    /// The option `key` as the user gave it (flag or config key).
    pub fn name(&self, key: &str) -> String {
        self.names.name(key)
    }

    /// Checks the range of every option, naming each as the user gave it, before anything is
    /// loaded or trained (a bad value found after training would lose the run).
    fn validate(&self) -> anyhow::Result<()> {
        let n = |key: &str| self.name(key);
        let positive = |key: &str, v: f64| -> anyhow::Result<()> {
            if !(v.is_finite() && v > 0.0) {
                bail!("{}: expected a positive number, found {v}", n(key));
            }
            Ok(())
        };
        let non_negative = |key: &str, v: f64| -> anyhow::Result<()> {
            if !(v.is_finite() && v >= 0.0) {
                bail!("{}: expected a number ≥ 0, found {v}", n(key));
            }
            Ok(())
        };
        let at_least = |key: &str, v: usize, min: usize| -> anyhow::Result<()> {
            if v < min {
                bail!("{}: expected at least {min}, found {v}", n(key));
            }
            Ok(())
        };
        positive("width", self.width)?;
        if self.model == ModelKind::Resnet18 && self.width > 64.0 {
            bail!(
                "{}: expected at most 64 (ResNet-18 at width {} has about {:.0e} parameters)",
                n("width"),
                self.width,
                11.2e6 * self.width * self.width
            );
        }
        positive("lr", self.lr)?;
        non_negative("weight_decay", self.weight_decay)?;
        if !(0.0..1.0).contains(&self.momentum) {
            bail!(
                "{}: expected a number in [0, 1), found {}",
                n("momentum"),
                self.momentum
            );
        }
        at_least("epochs", self.epochs, 1)?;
        let ssl = self.objective != Objective::Supervised;
        // Contrastive losses need negatives and BatchNorm needs two images.
        at_least("batch", self.batch, if ssl { 2 } else { 1 })?;
        at_least("threads", self.threads, 1)?;
        if self.threads > MAX_THREADS {
            bail!(
                "{}: expected at most {MAX_THREADS}, found {}",
                n("threads"),
                self.threads
            );
        }
        if self.warmup_epochs > self.epochs {
            bail!(
                "{}: {} is more than {} {}",
                n("warmup_epochs"),
                self.warmup_epochs,
                n("epochs"),
                self.epochs
            );
        }
        if let Some(limit) = self.limit_train {
            at_least("limit_train", limit, 1)?;
        }
        if let Some(r) = self.resolution {
            let (lo, hi) = cdg_train::data::RESOLUTION_RANGE;
            if !(lo..=hi).contains(&r) {
                bail!(
                    "{}: expected {lo} to {hi} pixels, found {r}",
                    n("resolution")
                );
            }
        }
        if self.init_from.is_some() && !ssl {
            bail!(
                "{} initialises SSL runs; use it with {} simclr or simsiam",
                n("init_from"),
                n("objective")
            );
        }
        if let Some(limit) = self.limit_test {
            at_least("limit_test", limit, 1)?;
        }
        if let Some(t) = self.target_sparsity
            && !(0.0..1.0).contains(&t)
        {
            bail!(
                "{}: expected a fraction in [0, 1), found {t}",
                n("target_sparsity")
            );
        }
        if self.objective == Objective::Supervised && self.gating != Gating::None {
            bail!(
                "{} {:?}: gated training runs with {} simclr or simsiam",
                n("gating"),
                self.gating,
                n("objective")
            );
        }
        if self.gating != Gating::None
            && self.threshold == ThresholdKind::Scheduled
            && self.target_sparsity.is_none()
        {
            bail!(
                "{} scheduled needs {}",
                n("threshold"),
                n("target_sparsity")
            );
        }
        non_negative("threshold_target", self.threshold_target)?;
        non_negative("gate_consistency", self.gate_consistency)?;
        if let Some(d) = self.gate_block.iter().find(|&&d| d == 0) {
            bail!(
                "{}: every dimension must be at least 1, found {d} in {:?}",
                n("gate_block"),
                self.gate_block
            );
        }
        at_least("base_partitions", self.base_partitions, 1)?;
        if let Some(m) = self.train_skip_margin {
            if m.is_nan() || m < 0.0 {
                bail!(
                    "{}: expected a number ≥ 0 (or inf), found {m}",
                    n("train_skip_margin")
                );
            }
            if self.gating == Gating::None {
                bail!(
                    "{} applies to gated training; use it with {} independent or dual",
                    n("train_skip_margin"),
                    n("gating")
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

    /// Checks what the options need of the loaded data, before the first step: the linear
    /// probe's class count, and that the model and a batch fit in the memory limit.
    fn check_data(&self, split: &DataSplit) -> anyhow::Result<()> {
        let train = &split.train;
        if self.objective != Objective::Supervised && !(1..=256).contains(&train.classes) {
            bail!(
                "data `{}` has {} classes; the linear probe at the end of an SSL run handles 1 \
                 to 256",
                self.data,
                train.classes
            );
        }
        if let Some(r) = self.resolution
            && !matches!(self.source(), DataSource::ImageFolder(_))
            && (train.height(), train.width()) != (r, r)
        {
            bail!(
                "{} {r} applies to image folders (`image-folder:PATH`); data `{}` has {}×{} \
                 images",
                self.name("resolution"),
                self.data,
                train.height(),
                train.width()
            );
        }
        let model = self.model_config(train.channels(), train.height(), Some(train.classes));
        let views = if self.objective == Objective::Supervised {
            1
        } else {
            2
        };
        let (params, activations) =
            memory_estimate(&model, train.height(), train.width(), self.batch * views);
        let head = if self.objective == Objective::Supervised {
            0
        } else {
            // Projector and predictor: a few feature × hidden and hidden × hidden matrices.
            (model.feature_dim() as u64 + 2 * self.proj_hidden as u64)
                .saturating_mul(self.proj_hidden as u64)
                .saturating_mul(3)
        };
        // Weights, gradients, momentum and a copy, in f32.
        let bytes = params
            .saturating_add(head)
            .saturating_mul(16)
            .saturating_add(activations);
        cdg_io::limits::check_memory(
            format!(
                "training ({}, {} {}, {views} view{} of {}×{}×{} images; estimated)",
                match self.model {
                    ModelKind::Tiny => "the tiny ResNet".to_owned(),
                    ModelKind::Resnet18 =>
                        format!("ResNet-18 at {} {}", self.name("width"), self.width),
                },
                self.name("batch"),
                self.batch,
                if views == 1 { "" } else { "s" },
                train.channels(),
                train.height(),
                train.width()
            ),
            bytes,
        )?;
        Ok(())
    }

    /// The backbone for `side`×`side` images with `in_channels` channels (the stem follows
    /// `--stem`, else the image size).
    pub(crate) fn model_config(
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

    /// `--data` as a data source.
    fn source(&self) -> DataSource {
        match self.data.parse() {
            Ok(source) => source,
            Err(never) => match never {},
        }
    }

    /// The plan as recorded in checkpoints and summaries (`plan`): resuming needs the same.
    fn record(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("the plan serializes")
    }

    fn supervised_config(
        &self,
        in_channels: usize,
        side: usize,
        classes: usize,
    ) -> SupervisedConfig {
        SupervisedConfig {
            model: self.model_config(in_channels, side, Some(classes)),
            epochs: self.epochs,
            batch: self.batch,
            lr: self.lr,
            warmup_epochs: self.warmup_epochs,
            sgd: SgdConfig {
                momentum: self.momentum,
                weight_decay: self.weight_decay,
                ..SgdConfig::default()
            },
            seed: self.seed,
            augment: self.augment,
        }
    }
}

/// A rough size of a ResNet's parameters (count) and of its training memory for `images`
/// images of `h`×`w` (bytes): every convolution keeps its input and its output with the
/// BatchNorm and ReLU buffers for backward, and the largest im2col patch matrix exists once at
/// a time. Meant to refuse absurd runs before they allocate, not to predict the peak.
fn memory_estimate(model: &ResNetConfig, h: usize, w: usize, images: usize) -> (u64, u64) {
    let (mut params, mut kept, mut patches) = (0u64, 0u64, 0u64);
    let mut pool_kept = 0u64;
    let (mut c_in, mut hw) = (model.in_channels as u64, (h * w) as u64);
    let mut conv = |c_in: u64, c_out: u64, hw: u64, k2: u64| {
        params = params.saturating_add(k2 * c_in * c_out);
        kept = kept.saturating_add(hw * (c_in + 3 * c_out));
        patches = patches.max(hw * k2 * c_in);
    };
    match model.stem {
        Stem::Cifar => conv(c_in, model.stem_channels as u64, hw, 9),
        Stem::Imagenet => {
            // 7×7 stride 2 (output hw/4), then the max-pool keeps its input and output.
            hw = (hw / 4).max(1);
            conv(c_in, model.stem_channels as u64, hw, 49);
            pool_kept = hw * model.stem_channels as u64;
            hw = (hw / 4).max(1);
        }
    }
    c_in = model.stem_channels as u64;
    for stage in &model.stages {
        let c = stage.channels as u64;
        hw = (hw / (stage.stride * stage.stride) as u64).max(1);
        for _ in 0..stage.blocks {
            conv(c_in, c, hw, 9);
            conv(c, c, hw, 9);
            c_in = c;
        }
    }
    let bytes = kept
        .saturating_add(pool_kept)
        .saturating_add(patches)
        .saturating_mul(4)
        .saturating_mul(images as u64);
    (params, bytes)
}

/// Sets the worker threads of rayon, which runs the kernels and the GEMM, once per process:
/// `cdg run` trains several models in one process, and a second call with the same count is a
/// no-op.
fn set_threads(n: usize) -> anyhow::Result<()> {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    if let Some(&set) = THREADS.get() {
        if set == n {
            return Ok(());
        }
        bail!("worker threads were already set to {set} in this process; cannot use {n}");
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .context("setting up the worker threads")?;
    let _ = THREADS.set(n);
    Ok(())
}

pub fn run(args: TrainArgs, ui: &Ui) -> anyhow::Result<ExitCode> {
    let bench = args
        .bench_steps
        .map(|n| (n, args.bench_channels.unwrap_or(3)));
    let plan = args.plan()?;
    set_threads(plan.threads)?;
    if let Some((steps, channels)) = bench {
        return run_bench(&plan, steps, channels);
    }
    let mut out = open_out(&plan)?;
    match plan.objective {
        Objective::Supervised => run_supervised(&plan, &mut out, ui),
        Objective::Simclr | Objective::Simsiam => ssl::run_ssl(&plan, &mut out, ui),
    }
}

/// Locks `--out` for the whole run. An earlier run there is continued only with `--resume`
/// and replaced only with `--force` (docs/formats.md §5).
fn open_out(plan: &TrainPlan) -> anyhow::Result<OutputDir> {
    let out = OutputDir::create(&plan.out, &cdg_io::layout::train::KIND)?;
    if !plan.resume && !plan.force && out.has_previous_output() {
        let record = out.record();
        bail!(
            "--out {} holds an earlier training run ({}{}); pass --resume to continue it or \
             --force to replace it",
            plan.out.display(),
            record
                .files
                .iter()
                .chain(&record.dirs)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            if record.state == cdg_io::output::State::Complete {
                ", complete"
            } else {
                ", not finished"
            }
        );
    }
    Ok(out)
}

fn run_bench(plan: &TrainPlan, steps: usize, channels: usize) -> anyhow::Result<ExitCode> {
    if steps == 0 || channels == 0 {
        bail!("--bench-steps and --bench-channels: expected at least 1");
    }
    if plan.objective != Objective::Supervised {
        let split = load_data(plan)?;
        let r = cdg_train::ssl::bench_ssl(
            &plan.ssl_config(split.train.channels(), split.train.height())?,
            &split.train,
            steps,
        )?;
        let sparsity = r
            .gate_sparsity
            .map_or(String::new(), |s| format!(", gate sparsity {s:.3}"));
        println!(
            "{:?} model {:?} width {} batch {} gating {:?} threads {}: {} steps in {:.2} s, {:.1} views/s{sparsity}",
            plan.objective,
            plan.model,
            plan.width,
            plan.batch,
            plan.gating,
            plan.threads,
            r.steps,
            r.seconds,
            r.views_per_s,
        );
        println!("views_per_s {:.3}", r.views_per_s);
        return Ok(ExitCode::SUCCESS);
    }
    // The benchmark's random images are 32×32.
    let r = bench_supervised(&plan.supervised_config(channels, 32, 10), channels, steps)?;
    println!(
        "model {:?} width {} batch {} threads {}: {} steps in {:.2} s, {:.1} images/s ({:.1} GFLOP/s at 3 × {} per image)",
        plan.model,
        plan.width,
        plan.batch,
        plan.threads,
        r.steps,
        r.seconds,
        r.images_per_s,
        r.images_per_s * 6.0 * r.macs_per_image.as_f64() / 1e9,
        r.macs_per_image
    );
    println!("images_per_s {:.3}", r.images_per_s);
    Ok(ExitCode::SUCCESS)
}

/// Loads `--data` (an image folder is listed and its decoded size checked against the memory
/// limit before anything is decoded) and warns about the files of an image folder that were
/// not read.
fn load_data(plan: &TrainPlan) -> anyhow::Result<DataSplit> {
    let source = plan.source();
    let context = || format!("loading data `{}`", plan.data);
    let options = LoadOptions {
        resolution: plan.resolution,
        limit_train: plan.limit_train,
        limit_test: plan.limit_test,
        max_memory_bytes: Some(cdg_io::limits::max_memory()),
    };
    if let Some(scan) = source.scan(&options).with_context(context)? {
        let r = plan
            .resolution
            .unwrap_or(cdg_train::data::DEFAULT_FOLDER_RESOLUTION);
        cdg_io::limits::check_memory(
            format!(
                "decoding {} + {} images of {} at {r}×{r} (held in memory as f32; lower {} or \
                 use {} / {})",
                scan.train.files.len(),
                scan.test.files.len(),
                plan.data,
                plan.name("resolution"),
                plan.name("limit_train"),
                plan.name("limit_test")
            ),
            scan.decoded_bytes(r),
        )?;
    }
    let loaded = source.load_with(&options).with_context(context)?;
    if !loaded.skipped.is_empty() {
        const SHOWN: usize = 5;
        let mut list: Vec<String> = loaded
            .skipped
            .iter()
            .take(SHOWN)
            .map(|p| p.display().to_string())
            .collect();
        if loaded.skipped.len() > SHOWN {
            list.push(format!("and {} more", loaded.skipped.len() - SHOWN));
        }
        eprintln!(
            "warning: data `{}`: skipped {} entries that are not JPEG/PNG files in a class \
             folder: {}",
            plan.data,
            loaded.skipped.len(),
            list.join(", ")
        );
    }
    Ok(loaded.split)
}

/// With `--resume`, reads the checkpoint in `--out` and checks it was written with the same
/// options; `None` otherwise.
fn read_resume(plan: &TrainPlan) -> anyhow::Result<Option<Resume>> {
    if !plan.resume {
        return Ok(None);
    }
    let path = plan.out.join(CHECKPOINT_FILE);
    let context = || format!("--resume: {}", path.display());
    let bytes = std::fs::read(&path).with_context(context)?;
    let checkpoint = Checkpoint::from_bytes(&bytes).with_context(context)?;
    match Resume::check(checkpoint, &plan.record()) {
        Ok(resume) => Ok(Some(resume)),
        Err(e @ TrainError::ResumeMismatch { .. }) => bail!("{} {e}", context()),
        Err(e) => Err(e).with_context(context),
    }
}

fn run_supervised(plan: &TrainPlan, out: &mut OutputDir, ui: &Ui) -> anyhow::Result<ExitCode> {
    let split = load_data(plan)?;
    plan.check_data(&split)?;
    let config = SupervisedSessionConfig {
        config: plan.supervised_config(
            split.train.channels(),
            split.train.height(),
            split.train.classes,
        ),
        stop_after: plan.stop_after,
        options: plan.record(),
    };
    let mut session =
        SupervisedSession::new(config, &split.train).context("setting up training")?;
    if let Some(resume) = read_resume(plan)? {
        session
            .resume(resume)
            .with_context(|| format!("--resume: {}", plan.out.join(CHECKPOINT_FILE).display()))?;
    }
    out.begin(plan.resume)?;
    let mut outputs = TrainOutputs::new(out, ui, Mode::Supervised);
    let outcome = session.run(&split, &mut outputs);
    match outputs.outcome(outcome)? {
        SupervisedOutcome::Stopped { .. } => {}
        SupervisedOutcome::Complete {
            epochs,
            test_accuracy,
        } => {
            outputs.finish()?;
            if let Some(acc) = test_accuracy {
                eprintln!(
                    "test accuracy after {epochs} epochs: {:.2}% ({})",
                    100.0 * acc,
                    plan.out.join(cdg_io::layout::train::METRICS_CSV).display()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
