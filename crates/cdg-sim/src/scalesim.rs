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
        Self {
            layer_id,
            total_cycles_incl_prefetch: s.total_cycles.get(),
            total_cycles: s.total_cycles.get(),
            stall_cycles: s.stall_cycles.get(),
            overall_util_pct: 100.0 * l.rates.scalesim_overall_utilization,
            mapping_efficiency_pct: 100.0 * l.scalesim_mapping_efficiency,
            compute_util_pct: 100.0 * l.rates.scalesim_compute_utilization,
        }
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
