//! Reference networks for tests, benches and examples.

use cdg_core::{ConvParams, GateBlock, GateSpec, Layer, LayerShape, Network, OutputRule};

/// ResNet-18, CIFAR variant, batch 1, on a 32×32 input with `in_channels` channels: a 3×3
/// stem (no max-pool), four stages of two BasicBlocks with 64/128/256/512 × `width_mult`
/// channels (stride 2 at stages 2–4, 1×1 downsample shortcuts there), and an FC layer to 10
/// classes — 21 layers.
///
/// With `gated = Some((base_partitions, block))` every 3×3 convolution inside a residual block
/// is gated (base channels ⌈C_in/base_partitions⌉); the stem, the shortcuts and the FC layer
/// never are. Channel counts round to the nearest integer and are at least 1; zero-sized gate
/// blocks and partitions are raised to 1.
///
/// Layer names: `conv1`, `layer{s}.{b}.conv{1,2}`, `layer{s}.0.downsample`, `fc`.
pub fn resnet18_cifar(
    width_mult: f64,
    in_channels: u64,
    gated: Option<(u64, GateBlock)>,
) -> Network {
    let width = |c: f64| -> u64 {
        let w = (c * width_mult).round();
        if w.is_finite() && w >= 1.0 {
            w as u64
        } else {
            1
        }
    };
    let in_channels = in_channels.max(1);
    let gate_for = |cin: u64| {
        gated.map(|(p, b)| GateSpec {
            base_channels: GateSpec::base_channels_for(cin, p.max(1)),
            block: GateBlock::new(b.c.max(1), b.h.max(1), b.w.max(1)),
        })
    };
    let conv = |name: String, cin: u64, h: u64, cout: u64, k: u64, s: u64, gate: bool| {
        let shape = LayerShape::conv(
            name,
            ConvParams {
                in_channels: cin,
                in_height: h,
                in_width: h,
                out_channels: cout,
                kernel: [k, k],
                stride: s,
                padding: if k == 3 { 1 } else { 0 },
                rule: OutputRule::Floor,
            },
        )
        .expect("ResNet-18 CIFAR shapes are valid for every width");
        Layer {
            gate: if gate { gate_for(cin) } else { None },
            shape,
        }
    };
    let mut layers = Vec::with_capacity(21);
    let c1 = width(64.0);
    layers.push(conv("conv1".into(), in_channels, 32, c1, 3, 1, false));
    let mut cin = c1;
    let mut size = 32;
    for (s, planes) in [64.0, 128.0, 256.0, 512.0].into_iter().enumerate() {
        let cout = width(planes);
        for b in 0..2 {
            let stride = if s > 0 && b == 0 { 2 } else { 1 };
            let prefix = format!("layer{}.{b}", s + 1);
            layers.push(conv(
                format!("{prefix}.conv1"),
                cin,
                size,
                cout,
                3,
                stride,
                true,
            ));
            let out = (size + 2 - 3) / stride + 1;
            layers.push(conv(format!("{prefix}.conv2"), cout, out, cout, 3, 1, true));
            if stride != 1 || cin != cout {
                layers.push(conv(
                    format!("{prefix}.downsample"),
                    cin,
                    size,
                    cout,
                    1,
                    stride,
                    false,
                ));
            }
            cin = cout;
            size = out;
        }
    }
    layers.push(Layer {
        shape: LayerShape::fc("fc", cin, 10).expect("FC shape is valid"),
        gate: None,
    });
    Network::new(layers).expect("ResNet-18 CIFAR layer names are unique")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_one_layers() {
        let net = resnet18_cifar(1.0, 3, None);
        assert_eq!(net.len(), 21);
        let names: Vec<_> = net.layers().iter().map(|l| l.name().to_owned()).collect();
        assert_eq!(names[0], "conv1");
        assert_eq!(names[20], "fc");
        let last = &net.layers()[19].shape;
        assert_eq!((last.out_height(), last.out_channels()), (4, 512));
        let total: u64 = net.layers().iter().map(|l| l.shape.macs().get()).sum();
        // 0.56 GMACs: stem 1.77 M, three later stages 134.2 M each, stage 1 151.0 M, FC 5 120.
        assert_eq!(total, 555_422_720);
        let gated = resnet18_cifar(0.25, 1, Some((4, GateBlock::new(16, 1, 1))));
        assert_eq!(gated.gated().count(), 16);
        assert!(gated.layers()[0].gate.is_none());
        let g = gated.layers()[1].gate.unwrap();
        assert_eq!(g.base_channels, 4);
    }
}
