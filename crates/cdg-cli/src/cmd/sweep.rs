//! `cdg sweep SPEC.toml --out DIR [--shard K/N] [--layers] [--no-plot] [--pareto OBJECTIVES]`:
//! run a grid of accelerator designs over traces and topologies (docs/formats.md §3), then
//! print each workload's Pareto front (over latency and energy, or the `--pareto` objectives).
//!
//! The plan is checked in full before any simulation: the spec parses, the base config and
//! every grid value and combination validate exactly as `--set key=value` would, and every
//! workload loads (each parsed once and shared by all points). Points then run in parallel
//! with rayon; results are written in point order, so the bytes do not depend on scheduling.
//! The engine is `cdg_sweep::SweepPlan`; this command wires it to the terminal.
//!
//! Output directory (docs/formats.md §5):
//! - `sweep.csv`: one row per point × workload (`point`, the grid keys as columns, the
//!   workload, then the network figures of the simulator's report row plus `area_mm2`);
//! - `layers.csv` with `--layers`: one row per point × workload × layer;
//! - `spec.toml`: the spec as given; `configs/point-NNNN.toml`: every resolved design;
//! - `shard.json`: which shard of which sweep this is (`1/1` for a whole run), so
//!   `cdg merge` can check that shards belong together and are complete;
//! - `energy_latency.svg`, `reduction.svg` unless `--no-plot` (drawn from `sweep.csv`;
//!   a shard of a split run draws none, its merge does).

use crate::ui::{SweepBar, Ui};
use anyhow::Context;
use cdg_io::layout::sweep::SWEEP_CSV;
use cdg_io::output::{OutputDir, Outputs};
use cdg_io::sweep::Shard;
use cdg_report::Pareto;
use cdg_sweep::{SweepOptions, SweepPlan};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// The sweep spec: `base = "arch.toml"`, `traces = [...]` and/or `topologies = [...]`
    /// (paths relative to the spec) and a `[grid]` of dotted arch-config keys → value arrays.
    pub spec: PathBuf,
    /// Output directory (created if needed; the files an earlier cdg run wrote there are
    /// replaced as a whole, docs/formats.md §5).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Run only shard K of N: grid points K−1, K−1+N, K−1+2N, … (K = 1..N). Join the shard
    /// directories with `cdg merge`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Also write layers.csv: one row per point, workload and layer.
    #[arg(long)]
    pub layers: bool,
    /// Do not draw the SVG plots.
    #[arg(long)]
    pub no_plot: bool,
    /// Run a grid (or shard) of more than 100 000 points; without it such a run prints its
    /// size, estimated time and memory, and stops.
    #[arg(long)]
    pub yes: bool,
    /// Take the Pareto fronts over these objectives instead of latency and energy:
    /// `latency,energy,area` (or `latency,energy`); entries then list the designs identical
    /// to them on every objective (docs/formats.md §3).
    #[arg(long, value_name = "OBJECTIVES")]
    pub pareto: Option<Pareto>,
    /// Replace an output of another kind at --out (a sim output, a trace, a training run) as
    /// a whole; without it that is an error.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: SweepArgs, ui: &Ui) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let options = SweepOptions {
        layers: args.layers,
        plots: !args.no_plot,
    };
    let shard = args.shard.unwrap_or(Shard::ALL);
    // --out is none of the inputs: the spec, its base config, the traces and topologies it
    // lists.
    let spec = cdg_io::sweep::load_spec(&args.spec)?;
    let mut inputs: Vec<(&str, &Path)> = vec![
        ("sweep spec", &args.spec),
        ("base config (of the spec)", &spec.base),
    ];
    inputs.extend(
        spec.traces
            .iter()
            .map(|t| ("trace (of the spec)", t.as_path())),
    );
    inputs.extend(
        spec.topologies
            .iter()
            .map(|t| ("topology (of the spec)", t.as_path())),
    );
    cdg_io::output::check_output(&args.out, &cdg_io::layout::sweep::KIND, &inputs, args.force)?;
    let plan = if args.yes {
        SweepPlan::load_large(&args.spec, shard, options)?
    } else {
        SweepPlan::load(&args.spec, shard, options)?
    }
    .with_pareto(args.pareto.unwrap_or_default());
    // Locked before the (possibly long) simulation, so a second writer fails at once.
    let mut out = OutputDir::create(&args.out, &cdg_io::layout::sweep::KIND)?;
    let run = plan.run(&SweepBar::new(ui, "sweep"))?;
    out.commit(&run.outputs)?;
    let grid = plan.grid();
    println!(
        "sweep: shard {} — {} of {} points × {} workloads = {} rows in {:.1} s → {}",
        plan.shard(),
        grid.points.len(),
        grid.total,
        plan.workloads().len(),
        run.rows,
        started.elapsed().as_secs_f64(),
        args.out.join(SWEEP_CSV).display()
    );
    if plan.shard().count() == 1 {
        print_pareto(&run.outputs, &grid.keys, plan.pareto())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Most Pareto-optimal points listed per workload on stdout.
const PARETO_LINES: usize = 12;

/// Designs identical to a front entry named on its line, at most.
const SAME_SHOWN: usize = 4;

/// Prints, per workload, the Pareto-optimal points (over the objectives of `pareto`) of the
/// run's sweep.csv with their grid values, fastest first; an entry that stands for several
/// identical designs names the others.
pub fn print_pareto(outputs: &Outputs, keys: &[String], pareto: &Pareto) -> anyhow::Result<()> {
    let csv = outputs
        .get(Path::new(SWEEP_CSV))
        .context("the sweep wrote no sweep.csv")?;
    for w in cdg_sweep::pareto_by_workload(csv, keys, pareto)? {
        let shared: usize = w.front.iter().map(|d| d.same.len()).sum();
        println!(
            "\n{}: {} Pareto-optimal of {} designs ({}){}",
            w.workload,
            w.front.len(),
            w.designs,
            pareto.describe(),
            if shared > 0 {
                format!("; {shared} more identical to a front entry")
            } else {
                String::new()
            }
        );
        println!(
            "{:>7}  {:>12} {:>12} {:>9}  grid values",
            "point", "latency_us", "energy_uJ", "area_mm2"
        );
        for d in w.front.iter().take(PARETO_LINES) {
            let values: Vec<String> = d
                .grid_values
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let mut notes = Vec::new();
            if !d.on_energy_latency {
                notes.push("front in area".to_owned());
            }
            if !d.same.is_empty() {
                let mut shown: Vec<&str> =
                    d.same.iter().take(SAME_SHOWN).map(String::as_str).collect();
                if d.same.len() > SAME_SHOWN {
                    shown.push("…");
                }
                notes.push(format!(
                    "same as point{} {}",
                    if d.same.len() > 1 { "s" } else { "" },
                    shown.join(", ")
                ));
            }
            println!(
                "{:>7}  {:>12.3} {:>12.3} {:>9.3}  {}{}",
                d.point,
                d.latency_us,
                d.energy_pj / 1e6,
                d.area_mm2,
                values.join(" "),
                if notes.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", notes.join("; "))
                }
            );
        }
        if w.front.len() > PARETO_LINES {
            println!(
                "    … {} more in energy_latency.svg",
                w.front.len() - PARETO_LINES
            );
        }
    }
    Ok(())
}
