//! ResNets with either stem (docs/training.md §2): the CIFAR variant for 32×32 inputs (3×3
//! stride-1 stem, no max-pool) or torchvision's ImageNet stem for 224×224 inputs (7×7 stride-2
//! stem and a 3×3 stride-2 max-pool).

use crate::error::{Result, TrainError};
use crate::layers::{
    BasicBlock, BatchNorm2d, BatchNormConfig, Buffer, Conv, Conv2d, Conv2dConfig, ConvFactory,
    Linear, LinearConfig, Mode, Module, Param, plain_conv_factory,
};
use crate::models::pool::MaxPool2d;
use crate::ops;
use crate::scalar::Scalar;
use cdg_core::{ConvParams, LayerShape, Macs, OutputRule};
use ndarray::{Array2, Array4, ArrayView2, ArrayView4};
use rand::RngCore;

/// One stage: `blocks` basic blocks of `channels`, the first with `stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageConfig {
    pub channels: usize,
    pub blocks: usize,
    pub stride: usize,
}

/// The first layers of a ResNet, before the residual stages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Stem {
    /// 3×3 stride-1 convolution, no pooling: 32×32 inputs keep their resolution into
    /// `layer1` (CIFAR ResNets).
    #[default]
    Cifar,
    /// 7×7 stride-2 convolution (padding 3) then 3×3 stride-2 max-pool (padding 1): 224×224
    /// inputs reach `layer1` at 56×56 (torchvision's ResNets).
    Imagenet,
}

impl Stem {
    /// The stem for square inputs of side `resolution`: ImageNet's from 64 pixels up, the
    /// CIFAR stem below (a 32×32 image through the ImageNet stem would reach `layer4` at 1×1).
    pub fn for_resolution(resolution: usize) -> Stem {
        if resolution >= 64 {
            Stem::Imagenet
        } else {
            Stem::Cifar
        }
    }

    /// The stem convolution's kernel, stride and padding.
    pub fn conv_config(self) -> Conv2dConfig {
        match self {
            Stem::Cifar => Conv2dConfig::default(),
            Stem::Imagenet => Conv2dConfig {
                kernel: 7,
                stride: 2,
                padding: 3,
                bias: false,
            },
        }
    }
}

/// Shape of a ResNet.
#[derive(Debug, Clone, PartialEq)]
pub struct ResNetConfig {
    /// 1 (Fashion-MNIST, MNIST) or 3 (CIFAR).
    pub in_channels: usize,
    /// Channels of the stem convolution.
    pub stem_channels: usize,
    /// Stem convolution (and max-pool) variant.
    pub stem: Stem,
    pub stages: Vec<StageConfig>,
    /// A linear classifier on the pooled features, or none (SSL backbones).
    pub num_classes: Option<usize>,
}

/// Channels of a stage at width multiplier `width`: `round(base·width)`, at least 1.
pub fn scaled(base: usize, width: f64) -> usize {
    ((base as f64 * width).round() as usize).max(1)
}

impl ResNetConfig {
    /// ResNet-18 CIFAR: stem 64w, stages 64w/128w/256w/512w × 2 blocks, strides 1/2/2/2.
    pub fn resnet18_cifar(width: f64, in_channels: usize, num_classes: Option<usize>) -> Self {
        let st = |c, s| StageConfig {
            channels: scaled(c, width),
            blocks: 2,
            stride: s,
        };
        ResNetConfig {
            in_channels,
            stem_channels: scaled(64, width),
            stem: Stem::Cifar,
            stages: vec![st(64, 1), st(128, 2), st(256, 2), st(512, 2)],
            num_classes,
        }
    }

    /// ResNet-18 with the ImageNet stem (7×7 stride 2 + max-pool), for 224×224 inputs;
    /// otherwise as [`ResNetConfig::resnet18_cifar`].
    pub fn resnet18_imagenet(width: f64, in_channels: usize, num_classes: Option<usize>) -> Self {
        Self::resnet18_cifar(width, in_channels, num_classes).with_stem(Stem::Imagenet)
    }

    /// The same network with stem `stem`.
    pub fn with_stem(self, stem: Stem) -> Self {
        ResNetConfig { stem, ..self }
    }

    /// A small ResNet for tests and quick runs: stem 8, stages 8/16/32 × 1 block (one
    /// identity block, two downsampling blocks).
    pub fn tiny(in_channels: usize, num_classes: Option<usize>) -> Self {
        ResNetConfig {
            in_channels,
            stem_channels: 8,
            stem: Stem::Cifar,
            stages: vec![
                StageConfig {
                    channels: 8,
                    blocks: 1,
                    stride: 1,
                },
                StageConfig {
                    channels: 16,
                    blocks: 1,
                    stride: 2,
                },
                StageConfig {
                    channels: 32,
                    blocks: 1,
                    stride: 2,
                },
            ],
            num_classes,
        }
    }

    /// Checks every size is positive.
    pub fn validate(&self) -> Result<()> {
        if self.in_channels == 0 {
            return Err(TrainError::config("in_channels", "must be ≥ 1"));
        }
        if self.stem_channels == 0 {
            return Err(TrainError::config("stem_channels", "must be ≥ 1"));
        }
        if self.stages.is_empty() {
            return Err(TrainError::config("stages", "need at least one stage"));
        }
        for (i, s) in self.stages.iter().enumerate() {
            if s.channels == 0 || s.blocks == 0 || s.stride == 0 {
                return Err(TrainError::config(
                    &format!("stages[{i}]"),
                    format!("channels, blocks and stride must be ≥ 1, found {s:?}"),
                ));
            }
        }
        if self.num_classes == Some(0) {
            return Err(TrainError::config("num_classes", "must be ≥ 1"));
        }
        Ok(())
    }

    /// Pooled feature size (channels of the last stage).
    pub fn feature_dim(&self) -> usize {
        self.stages
            .last()
            .map_or(self.stem_channels, |s| s.channels)
    }

    /// A rough size of the convolutions' parameters and of the training memory for `images`
    /// images of `h`×`w`: every convolution keeps its input and its output with the
    /// BatchNorm and ReLU buffers for backward, and the largest im2col patch matrix exists
    /// once at a time. Meant to refuse absurd runs before they allocate, not to predict the
    /// peak. Saturates instead of overflowing.
    pub fn memory_estimate(&self, h: usize, w: usize, images: usize) -> MemoryEstimate {
        let (mut params, mut kept, mut patches) = (0u64, 0u64, 0u64);
        let mut pool_kept = 0u64;
        let (mut c_in, mut hw) = (self.in_channels as u64, (h as u64).saturating_mul(w as u64));
        let mut conv = |c_in: u64, c_out: u64, hw: u64, k2: u64| {
            params = params.saturating_add(k2.saturating_mul(c_in).saturating_mul(c_out));
            kept = kept.saturating_add(hw.saturating_mul(c_in.saturating_add(3 * c_out)));
            patches = patches.max(hw.saturating_mul(k2).saturating_mul(c_in));
        };
        match self.stem {
            Stem::Cifar => conv(c_in, self.stem_channels as u64, hw, 9),
            Stem::Imagenet => {
                // 7×7 stride 2 (output hw/4), then the max-pool keeps its input and output.
                hw = (hw / 4).max(1);
                conv(c_in, self.stem_channels as u64, hw, 49);
                pool_kept = hw.saturating_mul(self.stem_channels as u64);
                hw = (hw / 4).max(1);
            }
        }
        c_in = self.stem_channels as u64;
        for stage in &self.stages {
            let c = stage.channels as u64;
            hw = (hw / (stage.stride * stage.stride) as u64).max(1);
            for _ in 0..stage.blocks {
                conv(c_in, c, hw, 9);
                conv(c, c, hw, 9);
                c_in = c;
            }
        }
        let activation_bytes = kept
            .saturating_add(pool_kept)
            .saturating_add(patches)
            .saturating_mul(4)
            .saturating_mul(images as u64);
        MemoryEstimate {
            params,
            activation_bytes,
        }
    }
}

/// [`ResNetConfig::memory_estimate`]: a rough size of a ResNet in training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Convolution weights (a count, not bytes).
    pub params: u64,
    /// Activations kept for backward plus the largest patch matrix, in f32 bytes.
    pub activation_bytes: u64,
}

/// A ResNet: stem conv → BN → ReLU (→ max-pool, ImageNet stem) → stages of
/// [`BasicBlock`]s → global average pool → optional linear classifier. Layer names follow
/// torchvision (`conv1`, `bn1`, `maxpool`, `layer1.0.conv1`, …, `fc`).
#[derive(Debug)]
pub struct ResNet<T: Scalar = f32> {
    config: ResNetConfig,
    pub stem: Conv2d<T>,
    /// Followed by a ReLU, fused into it.
    pub stem_bn: BatchNorm2d<T>,
    /// The ImageNet stem's 3×3 stride-2 max-pool.
    pub stem_pool: Option<MaxPool2d<T>>,
    pub blocks: Vec<BasicBlock<T>>,
    pub fc: Option<Linear<T>>,
    pooled_hw: Option<(usize, usize)>,
}

impl<T: Scalar> ResNet<T> {
    /// A dense ResNet with freshly initialised weights.
    pub fn new(config: &ResNetConfig, rng: &mut dyn RngCore) -> Result<Self> {
        Self::with_conv_factory(config, rng, &mut plain_conv_factory::<T>)
    }

    /// A ResNet whose residual-block 3×3 convolutions come from `factory` (gated networks).
    /// Parameters are drawn from `rng` in a fixed order: stem, blocks in order (conv1, conv2,
    /// shortcut), classifier.
    pub fn with_conv_factory(
        config: &ResNetConfig,
        rng: &mut dyn RngCore,
        factory: &mut ConvFactory<'_, T>,
    ) -> Result<Self> {
        config.validate()?;
        let stem = Conv2d::new(
            "conv1",
            config.in_channels,
            config.stem_channels,
            config.stem.conv_config(),
            rng,
        )
        .without_input_grad();
        let stem_pool = match config.stem {
            Stem::Cifar => None,
            Stem::Imagenet => Some(MaxPool2d::new("maxpool", 3, 2, 1)?),
        };
        let stem_bn = BatchNorm2d::new("bn1", config.stem_channels, BatchNormConfig::default());
        let mut blocks = Vec::new();
        let mut c = config.stem_channels;
        for (si, st) in config.stages.iter().enumerate() {
            for b in 0..st.blocks {
                let stride = if b == 0 { st.stride } else { 1 };
                blocks.push(BasicBlock::new(
                    &format!("layer{}.{b}", si + 1),
                    c,
                    st.channels,
                    stride,
                    factory,
                    rng,
                )?);
                c = st.channels;
            }
        }
        let fc = config
            .num_classes
            .map(|k| Linear::new("fc", c, k, LinearConfig::default(), rng));
        Ok(ResNet {
            config: config.clone(),
            stem,
            stem_bn,
            stem_pool,
            blocks,
            fc,
            pooled_hw: None,
        })
    }

    pub fn config(&self) -> &ResNetConfig {
        &self.config
    }
    pub fn feature_dim(&self) -> usize {
        self.config.feature_dim()
    }

    /// The stem: conv → BN → ReLU (→ max-pool); the input of `layer1`.
    pub fn forward_stem(&mut self, x: ArrayView4<'_, T>, mode: Mode) -> Result<Array4<T>> {
        let h = self.stem.forward(x, mode)?;
        let h = self.stem_bn.forward_relu(h, mode)?;
        match &mut self.stem_pool {
            Some(pool) => pool.forward(h.view(), mode),
            None => Ok(h),
        }
    }

    /// Backbone features: N×C×H×W images → N×feature_dim pooled features.
    pub fn forward_features(&mut self, x: ArrayView4<'_, T>, mode: Mode) -> Result<Array2<T>> {
        let mut h = self.forward_stem(x, mode)?;
        for b in &mut self.blocks {
            h = b.forward(h.view(), mode)?;
        }
        self.pooled_hw = Some((h.dim().2, h.dim().3));
        Ok(ops::global_avg_pool(h.view()))
    }

    /// Backward from ∂L/∂features; fills parameter gradients (the input gets none).
    pub fn backward_features(&mut self, dfeat: ArrayView2<'_, T>) -> Result<()> {
        let (h, w) = self.pooled_hw.ok_or_else(|| TrainError::NoForwardCache {
            layer: "avgpool".into(),
        })?;
        let mut d: Array4<T> = ops::global_avg_pool_backward(dfeat, h, w);
        for b in self.blocks.iter_mut().rev() {
            d = b.backward(d.view())?;
        }
        if let Some(pool) = &mut self.stem_pool {
            d = pool.backward(d.view())?;
        }
        let d = self.stem_bn.backward(d.view())?;
        self.stem.backward(d.view())?;
        Ok(())
    }

    /// Class logits; requires a classifier (`num_classes`).
    pub fn forward(&mut self, x: ArrayView4<'_, T>, mode: Mode) -> Result<Array2<T>> {
        let f = self.forward_features(x, mode)?;
        let fc = self
            .fc
            .as_mut()
            .ok_or_else(|| TrainError::config("num_classes", "this ResNet has no classifier"))?;
        fc.forward(f.view(), mode)
    }

    /// Backward from ∂L/∂logits.
    pub fn backward(&mut self, dlogits: ArrayView2<'_, T>) -> Result<()> {
        let fc = self
            .fc
            .as_mut()
            .ok_or_else(|| TrainError::config("num_classes", "this ResNet has no classifier"))?;
        let df = fc.backward(dlogits)?;
        self.backward_features(df.view())
    }

    /// Every residual-block 3×3 convolution, in network order (the gateable ones).
    pub fn block_convs(&self) -> Vec<&dyn Conv<T>> {
        self.blocks
            .iter()
            .flat_map(|b| [b.conv1.as_ref(), b.conv2.as_ref()])
            .collect()
    }
    pub fn block_convs_mut(&mut self) -> Vec<&mut Box<dyn Conv<T>>> {
        self.blocks
            .iter_mut()
            .flat_map(|b| [&mut b.conv1, &mut b.conv2])
            .collect()
    }

    /// Every convolution and the classifier as [`LayerShape`]s (batch 1) for an input of
    /// `height`×`width`, in execution order: stem, then per block conv1, conv2, shortcut;
    /// then `fc`. This is the topology a trace records.
    pub fn layer_shapes(&self, height: usize, width: usize) -> Result<Vec<LayerShape>> {
        let mut out = Vec::new();
        let mut push = |name: &str,
                        c: usize,
                        h: usize,
                        w: usize,
                        n: usize,
                        cfg: Conv2dConfig|
         -> Result<(usize, usize)> {
            let shape = LayerShape::conv(
                name,
                ConvParams {
                    in_channels: c as u64,
                    in_height: h as u64,
                    in_width: w as u64,
                    out_channels: n as u64,
                    kernel: [cfg.kernel as u64; 2],
                    stride: cfg.stride as u64,
                    padding: cfg.padding as u64,
                    rule: OutputRule::Floor,
                },
            )
            .map_err(|e| TrainError::config(name, e))?;
            let hw = (shape.out_height() as usize, shape.out_width() as usize);
            out.push(shape);
            Ok(hw)
        };
        let (mut h, mut w) = push(
            self.stem.name(),
            self.config.in_channels,
            height,
            width,
            self.config.stem_channels,
            self.stem.config(),
        )?;
        if let Some(pool) = &self.stem_pool {
            let out = |n: usize| {
                pool.out_size(n).ok_or_else(|| {
                    TrainError::config(
                        pool.name(),
                        format!("a {h}×{w} stem output is smaller than the pooling window"),
                    )
                })
            };
            (h, w) = (out(h)?, out(w)?);
        }
        for b in &self.blocks {
            let c1 = b.conv1.as_ref();
            let (h1, w1) = push(
                c1.name(),
                c1.in_channels(),
                h,
                w,
                c1.out_channels(),
                c1.config(),
            )?;
            let c2 = b.conv2.as_ref();
            push(
                c2.name(),
                c2.in_channels(),
                h1,
                w1,
                c2.out_channels(),
                c2.config(),
            )?;
            if let Some(d) = &b.downsample {
                push(
                    d.conv.name(),
                    d.conv.in_channels(),
                    h,
                    w,
                    d.conv.out_channels(),
                    d.conv.config(),
                )?;
            }
            (h, w) = (h1, w1);
        }
        if let Some(fc) = &self.fc {
            out.push(
                LayerShape::fc(fc.name(), fc.in_features() as u64, fc.out_features() as u64)
                    .map_err(|e| TrainError::config("fc", e))?,
            );
        }
        Ok(out)
    }

    /// Multiply-accumulates per image of convolutions and classifier (no BN, pooling, adds).
    pub fn macs_per_image(&self, height: usize, width: usize) -> Result<Macs> {
        Ok(self
            .layer_shapes(height, width)?
            .iter()
            .map(|l| l.macs())
            .sum())
    }
}

impl<T: Scalar> Module<T> for ResNet<T> {
    fn params(&self) -> Vec<&Param<T>> {
        let mut v = self.stem.params();
        v.extend(self.stem_bn.params());
        for b in &self.blocks {
            v.extend(b.params());
        }
        if let Some(fc) = &self.fc {
            v.extend(fc.params());
        }
        v
    }
    fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        let mut v = self.stem.params_mut();
        v.extend(self.stem_bn.params_mut());
        for b in &mut self.blocks {
            v.extend(b.params_mut());
        }
        if let Some(fc) = &mut self.fc {
            v.extend(fc.params_mut());
        }
        v
    }
    fn buffers(&self) -> Vec<&Buffer<T>> {
        let mut v = self.stem_bn.buffers();
        for b in &self.blocks {
            v.extend(b.buffers());
        }
        v
    }
    fn buffers_mut(&mut self) -> Vec<&mut Buffer<T>> {
        let mut v = self.stem_bn.buffers_mut();
        for b in &mut self.blocks {
            v.extend(b.buffers_mut());
        }
        v
    }
}
