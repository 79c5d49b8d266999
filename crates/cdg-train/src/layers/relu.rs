//! ReLU layer.

use crate::error::{Result, TrainError};
use crate::layers::Mode;
use crate::ops;
use crate::scalar::Scalar;
use ndarray::{Array, ArrayView, Dimension};

/// `max(x, 0)`; caches its output for the backward.
#[derive(Debug, Clone)]
pub struct Relu<T: Scalar = f32, D: Dimension = ndarray::Ix4> {
    name: String,
    out: Option<Array<T, D>>,
}

impl<T: Scalar, D: Dimension> Relu<T, D> {
    pub fn new(name: impl Into<String>) -> Self {
        Relu {
            name: name.into(),
            out: None,
        }
    }
    pub fn forward(&mut self, x: ArrayView<'_, T, D>, mode: Mode) -> Array<T, D> {
        let y = ops::relu(x);
        self.out = (mode == Mode::Train).then(|| y.clone());
        y
    }
    /// Consumes the cache.
    pub fn backward(&mut self, dy: ArrayView<'_, T, D>) -> Result<Array<T, D>> {
        let y = self.out.take().ok_or_else(|| TrainError::NoForwardCache {
            layer: self.name.clone(),
        })?;
        if y.shape() != dy.shape() {
            return Err(TrainError::shape(
                &self.name,
                format!("{:?}", y.shape()),
                dy.shape(),
            ));
        }
        Ok(ops::relu_backward(dy, y.view()))
    }
}
