//! Synthetic gate masks: random block gates at a requested density, so any network can be fed to
//! the gated-layer model without a trainer.
//!
//! Per layer and sample, exactly `round(density · blocks)` of the layer's gate blocks are on,
//! chosen uniformly at random without replacement. This makes the *block* density exact up to
//! rounding (|error| ≤ 1/(2·blocks)) in every sample, rather than only in expectation as
//! independent Bernoulli draws would; the *element* density (what `LayerMasks::density`
//! reports) can differ slightly when edge blocks are partial.
//!
//! Determinism: the gated layer at network index `i` draws from a ChaCha8 generator seeded with
//! `seed` on stream `i`, so the same seed gives the same masks on every machine, and a layer's
//! masks do not depend on how other layers are gated.

use crate::error::SimError;
use cdg_core::{LayerMasks, MaskSet, Network};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Random block gates for every gated layer of `network`: `samples` samples, each layer and
/// sample with exactly `round(density · blocks)` blocks on (see the module docs).
pub fn synth_masks(
    network: &Network,
    density: f64,
    samples: usize,
    seed: u64,
) -> Result<MaskSet, SimError> {
    if !(0.0..=1.0).contains(&density) {
        return Err(SimError::Density(density));
    }
    if samples == 0 {
        return Err(SimError::NoSamples);
    }
    if network.gated().next().is_none() {
        return Err(SimError::NoGatedLayers);
    }
    let mut layers = Vec::new();
    for (index, layer, spec) in network.gated() {
        let mut masks = LayerMasks::zeros(&layer.shape, spec, samples)?;
        let blocks = masks.blocks_per_sample();
        let n = usize::try_from(blocks)
            .ok()
            .filter(|&n| n <= 1 << 32)
            .ok_or_else(|| {
                SimError::layer(
                    layer.name(),
                    format!("{blocks} gate blocks per sample is too many to draw"),
                )
            })?;
        let on = ((density * n as f64).round() as usize).min(n);
        let [_, gh, gw] = masks.grid();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(index as u64);
        for s in 0..samples {
            for b in rand::seq::index::sample(&mut rng, n, on) {
                let b = b as u64;
                masks.set(s, b / (gh * gw), (b / gw) % gh, b % gw, true);
            }
        }
        layers.push((layer.name().to_owned(), masks));
    }
    Ok(MaskSet::new(network, samples, layers)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdg_core::{ConvParams, GateBlock, GateSpec, Layer, LayerShape, OutputRule};

    fn net() -> Network {
        let shape = |name: &str| {
            LayerShape::conv(
                name,
                ConvParams {
                    in_channels: 8,
                    in_height: 9,
                    in_width: 9,
                    out_channels: 20,
                    kernel: [3, 3],
                    stride: 1,
                    padding: 1,
                    rule: OutputRule::Floor,
                },
            )
            .unwrap()
        };
        Network::new(vec![
            Layer {
                shape: shape("a"),
                gate: None,
            },
            Layer {
                shape: shape("b"),
                gate: Some(GateSpec {
                    base_channels: 2,
                    block: GateBlock::new(4, 2, 1),
                }),
            },
        ])
        .unwrap()
    }

    #[test]
    fn exact_block_count_per_sample() {
        let m = synth_masks(&net(), 0.3, 5, 1).unwrap();
        let l = m.layer("b").unwrap();
        // Grid 5 × 5 × 9 = 225 blocks; round(67.5) = 68 on.
        for s in 0..5 {
            let on = l.to_vec()[s * 225..(s + 1) * 225]
                .iter()
                .filter(|&&b| b)
                .count();
            assert_eq!(on, 68);
        }
        assert_ne!(l.sample_words(0), l.sample_words(1));
    }

    #[test]
    fn bad_density_is_named() {
        for d in [-0.1, 1.5, f64::NAN, f64::INFINITY] {
            let e = synth_masks(&net(), d, 1, 0).unwrap_err().to_string();
            assert!(e.contains(&format!("density {d}")), "{e}");
        }
        assert_eq!(
            synth_masks(&net(), 0.5, 0, 0).unwrap_err(),
            SimError::NoSamples
        );
    }
}
