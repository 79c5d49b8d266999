//! `cdg rtl check`: the SystemVerilog array of rtl/ (Verilator) runs cdg's planned schedules
//! and agrees with the fast model — outputs, MACs, folds, SRAM counts, the gather unit's index
//! lists, and cycles within R per layer — on 4×4 and 8×8 arrays, every dataflow and policy, on
//! layers of the shipped structured trace and on random layers with random block masks. Skips
//! (saying so) where Verilator is not installed; a missing Verilator is a clear error.

use crate::support::{cdg, root};
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn verilator_missing() -> Option<String> {
    match Command::new("verilator").arg("--version").output() {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "`verilator --version` failed: {}",
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => Some(format!("cannot run `verilator` ({e})")),
    }
}

/// Runs `cdg rtl check` on the 16×16 design at `rows`×`cols` and `df`; returns the output
/// and the CSV text.
fn check(
    trace: &Path,
    out: &Path,
    rows: u64,
    cols: u64,
    df: &str,
    extra: &[&str],
) -> (Output, String) {
    let o = cdg()
        .args(["rtl", "check", "--arch"])
        .arg(root().join("arch-configs/os-16x16-int8.toml"))
        .arg("--trace")
        .arg(trace)
        .args(["--set", &format!("array.rows={rows}")])
        .args(["--set", &format!("array.cols={cols}")])
        .args(["--set", &format!("array.dataflow={df}")])
        .args(["--policies", "all", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .expect("cdg runs");
    let csv = fs::read_to_string(out.join("rtl_check.csv")).unwrap_or_default();
    (o, csv)
}

fn assert_agree(o: &Output, csv: &str, what: &str) {
    assert!(
        o.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| head.iter().position(|h| *h == name).unwrap();
    let (agree, outputs, gather) = (col("agree"), col("outputs_match"), col("gather_match"));
    let (cm, cr, rows) = (col("cycles_model"), col("cycles_rtl"), col("array_rows"));
    let mut n = 0;
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f[agree], "true", "{what}: {l}");
        assert_eq!(f[outputs], "true", "{what}: {l}");
        assert_eq!(f[gather], "true", "{what}: {l}");
        let (a, b, r): (u64, u64, u64) = (
            f[cm].parse().unwrap(),
            f[cr].parse().unwrap(),
            f[rows].parse().unwrap(),
        );
        assert!(a.abs_diff(b) <= r, "{what}: {l}");
        n += 1;
    }
    assert!(n >= 4, "{what}: {n} rows");
}

#[test]
fn rtl_agrees_with_the_fast_model_on_small_arrays() {
    if let Some(why) = verilator_missing() {
        eprintln!("skipped: the RTL cross-check needs Verilator 5.006 or newer: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let shipped = root().join("traces/cdg-resnet18-w0.25-structured");
    // Random layers with random block masks: a synthetic trace of a small topology.
    let topo = dir.path().join("net.csv");
    fs::write(
        &topo,
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n\
         stem, 10, 10, 3, 3, 3, 8, 1,\n\
         body, 9, 7, 3, 3, 8, 12, 1,\n\
         wide, 11, 11, 5, 5, 6, 10, 2,\n",
    )
    .unwrap();
    let random = dir.path().join("random");
    let o = cdg()
        .args(["masks", "synth", "--topology"])
        .arg(&topo)
        .args([
            "--density",
            "0.4",
            "--gate-block",
            "2,2,1",
            "--base-partitions",
            "3",
        ])
        .args(["--samples", "2", "--seed", "5", "--out"])
        .arg(&random)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for df in ["os", "ws", "is"] {
        for (rows, cols) in [(4, 4), (8, 8)] {
            let out = dir.path().join(format!("shipped-{df}-{rows}"));
            let (o, csv) = check(
                &shipped,
                &out,
                rows,
                cols,
                df,
                &["--layers", "layer4.1.conv*"],
            );
            assert_agree(&o, &csv, &format!("shipped {df} {rows}x{cols}"));
        }
        // A gather unit slower than a pack per cycle (stalls), and a non-square array.
        let out = dir.path().join(format!("random-{df}"));
        let (o, csv) = check(
            &random,
            &out,
            4,
            3,
            df,
            &[
                "--samples",
                "2",
                "--seed",
                "9",
                "--set",
                "sparsity.gather_rows_per_cycle=1",
            ],
        );
        assert_agree(&o, &csv, &format!("random {df} 4x3"));
    }
}

#[test]
fn a_missing_verilator_is_named_with_what_to_install() {
    let dir = tempfile::tempdir().unwrap();
    let o = cdg()
        .env("PATH", dir.path())
        .args(["rtl", "check", "--arch"])
        .arg(root().join("arch-configs/os-16x16-int8.toml"))
        .arg("--trace")
        .arg(root().join("traces/cdg-resnet18-w0.25-structured"))
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("verilator") && e.contains("apt-get install verilator"),
        "{e}"
    );
    assert!(!dir.path().join("out").join("rtl_check.csv").exists());
}

#[test]
fn designs_the_rtl_cannot_run_are_refused_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let o = cdg()
        .args(["rtl", "check", "--arch"])
        .arg(root().join("arch-configs/tpu-like-128x128-ws.toml"))
        .arg("--trace")
        .arg(root().join("traces/cdg-resnet18-w0.25-structured"))
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("array.overlap_folds"), "{e}");
}

#[test]
fn the_removed_gather_key_is_refused_naming_its_replacement() {
    let dir = tempfile::tempdir().unwrap();
    let arch = dir.path().join("old.toml");
    fs::write(
        &arch,
        "[array]\nrows = 8\ncols = 8\n[sparsity]\nsupport = \"compact\"\ngather_cycles_per_fold = 2\n",
    )
    .unwrap();
    let o = cdg()
        .args(["sim", "--arch"])
        .arg(&arch)
        .args(["--network", "resnet18-cifar", "--width", "0.125", "--out"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("sparsity.gather_cycles_per_fold") && e.contains("gather_rows_per_cycle"),
        "{e}"
    );
}

#[test]
fn the_gate_compare_unit_matches_its_definition_on_random_blocks() {
    if let Some(why) = verilator_missing() {
        eprintln!("skipped: the gate-unit test needs Verilator 5.006 or newer: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rtl = root().join("rtl");
    let o = Command::new("verilator")
        .args([
            "--cc",
            "--exe",
            "--build",
            "-O1",
            "-Wno-fatal",
            "--top-module",
            "cdg_gate",
        ])
        .arg(rtl.join("cdg_gate.sv"))
        .arg(rtl.join("tb/tb_gate.cpp"))
        .arg("-Mdir")
        .arg(dir.path())
        .args(["-o", "tb_gate"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for seed in ["1", "2", "3"] {
        let o = Command::new(dir.path().join("tb_gate"))
            .args([seed, "5000"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "seed {seed}: {text}");
        assert!(
            text.contains("blocks 5000") && text.contains("mismatches 0"),
            "{text}"
        );
    }
}
