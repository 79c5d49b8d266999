//! SVG plots of sweep and sim outputs (plotters, SVG backend only).
//!
//! Every plot is drawn from the CSV files on disk, never from in-memory results, so `cdg sweep`,
//! `cdg merge` and `cdg plot` draw byte-identical pictures of the same data. Series colours come
//! from a fixed palette in first-appearance order; nothing depends on hashing or timing.

mod heatmap;
mod layers;
mod pareto;
mod sweep;
mod table;

pub use heatmap::{gate_density_heatmap, gate_density_heatmap_masks};
pub use layers::{layer_breakdown, layer_breakdown_sim};
pub use pareto::pareto_front;
pub use sweep::{energy_latency, reduction};
pub use table::Table;

use anyhow::Context;
use plotters::style::RGBColor;
use std::path::Path;

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

/// Writes a rendered SVG atomically.
fn write_svg(out: &Path, svg: &str) -> anyhow::Result<()> {
    cdg_io::atomic::write_atomic(out, svg.as_bytes())
        .with_context(|| format!("cannot write plot {}", out.display()))
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
