//! CSV text read back by column name, for plotting and merging reports.

use crate::error::{ReportError, Result};
use cdg_core::columns as col;
use std::path::{Path, PathBuf};

/// Whether column `name` of a cdg report holds a count, a size, a time or an energy, which is
/// never negative: `macs_*`, `sram_*`, `dram_*`, `latency*`, `*cycles`, `*_bytes`, `*_pj`,
/// `*_us`, `gate_ops`, `samples`, `layers`, `utilization`, `area_mm2`, `images_per_s`. (Savings
/// such as `energy_saving_vs_ungated` may be negative.)
pub fn non_negative_column(name: &str) -> bool {
    ["macs_", "sram_", "dram_", "latency"]
        .iter()
        .any(|p| name.starts_with(p))
        || ["cycles", "_bytes", "_pj", "_us"]
            .iter()
            .any(|s| name.ends_with(s))
        || [
            "gate_ops",
            "samples",
            "layers",
            "utilization",
            "area_mm2",
            "images_per_s",
        ]
        .contains(&name)
}

/// A CSV file held as text records, with columns looked up by header name.
#[derive(Debug, Clone)]
pub struct Table {
    /// The file the text came from, for error messages.
    pub path: PathBuf,
    pub headers: csv::StringRecord,
    pub rows: Vec<csv::StringRecord>,
}

impl Table {
    /// Parses CSV bytes with a header row; `path` names the source in errors. Empty text is
    /// a table without columns or rows.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self> {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(bytes);
        let headers = r
            .headers()
            .map_err(|source| ReportError::Csv {
                path: path.to_owned(),
                what: "cannot read the CSV header",
                source,
            })?
            .clone();
        let rows = r
            .records()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| ReportError::Csv {
                path: path.to_owned(),
                what: "malformed CSV",
                source,
            })?;
        let table = Self {
            path: path.to_owned(),
            headers,
            rows,
        };
        table.check_values()?;
        Ok(table)
    }

    /// Checks every cell as strictly as cdg writes it: a cell that reads as a number is finite,
    /// and a count, size, time or energy column ([`non_negative_column`]) holds no negative
    /// number. The error names the file, line and column.
    fn check_values(&self) -> Result<()> {
        let non_negative: Vec<bool> = self.headers.iter().map(non_negative_column).collect();
        for (r, row) in self.rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let Ok(v) = cell.trim().parse::<f64>() else {
                    continue;
                };
                let column = || self.headers.get(c).unwrap_or("").to_owned();
                if !v.is_finite() {
                    return Err(ReportError::NonFinite {
                        path: self.path.clone(),
                        line: r + 2,
                        column: column(),
                        cell: cell.to_owned(),
                    });
                }
                if v < 0.0 && non_negative.get(c).copied().unwrap_or(false) {
                    return Err(ReportError::BadValue {
                        path: self.path.clone(),
                        line: r + 2,
                        column: column(),
                        cell: cell.to_owned(),
                        problem: "a count, size, time or energy is never negative",
                    });
                }
            }
        }
        Ok(())
    }

    /// Index of column `name`; an error naming the file and the column when it is absent.
    pub fn column(&self, name: &str) -> Result<usize> {
        self.headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| ReportError::NoColumn {
                path: self.path.clone(),
                column: name.to_owned(),
                have: self.headers.iter().collect::<Vec<_>>().join(", "),
            })
    }

    /// Whether column `name` exists.
    pub fn has(&self, name: &str) -> bool {
        self.headers.iter().any(|h| h == name)
    }

    /// Cell `col` of row `row` as a finite number; errors name file, line and column (a NaN
    /// or an infinity is refused: no plot can place it).
    pub fn number(&self, row: usize, col: usize) -> Result<f64> {
        let cell = self.rows[row].get(col).unwrap_or("");
        let column = || self.headers.get(col).unwrap_or("").to_owned();
        let v = cell.parse::<f64>().map_err(|_| ReportError::NotNumber {
            path: self.path.clone(),
            line: row + 2,
            column: column(),
            cell: cell.to_owned(),
        })?;
        if !v.is_finite() {
            return Err(ReportError::NonFinite {
                path: self.path.clone(),
                line: row + 2,
                column: column(),
                cell: cell.to_owned(),
            });
        }
        Ok(v)
    }

    /// Column `name` of every row as numbers.
    pub fn numbers(&self, name: &str) -> Result<Vec<f64>> {
        let col = self.column(name)?;
        (0..self.rows.len()).map(|r| self.number(r, col)).collect()
    }

    /// Column `name` of every row as text.
    pub fn texts(&self, name: &str) -> Result<Vec<&str>> {
        let col = self.column(name)?;
        Ok(self.rows.iter().map(|r| r.get(col).unwrap_or("")).collect())
    }

    /// Cell `name` of row `row` as text (empty when the column is absent).
    pub fn cell(&self, row: usize, name: &str) -> &str {
        self.headers
            .iter()
            .position(|h| h == name)
            .and_then(|c| self.rows[row].get(c))
            .unwrap_or("")
    }

    /// Cell `name` of row `row` as a finite number, `None` when the column is absent or the
    /// cell empty (an ungated layer's gate density); an error when it holds anything else.
    pub fn optional_number(&self, row: usize, name: &str) -> Result<Option<f64>> {
        match self.headers.iter().position(|h| h == name) {
            None => Ok(None),
            Some(c) if self.rows[row].get(c).unwrap_or("").is_empty() => Ok(None),
            Some(c) => self.number(row, c).map(Some),
        }
    }

    /// One row per distinct value of the `by` columns (first-appearance order) holding, in
    /// every column that is numeric in all the group's rows, the mean over the group, plus
    /// `COLUMN_min` / `COLUMN_max` columns for each of `spread`; other cells come from the
    /// group's first row, and `sample` (when present) is emptied. This turns one row per sample
    /// into the distribution a reader wants: the mean and its range.
    pub fn averaged(&self, by: &[&str], spread: &[&str]) -> Result<Table> {
        let by_cols = by
            .iter()
            .map(|c| self.column(c))
            .collect::<Result<Vec<_>>>()?;
        let spread_cols = spread
            .iter()
            .map(|c| self.column(c))
            .collect::<Result<Vec<_>>>()?;
        let key = |r: usize| -> Vec<&str> {
            by_cols
                .iter()
                .map(|&c| self.rows[r].get(c).unwrap_or(""))
                .collect()
        };
        let mut groups: Vec<(Vec<&str>, Vec<usize>)> = Vec::new();
        for r in 0..self.rows.len() {
            let k = key(r);
            match groups.iter_mut().find(|(g, _)| *g == k) {
                Some((_, rows)) => rows.push(r),
                None => groups.push((k, vec![r])),
            }
        }
        let sample = self.headers.iter().position(|h| h == col::SAMPLE);
        let mut headers = self.headers.clone();
        for c in spread {
            headers.push_field(&format!("{c}_min"));
            headers.push_field(&format!("{c}_max"));
        }
        let mut rows = Vec::with_capacity(groups.len());
        for (_, members) in &groups {
            let mut out = csv::StringRecord::new();
            for c in 0..self.headers.len() {
                let cells: Vec<&str> = members
                    .iter()
                    .map(|&r| self.rows[r].get(c).unwrap_or(""))
                    .collect();
                let numbers: Option<Vec<f64>> = cells
                    .iter()
                    .map(|s| s.parse::<f64>().ok().filter(|v| v.is_finite()))
                    .collect();
                if Some(c) == sample {
                    out.push_field("");
                } else if by_cols.contains(&c) {
                    out.push_field(cells[0]);
                } else {
                    match numbers {
                        Some(v) if !v.is_empty() => {
                            let mean = v.iter().sum::<f64>() / v.len() as f64;
                            out.push_field(&mean.to_string());
                        }
                        _ => out.push_field(cells[0]),
                    }
                }
            }
            for &c in &spread_cols {
                let v = members
                    .iter()
                    .map(|&r| self.number(r, c))
                    .collect::<Result<Vec<f64>>>()?;
                let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                out.push_field(&lo.to_string());
                out.push_field(&hi.to_string());
            }
            rows.push(out);
        }
        Ok(Table {
            path: self.path.clone(),
            headers,
            rows,
        })
    }
}
