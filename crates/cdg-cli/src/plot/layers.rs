//! Per-layer breakdown of one sweep point from `layers.csv`: stacked energy by component and
//! cycles beside the ungated (dense) cycles, one pair of panels per workload.

use super::{Table, colour, distinct, tick, write_svg};
use anyhow::bail;
use plotters::prelude::*;
use std::path::Path;

/// Energy components in stacking order, with legend labels.
const ENERGY: [(&str, &str); 7] = [
    ("energy_mac_pj", "MAC"),
    ("energy_sram_ifmap_pj", "SRAM ifmap"),
    ("energy_sram_filter_pj", "SRAM filter"),
    ("energy_sram_ofmap_pj", "SRAM ofmap"),
    ("energy_dram_pj", "DRAM"),
    ("energy_gate_pj", "gate unit"),
    ("energy_leak_pj", "leakage"),
];

/// Draws the per-layer breakdown of sweep point `point` (the `point` column of `layers.csv`).
pub fn layer_breakdown(layers: &Table, point: usize, out: &Path) -> anyhow::Result<()> {
    let points = layers.numbers("point")?;
    let workloads = layers.texts("workload")?;
    let names = layers.texts("layer")?;
    let cycles = layers.numbers("cycles")?;
    let ungated = if layers.has("cycles_ungated") {
        Some(layers.numbers("cycles_ungated")?)
    } else {
        None
    };
    let parts: Vec<(&str, Vec<f64>)> = ENERGY
        .iter()
        .filter(|(col, _)| layers.has(col))
        .map(|(col, label)| Ok((*label, layers.numbers(col)?)))
        .collect::<anyhow::Result<_>>()?;
    let rows: Vec<usize> = (0..points.len())
        .filter(|&r| points[r] == point as f64)
        .collect();
    if rows.is_empty() {
        let max = points.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        bail!(
            "{}: has no rows for point {point} (points run 0..={max})",
            layers.path.display()
        );
    }
    let wl = distinct(rows.iter().map(|&r| workloads[r]));
    let mut svg = String::new();
    {
        let (w, h) = (1000u32, 420u32);
        let root =
            SVGBackend::with_string(&mut svg, (w, 2 * h * wl.len() as u32)).into_drawing_area();
        root.fill(&WHITE)?;
        let areas = root.split_evenly((2 * wl.len(), 1));
        for (k, name) in wl.iter().enumerate() {
            let mine: Vec<usize> = rows
                .iter()
                .copied()
                .filter(|&r| workloads[r] == *name)
                .collect();
            let labels: Vec<String> = mine.iter().map(|&r| names[r].to_owned()).collect();
            let n = mine.len() as f64;
            let layer_label = |x: &f64| -> String {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                    labels[i as usize].clone()
                } else {
                    String::new()
                }
            };
            let rotated = ("sans-serif", 11)
                .into_font()
                .transform(FontTransform::Rotate90);

            // Energy, stacked by component.
            let totals: Vec<f64> = mine
                .iter()
                .map(|&r| parts.iter().map(|(_, v)| v[r]).sum())
                .collect();
            let top = totals.iter().copied().fold(0.0, f64::max).max(1e-12) * 1.08;
            let mut chart = ChartBuilder::on(&areas[2 * k])
                .caption(
                    format!("per-layer energy: point {point}, {name}"),
                    ("sans-serif", 17),
                )
                .margin(12)
                .x_label_area_size(110)
                .y_label_area_size(76)
                .build_cartesian_2d(-0.5..n - 0.5, 0.0..top)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(mine.len())
                .x_label_formatter(&layer_label)
                .x_label_style(rotated.clone())
                .y_label_formatter(&tick)
                .x_desc("layer")
                .y_desc("energy (pJ)")
                .draw()?;
            let mut base = vec![0.0; mine.len()];
            for (ci, (label, values)) in parts.iter().enumerate() {
                let c = colour(ci);
                let bars: Vec<_> = mine
                    .iter()
                    .enumerate()
                    .map(|(i, &r)| {
                        let (lo, hi) = (base[i], base[i] + values[r]);
                        base[i] = hi;
                        Rectangle::new([(i as f64 - 0.38, lo), (i as f64 + 0.38, hi)], c.filled())
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

            // Cycles against the ungated dense GEMM.
            let top = mine
                .iter()
                .map(|&r| cycles[r].max(ungated.as_ref().map_or(0.0, |u| u[r])))
                .fold(0.0, f64::max)
                .max(1.0)
                * 1.08;
            let mut chart = ChartBuilder::on(&areas[2 * k + 1])
                .caption(
                    format!("per-layer cycles: point {point}, {name}"),
                    ("sans-serif", 17),
                )
                .margin(12)
                .x_label_area_size(110)
                .y_label_area_size(76)
                .build_cartesian_2d(-0.5..n - 0.5, 0.0..top)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(mine.len())
                .x_label_formatter(&layer_label)
                .x_label_style(rotated)
                .y_label_formatter(&tick)
                .x_desc("layer")
                .y_desc("cycles")
                .draw()?;
            let bar = |offset: f64, value: f64, c: RGBColor, i: usize| {
                let x = i as f64 + offset;
                Rectangle::new([(x - 0.18, 0.0), (x + 0.18, value)], c.filled())
            };
            if let Some(u) = &ungated {
                let c = colour(7);
                chart
                    .draw_series(
                        mine.iter()
                            .enumerate()
                            .map(|(i, &r)| bar(-0.19, u[r], c, i)),
                    )?
                    .label("cycles (ungated dense GEMM)")
                    .legend(move |(x, y)| {
                        Rectangle::new([(x - 5, y - 5), (x + 5, y + 5)], c.filled())
                    });
            }
            let c = colour(0);
            let offset = if ungated.is_some() { 0.19 } else { 0.0 };
            chart
                .draw_series(
                    mine.iter()
                        .enumerate()
                        .map(|(i, &r)| bar(offset, cycles[r], c, i)),
                )?
                .label("cycles (this design)")
                .legend(move |(x, y)| Rectangle::new([(x - 5, y - 5), (x + 5, y + 5)], c.filled()));
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
        }
        root.present()?;
    }
    write_svg(out, &svg)
}
