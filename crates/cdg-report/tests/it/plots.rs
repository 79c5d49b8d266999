//! Plots as pure functions of CSV text: the same text gives the same bytes, the series and
//! labels follow the data, and bad text fails naming the file, line and column.

use cdg_report::{
    ReportError, Table, energy_latency, gate_density, layer_breakdown, layer_breakdown_sim,
    reduction,
};
use std::path::Path;

const SWEEP: &str = "\
point,workload,gate_block,support,latency_us,energy_pj,flops_reduction,cycle_reduction_vs_ungated
0,net,16x1x1,dense,4.0,100.0,2.0,1.0
1,net,16x1x1,compact,2.0,80.0,2.0,1.8
2,net,16x1x1,clock-gate,4.0,90.0,2.0,1.0
3,other,1x1x1,dense,9.0,300.0,1.5,1.0
";

const LAYERS: &str = "\
point,workload,layer,sample,cycles,cycles_ungated,energy_mac_pj,energy_dram_pj
0,net,conv1,,100,100,5.0,1.0
0,net,conv2,,50,80,2.0,0.5
1,net,conv1,,60,100,3.0,1.0
";

fn table(text: &str, name: &str) -> Table {
    Table::parse(text.as_bytes(), Path::new(name)).unwrap()
}

/// Text of every `<text>` element.
fn texts(svg: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find("<text") {
        let open_end = rest[i..].find('>').unwrap() + i + 1;
        let close = rest[open_end..].find("</text>").unwrap() + open_end;
        out.push(rest[open_end..close].trim().to_owned());
        rest = &rest[close..];
    }
    out
}

#[test]
fn same_text_gives_the_same_svg_bytes() {
    let a = energy_latency(&table(SWEEP, "a/sweep.csv")).unwrap();
    let b = energy_latency(&table(SWEEP, "b/sweep.csv")).unwrap();
    assert_eq!(a, b, "the source name is not part of the picture");
    assert_eq!(
        reduction(&table(SWEEP, "x")).unwrap(),
        reduction(&table(SWEEP, "x")).unwrap()
    );
}

#[test]
fn sweep_plots_have_a_panel_per_workload_and_a_series_per_policy() {
    let svg = energy_latency(&table(SWEEP, "sweep.csv")).unwrap();
    let t = texts(&svg);
    assert!(
        t.iter().any(|s| s.starts_with("Energy vs latency on net")),
        "{t:?}"
    );
    assert!(
        t.iter()
            .any(|s| s.starts_with("Energy vs latency on other")),
        "{t:?}"
    );
    // Canonical policy order in the legend: dense before clock-gate before compact.
    let at = |label: &str| t.iter().position(|s| s == label).unwrap();
    assert!(at("support = dense") < at("support = clock-gate"));
    assert!(at("support = clock-gate") < at("support = compact"));
    // net: (2, 80) dominates both others; other: a single point. Every front point is
    // numbered on the plot and named (design, policy, point) in the legend column.
    assert!(t.iter().any(|s| s == "Pareto front (1 points)"), "{t:?}");
    assert!(
        t.iter().any(|s| s == "1: row 2, compact (point 1)"),
        "{t:?}"
    );
    assert!(t.iter().any(|s| s == "1: row 4, dense (point 3)"), "{t:?}");
    // Units in µJ and µs; titled by what the plot shows.
    assert!(t.iter().any(|s| s.starts_with("energy (µJ")), "{t:?}");
    assert!(
        t.iter()
            .any(|s| s == "Energy vs latency on net: 3 designs, 1 on the Pareto front"),
        "{t:?}"
    );
    let svg = reduction(&table(SWEEP, "sweep.csv")).unwrap();
    let t = texts(&svg);
    for label in [
        "Cycle reduction vs FLOPs reduction on net (gate block 16x1x1)",
        "Cycle reduction vs FLOPs reduction on other (gate block 1x1x1)",
        "support = dense",
        "support = compact",
        "cycle reduction = FLOPs reduction",
    ] {
        assert!(t.iter().any(|s| s == label), "{label} in {t:?}");
    }
    assert!(t.iter().any(|s| s.starts_with("Grey diagonal")), "{t:?}");
}

/// The legend of a scatter plot lies beside the data, never over it: every legend text starts
/// right of the plotting column.
#[test]
fn legends_sit_outside_the_data() {
    for svg in [
        energy_latency(&table(SWEEP, "sweep.csv")).unwrap(),
        reduction(&table(SWEEP, "sweep.csv")).unwrap(),
    ] {
        let mut rest = svg.as_str();
        let mut seen = 0;
        while let Some(i) = rest.find("<text") {
            let open_end = rest[i..].find('>').unwrap() + i;
            let tag = &rest[i..open_end];
            let close = rest[open_end..].find("</text>").unwrap() + open_end;
            let body = rest[open_end + 1..close].trim();
            if body.starts_with("support = ") || body.starts_with("Pareto front") {
                let x: f64 = tag
                    .split("x=\"")
                    .nth(1)
                    .and_then(|t| t.split('"').next())
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(
                    x >= 640.0,
                    "legend entry `{body}` at x = {x} overlaps the plot"
                );
                seen += 1;
            }
            rest = &rest[close..];
        }
        assert!(seen >= 2, "no legend entries found");
    }
}

/// Issue #15: a `--per-sample` layers.csv is drawn as a distribution (mean and range per
/// layer), not as one panel per sample.
#[test]
fn per_sample_layers_are_drawn_as_a_distribution() {
    let mut csv = String::from("layer,sample,cycles,cycles_ungated,energy_mac_pj\n");
    for s in 0..64 {
        for (l, c) in [("conv1", 100 + s), ("conv2", 50 + 2 * s)] {
            csv.push_str(&format!("{l},{s},{c},120,5.0\n"));
        }
    }
    let svg = layer_breakdown_sim(&table(&csv, "layers.csv"), "net on os-16x16").unwrap();
    let height: f64 = svg
        .split("height=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(height < 1000.0, "{height} px tall");
    let t = texts(&svg);
    assert_eq!(t.iter().filter(|s| *s == "conv1").count(), 2, "{t:?}");
    assert!(t.iter().any(|s| s == "min to max over samples"), "{t:?}");
    assert!(t.iter().any(|s| s.contains("mean of 64 samples")), "{t:?}");
}

#[test]
fn layer_breakdowns_pick_their_rows() {
    let layers = table(LAYERS, "layers.csv");
    let svg = layer_breakdown(&layers, 1).unwrap();
    let t = texts(&svg);
    assert!(
        t.iter()
            .any(|s| s == "Per-layer energy by component: point 1, net"),
        "{t:?}"
    );
    assert!(t.iter().any(|s| s == "conv1") && !t.iter().any(|s| s == "conv2"));
    let e = layer_breakdown(&layers, 7).unwrap_err().to_string();
    assert_eq!(e, "layers.csv: has no rows for point 7 (points run 0..=1)");
    let svg = layer_breakdown_sim(&layers, "my-run").unwrap();
    assert!(
        texts(&svg)
            .iter()
            .any(|s| s == "Per-layer cycles vs ungated: my-run")
    );
}

#[test]
fn bad_text_fails_naming_file_line_and_column() {
    let no_col = table("workload,support\nnet,dense\n", "d/sweep.csv");
    let e = energy_latency(&no_col).unwrap_err();
    assert!(matches!(e, ReportError::NoColumn { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "d/sweep.csv: has no column `latency_us`; it has workload, support"
    );
    let bad = SWEEP.replace("2.0,80.0", "fast,80.0");
    let e = energy_latency(&table(&bad, "sweep.csv")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "sweep.csv: line 3: column `latency_us` holds `fast`; expected a number"
    );
    let e = Table::parse(b"a,b\n1,2,3\n", Path::new("ragged.csv")).unwrap_err();
    assert!(
        e.to_string().starts_with("ragged.csv: malformed CSV"),
        "{e}"
    );
}

#[test]
fn gate_density_needs_a_gated_layer() {
    let net = cdg_core::Network::new(vec![cdg_core::Layer {
        shape: cdg_core::LayerShape::fc("fc", 16, 10).unwrap(),
        gate: None,
    }])
    .unwrap();
    let masks = cdg_core::MaskSet::new(&net, 1, Vec::new()).unwrap();
    let e = gate_density(&net, &masks).unwrap_err();
    assert!(matches!(e, ReportError::NoGatedLayers), "{e:?}");
}

/// Issue #16, 1: `cdg plot` spun forever at 100 % CPU on a non-finite value. A NaN or an
/// infinity is refused naming line and column; values whose axis range overflows are refused as
/// undrawable; nothing loops (each call runs on a thread that must finish in seconds).
#[test]
fn non_finite_and_overflowing_values_are_refused_not_looped_on() {
    let finishes = |csv: String, layers: bool| -> Result<String, String> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Since issue #26, 9 the table itself refuses non-finite cells as it is read.
            let r = Table::parse(csv.as_bytes(), std::path::Path::new("x.csv")).and_then(|t| {
                if layers {
                    cdg_report::layer_breakdown(&t, 0)
                } else {
                    cdg_report::energy_latency(&t).and_then(|_| cdg_report::reduction(&t))
                }
            });
            let _ = tx.send(r.map_err(|e| e.to_string()));
        });
        rx.recv_timeout(std::time::Duration::from_secs(20))
            .expect("the plot finishes")
    };
    let head = "workload,gate_block,support,latency_us,energy_pj,flops_reduction,cycle_reduction_vs_ungated\n";
    for bad in ["inf", "-inf", "NaN"] {
        let e = finishes(
            format!("{head}n,none,dense,1.0,{bad},1.0,1.0\nn,none,dense,2.0,3.0,1.0,1.0\n"),
            false,
        )
        .unwrap_err();
        assert!(
            e.contains(&format!("line 2: column `energy_pj` holds `{bad}`")),
            "{e}"
        );
    }
    // An overflowing range (on a column that may be negative: a latency may not, issue #26).
    let e = finishes(
        format!("{head}n,none,dense,1.0,1.0,1.7e308,1.0\nn,none,dense,2.0,3.0,-1.7e308,1.0\n"),
        false,
    )
    .unwrap_err();
    assert!(e.contains("cannot draw the"), "{e}");
    let e = finishes(
        format!("{head}n,none,dense,1.0,1.0,1.0,1.0\nn,none,dense,-1.7e308,3.0,1.0,1.0\n"),
        false,
    )
    .unwrap_err();
    assert!(
        e.contains(
            "column `latency_us` holds `-1.7e308`; a count, size, time or energy is never negative"
        ),
        "{e}"
    );
    let e = finishes(
        format!(
            "{head}n,none,dense,1e300,1.0,1.0,1.0\nn,none,dense,1.0000000000001e300,2.0,1.0,1.0\n"
        ),
        false,
    )
    .unwrap_err();
    assert!(e.contains("differ too little"), "{e}");
    // Per-layer plots: a layer's cycles overflow the padded axis.
    let e = finishes(
        "point,workload,layer,cycles,energy_mac_pj,energy_dram_pj\n\
         0,n,conv1,1.7e308,1.0,1.0\n"
            .to_owned(),
        true,
    )
    .unwrap_err();
    assert!(e.contains("cannot draw the cycles axis"), "{e}");
    // Ordinary values still draw.
    finishes(
        format!("{head}n,none,dense,1.0,2.0,1.0,1.0\nn,none,compact,2.0,3.0,1.5,1.2\n"),
        false,
    )
    .unwrap();
}
