//! Whole-sweep plots from `sweep.csv` (or a `cdg sim --policies` `network.csv`): energy vs
//! latency with the labelled Pareto front, and cycle reduction vs FLOPs reduction faceted per
//! workload. Both keep their legends beside the data, never over it.

use crate::error::Result;
use crate::pareto::{Objective, Pareto, pareto_groups};
use crate::{Table, colour, distinct, drawable, padded_range, tick};
use cdg_core::SkipPolicy;
use cdg_core::columns as col;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Width of the plotting part of a panel; the legend column follows it.
const PLOT_WIDTH: u32 = 640;
const LEGEND_WIDTH: u32 = 340;
const PANEL_HEIGHT: u32 = 480;

/// Policies in their canonical order (dense, clock-gate, tile-skip, compact), then any other
/// label in first-appearance order.
pub(crate) fn policy_order<'a>(labels: &[&'a str]) -> Vec<&'a str> {
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

/// Draws `points` with series `i`'s marker: filled circle, hollow square, triangle, cross, then
/// again in other colours. Different shapes keep coinciding points of different policies
/// visible (dense and clock-gate often share their latency).
fn draw_markers<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    i: usize,
    points: Vec<(f64, f64)>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let c = colour(i);
    let pts = points.into_iter();
    match i % 4 {
        0 => chart.draw_series(pts.map(|p| Circle::new(p, 5, c.filled())))?,
        1 => chart.draw_series(pts.map(|p| {
            EmptyElement::at(p) + Rectangle::new([(-5, -5), (5, 5)], c.stroke_width(2))
        }))?,
        2 => chart.draw_series(pts.map(|p| TriangleMarker::new(p, 6, c.filled())))?,
        _ => chart.draw_series(pts.map(|p| Cross::new(p, 5, c.stroke_width(2))))?,
    };
    Ok(())
}

/// The legend swatch of series `i` at pixel `(x, y)` of `area`.
/// One legend line per `(colour index, policy)`: its marker and `support = POLICY`, 17 px
/// apart from `y`; returns the `y` below the last line.
fn policy_legend<'a, DB: DrawingBackend>(
    legend: &DrawingArea<DB, Shift>,
    policies: impl Iterator<Item = (usize, &'a &'a str)>,
    font: &FontDesc<'_>,
    mut y: i32,
) -> Result<i32>
where
    DB::ErrorType: 'static,
{
    for (i, policy) in policies {
        draw_swatch(legend, i, 18, y)?;
        legend.draw(&Text::new(
            format!("support = {policy}"),
            (32, y),
            font.clone()
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        y += 17;
    }
    Ok(y)
}

fn draw_swatch<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    i: usize,
    x: i32,
    y: i32,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let c = colour(i);
    match i % 4 {
        0 => area.draw(&Circle::new((x, y), 5, c.filled()))?,
        1 => area.draw(&Rectangle::new(
            [(x - 5, y - 5), (x + 5, y + 5)],
            c.stroke_width(2),
        ))?,
        2 => area.draw(&TriangleMarker::new((x, y), 6, c.filled()))?,
        _ => area.draw(&Cross::new((x, y), 5, c.stroke_width(2)))?,
    }
    Ok(())
}

/// The name of row `r`'s design: the `arch` column (a sweep point's name says its grid
/// values) with the policy, else the point number.
fn design_label(table: &Table, r: usize) -> String {
    let cell = |c: &str| {
        table
            .column(c)
            .ok()
            .and_then(|i| table.rows[r].get(i))
            .unwrap_or("")
            .to_owned()
    };
    let (arch, support, point) = (cell(col::ARCH), cell(col::SUPPORT), cell(col::POINT));
    let mut s = if arch.is_empty() {
        format!("row {}", r + 1)
    } else {
        arch
    };
    if !support.is_empty() && !s.contains(&format!("support={support}")) {
        s.push_str(&format!(", {support}"));
    }
    if !point.is_empty() {
        s.push_str(&format!(" (point {point})"));
    }
    s
}

/// One workload of a `sweep.csv`: its name, its rows and the rows of its Pareto front.
pub type WorkloadRows = (String, Vec<usize>, Vec<usize>);

/// The rows of the Pareto front (latency vs energy) of each workload, fastest first, with
/// identical points counted once: `(workload, rows of the workload, front rows)`.
pub fn pareto_rows(table: &Table) -> Result<Vec<WorkloadRows>> {
    Ok(pareto_fronts(table, &Pareto::default())?
        .into_iter()
        .map(|f| {
            let front = f.entries.iter().map(|e| e.row).collect();
            (f.workload, f.rows, front)
        })
        .collect())
}

/// One entry of a workload's Pareto front in a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontEntry {
    /// The entry's row (the first of the identical ones).
    pub row: usize,
    /// Rows identical to it on every objective of the front, ascending.
    pub same: Vec<usize>,
    /// Whether it lies on the latency/energy front too (always, for a front over latency and
    /// energy only); `false` for a design only its smaller area puts on the front.
    pub on_energy_latency: bool,
}

/// The Pareto front of one workload of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParetoFront {
    pub workload: String,
    /// Rows of the workload.
    pub rows: Vec<usize>,
    /// The front, fastest first (then by energy, then by area).
    pub entries: Vec<FrontEntry>,
}

impl ParetoFront {
    /// The entries' rows and the rows identical to them: every row on the front.
    pub fn all_rows(&self) -> impl Iterator<Item = usize> + '_ {
        self.entries
            .iter()
            .flat_map(|e| std::iter::once(e.row).chain(e.same.iter().copied()))
    }
}

/// Per row, what its latency and energy are divided by to compare rows: the row's `batch`
/// when the table has that column and its batch sizes differ (a batch of 8 is compared per
/// image with a batch of 1, issue #24), else 1.
pub fn per_image_divisors(table: &Table) -> Vec<f64> {
    let ones = vec![1.0; table.rows.len()];
    let Ok(batch) = table.numbers("batch") else {
        return ones;
    };
    if batch.windows(2).all(|w| w[0] == w[1]) {
        return ones;
    }
    batch.into_iter().map(|b| b.max(1.0)).collect()
}

/// `column` of `table`, per image where batch sizes differ ([`per_image_divisors`]) for
/// latency and energy.
fn objective_numbers(table: &Table, o: Objective, divisors: &[f64]) -> Result<Vec<f64>> {
    let v = table.numbers(o.column())?;
    Ok(match o {
        Objective::Latency | Objective::Energy => {
            v.into_iter().zip(divisors).map(|(x, d)| x / d).collect()
        }
        Objective::Area => v,
    })
}

/// The Pareto front of each workload of `table` (first-appearance order) over the objectives
/// of `pareto`, per image when the rows' batch sizes differ; errors name the file and a
/// missing objective column.
pub fn pareto_fronts(table: &Table, pareto: &Pareto) -> Result<Vec<ParetoFront>> {
    let workloads = table.texts(col::WORKLOAD)?;
    let divisors = per_image_divisors(table);
    let columns = pareto
        .objectives()
        .iter()
        .map(|&o| objective_numbers(table, o, &divisors))
        .collect::<Result<Vec<_>>>()?;
    let (latency, energy) = (
        objective_numbers(table, Objective::Latency, &divisors)?,
        objective_numbers(table, Objective::Energy, &divisors)?,
    );
    Ok(distinct(workloads.iter().copied())
        .into_iter()
        .map(|name| {
            let rows: Vec<usize> = (0..workloads.len())
                .filter(|&r| workloads[r] == name)
                .collect();
            let pts: Vec<Vec<f64>> = rows
                .iter()
                .map(|&r| columns.iter().map(|c| c[r]).collect())
                .collect();
            // The latency/energy front's coordinates, to tell the entries only area adds.
            let two: Vec<[f64; 2]> = rows.iter().map(|&r| [latency[r], energy[r]]).collect();
            let on_two: Vec<[f64; 2]> = pareto_groups(&two)
                .into_iter()
                .map(|g| two[g.index])
                .collect();
            let entries = pareto_groups(&pts)
                .into_iter()
                .map(|g| FrontEntry {
                    row: rows[g.index],
                    same: g.same.iter().map(|&i| rows[i]).collect(),
                    on_energy_latency: on_two.contains(&two[g.index]),
                })
                .collect();
            ParetoFront {
                workload: name.to_owned(),
                rows,
                entries,
            }
        })
        .collect())
}

/// How [`energy_latency_with`] names the other designs of a front entry in its legend.
fn same_note(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => " (+1 identical design)".to_owned(),
        n => format!(" (+{n} identical designs)"),
    }
}

/// Energy (µJ) vs latency (µs), one panel per workload (energies of different networks do not
/// compare), one marker shape and colour per skip policy, the Pareto front drawn as a
/// staircase with its points numbered and named in the legend column beside the plot; `table`
/// is `sweep.csv`. The latency/energy front of [`Pareto::default`]; see
/// [`energy_latency_with`].
pub fn energy_latency(table: &Table) -> Result<String> {
    energy_latency_with(table, &Pareto::default())
}

/// [`energy_latency`] with the front over the objectives of `pareto`. The legend says how many
/// identical designs share each front entry; a front over
/// area also numbers the designs that only their smaller area puts on the front, marked by a
/// square instead of a circle ("front in area"), off the latency/energy staircase.
pub fn energy_latency_with(table: &Table, pareto: &Pareto) -> Result<String> {
    let support = table.texts(col::SUPPORT)?;
    // Rows of different batch sizes are drawn (and their front taken) per image.
    let divisors = per_image_divisors(table);
    let per_image = divisors.iter().any(|&d| d != 1.0);
    let latency = objective_numbers(table, Objective::Latency, &divisors)?;
    let energy_uj: Vec<f64> = objective_numbers(table, Objective::Energy, &divisors)?
        .into_iter()
        .map(|e| e / 1e6)
        .collect();
    let fronts = pareto_fronts(table, pareto)?;
    let in_area = pareto.beyond_energy_latency();
    let policies = policy_order(&support);
    let heights: Vec<u32> = fronts
        .iter()
        .map(|f| {
            let extra = usize::from(f.entries.iter().any(|e| !e.on_energy_latency));
            PANEL_HEIGHT.max(150 + 17 * (policies.len() + f.entries.len() + extra) as u32)
        })
        .collect();
    let mut svg = String::new();
    {
        let total: u32 = heights.iter().sum::<u32>().max(PANEL_HEIGHT);
        let root = SVGBackend::with_string(&mut svg, (PLOT_WIDTH + LEGEND_WIDTH, total))
            .into_drawing_area();
        root.fill(&WHITE)?;
        let mut rest = root.clone();
        for (f, h) in fronts.iter().zip(&heights) {
            let (name, rows) = (&f.workload, &f.rows);
            let front: Vec<usize> = f.entries.iter().map(|e| e.row).collect();
            let (panel, below) = rest.split_vertically(*h);
            rest = below;
            let (area, legend) = panel.split_horizontally(PLOT_WIDTH);
            let mut chart = ChartBuilder::on(&area)
                .caption(
                    if in_area {
                        format!(
                            "Energy vs latency on {name}: {} designs, {} on the front in {}",
                            rows.len(),
                            front.len(),
                            pareto.describe()
                        )
                    } else {
                        format!(
                            "Energy vs latency on {name}: {} designs, {} on the Pareto front",
                            rows.len(),
                            front.len()
                        )
                    },
                    ("sans-serif", 16),
                )
                .margin(14)
                .x_label_area_size(44)
                .y_label_area_size(70)
                .build_cartesian_2d(
                    drawable(
                        padded_range(rows.iter().map(|&r| latency[r])),
                        col::LATENCY_US,
                        &table.path,
                    )?,
                    drawable(
                        padded_range(rows.iter().map(|&r| energy_uj[r])),
                        col::ENERGY_PJ,
                        &table.path,
                    )?,
                )?;
            chart
                .configure_mesh()
                .x_desc(if per_image {
                    "latency per image (µs, batch latency / batch)"
                } else {
                    "latency (µs, mean over samples)"
                })
                .y_desc(if per_image {
                    "energy per image (µJ)"
                } else {
                    "energy (µJ, mean over samples)"
                })
                .x_label_formatter(&tick)
                .y_label_formatter(&tick)
                .draw()?;
            for (i, policy) in policies.iter().enumerate() {
                let mine = rows.iter().filter(|&&r| support[r] == *policy);
                draw_markers(
                    &mut chart,
                    i,
                    mine.map(|&r| (latency[r], energy_uj[r])).collect(),
                )?;
            }
            // The front as a staircase: what the best design at each latency budget costs.
            // Only latency/energy front points make the staircase; a front over area adds
            // points above it, drawn as numbered squares.
            let pts: Vec<(f64, f64)> = front.iter().map(|&r| (latency[r], energy_uj[r])).collect();
            let on: Vec<(f64, f64)> = pts
                .iter()
                .zip(&f.entries)
                .filter(|(_, e)| e.on_energy_latency)
                .map(|(p, _)| *p)
                .collect();
            let mut stairs = Vec::new();
            for (k, p) in on.iter().enumerate() {
                if k > 0 {
                    stairs.push((p.0, on[k - 1].1));
                }
                stairs.push(*p);
            }
            chart.draw_series(LineSeries::new(stairs, BLACK.stroke_width(2)))?;
            chart.draw_series(
                pts.iter()
                    .zip(&f.entries)
                    .enumerate()
                    .filter(|(_, (_, e))| e.on_energy_latency)
                    .map(|(k, (&p, _))| {
                        EmptyElement::at(p)
                            + Circle::new((0, 0), 9, BLACK.stroke_width(1))
                            + Text::new(
                                format!("{}", k + 1),
                                (10, -16),
                                ("sans-serif", 13).into_font().color(&BLACK),
                            )
                    }),
            )?;
            chart.draw_series(
                pts.iter()
                    .zip(&f.entries)
                    .enumerate()
                    .filter(|(_, (_, e))| !e.on_energy_latency)
                    .map(|(k, (&p, _))| {
                        EmptyElement::at(p)
                            + Rectangle::new([(-8, -8), (8, 8)], BLACK.stroke_width(1))
                            + Text::new(
                                format!("{}", k + 1),
                                (10, -16),
                                ("sans-serif", 13).into_font().color(&BLACK),
                            )
                    }),
            )?;

            // The legend column: policies, then the numbered front.
            let font = ("sans-serif", 13).into_font();
            let mut y = 40;
            legend.draw(&Text::new(
                "skip policy",
                (10, y - 18),
                font.clone().color(&BLACK),
            ))?;
            y = policy_legend(&legend, policies.iter().enumerate(), &font, y)?;
            y += 14;
            legend.draw(&PathElement::new(
                vec![(8, y), (28, y)],
                BLACK.stroke_width(2),
            ))?;
            legend.draw(&Text::new(
                if in_area {
                    let circled = f.entries.iter().filter(|e| e.on_energy_latency).count();
                    format!("latency/energy front ({circled} points, circled)")
                } else {
                    format!("Pareto front ({} points)", front.len())
                },
                (32, y),
                font.clone()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            ))?;
            y += 17;
            if f.entries.iter().any(|e| !e.on_energy_latency) {
                legend.draw(&Rectangle::new(
                    [(12, y - 6), (24, y + 6)],
                    BLACK.stroke_width(1),
                ))?;
                legend.draw(&Text::new(
                    format!(
                        "front in area: {} more, smaller but above it",
                        f.entries.iter().filter(|e| !e.on_energy_latency).count()
                    ),
                    (32, y),
                    font.clone()
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                ))?;
                y += 17;
            }
            for (k, (&r, e)) in front.iter().zip(&f.entries).enumerate() {
                let mut label = format!("{}: {}", k + 1, design_label(table, r));
                if !e.on_energy_latency {
                    label.push_str(" [front in area]");
                }
                label.push_str(&same_note(e.same.len()));
                legend.draw(&Text::new(
                    label,
                    (12, y),
                    ("sans-serif", 12)
                        .into_font()
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                ))?;
                y += 17;
            }
        }
        root.present()?;
    }
    Ok(svg)
}

/// What the diagonal of [`reduction`] means, printed under each panel.
pub const DIAGONAL_NOTE: &str = "Grey diagonal: cycles fall exactly as much as FLOPs. Above it \
    the gated schedule also uses the array better than the ungated baseline; below it array \
    under-use, stalls and gating overheads eat part of the skipped work. Policies are set \
    apart sideways by a small fixed step.";

/// Cycle reduction against the ungated baseline (×, `cycle_reduction_vs_ungated`: each layer's
/// best dense schedule on the same design) vs FLOPs reduction (×), one panel per workload, one
/// marker per skip policy, with the diagonal where cycles fall as much as FLOPs (explained
/// under each panel).
pub fn reduction(table: &Table) -> Result<String> {
    let workloads = table.texts(col::WORKLOAD)?;
    let support = table.texts(col::SUPPORT)?;
    let blocks = table.texts(col::GATE_BLOCK)?;
    let flops = table.numbers(col::FLOPS_REDUCTION)?;
    let cycles = table.numbers(col::CYCLE_REDUCTION_VS_UNGATED)?;
    let names = distinct(workloads.iter().copied());
    let policies = policy_order(&support);
    let mut svg = String::new();
    {
        let panels = names.len().max(1) as u32;
        let root =
            SVGBackend::with_string(&mut svg, (PLOT_WIDTH + LEGEND_WIDTH, PANEL_HEIGHT * panels))
                .into_drawing_area();
        root.fill(&WHITE)?;
        for (panel, name) in root.split_evenly((panels as usize, 1)).iter().zip(&names) {
            let rows: Vec<usize> = (0..workloads.len())
                .filter(|&r| workloads[r] == *name)
                .collect();
            let block = rows.first().map_or("", |&r| blocks[r]);
            let (body, note) = panel.split_vertically(PANEL_HEIGHT - 56);
            let (area, legend) = body.split_horizontally(PLOT_WIDTH);
            let x_range = drawable(
                padded_range(rows.iter().map(|&r| flops[r]).chain([1.0])),
                col::FLOPS_REDUCTION,
                &table.path,
            )?;
            let y_range = drawable(
                padded_range(rows.iter().map(|&r| cycles[r]).chain([1.0])),
                "cycle_reduction",
                &table.path,
            )?;
            let x_span = x_range.end - x_range.start;
            let lo = x_range.start.max(y_range.start);
            let hi = x_range.end.min(y_range.end);
            let mut chart = ChartBuilder::on(&area)
                .caption(
                    format!("Cycle reduction vs FLOPs reduction on {name} (gate block {block})"),
                    ("sans-serif", 16),
                )
                .margin(14)
                .x_label_area_size(44)
                .y_label_area_size(64)
                .build_cartesian_2d(x_range, y_range)?;
            chart
                .configure_mesh()
                .x_desc("FLOPs reduction (×, dense MACs / needed MACs)")
                .y_desc("cycle reduction vs ungated (×)")
                .x_label_formatter(&tick)
                .y_label_formatter(&tick)
                .draw()?;
            let grey = RGBColor(150, 150, 150);
            if lo < hi {
                chart.draw_series(LineSeries::new([(lo, lo), (hi, hi)], grey.stroke_width(1)))?;
            }
            // Within a workload every design skips the same FLOPs, so the points form one
            // column: each policy is set off sideways by a small fixed step (said in the
            // caption) so that the policies stand apart instead of hiding each other.
            let n = policies.len() as f64;
            for (i, policy) in policies.iter().enumerate() {
                let dx = (i as f64 - (n - 1.0) / 2.0) * x_span * 0.012;
                let mine = rows.iter().filter(|&&r| support[r] == *policy);
                draw_markers(
                    &mut chart,
                    i,
                    mine.map(|&r| (flops[r] + dx, cycles[r])).collect(),
                )?;
            }
            let font = ("sans-serif", 13).into_font();
            let mut y = 40;
            legend.draw(&Text::new("skip policy", (10, y - 18), font.clone()))?;
            let present = policies
                .iter()
                .enumerate()
                .filter(|(_, policy)| rows.iter().any(|&r| support[r] == **policy));
            y = policy_legend(&legend, present, &font, y)?;
            y += 10;
            legend.draw(&PathElement::new(
                vec![(8, y), (28, y)],
                grey.stroke_width(1),
            ))?;
            legend.draw(&Text::new(
                "cycle reduction = FLOPs reduction",
                (32, y),
                font.clone()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            ))?;
            // The caption: what the diagonal means, wrapped into two lines.
            let words: Vec<&str> = DIAGONAL_NOTE.split(' ').collect();
            let half = words.len() / 2;
            for (k, line) in [words[..half].join(" "), words[half..].join(" ")]
                .iter()
                .enumerate()
            {
                note.draw(&Text::new(
                    line.clone(),
                    (20, 8 + 18 * k as i32),
                    ("sans-serif", 12).into_font(),
                ))?;
            }
        }
        root.present()?;
    }
    Ok(svg)
}
