//! Contrastive self-supervised training (SimCLR, SimSiam) of dense, independently gated and
//! dual-gated (CDG) ResNets: the loop, post-training calibration, cost accounting and the
//! export of evaluation gates as a [`cdg_core::Network`] + [`cdg_core::MaskSet`].
//!
//! Both views of a batch run as one 2B batch (row i pairs with row i + B); each branch is
//! gated by its own saliency. This module does no I/O: the CLI writes metrics, checkpoints
//! and traces.

mod bench;
mod config;
mod cost;
mod loss;
mod model;
mod trainer;

pub use bench::{SslBenchReport, bench_ssl};
pub use config::{Gating, Objective, SslConfig, SslObjective, ThresholdKind};
pub use cost::{CostReport, LayerCost};
pub use loss::{NORM_EPS, nt_xent, simsiam_loss};
pub use model::SslModel;
pub use trainer::{
    EXPLODING_LOSS, EpochReport, EvalGates, LayerCalibration, SslTrainer, StepReport,
};
