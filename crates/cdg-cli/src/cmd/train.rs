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
//! Parsing is two-stage: [`TrainArgs`] are the training options (`cdg_train::TrainOptions`,
//! each declared once there, with its default) and the command's own ([`CommandOptions`]);
//! the TOML file of `--config` (keys = flag names with underscores) and the flags given on
//! the command line (told from defaults by clap's `ArgMatches`; they win) are merged and
//! deserialised once into a validated [`TrainPlan`]; only then does anything load or run. The
//! epoch loops, resume and the summaries are `cdg_train::session`; `train/observer.rs` is the
//! session's observer that writes the files (through `cdg-io`) and draws the progress bars.

mod observer;
mod ssl;

use crate::ui::Ui;
use anyhow::{Context, bail};
use cdg_io::layout::train::CHECKPOINT_FILE;
use cdg_io::output::OutputDir;
use cdg_train::checkpoint::Checkpoint;
use cdg_train::data::{DataSource, DataSplit, LoadOptions};
use cdg_train::options::ModelKind;
use cdg_train::session::{
    Resume, SupervisedOutcome, SupervisedSession, SupervisedSessionConfig, bench_supervised,
};
use cdg_train::ssl::Objective;
use cdg_train::train::SupervisedConfig;
use cdg_train::{TrainError, TrainOptions};
use observer::{Mode, TrainOutputs};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

/// The options of `cdg train` that are not options of the training itself: where the run
/// goes, how it runs, the benchmark. Keys of the `--config` file as well, with the global
/// `quiet` and `max_memory` (flags given on the command line win).
#[derive(Debug, Default, Clone, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommandOptions {
    /// Worker threads for kernels and GEMM [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Output directory (metrics.csv, summary.json, checkpoint.cdgckpt).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue from DIR/checkpoint.cdgckpt (same options required).
    #[arg(long, conflicts_with = "force")]
    pub resume: bool,
    /// Replace the earlier run in --out (its checkpoint, metrics, summary and trace).
    #[arg(long)]
    pub force: bool,
    /// Benchmark: time N training steps (after one warm-up step), print images/s and exit.
    /// Supervised: random input, using --model, --width, --batch, --threads and
    /// --bench-channels. SimCLR/SimSiam: batches of --data with augmentation and every SSL
    /// and gating option, sparsity ramp off; prints views/s (two views per image).
    #[arg(long, value_name = "N")]
    pub bench_steps: Option<usize>,
    /// Input channels of the benchmark's random images [default: 3, as CIFAR].
    #[arg(long, value_name = "C")]
    pub bench_channels: Option<usize>,
    /// Stop after this many epochs as if interrupted (tests of --resume).
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
    /// `quiet = true` in the config file: the global `--quiet`.
    #[arg(skip)]
    pub quiet: bool,
    /// `max_memory = "16G"` in the config file: the global `--max-memory`.
    #[arg(skip)]
    pub max_memory: Option<String>,
}

/// Flags of `cdg train`: the training options ([`TrainOptions`], declared once in
/// `cdg-train`) and the command's own ([`CommandOptions`]).
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// TOML file with any of these options (keys = flag names with underscores, also `quiet`
    /// and `max_memory`); flags given on the command line win.
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// Boxed: the largest of the subcommands' arguments.
    #[command(flatten)]
    pub options: Box<TrainOptions>,
    #[command(flatten)]
    pub command: CommandOptions,
}

/// A validated training run: the training options and what the command resolved around them.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainPlan {
    pub options: TrainOptions,
    pub threads: usize,
    pub out: PathBuf,
    pub resume: bool,
    pub force: bool,
    pub stop_after: Option<usize>,
    /// `--bench-steps` and `--bench-channels`.
    pub bench: Option<(usize, usize)>,
    /// `quiet = true` in the config file.
    pub quiet: bool,
    /// Where each option came from, for messages (`--lr` or `lr` in the config file).
    pub names: OptionNames,
}

/// How to name an option in a message: as the flag the user typed, or as the key of the
/// `--config` file that set it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OptionNames {
    config: Option<PathBuf>,
    from_config: BTreeSet<String>,
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

/// The keys of a serialisable struct (every field serialises, `None` as null).
fn keys_of(value: &impl Serialize) -> BTreeSet<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => BTreeSet::new(),
    }
}

/// Reads and parses a `--config` file. A key given twice is named with its line.
fn read_config(path: &std::path::Path) -> anyhow::Result<toml::Table> {
    let text = cdg_io::limits::read_input_text(path)
        .with_context(|| format!("reading config {}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        let message = e.message();
        if let Some(span) = e.span().filter(|_| message.starts_with("duplicate key")) {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let key = text
                .get(span.clone())
                .unwrap_or_default()
                .trim()
                .trim_matches(['"', '\''])
                .to_owned();
            return anyhow::anyhow!(
                "config {}: key `{}` on line {line} is given twice (each option once)",
                path.display(),
                cdg_io::error::clip_text(&key)
            );
        }
        anyhow::anyhow!(
            "config {}: invalid training options: {}",
            path.display(),
            cdg_io::error::clip_text(message)
        )
    })
}

/// Deserialises the merged options; an error names the key that caused it (a value from the
/// config file as its key there, one from the command line as its flag).
fn deserialize<T: serde::de::DeserializeOwned>(
    table: toml::Table,
    names: &OptionNames,
) -> anyhow::Result<T> {
    let whole = match table.clone().try_into() {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    let clip = |e: &toml::de::Error| cdg_io::error::clip_text(e.message());
    for (key, value) in table {
        let alone = toml::Table::from_iter([(key.clone(), value)]);
        if let Err(e) = alone.try_into::<T>() {
            return Err(anyhow::anyhow!("{}: {}", names.name(&key), clip(&e)));
        }
    }
    Err(anyhow::anyhow!(
        "invalid training options: {}",
        clip(&whole)
    ))
}

impl TrainArgs {
    /// Merges the `--config` file and the flags given on the command line (`matches`, the
    /// flags win), deserialises the result once and checks every value.
    pub fn plan(self, matches: &clap::ArgMatches) -> anyhow::Result<TrainPlan> {
        use clap::parser::ValueSource;
        let given: BTreeSet<String> = matches
            .ids()
            .map(|id| id.as_str())
            .filter(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
            .map(str::to_owned)
            .collect();
        let Some(path) = self.config.clone() else {
            return TrainPlan::new(*self.options, self.command, OptionNames::default());
        };
        let mut table = read_config(&path)?;
        let names = OptionNames {
            config: Some(path.clone()),
            // A key the file sets is named as the file's key in messages, unless the command
            // line gives the flag too (the flag wins).
            from_config: table
                .keys()
                .filter(|k| !given.contains(*k))
                .cloned()
                .collect(),
        };
        let serialize = |e: toml::ser::Error| anyhow::anyhow!("the flags as TOML: {e}");
        let mut flags = toml::Table::try_from(&*self.options).map_err(serialize)?;
        flags.extend(toml::Table::try_from(&self.command).map_err(serialize)?);
        for key in &given {
            if let Some(value) = flags.remove(key) {
                table.insert(key.clone(), value);
            }
        }
        if given.contains("max_memory") {
            // Already applied from the command line.
            table.remove("max_memory");
        }
        let command_keys = keys_of(&CommandOptions::default());
        let mut command_table = toml::Table::new();
        for key in &command_keys {
            if let Some(v) = table.remove(key) {
                command_table.insert(key.clone(), v);
            }
        }
        let options: TrainOptions = deserialize(table, &names)?;
        let mut command: CommandOptions = deserialize(command_table, &names)?;
        command.quiet |= self.command.quiet;
        TrainPlan::new(options, command, names)
    }
}

impl TrainPlan {
    /// Resolves the command's options (threads, output, config-file `max_memory`) and checks
    /// every value, naming each as the user gave it, before anything is loaded or trained (a
    /// bad value found after training would lose the run).
    pub fn new(
        options: TrainOptions,
        command: CommandOptions,
        names: OptionNames,
    ) -> anyhow::Result<TrainPlan> {
        let n = |key: &str| names.name(key);
        options
            .validate_named(&|key: &str| n(key))
            .map_err(|e| match e {
                TrainError::Config { key, reason } => anyhow::anyhow!("{}: {reason}", n(&key)),
                other => anyhow::Error::new(other),
            })?;
        let threads = command
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if !(1..=MAX_THREADS).contains(&threads) {
            bail!(
                "{}: expected 1 to {MAX_THREADS}, found {threads}",
                n("threads")
            );
        }
        if command.resume && command.force {
            bail!(
                "{} and {} exclude each other (continue the run or replace it)",
                n("resume"),
                n("force")
            );
        }
        if let Some(size) = &command.max_memory {
            let bytes = cdg_io::limits::parse_size(size)
                .map_err(|e| anyhow::anyhow!("{}: {e}", n("max_memory")))?;
            cdg_io::limits::set_max_memory(bytes);
        }
        let bench = command
            .bench_steps
            .map(|steps| (steps, command.bench_channels.unwrap_or(3)));
        let out = match (command.out, bench) {
            (Some(o), _) => o,
            (None, Some(_)) => PathBuf::new(),
            (None, None) => bail!("--out DIR is required (or `out` in the --config file)"),
        };
        Ok(TrainPlan {
            options,
            threads,
            out,
            resume: command.resume,
            force: command.force,
            stop_after: command.stop_after,
            bench,
            quiet: command.quiet,
            names,
        })
    }

    /// The option `key` as the user gave it (flag or config key).
    pub fn name(&self, key: &str) -> String {
        self.names.name(key)
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
            // The tiny model has no width multiplier (giving one is an error).
            if key == "width" && map.get("model").and_then(Value::as_str) == Some("tiny") {
                continue;
            }
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
    /// Checks what the options need of the loaded data, before the first step: the linear
    /// probe's class count, and that the model and a batch fit in the memory limit.
    fn check_data(&self, split: &DataSplit) -> anyhow::Result<()> {
        let o = &self.options;
        let train = &split.train;
        if o.is_ssl() && !(1..=256).contains(&train.classes) {
            bail!(
                "data `{}` has {} classes; the linear probe at the end of an SSL run handles 1 \
                 to 256",
                o.data,
                train.classes
            );
        }
        if let Some(r) = o.resolution
            && !matches!(self.source(), DataSource::ImageFolder(_))
            && (train.height(), train.width()) != (r, r)
        {
            bail!(
                "{} {r} applies to image folders (`image-folder:PATH`); data `{}` has {}×{} \
                 images",
                self.name("resolution"),
                o.data,
                train.height(),
                train.width()
            );
        }
        let model = o.model_config(train.channels(), train.height(), Some(train.classes));
        let views = o.views();
        cdg_io::limits::check_memory(
            format!(
                "training ({}, {} {}, {views} view{} of {}×{}×{} images; estimated)",
                match o.model {
                    ModelKind::Tiny => "the tiny ResNet".to_owned(),
                    ModelKind::Resnet18 =>
                        format!("ResNet-18 at {} {}", self.name("width"), o.width),
                },
                self.name("batch"),
                o.batch,
                if views == 1 { "" } else { "s" },
                train.channels(),
                train.height(),
                train.width()
            ),
            o.estimated_training_bytes(&model, train.height(), train.width()),
        )?;
        Ok(())
    }

    /// `--data` as a data source.
    fn source(&self) -> DataSource {
        match self.options.data.parse() {
            Ok(source) => source,
            Err(never) => match never {},
        }
    }

    /// The options as recorded in checkpoints and summaries (`plan`): resuming needs the same.
    fn record(&self) -> serde_json::Value {
        self.options.record()
    }

    fn supervised_config(
        &self,
        in_channels: usize,
        side: usize,
        classes: usize,
    ) -> SupervisedConfig {
        SupervisedConfig {
            model: self.options.model_config(in_channels, side, Some(classes)),
            options: self.options.clone(),
        }
    }
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

/// `cdg train`: `matches` are the subcommand's, to tell the flags given from defaults.
pub fn run(args: TrainArgs, matches: &clap::ArgMatches, ui: &Ui) -> anyhow::Result<ExitCode> {
    run_plan(&args.plan(matches)?, ui)
}

/// Runs a validated plan (also `cdg run`'s training step).
pub fn run_plan(plan: &TrainPlan, ui: &Ui) -> anyhow::Result<ExitCode> {
    let quiet = Ui::new(true);
    let ui = if plan.quiet { &quiet } else { ui };
    set_threads(plan.threads)?;
    if let Some((steps, channels)) = plan.bench {
        return run_bench(plan, steps, channels);
    }
    let plan = plan.clone();
    let mut out = open_out(&plan)?;
    match plan.options.objective {
        Objective::Supervised => run_supervised(&plan, &mut out, ui),
        Objective::Simclr | Objective::Simsiam => ssl::run_ssl(&plan, &mut out, ui),
    }
}

/// Locks `--out` for the whole run. An earlier run there is continued only with `--resume`
/// and replaced only with `--force` (docs/formats.md §5).
fn open_out(plan: &TrainPlan) -> anyhow::Result<OutputDir> {
    let kind = &cdg_io::layout::train::KIND;
    let out = OutputDir::create(&plan.out, kind)?;
    let record = out.record();
    if out.had_record() && record.kind != kind.name && out.has_previous_output() && !plan.force {
        bail!(
            "--out {} holds a `{}` output, not a training run; {}pass --force to replace it \
             or choose another --out",
            plan.out.display(),
            record.kind,
            if plan.resume {
                "there is nothing to resume; "
            } else {
                ""
            }
        );
    }
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
    if plan.options.is_ssl() {
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
            plan.options.objective,
            plan.options.model,
            plan.options.width,
            plan.options.batch,
            plan.options.gating,
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
        plan.options.model,
        plan.options.width,
        plan.options.batch,
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
    let context = || format!("loading data `{}`", plan.options.data);
    let options = LoadOptions {
        resolution: plan.options.resolution,
        limit_train: plan.options.limit_train,
        limit_test: plan.options.limit_test,
        max_memory_bytes: Some(cdg_io::limits::max_memory()),
    };
    if let Some(scan) = source.scan(&options).with_context(context)? {
        let r = plan
            .options
            .resolution
            .unwrap_or(cdg_train::data::DEFAULT_FOLDER_RESOLUTION);
        cdg_io::limits::check_memory(
            format!(
                "decoding {} + {} images of {} at {r}×{r} (held in memory as f32; lower {} or \
                 use {} / {})",
                scan.train.files.len(),
                scan.test.files.len(),
                plan.options.data,
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
            plan.options.data,
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
    let bytes = cdg_io::limits::read_input(&path).with_context(context)?;
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
        record: plan.record(),
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
