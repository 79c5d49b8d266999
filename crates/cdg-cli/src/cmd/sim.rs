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
use cdg_core::SkipPolicy;
use cdg_core::zoo::{Zoo, ZooOptions};
use cdg_core::{ArchConfig, MaskSet, Network};
use cdg_io::layout::sim::{ARCH_TOML, COMPUTE_REPORT_CSV, LAYERS_CSV, NETWORK_CSV, SAMPLES_CSV};
use cdg_io::output::{OutputDir, Outputs};
use cdg_io::scalesim::{InterfaceBandwidth, ScaleSimConfig};
use cdg_sim::scalesim::{compute_report, compute_report_csv};
use cdg_sim::{LayerOptions, NetworkStats, NmSparsity};
use cdg_sweep::{GateDensity, LatencyPercentiles};
use serde::Serialize;
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

/// The workload: a network, its masks (traces) and per-layer options (N:M from topologies).
#[derive(Debug)]
struct Workload {
    network: Network,
    masks: Option<MaskSet>,
    layer_opts: Vec<LayerOptions>,
    /// A SCALE-Sim topology (so COMPUTE_REPORT.csv is meaningful).
    scalesim_topology: bool,
    /// What to call it in messages.
    label: String,
    /// Its name in the CSVs: the trace directory's name or the topology file's stem.
    name: String,
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
                // Overrides go through the same TOML validation as for --arch.
                let arch = if args.set.is_empty() {
                    cfg.arch.clone()
                } else {
                    cdg_io::arch::parse_arch(
                        &cdg_io::arch::to_toml(&cfg.arch),
                        &cfg_path.display().to_string(),
                        &args.set,
                    )?
                };
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
                let network = zoo
                    .build(&opts)
                    .with_context(|| format!("--network {} --width {}", zoo.name(), args.width))?;
                let n = network.len();
                Workload {
                    network,
                    masks: None,
                    layer_opts: vec![LayerOptions::default(); n],
                    scalesim_topology: false,
                    label: if args.width == 1.0 && args.in_channels == 3 {
                        zoo.name().to_owned()
                    } else {
                        format!(
                            "{} (width {}, {} input channels)",
                            zoo.name(),
                            args.width,
                            args.in_channels
                        )
                    },
                    name: if args.width == 1.0 && args.in_channels == 3 {
                        zoo.name().to_owned()
                    } else {
                        format!("{}-w{}-c{}", zoo.name(), args.width, args.in_channels)
                    },
                }
            }
            (Some(dir), None, None) => {
                let trace = cdg_io::read_trace(dir)?;
                let n = trace.network.len();
                Workload {
                    network: trace.network,
                    masks: trace.masks,
                    layer_opts: vec![LayerOptions::default(); n],
                    scalesim_topology: false,
                    label: dir.display().to_string(),
                    name: file_name(dir),
                }
            }
            (None, Some(path), None) => {
                let topo = cdg_io::scalesim::read_topology(path)?;
                let honour_nm = match &source {
                    DesignSource::ScaleSim(cfg) => cfg.sparsity_support,
                    DesignSource::Arch(_) => true,
                };
                let layer_opts = topo
                    .nm_sparsity
                    .iter()
                    .map(|nm| LayerOptions {
                        weight_sparsity: nm.filter(|_| honour_nm).map(|(n, m)| NmSparsity {
                            n: u64::from(n),
                            m: u64::from(m),
                        }),
                    })
                    .collect();
                Workload {
                    network: topo.network,
                    masks: None,
                    layer_opts,
                    scalesim_topology: true,
                    label: path.display().to_string(),
                    name: path
                        .file_stem()
                        .map_or_else(|| file_name(path), |s| s.to_string_lossy().into_owned()),
                }
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
    let plan = SimPlan::from_args(args)?;
    if let DesignSource::ScaleSim(cfg) = &plan.source {
        for w in &cfg.warnings {
            eprintln!("warning: {w}");
        }
    }
    let mut out = OutputDir::create(&plan.out, &cdg_io::layout::sim::KIND)?;
    let results = plan
        .policies
        .iter()
        .map(|&p| simulate(&plan, p))
        .collect::<anyhow::Result<Vec<_>>>()?;
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

/// What a run produced: the figures for the table and the default reports (the mean over
/// samples for a trace with masks), and the per-sample runs when `--per-sample` asks for them.
#[derive(Debug)]
struct SimResult {
    /// The design under this result's skip policy.
    arch: ArchConfig,
    summary: NetworkStats,
    /// Every sample's run (traces with masks; empty otherwise).
    per_sample: Vec<NetworkStats>,
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
                    "--policies: `{item}` is not a skip policy ({e}); expected \
                                 dense, clock-gate, tile-skip, compact or all"
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

/// The name of a path's last component.
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Runs the model: a trace with masks simulates every sample under `sparsity.support` (the
/// gated model); a topology or an ungated trace runs every layer densely, with any N:M weight
/// sparsity of the topology.
fn simulate(plan: &SimPlan, policy: SkipPolicy) -> anyhow::Result<SimResult> {
    let w = &plan.workload;
    let mut arch = plan.arch.clone();
    arch.sparsity.support = policy;
    let context = || {
        format!(
            "simulating {} on design `{}` under policy {policy}",
            w.label, arch.name
        )
    };
    match &w.masks {
        Some(masks) => {
            let sampled =
                cdg_sim::simulate_samples(&arch, &w.network, masks).with_context(context)?;
            Ok(SimResult {
                summary: sampled.mean,
                per_sample: sampled.per_sample,
                arch,
            })
        }
        None => Ok(SimResult {
            summary: cdg_sim::simulate_network_with(&arch, &w.network, &w.layer_opts)
                .with_context(context)?,
            per_sample: Vec::new(),
            arch,
        }),
    }
}

/// The leading columns of every sim CSV row: which workload and which skip policy.
#[derive(Debug, Serialize)]
struct Head<'a> {
    workload: &'a str,
    support: &'static str,
}

/// One row of samples.csv.
#[derive(Debug, Serialize)]
struct SampleRow<'a> {
    workload: &'a str,
    support: &'static str,
    sample: usize,
    latency_us: f64,
    cycles: u64,
    energy_pj: f64,
}

/// CSV text of rows made of three parts, the columns of each part side by side (each part is
/// rendered, and checked for non-finite numbers, by `cdg_io::csv_out`).
fn joined_csv<A: Serialize, B: Serialize, C: Serialize>(
    path: &Path,
    a: &[A],
    b: &[B],
    c: &[C],
) -> anyhow::Result<String> {
    let parts = [
        cdg_io::csv_out::csv_text(path, a)?,
        cdg_io::csv_out::csv_text(path, b)?,
        cdg_io::csv_out::csv_text(path, c)?,
    ];
    let lines: Vec<Vec<&str>> = parts.iter().map(|p| p.lines().collect()).collect();
    let mut out = String::new();
    for i in 0..lines[0].len() {
        let row: Vec<&str> = lines
            .iter()
            .map(|l| l.get(i).copied().unwrap_or(""))
            .collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    Ok(out)
}

/// The reports: with `--per-sample`, layers.csv and network.csv hold one row per policy and
/// sample (layers sample-major); otherwise the mean (or the single dense run) of each policy.
/// samples.csv holds every sample's latency, cycles and energy whenever the trace has masks.
fn outputs(plan: &SimPlan, results: &[SimResult]) -> anyhow::Result<Outputs> {
    let w = &plan.workload;
    let (mut layer_heads, mut layer_rows, mut densities) = (Vec::new(), Vec::new(), Vec::new());
    let (mut net_heads, mut net_rows, mut percentiles) = (Vec::new(), Vec::new(), Vec::new());
    let mut samples = Vec::new();
    for r in results {
        let support = r.arch.sparsity.support.as_str();
        let head = || Head {
            workload: &w.name,
            support,
        };
        let latencies: Vec<f64> = r.per_sample.iter().map(|s| s.latency().get()).collect();
        let runs: Vec<(&NetworkStats, LatencyPercentiles)> = if plan.per_sample {
            r.per_sample
                .iter()
                .map(|s| (s, LatencyPercentiles::of(&[s.latency().get()])))
                .collect()
        } else if latencies.is_empty() {
            vec![(
                &r.summary,
                LatencyPercentiles::of(&[r.summary.latency().get()]),
            )]
        } else {
            vec![(&r.summary, LatencyPercentiles::of(&latencies))]
        };
        for (run, p) in runs {
            for l in &run.layers {
                layer_heads.push(head());
                layer_rows.push(l.to_row());
                let masks = w.masks.as_ref().and_then(|m| m.layer(&l.layer));
                densities.push(GateDensity::of(masks, run.sample));
            }
            net_heads.push(head());
            net_rows.push(run.to_row());
            percentiles.push(p);
        }
        for (i, s) in r.per_sample.iter().enumerate() {
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
    let out = &plan.out;
    let mut files = Outputs::new();
    files.add(
        LAYERS_CSV,
        joined_csv(&out.join(LAYERS_CSV), &layer_heads, &layer_rows, &densities)?,
    );
    files.add(
        NETWORK_CSV,
        joined_csv(&out.join(NETWORK_CSV), &net_heads, &net_rows, &percentiles)?,
    );
    if !samples.is_empty() {
        files.add(
            SAMPLES_CSV,
            cdg_io::csv_out::csv_text(&out.join(SAMPLES_CSV), &samples)?,
        );
    }
    files.add(ARCH_TOML, cdg_io::arch::to_toml(&plan.arch));
    // SCALE-Sim's report describes the design's dense layers, whatever the policies.
    if let (true, Some(first)) = (plan.workload.scalesim_topology, results.first()) {
        files.add(
            COMPUTE_REPORT_CSV,
            compute_report_csv(&compute_report(&first.summary)),
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
        let row = r.summary.to_row();
        let mut lat: Vec<f64> = r.per_sample.iter().map(|s| s.latency().get()).collect();
        if lat.is_empty() {
            lat.push(row.latency_us);
        }
        let p = LatencyPercentiles::of(&lat);
        println!(
            "{:<11} {:>12.3} {:>12.3} {:>12.3} {:>11.3}× {:>11.3}× {:>12.1}",
            r.arch.sparsity.support.as_str(),
            row.latency_us,
            p.latency_us_p99,
            row.energy_pj / 1e6,
            row.cycle_reduction_vs_ungated,
            row.cycle_reduction_vs_dense_policy,
            100.0 * row.energy_saving_vs_ungated
        );
    }
}

fn print_table(plan: &SimPlan, result: &SimResult) {
    let stats = &result.summary;
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
            row.cycle_reduction_vs_ungated,
            100.0 * row.energy_saving_vs_ungated,
            row.cycle_reduction_vs_dense_policy,
            100.0 * row.energy_saving_vs_dense_policy
        );
    }
    let mut latencies: Vec<f64> = result
        .per_sample
        .iter()
        .map(|s| s.latency().get())
        .collect();
    if latencies.is_empty() {
        latencies.push(stats.latency().get());
    }
    let p = LatencyPercentiles::of(&latencies);
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
