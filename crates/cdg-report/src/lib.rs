//! `cdg-report`: the pictures of cdg's results, as pure functions from report data to SVG text
//! (plotters, SVG backend only), and the HTML report that gathers them. It reads no file and
//! writes none: callers hand it CSV text and write the SVG or HTML string it returns.
//!
//! Every sweep and per-layer plot is drawn from CSV text ([`Table`]), never from in-memory
//! results, so `cdg sweep`, `cdg merge` and `cdg plot` draw byte-identical pictures of the same
//! `sweep.csv`. Series colours come from a fixed palette in first-appearance order; nothing
//! depends on hashing or timing.
//!
//! - [`Table`]: CSV text read back by column name.
//! - [`energy_latency`], [`reduction`]: the whole-sweep plots of `sweep.csv`.
//! - [`layer_breakdown`], [`layer_breakdown_sim`]: per-layer energy and cycles of `layers.csv`.
//! - [`gate_density`]: per-layer gate-density heatmaps of a network's masks.
//! - [`pareto_front`]: the latency/energy Pareto front; [`pareto_groups`]: the front over any
//!   number of objectives with identical points collapsed into one entry; [`Pareto`]: the
//!   objectives a user chose (`--pareto latency,energy,area`); [`pareto_fronts`]: the front of
//!   each workload of a `sweep.csv` (also used for the printed tables), [`pareto_rows`] its
//!   default latency/energy rows.
//! - [`report_html`], [`report`]: the self-contained HTML report of an output directory
//!   (`report.html`), and what it left out of an older cdg's files.
//!
//! Errors are [`ReportError`]s naming the file, line and column at fault.
//!
//! ```
//! use cdg_report::{Table, energy_latency, pareto_front};
//! # fn main() -> Result<(), cdg_report::ReportError> {
//! let csv = "workload,support,latency_us,energy_pj\n\
//!            net,dense,2.0,10.0\nnet,compact,1.0,12.0\nnet,clock-gate,2.5,11.0\n";
//! let table = Table::parse(csv.as_bytes(), "sweep.csv".as_ref())?;
//! let svg = energy_latency(&table)?;
//! assert!(svg.starts_with("<svg") && svg.contains("Pareto front (2 points)"));
//! let points = [(2.0, 10.0), (1.0, 12.0), (2.5, 11.0)];
//! assert_eq!(pareto_front(&points), [1, 0]);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod error;
mod heatmap;
mod html;
mod layers;
mod pareto;
mod sweep;
mod table;

pub use error::{ReportError, Result};
pub use heatmap::{SpatialDensity, gate_density, spatial_density, viridis};
pub use html::{ModelAccuracy, Report, ReportInput, report, report_html};
pub use layers::{layer_breakdown, layer_breakdown_sim};
pub use pareto::{FrontGroup, Objective, Pareto, pareto_front, pareto_groups};
pub use sweep::{
    DIAGONAL_NOTE, FrontEntry, ParetoFront, WorkloadRows, energy_latency, energy_latency_with,
    pareto_fronts, pareto_rows, per_image_divisors, reduction,
};
pub use table::Table;

use plotters::style::RGBColor;

/// Tableau-10 colours: distinguishable, colour-blind friendlier than the plotters defaults.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The `i`-th series colour (the palette repeats after ten series).
fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A padded axis range around `values` (a unit range around a single value), so points do not
/// sit on the frame.
fn padded_range(values: impl IntoIterator<Item = f64>) -> std::ops::Range<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let span = hi - lo;
    let pad = if span > 0.0 {
        span * 0.06
    } else {
        (lo.abs() * 0.1).max(0.5)
    };
    (lo - pad)..(hi + pad)
}

/// Checks that an axis over `range` can be drawn: finite ends, a finite positive span, and a
/// span the float resolution at those magnitudes can divide into ticks (plotters steps through
/// the range; a step that does not move the value would never end).
fn drawable(
    range: std::ops::Range<f64>,
    axis: &str,
    path: &std::path::Path,
) -> Result<std::ops::Range<f64>> {
    let (start, end) = (range.start, range.end);
    let span = end - start;
    let magnitude = start.abs().max(end.abs());
    let problem = if !(start.is_finite() && end.is_finite()) {
        Some("the values are too large (the padded range overflows)")
    } else if !(span.is_finite() && span > 0.0) {
        Some("the span overflows or is empty")
    } else if span < magnitude * 1e-9 {
        Some("the values differ too little for their magnitude")
    } else {
        None
    };
    match problem {
        None => Ok(range),
        Some(problem) => Err(ReportError::Range {
            path: path.to_owned(),
            axis: axis.to_owned(),
            start,
            end,
            problem,
        }),
    }
}

/// Groups keys in first-appearance order.
fn distinct<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for s in items {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// `name` cut to at most `max` characters by dropping its start (`…` marks the cut): layer
/// names differ at their end (`…layer4.1.conv2`), so that end is what a short label keeps.
pub fn shorten_left(name: &str, max: usize) -> String {
    let n = name.chars().count();
    if n <= max || max == 0 {
        return name.to_owned();
    }
    let keep: String = name.chars().skip(n - (max - 1)).collect();
    format!("…{keep}")
}

/// Compact tick labels: 12 500 000 → "1.25e7", 0.5 → "0.5".
fn tick(v: &f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        format!("{v:.2e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}
