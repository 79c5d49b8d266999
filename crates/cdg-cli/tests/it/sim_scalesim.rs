//! `cdg sim` end to end: SCALE-Sim drop-in (its own .cfg and topology, COMPUTE_REPORT.csv in
//! its format), our reports, `--set` overrides, and bad input.

use crate::support::root;
use crate::sweep_fixtures::{fails, ok, s};
use cdg_io::layout::sim::{ARCH_TOML, COMPUTE_REPORT_CSV, LAYERS_CSV, NETWORK_CSV};
use std::fs;
use std::path::Path;

const CFG_WS_32X8: &str = "\
[general]
run_name = conv1_ws

[architecture_presets]
ArrayHeight:    32
ArrayWidth:     8
IfmapSramSzkB:    1024
FilterSramSzkB:   1024
OfmapSramSzkB:    1024
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 10
Dataflow : ws
MemoryBanks:   1

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
";

/// ResNet-18 CIFAR conv1 with its padding in the input, and a GEMM row.
const TOPOLOGY: &str = "\
Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
conv1, 34, 34, 3, 3, 3, 64, 1,
";

/// `cdg sim <flag> <config> --topology <topo> --out <out>` followed by `extra`.
fn sim<'a>(
    flag: &'a str,
    config: &'a Path,
    topo: &'a Path,
    out: &'a Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "sim",
        flag,
        s(config),
        "--topology",
        s(topo),
        "--out",
        s(out),
    ];
    args.extend_from_slice(extra);
    args
}

fn csv_column(path: &Path, column: &str) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let i = header.iter().position(|h| *h == column).unwrap();
    lines
        .map(|l| l.split(',').nth(i).unwrap().to_owned())
        .collect()
}

#[test]
fn scalesim_drop_in_writes_its_compute_report() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ws.cfg");
    let topo = dir.path().join("topo.csv");
    fs::write(&cfg, CFG_WS_32X8).unwrap();
    fs::write(&topo, TOPOLOGY).unwrap();
    let out = dir.path().join("out");
    let stdout =
        String::from_utf8(ok(&sim("--scalesim-cfg", &cfg, &topo, &out, &[])).stdout).unwrap();
    assert!(
        stdout.contains("conv1") && stdout.contains("8752"),
        "{stdout}"
    );
    let report = fs::read_to_string(out.join(COMPUTE_REPORT_CSV)).unwrap();
    let mut lines = report.lines();
    assert_eq!(
        lines.next().unwrap(),
        "LayerID, Total Cycles (incl. prefetch), Total Cycles, Stall Cycles, Overall Util %, \
         Mapping Efficiency %, Compute Util %,"
    );
    let row: Vec<&str> = lines.next().unwrap().split(", ").collect();
    // SCALE-Sim 3.0.0 on this layer and array: 8751 cycles, 78.99 %, 84.375 %, 78.474 %.
    assert_eq!(&row[..4], &["0", "8751", "8751", "0"]);
    assert!(
        row[4].starts_with("78.98") || row[4].starts_with("78.99"),
        "{row:?}"
    );
    assert_eq!(row[5], "84.375");
    assert!(row[6].starts_with("78.47"), "{row:?}");
    assert_eq!(csv_column(&out.join(LAYERS_CSV), "cycles"), ["8752"]);
    assert_eq!(
        csv_column(&out.join(LAYERS_CSV), "sram_filter_reads"),
        ["1728"]
    );
    assert_eq!(csv_column(&out.join(NETWORK_CSV), "cycles"), ["8752"]);
    let arch = fs::read_to_string(out.join(ARCH_TOML)).unwrap();
    assert!(
        arch.contains("dram_bytes_per_cycle = \"unlimited\""),
        "{arch}"
    );
}

#[test]
fn arch_and_topology_with_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("topo.csv");
    fs::write(&topo, TOPOLOGY).unwrap();
    let out = dir.path().join("out");
    let arch = root().join("arch-configs/os-16x16-int8.toml");
    ok(&sim(
        "--arch",
        &arch,
        &topo,
        &out,
        &[
            "--set",
            "array.rows=32",
            "--set",
            "array.cols=8",
            "--set",
            "memory.dram_bytes_per_cycle=unlimited",
        ],
    ));
    // OS on 32×8: 16 640 cycles (SCALE-Sim: 16 639).
    assert_eq!(csv_column(&out.join(LAYERS_CSV), "cycles"), ["16640"]);
    assert_eq!(csv_column(&out.join(LAYERS_CSV), "dataflow"), ["os"]);
    let arch = fs::read_to_string(out.join(ARCH_TOML)).unwrap();
    assert!(
        arch.contains("rows = 32") && arch.contains("cols = 8"),
        "{arch}"
    );
    let util: f64 = csv_column(&out.join(NETWORK_CSV), "utilization")[0]
        .parse()
        .unwrap();
    assert!((util - 1769472.0 / (16640.0 * 256.0)).abs() < 1e-12);
}

#[test]
fn nm_topology_on_os_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("topo.csv");
    fs::write(
        &topo,
        "Layer, H, W, R, S, C, M, stride, sparsity\nsparse, 10, 10, 3, 3, 256, 256, 1, 2:4\n",
    )
    .unwrap();
    let arch = root().join("arch-configs/os-16x16-int8.toml");
    let err = fails(&sim("--arch", &arch, &topo, &dir.path().join("out"), &[]));
    assert!(
        err.contains("`sparse`") && err.contains("weight-stationary"),
        "{err}"
    );
    // And on WS it runs as SCALE-Sim does: 126 719 + 1 cycles.
    let out = dir.path().join("ws");
    ok(&sim(
        "--arch",
        &arch,
        &topo,
        &out,
        &[
            "--set",
            "array.dataflow=ws",
            "--set",
            "memory.dram_bytes_per_cycle=unlimited",
        ],
    ));
    assert_eq!(csv_column(&out.join(LAYERS_CSV), "cycles"), ["126720"]);
    assert_eq!(
        csv_column(&out.join(LAYERS_CSV), "scalesim_ifmap_reads"),
        ["2359296"]
    );
}

#[test]
fn bad_inputs_name_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("topo.csv");
    fs::write(&topo, TOPOLOGY).unwrap();
    let out = dir.path().join("out");
    let cfg = dir.path().join("bad.cfg");
    fs::write(
        &cfg,
        CFG_WS_32X8.replace("ArrayHeight:    32", "ArrayHeight:    many"),
    )
    .unwrap();
    let err = fails(&sim("--scalesim-cfg", &cfg, &topo, &out, &[]));
    assert!(
        err.contains("bad.cfg") && err.contains("ArrayHeight"),
        "{err}"
    );
    let arch = root().join("arch-configs/os-16x16-int8.toml");
    let err = fails(&sim(
        "--arch",
        &arch,
        &topo,
        &out,
        &["--set", "array.rows=0"],
    ));
    assert!(err.contains("array.rows"), "{err}");
    let big = dir.path().join("big.csv");
    fs::write(
        &big,
        "Layer, H, W, R, S, C, M, stride\nhuge, 4, 4, 5, 5, 3, 8, 1\n",
    )
    .unwrap();
    let err = fails(&sim("--arch", &arch, &big, &out, &[]));
    assert!(
        err.contains("big.csv:2") && err.contains("larger than the padded input"),
        "{err}"
    );
    assert!(!out.join(LAYERS_CSV).exists(), "nothing written on error");
    let err = fails(&["sim", "--arch", arch.to_str().unwrap(), "--out", "x"]);
    assert!(
        err.contains("--trace") || err.contains("--topology"),
        "{err}"
    );
}

/// Of several `--set`, the one that made the design invalid is named (not the last), for an
/// arch-config file and for a SCALE-Sim `.cfg` alike.
#[test]
fn the_override_at_fault_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("topo.csv");
    fs::write(&topo, TOPOLOGY).unwrap();
    let out = dir.path().join("out");
    let cfg = dir.path().join("run.cfg");
    fs::write(&cfg, CFG_WS_32X8).unwrap();
    let arch = root().join("arch-configs/os-16x16-int8.toml");
    for (flag, design) in [("--arch", &arch), ("--scalesim-cfg", &cfg)] {
        let set = ["--set", "array.dataflow=xx", "--set", "workload.batch=1"];
        let err = fails(&sim(flag, design, &topo, &out, &set));
        assert!(err.contains("--set array.dataflow=xx"), "{flag}: {err}");
        assert!(!err.contains("workload.batch"), "{flag}: {err}");
    }
    assert!(!out.join(LAYERS_CSV).exists(), "nothing written on error");
}

/// Issue #13: a bandwidth too small to count (here a SCALE-Sim USER-mode `Bandwidth`, and
/// `--set` on the shipped structured trace) or energies whose totals overflow are refused with
/// the key named, never written as wrapped counts or `inf`.
#[test]
fn uncountable_bandwidths_and_infinite_energies_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("topo.csv");
    fs::write(&topo, TOPOLOGY).unwrap();
    let out = dir.path().join("out");
    let cfg = dir.path().join("user.cfg");
    fs::write(
        &cfg,
        CFG_WS_32X8
            .replace("Bandwidth : 10", "Bandwidth : 1e-20")
            .replace("InterfaceBandwidth: CALC", "InterfaceBandwidth: USER"),
    )
    .unwrap();
    let err = fails(&sim("--scalesim-cfg", &cfg, &topo, &out, &[]));
    assert!(
        err.contains("memory.dram_bytes_per_cycle") && err.contains("conv1"),
        "{err}"
    );
    assert!(!out.join(LAYERS_CSV).exists(), "nothing written on error");

    let arch = root().join("arch-configs/os-16x16-int8.toml");
    let trace = root().join("traces/cdg-resnet18-w0.25-structured");
    for (set, key) in [
        (
            "memory.dram_bytes_per_cycle=1e-20",
            "memory.dram_bytes_per_cycle",
        ),
        ("energy.dram_per_byte=1e303", "energy.dram_per_byte"),
        ("energy.leak_per_pe_cycle=1e305", "energy.leak_per_pe_cycle"),
    ] {
        let err = fails(&[
            "sim",
            "--arch",
            s(&arch),
            "--trace",
            s(&trace),
            "--set",
            set,
            "--out",
            s(&out),
        ]);
        assert!(err.contains(key) && err.contains("layer `"), "{set}: {err}");
        assert!(!out.join(LAYERS_CSV).exists(), "{set}: nothing written");
    }
    // Smaller bandwidths never look faster (1e-13 once did, against 1e-14, by wrapping).
    let cycles = |bw: &str| -> u64 {
        let o = dir.path().join(format!("bw{bw}"));
        ok(&[
            "sim",
            "--arch",
            s(&arch),
            "--topology",
            s(&topo),
            "--set",
            &format!("memory.dram_bytes_per_cycle={bw}"),
            "--out",
            s(&o),
        ]);
        csv_column(&o.join(NETWORK_CSV), "cycles")[0]
            .parse()
            .unwrap()
    };
    assert!(cycles("1e-12") > cycles("1e-11"));
}
