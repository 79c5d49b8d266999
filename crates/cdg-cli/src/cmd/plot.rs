//! `cdg plot DIR [--point N]`: draw the SVG plots of a `cdg sweep` or `cdg merge` output
//! directory from its CSV files: energy vs latency with the Pareto front, cycle reduction vs
//! FLOPs reduction by policy and gate block, and with `--point N` the per-layer breakdown of
//! one grid point (needs `layers.csv`, i.e. `cdg sweep --layers`).

use super::sweep::{LAYERS_CSV, draw_plots};
use crate::plot;
use crate::ui::Ui;
use anyhow::bail;
use std::path::PathBuf;
use std::process::ExitCode;

pub const ENERGY_LATENCY_SVG: &str = "energy_latency.svg";
pub const REDUCTION_SVG: &str = "reduction.svg";

#[derive(Debug, clap::Args)]
pub struct PlotArgs {
    /// A `cdg sweep` or `cdg merge` output directory (with sweep.csv).
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

pub fn run(args: PlotArgs, _ui: &Ui) -> anyhow::Result<ExitCode> {
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
