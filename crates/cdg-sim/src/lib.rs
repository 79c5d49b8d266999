//! The accelerator model of cdg: a layer lowered to GEMM, mapped onto an R×C PE array with an
//! output-, weight- or input-stationary dataflow, and charged cycles, SRAM and DRAM traffic,
//! stalls and energy. The dense model reproduces SCALE-Sim v3.0.0's cycle counts exactly; gated
//! layers run a base pass and a conditional pass under a skip policy (docs/model.md).
//!
//! Main entry points: [`simulate_layer`] and [`simulate_network`] return typed stats
//! ([`LayerStats`], [`NetworkStats`], whose `totals` are [`Counters`]); `to_row()` gives the
//! CSV rows ([`LayerRow`], [`NetworkRow`]); [`scalesim::compute_report`] gives SCALE-Sim's own
//! compute report.
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
//! `sparsity.support` — and returns the mean over samples with `_max` companions;
//! [`simulate_samples`] also returns each sample's run.
//!
//! ```
//! use cdg_core::{ArchConfig, GateBlock, SkipPolicy};
//! # fn main() -> Result<(), cdg_sim::SimError> {
//! let net = cdg_sim::models::resnet18_cifar(0.25, 3, Some((4, GateBlock::new(16, 1, 1))));
//! let masks = cdg_sim::synth::synth_masks(&net, 0.5, 8, 1)?;
//! let mut arch = ArchConfig::default_with("os-16x16");
//! arch.sparsity.support = SkipPolicy::Compact;
//! let run = cdg_sim::simulate_samples(&arch, &net, &masks)?;
//! assert_eq!(run.per_sample.len(), 8);
//! let row = run.mean.to_row();
//! let c = &row.counters;
//! assert!(c.flops_reduction > 1.5 && c.cycles_max >= c.cycles);
//! # Ok(())
//! # }
//! ```
//!
//! # Where things are
//!
//! The seams: a dataflow is one unit in [`dataflow`] (its axes, fold cycles, tile reuse, output
//! groups and SCALE-Sim quirks), a skip policy one unit in [`policy`] (which conditional folds
//! run, for the fast model and as an explicit [`schedule::PassSchedule`]), both chosen by one
//! `match` on the config enum. [`mapping::Mapping`] lists the folds of a GEMM,
//! [`stream::PassStream`] streams the folds of any list of passes through the
//! [`memory::MemoryModel`], [`energy::energy`] charges the resulting [`Counters`].
//! [`baseline`] holds the dense schedules (K split into passes) and the choice of a layer's
//! ungated baseline, its best dense schedule (docs/model.md §8). The fast
//! model is checked against the cycle-stepped engine ([`mod@reference`]) and the integer executor
//! ([`functional`]), which run the same [`schedule`]s.
//!
//! This crate does no I/O: it takes values and returns values.

#![forbid(unsafe_code)]

pub mod arch;
pub mod baseline;
pub mod codesign;
pub mod counters;
pub mod dataflow;
pub mod dense;
pub mod energy;
pub mod error;
pub mod functional;
pub mod gated;
pub mod gates;
pub mod mapper;
pub mod mapping;
pub mod matrix;
pub mod memory;
pub mod models;
pub mod network;
pub mod policy;
pub mod reference;
pub mod rtl_file;
pub mod scalesim;
pub mod schedule;
pub mod stats;
pub mod stream;
pub mod synth;

pub use arch::check_arch;
pub use counters::Counters;
pub use dense::{LayerOptions, simulate_layer, simulate_layer_one_pass};
pub use error::SimError;
pub use gated::{simulate_gated_layer, simulate_gated_layer_with};
pub use mapper::{BatchOrder, LayerMapping, Mapspace};
pub use mapping::{Fold, FoldIter, FoldOrder, Mapping, NmSparsity, Span};
pub use network::{SampledStats, simulate_network, simulate_network_with, simulate_samples};
pub use stats::{
    CounterColumns, EnergyColumns, LayerRow, LayerStats, NetworkRow, NetworkStats, PeImbalance,
    SampleMax, mean_layer, summarize,
};
