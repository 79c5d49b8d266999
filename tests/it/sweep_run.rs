//! `cdg run`, the main job: every shipped design under every skip policy over the traces, with
//! CSVs, plots and the summary table. By default it trains two small CDG models and simulates
//! their traces; with `--no-train` and no shipped traces it uses synthetic traces and says so.

use crate::support::root;
use crate::support::{fails, ok, s};
use cdg_io::layout::run::{SUMMARY_CSV, TRACES_DIR, gate_density_svg, train_dir};
use cdg_io::layout::sweep::{CONFIGS_DIR, ENERGY_LATENCY_SVG, REDUCTION_SVG, SWEEP_CSV};
use cdg_io::layout::trace::{MANIFEST_FILE, MASKS_FILE};
use cdg_io::layout::train::{SUMMARY_JSON, TRACE_DIR};

#[test]
fn run_sweeps_every_design_and_policy_and_says_the_traces_are_synthetic() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let configs = root().join("arch-configs");
    let designs = std::fs::read_dir(&configs)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "toml")
        })
        .count();
    assert!(designs >= 4, "the repository ships at least four designs");
    let empty_traces = dir.path().join("no-traces");
    let output = ok(&[
        "run",
        "--no-train",
        "--out",
        s(&out),
        "--arch-configs",
        s(&configs),
        "--traces",
        s(&empty_traces),
        "--samples",
        "2",
        "--quiet",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SYNTHETIC"), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for word in [
        "FLOPs red.",
        "cycle reduction",
        "energy saving",
        "vs ungated",
        "vs dense",
        "utilization",
        "compact",
        "tile-skip",
    ] {
        assert!(stdout.contains(word), "`{word}` not in: {stdout}");
    }

    let rows = |name: &str| -> Vec<csv::StringRecord> {
        csv::Reader::from_path(out.join(name))
            .unwrap()
            .records()
            .map(Result::unwrap)
            .collect()
    };
    // designs × 4 policies × 2 traces (structured and unstructured).
    assert_eq!(rows(SWEEP_CSV).len(), designs * 4 * 2);
    let summary = rows(SUMMARY_CSV);
    assert_eq!(summary.len(), designs * 4 * 2);
    // The dense policy saves nothing against itself.
    let mut r = csv::Reader::from_path(out.join(SUMMARY_CSV)).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    for row in &summary {
        if &row[col("support")] == "dense" {
            assert_eq!(&row[col("energy_saving_vs_dense_policy")], "0.0");
            // The ungated baseline never loses to the `dense` policy.
            assert!(
                row[col("cycle_reduction_vs_ungated")]
                    .parse::<f64>()
                    .unwrap()
                    <= 1.0
            );
            assert!(row[col("energy_saving_vs_ungated")].parse::<f64>().unwrap() <= 0.0);
        }
    }
    for f in [
        ENERGY_LATENCY_SVG.to_owned(),
        REDUCTION_SVG.to_owned(),
        gate_density_svg("synthetic-structured"),
        gate_density_svg("synthetic-unstructured"),
        format!("{TRACES_DIR}/synthetic-structured/{MANIFEST_FILE}"),
        format!("{TRACES_DIR}/synthetic-unstructured/{MASKS_FILE}"),
    ] {
        assert!(out.join(&f).exists(), "{f} missing");
    }
    assert_eq!(
        std::fs::read_dir(out.join(CONFIGS_DIR)).unwrap().count(),
        designs * 4
    );
}

#[test]
fn run_trains_structured_and_unstructured_cdg_models_and_simulates_their_traces() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let output = ok(&[
        "run",
        "--out",
        s(&out),
        "--arch-configs",
        s(&root().join("arch-configs")),
        "--init-from",
        s(&root().join("models/simclr-resnet18-w0.25-fmnist.cdgckpt")),
        "--epochs",
        "1",
        "--train-images",
        "64",
        "--samples",
        "2",
        "--no-plot",
        "--quiet",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("SYNTHETIC"), "{stderr}");
    // Each model's kNN is printed beside the floor, after training and above its table.
    let stdout = String::from_utf8_lossy(&output.stdout);
    for name in ["structured", "unstructured"] {
        assert!(
            stderr.contains(&format!("CDG ({name} gates): kNN ")),
            "{stderr}"
        );
        let header = stdout
            .lines()
            .find(|l| l.starts_with(&format!("cdg-{name} (")))
            .unwrap_or_else(|| panic!("no table for {name}: {stdout}"));
        assert!(header.contains("random-init floor"), "{header}");
    }
    for granularity in ["structured", "unstructured"] {
        let trace = out.join(train_dir(granularity)).join(TRACE_DIR);
        let manifest = std::fs::read_to_string(trace.join(MANIFEST_FILE)).unwrap();
        assert!(manifest.contains("cdg-trace"), "{manifest}");
        assert!(
            out.join(train_dir(granularity))
                .join(SUMMARY_JSON)
                .is_file()
        );
    }
    let summary = std::fs::read_to_string(out.join(SUMMARY_CSV)).unwrap();
    for name in ["cdg-structured", "cdg-unstructured"] {
        let rows: Vec<&str> = summary.lines().filter(|l| l.contains(name)).collect();
        // Every shipped design under all four policies.
        assert!(rows.len() >= 16, "{name}: {summary}");
        // A trained, calibrated model at target 0.5 skips real work: FLOPs fall.
        let flops: f64 = rows[0].split(',').nth(3).unwrap().parse().unwrap();
        assert!(flops > 1.1, "{name}: FLOPs reduction {flops}");
    }
}

#[test]
fn run_without_its_backbone_says_where_it_looked_and_how_to_go_without() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.cdgckpt");
    let err = fails(&[
        "run",
        "--out",
        s(&dir.path().join("results")),
        "--arch-configs",
        s(&root().join("arch-configs")),
        "--init-from",
        s(&missing),
    ]);
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(err.contains("--from-scratch"), "{err}");
}
