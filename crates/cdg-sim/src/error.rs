//! The one error type of `cdg-sim`.

use cdg_core::CoreError;
use thiserror::Error;

/// Why a simulation could not run. Every variant names the layer, config key, tensor or fold at
/// fault and says what was expected.
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
    /// A density for synthetic gates that is not a fraction.
    #[error("density {0} is outside [0, 1]; expected a fraction such as 0.5")]
    Density(f64),
    /// Zero samples requested.
    #[error("samples is 0; expected at least 1")]
    NoSamples,
    /// Synthetic masks requested for a network without gated layers.
    #[error("the network has no gated layers; nothing to make masks for")]
    NoGatedLayers,
    /// An array with a zero side handed to the functional executor or the stepped engine.
    #[error("`{key}`: the array is {rows}×{cols}; expected at least 1×1")]
    EmptyArray {
        key: &'static str,
        rows: u64,
        cols: u64,
    },
    /// A tensor's data length disagrees with its shape.
    #[error("{tensor}: {found} values for shape {shape:?}; expected {expected}")]
    DataLength {
        tensor: &'static str,
        shape: Vec<usize>,
        expected: usize,
        found: usize,
    },
    /// GEMM operands that do not chain.
    #[error(
        "GEMM operands disagree: ifmap is {a_rows}×{a_cols}, filter is {b_rows}×{b_cols}; \
         expected the ifmap's column count to equal the filter's row count"
    )]
    Operands {
        a_rows: usize,
        a_cols: usize,
        b_rows: usize,
        b_cols: usize,
    },
    /// A fold of an explicit schedule does not fit the array, the operands or its pass.
    #[error("fold {fold} of the {schedule}: {problem}")]
    Fold {
        /// `dense pass`, `base pass`, `conditional pass` or `schedule` (the stepped engine's
        /// list of folds).
        schedule: &'static str,
        fold: usize,
        problem: String,
    },
    /// A layer too large to materialise as tensors in memory.
    #[error("layer `{layer}` is too large for the functional model ({what})")]
    TooLarge { layer: String, what: String },
    /// The stepped engine found that the schedule would corrupt data if run as timed (only
    /// possible with `overlap_folds`).
    #[error("hazard at cycle {cycle}: {what}")]
    Hazard { cycle: u64, what: String },
    /// An internal invariant of the stepped engine broke (a bug, reported instead of a wrong
    /// number).
    #[error("reference engine invariant broken at cycle {cycle}: {what}")]
    Internal { cycle: u64, what: String },
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

    /// The error for a `rows × cols` array with a zero side, naming the key at fault.
    pub(crate) fn empty_array(rows: u64, cols: u64) -> Self {
        Self::EmptyArray {
            key: if rows == 0 {
                "array.rows"
            } else {
                "array.cols"
            },
            rows,
            cols,
        }
    }
}
