//! The Pareto-optimal designs of a `sweep.csv`, per workload, for the tables `cdg sweep` and
//! `cdg merge` print.

use crate::error::Result;
use cdg_io::layout::sweep::SWEEP_CSV;
use cdg_report::{Pareto, Table, pareto_fronts, per_image_divisors};
use std::path::Path;

/// One entry of a workload's Pareto front.
#[derive(Debug, Clone, PartialEq)]
pub struct ParetoDesign {
    /// The `point` cell.
    pub point: String,
    pub latency_us: f64,
    pub energy_pj: f64,
    pub area_mm2: f64,
    /// `(grid key, cell)` of the point, in grid-key order.
    pub grid_values: Vec<(String, String)>,
    /// The `point` cells of the other designs identical to this one on every objective of the
    /// front (one entry stands for all of them), ascending.
    pub same: Vec<String>,
    /// Whether the design is on the latency/energy front too; `false` for a design only its
    /// smaller area puts on a front over area.
    pub on_energy_latency: bool,
}

/// The Pareto front of one workload.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadFront {
    pub workload: String,
    /// Designs simulated on the workload.
    pub designs: usize,
    /// The front's entries, fastest first (then by energy, then by area).
    pub front: Vec<ParetoDesign>,
}

/// Per workload (in first-appearance order), the Pareto front over the objectives of `pareto`
/// of the `sweep.csv` text `sweep_csv`, with each entry's cells under the grid keys `keys`.
pub fn pareto_by_workload(
    sweep_csv: &[u8],
    keys: &[String],
    pareto: &Pareto,
) -> Result<Vec<WorkloadFront>> {
    let table = Table::parse(sweep_csv, Path::new(SWEEP_CSV))?;
    // Per image where batch sizes differ, as the front compares them (issue #24).
    let per_image = per_image_divisors(&table);
    let latency: Vec<f64> = table
        .numbers("latency_us")?
        .iter()
        .zip(&per_image)
        .map(|(x, d)| x / d)
        .collect();
    let energy: Vec<f64> = table
        .numbers("energy_pj")?
        .iter()
        .zip(&per_image)
        .map(|(x, d)| x / d)
        .collect();
    let area = table.numbers("area_mm2")?;
    let point = table.column("point")?;
    let key_cols = keys
        .iter()
        .map(|k| table.column(k))
        .collect::<cdg_report::Result<Vec<_>>>()?;
    Ok(pareto_fronts(&table, pareto)?
        .into_iter()
        .map(|f| WorkloadFront {
            workload: f.workload,
            designs: f.rows.len(),
            front: f
                .entries
                .into_iter()
                .map(|e| {
                    let r = e.row;
                    ParetoDesign {
                        point: table.rows[r][point].to_owned(),
                        latency_us: latency[r],
                        energy_pj: energy[r],
                        area_mm2: area[r],
                        grid_values: keys
                            .iter()
                            .zip(&key_cols)
                            .map(|(k, &c)| (k.clone(), table.rows[r][c].to_owned()))
                            .collect(),
                        same: e
                            .same
                            .iter()
                            .map(|&o| table.rows[o][point].to_owned())
                            .collect(),
                        on_energy_latency: e.on_energy_latency,
                    }
                })
                .collect(),
        })
        .collect())
}
