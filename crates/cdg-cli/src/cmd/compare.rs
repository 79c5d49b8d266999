//! `cdg compare A B`: two runs side by side — two `cdg sim` outputs, or two points of sweep
//! outputs (`--point N`, `--point-b M`) — with the ratio B / A of every figure, on the
//! terminal and, with `--out DIR`, as `DIR/compare.csv` (every numeric column both share).

use crate::ui::Ui;
use anyhow::{Context, bail};
use cdg_io::layout::{compare, sim, sweep};
use cdg_io::output::{OutputDir, Outputs};
use cdg_report::Table;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The first run: a `cdg sim` output directory, or a sweep/run output with `--point`.
    pub a: PathBuf,
    /// The second run (the same sweep directory as A to compare two of its points).
    pub b: PathBuf,
    /// The grid point of A (and of B, unless `--point-b`) when it is a sweep output.
    #[arg(long, value_name = "N")]
    pub point: Option<usize>,
    /// The grid point of B when it differs from A's.
    #[arg(long, value_name = "M")]
    pub point_b: Option<usize>,
    /// The skip policy to take from an output holding several (`cdg sim --policies`).
    #[arg(long, value_name = "POLICY")]
    pub policy: Option<String>,
    /// The workload to take from an output holding several.
    #[arg(long, value_name = "NAME")]
    pub workload: Option<String>,
    /// Also write the comparison to DIR/compare.csv.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace an output of another kind at --out (a sim or sweep output, a trace, a training run) as a whole; without it that is
    /// an error.
    #[arg(long)]
    pub force: bool,
}

/// One run picked from an output directory: its table and row.
struct Picked {
    label: String,
    table: Table,
    row: usize,
}

/// One line of compare.csv.
#[derive(Debug, Serialize)]
struct CompareRow<'a> {
    quantity: &'a str,
    a: f64,
    b: f64,
    /// B / A; empty when A is 0.
    ratio_b_over_a: Option<f64>,
}

/// The figures the terminal table shows, in order (compare.csv holds every shared column).
const SHOWN: [&str; 16] = [
    "latency_us",
    "latency_us_p50",
    "latency_us_p95",
    "latency_us_p99",
    "cycles",
    "stall_cycles",
    "energy_pj",
    "macs_executed",
    "utilization",
    "dram_read_bytes",
    "dram_write_bytes",
    "cycle_reduction_vs_ungated",
    "cycle_reduction_vs_dense_policy",
    "energy_saving_vs_ungated",
    "energy_saving_vs_dense_policy",
    "area_mm2",
];

fn pick(dir: &Path, point: Option<usize>, args: &CompareArgs) -> anyhow::Result<Picked> {
    let (name, is_sweep) = if dir.join(sweep::SWEEP_CSV).is_file() {
        (sweep::SWEEP_CSV, true)
    } else if dir.join(sim::NETWORK_CSV).is_file() {
        (sim::NETWORK_CSV, false)
    } else {
        bail!(
            "{} holds neither network.csv (cdg sim) nor sweep.csv (cdg sweep, cdg run)",
            dir.display()
        );
    };
    cdg_io::output::check_complete(dir)?;
    let path = dir.join(name);
    let bytes = cdg_io::limits::read_input(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let table = Table::parse(&bytes, &path)?;
    if is_sweep && point.is_none() {
        bail!(
            "{} is a sweep output; say which grid point with --point N (and --point-b M for B)",
            dir.display()
        );
    }
    if !is_sweep && point.is_some() {
        bail!(
            "{} is a `cdg sim` output; --point applies to sweep outputs",
            dir.display()
        );
    }
    let mut rows: Vec<usize> = (0..table.rows.len())
        .filter(|&r| table.cell(r, "sample").is_empty())
        .collect();
    if let Some(n) = point {
        rows.retain(|&r| table.cell(r, "point") == n.to_string());
        if rows.is_empty() {
            bail!("{} has no row for grid point {n}", path.display());
        }
    }
    if let Some(p) = &args.policy {
        rows.retain(|&r| table.cell(r, "support") == p);
    }
    if let Some(w) = &args.workload {
        rows.retain(|&r| table.cell(r, "workload") == w);
    }
    match rows.as_slice() {
        [row] => {
            let row = *row;
            let mut label = format!("{}", dir.display());
            if let Some(n) = point {
                label.push_str(&format!(" point {n}"));
            }
            let arch = table.cell(row, "arch");
            let support = table.cell(row, "support");
            if !arch.is_empty() {
                label.push_str(&format!(" ({arch}"));
                if !support.is_empty() && !arch.contains(support) {
                    label.push_str(&format!(", {support}"));
                }
                label.push(')');
            }
            Ok(Picked { label, table, row })
        }
        [] => bail!(
            "{}: no row matches{}{}",
            path.display(),
            args.policy
                .as_ref()
                .map_or(String::new(), |p| format!(" --policy {p}")),
            args.workload
                .as_ref()
                .map_or(String::new(), |w| format!(" --workload {w}"))
        ),
        many => {
            let options: Vec<String> = many
                .iter()
                .map(|&r| {
                    format!(
                        "workload {} policy {}",
                        table.cell(r, "workload"),
                        table.cell(r, "support")
                    )
                })
                .collect();
            bail!(
                "{} holds {} runs ({}); choose one with --policy and/or --workload",
                path.display(),
                many.len(),
                options.join("; ")
            )
        }
    }
}

/// The numeric cells of row `row`, by column, in the table's column order.
fn numeric(p: &Picked) -> Vec<(String, f64)> {
    p.table
        .headers
        .iter()
        .enumerate()
        .filter(|(_, h)| *h != "point" && *h != "sample" && *h != "samples")
        .filter_map(|(c, h)| {
            let cell = p.table.rows[p.row].get(c)?;
            let v = cell.parse::<f64>().ok().filter(|v| v.is_finite())?;
            Some((h.to_owned(), v))
        })
        .collect()
}

pub fn run(args: CompareArgs, _ui: &Ui) -> anyhow::Result<ExitCode> {
    // --out is checked (and locked) before anything is read.
    let mut out_dir = match &args.out {
        Some(out) => Some(OutputDir::create_checked(
            out,
            &compare::KIND,
            &[("A", &args.a), ("B", &args.b)],
            args.force,
        )?),
        None => None,
    };
    let a = pick(&args.a, args.point, &args)?;
    let b = pick(&args.b, args.point_b.or(args.point), &args)?;
    let (va, vb) = (numeric(&a), numeric(&b));
    let rows: Vec<CompareRow> = va
        .iter()
        .filter_map(|(k, x)| {
            let y = vb.iter().find(|(kb, _)| kb == k)?.1;
            Some(CompareRow {
                quantity: k,
                a: *x,
                b: y,
                ratio_b_over_a: (*x != 0.0).then(|| y / x),
            })
        })
        .collect();
    if rows.is_empty() {
        bail!("{} and {} share no numeric column", a.label, b.label);
    }
    if let (Some(out), Some(dir)) = (&args.out, &mut out_dir) {
        let mut files = Outputs::new();
        files.add(
            compare::COMPARE_CSV,
            cdg_io::csv_out::csv_text(&out.join(compare::COMPARE_CSV), &rows)?,
        );
        dir.commit(&files)?;
    }
    println!("A: {}\nB: {}", a.label, b.label);
    println!("{:<34} {:>16} {:>16} {:>10}", "quantity", "A", "B", "B / A");
    for name in SHOWN {
        let Some(r) = rows.iter().find(|r| r.quantity == name) else {
            continue;
        };
        let (shown, scale) = match name {
            "energy_pj" => ("energy_uJ", 1e-6),
            _ => (name, 1.0),
        };
        println!(
            "{:<34} {:>16} {:>16} {:>10}",
            shown,
            fmt(r.a * scale),
            fmt(r.b * scale),
            r.ratio_b_over_a
                .map_or_else(|| "–".to_owned(), |x| format!("{x:.3}×"))
        );
    }
    if let Some(out) = &args.out {
        println!(
            "every shared column: {}",
            out.join(compare::COMPARE_CSV).display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A figure for the terminal: integers as integers, others with three decimals.
fn fmt(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}
