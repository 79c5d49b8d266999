use thiserror::Error;

/// Errors of the shared vocabulary. Each variant names the layer or key at fault and what was
/// expected, so a message is useful without a backtrace.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CoreError {
    /// A layer's shape is impossible or unsupported.
    #[error("layer `{layer}`: {field} {problem}")]
    Layer {
        layer: String,
        field: &'static str,
        problem: String,
    },
    /// A network is inconsistent (duplicate names, empty).
    #[error("network: {0}")]
    Network(String),
    /// A gate specification or mask disagrees with its layer.
    #[error("layer `{layer}`: gate {problem}")]
    Gate { layer: String, problem: String },
    /// An accelerator configuration value is out of range; `key` is the dotted TOML key.
    #[error("`{key}`: {problem}")]
    Config { key: String, problem: String },
}

impl CoreError {
    pub(crate) fn layer(layer: &str, field: &'static str, problem: impl Into<String>) -> Self {
        Self::Layer {
            layer: layer.to_owned(),
            field,
            problem: problem.into(),
        }
    }

    pub(crate) fn gate(layer: &str, problem: impl Into<String>) -> Self {
        Self::Gate {
            layer: layer.to_owned(),
            problem: problem.into(),
        }
    }

    pub fn config(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Config {
            key: key.into(),
            problem: problem.into(),
        }
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
