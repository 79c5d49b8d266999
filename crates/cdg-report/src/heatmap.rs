//! Per-layer gate-density heatmaps of a trace: for every gated layer, the fraction of samples
//! and channel blocks whose gate is on at each spatial gate-block position.

use crate::error::{ReportError, Result};
use cdg_core::{LayerMasks, MaskSet, Network};
use plotters::prelude::*;

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

/// The colour of a density in [0, 1] as RGB (values outside are clamped).
pub fn viridis(v: f64) -> [u8; 3] {
    let t = v.clamp(0.0, 1.0) * (VIRIDIS.len() - 1) as f64;
    let i = (t.floor() as usize).min(VIRIDIS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    [mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2)]
}

fn viridis_colour(v: f64) -> RGBColor {
    let [r, g, b] = viridis(v);
    RGBColor(r, g, b)
}

/// Mean gate state at each spatial gate-block position of one layer, binned.
#[derive(Debug, Clone, PartialEq)]
pub struct SpatialDensity {
    /// Bins along the gate-block rows.
    pub rows: usize,
    /// Bins along the gate-block columns.
    pub cols: usize,
    /// `rows × cols` densities in [0, 1], row-major.
    pub values: Vec<f64>,
}

/// Mean gate state over samples and channel blocks at each spatial gate-block position, binned
/// to at most 32 per side (a 32×32 grid of gate blocks is kept as is).
pub fn spatial_density(m: &LayerMasks) -> SpatialDensity {
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
    SpatialDensity {
        rows: bins_h as usize,
        cols: bins_w as usize,
        values,
    }
}

/// Draws one panel per gated layer of `network` (network order), coloured by the gate density
/// of `masks` (`cdg inspect TRACE --plot`, the heatmaps of `cdg run`). Errors when no layer is
/// gated.
pub fn gate_density(network: &Network, masks: &MaskSet) -> Result<String> {
    let layers: Vec<(&str, &LayerMasks)> = network
        .gated()
        .filter_map(|(_, l, _)| masks.layer(l.name()).map(|m| (l.name(), m)))
        .collect();
    if layers.is_empty() {
        return Err(ReportError::NoGatedLayers);
    }
    let cols = (layers.len() as f64).sqrt().ceil() as usize;
    let rows = layers.len().div_ceil(cols);
    let (pw, ph) = (300u32, 300u32);
    let legend_h = 70u32;
    let title_h = 34u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(
            &mut svg,
            (
                (pw * cols as u32).max(600),
                title_h + ph * rows as u32 + legend_h,
            ),
        )
        .into_drawing_area();
        root.fill(&WHITE)?;
        let (title_area, root) = root.split_vertically(title_h);
        title_area.draw(&Text::new(
            format!(
                "Gate density per spatial gate block of each gated layer ({} layers, mean over \
                 samples and channel blocks)",
                layers.len()
            ),
            (10, 10),
            ("sans-serif", 15).into_font(),
        ))?;
        let (grid_area, legend_area) = root.split_vertically(ph * rows as u32);
        let panels = grid_area.split_evenly((rows, cols));
        for (area, (name, m)) in panels.iter().zip(&layers) {
            let SpatialDensity {
                rows: bh,
                cols: bw,
                values,
            } = spatial_density(m);
            let mean = (0..m.samples()).map(|s| m.density(s)).sum::<f64>() / m.samples() as f64;
            let [_, gh, gw] = m.grid();
            let binned = if (bh as u64, bw as u64) == (gh, gw) {
                String::new()
            } else {
                format!(", binned {bh}×{bw}")
            };
            // Cell (r, c) is centred on (c, bh − 1 − r), so the ticks fall on cell centres and
            // name the first gate block of their bin (the block index itself when unbinned).
            let x_block = move |v: &f64| block_tick(*v, bw, gw);
            let y_block = move |v: &f64| block_tick(bh as f64 - 1.0 - *v, bh, gh);
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{name}: density {mean:.3}"), ("sans-serif", 13))
                .margin(6)
                .x_label_area_size(30)
                .y_label_area_size(34)
                .build_cartesian_2d(-0.5..bw as f64 - 0.5, -0.5..bh as f64 - 0.5)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(bw.min(6))
                .y_labels(bh.min(6))
                .x_label_formatter(&x_block)
                .y_label_formatter(&y_block)
                .x_desc(format!("gate-block column ({gw} blocks{binned})"))
                .y_desc(format!("gate-block row ({gh})"))
                .label_style(("sans-serif", 10))
                .axis_desc_style(("sans-serif", 10))
                .draw()?;
            // Row 0 at the top, as in the image.
            chart.draw_series((0..bh).flat_map(|r| {
                let values = &values;
                (0..bw).map(move |c| {
                    let y = (bh - 1 - r) as f64;
                    let x = c as f64;
                    Rectangle::new(
                        [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                        viridis_colour(values[r * bw + c]).filled(),
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
            Rectangle::new(
                [(x, 0.0), (x + 0.02, 1.0)],
                viridis_colour(x + 0.01).filled(),
            )
        }))?;
        root.present()?;
    }
    Ok(svg)
}

/// The tick label at axis position `v` of a heatmap with `bins` cells over `blocks` gate
/// blocks: the first block of the bin under an integral `v`, nothing between cells.
fn block_tick(v: f64, bins: usize, blocks: u64) -> String {
    let j = v.round();
    if (v - j).abs() > 1e-6 || j < 0.0 || j >= bins as f64 {
        return String::new();
    }
    (j as u64 * blocks / bins as u64).to_string()
}
