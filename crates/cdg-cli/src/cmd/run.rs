//! `cdg run`: the main job. Gets gate traces, sweeps every shipped arch config under each of
//! the four skip policies over them, and writes CSVs and SVGs under `results/` with a short
//! table per design and policy on stdout.
//!
//! Where the traces come from, in order:
//! 1. **Training** ([`train_traces`]) — unless `--no-train`: two small CDG (dual-gating
//!    SimCLR) ResNet-18 models on the built-in Fashion-MNIST subset, one with structured
//!    (16×1×1) and one with unstructured (1×1×1) gates, each exactly as `cdg train` would run
//!    them (outputs in `out/train-structured/` and `out/train-unstructured/`); their calibrated
//!    evaluation traces are the workloads. A few minutes on 2 cores by default; `--epochs` and
//!    `--train-images` make it longer or shorter.
//! 2. **Shipped traces** (with `--no-train`) — every trace directory under `--traces`
//!    (default `traces/`).
//! 3. **Synthetic traces** (with `--no-train`, when there are no shipped traces or with
//!    `--synthetic`) — ResNet-18 CIFAR (`--width`, 1 input channel like the built-in
//!    Fashion-MNIST data) with random block gates at `--density`: one structured
//!    (16×1×1 channel blocks) and one unstructured (1×1×1) trace, written to `results/traces/`.
//!    The output says clearly that these are synthetic.

use super::sweep::{
    LAYERS_CSV, SWEEP_CSV, Workload, draw_plots, remove_stale, render_csvs, run_points,
    write_configs,
};
use crate::ui::Ui;
use anyhow::{Context, bail};
use cdg_core::{ArchConfig, GateBlock, SkipPolicy};
use cdg_io::trace::Trace;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

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
    /// With --no-train: use synthetic traces even when shipped traces exist.
    #[arg(long)]
    pub synthetic: bool,
    /// Also write layers.csv (one row per design, policy, trace and layer).
    #[arg(long)]
    pub layers: bool,
    /// Do not draw the SVG plots.
    #[arg(long)]
    pub no_plot: bool,
}

/// One line of the printed table and of `summary.csv`. Fractions stay fractions here; the
/// printed table shows the energy saving in percent.
#[derive(Debug, Serialize)]
struct SummaryRow {
    design: String,
    support: &'static str,
    workload: String,
    flops_reduction: f64,
    cycle_reduction: f64,
    /// 1 − energy / energy of the same design with `support = dense`.
    energy_saving: f64,
    utilization: f64,
    latency_us: f64,
    energy_pj: f64,
}

/// The training step of the main job: two dual-gating SimCLR models (structured 16×1×1 and
/// unstructured gates) trained through the same code path as `cdg train`, each writing its
/// calibrated evaluation trace to `out/train-<granularity>/trace/`. Returns those trace
/// directories, or `None` with `--no-train`.
fn train_traces(args: &RunArgs, ui: &Ui) -> anyhow::Result<Option<Vec<PathBuf>>> {
    use super::train::{GatingArg, GranularityArg, Objective, SslArgs, TrainArgs};
    if args.no_train {
        return Ok(None);
    }
    if args.epochs == 0 {
        bail!("--epochs must be at least 1 (or pass --no-train)");
    }
    if args.train_images == 0 {
        bail!("--train-images must be at least 1");
    }
    let mut dirs = Vec::new();
    for (name, granularity) in [
        ("structured", GranularityArg::Structured),
        ("unstructured", GranularityArg::Unstructured),
    ] {
        let out = args.out.join(format!("train-{name}"));
        eprintln!(
            "training CDG ({name} gates, {} epochs, {} images, target sparsity {}) → {}",
            args.epochs,
            args.train_images,
            args.target_sparsity,
            out.display()
        );
        let train = TrainArgs {
            objective: Some(Objective::Simclr),
            width: Some(args.width),
            epochs: Some(args.epochs),
            batch: Some(args.train_images.min(128)),
            seed: Some(args.seed),
            limit_train: Some(args.train_images),
            limit_test: Some(500),
            ssl: Box::new(SslArgs {
                gating: Some(GatingArg::Dual),
                granularity: Some(granularity),
                target_sparsity: Some(args.target_sparsity),
                trace_samples: Some(args.samples),
                calibration_samples: Some(args.train_images.min(1000)),
                probe_epochs: Some(20),
                ..SslArgs::default()
            }),
            out: Some(out.clone()),
            ..TrainArgs::default()
        };
        let code = super::train::run(train, ui)
            .with_context(|| format!("training the {name} CDG model of `cdg run`"))?;
        if code != ExitCode::SUCCESS {
            bail!("training the {name} CDG model of `cdg run` failed");
        }
        dirs.push(out.join("trace"));
    }
    Ok(Some(dirs))
}

/// Trace directories under `dir` (those holding a manifest.json), sorted by name.
fn shipped_traces(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(cdg_io::trace::MANIFEST_FILE).is_file())
        .collect();
    out.sort();
    Ok(out)
}

/// Synthesizes the structured and unstructured traces and writes them under `out/traces/`.
fn synthetic_traces(args: &RunArgs) -> anyhow::Result<Vec<Workload>> {
    if !(0.0..=1.0).contains(&args.density) {
        bail!("--density {} is outside [0, 1]", args.density);
    }
    if !(args.width > 0.0 && args.width <= 4.0) {
        bail!("--width {} is outside (0, 4]", args.width);
    }
    if args.samples == 0 {
        bail!("--samples must be at least 1");
    }
    let mut out = Vec::new();
    for (name, block) in [
        ("synthetic-structured", GateBlock::new(16, 1, 1)),
        ("synthetic-unstructured", GateBlock::ELEMENT),
    ] {
        let network = cdg_sim::models::resnet18_cifar(args.width, 1, Some((4, block)));
        let masks = cdg_sim::synth::synth_masks(&network, args.density, args.samples, args.seed)
            .with_context(|| format!("synthesizing {name}"))?;
        let trace = Trace {
            network,
            masks: Some(masks),
            samples: args.samples,
            provenance: serde_json::json!({
                "generator": "cdg run --no-train: synthetic random block gates",
                "network": format!("resnet18_cifar(width {}, 1 input channel, base_partitions 4)", args.width),
                "gate_block": block.as_array(),
                "density": args.density,
                "seed": args.seed,
            }),
        };
        let dir = args.out.join("traces").join(name);
        cdg_io::trace::write_trace(&dir, &trace, true)?;
        if !args.no_plot {
            crate::plot::gate_density_heatmap(&trace, &args.out.join(density_svg(name)))?;
        }
        out.push(Workload::new(
            name.to_owned(),
            trace.network,
            trace.masks,
            trace.samples,
        ));
    }
    Ok(out)
}

/// The gate-density heatmap of trace `name`.
fn density_svg(name: &str) -> String {
    format!("gate_density_{name}.svg")
}

/// Every `*.toml` in `dir`, sorted, each resolved under each skip policy.
fn designs(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list arch configs in {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{} holds no arch-config *.toml files", dir.display());
    }
    Ok(files
        .into_iter()
        .map(|p| {
            let stem = p
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
            (stem, p)
        })
        .collect())
}

pub fn run(args: RunArgs, ui: &Ui) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    // Validate the designs before the (possibly long) trace step.
    let designs = designs(&args.arch_configs)?;
    let mut points: Vec<(usize, ArchConfig)> = Vec::new();
    let mut labels: Vec<Vec<String>> = Vec::new();
    for (stem, path) in &designs {
        for policy in SkipPolicy::ALL {
            let arch = cdg_io::arch::load_arch(path, &[format!("sparsity.support={policy}")])?;
            points.push((points.len(), arch));
            labels.push(vec![stem.clone(), policy.as_str().to_owned()]);
        }
    }

    let workloads = if let Some(dirs) = train_traces(&args, ui)? {
        let mut loaded = Vec::new();
        for (dir, name) in dirs.iter().zip(["cdg-structured", "cdg-unstructured"]) {
            let mut w = Workload::trace(dir)?;
            w.name = name.to_owned();
            if !args.no_plot
                && let Some(m) = &w.masks
            {
                let svg = args.out.join(density_svg(&w.name));
                crate::plot::gate_density_heatmap_masks(&w.network, m, &svg)?;
            }
            loaded.push(w);
        }
        loaded
    } else {
        let shipped = if args.synthetic {
            Vec::new()
        } else {
            shipped_traces(&args.traces)?
        };
        if shipped.is_empty() {
            eprintln!(
                "note: --no-train and no shipped traces used; simulating SYNTHETIC traces (random gates at density {}, {} samples, \
                 ResNet-18 width {}), written to {}",
                args.density,
                args.samples,
                args.width,
                args.out.join("traces").display()
            );
            synthetic_traces(&args)?
        } else {
            eprintln!(
                "note: --no-train; using the shipped traces in {}",
                args.traces.display()
            );
            let loaded = shipped
                .iter()
                .map(|d| Workload::trace(d))
                .collect::<anyhow::Result<Vec<_>>>()?;
            if !args.no_plot {
                for w in &loaded {
                    if let Some(m) = &w.masks {
                        let svg = args.out.join(density_svg(&w.name));
                        crate::plot::gate_density_heatmap_masks(&w.network, m, &svg)?;
                    }
                }
            }
            loaded
        }
    };

    let results = run_points(&points, &workloads, ui, "designs")?;
    let keys = vec!["design".to_owned(), "sparsity.support".to_owned()];
    let (sweep_csv, layers_csv) =
        render_csvs(&keys, &labels, &workloads, &points, &results, args.layers)?;
    let out = &args.out;
    let write = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
        Ok(cdg_io::atomic::write_atomic(&out.join(name), bytes)?)
    };
    remove_stale(
        out,
        0..points.len(),
        points.len(),
        args.layers,
        !args.no_plot,
    )?;
    write_configs(out, &points, points.len())?;
    write(SWEEP_CSV, &sweep_csv)?;
    if let Some(l) = &layers_csv {
        write(LAYERS_CSV, l)?;
    }

    // Summary: every design × policy × workload against the same design run dense.
    let mut summary = Vec::new();
    for (p, ((_, arch), result)) in points.iter().zip(&results).enumerate() {
        let dense_index = p - p % SkipPolicy::ALL.len();
        for (w, (net, _)) in workloads.iter().zip(result) {
            let wi = workloads.iter().position(|x| x.name == w.name).unwrap_or(0);
            let dense_energy = results[dense_index][wi].0.energy_pj;
            summary.push(SummaryRow {
                design: labels[p][0].clone(),
                support: arch.sparsity.support.as_str(),
                workload: w.name.clone(),
                flops_reduction: net.flops_reduction,
                cycle_reduction: net.cycle_reduction,
                energy_saving: if dense_energy > 0.0 {
                    1.0 - net.energy_pj / dense_energy
                } else {
                    0.0
                },
                utilization: net.utilization,
                latency_us: net.latency_us,
                energy_pj: net.energy_pj,
            });
        }
    }
    cdg_io::csv_out::write_csv(&out.join("summary.csv"), &summary)?;
    if !args.no_plot {
        draw_plots(out)?;
    }

    for w in &workloads {
        println!(
            "\n{} ({} samples, gate block {})",
            w.name, w.samples, w.gate_block
        );
        println!(
            "{:<24} {:<11} {:>10} {:>10} {:>14} {:>12}",
            "design", "support", "FLOPs red.", "cycle red.", "energy saving", "utilization"
        );
        for r in summary.iter().filter(|r| r.workload == w.name) {
            println!(
                "{:<24} {:<11} {:>9.2}× {:>9.2}× {:>13.1}% {:>12.3}",
                r.design,
                r.support,
                r.flops_reduction,
                r.cycle_reduction,
                100.0 * r.energy_saving,
                r.utilization
            );
        }
    }
    println!(
        "\n{} designs × {} policies × {} traces in {:.1} s → {}",
        designs.len(),
        SkipPolicy::ALL.len(),
        workloads.len(),
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
