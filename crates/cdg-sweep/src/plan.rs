//! `cdg sweep`: a spec (or one shard of it) from validated plan to the files of its output
//! directory.

use crate::engine::{Progress, render_csvs, run_points};
use crate::error::Result;
use crate::grid::{Grid, Point};
use crate::shard::{SHARD_FORMAT, SHARD_VERSION, ShardInfo, fingerprint, read};
use crate::workload::{Workload, load_workloads};
use cdg_io::layout::sweep::{
    CONFIG_PREFIX, CONFIG_SUFFIX, CONFIGS_DIR, ENERGY_LATENCY_SVG, LAYERS_CSV, LAYERS_POINT_PREFIX,
    LAYERS_POINT_SUFFIX, REDUCTION_SVG, SHARD_JSON, SPEC_TOML, SWEEP_CSV, config_name,
};
use cdg_io::output::Outputs;
use cdg_io::sweep::{Shard, SweepSpec};
use cdg_report::Table;
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

impl SweepPlan {
    /// Plans shard `shard` of the sweep spec at `spec_path`.
    pub fn load(spec_path: &Path, shard: Shard, options: SweepOptions) -> Result<Self> {
        let spec = cdg_io::sweep::load_spec(spec_path)?;
        let spec_bytes = read(spec_path)?;
        let base = spec.base_text()?;
        let grid = Grid::from_spec(&spec, &base, shard)?;
        let workloads = load_workloads(&spec)?;
        let fingerprint = fingerprint(&spec, &spec_bytes, &base)?;
        Ok(Self {
            spec,
            spec_bytes,
            shard,
            grid,
            workloads,
            options,
            fingerprint,
        })
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
        let plots = draws.then(|| sweep_plots(&sweep_csv)).transpose()?;
        let mut outputs = Outputs::new();
        stale(&mut outputs, self.options.layers, draws);
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

/// What an earlier run may have left in a sweep output directory that this run does not
/// rewrite: grid-point configs this run does not write, `layers.csv` when not writing it, the
/// sweep plots when this run draws none, and per-point plots always (they derive from the old
/// data). The directory then holds exactly this run's output, so a merge equals the unsharded
/// run even when both reuse a directory. Only files with the names cdg writes are touched.
pub(crate) fn stale(outputs: &mut Outputs, layers: bool, plots: bool) {
    outputs.remove_matching(CONFIGS_DIR, CONFIG_PREFIX, CONFIG_SUFFIX);
    if !layers {
        outputs.remove_if_present(LAYERS_CSV);
    }
    if !plots {
        outputs.remove_if_present(ENERGY_LATENCY_SVG);
        outputs.remove_if_present(REDUCTION_SVG);
    }
    outputs.remove_matching("", LAYERS_POINT_PREFIX, LAYERS_POINT_SUFFIX);
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
    let table = Table::parse(sweep_csv, Path::new(SWEEP_CSV))?;
    let mut out = Outputs::new();
    out.add(ENERGY_LATENCY_SVG, cdg_report::energy_latency(&table)?);
    out.add(REDUCTION_SVG, cdg_report::reduction(&table)?);
    Ok(out)
}
