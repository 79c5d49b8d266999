//! The main job's grid (every design under every skip policy), its summary against the dense
//! run of each design, and its synthetic traces.

use crate::fixtures::{BASE, TOPOLOGY};
use cdg_core::SkipPolicy;
use cdg_io::layout::run::SUMMARY_CSV;
use cdg_io::layout::sweep::{ENERGY_LATENCY_SVG, LAYERS_CSV, SWEEP_CSV};
use cdg_sweep::{PolicyGrid, Silent, SyntheticTraces, Workload, synthetic_traces};

fn designs(dir: &std::path::Path) -> PolicyGrid {
    std::fs::write(dir.join("b-os.toml"), BASE).unwrap();
    std::fs::write(
        dir.join("a-ws.toml"),
        BASE.replace("dataflow = \"os\"", "dataflow = \"ws\""),
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "not a design").unwrap();
    PolicyGrid::load(dir).unwrap()
}

#[test]
fn every_design_runs_under_every_policy_against_its_dense_run() {
    let dir = tempfile::tempdir().unwrap();
    let grid = designs(dir.path());
    assert_eq!(grid.designs, ["a-ws", "b-os"]);
    assert_eq!(grid.grid.points.len(), 2 * SkipPolicy::ALL.len());
    assert_eq!(grid.grid.keys, ["design", "sparsity.support"]);
    assert_eq!(grid.grid.points[1].labels, ["a-ws", "clock-gate"]);

    let net = synthetic_traces(&SyntheticTraces {
        width: 0.25,
        density: 0.5,
        samples: 2,
        seed: 1,
    })
    .unwrap();
    let workloads: Vec<Workload> = net
        .into_iter()
        .map(|(name, t)| Workload::new(name, t.network, t.masks, t.samples))
        .collect();
    let run = grid.run(&workloads, false, true, &Silent).unwrap();
    assert_eq!(run.summary.len(), 8 * 2);
    for r in &run.summary {
        if r.support == "dense" {
            assert_eq!(r.energy_saving_vs_dense_policy, 0.0, "{r:?}");
            assert_eq!(r.cycle_reduction_vs_dense_policy, 1.0, "{r:?}");
            assert!(r.cycle_reduction_vs_ungated <= 1.0, "{r:?}");
            assert!(r.energy_saving_vs_ungated <= 0.0, "{r:?}");
        }
        assert!(
            r.energy_saving_vs_dense_policy < 1.0 && r.flops_reduction >= 1.0,
            "{r:?}"
        );
        assert!(
            r.energy_saving_vs_ungated <= r.energy_saving_vs_dense_policy + 1e-12,
            "{r:?}"
        );
    }
    // Compact skipping saves energy on structured gates.
    let compact = run
        .summary
        .iter()
        .find(|r| r.support == "compact" && r.workload == "synthetic-structured")
        .unwrap();
    assert!(compact.energy_saving_vs_dense_policy > 0.0, "{compact:?}");
    let summary = std::str::from_utf8(run.outputs.get(SUMMARY_CSV).unwrap()).unwrap();
    assert!(summary.starts_with(
        "design,support,workload,flops_reduction,cycle_reduction_vs_ungated,\
         cycle_reduction_vs_dense_policy,energy_saving_vs_ungated,energy_saving_vs_dense_policy,\
         utilization,latency_us,energy_pj\n"
    ));
    assert_eq!(summary.lines().count(), 1 + 16);
    assert!(run.outputs.get(SWEEP_CSV).is_some());
    assert!(run.outputs.get(LAYERS_CSV).is_none());
    assert!(run.outputs.get(ENERGY_LATENCY_SVG).is_some());
}

#[test]
fn synthetic_traces_are_reproducible() {
    let opts = SyntheticTraces {
        width: 0.25,
        density: 0.3,
        samples: 3,
        seed: 7,
    };
    let a = synthetic_traces(&opts).unwrap();
    let b = synthetic_traces(&opts).unwrap();
    assert_eq!(a, b);
    assert_eq!(a[0].0, "synthetic-structured");
    assert_eq!(a[1].0, "synthetic-unstructured");
    let bad = synthetic_traces(&SyntheticTraces {
        density: 1.5,
        ..opts
    })
    .unwrap_err();
    assert!(bad.to_string().contains("synthetic-structured"), "{bad}");
}

#[test]
fn a_directory_without_designs_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("net.csv"), TOPOLOGY).unwrap();
    let e = PolicyGrid::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("holds no arch-config *.toml files"), "{e}");
    let e = PolicyGrid::load(&dir.path().join("missing"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot list arch configs in"), "{e}");
}
