//! `cdg run`: the main job. Gets gate traces, sweeps every shipped arch config under each of
//! the four skip policies over them, and writes CSVs and SVGs under `results/` with a short
//! table per design and policy on stdout.
//!
//! Where the traces come from, in order:
//! 1. **Training** ([`train_traces`]) — unless `--no-train`: two small CDG (dual-gating
//!    SimCLR) ResNet-18 models on the built-in Fashion-MNIST subset, one with structured
//!    (16×1×1) and one with unstructured (1×1×1) gates, each exactly as `cdg train` would run
//!    them (outputs in `out/train-structured/` and `out/train-unstructured/`); their calibrated
//!    evaluation traces are the workloads. Both start from the shipped dense SimCLR backbone
//!    (`--init-from`, default [`DEFAULT_INIT`]; `--from-scratch` for random weights) and
//!    train the gates while fine-tuning it, as channel gating fine-tunes a pretrained network.
//!    Each model's kNN accuracy is printed beside the random-initialisation floor (the same
//!    network untrained). A few minutes on 2 cores by default; `--epochs` and
//!    `--train-images` make it longer or shorter.
//! 2. **Shipped traces** (with `--no-train`) — every trace directory under `--traces`
//!    (default `traces/`).
//! 3. **Synthetic traces** (with `--no-train`, when there are no shipped traces or with
//!    `--synthetic`) — ResNet-18 CIFAR (`--width`, 1 input channel like the built-in
//!    Fashion-MNIST data) with random block gates at `--density`: one structured
//!    (16×1×1 channel blocks) and one unstructured (1×1×1) trace, written to `results/traces/`.
//!    The output says clearly that these are synthetic.

use crate::ui::{SweepBar, Ui};
use anyhow::{Context, bail};
use cdg_core::SkipPolicy;
use cdg_io::layout::run::{TRACES_DIR, gate_density_svg, train_dir};
use cdg_io::layout::train::TRACE_DIR;
use cdg_io::output::{OutputDir, Outputs};
use cdg_sweep::{PolicyGrid, SyntheticTraces, Workload};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// The shipped dense SimCLR backbone the main job starts from (README, docs/training.md §10).
pub const DEFAULT_INIT: &str = "models/simclr-resnet18-w0.25-fmnist.cdgckpt";

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Output directory.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub out: PathBuf,
    /// Directory of arch-config TOML files; every `*.toml` in it is one design.
    #[arg(long, value_name = "DIR", default_value = "arch-configs")]
    pub arch_configs: PathBuf,
    /// Directory of shipped trace directories, used when present (each holds manifest.json).
    #[arg(long, value_name = "DIR", default_value = "traces")]
    pub traces: PathBuf,
    /// Samples per trace: test images traced after training, or synthetic samples (more is
    /// slower and smoother).
    #[arg(long, default_value_t = 64)]
    pub samples: usize,
    /// With --no-train and synthetic traces: fraction of gate blocks on, in [0, 1].
    #[arg(long, default_value_t = 0.5)]
    pub density: f64,
    /// ResNet-18 width multiplier of the trained (or synthetic) models (the trainer's CPU
    /// default is 0.25).
    #[arg(long, default_value_t = 0.25)]
    pub width: f64,
    /// Synthetic traces: random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Skip training: simulate the shipped traces (or synthetic ones, see --synthetic).
    #[arg(long)]
    pub no_train: bool,
    /// Training: epochs of each of the two CDG models.
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// Training: images of the built-in training set used per epoch (at most 10 000).
    #[arg(long, value_name = "N", default_value_t = 2000)]
    pub train_images: usize,
    /// Training: evaluation gate sparsity the calibrated models meet, in [0, 1).
    #[arg(long, value_name = "FRACTION", default_value_t = 0.5)]
    pub target_sparsity: f64,
    /// Training: peak learning rate of the fine-tuning (cosine schedule).
    #[arg(long, default_value_t = DEFAULT_LR)]
    pub lr: f64,
    /// Training: dense checkpoint whose weights the gated models start from.
    #[arg(long, value_name = "CKPT", default_value = DEFAULT_INIT, conflicts_with = "from_scratch")]
    pub init_from: PathBuf,
    /// Training: start from random weights instead of --init-from.
    #[arg(long)]
    pub from_scratch: bool,
    /// With --no-train: use synthetic traces even when shipped traces exist.
    #[arg(long)]
    pub synthetic: bool,
    /// Also write layers.csv (one row per design, policy, trace and layer).
    #[arg(long)]
    pub layers: bool,
    /// Do not draw the SVG plots.
    #[arg(long)]
    pub no_plot: bool,
    /// Replace an output of another kind at --out (a sim or sweep output, a trace, a training
    /// run) as a whole; without it that is an error.
    #[arg(long)]
    pub force: bool,
}

/// Peak learning rate of the main job's fine-tuning.
const DEFAULT_LR: f64 = 0.05;

/// A trained model of the main job: its trace and its accuracy against the floor.
struct Trained {
    trace: PathBuf,
    knn: Option<f64>,
    floor: Option<f64>,
}

impl Trained {
    /// `kNN 61.2 % (random-init floor 46.8 %, +14.4 points)`.
    fn accuracy_line(&self) -> String {
        match (self.knn, self.floor) {
            (Some(k), Some(f)) => format!(
                "kNN {:.1} % (random-init floor {:.1} %, {:+.1} points)",
                100.0 * k,
                100.0 * f,
                100.0 * (k - f)
            ),
            (Some(k), None) => format!("kNN {:.1} %, random-init floor not recorded", 100.0 * k),
            _ => "kNN not recorded".to_owned(),
        }
    }
}

/// The `provenance` of a trace's manifest (written by `cdg train`), when readable.
fn manifest_provenance(dir: &std::path::Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join(cdg_io::layout::trace::MANIFEST_FILE)).ok()?;
    let mut manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(manifest["provenance"].take())
}

/// The kNN accuracy and floor a trace's manifest records (`provenance`, written by
/// `cdg train`), as the table header shows them; `None` when it records no kNN (traces from
/// other tools).
fn recorded_accuracy(dir: &std::path::Path) -> Option<String> {
    let provenance = manifest_provenance(dir)?;
    let p = &provenance;
    let recorded = Trained {
        trace: dir.to_owned(),
        knn: Some(p["knn_accuracy"].as_f64()?),
        floor: p["init_knn_accuracy"].as_f64(),
    };
    Some(recorded.accuracy_line())
}

/// The training step of the main job: two dual-gating SimCLR models (structured 16×1×1 and
/// unstructured gates) trained through the same code path as `cdg train`, each writing its
/// calibrated evaluation trace to `out/train-<granularity>/trace/`. Returns those trace
/// directories, or `None` with `--no-train`.
fn train_traces(
    args: &RunArgs,
    out_dir: &mut OutputDir,
    ui: &Ui,
) -> anyhow::Result<Option<Vec<Trained>>> {
    use super::train::{CommandOptions, OptionNames, TrainPlan};
    use cdg_train::TrainOptions;
    use cdg_train::gating::Granularity;
    use cdg_train::ssl::{Gating, Objective};
    if args.no_train {
        return Ok(None);
    }
    if args.epochs == 0 {
        bail!("--epochs must be at least 1 (or pass --no-train)");
    }
    if args.train_images == 0 {
        bail!("--train-images must be at least 1");
    }
    let init_from = (!args.from_scratch).then(|| args.init_from.clone());
    if let Some(path) = &init_from
        && !path.is_file()
    {
        bail!(
            "--init-from {}: no such checkpoint (the shipped one is {DEFAULT_INIT}, relative to \
             the repository root; pass --from-scratch to train from random weights)",
            path.display()
        );
    }
    let mut dirs = Vec::new();
    for (name, granularity) in [
        ("structured", Granularity::Structured),
        ("unstructured", Granularity::Unstructured),
    ] {
        // Recorded in the run's directory before it is written; a rerun replaces it.
        out_dir.claim_dir(&train_dir(name))?;
        let out = args.out.join(train_dir(name));
        eprintln!(
            "training CDG ({name} gates, {} epochs, {} images, target sparsity {}, {}) → {}",
            args.epochs,
            args.train_images,
            args.target_sparsity,
            match &init_from {
                Some(p) => format!("from {}", p.display()),
                None => "from random weights".to_owned(),
            },
            out.display()
        );
        let options = TrainOptions {
            objective: Objective::Simclr,
            width: args.width,
            epochs: args.epochs,
            batch: args.train_images.min(128),
            lr: args.lr,
            seed: args.seed,
            init_from: init_from.clone(),
            limit_train: Some(args.train_images),
            limit_test: Some(500),
            gating: Gating::Dual,
            granularity,
            target_sparsity: Some(args.target_sparsity),
            trace_samples: args.samples,
            calibration_samples: args.train_images.min(1000),
            probe_epochs: 20,
            knn_init: true,
            ..TrainOptions::default()
        };
        let command = CommandOptions {
            out: Some(out.clone()),
            force: true,
            ..CommandOptions::default()
        };
        let code = TrainPlan::new(options, command, OptionNames::default())
            .and_then(|plan| super::train::run_plan(&plan, ui))
            .with_context(|| format!("training the {name} CDG model of `cdg run`"))?;
        if code != ExitCode::SUCCESS {
            bail!("training the {name} CDG model of `cdg run` failed");
        }
        let summary = out.join(cdg_io::layout::train::SUMMARY_JSON);
        let text = std::fs::read_to_string(&summary)
            .with_context(|| format!("reading {}", summary.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("reading {}", summary.display()))?;
        let trained = Trained {
            trace: out.join(TRACE_DIR),
            knn: value["knn_accuracy"].as_f64(),
            floor: value["init_knn_accuracy"].as_f64(),
        };
        eprintln!("CDG ({name} gates): {}", trained.accuracy_line());
        dirs.push(trained);
    }
    Ok(Some(dirs))
}

/// Synthesizes the structured and unstructured traces and writes them under `out/traces/`.
fn synthetic_traces(args: &RunArgs, out_dir: &mut OutputDir) -> anyhow::Result<Vec<Workload>> {
    if !(0.0..=1.0).contains(&args.density) {
        bail!("--density {} is outside [0, 1]", args.density);
    }
    if !(args.width > 0.0 && args.width <= 4.0) {
        bail!("--width {} is outside (0, 4]", args.width);
    }
    if args.samples == 0 {
        bail!("--samples must be at least 1");
    }
    let traces = cdg_sweep::synthetic_traces(&SyntheticTraces {
        width: args.width,
        density: args.density,
        samples: args.samples,
        seed: args.seed,
    })?;
    let mut out = Vec::new();
    for (name, trace) in traces {
        // Written beside the earlier run's output, moved into place with the run's files.
        let dir = out_dir.stage_dir(&format!("{TRACES_DIR}/{name}"))?;
        let mut trace_dir = OutputDir::create(&dir, &cdg_io::layout::trace::KIND)?;
        cdg_io::trace::commit_trace(&mut trace_dir, &trace, true)?;
        drop(trace_dir);
        out.push(Workload::new(
            name,
            trace.network,
            trace.masks,
            trace.samples,
        ));
    }
    Ok(out)
}

/// The gate-density heatmap of every workload with masks.
fn heatmaps(workloads: &[Workload]) -> anyhow::Result<Outputs> {
    let mut out = Outputs::new();
    for w in workloads {
        if let Some(m) = &w.masks {
            out.add(
                gate_density_svg(&w.name),
                cdg_report::gate_density(&w.network, m)?,
            );
        }
    }
    Ok(out)
}

pub fn run(args: RunArgs, ui: &Ui) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    // Validate the designs before the (possibly long) trace step.
    let designs = PolicyGrid::load(&args.arch_configs)?;
    let traces = (args.no_train && !args.synthetic).then(|| args.traces.clone());
    let init_from = (!args.no_train && !args.from_scratch).then(|| args.init_from.clone());
    super::check_out(
        &args.out,
        &cdg_io::layout::run::KIND,
        &[
            ("--arch-configs", &Some(args.arch_configs.clone())),
            ("--traces", &traces.filter(|t| t.is_dir())),
            ("--init-from", &init_from),
        ],
        args.force,
    )?;
    let mut out_dir = OutputDir::create(&args.out, &cdg_io::layout::run::KIND)?;

    let mut accuracy = std::collections::BTreeMap::new();
    let mut recorded_models = Vec::new();
    let workloads = if let Some(trained) = train_traces(&args, &mut out_dir, ui)? {
        let mut loaded = Vec::new();
        for (t, name) in trained.iter().zip(["cdg-structured", "cdg-unstructured"]) {
            let mut w = Workload::trace(&t.trace)?;
            w.name = name.to_owned();
            accuracy.insert(w.name.clone(), t.accuracy_line());
            loaded.push(w);
        }
        loaded
    } else {
        let shipped = if args.synthetic {
            Vec::new()
        } else {
            cdg_sweep::shipped_traces(&args.traces)?
        };
        if shipped.is_empty() {
            eprintln!(
                "note: --no-train and no shipped traces used; simulating SYNTHETIC traces (random gates at density {}, {} samples, \
                 ResNet-18 width {}), written to {}",
                args.density,
                args.samples,
                args.width,
                args.out.join(TRACES_DIR).display()
            );
            synthetic_traces(&args, &mut out_dir)?
        } else {
            eprintln!(
                "note: --no-train; using the shipped traces in {}",
                args.traces.display()
            );
            let mut loaded = Vec::new();
            for dir in &shipped {
                let w = Workload::trace(dir)?;
                if let Some(line) = recorded_accuracy(dir) {
                    accuracy.insert(w.name.clone(), line);
                }
                if let Some((knn, floor)) = manifest_provenance(dir)
                    .as_ref()
                    .and_then(super::report::recorded_knn)
                {
                    recorded_models.push(cdg_report::ModelAccuracy {
                        workload: w.name.clone(),
                        knn,
                        floor,
                        floor_name: super::report::FLOOR_NAME.to_owned(),
                        source: "recorded in the shipped traces' manifests".to_owned(),
                    });
                }
                loaded.push(w);
            }
            loaded
        }
    };

    let run = designs.run(
        &workloads,
        args.layers,
        !args.no_plot,
        &SweepBar::new(ui, "designs"),
    )?;
    let mut outputs = run.outputs;
    if !args.no_plot {
        outputs.extend(heatmaps(&workloads)?);
    }
    // The report is drawn from the staged files, as `cdg report` would draw it from the
    // committed ones, and committed with them: the directory never holds the new files with
    // the old report, or none.
    let source = super::report::source_name(&args.out);
    // The models trained in place beside the staged files (their summaries), and the shipped
    // traces' recorded accuracies.
    recorded_models.extend(super::report::trained_models(&args.out));
    out_dir.commit_with(&outputs, |staged| -> anyhow::Result<Outputs> {
        let mut files = Outputs::new();
        if !args.no_plot {
            let html = super::report::render_named(
                staged,
                &source,
                &cdg_io::layout::run::KIND,
                &recorded_models,
            )?;
            files.add(cdg_io::layout::REPORT_HTML, html);
        }
        Ok(files)
    })?;
    let report = (!args.no_plot).then(|| args.out.join(cdg_io::layout::REPORT_HTML));

    for w in &workloads {
        println!(
            "\n{} ({} samples, gate block {}{})",
            w.name,
            w.samples,
            w.gate_block,
            accuracy
                .get(&w.name)
                .map_or_else(String::new, |a| format!("; {a}"))
        );
        println!(
            "{:<24} {:<11} {:>10} {:>21} {:>21} {:>12}",
            "", "", "", "cycle reduction", "energy saving", ""
        );
        println!(
            "{:<24} {:<11} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12}",
            "design",
            "support",
            "FLOPs red.",
            "vs ungated",
            "vs dense",
            "vs ungated",
            "vs dense",
            "utilization"
        );
        for r in run.summary.iter().filter(|r| r.workload == w.name) {
            println!(
                "{:<24} {:<11} {:>9.2}× {:>9.2}× {:>9.2}× {:>9.1}% {:>9.1}% {:>12.3}",
                r.design,
                r.support,
                r.flops_reduction,
                r.cycle_reduction_vs_ungated,
                r.cycle_reduction_vs_dense_policy,
                100.0 * r.energy_saving_vs_ungated,
                100.0 * r.energy_saving_vs_dense_policy,
                r.utilization
            );
        }
    }
    println!(
        "\n\"vs ungated\": against the network without gates, each layer on its best dense schedule; \
         \"vs dense\": against the same design under `sparsity.support = dense` (docs/model.md §8)"
    );
    println!(
        "\n{} designs × {} policies × {} traces in {:.1} s → {}",
        designs.designs.len(),
        SkipPolicy::ALL.len(),
        workloads.len(),
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    if let Some(report) = report {
        println!("report: {}", report.display());
    }
    Ok(ExitCode::SUCCESS)
}
