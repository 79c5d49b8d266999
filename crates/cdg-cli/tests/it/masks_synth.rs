//! `cdg masks synth`: writes valid traces whose block density is the requested one in every
//! layer and sample, byte-identical for the same seed, from a topology, a trace or the built-in
//! ResNet-18; bad flags fail naming the flag.

use crate::support::{cdg, root};
use cdg_io::layout::trace::{MANIFEST_FILE, MASKS_FILE};
use cdg_io::trace::read_trace;
use std::fs;
use std::path::Path;
use std::process::Output;

const TOPOLOGY: &str = "\
Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
stem, 18, 18, 3, 3, 3, 16, 1,
body3x3, 16, 16, 3, 3, 16, 24, 1,
shortcut, 16, 16, 1, 1, 16, 24, 1,
wide5x5, 14, 14, 5, 5, 24, 40, 2,
";

fn synth(args: &[&str], out: &Path) -> Output {
    cdg()
        .args(["masks", "synth"])
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("cdg runs")
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn fail_naming(o: &Output, what: &str) {
    assert!(!o.status.success(), "expected failure naming {what}");
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains(what), "error should name {what}: {e}");
}

#[test]
fn topology_gets_exact_block_density_and_the_gating_rule() {
    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("net.csv");
    fs::write(&topo, TOPOLOGY).unwrap();
    let out = dir.path().join("trace");
    let o = synth(
        &[
            "--topology",
            topo.to_str().unwrap(),
            "--density",
            "0.3",
            "--gate-block",
            "4,2,3",
            "--base-partitions",
            "4",
            "--samples",
            "6",
            "--seed",
            "11",
        ],
        &out,
    );
    ok(&o);
    let trace = read_trace(&out).unwrap();
    assert_eq!(trace.samples, 6);
    // The stem (first layer) and the 1×1 shortcut are not gated; the 3×3 and 5×5 convs are.
    let gated: Vec<&str> = trace.network.gated().map(|(_, l, _)| l.name()).collect();
    assert_eq!(gated, ["body3x3", "wide5x5"]);
    let masks = trace.masks.as_ref().unwrap();
    for (_, layer, spec) in trace.network.gated() {
        assert_eq!(spec.block.as_array(), [4, 2, 3]);
        assert_eq!(spec.base_channels, layer.shape.in_channels().div_ceil(4));
        let m = masks.layer(layer.name()).unwrap();
        let blocks = m.blocks_per_sample() as f64;
        for s in 0..6 {
            // Block density exact up to rounding; element density close (partial edge blocks).
            assert!((m.block_density(s) - 0.3).abs() <= 0.5 / blocks + 1e-12);
            assert!((m.density(s) - 0.3).abs() < 0.08, "{}", m.density(s));
        }
    }
    assert_eq!(trace.provenance["generator"], "cdg masks synth");
    assert_eq!(trace.provenance["seed"], 11);
    assert_eq!(trace.provenance["density"], 0.3);

    // `cdg inspect` reads it back and reports the density.
    let insp = cdg()
        .arg("inspect")
        .arg(&out)
        .arg("--json")
        .output()
        .unwrap();
    ok(&insp);
    let v: serde_json::Value = serde_json::from_slice(&insp.stdout).unwrap();
    let d = v["network"]["density_mean"].as_f64().unwrap();
    assert!((d - 0.3).abs() < 0.05, "{d}");
}

#[test]
fn same_seed_gives_identical_files_and_another_seed_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--network",
        "resnet18-cifar",
        "--width",
        "0.25",
        "--density",
        "0.5",
        "--samples",
        "8",
        "--seed",
        "3",
    ];
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    ok(&synth(&args, &a));
    ok(&synth(&args, &b));
    let mut other = args;
    other[9] = "4";
    ok(&synth(&other, &c));
    for f in [MANIFEST_FILE, MASKS_FILE] {
        assert_eq!(
            fs::read(a.join(f)).unwrap(),
            fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
    assert_ne!(
        fs::read(a.join(MASKS_FILE)).unwrap(),
        fs::read(c.join(MASKS_FILE)).unwrap()
    );
    let trace = read_trace(&a).unwrap();
    assert_eq!(trace.network.len(), 21);
    assert_eq!(trace.network.gated().count(), 16);
    let masks = trace.masks.unwrap();
    for (name, m) in masks.iter() {
        for s in 0..8 {
            assert!((m.block_density(s) - 0.5).abs() < 1e-9, "{name}");
        }
    }
}

#[test]
fn gated_trace_keeps_its_gated_layers() {
    let dir = tempfile::tempdir().unwrap();
    let small = root().join("crates/cdg-io/tests/data/trace-small");
    let before = read_trace(&small).unwrap();
    let out = dir.path().join("t");
    ok(&synth(
        &[
            "--trace",
            small.to_str().unwrap(),
            "--density",
            "0.75",
            "--samples",
            "3",
        ],
        &out,
    ));
    let after = read_trace(&out).unwrap();
    let specs = |t: &cdg_io::trace::Trace| {
        t.network
            .gated()
            .map(|(_, l, g)| (l.name().to_owned(), *g))
            .collect::<Vec<_>>()
    };
    assert_eq!(specs(&before), specs(&after));
    assert_eq!(after.samples, 3);
}

#[test]
fn bad_flags_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let net = ["--network", "resnet18-cifar", "--width", "0.25"];
    let with = |extra: &[&str]| {
        let mut v: Vec<&str> = net.to_vec();
        v.extend_from_slice(extra);
        synth(&v, &out)
    };
    fail_naming(&with(&["--density", "1.5"]), "--density 1.5");
    fail_naming(&with(&["--density", "-0.1"]), "--density -0.1");
    fail_naming(&with(&["--density", "NaN"]), "--density NaN");
    fail_naming(
        &with(&["--density", "0.5", "--gate-block", "16,0,1"]),
        "--gate-block",
    );
    fail_naming(
        &with(&["--density", "0.5", "--gate-block", "16,1"]),
        "--gate-block",
    );
    fail_naming(
        &with(&["--density", "0.5", "--base-partitions", "0"]),
        "--base-partitions",
    );
    fail_naming(&with(&["--density", "0.5", "--samples", "0"]), "--samples");
    fail_naming(&with(&["--density", "0.5", "--width", "0"]), "--width");
    let topo = dir.path().join("flat.csv");
    fs::write(
        &topo,
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, \
         Num Filter, Strides,\nonly, 8, 8, 3, 3, 4, 8, 1,\npw, 6, 6, 1, 1, 8, 8, 1,\n",
    )
    .unwrap();
    fail_naming(
        &synth(
            &["--topology", topo.to_str().unwrap(), "--density", "0.5"],
            &out,
        ),
        "can be gated",
    );
    fail_naming(
        &synth(
            &["--topology", "/nonexistent/t.csv", "--density", "0.5"],
            &out,
        ),
        "--topology",
    );
    assert!(!out.exists(), "nothing written on error");
}

#[test]
fn ungated_trace_is_gated_by_the_rule() {
    use cdg_core::{ConvParams, Layer, LayerShape, Network, OutputRule};
    let conv = |name: &str, cin: u64, k: u64| Layer {
        shape: LayerShape::conv(
            name,
            ConvParams {
                in_channels: cin,
                in_height: 8,
                in_width: 8,
                out_channels: 8,
                kernel: [k, k],
                stride: 1,
                padding: k / 2,
                rule: OutputRule::Floor,
            },
        )
        .unwrap(),
        gate: None,
    };
    let network = Network::new(vec![
        conv("first3x3", 3, 3),
        conv("mid3x3", 8, 3),
        conv("point", 8, 1),
        conv("last3x3", 8, 3),
    ])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("dense");
    let trace = cdg_io::trace::Trace {
        network,
        masks: None,
        samples: 2,
        provenance: serde_json::Value::Null,
    };
    cdg_io::trace::write_trace(&src, &trace, false).unwrap();
    let out = dir.path().join("gated");
    ok(&synth(
        &[
            "--trace",
            src.to_str().unwrap(),
            "--density",
            "0.5",
            "--base-partitions",
            "2",
            "--gate-block",
            "2,2,2",
            "--samples",
            "2",
        ],
        &out,
    ));
    let t = read_trace(&out).unwrap();
    let gated: Vec<(&str, u64)> = t
        .network
        .gated()
        .map(|(_, l, g)| (l.name(), g.base_channels))
        .collect();
    assert_eq!(gated, [("mid3x3", 4), ("last3x3", 4)]);
}

/// `--gate-block` reads the gate rules' `16x1x1` spelling as well as `16,1,1`, to the same bytes.
#[test]
fn gate_block_accepts_the_rule_spelling() {
    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("net.csv");
    fs::write(&topo, TOPOLOGY).unwrap();
    let run = |block: &str, name: &str| {
        let out = dir.path().join(name);
        let args = [
            "--topology",
            topo.to_str().unwrap(),
            "--density",
            "0.5",
            "--gate-block",
            block,
            "--samples",
            "3",
        ];
        ok(&synth(&args, &out));
        fs::read(out.join("masks.npz")).unwrap()
    };
    assert_eq!(run("4,2,3", "comma"), run("4x2x3", "cross"));
}
