//! Built-in networks (the model zoo): the conv and FC layers of well-known CNNs at batch 1, as
//! torchvision defines them, with a channel-width multiplier and the input channels as options.
//!
//! | name | input | layers | GMACs (width 1, 3 input channels) |
//! |---|---|---|---|
//! | `resnet18` | 224×224 | 21 | 1.814 |
//! | `resnet34` | 224×224 | 37 | 3.664 |
//! | `resnet50` | 224×224 | 54 | 4.089 |
//! | `resnet18-cifar` | 32×32 | 21 | 0.555 |
//! | `resnet50-cifar` | 32×32 | 54 | 1.298 |
//! | `mobilenetv2` | 224×224 | 53 | 0.301 |
//! | `vgg16` | 224×224 | 16 | 15.470 |
//!
//! MACs count every convolution and fully connected layer (`LayerShape::macs`); pooling,
//! batch norm, activations and residual additions are not layers of the array and are left out.
//! The committed reference tables `crates/cdg-core/tests/zoo/NAME.csv` (from torchvision by
//! `scripts/zoo_reference.py`) pin every layer of every network at width 1.
//!
//! **Names** are torchvision's module paths (`layer2.0.conv1`, `features.3.conv.1.0`,
//! `classifier.6`), except that a ResNet shortcut convolution is `layer{s}.0.downsample`
//! (torchvision's `downsample.0`) so that `resnet18-cifar` keeps the names of the traces cdg
//! has always written.
//!
//! **Variants.** ImageNet ResNets (v1.5: the stride of a bottleneck sits on its 3×3 conv) have a
//! 7×7 stride-2 stem and a 3×3 stride-2 max-pool, 1000 classes. The CIFAR ResNets replace the
//! stem with a 3×3 stride-1 conv, drop the max-pool and end in 10 classes. MobileNetV2 and
//! VGG-16 are torchvision's at 1000 classes (VGG-16 without batch norm; its adaptive pool is the
//! identity at 224×224).
//!
//! **Width multiplier** `w`: ResNet and VGG channel counts are `round(c·w)` (at least 1; a
//! bottleneck's output is 4× its rounded width; VGG's hidden FC width is `round(4096·w)`).
//! MobileNetV2 rounds `c·w` to a multiple of 8 as torchvision's `_make_divisible` does (its last
//! 1×1 conv keeps 1280 channels for `w < 1`).
//!
//! Which layers a network gates by default is [`Zoo::default_gate_rules`]; the rules
//! themselves are in [`crate::gating`].

use crate::error::{CoreError, Result};
use crate::gating::{BasePath, GateAction, GateRule};
use crate::layer::{ConvExtras, ConvParams, LayerShape, OutputRule};
use crate::network::{GateBlock, Layer, Network};

/// A built-in network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Zoo {
    Resnet18,
    Resnet34,
    Resnet50,
    Resnet18Cifar,
    Resnet50Cifar,
    MobileNetV2,
    Vgg16,
}

/// Build options of a built-in network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZooOptions {
    /// Channel-width multiplier (1 = the published network).
    pub width: f64,
    /// Channels of the input image (3 for RGB, 1 for Fashion-MNIST).
    pub in_channels: u64,
}

impl Default for ZooOptions {
    fn default() -> Self {
        Self {
            width: 1.0,
            in_channels: 3,
        }
    }
}

impl Zoo {
    /// Every built-in network, in the order of the table above.
    pub const ALL: [Zoo; 7] = [
        Zoo::Resnet18,
        Zoo::Resnet34,
        Zoo::Resnet50,
        Zoo::Resnet18Cifar,
        Zoo::Resnet50Cifar,
        Zoo::MobileNetV2,
        Zoo::Vgg16,
    ];

    /// The name `--network` takes.
    pub fn name(self) -> &'static str {
        match self {
            Zoo::Resnet18 => "resnet18",
            Zoo::Resnet34 => "resnet34",
            Zoo::Resnet50 => "resnet50",
            Zoo::Resnet18Cifar => "resnet18-cifar",
            Zoo::Resnet50Cifar => "resnet50-cifar",
            Zoo::MobileNetV2 => "mobilenetv2",
            Zoo::Vgg16 => "vgg16",
        }
    }

    /// The network called `name`; the error lists the names there are.
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|z| z.name() == name)
            .ok_or_else(|| {
                CoreError::Network(format!(
                    "no built-in network is called `{name}`; expected one of {}",
                    Self::ALL.map(Zoo::name).join(", ")
                ))
            })
    }

    /// Input height and width.
    pub fn input_size(self) -> u64 {
        match self {
            Zoo::Resnet18Cifar | Zoo::Resnet50Cifar => 32,
            _ => 224,
        }
    }

    /// The ungated network. Errors if the width is not a positive finite number or the input
    /// has no channels.
    pub fn build(self, opts: &ZooOptions) -> Result<Network> {
        if !(opts.width.is_finite() && opts.width > 0.0) {
            return Err(CoreError::Network(format!(
                "{}: width multiplier {} must be a positive number such as 1 or 0.25",
                self.name(),
                opts.width
            )));
        }
        if opts.in_channels == 0 {
            return Err(CoreError::Network(format!(
                "{}: the input must have at least 1 channel",
                self.name()
            )));
        }
        let mut b = Builder::new(opts.in_channels, self.input_size());
        match self {
            Zoo::Resnet18 => resnet(&mut b, opts.width, Block::Basic, [2, 2, 2, 2], true)?,
            Zoo::Resnet34 => resnet(&mut b, opts.width, Block::Basic, [3, 4, 6, 3], true)?,
            Zoo::Resnet50 => resnet(&mut b, opts.width, Block::Bottleneck, [3, 4, 6, 3], true)?,
            Zoo::Resnet18Cifar => resnet(&mut b, opts.width, Block::Basic, [2, 2, 2, 2], false)?,
            Zoo::Resnet50Cifar => {
                resnet(&mut b, opts.width, Block::Bottleneck, [3, 4, 6, 3], false)?
            }
            Zoo::MobileNetV2 => mobilenet_v2(&mut b, opts.width)?,
            Zoo::Vgg16 => vgg16(&mut b, opts.width)?,
        }
        Network::new(b.layers)
    }

    /// The gate rules used when the user states none: for the ResNets every 3×3 convolution
    /// inside a residual block (channel gating's rule: the stem, the 1×1 convolutions of
    /// bottlenecks, the shortcuts and the FC layer are never gated); for VGG-16 every
    /// convolution but the first. MobileNetV2 has none: its depthwise layers need a rule that
    /// says what their base path is (see [`crate::gating`]).
    pub fn default_gate_rules(self, block: GateBlock, base: BasePath) -> Vec<GateRule> {
        let gate = |pattern: &str| GateRule::new(pattern, GateAction::Gate { block, base });
        match self {
            Zoo::Resnet18 | Zoo::Resnet34 | Zoo::Resnet18Cifar => {
                vec![gate("layer*.conv1"), gate("layer*.conv2")]
            }
            Zoo::Resnet50 | Zoo::Resnet50Cifar => vec![gate("layer*.conv2")],
            Zoo::Vgg16 => vec![
                gate("features.*"),
                GateRule::new("features.0", GateAction::Ungate),
            ],
            Zoo::MobileNetV2 => Vec::new(),
        }
    }
}

impl std::fmt::Display for Zoo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Zoo {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self> {
        Self::from_name(s)
    }
}

/// Walks the feature map through the network: layers advance it, pools change its size.
struct Builder {
    layers: Vec<Layer>,
    channels: u64,
    size: u64,
}

impl Builder {
    fn new(channels: u64, size: u64) -> Self {
        Self {
            layers: Vec::new(),
            channels,
            size,
        }
    }

    /// A k×k conv with padding (k − 1)/2 from the current map, which it advances.
    fn conv(&mut self, name: String, out: u64, k: u64, stride: u64, groups: u64) -> Result<()> {
        let shape = self.conv_from(name, self.channels, self.size, out, k, stride, groups)?;
        self.channels = shape.out_channels();
        self.size = shape.out_height();
        self.layers.push(Layer { shape, gate: None });
        Ok(())
    }

    /// A conv from an explicit input (a shortcut reads the block's input, not the map).
    #[allow(clippy::too_many_arguments)]
    fn conv_from(
        &self,
        name: String,
        cin: u64,
        size: u64,
        out: u64,
        k: u64,
        stride: u64,
        groups: u64,
    ) -> Result<LayerShape> {
        LayerShape::conv_with(
            name,
            ConvParams {
                in_channels: cin,
                in_height: size,
                in_width: size,
                out_channels: out,
                kernel: [k, k],
                stride,
                padding: (k - 1) / 2,
                rule: OutputRule::Floor,
            },
            ConvExtras {
                groups,
                ..ConvExtras::default()
            },
        )
    }

    /// A k×k pool of the given stride and padding (PyTorch's floor rule).
    fn pool(&mut self, k: u64, stride: u64, padding: u64) {
        self.size = (self.size + 2 * padding).saturating_sub(k) / stride + 1;
    }

    /// Flatten, then a fully connected layer.
    fn fc(&mut self, name: &str, out: u64) -> Result<()> {
        let shape = LayerShape::fc(name, self.channels * self.size * self.size, out)?;
        self.channels = out;
        self.size = 1;
        self.layers.push(Layer { shape, gate: None });
        Ok(())
    }
}

/// `round(c·w)`, at least 1.
fn scaled(c: u64, width: f64) -> u64 {
    let w = (c as f64 * width).round();
    if w.is_finite() && w >= 1.0 {
        w.min(crate::layer::MAX_DIM as f64) as u64
    } else {
        1
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Block {
    Basic,
    Bottleneck,
}

fn resnet(
    b: &mut Builder,
    width: f64,
    block: Block,
    depths: [usize; 4],
    imagenet: bool,
) -> Result<()> {
    let stem = scaled(64, width);
    if imagenet {
        b.conv("conv1".into(), stem, 7, 2, 1)?;
        b.pool(3, 2, 1);
    } else {
        b.conv("conv1".into(), stem, 3, 1, 1)?;
    }
    for (s, (planes, depth)) in [64, 128, 256, 512].into_iter().zip(depths).enumerate() {
        let planes = scaled(planes, width);
        let out = match block {
            Block::Basic => planes,
            Block::Bottleneck => 4 * planes,
        };
        for i in 0..depth {
            let stride = if s > 0 && i == 0 { 2 } else { 1 };
            let prefix = format!("layer{}.{i}", s + 1);
            let (cin, size) = (b.channels, b.size);
            match block {
                Block::Basic => {
                    b.conv(format!("{prefix}.conv1"), planes, 3, stride, 1)?;
                    b.conv(format!("{prefix}.conv2"), planes, 3, 1, 1)?;
                }
                Block::Bottleneck => {
                    b.conv(format!("{prefix}.conv1"), planes, 1, 1, 1)?;
                    b.conv(format!("{prefix}.conv2"), planes, 3, stride, 1)?;
                    b.conv(format!("{prefix}.conv3"), out, 1, 1, 1)?;
                }
            }
            if stride != 1 || cin != out {
                let shape =
                    b.conv_from(format!("{prefix}.downsample"), cin, size, out, 1, stride, 1)?;
                b.layers.push(Layer { shape, gate: None });
            }
        }
    }
    b.pool(b.size, 1, 0);
    b.fc("fc", if imagenet { 1000 } else { 10 })
}

/// torchvision's `_make_divisible(v, 8)`: the nearest multiple of 8, at least 8, and not more
/// than 10 % below `v`.
fn make_divisible(v: f64) -> u64 {
    let v = if v.is_finite() {
        v.min(crate::layer::MAX_DIM as f64)
    } else {
        8.0
    };
    let mut n = (((v + 4.0) as u64) / 8 * 8).max(8);
    if (n as f64) < 0.9 * v {
        n += 8;
    }
    n
}

fn mobilenet_v2(b: &mut Builder, width: f64) -> Result<()> {
    // (expansion t, output channels c, repeats n, first stride s), as in the paper's Table 2.
    const SETTINGS: [(u64, f64, usize, u64); 7] = [
        (1, 16.0, 1, 1),
        (6, 24.0, 2, 2),
        (6, 32.0, 3, 2),
        (6, 64.0, 4, 2),
        (6, 96.0, 3, 1),
        (6, 160.0, 3, 2),
        (6, 320.0, 1, 1),
    ];
    b.conv("features.0.0".into(), make_divisible(32.0 * width), 3, 2, 1)?;
    let mut index = 1;
    for (t, c, n, s) in SETTINGS {
        let out = make_divisible(c * width);
        for i in 0..n {
            let stride = if i == 0 { s } else { 1 };
            let hidden = b.channels * t;
            let prefix = format!("features.{index}.conv");
            let mut part = 0;
            if t != 1 {
                b.conv(format!("{prefix}.{part}.0"), hidden, 1, 1, 1)?;
                part += 1;
            }
            b.conv(format!("{prefix}.{part}.0"), hidden, 3, stride, hidden)?;
            b.conv(format!("{prefix}.{}", part + 1), out, 1, 1, 1)?;
            index += 1;
        }
    }
    let last = make_divisible(1280.0 * width.max(1.0));
    b.conv(format!("features.{index}.0"), last, 1, 1, 1)?;
    b.pool(b.size, 1, 0);
    b.fc("classifier.1", 1000)
}

fn vgg16(b: &mut Builder, width: f64) -> Result<()> {
    // Configuration D; 0 is a 2×2 stride-2 max-pool. Indices follow torchvision's `features`
    // (each conv is followed by a ReLU).
    const CFG: [u64; 18] = [
        64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0,
    ];
    let mut index = 0;
    for c in CFG {
        if c == 0 {
            b.pool(2, 2, 0);
            index += 1;
        } else {
            b.conv(format!("features.{index}"), scaled(c, width), 3, 1, 1)?;
            index += 2;
        }
    }
    // The adaptive average pool to 7×7 is the identity at 224×224.
    let hidden = scaled(4096, width);
    b.fc("classifier.0", hidden)?;
    b.fc("classifier.3", hidden)?;
    b.fc("classifier.6", 1000)
}

/// The header of [`layer_table`].
pub const LAYER_TABLE_HEADER: &str = "name,kind,in_c,in_h,in_w,out_c,out_h,out_w,kernel_h,\
kernel_w,stride,padding,groups,dilation,macs";

/// The layer table of `network` as CSV: [`LAYER_TABLE_HEADER`], then one line per layer, as the
/// reference tables hold them. Asymmetric padding (never in the zoo; imported layers may have
/// it) is written `top:bottom:right`.
pub fn layer_table(network: &Network) -> String {
    let mut out = String::from(LAYER_TABLE_HEADER);
    out.push('\n');
    for l in network.layers() {
        let s = &l.shape;
        let kind = match s.kind() {
            crate::layer::LayerKind::Conv => "conv",
            crate::layer::LayerKind::Fc => "fc",
        };
        let padding = if s.is_padding_symmetric() {
            s.padding().to_string()
        } else {
            let [h, w] = s.padding_end();
            format!("{}:{h}:{w}", s.padding())
        };
        let [kh, kw] = s.kernel();
        out.push_str(&format!(
            "{},{kind},{},{},{},{},{},{},{kh},{kw},{},{padding},{},{},{}\n",
            s.name(),
            s.in_channels(),
            s.in_height(),
            s.in_width(),
            s.out_channels(),
            s.out_height(),
            s.out_width(),
            s.stride(),
            s.groups(),
            s.dilation(),
            s.macs().get()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gmacs(z: Zoo) -> f64 {
        let net = z.build(&ZooOptions::default()).unwrap();
        net.layers()
            .iter()
            .map(|l| l.shape.macs().get())
            .sum::<u64>() as f64
            / 1e9
    }

    #[test]
    fn published_mac_totals() {
        // torchvision / the papers: ResNet-50 4.09 G, MobileNetV2 0.30 G, VGG-16 15.47 G.
        for (z, want) in [
            (Zoo::Resnet18, 1.814),
            (Zoo::Resnet34, 3.664),
            (Zoo::Resnet50, 4.089),
            (Zoo::Resnet18Cifar, 0.555),
            (Zoo::MobileNetV2, 0.301),
            (Zoo::Vgg16, 15.470),
        ] {
            let got = gmacs(z);
            assert!(
                (got - want).abs() < 0.0005,
                "{z}: {got} GMACs, expected {want}"
            );
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_zoo() {
        for z in Zoo::ALL {
            assert_eq!(Zoo::from_name(z.name()).unwrap(), z);
        }
        let e = Zoo::from_name("resnet101").unwrap_err().to_string();
        assert!(
            e.contains("`resnet101`") && e.contains("mobilenetv2, vgg16"),
            "{e}"
        );
    }

    #[test]
    fn bad_options_are_refused() {
        for width in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let e = Zoo::Resnet50
                .build(&ZooOptions {
                    width,
                    in_channels: 3,
                })
                .unwrap_err()
                .to_string();
            assert!(e.contains("width multiplier"), "{e}");
        }
        let e = Zoo::Vgg16
            .build(&ZooOptions {
                width: 1.0,
                in_channels: 0,
            })
            .unwrap_err()
            .to_string();
        assert!(e.contains("at least 1 channel"), "{e}");
        // Tiny and huge widths still build (channels clamp to 1 and to the size limit's
        // neighbourhood is refused by the layer checks, not by a panic).
        for z in Zoo::ALL {
            z.build(&ZooOptions {
                width: 1e-6,
                in_channels: 1,
            })
            .unwrap();
            let _ = z.build(&ZooOptions {
                width: 1e12,
                in_channels: 1,
            });
        }
    }

    #[test]
    fn make_divisible_matches_torchvision() {
        // _make_divisible(v, 8) for values MobileNetV2 meets at widths 0.35, 0.5, 0.75, 1.4.
        for (v, want) in [
            (32.0 * 0.35, 16),
            (16.0 * 0.35, 8),
            (24.0 * 0.5, 16),
            (96.0 * 0.75, 72),
            (320.0 * 1.4, 448),
            (1280.0 * 1.4, 1792),
            (160.0 * 0.35, 56),
        ] {
            assert_eq!(make_divisible(v), want, "{v}");
        }
    }

    #[test]
    fn mobilenet_v2_depthwise_layers() {
        let net = Zoo::MobileNetV2.build(&ZooOptions::default()).unwrap();
        assert_eq!(net.len(), 53);
        let dw: Vec<_> = net
            .layers()
            .iter()
            .filter(|l| l.shape.groups() > 1)
            .collect();
        assert_eq!(dw.len(), 17);
        assert!(
            dw.iter().all(|l| l.shape.groups() == l.shape.in_channels()
                && l.shape.in_channels_per_group() == 1)
        );
        let first = net.position("features.1.conv.0.0").unwrap();
        assert_eq!(net.layers()[first].shape.groups(), 32);
    }
}
