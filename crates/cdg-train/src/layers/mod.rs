//! Layers: structs that own their parameters ([`Param`]), their non-trainable state
//! ([`Buffer`]) and the cache of their last training-mode forward pass, with `forward` and
//! `backward` methods that call the kernels of [`crate::ops`]. There is no autograd: a model
//! calls `backward` of its layers in reverse order.
//!
//! Contract shared by every layer:
//! - `forward(x, Mode::Train)` caches what `backward` needs; `Mode::Eval` caches nothing and
//!   uses running statistics. Each layer holds one cache: call `backward` once per training
//!   forward, before the next forward.
//! - `backward(dy)` returns ∂L/∂x and **adds** ∂L/∂θ into each parameter's `grad`; callers
//!   zero gradients ([`Module::zero_grad`]) before a step.
//! - Parameters are listed in a fixed order by [`Module::params`]; optimisers and checkpoints
//!   rely on it (and check names).

pub mod batchnorm;
pub mod block;
pub mod conv;
pub mod linear;
pub mod mlp;
pub mod relu;

pub use batchnorm::{BatchNorm, BatchNorm1d, BatchNorm2d, BatchNormConfig};
pub use block::{BasicBlock, ConvFactory, ConvSpec, Downsample, plain_conv_factory};
pub use conv::{Conv, Conv2d, Conv2dConfig};
pub use linear::{Linear, LinearConfig};
pub use mlp::{Mlp, MlpConfig};
pub use relu::Relu;

use crate::scalar::Scalar;
use ndarray::{ArrayD, ArrayViewD};

/// Training (batch statistics, caches kept) or evaluation (running statistics, no cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

/// What a parameter is, which decides whether weight decay applies to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Convolution and linear weights: decayed.
    Weight,
    /// Biases: not decayed.
    Bias,
    /// BatchNorm scale and shift: not decayed.
    Norm,
    /// Gate thresholds Δ_c (gated convolutions): not decayed.
    Threshold,
}

impl ParamKind {
    /// True when weight decay applies (weights only).
    pub fn decays(self) -> bool {
        matches!(self, ParamKind::Weight)
    }
}

/// A trainable tensor with its gradient.
#[derive(Debug, Clone)]
pub struct Param<T: Scalar = f32> {
    name: String,
    kind: ParamKind,
    /// The current value.
    pub value: ArrayD<T>,
    /// ∂L/∂value accumulated since the last [`Param::zero_grad`].
    pub grad: ArrayD<T>,
}

impl<T: Scalar> Param<T> {
    /// A parameter named `name` (dotted path, e.g. `layer1.0.conv1.weight`).
    pub fn new(name: impl Into<String>, kind: ParamKind, value: ArrayD<T>) -> Self {
        let grad = ArrayD::zeros(value.raw_dim());
        Param {
            name: name.into(),
            kind,
            value,
            grad,
        }
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn kind(&self) -> ParamKind {
        self.kind
    }
    /// Number of scalars.
    pub fn len(&self) -> usize {
        self.value.len()
    }
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }
    pub fn zero_grad(&mut self) {
        self.grad.fill(T::zero());
    }
    /// `grad += g` (shapes must match in element count and order).
    pub fn accumulate(&mut self, g: ArrayViewD<'_, T>) {
        let g = g
            .into_shape_with_order(self.grad.raw_dim())
            .expect("gradient has the parameter's shape");
        self.grad.zip_mut_with(&g, |a, &b| *a += b);
    }
}

/// Non-trainable state saved in checkpoints (BatchNorm running statistics).
#[derive(Debug, Clone)]
pub struct Buffer<T: Scalar = f32> {
    name: String,
    pub value: ArrayD<T>,
}

impl<T: Scalar> Buffer<T> {
    pub fn new(name: impl Into<String>, value: ArrayD<T>) -> Self {
        Buffer {
            name: name.into(),
            value,
        }
    }
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Anything that holds parameters: layers, blocks, models.
pub trait Module<T: Scalar = f32> {
    /// Trainable parameters in a fixed order.
    fn params(&self) -> Vec<&Param<T>>;
    /// The same parameters, mutably, in the same order.
    fn params_mut(&mut self) -> Vec<&mut Param<T>>;
    /// Non-trainable state in a fixed order.
    fn buffers(&self) -> Vec<&Buffer<T>> {
        Vec::new()
    }
    fn buffers_mut(&mut self) -> Vec<&mut Buffer<T>> {
        Vec::new()
    }
    /// Sets every gradient to zero.
    fn zero_grad(&mut self) {
        for p in self.params_mut() {
            p.zero_grad();
        }
    }
    /// Number of trainable scalars.
    fn num_params(&self) -> usize {
        self.params().iter().map(|p| p.len()).sum()
    }
}

/// `prefix.name`, or `name` when the prefix is empty.
pub fn join_name(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}
