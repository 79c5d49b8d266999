//! `cdg run`, the main job: every shipped arch config under each of the four skip policies,
//! simulated on a few gate traces, with a summary of each design and policy against the
//! ungated network and the same design under the `dense` policy (docs/model.md §8).

use crate::engine::{PointResult, Progress, render_csvs, run_points};
use crate::error::{Result, SweepError};
use crate::grid::{Grid, Point};
use crate::plan::{add_configs, sweep_plots};
use crate::workload::Workload;
use cdg_core::{GateBlock, SkipPolicy};
use cdg_io::layout::run::SUMMARY_CSV;
use cdg_io::layout::sweep::{LAYERS_CSV, SWEEP_CSV};
use cdg_io::layout::trace::MANIFEST_FILE;
use cdg_io::output::Outputs;
use cdg_io::trace::Trace;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The grid keys of the main job's CSVs.
pub const POLICY_KEYS: [&str; 2] = ["design", "sparsity.support"];

/// Every design of a directory under every skip policy: design-major, policies in
/// [`SkipPolicy::ALL`] order (dense first), so each design's dense run leads its group.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyGrid {
    /// Design names (file stems), sorted.
    pub designs: Vec<String>,
    pub grid: Grid,
}

/// One line of the main job's table and of `summary.csv`, against both baselines of
/// docs/model.md §8 as the simulator reports them. Fractions stay fractions; the printed table
/// shows the energy savings in percent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryRow {
    pub design: String,
    pub support: &'static str,
    pub workload: String,
    pub flops_reduction: f64,
    /// Ungated cycles (each layer's best dense schedule) / cycles: what gating buys.
    pub cycle_reduction_vs_ungated: f64,
    /// `dense`-policy cycles / cycles: what skipping buys.
    pub cycle_reduction_vs_dense_policy: f64,
    /// 1 − energy / energy of the ungated network.
    pub energy_saving_vs_ungated: f64,
    /// 1 − energy / energy of the same design and workload with `support = dense`.
    pub energy_saving_vs_dense_policy: f64,
    pub utilization: f64,
    pub latency_us: f64,
    pub energy_pj: f64,
}

/// What the main job's sweep produced.
#[derive(Debug)]
pub struct PolicyRun {
    /// `configs/`, `sweep.csv`, `layers.csv` (when asked), `summary.csv` and the sweep plots
    /// (when asked).
    pub outputs: Outputs,
    /// The rows of `summary.csv`, design-major.
    pub summary: Vec<SummaryRow>,
}

impl PolicyGrid {
    /// Every `*.toml` in `dir` (sorted by name), each resolved under each skip policy.
    pub fn load(dir: &Path) -> Result<Self> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|source| SweepError::List {
                what: "arch configs in ",
                dir: dir.to_owned(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(SweepError::Designs {
                dir: dir.to_owned(),
                problem: "holds no arch-config *.toml files".to_owned(),
            });
        }
        let mut designs = Vec::new();
        let mut points = Vec::new();
        for path in &files {
            let stem = path
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
            for policy in SkipPolicy::ALL {
                let arch = cdg_io::arch::load_arch(path, &[format!("sparsity.support={policy}")])?;
                points.push(Point {
                    index: points.len(),
                    labels: vec![stem.clone(), policy.as_str().to_owned()],
                    arch,
                });
            }
            designs.push(stem);
        }
        let total = points.len();
        Ok(Self {
            designs,
            grid: Grid {
                keys: POLICY_KEYS.map(str::to_owned).to_vec(),
                points,
                total,
            },
        })
    }

    /// Simulates every design and policy on `workloads` and renders the output files; `layers`
    /// adds `layers.csv`, `plots` the sweep plots.
    pub fn run(
        &self,
        workloads: &[Workload],
        layers: bool,
        plots: bool,
        progress: &dyn Progress,
    ) -> Result<PolicyRun> {
        let results = run_points(&self.grid, workloads, progress)?;
        let (sweep_csv, layers_csv) = render_csvs(&self.grid, workloads, &results, layers)?;
        let summary = summary_rows(&self.grid, workloads, &results);
        let plots = plots.then(|| sweep_plots(&sweep_csv)).transpose()?;
        let mut outputs = Outputs::new();
        add_configs(&mut outputs, &self.grid.points, self.grid.total);
        outputs.add(SWEEP_CSV, sweep_csv);
        if let Some(l) = layers_csv {
            outputs.add(LAYERS_CSV, l);
        }
        outputs.add(
            SUMMARY_CSV,
            cdg_io::csv_out::csv_to_string(&summary)?.into_bytes(),
        );
        if let Some(plots) = plots {
            outputs.extend(plots);
        }
        Ok(PolicyRun { outputs, summary })
    }
}

/// Every design × policy × workload against its two baselines, as the simulator reports them
/// (the `dense`-policy figures come from each run, not from another point of the grid).
fn summary_rows(grid: &Grid, workloads: &[Workload], results: &[PointResult]) -> Vec<SummaryRow> {
    let mut summary = Vec::new();
    for (point, result) in grid.points.iter().zip(results) {
        for (w, r) in workloads.iter().zip(result) {
            let net = &r.network;
            summary.push(SummaryRow {
                design: point.labels[0].clone(),
                support: point.arch.sparsity.support.as_str(),
                workload: w.name.clone(),
                flops_reduction: net.counters.flops_reduction,
                cycle_reduction_vs_ungated: net.counters.cycle_reduction_vs_ungated,
                cycle_reduction_vs_dense_policy: net.counters.cycle_reduction_vs_dense_policy,
                energy_saving_vs_ungated: net.counters.energy_saving_vs_ungated,
                energy_saving_vs_dense_policy: net.counters.energy_saving_vs_dense_policy,
                utilization: net.counters.utilization,
                latency_us: net.counters.latency_us,
                energy_pj: net.counters.energy_pj,
            });
        }
    }
    summary
}

/// Trace directories under `dir` (those holding a manifest), sorted by name; none when `dir`
/// does not exist.
pub fn shipped_traces(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| SweepError::List {
            what: "",
            dir: dir.to_owned(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(MANIFEST_FILE).is_file())
        .collect();
    out.sort();
    Ok(out)
}

/// How [`synthetic_traces`] makes its traces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyntheticTraces {
    /// ResNet-18 CIFAR width multiplier (1 input channel, like the built-in Fashion-MNIST).
    pub width: f64,
    /// Fraction of gate blocks on, in [0, 1].
    pub density: f64,
    pub samples: usize,
    pub seed: u64,
}

/// Two synthetic traces of ResNet-18 CIFAR with random block gates: `synthetic-structured`
/// (16×1×1 channel blocks) and `synthetic-unstructured` (1×1×1), named and in that order.
pub fn synthetic_traces(opts: &SyntheticTraces) -> Result<Vec<(String, Trace)>> {
    let mut out = Vec::new();
    for (name, block) in [
        ("synthetic-structured", GateBlock::new(16, 1, 1)),
        ("synthetic-unstructured", GateBlock::ELEMENT),
    ] {
        let network = cdg_sim::models::resnet18_cifar(opts.width, 1, Some((4, block)));
        let bytes = cdg_io::trace::decompressed_mask_bytes(&network, opts.samples)
            .and_then(|b| b.checked_add(b / 8));
        cdg_io::limits::check_memory_opt(
            format!("the {name} gate masks of {} samples", opts.samples),
            bytes,
        )?;
        let masks = cdg_sim::synth::synth_masks(&network, opts.density, opts.samples, opts.seed)
            .map_err(|source| SweepError::Synth {
                name: name.to_owned(),
                source,
            })?;
        let trace = Trace {
            network,
            masks: Some(masks),
            samples: opts.samples,
            provenance: serde_json::json!({
                "generator": "cdg run --no-train: synthetic random block gates",
                "network": format!("resnet18_cifar(width {}, 1 input channel, base_partitions 4)", opts.width),
                "gate_block": block.as_array(),
                "density": opts.density,
                "seed": opts.seed,
            }),
        };
        out.push((name.to_owned(), trace));
    }
    Ok(out)
}
