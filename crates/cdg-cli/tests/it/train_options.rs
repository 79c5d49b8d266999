//! `cdg train`'s options, declared once in `cdg_train::TrainOptions`: a config file may set
//! every option (the training options, the command's own, and the global `quiet` and
//! `max_memory`), flags win over the file, a repeated key is named with its line, and the
//! command line's defaults are the library's.

use crate::support::cdg;
use cdg_io::layout::train::{CHECKPOINT_FILE, SUMMARY_JSON};
use cdg_train::TrainOptions;
use cdg_train::gating::{ConsistencyAlign, Granularity};
use cdg_train::models::Stem;
use cdg_train::options::{GateBlockDims, ModelKind};
use cdg_train::ssl::{Gating, Objective, ThresholdKind};
use std::path::Path;
use std::process::Output;

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "cdg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn failed(out: &Output) -> String {
    assert!(!out.status.success(), "cdg succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn plan(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(SUMMARY_JSON)).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["plan"].clone()
}

fn train_with_config(config: &Path, extra: &[&str]) -> Output {
    cdg()
        .args(["train", "--config"])
        .arg(config)
        .args(extra)
        .output()
        .unwrap()
}

/// A quick supervised run's options.
fn quick() -> TrainOptions {
    TrainOptions {
        model: ModelKind::Tiny,
        epochs: 1,
        batch: 64,
        limit_train: Some(128),
        limit_test: Some(64),
        ..TrainOptions::default()
    }
}

/// Runs `cdg train` with `flags` and no config file; the recorded plan must be `expected`'s
/// record: any default of the command line that differs from `TrainOptions::default()` shows.
#[test]
fn the_command_line_defaults_are_the_library_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    ok(&cdg()
        .args(["train", "--model", "tiny", "--epochs", "1", "--batch", "64"])
        .args([
            "--limit-train",
            "128",
            "--limit-test",
            "64",
            "--threads",
            "2",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap());
    assert_eq!(plan(&out), quick().record());
}

/// Every training option, every option of the command and the global `quiet` and
/// `max_memory` in one file: accepted, and every training option is what the run records.
/// The struct literal lists every field, so a new option fails to compile here until it is
/// added to the test.
#[test]
fn a_config_file_may_set_every_option() {
    let dir = tempfile::tempdir().unwrap();
    // A dense run whose checkpoint the gated run starts from (`init_from`).
    let dense = dir.path().join("dense");
    ok(&cdg()
        .args([
            "train",
            "--objective",
            "simclr",
            "--model",
            "tiny",
            "--epochs",
            "1",
        ])
        .args(["--batch", "32", "--limit-train", "64", "--limit-test", "32"])
        .args([
            "--proj-hidden",
            "32",
            "--probe-epochs",
            "1",
            "--threads",
            "2",
        ])
        .arg("--out")
        .arg(&dense)
        .output()
        .unwrap());
    let options = TrainOptions {
        objective: Objective::Simclr,
        model: ModelKind::Tiny,
        // The tiny model has fixed widths: any width but the default is refused for it.
        width: 0.25,
        epochs: 1,
        batch: 32,
        lr: 0.05,
        warmup_epochs: 1,
        weight_decay: 1e-4,
        momentum: 0.8,
        augment: true,
        seed: 7,
        data: "builtin".to_owned(),
        // The built-in images are 32×32.
        resolution: Some(32),
        stem: Some(Stem::Cifar),
        init_from: Some(dense.join(CHECKPOINT_FILE)),
        limit_train: Some(64),
        limit_test: Some(32),
        gating: Gating::Dual,
        granularity: Granularity::Structured,
        gate_block: GateBlockDims([8, 1, 1]),
        target_sparsity: Some(0.4),
        threshold: Some(ThresholdKind::Learned),
        threshold_target: 0.5,
        gate_consistency: 5.0,
        consistency_align: ConsistencyAlign::Geometric,
        base_partitions: 2,
        train_skip_margin: Some(2.0),
        trace_samples: 4,
        calibration_samples: 32,
        knn_every: 1,
        proj_hidden: 32,
        probe_epochs: 2,
        knn_init: true,
    };
    let gated = dir.path().join("gated");
    let mut table = toml::Table::try_from(&options).unwrap();
    assert_eq!(
        table.len(),
        options.record().as_object().unwrap().len(),
        "every option is set"
    );
    let command: toml::Table = toml::from_str(&format!(
        "threads = 2\nout = {:?}\nresume = false\nforce = true\nstop_after = 5\n\
         bench_channels = 3\nquiet = true\nmax_memory = \"8G\"\n",
        gated.display().to_string()
    ))
    .unwrap();
    table.extend(command);
    let config = dir.path().join("every.toml");
    std::fs::write(&config, toml::to_string(&table).unwrap()).unwrap();
    ok(&train_with_config(&config, &[]));
    assert_eq!(plan(&gated), options.record());
    assert!(gated.join("trace").is_dir());

    // `bench_steps`, the one key left: the benchmark instead of a run.
    let bench = dir.path().join("bench.toml");
    std::fs::write(
        &bench,
        "model = \"tiny\"\nbatch = 4\nthreads = 2\nbench_steps = 1\nbench_channels = 1\n",
    )
    .unwrap();
    let out = train_with_config(&bench, &[]);
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("images_per_s"));
}

#[test]
fn flags_win_over_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let config = dir.path().join("train.toml");
    std::fs::write(
        &config,
        format!(
            "model = \"tiny\"\nepochs = 3\nbatch = 32\nlr = 0.05\nlimit_train = 128\n\
             limit_test = 64\nthreads = 2\nout = {:?}\n",
            dir.path().join("not-this").display().to_string()
        ),
    )
    .unwrap();
    let given = ["--epochs", "1", "--batch", "64", "--out"];
    ok(&cdg()
        .args(["train", "--config"])
        .arg(&config)
        .args(given)
        .arg(&out)
        .output()
        .unwrap());
    let expected = TrainOptions {
        lr: 0.05,
        ..quick()
    };
    assert_eq!(plan(&out), expected.record());
    assert!(
        !dir.path().join("not-this").exists(),
        "--out wins over `out`"
    );
}

/// Pins: a repeated key said "duplicate key" without naming it or its line.
#[test]
fn a_repeated_key_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("train.toml");
    std::fs::write(&config, "lr = 0.1\nepochs = 2\n\nlr = 0.2\n").unwrap();
    let err = failed(&train_with_config(&config, &["--out", "unused"]));
    assert!(
        err.contains("key `lr` on line 4 is given twice") && err.contains("train.toml"),
        "{err}"
    );
}

/// Pins: `quiet = true` in a config file was refused although `--help` says every option
/// is a key.
#[test]
fn quiet_and_max_memory_are_config_keys() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let config = dir.path().join("train.toml");
    std::fs::write(&config, "quiet = true\nmax_memory = \"4G\"\n").unwrap();
    let q = quick();
    ok(&cdg()
        .args(["train", "--config"])
        .arg(&config)
        .args(["--model", "tiny", "--epochs", "1", "--batch", "64"])
        .args([
            "--limit-train",
            "128",
            "--limit-test",
            "64",
            "--threads",
            "2",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap());
    assert_eq!(plan(&out), q.record());
    // The file's memory limit applies (the global flag would win).
    std::fs::write(&config, "max_memory = \"1M\"\n").unwrap();
    let err = failed(&train_with_config(
        &config,
        &["--model", "tiny", "--out", "unused", "--threads", "2"],
    ));
    assert!(err.contains("more than the limit of 1.00 MiB"), "{err}");
    ok(&cdg()
        .args(["--max-memory", "8G", "train", "--config"])
        .arg(&config)
        .args(["--model", "tiny", "--epochs", "1", "--batch", "64"])
        .args([
            "--limit-train",
            "128",
            "--limit-test",
            "64",
            "--threads",
            "2",
            "--out",
        ])
        .arg(dir.path().join("flag-wins"))
        .output()
        .unwrap());
    std::fs::write(&config, "quiet = \"yes\"\n").unwrap();
    let err = failed(&train_with_config(&config, &["--out", "unused"]));
    assert!(err.contains("`quiet` in config"), "{err}");
}
