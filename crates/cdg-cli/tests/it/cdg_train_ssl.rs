//! `cdg train --objective simclr|simsiam` with gating: outputs (metrics schema, summary,
//! trace), the trace is read by `cdg inspect` and `cdg sim`, regeneration with the same
//! seed is byte-identical (flags or the equivalent TOML config), option errors, divergence.

use crate::support::{cdg, root};
use cdg_io::layout::trace::{MANIFEST_FILE, MASKS_FILE};
use cdg_io::layout::train::{METRICS_CSV, SUMMARY_JSON, TRACE_DIR};
use std::path::Path;

const HEADER: &str = "epoch,loss,test_accuracy,knn_accuracy,gate_sparsity,images_per_s,lr";

/// A tiny, fast gated run.
const QUICK: &[&str] = &[
    "--model",
    "tiny",
    "--epochs",
    "1",
    "--batch",
    "64",
    "--lr",
    "0.1",
    "--limit-train",
    "256",
    "--limit-test",
    "300",
    "--calibration-samples",
    "256",
    "--trace-samples",
    "12",
    "--probe-epochs",
    "5",
    "--proj-hidden",
    "64",
    "--threads",
    "2",
    "--seed",
    "3",
];

fn train(out: &Path, extra: &[&str]) -> std::process::Output {
    cdg()
        .args(["train", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .expect("cdg runs")
}

fn ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "cdg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join(SUMMARY_JSON)).unwrap()).unwrap()
}

#[test]
fn gated_simclr_writes_metrics_summary_and_a_trace_the_simulator_reads() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = QUICK.to_vec();
    args.extend([
        "--objective",
        "simclr",
        "--gating",
        "dual",
        "--gate-block",
        "4,1,1",
        "--target-sparsity",
        "0.5",
        "--consistency-align",
        "geometric",
    ]);
    ok(&train(dir.path(), &args));
    let text = std::fs::read_to_string(dir.path().join(METRICS_CSV)).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(HEADER));
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(row[0], "1");
    assert_eq!(row[2], "", "no test accuracy for SSL");
    let knn: f64 = row[3].parse().unwrap();
    assert!((0.0..=1.0).contains(&knn));
    let sp: f64 = row[4].parse().unwrap();
    assert!((0.0..=1.0).contains(&sp), "training sparsity {sp}");
    let s = summary(dir.path());
    for key in [
        "knn_accuracy",
        "linear_accuracy",
        "gate_sparsity",
        "train_gate_sparsity",
    ] {
        let v = s[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} in summary: {s}"));
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
    }
    let eval = s["gate_sparsity"].as_f64().unwrap();
    assert!(
        (eval - 0.5).abs() <= 0.03,
        "calibrated test sparsity {eval}"
    );
    assert!(s["flops_reduction"].as_f64().unwrap() > 1.0);
    assert_eq!(
        s["layers"].as_array().unwrap().len(),
        9,
        "stem, 6 gated, 2 shortcuts"
    );
    let trace = dir.path().join(TRACE_DIR);
    let t = cdg_io::trace::read_trace(&trace).unwrap();
    assert_eq!(t.samples, 12);
    assert_eq!(t.network.gated().count(), 6);
    assert_eq!(t.provenance["seed"], 3);
    let out = cdg().arg("inspect").arg(&trace).output().unwrap();
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("layer1.0.conv1"));
    let sim = tempfile::tempdir().unwrap();
    let out = cdg()
        .args(["sim", "--arch"])
        .arg(root().join("arch-configs/ws-32x32-int8.toml"))
        .arg("--trace")
        .arg(&trace)
        .arg("--out")
        .arg(sim.path())
        .output()
        .unwrap();
    ok(&out);
}

#[test]
fn same_seed_regenerates_a_byte_identical_trace_from_flags_or_toml() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    let mut args = QUICK.to_vec();
    args.extend([
        "--objective",
        "simclr",
        "--gating",
        "independent",
        "--granularity",
        "unstructured",
        "--target-sparsity",
        "0.6",
    ]);
    ok(&train(a.path(), &args));
    ok(&train(b.path(), &args));
    let config = c.path().join("run.toml");
    std::fs::write(
        &config,
        "model = \"tiny\"\nepochs = 1\nbatch = 64\nlr = 0.1\nlimit_train = 256\nlimit_test = 300\n\
         calibration_samples = 256\ntrace_samples = 12\nprobe_epochs = 5\nproj_hidden = 64\n\
         threads = 2\nseed = 3\nobjective = \"simclr\"\ngating = \"independent\"\n\
         granularity = \"unstructured\"\ntarget_sparsity = 0.6\n",
    )
    .unwrap();
    let out_c = c.path().join("out");
    ok(&cdg()
        .args(["train", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&out_c)
        .output()
        .unwrap());
    for f in [MANIFEST_FILE, MASKS_FILE] {
        let x = std::fs::read(a.path().join(TRACE_DIR).join(f)).unwrap();
        assert_eq!(
            x,
            std::fs::read(b.path().join(TRACE_DIR).join(f)).unwrap(),
            "{f}"
        );
        assert_eq!(
            x,
            std::fs::read(out_c.join(TRACE_DIR).join(f)).unwrap(),
            "{f} via TOML"
        );
    }
}

#[test]
fn simsiam_dense_run_has_no_trace_and_empty_sparsity() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = QUICK.to_vec();
    args.extend(["--objective", "simsiam"]);
    ok(&train(dir.path(), &args));
    let s = summary(dir.path());
    assert!(s["gate_sparsity"].is_null());
    assert!(s["trace"].is_null());
    assert!(!dir.path().join(TRACE_DIR).exists());
    let text = std::fs::read_to_string(dir.path().join(METRICS_CSV)).unwrap();
    let row: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(row[4], "");
    assert!((s["flops_reduction"].as_f64().unwrap() - 1.0).abs() < 1e-12);
}

#[test]
fn bad_ssl_options_fail_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, needle) in [
        (vec!["--gate-block", "0,1,1"], "gate-block"),
        (
            vec!["--gating", "dual", "--target-sparsity", "1.5"],
            "target-sparsity",
        ),
        (
            vec!["--gating", "dual", "--threshold", "scheduled"],
            "target-sparsity",
        ),
        (vec!["--gating", "dual"], "gating"),
        (
            vec![
                "--gating",
                "dual",
                "--target-sparsity",
                "0.5",
                "--train-skip-margin=-1",
            ],
            "train-skip-margin",
        ),
        (vec!["--train-skip-margin", "1"], "train-skip-margin"),
    ] {
        let objective = if needle == "gating" {
            "supervised"
        } else {
            "simclr"
        };
        let mut args = vec!["--objective", objective];
        args.extend(extra.iter());
        let out = train(dir.path(), &args);
        assert!(!out.status.success(), "{extra:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{extra:?}: {err}");
    }
}

/// `--train-skip-margin` reaches the trainer: it is recorded in the run's plan (absent when
/// not given, so older runs still resume), and dropping the straight-through gradient of the
/// gated-off blocks (margin 0) changes the training, while calibration still meets the target;
/// the same seed gives the same bits again.
#[test]
fn train_skip_margin_is_recorded_and_changes_training() {
    let masked = tempfile::tempdir().unwrap();
    let skip = tempfile::tempdir().unwrap();
    let mut args = QUICK.to_vec();
    args.extend([
        "--objective",
        "simclr",
        "--gating",
        "dual",
        "--gate-block",
        "8,1,1",
        "--target-sparsity",
        "0.5",
    ]);
    ok(&train(masked.path(), &args));
    args.extend(["--train-skip-margin", "0"]);
    ok(&train(skip.path(), &args));
    let (a, b) = (summary(masked.path()), summary(skip.path()));
    assert!(
        a["plan"].get("train_skip_margin").is_none(),
        "{}",
        a["plan"]
    );
    assert_eq!(b["plan"]["train_skip_margin"].as_f64(), Some(0.0));
    let loss = |d: &Path| {
        let text = std::fs::read_to_string(d.join(METRICS_CSV)).unwrap();
        let row: Vec<String> = text
            .lines()
            .nth(1)
            .unwrap()
            .split(',')
            .map(String::from)
            .collect();
        row[1].parse::<f64>().unwrap()
    };
    assert_ne!(loss(masked.path()), loss(skip.path()));
    // Dual gating (soft gates, consistency loss) with skipping is deterministic too.
    let again = tempfile::tempdir().unwrap();
    ok(&train(again.path(), &args));
    for f in [MANIFEST_FILE, MASKS_FILE] {
        assert_eq!(
            std::fs::read(skip.path().join(TRACE_DIR).join(f)).unwrap(),
            std::fs::read(again.path().join(TRACE_DIR).join(f)).unwrap(),
            "{f}"
        );
    }
    assert_eq!(loss(skip.path()).to_bits(), loss(again.path()).to_bits());
    for s in [&a, &b] {
        let sp = s["gate_sparsity"].as_f64().unwrap();
        assert!((sp - 0.5).abs() < 0.05, "calibrated sparsity {sp}");
    }
}

#[test]
fn diverging_ssl_run_stops_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<&str> = QUICK.to_vec();
    let i = args.iter().position(|&a| a == "--lr").unwrap();
    args[i + 1] = "1e30";
    args.extend(["--objective", "simclr"]);
    let out = train(dir.path(), &args);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("diverged"), "{err}");
}

#[test]
fn interrupted_and_resumed_simsiam_run_equals_the_uninterrupted_one() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let mut args: Vec<&str> = QUICK.to_vec();
    let i = args.iter().position(|&x| x == "--epochs").unwrap();
    args[i + 1] = "2";
    args.extend([
        "--objective",
        "simsiam",
        "--gating",
        "independent",
        "--threshold",
        "learned",
        "--target-sparsity",
        "0.5",
        "--knn-every",
        "1",
    ]);
    ok(&train(a.path(), &args));
    let mut first = args.clone();
    first.extend(["--stop-after", "1"]);
    ok(&train(b.path(), &first));
    assert!(
        !b.path().join(TRACE_DIR).exists(),
        "no trace before the run completes"
    );
    let mut resumed = args.clone();
    resumed.push("--resume");
    ok(&train(b.path(), &resumed));
    for f in [MANIFEST_FILE, MASKS_FILE] {
        assert_eq!(
            std::fs::read(a.path().join(TRACE_DIR).join(f)).unwrap(),
            std::fs::read(b.path().join(TRACE_DIR).join(f)).unwrap(),
            "{f}"
        );
    }
    // Same losses, kNN and sparsities per epoch (throughput differs; the resumed run's
    // earlier rows pass through the checkpoint's JSON header, so compare to 1e-12).
    let rows = |d: &Path| -> Vec<Vec<Option<f64>>> {
        std::fs::read_to_string(d.join(METRICS_CSV))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                l.split(',')
                    .enumerate()
                    .filter(|&(i, _)| i != 5)
                    .map(|(_, f)| f.parse::<f64>().ok())
                    .collect()
            })
            .collect()
    };
    let (ra, rb) = (rows(a.path()), rows(b.path()));
    assert_eq!(ra.len(), 2);
    for (x, y) in ra.iter().zip(&rb) {
        for (p, q) in x.iter().zip(y) {
            match (p, q) {
                (Some(p), Some(q)) => {
                    assert!((p - q).abs() <= 1e-12 * p.abs().max(1.0), "{x:?} vs {y:?}")
                }
                (None, None) => {}
                _ => panic!("{x:?} vs {y:?}"),
            }
        }
    }
    assert_eq!(
        summary(a.path())["resumed_from_epoch"],
        serde_json::Value::Null
    );
    assert_eq!(summary(b.path())["resumed_from_epoch"], 1);
}

/// `--init-from`: a gated run starts from a dense run's checkpoint; its trace manifest records
/// the floor, the kNN, the calibrated sparsity, the commit and a command that reproduces the
/// trace byte for byte. Another architecture is refused naming the tensor and shapes.
#[test]
fn init_from_a_dense_checkpoint_and_the_trace_provenance_reproduces_it() {
    let dense = tempfile::tempdir().unwrap();
    let mut args = QUICK.to_vec();
    args.extend(["--objective", "simclr"]);
    ok(&train(dense.path(), &args));
    let ckpt = dense.path().join("checkpoint.cdgckpt");
    let ckpt_arg = ckpt.display().to_string();

    let gated = tempfile::tempdir().unwrap();
    let mut args = QUICK.to_vec();
    args.extend([
        "--objective",
        "simclr",
        "--gating",
        "dual",
        "--gate-block",
        "4,1,1",
        "--target-sparsity",
        "0.5",
        "--knn-init",
        "--init-from",
        &ckpt_arg,
    ]);
    ok(&train(gated.path(), &args));
    let s = summary(gated.path());
    let trace = gated.path().join(TRACE_DIR);
    let t = cdg_io::trace::read_trace(&trace).unwrap();
    let p = &t.provenance;
    assert_eq!(p["knn_accuracy"], s["knn_accuracy"]);
    assert_eq!(p["init_knn_accuracy"], s["init_knn_accuracy"]);
    assert!(p["init_knn_accuracy"].as_f64().is_some(), "{p}");
    assert_eq!(p["gate_sparsity"], s["gate_sparsity"]);
    assert_eq!(p["calibration_target"], 0.5);
    assert_eq!(p["config"]["init_from"], ckpt_arg.as_str());
    let commit = p["commit"].as_str().unwrap();
    assert!(
        commit == "unknown"
            || (commit.len() == 40 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{commit}"
    );
    // The recorded command, with its `--out DIR`, reproduces the trace.
    let command = p["command"].as_str().unwrap();
    assert!(command.starts_with("cdg train "), "{command}");
    assert!(command.ends_with(" --out DIR"), "{command}");
    assert!(
        command.contains("--knn-init") && command.contains("--init-from"),
        "{command}"
    );
    let again = tempfile::tempdir().unwrap();
    let words: Vec<String> = command
        .split_whitespace()
        .skip(2)
        .map(|w| {
            if w == "DIR" {
                again.path().display().to_string()
            } else {
                w.to_owned()
            }
        })
        .collect();
    let out = cdg()
        .arg("train")
        .args(&words)
        .args(["--threads", "2"])
        .output()
        .unwrap();
    ok(&out);
    for f in [MANIFEST_FILE, MASKS_FILE] {
        assert_eq!(
            std::fs::read(trace.join(f)).unwrap(),
            std::fs::read(again.path().join(TRACE_DIR).join(f)).unwrap(),
            "{f} from the recorded command"
        );
    }

    // ResNet-18 at width 0.25 from the tiny network's checkpoint: refused before training.
    let wrong = tempfile::tempdir().unwrap();
    let out = train(
        wrong.path(),
        &[
            "--objective",
            "simclr",
            "--gating",
            "dual",
            "--model",
            "resnet18",
            "--width",
            "0.25",
            "--epochs",
            "1",
            "--limit-train",
            "128",
            "--limit-test",
            "64",
            "--init-from",
            &ckpt_arg,
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--init-from"), "{err}");
    assert!(
        err.contains("`conv1.weight` has shape [8, 1, 3, 3] in the checkpoint but [16, 1, 3, 3]"),
        "{err}"
    );
    // Supervised runs do not take it.
    let out = train(
        wrong.path(),
        &["--objective", "supervised", "--init-from", &ckpt_arg],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--init-from: initialises SSL runs"), "{err}");
}

/// `--data image-folder:PATH`: a generated tree of PNG and JPEG files at resolution 64 trains
/// with the ImageNet stem; the text file is skipped with a warning naming it.
#[test]
fn image_folder_data_trains_with_the_imagenet_stem() {
    use image::{ImageFormat, Rgb, RgbImage};
    let data = tempfile::tempdir().unwrap();
    for (split, n) in [("train", 6), ("val", 2)] {
        for (c, class) in ["ant", "bee", "cat"].iter().enumerate() {
            let dir = data.path().join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..n {
                let img = RgbImage::from_fn(70 + i, 64, |x, y| {
                    Rgb([(x * 3) as u8, (y * 3) as u8, (c * 100) as u8])
                });
                let (name, format) = if i % 2 == 0 {
                    (format!("{i}.png"), ImageFormat::Png)
                } else {
                    (format!("{i}.jpg"), ImageFormat::Jpeg)
                };
                img.save_with_format(dir.join(name), format).unwrap();
            }
        }
    }
    let notes = data.path().join("train/ant/notes.txt");
    std::fs::write(&notes, "not an image").unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let data_arg = format!("image-folder:{}", data.path().display());
    let out = train(
        out_dir.path(),
        &[
            "--objective",
            "supervised",
            "--model",
            "tiny",
            "--epochs",
            "1",
            "--batch",
            "6",
            "--data",
            &data_arg,
            "--resolution",
            "64",
            "--threads",
            "2",
        ],
    );
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning") && err.contains(&notes.display().to_string()),
        "{err}"
    );
    let s = summary(out_dir.path());
    assert_eq!(s["plan"]["resolution"], 64);
    assert!(s["test_accuracy"].as_f64().is_some(), "{s}");
    // A corrupt image stops the run naming it.
    std::fs::write(data.path().join("val/bee/9.png"), b"not a png").unwrap();
    let out = train(
        out_dir.path(),
        &[
            "--objective",
            "supervised",
            "--model",
            "tiny",
            "--epochs",
            "1",
            "--data",
            &data_arg,
            "--resolution",
            "64",
            "--force",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("val/bee/9.png"), "{err}");
    // --resolution does not resize the built-in data.
    let out = train(
        out_dir.path(),
        &[
            "--objective",
            "supervised",
            "--model",
            "tiny",
            "--epochs",
            "1",
            "--resolution",
            "64",
            "--limit-train",
            "64",
            "--force",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--resolution 64 applies to image folders"),
        "{err}"
    );
}
