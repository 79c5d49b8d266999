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
    assert!(t.iter().any(|s| s == "energy vs latency: net"), "{t:?}");
    assert!(t.iter().any(|s| s == "energy vs latency: other"), "{t:?}");
    // Canonical policy order in the legend: dense before clock-gate before compact.
    let at = |label: &str| t.iter().position(|s| s == label).unwrap();
    assert!(at("support = dense") < at("support = clock-gate"));
    assert!(at("support = clock-gate") < at("support = compact"));
    // net: (2, 80) dominates both others; other: a single point.
    assert!(t.iter().any(|s| s == "Pareto front (1 points)"), "{t:?}");
    let svg = reduction(&table(SWEEP, "sweep.csv")).unwrap();
    let t = texts(&svg);
    for label in [
        "dense, block 16x1x1",
        "dense, block 1x1x1",
        "compact, block 16x1x1",
        "cycle reduction = FLOPs reduction",
    ] {
        assert!(t.iter().any(|s| s == label), "{label} in {t:?}");
    }
}

#[test]
fn layer_breakdowns_pick_their_rows() {
    let layers = table(LAYERS, "layers.csv");
    let svg = layer_breakdown(&layers, 1).unwrap();
    let t = texts(&svg);
    assert!(
        t.iter().any(|s| s == "per-layer energy: point 1, net"),
        "{t:?}"
    );
    assert!(t.iter().any(|s| s == "conv1") && !t.iter().any(|s| s == "conv2"));
    let e = layer_breakdown(&layers, 7).unwrap_err().to_string();
    assert_eq!(e, "layers.csv: has no rows for point 7 (points run 0..=1)");
    let svg = layer_breakdown_sim(&layers, "my-run").unwrap();
    assert!(texts(&svg).iter().any(|s| s == "per-layer cycles: my-run"));
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
