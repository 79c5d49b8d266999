//! `cdg plot` and the plots `cdg sweep` draws: the SVGs are parsed as text for the expected
//! series, point counts, legend labels and axis labels with units.

use crate::sweep_fixtures::{fails, ok, s, write_spec};
use cdg_io::layout::{sim, sweep};
use std::path::Path;

const POLICY_GRID: &str = "\
\"array.rows\" = [8, 16, 32]
\"array.dataflow\" = [\"os\", \"ws\"]
\"sparsity.support\" = [\"dense\", \"clock-gate\"]
";

/// The `<circle …/>` elements of an SVG as (r, fill) pairs.
fn circles(svg: &str) -> Vec<(String, String)> {
    svg.lines()
        .filter(|l| l.trim_start().starts_with("<circle"))
        .map(|l| (attr(l, "r"), attr(l, "fill")))
        .collect()
}

fn attr(tag: &str, name: &str) -> String {
    let key = format!(" {name}=\"");
    let start = tag
        .find(&key)
        .map(|i| i + key.len())
        .unwrap_or_else(|| panic!("{name} in {tag}"));
    let end = tag[start..].find('"').unwrap() + start;
    tag[start..end].to_owned()
}

/// The text content of every `<text>` element.
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

fn column(csv_path: &Path, name: &str) -> Vec<String> {
    let mut r = csv::Reader::from_path(csv_path).unwrap();
    let i = r.headers().unwrap().iter().position(|h| h == name).unwrap();
    r.records().map(|rec| rec.unwrap()[i].to_owned()).collect()
}

fn sweep(dir: &Path, grid: &str, layers: bool) -> std::path::PathBuf {
    let spec = write_spec(dir, grid);
    let out = dir.join("out");
    let mut args = vec!["sweep", s(&spec), "--out", s(&out), "--quiet"];
    if layers {
        args.push("--layers");
    }
    ok(&args);
    out
}

#[test]
fn energy_latency_plot_has_every_point_and_the_pareto_front() {
    let dir = tempfile::tempdir().unwrap();
    let out = sweep(dir.path(), POLICY_GRID, false);
    let svg = std::fs::read_to_string(out.join(sweep::ENERGY_LATENCY_SVG)).unwrap();
    let t = texts(&svg);
    for label in [
        "latency (µs, mean over samples)",
        "energy (µJ, mean over samples)",
        "support = dense",
        "support = clock-gate",
    ] {
        assert!(t.iter().any(|x| x == label), "no text `{label}` in {t:?}");
    }
    let latency: Vec<f64> = column(&out.join(sweep::SWEEP_CSV), "latency_us")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    let energy: Vec<f64> = column(&out.join(sweep::SWEEP_CSV), "energy_pj")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    // Non-dominated points by brute force; identical points count once (issue #15).
    let front = (0..latency.len())
        .filter(|&i| {
            let dominated = (0..latency.len()).any(|j| {
                latency[j] <= latency[i]
                    && energy[j] <= energy[i]
                    && (latency[j] < latency[i] || energy[j] < energy[i])
            });
            let repeated = (0..i).any(|j| latency[j] == latency[i] && energy[j] == energy[i]);
            !dominated && !repeated
        })
        .count();
    assert!(front >= 1);
    // Dense rows are filled circles (radius 5, plus one legend swatch); clock-gate rows are
    // hollow squares, so coinciding points of the two policies both stay visible; a ring
    // (radius 9) round each Pareto point.
    let c = circles(&svg);
    let dots: Vec<&(String, String)> = c.iter().filter(|(_, fill)| fill != "none").collect();
    assert_eq!(dots.len(), 6 + 1, "one dot per dense row and the legend's");
    let rings = c
        .iter()
        .filter(|(r, fill)| r == "9" && fill == "none")
        .count();
    assert_eq!(rings, front, "one ring per Pareto-optimal point");
    assert!(
        t.contains(&format!("Pareto front ({front} points)")),
        "{t:?}"
    );
    // Every front point is numbered on the plot and named by its design in the legend.
    let designs: Vec<String> = column(&out.join(sweep::SWEEP_CSV), "arch");
    for k in 1..=front {
        let entry = t
            .iter()
            .find(|x| x.starts_with(&format!("{k}: ")))
            .unwrap_or_else(|| panic!("no legend entry {k} in {t:?}"));
        assert!(
            designs.iter().any(|d| entry.contains(d.as_str())),
            "{entry} names no design"
        );
    }
}

#[test]
fn reduction_plot_has_one_series_per_policy_and_block() {
    let dir = tempfile::tempdir().unwrap();
    let out = sweep(dir.path(), POLICY_GRID, false);
    let svg = std::fs::read_to_string(out.join(sweep::REDUCTION_SVG)).unwrap();
    let t = texts(&svg);
    for label in [
        "FLOPs reduction (×, dense MACs / needed MACs)",
        "cycle reduction vs ungated (×)",
        "Cycle reduction vs FLOPs reduction on net (gate block none)",
        "support = dense",
        "support = clock-gate",
        "cycle reduction = FLOPs reduction",
    ] {
        assert!(t.iter().any(|x| x == label), "no text `{label}` in {t:?}");
    }
    assert!(t.iter().any(|x| x.starts_with("Grey diagonal")), "{t:?}");
    // 6 dense data points + 1 legend marker are filled circles of radius 5.
    assert_eq!(circles(&svg).iter().filter(|(r, _)| r == "5").count(), 7);
}

#[test]
fn per_layer_plot_names_every_layer_of_the_chosen_point() {
    let dir = tempfile::tempdir().unwrap();
    let out = sweep(dir.path(), POLICY_GRID, true);
    let stdout = ok(&["plot", s(&out), "--point", "5"]).stdout;
    assert!(String::from_utf8_lossy(&stdout).contains("layers_point_0005.svg"));
    let svg = std::fs::read_to_string(out.join("layers_point_0005.svg")).unwrap();
    let t = texts(&svg);
    for label in [
        "conv1",
        "conv2",
        "fc",
        "energy (µJ)",
        "cycles",
        "MAC",
        "DRAM",
        "Per-layer energy by component: point 5, net",
        "cycles, ungated baseline (best dense schedule)",
    ] {
        assert!(t.iter().any(|x| x == label), "no text `{label}` in {t:?}");
    }
    let err = fails(&["plot", s(&out), "--point", "99"]);
    assert!(err.contains("point 99"), "{err}");
}

#[test]
fn per_layer_plot_needs_layers_csv_and_plot_needs_a_sweep_dir() {
    let dir = tempfile::tempdir().unwrap();
    let out = sweep(dir.path(), POLICY_GRID, false);
    let err = fails(&["plot", s(&out), "--point", "1"]);
    assert!(err.contains("--layers"), "{err}");
    let err = fails(&["plot", s(dir.path())]);
    assert!(err.contains(sweep::SWEEP_CSV), "{err}");
}

#[test]
fn no_plot_draws_nothing_and_plot_draws_the_same_bytes_as_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), POLICY_GRID);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    ok(&["sweep", s(&spec), "--out", s(&a), "--quiet"]);
    ok(&["sweep", s(&spec), "--out", s(&b), "--no-plot", "--quiet"]);
    assert!(!b.join(sweep::ENERGY_LATENCY_SVG).exists());
    ok(&["plot", s(&b)]);
    for f in [sweep::ENERGY_LATENCY_SVG, sweep::REDUCTION_SVG] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn plot_of_a_sim_output_draws_its_per_layer_breakdown() {
    let dir = tempfile::tempdir().unwrap();
    write_spec(dir.path(), "");
    let sim = dir.path().join("sim");
    ok(&[
        "sim",
        "--arch",
        s(&dir.path().join("base.toml")),
        "--topology",
        s(&dir.path().join("net.csv")),
        "--out",
        s(&sim),
    ]);
    ok(&["plot", s(&sim)]);
    let svg = std::fs::read_to_string(sim.join(sim::LAYERS_SVG)).unwrap();
    let t = texts(&svg);
    for label in ["conv1", "conv2", "fc", "energy (µJ)", "cycles"] {
        assert!(t.iter().any(|x| x == label), "no text `{label}` in {t:?}");
    }
    // Titled by what it shows (workload on design, policy), not by the directory's name.
    assert!(
        t.iter()
            .any(|x| x.starts_with("Per-layer energy by component: net on ")
                && x.contains("policy dense")),
        "{t:?}"
    );
    let err = fails(&["plot", s(&sim), "--point", "0"]);
    assert!(err.contains("cdg sim"), "{err}");
}
