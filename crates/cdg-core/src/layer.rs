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

/// GEMM dimensions of a layer: M output pixels, K window, N filters.
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

/// The shape of one conv or FC layer at batch 1. Construct with [`LayerShape::conv`] or
/// [`LayerShape::fc`]; every constructed value is valid (sizes in range, kernel fits, products
/// fit in u64).
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
    rule: OutputRule,
    out_height: u64,
    out_width: u64,
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
    /// A convolution layer. Errors name the layer and the field.
    pub fn conv(name: impl Into<String>, p: ConvParams) -> Result<Self> {
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
        if p.padding >= MAX_DIM {
            return Err(CoreError::layer(
                &name,
                "padding",
                format!("is absurdly large ({})", p.padding),
            ));
        }
        if p.rule == OutputRule::Ceil && p.padding != 0 {
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
        let out = |dim: &'static str, size: u64, k: u64| -> Result<u64> {
            let padded = size + 2 * p.padding;
            if k > padded {
                return Err(CoreError::layer(
                    &name,
                    dim,
                    format!(
                        "kernel {k} is larger than the padded input {padded} \
                         ({size} + 2·{})",
                        p.padding
                    ),
                ));
            }
            Ok(match p.rule {
                OutputRule::Floor => (padded - k) / p.stride + 1,
                OutputRule::Ceil => (size - k).div_ceil(p.stride) + 1,
            })
        };
        let out_height = out("kernel[0]", p.in_height, p.kernel[0])?;
        let out_width = out("kernel[1]", p.in_width, p.kernel[1])?;
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
    fn check_products(&self) -> Result<()> {
        let m = self.out_height.checked_mul(self.out_width);
        let k = self
            .kernel_h
            .checked_mul(self.kernel_w)
            .and_then(|x| x.checked_mul(self.in_channels));
        let macs = m
            .zip(k)
            .and_then(|(m, k)| m.checked_mul(k))
            .and_then(|mk| mk.checked_mul(self.out_channels))
            .and_then(|x| x.checked_mul(1 << 16));
        let input = self
            .in_height
            .checked_mul(self.in_width)
            .and_then(|x| x.checked_mul(self.in_channels))
            .and_then(|x| x.checked_mul(1 << 16));
        if macs.is_none() || input.is_none() {
            return Err(CoreError::layer(
                &self.name,
                "shape",
                "is too large: its MAC or element count overflows 64-bit arithmetic",
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
    pub fn padding(&self) -> u64 {
        self.padding
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

    /// GEMM lowering: output pixel (h, w) is row m = h·W_out + w, filter c is column n = c,
    /// K = kh·kw·C.
    pub fn gemm(&self) -> GemmDims {
        GemmDims {
            m: self.out_height * self.out_width,
            k: self.kernel_h * self.kernel_w * self.in_channels,
            n: self.out_channels,
        }
    }

    /// Dense multiply-accumulates of one sample.
    pub fn macs(&self) -> Macs {
        self.gemm().macs()
    }

    /// Output elements of one sample (M·N).
    pub fn out_elements(&self) -> u64 {
        self.out_height * self.out_width * self.out_channels
    }

    /// Input elements of one sample, without padding.
    pub fn in_elements(&self) -> u64 {
        self.in_height * self.in_width * self.in_channels
    }

    /// Window size of `channels` input channels (kh·kw·channels): the K of a partial pass.
    pub fn window_for(&self, channels: u64) -> u64 {
        self.kernel_h * self.kernel_w * channels
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
    }
}
