//! Gated convolution (docs/training.md §3, channel-gating semantics) and the gate-consistency
//! loss of Contrastive Dual Gating (§4).
//!
//! A [`GatedConv`] replaces a residual block's 3×3 convolution. Its input channels split
//! into a *base* part (the first ⌈C_in/p⌉) that is always computed and a *conditional* part
//! computed only where the gate is on:
//!
//! ```text
//! P = conv(x_base, W_base)          s = N(P)  (per-channel normalisation, no affine)
//! d = 1[mean_block(s − Δ_c) > 0]    broadcast to the block
//! y = P + d ⊙ conv(x_cond, W_cond)
//! ```
//!
//! Backward uses the straight-through surrogate ∂d/∂z ≈ α·σ′(α·z_block), split evenly over
//! the block's elements. The soft gates `g = σ(α(s − Δ_c))` feed the consistency loss of
//! [`consistency`]. Nothing pair-specific enters the forward pass: each row of the batch is
//! gated by its own saliency.

mod consistency;
mod conv;
mod quantile;

pub use consistency::{ConsistencyAlign, ConsistencyLoss, aligned_positions, consistency_loss};
pub use conv::{
    CondCompute, GateConfig, GateRecord, GatedConv, Granularity, ThresholdMode, block_grid,
    gated_conv_factory,
};
pub use quantile::{QuantileThreshold, fast_quantile_threshold, quantile_threshold};

/// The cubic sparsity ramp of scheduled thresholds: `r(t) = r_T·(1 − (1 − t/T_r)³)` for
/// `t < T_r`, `r_T` afterwards (`T_r = 0` means no ramp).
pub fn ramp(target: f64, step: usize, ramp_steps: usize) -> f64 {
    if ramp_steps == 0 || step >= ramp_steps {
        return target;
    }
    let u = 1.0 - step as f64 / ramp_steps as f64;
    target * (1.0 - u * u * u)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ramp_is_cubic_and_saturates() {
        assert_eq!(super::ramp(0.7, 0, 100), 0.0);
        assert!((super::ramp(0.8, 50, 100) - 0.8 * (1.0 - 0.125)).abs() < 1e-12);
        assert_eq!(super::ramp(0.7, 100, 100), 0.7);
        assert_eq!(super::ramp(0.7, 5, 0), 0.7);
    }
}
