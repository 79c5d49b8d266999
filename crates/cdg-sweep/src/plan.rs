//! `cdg sweep`: a spec (or one shard of it) from validated plan to the files of its output
//! directory.

use crate::engine::{Progress, render_csvs, run_points};
use crate::error::{Result, SweepError};
pub use crate::estimate::Estimate;
use crate::grid::{Grid, Point};
use crate::shard::{SHARD_FORMAT, SHARD_VERSION, ShardInfo, fingerprint, read};
use crate::workload::{Workload, load_workloads};
use cdg_io::layout::sweep::{
    CONFIGS_DIR, ENERGY_LATENCY_SVG, LAYERS_CSV, REDUCTION_SVG, SHARD_JSON, SPEC_TOML, SWEEP_CSV,
    config_name,
};
use cdg_io::output::Outputs;
use cdg_io::sweep::{Shard, SweepSpec};
use cdg_report::{Pareto, Table};
use std::path::Path;

/// What a sweep writes besides `sweep.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepOptions {
    /// Also write layers.csv.
    pub layers: bool,
    /// Draw the SVG plots (a shard of a split run draws none; its merge does).
    pub plots: bool,
}

/// A validated sweep: the spec parsed, the base config and every grid value and combination
/// checked exactly as `--set key=value` would be, every workload loaded (each once, shared by
/// all points) and the inputs fingerprinted. Nothing has been simulated yet.
#[derive(Debug)]
pub struct SweepPlan {
    spec: SweepSpec,
    spec_bytes: Vec<u8>,
    shard: Shard,
    grid: Grid,
    workloads: Vec<Workload>,
    options: SweepOptions,
    fingerprint: u64,
    pareto: Pareto,
}

/// What a sweep produced: the files of its output directory.
#[derive(Debug)]
pub struct SweepRun {
    /// Every file to write (configs, spec copy, CSVs, `shard.json`, plots) and the files of an
    /// earlier run to remove; commit with [`cdg_io::output::write_outputs`].
    pub outputs: Outputs,
    /// Rows of sweep.csv (points × workloads).
    pub rows: usize,
}

/// Runs of more grid points than this need confirming ([`SweepPlan::load_large`], `--yes`).
pub const LARGE_GRID: usize = 100_000;
/// Runs of more points than this estimate their time and memory from a few points first.
const ESTIMATE_FROM: usize = 1_000;
/// Points simulated for the estimate.
const ESTIMATE_POINTS: usize = 3;

impl SweepPlan {
    /// Plans shard `shard` of the sweep spec at `spec_path`. A run of more than
    /// [`LARGE_GRID`] points is refused with its estimated time and memory
    /// ([`SweepError::LargeGrid`]); [`SweepPlan::load_large`] accepts it.
    pub fn load(spec_path: &Path, shard: Shard, options: SweepOptions) -> Result<Self> {
        Self::load_with(spec_path, shard, options, false)
    }

    /// Like [`SweepPlan::load`], for runs of any size (still within the memory limit).
    pub fn load_large(spec_path: &Path, shard: Shard, options: SweepOptions) -> Result<Self> {
        Self::load_with(spec_path, shard, options, true)
    }

    fn load_with(
        spec_path: &Path,
        shard: Shard,
        options: SweepOptions,
        large: bool,
    ) -> Result<Self> {
        let spec = cdg_io::sweep::load_spec(spec_path)?;
        let spec_bytes = read(spec_path)?;
        let base = spec.base_text()?;
        let workloads = load_workloads(&spec)?;
        let points = shard.len(spec.points());
        if points > ESTIMATE_FROM {
            let estimate = estimate(&spec, &base, shard, &workloads, options)?;
            cdg_io::limits::check_memory(
                format!(
                    "the results of {} points × {} workloads",
                    points,
                    workloads.len()
                ),
                estimate.memory_bytes,
            )?;
            if points > LARGE_GRID && !large {
                return Err(SweepError::LargeGrid {
                    spec: spec_path.to_owned(),
                    estimate,
                    limit: LARGE_GRID,
                });
            }
        }
        let grid = Grid::from_spec(&spec, &base, shard)?;
        let fingerprint = fingerprint(&spec, &spec_bytes, &base)?;
        Ok(Self {
            spec,
            spec_bytes,
            shard,
            grid,
            workloads,
            options,
            fingerprint,
            pareto: Pareto::default(),
        })
    }

    /// The plan with the Pareto front of `energy_latency.svg` taken over the objectives of
    /// `pareto` (`cdg sweep --pareto`) instead of latency and energy.
    pub fn with_pareto(mut self, pareto: Pareto) -> Self {
        self.pareto = pareto;
        self
    }

    /// The objectives of the plotted Pareto front.
    pub fn pareto(&self) -> &Pareto {
        &self.pareto
    }

    /// The parsed spec.
    pub fn spec(&self) -> &SweepSpec {
        &self.spec
    }

    /// The shard this plan runs.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// The points this plan runs and the size of the whole grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// The workloads, in spec order.
    pub fn workloads(&self) -> &[Workload] {
        &self.workloads
    }

    /// Whether this run draws the plots: asked for, and the whole grid.
    pub fn draws_plots(&self) -> bool {
        self.options.plots && self.shard.count() == 1
    }

    /// The `shard.json` of this run.
    pub fn info(&self) -> ShardInfo {
        ShardInfo {
            format: SHARD_FORMAT.to_owned(),
            version: SHARD_VERSION,
            shard: self.shard.index(),
            shards: self.shard.count(),
            points: self.grid.total,
            grid_keys: self.grid.keys.clone(),
            workloads: self.workloads.iter().map(|w| w.name.clone()).collect(),
            spec_fnv64: format!("{:016x}", self.fingerprint),
            layers: self.options.layers,
            plots: self.options.plots,
        }
    }

    /// Simulates every point on every workload (in parallel, results in point order) and
    /// renders the output directory: `configs/point-NNNN.toml`, `spec.toml`, `sweep.csv`,
    /// `layers.csv` (with [`SweepOptions::layers`]), `shard.json` and, for a whole run with
    /// plots, `energy_latency.svg` and `reduction.svg` drawn from the `sweep.csv` bytes.
    pub fn run(&self, progress: &dyn Progress) -> Result<SweepRun> {
        let results = run_points(&self.grid, &self.workloads, progress)?;
        let (sweep_csv, layers_csv) =
            render_csvs(&self.grid, &self.workloads, &results, self.options.layers)?;
        let draws = self.draws_plots();
        let plots = draws
            .then(|| sweep_plots_with(&sweep_csv, &self.pareto))
            .transpose()?;
        let mut outputs = Outputs::new();
        add_configs(&mut outputs, &self.grid.points, self.grid.total);
        outputs.add(SPEC_TOML, self.spec_bytes.clone());
        outputs.add(SWEEP_CSV, sweep_csv);
        if let Some(layers) = layers_csv {
            outputs.add(LAYERS_CSV, layers);
        }
        outputs.add(SHARD_JSON, self.info().to_json());
        if let Some(plots) = plots {
            outputs.extend(plots);
        }
        Ok(SweepRun {
            outputs,
            rows: self.grid.points.len() * self.workloads.len(),
        })
    }
}

/// Simulates the first few points of the run (one thread) and scales their time and output
/// size to the whole run.
fn estimate(
    spec: &SweepSpec,
    base: &str,
    shard: Shard,
    workloads: &[Workload],
    options: SweepOptions,
) -> Result<Estimate> {
    let sample = Grid::sample(spec, base, shard, ESTIMATE_POINTS)?;
    let started = std::time::Instant::now();
    let results = sample
        .points
        .iter()
        .map(|p| {
            workloads
                .iter()
                .map(|w| crate::engine::simulate(p.index, &p.arch, w))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    let per_point = started.elapsed().as_secs_f64() / sample.points.len().max(1) as f64;
    let (sweep_csv, layers_csv) = render_csvs(&sample, workloads, &results, options.layers)?;
    let config_bytes: usize = sample
        .points
        .iter()
        .map(|p| cdg_io::arch::to_toml(&p.arch).len())
        .sum();
    let bytes = sweep_csv.len() + layers_csv.map_or(0, |l| l.len()) + config_bytes;
    // The rows are held as results and again as rendered text, with the configs.
    let per_point_bytes = 3 * bytes as u64 / sample.points.len().max(1) as u64;
    let points = shard.len(spec.points());
    Ok(Estimate {
        points,
        total: spec.points(),
        workloads: workloads.len(),
        seconds: per_point * points as f64 / rayon::current_num_threads() as f64,
        memory_bytes: per_point_bytes.saturating_mul(points as u64),
    })
}

/// Adds `configs/point-NNNN.toml` of every point.
pub(crate) fn add_configs(outputs: &mut Outputs, points: &[Point], total: usize) {
    for p in points {
        outputs.add(
            Path::new(CONFIGS_DIR).join(config_name(p.index, total)),
            cdg_io::arch::to_toml(&p.arch),
        );
    }
}

/// The sweep plots drawn from the text of `sweep.csv`: `energy_latency.svg` and
/// `reduction.svg`. `cdg sweep`, `cdg merge`, `cdg run` and `cdg plot` all draw through here,
/// so the same CSV bytes give the same SVG bytes.
pub fn sweep_plots(sweep_csv: &[u8]) -> Result<Outputs> {
    sweep_plots_with(sweep_csv, &Pareto::default())
}

/// [`sweep_plots`] with the Pareto front of `energy_latency.svg` over the objectives of
/// `pareto` (`--pareto`): the same CSV bytes and objectives give the same SVG bytes.
pub fn sweep_plots_with(sweep_csv: &[u8], pareto: &Pareto) -> Result<Outputs> {
    let table = Table::parse(sweep_csv, Path::new(SWEEP_CSV))?;
    let mut out = Outputs::new();
    out.add(
        ENERGY_LATENCY_SVG,
        cdg_report::energy_latency_with(&table, pareto)?,
    );
    out.add(REDUCTION_SVG, cdg_report::reduction(&table)?);
    Ok(out)
}
