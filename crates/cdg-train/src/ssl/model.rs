//! The SSL network: (gated) ResNet backbone, projector and (SimSiam) predictor.

use crate::error::{Result, TrainError};
use crate::gating::{GatedConv, gated_conv_factory};
use crate::layers::{Buffer, Mlp, MlpConfig, Mode, Module, Param};
use crate::models::ResNet;
use crate::ssl::config::{SslConfig, SslObjective};
use ndarray::{Array2, Array4, ArrayView4, Axis, concatenate};
use rand::RngCore;

/// Backbone + heads.
#[derive(Debug)]
pub struct SslModel {
    pub backbone: ResNet<f32>,
    pub projector: Mlp<f32>,
    /// SimSiam only.
    pub predictor: Option<Mlp<f32>>,
}

impl SslModel {
    /// Builds the network for `config`; parameters are drawn from `rng` (backbone first).
    pub fn new(config: &SslConfig, rng: &mut dyn RngCore) -> Result<Self> {
        let backbone = match config.gate_config() {
            Some(g) => {
                let mut f = gated_conv_factory::<f32>(g);
                ResNet::with_conv_factory(&config.model, rng, &mut f)?
            }
            None => ResNet::new(&config.model, rng)?,
        };
        let f = backbone.feature_dim();
        let h = config.options.proj_hidden;
        let (projector, predictor) = match config.objective {
            SslObjective::Simclr => (
                Mlp::new(
                    "projector",
                    &MlpConfig {
                        dims: vec![f, h, config.proj_out],
                        hidden_bn: true,
                        output_bn: false,
                    },
                    rng,
                )?,
                None,
            ),
            SslObjective::Simsiam => (
                Mlp::new(
                    "projector",
                    &MlpConfig {
                        dims: vec![f, h, h],
                        hidden_bn: true,
                        output_bn: true,
                    },
                    rng,
                )?,
                Some(Mlp::new(
                    "predictor",
                    &MlpConfig {
                        dims: vec![h, (h / 4).max(1), h],
                        hidden_bn: true,
                        output_bn: false,
                    },
                    rng,
                )?),
            ),
        };
        Ok(SslModel {
            backbone,
            projector,
            predictor,
        })
    }

    /// The gated convolutions of the backbone, in network order.
    pub fn gated(&self) -> Vec<&GatedConv<f32>> {
        self.backbone
            .block_convs()
            .into_iter()
            .filter_map(|c| c.as_any().downcast_ref::<GatedConv<f32>>())
            .collect()
    }

    pub fn gated_mut(&mut self) -> Vec<&mut GatedConv<f32>> {
        self.backbone
            .block_convs_mut()
            .into_iter()
            .filter_map(|c| c.as_any_mut().downcast_mut::<GatedConv<f32>>())
            .collect()
    }

    /// Backbone features of normalised images in evaluation mode, in chunks of `chunk`.
    pub fn features(&mut self, x: ArrayView4<'_, f32>, chunk: usize) -> Result<Array2<f32>> {
        let mut parts = Vec::new();
        for c in x.axis_chunks_iter(Axis(0), chunk.max(1)) {
            parts.push(self.backbone.forward_features(c, Mode::Eval)?);
        }
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        concatenate(Axis(0), &views).map_err(|e| TrainError::config("features", e))
    }

    /// Runs the stem (stem conv → BN → ReLU, and the ImageNet stem's max-pool) in evaluation
    /// mode.
    pub fn stem_eval(&mut self, x: ArrayView4<'_, f32>) -> Result<Array4<f32>> {
        self.backbone.forward_stem(x, Mode::Eval)
    }
}

/// Backbone and projector (the predictor is a separate module with its own optimiser).
impl Module<f32> for SslModel {
    fn params(&self) -> Vec<&Param<f32>> {
        let mut v = self.backbone.params();
        v.extend(self.projector.params());
        v
    }
    fn params_mut(&mut self) -> Vec<&mut Param<f32>> {
        let mut v = self.backbone.params_mut();
        v.extend(self.projector.params_mut());
        v
    }
    fn buffers(&self) -> Vec<&Buffer<f32>> {
        let mut v = self.backbone.buffers();
        v.extend(self.projector.buffers());
        v
    }
    fn buffers_mut(&mut self) -> Vec<&mut Buffer<f32>> {
        let mut v = self.backbone.buffers_mut();
        v.extend(self.projector.buffers_mut());
        v
    }
}
