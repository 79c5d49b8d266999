//! A CSV file read back by column name, for plotting and merging reports.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

/// A CSV file held as text records, with columns looked up by header name.
#[derive(Debug, Clone)]
pub struct Table {
    pub path: PathBuf,
    pub headers: csv::StringRecord,
    pub rows: Vec<csv::StringRecord>,
}

impl Table {
    /// Reads a whole CSV file with a header row.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&bytes, path)
    }

    /// Parses CSV bytes; `path` names the source in errors.
    pub fn parse(bytes: &[u8], path: &Path) -> anyhow::Result<Self> {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(bytes);
        let headers = r
            .headers()
            .with_context(|| format!("{}: cannot read the CSV header", path.display()))?
            .clone();
        let rows = r
            .records()
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("{}: malformed CSV", path.display()))?;
        Ok(Self {
            path: path.to_owned(),
            headers,
            rows,
        })
    }

    /// Index of column `name`; an error naming the file and the column when it is absent.
    pub fn column(&self, name: &str) -> anyhow::Result<usize> {
        match self.headers.iter().position(|h| h == name) {
            Some(i) => Ok(i),
            None => bail!(
                "{}: has no column `{name}`; it has {}",
                self.path.display(),
                self.headers.iter().collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// Whether column `name` exists.
    pub fn has(&self, name: &str) -> bool {
        self.headers.iter().any(|h| h == name)
    }

    /// Cell `col` of row `row` as a number; errors name file, line and column.
    pub fn number(&self, row: usize, col: usize) -> anyhow::Result<f64> {
        let cell = self.rows[row].get(col).unwrap_or("");
        cell.parse::<f64>().map_err(|_| {
            anyhow::anyhow!(
                "{}: line {}: column `{}` holds `{cell}`; expected a number",
                self.path.display(),
                row + 2,
                &self.headers[col]
            )
        })
    }

    /// Column `name` of every row as numbers.
    pub fn numbers(&self, name: &str) -> anyhow::Result<Vec<f64>> {
        let col = self.column(name)?;
        (0..self.rows.len()).map(|r| self.number(r, col)).collect()
    }

    /// Column `name` of every row as text.
    pub fn texts(&self, name: &str) -> anyhow::Result<Vec<&str>> {
        let col = self.column(name)?;
        Ok(self.rows.iter().map(|r| r.get(col).unwrap_or("")).collect())
    }
}
