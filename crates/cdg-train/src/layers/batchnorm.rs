//! Batch normalisation layers: [`BatchNorm2d`] (N×C×H×W) and [`BatchNorm1d`] (N×C), both
//! thin shapes over [`BatchNorm`], which works on N×C×L.

use crate::error::{Result, TrainError};
use crate::layers::{Buffer, Mode, Module, Param, ParamKind, join_name};
use crate::ops::{self, Affine, layout};
use crate::scalar::Scalar;
use ndarray::{Array1, Array2, Array3, Array4, ArrayView2, ArrayView3, ArrayView4, CowArray, Ix3};

/// BatchNorm hyper-parameters (PyTorch's defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormConfig {
    pub eps: f64,
    /// Running statistics update: `r ← (1 − momentum)·r + momentum·batch`.
    pub momentum: f64,
    /// Learnable scale γ (init 1) and shift β (init 0); without them γ = 1, β = 0.
    pub affine: bool,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig {
            eps: 1e-5,
            momentum: 0.1,
            affine: true,
        }
    }
}

/// Per-channel normalisation over batch and positions of an N×C×L tensor.
#[derive(Debug, Clone)]
pub struct BatchNorm<T: Scalar = f32> {
    name: String,
    channels: usize,
    config: BatchNormConfig,
    pub gamma: Option<Param<T>>,
    pub beta: Option<Param<T>>,
    pub running_mean: Buffer<T>,
    /// Unbiased running variance (as PyTorch).
    pub running_var: Buffer<T>,
    cache: Option<Cache<T>>,
}

/// What a training forward keeps: its input, the affine map it applied (with or without the
/// fused ReLU) and whether the statistics were the batch's.
#[derive(Debug, Clone)]
struct Cache<T> {
    x: Array3<T>,
    affine: Affine<T>,
    batch_stats: bool,
}

impl<T: Scalar> BatchNorm<T> {
    pub fn new(name: &str, channels: usize, config: BatchNormConfig) -> Self {
        BatchNorm {
            name: name.to_owned(),
            channels,
            config,
            gamma: config.affine.then(|| {
                Param::new(
                    join_name(name, "weight"),
                    ParamKind::Norm,
                    Array1::ones(channels).into_dyn(),
                )
            }),
            beta: config.affine.then(|| {
                Param::new(
                    join_name(name, "bias"),
                    ParamKind::Norm,
                    Array1::zeros(channels).into_dyn(),
                )
            }),
            running_mean: Buffer::new(
                join_name(name, "running_mean"),
                Array1::zeros(channels).into_dyn(),
            ),
            running_var: Buffer::new(
                join_name(name, "running_var"),
                Array1::ones(channels).into_dyn(),
            ),
            cache: None,
        }
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn channels(&self) -> usize {
        self.channels
    }
    pub fn config(&self) -> BatchNormConfig {
        self.config
    }

    /// Normalises x (N×C×L): batch statistics (updating the running ones) in training,
    /// running statistics in evaluation. The result keeps x's memory layout.
    pub fn forward3(&mut self, x: ArrayView3<'_, T>, mode: Mode) -> Result<Array3<T>> {
        self.forward3_cow(CowArray::from(x), false, mode)
    }

    /// [`BatchNorm::forward3`] followed by a ReLU, fused, keeping `x` itself for the
    /// backward (no copy).
    pub fn forward3_relu(&mut self, x: Array3<T>, mode: Mode) -> Result<Array3<T>> {
        self.forward3_cow(CowArray::from(x), true, mode)
    }

    fn forward3_cow(
        &mut self,
        x: CowArray<'_, T, Ix3>,
        relu: bool,
        mode: Mode,
    ) -> Result<Array3<T>> {
        let (n, c, l) = x.dim();
        if c != self.channels || n * l == 0 {
            return Err(TrainError::shape(
                &self.name,
                format!("N×{}×… with N ≥ 1", self.channels),
                x.shape(),
            ));
        }
        let gamma = self
            .gamma
            .as_ref()
            .map_or_else(|| vec![T::one(); c], |p| p.value.iter().copied().collect());
        let beta = self
            .beta
            .as_ref()
            .map_or_else(|| vec![T::zero(); c], |p| p.value.iter().copied().collect());
        let (mean, var) = match mode {
            Mode::Train => {
                let stats = ops::batch_stats(x.view());
                let m = (n * l) as f64;
                let unbias = if m > 1.0 { m / (m - 1.0) } else { 1.0 };
                let mo = T::of(self.config.momentum);
                let keep = T::one() - mo;
                for (r, &b) in self.running_mean.value.iter_mut().zip(&stats.mean) {
                    *r = keep * *r + mo * b;
                }
                for (r, &b) in self.running_var.value.iter_mut().zip(&stats.var) {
                    *r = keep * *r + mo * T::of(b.as_f64() * unbias);
                }
                (stats.mean, stats.var)
            }
            Mode::Eval => (
                self.running_mean
                    .value
                    .iter()
                    .copied()
                    .collect::<Array1<T>>(),
                self.running_var
                    .value
                    .iter()
                    .copied()
                    .collect::<Array1<T>>(),
            ),
        };
        let affine = Affine {
            mean: mean.to_vec(),
            inv_std: ops::inv_std(var.view(), self.config.eps).to_vec(),
            gamma,
            beta,
            relu,
        };
        let y = ops::bn_apply(x.view(), &affine);
        self.cache = (mode == Mode::Train).then(|| Cache {
            x: x.into_owned(),
            affine,
            batch_stats: true,
        });
        Ok(y)
    }

    /// Backward of the last training forward (N×C×L).
    pub fn backward3(&mut self, dy: ArrayView3<'_, T>) -> Result<Array3<T>> {
        let cache = self
            .cache
            .take()
            .ok_or_else(|| TrainError::NoForwardCache {
                layer: self.name.clone(),
            })?;
        if dy.shape() != cache.x.shape() {
            return Err(TrainError::shape(
                &self.name,
                format!("gradient {:?}", cache.x.shape()),
                dy.shape(),
            ));
        }
        let g = ops::bn_backward(dy, cache.x.view(), &cache.affine, cache.batch_stats);
        if let Some(p) = self.gamma.as_mut() {
            p.accumulate(g.dgamma.view().into_dyn());
        }
        if let Some(p) = self.beta.as_mut() {
            p.accumulate(g.dbeta.view().into_dyn());
        }
        Ok(g.dx)
    }
}

impl<T: Scalar> Module<T> for BatchNorm<T> {
    fn params(&self) -> Vec<&Param<T>> {
        self.gamma.iter().chain(self.beta.iter()).collect()
    }
    fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        self.gamma.iter_mut().chain(self.beta.iter_mut()).collect()
    }
    fn buffers(&self) -> Vec<&Buffer<T>> {
        vec![&self.running_mean, &self.running_var]
    }
    fn buffers_mut(&mut self) -> Vec<&mut Buffer<T>> {
        vec![&mut self.running_mean, &mut self.running_var]
    }
}

/// BatchNorm over N×C×H×W.
#[derive(Debug, Clone)]
pub struct BatchNorm2d<T: Scalar = f32>(pub BatchNorm<T>);

impl<T: Scalar> BatchNorm2d<T> {
    pub fn new(name: &str, channels: usize, config: BatchNormConfig) -> Self {
        BatchNorm2d(BatchNorm::new(name, channels, config))
    }
    /// Normalises x (N×C×H×W); the result keeps x's memory layout (channels-last in, out).
    pub fn forward(&mut self, x: ArrayView4<'_, T>, mode: Mode) -> Result<Array4<T>> {
        let dim = x.dim();
        let x3 = layout::view3(x);
        let y = self.0.forward3(x3.view(), mode)?;
        Ok(layout::array4(y, dim))
    }
    /// Batch norm followed by a ReLU, fused; takes `x` (kept for the backward without a
    /// copy). [`BatchNorm2d::backward`] then goes through both.
    pub fn forward_relu(&mut self, x: Array4<T>, mode: Mode) -> Result<Array4<T>> {
        let dim = x.dim();
        let y = self.0.forward3_relu(layout::into3(x), mode)?;
        Ok(layout::array4(y, dim))
    }
    pub fn backward(&mut self, dy: ArrayView4<'_, T>) -> Result<Array4<T>> {
        let dim = dy.dim();
        let d3 = layout::view3(dy);
        let dx = self.0.backward3(d3.view())?;
        Ok(layout::array4(dx, dim))
    }
}

/// BatchNorm over N×C (projection heads).
#[derive(Debug, Clone)]
pub struct BatchNorm1d<T: Scalar = f32>(pub BatchNorm<T>);

impl<T: Scalar> BatchNorm1d<T> {
    pub fn new(name: &str, channels: usize, config: BatchNormConfig) -> Self {
        BatchNorm1d(BatchNorm::new(name, channels, config))
    }
    pub fn forward(&mut self, x: ArrayView2<'_, T>, mode: Mode) -> Result<Array2<T>> {
        let (n, c) = x.dim();
        let x3 = x.insert_axis(ndarray::Axis(2));
        let y = self.0.forward3(x3, mode)?;
        Ok(y.into_shape_with_order((n, c)).expect("same size"))
    }
    pub fn backward(&mut self, dy: ArrayView2<'_, T>) -> Result<Array2<T>> {
        let (n, c) = dy.dim();
        let dx = self.0.backward3(dy.insert_axis(ndarray::Axis(2)))?;
        Ok(dx.into_shape_with_order((n, c)).expect("same size"))
    }
}

macro_rules! delegate_module {
    ($t:ident) => {
        impl<T: Scalar> Module<T> for $t<T> {
            fn params(&self) -> Vec<&Param<T>> {
                self.0.params()
            }
            fn params_mut(&mut self) -> Vec<&mut Param<T>> {
                self.0.params_mut()
            }
            fn buffers(&self) -> Vec<&Buffer<T>> {
                self.0.buffers()
            }
            fn buffers_mut(&mut self) -> Vec<&mut Buffer<T>> {
                self.0.buffers_mut()
            }
        }
    };
}
delegate_module!(BatchNorm2d);
delegate_module!(BatchNorm1d);
