//! The name of every file and directory cdg writes, in one place (docs/formats.md §5). Writers,
//! readers and tests use these constants, so a renamed output changes here and nowhere else.
//!
//! One module per kind of output directory: [`trace`] (`cdg train`, `cdg masks synth`),
//! [`sim`] (`cdg sim`), [`sweep`] (`cdg sweep`, `cdg merge`, `cdg plot`), [`run`] (`cdg run`)
//! and [`train`] (`cdg train`).
//!
//! ```
//! use cdg_io::layout::sweep;
//! assert_eq!(sweep::config_name(7, 18), "point-0007.toml");
//! assert_eq!(sweep::layers_point_svg(3), "layers_point_0003.svg");
//! ```

/// A trace directory: the manifest and the gate masks.
pub mod trace {
    /// Topology, gate specs and provenance (JSON).
    pub const MANIFEST_FILE: &str = "manifest.json";
    /// One bit-packed mask array per gated layer (npz).
    pub const MASKS_FILE: &str = "masks.npz";
    /// The gate-density heatmaps `cdg inspect TRACE --plot` draws by default, inside the trace.
    pub const GATE_DENSITY_SVG: &str = "gate_density.svg";
}

/// A `cdg sim` output directory.
pub mod sim {
    /// One row per layer (or per sample and layer with `--per-sample`).
    pub const LAYERS_CSV: &str = "layers.csv";
    /// The network totals.
    pub const NETWORK_CSV: &str = "network.csv";
    /// The resolved design.
    pub const ARCH_TOML: &str = "arch.toml";
    /// SCALE-Sim's own compute report (SCALE-Sim topologies only).
    pub const COMPUTE_REPORT_CSV: &str = "COMPUTE_REPORT.csv";
    /// The per-layer breakdown `cdg plot` draws from `layers.csv`.
    pub const LAYERS_SVG: &str = "layers.svg";
}

/// A `cdg sweep` / `cdg merge` output directory (also the sweep part of `cdg run`'s).
pub mod sweep {
    /// One row per grid point and workload.
    pub const SWEEP_CSV: &str = "sweep.csv";
    /// One row per grid point, workload and layer (`--layers`).
    pub const LAYERS_CSV: &str = "layers.csv";
    /// The spec file as given.
    pub const SPEC_TOML: &str = "spec.toml";
    /// Which shard of which sweep the directory holds.
    pub const SHARD_JSON: &str = "shard.json";
    /// The resolved design of every grid point, as `CONFIGS_DIR/point-NNNN.toml`.
    pub const CONFIGS_DIR: &str = "configs";
    /// Energy vs latency with the Pareto front, from `sweep.csv`.
    pub const ENERGY_LATENCY_SVG: &str = "energy_latency.svg";
    /// Cycle reduction vs FLOPs reduction, from `sweep.csv`.
    pub const REDUCTION_SVG: &str = "reduction.svg";
    /// Prefix and suffix of [`config_name`].
    pub const CONFIG_PREFIX: &str = "point-";
    pub const CONFIG_SUFFIX: &str = ".toml";
    /// Prefix and suffix of [`layers_point_svg`].
    pub const LAYERS_POINT_PREFIX: &str = "layers_point_";
    pub const LAYERS_POINT_SUFFIX: &str = ".svg";

    /// The config of grid point `index` of `total`: `point-NNNN.toml` with at least four
    /// digits, more for big grids, so names sort in point order.
    pub fn config_name(index: usize, total: usize) -> String {
        let digits = total.saturating_sub(1).to_string().len().max(4);
        format!("{CONFIG_PREFIX}{index:0digits$}{CONFIG_SUFFIX}")
    }

    /// The per-layer plot of grid point `n` (`cdg plot DIR --point N`).
    pub fn layers_point_svg(n: usize) -> String {
        format!("{LAYERS_POINT_PREFIX}{n:04}{LAYERS_POINT_SUFFIX}")
    }
}

/// A `cdg run` output directory: the sweep files of [`sweep`] plus these.
pub mod run {
    /// One row per design, skip policy and workload against the same design run dense.
    pub const SUMMARY_CSV: &str = "summary.csv";
    /// Where `cdg run --no-train` writes its synthetic traces (one directory each).
    pub const TRACES_DIR: &str = "traces";

    /// The training output directory of the model with `granularity` gates
    /// (`train-structured`, `train-unstructured`).
    pub fn train_dir(granularity: &str) -> String {
        format!("train-{granularity}")
    }

    /// The gate-density heatmaps of workload `name`.
    pub fn gate_density_svg(name: &str) -> String {
        format!("gate_density_{name}.svg")
    }
}

/// A `cdg train` output directory.
pub mod train {
    /// One row per epoch.
    pub const METRICS_CSV: &str = "metrics.csv";
    /// The run's results (rewritten after every epoch; `complete` once it has finished).
    pub const SUMMARY_JSON: &str = "summary.json";
    /// The resumable state after the last completed epoch.
    pub const CHECKPOINT_FILE: &str = "checkpoint.cdgckpt";
    /// The trace of the calibrated evaluation gates (gated SSL runs).
    pub const TRACE_DIR: &str = "trace";
}
