//! Training loops built on the engine. [`supervised`] trains a ResNet classifier; the SSL
//! objectives build on the same pieces ([`crate::optim`], [`crate::checkpoint`],
//! [`crate::data`]).

pub mod supervised;

pub use supervised::{
    EpochReport, StepReport, SupervisedConfig, SupervisedTrainer, evaluate_accuracy,
    supervised_step,
};
