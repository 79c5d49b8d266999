//! Networks: ordered layers, each optionally gated.

use crate::error::{CoreError, Result};
use crate::layer::LayerShape;
use serde::{Deserialize, Serialize};

/// The shape of a gate block: `c` output channels × `h` rows × `w` columns of one output map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GateBlock {
    pub c: u64,
    pub h: u64,
    pub w: u64,
}

impl GateBlock {
    /// One gate per output element (unstructured gating).
    pub const ELEMENT: Self = Self { c: 1, h: 1, w: 1 };

    pub fn new(c: u64, h: u64, w: u64) -> Self {
        Self { c, h, w }
    }

    pub fn as_array(&self) -> [u64; 3] {
        [self.c, self.h, self.w]
    }
}

/// The largest gate-block dimension accepted beyond its layer's size (`GateSpec::validate`).
pub const MAX_BLOCK_BEYOND_LAYER: u64 = 1024;

/// How a layer is gated: the first `base_channels` input channels form the always-computed base
/// path; the rest form the conditional path, computed only where the gate (one per block of the
/// output) is on.
///
/// For a grouped layer (`groups() = G > 1`) the split is per group: `base_channels` counts
/// channels *within each group*, so the base path of group g is its first `base_channels`
/// input channels (channels `g·C_in/G .. g·C_in/G + base_channels`) and at most C_in/G.
/// Gates still cover blocks of the output map (`block.c` output channels, which may span
/// groups); a gate off skips the conditional channels of every output element in its block.
/// A depthwise layer has one input channel per group, so it keeps a conditional path only with
/// `base_channels = 0` (no base path).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GateSpec {
    pub base_channels: u64,
    pub block: GateBlock,
}

impl GateSpec {
    /// `⌈C_in / base_partitions⌉`, the base-channel count of channel gating.
    pub fn base_channels_for(in_channels: u64, base_partitions: u64) -> u64 {
        in_channels.div_ceil(base_partitions.max(1))
    }

    /// Channel gating of `layer` with `block` and `⌈C_in_g / base_partitions⌉` base channels,
    /// C_in_g being the input channels of one group (all of them when `groups() = 1`).
    pub fn for_layer(layer: &LayerShape, base_partitions: u64, block: GateBlock) -> Self {
        Self {
            base_channels: Self::base_channels_for(layer.in_channels_per_group(), base_partitions),
            block,
        }
    }

    /// Checks the spec against its layer.
    pub fn validate(&self, layer: &LayerShape) -> Result<()> {
        let name = layer.name();
        if self.block.c == 0 || self.block.h == 0 || self.block.w == 0 {
            return Err(CoreError::gate(
                name,
                format!(
                    "block [{}, {}, {}] has a zero-sized dimension; expected each at least 1",
                    self.block.c, self.block.h, self.block.w
                ),
            ));
        }
        // A block may be larger than its layer (one gate then covers the whole dimension, so
        // one rule such as 16x1x1 serves every layer), but not absurdly so.
        let dims = [
            ("c", self.block.c, layer.out_channels(), "output channels"),
            ("h", self.block.h, layer.out_height(), "output rows"),
            ("w", self.block.w, layer.out_width(), "output columns"),
        ];
        for (axis, block, size, what) in dims {
            if block > size.max(MAX_BLOCK_BEYOND_LAYER) {
                return Err(CoreError::gate(
                    name,
                    format!(
                        "block {axis} = {block} exceeds both the layer's {size} {what} and \
                         {MAX_BLOCK_BEYOND_LAYER}; a gate block is at most the size of its layer"
                    ),
                ));
            }
        }
        if self.base_channels > layer.in_channels_per_group() {
            let what = if layer.groups() == 1 {
                format!("the layer's {} input channels", layer.in_channels())
            } else {
                format!(
                    "the {} input channels of one group (groups {}; base channels count \
                     within each group)",
                    layer.in_channels_per_group(),
                    layer.groups()
                )
            };
            return Err(CoreError::gate(
                name,
                format!("base_channels {} exceeds {what}", self.base_channels),
            ));
        }
        Ok(())
    }

    /// Mask grid dimensions `[⌈C_out/bc⌉, ⌈H_out/bh⌉, ⌈W_out/bw⌉]` for `layer`.
    pub fn grid(&self, layer: &LayerShape) -> [u64; 3] {
        [
            layer.out_channels().div_ceil(self.block.c),
            layer.out_height().div_ceil(self.block.h),
            layer.out_width().div_ceil(self.block.w),
        ]
    }

    /// Conditional input channels (of each group, for a grouped layer).
    pub fn cond_channels(&self, layer: &LayerShape) -> u64 {
        layer.in_channels_per_group() - self.base_channels
    }
}

/// One layer of a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    pub shape: LayerShape,
    pub gate: Option<GateSpec>,
}

impl Layer {
    pub fn name(&self) -> &str {
        self.shape.name()
    }
}

/// An ordered list of uniquely named layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    layers: Vec<Layer>,
}

impl Network {
    /// Validates names (non-empty, unique) and every gate against its layer.
    pub fn new(layers: Vec<Layer>) -> Result<Self> {
        if layers.is_empty() {
            return Err(CoreError::Network("has no layers".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for l in &layers {
            if !seen.insert(l.name()) {
                return Err(CoreError::Network(format!(
                    "layer name `{}` appears more than once; names must be unique",
                    l.name()
                )));
            }
            if let Some(g) = &l.gate {
                g.validate(&l.shape)?;
            }
        }
        Ok(Self { layers })
    }

    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Index of the layer called `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.layers.iter().position(|l| l.name() == name)
    }

    /// The gated layers, in order, with their indices.
    pub fn gated(&self) -> impl Iterator<Item = (usize, &Layer, &GateSpec)> {
        self.layers
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.gate.as_ref().map(|g| (i, l, g)))
    }
}
