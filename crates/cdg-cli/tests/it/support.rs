//! Helpers shared by the end-to-end tests.

use cdg_core::{GateBlock, MaskSet, Network};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The `cdg` binary built for this test run.
#[allow(dead_code)]
pub fn cdg() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cdg"))
}

/// The workspace root, for shipped files (arch-configs/, traces/, data/).
#[allow(dead_code)]
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Writes a gated ResNet-18 CIFAR trace (width 0.25, gates over 4 partitions of 16×1×1 blocks,
/// `samples` mask samples of density 0.5 drawn with `seed`, provenance `{"test": test}`) to
/// `dir/trace`; returns the network, its masks and the trace directory.
#[allow(dead_code)]
pub fn gated_resnet_trace(
    dir: &Path,
    samples: usize,
    seed: u64,
    test: &str,
) -> (Network, MaskSet, PathBuf) {
    let network = cdg_sim::models::resnet18_cifar(0.25, 1, Some((4, GateBlock::new(16, 1, 1))));
    let masks = cdg_sim::synth::synth_masks(&network, 0.5, samples, seed).unwrap();
    let trace = cdg_io::Trace {
        network: network.clone(),
        masks: Some(masks.clone()),
        samples,
        provenance: serde_json::json!({ "test": test }),
    };
    let trace_dir = dir.join("trace");
    cdg_io::write_trace(&trace_dir, &trace, false).unwrap();
    (network, masks, trace_dir)
}

/// Runs `cdg sim --arch <arch> --trace <trace> --out <out>` followed by `extra`, asserting it
/// succeeds; returns its stdout.
#[allow(dead_code)]
pub fn sim_trace_ok(arch: &Path, trace: &Path, out: &Path, extra: &[&str]) -> String {
    let run = cdg()
        .args(["sim", "--arch"])
        .arg(arch)
        .arg("--trace")
        .arg(trace)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    String::from_utf8(run.stdout).unwrap()
}

/// A Python interpreter that can import every module in `modules` (PyPI names).
///
/// `python3` itself when it already can; otherwise a virtual environment under the target
/// directory (`target/tmp/py-venv`), created and filled from PyPI on first use and reused
/// afterwards, so `cargo test` needs nothing installed beyond Python and the package registry.
/// Panics with the installer's output if that fails: a missing module must fail the test, not
/// skip it.
#[allow(dead_code)]
pub fn python_with(modules: &[&str]) -> PathBuf {
    use std::sync::Mutex;
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let imports = |py: &Path| {
        Command::new(py)
            .arg("-c")
            .arg(format!("import {}", modules.join(", ")))
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let system = PathBuf::from("python3");
    if imports(&system) {
        return system;
    }
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("py-venv");
    let py = venv.join("bin/python3");
    if imports(&py) {
        return py;
    }
    if !py.exists() {
        let out = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .output()
            .expect("python3 must be installed for the Python helper tests");
        assert!(
            out.status.success(),
            "cannot create a virtual environment at {}: {}",
            venv.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = Command::new(&py)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(modules)
        .output()
        .unwrap();
    assert!(
        out.status.success() && imports(&py),
        "cannot install {modules:?} into {} from PyPI: {}",
        venv.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    py
}

/// Runs `cdg` with `args` (and `env`), killing it after `limit` and failing the test (a hang);
/// returns (success, stderr).
pub fn run_bounded(
    args: &[&str],
    env: &[(&str, &str)],
    limit: std::time::Duration,
) -> (bool, String) {
    let mut cmd = cdg();
    cmd.args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.success(), err);
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("cdg {args:?} did not finish within {limit:?} (a hang)");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The rows of a CSV cdg wrote (no quoted commas) as maps from column name to value.
pub fn csv_rows(path: &std::path::Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(str::to_owned))
                .collect()
        })
        .collect()
}
