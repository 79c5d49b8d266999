//! Weighted kNN classification on L2-normalised features (the SSL monitor of InstDisc /
//! solo-learn): cosine similarities to a bank of training features, the k most similar vote
//! for their class with weight `exp(sim / T)`.

use ndarray::{Array2, ArrayView2, Axis, s};
use rayon::prelude::*;

use super::{EvalError, accuracy, check_labels, shape_error};

/// kNN settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnnConfig {
    /// Neighbours that vote; the bank size when it is smaller.
    pub k: usize,
    /// Temperature T of the vote weight `exp(sim / T)`.
    pub temperature: f32,
    /// Queries per similarity block (bounds memory at `chunk × bank` floats).
    pub chunk: usize,
}

impl Default for KnnConfig {
    /// k = 200, T = 0.1 (docs/training.md §9), blocks of 256 queries.
    fn default() -> Self {
        KnnConfig {
            k: 200,
            temperature: 0.1,
            chunk: 256,
        }
    }
}

/// Copies `features` with every row scaled to unit L2 norm (all-zero rows stay zero).
pub fn l2_normalize_rows(features: ArrayView2<'_, f32>) -> Array2<f32> {
    let mut out = features.to_owned();
    for mut row in out.rows_mut() {
        let norm = row
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt();
        if norm > 0.0 {
            let inv = (1.0 / norm) as f32;
            row.mapv_inplace(|v| v * inv);
        }
    }
    out
}

/// Predicts a class for every row of `queries` from the labelled `bank` of training
/// features. Features are L2-normalised here. Neighbours are ordered by similarity, then by
/// bank index; class-vote ties go to the lower class index.
pub fn knn_predict(
    bank: ArrayView2<'_, f32>,
    bank_labels: &[u8],
    queries: ArrayView2<'_, f32>,
    classes: usize,
    config: &KnnConfig,
) -> Result<Vec<u8>, EvalError> {
    const OP: &str = "knn_predict";
    if bank.nrows() != bank_labels.len() {
        return Err(shape_error(
            OP,
            format!(
                "bank has {} rows but {} labels",
                bank.nrows(),
                bank_labels.len()
            ),
        ));
    }
    if bank.nrows() == 0 {
        return Err(shape_error(OP, "the feature bank is empty"));
    }
    if bank.ncols() != queries.ncols() {
        return Err(shape_error(
            OP,
            format!(
                "bank features have {} dimensions, queries {}",
                bank.ncols(),
                queries.ncols()
            ),
        ));
    }
    if classes == 0 || classes > 256 {
        return Err(EvalError::Config {
            op: OP,
            message: format!("{classes} classes, expected 1..=256"),
        });
    }
    if config.k == 0
        || config.chunk == 0
        || config.temperature.is_nan()
        || config.temperature <= 0.0
    {
        return Err(EvalError::Config {
            op: OP,
            message: format!(
                "k = {}, chunk = {}, temperature = {}: expected all > 0",
                config.k, config.chunk, config.temperature
            ),
        });
    }
    check_labels(OP, bank_labels, classes)?;
    let bank = l2_normalize_rows(bank);
    let queries = l2_normalize_rows(queries);
    let k = config.k.min(bank.nrows());
    let inv_t = 1.0 / f64::from(config.temperature);
    let starts: Vec<usize> = (0..queries.nrows()).step_by(config.chunk).collect();
    let blocks: Vec<Vec<u8>> = starts
        .par_iter()
        .map(|&start| {
            let stop = (start + config.chunk).min(queries.nrows());
            let sims = queries.slice(s![start..stop, ..]).dot(&bank.t());
            sims.axis_iter(Axis(0))
                .map(|row| {
                    let order = |a: &usize, b: &usize| row[*b].total_cmp(&row[*a]).then(a.cmp(b));
                    let mut idx: Vec<usize> = (0..row.len()).collect();
                    if k < idx.len() {
                        idx.select_nth_unstable_by(k - 1, order);
                        idx.truncate(k);
                    }
                    idx.sort_unstable_by(order);
                    let mut votes = vec![0.0f64; classes];
                    for &i in &idx {
                        votes[usize::from(bank_labels[i])] += (f64::from(row[i]) * inv_t).exp();
                    }
                    let mut best = 0;
                    for (c, &v) in votes.iter().enumerate() {
                        if v > votes[best] {
                            best = c;
                        }
                    }
                    best as u8
                })
                .collect()
        })
        .collect();
    Ok(blocks.into_iter().flatten().collect())
}

/// kNN top-1 accuracy of `queries` against their labels, in [0, 1].
pub fn knn_accuracy(
    bank: ArrayView2<'_, f32>,
    bank_labels: &[u8],
    queries: ArrayView2<'_, f32>,
    query_labels: &[u8],
    classes: usize,
    config: &KnnConfig,
) -> Result<f64, EvalError> {
    if queries.nrows() != query_labels.len() {
        return Err(shape_error(
            "knn_accuracy",
            format!(
                "{} query rows but {} labels",
                queries.nrows(),
                query_labels.len()
            ),
        ));
    }
    let predictions = knn_predict(bank, bank_labels, queries, classes, config)?;
    accuracy(&predictions, query_labels)
}
