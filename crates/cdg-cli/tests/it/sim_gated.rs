//! `cdg sim` on a gated trace under each skip policy (`--set sparsity.support=…`): the CSV
//! figures follow the laws of docs/model.md §4 and equal the library's gated model.

use crate::support::{gated_resnet_trace, root, sim_trace_ok};
use cdg_core::SkipPolicy;
use cdg_io::layout::sim::{ARCH_TOML, NETWORK_CSV};
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
    let (network, masks, trace_dir) = gated_resnet_trace(dir.path(), 3, 11, "sim_gated");
    let arch_path = root().join("arch-configs/os-16x16-int8.toml");
    let mut rows = HashMap::new();
    for policy in SkipPolicy::ALL {
        let out = dir.path().join(policy.as_str());
        let support = format!("sparsity.support={policy}");
        sim_trace_ok(
            &arch_path,
            &trace_dir,
            &out,
            &[
                "--set",
                &support,
                "--set",
                "sparsity.gather_rows_per_cycle=16",
            ],
        );
        let row = network_row(&out.join(NETWORK_CSV));
        // The CLI writes what the library computes.
        let arch = cdg_io::load_arch(&out.join(ARCH_TOML), &[]).unwrap();
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
    // Inactive slots: discarded at full cost under `dense`, clock-gated under the others.
    assert!(num(ClockGate, "macs_clock_gated") > 0.0);
    assert_eq!(num(ClockGate, "macs_discarded"), 0.0);
    assert!(num(Dense, "macs_discarded") > 0.0);
    assert_eq!(num(Dense, "macs_clock_gated"), 0.0);
    for p in SkipPolicy::ALL {
        // Both baselines are the same whatever the policy; the ungated one never loses.
        assert_eq!(num(p, "cycles_dense_policy"), num(Dense, "cycles"), "{p}");
        assert_eq!(
            num(p, "cycles_ungated"),
            num(Dense, "cycles_ungated"),
            "{p}"
        );
        assert!(num(p, "cycles_ungated") <= num(Dense, "cycles"), "{p}");
    }
    assert!(num(Compact, "cond_cycles") < 0.8 * num(Dense, "cond_cycles"));
    assert!(num(Compact, "cycles") < num(Dense, "cycles"));
    assert!(num(Compact, "utilization") > num(Dense, "utilization"));
}
