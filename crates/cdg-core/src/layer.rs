//! Layer shapes and their lowering to GEMM dimensions.

use crate::error::{CoreError, Result};
use crate::units::Macs;
use serde::{Deserialize, Serialize};

/// Sizes above this are refused as absurd: no CNN layer has a dimension of 2^24 or more, and the
/// limit keeps every product of three dimensions far from u64 overflow.
pub const MAX_DIM: u64 = 1 << 24;

/// Convolution or fully connected. FC is a 1×1 convolution on a 1×1 input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    Conv,
    Fc,
}

/// How the output size follows from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputRule {
    /// PyTorch: ⌊(H + 2p − kh)/s⌋ + 1. The default for traces.
    #[default]
    Floor,
    /// SCALE-Sim: ⌈(H − kh)/s⌉ + 1 with p = 0 (implicit zero padding at bottom/right).
    Ceil,
}

/// GEMM dimensions of a layer (of one group of a grouped layer): M output pixels, K window,
/// N filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GemmDims {
    pub m: u64,
    pub k: u64,
    pub n: u64,
}

impl GemmDims {
    /// M·K·N multiply-accumulates.
    pub fn macs(&self) -> Macs {
        Macs(self.m * self.k * self.n)
    }
}

/// The shape of one conv or FC layer at batch 1. Construct with [`LayerShape::conv`],
/// [`LayerShape::conv_with`] (groups, dilation, asymmetric padding) or [`LayerShape::fc`];
/// every constructed value is valid (sizes in range, kernel fits, channels divisible by the
/// groups, products fit in u64).
///
/// **Grouped layers.** A layer with `groups() = G > 1` is G independent convolutions, group g
/// reading input channels `[g·C_in/G, (g+1)·C_in/G)` and writing output channels
/// `[g·C_out/G, (g+1)·C_out/G)`; depthwise is `G = C_in`. Its lowering is G GEMMs of
/// [`LayerShape::group_gemm`] (M, K_g = kh·kw·C_in/G, N_g = C_out/G) each, never one GEMM of
/// M × kh·kw·C_in × C_out: [`LayerShape::gemm`] is that per-group GEMM too, and
/// [`LayerShape::macs`] counts all groups.
///
/// **Dilation.** Taps of a window are `dilation()` pixels apart; the output size uses the
/// effective kernel d·(k − 1) + 1, while K still counts kh·kw taps per channel.
///
/// **Padding.** `padding()` is the zero padding before the first row and column (top and left);
/// `padding_end()` is `[bottom, right]`, equal to `[padding(), padding()]` except for layers
/// built with asymmetric padding (ONNX `pads`, TensorFlow `SAME`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LayerShape {
    name: String,
    kind: LayerKind,
    in_channels: u64,
    in_height: u64,
    in_width: u64,
    out_channels: u64,
    kernel_h: u64,
    kernel_w: u64,
    stride: u64,
    padding: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    padding_end: Option<[u64; 2]>,
    #[serde(default = "one", skip_serializing_if = "is_one")]
    groups: u64,
    #[serde(default = "one", skip_serializing_if = "is_one")]
    dilation: u64,
    rule: OutputRule,
    out_height: u64,
    out_width: u64,
}

fn one() -> u64 {
    1
}

fn is_one(v: &u64) -> bool {
    *v == 1
}

/// What a convolution may have beyond [`ConvParams`]: groups, dilation and asymmetric padding.
/// `ConvExtras::default()` is a plain convolution (groups 1, dilation 1, symmetric padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvExtras {
    /// Channel groups G: `in_channels` and `out_channels` must be divisible by it.
    pub groups: u64,
    /// Spacing of the kernel taps (1 = dense kernel).
    pub dilation: u64,
    /// Padding after the last row and column `[bottom, right]`; `None` means the same as
    /// `ConvParams::padding` (symmetric).
    pub padding_end: Option<[u64; 2]>,
}

impl Default for ConvExtras {
    fn default() -> Self {
        Self {
            groups: 1,
            dilation: 1,
            padding_end: None,
        }
    }
}

/// The parameters of a conv layer, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvParams {
    pub in_channels: u64,
    pub in_height: u64,
    pub in_width: u64,
    pub out_channels: u64,
    pub kernel: [u64; 2],
    pub stride: u64,
    pub padding: u64,
    pub rule: OutputRule,
}

impl LayerShape {
    /// A convolution layer (groups 1, dilation 1, symmetric padding). Errors name the layer and
    /// the field.
    pub fn conv(name: impl Into<String>, p: ConvParams) -> Result<Self> {
        Self::conv_with(name, p, ConvExtras::default())
    }

    /// A convolution layer with groups, dilation or asymmetric padding. Errors name the layer
    /// and the field.
    pub fn conv_with(name: impl Into<String>, p: ConvParams, x: ConvExtras) -> Result<Self> {
        let name = name.into();
        if name.is_empty() {
            return Err(CoreError::layer("", "name", "must not be empty"));
        }
        let check = |field: &'static str, v: u64| -> Result<()> {
            if v == 0 {
                Err(CoreError::layer(
                    &name,
                    field,
                    "must be at least 1, found 0",
                ))
            } else if v >= MAX_DIM {
                Err(CoreError::layer(
                    &name,
                    field,
                    format!("is absurdly large ({v}); expected below {MAX_DIM}"),
                ))
            } else {
                Ok(())
            }
        };
        check("in_channels", p.in_channels)?;
        check("in_height", p.in_height)?;
        check("in_width", p.in_width)?;
        check("out_channels", p.out_channels)?;
        check("kernel[0]", p.kernel[0])?;
        check("kernel[1]", p.kernel[1])?;
        check("stride", p.stride)?;
        check("groups", x.groups)?;
        check("dilation", x.dilation)?;
        let [pad_bottom, pad_right] = x.padding_end.unwrap_or([p.padding, p.padding]);
        for (field, v) in [
            ("padding", p.padding),
            ("padding_end[0]", pad_bottom),
            ("padding_end[1]", pad_right),
        ] {
            if v >= MAX_DIM {
                return Err(CoreError::layer(
                    &name,
                    field,
                    format!("is absurdly large ({v}); expected below {MAX_DIM}"),
                ));
            }
        }
        for (field, channels) in [
            ("in_channels", p.in_channels),
            ("out_channels", p.out_channels),
        ] {
            if !channels.is_multiple_of(x.groups) {
                return Err(CoreError::layer(
                    &name,
                    "groups",
                    format!(
                        "{} does not divide {field} {channels}; both channel counts must be \
                         multiples of the groups",
                        x.groups
                    ),
                ));
            }
        }
        if p.rule == OutputRule::Ceil && (p.padding, pad_bottom, pad_right) != (0, 0, 0) {
            return Err(CoreError::layer(
                &name,
                "padding",
                format!(
                    "must be 0 with the `ceil` output rule (SCALE-Sim layers carry padding in \
                     the input size), found {}",
                    p.padding
                ),
            ));
        }
        // Every operand is below 2^24, so these sums and products cannot overflow.
        let out = |dim: &'static str, size: u64, k: u64, end: u64| -> Result<u64> {
            let padded = size + p.padding + end;
            let effective = x.dilation * (k - 1) + 1;
            if effective > padded {
                let kernel = if x.dilation == 1 {
                    format!("kernel {k}")
                } else {
                    format!(
                        "dilated kernel {effective} ({} · ({k} − 1) + 1)",
                        x.dilation
                    )
                };
                let input = if end == p.padding {
                    format!("({size} + 2·{})", p.padding)
                } else {
                    format!("({size} + {} + {end})", p.padding)
                };
                return Err(CoreError::layer(
                    &name,
                    dim,
                    format!("{kernel} is larger than the padded input {padded} {input}"),
                ));
            }
            Ok(match p.rule {
                OutputRule::Floor => (padded - effective) / p.stride + 1,
                OutputRule::Ceil => (size - effective).div_ceil(p.stride) + 1,
            })
        };
        let out_height = out("kernel[0]", p.in_height, p.kernel[0], pad_bottom)?;
        let out_width = out("kernel[1]", p.in_width, p.kernel[1], pad_right)?;
        let shape = Self {
            name,
            kind: LayerKind::Conv,
            in_channels: p.in_channels,
            in_height: p.in_height,
            in_width: p.in_width,
            out_channels: p.out_channels,
            kernel_h: p.kernel[0],
            kernel_w: p.kernel[1],
            stride: p.stride,
            padding: p.padding,
            padding_end: (x.padding_end.is_some() && [pad_bottom, pad_right] != [p.padding; 2])
                .then_some([pad_bottom, pad_right]),
            groups: x.groups,
            dilation: x.dilation,
            rule: p.rule,
            out_height,
            out_width,
        };
        shape.check_products()?;
        Ok(shape)
    }

    /// A fully connected layer: `in_features` inputs, `out_features` outputs.
    pub fn fc(name: impl Into<String>, in_features: u64, out_features: u64) -> Result<Self> {
        let mut s = Self::conv(
            name,
            ConvParams {
                in_channels: in_features,
                in_height: 1,
                in_width: 1,
                out_channels: out_features,
                kernel: [1, 1],
                stride: 1,
                padding: 0,
                rule: OutputRule::Floor,
            },
        )?;
        s.kind = LayerKind::Fc;
        Ok(s)
    }

    /// M·K·N and the input/weight footprints must fit in u64 with room for per-sample sums.
    /// (Checked on the dense product M·kh·kw·C_in·C_out, which bounds every grouped count.)
    fn check_products(&self) -> Result<()> {
        // Products in 128 bits (saturating: six factors below 2^24 can exceed even that), so
        // the message can show the numbers.
        let wide = |xs: &[u64]| {
            xs.iter()
                .fold(1u128, |acc, &x| acc.saturating_mul(x as u128))
        };
        let macs = wide(&[
            self.out_height,
            self.out_width,
            self.kernel_h,
            self.kernel_w,
            self.in_channels,
            self.out_channels,
        ]);
        let elements = wide(&[self.in_height, self.in_width, self.in_channels]);
        // 2^16 of headroom, so that per-sample sums and per-byte counts stay in 64 bits.
        let limit = (u64::MAX >> 16) as u128;
        if macs > limit || elements > limit {
            return Err(CoreError::layer(
                &self.name,
                "shape",
                format!(
                    "is too large: {} MACs and {} input elements per sample (each must be at \
                     most 2^48 = {limit}, so that sums over samples fit 64-bit counters)",
                    shown(macs),
                    shown(elements)
                ),
            ));
        }
        Ok(())
    }

    /// Renames the layer (used when SCALE-Sim depthwise layers expand per channel).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn kind(&self) -> LayerKind {
        self.kind
    }
    pub fn in_channels(&self) -> u64 {
        self.in_channels
    }
    pub fn in_height(&self) -> u64 {
        self.in_height
    }
    pub fn in_width(&self) -> u64 {
        self.in_width
    }
    pub fn out_channels(&self) -> u64 {
        self.out_channels
    }
    /// `[kh, kw]`.
    pub fn kernel(&self) -> [u64; 2] {
        [self.kernel_h, self.kernel_w]
    }
    pub fn stride(&self) -> u64 {
        self.stride
    }
    /// Zero padding before the first row and before the first column (top, left).
    pub fn padding(&self) -> u64 {
        self.padding
    }
    /// Zero padding after the last row and after the last column `[bottom, right]`.
    pub fn padding_end(&self) -> [u64; 2] {
        self.padding_end.unwrap_or([self.padding; 2])
    }
    /// Whether the padding is the same on all four sides.
    pub fn is_padding_symmetric(&self) -> bool {
        self.padding_end() == [self.padding; 2]
    }
    /// Channel groups G (1 for a plain convolution, `in_channels` for depthwise).
    pub fn groups(&self) -> u64 {
        self.groups
    }
    /// Input channels of one group, C_in / G.
    pub fn in_channels_per_group(&self) -> u64 {
        self.in_channels / self.groups
    }
    /// Output channels of one group, C_out / G.
    pub fn out_channels_per_group(&self) -> u64 {
        self.out_channels / self.groups
    }
    /// Spacing of the kernel taps (1 = dense kernel).
    pub fn dilation(&self) -> u64 {
        self.dilation
    }
    /// The extent of the dilated kernel `[d·(kh − 1) + 1, d·(kw − 1) + 1]`.
    pub fn effective_kernel(&self) -> [u64; 2] {
        [
            self.dilation * (self.kernel_h - 1) + 1,
            self.dilation * (self.kernel_w - 1) + 1,
        ]
    }
    /// The conv extras as given to [`LayerShape::conv_with`].
    pub fn extras(&self) -> ConvExtras {
        ConvExtras {
            groups: self.groups,
            dilation: self.dilation,
            padding_end: self.padding_end,
        }
    }
    pub fn rule(&self) -> OutputRule {
        self.rule
    }
    pub fn out_height(&self) -> u64 {
        self.out_height
    }
    pub fn out_width(&self) -> u64 {
        self.out_width
    }

    /// GEMM lowering of one group: output pixel (h, w) is row m = h·W_out + w, filter c of the
    /// group is column n = c, K = kh·kw·C_in/G. A layer is [`LayerShape::groups`] such GEMMs;
    /// for `groups() == 1` (every layer built by [`LayerShape::conv`] or [`LayerShape::fc`])
    /// this is the whole layer. Equal to [`LayerShape::group_gemm`]; code that maps a layer
    /// onto an array must check `groups()` (or use `group_gemm`, whose name says it).
    pub fn gemm(&self) -> GemmDims {
        self.group_gemm()
    }

    /// The GEMM of one of the [`LayerShape::groups`] groups: M = H_out·W_out,
    /// K_g = kh·kw·C_in/G, N_g = C_out/G.
    pub fn group_gemm(&self) -> GemmDims {
        GemmDims {
            m: self.out_height * self.out_width,
            k: self.kernel_h * self.kernel_w * self.in_channels_per_group(),
            n: self.out_channels_per_group(),
        }
    }

    /// Dense multiply-accumulates of one sample, all groups:
    /// M · (kh·kw·C_in/G) · C_out.
    pub fn macs(&self) -> Macs {
        Macs(self.group_gemm().macs().get() * self.groups)
    }

    /// Output elements of one sample (M·N).
    pub fn out_elements(&self) -> u64 {
        self.out_height * self.out_width * self.out_channels
    }

    /// Input elements of one sample, without padding.
    pub fn in_elements(&self) -> u64 {
        self.in_height * self.in_width * self.in_channels
    }

    /// Window size of `channels` input channels (kh·kw·channels): the K of a partial pass. For
    /// a grouped layer `channels` counts channels within one group (a partial pass of each
    /// group's GEMM); dilation spaces the taps but does not change their number.
    pub fn window_for(&self, channels: u64) -> u64 {
        self.kernel_h * self.kernel_w * channels
    }
}

/// A count for an error message: exact, or "more than 2^128" when it saturated.
fn shown(n: u128) -> String {
    if n == u128::MAX {
        "more than 2^128".to_owned()
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(h: u64, k: u64, s: u64, p: u64, rule: OutputRule) -> Result<LayerShape> {
        LayerShape::conv(
            "l",
            ConvParams {
                in_channels: 3,
                in_height: h,
                in_width: h,
                out_channels: 8,
                kernel: [k, k],
                stride: s,
                padding: p,
                rule,
            },
        )
    }

    #[test]
    fn output_rules() {
        // PyTorch: 32x32, 3x3, pad 1, stride 2 -> 16.
        assert_eq!(
            conv(32, 3, 2, 1, OutputRule::Floor).unwrap().out_height(),
            16
        );
        // AlexNet conv1 in SCALE-Sim: 224, 11, stride 4 -> ceil(213/4)+1 = 55.
        assert_eq!(
            conv(224, 11, 4, 0, OutputRule::Ceil).unwrap().out_height(),
            55
        );
        // Floor would give 54 there.
        assert_eq!(
            conv(224, 11, 4, 0, OutputRule::Floor).unwrap().out_height(),
            54
        );
    }

    #[test]
    fn gemm_dims() {
        let l = conv(34, 3, 1, 0, OutputRule::Ceil).unwrap();
        assert_eq!(
            l.gemm(),
            GemmDims {
                m: 1024,
                k: 27,
                n: 8
            }
        );
        let fc = LayerShape::fc("fc", 512, 10).unwrap();
        assert_eq!(
            fc.gemm(),
            GemmDims {
                m: 1,
                k: 512,
                n: 10
            }
        );
        assert_eq!(fc.kind(), LayerKind::Fc);
    }

    #[test]
    fn bad_shapes_are_named() {
        let e = conv(32, 3, 0, 1, OutputRule::Floor)
            .unwrap_err()
            .to_string();
        assert!(e.contains("stride") && e.contains("`l`"), "{e}");
        let e = conv(2, 5, 1, 1, OutputRule::Floor).unwrap_err().to_string();
        assert!(e.contains("larger than the padded input 4"), "{e}");
        let e = conv(1 << 30, 3, 1, 1, OutputRule::Floor)
            .unwrap_err()
            .to_string();
        assert!(e.contains("absurdly large"), "{e}");
        let e = conv(8, 3, 1, 1, OutputRule::Ceil).unwrap_err().to_string();
        assert!(e.contains("padding"), "{e}");
        // Every field in range, the product not: the message shows the MAC count and limit.
        // 8 388 608² outputs × 1 × 1 kernel × 4 096 × 4 096 channels = 2^70 MACs.
        let big = 1 << 23;
        let e = LayerShape::conv("huge", params(4096, big, 4096, 1, 1, 0))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`huge`")
                && e.contains(&(1u128 << 70).to_string())
                && e.contains("2^48 = 281474976710655"),
            "{e}"
        );
        assert_eq!(shown(u128::MAX), "more than 2^128");
    }

    fn params(c_in: u64, h: u64, c_out: u64, k: u64, s: u64, p: u64) -> ConvParams {
        ConvParams {
            in_channels: c_in,
            in_height: h,
            in_width: h,
            out_channels: c_out,
            kernel: [k, k],
            stride: s,
            padding: p,
            rule: OutputRule::Floor,
        }
    }

    fn extras(groups: u64, dilation: u64) -> ConvExtras {
        ConvExtras {
            groups,
            dilation,
            padding_end: None,
        }
    }

    #[test]
    fn grouped_layers_count_per_group_work() {
        // MobileNetV2's first depthwise conv: 32 channels, 112×112, 3×3, stride 1, pad 1.
        let dw = LayerShape::conv_with("dw", params(32, 112, 32, 3, 1, 1), extras(32, 1)).unwrap();
        assert_eq!(dw.groups(), 32);
        assert_eq!(
            dw.group_gemm(),
            GemmDims {
                m: 112 * 112,
                k: 9,
                n: 1
            }
        );
        assert_eq!(dw.gemm(), dw.group_gemm());
        // torchvision: 112·112·9·32 = 3 612 672 MACs.
        assert_eq!(dw.macs().get(), 3_612_672);
        assert_eq!(dw.window_for(1), 9);
        // A ResNeXt-style grouped conv: 128 → 256 in 32 groups.
        let g = LayerShape::conv_with("g", params(128, 14, 256, 3, 1, 1), extras(32, 1)).unwrap();
        assert_eq!(
            (g.in_channels_per_group(), g.out_channels_per_group()),
            (4, 8)
        );
        assert_eq!(g.macs().get(), 14 * 14 * (9 * 4) * 256);
        // Groups 1 keeps the whole-layer GEMM.
        let plain = LayerShape::conv("p", params(128, 14, 256, 3, 1, 1)).unwrap();
        assert_eq!(plain.gemm().k, 9 * 128);
        assert_eq!(plain.macs(), plain.gemm().macs());
        assert_eq!(plain.extras(), ConvExtras::default());
    }

    #[test]
    fn dilation_uses_the_effective_kernel() {
        // DeepLab-style 3×3, dilation 2, padding 2 keeps 33×33.
        let l = LayerShape::conv_with("d", params(8, 33, 8, 3, 1, 2), extras(1, 2)).unwrap();
        assert_eq!((l.out_height(), l.effective_kernel()), (33, [5, 5]));
        assert_eq!(l.gemm().k, 9 * 8);
        // Dilation 4 without padding: (33 − 9) + 1 = 25.
        let l = LayerShape::conv_with("d", params(8, 33, 8, 3, 1, 0), extras(1, 4)).unwrap();
        assert_eq!(l.out_height(), 25);
        let e = LayerShape::conv_with("d", params(8, 4, 8, 3, 1, 0), extras(1, 2))
            .unwrap_err()
            .to_string();
        assert!(e.contains("dilated kernel 5"), "{e}");
    }

    #[test]
    fn asymmetric_padding() {
        // TensorFlow SAME, 224 → 112 with a 3×3 stride-2 kernel: pads 0 before, 1 after.
        let x = ConvExtras {
            padding_end: Some([1, 1]),
            ..ConvExtras::default()
        };
        let l = LayerShape::conv_with("same", params(3, 224, 8, 3, 2, 0), x).unwrap();
        assert_eq!((l.out_height(), l.out_width()), (112, 112));
        assert_eq!((l.padding(), l.padding_end()), (0, [1, 1]));
        assert!(!l.is_padding_symmetric());
        // An explicit end padding equal to the begin padding is the symmetric layer.
        let x = ConvExtras {
            padding_end: Some([1, 1]),
            ..ConvExtras::default()
        };
        let sym = LayerShape::conv_with("s", params(3, 32, 8, 3, 1, 1), x).unwrap();
        assert_eq!(
            sym,
            LayerShape::conv("s", params(3, 32, 8, 3, 1, 1)).unwrap()
        );
    }

    #[test]
    fn bad_groups_and_dilation_are_named() {
        let e = LayerShape::conv_with("g", params(30, 8, 64, 3, 1, 1), extras(4, 1))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`g`") && e.contains("groups") && e.contains("in_channels 30"),
            "{e}"
        );
        let e = LayerShape::conv_with("g", params(32, 8, 30, 3, 1, 1), extras(4, 1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("out_channels 30"), "{e}");
        let e = LayerShape::conv_with("g", params(32, 8, 32, 3, 1, 1), extras(0, 1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("groups must be at least 1"), "{e}");
        let e = LayerShape::conv_with("g", params(32, 8, 32, 3, 1, 1), extras(1, 0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("dilation must be at least 1"), "{e}");
        let x = ConvExtras {
            padding_end: Some([1, 0]),
            ..ConvExtras::default()
        };
        let mut p = params(3, 34, 8, 3, 1, 0);
        p.rule = OutputRule::Ceil;
        let e = LayerShape::conv_with("c", p, x).unwrap_err().to_string();
        assert!(e.contains("padding"), "{e}");
    }

    /// Output size by counting window placements: the naive definition.
    fn naive_out(size: u64, k: u64, s: u64, before: u64, after: u64, d: u64) -> u64 {
        let padded = size + before + after;
        (0..)
            .map(|o| o * s + d * (k - 1))
            .take_while(|&last| last < padded)
            .count() as u64
    }

    proptest::proptest! {
        #[test]
        fn conv_output_size_matches_window_count(
            size in 1u64..64, k in 1u64..8, s in 1u64..5, before in 0u64..5, after in 0u64..5,
            d in 1u64..4, g in 1u64..5, cpg_in in 1u64..4, cpg_out in 1u64..4,
        ) {
            let p = ConvParams {
                in_channels: g * cpg_in,
                in_height: size,
                in_width: size + 1,
                out_channels: g * cpg_out,
                kernel: [k, k],
                stride: s,
                padding: before,
                rule: OutputRule::Floor,
            };
            let x = ConvExtras { groups: g, dilation: d, padding_end: Some([after, after + 1]) };
            let fits_h = d * (k - 1) < size + before + after;
            let fits_w = d * (k - 1) < size + 1 + before + after + 1;
            match LayerShape::conv_with("l", p, x) {
                Ok(l) => {
                    proptest::prop_assert!(fits_h && fits_w);
                    proptest::prop_assert_eq!(l.out_height(), naive_out(size, k, s, before, after, d));
                    proptest::prop_assert_eq!(
                        l.out_width(), naive_out(size + 1, k, s, before, after + 1, d));
                    let naive_macs = l.out_height() * l.out_width() * g * cpg_out * k * k * cpg_in;
                    proptest::prop_assert_eq!(l.macs().get(), naive_macs);
                }
                Err(e) => {
                    proptest::prop_assert!(!(fits_h && fits_w), "{e}");
                }
            }
        }
    }
}
