//! Gate-density heatmaps: one panel per gated layer, coloured cells, a labelled colour bar.

use crate::support::root;
use crate::sweep_fixtures::{ok, s};
use cdg_io::layout::trace::GATE_DENSITY_SVG;

#[test]
fn heatmap_has_a_panel_per_gated_layer() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    ok(&[
        "run",
        "--no-train",
        "--out",
        s(&out),
        "--arch-configs",
        s(&root().join("arch-configs")),
        "--traces",
        s(&dir.path().join("none")),
        "--samples",
        "1",
        "--quiet",
    ]);
    let svg = std::fs::read_to_string(out.join("gate_density_synthetic-structured.svg")).unwrap();
    // ResNet-18 CIFAR gates the 16 3×3 convolutions inside its residual blocks.
    let captions: Vec<&str> = svg
        .lines()
        .filter(|l| l.starts_with("layer") && l.contains(": density "))
        .collect();
    assert_eq!(captions.len(), 16, "{captions:?}");
    assert!(
        captions[0].starts_with("layer1.0.conv1: density 0.5"),
        "{captions:?}"
    );
    assert!(svg.contains("gate density (fraction of gates on, over samples and channel blocks)"));
    assert!(svg.contains("gate-block column (32 blocks)"));
    // One cell per spatial gate block: stage 1 is 32×32 blocks, stage 4 is 4×4 (4 layers each,
    // as are stages 2 and 3 at 16×16 and 8×8), plus 50 colour-bar steps. With one sample and
    // 16-channel blocks most cells take one of a few densities.
    let cells = 4 * (32 * 32 + 16 * 16 + 8 * 8 + 4 * 4);
    let filled_rects = svg
        .lines()
        .filter(|l| {
            l.starts_with("<rect")
                && !l.contains("fill=\"#FFFFFF\"")
                && !l.contains("fill=\"none\"")
        })
        .count();
    assert_eq!(filled_rects, cells + 50);
}

#[test]
fn inspect_plot_draws_the_heatmap_into_out_or_where_asked() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    ok(&[
        "masks",
        "synth",
        "--network",
        "resnet18-cifar",
        "--width",
        "0.25",
        "--density",
        "0.25",
        "--gate-block",
        "16,2,2",
        "--samples",
        "3",
        "--out",
        s(&trace),
    ]);
    // Regression (issue #15): the plot goes to --out, never into the trace directory.
    let heat = dir.path().join("heat");
    ok(&["inspect", s(&trace), "--plot", "--out", s(&heat)]);
    assert!(!trace.join(GATE_DENSITY_SVG).exists());
    let svg = std::fs::read_to_string(heat.join(GATE_DENSITY_SVG)).unwrap();
    let captions = svg
        .lines()
        .filter(|l| l.starts_with("layer") && l.contains(": density 0.25"))
        .count();
    assert_eq!(captions, 16, "every gated layer at density 0.25");
    // 2×2 spatial blocks halve the grid: stage 1 is 16×16 blocks.
    assert!(svg.contains("gate-block column (16 blocks)"));
    let elsewhere = dir.path().join("plots/heat.svg");
    let arg = format!("--plot={}", s(&elsewhere));
    let json = ok(&["inspect", &arg, "--json", s(&trace)]).stdout;
    assert!(elsewhere.exists());
    // JSON on stdout stays parseable: the plot path goes to stderr.
    serde_json::from_slice::<serde_json::Value>(&json).unwrap();
}
