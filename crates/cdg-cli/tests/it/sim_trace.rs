//! `cdg sim --trace`: a gated ResNet-18 CIFAR trace on a shipped design gives one row per layer
//! whose dense figures equal the library's, and SCALE-Sim's report only for topologies.

use crate::support::{gated_resnet_trace, root, sim_trace_ok};
use cdg_io::layout::sim::{ARCH_TOML, COMPUTE_REPORT_CSV, LAYERS_CSV, NETWORK_CSV};
use std::fs;

#[test]
fn trace_run_matches_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let (network, _, trace_dir) = gated_resnet_trace(dir.path(), 2, 7, "sim_trace");
    let arch_path = root().join("arch-configs/ws-32x32-int8.toml");
    let out = dir.path().join("out");
    let stdout = sim_trace_ok(&arch_path, &trace_dir, &out, &[]);
    assert!(
        stdout.contains("layer1.0.conv1") && stdout.contains("total"),
        "{stdout}"
    );
    assert!(!out.join(COMPUTE_REPORT_CSV).exists());

    let layers = fs::read_to_string(out.join(LAYERS_CSV)).unwrap();
    let mut lines = layers.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // The mean over samples: one row per layer.
    assert_eq!(rows.len(), network.len());
    assert!(
        rows.iter()
            .all(|r| r[col("samples")] == "2" && r[col("sample")].is_empty())
    );
    for c in [
        "layer",
        "cycles",
        "utilization",
        "energy_pj",
        "energy_dram_pj",
        "edp_pj_us",
    ] {
        col(c);
    }
    let arch = cdg_io::load_arch(&arch_path, &[]).unwrap();
    let dense = cdg_sim::simulate_network(&arch, &network, None).unwrap();
    let stem = rows.iter().find(|r| r[col("layer")] == "conv1").unwrap();
    assert_eq!(
        stem[col("cycles")].parse::<u64>().unwrap(),
        dense.layers[0].totals.cycles.get(),
        "the ungated stem runs dense under every policy"
    );
    let resolved = cdg_io::load_arch(&out.join(ARCH_TOML), &[]).unwrap();
    assert_eq!(resolved, arch);

    // --per-sample: one row per sample and layer, and per sample in network.csv.
    let per = dir.path().join("per");
    sim_trace_ok(
        &arch_path,
        &trace_dir,
        &per,
        &["--per-sample", "--set", "sparsity.support=compact"],
    );
    let layers = fs::read_to_string(per.join(LAYERS_CSV)).unwrap();
    let samples: Vec<&str> = layers
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(col("sample")).unwrap())
        .collect();
    assert_eq!(samples.len(), 2 * network.len());
    assert_eq!(samples.iter().filter(|s| **s == "1").count(), network.len());
    let networks = fs::read_to_string(per.join(NETWORK_CSV)).unwrap();
    assert_eq!(networks.lines().count(), 1 + 2);
}
