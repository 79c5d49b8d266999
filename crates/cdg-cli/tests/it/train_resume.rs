//! `cdg train --resume` gives the files an uninterrupted run gives (wall-clock columns
//! aside), also for a run killed after its last epoch and for `--resume` on a finished run;
//! and `--out` naming another kind of output is refused naming that kind.

use crate::support::{cdg, root};
use cdg_io::layout::train::{CHECKPOINT_FILE, METRICS_CSV, SUMMARY_JSON, TRACE_DIR};
use cdg_train::checkpoint::Checkpoint;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

const RUN: &[&str] = &[
    "train",
    "--objective",
    "simclr",
    "--gating",
    "dual",
    "--model",
    "tiny",
    "--epochs",
    "2",
    "--batch",
    "64",
    "--limit-train",
    "128",
    "--limit-test",
    "64",
    "--target-sparsity",
    "0.5",
    "--proj-hidden",
    "32",
    "--probe-epochs",
    "2",
    "--calibration-samples",
    "64",
    "--trace-samples",
    "4",
    "--knn-every",
    "1",
    "--threads",
    "2",
    "--quiet",
];

fn train(out: &Path, extra: &[&str]) -> Output {
    cdg()
        .args(RUN)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "cdg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `summary.json` without its wall-clock values and the fields that say where and whether
/// the run was resumed.
fn summary(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join(SUMMARY_JSON)).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    let map = v.as_object_mut().unwrap();
    for k in [
        "images_per_s",
        "train_seconds",
        "trace",
        "resumed_from_epoch",
    ] {
        map.remove(k);
    }
    v
}

/// metrics.csv without the wall-clock `images_per_s` column, as text: every digit counts.
fn metrics(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join(METRICS_CSV)).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let wall = header.iter().position(|c| *c == "images_per_s").unwrap();
    text.lines()
        .map(|l| {
            let mut cells: Vec<&str> = l.split(',').collect();
            cells.remove(wall);
            cells.join(",")
        })
        .collect()
}

fn train_seconds(dir: &Path) -> f64 {
    let text = std::fs::read_to_string(dir.join(SUMMARY_JSON)).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["train_seconds"].as_f64().unwrap()
}

fn same_files(whole: &Path, resumed: &Path) {
    assert_eq!(metrics(whole), metrics(resumed), "metrics.csv");
    assert_eq!(summary(whole), summary(resumed), "summary.json");
    for f in ["manifest.json", "masks.npz"] {
        let read = |d: &Path| std::fs::read(d.join(TRACE_DIR).join(f)).unwrap();
        assert_eq!(read(whole), read(resumed), "{f}");
    }
    let tensors = |d: &Path| {
        Checkpoint::from_bytes(&std::fs::read(d.join(CHECKPOINT_FILE)).unwrap())
            .unwrap()
            .tensors
    };
    assert_eq!(tensors(whole), tensors(resumed), "checkpoint tensors");
}

/// Pins: a run killed after its last epoch (its last snapshot written, the final evaluation
/// not) and `--resume` on a finished run wrote `train_gate_sparsity_branches: [null, null]`
/// and the `train_seconds` of the resumed part only.
#[test]
fn resuming_after_the_last_epoch_or_a_finished_run_gives_the_uninterrupted_files() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    ok(&train(&whole, &[]));
    let branches = summary(&whole)["train_gate_sparsity_branches"].clone();
    assert!(branches[0].is_f64() && branches[1].is_f64(), "{branches}");

    // Killed after the last epoch: `--stop-after 2` of 2 stops before the final evaluation.
    let killed = dir.path().join("killed");
    ok(&train(&killed, &["--stop-after", "2"]));
    assert!(
        !killed.join(TRACE_DIR).exists(),
        "stopped before the final evaluation"
    );
    let before = Checkpoint::from_bytes(&std::fs::read(killed.join(CHECKPOINT_FILE)).unwrap())
        .unwrap()
        .meta["state"]["train_seconds"]
        .as_f64()
        .unwrap();
    assert!(before > 0.0);
    ok(&train(&killed, &["--resume"]));
    same_files(&whole, &killed);
    assert!(
        train_seconds(&killed) >= before,
        "train_seconds counts every invocation: {} < {before}",
        train_seconds(&killed)
    );

    // `--resume` on the finished run: the same files again, time added.
    let first = train_seconds(&whole);
    ok(&train(&whole, &["--resume"]));
    let again = dir.path().join("again");
    ok(&train(&again, &[]));
    same_files(&again, &whole);
    assert!(train_seconds(&whole) >= first);
}

/// An interrupted run resumed: the rows written before the interruption come back with every
/// digit (the checkpoint header's floats round-trip exactly).
#[test]
fn rows_written_before_an_interruption_keep_every_digit() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    ok(&train(&whole, &[]));
    let resumed = dir.path().join("resumed");
    ok(&train(&resumed, &["--stop-after", "1"]));
    ok(&train(&resumed, &["--resume"]));
    same_files(&whole, &resumed);
}

/// Pins: `cdg train --out <sim dir>` said the directory "holds an earlier training run".
#[test]
fn an_output_of_another_kind_is_named_as_that_kind() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    let r = root();
    ok(&cdg()
        .arg("sim")
        .arg("--arch")
        .arg(r.join("arch-configs/os-16x16-int8.toml"))
        .arg("--trace")
        .arg(r.join("traces/cdg-resnet18-w0.25-structured"))
        .arg("--out")
        .arg(&sim)
        .output()
        .unwrap());
    for extra in [&[][..], &["--resume"][..]] {
        let out = train(&sim, extra);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("holds a `sim` output, not a training run")
                && err.contains("--force")
                && !err.contains("earlier training run"),
            "{err}"
        );
    }
    assert!(sim.join("network.csv").exists(), "the sim output is kept");
}
