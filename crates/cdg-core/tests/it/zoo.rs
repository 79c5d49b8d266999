//! Every built-in network against its reference table (tests/zoo/NAME.csv, written from
//! torchvision by scripts/zoo_reference.py): same layers, in the same order, with the same
//! names, shapes and MACs.

use cdg_core::zoo::{Zoo, ZooOptions, layer_table};
use std::path::PathBuf;

fn reference(z: Zoo) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/zoo")
        .join(format!("{}.csv", z.name()));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn zoo_networks_equal_their_torchvision_tables() {
    for z in Zoo::ALL {
        let net = z.build(&ZooOptions::default()).unwrap();
        let ours = layer_table(&net);
        let theirs = reference(z);
        for (i, (a, b)) in ours.lines().zip(theirs.lines()).enumerate() {
            assert_eq!(a, b, "{z}: line {} of the table differs", i + 1);
        }
        assert_eq!(
            ours.lines().count(),
            theirs.lines().count(),
            "{z}: layer count"
        );
    }
}

#[test]
fn mobilenet_v2_width_multipliers_round_as_torchvision() {
    for (width, file) in [(0.5, "mobilenetv2-w0.5"), (1.4, "mobilenetv2-w1.4")] {
        let net = Zoo::MobileNetV2
            .build(&ZooOptions {
                width,
                in_channels: 3,
            })
            .unwrap();
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/zoo/{file}.csv"));
        assert_eq!(
            layer_table(&net),
            std::fs::read_to_string(path).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn reference_totals_are_the_published_ones() {
    // ResNet-50 4.09 GMACs, MobileNetV2 0.30 GMACs, VGG-16 15.5 GMACs (conv + FC at 224×224).
    let total = |z: Zoo| -> u64 {
        reference(z)
            .lines()
            .skip(1)
            .map(|l| l.rsplit(',').next().unwrap().parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!(total(Zoo::Resnet50) / 10_000_000, 408);
    assert_eq!(total(Zoo::MobileNetV2) / 10_000_000, 30);
    assert_eq!(total(Zoo::Vgg16) / 100_000_000, 154);
}

#[test]
fn width_and_input_channels_scale_the_zoo() {
    for z in Zoo::ALL {
        let full = z.build(&ZooOptions::default()).unwrap();
        let narrow = z
            .build(&ZooOptions {
                width: 0.5,
                in_channels: 1,
            })
            .unwrap();
        assert_eq!(full.len(), narrow.len(), "{z}");
        assert_eq!(narrow.layers()[0].shape.in_channels(), 1, "{z}");
        let macs = |n: &cdg_core::Network| -> u64 {
            n.layers().iter().map(|l| l.shape.macs().get()).sum()
        };
        // Half the width is roughly a quarter of the MACs (MobileNetV2 keeps its 1280-wide
        // head, so it lands between a quarter and a half).
        let ratio = macs(&narrow) as f64 / macs(&full) as f64;
        assert!((0.15..0.5).contains(&ratio), "{z}: {ratio}");
    }
}
