//! `cdg inspect`: the table and JSON of a small trace, and bad traces failing with a non-zero
//! exit and an error that names the file and the layer.

use crate::support::{cdg, root};
use cdg_io::layout::trace::{MANIFEST_FILE, MASKS_FILE};
use std::fs;
use std::path::Path;

fn small() -> std::path::PathBuf {
    root().join("crates/cdg-io/tests/data/trace-small")
}

fn inspect(dir: &Path, json: bool) -> std::process::Output {
    let mut c = cdg();
    c.arg("inspect").arg(dir);
    if json {
        c.arg("--json");
    }
    c.output().expect("cdg runs")
}

#[test]
fn inspect_table_lists_layers_and_network() {
    let out = inspect(&small(), false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        5,
        "header, three layers, network line:\n{text}"
    );
    assert!(
        lines[0].starts_with("layer") && lines[0].contains("density"),
        "{text}"
    );
    let gated = lines[2];
    for cell in [
        "block.conv",
        "8×8×8",
        "→ 16×4×4",
        "3x3/2/1",
        "8×2×1 base 2",
        "0.4375",
        "0.3750",
        "0.5000",
    ] {
        assert!(gated.contains(cell), "`{cell}` missing from `{gated}`");
    }
    assert!(
        lines[1].starts_with("conv1") && lines[1].contains(" - "),
        "{text}"
    );
    assert!(
        lines[4].contains("3 layers (1 gated)")
            && lines[4].contains("32416 dense MACs")
            && lines[4].contains("gate density 0.4375"),
        "{text}"
    );
}

#[test]
fn inspect_json_has_the_same_numbers() {
    let out = inspect(&small(), true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    let g = &layers[1];
    assert_eq!(g["name"], "block.conv");
    assert_eq!(g["gate_block"], serde_json::json!([8, 2, 1]));
    assert_eq!(g["output"], serde_json::json!([16, 4, 4]));
    assert_eq!(g["density_mean"], 0.4375);
    assert_eq!(g["density_min"], 0.375);
    assert_eq!(g["density_max"], 0.5);
    assert_eq!(g["macs_dense"], 16 * 72 * 16);
    assert!(layers[0]["density_mean"].is_null());
    assert_eq!(v["network"]["macs_dense"], 32416);
    assert_eq!(v["network"]["density_mean"], 0.4375);
    assert_eq!(v["network"]["gated_layers"], 1);
}

/// Copies trace-small, lets `spoil` damage it, runs `cdg inspect`, checks the failure.
fn check_fails(spoil: impl FnOnce(&Path), expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    for f in [MANIFEST_FILE, MASKS_FILE] {
        fs::copy(small().join(f), dir.path().join(f)).unwrap();
    }
    spoil(dir.path());
    let out = inspect(dir.path(), false);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected failure, stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!err.contains("panicked"), "cdg panicked: {err}");
    assert!(out.stdout.is_empty(), "nothing on stdout for a bad trace");
    for x in expect {
        assert!(err.contains(x), "stderr `{err}` does not contain `{x}`");
    }
}

#[test]
fn inspect_bad_traces_fail_naming_file_and_layer() {
    let manifest = |name: &'static str| {
        move |d: &Path| {
            fs::copy(
                root()
                    .join("crates/cdg-io/tests/data/bad-manifests")
                    .join(name),
                d.join(MANIFEST_FILE),
            )
            .unwrap();
        }
    };
    check_fails(
        manifest("kernel-too-large.json"),
        &[
            "error: cannot inspect trace:",
            "manifest.json: layer 1 (`block.conv`)",
            "kernel 11 is larger",
        ],
    );
    check_fails(
        manifest("wrong-format.json"),
        &["manifest.json: `format` is \"cdg-trace-v0\""],
    );
    check_fails(manifest("empty.json"), &["manifest.json: is empty"]);
    check_fails(
        manifest("non-utf8.json"),
        &["manifest.json: is not valid UTF-8"],
    );
    check_fails(
        |d| fs::remove_file(d.join(MASKS_FILE)).unwrap(),
        &["masks.npz: layer `block.conv`: is gated but masks.npz does not exist"],
    );
    check_fails(
        |d| {
            let b = fs::read(d.join(MASKS_FILE)).unwrap();
            fs::write(d.join(MASKS_FILE), &b[..b.len() - 30]).unwrap();
        },
        &["masks.npz: not valid npz (zip archive)"],
    );
    check_fails(
        |d| fs::remove_file(d.join(MANIFEST_FILE)).unwrap(),
        &["manifest.json: cannot read"],
    );
}

#[test]
fn inspect_missing_directory_and_usage() {
    let out = inspect(Path::new("/nonexistent/trace"), false);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/trace: cannot open trace directory"),
        "{err}"
    );
    let out = cdg().arg("inspect").output().unwrap();
    assert!(!out.status.success(), "TRACE_DIR is required");
}

#[test]
fn inspect_accepts_the_manifest_path_and_refuses_files() {
    let out = inspect(&small().join(MANIFEST_FILE), false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("block.conv"));
    let out = inspect(&small().join(MASKS_FILE), false);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("masks.npz: cannot open trace directory: it is not a directory"),
        "{err}"
    );
}
