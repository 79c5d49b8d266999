//! `SweepPlan`: validation before any simulation, points in order, the rendered files, what
//! shards leave out, and the Pareto tables.

use crate::fixtures::{GRID, write_spec};
use cdg_io::layout::sweep::{
    CONFIGS_DIR, ENERGY_LATENCY_SVG, LAYERS_CSV, REDUCTION_SVG, SHARD_JSON, SPEC_TOML, SWEEP_CSV,
};
use cdg_io::sweep::Shard;
use cdg_report::Pareto;
use cdg_sweep::{Progress, Silent, SweepError, SweepOptions, SweepPlan, pareto_by_workload};
use std::path::PathBuf;

/// An error and its sources, one line.
fn anyhow_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
use std::sync::atomic::{AtomicU64, Ordering};

const ALL: SweepOptions = SweepOptions {
    layers: true,
    plots: true,
};

/// Counts progress calls.
#[derive(Default)]
struct Count {
    total: AtomicU64,
    done: AtomicU64,
    finished: AtomicU64,
}

impl Progress for Count {
    fn start(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }
    fn advance(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }
    fn finish(&self) {
        self.finished.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn a_whole_sweep_renders_every_file_in_point_order() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), GRID);
    let plan = SweepPlan::load(&spec, Shard::ALL, ALL).unwrap();
    assert_eq!(plan.grid().total, 12);
    assert_eq!(
        plan.grid().keys,
        ["array.rows", "array.dataflow", "sparsity.support"]
    );
    assert_eq!(plan.workloads()[0].name, "net");
    assert_eq!(plan.workloads()[0].gate_block, "none");
    let count = Count::default();
    let run = plan.run(&count).unwrap();
    assert_eq!(run.rows, 12);
    assert_eq!(count.total.load(Ordering::Relaxed), 12);
    assert_eq!(count.done.load(Ordering::Relaxed), 12);
    assert_eq!(count.finished.load(Ordering::Relaxed), 1);

    let csv = String::from_utf8(run.outputs.get(SWEEP_CSV).unwrap().to_vec()).unwrap();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("point,array.rows,array.dataflow,sparsity.support,workload,gate_block,support,area_mm2,arch,")
    );
    // Last key fastest: point 1 is rows 8, os, compact; point 2 is rows 8, ws, dense.
    let cells: Vec<Vec<&str>> = lines.map(|l| l.split(',').take(4).collect()).collect();
    assert_eq!(cells.len(), 12);
    assert_eq!(cells[1], ["1", "8", "os", "compact"]);
    assert_eq!(cells[2], ["2", "8", "ws", "dense"]);
    assert_eq!(cells[11], ["11", "32", "ws", "compact"]);
    let layers = String::from_utf8(run.outputs.get(LAYERS_CSV).unwrap().to_vec()).unwrap();
    assert_eq!(layers.lines().count(), 1 + 12 * 3, "three layers per point");
    for name in [SPEC_TOML, SHARD_JSON, ENERGY_LATENCY_SVG, REDUCTION_SVG] {
        assert!(run.outputs.get(name).is_some(), "{name}");
    }
    assert_eq!(
        run.outputs.get(SPEC_TOML).unwrap(),
        std::fs::read(&spec).unwrap()
    );
    let config = run
        .outputs
        .get(PathBuf::from(CONFIGS_DIR).join("point-0011.toml"))
        .unwrap();
    let config = std::str::from_utf8(config).unwrap();
    assert!(config.contains("rows = 32") && config.contains("support = \"compact\""));
    // The plots are drawn from the CSV text alone.
    assert_eq!(
        run.outputs.get(ENERGY_LATENCY_SVG).unwrap(),
        cdg_sweep::sweep_plots(csv.as_bytes())
            .unwrap()
            .get(ENERGY_LATENCY_SVG)
            .unwrap()
    );
    // Committed over an earlier run's directory, the earlier per-point plots go (they derive
    // from the old data); layers.csv and the plots are rewritten.
    let out = dir.path().join("out");
    let mut earlier = run.outputs.clone();
    earlier.add("layers_point_0003.svg", b"<svg/>".to_vec());
    cdg_io::output::write_outputs(&out, &earlier).unwrap();
    cdg_io::output::write_outputs(&out, &run.outputs).unwrap();
    assert!(!out.join("layers_point_0003.svg").exists());
    assert!(out.join(LAYERS_CSV).exists() && out.join(ENERGY_LATENCY_SVG).exists());
}

#[test]
fn a_shard_runs_its_points_and_draws_no_plots() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), GRID);
    let plan = SweepPlan::load(&spec, "2/5".parse().unwrap(), ALL).unwrap();
    let points: Vec<usize> = plan.grid().points.iter().map(|p| p.index).collect();
    assert_eq!(points, [1, 6, 11]);
    assert!(!plan.draws_plots());
    let run = plan.run(&Silent).unwrap();
    assert!(run.outputs.get(ENERGY_LATENCY_SVG).is_none());
    // Over a whole run's directory, the shard leaves none of the whole run's plots behind.
    let out = dir.path().join("out");
    let whole = SweepPlan::load(&spec, cdg_io::sweep::Shard::ALL, ALL)
        .unwrap()
        .run(&Silent)
        .unwrap();
    cdg_io::output::write_outputs(&out, &whole.outputs).unwrap();
    assert!(out.join(REDUCTION_SVG).exists());
    cdg_io::output::write_outputs(&out, &run.outputs).unwrap();
    assert!(!out.join(REDUCTION_SVG).exists());
    let info = plan.info();
    assert_eq!((info.shard, info.shards, info.points), (2, 5, 12));
    assert!(info.plots, "the merge of the shards draws them");
    let configs: Vec<String> = run
        .outputs
        .files()
        .iter()
        .filter(|f| f.name.starts_with(CONFIGS_DIR))
        .map(|f| f.name.display().to_string())
        .collect();
    assert_eq!(
        configs,
        [
            "configs/point-0001.toml",
            "configs/point-0006.toml",
            "configs/point-0011.toml"
        ]
    );
}

#[test]
fn bad_grid_values_fail_before_any_simulation_naming_spec_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "\"array.rows\" = [8, 0]\n");
    let e = SweepPlan::load(&spec, Shard::ALL, ALL).unwrap_err();
    assert!(matches!(e, SweepError::Spec(_)), "{e:?}");
    let e = e.to_string();
    assert!(
        e.contains("spec.toml") && e.contains("array.rows") && e.contains('0'),
        "{e}"
    );
}

/// Column `name` of every data row of CSV text.
fn column(csv: &str, name: &str) -> Vec<String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let i = header.iter().position(|h| *h == name).unwrap();
    lines
        .map(|l| l.split(',').nth(i).unwrap().to_owned())
        .collect()
}

#[test]
fn nm_topologies_run_as_in_cdg_sim_and_duplicate_workloads_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("base.toml"), crate::fixtures::BASE).unwrap();
    // The same layer dense and 2:4 sparse (SCALE-Sim's layer-wise N:M, weight-stationary).
    std::fs::write(
        dir.path().join("nm.csv"),
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides, Sparsity,\n\
         conv1, 8, 8, 3, 3, 8, 8, 1, 2:4,\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("dense.csv"),
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n\
         conv1, 8, 8, 3, 3, 8, 8, 1,\n",
    )
    .unwrap();
    let spec = dir.path().join("spec.toml");
    std::fs::write(
        &spec,
        "base = \"base.toml\"\ntopologies = [\"nm.csv\", \"dense.csv\"]\n\
         [grid]\n\"array.dataflow\" = [\"ws\"]\n",
    )
    .unwrap();
    let plan = SweepPlan::load(&spec, Shard::ALL, ALL).unwrap();
    assert!(plan.workloads()[0].layer_opts[0].weight_sparsity.is_some());
    let run = plan.run(&Silent).unwrap();
    let csv = String::from_utf8(run.outputs.get(SWEEP_CSV).unwrap().to_vec()).unwrap();
    assert_eq!(column(&csv, "workload"), ["nm", "dense"]);
    let num =
        |c: &str| -> Vec<f64> { column(&csv, c).iter().map(|v| v.parse().unwrap()).collect() };
    // Same dense GEMM, half the weights streamed: fewer MACs needed and fewer cycles.
    let (dense, needed, cycles) = (num("macs_dense"), num("macs_needed"), num("cycles"));
    assert_eq!(dense[0], dense[1]);
    assert_eq!(needed[1], dense[1]);
    assert!(needed[0] < needed[1], "{csv}");
    assert!(cycles[0] < cycles[1], "{csv}");
    // The sweep's row is what cdg sim computes for the topology (one engine).
    let nm = cdg_sweep::Workload::topology(&dir.path().join("nm.csv"), true).unwrap();
    let arch = plan.grid().points[0].arch.clone();
    let alone = cdg_sweep::simulate(0, &arch, &nm).unwrap();
    assert_eq!(needed[0], alone.network.counters.macs_needed as f64);
    // On an output-stationary design the N:M layer is an error naming the point and layer.
    std::fs::write(&spec, "base = \"base.toml\"\ntopologies = [\"nm.csv\"]\n").unwrap();
    let e = SweepPlan::load(&spec, Shard::ALL, ALL)
        .unwrap()
        .run(&Silent)
        .unwrap_err();
    let e = anyhow_chain(&e);
    assert!(e.contains("grid point 0") && e.contains("conv1"), "{e}");

    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    std::fs::write(dir.path().join("a.csv"), crate::fixtures::TOPOLOGY).unwrap();
    std::fs::write(dir.path().join("b/a.csv"), crate::fixtures::TOPOLOGY).unwrap();
    std::fs::write(
        &spec,
        "base = \"base.toml\"\ntopologies = [\"a.csv\", \"b/a.csv\"]\n",
    )
    .unwrap();
    let e = SweepPlan::load(&spec, Shard::ALL, ALL)
        .unwrap_err()
        .to_string();
    assert!(e.contains("two workloads are named `a`"), "{e}");
}

#[test]
fn pareto_tables_list_the_front_fastest_first() {
    let csv = "\
point,array.rows,workload,latency_us,energy_pj,area_mm2
0,8,net,4.0,10.0,1.0
1,16,net,2.0,20.0,2.0
2,32,net,3.0,30.0,3.0
3,8,other,1.0,1.0,1.0
";
    let keys = vec!["array.rows".to_owned()];
    let fronts = pareto_by_workload(csv.as_bytes(), &keys, &Pareto::default()).unwrap();
    assert_eq!(fronts.len(), 2);
    assert_eq!((fronts[0].workload.as_str(), fronts[0].designs), ("net", 3));
    let points: Vec<&str> = fronts[0].front.iter().map(|d| d.point.as_str()).collect();
    assert_eq!(points, ["1", "0"], "point 2 is dominated by point 1");
    assert_eq!(
        fronts[0].front[0].grid_values,
        [("array.rows".to_owned(), "16".to_owned())]
    );
    assert_eq!(fronts[1].front.len(), 1);
    assert!(
        fronts[0]
            .front
            .iter()
            .all(|d| d.same.is_empty() && d.on_energy_latency)
    );
    let e = pareto_by_workload(
        csv.as_bytes(),
        &["array.cols".to_owned()],
        &Pareto::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("array.cols"), "{e}");
}

#[test]
fn pareto_tables_over_area_keep_smaller_designs_and_name_identical_ones() {
    // 2 is dominated in latency and energy by 1 but smaller; 3 is identical to 0 in all
    // three objectives; 4 is identical to 0 in latency and energy only, and larger.
    let csv = "\
point,array.rows,workload,latency_us,energy_pj,area_mm2
0,8,net,4.0,10.0,1.0
1,16,net,2.0,20.0,2.0
2,32,net,3.0,30.0,0.5
3,8,net,4.0,10.0,1.0
4,8,net,4.0,10.0,7.0
";
    let keys = vec!["array.rows".to_owned()];
    let area: Pareto = "latency,energy,area".parse().unwrap();
    let f = &pareto_by_workload(csv.as_bytes(), &keys, &area).unwrap()[0];
    let entries: Vec<(&str, Vec<&str>, bool)> = f
        .front
        .iter()
        .map(|d| {
            (
                d.point.as_str(),
                d.same.iter().map(String::as_str).collect(),
                d.on_energy_latency,
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("1", vec![], true),
            ("2", vec![], false),
            ("0", vec!["3"], true)
        ]
    );
    // Over latency and energy, 0, 3 and 4 are one entry; 2 is off the front.
    let f = &pareto_by_workload(csv.as_bytes(), &keys, &Pareto::default()).unwrap()[0];
    let entries: Vec<(&str, Vec<&str>)> = f
        .front
        .iter()
        .map(|d| {
            (
                d.point.as_str(),
                d.same.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(entries, [("1", vec![]), ("0", vec!["3", "4"])]);
}
