//! The report of an output directory as one self-contained HTML page (`report.html`): inline
//! CSS and SVG only — no script, no font, no image or style fetched from anywhere — so it opens
//! from disk, mails as one file and renders the same in any browser. Drawn from the CSV text
//! of the directory, like every plot.
//!
//! Sections, each an `<section id=…>` present in every report (saying why when its data is
//! absent): `answer` (the finding in a sentence or two: the best design and policy per
//! workload against both baselines, and the models' kNN against their floors),
//! `simulated` (workloads, designs, policies, baselines), `summary` (one row per
//! run with units), `pareto` (energy vs latency with every front point named), `layers`
//! (per-layer cycles and energy against both baselines), `latency` (per-sample latency
//! distribution: p50/p95/p99 and a histogram) and `density` (gate density per layer).

use crate::error::{ReportError, Result};
use crate::pareto::{Objective, Pareto};
use crate::sweep::{ParetoFront, energy_latency_with, pareto_fronts};
use crate::{Table, distinct};
use cdg_core::columns as col;
use std::fmt::Write as _;

/// What a report is drawn from: the CSV tables of one output directory.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    /// The kind of output directory: `sim`, `sweep` or `run`.
    pub kind: &'a str,
    /// The directory as the reader should see it named.
    pub source: &'a str,
    /// One row per run: a `cdg sim` `network.csv`, or a sweep's `sweep.csv`.
    pub runs: &'a Table,
    /// `layers.csv`, when the directory has one.
    pub layers: Option<&'a Table>,
    /// `samples.csv` of a `cdg sim` run (one row per policy and sample), when present.
    pub samples: Option<&'a Table>,
    /// Text files shown verbatim under "what was simulated" (`arch.toml`, `spec.toml`).
    pub files: &'a [(String, String)],
    /// Extra pictures `(title, svg)`, e.g. the gate-density heatmaps of `cdg run`.
    pub figures: &'a [(String, String)],
    /// The objectives of the Pareto fronts (`--pareto`; latency and energy by default).
    pub pareto: &'a Pareto,
    /// The accuracy of the models whose traces are the workloads (a `cdg run`'s trained
    /// models, or the shipped traces' recorded figures), for the answer; empty when unknown.
    pub models: &'a [ModelAccuracy],
}

/// A workload's model: its kNN accuracy and the floor it is measured against.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelAccuracy {
    /// The workload (trace) name, as in the runs table.
    pub workload: String,
    /// kNN top-1 accuracy in [0, 1].
    pub knn: f64,
    /// The floor's accuracy in [0, 1], when recorded.
    pub floor: Option<f64>,
    /// Which floor, as a reader should see it named.
    pub floor_name: String,
    /// Where the figures come from (`recorded in the trace's manifest`, `this run's training`).
    pub source: String,
}

/// A report and what it had to leave out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The page.
    pub html: String,
    /// One line per part left out because a file of the directory lacks a column or a file
    /// (an output of an older cdg), naming the file and what is missing; the page says the
    /// same where the part would be.
    pub left_out: Vec<String>,
}

/// The columns of the runs table without which no report is drawn: the workload, the policy
/// and the two objectives every front is over.
const REQUIRED: [&str; 4] = [col::WORKLOAD, col::SUPPORT, col::LATENCY_US, col::ENERGY_PJ];

/// The columns of `layers.csv` a per-layer breakdown draws.
const LAYER_COLUMNS: [&str; 7] = [
    col::LAYER,
    col::CYCLES,
    col::CYCLES_DENSE_POLICY,
    col::CYCLES_UNGATED,
    col::ENERGY_PJ,
    col::ENERGY_DENSE_POLICY_PJ,
    col::ENERGY_UNGATED_PJ,
];

/// What an older cdg's file lacks, said the same way everywhere: the file, the columns and
/// what is left out for it.
fn older(path: &std::path::Path, columns: &[&str], left_out: &str) -> String {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let cols: Vec<String> = columns.iter().map(|c| format!("`{c}`")).collect();
    format!(
        "{name} has no column{} {} (written by an older cdg? re-run it with this version): \
         {left_out} left out",
        if columns.len() > 1 { "s" } else { "" },
        cols.join(", ")
    )
}

/// Adds a left-out note to the page and to the report's list.
fn note_left_out(h: &mut String, left_out: &mut Vec<String>, what: String) {
    let _ = writeln!(h, "<p class=\"note left-out\">{}.</p>", esc(&what));
    left_out.push(what);
}

/// Per-layer breakdowns shown per workload, at most (the first designs of the Pareto front).
const MAX_LAYER_RUNS: usize = 3;
/// Longest layer label of a per-layer chart: what fits its 164-pixel margin at 10 px (longer
/// names are shortened from the left, the full name on hover).
const MAX_LABEL_CHARS: usize = 28;
/// Histogram bins of the latency distribution.
const BINS: usize = 20;

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;\
max-width:1360px;padding:0 1em;color:#222}h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;\
padding-bottom:.2em;margin-top:2em}table{border-collapse:collapse;font-size:.85em;margin:.5em 0}\
th,td{border:1px solid #ddd;padding:.2em .5em;text-align:right}th{background:#f3f3f3}\
td.t,th.t{text-align:left}tr.front td{background:#fff6d5}.note{color:#555;font-size:.9em}\
figure{margin:1em 0}figcaption{font-size:.9em;color:#444}svg{max-width:100%;height:auto}\
.wide{overflow:auto;max-height:80vh}.wide thead th{position:sticky;top:0}\
p.answer{font-size:1.05em;line-height:1.45;max-width:70em}pre{background:#f7f7f7;padding:.5em;font-size:.8em;overflow-x:auto}";

/// Escapes text for HTML and SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A number with `digits` significant decimals, never `NaN` or `inf` (a non-finite value is
/// refused by [`Table`] before it gets here; one computed here would be a bug, shown as `–`).
fn num(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "–".to_owned()
    }
}

/// The cell `col` of row `r` as a number, or `None` when absent or empty.
fn opt(t: &Table, r: usize, col: &str) -> Result<Option<f64>> {
    t.optional_number(r, col)
}

/// Writes the report (see [`report`] for what it left out).
pub fn report_html(input: &ReportInput) -> Result<String> {
    Ok(report(input)?.html)
}

/// Writes the report. A runs table without one of the columns every report needs (`workload`,
/// `support`, `latency_us`, `energy_pj`, and `area_mm2` for a front over area) is an error
/// naming the file and the column; a column or file only one part needs (the percentile
/// columns, `samples.csv`, the per-layer baselines or gate densities of `layers.csv`) leaves
/// that part out with a note on the page and in [`Report::left_out`].
pub fn report(input: &ReportInput) -> Result<Report> {
    // A `cdg sim --per-sample` network.csv holds samples only: its runs are their means.
    let per_sample_runs = input.runs.has(col::SAMPLE)
        && !input.runs.rows.is_empty()
        && input.runs.texts(col::SAMPLE)?.iter().all(|s| !s.is_empty());
    let averaged;
    let runs = if per_sample_runs {
        let by: Vec<&str> = [col::WORKLOAD, col::SUPPORT, col::ARCH]
            .into_iter()
            .filter(|c| input.runs.has(c))
            .collect();
        averaged = input.runs.averaged(&by, &[])?;
        &averaged
    } else {
        input.runs
    };
    let samples = input.samples.or(if per_sample_runs {
        Some(input.runs)
    } else {
        None
    });
    if runs.rows.is_empty() {
        return Err(ReportError::NoRows {
            path: runs.path.clone(),
            problem: "has no rows to report".to_owned(),
        });
    }
    let required = REQUIRED.iter().copied().chain(
        input
            .pareto
            .objectives()
            .contains(&Objective::Area)
            .then_some(Objective::Area.column()),
    );
    for column in required {
        if !runs.has(column) {
            return Err(ReportError::MissingColumn {
                path: runs.path.clone(),
                column: column.to_owned(),
                needed: if column == Objective::Area.column() {
                    "a Pareto front over area"
                } else {
                    "every report (the summary and the Pareto front)"
                },
                why: if input.kind == "sim" && column == Objective::Area.column() {
                    "`cdg sim` does not write it; a front over area is for `cdg sweep`, \
                     `cdg merge` and `cdg run` outputs"
                } else {
                    "was it written by an older cdg? re-run it with this version"
                },
            });
        }
    }
    let fronts = pareto_fronts(runs, input.pareto)?;
    let mut left_out = Vec::new();
    let mut h = String::new();
    let title = headline(runs);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{CSS}</style></head><body>\n<h1>{}</h1>\n\
         <p class=\"note\">The <code>cdg {}</code> output <code>{}</code>, reported by cdg {} \
         from its CSV files; every number below is in those files (docs/model.md §10 lists \
         the columns).</p>\n",
        esc(&title),
        esc(&title),
        esc(input.kind),
        esc(input.source),
        env!("CARGO_PKG_VERSION")
    );
    answer(&mut h, runs, input.models)?;
    simulated(&mut h, runs, input)?;
    summary(&mut h, runs, &fronts, input, &mut left_out)?;
    pareto(&mut h, runs, &fronts, input.pareto)?;
    layers(&mut h, runs, input.layers, &fronts, &mut left_out)?;
    latency(&mut h, runs, samples, input.kind, &mut left_out)?;
    density(&mut h, input.layers, input.figures, &mut left_out)?;
    h.push_str("</body></html>\n");
    Ok(Report { html: h, left_out })
}

/// The answer first: per workload, the run with the lowest energy × latency, its cycles and
/// energy against both baselines (the ungated network and the `dense` policy); then each
/// model's kNN accuracy against its floor, naming the floor.
fn answer(h: &mut String, runs: &Table, models: &[ModelAccuracy]) -> Result<()> {
    h.push_str("<section id=\"answer\"><h2>Answer</h2>\n");
    let workloads: Vec<&str> = distinct((0..runs.rows.len()).map(|r| runs.cell(r, "workload")));
    let mut sentences = Vec::new();
    for w in &workloads {
        let mut best: Option<(usize, f64)> = None;
        for r in (0..runs.rows.len()).filter(|&r| runs.cell(r, "workload") == *w) {
            let (Some(l), Some(e)) = (opt(runs, r, "latency_us")?, opt(runs, r, "energy_pj")?)
            else {
                continue;
            };
            let edp = l * e;
            if best.is_none_or(|(_, b)| edp < b) {
                best = Some((r, edp));
            }
        }
        let Some((r, _)) = best else { continue };
        let design = runs.cell(r, "arch");
        let mut s = format!(
            "For <b>{}</b> the lowest energy × latency is <b>{}</b> under <b>{}</b>",
            esc(w),
            esc(if design.is_empty() {
                "the design"
            } else {
                design
            }),
            esc(runs.cell(r, "support"))
        );
        let vs = |value: f64, ungated: Option<f64>, dense: Option<f64>, what: &str| -> String {
            let part = |base: Option<f64>, name: &str| {
                base.filter(|b| *b > 0.0 && value > 0.0).map(|b| {
                    let ratio = b / value;
                    if (ratio - 1.0).abs() < 5e-3 {
                        format!("about as many {what} as {name}")
                    } else if ratio > 1.0 {
                        format!("{ratio:.2}× fewer {what} than {name}")
                    } else {
                        format!("{:.2}× more {what} than {name}", 1.0 / ratio)
                    }
                })
            };
            [
                part(ungated, "the ungated network"),
                part(dense, "the dense policy"),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ")
        };
        if let Some(c) = opt(runs, r, "cycles")? {
            let detail = vs(
                c,
                opt(runs, r, "cycles_ungated")?,
                opt(runs, r, "cycles_dense_policy")?,
                "cycles",
            );
            let _ = write!(s, ": {} cycles", thousands(c));
            if !detail.is_empty() {
                let _ = write!(s, " ({detail})");
            }
        }
        let e = opt(runs, r, "energy_pj")?.unwrap_or(0.0);
        let ungated = opt(runs, r, "energy_ungated_pj")?;
        let dense = opt(runs, r, "energy_dense_policy_pj")?;
        let saving = |base: Option<f64>, name: &str| {
            base.filter(|b| *b > 0.0)
                .map(|b| format!("{:+.1} % vs {name}", 100.0 * (e - b) / b))
        };
        let parts: Vec<String> = [saving(ungated, "ungated"), saving(dense, "dense policy")]
            .into_iter()
            .flatten()
            .collect();
        let _ = write!(s, " and {} µJ", num(e * 1e-6, 2));
        if !parts.is_empty() {
            let _ = write!(s, " ({})", parts.join(", "));
        }
        s.push('.');
        sentences.push(s);
    }
    if sentences.is_empty() {
        sentences.push("No run to rank.".to_owned());
    }
    for sentence in &sentences {
        let _ = writeln!(h, "<p class=\"answer\">{sentence}</p>");
    }
    let known: Vec<&ModelAccuracy> = models
        .iter()
        .filter(|m| workloads.contains(&m.workload.as_str()))
        .collect();
    if known.is_empty() {
        h.push_str(
            "<p class=\"note\">The workloads' model accuracy is not recorded here (no \
             trained models or recorded kNN in this output).</p>",
        );
    } else {
        let parts: Vec<String> = known
            .iter()
            .map(|m| match m.floor {
                Some(f) => format!(
                    "{} {} % against {} % ({:+.1} points; floor: {})",
                    esc(&m.workload),
                    num(100.0 * m.knn, 1),
                    num(100.0 * f, 1),
                    100.0 * (m.knn - f),
                    esc(&m.floor_name)
                ),
                None => format!(
                    "{} {} % (no floor recorded)",
                    esc(&m.workload),
                    num(100.0 * m.knn, 1)
                ),
            })
            .collect();
        let sources: Vec<&str> = distinct(known.iter().map(|m| m.source.as_str()));
        let _ = write!(
            h,
            "<p class=\"answer\">The models' kNN accuracy ({}): {}.</p>",
            esc(&sources.join("; ")),
            parts.join("; ")
        );
    }
    h.push_str("</section>\n");
    Ok(())
}

/// `1234567` → `1 234 567` (thin spaces between thousands), for counts in sentences.
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{2009}');
        }
        out.push(ch);
    }
    if v < 0.0 { format!("-{out}") } else { out }
}

/// What the runs are, in a line: the workloads on the designs under the policies.
fn headline(runs: &Table) -> String {
    let list = |col: &str, what: &str| -> String {
        let v: Vec<&str> = distinct((0..runs.rows.len()).map(|r| runs.cell(r, col)))
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        match v.len() {
            0 => format!("unnamed {what}"),
            1..=3 => v.join(", "),
            n => format!("{n} {what}s"),
        }
    };
    format!(
        "{} on {} ({})",
        list(col::WORKLOAD, "workload"),
        list(col::ARCH, "design"),
        list(col::SUPPORT, "policy").replace("policys", "policies")
    )
}

fn simulated(h: &mut String, runs: &Table, input: &ReportInput) -> Result<()> {
    h.push_str("<section id=\"simulated\"><h2>What was simulated</h2>\n<ul>\n");
    let list = |col: &str| -> Vec<String> {
        distinct((0..runs.rows.len()).map(|r| runs.cell(r, col)))
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let workloads = list(col::WORKLOAD);
    let mut items = Vec::new();
    for w in &workloads {
        let r = (0..runs.rows.len())
            .find(|&r| runs.cell(r, col::WORKLOAD) == w)
            .unwrap_or(0);
        let block = runs.cell(r, col::GATE_BLOCK);
        let samples = runs.cell(r, col::SAMPLES);
        let layers = runs.cell(r, col::LAYERS);
        let mut s = format!("<b>{}</b>", esc(w));
        if !layers.is_empty() {
            let _ = write!(s, ", {} layers", esc(layers));
        }
        if !block.is_empty() {
            let _ = write!(s, ", gate block {}", esc(block));
        }
        if !samples.is_empty() {
            let _ = write!(s, ", {} samples", esc(samples));
        }
        items.push(s);
    }
    let _ = writeln!(
        h,
        "<li>Workloads ({}): {}</li>",
        workloads.len(),
        if items.is_empty() {
            "not recorded".to_owned()
        } else {
            items.join("; ")
        }
    );
    let designs = list(col::ARCH);
    let shown: Vec<String> = designs.iter().take(40).map(|d| esc(d)).collect();
    let _ = writeln!(
        h,
        "<li>Designs ({}): {}{}</li>",
        designs.len(),
        shown.join(", "),
        if designs.len() > shown.len() {
            ", …"
        } else {
            ""
        }
    );
    let policies = list(col::SUPPORT);
    let _ = writeln!(
        h,
        "<li>Skip policies: {}</li>",
        if policies.is_empty() {
            "dense (no gate masks)".to_owned()
        } else {
            policies
                .iter()
                .map(|p| esc(p))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    h.push_str(
        "<li>Baselines (docs/model.md §8): <b>ungated</b> — the same network without gates, \
         each layer on its best dense schedule on the same design (columns \
         <code>*_vs_ungated</code>); <b>dense policy</b> — the same design and masks under \
         <code>sparsity.support = dense</code>, which computes every MAC (columns \
         <code>*_vs_dense_policy</code>).</li>\n</ul>\n",
    );
    for (name, text) in input.files {
        let _ = writeln!(
            h,
            "<details><summary>{}</summary><pre>{}</pre></details>",
            esc(name),
            esc(text)
        );
    }
    h.push_str("</section>\n");
    Ok(())
}

/// One summary column: header, source column, scale and decimals.
struct Col {
    header: &'static str,
    column: &'static str,
    scale: f64,
    decimals: usize,
}

const SUMMARY: [Col; 13] = [
    Col {
        header: "latency (µs)",
        column: col::LATENCY_US,
        scale: 1.0,
        decimals: 3,
    },
    Col {
        header: "p50 (µs)",
        column: col::LATENCY_US_P50,
        scale: 1.0,
        decimals: 3,
    },
    Col {
        header: "p95 (µs)",
        column: col::LATENCY_US_P95,
        scale: 1.0,
        decimals: 3,
    },
    Col {
        header: "p99 (µs)",
        column: col::LATENCY_US_P99,
        scale: 1.0,
        decimals: 3,
    },
    Col {
        header: "energy (µJ)",
        column: col::ENERGY_PJ,
        scale: 1e-6,
        decimals: 3,
    },
    Col {
        header: "cycles",
        column: col::CYCLES,
        scale: 1.0,
        decimals: 0,
    },
    Col {
        header: "cycles ÷ vs ungated (×)",
        column: col::CYCLE_REDUCTION_VS_UNGATED,
        scale: 1.0,
        decimals: 3,
    },
    Col {
        header: "cycles ÷ vs dense policy (×)",
        column: col::CYCLE_REDUCTION_VS_DENSE_POLICY,
        scale: 1.0,
        decimals: 3,
    },
    Col {
        header: "energy saved vs ungated (%)",
        column: col::ENERGY_SAVING_VS_UNGATED,
        scale: 100.0,
        decimals: 1,
    },
    Col {
        header: "energy saved vs dense policy (%)",
        column: col::ENERGY_SAVING_VS_DENSE_POLICY,
        scale: 100.0,
        decimals: 1,
    },
    Col {
        header: "FLOPs reduction (×)",
        column: col::FLOPS_REDUCTION,
        scale: 1.0,
        decimals: 3,
    },
    Col {
        header: "utilization (%)",
        column: col::UTILIZATION,
        scale: 100.0,
        decimals: 1,
    },
    Col {
        header: "area (mm²)",
        column: col::AREA_MM2,
        scale: 1.0,
        decimals: 3,
    },
];

fn summary(
    h: &mut String,
    runs: &Table,
    fronts: &[ParetoFront],
    input: &ReportInput,
    left_out: &mut Vec<String>,
) -> Result<()> {
    let _ = write!(
        h,
        "<section id=\"summary\"><h2>Summary</h2>\n<p class=\"note\">One row per design, skip \
         policy and workload (means over the trace's samples; p50/p95/p99 are per-sample latency \
         percentiles). Highlighted rows are on their workload's Pareto front ({}).</p>\n",
        input.pareto.describe()
    );
    // Every column cdg writes today (area: sweeps and runs only); one an older cdg did not
    // write is left out, saying so.
    let missing: Vec<&str> = SUMMARY
        .iter()
        .map(|c| c.column)
        .filter(|&c| {
            let sim_area = c == col::AREA_MM2 && input.kind == "sim";
            !runs.has(c) && !sim_area
        })
        .collect();
    if !missing.is_empty() {
        note_left_out(
            h,
            left_out,
            older(&runs.path, &missing, "their summary columns are"),
        );
    }
    h.push_str("<div class=\"wide\"><table id=\"summary-table\"><thead><tr>");
    let cols: Vec<&Col> = SUMMARY.iter().filter(|c| runs.has(c.column)).collect();
    let lead: Vec<&str> = [col::POINT, col::ARCH, col::SUPPORT, col::WORKLOAD]
        .into_iter()
        .filter(|c| runs.has(c))
        .collect();
    for c in &lead {
        let name = match *c {
            col::ARCH => "design",
            col::SUPPORT => "policy",
            other => other,
        };
        let _ = write!(h, "<th class=\"t\">{name}</th>");
    }
    for c in &cols {
        let _ = write!(h, "<th>{}</th>", c.header);
    }
    h.push_str("</tr></thead><tbody>\n");
    // A chosen front highlights every design of an entry; the default its first.
    let front_rows: Vec<usize> = fronts
        .iter()
        .flat_map(|f| f.all_rows().collect::<Vec<_>>())
        .collect();
    let on_front = |r: usize| front_rows.contains(&r);
    for r in 0..runs.rows.len() {
        let _ = write!(
            h,
            "<tr{}>",
            if on_front(r) { " class=\"front\"" } else { "" }
        );
        for c in &lead {
            let _ = write!(h, "<td class=\"t\">{}</td>", esc(runs.cell(r, c)));
        }
        for c in &cols {
            let cell = match opt(runs, r, c.column)? {
                Some(v) => num(v * c.scale, c.decimals),
                None => String::new(),
            };
            let _ = write!(h, "<td>{cell}</td>");
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table></div></section>\n");
    Ok(())
}

fn pareto(h: &mut String, runs: &Table, fronts: &[ParetoFront], pareto: &Pareto) -> Result<()> {
    if pareto.is_chosen() {
        return chosen_pareto(h, runs, fronts, pareto);
    }
    h.push_str("<section id=\"pareto\"><h2>Pareto front: energy vs latency</h2>\n");
    let svg = energy_latency_with(runs, pareto)?;
    let _ = writeln!(
        h,
        "<figure>{svg}<figcaption>Each workload's designs; the front (black staircase) joins \
         the designs no other design beats on both latency and energy (identical designs are \
         one entry, listed with it). Numbers on the plot refer to the list below.\
         </figcaption></figure>"
    );
    for f in fronts {
        let _ = writeln!(
            h,
            "<h3>{} — {} of {} designs on the front</h3>\n<ol class=\"pareto-front\" \
             data-workload=\"{}\">",
            esc(&f.workload),
            f.entries.len(),
            f.rows.len(),
            esc(&f.workload)
        );
        for e in &f.entries {
            let r = e.row;
            let design = runs.cell(r, col::ARCH);
            let point = runs.cell(r, col::POINT);
            let _ = writeln!(
                h,
                "<li class=\"pareto-design\"><b>{}</b>{}{}: {} µs, {} µJ{}</li>",
                esc(if design.is_empty() { "design" } else { design }),
                if runs.cell(r, col::SUPPORT).is_empty() {
                    String::new()
                } else {
                    format!(", policy {}", esc(runs.cell(r, col::SUPPORT)))
                },
                if point.is_empty() {
                    String::new()
                } else {
                    format!(" (point {})", esc(point))
                },
                num(runs.number(r, runs.column(col::LATENCY_US)?)?, 3),
                num(runs.number(r, runs.column(col::ENERGY_PJ)?)? / 1e6, 3),
                if e.same.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; identical: {}",
                        e.same
                            .iter()
                            .map(|&r| {
                                let point = runs.cell(r, col::POINT);
                                if point.is_empty() {
                                    esc(&run_name(runs, r))
                                } else {
                                    format!("{} (point {})", esc(&run_name(runs, r)), esc(point))
                                }
                            })
                            .collect::<Vec<_>>()
                            .join("; ")
                    )
                }
            );
        }
        h.push_str("</ol>\n");
    }
    h.push_str("</section>\n");
    Ok(())
}

/// A run's name in a front table: its design (named by its grid values in a sweep) and policy.
fn run_name(runs: &Table, r: usize) -> String {
    let design = runs.cell(r, col::ARCH);
    let support = runs.cell(r, col::SUPPORT);
    let mut s = if design.is_empty() {
        format!("row {}", r + 1)
    } else {
        design.to_owned()
    };
    if !support.is_empty() && !s.contains(&format!("support={support}")) {
        s.push_str(&format!(", policy {support}"));
    }
    s
}

/// The front over the objectives the user chose: the plot, then per workload a table of the
/// entries with every objective and the designs identical to each.
fn chosen_pareto(
    h: &mut String,
    runs: &Table,
    fronts: &[ParetoFront],
    pareto: &Pareto,
) -> Result<()> {
    let in_area = pareto.beyond_energy_latency();
    let _ = writeln!(
        h,
        "<section id=\"pareto\"><h2>Pareto front: {}</h2>",
        esc(&pareto.describe())
    );
    let svg = energy_latency_with(runs, pareto)?;
    let _ = writeln!(
        h,
        "<figure>{svg}<figcaption>Each workload's designs; the black staircase joins the designs \
         no other design beats on both latency and energy. {}Designs identical in {} are one \
         entry, listed with it below. Numbers on the plot refer to the tables below.\
         </figcaption></figure>",
        if in_area {
            format!(
                "The front is taken in {}: a numbered square marks a design on that front but \
                 not on the staircase (labelled \"front in area\": it is slower or costlier \
                 than a staircase design, but smaller). ",
                esc(&pareto.describe())
            )
        } else {
            String::new()
        },
        esc(&pareto.describe().replace(" vs ", " and "))
    );
    let col = |o: Objective| runs.column(o.column());
    let (lat, en) = (col(Objective::Latency)?, col(Objective::Energy)?);
    let area = if in_area {
        Some(col(Objective::Area)?)
    } else {
        None
    };
    for f in fronts {
        let shared: usize = f.entries.iter().map(|e| e.same.len()).sum();
        let _ = writeln!(
            h,
            "<h3>{} — {} front entries for {} of {} designs</h3>\n<div class=\"wide\">\
             <table class=\"pareto-table\" data-workload=\"{}\"><thead><tr><th>#</th>\
             <th class=\"t\">point</th><th class=\"t\">design</th><th>latency (µs)</th>\
             <th>energy (µJ)</th>{}<th class=\"t\">on the energy–latency staircase</th>\
             <th class=\"t\">identical designs</th></tr></thead><tbody>",
            esc(&f.workload),
            f.entries.len(),
            f.entries.len() + shared,
            f.rows.len(),
            esc(&f.workload),
            if in_area { "<th>area (mm²)</th>" } else { "" }
        );
        for (k, e) in f.entries.iter().enumerate() {
            let r = e.row;
            let area_cell = match area {
                Some(c) => format!("<td>{}</td>", num(runs.number(r, c)?, 3)),
                None => String::new(),
            };
            let same: Vec<String> = e
                .same
                .iter()
                .map(|&o| {
                    let point = runs.cell(o, col::POINT);
                    if point.is_empty() {
                        esc(&run_name(runs, o))
                    } else {
                        format!("point {} ({})", esc(point), esc(&run_name(runs, o)))
                    }
                })
                .collect();
            let _ = writeln!(
                h,
                "<tr class=\"pareto-design\"><td>{}</td><td class=\"t\">{}</td>\
                 <td class=\"t\"><b>{}</b></td><td>{}</td><td>{}</td>{area_cell}\
                 <td class=\"t\">{}</td><td class=\"t\">{}</td></tr>",
                k + 1,
                esc(runs.cell(r, col::POINT)),
                esc(&run_name(runs, r)),
                num(runs.number(r, lat)?, 3),
                num(runs.number(r, en)? / 1e6, 3),
                if e.on_energy_latency {
                    "yes"
                } else {
                    "no: front in area"
                },
                if same.is_empty() {
                    "—".to_owned()
                } else {
                    format!("{}: {}", same.len(), same.join(", "))
                }
            );
        }
        h.push_str("</tbody></table></div>\n");
    }
    h.push_str("</section>\n");
    Ok(())
}

/// The layer rows of `layers` that belong to run `r` of `runs`: the same point (sweeps) or the
/// same policy and workload (sim), mean rows only.
fn layer_rows_of(layers: &Table, runs: &Table, r: usize) -> Vec<usize> {
    let keys: Vec<&str> = [col::POINT, col::SUPPORT, col::WORKLOAD]
        .into_iter()
        .filter(|c| layers.has(c) && runs.has(c))
        .collect();
    (0..layers.rows.len())
        .filter(|&l| layers.cell(l, col::SAMPLE).is_empty())
        .filter(|&l| keys.iter().all(|k| layers.cell(l, k) == runs.cell(r, k)))
        .collect()
}

fn layers(
    h: &mut String,
    runs: &Table,
    layers: Option<&Table>,
    fronts: &[ParetoFront],
    left_out: &mut Vec<String>,
) -> Result<()> {
    h.push_str(
        "<section id=\"layers\"><h2>Per-layer cycles and energy against both baselines</h2>\n",
    );
    let Some(layers) = layers else {
        h.push_str(
            "<p class=\"note\">This directory has no layers.csv (run <code>cdg sweep --layers</code> \
             or <code>cdg run --layers</code> to get one).</p></section>\n",
        );
        return Ok(());
    };
    let averaged;
    let layers = if layers.has(col::SAMPLE)
        && (0..layers.rows.len()).all(|l| !layers.cell(l, col::SAMPLE).is_empty())
    {
        let by: Vec<&str> = [col::LAYER, col::WORKLOAD, col::SUPPORT, col::POINT]
            .into_iter()
            .filter(|c| layers.has(c))
            .collect();
        averaged = layers.averaged(&by, &[])?;
        &averaged
    } else {
        layers
    };
    let missing: Vec<&str> = LAYER_COLUMNS
        .into_iter()
        .filter(|c| !layers.has(c))
        .collect();
    if !missing.is_empty() {
        note_left_out(
            h,
            left_out,
            older(&layers.path, &missing, "the per-layer breakdown is"),
        );
        h.push_str("</section>\n");
        return Ok(());
    }
    let mut shown = 0;
    for f in fronts {
        for r in f.entries.iter().take(MAX_LAYER_RUNS).map(|e| e.row) {
            let rows = layer_rows_of(layers, runs, r);
            if rows.is_empty() {
                continue;
            }
            shown += 1;
            let label = format!(
                "{}{} on {}",
                runs.cell(r, col::ARCH),
                if runs.cell(r, col::SUPPORT).is_empty() {
                    String::new()
                } else {
                    format!(", policy {}", runs.cell(r, col::SUPPORT))
                },
                runs.cell(r, col::WORKLOAD)
            );
            layer_block(h, layers, &rows, &label)?;
        }
    }
    if shown == 0 {
        h.push_str("<p class=\"note\">layers.csv holds no rows of the designs above.</p>\n");
    } else {
        let _ = writeln!(
            h,
            "<p class=\"note\">Shown for the first {MAX_LAYER_RUNS} Pareto designs of each \
             workload; layers.csv holds every design.</p>"
        );
    }
    h.push_str("</section>\n");
    Ok(())
}

fn layer_block(h: &mut String, layers: &Table, rows: &[usize], label: &str) -> Result<()> {
    let num_of = |l: usize, c: &str| -> Result<f64> { Ok(opt(layers, l, c)?.unwrap_or(0.0)) };
    let names: Vec<String> = rows
        .iter()
        .map(|&l| layers.cell(l, col::LAYER).to_owned())
        .collect();
    let mut cyc = [Vec::new(), Vec::new(), Vec::new()];
    let mut en = [Vec::new(), Vec::new(), Vec::new()];
    for &l in rows {
        for (k, c) in [col::CYCLES, col::CYCLES_DENSE_POLICY, col::CYCLES_UNGATED]
            .iter()
            .enumerate()
        {
            cyc[k].push(num_of(l, c)?);
        }
        for (k, c) in [
            col::ENERGY_PJ,
            col::ENERGY_DENSE_POLICY_PJ,
            col::ENERGY_UNGATED_PJ,
        ]
        .iter()
        .enumerate()
        {
            en[k].push(num_of(l, c)? / 1e6);
        }
    }
    let _ = writeln!(h, "<h3>{}</h3>", esc(label));
    let series = |v: &[Vec<f64>; 3]| {
        vec![
            ("this design".to_owned(), "#1f77b4", v[0].clone()),
            ("dense policy".to_owned(), "#ff7f0e", v[1].clone()),
            ("ungated".to_owned(), "#7f7f7f", v[2].clone()),
        ]
    };
    let _ = writeln!(
        h,
        "<figure>{}{}<figcaption>Per layer: this design against the same design under the \
         dense policy and against the ungated baseline.</figcaption></figure>",
        hbars(
            &format!("Cycles per layer: {label}"),
            &names,
            &series(&cyc),
            "cycles",
            None
        ),
        hbars(
            &format!("Energy per layer: {label}"),
            &names,
            &series(&en),
            "µJ",
            None
        )
    );
    h.push_str(
        "<div class=\"wide\"><table class=\"layers-table\"><thead><tr><th class=\"t\">layer</th>\
         <th>cycles</th><th>dense policy</th><th>ungated</th><th>÷ vs ungated (×)</th>\
         <th>energy (µJ)</th><th>dense policy (µJ)</th><th>ungated (µJ)</th>\
         <th>saved vs ungated (%)</th><th>gate density</th><th class=\"t\">mapping</th>\
         </tr></thead><tbody>\n",
    );
    for (i, &l) in rows.iter().enumerate() {
        // The mapper's choice (docs/model.md §8); a layers.csv from before it has none.
        let mapping = if layers.has("mapping") {
            layers.cell(l, "mapping").to_owned()
        } else {
            String::new()
        };
        let ratio = if cyc[0][i] > 0.0 {
            cyc[2][i] / cyc[0][i]
        } else {
            1.0
        };
        let saved = if en[2][i] > 0.0 {
            100.0 * (1.0 - en[0][i] / en[2][i])
        } else {
            0.0
        };
        let density = match opt(layers, l, col::GATE_DENSITY)? {
            Some(d) => num(d, 3),
            None => "ungated".to_owned(),
        };
        let _ = writeln!(
            h,
            "<tr><td class=\"t\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"t\">{}</td></tr>",
            esc(&names[i]),
            num(cyc[0][i], 0),
            num(cyc[1][i], 0),
            num(cyc[2][i], 0),
            num(ratio, 3),
            num(en[0][i], 3),
            num(en[1][i], 3),
            num(en[2][i], 3),
            num(saved, 1),
            density,
            esc(&mapping)
        );
    }
    h.push_str("</tbody></table></div>\n");
    Ok(())
}

fn latency(
    h: &mut String,
    runs: &Table,
    samples: Option<&Table>,
    kind: &str,
    left_out: &mut Vec<String>,
) -> Result<()> {
    h.push_str("<section id=\"latency\"><h2>Per-sample latency distribution</h2>\n");
    if let Some(s) = samples.filter(|s| !s.has(col::LATENCY_US)) {
        note_left_out(
            h,
            left_out,
            older(&s.path, &[col::LATENCY_US], "the latency histogram is"),
        );
        h.push_str("</section>\n");
        return Ok(());
    }
    let Some(samples) = samples.filter(|s| !s.rows.is_empty()) else {
        // `cdg sim` writes samples.csv for every workload with gate masks (gate ops counted).
        let gated = (0..runs.rows.len())
            .map(|r| opt(runs, r, col::GATE_OPS))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .any(|g| g.is_some_and(|g| g > 0.0));
        let percentiles = [
            col::LATENCY_US_P50,
            col::LATENCY_US_P95,
            col::LATENCY_US_P99,
        ];
        if kind == "sim" && gated && samples.is_none() {
            note_left_out(
                h,
                left_out,
                format!(
                    "this cdg sim output of a gated workload has no samples.csv (written by an \
                     older cdg? re-run it with this version): the latency histogram of {} left out",
                    if runs.has(col::LATENCY_US_P99) {
                        "each run is"
                    } else {
                        "each run and its p50/p95/p99 are"
                    }
                ),
            );
        } else if runs.has(col::LATENCY_US_P99) {
            h.push_str(
                "<p class=\"note\">The p50/p95/p99 columns of the summary are the per-sample \
                 latency percentiles of each run; a histogram needs the samples themselves \
                 (<code>cdg sim</code> writes them to samples.csv).</p>\n",
            );
        } else {
            let missing: Vec<&str> = percentiles.into_iter().filter(|c| !runs.has(c)).collect();
            note_left_out(
                h,
                left_out,
                older(
                    &runs.path,
                    &missing,
                    "the per-sample latency percentiles are",
                ),
            );
        }
        h.push_str("</section>\n");
        return Ok(());
    };
    let latency = samples.numbers(col::LATENCY_US)?;
    let by: Vec<&str> = [col::WORKLOAD, col::SUPPORT]
        .into_iter()
        .filter(|c| samples.has(c))
        .collect();
    let mut groups: Vec<(String, Vec<f64>)> = Vec::new();
    for (r, &v) in latency.iter().enumerate() {
        let key = by
            .iter()
            .map(|c| samples.cell(r, c))
            .collect::<Vec<_>>()
            .join(", policy ");
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, vs)) => vs.push(v),
            None => groups.push((key, vec![v])),
        }
    }
    for (key, values) in &groups {
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let p = |q: f64| {
            let n = sorted.len();
            let rank = ((q / 100.0) * n as f64).ceil().clamp(1.0, n as f64) as usize;
            sorted[rank - 1]
        };
        let (p50, p95, p99) = (p(50.0), p(95.0), p(99.0));
        let _ = writeln!(
            h,
            "<h3>{}</h3>\n<p class=\"percentiles\">{} samples: p50 <b>{} µs</b>, p95 <b>{} µs</b>, \
             p99 <b>{} µs</b> (min {} µs, max {} µs; nearest-rank percentiles)</p>",
            esc(if key.is_empty() { "run" } else { key }),
            sorted.len(),
            num(p50, 3),
            num(p95, 3),
            num(p99, 3),
            num(sorted[0], 3),
            num(sorted[sorted.len() - 1], 3)
        );
        h.push_str(&histogram(key, &sorted, [p50, p95, p99]));
    }
    h.push_str("</section>\n");
    Ok(())
}

fn density(
    h: &mut String,
    layers: Option<&Table>,
    figures: &[(String, String)],
    left_out: &mut Vec<String>,
) -> Result<()> {
    h.push_str("<section id=\"density\"><h2>Gate density per layer</h2>\n");
    let mut drawn = false;
    if let Some(layers) = layers.filter(|l| !l.has(col::GATE_DENSITY)) {
        note_left_out(
            h,
            left_out,
            older(
                &layers.path,
                &[col::GATE_DENSITY],
                "the gate density per layer is",
            ),
        );
        drawn = true;
    }
    if let Some(layers) = layers.filter(|l| l.has(col::GATE_DENSITY)) {
        // One workload's densities do not depend on the design: take each workload's first
        // run (its first point, or its first policy).
        let keys: Vec<&str> = [col::POINT, col::SUPPORT]
            .into_iter()
            .filter(|c| layers.has(c))
            .collect();
        let workloads = distinct((0..layers.rows.len()).map(|l| layers.cell(l, col::WORKLOAD)));
        for w in workloads {
            let first = (0..layers.rows.len()).find(|&l| layers.cell(l, col::WORKLOAD) == w);
            let Some(first) = first else { continue };
            let rows: Vec<usize> = (0..layers.rows.len())
                .filter(|&l| layers.cell(l, col::WORKLOAD) == w)
                .filter(|&l| {
                    keys.iter()
                        .all(|k| layers.cell(l, k) == layers.cell(first, k))
                })
                .filter(|&l| layers.cell(l, col::SAMPLE) == layers.cell(first, col::SAMPLE))
                .filter(|&l| !layers.cell(l, col::GATE_DENSITY).is_empty())
                .collect();
            if rows.is_empty() {
                continue;
            }
            let names: Vec<String> = rows
                .iter()
                .map(|&l| layers.cell(l, col::LAYER).to_owned())
                .collect();
            let mut mean = Vec::new();
            let mut spread = Vec::new();
            for &l in &rows {
                let m = opt(layers, l, col::GATE_DENSITY)?.unwrap_or(0.0);
                let lo = opt(layers, l, col::GATE_DENSITY_MIN)?.unwrap_or(m);
                let hi = opt(layers, l, col::GATE_DENSITY_MAX)?.unwrap_or(m);
                mean.push(m);
                spread.push((lo, hi));
            }
            let label = if w.is_empty() { "the workload" } else { w };
            let _ = writeln!(
                h,
                "<figure>{}<figcaption>Fraction of gate blocks on per gated layer of {} (mean over \
                 samples; whiskers: min to max over samples). Ungated layers compute \
                 everything.</figcaption></figure>",
                hbars(
                    &format!("Gate density per layer: {label}"),
                    &names,
                    &[("mean density".to_owned(), "#2ca02c", mean)],
                    "fraction on",
                    Some(&spread)
                ),
                esc(label)
            );
            drawn = true;
        }
    }
    for (title, svg) in figures {
        let _ = writeln!(
            h,
            "<figure>{svg}<figcaption>{}</figcaption></figure>",
            esc(title)
        );
        drawn = true;
    }
    if !drawn {
        h.push_str(
            "<p class=\"note\">No gate densities: the workloads have no gate masks, or this \
             directory has no layers.csv (<code>--layers</code>).</p>\n",
        );
    }
    h.push_str("</section>\n");
    Ok(())
}

/// Horizontal grouped bars, one group per label, with an optional min–max whisker on the first
/// series. Plain SVG, legend above the bars.
fn hbars(
    title: &str,
    labels: &[String],
    series: &[(String, &str, Vec<f64>)],
    unit: &str,
    whiskers: Option<&[(f64, f64)]>,
) -> String {
    let (left, width, top) = (170.0, 560.0, 58.0);
    let bar = 7.0;
    let group = bar * series.len() as f64 + 6.0;
    let height = top + group * labels.len() as f64 + 34.0;
    let mut max = series
        .iter()
        .flat_map(|(_, _, v)| v.iter().copied())
        .chain(whiskers.into_iter().flatten().map(|w| w.1))
        .fold(0.0, f64::max);
    if !(max.is_finite() && max > 0.0) {
        max = 1.0;
    }
    let x = |v: f64| left + width * (v / max).clamp(0.0, 1.0);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{hh}\" viewBox=\"0 0 {w} \
         {hh}\" role=\"img\" aria-label=\"{t}\"><rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"8\" y=\"18\" font-size=\"14\" font-family=\"sans-serif\">{t}</text>",
        w = num(left + width + 90.0, 0),
        hh = num(height, 0),
        t = esc(title)
    );
    let mut lx = left;
    for (name, colour, _) in series {
        let _ = write!(
            s,
            "<rect x=\"{}\" y=\"30\" width=\"10\" height=\"10\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"39\" font-size=\"11\" font-family=\"sans-serif\">{}</text>",
            num(lx, 1),
            num(lx + 14.0, 1),
            esc(name)
        );
        lx += 24.0 + 7.0 * name.chars().count() as f64;
    }
    for (i, label) in labels.iter().enumerate() {
        let y0 = top + group * i as f64;
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"10\" font-family=\"sans-serif\" \
             text-anchor=\"end\"><title>{}</title>{}</text>",
            num(left - 6.0, 1),
            num(y0 + group / 2.0 + 2.0, 1),
            esc(label),
            esc(&crate::shorten_left(label, MAX_LABEL_CHARS))
        );
        for (k, (_, colour, values)) in series.iter().enumerate() {
            let v = values.get(i).copied().unwrap_or(0.0);
            let y = y0 + bar * k as f64;
            let _ = write!(
                s,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{colour}\"><title>{}: \
                 {}</title></rect>",
                num(left, 1),
                num(y, 1),
                num(x(v) - left, 2),
                num(bar - 1.0, 1),
                esc(label),
                num(v, 4)
            );
        }
        if let Some((lo, hi)) = whiskers.and_then(|w| w.get(i)) {
            let y = y0 + bar / 2.0;
            let _ = write!(
                s,
                "<line x1=\"{}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"black\" \
                 stroke-width=\"1.5\"/>",
                num(x(*lo), 2),
                num(x(*hi), 2),
                y = num(y, 1)
            );
        }
    }
    let axis_y = top + group * labels.len() as f64 + 4.0;
    let _ = write!(
        s,
        "<line x1=\"{l}\" x2=\"{r}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#444\"/>\
         <text x=\"{l}\" y=\"{ty}\" font-size=\"10\" font-family=\"sans-serif\">0</text>\
         <text x=\"{r}\" y=\"{ty}\" font-size=\"10\" font-family=\"sans-serif\" \
         text-anchor=\"end\">{m} {u}</text></svg>",
        l = num(left, 1),
        r = num(left + width, 1),
        y = num(axis_y, 1),
        ty = num(axis_y + 14.0, 1),
        m = esc(&crate::tick(&max)),
        u = esc(unit)
    );
    s
}

/// A histogram of ascending `sorted` latencies (µs) with the three percentiles marked.
fn histogram(key: &str, sorted: &[f64], marks: [f64; 3]) -> String {
    let (left, width, top, plot_h) = (60.0, 620.0, 30.0, 180.0);
    let lo = sorted[0];
    let hi = sorted[sorted.len() - 1];
    let span = if hi > lo { hi - lo } else { 1.0 };
    let mut counts = [0usize; BINS];
    for &v in sorted {
        let b = (((v - lo) / span) * BINS as f64).floor() as usize;
        counts[b.min(BINS - 1)] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let x = |v: f64| left + width * ((v - lo) / span).clamp(0.0, 1.0);
    let bw = width / BINS as f64;
    let title = format!(
        "Latency of each sample: {}",
        if key.is_empty() { "run" } else { key }
    );
    let mut s = String::new();
    let _ = write!(
        s,
        "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"760\" height=\"260\" \
         viewBox=\"0 0 760 260\" role=\"img\" aria-label=\"{t}\"><rect width=\"100%\" \
         height=\"100%\" fill=\"white\"/><text x=\"8\" y=\"18\" font-size=\"14\" \
         font-family=\"sans-serif\">{t}</text>",
        t = esc(&title)
    );
    for (b, &c) in counts.iter().enumerate() {
        let hgt = plot_h * c as f64 / max;
        let _ = write!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#1f77b4\"><title>{} \
             samples</title></rect>",
            num(left + bw * b as f64 + 0.5, 2),
            num(top + plot_h - hgt, 2),
            num(bw - 1.0, 2),
            num(hgt, 2),
            c
        );
    }
    for (name, v, colour) in [
        ("p50", marks[0], "#2ca02c"),
        ("p95", marks[1], "#ff7f0e"),
        ("p99", marks[2], "#d62728"),
    ] {
        let _ = write!(
            s,
            "<line x1=\"{x}\" x2=\"{x}\" y1=\"{}\" y2=\"{}\" stroke=\"{colour}\" \
             stroke-width=\"2\" stroke-dasharray=\"4 2\"/><text x=\"{x}\" y=\"{}\" \
             font-size=\"10\" font-family=\"sans-serif\" fill=\"{colour}\">{name}</text>",
            num(top, 1),
            num(top + plot_h, 1),
            num(top - 2.0 + 10.0 * (name == "p95") as u8 as f64, 1),
            x = num(x(v), 2)
        );
    }
    let axis = top + plot_h;
    let _ = write!(
        s,
        "<line x1=\"{l}\" x2=\"{r}\" y1=\"{a}\" y2=\"{a}\" stroke=\"#444\"/>\
         <text x=\"{l}\" y=\"{t}\" font-size=\"10\" font-family=\"sans-serif\">{lo} µs</text>\
         <text x=\"{r}\" y=\"{t}\" font-size=\"10\" font-family=\"sans-serif\" \
         text-anchor=\"end\">{hi} µs</text><text x=\"{mid}\" y=\"{t2}\" font-size=\"11\" \
         font-family=\"sans-serif\" text-anchor=\"middle\">latency (µs); bar height: samples \
         (max {max})</text></svg></figure>",
        l = num(left, 1),
        r = num(left + width, 1),
        a = num(axis, 1),
        t = num(axis + 14.0, 1),
        t2 = num(axis + 32.0, 1),
        mid = num(left + width / 2.0, 1),
        lo = num(lo, 3),
        hi = num(hi, 3),
        max = max
    );
    s.push('\n');
    s
}
