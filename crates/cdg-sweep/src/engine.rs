//! Running grid points on workloads in parallel and rendering the results as CSV.

use crate::columns::{GateDensity, LatencyPercentiles};
use crate::error::{Result, SweepError};
use crate::grid::{Grid, Point};
use crate::workload::Workload;
use cdg_core::ArchConfig;
use cdg_io::layout::sweep::{LAYERS_CSV, SWEEP_CSV};
use cdg_sim::{LayerRow, NetworkRow};
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;

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

/// Simulates the design of grid point `point` on one workload (every sample of a trace with
/// masks, for the mean and the latency percentiles).
pub fn simulate(point: usize, arch: &ArchConfig, w: &Workload) -> Result<WorkloadResult> {
    let fail = |source| SweepError::Simulate {
        point,
        design: arch.name.clone(),
        workload: w.name.clone(),
        source,
    };
    let (stats, latencies) = match &w.masks {
        Some(masks) => {
            let sampled = cdg_sim::simulate_samples(arch, &w.network, masks).map_err(fail)?;
            let latencies: Vec<f64> = sampled
                .per_sample
                .iter()
                .map(|s| s.latency().get())
                .collect();
            (sampled.mean, latencies)
        }
        None => {
            let stats = cdg_sim::simulate_network(arch, &w.network, None).map_err(fail)?;
            let latency = stats.latency().get();
            (stats, vec![latency])
        }
    };
    Ok(WorkloadResult {
        network: stats.to_row(),
        layers: stats.layers.iter().map(|l| l.to_row()).collect(),
        latency: LatencyPercentiles::of(&latencies),
    })
}

/// Runs every point of `grid` on every workload in parallel (rayon); the results are in point
/// order, so nothing downstream depends on scheduling.
pub fn run_points(
    grid: &Grid,
    workloads: &[Workload],
    progress: &dyn Progress,
) -> Result<Vec<PointResult>> {
    progress.start(grid.points.len() as u64);
    let results = grid
        .points
        .par_iter()
        .map(|p| {
            let r = workloads
                .iter()
                .map(|w| simulate(p.index, &p.arch, w))
                .collect::<Result<PointResult>>();
            progress.advance();
            r
        })
        .collect::<Result<Vec<_>>>();
    progress.finish();
    results
}

/// The leading columns of every sweep.csv row; the simulator's network row (which carries the
/// sample count) follows.
#[derive(Debug, Serialize)]
struct RowHead<'a> {
    workload: &'a str,
    gate_block: &'a str,
    support: &'static str,
    area_mm2: f64,
}

/// The CSV header names of a serializable row.
fn field_names<T: Serialize>(row: &T) -> Result<Vec<String>> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(true)
        .from_writer(Vec::new());
    w.serialize(row)?;
    let bytes = w
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes.as_slice());
    Ok(r.headers()?.iter().map(str::to_owned).collect())
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

/// Renders sweep.csv (one row per point and workload: `point`, the grid columns, the workload
/// columns, the network row, the latency percentiles) and, when `layers`, layers.csv (one row per point, workload and
/// layer, with the layer's gate density) for `grid`'s points with `results` (in point order). A non-finite number is refused
/// naming the file, column, point and workload (no report holds one).
pub fn render_csvs(
    grid: &Grid,
    workloads: &[Workload],
    results: &[PointResult],
    layers: bool,
) -> Result<(Vec<u8>, Option<Vec<u8>>)> {
    let mut sweep = csv_writer();
    let mut per_layer = csv_writer();
    let mut headed = false;
    let (mut sweep_rows, mut layer_rows_written) = (0usize, 0usize);
    for (
        Point {
            index,
            labels,
            arch,
        },
        result,
    ) in grid.points.iter().zip(results)
    {
        for (w, r) in workloads.iter().zip(result) {
            let (net, layer_rows, latency) = (&r.network, &r.layers, &r.latency);
            let head = RowHead {
                workload: &w.name,
                gate_block: &w.gate_block,
                support: arch.sparsity.support.as_str(),
                area_mm2: arch.area_mm2(),
            };
            if !headed {
                let mut h = vec!["point".to_owned()];
                h.extend(grid.keys.iter().cloned());
                h.extend(field_names(&head)?);
                h.extend(field_names(net)?);
                h.extend(field_names(latency)?);
                sweep.write_record(&h)?;
                if let Some(first) = layer_rows.first() {
                    let mut h = vec!["point".to_owned()];
                    h.extend(grid.keys.iter().cloned());
                    h.push("workload".to_owned());
                    h.extend(field_names(first)?);
                    h.extend(field_names(&GateDensity::NONE)?);
                    per_layer.write_record(&h)?;
                }
                headed = true;
            }
            let at = |row: usize| format!(" of row {row} (point {index}, workload `{}`)", w.name);
            sweep_rows += 1;
            cdg_io::csv_out::check_finite(
                Path::new(SWEEP_CSV),
                &(&head, net, latency),
                &at(sweep_rows),
            )?;
            sweep.write_field(index.to_string())?;
            for l in labels {
                sweep.write_field(l)?;
            }
            sweep.serialize((&head, net, latency))?;
            if layers {
                for row in layer_rows {
                    layer_rows_written += 1;
                    cdg_io::csv_out::check_finite(
                        Path::new(LAYERS_CSV),
                        row,
                        &at(layer_rows_written),
                    )?;
                    per_layer.write_field(index.to_string())?;
                    for l in labels {
                        per_layer.write_field(l)?;
                    }
                    per_layer.write_field(&w.name)?;
                    let density =
                        GateDensity::of(w.masks.as_ref().and_then(|m| m.layer(&row.layer)), None);
                    per_layer.serialize((row, density))?;
                }
            }
        }
    }
    // Text cells a spreadsheet would take for formulas get a leading `'` (cdg_io::csv_out).
    let sweep = cdg_io::csv_out::neutralize_csv(&csv_bytes(sweep)?)?;
    let per_layer = cdg_io::csv_out::neutralize_csv(&csv_bytes(per_layer)?)?;
    Ok((sweep, layers.then_some(per_layer)))
}
