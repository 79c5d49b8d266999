//! Per-layer breakdown from `layers.csv` (of one sweep point, or of a `cdg sim` run): stacked
//! energy by component and cycles beside the ungated baseline's cycles, one pair of panels per
//! workload.

use crate::error::{ReportError, Result};
use crate::{Table, colour, distinct, drawable, tick};
use cdg_core::EnergyPart;
use cdg_core::columns as col;
use plotters::prelude::*;

/// Draws the per-layer breakdown of sweep point `point` (the `point` column of `layers.csv`).
pub fn layer_breakdown(layers: &Table, point: usize) -> Result<String> {
    let points = layers.numbers(col::POINT)?;
    let workloads = layers.texts(col::WORKLOAD)?;
    let rows: Vec<usize> = (0..points.len())
        .filter(|&r| points[r] == point as f64)
        .collect();
    if rows.is_empty() {
        let max = points.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        return Err(ReportError::NoRows {
            path: layers.path.clone(),
            problem: format!("has no rows for point {point} (points run 0..={max})"),
        });
    }
    draw(layers, &rows, &workloads, &format!("point {point}, "))
}

/// Draws the per-layer breakdown of a `cdg sim` output's `layers.csv`, one pair of panels per
/// skip policy (and workload) it holds, titled `title` and the policy: the mean rows (empty
/// `sample`) when there are any; a file of per-sample rows only (`--per-sample`) is drawn as
/// its distribution, the mean of every layer over the samples with the min–max range of its
/// cycles, never one panel per sample.
pub fn layer_breakdown_sim(layers: &Table, title: &str) -> Result<String> {
    let per_sample_only = layers.has(col::SAMPLE)
        && !layers.rows.is_empty()
        && layers.texts(col::SAMPLE)?.iter().all(|s| !s.is_empty());
    let samples = if per_sample_only {
        distinct(layers.texts(col::SAMPLE)?).len()
    } else {
        0
    };
    let averaged;
    let layers = if per_sample_only {
        let mut by = vec![col::LAYER];
        by.extend(
            [col::WORKLOAD, col::SUPPORT]
                .into_iter()
                .filter(|c| layers.has(c)),
        );
        averaged = layers.averaged(&by, &[col::CYCLES])?;
        &averaged
    } else {
        layers
    };
    let all: Vec<usize> = (0..layers.rows.len()).collect();
    let rows = if layers.has(col::SAMPLE) {
        let sample = layers.texts(col::SAMPLE)?;
        let mean: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&r| sample[r].is_empty())
            .collect();
        if mean.is_empty() { all } else { mean }
    } else {
        all
    };
    if rows.is_empty() {
        return Err(ReportError::NoRows {
            path: layers.path.clone(),
            problem: "has no layer rows".to_owned(),
        });
    }
    let over = if per_sample_only {
        format!(" (mean of {samples} samples; whiskers: min to max)")
    } else {
        String::new()
    };
    let group: Vec<String> = (0..layers.rows.len())
        .map(|r| {
            let support = layers.cell(r, col::SUPPORT);
            if support.is_empty() {
                format!("{title}{over}")
            } else {
                format!("{title}, policy {support}{over}")
            }
        })
        .collect();
    let group: Vec<&str> = group.iter().map(String::as_str).collect();
    draw(layers, &rows, &group, "")
}

/// Draws `rows` of `layers`, one pair of panels per distinct `group` label.
fn draw(layers: &Table, rows: &[usize], workloads: &[&str], prefix: &str) -> Result<String> {
    let names = layers.texts(col::LAYER)?;
    let cycles = layers.numbers(col::CYCLES)?;
    let ungated = if layers.has(col::CYCLES_UNGATED) {
        Some(layers.numbers(col::CYCLES_UNGATED)?)
    } else {
        None
    };
    let (spread_lo, spread_hi) = if layers.has("cycles_min") && layers.has("cycles_max") {
        (
            Some(layers.numbers("cycles_min")?),
            Some(layers.numbers("cycles_max")?),
        )
    } else {
        (None, None)
    };
    // The energy parts in stacking order, with their legend labels.
    let parts: Vec<(&str, Vec<f64>)> = EnergyPart::ALL
        .iter()
        .filter(|p| layers.has(p.column()))
        .map(|p| {
            let uj = layers
                .numbers(p.column())?
                .into_iter()
                .map(|e| e / 1e6)
                .collect();
            Ok((p.label(), uj))
        })
        .collect::<Result<_>>()?;
    let wl = distinct(rows.iter().map(|&r| workloads[r]));
    // Horizontal bars, layers top to bottom, so long layer names stay readable.
    let heights: Vec<u32> = wl
        .iter()
        .map(|name| {
            let n = rows.iter().filter(|&&r| workloads[r] == *name).count() as u32;
            110 + 22 * n.max(9)
        })
        .collect();
    let mut svg = String::new();
    {
        let width = 1200u32;
        let root =
            SVGBackend::with_string(&mut svg, (width, heights.iter().sum())).into_drawing_area();
        root.fill(&WHITE)?;
        let mut rest = root.clone();
        for (k, name) in wl.iter().enumerate() {
            let (area, below) = rest.split_vertically(heights[k]);
            rest = below;
            let (left, right) = area.split_horizontally(width / 2);
            let mine: Vec<usize> = rows
                .iter()
                .copied()
                .filter(|&r| workloads[r] == *name)
                .collect();
            let labels: Vec<String> = mine.iter().map(|&r| names[r].to_owned()).collect();
            let n = mine.len();
            // Layer i sits at y = n − 1 − i, so the first layer is on top.
            let y_of = |i: usize| (n - 1 - i) as f64;
            let layer_label = |y: &f64| -> String {
                let j = y.round();
                if (y - j).abs() < 1e-6 && j >= 0.0 && (j as usize) < n {
                    labels[n - 1 - j as usize].clone()
                } else {
                    String::new()
                }
            };
            let y_range = -0.5..n as f64 - 0.5;

            // Energy, stacked by component.
            let right_end = mine
                .iter()
                .map(|&r| parts.iter().map(|(_, v)| v[r]).sum::<f64>())
                .fold(0.0, f64::max)
                .max(1e-12)
                * 1.7;
            let mut chart = ChartBuilder::on(&left)
                .caption(
                    format!("Per-layer energy by component: {prefix}{name}"),
                    ("sans-serif", 16),
                )
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(130)
                .build_cartesian_2d(
                    drawable(0.0..right_end, "energy (µJ)", &layers.path)?,
                    y_range.clone(),
                )?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(n)
                .y_label_formatter(&layer_label)
                .x_label_formatter(&tick)
                .x_labels(5)
                .x_desc("energy (µJ)")
                .draw()?;
            let mut base = vec![0.0; n];
            for (ci, (label, values)) in parts.iter().enumerate() {
                let c = colour(ci);
                let bars: Vec<_> = mine
                    .iter()
                    .enumerate()
                    .map(|(i, &r)| {
                        let (lo, hi) = (base[i], base[i] + values[r]);
                        base[i] = hi;
                        Rectangle::new([(lo, y_of(i) - 0.38), (hi, y_of(i) + 0.38)], c.filled())
                    })
                    .collect();
                chart
                    .draw_series(bars)?
                    .label(*label)
                    .legend(move |(x, y)| {
                        Rectangle::new([(x - 5, y - 5), (x + 5, y + 5)], c.filled())
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;

            // Cycles against the ungated baseline (each layer's best dense schedule).
            let right_end = mine
                .iter()
                .map(|&r| {
                    cycles[r]
                        .max(ungated.as_ref().map_or(0.0, |u| u[r]))
                        .max(spread_hi.as_ref().map_or(0.0, |h| h[r]))
                })
                .fold(0.0, f64::max)
                .max(1.0)
                * 1.7;
            let mut chart = ChartBuilder::on(&right)
                .caption(
                    format!("Per-layer cycles vs ungated: {prefix}{name}"),
                    ("sans-serif", 16),
                )
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(130)
                .build_cartesian_2d(drawable(0.0..right_end, "cycles", &layers.path)?, y_range)?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(n)
                .y_label_formatter(&layer_label)
                .x_label_formatter(&tick)
                .x_labels(5)
                .x_desc("cycles")
                .draw()?;
            let bar = |offset: f64, value: f64, c: RGBColor, i: usize| {
                let y = y_of(i) + offset;
                Rectangle::new([(0.0, y - 0.18), (value, y + 0.18)], c.filled())
            };
            if let Some(u) = &ungated {
                let c = colour(7);
                chart
                    .draw_series(mine.iter().enumerate().map(|(i, &r)| bar(0.19, u[r], c, i)))?
                    .label("cycles, ungated baseline (best dense schedule)")
                    .legend(move |(x, y)| {
                        Rectangle::new([(x - 5, y - 5), (x + 5, y + 5)], c.filled())
                    });
            }
            let c = colour(0);
            let offset = if ungated.is_some() { -0.19 } else { 0.0 };
            chart
                .draw_series(
                    mine.iter()
                        .enumerate()
                        .map(|(i, &r)| bar(offset, cycles[r], c, i)),
                )?
                .label("cycles (this design)")
                .legend(move |(x, y)| Rectangle::new([(x - 5, y - 5), (x + 5, y + 5)], c.filled()));
            if let (Some(lo), Some(hi)) = (&spread_lo, &spread_hi) {
                chart
                    .draw_series(mine.iter().enumerate().map(|(i, &r)| {
                        let y = y_of(i) + offset;
                        PathElement::new(vec![(lo[r], y), (hi[r], y)], BLACK.stroke_width(2))
                    }))?
                    .label("min to max over samples")
                    .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], BLACK));
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
        }
        root.present()?;
    }
    Ok(svg)
}
