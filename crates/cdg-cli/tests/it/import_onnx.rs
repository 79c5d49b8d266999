//! `cdg import onnx` and `cdg_io::onnx` on the fixtures of scripts/make_onnx_fixtures.py
//! (tests/onnx/): the script reproduces every committed file byte for byte; every op fixture
//! imports to the layer table the script computed; every zoo graph imports to the zoo builder's
//! table and to torchvision's (crates/cdg-core/tests/zoo); bad files fail naming the node, op or
//! input; mutated bytes never panic the parser; an imported network goes through `inspect`,
//! `masks synth` and `sim`.

use crate::support::{cdg, python_with, root};
use cdg_core::zoo::{Zoo, ZooOptions, layer_table};
use cdg_io::onnx::{ImportOptions, import_onnx, import_onnx_bytes};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    root().join("crates/cdg-cli/tests/onnx")
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn options_for(name: &str) -> ImportOptions {
    ImportOptions {
        input_shapes: if name == "dynamic" {
            vec![("x".to_owned(), vec![2, 3, 20, 20])]
        } else {
            Vec::new()
        },
        name_prefix: String::new(),
    }
}

#[test]
fn fixture_script_reproduces_the_committed_files() {
    let py = python_with(&["onnx"]);
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(&py)
        .arg(root().join("scripts/make_onnx_fixtures.py"))
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (want, got) = (files(&fixtures()), files(dir.path()));
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "file sets differ"
    );
    for (name, bytes) in &want {
        assert!(
            got[name] == *bytes,
            "{name} differs from the script's output"
        );
    }
    let total: usize = want.values().map(Vec::len).sum();
    assert!(total < 400_000, "fixtures grew to {total} bytes");
}

use std::process::Command;

#[test]
fn op_fixtures_import_to_their_tables() {
    let mut checked = 0;
    for (name, bytes) in files(&fixtures()) {
        let Some(stem) = name.strip_suffix(".csv") else {
            continue;
        };
        if stem == "bad" {
            continue;
        }
        let want = String::from_utf8(bytes).unwrap();
        let model = fixtures().join(format!("{stem}.onnx"));
        let imported =
            import_onnx(&model, &options_for(stem)).unwrap_or_else(|e| panic!("{stem}: {e}"));
        let got = layer_table(&imported.network);
        for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
            assert_eq!(g, w, "{stem}: line {}", i + 1);
        }
        assert_eq!(got.lines().count(), want.lines().count(), "{stem}");
        checked += 1;
    }
    assert_eq!(checked, 12, "every op fixture has a table");
}

#[test]
fn zoo_graphs_import_to_the_zoo_and_torchvision_tables() {
    for z in Zoo::ALL {
        let model = fixtures().join(format!("zoo-{}.onnx", z.name()));
        let imported =
            import_onnx(&model, &ImportOptions::default()).unwrap_or_else(|e| panic!("{z}: {e}"));
        let got = layer_table(&imported.network);
        let zoo = layer_table(&z.build(&ZooOptions::default()).unwrap());
        let torchvision =
            fs::read_to_string(root().join(format!("crates/cdg-core/tests/zoo/{}.csv", z.name())))
                .unwrap();
        assert_eq!(got, zoo, "{z}: import vs zoo builder");
        assert_eq!(got, torchvision, "{z}: import vs torchvision");
        assert_eq!(
            imported.inputs,
            vec![(
                "image".to_owned(),
                vec![1, 3, z.input_size(), z.input_size()]
            )]
        );
        // Shape-only ops are listed, not simulated.
        assert!(
            imported.skipped.contains_key("Relu") || imported.skipped.contains_key("Clip"),
            "{z}"
        );
    }
}

#[test]
fn bad_files_fail_naming_the_node_op_or_input() {
    let table = fs::read_to_string(fixtures().join("bad.csv")).unwrap();
    let mut n = 0;
    for line in table.lines().skip(1) {
        let (file, text) = line.split_once(',').unwrap();
        let text = text.trim_matches('"');
        let err = import_onnx(&fixtures().join(file), &ImportOptions::default())
            .expect_err(file)
            .to_string();
        assert!(
            err.contains(text),
            "{file}: `{err}` does not contain `{text}`"
        );
        assert!(
            err.contains(file),
            "{file}: the error names the file: {err}"
        );
        n += 1;
    }
    assert_eq!(n, 11);
}

#[test]
fn cli_imports_and_the_network_goes_through_inspect_synth_and_sim() {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("net");
    let out = cdg()
        .args(["import", "onnx"])
        .arg(fixtures().join("zoo-resnet18-cifar.onnx"))
        .arg("--out")
        .arg(&net)
        .args(["--name-prefix", "backbone."])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("imported 21 layers, 0.555 GMACs"),
        "{stdout}"
    );
    assert!(
        stdout.contains("BatchNormalization ×20") && stdout.contains("Relu ×17"),
        "{stdout}"
    );
    let trace = cdg_io::trace::read_trace(&net).unwrap();
    assert!(trace.masks.is_none());
    assert_eq!(trace.network.layers()[1].name(), "backbone.layer1.0.conv1");
    let inspect = cdg().arg("inspect").arg(&net).output().unwrap();
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let gated = dir.path().join("gated");
    let synth = cdg()
        .args([
            "masks",
            "synth",
            "--density",
            "0.5",
            "--samples",
            "2",
            "--gate",
        ])
        .arg("backbone.layer*.conv?=16x1x1,4")
        .arg("--trace")
        .arg(&net)
        .arg("--out")
        .arg(&gated)
        .output()
        .unwrap();
    assert!(
        synth.status.success(),
        "{}",
        String::from_utf8_lossy(&synth.stderr)
    );
    assert_eq!(
        cdg_io::trace::read_trace(&gated)
            .unwrap()
            .network
            .gated()
            .count(),
        16
    );
    let sim = crate::support::sim_trace_ok(
        &root().join("arch-configs/os-16x16-int8.toml"),
        &gated,
        &dir.path().join("sim"),
        &[],
    );
    assert!(!sim.is_empty());

    // Bad command lines name the flag or the input.
    let run = |extra: &[&str]| {
        let o = cdg()
            .args(["import", "onnx"])
            .arg(fixtures().join("dynamic.onnx"))
            .arg("--out")
            .arg(dir.path().join("x"))
            .args(extra)
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (ok, err) = run(&[]);
    assert!(
        !ok && err.contains("graph input `x`: dimension 0 is dynamic"),
        "{err}"
    );
    let (ok, err) = run(&["--input-shape", "x=2x3x0x20"]);
    assert!(!ok && err.contains("--input-shape `x=2x3x0x20`"), "{err}");
    let (ok, err) = run(&["--input-shape", "image=1x3x20x20"]);
    assert!(
        !ok && err.contains("no graph input `image`; its inputs are x"),
        "{err}"
    );
    let (ok, err) = run(&["--input-shape", "x=2x3x20x20"]);
    assert!(ok, "{err}");
    assert!(!dir.path().join("y").exists());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Flipped, dropped and inserted bytes give an error or a network, never a panic.
    #[test]
    fn mutated_models_never_panic(
        file in proptest::sample::select(vec!["conv-attrs", "shapes", "zoo-mobilenetv2", "resize"]),
        edits in proptest::collection::vec((0usize..60_000, proptest::num::u8::ANY, 0u8..3), 1..6),
    ) {
        let mut bytes = fs::read(fixtures().join(format!("{file}.onnx"))).unwrap();
        for (at, value, kind) in edits {
            let at = at % bytes.len().max(1);
            match kind {
                0 => bytes[at] = value,
                1 => { bytes.remove(at); }
                _ => bytes.insert(at, value),
            }
            if bytes.is_empty() {
                break;
            }
        }
        let _ = import_onnx_bytes(&bytes, Path::new("mutated.onnx"), &ImportOptions::default());
    }
}

/// The layer table without the name column.
fn shapes_only(table: &str) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .map(|l| l.split_once(',').unwrap().1.to_owned())
        .collect()
}

#[test]
fn pytorch_exports_import_to_the_zoo_shapes() {
    // Real torch.onnx.export output (scripts/export_torchvision_onnx.py), weights stripped.
    for (file, z) in [
        ("resnet50", Zoo::Resnet50),
        ("mobilenetv2", Zoo::MobileNetV2),
    ] {
        let model = root().join(format!("crates/cdg-cli/tests/onnx-torch/{file}.onnx"));
        let imported = import_onnx(&model, &ImportOptions::default())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let zoo = z.build(&ZooOptions::default()).unwrap();
        assert_eq!(
            shapes_only(&layer_table(&imported.network)),
            shapes_only(&layer_table(&zoo)),
            "{file}"
        );
        assert_eq!(
            imported.inputs,
            vec![("input".to_owned(), vec![1, 3, 224, 224])]
        );
        // PyTorch names nodes after the module path.
        assert!(
            imported.network.layers()[0].name().contains("conv1")
                || imported.network.layers()[0].name().contains("features.0"),
            "{file}"
        );
    }
}
