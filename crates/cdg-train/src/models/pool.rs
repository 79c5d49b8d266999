//! Max pooling of the ImageNet ResNet stem (3×3, stride 2, padding 1), with its backward
//! pass (docs/training.md §2).
//!
//! Padding never wins: a window's maximum is taken over its in-bounds pixels only, as
//! PyTorch's `MaxPool2d` (which pads with −∞). Ties go to the first pixel in row-major
//! window order, and the gradient flows to that pixel alone.

use crate::error::{Result, TrainError};
use crate::layers::Mode;
use crate::scalar::Scalar;
use ndarray::{Array4, ArrayView4, Axis};
use rayon::prelude::*;

/// Square max pooling over each channel of an N×C×H×W tensor.
#[derive(Debug, Clone)]
pub struct MaxPool2d<T: Scalar = f32> {
    name: String,
    /// Window side.
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    /// Training cache: the input shape and, per output element, the flat index (within its
    /// H×W input plane) of the pixel that won.
    cache: Option<([usize; 4], Vec<u32>)>,
    _scalar: std::marker::PhantomData<T>,
}

impl<T: Scalar> MaxPool2d<T> {
    /// A pool named `name` (e.g. `maxpool`). Errors if the window or stride is 0 or the
    /// padding is not smaller than the window.
    pub fn new(name: &str, kernel: usize, stride: usize, padding: usize) -> Result<Self> {
        if kernel == 0 || stride == 0 || padding >= kernel {
            return Err(TrainError::config(
                name,
                format!(
                    "max pool kernel {kernel}, stride {stride}, padding {padding}: expected \
                     kernel ≥ 1, stride ≥ 1 and padding < kernel"
                ),
            ));
        }
        Ok(MaxPool2d {
            name: name.to_owned(),
            kernel,
            stride,
            padding,
            cache: None,
            _scalar: std::marker::PhantomData,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Output side for an input side `n`: ⌊(n + 2p − k)/s⌋ + 1; `None` when the window does
    /// not fit.
    pub fn out_size(&self, n: usize) -> Option<usize> {
        (n + 2 * self.padding)
            .checked_sub(self.kernel)
            .map(|d| d / self.stride + 1)
    }

    /// Pools `x`; in training mode remembers which pixel won each window.
    pub fn forward(&mut self, x: ArrayView4<'_, T>, mode: Mode) -> Result<Array4<T>> {
        let (n, c, h, w) = x.dim();
        let (Some(oh), Some(ow)) = (self.out_size(h), self.out_size(w)) else {
            return Err(TrainError::config(
                &self.name,
                format!(
                    "input {h}×{w} is smaller than the {k}×{k} window",
                    k = self.kernel
                ),
            ));
        };
        let mut y = Array4::<T>::zeros((n, c, oh, ow));
        let mut arg = vec![0u32; n * c * oh * ow];
        let (k, s, p) = (self.kernel, self.stride, self.padding);
        let plane = oh * ow;
        y.axis_iter_mut(Axis(0))
            .into_par_iter()
            .zip(x.axis_iter(Axis(0)).into_par_iter())
            .zip(arg.par_chunks_mut((c * plane).max(1)))
            .for_each(|((mut yn, xn), an)| {
                for ch in 0..c {
                    let xc = xn.index_axis(Axis(0), ch);
                    let mut yc = yn.index_axis_mut(Axis(0), ch);
                    let ac = &mut an[ch * plane..(ch + 1) * plane];
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let mut best: Option<(T, usize)> = None;
                            for ky in 0..k {
                                let Some(iy) = (oy * s + ky).checked_sub(p).filter(|&v| v < h)
                                else {
                                    continue;
                                };
                                for kx in 0..k {
                                    let Some(ix) = (ox * s + kx).checked_sub(p).filter(|&v| v < w)
                                    else {
                                        continue;
                                    };
                                    let v = xc[[iy, ix]];
                                    if best.is_none_or(|(b, _)| v > b) {
                                        best = Some((v, iy * w + ix));
                                    }
                                }
                            }
                            // padding < kernel, so every window holds an in-bounds pixel.
                            let (v, at) = best.expect("every window overlaps the input");
                            yc[[oy, ox]] = v;
                            ac[oy * ow + ox] = at as u32;
                        }
                    }
                }
            });
        self.cache = match mode {
            Mode::Train => Some(([n, c, h, w], arg)),
            Mode::Eval => None,
        };
        Ok(y)
    }

    /// ∂L/∂x of the last training forward: each output's gradient goes to its window's
    /// winning pixel (overlapping windows add).
    pub fn backward(&mut self, dy: ArrayView4<'_, T>) -> Result<Array4<T>> {
        let ([n, c, h, w], arg) = self
            .cache
            .take()
            .ok_or_else(|| TrainError::NoForwardCache {
                layer: self.name.clone(),
            })?;
        let (dn, dc, oh, ow) = dy.dim();
        if (dn, dc) != (n, c) || Some(oh) != self.out_size(h) || Some(ow) != self.out_size(w) {
            return Err(TrainError::config(
                &self.name,
                format!(
                    "gradient {:?} does not match the forward output of {:?}",
                    dy.shape(),
                    [n, c, h, w]
                ),
            ));
        }
        let mut dx = Array4::<T>::zeros((n, c, h, w));
        let plane = oh * ow;
        dx.axis_iter_mut(Axis(0))
            .into_par_iter()
            .zip(dy.axis_iter(Axis(0)).into_par_iter())
            .zip(arg.par_chunks((c * plane).max(1)))
            .for_each(|((mut dxn, dyn_), an)| {
                for ch in 0..c {
                    let dyc = dyn_.index_axis(Axis(0), ch);
                    let mut dxc = dxn.index_axis_mut(Axis(0), ch);
                    let ac = &an[ch * plane..(ch + 1) * plane];
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let at = ac[oy * ow + ox] as usize;
                            dxc[[at / w, at % w]] += dyc[[oy, ox]];
                        }
                    }
                }
            });
        Ok(dx)
    }
}
