//! Fully connected layer.

use crate::error::{Result, TrainError};
use crate::layers::{Mode, Module, Param, ParamKind, join_name};
use crate::ops;
use crate::scalar::Scalar;
use ndarray::{Array1, Array2, ArrayView2, Ix1, Ix2};
use rand::Rng;
use rand_distr::{Distribution, Uniform};

/// Linear layer options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinearConfig {
    pub bias: bool,
}

impl Default for LinearConfig {
    fn default() -> Self {
        LinearConfig { bias: true }
    }
}

/// `y = x·Wᵀ + b`, W out×in, initialised U(−1/√in, 1/√in) as PyTorch.
#[derive(Debug, Clone)]
pub struct Linear<T: Scalar = f32> {
    name: String,
    pub weight: Param<T>,
    pub bias: Option<Param<T>>,
    cache: Option<Array2<T>>,
}

impl<T: Scalar> Linear<T> {
    pub fn new<R: Rng + ?Sized>(
        name: &str,
        in_features: usize,
        out_features: usize,
        config: LinearConfig,
        rng: &mut R,
    ) -> Self {
        let bound = 1.0 / (in_features.max(1) as f64).sqrt();
        let u = Uniform::new_inclusive(-bound, bound).expect("finite bound");
        let w = Array2::from_shape_simple_fn((out_features, in_features), || T::of(u.sample(rng)));
        let b = config
            .bias
            .then(|| Array1::from_shape_simple_fn(out_features, || T::of(u.sample(rng))));
        Self::from_weights(name, w, b)
    }
    pub fn from_weights(name: &str, weight: Array2<T>, bias: Option<Array1<T>>) -> Self {
        Linear {
            name: name.to_owned(),
            weight: Param::new(
                join_name(name, "weight"),
                ParamKind::Weight,
                weight.into_dyn(),
            ),
            bias: bias.map(|b| Param::new(join_name(name, "bias"), ParamKind::Bias, b.into_dyn())),
            cache: None,
        }
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn in_features(&self) -> usize {
        self.weight.value.shape()[1]
    }
    pub fn out_features(&self) -> usize {
        self.weight.value.shape()[0]
    }
    pub fn forward(&mut self, x: ArrayView2<'_, T>, mode: Mode) -> Result<Array2<T>> {
        if x.ncols() != self.in_features() {
            return Err(TrainError::shape(
                &self.name,
                format!("N×{}", self.in_features()),
                x.shape(),
            ));
        }
        let w = self
            .weight
            .value
            .view()
            .into_dimensionality::<Ix2>()
            .expect("2-D");
        let b = self
            .bias
            .as_ref()
            .map(|b| b.value.view().into_dimensionality::<Ix1>().expect("1-D"));
        let y = ops::linear_forward(x, w, b);
        self.cache = (mode == Mode::Train).then(|| x.to_owned());
        Ok(y)
    }
    pub fn backward(&mut self, dy: ArrayView2<'_, T>) -> Result<Array2<T>> {
        let x = self
            .cache
            .take()
            .ok_or_else(|| TrainError::NoForwardCache {
                layer: self.name.clone(),
            })?;
        if dy.dim() != (x.nrows(), self.out_features()) {
            return Err(TrainError::shape(
                &self.name,
                format!("gradient {}×{}", x.nrows(), self.out_features()),
                dy.shape(),
            ));
        }
        let w = self
            .weight
            .value
            .view()
            .into_dimensionality::<Ix2>()
            .expect("2-D");
        let g = ops::linear_backward(x.view(), w, dy, self.bias.is_some());
        self.weight.accumulate(g.dw.view().into_dyn());
        if let (Some(b), Some(db)) = (self.bias.as_mut(), g.db.as_ref()) {
            b.accumulate(db.view().into_dyn());
        }
        Ok(g.dx)
    }
}

impl<T: Scalar> Module<T> for Linear<T> {
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
