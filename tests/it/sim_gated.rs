//! `cdg sim` on a gated trace under each skip policy (`--set sparsity.support=…`): the CSV
//! figures follow DESIGN §4's laws and equal the library's gated model.

use crate::support::{cdg, root};
use cdg_core::{GateBlock, SkipPolicy};
use std::collections::HashMap;
use std::fs;
use std::path::Path;

fn network_row(path: &Path) -> HashMap<String, String> {
    let text = fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert!(lines.next().is_none(), "one network row");
    header
        .iter()
        .zip(row)
        .map(|(h, v)| (h.to_string(), v.to_string()))
        .collect()
}

#[test]
fn policies_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let network = cdg_sim::models::resnet18_cifar(0.25, 1, Some((4, GateBlock::new(16, 1, 1))));
    let masks = cdg_sim::synth::synth_masks(&network, 0.5, 3, 11).unwrap();
    let trace = cdg_io::Trace {
        network: network.clone(),
        masks: Some(masks.clone()),
        samples: 3,
        provenance: serde_json::json!({"test": "sim_gated"}),
    };
    let trace_dir = dir.path().join("trace");
    cdg_io::write_trace(&trace_dir, &trace, false).unwrap();
    let arch_path = root().join("arch-configs/os-16x16-int8.toml");
    let mut rows = HashMap::new();
    for policy in SkipPolicy::ALL {
        let out = dir.path().join(policy.as_str());
        let run = cdg()
            .args(["sim", "--arch"])
            .arg(&arch_path)
            .arg("--trace")
            .arg(&trace_dir)
            .arg("--out")
            .arg(&out)
            .args(["--set", &format!("sparsity.support={policy}")])
            .args(["--set", "sparsity.gather_cycles_per_fold=0"])
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let row = network_row(&out.join("network.csv"));
        // The CLI writes what the library computes.
        let arch = cdg_io::load_arch(&out.join("arch.toml"), &[]).unwrap();
        let lib = cdg_sim::simulate_network(&arch, &network, Some(&masks)).unwrap();
        assert_eq!(row["cycles"], lib.totals.cycles.get().to_string());
        assert_eq!(row["samples"], "3");
        rows.insert(policy, row);
    }
    let num = |p: SkipPolicy, c: &str| -> f64 { rows[&p][c].parse().unwrap() };
    use SkipPolicy::*;
    for p in SkipPolicy::ALL {
        assert_eq!(num(p, "macs_needed"), num(Dense, "macs_needed"), "{p}");
        assert!(num(p, "flops_reduction") > 1.4, "{p}");
        assert!(num(p, "cycles_max") >= num(p, "cycles"), "{p}");
        assert!(num(p, "gate_ops") > 0.0, "{p}");
    }
    assert_eq!(num(Dense, "macs_executed"), num(Dense, "macs_dense"));
    assert_eq!(num(ClockGate, "cycles"), num(Dense, "cycles"));
    assert!(num(ClockGate, "energy_pj") < num(Dense, "energy_pj"));
    assert!(num(ClockGate, "macs_wasted") > 0.0);
    assert!(num(Compact, "cond_cycles") < 0.8 * num(Dense, "cond_cycles"));
    assert!(num(Compact, "cycles") < num(Dense, "cycles"));
    assert!(num(Compact, "utilization") > num(Dense, "utilization"));
}
