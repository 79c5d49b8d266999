//! `cdg plot DIR [--point N]`: draw the SVG plots of a `cdg sweep`, `cdg merge` or `cdg run`
//! output directory from its CSV files: energy vs latency with the Pareto front, cycle
//! reduction vs FLOPs reduction by policy and gate block, and with `--point N` the per-layer
//! breakdown of one grid point (needs `layers.csv`, i.e. `cdg sweep --layers`). For a
//! `cdg sim` output directory it draws that run's per-layer breakdown (`layers.svg`).
//!
//! The pictures come from `cdg-report` as SVG text drawn from the CSV text, the same functions
//! `cdg sweep` and `cdg merge` use, so the same CSV gives the same bytes.

use crate::ui::Ui;
use anyhow::{Context, bail};
use cdg_io::layout::{sim, sweep};
use cdg_io::output::{OutputDir, Outputs};
use cdg_report::{Pareto, Table};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct PlotArgs {
    /// A `cdg sweep`, `cdg merge` or `cdg run` output directory (with sweep.csv), or a
    /// `cdg sim` output directory (with layers.csv and network.csv).
    pub dir: PathBuf,
    /// Also draw the per-layer energy and cycle breakdown of grid point N (the `point` column;
    /// needs DIR/layers.csv from `cdg sweep --layers`).
    #[arg(long, value_name = "N")]
    pub point: Option<usize>,
    /// Take the Pareto fronts over these objectives instead of latency and energy:
    /// `latency,energy,area` (or `latency,energy`); entries then list the designs identical
    /// to them on every objective (docs/formats.md §3).
    #[arg(long, value_name = "OBJECTIVES")]
    pub pareto: Option<Pareto>,
}

/// What `cdg plot` draws.
enum PlotPlan {
    /// A `cdg sim` output (layers.csv + network.csv, no sweep.csv): its per-layer breakdown.
    Sim { title: String },
    /// A sweep output: the sweep plots, and with `--point` one point's per-layer breakdown.
    Sweep { point: Option<usize> },
}

impl PlotPlan {
    fn new(args: &PlotArgs) -> anyhow::Result<Self> {
        let dir = &args.dir;
        if !dir.join(sweep::SWEEP_CSV).exists() && dir.join(sim::NETWORK_CSV).exists() {
            if args.point.is_some() {
                bail!(
                    "{} is a `cdg sim` output (no sweep.csv); --point applies to sweep outputs",
                    dir.display()
                );
            }
            return Ok(PlotPlan::Sim {
                title: sim_title(dir)?,
            });
        }
        if args.point.is_some() && !dir.join(sweep::LAYERS_CSV).exists() {
            bail!(
                "{} does not exist; per-layer plots need `cdg sweep --layers`",
                dir.join(sweep::LAYERS_CSV).display()
            );
        }
        Ok(PlotPlan::Sweep { point: args.point })
    }
}

/// What a `cdg sim` output shows: the workload on the design (from network.csv), not the
/// directory's name.
fn sim_title(dir: &Path) -> anyhow::Result<String> {
    let t = table(dir, sim::NETWORK_CSV)?;
    if t.rows.is_empty() {
        return Ok("cdg sim".to_owned());
    }
    let (workload, arch) = (t.cell(0, "workload"), t.cell(0, "arch"));
    Ok(match (workload.is_empty(), arch.is_empty()) {
        (false, false) => format!("{workload} on {arch}"),
        (true, false) => arch.to_owned(),
        _ => "cdg sim".to_owned(),
    })
}

/// Reads a CSV file of `dir` as a table.
fn table(dir: &Path, name: &str) -> anyhow::Result<Table> {
    let path = dir.join(name);
    let bytes = cdg_io::limits::read_input(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Table::parse(&bytes, &path)?)
}

pub fn run(args: PlotArgs, _ui: &Ui) -> anyhow::Result<ExitCode> {
    let dir = &args.dir;
    let plan = PlotPlan::new(&args)?;
    // The plots join the directory's output: locked, and only when it is complete.
    let kind = match plan {
        PlotPlan::Sim { .. } => &sim::KIND,
        PlotPlan::Sweep { .. } => &sweep::KIND,
    };
    let mut out = OutputDir::extend(dir, kind)?;
    let outputs = match plan {
        PlotPlan::Sim { title } => {
            let svg = cdg_report::layer_breakdown_sim(&table(dir, sim::LAYERS_CSV)?, &title)?;
            let mut out = Outputs::new();
            out.add(sim::LAYERS_SVG, svg);
            out
        }
        PlotPlan::Sweep { point } => {
            let path = dir.join(sweep::SWEEP_CSV);
            let csv = cdg_io::limits::read_input(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let mut out =
                cdg_sweep::sweep_plots_with(&csv, &args.pareto.clone().unwrap_or_default())?;
            if let Some(n) = point {
                let svg = cdg_report::layer_breakdown(&table(dir, sweep::LAYERS_CSV)?, n)?;
                out.add(sweep::layers_point_svg(n), svg);
            }
            out
        }
    };
    out.add(&outputs)?;
    for f in outputs.files() {
        println!("{}", dir.join(&f.name).display());
    }
    Ok(ExitCode::SUCCESS)
}
