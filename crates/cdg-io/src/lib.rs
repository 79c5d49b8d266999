//! File formats of cdg. Only this crate and `cdg-cli` write files.
//!
//! - [`trace`]: trace directories (`manifest.json` + `masks.npz`, docs/formats.md §1) —
//!   [`read_trace`], [`write_trace`], [`Trace`].
//! - [`arch`]: arch-config TOML with `--set dotted.key=value` overrides — [`load_arch`],
//!   [`parse_arch`], [`arch::to_toml`].
//! - [`scalesim`]: SCALE-Sim `.cfg` and topology CSV import.
//! - [`onnx`]: ONNX model import (layer shapes only) — [`onnx::import_onnx`].
//! - [`sweep`]: sweep specs (base config, workloads, `[grid]` of dotted keys, shards).
//! - [`csv_out`]: report CSV from `Serialize` rows; [`atomic`]: temp-file-and-rename writing.
//! - [`layout`]: the name of every output file and directory.
//! - [`output`]: [`output::Outputs`] (what a run writes, as names and bytes, computed by the
//!   engines) and [`output::OutputDir`], which locks an output directory and commits them
//!   (staged, recorded, never half-written or mixed with an earlier run's files).
//! - [`limits`]: the memory limit (`--max-memory`, `CDG_MAX_MEMORY`) every large allocation
//!   is checked against first.
//!
//! Every error is an [`IoError`] naming the file and the key, layer or line at fault.
//!
//! ```
//! use cdg_io::{arch, trace::{read_trace, write_trace, Trace}};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cfg = arch::parse_arch("schema = 1\n[array]\nrows = 8\n", "inline.toml",
//!                            &["array.dataflow=ws".to_owned()])?;
//! assert_eq!(cfg.array.rows, 8);
//!
//! let net = cdg_core::Network::new(vec![cdg_core::Layer {
//!     shape: cdg_core::LayerShape::fc("fc", 16, 10)?,
//!     gate: None,
//! }])?;
//! let dir = std::env::temp_dir().join(format!("cdg-io-doc-{}", std::process::id()));
//! let trace = Trace { network: net, masks: None, samples: 4, provenance: serde_json::json!({}) };
//! write_trace(&dir, &trace, true)?;
//! assert_eq!(read_trace(&dir)?, trace);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod arch;
pub mod atomic;
pub mod csv_out;
pub mod error;
pub mod finite;
pub mod layout;
pub mod limits;
pub mod onnx;
pub mod output;
pub mod scalesim;
pub mod sweep;
pub mod trace;

pub use arch::{load_arch, parse_arch};
pub use error::{IoError, Result};
pub use trace::{Trace, read_trace, write_trace};
