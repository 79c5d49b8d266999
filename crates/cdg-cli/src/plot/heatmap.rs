//! Per-layer gate-density heatmaps of a trace: for every gated layer, the fraction of samples
//! and channel blocks whose gate is on at each spatial gate-block position.

use super::write_svg;
use cdg_core::{LayerMasks, MaskSet, Network};
use cdg_io::trace::Trace;
use plotters::prelude::*;
use std::path::Path;

/// Largest number of heatmap cells per panel side; bigger grids are averaged into bins so the
/// SVG stays small (a 32×32 grid of gate blocks is drawn as is).
const MAX_BINS: u64 = 32;

/// Viridis at five stops, interpolated linearly: perceptually ordered and colour-blind safe.
const VIRIDIS: [(f64, f64, f64); 5] = [
    (68.0, 1.0, 84.0),
    (59.0, 82.0, 139.0),
    (33.0, 145.0, 140.0),
    (94.0, 201.0, 98.0),
    (253.0, 231.0, 37.0),
];

/// The colour of a density in [0, 1].
fn viridis(v: f64) -> RGBColor {
    let t = v.clamp(0.0, 1.0) * (VIRIDIS.len() - 1) as f64;
    let i = (t.floor() as usize).min(VIRIDIS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Mean gate state over samples and channel blocks at each spatial gate-block position, binned
/// to at most [`MAX_BINS`] per side: `(rows, cols, values row-major)`.
pub(crate) fn spatial_density(m: &LayerMasks) -> (usize, usize, Vec<f64>) {
    let [gc, gh, gw] = m.grid();
    let bins_h = gh.min(MAX_BINS);
    let bins_w = gw.min(MAX_BINS);
    let mut on = vec![0u64; (bins_h * bins_w) as usize];
    let mut total = vec![0u64; (bins_h * bins_w) as usize];
    for s in 0..m.samples() {
        for c in 0..gc {
            for h in 0..gh {
                let bh = h * bins_h / gh;
                for w in 0..gw {
                    let cell = (bh * bins_w + w * bins_w / gw) as usize;
                    total[cell] += 1;
                    on[cell] += u64::from(m.get(s, c, h, w));
                }
            }
        }
    }
    let values = on
        .iter()
        .zip(&total)
        .map(|(&o, &t)| if t == 0 { 0.0 } else { o as f64 / t as f64 })
        .collect();
    (bins_h as usize, bins_w as usize, values)
}

/// Draws per-layer gate-density heatmaps of `trace` into the SVG file `out` (`cdg inspect
/// TRACE --plot`). Errors when the trace has no gated layer.
pub fn gate_density_heatmap(trace: &Trace, out: &Path) -> anyhow::Result<()> {
    match &trace.masks {
        Some(masks) => gate_density_heatmap_masks(&trace.network, masks, out),
        None => {
            anyhow::bail!("the trace has no gated layers, so there are no gate densities to draw")
        }
    }
}

/// Draws one panel per gated layer of `network` (network order), coloured by gate density.
pub fn gate_density_heatmap_masks(
    network: &Network,
    masks: &MaskSet,
    out: &Path,
) -> anyhow::Result<()> {
    let layers: Vec<(&str, &LayerMasks)> = network
        .gated()
        .filter_map(|(_, l, _)| masks.layer(l.name()).map(|m| (l.name(), m)))
        .collect();
    if layers.is_empty() {
        anyhow::bail!("the network has no gated layers, so there are no gate densities to draw");
    }
    let cols = (layers.len() as f64).sqrt().ceil() as usize;
    let rows = layers.len().div_ceil(cols);
    let (pw, ph) = (300u32, 300u32);
    let legend_h = 70u32;
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (pw * cols as u32, ph * rows as u32 + legend_h))
                .into_drawing_area();
        root.fill(&WHITE)?;
        let (grid_area, legend_area) = root.split_vertically(ph * rows as u32);
        let panels = grid_area.split_evenly((rows, cols));
        for (area, (name, m)) in panels.iter().zip(&layers) {
            let (bh, bw, values) = spatial_density(m);
            let mean = (0..m.samples()).map(|s| m.density(s)).sum::<f64>() / m.samples() as f64;
            let [_, gh, gw] = m.grid();
            let binned = if (bh as u64, bw as u64) == (gh, gw) {
                String::new()
            } else {
                format!(", binned {bh}×{bw}")
            };
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{name}: density {mean:.3}"), ("sans-serif", 13))
                .margin(6)
                .x_label_area_size(30)
                .y_label_area_size(34)
                .build_cartesian_2d(0.0..bw as f64, 0.0..bh as f64)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(4)
                .y_labels(4)
                .x_label_formatter(&|v| format!("{v:.0}"))
                .y_label_formatter(&|v| format!("{:.0}", bh as f64 - v))
                .x_desc(format!("gate-block column ({gw} blocks{binned})"))
                .y_desc(format!("gate-block row ({gh})"))
                .label_style(("sans-serif", 10))
                .axis_desc_style(("sans-serif", 10))
                .draw()?;
            // Row 0 at the top, as in the image.
            chart.draw_series((0..bh).flat_map(|r| {
                let values = &values;
                (0..bw).map(move |c| {
                    let y = (bh - r) as f64;
                    Rectangle::new(
                        [(c as f64, y - 1.0), (c as f64 + 1.0, y)],
                        viridis(values[r * bw + c]).filled(),
                    )
                })
            }))?;
        }
        // Colour bar: gate density as a fraction in [0, 1].
        let mut bar = ChartBuilder::on(&legend_area)
            .margin_left(60)
            .margin_right(60)
            .margin_top(6)
            .x_label_area_size(34)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
        bar.configure_mesh()
            .disable_mesh()
            .disable_y_axis()
            .x_labels(6)
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 13))
            .x_desc("gate density (fraction of gates on, over samples and channel blocks)")
            .draw()?;
        bar.draw_series((0..50).map(|i| {
            let x = i as f64 / 50.0;
            Rectangle::new([(x, 0.0), (x + 0.02, 1.0)], viridis(x + 0.01).filled())
        }))?;
        root.present()?;
    }
    write_svg(out, &svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdg_core::{ConvParams, GateBlock, GateSpec, LayerShape, OutputRule};

    #[test]
    fn viridis_ends_and_clamps() {
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
        assert_eq!(viridis(7.0), viridis(1.0));
        assert_eq!(viridis(-1.0), viridis(0.0));
    }

    #[test]
    fn spatial_density_averages_samples_and_channels_and_bins() {
        let shape = LayerShape::conv(
            "g",
            ConvParams {
                in_channels: 8,
                in_height: 64,
                in_width: 64,
                out_channels: 32,
                kernel: [3, 3],
                stride: 1,
                padding: 1,
                rule: OutputRule::Floor,
            },
        )
        .unwrap();
        let spec = GateSpec {
            base_channels: 2,
            block: GateBlock::new(16, 1, 1),
        };
        // On where (h + s) is even and c == 0: per cell, mean over 2 channel blocks, 2 samples.
        let m = LayerMasks::from_fn(&shape, &spec, 2, |s, c, h, _| {
            c == 0 && (h + s as u64).is_multiple_of(2)
        })
        .unwrap();
        let (bh, bw, v) = spatial_density(&m);
        assert_eq!((bh, bw), (32, 32));
        // Each bin holds rows 2r and 2r+1: exactly half of (sample, row) pairs are on for c 0.
        assert!(v.iter().all(|&x| (x - 0.25).abs() < 1e-12), "{v:?}");
    }
}
