//! 2-D convolution layer and the [`Conv`] trait that residual blocks hold their 3×3
//! convolutions behind (so gated convolutions can replace them).

use crate::error::{Result, TrainError};
use crate::layers::{Mode, Module, Param, ParamKind, join_name};
use crate::ops::direct::{self, Padded};
use crate::ops::{self, ConvGeom};
use crate::scalar::Scalar;
use ndarray::{Array1, Array4, ArrayView4, Ix1, Ix4};
use rand::Rng;
use rand_distr::{Distribution, Normal};
use std::any::Any;

/// Hyper-parameters of a convolution (channel counts are given to the constructor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dConfig {
    /// Square kernel side (3 or 1 in ResNets).
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    /// ResNet convolutions have none (BatchNorm follows).
    pub bias: bool,
}

impl Conv2dConfig {
    /// The geometry of this convolution from `in_channels` to `out_channels` on an H×W input.
    pub fn geom(
        &self,
        in_channels: usize,
        out_channels: usize,
        in_height: usize,
        in_width: usize,
    ) -> ConvGeom {
        ConvGeom {
            in_channels,
            in_height,
            in_width,
            out_channels,
            kernel: [self.kernel; 2],
            stride: self.stride,
            padding: self.padding,
        }
    }
}

impl Default for Conv2dConfig {
    /// 3×3, stride 1, padding 1, no bias.
    fn default() -> Self {
        Conv2dConfig {
            kernel: 3,
            stride: 1,
            padding: 1,
            bias: false,
        }
    }
}

/// A convolution as residual blocks see it.
///
/// Contract (beyond the layer contract in [`crate::layers`]):
/// - `forward` takes N×`in_channels`×H×W and returns N×`out_channels`×H_out×W_out with
///   H_out = ⌊(H + 2p − k)/s⌋ + 1 for the `config()` it reports; wrong input shapes are errors.
/// - `backward` takes ∂L/∂y of the last training forward, returns ∂L/∂x and adds parameter
///   gradients (weight decay is decided by each [`Param`]'s kind).
/// - Implementations may keep extra state (gates, statistics) and expose it through
///   `as_any`/`as_any_mut` downcasts.
pub trait Conv<T: Scalar = f32>: Module<T> + Send + Sync + std::fmt::Debug {
    /// Dotted layer name (`layer2.0.conv1`): the name used in traces and checkpoints.
    fn name(&self) -> &str;
    fn in_channels(&self) -> usize;
    fn out_channels(&self) -> usize;
    fn config(&self) -> Conv2dConfig;
    fn forward(&mut self, x: ArrayView4<'_, T>, mode: Mode) -> Result<Array4<T>>;
    fn backward(&mut self, dy: ArrayView4<'_, T>) -> Result<Array4<T>>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// Plain convolution: weight N_out×C×k×k (Kaiming-normal, fan-out, as torchvision's ResNet),
/// optional bias (zeros).
#[derive(Debug, Clone)]
pub struct Conv2d<T: Scalar = f32> {
    name: String,
    in_channels: usize,
    out_channels: usize,
    config: Conv2dConfig,
    pub weight: Param<T>,
    pub bias: Option<Param<T>>,
    /// Whether backward computes ∂L/∂x (the stem does not need it).
    input_grad: bool,
    /// The last forward's zero-padded input (its memory is reused by the next forward).
    padded: Padded<T>,
    /// Whether `padded` holds a training forward's input that backward has not consumed.
    cached: bool,
}

impl<T: Scalar> Conv2d<T> {
    /// A convolution named `name` with freshly initialised weights.
    pub fn new<R: Rng + ?Sized>(
        name: &str,
        in_channels: usize,
        out_channels: usize,
        config: Conv2dConfig,
        rng: &mut R,
    ) -> Self {
        let k = config.kernel;
        let std = (2.0 / (out_channels * k * k) as f64).sqrt();
        let normal = Normal::new(0.0, std).expect("finite std");
        let w = Array4::from_shape_simple_fn((out_channels, in_channels, k, k), || {
            T::of(normal.sample(rng))
        });
        Self::from_weights(
            name,
            w,
            config.bias.then(|| Array1::zeros(out_channels)),
            config,
        )
    }

    /// A convolution with the given weight (N_out×C×k×k) and bias; `config.kernel` must
    /// match the weight.
    pub fn from_weights(
        name: &str,
        weight: Array4<T>,
        bias: Option<Array1<T>>,
        config: Conv2dConfig,
    ) -> Self {
        let (out_channels, in_channels, _, _) = weight.dim();
        let config = Conv2dConfig {
            kernel: weight.dim().2,
            bias: bias.is_some(),
            ..config
        };
        Conv2d {
            name: name.to_owned(),
            in_channels,
            out_channels,
            config,
            weight: Param::new(
                join_name(name, "weight"),
                ParamKind::Weight,
                weight.into_dyn(),
            ),
            bias: bias.map(|b| Param::new(join_name(name, "bias"), ParamKind::Bias, b.into_dyn())),
            input_grad: true,
            padded: Padded::default(),
            cached: false,
        }
    }

    /// Skip ∂L/∂x in backward (returns an empty array); for the first layer of a network.
    pub fn without_input_grad(mut self) -> Self {
        self.input_grad = false;
        self
    }

    /// The geometry for an input of H×W.
    pub fn geom(&self, in_height: usize, in_width: usize) -> ConvGeom {
        self.config
            .geom(self.in_channels, self.out_channels, in_height, in_width)
    }

    fn weight4(&self) -> ArrayView4<'_, T> {
        self.weight
            .value
            .view()
            .into_dimensionality::<Ix4>()
            .expect("conv weight is 4-D")
    }

    fn check_input(&self, x: &ArrayView4<'_, T>) -> Result<()> {
        let (_, c, h, w) = x.dim();
        if c != self.in_channels || !self.geom(h, w).is_valid() {
            return Err(TrainError::shape(
                &self.name,
                format!(
                    "N×{}×H×W with H, W ≥ {}",
                    self.in_channels,
                    self.config.kernel.saturating_sub(2 * self.config.padding)
                ),
                x.shape(),
            ));
        }
        Ok(())
    }
}

impl<T: Scalar> Module<T> for Conv2d<T> {
    fn params(&self) -> Vec<&Param<T>> {
        let mut v = vec![&self.weight];
        v.extend(self.bias.as_ref());
        v
    }
    fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        let mut v = vec![&mut self.weight];
        v.extend(self.bias.as_mut());
        v
    }
}

impl<T: Scalar> Conv<T> for Conv2d<T> {
    fn name(&self) -> &str {
        &self.name
    }
    fn in_channels(&self) -> usize {
        self.in_channels
    }
    fn out_channels(&self) -> usize {
        self.out_channels
    }
    fn config(&self) -> Conv2dConfig {
        self.config
    }

    fn forward(&mut self, x: ArrayView4<'_, T>, mode: Mode) -> Result<Array4<T>> {
        self.check_input(&x)?;
        let bias = self.bias.as_ref().map(|b| {
            b.value
                .view()
                .into_dimensionality::<Ix1>()
                .expect("1-D bias")
        });
        let (_, _, h, w) = x.dim();
        let g = self.geom(h, w);
        self.padded.fill(&x, [self.config.padding; 4]);
        let mut y = direct::forward(
            &self.padded,
            0,
            &self.weight4(),
            self.config.stride,
            (g.out_height(), g.out_width()),
        );
        if let Some(b) = bias {
            for (c, mut plane) in y.axis_iter_mut(ndarray::Axis(1)).enumerate() {
                let bc = b[c];
                plane.mapv_inplace(|v| v + bc);
            }
        }
        self.cached = mode == Mode::Train;
        Ok(y)
    }

    fn backward(&mut self, dy: ArrayView4<'_, T>) -> Result<Array4<T>> {
        if !std::mem::take(&mut self.cached) {
            return Err(TrainError::NoForwardCache {
                layer: self.name.clone(),
            });
        }
        let n = self.padded.images();
        let (h, w) = self.padded.hw();
        let g = self.geom(h, w);
        let expect = (n, self.out_channels, g.out_height(), g.out_width());
        if dy.dim() != expect {
            return Err(TrainError::shape(
                &self.name,
                format!("gradient {expect:?}"),
                dy.shape(),
            ));
        }
        let grads = ops::conv2d_backward_padded(
            &self.padded,
            self.weight4(),
            dy,
            self.config.stride,
            self.config.padding,
            self.input_grad,
            self.bias.is_some(),
            &g,
        );
        self.weight.accumulate(grads.dw.view().into_dyn());
        if let (Some(b), Some(db)) = (self.bias.as_mut(), grads.db.as_ref()) {
            b.accumulate(db.view().into_dyn());
        }
        Ok(grads.dx.unwrap_or_else(|| Array4::zeros((0, 0, 0, 0))))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
