//! SCALE-Sim v3.0.0 compatibility (docs/model.md §3): its `COMPUTE_REPORT.csv`, row for row,
//! with its header and conventions, so a user can diff the two tools line by line.

use crate::stats::{LayerStats, NetworkStats};

/// SCALE-Sim's exact header line (without the newline).
pub const COMPUTE_REPORT_HEADER: &str = "LayerID, Total Cycles (incl. prefetch), Total Cycles, \
     Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %,";

/// One row of SCALE-Sim's compute report. Percentages are percent, as SCALE-Sim writes them.
#[derive(Debug, Clone, PartialEq)]
pub struct ComputeReportRow {
    pub layer_id: usize,
    /// Ours counts the prefetch among the stalls, so this equals `total_cycles`.
    pub total_cycles_incl_prefetch: u64,
    /// L − 1 + stalls.
    pub total_cycles: u64,
    pub stall_cycles: u64,
    pub overall_util_pct: f64,
    pub mapping_efficiency_pct: f64,
    pub compute_util_pct: f64,
}

impl ComputeReportRow {
    pub fn of(layer_id: usize, l: &LayerStats) -> Self {
        let s = &l.totals.scalesim;
        let mut row = Self {
            layer_id,
            total_cycles_incl_prefetch: s.total_cycles.get(),
            total_cycles: s.total_cycles.get(),
            stall_cycles: s.stall_cycles.get(),
            overall_util_pct: overall_util_pct(l),
            mapping_efficiency_pct: 100.0 * l.scalesim_mapping_efficiency,
            compute_util_pct: 100.0 * l.rates.scalesim_compute_utilization,
        };
        if let Some((mapping, compute)) = per_fold_pcts(l) {
            row.mapping_efficiency_pct = mapping;
            row.compute_util_pct = compute;
        }
        row
    }

    /// The row as SCALE-Sim prints it: `", "`-separated, Python float formatting, trailing
    /// comma.
    pub fn to_line(&self) -> String {
        format!(
            "{}, {}, {}, {}, {}, {}, {},",
            self.layer_id,
            self.total_cycles_incl_prefetch,
            self.total_cycles,
            self.stall_cycles,
            py_float(self.overall_util_pct),
            py_float(self.mapping_efficiency_pct),
            py_float(self.compute_util_pct),
        )
    }
}

/// `Overall Util %` as SCALE-Sim computes it (`single_layer_sim.py`): `(num_compute · 100) /
/// (total_cycles · num_mac_unit)`, one division of two integers, which Python rounds once;
/// `100 · (macs / (cycles · R · C))` rounds twice and can differ in the last digits.
fn overall_util_pct(l: &LayerStats) -> f64 {
    let macs = u128::from(l.totals.macs_dense.get()) * 100;
    let pe_cycles = u128::from(l.totals.scalesim.total_cycles.get())
        * u128::from(l.array_rows)
        * u128::from(l.array_cols);
    if pe_cycles == 0 {
        0.0
    } else {
        macs as f64 / pe_cycles as f64
    }
}

/// `Mapping Efficiency %` and `Compute Util %` in SCALE-Sim's order of operations
/// (`systolic_compute_{os,ws,is}.py`): per fold, column folds outer and row folds inner,
/// `mac_used / (R·C)` and `mac_used · T / (R·C·cycles_this_fold)` (each one division of
/// integers), summed as Python's `sum` does ([`PythonSum`]), divided by the fold count, then
/// times 100 — so the digits
/// are SCALE-Sim's, not merely the same value to 1e-14. `None` (the closed form is kept) where
/// the layer's folds are not SCALE-Sim's plain grid (grouped layers, N:M weight sparsity).
fn per_fold_pcts(l: &LayerStats) -> Option<(f64, f64)> {
    let (r, c) = (l.array_rows, l.array_cols);
    if r == 0 || c == 0 || l.gemm.m == 0 || l.gemm.k == 0 || l.gemm.n == 0 {
        return None;
    }
    let map = crate::mapping::Mapping::new(l.dataflow, r, c, l.gemm);
    if (map.row_folds, map.col_folds) != (l.row_folds, l.col_folds) {
        return None;
    }
    let fold_cycles = map.unit().scalesim_fold_cycles(r, c, map.t);
    let pes = u128::from(r) * u128::from(c);
    let (mut mapping, mut compute) = (PythonSum::default(), PythonSum::default());
    for fc in 0..map.col_folds {
        for fr in 0..map.row_folds {
            let rows_used = r.min(map.sr - fr * r);
            let cols_used = c.min(map.sc - fc * c);
            let macs = u128::from(rows_used) * u128::from(cols_used);
            mapping.add(macs as f64 / pes as f64);
            compute.add((macs * u128::from(map.t)) as f64 / (pes * u128::from(fold_cycles)) as f64);
        }
    }
    let folds = (map.row_folds * map.col_folds) as f64;
    Some((
        mapping.total() / folds * 100.0,
        compute.total() / folds * 100.0,
    ))
}

/// Python's built-in `sum` of floats since 3.12 (CPython `builtin_sum_impl`): Neumaier's
/// compensated summation, the compensation added once at the end. SCALE-Sim averages its
/// per-fold figures with it, and its golden trace was regenerated under Python 3.12 for
/// exactly this change ("a very small numerical mismatch in python 3.12 and prev versions").
#[derive(Debug, Default, Clone, Copy)]
struct PythonSum {
    sum: f64,
    compensation: f64,
}

impl PythonSum {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    fn total(self) -> f64 {
        if self.compensation != 0.0 && self.compensation.is_finite() {
            self.sum + self.compensation
        } else {
            self.sum
        }
    }
}

/// The compute-report rows of a simulated network, layer ids from 0.
pub fn compute_report(net: &NetworkStats) -> Vec<ComputeReportRow> {
    net.layers
        .iter()
        .enumerate()
        .map(|(i, l)| ComputeReportRow::of(i, l))
        .collect()
}

/// The whole `COMPUTE_REPORT.csv` text: header, then one line per row.
pub fn compute_report_csv(rows: &[ComputeReportRow]) -> String {
    let mut s = String::with_capacity(64 * (rows.len() + 1));
    s.push_str(COMPUTE_REPORT_HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(&r.to_line());
        s.push('\n');
    }
    s
}

/// Python's `str(float)` for the values SCALE-Sim prints: shortest round-trip digits, and a
/// trailing `.0` on integral values.
fn py_float(x: f64) -> String {
    if x.is_finite() && x == x.trunc() && x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_floats() {
        assert_eq!(py_float(100.0), "100.0");
        assert_eq!(py_float(41.5), "41.5");
        assert_eq!(py_float(0.1 + 0.2), "0.30000000000000004");
    }
}
