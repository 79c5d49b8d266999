//! The crate's error type.

use std::fmt;

/// Everything that can go wrong in the engine, the models, the optimiser and checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A tensor reached a layer with the wrong shape.
    #[error("layer `{layer}`: expected input shape {expected}, found {found:?}")]
    Shape {
        layer: String,
        expected: String,
        found: Vec<usize>,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration `{key}`: {reason}")]
    Config { key: String, reason: String },
    /// A checkpoint could not be decoded or does not fit the model.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// Backward was called without a preceding training-mode forward.
    #[error("layer `{layer}`: backward called without a cached forward pass")]
    NoForwardCache { layer: String },
    /// The loss became NaN or infinite (or exploded past
    /// [`crate::ssl::EXPLODING_LOSS`]); `epoch` and `step` are 1-based.
    #[error("loss is not finite ({loss}) at epoch {epoch}, step {step}")]
    NonFinite {
        loss: f64,
        epoch: usize,
        step: usize,
    },
    /// A checkpoint to resume from was written by a run with other options.
    #[error("was written with different options\n  checkpoint: {stored}\n  now:        {now}")]
    ResumeMismatch { stored: String, now: String },
    /// A session's observer could not persist the run's outputs (its error names the file).
    #[error(transparent)]
    Output(Box<dyn std::error::Error + Send + Sync>),
}

/// Shorthand for results of this crate.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;

impl TrainError {
    /// A shape error for `layer`, expected described in words.
    pub fn shape(layer: &str, expected: impl fmt::Display, found: &[usize]) -> Self {
        TrainError::Shape {
            layer: layer.to_owned(),
            expected: expected.to_string(),
            found: found.to_vec(),
        }
    }

    /// A configuration error for `key`.
    pub fn config(key: &str, reason: impl fmt::Display) -> Self {
        TrainError::Config {
            key: key.to_owned(),
            reason: reason.to_string(),
        }
    }
}
