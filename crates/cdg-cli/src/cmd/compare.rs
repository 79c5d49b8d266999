//! `cdg compare A B`: two runs side by side — two `cdg sim` outputs, or two points of sweep
//! outputs (`--point N`, `--point-b M`) — with the ratio B / A of every figure, on the
//! terminal and, with `--out DIR`, as `DIR/compare.csv` (every numeric column both share).
//! Outputs holding several runs (`cdg sim --policies`, several workloads) are compared run by
//! run: every (workload, policy) both hold, one row each, naming those left out.

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

/// The rows of an output directory that `--point`, `--policy` and `--workload` leave.
struct Candidates {
    path: PathBuf,
    table: Table,
    rows: Vec<usize>,
}

fn candidates(dir: &Path, point: Option<usize>, args: &CompareArgs) -> anyhow::Result<Candidates> {
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
    let held = describe(&table, &rows);
    if let Some(p) = &args.policy {
        rows.retain(|&r| table.cell(r, "support") == p);
    }
    if let Some(w) = &args.workload {
        rows.retain(|&r| table.cell(r, "workload") == w);
    }
    if rows.is_empty() {
        bail!(
            "{}: no run matches{}{} (it holds {held})",
            path.display(),
            args.policy
                .as_ref()
                .map_or(String::new(), |p| format!(" --policy {p}")),
            args.workload
                .as_ref()
                .map_or(String::new(), |w| format!(" --workload {w}"))
        );
    }
    Ok(Candidates { path, table, rows })
}

/// A row's run: (workload, skip policy).
fn key(table: &Table, row: usize) -> (String, String) {
    (
        table.cell(row, "workload").to_owned(),
        table.cell(row, "support").to_owned(),
    )
}

/// `workload W policy P; …` of `rows`, for messages.
fn describe(table: &Table, rows: &[usize]) -> String {
    let runs: Vec<String> = rows
        .iter()
        .map(|&r| {
            let (w, p) = key(table, r);
            format!("workload {w} policy {p}")
        })
        .collect();
    runs.join("; ")
}

/// The label of one picked run: the directory, the grid point, the design and policy.
fn label(dir: &Path, point: Option<usize>, c: &Candidates, row: usize) -> String {
    let mut label = format!("{}", dir.display());
    if let Some(n) = point {
        label.push_str(&format!(" point {n}"));
    }
    let arch = c.table.cell(row, "arch");
    let support = c.table.cell(row, "support");
    if !arch.is_empty() {
        label.push_str(&format!(" ({arch}"));
        if !support.is_empty() && !arch.contains(support) {
            label.push_str(&format!(", {support}"));
        }
        label.push(')');
    }
    label
}

/// Which rows of A and B are compared: one pair when each side holds one run; otherwise the
/// runs (workload, policy) both hold, in A's order, and the runs only one side holds.
struct Pairing {
    pairs: Vec<(usize, usize)>,
    only_a: Vec<(String, String)>,
    only_b: Vec<(String, String)>,
}

fn pairing(a: &Candidates, b: &Candidates) -> anyhow::Result<Pairing> {
    if let ([ra], [rb]) = (a.rows.as_slice(), b.rows.as_slice()) {
        return Ok(Pairing {
            pairs: vec![(*ra, *rb)],
            only_a: Vec::new(),
            only_b: Vec::new(),
        });
    }
    let mut pairs = Vec::new();
    let mut only_a = Vec::new();
    for &ra in &a.rows {
        let k = key(&a.table, ra);
        match b.rows.iter().find(|&&rb| key(&b.table, rb) == k) {
            Some(&rb) => pairs.push((ra, rb)),
            None => only_a.push(k),
        }
    }
    let only_b: Vec<(String, String)> = b
        .rows
        .iter()
        .map(|&rb| key(&b.table, rb))
        .filter(|k| !a.rows.iter().any(|&ra| key(&a.table, ra) == *k))
        .collect();
    if pairs.is_empty() {
        bail!(
            "{} and {} hold no run in common (A: {}; B: {}); choose one of each with --policy \
             and/or --workload",
            a.path.display(),
            b.path.display(),
            describe(&a.table, &a.rows),
            describe(&b.table, &b.rows)
        );
    }
    Ok(Pairing {
        pairs,
        only_a,
        only_b,
    })
}

/// A run's numeric cells by column.
type Figures = Vec<(String, f64)>;

/// The numeric cells of row `row`, by column, in the table's column order.
fn numeric(table: &Table, row: usize) -> Figures {
    table
        .headers
        .iter()
        .enumerate()
        .filter(|(_, h)| *h != "point" && *h != "sample" && *h != "samples")
        .filter_map(|(c, h)| {
            let cell = table.rows[row].get(c)?;
            let v = cell.parse::<f64>().ok().filter(|v| v.is_finite())?;
            Some((h.to_owned(), v))
        })
        .collect()
}

/// The rows of compare.csv for one pair: every numeric column both share.
fn compare_rows<'a>(va: &'a [(String, f64)], vb: &[(String, f64)]) -> Vec<CompareRow<'a>> {
    va.iter()
        .filter_map(|(k, x)| {
            let y = vb.iter().find(|(kb, _)| kb == k)?.1;
            Some(CompareRow {
                quantity: k,
                a: *x,
                b: y,
                ratio_b_over_a: (*x != 0.0).then(|| y / x),
            })
        })
        .collect()
}

/// One line of compare.csv when several runs are compared: which run, then [`CompareRow`].
#[derive(Debug, Serialize)]
struct CompareRunRow<'a> {
    workload: &'a str,
    support: &'a str,
    quantity: &'a str,
    a: f64,
    b: f64,
    ratio_b_over_a: Option<f64>,
}

/// The figures of the one-row-per-run table, in order.
const SHOWN_PER_RUN: [&str; 3] = ["cycles", "energy_pj", "latency_us"];

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
    let a = candidates(&args.a, args.point, &args)?;
    let point_b = args.point_b.or(args.point);
    let b = candidates(&args.b, point_b, &args)?;
    let pairing = pairing(&a, &b)?;
    let values: Vec<(Figures, Figures)> = pairing
        .pairs
        .iter()
        .map(|&(ra, rb)| (numeric(&a.table, ra), numeric(&b.table, rb)))
        .collect();
    let per_pair: Vec<Vec<CompareRow>> =
        values.iter().map(|(va, vb)| compare_rows(va, vb)).collect();
    let (ra0, rb0) = pairing.pairs[0];
    let (la, lb) = (
        label(&args.a, args.point, &a, ra0),
        label(&args.b, point_b, &b, rb0),
    );
    if per_pair.iter().any(Vec::is_empty) {
        bail!("{la} and {lb} share no numeric column");
    }
    let keys: Vec<(String, String)> = pairing
        .pairs
        .iter()
        .map(|&(ra, _)| key(&a.table, ra))
        .collect();
    if let (Some(out), Some(dir)) = (&args.out, &mut out_dir) {
        let mut files = Outputs::new();
        let path = out.join(compare::COMPARE_CSV);
        let text = if let [rows] = per_pair.as_slice() {
            cdg_io::csv_out::csv_text(&path, rows)?
        } else {
            let rows: Vec<CompareRunRow> = keys
                .iter()
                .zip(&per_pair)
                .flat_map(|((w, p), rows)| {
                    rows.iter().map(move |r| CompareRunRow {
                        workload: w,
                        support: p,
                        quantity: r.quantity,
                        a: r.a,
                        b: r.b,
                        ratio_b_over_a: r.ratio_b_over_a,
                    })
                })
                .collect();
            cdg_io::csv_out::csv_text(&path, &rows)?
        };
        files.add(compare::COMPARE_CSV, text);
        dir.commit(&files)?;
    }
    if let [rows] = per_pair.as_slice() {
        println!("A: {la}\nB: {lb}");
        print_pair(rows);
    } else {
        let dir_label = |dir: &Path, point: Option<usize>| match point {
            Some(n) => format!("{} point {n}", dir.display()),
            None => dir.display().to_string(),
        };
        println!(
            "A: {}\nB: {}",
            dir_label(&args.a, args.point),
            dir_label(&args.b, point_b)
        );
        print_per_run(&keys, &per_pair);
    }
    let runs = |ks: &[(String, String)]| {
        let workloads: std::collections::BTreeSet<&str> =
            keys.iter().map(|k| k.0.as_str()).collect();
        ks.iter()
            .map(|(w, p)| {
                if workloads.len() > 1 {
                    format!("{p} ({w})")
                } else {
                    p.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !pairing.only_a.is_empty() || !pairing.only_b.is_empty() {
        let mut parts = Vec::new();
        if !pairing.only_a.is_empty() {
            parts.push(format!("{} (only in A)", runs(&pairing.only_a)));
        }
        if !pairing.only_b.is_empty() {
            parts.push(format!("{} (only in B)", runs(&pairing.only_b)));
        }
        println!(
            "compared what both hold ({}); left out: {}",
            runs(&keys),
            parts.join("; ")
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

/// A figure shown in the terminal: its name and scale (energy in µJ).
fn shown(name: &str) -> (&str, f64) {
    match name {
        "energy_pj" => ("energy_uJ", 1e-6),
        _ => (name, 1.0),
    }
}

fn ratio(r: &CompareRow) -> String {
    r.ratio_b_over_a
        .map_or_else(|| "–".to_owned(), |x| format!("{x:.3}×"))
}

/// One pair: a row per figure.
fn print_pair(rows: &[CompareRow]) {
    println!("{:<34} {:>16} {:>16} {:>10}", "quantity", "A", "B", "B / A");
    for name in SHOWN {
        let Some(r) = rows.iter().find(|r| r.quantity == name) else {
            continue;
        };
        let (label, scale) = shown(name);
        println!(
            "{:<34} {:>16} {:>16} {:>10}",
            label,
            fmt(r.a * scale),
            fmt(r.b * scale),
            ratio(r)
        );
    }
}

/// Several runs: a row per run (workload, policy), A, B and B / A of the main figures.
fn print_per_run(keys: &[(String, String)], per_pair: &[Vec<CompareRow>]) {
    let several_workloads = keys.iter().any(|k| k.0 != keys[0].0);
    let mut header = format!("{:<12}", "policy");
    if several_workloads {
        header.push_str(&format!(" {:<16}", "workload"));
    }
    for name in SHOWN_PER_RUN {
        let (label, _) = shown(name);
        header.push_str(&format!(
            " {:>14} {:>14} {:>8}",
            format!("{label} A"),
            format!("{label} B"),
            "B / A"
        ));
    }
    println!("{header}");
    for ((w, p), rows) in keys.iter().zip(per_pair) {
        let mut line = format!("{p:<12}");
        if several_workloads {
            line.push_str(&format!(" {w:<16}"));
        }
        for name in SHOWN_PER_RUN {
            let (_, scale) = shown(name);
            match rows.iter().find(|r| r.quantity == name) {
                Some(r) => line.push_str(&format!(
                    " {:>14} {:>14} {:>8}",
                    fmt(r.a * scale),
                    fmt(r.b * scale),
                    ratio(r)
                )),
                None => line.push_str(&format!(" {:>14} {:>14} {:>8}", "–", "–", "–")),
            }
        }
        println!("{line}");
    }
}

/// A figure for the terminal: integers as integers, others with three decimals.
fn fmt(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}
