//! Multi-layer perceptron heads (SimCLR / SimSiam projectors and predictors).

use crate::error::{Result, TrainError};
use crate::layers::{
    BatchNorm1d, BatchNormConfig, Buffer, Linear, LinearConfig, Mode, Module, Param, Relu,
    join_name,
};
use crate::scalar::Scalar;
use ndarray::{Array2, ArrayView2, Ix2};
use rand::Rng;

/// Shape of an MLP: `dims[0] → dims[1] → … → dims.last()`, with Linear → BN → ReLU on every
/// hidden layer and a plain Linear at the end.
#[derive(Debug, Clone, PartialEq)]
pub struct MlpConfig {
    pub dims: Vec<usize>,
    /// BatchNorm1d after each hidden Linear (then the hidden Linear has no bias).
    pub hidden_bn: bool,
    /// BatchNorm1d (affine) on the output (SimSiam's projector); the last Linear then has no bias.
    pub output_bn: bool,
}

impl Default for MlpConfig {
    /// SimCLR's projector for a width-1 ResNet-18: 512 → 2048 → 128.
    fn default() -> Self {
        MlpConfig {
            dims: vec![512, 2048, 128],
            hidden_bn: true,
            output_bn: false,
        }
    }
}

#[derive(Debug, Clone)]
struct Hidden<T: Scalar> {
    linear: Linear<T>,
    bn: Option<BatchNorm1d<T>>,
    relu: Relu<T, ndarray::Ix2>,
}

/// An MLP head; see [`MlpConfig`].
#[derive(Debug, Clone)]
pub struct Mlp<T: Scalar = f32> {
    name: String,
    hidden: Vec<Hidden<T>>,
    out: Linear<T>,
    out_bn: Option<BatchNorm1d<T>>,
}

impl<T: Scalar> Mlp<T> {
    /// Layers are named `name.0`, `name.1`, … (linears), `name.bn0`, … (norms).
    pub fn new<R: Rng + ?Sized>(name: &str, config: &MlpConfig, rng: &mut R) -> Result<Self> {
        if config.dims.len() < 2 || config.dims.contains(&0) {
            return Err(TrainError::config(
                "dims",
                format!("an MLP needs ≥ 2 positive sizes, found {:?}", config.dims),
            ));
        }
        let last = config.dims.len() - 2;
        let mut hidden = Vec::new();
        for i in 0..last {
            let (a, b) = (config.dims[i], config.dims[i + 1]);
            hidden.push(Hidden {
                linear: Linear::new(
                    &join_name(name, &i.to_string()),
                    a,
                    b,
                    LinearConfig {
                        bias: !config.hidden_bn,
                    },
                    rng,
                ),
                bn: config.hidden_bn.then(|| {
                    BatchNorm1d::new(
                        &join_name(name, &format!("bn{i}")),
                        b,
                        BatchNormConfig::default(),
                    )
                }),
                relu: Relu::new(join_name(name, &format!("relu{i}"))),
            });
        }
        let (a, b) = (config.dims[last], config.dims[last + 1]);
        let out = Linear::new(
            &join_name(name, &last.to_string()),
            a,
            b,
            LinearConfig {
                bias: !config.output_bn,
            },
            rng,
        );
        let out_bn = config.output_bn.then(|| {
            BatchNorm1d::new(
                &join_name(name, &format!("bn{last}")),
                b,
                BatchNormConfig::default(),
            )
        });
        Ok(Mlp {
            name: name.to_owned(),
            hidden,
            out,
            out_bn,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn in_features(&self) -> usize {
        self.hidden
            .first()
            .map_or(self.out.in_features(), |h| h.linear.in_features())
    }
    pub fn out_features(&self) -> usize {
        self.out.out_features()
    }

    pub fn forward(&mut self, x: ArrayView2<'_, T>, mode: Mode) -> Result<Array2<T>> {
        let mut h = x.to_owned();
        for l in &mut self.hidden {
            h = l.linear.forward(h.view(), mode)?;
            if let Some(bn) = l.bn.as_mut() {
                h = bn.forward(h.view(), mode)?;
            }
            h = l.relu.forward(h.view(), mode);
        }
        h = self.out.forward(h.view(), mode)?;
        if let Some(bn) = self.out_bn.as_mut() {
            h = bn.forward(h.view(), mode)?;
        }
        Ok(h)
    }

    pub fn backward(&mut self, dy: ArrayView2<'_, T>) -> Result<Array2<T>> {
        let mut d = dy.to_owned();
        if let Some(bn) = self.out_bn.as_mut() {
            d = bn.backward(d.view())?;
        }
        d = self.out.backward(d.view())?;
        for l in self.hidden.iter_mut().rev() {
            d = l
                .relu
                .backward(d.view())?
                .into_dimensionality::<Ix2>()
                .expect("2-D");
            if let Some(bn) = l.bn.as_mut() {
                d = bn.backward(d.view())?;
            }
            d = l.linear.backward(d.view())?;
        }
        Ok(d)
    }
}

impl<T: Scalar> Module<T> for Mlp<T> {
    fn params(&self) -> Vec<&Param<T>> {
        let mut v = Vec::new();
        for l in &self.hidden {
            v.extend(l.linear.params());
            if let Some(bn) = &l.bn {
                v.extend(bn.params());
            }
        }
        v.extend(self.out.params());
        if let Some(bn) = &self.out_bn {
            v.extend(bn.params());
        }
        v
    }
    fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        let mut v = Vec::new();
        for l in &mut self.hidden {
            v.extend(l.linear.params_mut());
            if let Some(bn) = &mut l.bn {
                v.extend(bn.params_mut());
            }
        }
        v.extend(self.out.params_mut());
        if let Some(bn) = &mut self.out_bn {
            v.extend(bn.params_mut());
        }
        v
    }
    fn buffers(&self) -> Vec<&Buffer<T>> {
        let mut v = Vec::new();
        for l in &self.hidden {
            if let Some(bn) = &l.bn {
                v.extend(bn.buffers());
            }
        }
        if let Some(bn) = &self.out_bn {
            v.extend(bn.buffers());
        }
        v
    }
    fn buffers_mut(&mut self) -> Vec<&mut Buffer<T>> {
        let mut v = Vec::new();
        for l in &mut self.hidden {
            if let Some(bn) = &mut l.bn {
                v.extend(bn.buffers_mut());
            }
        }
        if let Some(bn) = &mut self.out_bn {
            v.extend(bn.buffers_mut());
        }
        v
    }
}
