//! Bad input gives errors that name the layer or the key, never a panic.

use cdg_core::{ArchConfig, ConvParams, Dataflow, Layer, LayerShape, Network, OutputRule};
use cdg_sim::{LayerOptions, NmSparsity, simulate_layer, simulate_network, simulate_network_with};

use crate::common;
use common::pointwise;

fn params(h: u64, k: u64, stride: u64, padding: u64) -> ConvParams {
    ConvParams {
        in_channels: 3,
        in_height: h,
        in_width: h,
        out_channels: 8,
        kernel: [k, k],
        stride,
        padding,
        rule: OutputRule::Floor,
    }
}

fn layer() -> Layer {
    Layer {
        shape: LayerShape::conv("conv_a", params(8, 3, 1, 1)).unwrap(),
        gate: None,
    }
}

#[test]
fn zero_sized_arrays_name_the_key() {
    for (rows, cols, key) in [(0, 4, "array.rows"), (4, 0, "array.cols")] {
        let mut a = ArchConfig::default_with("t");
        a.array.rows = rows;
        a.array.cols = cols;
        let e = simulate_layer(&a, &layer(), &LayerOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(key) && e.contains("found 0"), "{e}");
        let net = Network::new(vec![layer()]).unwrap();
        assert!(simulate_network(&a, &net, None).is_err());
    }
    let mut a = ArchConfig::default_with("t");
    a.memory.word_bytes = 0;
    let e = simulate_layer(&a, &layer(), &LayerOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("memory.word_bytes"), "{e}");
}

#[test]
fn impossible_layers_name_the_layer() {
    let e = LayerShape::conv("conv_b", params(2, 5, 1, 1))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`conv_b`") && e.contains("larger than the padded input"),
        "{e}"
    );
    let e = LayerShape::conv("conv_c", params(8, 3, 0, 1))
        .unwrap_err()
        .to_string();
    assert!(e.contains("`conv_c`") && e.contains("stride"), "{e}");
    let huge = ConvParams {
        in_channels: (1 << 24) - 1,
        in_height: (1 << 24) - 1,
        in_width: (1 << 24) - 1,
        out_channels: (1 << 24) - 1,
        kernel: [1, 1],
        stride: 1,
        padding: 0,
        rule: OutputRule::Floor,
    };
    let e = LayerShape::conv("conv_d", huge).unwrap_err().to_string();
    assert!(
        e.contains("`conv_d`") && e.contains("too large") && e.contains("at most 2^48"),
        "{e}"
    );
}

#[test]
fn malformed_nm_ratios_name_the_layer() {
    let mut a = ArchConfig::default_with("t");
    a.array.dataflow = Dataflow::WeightStationary;
    for (n, m) in [(0, 4), (3, 2), (1, 0)] {
        let opts = LayerOptions {
            weight_sparsity: Some(NmSparsity { n, m }),
        };
        let e = simulate_layer(&a, &layer(), &opts).unwrap_err().to_string();
        assert!(e.contains("`conv_a`") && e.contains("N:M"), "{e}");
    }
}

#[test]
fn per_layer_options_must_match_the_network() {
    let a = ArchConfig::default_with("t");
    let net = Network::new(vec![layer()]).unwrap();
    let e = simulate_network_with(&a, &net, &[LayerOptions::default(); 2])
        .unwrap_err()
        .to_string();
    assert!(e.contains("2 layers") && e.contains("1 layers"), "{e}");
}

#[test]
fn absurd_fold_counts_are_refused_not_hung() {
    // A 1×1 OS array on a layer with M·N = 2^30 outputs would walk 2^30 folds.
    let layer = pointwise("wide", 1, 1 << 12, 1 << 12, 64);
    let mut a = ArchConfig::default_with("t");
    a.array.rows = 1;
    a.array.cols = 1;
    let e = simulate_layer(&a, &layer, &LayerOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("`wide`") && e.contains("folds"), "{e}");
}

/// Grouped and dilated layers are mapped (they used to be refused by name): each simulates,
/// with its real MACs (all groups) counted.
#[test]
fn grouped_and_dilated_layers_simulate() {
    use cdg_core::ConvExtras;
    let arch = ArchConfig::default_with("t");
    let mut p = params(8, 3, 1, 1);
    p.in_channels = 8;
    for extras in [
        ConvExtras {
            groups: 8,
            ..ConvExtras::default()
        },
        ConvExtras {
            dilation: 2,
            ..ConvExtras::default()
        },
    ] {
        let shape = LayerShape::conv_with("conv_g", p.clone(), extras).unwrap();
        let macs = shape.macs();
        let l = Layer { shape, gate: None };
        let s = simulate_layer(&arch, &l, &LayerOptions::default()).unwrap();
        assert_eq!(s.totals.macs_needed, macs);
        assert!(s.totals.cycles.get() > 0);
    }
}
