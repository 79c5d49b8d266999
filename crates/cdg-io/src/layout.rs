//! The name of every file and directory cdg writes, in one place (docs/formats.md §5). Writers,
//! readers and tests use these constants, so a renamed output changes here and nowhere else.
//!
//! One module per kind of output directory: [`trace`] (`cdg train`, `cdg masks synth`,
//! `cdg import onnx`), [`sim`] (`cdg sim`), [`sweep`] (`cdg sweep`, `cdg merge`, `cdg plot`),
//! [`run`] (`cdg run`) and [`train`] (`cdg train`). Each has a [`Kind`]: the names a directory
//! of that kind may hold, which [`crate::output::OutputDir`] refuses to overwrite or leave
//! beside new files unless the directory's record ([`RECORD_FILE`]) says cdg wrote them.
//!
//! ```
//! use cdg_io::layout::sweep;
//! assert_eq!(sweep::config_name(7, 18), "point-0007.toml");
//! assert_eq!(sweep::layers_point_svg(3), "layers_point_0003.svg");
//! ```

/// The record of an output directory: which command wrote it, whether it is complete, and
/// every file (and nested output directory) cdg wrote there (docs/formats.md §5).
pub const RECORD_FILE: &str = ".cdg-output.json";
/// The record's next version, written and synced before it is renamed over [`RECORD_FILE`]
/// (one writer holds the lock, so one name serves; the next writer removes a leftover).
pub const RECORD_TEMP_FILE: &str = ".cdg-output.json.tmp";
/// Where an output directory's new files are written before they are moved into place.
pub const STAGING_DIR: &str = ".cdg-staging";

/// The self-contained HTML report `cdg report` (and `cdg run`) writes into a `sim`, `sweep` or
/// `run` output directory.
pub const REPORT_HTML: &str = "report.html";

/// The names an output directory of one kind may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// The kind, for records and messages (`sweep`: written by `cdg sweep` and `cdg merge`).
    pub name: &'static str,
    /// File names, relative to the directory.
    pub files: &'static [&'static str],
    /// `(directory, prefix, suffix)`: every file directly in `directory` (`""` = the output
    /// directory itself) whose name starts with `prefix` and ends with `suffix`.
    pub patterns: &'static [(&'static str, &'static str, &'static str)],
}

impl Kind {
    /// Whether `name` (relative, `/`-separated) is one of this kind's names.
    pub fn owns(&self, name: &str) -> bool {
        if self.files.contains(&name) {
            return true;
        }
        let (dir, file) = name.rsplit_once('/').unwrap_or(("", name));
        self.patterns.iter().any(|(d, prefix, suffix)| {
            *d == dir
                && file.len() >= prefix.len() + suffix.len()
                && file.starts_with(prefix)
                && file.ends_with(suffix)
        })
    }

    /// The directories (relative) this kind's patterns look into.
    pub fn pattern_dirs(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.patterns.iter().map(|(d, _, _)| *d)
    }
}

/// A trace directory: the manifest and the gate masks.
pub mod trace {
    /// Topology, gate specs and provenance (JSON).
    pub const MANIFEST_FILE: &str = "manifest.json";
    /// One bit-packed mask array per gated layer (npz).
    pub const MASKS_FILE: &str = "masks.npz";
    /// The gate-density heatmaps `cdg inspect TRACE --plot` draws by default, inside the trace.
    pub const GATE_DENSITY_SVG: &str = "gate_density.svg";

    /// A trace directory's names.
    pub const KIND: super::Kind = super::Kind {
        name: "trace",
        files: &[MANIFEST_FILE, MASKS_FILE, GATE_DENSITY_SVG],
        patterns: &[],
    };
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
    /// One row per skip policy and sample: latency, cycles and energy of every sample (the
    /// distribution behind `network.csv`'s percentiles; traces with masks only).
    pub const SAMPLES_CSV: &str = "samples.csv";

    /// A `cdg sim` output directory's names.
    pub const KIND: super::Kind = super::Kind {
        name: "sim",
        files: &[
            LAYERS_CSV,
            NETWORK_CSV,
            ARCH_TOML,
            COMPUTE_REPORT_CSV,
            LAYERS_SVG,
            SAMPLES_CSV,
            super::REPORT_HTML,
        ],
        patterns: &[],
    };
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

    /// A `cdg sweep` / `cdg merge` output directory's names.
    pub const KIND: super::Kind = super::Kind {
        name: "sweep",
        files: &[
            SWEEP_CSV,
            LAYERS_CSV,
            SPEC_TOML,
            SHARD_JSON,
            ENERGY_LATENCY_SVG,
            REDUCTION_SVG,
            super::REPORT_HTML,
        ],
        patterns: &[
            (CONFIGS_DIR, CONFIG_PREFIX, CONFIG_SUFFIX),
            ("", LAYERS_POINT_PREFIX, LAYERS_POINT_SUFFIX),
        ],
    };

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
    /// Prefix and suffix of [`gate_density_svg`].
    pub const GATE_DENSITY_PREFIX: &str = "gate_density_";
    pub const GATE_DENSITY_SUFFIX: &str = ".svg";

    /// A `cdg run` output directory's own names (its training and trace directories are
    /// output directories of their own).
    pub const KIND: super::Kind = super::Kind {
        name: "run",
        files: &[
            SUMMARY_CSV,
            super::sweep::SWEEP_CSV,
            super::sweep::LAYERS_CSV,
            super::sweep::ENERGY_LATENCY_SVG,
            super::sweep::REDUCTION_SVG,
            super::REPORT_HTML,
        ],
        patterns: &[
            (
                super::sweep::CONFIGS_DIR,
                super::sweep::CONFIG_PREFIX,
                super::sweep::CONFIG_SUFFIX,
            ),
            ("", GATE_DENSITY_PREFIX, GATE_DENSITY_SUFFIX),
            (
                "",
                super::sweep::LAYERS_POINT_PREFIX,
                super::sweep::LAYERS_POINT_SUFFIX,
            ),
        ],
    };

    /// The training output directory of the model with `granularity` gates
    /// (`train-structured`, `train-unstructured`).
    pub fn train_dir(granularity: &str) -> String {
        format!("train-{granularity}")
    }

    /// The gate-density heatmaps of workload `name`.
    pub fn gate_density_svg(name: &str) -> String {
        format!("{GATE_DENSITY_PREFIX}{name}{GATE_DENSITY_SUFFIX}")
    }
}

/// A `cdg compare` output directory.
pub mod compare {
    /// One row per compared quantity: both values and their ratio.
    pub const COMPARE_CSV: &str = "compare.csv";

    /// A `cdg compare --out` directory's names.
    pub const KIND: super::Kind = super::Kind {
        name: "compare",
        files: &[COMPARE_CSV],
        patterns: &[],
    };
}

/// A `cdg rtl check` output directory.
pub mod rtl_check {
    /// One row per layer, skip policy and sample: the fast model's and the RTL's figures.
    pub const RTL_CHECK_CSV: &str = "rtl_check.csv";

    /// A `cdg rtl check --out` directory's names.
    pub const KIND: super::Kind = super::Kind {
        name: "rtl-check",
        files: &[RTL_CHECK_CSV],
        patterns: &[],
    };
}

/// A `cdg inspect TRACE --plot --out DIR` directory.
pub mod inspect {
    /// The gate-density heatmaps of the trace.
    pub const GATE_DENSITY_SVG: &str = super::trace::GATE_DENSITY_SVG;

    /// A `cdg inspect --plot --out` directory's names.
    pub const KIND: super::Kind = super::Kind {
        name: "inspect",
        files: &[GATE_DENSITY_SVG],
        patterns: &[],
    };
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

    /// A `cdg train` output directory's own names (`trace/` is an output directory of its
    /// own).
    pub const KIND: super::Kind = super::Kind {
        name: "train",
        files: &[METRICS_CSV, SUMMARY_JSON, CHECKPOINT_FILE],
        patterns: &[],
    };
}
