//! Report CSV writing. Rows are `#[derive(Serialize)]` structs; the header comes from their
//! field names (never hand-concatenated), and files are written atomically. A row holding a
//! NaN or an infinity is refused ([`IoError::NonFinite`], naming the file, the column and the
//! row): no report carries a number no reader can use.
//!
//! A *text* cell (a layer, workload or design name) that starts with `=`, `+`, `-`, `@`, a tab
//! or a carriage return would be taken for a formula by a spreadsheet (CSV injection): cdg
//! writes it with a leading `'` ([`neutralize_field`]), as the usual guidance says. A cell that
//! reads as a number, negative ones included, stays as it is (docs/formats.md §5).

use crate::atomic::write_atomic;
use crate::error::{IoError, Result};
use serde::Serialize;
use std::path::Path;

/// Renders `rows` as CSV with a header row from the struct's field names. An empty slice
/// gives an empty string (there is no value to take the header from).
pub fn csv_to_string<T: Serialize>(rows: &[T]) -> Result<String> {
    render(Path::new("<memory>"), rows)
}

/// Renders `rows` as CSV for the file `name` (which errors name, e.g. a non-finite number's
/// file and column).
pub fn csv_text<T: Serialize>(name: &Path, rows: &[T]) -> Result<String> {
    render(name, rows)
}

/// Writes `rows` to `path` as CSV (header from the field names), atomically.
pub fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let text = render(path, rows)?;
    write_atomic(path, text.as_bytes())
}

fn render<T: Serialize>(path: &Path, rows: &[T]) -> Result<String> {
    let csv_err = |error| IoError::Csv {
        path: path.to_owned(),
        error,
    };
    let mut w = csv::WriterBuilder::new()
        .has_headers(true)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    for (i, row) in rows.iter().enumerate() {
        if crate::finite::first_non_finite(row).is_some() {
            // Name the row by its layer (or sample) too, when it has one.
            let value = serde_json::to_value(row).unwrap_or_default();
            let name = ["layer", "name", "sample"].iter().find_map(|k| {
                value
                    .get(*k)
                    .filter(|v| !v.is_null())
                    .map(|v| (k, v.to_string()))
            });
            let label = match name {
                Some((k, v)) => format!(" of row {} ({k} {})", i + 1, v.trim_matches('"')),
                None => format!(" of row {}", i + 1),
            };
            check_finite(path, row, &label)?;
        }
        w.serialize(row).map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| IoError::io(path, "cannot write CSV", e.into_error()))?;
    let bytes = neutralize_csv(&bytes).map_err(csv_err)?;
    String::from_utf8(bytes).map_err(|e| IoError::NotUtf8 {
        path: path.to_owned(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// The characters that make a spreadsheet read a cell as a formula.
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A text cell as cdg writes it: with a leading `'` when it starts with one of
/// `= + - @`, a tab or a carriage return and is not a number (`-5`, `+1e3` and `-0.25` stay
/// numbers).
///
/// ```
/// use cdg_io::csv_out::neutralize_field;
/// assert_eq!(neutralize_field("=cmd|\"/c calc\"!A1"), "'=cmd|\"/c calc\"!A1");
/// assert_eq!(neutralize_field("@SUM(A1)"), "'@SUM(A1)");
/// assert_eq!(neutralize_field("-0.034"), "-0.034");
/// assert_eq!(neutralize_field("conv1"), "conv1");
/// ```
pub fn neutralize_field(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(FORMULA_START) && cell.parse::<f64>().is_err() {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// CSV bytes (`\n` line ends, minimal quoting, as cdg writes them) with every text cell
/// passed through [`neutralize_field`]; bytes without such a cell are returned unchanged.
pub fn neutralize_csv(bytes: &[u8]) -> std::result::Result<Vec<u8>, csv::Error> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut records = Vec::new();
    let mut changed = false;
    for record in r.records() {
        let record = record?;
        if record.iter().any(|c| neutralize_field(c) != c) {
            changed = true;
        }
        records.push(record);
    }
    if !changed {
        return Ok(bytes.to_vec());
    }
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .flexible(true)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    for record in &records {
        w.write_record(record.iter().map(|c| neutralize_field(c).into_owned()))?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// Refuses `row` of the report `path` when it holds a non-finite number; `row_label` says
/// which row (` of row 3 (point 7)`) in the message.
pub fn check_finite<T: Serialize + ?Sized>(path: &Path, row: &T, row_label: &str) -> Result<()> {
    match crate::finite::first_non_finite(row) {
        None => Ok(()),
        Some((column, value)) => Err(IoError::NonFinite {
            path: path.to_owned(),
            column,
            row: row_label.to_owned(),
            value,
        }),
    }
}

/// A CSV file whose rows are joined from parts, side by side: leading text cells under names
/// known only at run time (a sweep's `point` and grid keys; none for `cdg sim`), then one
/// `Serialize` value — a struct, or a tuple of structs — per row. The header is the lead names
/// and the parts' field names, from the first row; every row is checked for non-finite numbers
/// (naming the file, the column and the row) before it is written. The one writer of
/// `layers.csv`, `network.csv` and `sweep.csv`.
#[derive(Debug)]
pub struct JoinedCsv {
    path: std::path::PathBuf,
    out: csv::Writer<Vec<u8>>,
    rows: usize,
}

impl JoinedCsv {
    /// An empty file to be written as `path` (which errors name).
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        Self {
            path: path.into(),
            out: csv::WriterBuilder::new()
                .has_headers(false)
                .terminator(csv::Terminator::Any(b'\n'))
                .from_writer(Vec::new()),
            rows: 0,
        }
    }

    /// Appends a row: the `lead` cells (name, value), then `parts`. `label` names the row in a
    /// non-finite-number error (` of row 3 (point 7)`); `None` names it by its number and, when
    /// a part has one, its `layer` or `sample`.
    pub fn row<T: Serialize>(
        &mut self,
        lead: &[(&str, &str)],
        parts: &T,
        label: Option<&str>,
    ) -> Result<()> {
        let csv_err = |error| IoError::Csv {
            path: self.path.clone(),
            error,
        };
        self.rows += 1;
        if crate::finite::first_non_finite(parts).is_some() {
            let label = match label {
                Some(l) => l.to_owned(),
                None => row_label(self.rows, parts),
            };
            check_finite(&self.path, parts, &label)?;
        }
        if self.rows == 1 {
            let mut header: Vec<String> = lead.iter().map(|(n, _)| (*n).to_owned()).collect();
            header.extend(field_names(&self.path, parts)?);
            self.out.write_record(&header).map_err(csv_err)?;
        }
        for (_, value) in lead {
            self.out.write_field(value).map_err(csv_err)?;
        }
        self.out.serialize(parts).map_err(csv_err)
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The file's text (empty when no row was written).
    pub fn finish(self) -> Result<String> {
        let path = self.path;
        let bytes = self
            .out
            .into_inner()
            .map_err(|e| IoError::io(&path, "cannot write CSV", e.into_error()))?;
        // Text cells a spreadsheet would take for formulas get a leading `'`.
        let bytes = neutralize_csv(&bytes).map_err(|error| IoError::Csv {
            path: path.clone(),
            error,
        })?;
        String::from_utf8(bytes).map_err(|e| IoError::NotUtf8 {
            path,
            offset: e.utf8_error().valid_up_to(),
        })
    }
}

/// The column names a row of `parts` serializes to (its structs' field names, in order).
fn field_names<T: Serialize>(path: &Path, parts: &T) -> Result<Vec<String>> {
    let csv_err = |error| IoError::Csv {
        path: path.to_owned(),
        error,
    };
    let mut w = csv::WriterBuilder::new()
        .has_headers(true)
        .from_writer(Vec::new());
    w.serialize(parts).map_err(csv_err)?;
    let bytes = w
        .into_inner()
        .map_err(|e| IoError::io(path, "cannot write CSV", e.into_error()))?;
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes.as_slice());
    Ok(r.headers()
        .map_err(csv_err)?
        .iter()
        .map(str::to_owned)
        .collect())
}

/// ` of row N`, with the row's `layer`, `name` or `sample` when one of its parts has one.
fn row_label<T: Serialize>(n: usize, row: &T) -> String {
    let value = serde_json::to_value(row).unwrap_or_default();
    let objects: Vec<&serde_json::Value> = match &value {
        serde_json::Value::Array(parts) => parts.iter().collect(),
        v => vec![v],
    };
    let name = ["layer", "name", "sample"].iter().find_map(|k| {
        objects.iter().find_map(|o| {
            o.get(*k)
                .filter(|v| !v.is_null())
                .map(|v| (k, v.to_string()))
        })
    });
    match name {
        Some((k, v)) => format!(" of row {n} ({k} {})", v.trim_matches('"')),
        None => format!(" of row {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Named {
        layer: String,
        saving: f64,
        delta: i64,
    }

    /// Issue #26, 14: text cells that start a formula get a leading `'`; numbers, negative
    /// ones included, stay numbers; neutralizing twice changes nothing.
    #[test]
    fn formula_like_text_is_neutralized_and_numbers_stay() {
        let rows: Vec<Named> = [
            "=cmd|\"/c calc\"!A1",
            "+x",
            "-x",
            "@x",
            "\tx",
            "conv1",
            "-5",
        ]
        .iter()
        .map(|n| Named {
            layer: (*n).to_owned(),
            saving: -0.034,
            delta: -5,
        })
        .collect();
        let text = csv_to_string(&rows).unwrap();
        assert_eq!(
            text,
            "layer,saving,delta\n\
             \"'=cmd|\"\"/c calc\"\"!A1\",-0.034,-5\n\
             '+x,-0.034,-5\n\
             '-x,-0.034,-5\n\
             '@x,-0.034,-5\n\
             '\tx,-0.034,-5\n\
             conv1,-0.034,-5\n\
             -5,-0.034,-5\n"
        );
        assert_eq!(neutralize_csv(text.as_bytes()).unwrap(), text.as_bytes());
    }

    #[derive(Serialize)]
    struct Row {
        layer: String,
        cycles: u64,
        utilization: f64,
        note: Option<String>,
    }

    #[test]
    fn joined_rows_put_lead_cells_and_parts_side_by_side() {
        #[derive(Serialize)]
        struct Density {
            gate_density: Option<f64>,
        }
        let row = |layer: &str, cycles, util| Row {
            layer: layer.into(),
            cycles,
            utilization: util,
            note: None,
        };
        let mut j = JoinedCsv::new("layers.csv");
        assert_eq!(j.rows(), 0);
        j.row(
            &[("point", "0"), ("array.rows", "8")],
            &(row("conv1", 10, 0.5), Density { gate_density: None }),
            None,
        )
        .unwrap();
        j.row(
            &[("point", "1"), ("array.rows", "16")],
            &(
                row("a,b", 3, 1.0),
                Density {
                    gate_density: Some(0.25),
                },
            ),
            None,
        )
        .unwrap();
        assert_eq!(j.rows(), 2);
        assert_eq!(
            j.finish().unwrap(),
            "point,array.rows,layer,cycles,utilization,note,gate_density\n\
             0,8,conv1,10,0.5,,\n1,16,\"a,b\",3,1.0,,0.25\n"
        );
        assert_eq!(JoinedCsv::new("x.csv").finish().unwrap(), "");
        // A non-finite number names the file, the column and the row (by its layer, or by
        // the label given).
        let mut j = JoinedCsv::new("layers.csv");
        let bad = (row("conv2", 1, f64::NAN), Density { gate_density: None });
        let e = j.row(&[], &bad, None).unwrap_err().to_string();
        assert!(
            e.contains("layers.csv") && e.contains("utilization") && e.contains("conv2"),
            "{e}"
        );
        let e = j.row(&[], &bad, Some(" of row 9 (point 3)")).unwrap_err();
        assert!(e.to_string().contains("point 3"), "{e}");
    }

    #[test]
    fn header_from_fields_and_quoting() {
        let rows = [
            Row {
                layer: "conv1".into(),
                cycles: 10,
                utilization: 0.5,
                note: None,
            },
            Row {
                layer: "a,b".into(),
                cycles: 3,
                utilization: 1.0,
                note: Some("x".into()),
            },
        ];
        let s = csv_to_string(&rows).unwrap();
        assert_eq!(
            s,
            "layer,cycles,utilization,note\nconv1,10,0.5,\n\"a,b\",3,1.0,x\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r/out.csv");
        write_csv(&p, &rows).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), s);
    }

    #[test]
    fn non_finite_numbers_are_refused_naming_file_column_and_row() {
        let rows = [
            Row {
                layer: "conv1".into(),
                cycles: 10,
                utilization: 0.5,
                note: None,
            },
            Row {
                layer: "conv2".into(),
                cycles: 3,
                utilization: f64::INFINITY,
                note: None,
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("layers.csv");
        let e = write_csv(&p, &rows).unwrap_err().to_string();
        assert!(
            e.ends_with(
                "layers.csv: column `utilization` of row 2 (layer conv2) is inf; a report holds \
                 only finite numbers"
            ),
            "{e}"
        );
        assert!(!p.exists(), "nothing is written");
    }
}
