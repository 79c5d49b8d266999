//! Finite-difference gradient checks, used by this crate's tests and available to layers
//! built on top (gated convolutions). Run them in `f64`: central differences with
//! `eps = 1e-6` then agree with correct analytic gradients to ~1e-8 relative.

use crate::layers::Module;
use ndarray::ArrayD;

/// Below this magnitude a gradient entry is compared by absolute error instead of relative.
///
/// Central differences at `eps = 1e-6` carry an absolute error of about 1e-9 on losses through
/// BatchNorm over tiny batches (its third derivative is large when the batch variance is
/// small): a correct 9.23e-7 gradient was measured as 9.22e-7 (regression: a proptest case of
/// `batchnorm1d_linear_relu_mlp_gradients`). With this floor, entries under 1e-5 must agree to
/// 1e-8 absolute at a tolerance of 1e-3, far below what any real backward bug produces.
pub const REL_ERROR_FLOOR: f64 = 1e-5;

/// Relative error `|a − n| / max(|a|, |n|, REL_ERROR_FLOOR)` (the floor keeps exact zeros and
/// tiny gradients comparable).
pub fn rel_error(analytic: f64, numeric: f64) -> f64 {
    (analytic - numeric).abs() / analytic.abs().max(numeric.abs()).max(REL_ERROR_FLOOR)
}

/// The worst disagreement found by a check.
#[derive(Debug, Clone, PartialEq)]
pub struct GradReport {
    pub max_rel_error: f64,
    /// Where it occurred (`input[17]`, `layer1.0.conv1.weight[4]`).
    pub worst: String,
    /// Number of entries compared.
    pub checked: usize,
}

impl GradReport {
    fn new() -> Self {
        GradReport {
            max_rel_error: 0.0,
            worst: String::new(),
            checked: 0,
        }
    }
    fn update(&mut self, what: impl FnOnce() -> String, a: f64, n: f64) {
        let e = rel_error(a, n);
        self.checked += 1;
        if e > self.max_rel_error || self.worst.is_empty() {
            self.max_rel_error = e;
            self.worst = format!("{} (analytic {a:e}, numeric {n:e})", what());
        }
    }
    /// Merges two reports, keeping the worse.
    pub fn merge(mut self, other: GradReport) -> GradReport {
        self.checked += other.checked;
        if other.max_rel_error > self.max_rel_error {
            self.max_rel_error = other.max_rel_error;
            self.worst = other.worst;
        }
        self
    }
}

/// Indices to probe: all when `len ≤ max`, else `max` evenly spread ones.
fn probe(len: usize, max: usize) -> Vec<usize> {
    if len <= max {
        (0..len).collect()
    } else {
        (0..max)
            .map(|i| i * len / max + (i * 7919) % (len / max).max(1))
            .collect()
    }
}

/// Compares `analytic` = ∂loss/∂x at `x` with central differences of `loss`.
pub fn check_input(
    loss: &mut dyn FnMut(&ArrayD<f64>) -> f64,
    x: &ArrayD<f64>,
    analytic: &ArrayD<f64>,
    eps: f64,
    max_entries: usize,
) -> GradReport {
    let mut r = GradReport::new();
    let mut xp = x.clone();
    let a_flat: Vec<f64> = analytic.iter().copied().collect();
    for j in probe(x.len(), max_entries) {
        let orig = xp.as_slice_mut().expect("standard layout")[j];
        xp.as_slice_mut().expect("standard layout")[j] = orig + eps;
        let lp = loss(&xp);
        xp.as_slice_mut().expect("standard layout")[j] = orig - eps;
        let lm = loss(&xp);
        xp.as_slice_mut().expect("standard layout")[j] = orig;
        r.update(|| format!("input[{j}]"), a_flat[j], (lp - lm) / (2.0 * eps));
    }
    r
}

/// Compares each parameter's `grad` (computed by the caller for the current values) with
/// central differences of `loss`, probing up to `max_entries` entries per parameter.
pub fn check_params<M: Module<f64> + ?Sized>(
    module: &mut M,
    loss: &mut dyn FnMut(&mut M) -> f64,
    eps: f64,
    max_entries: usize,
) -> GradReport {
    let mut r = GradReport::new();
    let grads: Vec<(String, Vec<f64>)> = module
        .params()
        .iter()
        .map(|p| (p.name().to_owned(), p.grad.iter().copied().collect()))
        .collect();
    for (i, (name, g)) in grads.iter().enumerate() {
        for j in probe(g.len(), max_entries) {
            let set = |m: &mut M, v: Option<f64>| -> f64 {
                let mut ps = m.params_mut();
                let val = ps[i].value.as_slice_mut().expect("standard layout");
                let orig = val[j];
                if let Some(v) = v {
                    val[j] = v;
                }
                orig
            };
            let orig = set(module, None);
            set(module, Some(orig + eps));
            let lp = loss(module);
            set(module, Some(orig - eps));
            let lm = loss(module);
            set(module, Some(orig));
            r.update(|| format!("{name}[{j}]"), g[j], (lp - lm) / (2.0 * eps));
        }
    }
    r
}
