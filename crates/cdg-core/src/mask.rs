//! Bit-packed gate masks: one bit per gate block per sample.

use crate::error::{CoreError, Result};
use crate::layer::LayerShape;
use crate::network::{GateBlock, GateSpec, Network};

/// The gate masks of one layer for every sample: a `[samples, gc, gh, gw]` bit grid stored in
/// row-major order, each sample starting on a fresh 64-bit word so samples can be handed out as
/// word slices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerMasks {
    grid: [u64; 3],
    block: GateBlock,
    out: [u64; 3],
    samples: usize,
    words_per_sample: usize,
    bits: Vec<u64>,
}

impl LayerMasks {
    /// All gates off for `samples` samples of `layer` gated by `spec`.
    pub fn zeros(layer: &LayerShape, spec: &GateSpec, samples: usize) -> Result<Self> {
        spec.validate(layer)?;
        let grid = spec.grid(layer);
        let per = grid[0] * grid[1] * grid[2];
        let words_per_sample = usize::try_from(per.div_ceil(64)).map_err(|_| {
            CoreError::gate(
                layer.name(),
                format!("mask grid of {per} blocks is too large"),
            )
        })?;
        let words = words_per_sample.checked_mul(samples).ok_or_else(|| {
            CoreError::gate(layer.name(), "mask storage overflows the address space")
        })?;
        Ok(Self {
            grid,
            block: spec.block,
            out: [layer.out_channels(), layer.out_height(), layer.out_width()],
            samples,
            words_per_sample,
            bits: vec![0; words],
        })
    }

    /// Builds masks from row-major `[samples, gc, gh, gw]` values (non-zero = on). Errors if
    /// `values` has the wrong length.
    pub fn from_fn(
        layer: &LayerShape,
        spec: &GateSpec,
        samples: usize,
        mut on: impl FnMut(usize, u64, u64, u64) -> bool,
    ) -> Result<Self> {
        let mut m = Self::zeros(layer, spec, samples)?;
        let [gc, gh, gw] = m.grid;
        for s in 0..samples {
            for c in 0..gc {
                for h in 0..gh {
                    for w in 0..gw {
                        if on(s, c, h, w) {
                            m.set(s, c, h, w, true);
                        }
                    }
                }
            }
        }
        Ok(m)
    }

    /// Builds masks from a row-major `[samples, gc, gh, gw]` slice. `values.len()` must equal
    /// `samples · gc · gh · gw`.
    pub fn from_slice(
        layer: &LayerShape,
        spec: &GateSpec,
        samples: usize,
        values: &[bool],
    ) -> Result<Self> {
        let grid = spec.grid(layer);
        let per = (grid[0] * grid[1] * grid[2]) as usize;
        if values.len() != per * samples {
            return Err(CoreError::gate(
                layer.name(),
                format!(
                    "mask has {} values; expected {samples} samples × {:?} = {}",
                    values.len(),
                    grid,
                    per * samples
                ),
            ));
        }
        let mut i = 0;
        Self::from_fn(layer, spec, samples, |_, _, _, _| {
            let v = values[i];
            i += 1;
            v
        })
    }

    /// `[⌈C_out/bc⌉, ⌈H_out/bh⌉, ⌈W_out/bw⌉]`.
    pub fn grid(&self) -> [u64; 3] {
        self.grid
    }

    pub fn block(&self) -> GateBlock {
        self.block
    }

    /// `[C_out, H_out, W_out]` of the layer.
    pub fn out_shape(&self) -> [u64; 3] {
        self.out
    }

    pub fn samples(&self) -> usize {
        self.samples
    }

    /// Gate blocks per sample.
    pub fn blocks_per_sample(&self) -> u64 {
        self.grid[0] * self.grid[1] * self.grid[2]
    }

    fn index(&self, c: u64, h: u64, w: u64) -> usize {
        debug_assert!(c < self.grid[0] && h < self.grid[1] && w < self.grid[2]);
        ((c * self.grid[1] + h) * self.grid[2] + w) as usize
    }

    /// The gate of block (c, h, w) of `sample`.
    pub fn get(&self, sample: usize, c: u64, h: u64, w: u64) -> bool {
        let i = self.index(c, h, w);
        let word = self.bits[sample * self.words_per_sample + i / 64];
        (word >> (i % 64)) & 1 == 1
    }

    pub fn set(&mut self, sample: usize, c: u64, h: u64, w: u64, on: bool) {
        let i = self.index(c, h, w);
        let word = &mut self.bits[sample * self.words_per_sample + i / 64];
        if on {
            *word |= 1 << (i % 64);
        } else {
            *word &= !(1 << (i % 64));
        }
    }

    /// The gate of output element (channel `n`, row `oh`, column `ow`): its block's gate.
    pub fn gate_at(&self, sample: usize, n: u64, oh: u64, ow: u64) -> bool {
        self.get(
            sample,
            n / self.block.c,
            oh / self.block.h,
            ow / self.block.w,
        )
    }

    /// The packed words of one sample (bit i = block i in row-major order; trailing bits 0).
    pub fn sample_words(&self, sample: usize) -> &[u64] {
        let s = sample * self.words_per_sample;
        &self.bits[s..s + self.words_per_sample]
    }

    /// Fraction of gate blocks that are on in `sample`.
    pub fn block_density(&self, sample: usize) -> f64 {
        let on: u64 = self
            .sample_words(sample)
            .iter()
            .map(|w| u64::from(w.count_ones()))
            .sum();
        on as f64 / self.blocks_per_sample() as f64
    }

    /// Output elements whose gate is on in `sample` (partial edge blocks count their real size).
    pub fn active_elements(&self, sample: usize) -> u64 {
        let [gc, gh, gw] = self.grid;
        let extent = |i: u64, b: u64, n: u64| (n - i * b).min(b);
        let mut total = 0;
        for c in 0..gc {
            let ec = extent(c, self.block.c, self.out[0]);
            for h in 0..gh {
                let eh = extent(h, self.block.h, self.out[1]);
                for w in 0..gw {
                    if self.get(sample, c, h, w) {
                        total += ec * eh * extent(w, self.block.w, self.out[2]);
                    }
                }
            }
        }
        total
    }

    /// Fraction of output elements whose gate is on in `sample`: the gate density.
    pub fn density(&self, sample: usize) -> f64 {
        self.active_elements(sample) as f64 / (self.out[0] * self.out[1] * self.out[2]) as f64
    }

    /// Row-major `[samples, gc, gh, gw]` values, for writing.
    pub fn to_vec(&self) -> Vec<bool> {
        let [gc, gh, gw] = self.grid;
        let mut v = Vec::with_capacity(self.samples * self.blocks_per_sample() as usize);
        for s in 0..self.samples {
            for c in 0..gc {
                for h in 0..gh {
                    for w in 0..gw {
                        v.push(self.get(s, c, h, w));
                    }
                }
            }
        }
        v
    }

    /// Samples `first..first + count` stacked along the output rows into one sample of an
    /// output `[C_out, count·H_out, W_out]`: output row `b·H_out + h` of the result is row `h`
    /// of sample `first + b` (the order in which a batch's output pixels are stacked along M).
    /// When the gate block's height does not divide H_out (a partial block at the bottom of
    /// each sample), the result has gate blocks one row high so that every element keeps its
    /// own sample's gate. Errors if the range is empty or beyond the samples, or the result does
    /// not fit in memory.
    pub fn stack(&self, first: usize, count: usize) -> Result<Self> {
        let end = first
            .checked_add(count)
            .filter(|&e| count > 0 && e <= self.samples);
        if end.is_none() {
            return Err(CoreError::gate(
                "masks",
                format!(
                    "cannot stack samples {first}..{first}+{count}: the masks hold {} samples",
                    self.samples
                ),
            ));
        }
        let [c, h, w] = self.out;
        let [gc, gh, gw] = self.grid;
        let n = count as u64;
        let exact = count == 1 || h.is_multiple_of(self.block.h);
        let block = if exact {
            self.block
        } else {
            GateBlock::new(self.block.c, 1, self.block.w)
        };
        let rows = if exact { gh } else { h };
        let grid = [gc, n * rows, gw];
        let per = grid[0]
            .checked_mul(grid[1])
            .and_then(|x| x.checked_mul(grid[2]))
            .and_then(|x| usize::try_from(x.div_ceil(64)).ok())
            .ok_or_else(|| CoreError::gate("masks", "stacked mask grid is too large"))?;
        let mut out = Self {
            grid,
            block,
            out: [c, n * h, w],
            samples: 1,
            words_per_sample: per,
            bits: vec![0; per],
        };
        for b in 0..count {
            let s = first + b;
            for ci in 0..gc {
                for r in 0..rows {
                    let src = if exact { r } else { r / self.block.h };
                    for wi in 0..gw {
                        if self.get(s, ci, src, wi) {
                            out.set(0, ci, b as u64 * rows + r, wi, true);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Bytes of packed storage.
    pub fn storage_bytes(&self) -> usize {
        self.bits.len() * 8
    }
}

/// The gate masks of every gated layer of a network, for the same samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskSet {
    samples: usize,
    layers: Vec<(String, LayerMasks)>,
}

impl MaskSet {
    /// All gates off for every gated layer of `network`.
    pub fn zeros(network: &Network, samples: usize) -> Result<Self> {
        let layers = network
            .gated()
            .map(|(_, l, g)| {
                Ok((
                    l.name().to_owned(),
                    LayerMasks::zeros(&l.shape, g, samples)?,
                ))
            })
            .collect::<Result<_>>()?;
        Self::check_samples(samples)?;
        Ok(Self { samples, layers })
    }

    fn check_samples(samples: usize) -> Result<()> {
        if samples == 0 {
            return Err(CoreError::Network(
                "mask set has 0 samples; expected at least 1".into(),
            ));
        }
        Ok(())
    }

    /// Assembles masks and checks them against `network`: every gated layer present exactly
    /// once with the right grid and sample count, and nothing for ungated or unknown layers.
    pub fn new(
        network: &Network,
        samples: usize,
        layers: Vec<(String, LayerMasks)>,
    ) -> Result<Self> {
        Self::check_samples(samples)?;
        for (name, m) in &layers {
            let Some(i) = network.position(name) else {
                return Err(CoreError::gate(
                    name,
                    "masks given for a layer the network does not have",
                ));
            };
            let layer = &network.layers()[i];
            let Some(spec) = &layer.gate else {
                return Err(CoreError::gate(
                    name,
                    "masks given for a layer that is not gated",
                ));
            };
            let want = spec.grid(&layer.shape);
            if m.grid() != want {
                return Err(CoreError::gate(
                    name,
                    format!("mask grid is {:?}; expected {:?}", m.grid(), want),
                ));
            }
            if m.block() != spec.block {
                return Err(CoreError::gate(
                    name,
                    format!("mask block is {:?}; expected {:?}", m.block(), spec.block),
                ));
            }
            if m.samples() != samples {
                return Err(CoreError::gate(
                    name,
                    format!("mask has {} samples; expected {samples}", m.samples()),
                ));
            }
        }
        let mut ordered = Vec::with_capacity(layers.len());
        let mut layers = layers;
        for (_, l, _) in network.gated() {
            let Some(pos) = layers.iter().position(|(n, _)| n == l.name()) else {
                return Err(CoreError::gate(l.name(), "is gated but has no masks"));
            };
            let entry = layers.swap_remove(pos);
            if layers.iter().any(|(n, _)| n == l.name()) {
                return Err(CoreError::gate(l.name(), "has masks given more than once"));
            }
            ordered.push(entry);
        }
        Ok(Self {
            samples,
            layers: ordered,
        })
    }

    pub fn samples(&self) -> usize {
        self.samples
    }

    /// Masks of the layer called `name`, if it is gated.
    pub fn layer(&self, name: &str) -> Option<&LayerMasks> {
        self.layers.iter().find(|(n, _)| n == name).map(|(_, m)| m)
    }

    pub fn layer_mut(&mut self, name: &str) -> Option<&mut LayerMasks> {
        self.layers
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, m)| m)
    }

    /// `(name, masks)` in network order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &LayerMasks)> {
        self.layers.iter().map(|(n, m)| (n.as_str(), m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{ConvParams, OutputRule};
    use crate::network::Layer;
    use proptest::prelude::*;

    fn layer(c: u64, h: u64) -> LayerShape {
        LayerShape::conv(
            "g",
            ConvParams {
                in_channels: 8,
                in_height: h,
                in_width: h,
                out_channels: c,
                kernel: [3, 3],
                stride: 1,
                padding: 1,
                rule: OutputRule::Floor,
            },
        )
        .unwrap()
    }

    proptest! {
        #[test]
        fn roundtrip_and_density(c in 1u64..40, h in 1u64..12, bc in 1u64..20, bh in 1u64..5,
                                 bw in 1u64..5, samples in 1usize..4, seed in any::<u64>()) {
            let l = layer(c, h);
            let spec = GateSpec { base_channels: 2, block: GateBlock::new(bc, bh, bw) };
            let mut x = seed;
            let m = LayerMasks::from_fn(&l, &spec, samples, |_, _, _, _| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                x >> 63 == 1
            }).unwrap();
            let v = m.to_vec();
            let back = LayerMasks::from_slice(&l, &spec, samples, &v).unwrap();
            prop_assert_eq!(&back, &m);
            // Density by naive element expansion.
            for s in 0..samples {
                let mut on = 0u64;
                for n in 0..c { for y in 0..h { for z in 0..h {
                    if m.gate_at(s, n, y, z) { on += 1; }
                }}}
                prop_assert_eq!(on, m.active_elements(s));
            }
        }
    }

    #[test]
    fn maskset_checks_layers() {
        let l = layer(16, 4);
        let spec = GateSpec {
            base_channels: 2,
            block: GateBlock::new(4, 1, 1),
        };
        let net = Network::new(vec![Layer {
            shape: l.clone(),
            gate: Some(spec),
        }])
        .unwrap();
        let ok = LayerMasks::zeros(&l, &spec, 2).unwrap();
        assert!(MaskSet::new(&net, 2, vec![("g".into(), ok.clone())]).is_ok());
        let e = MaskSet::new(&net, 2, vec![]).unwrap_err().to_string();
        assert!(e.contains("`g`") && e.contains("no masks"), "{e}");
        let e = MaskSet::new(&net, 3, vec![("g".into(), ok)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected 3"), "{e}");
    }
}
