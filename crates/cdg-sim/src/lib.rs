//! The accelerator model of cdg: a layer lowered to GEMM, mapped onto an R×C PE array with an
//! output-, weight- or input-stationary dataflow, and charged cycles, SRAM and DRAM traffic,
//! stalls and energy. The dense model reproduces SCALE-Sim v3.0.0's cycle counts exactly.
//!
//! Main entry points: [`simulate_layer`] and [`simulate_network`] return typed stats
//! ([`LayerStats`], [`NetworkStats`]) whose `to_row()` gives the CSV rows ([`LayerRow`],
//! [`NetworkRow`]); [`scalesim::compute_report`] gives SCALE-Sim's own compute report.
//! The seams for other models: [`mapping::Mapping`] lists the folds of a GEMM (with the M, K,
//! N ranges each covers), [`memory::MemoryModel`] consumes any sequence of
//! [`memory::FoldWork`], and [`energy::energy`] charges the resulting [`energy::Actions`].
//!
//! ```
//! use cdg_core::ArchConfig;
//! # fn main() -> Result<(), cdg_sim::SimError> {
//! let mut arch = ArchConfig::default_with("os-16x16");
//! arch.memory.dram_bandwidth = cdg_core::DramBandwidth::Unlimited;
//! let net = cdg_sim::models::resnet18_cifar(1.0, 3, None);
//! let stats = cdg_sim::simulate_network(&arch, &net, None)?;
//! assert_eq!(stats.layers.len(), 21);
//! assert_eq!(stats.totals.stall_cycles.get(), 0);
//! println!("{} cycles", stats.totals.cycles.get());
//! # Ok(())
//! # }
//! ```
//!
//! Gated networks: `simulate_network(arch, net, Some(&masks))` runs the gated model
//! ([`gated`]) on every sample of the masks — base pass, then the conditional pass under
//! `sparsity.support` (`dense`, `clock-gate`, `tile-skip`, `compact`) — and returns the mean
//! over samples with `_max` companions; [`simulate_samples`] also returns each sample's run.
//!
//! ```
//! use cdg_core::{ArchConfig, GateBlock, SkipPolicy};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let net = cdg_sim::models::resnet18_cifar(0.25, 3, Some((4, GateBlock::new(16, 1, 1))));
//! let masks = cdg_sim::synth::synth_masks(&net, 0.5, 8, 1)?;
//! let mut arch = ArchConfig::default_with("os-16x16");
//! arch.sparsity.support = SkipPolicy::Compact;
//! let run = cdg_sim::simulate_samples(&arch, &net, &masks)?;
//! assert_eq!(run.per_sample.len(), 8);
//! let row = run.mean.to_row();
//! assert!(row.flops_reduction > 1.5 && row.cycles_max >= row.cycles);
//! # Ok(())
//! # }
//! ```
//!
//! This crate does no I/O: it takes values and returns values.

pub mod dense;
pub mod energy;
pub mod error;
pub mod functional;
pub mod gated;
pub mod mapping;
pub mod memory;
pub mod models;
pub mod reference;
pub mod scalesim;
pub mod stats;
pub mod synth;

pub use dense::{
    LayerOptions, LayerOutcome, check_arch, compulsory, dense_fold_work, layer_stats,
    simulate_layer, simulate_network, simulate_network_with,
};
pub use error::SimError;
pub use gated::{SampledStats, simulate_gated_layer, simulate_samples, summarize};
pub use mapping::{Fold, FoldIter, Mapping, NmSparsity, Span};
pub use stats::{LayerRow, LayerStats, NetworkRow, NetworkStats, NetworkTotals};
