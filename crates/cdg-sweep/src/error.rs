//! The one error type of `cdg-sweep`. Variants name the spec, the shard directory or the file
//! at fault and what was expected; errors of the crates below (spec parsing, file formats,
//! simulation, report CSV) are kept as sources, so `{:#}` prints the whole chain once.

use std::path::PathBuf;
use thiserror::Error;

/// Errors of planning, running, rendering and merging sweeps.
#[derive(Debug, Error)]
pub enum SweepError {
    /// The sweep spec or a grid value is wrong (the error names the spec and the key).
    #[error(transparent)]
    Spec(#[from] cdg_io::sweep::SweepError),
    /// An arch config, trace or topology is wrong (the error names the file).
    #[error(transparent)]
    Io(#[from] cdg_io::IoError),
    /// A workload of the spec cannot be loaded.
    #[error("sweep spec {}: cannot load {kind} {}", spec.display(), path.display())]
    Workload {
        spec: PathBuf,
        kind: &'static str,
        path: PathBuf,
        #[source]
        source: Box<cdg_io::IoError>,
    },
    /// A workload the sweep cannot model, or two of the same name.
    #[error("sweep spec {}: {problem}", spec.display())]
    Workloads { spec: PathBuf, problem: String },
    /// A file cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The simulator refused a design on a workload.
    #[error("grid point {point}: design `{design}` on workload `{workload}`")]
    Simulate {
        point: usize,
        design: String,
        workload: String,
        #[source]
        source: cdg_sim::SimError,
    },
    /// Synthetic gate masks cannot be made.
    #[error("synthesizing {name}")]
    Synth {
        name: String,
        #[source]
        source: cdg_sim::SimError,
    },
    /// Rendering or re-reading a report CSV failed.
    #[error(transparent)]
    Report(#[from] cdg_report::ReportError),
    /// Writing CSV rows into memory failed.
    #[error("rendering CSV: {0}")]
    Csv(#[from] csv::Error),
    /// A directory given to `merge` is not a sweep output directory.
    #[error("cannot read {}; is {} a `cdg sweep` output directory?", path.display(), dir.display())]
    NotSweepDir {
        path: PathBuf,
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A `shard.json` that does not parse.
    #[error("{}: not a cdg sweep shard description", path.display())]
    ShardJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A `shard.json` of another format or with impossible shard numbers.
    #[error("{}: {problem}", path.display())]
    ShardInfo { path: PathBuf, problem: String },
    /// Shards that do not belong together, are incomplete, or whose files do not cover their
    /// points.
    #[error("{0}")]
    Merge(String),
    /// A directory cannot be listed.
    #[error("cannot list {what}{}", dir.display())]
    List {
        what: &'static str,
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A run of more points than [`crate::LARGE_GRID`] without confirmation.
    #[error(
        "sweep spec {}: {estimate}. Runs of more than {limit} points need --yes (or split the \
         grid with --shard K/N and join the shards with `cdg merge`)",
        spec.display()
    )]
    LargeGrid {
        spec: PathBuf,
        estimate: crate::estimate::Estimate,
        limit: usize,
    },
    /// A run whose results would not fit in the memory limit.
    #[error(transparent)]
    TooLarge(#[from] cdg_io::limits::TooLarge),
    /// `cdg run`'s designs directory is wrong.
    #[error("{}: {problem}", dir.display())]
    Designs { dir: PathBuf, problem: String },
}

/// `Result` with [`SweepError`].
pub type Result<T, E = SweepError> = std::result::Result<T, E>;
