//! Shared vocabulary of cdg: unit newtypes ([`Cycles`], [`Macs`], [`Bytes`], [`PicoJoules`]),
//! layer shapes ([`LayerShape`]) and their GEMM lowering, networks ([`Network`]) with gate
//! specifications ([`GateSpec`]), bit-packed gate masks ([`MaskSet`]) and validated accelerator
//! configurations ([`ArchConfig`]), built-in networks ([`Zoo`]) and the rules that say which
//! layers are gated ([`GateRule`]). No I/O happens here.
//!
//! ```
//! use cdg_core::{ConvParams, LayerShape, OutputRule};
//! # fn main() -> Result<(), cdg_core::CoreError> {
//! let conv = LayerShape::conv("conv1", ConvParams {
//!     in_channels: 3, in_height: 32, in_width: 32, out_channels: 64,
//!     kernel: [3, 3], stride: 1, padding: 1, rule: OutputRule::Floor,
//! })?;
//! assert_eq!(conv.gemm().m, 32 * 32);
//! assert_eq!(conv.macs().get(), 1024 * 27 * 64);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod arch;
pub mod columns;
pub mod energy;
pub mod error;
pub mod gating;
pub mod layer;
pub mod mask;
pub mod network;
pub mod units;
pub mod zoo;

pub use arch::{ArchConfig, Dataflow, DramBandwidth, MappingObjective, RawArchConfig, SkipPolicy};
pub use energy::EnergyPart;
pub use error::{CoreError, Result};
pub use gating::{BasePath, GateAction, GateRule, apply_gate_rules};
pub use layer::{ConvExtras, ConvParams, GemmDims, LayerKind, LayerShape, OutputRule};
pub use mask::{LayerMasks, MaskSet};
pub use network::{GateBlock, GateSpec, Layer, Network};
pub use units::{Accesses, Bytes, Cycles, Macs, Microseconds, PicoJoules};
pub use zoo::{Zoo, ZooOptions};
