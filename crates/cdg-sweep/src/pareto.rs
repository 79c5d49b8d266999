//! The Pareto-optimal designs of a `sweep.csv`, per workload, for the tables `cdg sweep` and
//! `cdg merge` print.

use crate::error::Result;
use cdg_io::layout::sweep::SWEEP_CSV;
use cdg_report::{Table, pareto_front};
use std::path::Path;

/// One design on a workload's latency/energy Pareto front.
#[derive(Debug, Clone, PartialEq)]
pub struct ParetoDesign {
    /// The `point` cell.
    pub point: String,
    pub latency_us: f64,
    pub energy_pj: f64,
    pub area_mm2: f64,
    /// `(grid key, cell)` of the point, in grid-key order.
    pub grid_values: Vec<(String, String)>,
}

/// The Pareto front of one workload.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadFront {
    pub workload: String,
    /// Designs simulated on the workload.
    pub designs: usize,
    /// The Pareto-optimal designs (latency vs energy), fastest first.
    pub front: Vec<ParetoDesign>,
}

/// Per workload (in first-appearance order), the Pareto-optimal rows of the `sweep.csv` text
/// `sweep_csv` with their cells under the grid keys `keys`.
pub fn pareto_by_workload(sweep_csv: &[u8], keys: &[String]) -> Result<Vec<WorkloadFront>> {
    let table = Table::parse(sweep_csv, Path::new(SWEEP_CSV))?;
    let workloads = table.texts("workload")?;
    let latency = table.numbers("latency_us")?;
    let energy = table.numbers("energy_pj")?;
    let area = table.numbers("area_mm2")?;
    let point = table.column("point")?;
    let key_cols = keys
        .iter()
        .map(|k| table.column(k))
        .collect::<cdg_report::Result<Vec<_>>>()?;
    let mut names: Vec<&str> = Vec::new();
    for w in &workloads {
        if !names.contains(w) {
            names.push(w);
        }
    }
    Ok(names
        .into_iter()
        .map(|name| {
            let rows: Vec<usize> = (0..workloads.len())
                .filter(|&r| workloads[r] == name)
                .collect();
            let pts: Vec<(f64, f64)> = rows.iter().map(|&r| (latency[r], energy[r])).collect();
            let front = pareto_front(&pts)
                .into_iter()
                .map(|i| {
                    let r = rows[i];
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
                    }
                })
                .collect();
            WorkloadFront {
                workload: name.to_owned(),
                designs: rows.len(),
                front,
            }
        })
        .collect())
}
