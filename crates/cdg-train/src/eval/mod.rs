//! Evaluation on frozen features: accuracy helpers, kNN classifier, linear probe.

/// Fraction of predictions equal to their label, in [0, 1]; 0 for empty input.
pub fn accuracy(predictions: &[u8], labels: &[u8]) -> f64 {
    let n = predictions.len().min(labels.len());
    if n == 0 {
        return 0.0;
    }
    let hits = predictions.iter().zip(labels).filter(|(p, l)| p == l).count();
    hits as f64 / n as f64
}
