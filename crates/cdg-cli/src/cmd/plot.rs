//! `cdg plot DIR [--point N]`: draw the SVG plots of a `cdg sweep`, `cdg merge` or `cdg run`
//! output directory from its CSV files: energy vs latency with the Pareto front, cycle
//! reduction vs FLOPs reduction by policy and gate block, and with `--point N` the per-layer
//! breakdown of one grid point (needs `layers.csv`, i.e. `cdg sweep --layers`). For a
//! `cdg sim` output directory it draws that run's per-layer breakdown (`layers.svg`).

use super::sweep::{LAYERS_CSV, SWEEP_CSV, draw_plots};
use crate::plot;
use crate::ui::Ui;
use anyhow::bail;
use std::path::PathBuf;
use std::process::ExitCode;

pub const ENERGY_LATENCY_SVG: &str = "energy_latency.svg";
pub const REDUCTION_SVG: &str = "reduction.svg";

#[derive(Debug, clap::Args)]
pub struct PlotArgs {
    /// A `cdg sweep`, `cdg merge` or `cdg run` output directory (with sweep.csv), or a
    /// `cdg sim` output directory (with layers.csv and network.csv).
    pub dir: PathBuf,
    /// Also draw the per-layer energy and cycle breakdown of grid point N (the `point` column;
    /// needs DIR/layers.csv from `cdg sweep --layers`).
    #[arg(long, value_name = "N")]
    pub point: Option<usize>,
}

/// The per-layer plot's file name for point `n`.
pub fn layers_svg(n: usize) -> String {
    format!("layers_point_{n:04}.svg")
}

/// The per-layer plot of a `cdg sim` output directory.
pub const SIM_LAYERS_SVG: &str = "layers.svg";

pub fn run(args: PlotArgs, _ui: &Ui) -> anyhow::Result<ExitCode> {
    // A `cdg sim` output (layers.csv + network.csv, no sweep.csv): its per-layer breakdown.
    if !args.dir.join(SWEEP_CSV).exists() && args.dir.join("network.csv").exists() {
        if args.point.is_some() {
            bail!(
                "{} is a `cdg sim` output (no sweep.csv); --point applies to sweep outputs",
                args.dir.display()
            );
        }
        let table = plot::Table::read(&args.dir.join(LAYERS_CSV))?;
        let title = args.dir.file_name().map_or_else(
            || "cdg sim".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        );
        let out = args.dir.join(SIM_LAYERS_SVG);
        plot::layer_breakdown_sim(&table, &title, &out)?;
        println!("{}", out.display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut written = draw_plots(&args.dir)?;
    if let Some(n) = args.point {
        let path = args.dir.join(LAYERS_CSV);
        if !path.exists() {
            bail!(
                "{} does not exist; per-layer plots need `cdg sweep --layers`",
                path.display()
            );
        }
        let table = plot::Table::read(&path)?;
        let out = args.dir.join(layers_svg(n));
        plot::layer_breakdown(&table, n, &out)?;
        written.push(out);
    }
    for p in written {
        println!("{}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}
