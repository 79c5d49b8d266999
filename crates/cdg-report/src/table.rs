//! CSV text read back by column name, for plotting and merging reports.

use crate::error::{ReportError, Result};
use std::path::{Path, PathBuf};

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
        Ok(Self {
            path: path.to_owned(),
            headers,
            rows,
        })
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
}
