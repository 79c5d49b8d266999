//! Cost accounting (docs/training.md §6): per layer `macs_dense`, `macs_base`,
//! `macs_needed = macs_base + K_cond × active outputs` and `gate_ops`; the network's
//! `flops_reduction = Σ macs_dense / Σ macs_needed` (ungated layers count dense), all per
//! image at single-view evaluation.

use serde::Serialize;

/// One layer's cost per image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerCost {
    pub name: String,
    pub gated: bool,
    pub macs_dense: u64,
    pub macs_base: u64,
    /// Mean over the evaluated images.
    pub macs_needed: f64,
    /// One compare per gate (reported apart, not in `macs_needed`).
    pub gate_ops: u64,
    /// Fraction of output elements whose gate is on (1 for ungated layers).
    pub density: f64,
    /// Output elements per image (C_out·H_out·W_out).
    pub out_elements: u64,
}

/// The whole network's cost per image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostReport {
    pub layers: Vec<LayerCost>,
    pub macs_dense: u64,
    pub macs_needed: f64,
    pub gate_ops: u64,
    pub flops_reduction: f64,
}

impl CostReport {
    /// Sums `layers`.
    pub fn new(layers: Vec<LayerCost>) -> Self {
        let macs_dense: u64 = layers.iter().map(|l| l.macs_dense).sum();
        let macs_needed: f64 = layers.iter().map(|l| l.macs_needed).sum();
        let gate_ops = layers.iter().map(|l| l.gate_ops).sum();
        CostReport {
            flops_reduction: if macs_needed > 0.0 {
                macs_dense as f64 / macs_needed
            } else {
                1.0
            },
            layers,
            macs_dense,
            macs_needed,
            gate_ops,
        }
    }

    /// Σ macs_dense / Σ macs_needed over the gated layers only.
    pub fn gated_reduction(&self) -> f64 {
        let (d, n) = self
            .layers
            .iter()
            .filter(|l| l.gated)
            .fold((0.0, 0.0), |(d, n), l| {
                (d + l.macs_dense as f64, n + l.macs_needed)
            });
        if n > 0.0 { d / n } else { 1.0 }
    }
}
