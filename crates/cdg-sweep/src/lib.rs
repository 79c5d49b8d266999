//! `cdg-sweep`: the sweep engine of cdg. It runs grids of accelerator designs over gate traces
//! and SCALE-Sim topologies on the simulator (`cdg-sim`) and renders what a run writes, as
//! file names and bytes; `cdg_io::output::write_outputs` commits them. It reads its inputs
//! (specs, configs, traces, topologies, shard directories) but writes no file and prints
//! nothing: progress goes through the [`Progress`] trait.
//!
//! - [`SweepPlan`] (`cdg sweep`): a spec, or one [`cdg_io::sweep::Shard`] of it, validated in
//!   full and loaded, then [`SweepPlan::run`] simulates every point on every [`Workload`] in
//!   parallel (results in point order) and returns a [`SweepRun`]: `sweep.csv`, `layers.csv`,
//!   `spec.toml`, `configs/point-NNNN.toml`, `shard.json` ([`ShardInfo`], with the inputs'
//!   content fingerprint [`fingerprint`]) and the plots.
//! - [`Merge`] (`cdg merge`): shard directories checked to belong to one sweep and cover it
//!   exactly once, reassembled into the bytes of the unsharded run.
//! - [`PolicyGrid`] (`cdg run`): every design of a directory under every skip policy, with the
//!   [`SummaryRow`]s of each design and policy against the same design run dense.
//! - [`sweep_plots`]: the sweep plots drawn from `sweep.csv` text (`cdg-report`), so every
//!   command draws the same SVG bytes; [`pareto_by_workload`]: the printed Pareto tables.
//!
//! Errors are [`SweepError`]s naming the spec, key, file or shard at fault.
//!
//! ```
//! use cdg_sweep::{Silent, SweepOptions, SweepPlan};
//! use cdg_io::layout::sweep::{ENERGY_LATENCY_SVG, SWEEP_CSV};
//! use cdg_io::sweep::Shard;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("cdg-sweep-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! std::fs::write(dir.join("base.toml"), "schema = 1\n[array]\nrows = 8\ncols = 8\n")?;
//! std::fs::write(dir.join("net.csv"), "Layer name, IFMAP Height, IFMAP Width, Filter Height, \
//!     Filter Width, Channels, Num Filter, Strides,\nconv1, 10, 10, 3, 3, 4, 8, 1,\n")?;
//! std::fs::write(dir.join("spec.toml"), "base = \"base.toml\"\ntopologies = [\"net.csv\"]\n\
//!     [grid]\n\"array.dataflow\" = [\"os\", \"ws\"]\n")?;
//! let plan = SweepPlan::load(&dir.join("spec.toml"), Shard::ALL,
//!                            SweepOptions { layers: false, plots: true })?;
//! let run = plan.run(&Silent)?;
//! assert_eq!(run.rows, 2);
//! let csv = std::str::from_utf8(run.outputs.get(SWEEP_CSV).unwrap())?;
//! assert!(csv.starts_with("point,array.dataflow,workload,"));
//! assert!(run.outputs.get(ENERGY_LATENCY_SVG).is_some());
//! cdg_io::output::write_outputs(&dir.join("out"), &run.outputs)?;
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod columns;
mod engine;
mod error;
mod estimate;
mod grid;
mod main_job;
mod merge;
mod pareto;
mod plan;
mod shard;
mod workload;

pub use columns::{GateDensity, LatencyPercentiles, percentile};
pub use engine::{
    PointResult, Progress, Silent, WorkloadResult, WorkloadRun, render_csvs, run_grid, run_points,
    run_workload, simulate,
};
pub use error::{Result, SweepError};
pub use grid::{Grid, Point};
pub use main_job::{
    POLICY_KEYS, PolicyGrid, PolicyRun, SummaryRow, SyntheticTraces, shipped_traces,
    synthetic_traces,
};
pub use merge::Merge;
pub use pareto::{ParetoDesign, WorkloadFront, pareto_by_workload};
pub use plan::{
    Estimate, LARGE_GRID, SweepOptions, SweepPlan, SweepRun, sweep_plots, sweep_plots_with,
};
pub use shard::{SHARD_FORMAT, SHARD_VERSION, ShardInfo, fingerprint, fnv64};
pub use workload::{Workload, load_workloads};
