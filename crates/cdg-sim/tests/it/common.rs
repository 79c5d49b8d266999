//! Helpers shared by the property tests: the dataflow and policy strategies, an LCG, the
//! random gated conv layer and a 1×1 conv layer. The gated tests (`custom_policy.rs` here,
//! `reference_gated.rs` and `reference_vs_gated.rs` of the workspace's `tests/it/agreement/`,
//! which include this file) use them all, the others only `dataflow` or `pointwise`, hence the
//! `dead_code` allowance.

use cdg_core::{
    ConvParams, Dataflow, GateBlock, GateSpec, Layer, LayerMasks, LayerShape, OutputRule,
    SkipPolicy,
};
use proptest::prelude::*;

/// Every dataflow (a new one is covered without touching the tests).
pub fn dataflow() -> impl Strategy<Value = Dataflow> {
    prop::sample::select(Dataflow::ALL.to_vec())
}

/// Every skip policy (a new one is covered without touching the tests).
pub fn policy() -> impl Strategy<Value = SkipPolicy> {
    prop::sample::select(SkipPolicy::ALL.to_vec())
}

/// Whether `df` keeps the outputs in the PEs (K streams), stated here apart from the crate.
/// Exhaustive, so a new dataflow must say.
pub fn outputs_stay(df: Dataflow) -> bool {
    match df {
        Dataflow::OutputStationary => true,
        Dataflow::WeightStationary | Dataflow::InputStationary => false,
    }
}

/// What the laws of the tests expect of a policy, stated here apart from the crate.
#[derive(Debug, Clone, Copy)]
pub struct PolicyTraits {
    /// It may skip conditional folds (all-off masks leave only the base pass).
    pub skips: bool,
    /// Its conditional folds wait for the gather unit (`gather_rows_per_cycle`).
    pub gathers: bool,
    /// It computes inactive outputs at full cost (no clock gating).
    pub discards: bool,
}

/// Exhaustive, so a new policy must say.
pub fn traits(p: SkipPolicy) -> PolicyTraits {
    let t = |skips, gathers, discards| PolicyTraits {
        skips,
        gathers,
        discards,
    };
    match p {
        SkipPolicy::Dense => t(false, false, true),
        SkipPolicy::ClockGate => t(false, false, false),
        SkipPolicy::TileSkip => t(true, false, false),
        SkipPolicy::Compact => t(true, true, false),
    }
}

/// A 64-bit LCG (Knuth's MMIX constants) seeded with `seed | 1`, yielding its top 53 bits.
pub fn lcg(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed | 1;
    move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 11
    }
}

/// The square conv layer "g" of `(c, h, n, k, s, p)` (channels, height = width, filters,
/// kernel, stride, padding), its gate spec over `partitions` and `block`, and one mask sample
/// whose bits are on with probability `density`, drawn from `next`. `None` when the layer
/// itself is impossible (the caller rejects the case).
pub fn gated_case(
    (c, h, n, k, s, p): (u64, u64, u64, u64, u64, u64),
    partitions: u64,
    block: (u64, u64, u64),
    density: f64,
    next: &mut impl FnMut() -> u64,
) -> Option<(LayerShape, GateSpec, LayerMasks)> {
    let layer = LayerShape::conv(
        "g",
        ConvParams {
            in_channels: c,
            in_height: h,
            in_width: h,
            out_channels: n,
            kernel: [k, k],
            stride: s,
            padding: p,
            rule: OutputRule::Floor,
        },
    )
    .ok()?;
    let spec = GateSpec {
        base_channels: GateSpec::base_channels_for(c, partitions),
        block: GateBlock::new(block.0, block.1, block.2),
    };
    let masks = LayerMasks::from_fn(&layer, &spec, 1, |_, _, _, _| {
        (next() as f64 / (1u64 << 53) as f64) < density
    })
    .unwrap();
    Some((layer, spec, masks))
}

/// An ungated 1×1 convolution (stride 1, no padding) of a `c`×`h`×`w` input into `n` channels.
pub fn pointwise(name: &str, c: u64, h: u64, w: u64, n: u64) -> Layer {
    let params = ConvParams {
        in_channels: c,
        in_height: h,
        in_width: w,
        out_channels: n,
        kernel: [1, 1],
        stride: 1,
        padding: 0,
        rule: OutputRule::Floor,
    };
    Layer {
        shape: LayerShape::conv(name, params).unwrap(),
        gate: None,
    }
}
