//! ReLU layer.

use crate::error::{Result, TrainError};
use crate::layers::Mode;
use crate::ops;
use crate::scalar::Scalar;
use ndarray::{Array, ArrayView, Dimension};

/// `max(x, 0)`; caches which outputs are positive for the backward.
#[derive(Debug, Clone)]
pub struct Relu<T: Scalar = f32, D: Dimension = ndarray::Ix4> {
    name: String,
    mask: Option<Array<u8, D>>,
    _t: std::marker::PhantomData<T>,
}

impl<T: Scalar, D: Dimension> Relu<T, D> {
    pub fn new(name: impl Into<String>) -> Self {
        Relu {
            name: name.into(),
            mask: None,
            _t: std::marker::PhantomData,
        }
    }
    pub fn forward(&mut self, x: ArrayView<'_, T, D>, mode: Mode) -> Array<T, D> {
        self.forward_owned(x.to_owned(), mode)
    }
    /// [`Relu::forward`] in place on `x`.
    pub fn forward_owned(&mut self, mut x: Array<T, D>, mode: Mode) -> Array<T, D> {
        ops::relu_inplace(&mut x);
        self.mask = (mode == Mode::Train).then(|| x.map(|&v| u8::from(v > T::zero())));
        x
    }
    /// Consumes the cache.
    pub fn backward(&mut self, dy: ArrayView<'_, T, D>) -> Result<Array<T, D>> {
        let m = self.mask.take().ok_or_else(|| TrainError::NoForwardCache {
            layer: self.name.clone(),
        })?;
        if m.shape() != dy.shape() {
            return Err(TrainError::shape(
                &self.name,
                format!("{:?}", m.shape()),
                dy.shape(),
            ));
        }
        Ok(ops::relu_backward_mask(dy, m.view()))
    }
}
