//! The one error type of `cdg-sim`.

use cdg_core::CoreError;
use thiserror::Error;

/// Why a simulation could not run. Every variant names the layer or the config key at fault and
/// says what was expected.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SimError {
    /// A layer cannot be simulated as given (unsupported feature, shape out of range).
    #[error("layer `{layer}`: {problem}")]
    Layer { layer: String, problem: String },
    /// An arch-config value the model cannot work with; `key` is the dotted TOML key.
    #[error("`{key}`: {problem}")]
    Config { key: String, problem: String },
    /// A count of the model overflowed 64-bit arithmetic.
    #[error("layer `{layer}`: {what} overflows 64-bit arithmetic")]
    Overflow { layer: String, what: &'static str },
    /// The inputs disagree with each other (e.g. per-layer options for another network).
    #[error("{0}")]
    Mismatch(String),
    /// An error of the shared vocabulary (layer shapes, gate specs).
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl SimError {
    pub(crate) fn layer(layer: &str, problem: impl Into<String>) -> Self {
        Self::Layer {
            layer: layer.to_owned(),
            problem: problem.into(),
        }
    }

    pub(crate) fn overflow(layer: &str, what: &'static str) -> Self {
        Self::Overflow {
            layer: layer.to_owned(),
            what,
        }
    }
}
