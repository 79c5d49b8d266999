//! Whole-sweep plots from `sweep.csv`: energy vs latency with the Pareto front, and cycle
//! reduction vs FLOPs reduction by skip policy and gate block.

use crate::error::Result;
use crate::{Table, colour, distinct, drawable, padded_range, pareto_front, tick};
use cdg_core::SkipPolicy;
use plotters::prelude::*;

const WIDTH: u32 = 900;
const PANEL_HEIGHT: u32 = 520;

/// Policies in their canonical order (dense, clock-gate, tile-skip, compact), then any other
/// label in first-appearance order.
fn policy_order<'a>(labels: &[&'a str]) -> Vec<&'a str> {
    let present = distinct(labels.iter().copied());
    let mut out: Vec<&str> = SkipPolicy::ALL
        .iter()
        .filter_map(|p| present.iter().find(|s| **s == p.as_str()).copied())
        .collect();
    for s in present {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Energy (pJ) vs latency (µs), one panel per workload (energies of different networks do not
/// compare), points coloured by skip policy, the Pareto front joined and ringed; `table` is
/// `sweep.csv`.
pub fn energy_latency(table: &Table) -> Result<String> {
    let workloads = table.texts("workload")?;
    let support = table.texts("support")?;
    let latency = table.numbers("latency_us")?;
    let energy = table.numbers("energy_pj")?;
    let names = distinct(workloads.iter().copied());
    let policies = policy_order(&support);
    let mut svg = String::new();
    {
        let panels = names.len().max(1);
        let root = SVGBackend::with_string(&mut svg, (WIDTH, PANEL_HEIGHT * panels as u32))
            .into_drawing_area();
        root.fill(&WHITE)?;
        for (area, name) in root.split_evenly((panels, 1)).iter().zip(&names) {
            let rows: Vec<usize> = (0..workloads.len())
                .filter(|&r| workloads[r] == *name)
                .collect();
            let pts: Vec<(f64, f64)> = rows.iter().map(|&r| (latency[r], energy[r])).collect();
            let mut chart = ChartBuilder::on(area)
                .caption(format!("energy vs latency: {name}"), ("sans-serif", 18))
                .margin(14)
                .x_label_area_size(44)
                .y_label_area_size(76)
                .build_cartesian_2d(
                    drawable(
                        padded_range(pts.iter().map(|p| p.0)),
                        "latency_us",
                        &table.path,
                    )?,
                    drawable(
                        padded_range(pts.iter().map(|p| p.1)),
                        "energy_pj",
                        &table.path,
                    )?,
                )?;
            chart
                .configure_mesh()
                .x_desc("latency (µs)")
                .y_desc("energy (pJ)")
                .x_label_formatter(&tick)
                .y_label_formatter(&tick)
                .draw()?;
            // Earlier policies draw bigger dots underneath later ones, so designs where two
            // policies coincide (clock-gate and tile-skip often do) show as concentric dots.
            let radius = |i: usize| 3 + 2 * (policies.len() - 1 - i) as i32;
            for (i, policy) in policies.iter().enumerate() {
                let c = colour(i);
                let r = radius(i);
                let mine: Vec<(f64, f64)> = rows
                    .iter()
                    .zip(&pts)
                    .filter(|(r, _)| support[**r] == *policy)
                    .map(|(_, p)| *p)
                    .collect();
                if mine.is_empty() {
                    continue;
                }
                chart
                    .draw_series(mine.into_iter().map(|p| Circle::new(p, r, c.filled())))?
                    .label(format!("support = {policy}"))
                    .legend(move |(x, y)| {
                        Rectangle::new([(x - 4, y - 4), (x + 4, y + 4)], c.filled())
                    });
            }
            let front: Vec<(f64, f64)> = pareto_front(&pts).into_iter().map(|i| pts[i]).collect();
            let label = format!("Pareto front ({} points)", front.len());
            chart
                .draw_series(LineSeries::new(front.clone(), BLACK.stroke_width(1)))?
                .label(label)
                .legend(|(x, y)| PathElement::new(vec![(x - 9, y), (x + 9, y)], BLACK));
            chart.draw_series(
                front
                    .into_iter()
                    .map(|p| Circle::new(p, radius(0) + 3, BLACK.stroke_width(1))),
            )?;
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

/// Cycle reduction against the ungated baseline (×, `cycle_reduction_vs_ungated`: each layer's
/// best dense schedule on the same design) vs FLOPs reduction (×): one series per (skip policy,
/// gate block), and the diagonal where cycles fall as much as FLOPs.
pub fn reduction(table: &Table) -> Result<String> {
    let support = table.texts("support")?;
    let blocks = table.texts("gate_block")?;
    let flops = table.numbers("flops_reduction")?;
    let cycles = table.numbers("cycle_reduction_vs_ungated")?;
    let mut series: Vec<(&str, &str)> = Vec::new();
    for policy in policy_order(&support) {
        for block in distinct(blocks.iter().copied()) {
            let present = (0..support.len()).any(|r| support[r] == policy && blocks[r] == block);
            if present {
                series.push((policy, block));
            }
        }
    }
    let x_range = drawable(
        padded_range(flops.iter().copied().chain([1.0])),
        "flops_reduction",
        &table.path,
    )?;
    let y_range = drawable(
        padded_range(cycles.iter().copied().chain([1.0])),
        "cycle_reduction",
        &table.path,
    )?;
    let diagonal_end = x_range.end.min(y_range.end);
    let diagonal_start = x_range.start.max(y_range.start);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, PANEL_HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "cycle reduction vs ungated baseline, against FLOPs reduction",
                ("sans-serif", 18),
            )
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x_range, y_range)?;
        chart
            .configure_mesh()
            .x_desc("FLOPs reduction (×, dense MACs / needed MACs)")
            .y_desc("cycle reduction vs ungated (×, best dense schedule / cycles)")
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .draw()?;
        let grey = RGBColor(150, 150, 150);
        chart
            .draw_series(LineSeries::new(
                [
                    (diagonal_start, diagonal_start),
                    (diagonal_end, diagonal_end),
                ],
                grey.stroke_width(1),
            ))?
            .label("cycle reduction = FLOPs reduction")
            .legend(move |(x, y)| PathElement::new(vec![(x - 9, y), (x + 9, y)], grey));
        for (i, (policy, block)) in series.iter().enumerate() {
            let c = colour(i);
            let pts: Vec<(f64, f64)> = (0..support.len())
                .filter(|&r| support[r] == *policy && blocks[r] == *block)
                .map(|r| (flops[r], cycles[r]))
                .collect();
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, c.filled())))?
                .label(format!("{policy}, block {block}"))
                .legend(move |(x, y)| Circle::new((x, y), 4, c.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}
