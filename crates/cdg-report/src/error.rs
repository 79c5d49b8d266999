//! The one error type of `cdg-report`. Every variant about a CSV names the file it came from
//! (the name the caller gave with the text) and the line or column at fault.

use std::path::PathBuf;
use thiserror::Error;

/// Errors reading report CSV text or drawing a plot.
#[derive(Debug, Error)]
pub enum ReportError {
    /// The text is not CSV with a header row.
    #[error("{}: {what}", path.display())]
    Csv {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: csv::Error,
    },
    /// A column the plot needs is absent.
    #[error("{}: has no column `{column}`; it has {have}", path.display())]
    NoColumn {
        path: PathBuf,
        column: String,
        have: String,
    },
    /// A column every report needs is absent (a file of an older cdg, or not cdg's).
    #[error("{}: has no column `{column}`, which {needed} needs ({why})", path.display())]
    MissingColumn {
        path: PathBuf,
        column: String,
        needed: &'static str,
        why: &'static str,
    },
    /// A cell that must be a number is not.
    #[error("{}: line {line}: column `{column}` holds `{cell}`; expected a number", path.display())]
    NotNumber {
        path: PathBuf,
        line: usize,
        column: String,
        cell: String,
    },
    /// A cell holding a NaN or an infinity.
    #[error(
        "{}: line {line}: column `{column}` holds `{cell}`; a plot needs finite numbers (was \
         the file written by hand or by an older cdg? cdg no longer writes such values)",
        path.display()
    )]
    NonFinite {
        path: PathBuf,
        line: usize,
        column: String,
        cell: String,
    },
    /// A cell holding a value cdg never writes there (a negative count, size, time or energy).
    #[error(
        "{}: line {line}: column `{column}` holds `{cell}`; {problem} (was the file edited by \
         hand?)",
        path.display()
    )]
    BadValue {
        path: PathBuf,
        line: usize,
        column: String,
        cell: String,
        problem: &'static str,
    },
    /// Values whose axis range a plot cannot draw (so large that the range overflows, or so
    /// close together at their magnitude that ticks cannot be placed).
    #[error("{}: cannot draw the {axis} axis over {start:e} .. {end:e}: {problem}", path.display())]
    Range {
        path: PathBuf,
        axis: String,
        start: f64,
        end: f64,
        problem: &'static str,
    },
    /// The rows a plot needs are absent.
    #[error("{}: {problem}", path.display())]
    NoRows { path: PathBuf, problem: String },
    /// A gate-density plot of a network without gated layers.
    #[error("the network has no gated layers, so there are no gate densities to draw")]
    NoGatedLayers,
    /// The plotting backend failed.
    #[error("drawing the plot: {0}")]
    Draw(String),
}

/// `Result` with [`ReportError`].
pub type Result<T, E = ReportError> = std::result::Result<T, E>;

impl<E: std::error::Error + Send + Sync> From<plotters::drawing::DrawingAreaErrorKind<E>>
    for ReportError
{
    fn from(e: plotters::drawing::DrawingAreaErrorKind<E>) -> Self {
        ReportError::Draw(e.to_string())
    }
}
