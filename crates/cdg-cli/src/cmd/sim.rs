//! `cdg sim`: simulate one workload on one accelerator design.
//!
//! ```text
//! cdg sim --arch FILE.toml (--trace DIR | --topology FILE.csv | --network NAME [--width W]
//!         [--in-channels C]) --out DIR [--batch N] [--set KEY=VALUE]...
//! cdg sim --scalesim-cfg FILE.cfg --topology FILE.csv --out DIR [--set KEY=VALUE]...
//! ```
//!
//! `--network NAME` simulates a built-in network (`cdg_core::zoo`) dense, without masks.
//! `--batch N` is `--set workload.batch=N`: each layer runs once for N samples.
//!
//! Writes `DIR/layers.csv` (one row per policy and layer, with its gate density),
//! `DIR/network.csv` (the network totals of each policy, with per-sample latency percentiles),
//! `DIR/samples.csv` (traces with masks: latency, cycles and energy of every sample),
//! `DIR/arch.toml` (the resolved design) and, for SCALE-Sim topologies, `DIR/COMPUTE_REPORT.csv`
//! in SCALE-Sim's own format; prints a short table on stdout. `--policies dense,compact` (or
//! `all`) simulates several skip policies in one call, one row each.
//!
//! The arguments are first checked into a [`SimPlan`] (design resolved, workload loaded);
//! only then does anything run or get written.

use crate::ui::Ui;
use anyhow::{Context, bail};
use cdg_core::ArchConfig;
use cdg_core::SkipPolicy;
use cdg_core::columns as col;
use cdg_core::zoo::{Zoo, ZooOptions};
use cdg_io::csv_out::JoinedCsv;
use cdg_io::layout::sim::{ARCH_TOML, COMPUTE_REPORT_CSV, LAYERS_CSV, NETWORK_CSV, SAMPLES_CSV};
use cdg_io::output::{OutputDir, Outputs};
use cdg_io::scalesim::{InterfaceBandwidth, ScaleSimConfig};
use cdg_sim::NetworkStats;
use cdg_sim::scalesim::{compute_report, compute_report_csv};
use cdg_sweep::{GateDensity, Grid, LatencyPercentiles, Silent, SweepError, Workload, WorkloadRun};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("design").required(true).args(["arch", "scalesim_cfg"])))]
#[command(group(
    clap::ArgGroup::new("workload").required(true).args(["trace", "topology", "network"])
))]
pub struct SimArgs {
    /// The accelerator design: an arch-config TOML (see arch-configs/).
    #[arg(long, value_name = "FILE.toml")]
    pub arch: Option<PathBuf>,
    /// A SCALE-Sim .cfg instead of --arch: run a SCALE-Sim user's own inputs (CALC bandwidth
    /// mode = unlimited bandwidth); also writes COMPUTE_REPORT.csv in SCALE-Sim's format.
    #[arg(
        long,
        value_name = "FILE.cfg",
        conflicts_with = "trace",
        requires = "topology"
    )]
    pub scalesim_cfg: Option<PathBuf>,
    /// A trace directory (manifest.json + masks.npz) written by `cdg train` or
    /// `cdg masks synth`.
    #[arg(long, value_name = "DIR")]
    pub trace: Option<PathBuf>,
    /// A SCALE-Sim topology CSV (conv or GEMM rows, optional N:M column).
    #[arg(long, value_name = "FILE.csv")]
    pub topology: Option<PathBuf>,
    /// A built-in network, simulated dense (no masks): resnet18, resnet34, resnet50,
    /// resnet18-cifar, resnet50-cifar, mobilenetv2, vgg16.
    #[arg(long, value_name = "NAME", value_parser = parse_network, conflicts_with = "scalesim_cfg")]
    pub network: Option<Zoo>,
    /// Channel width multiplier of the built-in network (1 = the published widths).
    #[arg(long, value_name = "W", requires = "network", default_value_t = 1.0)]
    pub width: f64,
    /// Input channels of the built-in network (3 for RGB, 1 for Fashion-MNIST).
    #[arg(long, value_name = "C", requires = "network", default_value_t = 3)]
    pub in_channels: u64,
    /// Samples per batch (the arch key `workload.batch`; default 1): each layer runs once for
    /// N samples, weights fetched once per batch (docs/model.md §1).
    #[arg(long, value_name = "N")]
    pub batch: Option<u64>,
    /// Output directory (created if needed; the files an earlier cdg run wrote there are
    /// replaced as a whole, docs/formats.md §5).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace an output of another kind at --out (a sweep, a trace, a training run) as a
    /// whole; without it that is an error.
    #[arg(long)]
    pub force: bool,
    /// Override an arch-config key, validated exactly like the file
    /// (`--set array.rows=32 --set sparsity.support=compact`). Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// One layers.csv and network.csv row per sample of the trace (with `--batch N`, per batch
    /// of N consecutive samples, named by its first sample), instead of the mean.
    #[arg(long)]
    pub per_sample: bool,
    /// Simulate several skip policies in one call (comma-separated, or `all`), one set of rows
    /// each; replaces `sparsity.support` of the design.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub policies: Vec<String>,
}

/// `--network` values: the built-in networks of `cdg_core::zoo`.
fn parse_network(s: &str) -> Result<Zoo, String> {
    Zoo::from_name(s).map_err(|_| format!("expected one of {}", Zoo::ALL.map(Zoo::name).join(", ")))
}

/// Where the design came from.
#[derive(Debug)]
enum DesignSource {
    Arch(PathBuf),
    ScaleSim(Box<ScaleSimConfig>),
}

/// A validated `cdg sim` invocation.
#[derive(Debug)]
pub struct SimPlan {
    arch: ArchConfig,
    /// The skip policies to run, in order (the design's own when `--policies` is absent).
    policies: Vec<SkipPolicy>,
    source: DesignSource,
    workload: Workload,
    out: PathBuf,
    per_sample: bool,
}

impl SimPlan {
    pub fn from_args(mut args: SimArgs) -> anyhow::Result<Self> {
        if let Some(b) = args.batch {
            // Validated with the config, like any other key.
            args.set.push(format!("workload.batch={b}"));
        }
        let (arch, source) = match (&args.arch, &args.scalesim_cfg) {
            (Some(path), None) => (
                cdg_io::arch::load_arch(path, &args.set)?,
                DesignSource::Arch(path.clone()),
            ),
            (None, Some(cfg_path)) => {
                let cfg = cdg_io::scalesim::read_scalesim_cfg(cfg_path)?;
                if cfg.optimized_mapping {
                    bail!(
                        "{}: [sparsity] OptimizedMapping = true is not modelled by cdg; \
                         expected false (cdg models SCALE-Sim's layer-wise N:M mapping)",
                        cfg_path.display()
                    );
                }
                // Overrides are validated exactly as over an arch-config file.
                let arch = cdg_io::arch::apply_overrides(
                    &cfg.arch,
                    &cfg_path.display().to_string(),
                    &args.set,
                )?;
                (arch, DesignSource::ScaleSim(Box::new(cfg)))
            }
            _ => bail!("give exactly one of --arch FILE.toml and --scalesim-cfg FILE.cfg"),
        };
        let workload = match (&args.trace, &args.topology, args.network) {
            (None, None, Some(zoo)) => {
                let opts = ZooOptions {
                    width: args.width,
                    in_channels: args.in_channels,
                };
                Workload::zoo(zoo, &opts)
                    .with_context(|| format!("--network {} --width {}", zoo.name(), args.width))?
            }
            (Some(dir), None, None) => Workload::trace(dir)?,
            (None, Some(path), None) => {
                let honour_nm = match &source {
                    DesignSource::ScaleSim(cfg) => cfg.sparsity_support,
                    DesignSource::Arch(_) => true,
                };
                Workload::topology(path, honour_nm)?
            }
            _ => bail!("give exactly one of --trace DIR, --topology FILE.csv and --network NAME"),
        };
        if args.per_sample && workload.masks.is_none() {
            bail!(
                "--per-sample needs a trace with gate masks, but {} has none",
                workload.label
            );
        }
        cdg_sim::check_arch(&arch).context("the resolved design cannot be simulated")?;
        let policies = parse_policies(&args.policies, arch.sparsity.support)?;
        Ok(Self {
            arch,
            policies,
            source,
            workload,
            out: args.out,
            per_sample: args.per_sample,
        })
    }
}

pub fn run(args: SimArgs, ui: &Ui) -> anyhow::Result<ExitCode> {
    super::check_out(
        &args.out,
        &cdg_io::layout::sim::KIND,
        &[
            ("--arch", &args.arch),
            ("--scalesim-cfg", &args.scalesim_cfg),
            ("--trace", &args.trace),
            ("--topology", &args.topology),
        ],
        args.force,
    )?;
    let plan = SimPlan::from_args(args)?;
    if let DesignSource::ScaleSim(cfg) = &plan.source {
        for w in &cfg.warnings {
            eprintln!("warning: {w}");
        }
    }
    let mut out = OutputDir::create(&plan.out, &cdg_io::layout::sim::KIND)?;
    let results = simulate(&plan)?;
    out.commit(&outputs(&plan, &results)?)?;
    for r in &results {
        print_table(&plan, r);
    }
    if results.len() > 1 {
        print_policies(&results);
    }
    println!("wrote {}", files_written(&plan).join(", "));
    if ui.bars_enabled() {
        eprintln!("wrote {}", plan.out.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// What a run produced under one skip policy: the figures for the table and the default
/// reports (the mean over samples for a trace with masks), and every sample's run.
#[derive(Debug)]
struct SimResult {
    /// The design under this result's skip policy.
    arch: ArchConfig,
    run: WorkloadRun,
}

/// `--policies`: the listed skip policies (`all`: every one), or the design's own.
fn parse_policies(list: &[String], own: SkipPolicy) -> anyhow::Result<Vec<SkipPolicy>> {
    if list.is_empty() {
        return Ok(vec![own]);
    }
    let mut out = Vec::new();
    for item in list.iter().map(|s| s.trim()) {
        let add: Vec<SkipPolicy> = if item == "all" {
            SkipPolicy::ALL.to_vec()
        } else {
            vec![item.parse::<SkipPolicy>().map_err(|e| {
                anyhow::anyhow!(
                    "--policies: `{item}` is not a skip policy ({e}); expected {} or all",
                    SkipPolicy::names(false, ", ")
                )
            })?]
        };
        for p in add {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// Runs the sweep engine on one point per skip policy (the design with `sparsity.support` set
/// to it) and the one workload: a trace with masks simulates every sample under the gated
/// model; a topology or an ungated trace runs every layer densely, with any N:M weight
/// sparsity of the topology.
fn simulate(plan: &SimPlan) -> anyhow::Result<Vec<SimResult>> {
    let designs: Vec<ArchConfig> = plan
        .policies
        .iter()
        .map(|&policy| {
            let mut arch = plan.arch.clone();
            arch.sparsity.support = policy;
            arch
        })
        .collect();
    let grid = Grid::of_designs(designs);
    let w = &plan.workload;
    let runs = cdg_sweep::run_grid(&grid, std::slice::from_ref(w), &Silent, |p, w| {
        cdg_sweep::run_workload(p.index, &p.arch, w)
    })
    .map_err(|e| match e {
        SweepError::Simulate { point, source, .. } => {
            let arch = &grid.points[point].arch;
            anyhow::Error::new(source).context(format!(
                "simulating {} on design `{}` under policy {}",
                w.label, arch.name, arch.sparsity.support
            ))
        }
        e => e.into(),
    })?;
    Ok(grid
        .points
        .into_iter()
        .zip(runs)
        .flat_map(|(p, runs)| {
            runs.into_iter().map(move |run| SimResult {
                arch: p.arch.clone(),
                run,
            })
        })
        .collect())
}

/// The leading columns of every sim CSV row: which workload and which skip policy.
#[derive(Debug)]
struct Head<'a> {
    workload: &'a str,
    support: &'static str,
}

cdg_core::csv_row!(Head<'a> {
    workload = col::WORKLOAD,
    support = col::SUPPORT,
});

/// One row of samples.csv.
#[derive(Debug)]
struct SampleRow<'a> {
    workload: &'a str,
    support: &'static str,
    sample: usize,
    latency_us: f64,
    cycles: u64,
    energy_pj: f64,
}

cdg_core::csv_row!(SampleRow<'a> {
    workload = col::WORKLOAD,
    support = col::SUPPORT,
    sample = col::SAMPLE,
    latency_us = col::LATENCY_US,
    cycles = col::CYCLES,
    energy_pj = col::ENERGY_PJ,
});

/// The reports: with `--per-sample`, layers.csv and network.csv hold one row per policy and
/// sample (layers sample-major); otherwise the mean (or the single dense run) of each policy.
/// samples.csv holds every sample's latency, cycles and energy whenever the trace has masks.
fn outputs(plan: &SimPlan, results: &[SimResult]) -> anyhow::Result<Outputs> {
    let w = &plan.workload;
    let out = &plan.out;
    let mut layers = JoinedCsv::new(out.join(LAYERS_CSV));
    let mut network = JoinedCsv::new(out.join(NETWORK_CSV));
    let mut samples = Vec::new();
    for r in results {
        let support = r.arch.sparsity.support.as_str();
        let head = Head {
            workload: &w.name,
            support,
        };
        let runs: Vec<(&NetworkStats, LatencyPercentiles)> = if plan.per_sample {
            r.run
                .per_sample
                .iter()
                .map(|s| (s, LatencyPercentiles::of(&[s.latency().get()])))
                .collect()
        } else {
            vec![(&r.run.summary, r.run.percentiles())]
        };
        for (run, p) in runs {
            for l in &run.layers {
                let masks = w.masks.as_ref().and_then(|m| m.layer(&l.layer));
                let density = GateDensity::of(masks, run.sample);
                layers.row(&[], &(&head, l.to_row(), density), None)?;
            }
            network.row(&[], &(&head, run.to_row(), p), None)?;
        }
        for (i, s) in r.run.per_sample.iter().enumerate() {
            samples.push(SampleRow {
                workload: &w.name,
                support,
                sample: s.sample.unwrap_or(i),
                latency_us: s.latency().get(),
                cycles: s.totals.cycles.get(),
                energy_pj: s.totals.energy.total().get(),
            });
        }
    }
    let mut files = Outputs::new();
    files.add(LAYERS_CSV, layers.finish()?);
    files.add(NETWORK_CSV, network.finish()?);
    if !samples.is_empty() {
        files.add(
            SAMPLES_CSV,
            cdg_io::csv_out::csv_text(&out.join(SAMPLES_CSV), &samples)?,
        );
    }
    files.add(ARCH_TOML, cdg_io::arch::to_toml(&plan.arch));
    // SCALE-Sim's report describes the design's dense layers, whatever the policies.
    if let (true, Some(first)) = (w.scalesim_topology, results.first()) {
        files.add(
            COMPUTE_REPORT_CSV,
            compute_report_csv(&compute_report(&first.run.summary)),
        );
    }
    Ok(files)
}

/// With several policies: one line per policy against both baselines.
fn print_policies(results: &[SimResult]) {
    println!(
        "\n{:<11} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "policy", "latency_us", "p99_us", "energy_uJ", "cyc÷ungated", "cyc÷dense", "E saved %"
    );
    for r in results {
        let row = r.run.summary.to_row();
        let p = r.run.percentiles();
        println!(
            "{:<11} {:>12.3} {:>12.3} {:>12.3} {:>11.3}× {:>11.3}× {:>12.1}",
            r.arch.sparsity.support.as_str(),
            row.counters.latency_us,
            p.latency_us_p99,
            row.counters.energy_pj / 1e6,
            row.counters.cycle_reduction_vs_ungated,
            row.counters.cycle_reduction_vs_dense_policy,
            100.0 * row.counters.energy_saving_vs_ungated
        );
    }
}

fn print_table(plan: &SimPlan, result: &SimResult) {
    let stats = &result.run.summary;
    let a = &result.arch;
    let from = match &plan.source {
        DesignSource::Arch(p) => p.display().to_string(),
        DesignSource::ScaleSim(cfg) => format!(
            "SCALE-Sim run `{}`{}",
            cfg.run_name,
            match cfg.interface_bandwidth {
                InterfaceBandwidth::Calc => " (CALC: unlimited bandwidth)",
                InterfaceBandwidth::User => " (USER bandwidth: stalls are cdg's memory model)",
            }
        ),
    };
    println!(
        "{} on `{}` ({}×{} {}, from {})",
        plan.workload.label, a.name, a.array.rows, a.array.cols, a.array.dataflow, from
    );
    if let Some(masks) = &plan.workload.masks {
        println!(
            "policy {}: mean over {} samples (per-sample maxima in the CSV `_max` columns{})",
            a.sparsity.support,
            masks.samples(),
            if plan.per_sample {
                "; layers.csv and network.csv hold one row per sample"
            } else {
                ""
            }
        );
    }
    println!(
        "{:<24} {:>14} {:>10} {:>8} {:>14}",
        "layer", "cycles", "stalls", "util", "energy_uJ"
    );
    for l in &stats.layers {
        println!(
            "{:<24} {:>14} {:>10} {:>8.3} {:>14.3}",
            cdg_report::shorten_left(&l.layer, 24),
            l.totals.cycles.get(),
            l.totals.stall_cycles.get(),
            l.utilization,
            l.totals.energy.total().get() / 1e6
        );
    }
    let t = &stats.totals;
    println!(
        "{:<24} {:>14} {:>10} {:>8.3} {:>14.3}",
        "total",
        t.cycles.get(),
        t.stall_cycles.get(),
        stats.utilization(),
        t.energy.total().get() / 1e6
    );
    if plan.workload.masks.is_some() {
        let row = stats.to_row();
        println!(
            "vs ungated (each layer's best dense schedule): {:.3}× cycles, {:.1} % energy saved; \
             vs the `dense` policy: {:.3}× cycles, {:.1} % energy saved",
            row.counters.cycle_reduction_vs_ungated,
            100.0 * row.counters.energy_saving_vs_ungated,
            row.counters.cycle_reduction_vs_dense_policy,
            100.0 * row.counters.energy_saving_vs_dense_policy
        );
    }
    let p = result.run.percentiles();
    println!(
        "latency {:.3} us (per sample: p50 {:.3}, p95 {:.3}, p99 {:.3}), DRAM {} B",
        stats.latency().get(),
        p.latency_us_p50,
        p.latency_us_p95,
        p.latency_us_p99,
        t.dram.total().get(),
    );
}

fn files_written(plan: &SimPlan) -> Vec<String> {
    let mut f = vec![LAYERS_CSV, NETWORK_CSV];
    if plan.workload.masks.is_some() {
        f.push(SAMPLES_CSV);
    }
    f.push(ARCH_TOML);
    if plan.workload.scalesim_topology {
        f.push(COMPUTE_REPORT_CSV);
    }
    f.iter()
        .map(|n| Path::new(&plan.out).join(n).display().to_string())
        .collect()
}
