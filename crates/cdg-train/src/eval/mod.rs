//! Evaluation on frozen features: accuracy helpers, the kNN classifier and the linear probe.
//!
//! Everything here takes feature matrices (`Array2<f32>`, one row per image) and labels,
//! so it is independent of the network that produced the features. Results are
//! deterministic: fixed reduction orders, ties broken towards the lower index.

mod knn;
mod probe;

use ndarray::ArrayView2;

pub use knn::{KnnConfig, knn_accuracy, knn_predict, l2_normalize_rows};
pub use probe::{LinearProbe, ProbeConfig, ProbeReport, linear_probe, train_linear_probe};

/// What can go wrong in evaluation: inputs that do not fit together.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Shapes or lengths disagree, or a count is zero where it cannot be.
    #[error("{op}: {message}")]
    Shape {
        /// The operation that refused its input.
        op: &'static str,
        /// What was expected and what was found.
        message: String,
    },
    /// A label is not below the number of classes.
    #[error("{op}: label {label} at row {row} is out of range, expected < {classes}")]
    Label {
        /// The operation that refused its input.
        op: &'static str,
        /// The offending label.
        label: u8,
        /// Its row.
        row: usize,
        /// Number of classes.
        classes: usize,
    },
    /// A setting is out of its valid range.
    #[error("{op}: {message}")]
    Config {
        /// The operation that refused its settings.
        op: &'static str,
        /// What was expected and what was found.
        message: String,
    },
}

pub(crate) fn shape_error(op: &'static str, message: impl Into<String>) -> EvalError {
    EvalError::Shape {
        op,
        message: message.into(),
    }
}

pub(crate) fn check_labels(
    op: &'static str,
    labels: &[u8],
    classes: usize,
) -> Result<(), EvalError> {
    match labels
        .iter()
        .enumerate()
        .find(|&(_, &l)| usize::from(l) >= classes)
    {
        Some((row, &label)) => Err(EvalError::Label {
            op,
            label,
            row,
            classes,
        }),
        None => Ok(()),
    }
}

/// Fraction of predictions equal to their label, in [0, 1]; 0 for empty input.
pub fn accuracy(predictions: &[u8], labels: &[u8]) -> Result<f64, EvalError> {
    if predictions.len() != labels.len() {
        return Err(shape_error(
            "accuracy",
            format!(
                "{} predictions for {} labels",
                predictions.len(),
                labels.len()
            ),
        ));
    }
    if labels.is_empty() {
        return Ok(0.0);
    }
    let hits = predictions
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count();
    Ok(hits as f64 / labels.len() as f64)
}

/// Index of the largest value of each row (the lowest index among equal maxima; NaN never
/// wins over a number).
pub fn argmax_rows(scores: ArrayView2<'_, f32>) -> Vec<usize> {
    scores
        .rows()
        .into_iter()
        .map(|row| {
            let mut best = 0;
            for (i, &v) in row.iter().enumerate() {
                if v > row[best] || (row[best].is_nan() && !v.is_nan()) {
                    best = i;
                }
            }
            best
        })
        .collect()
}

/// Top-1 accuracy of class scores (N×classes) against labels.
pub fn top1_accuracy(scores: ArrayView2<'_, f32>, labels: &[u8]) -> Result<f64, EvalError> {
    if scores.nrows() != labels.len() {
        return Err(shape_error(
            "top1_accuracy",
            format!("{} score rows for {} labels", scores.nrows(), labels.len()),
        ));
    }
    let predictions: Vec<u8> = argmax_rows(scores)
        .into_iter()
        .map(|c| c.min(255) as u8)
        .collect();
    accuracy(&predictions, labels)
}
