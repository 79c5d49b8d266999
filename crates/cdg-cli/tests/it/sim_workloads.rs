//! Real workloads end to end: every built-in network simulates on every shipped design
//! (`cdg sim --network`), MobileNetV2 gated by a user rule simulates as its 53 layers (not one
//! layer per depthwise channel), and batches (`--batch`, the sweepable `workload.batch`).

use crate::support::csv_rows;
use crate::support::{cdg, root};
use cdg_core::zoo::{Zoo, ZooOptions};
use std::path::{Path, PathBuf};

fn designs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("arch-configs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    assert!(v.len() >= 4, "{v:?}");
    v
}

fn sim(args: &[&str], arch: &Path, out: &Path) -> String {
    let o = cdg()
        .arg("sim")
        .arg("--arch")
        .arg(arch)
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "cdg sim {args:?} on {}: {}",
        arch.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn every_zoo_network_simulates_on_every_shipped_design() {
    let dir = tempfile::tempdir().unwrap();
    for z in Zoo::ALL {
        let net = z.build(&ZooOptions::default()).unwrap();
        for arch in designs() {
            let out = dir.path().join(format!(
                "{}-{}",
                z.name(),
                arch.file_stem().unwrap().to_string_lossy()
            ));
            sim(&["--network", z.name()], &arch, &out);
            let layers = csv_rows(&out.join("layers.csv"));
            assert_eq!(layers.len(), net.len(), "{z} on {}", arch.display());
            let total = &csv_rows(&out.join("network.csv"))[0];
            let macs: u64 = net.layers().iter().map(|l| l.shape.macs().get()).sum();
            assert_eq!(total["macs_needed"], macs.to_string(), "{z}");
            assert!(total["cycles"].parse::<u64>().unwrap() > 0);
        }
    }
}

#[test]
fn mobilenetv2_gated_by_a_rule_simulates_as_its_own_layers() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    let o = cdg()
        .args([
            "masks",
            "synth",
            "--network",
            "mobilenetv2",
            "--density",
            "0.5",
        ])
        .args(["--samples", "2", "--gate", "features.*=16x1x1,0", "--out"])
        .arg(&trace)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let net = Zoo::MobileNetV2.build(&ZooOptions::default()).unwrap();
    assert_eq!(net.len(), 53);
    for arch in designs() {
        let out = dir
            .path()
            .join(arch.file_stem().unwrap().to_string_lossy().into_owned());
        sim(&["--trace", trace.to_str().unwrap()], &arch, &out);
        let layers = csv_rows(&out.join("layers.csv"));
        assert_eq!(layers.len(), 53, "{}", arch.display());
        let gated = layers
            .iter()
            .filter(|l| l["schedule"].starts_with("gated"))
            .count();
        assert_eq!(gated, 52, "{}", arch.display());
        let total = &csv_rows(&out.join("network.csv"))[0];
        let needed: f64 = total["macs_needed"].parse().unwrap();
        let dense: f64 = total["macs_dense"].parse().unwrap();
        assert!(needed < dense, "{}: gates skip work", arch.display());
    }
}

#[test]
fn batches_amortise_weights_and_report_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let arch = root().join("arch-configs/os-16x16-int8.toml");
    let net = ["--network", "resnet18-cifar", "--width", "0.25"];
    let run = |batch: Option<&str>, name: &str| {
        let out = dir.path().join(name);
        let mut args = net.to_vec();
        if let Some(b) = batch {
            args.extend(["--batch", b]);
        }
        sim(&args, &arch, &out);
        out
    };
    let plain = run(None, "plain");
    let one = run(Some("1"), "one");
    for f in ["network.csv", "layers.csv", "arch.toml"] {
        assert_eq!(
            std::fs::read(plain.join(f)).unwrap(),
            std::fs::read(one.join(f)).unwrap(),
            "--batch 1 is the default: {f}"
        );
    }
    let four = run(Some("4"), "four");
    let (r1, r4) = (
        &csv_rows(&one.join("network.csv"))[0],
        &csv_rows(&four.join("network.csv"))[0],
    );
    let num =
        |r: &std::collections::HashMap<String, String>, k: &str| -> f64 { r[k].parse().unwrap() };
    assert_eq!(r4["batch"], "4");
    let (c1, c4) = (num(r1, "cycles"), num(r4, "cycles"));
    assert!(c4 >= c1 && c4 <= 4.0 * c1, "{c1} vs {c4}");
    assert_eq!(num(r4, "latency_per_batch_us"), num(r4, "latency_us"));
    let ips = 4.0 * 1e6 / num(r4, "latency_per_batch_us");
    assert!((num(r4, "images_per_s") - ips).abs() <= 1e-9 * ips);
    assert!(num(r4, "images_per_s") >= num(r1, "images_per_s"));
    // Weights once per batch.
    assert!(num(r4, "dram_filter_read_bytes") <= 4.0 * num(r1, "dram_filter_read_bytes"));
    assert!(
        std::fs::read_to_string(four.join("arch.toml"))
            .unwrap()
            .contains("[workload]\nbatch = 4")
    );

    // Bad batches are named; a gated trace needs a batch that divides its sample count.
    let o = cdg()
        .args(["sim", "--arch"])
        .arg(&arch)
        .args(net)
        .args(["--batch", "0", "--out"])
        .arg(dir.path().join("zero"))
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && e.contains("workload.batch"), "{e}");
    let trace = dir.path().join("trace");
    let o = cdg()
        .args([
            "masks",
            "synth",
            "--network",
            "resnet18-cifar",
            "--width",
            "0.25",
        ])
        .args(["--density", "0.5", "--samples", "2", "--out"])
        .arg(&trace)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = cdg()
        .args(["sim", "--arch"])
        .arg(&arch)
        .arg("--trace")
        .arg(&trace)
        .args(["--batch", "3", "--out"])
        .arg(dir.path().join("gated"))
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && e.contains("workload.batch") && e.contains("2 samples"),
        "{e}"
    );
    assert!(!dir.path().join("gated").exists(), "nothing written");
}

#[test]
fn a_gated_trace_runs_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let arch = root().join("arch-configs/os-16x16-int8.toml");
    let trace = root().join("traces/cdg-resnet18-w0.25-structured");
    let run = |batch: &str, extra: &[&str]| {
        let out = dir.path().join(format!("b{batch}{}", extra.len()));
        let mut args = vec!["--trace", trace.to_str().unwrap(), "--batch", batch];
        args.extend(extra);
        sim(&args, &arch, &out);
        out
    };
    let one = csv_rows(&run("1", &[]).join("network.csv"));
    let four_dir = run("4", &[]);
    let four = csv_rows(&four_dir.join("network.csv"));
    let (one, four) = (&one[0], &four[0]);
    assert_eq!(four["batch"], "4");
    let f =
        |r: &std::collections::HashMap<String, String>, k: &str| -> f64 { r[k].parse().unwrap() };
    // The same gates, four samples at a time: the batch needs the MACs of four samples and
    // takes no less than one sample's time.
    let ratio = f(four, "macs_needed") / f(one, "macs_needed");
    assert!((ratio - 4.0).abs() < 1e-6, "{ratio}");
    assert!(f(four, "cycles") >= f(one, "cycles"), "{four:?}");
    assert!(f(four, "images_per_s") > 0.0);
    let layers = csv_rows(&four_dir.join("layers.csv"));
    assert!(layers.iter().any(|l| l["schedule"].starts_with("gated")));
    // --per-sample: one row per batch of four of the trace's 64 samples.
    let per = csv_rows(&run("4", &["--per-sample"]).join("network.csv"));
    assert_eq!(per.len(), 16);
    assert_eq!(per[1]["sample"], "4");
}

#[test]
fn a_sweep_over_batch_sizes_runs() {
    let dir = tempfile::tempdir().unwrap();
    let spec = crate::sweep_fixtures::write_spec(dir.path(), "\"workload.batch\" = [1, 2, 8]\n");
    let out = dir.path().join("out");
    crate::sweep_fixtures::ok(&[
        "sweep",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    let r = csv_rows(&out.join("sweep.csv"));
    assert_eq!(r.len(), 3);
    let cycles: Vec<f64> = r.iter().map(|x| x["cycles"].parse().unwrap()).collect();
    for (i, b) in ["1", "2", "8"].iter().enumerate() {
        assert_eq!(r[i]["workload.batch"], *b);
        assert_eq!(r[i]["batch"], *b);
    }
    assert!(
        cycles[0] <= cycles[1] && cycles[1] <= 2.0 * cycles[0],
        "{cycles:?}"
    );
    assert!(cycles[2] <= 8.0 * cycles[0], "{cycles:?}");
}
