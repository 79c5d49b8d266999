//! The HTML report: its size on a 1 000-point sweep, fronts over chosen objectives, and the
//! files of an older cdg (a missing column fails naming the file and the column when every
//! report needs it, and otherwise leaves its part out saying so).

use cdg_report::{Pareto, Report, ReportError, ReportInput, Table, report};
use std::path::Path;

/// The columns of a sweep.csv the report reads, as cdg writes them today.
const HEADER: &str = "point,array.rows,array.cols,sparsity.support,workload,gate_block,support,\
area_mm2,arch,samples,layers,cycles,cycles_ungated,cycles_dense_policy,latency_us,utilization,\
flops_reduction,cycle_reduction_vs_ungated,cycle_reduction_vs_dense_policy,gate_ops,energy_pj,\
energy_saving_vs_ungated,energy_saving_vs_dense_policy,batch,latency_us_p50,latency_us_p95,\
latency_us_p99";

/// A synthetic sweep.csv of `points` designs (rows × cols × 4 policies) on one workload with
/// pseudo-random costs: many distinct points, a realistic front, names as long as cdg's.
fn synthetic_sweep(points: usize) -> String {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 10_000) as f64 / 10_000.0
    };
    let policies = ["dense", "clock-gate", "tile-skip", "compact"];
    let mut s = format!("{HEADER}\n");
    for p in 0..points {
        let policy = policies[p % 4];
        let (rows, cols) = (8 + 8 * (p / 4 % 16), 8 + 8 * (p / 64 % 16));
        let pes = (rows * cols) as f64;
        let latency = 4e5 / pes * (1.0 + next()) * if policy == "dense" { 2.0 } else { 1.0 };
        let energy = 1e8 * (1.0 + pes / 4096.0) * (1.0 + 0.5 * next());
        let area = 0.01 * pes + 1.5;
        let cycles = (latency * 1000.0).round();
        s.push_str(&format!(
            "{p},{rows},{cols},{policy},cdg-resnet18-structured,16x1x1,{policy},{area},\
             os-{rows}x{cols}-int8 support={policy},64,21,{cycles},{},{},{latency},{},2.07,{},{},\
             7680,{energy},{},{},1,{latency},{},{}\n",
            cycles * 1.4,
            cycles * 1.1,
            0.5 * next(),
            1.4 * (1.0 + next()),
            1.1 * (1.0 + next()),
            0.2 * next(),
            0.1 * next(),
            latency * 1.05,
            latency * 1.08,
        ));
    }
    s
}

fn input<'a>(kind: &'a str, runs: &'a Table, pareto: &'a Pareto) -> ReportInput<'a> {
    ReportInput {
        kind,
        source: "out",
        runs,
        layers: None,
        samples: None,
        files: &[],
        figures: &[],
        pareto,
        models: &[],
    }
}

fn table(text: &str, name: &str) -> Table {
    Table::parse(text.as_bytes(), Path::new(name)).unwrap()
}

/// Drops the named columns of CSV text (no quoted commas in these tables).
fn without(text: &str, columns: &[&str]) -> String {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !columns.contains(&header[i]))
        .collect();
    let pick = |line: &str| {
        let cells: Vec<&str> = line.split(',').collect();
        keep.iter().map(|&i| cells[i]).collect::<Vec<_>>().join(",")
    };
    let mut out = pick(&header.join(","));
    out.push('\n');
    for l in lines {
        out.push_str(&pick(l));
        out.push('\n');
    }
    out
}

/// The report of a 1 000-point sweep stays small enough to mail and open: under 3 MB (the
/// issue asks for "a few MB"), with every design in the summary table.
#[test]
fn a_thousand_point_sweep_report_stays_under_three_megabytes() {
    let csv = synthetic_sweep(1000);
    let runs = table(&csv, "sweep.csv");
    assert_eq!(runs.rows.len(), 1000);
    for pareto in [
        Pareto::default(),
        "latency,energy,area".parse::<Pareto>().unwrap(),
    ] {
        let Report { html, left_out } = report(&input("sweep", &runs, &pareto)).unwrap();
        assert!(left_out.is_empty(), "{left_out:?}");
        assert!(
            html.len() < 3_000_000,
            "{} bytes with --pareto {pareto}",
            html.len()
        );
        let summary = &html[html.find("id=\"summary-table\"").unwrap()..];
        let summary = &summary[..summary.find("</table>").unwrap()];
        assert_eq!(
            summary.matches("<tr").count(),
            1 + 1000,
            "header + every design"
        );
    }
}

/// A front over area is a table with all three objectives; a design only area puts on it is
/// marked on the plot and in the table; identical designs are one entry naming the others.
#[test]
fn a_front_over_area_is_a_table_of_all_three_objectives() {
    // 0: fast and costly; 1: slow, cheap; 2: slower and costlier than 1 but smaller;
    // 3: identical to 1 in all three; 4: dominated.
    let csv = "point,workload,support,arch,latency_us,energy_pj,area_mm2\n\
               0,net,compact,big,1.0,9000000.0,9.0\n\
               1,net,compact,mid,2.0,5000000.0,4.0\n\
               2,net,compact,small,3.0,6000000.0,1.0\n\
               3,net,tile-skip,mid2,2.0,5000000.0,4.0\n\
               4,net,dense,worse,3.0,9000000.0,9.0\n";
    let runs = table(csv, "sweep.csv");
    let pareto: Pareto = "latency,energy,area".parse().unwrap();
    let html = report(&input("sweep", &runs, &pareto)).unwrap().html;
    assert!(html.contains("<h2>Pareto front: latency, energy and area</h2>"));
    let t = &html[html.find("class=\"pareto-table\"").unwrap()..];
    let t = &t[..t.find("</table>").unwrap()];
    assert!(t.contains("<th>area (mm²)</th>"), "{t}");
    assert_eq!(t.matches("class=\"pareto-design\"").count(), 3, "{t}");
    let rows: Vec<&str> = t.split("<tr class=\"pareto-design\">").skip(1).collect();
    assert!(rows[0].contains("<b>big, policy compact</b>") && rows[0].contains(">yes<"));
    assert!(
        rows[1].contains("<td>5.000</td><td>4.000</td>"),
        "{}",
        rows[1]
    );
    assert!(
        rows[1].contains("1: point 3 (mid2, policy tile-skip)"),
        "{}",
        rows[1]
    );
    assert!(rows[2].contains("<b>small, policy compact</b>"));
    assert!(rows[2].contains("no: front in area"), "{}", rows[2]);
    assert!(html.contains("front in area: 1 more, smaller but above it"));
    assert!(html.contains("3: small, compact (point 2) [front in area]"));
    assert!(html.contains("2: mid, compact (point 1) (+1 identical design)"));
    assert!(html.contains("labelled \"front in area\""), "caption");
    // Every design of an entry is highlighted in the summary, the dominated one is not.
    let summary = &html[html.find("id=\"summary-table\"").unwrap()..];
    assert_eq!(summary.matches("<tr class=\"front\">").count(), 4);

    // The default front: latency and energy; identical designs are one entry that names the
    // others, in the list and in the plot's legend.
    let d = report(&input("sweep", &runs, &Pareto::default()))
        .unwrap()
        .html;
    assert!(d.contains("<h2>Pareto front: energy vs latency</h2>"));
    assert_eq!(d.matches("class=\"pareto-design\"").count(), 2);
    assert!(!d.contains("front in area"));
    assert!(d.contains("(+1 identical design)") && d.contains("; identical: "));
}

/// What every report needs is an error naming the file and the column; what one part needs
/// leaves that part out, saying which file lacks which column.
#[test]
fn older_files_fail_or_leave_their_part_out_naming_file_and_column() {
    let csv = synthetic_sweep(8);
    // A sweep.csv without latency: nothing can be reported.
    let runs = table(&without(&csv, &["latency_us"]), "old/sweep.csv");
    let e = report(&input("sweep", &runs, &Pareto::default())).unwrap_err();
    assert!(matches!(e, ReportError::MissingColumn { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.starts_with("old/sweep.csv: has no column `latency_us`") && msg.contains("older cdg"),
        "{msg}"
    );
    // A front over area needs area: a sim output has none, and the error says so.
    let area: Pareto = "latency,energy,area".parse().unwrap();
    let sim = table(&without(&csv, &["area_mm2"]), "sim/network.csv");
    let msg = report(&input("sim", &sim, &area)).unwrap_err().to_string();
    assert!(
        msg.contains("sim/network.csv: has no column `area_mm2`")
            && msg.contains("`cdg sim` does not write it"),
        "{msg}"
    );
    // ... while the default front of the same file reports, without a note on area (only
    // on the samples.csv a gated sim output has and this one lacks).
    let r = report(&input("sim", &sim, &Pareto::default())).unwrap();
    assert_eq!(r.left_out.len(), 1, "{:?}", r.left_out);
    assert!(
        r.left_out[0].starts_with("this cdg sim output of a gated workload has no samples.csv"),
        "{:?}",
        r.left_out
    );

    // A sweep.csv without percentiles or batch: the report is drawn, the percentile columns
    // and the distribution are left out with a note naming the file and the columns; batch
    // is no column the report reads, so its absence changes nothing.
    let runs = table(
        &without(
            &csv,
            &[
                "latency_us_p50",
                "latency_us_p95",
                "latency_us_p99",
                "batch",
            ],
        ),
        "old/sweep.csv",
    );
    let r = report(&input("sweep", &runs, &Pareto::default())).unwrap();
    assert_eq!(r.left_out.len(), 2, "{:?}", r.left_out);
    for note in &r.left_out {
        assert!(
            note.starts_with(
                "sweep.csv has no columns `latency_us_p50`, `latency_us_p95`, \
                              `latency_us_p99` (written by an older cdg?"
            ),
            "{note}"
        );
        assert!(
            r.html
                .contains(&format!("<p class=\"note left-out\">{note}.</p>"))
        );
    }
    assert!(!r.html.contains("<th>p50 (µs)</th>"));
    let full = report(&input(
        "sweep",
        &table(&csv, "sweep.csv"),
        &Pareto::default(),
    ))
    .unwrap();
    assert!(full.html.contains("<th>p50 (µs)</th>") && full.left_out.is_empty());
    let no_batch = table(&without(&csv, &["batch"]), "sweep.csv");
    let r = report(&input("sweep", &no_batch, &Pareto::default())).unwrap();
    assert_eq!(r.html, full.html);

    // A gated sim output with a layers.csv of an older cdg, then with a samples.csv without
    // latencies.
    let (layers_text, samples_text) = (
        "workload,support,layer,sample,cycles,cycles_max\nw,compact,conv1,,10,10\n",
        "workload,support,sample\nw,compact,0\n",
    );
    let layers = table(layers_text, "sim/layers.csv");
    let samples = table(samples_text, "sim/samples.csv");
    let default = Pareto::default();
    let mut i = input("sim", &sim, &default);
    i.layers = Some(&layers);
    let r = report(&i).unwrap();
    assert_eq!(r.left_out.len(), 3, "{:?}", r.left_out);
    assert!(r.left_out[0].starts_with(
        "layers.csv has no columns `cycles_dense_policy`, `cycles_ungated`, `energy_pj`"
    ));
    assert!(r.left_out[0].ends_with("the per-layer breakdown is left out"));
    assert!(
        r.left_out[1].contains("has no samples.csv"),
        "{:?}",
        r.left_out
    );
    assert!(r.left_out[2].starts_with("layers.csv has no column `gate_density`"));
    i.samples = Some(&samples);
    let r = report(&i).unwrap();
    assert!(
        r.left_out[1].starts_with("samples.csv has no column `latency_us`"),
        "{:?}",
        r.left_out
    );
}
