//! `cdg sweep`: outputs, column layout, point order, validation before work, determinism.

use crate::sweep_fixtures::{GRID, fails, ok, s, write_spec};
use cdg_io::layout::sweep::{
    CONFIGS_DIR, ENERGY_LATENCY_SVG, LAYERS_CSV, REDUCTION_SVG, SPEC_TOML, SWEEP_CSV,
};

fn read_csv(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (headers, rows)
}

#[test]
fn sweep_writes_rows_in_point_order_with_grid_columns() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), GRID);
    let out = dir.path().join("out");
    ok(&["sweep", s(&spec), "--out", s(&out), "--layers", "--quiet"]);

    let (headers, rows) = read_csv(&out.join(SWEEP_CSV));
    for col in [
        "point",
        "array.rows",
        "array.dataflow",
        "memory.dram_bytes_per_cycle",
        "workload",
        "cycles",
        "latency_us",
        "energy_pj",
        "energy_mac_pj",
        "energy_dram_pj",
        "utilization",
        "area_mm2",
        "edp_pj_us",
        "flops_reduction",
        "cycle_reduction_vs_ungated",
        "cycle_reduction_vs_dense_policy",
        "energy_saving_vs_ungated",
        "energy_saving_vs_dense_policy",
    ] {
        assert!(
            headers.iter().any(|h| h == col),
            "no column {col}: {headers:?}"
        );
    }
    assert_eq!(rows.len(), 18);
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    // Spec key order, last key fastest.
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[col("point")], i.to_string());
        assert_eq!(row[col("array.rows")], ["8", "16", "32"][i / 6]);
        assert_eq!(row[col("array.dataflow")], ["os", "ws", "is"][(i / 2) % 3]);
        assert_eq!(
            row[col("memory.dram_bytes_per_cycle")],
            ["4", "unlimited"][i % 2]
        );
        assert_eq!(row[col("array_rows")], row[col("array.rows")]);
        assert_eq!(row[col("dataflow")], row[col("array.dataflow")]);
        assert_eq!(row[col("workload")], "net");
        // Area of rows × 16 PEs + 3 × 64 KiB of SRAM at the default per-unit costs, plus the
        // gate unit every design has (the `dense` policy adds no enables and no gather unit;
        // docs/model.md §7).
        let rows_n: f64 = row[col("array.rows")].parse().unwrap();
        let area: f64 = row[col("area_mm2")].parse().unwrap();
        assert!((area - (rows_n * 16.0 * 0.0015 + 192.0 * 0.012 + 637.1e-6)).abs() < 1e-9);
    }
    // Unlimited bandwidth never stalls; 4 bytes per cycle does on this network.
    let stalls = |i: usize| -> u64 { rows[i][col("stall_cycles")].parse().unwrap() };
    assert_eq!(stalls(1), 0);
    assert!(stalls(0) > 0);

    // layers.csv: one row per point × layer, with the grid columns.
    let (lh, lrows) = read_csv(&out.join(LAYERS_CSV));
    assert_eq!(
        &lh[..5],
        [
            "point",
            "array.rows",
            "array.dataflow",
            "memory.dram_bytes_per_cycle",
            "workload"
        ]
    );
    assert_eq!(lrows.len(), 18 * 3);

    // Every resolved config is written and carries its point's values.
    let cfg = std::fs::read_to_string(out.join("configs/point-0013.toml")).unwrap();
    assert!(cfg.contains("rows = 32"), "{cfg}");
    assert!(cfg.contains("dataflow = \"os\""), "{cfg}");
    assert!(
        cfg.contains("dram_bytes_per_cycle = \"unlimited\""),
        "{cfg}"
    );
    assert_eq!(
        std::fs::read_dir(out.join(CONFIGS_DIR)).unwrap().count(),
        18
    );
    assert_eq!(
        std::fs::read(out.join(SPEC_TOML)).unwrap(),
        std::fs::read(&spec).unwrap()
    );
    assert!(out.join(ENERGY_LATENCY_SVG).exists());
    assert!(out.join(REDUCTION_SVG).exists());
}

#[test]
fn sweep_output_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), GRID);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    ok(&["sweep", s(&spec), "--out", s(&a), "--layers", "--quiet"]);
    ok(&["sweep", s(&spec), "--out", s(&b), "--layers", "--quiet"]);
    assert_eq!(
        crate::sweep_fixtures::files(&a),
        crate::sweep_fixtures::files(&b)
    );
}

#[test]
fn invalid_grid_values_fail_before_any_work_naming_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for (grid, key, value) in [
        ("\"array.rows\" = [8, 0]\n", "array.rows", "0"),
        (
            "\"array.dataflow\" = [\"os\", \"diagonal\"]\n",
            "array.dataflow",
            "diagonal",
        ),
        (
            "\"sparsity.support\" = [\"compact\", \"skip-all\"]\n",
            "sparsity.support",
            "skip-all",
        ),
        ("\"energy.mac\" = [0.2, -1.0]\n", "energy.mac", "-1"),
        ("\"array.colz\" = [8]\n", "array.colz", "8"),
    ] {
        let spec = write_spec(dir.path(), grid);
        let err = fails(&["sweep", s(&spec), "--out", s(&out), "--quiet"]);
        assert!(err.contains(key), "`{key}` not in: {err}");
        assert!(err.contains(value), "`{value}` not in: {err}");
        assert!(err.contains("spec.toml"), "{err}");
        assert!(!out.exists(), "nothing may be written for {grid}");
    }
}

#[test]
fn bad_specs_and_shards_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let spec = write_spec(dir.path(), GRID);
    let err = fails(&["sweep", s(&spec), "--out", s(&out), "--shard", "4/3"]);
    assert!(err.contains("4/3"), "{err}");
    let err = fails(&["sweep", s(&spec), "--out", s(&out), "--shard", "0/3"]);
    assert!(err.contains("0/3"), "{err}");

    std::fs::write(
        &spec,
        "base = \"base.toml\"\ntopologies = [\"net.csv\"]\nbogus = 1\n",
    )
    .unwrap();
    let err = fails(&["sweep", s(&spec), "--out", s(&out)]);
    assert!(err.contains("spec.toml") && err.contains("bogus"), "{err}");

    std::fs::write(
        &spec,
        "base = \"missing.toml\"\ntopologies = [\"net.csv\"]\n",
    )
    .unwrap();
    let err = fails(&["sweep", s(&spec), "--out", s(&out)]);
    assert!(err.contains("missing.toml"), "{err}");

    std::fs::write(&spec, "base = \"base.toml\"\ntopologies = [\"nope.csv\"]\n").unwrap();
    let err = fails(&["sweep", s(&spec), "--out", s(&out)]);
    assert!(err.contains("nope.csv"), "{err}");
    assert!(!out.exists());
}

#[test]
fn rerunning_into_a_directory_leaves_only_this_runs_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let spec = write_spec(dir.path(), GRID);
    ok(&["sweep", s(&spec), "--out", s(&out), "--layers", "--quiet"]);
    ok(&["plot", s(&out), "--point", "3"]);
    let small = write_spec(dir.path(), "\"array.rows\" = [8, 16]\n");
    ok(&["sweep", s(&small), "--out", s(&out), "--no-plot", "--quiet"]);
    let fresh = dir.path().join("fresh");
    ok(&[
        "sweep",
        s(&small),
        "--out",
        s(&fresh),
        "--no-plot",
        "--quiet",
    ]);
    assert_eq!(
        crate::sweep_fixtures::files(&out),
        crate::sweep_fixtures::files(&fresh)
    );
}

#[test]
fn thread_count_does_not_change_the_bytes() {
    let dir = tempfile::tempdir().unwrap();
    write_spec(dir.path(), "");
    ok(&[
        "masks",
        "synth",
        "--network",
        "resnet18-cifar",
        "--width",
        "0.125",
        "--density",
        "0.4",
        "--gate-block",
        "4,1,2",
        "--samples",
        "3",
        "--out",
        s(&dir.path().join("gated")),
    ]);
    let spec = dir.path().join("spec.toml");
    std::fs::write(
        &spec,
        "base = \"base.toml\"\ntraces = [\"gated\"]\n[grid]\n\
         \"array.dataflow\" = [\"os\", \"ws\", \"is\"]\n\
         \"sparsity.support\" = [\"clock-gate\", \"tile-skip\", \"compact\"]\n",
    )
    .unwrap();
    let run = |threads: &str, out: &std::path::Path| {
        let o = crate::support::cdg()
            .env("RAYON_NUM_THREADS", threads)
            .args(["sweep", s(&spec), "--out", s(out), "--layers", "--quiet"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let (one, four) = (dir.path().join("one"), dir.path().join("four"));
    run("1", &one);
    run("4", &four);
    assert_eq!(
        crate::sweep_fixtures::files(&one),
        crate::sweep_fixtures::files(&four)
    );
}
