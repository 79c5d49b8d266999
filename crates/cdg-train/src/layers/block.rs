//! The ResNet basic block, with its two 3×3 convolutions behind the [`Conv`] trait.

use crate::error::Result;
use crate::layers::{
    BatchNorm2d, BatchNormConfig, Buffer, Conv, Conv2d, Conv2dConfig, Mode, Module, Param, Relu,
    join_name,
};
use crate::ops;
use crate::scalar::Scalar;
use ndarray::{Array4, ArrayView4};
use rand::RngCore;

/// What a [`ConvFactory`] is asked to build: one 3×3 convolution inside a residual block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvSpec {
    /// Dotted name, e.g. `layer3.1.conv2`.
    pub name: String,
    pub in_channels: usize,
    pub out_channels: usize,
    pub config: Conv2dConfig,
}

/// Builds the 3×3 convolutions of residual blocks. [`plain_conv_factory`] builds [`Conv2d`];
/// gated convolutions plug in here. The stem and the 1×1 shortcuts are always plain.
pub type ConvFactory<'a, T> =
    dyn FnMut(&ConvSpec, &mut dyn RngCore) -> Result<Box<dyn Conv<T>>> + 'a;

/// The factory of dense networks.
pub fn plain_conv_factory<T: Scalar>(
    spec: &ConvSpec,
    rng: &mut dyn RngCore,
) -> Result<Box<dyn Conv<T>>> {
    Ok(Box::new(Conv2d::<T>::new(
        &spec.name,
        spec.in_channels,
        spec.out_channels,
        spec.config,
        rng,
    )))
}

/// Projection shortcut: 1×1 convolution with stride + BatchNorm.
#[derive(Debug, Clone)]
pub struct Downsample<T: Scalar = f32> {
    pub conv: Conv2d<T>,
    pub bn: BatchNorm2d<T>,
}

/// `relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`.
#[derive(Debug)]
pub struct BasicBlock<T: Scalar = f32> {
    name: String,
    pub conv1: Box<dyn Conv<T>>,
    /// Followed by a ReLU, fused into it.
    pub bn1: BatchNorm2d<T>,
    pub conv2: Box<dyn Conv<T>>,
    pub bn2: BatchNorm2d<T>,
    /// Present when the stride is not 1 or the channel count changes.
    pub downsample: Option<Downsample<T>>,
    relu_out: Relu<T>,
}

impl<T: Scalar> BasicBlock<T> {
    /// Block `name` (e.g. `layer2.0`) from `in_channels` to `out_channels`; the first conv
    /// has `stride`. Its 3×3 convolutions come from `factory` (named `name.conv1`, `name.conv2`).
    pub fn new(
        name: &str,
        in_channels: usize,
        out_channels: usize,
        stride: usize,
        factory: &mut ConvFactory<'_, T>,
        rng: &mut dyn RngCore,
    ) -> Result<Self> {
        let c1 = ConvSpec {
            name: join_name(name, "conv1"),
            in_channels,
            out_channels,
            config: Conv2dConfig {
                kernel: 3,
                stride,
                padding: 1,
                bias: false,
            },
        };
        let conv1 = factory(&c1, rng)?;
        let bn1 = BatchNorm2d::new(
            &join_name(name, "bn1"),
            out_channels,
            BatchNormConfig::default(),
        );
        let c2 = ConvSpec {
            name: join_name(name, "conv2"),
            in_channels: out_channels,
            out_channels,
            config: Conv2dConfig::default(),
        };
        let conv2 = factory(&c2, rng)?;
        let bn2 = BatchNorm2d::new(
            &join_name(name, "bn2"),
            out_channels,
            BatchNormConfig::default(),
        );
        let downsample = (stride != 1 || in_channels != out_channels).then(|| Downsample {
            conv: Conv2d::new(
                &join_name(name, "downsample.0"),
                in_channels,
                out_channels,
                Conv2dConfig {
                    kernel: 1,
                    stride,
                    padding: 0,
                    bias: false,
                },
                rng,
            ),
            bn: BatchNorm2d::new(
                &join_name(name, "downsample.1"),
                out_channels,
                BatchNormConfig::default(),
            ),
        });
        Ok(BasicBlock {
            name: name.to_owned(),
            conv1,
            bn1,
            conv2,
            bn2,
            downsample,
            relu_out: Relu::new(join_name(name, "relu")),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn forward(&mut self, x: ArrayView4<'_, T>, mode: Mode) -> Result<Array4<T>> {
        let h = self.conv1.forward(x.view(), mode)?;
        let h = self.bn1.forward_relu(h, mode)?;
        let h = self.conv2.forward(h.view(), mode)?;
        let mut h = self.bn2.forward(h.view(), mode)?;
        match self.downsample.as_mut() {
            Some(d) => {
                let s = d.conv.forward(x.view(), mode)?;
                let s = d.bn.forward(s.view(), mode)?;
                ops::add_assign(&mut h, s.view());
            }
            None => ops::add_assign(&mut h, x),
        }
        Ok(self.relu_out.forward_owned(h, mode))
    }

    pub fn backward(&mut self, dy: ArrayView4<'_, T>) -> Result<Array4<T>> {
        let d = self.relu_out.backward(dy)?;
        let dm = self.bn2.backward(d.view())?;
        let dm = self.conv2.backward(dm.view())?;
        let dm = self.bn1.backward(dm.view())?;
        let mut dm = self.conv1.backward(dm.view())?;
        match self.downsample.as_mut() {
            Some(ds) => {
                let s = ds.bn.backward(d.view())?;
                let s = ds.conv.backward(s.view())?;
                ops::add_assign(&mut dm, s.view());
            }
            None => ops::add_assign(&mut dm, d.view()),
        }
        Ok(dm)
    }
}

impl<T: Scalar> Module<T> for BasicBlock<T> {
    fn params(&self) -> Vec<&Param<T>> {
        let mut v = self.conv1.params();
        v.extend(self.bn1.params());
        v.extend(self.conv2.params());
        v.extend(self.bn2.params());
        if let Some(d) = &self.downsample {
            v.extend(d.conv.params());
            v.extend(d.bn.params());
        }
        v
    }
    fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        let mut v = self.conv1.params_mut();
        v.extend(self.bn1.params_mut());
        v.extend(self.conv2.params_mut());
        v.extend(self.bn2.params_mut());
        if let Some(d) = &mut self.downsample {
            v.extend(d.conv.params_mut());
            v.extend(d.bn.params_mut());
        }
        v
    }
    fn buffers(&self) -> Vec<&Buffer<T>> {
        let mut v = self.conv1.buffers();
        v.extend(self.bn1.buffers());
        v.extend(self.conv2.buffers());
        v.extend(self.bn2.buffers());
        if let Some(d) = &self.downsample {
            v.extend(d.bn.buffers());
        }
        v
    }
    fn buffers_mut(&mut self) -> Vec<&mut Buffer<T>> {
        let mut v = self.conv1.buffers_mut();
        v.extend(self.bn1.buffers_mut());
        v.extend(self.conv2.buffers_mut());
        v.extend(self.bn2.buffers_mut());
        if let Some(d) = &mut self.downsample {
            v.extend(d.bn.buffers_mut());
        }
        v
    }
}
