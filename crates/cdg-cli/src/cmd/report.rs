//! `cdg report DIR`: write `DIR/report.html`, one self-contained page (inline SVG and CSS, no
//! script, font or network fetch) on a `cdg sim`, `cdg sweep`/`cdg merge` or `cdg run` output
//! directory: what was simulated, the summary table, the Pareto fronts with every point named,
//! per-layer cycles and energy against both baselines, the per-sample latency distribution and
//! the gate density per layer. Drawn from the directory's CSV files, like `cdg plot`;
//! `--pareto latency,energy,area` takes the fronts over area too. A file of an older cdg that
//! lacks a column only one part needs leaves that part out, noted on the page and on stderr.

use crate::ui::Ui;
use anyhow::{Context, bail};
use cdg_io::layout::{Kind, REPORT_HTML, run, sim, sweep};
use cdg_io::output::{OutputDir, Outputs};
use cdg_report::{ModelAccuracy, Pareto, ReportInput, Table};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// A `cdg sim`, `cdg sweep`, `cdg merge` or `cdg run` output directory.
    pub dir: PathBuf,
    /// Take the Pareto fronts over these objectives instead of latency and energy:
    /// `latency,energy,area` (or `latency,energy`); entries then list the designs identical
    /// to them on every objective (docs/formats.md §3).
    #[arg(long, value_name = "OBJECTIVES")]
    pub pareto: Option<Pareto>,
}

/// Reads a CSV file of `dir` as a table, when it exists.
fn table(dir: &Path, name: &str) -> anyhow::Result<Option<Table>> {
    let path = dir.join(name);
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = cdg_io::limits::read_input(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Some(Table::parse(&bytes, &path)?))
}

/// The kind of output directory `dir` is, from its record (or, for a directory without one,
/// from the files it holds).
fn kind_of(dir: &Path) -> anyhow::Result<&'static Kind> {
    let recorded = cdg_io::output::read_record(dir)?.map(|r| r.kind);
    Ok(match recorded.as_deref() {
        Some("sim") => &sim::KIND,
        Some("sweep") => &sweep::KIND,
        Some("run") => &run::KIND,
        Some(other) => bail!(
            "{} is a `{other}` output directory; `cdg report` reads sim, sweep and run outputs",
            dir.display()
        ),
        None if dir.join(run::SUMMARY_CSV).is_file() => &run::KIND,
        None if dir.join(sweep::SWEEP_CSV).is_file() => &sweep::KIND,
        None if dir.join(sim::NETWORK_CSV).is_file() => &sim::KIND,
        None => bail!(
            "{} holds neither network.csv (cdg sim) nor sweep.csv (cdg sweep, cdg run)",
            dir.display()
        ),
    })
}

/// The report of the files in `dir` as HTML text, with the latency/energy Pareto fronts, naming
/// the output `source` ([`source_name`] of the directory the files are in once committed);
/// `models` adds accuracies the files do not hold (the shipped traces a `cdg run --no-train`
/// used, or the models a `cdg run` trained beside the staged files).
pub fn render_named(
    dir: &Path,
    source: &str,
    kind: &Kind,
    models: &[ModelAccuracy],
) -> anyhow::Result<String> {
    Ok(render_source(dir, source, kind, &Pareto::default(), models)?.html)
}

/// What a report calls the output directory `dir`: its name.
pub fn source_name(dir: &Path) -> String {
    dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The floor a trained model's kNN accuracy is measured against (docs/training.md).
pub const FLOOR_NAME: &str =
    "random initialisation, the same gated network untrained and calibrated the same way";

/// The kNN accuracy and floor a `cdg train` summary.json (or a trace manifest's
/// `provenance`) records, as `(knn, floor)`.
pub fn recorded_knn(value: &serde_json::Value) -> Option<(f64, Option<f64>)> {
    Some((
        value["knn_accuracy"].as_f64()?,
        value["init_knn_accuracy"].as_f64(),
    ))
}

/// The models a `cdg run` output trained (`train-<granularity>/summary.json`), named by the
/// workloads their traces are (`cdg-<granularity>`).
pub fn trained_models(dir: &Path) -> Vec<ModelAccuracy> {
    let mut models = Vec::new();
    for granularity in ["structured", "unstructured"] {
        let path = dir
            .join(run::train_dir(granularity))
            .join(cdg_io::layout::train::SUMMARY_JSON);
        let Some(value) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        else {
            continue;
        };
        if let Some((knn, floor)) = recorded_knn(&value) {
            models.push(ModelAccuracy {
                workload: format!("cdg-{granularity}"),
                knn,
                floor,
                floor_name: FLOOR_NAME.to_owned(),
                source: "this run's training, train-*/summary.json".to_owned(),
            });
        }
    }
    models
}

/// The report of `dir` with its Pareto fronts over the objectives of `pareto`, and the parts
/// it left out (an older cdg's files lack their columns).
pub fn render_with(
    dir: &Path,
    kind: &Kind,
    pareto: &Pareto,
    models: &[ModelAccuracy],
) -> anyhow::Result<cdg_report::Report> {
    render_source(dir, &source_name(dir), kind, pareto, models)
}

fn render_source(
    dir: &Path,
    source: &str,
    kind: &Kind,
    pareto: &Pareto,
    models: &[ModelAccuracy],
) -> anyhow::Result<cdg_report::Report> {
    let runs_name = if kind.name == "sim" {
        sim::NETWORK_CSV
    } else {
        sweep::SWEEP_CSV
    };
    let runs = table(dir, runs_name)?
        .with_context(|| format!("{} is missing", dir.join(runs_name).display()))?;
    let layers = table(dir, sim::LAYERS_CSV)?;
    let samples = table(dir, sim::SAMPLES_CSV)?;
    let mut files = Vec::new();
    for name in [sim::ARCH_TOML, sweep::SPEC_TOML] {
        let path = dir.join(name);
        if path.is_file() {
            let text = cdg_io::limits::read_input_text(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            files.push((name.to_owned(), text));
        }
    }
    // The gate-density heatmaps `cdg run` drew, inline.
    let mut figures = Vec::new();
    if kind.name == "run" {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                n.starts_with(run::GATE_DENSITY_PREFIX) && n.ends_with(run::GATE_DENSITY_SUFFIX)
            })
            .collect();
        names.sort();
        for n in names {
            let path = dir.join(&n);
            let svg = cdg_io::limits::read_input_text(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let workload =
                &n[run::GATE_DENSITY_PREFIX.len()..n.len() - run::GATE_DENSITY_SUFFIX.len()];
            figures.push((
                format!("Gate density per spatial block of {workload} ({n})"),
                svg,
            ));
        }
    }
    let mut all_models = models.to_vec();
    if kind.name == "run" {
        for model in trained_models(dir) {
            if !all_models.iter().any(|m| m.workload == model.workload) {
                all_models.push(model);
            }
        }
    }
    Ok(cdg_report::report(&ReportInput {
        kind: kind.name,
        source,
        runs: &runs,
        layers: layers.as_ref(),
        samples: samples.as_ref(),
        files: &files,
        figures: &figures,
        pareto,
        models: &all_models,
    })?)
}

pub fn run(args: ReportArgs, _ui: &Ui) -> anyhow::Result<ExitCode> {
    let dir = &args.dir;
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let kind = kind_of(dir)?;
    // The report joins the directory's output: locked, and only when it is complete.
    let mut out = OutputDir::extend(dir, kind)?;
    let report = render_with(dir, kind, &args.pareto.unwrap_or_default(), &[])?;
    let mut files = Outputs::new();
    files.add(REPORT_HTML, report.html);
    out.add(&files)?;
    for note in &report.left_out {
        eprintln!("cdg report: note: {note}");
    }
    println!("{}", dir.join(REPORT_HTML).display());
    Ok(ExitCode::SUCCESS)
}
