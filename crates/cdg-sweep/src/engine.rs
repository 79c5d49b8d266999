//! Running grid points on workloads in parallel and rendering the results as CSV.

use crate::columns::{GateDensity, LatencyPercentiles};
use crate::error::{Result, SweepError};
use crate::grid::{Grid, Point};
use crate::workload::Workload;
use cdg_core::ArchConfig;
use cdg_core::columns as col;
use cdg_io::csv_out::JoinedCsv;
use cdg_io::layout::sweep::{LAYERS_CSV, SWEEP_CSV};
use cdg_sim::{LayerRow, NetworkRow, NetworkStats};
use rayon::prelude::*;

/// Progress of a run, reported from the worker threads (the CLI draws a bar). Every method
/// defaults to doing nothing.
pub trait Progress: Sync {
    /// `total` points are about to run.
    fn start(&self, _total: u64) {}
    /// One more point has finished.
    fn advance(&self) {}
    /// Every point has finished (or the run failed).
    fn finish(&self) {}
}

/// No progress reporting.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {}

/// What one design did on one workload: the summary (the mean over the samples of a trace with
/// masks, or the single run) and every sample's run (traces with masks; empty otherwise).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadRun {
    pub summary: NetworkStats,
    pub per_sample: Vec<NetworkStats>,
}

impl WorkloadRun {
    /// The per-sample latencies (µs), or the single run's.
    pub fn latencies(&self) -> Vec<f64> {
        if self.per_sample.is_empty() {
            vec![self.summary.latency().get()]
        } else {
            self.per_sample.iter().map(|s| s.latency().get()).collect()
        }
    }

    /// The per-sample latency percentiles.
    pub fn percentiles(&self) -> LatencyPercentiles {
        LatencyPercentiles::of(&self.latencies())
    }
}

/// What one design produced on one workload: the network row, the per-layer rows and the
/// per-sample latency percentiles.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadResult {
    pub network: NetworkRow,
    pub layers: Vec<LayerRow>,
    pub latency: LatencyPercentiles,
}

/// Results of one point on every workload, in workload order.
pub type PointResult = Vec<WorkloadResult>;

/// Simulates the design of grid point `point` on one workload: every sample of a trace with
/// masks through the gated model (and their mean), otherwise every layer densely with the
/// workload's per-layer options (N:M weight sparsity of a topology). The one simulation of a
/// design on a workload, for `cdg sim` and `cdg sweep` alike.
pub fn run_workload(point: usize, arch: &ArchConfig, w: &Workload) -> Result<WorkloadRun> {
    let fail = |source| SweepError::Simulate {
        point,
        design: arch.name.clone(),
        workload: w.name.clone(),
        source,
    };
    match &w.masks {
        Some(masks) => {
            let sampled = cdg_sim::simulate_samples(arch, &w.network, masks).map_err(fail)?;
            Ok(WorkloadRun {
                summary: sampled.mean,
                per_sample: sampled.per_sample,
            })
        }
        None => Ok(WorkloadRun {
            summary: cdg_sim::simulate_network_with(arch, &w.network, &w.layer_opts)
                .map_err(fail)?,
            per_sample: Vec::new(),
        }),
    }
}

/// [`run_workload`] as the rows of `sweep.csv` and `layers.csv`.
pub fn simulate(point: usize, arch: &ArchConfig, w: &Workload) -> Result<WorkloadResult> {
    let run = run_workload(point, arch, w)?;
    Ok(WorkloadResult {
        network: run.summary.to_row(),
        layers: run.summary.layers.iter().map(|l| l.to_row()).collect(),
        latency: run.percentiles(),
    })
}

/// Runs `each` on every point of `grid` and every workload in parallel (rayon); the results
/// are in point order (then workload order), so nothing downstream depends on scheduling.
pub fn run_grid<T: Send>(
    grid: &Grid,
    workloads: &[Workload],
    progress: &dyn Progress,
    each: impl Fn(&Point, &Workload) -> Result<T> + Sync,
) -> Result<Vec<Vec<T>>> {
    progress.start(grid.points.len() as u64);
    let results = grid
        .points
        .par_iter()
        .map(|p| {
            let r = workloads
                .iter()
                .map(|w| each(p, w))
                .collect::<Result<Vec<T>>>();
            progress.advance();
            r
        })
        .collect::<Result<Vec<_>>>();
    progress.finish();
    results
}

/// Runs every point of `grid` on every workload in parallel (rayon); the results are in point
/// order, so nothing downstream depends on scheduling.
pub fn run_points(
    grid: &Grid,
    workloads: &[Workload],
    progress: &dyn Progress,
) -> Result<Vec<PointResult>> {
    run_grid(grid, workloads, progress, |p, w| {
        simulate(p.index, &p.arch, w)
    })
}

/// The leading columns of every sweep.csv row; the simulator's network row (which carries the
/// sample count) follows.
#[derive(Debug)]
struct RowHead<'a> {
    workload: &'a str,
    gate_block: &'a str,
    support: &'static str,
    area_mm2: f64,
}

cdg_core::csv_row!(RowHead<'a> {
    workload = col::WORKLOAD,
    gate_block = col::GATE_BLOCK,
    support = col::SUPPORT,
    area_mm2 = col::AREA_MM2,
});

/// Renders sweep.csv (one row per point and workload: `point`, the grid columns, the workload
/// columns, the network row, the latency percentiles) and, when `layers`, layers.csv (one row
/// per point, workload and layer, with the layer's gate density) for `grid`'s points with
/// `results` (in point order), through [`cdg_io::csv_out::JoinedCsv`]. A non-finite number is
/// refused naming the file, column, point and workload (no report holds one).
pub fn render_csvs(
    grid: &Grid,
    workloads: &[Workload],
    results: &[PointResult],
    layers: bool,
) -> Result<(Vec<u8>, Option<Vec<u8>>)> {
    let mut sweep = JoinedCsv::new(SWEEP_CSV);
    let mut per_layer = JoinedCsv::new(LAYERS_CSV);
    for (
        Point {
            index,
            labels,
            arch,
        },
        result,
    ) in grid.points.iter().zip(results)
    {
        let index_text = index.to_string();
        let mut lead: Vec<(&str, &str)> = vec![(col::POINT, &index_text)];
        lead.extend(
            grid.keys
                .iter()
                .map(String::as_str)
                .zip(labels.iter().map(String::as_str)),
        );
        for (w, r) in workloads.iter().zip(result) {
            let head = RowHead {
                workload: &w.name,
                gate_block: &w.gate_block,
                support: arch.sparsity.support.as_str(),
                area_mm2: arch.area_mm2(),
            };
            let at = |row: usize| format!(" of row {row} (point {index}, workload `{}`)", w.name);
            sweep.row(
                &lead,
                &(&head, &r.network, &r.latency),
                Some(&at(sweep.rows() + 1)),
            )?;
            if layers {
                let mut lead = lead.clone();
                lead.push((col::WORKLOAD, &w.name));
                for row in &r.layers {
                    let density =
                        GateDensity::of(w.masks.as_ref().and_then(|m| m.layer(&row.layer)), None);
                    per_layer.row(&lead, &(row, density), Some(&at(per_layer.rows() + 1)))?;
                }
            }
        }
    }
    let sweep = sweep.finish()?.into_bytes();
    let per_layer = per_layer.finish()?.into_bytes();
    Ok((sweep, layers.then_some(per_layer)))
}

/// A CSV writer with the report conventions of `cdg-io` (`\n` line ends, minimal quoting).
pub(crate) fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .has_headers(false)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new())
}

/// The bytes a CSV writer holds.
pub(crate) fn csv_bytes(w: csv::Writer<Vec<u8>>) -> Result<Vec<u8>> {
    w.into_inner()
        .map_err(|e| SweepError::Csv(csv::Error::from(e.into_error())))
}
