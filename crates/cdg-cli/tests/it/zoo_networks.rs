//! The model zoo across crates: `resnet18-cifar` of `cdg_core::zoo` is the network cdg has
//! always simulated (`cdg_sim::models::resnet18_cifar`) layer for layer, names and gates
//! included, so existing traces keep matching; `cdg masks synth --network NAME --gate RULE`
//! gates every zoo network, MobileNetV2's depthwise and pointwise layers included.

use crate::support::cdg;
use cdg_core::GateBlock;
use cdg_core::gating::{BasePath, apply_gate_rules};
use cdg_core::zoo::{Zoo, ZooOptions};
use cdg_io::trace::read_trace;
use std::process::Output;

#[test]
fn zoo_resnet18_cifar_equals_the_simulator_model() {
    for (width, in_channels) in [(1.0, 3), (0.25, 1), (0.5, 3), (0.3, 2)] {
        let zoo = Zoo::Resnet18Cifar
            .build(&ZooOptions { width, in_channels })
            .unwrap();
        assert_eq!(
            zoo,
            cdg_sim::models::resnet18_cifar(width, in_channels, None),
            "width {width}, {in_channels} input channels"
        );
        for (p, block) in [(4, GateBlock::new(16, 1, 1)), (2, GateBlock::new(8, 2, 2))] {
            let rules = Zoo::Resnet18Cifar.default_gate_rules(block, BasePath::Partitions(p));
            assert_eq!(
                apply_gate_rules(&zoo, &rules).unwrap(),
                cdg_sim::models::resnet18_cifar(width, in_channels, Some((p, block))),
                "gated: width {width}, partitions {p}"
            );
        }
    }
}

fn synth(args: &[&str], out: &std::path::Path) -> Output {
    cdg()
        .args(["masks", "synth", "--density", "0.5", "--samples", "2"])
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn stderr_of(o: &Output) -> String {
    assert!(!o.status.success(), "expected failure");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn masks_synth_gates_every_zoo_network() {
    let dir = tempfile::tempdir().unwrap();
    for z in Zoo::ALL {
        let out = dir.path().join(z.name());
        let rules: &[&str] = match z {
            Zoo::MobileNetV2 => &[
                "--gate",
                "features.*.conv.1.0=16x1x1,0",
                "--gate",
                "features.1.conv.0.0=16x1x1,0",
                "--gate",
                "features.*.conv.2=16x1x1",
            ],
            _ => &[],
        };
        let mut args = vec![
            "--network",
            z.name(),
            "--width",
            "0.25",
            "--in-channels",
            "1",
        ];
        args.extend_from_slice(rules);
        let o = synth(&args, &out);
        assert!(
            o.status.success(),
            "{z}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let trace = read_trace(&out).unwrap();
        let built = z
            .build(&ZooOptions {
                width: 0.25,
                in_channels: 1,
            })
            .unwrap();
        let shapes = |n: &cdg_core::Network| {
            n.layers()
                .iter()
                .map(|l| l.shape.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(shapes(&trace.network), shapes(&built), "{z}");
        let gated = trace.network.gated().count();
        let want = match z {
            Zoo::Resnet18 | Zoo::Resnet18Cifar => 16,
            Zoo::Resnet34 => 32,
            Zoo::Resnet50 | Zoo::Resnet50Cifar => 16,
            Zoo::Vgg16 => 12,
            Zoo::MobileNetV2 => 17 + 16,
        };
        assert_eq!(gated, want, "{z}");
        if z == Zoo::MobileNetV2 {
            // Grouped layers make it a version-2 trace; the rules are in the provenance.
            let text = std::fs::read_to_string(out.join("manifest.json")).unwrap();
            assert!(text.contains("\"version\": 2") && text.contains("\"groups\": 24"));
            assert_eq!(
                trace.provenance["gate_rules"][0],
                "features.*.conv.1.0=16x1x1,0"
            );
        }
    }
}

#[test]
fn gate_rules_fail_naming_the_rule_or_layer() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let e = stderr_of(&synth(&["--network", "mobilenetv2"], &out));
    assert!(
        e.contains("no default gate rule") && e.contains("--gate"),
        "{e}"
    );
    let e = stderr_of(&synth(
        &[
            "--network",
            "mobilenetv2",
            "--gate",
            "features.*.conv.1.0=16x1x1",
        ],
        &out,
    ));
    assert!(
        e.contains("features.2.conv.1.0") && e.contains("no conditional channels"),
        "{e}"
    );
    let e = stderr_of(&synth(
        &["--network", "resnet50", "--gate", "blocks.*=16x1x1"],
        &out,
    ));
    assert!(e.contains("`blocks.*=16x1x1,4` matches no layer"), "{e}");
    let e = stderr_of(&synth(
        &["--network", "resnet50", "--gate", "layer*.conv2=16x1"],
        &out,
    ));
    assert!(
        e.contains("--gate layer*.conv2=16x1") && e.contains("three sizes"),
        "{e}"
    );
    let e = stderr_of(&synth(
        &[
            "--network",
            "resnet50",
            "--gate",
            "layer*=16x1x1",
            "--gate",
            "layer*=none",
        ],
        &out,
    ));
    assert!(
        e.contains("leave no layer") && e.contains("resnet50"),
        "{e}"
    );
    let e = stderr_of(&synth(
        &[
            "--network",
            "resnet50",
            "--gate",
            "layer*.conv2=16x1x1",
            "--gate-block",
            "8,1,1",
        ],
        &out,
    ));
    assert!(
        e.contains("--gate-block") && e.contains("cannot be used with"),
        "{e}"
    );
    let e = stderr_of(&synth(&["--network", "resnet101"], &out));
    assert!(e.contains("resnet101") && e.contains("mobilenetv2"), "{e}");
    assert!(!out.exists(), "nothing written on error");
}
