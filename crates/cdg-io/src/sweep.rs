//! Sweep specs: a base arch config, the workloads (traces and/or SCALE-Sim topologies) and a
//! `[grid]` of dotted arch-config keys, each with an array of values (docs/formats.md §3).
//!
//! ```toml
//! base = "os-16x16.toml"              # paths are relative to the spec file
//! traces = ["../traces/resnet18-structured"]
//! topologies = []
//! [grid]
//! "array.rows" = [8, 16, 32]
//! "array.dataflow" = ["os", "ws", "is"]
//! "sparsity.support" = ["dense", "compact"]
//! ```
//!
//! An array of tables is a *linked* axis whose keys change together (three square arrays, not
//! nine shapes): `array = [{rows = 16, cols = 16}, {rows = 32, cols = 32}]`; each of its keys is
//! a CSV grid column. Under `zip` (or `zip.NAME`) the tables hold full dotted keys, so keys of
//! different sections can be linked: `zip = [{"array.rows" = 16, "memory.ifmap_sram_kib" = 8}]`.
//!
//! The grid expands as a cartesian product in the spec's key order with the last key fastest,
//! so point `i` is the mixed-radix decoding of `i`. Every point is the base config's TOML table
//! with the point's values applied through [`crate::arch::apply_override`], then validated by
//! the same path as an arch-config file, so a grid value is accepted exactly when
//! `--set key=value` would accept it. [`Shard`] `K/N` selects points `K−1, K−1+N, …`.

use cdg_core::ArchConfig;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use thiserror::Error;

/// Errors of sweep specs and shard selections; each names the spec file and the key at fault.
#[derive(Debug, Error)]
pub enum SweepError {
    #[error("cannot read sweep spec `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The spec (or the base config) is not a readable regular file under the memory limit.
    #[error("sweep spec: {0}")]
    Input(crate::IoError),
    #[error("sweep spec `{path}` is not valid TOML: {message}")]
    Toml { path: PathBuf, message: String },
    #[error("sweep spec `{path}`: {problem}")]
    Spec { path: PathBuf, problem: String },
    #[error("sweep spec `{path}`: base config `{base}`: {message}")]
    Base {
        path: PathBuf,
        base: PathBuf,
        message: String,
    },
    /// A grid value that the arch-config validation refuses.
    #[error("sweep spec `{path}`: grid key `{key}` value {value}: {message}")]
    GridValue {
        path: PathBuf,
        key: String,
        value: String,
        message: String,
    },
    /// A combination of individually valid grid values that the validation refuses.
    #[error("sweep spec `{path}`: grid point {index} ({assignment}): {message}")]
    GridPoint {
        path: PathBuf,
        index: usize,
        assignment: String,
        message: String,
    },
    #[error("invalid shard `{text}`: {problem}")]
    Shard { text: String, problem: String },
}

/// One grid axis: the dotted arch-config keys it sets (one, or several for a linked axis whose
/// keys change together) and the values it takes, in spec order.
#[derive(Debug, Clone, PartialEq)]
pub struct GridAxis {
    /// The keys, each one CSV grid column.
    pub keys: Vec<String>,
    /// One entry per step of the axis, each holding one value per key.
    pub values: Vec<Vec<toml::Value>>,
}

/// A parsed sweep spec with workload paths resolved against the spec's directory.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSpec {
    /// The spec file itself (for error messages and copying beside outputs).
    pub path: PathBuf,
    /// The base arch config.
    pub base: PathBuf,
    /// Trace directories, in spec order.
    pub traces: Vec<PathBuf>,
    /// SCALE-Sim topology CSV files, in spec order.
    pub topologies: Vec<PathBuf>,
    /// Grid axes in spec order; the last one varies fastest.
    pub grid: Vec<GridAxis>,
}

/// The keys a sweep spec may hold at its top level.
const SPEC_KEYS: [&str; 4] = ["base", "traces", "topologies", "grid"];

/// Largest number of points a grid may expand to; more is certainly a mistake.
pub const MAX_POINTS: usize = 1 << 32;
/// Grids up to this size have every combination of values validated before anything runs,
/// also the points of other shards; larger ones validate every value on its own and the
/// combinations of the points they run (each shard finds its points without enumerating the
/// grid).
pub const VALIDATE_ALL_POINTS: usize = 100_000;

/// Reads and parses a sweep spec file.
pub fn load_spec(path: &Path) -> Result<SweepSpec, SweepError> {
    let text = crate::limits::read_input_text(path).map_err(SweepError::Input)?;
    parse_spec(&text, path)
}

/// Parses a sweep spec; `path` names the file in errors and anchors relative paths.
pub fn parse_spec(text: &str, path: &Path) -> Result<SweepSpec, SweepError> {
    let spec_err = |problem: String| SweepError::Spec {
        path: path.to_owned(),
        problem,
    };
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| SweepError::Toml {
            path: path.to_owned(),
            message: crate::arch::toml_message(text, &e),
        })?;
    if let Some(unknown) = table.keys().find(|k| !SPEC_KEYS.contains(&k.as_str())) {
        return Err(spec_err(format!(
            "unknown key `{unknown}`; expected only {}",
            SPEC_KEYS.join(", ")
        )));
    }
    let dir = path.parent().unwrap_or(Path::new(""));
    let base = match table.get("base") {
        Some(toml::Value::String(s)) => dir.join(s),
        Some(other) => {
            return Err(spec_err(format!(
                "`base` must be a path string, found {}",
                other.type_str()
            )));
        }
        None => {
            return Err(spec_err(
                "`base` is missing; expected e.g. `base = \"arch.toml\"`".into(),
            ));
        }
    };
    let paths = |key: &str| -> Result<Vec<PathBuf>, SweepError> {
        match table.get(key) {
            None => Ok(Vec::new()),
            Some(toml::Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    toml::Value::String(s) => Ok(dir.join(s)),
                    other => Err(spec_err(format!(
                        "`{key}[{i}]` must be a path string, found {}",
                        other.type_str()
                    ))),
                })
                .collect(),
            Some(other) => Err(spec_err(format!(
                "`{key}` must be an array of path strings, found {}",
                other.type_str()
            ))),
        }
    };
    let traces = paths("traces")?;
    let topologies = paths("topologies")?;
    if traces.is_empty() && topologies.is_empty() {
        return Err(spec_err(
            "no workloads: give `traces = [...]` and/or `topologies = [...]`".into(),
        ));
    }
    let mut grid = Vec::new();
    match table.get("grid") {
        None => {}
        Some(toml::Value::Table(t)) => flatten_grid(t, "", &mut grid).map_err(spec_err)?,
        Some(other) => {
            return Err(spec_err(format!(
                "`grid` must be a table of dotted keys, found {}",
                other.type_str()
            )));
        }
    }
    let spec = SweepSpec {
        path: path.to_owned(),
        base,
        traces,
        topologies,
        grid,
    };
    let mut points: usize = 1;
    for axis in &spec.grid {
        points = points
            .checked_mul(axis.values.len())
            .filter(|&p| p <= MAX_POINTS)
            .ok_or_else(|| spec_err(format!("the grid has more than {MAX_POINTS} points")))?;
    }
    Ok(spec)
}

/// Collects `[grid]` entries in spec order. Quoted dotted keys (`"array.rows" = [...]`) and
/// TOML's nested form (`array.rows = [...]`, or an `[grid.array]` table) mean the same. An
/// array of tables is one *linked* axis whose keys change together
/// (`array = [{rows = 16, cols = 16}, {rows = 32, cols = 32}]`: the keys of each table are
/// under the axis's key; under `zip` or `zip.NAME` they are full dotted keys).
fn flatten_grid(table: &toml::Table, prefix: &str, out: &mut Vec<GridAxis>) -> Result<(), String> {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten_grid(t, &key, out)?,
            toml::Value::Array(values) => {
                if values.is_empty() {
                    return Err(format!(
                        "grid key `{key}` has no values; expected a non-empty array"
                    ));
                }
                let axis = if values.iter().all(|v| matches!(v, toml::Value::Table(_))) {
                    linked_axis(&key, values)?
                } else {
                    if let Some(bad) = values
                        .iter()
                        .find(|v| matches!(v, toml::Value::Array(_) | toml::Value::Table(_)))
                    {
                        return Err(format!(
                            "grid key `{key}`: values must be numbers, strings or booleans \
                             (or all tables, for a linked axis), found {}",
                            bad.type_str()
                        ));
                    }
                    GridAxis {
                        keys: vec![key.clone()],
                        values: values.iter().map(|v| vec![v.clone()]).collect(),
                    }
                };
                for k in &axis.keys {
                    if out.iter().any(|a| a.keys.contains(k)) {
                        return Err(format!("grid key `{k}` appears twice"));
                    }
                }
                out.push(axis);
            }
            other => {
                return Err(format!(
                    "grid key `{key}` must be an array of values, found a single {} \
                     (write `\"{key}\" = [{other}]`)",
                    other.type_str()
                ));
            }
        }
    }
    Ok(())
}

/// A linked axis from an array of tables under `key`: every table must set the same keys (to
/// numbers, strings or booleans).
fn linked_axis(key: &str, tables: &[toml::Value]) -> Result<GridAxis, String> {
    let prefix = if key == "zip" || key.starts_with("zip.") {
        ""
    } else {
        key
    };
    let mut keys: Vec<String> = Vec::new();
    let mut values = Vec::new();
    for (i, t) in tables.iter().enumerate() {
        let toml::Value::Table(t) = t else {
            return Err(format!("grid key `{key}[{i}]` must be a table"));
        };
        let mut cells: Vec<(String, toml::Value)> = Vec::new();
        flatten_cells(t, prefix, &mut cells)
            .map_err(|problem| format!("linked grid axis `{key}[{i}]`: {problem}"))?;
        if cells.is_empty() {
            return Err(format!(
                "linked grid axis `{key}[{i}]` is an empty table; expected e.g. \
                 `{{rows = 16, cols = 16}}`"
            ));
        }
        let these: Vec<String> = cells.iter().map(|(k, _)| k.clone()).collect();
        if i == 0 {
            keys = these;
        } else if these != keys {
            return Err(format!(
                "linked grid axis `{key}[{i}]` sets {}; every entry must set the same keys as \
                 `{key}[0]` ({})",
                these.join(", "),
                keys.join(", ")
            ));
        }
        values.push(cells.into_iter().map(|(_, v)| v).collect());
    }
    Ok(GridAxis { keys, values })
}

/// The scalar cells of one entry of a linked axis, by full dotted key, in the table's order.
fn flatten_cells(
    table: &toml::Table,
    prefix: &str,
    out: &mut Vec<(String, toml::Value)>,
) -> Result<(), String> {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten_cells(t, &key, out)?,
            toml::Value::Array(_) => {
                return Err(format!(
                    "`{key}` is an array; each entry of a linked axis gives one value per key"
                ));
            }
            scalar => out.push((key, scalar.clone())),
        }
    }
    Ok(())
}

/// The text of a grid value as it appears in CSV cells: strings bare, numbers and booleans as
/// TOML writes them.
pub fn value_label(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl SweepSpec {
    /// Number of grid points (1 for an empty grid: the base config alone).
    pub fn points(&self) -> usize {
        self.grid.iter().map(|a| a.values.len()).product()
    }

    /// The grid keys in spec order (the CSV's grid columns; a linked axis gives several).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.grid
            .iter()
            .flat_map(|a| a.keys.iter().map(String::as_str))
    }

    /// Per axis, the index of the value point `index` takes (mixed radix, last axis fastest).
    ///
    /// # Panics
    /// If `index >= self.points()`; callers iterate over `0..points()`.
    pub fn value_indices(&self, index: usize) -> Vec<usize> {
        assert!(index < self.points(), "grid point {index} out of range");
        let mut rest = index;
        let mut out = vec![0; self.grid.len()];
        for (slot, axis) in out.iter_mut().zip(&self.grid).rev() {
            *slot = rest % axis.values.len();
            rest /= axis.values.len();
        }
        out
    }

    /// The `(key, value)` pairs of point `index`, in spec order (every key of a linked axis).
    pub fn point(&self, index: usize) -> Vec<(&str, &toml::Value)> {
        self.value_indices(index)
            .into_iter()
            .zip(&self.grid)
            .flat_map(|(i, axis)| axis.keys.iter().map(String::as_str).zip(&axis.values[i]))
            .collect()
    }

    /// The CSV cells of point `index`'s grid columns.
    pub fn point_labels(&self, index: usize) -> Vec<String> {
        self.point(index)
            .into_iter()
            .map(|(_, v)| value_label(v))
            .collect()
    }

    /// Point `index` as `key=value` override assignments (values in TOML syntax).
    pub fn overrides(&self, index: usize) -> Vec<String> {
        self.point(index)
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// Reads the base config's text, the starting point of every grid point, and checks that
    /// the base alone is a valid design.
    pub fn base_text(&self) -> Result<String, SweepError> {
        let base_err = |message: String| SweepError::Base {
            path: self.path.clone(),
            base: self.base.clone(),
            message,
        };
        let text =
            crate::limits::read_input_text(&self.base).map_err(|e| base_err(e.to_string()))?;
        resolve(&text, &self.base, &[]).map_err(base_err)?;
        Ok(text)
    }

    /// Checks every grid value on its own against the base (so an error names the one key and
    /// value at fault), then every combination; returns the configs of the points `keep`
    /// selects, in index order. Nothing need be simulated before this has passed for all
    /// points. `base_text` is the base config's text ([`SweepSpec::base_text`]).
    pub fn resolve(
        &self,
        base_text: &str,
        keep: impl Fn(usize) -> bool,
    ) -> Result<Vec<(usize, ArchConfig)>, SweepError> {
        self.check_values(base_text)?;
        let mut out = Vec::new();
        for index in 0..self.points() {
            let arch = self.resolve_point(base_text, index)?;
            if keep(index) {
                out.push((index, arch));
            }
        }
        Ok(out)
    }

    /// Checks every grid value on its own, then resolves exactly the points `indices` (each
    /// decoded from its index, mixed radix): a shard of a huge grid finds its points without
    /// enumerating the others. Returns them in the order given.
    pub fn resolve_points(
        &self,
        base_text: &str,
        indices: impl IntoIterator<Item = usize>,
    ) -> Result<Vec<(usize, ArchConfig)>, SweepError> {
        self.check_values(base_text)?;
        indices
            .into_iter()
            .map(|index| Ok((index, self.resolve_point(base_text, index)?)))
            .collect()
    }

    /// The validated design of point `index`.
    fn resolve_point(&self, base_text: &str, index: usize) -> Result<ArchConfig, SweepError> {
        let overrides = self.overrides(index);
        resolve(base_text, &self.base, &overrides).map_err(|message| SweepError::GridPoint {
            path: self.path.clone(),
            index,
            assignment: overrides.join(", "),
            message,
        })
    }

    /// Every grid value on its own against the base.
    fn check_values(&self, base_text: &str) -> Result<(), SweepError> {
        for axis in &self.grid {
            for v in &axis.values {
                let assignments: Vec<String> = axis
                    .keys
                    .iter()
                    .zip(v)
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                resolve(base_text, &self.base, &assignments).map_err(|message| {
                    SweepError::GridValue {
                        path: self.path.clone(),
                        key: axis.keys.join("+"),
                        value: v
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", "),
                        message,
                    }
                })?;
            }
        }
        Ok(())
    }
}

/// Validates the base text with `overrides` applied exactly as `--set key=value` would be.
fn resolve(base_text: &str, base: &Path, overrides: &[String]) -> Result<ArchConfig, String> {
    crate::arch::parse_arch(base_text, &base.display().to_string(), overrides)
        .map_err(|e| e.to_string())
}

/// A shard `K/N` of a sweep: points `K−1, K−1+N, K−1+2N, …` (K = 1..N).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    k: usize,
    n: usize,
}

impl Shard {
    /// The whole sweep, `1/1`.
    pub const ALL: Shard = Shard { k: 1, n: 1 };

    /// Shard `k` of `n` (1-based); errors unless 1 ≤ k ≤ n.
    pub fn new(k: usize, n: usize) -> Result<Self, SweepError> {
        if n == 0 || k == 0 || k > n {
            return Err(SweepError::Shard {
                text: format!("{k}/{n}"),
                problem: "expected K/N with 1 <= K <= N".into(),
            });
        }
        Ok(Self { k, n })
    }

    /// The 1-based shard number K.
    pub fn index(&self) -> usize {
        self.k
    }

    /// The number of shards N.
    pub fn count(&self) -> usize {
        self.n
    }

    /// Whether this shard runs point `index` (0-based).
    pub fn contains(&self, index: usize) -> bool {
        index % self.n == self.k - 1
    }

    /// The point indices of this shard among `total` points, ascending.
    pub fn indices(&self, total: usize) -> impl Iterator<Item = usize> + use<> {
        (self.k - 1..total).step_by(self.n)
    }

    /// How many of `total` points this shard runs (without enumerating them).
    pub fn len(&self, total: usize) -> usize {
        total.saturating_sub(self.k - 1).div_ceil(self.n)
    }

    /// Whether this shard runs no point of `total`.
    pub fn is_empty(&self, total: usize) -> bool {
        self.len(total) == 0
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

impl FromStr for Shard {
    type Err = SweepError;
    fn from_str(s: &str) -> Result<Self, SweepError> {
        let bad = |problem: &str| SweepError::Shard {
            text: s.to_owned(),
            problem: problem.to_owned(),
        };
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| bad("expected K/N, e.g. 2/8"))?;
        let k: usize = k
            .trim()
            .parse()
            .map_err(|_| bad("K is not a positive integer"))?;
        let n: usize = n
            .trim()
            .parse()
            .map_err(|_| bad("N is not a positive integer"))?;
        Shard::new(k, n).map_err(|_| bad("expected K/N with 1 <= K <= N"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Result<SweepSpec, SweepError> {
        parse_spec(text, Path::new("/specs/s.toml"))
    }

    #[test]
    fn grid_expands_in_spec_order_last_key_fastest() {
        let s = spec(
            r#"
            base = "a.toml"
            traces = ["t"]
            [grid]
            "array.rows" = [8, 16]
            "array.dataflow" = ["os", "ws", "is"]
            "#,
        )
        .unwrap();
        assert_eq!(s.base, Path::new("/specs/a.toml"));
        assert_eq!(s.traces, vec![PathBuf::from("/specs/t")]);
        assert_eq!(s.points(), 6);
        let labels: Vec<_> = (0..6).map(|i| s.point_labels(i).join(",")).collect();
        assert_eq!(labels, ["8,os", "8,ws", "8,is", "16,os", "16,ws", "16,is"]);
        assert_eq!(s.overrides(4), ["array.rows=16", "array.dataflow=\"ws\""]);
    }

    #[test]
    fn nested_grid_keys_equal_quoted_dotted_keys() {
        let a = spec("base='a'\ntraces=['t']\n[grid]\n\"array.rows\"=[1,2]\n\"energy.mac\"=[0.1]")
            .unwrap();
        let b = spec("base='a'\ntraces=['t']\n[grid]\narray.rows=[1,2]\nenergy.mac=[0.1]").unwrap();
        assert_eq!(a.grid, b.grid);
        assert_eq!(a.keys().collect::<Vec<_>>(), ["array.rows", "energy.mac"]);
    }

    #[test]
    fn linked_axes_expand_together() {
        let s = spec(
            "base='a'\ntraces=['t']\n[grid]\narray = [{rows = 16, cols = 16}, {rows = 32, cols = 32}]\n\
             \"sparsity.support\" = [\"dense\", \"compact\"]\n\
             zip = [{\"memory.ifmap_sram_kib\" = 8, \"clock.frequency_mhz\" = 500}, \
             {\"memory.ifmap_sram_kib\" = 64, \"clock.frequency_mhz\" = 800}]",
        )
        .unwrap();
        assert_eq!(
            s.points(),
            8,
            "2 arrays × 2 policies × 2 linked memory/clock pairs"
        );
        assert_eq!(
            s.keys().collect::<Vec<_>>(),
            [
                "array.rows",
                "array.cols",
                "sparsity.support",
                "memory.ifmap_sram_kib",
                "clock.frequency_mhz"
            ]
        );
        assert_eq!(s.point_labels(0), ["16", "16", "dense", "8", "500"]);
        assert_eq!(s.point_labels(7), ["32", "32", "compact", "64", "800"]);
        assert_eq!(
            s.overrides(5),
            [
                "array.rows=32",
                "array.cols=32",
                "sparsity.support=\"dense\"",
                "memory.ifmap_sram_kib=64",
                "clock.frequency_mhz=800"
            ]
        );
        // The same keys in every entry, scalars only, no key twice.
        let bad = |grid: &str, want: &str| {
            let e = spec(&format!("base='a'\ntraces=['t']\n[grid]\n{grid}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "`{want}` not in: {e}");
        };
        bad(
            "array = [{rows = 16, cols = 16}, {rows = 32}]",
            "`array[1]` sets array.rows",
        );
        bad("array = [{rows = [16]}]", "`array.rows` is an array");
        bad("array = [{}]", "empty table");
        bad(
            "\"array.rows\" = [8]\narray2 = []\nzip = [{\"array.rows\" = 16}]",
            "no values",
        );
        bad(
            "\"array.rows\" = [8]\nzip = [{\"array.rows\" = 16}]",
            "`array.rows` appears twice",
        );
    }

    #[test]
    fn linked_axis_values_are_validated_together() {
        let (_dir, s) = spec_with_base("array = [{rows = 8, cols = 8}, {rows = 0, cols = 4}]");
        let base = s.base_text().unwrap();
        let e = s.resolve(&base, |_| true).unwrap_err().to_string();
        assert!(e.contains("`array.rows+array.cols` value 0, 4"), "{e}");
        let (_dir, s) = spec_with_base("array = [{rows = 8, cols = 8}, {rows = 64, cols = 64}]");
        let base = s.base_text().unwrap();
        let all = s.resolve(&base, |_| true).unwrap();
        let shapes: Vec<_> = all
            .iter()
            .map(|(_, a)| (a.array.rows, a.array.cols))
            .collect();
        assert_eq!(shapes, [(8, 8), (64, 64)]);
    }

    #[test]
    fn empty_grid_is_the_base_alone() {
        let s = spec("base='a'\ntopologies=['x.csv']").unwrap();
        assert_eq!(s.points(), 1);
        assert!(s.point(0).is_empty());
    }

    #[test]
    fn bad_specs_name_the_file_and_key() {
        let check = |text: &str, want: &[&str]| {
            let e = spec(text).unwrap_err().to_string();
            assert!(e.contains("/specs/s.toml"), "{e}");
            for w in want {
                assert!(e.contains(w), "`{w}` not in: {e}");
            }
        };
        check("base='a'\ntraces=['t']\nbogus=1", &["unknown key `bogus`"]);
        check("traces=['t']", &["`base` is missing"]);
        check("base='a'", &["no workloads"]);
        check("base='a'\ntraces='t'", &["`traces` must be an array"]);
        check("base='a'\ntraces=['t', 3]", &["`traces[1]`"]);
        check(
            "base='a'\ntraces=['t']\n[grid]\n\"array.rows\"=16",
            &["`array.rows`", "single"],
        );
        check(
            "base='a'\ntraces=['t']\n[grid]\n\"array.rows\"=[]",
            &["`array.rows`", "no values"],
        );
        check(
            "base='a'\ntraces=['t']\n[grid]\n\"a.b\"=[[1]]",
            &["`a.b`", "array"],
        );
        check("base='a'\ntraces=['t'", &["not valid TOML"]);
    }

    const BASE: &str = "schema = 1\nname = \"b\"\n[array]\nrows = 16\ncols = 16\n";

    fn spec_with_base(grid: &str) -> (tempfile::TempDir, SweepSpec) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("base.toml"), BASE).unwrap();
        let path = dir.path().join("s.toml");
        let text = format!("base = \"base.toml\"\ntraces = [\"t\"]\n[grid]\n{grid}");
        std::fs::write(&path, text).unwrap();
        let spec = load_spec(&path).unwrap();
        (dir, spec)
    }

    #[test]
    fn points_resolve_through_the_arch_config_path() {
        let (_dir, s) = spec_with_base(
            "\"array.rows\" = [8, 32]\n\"array.dataflow\" = [\"os\", \"ws\"]\n\
             \"memory.dram_bytes_per_cycle\" = [\"unlimited\", 4.5]",
        );
        let base = s.base_text().unwrap();
        let all = s.resolve(&base, |_| true).unwrap();
        assert_eq!(all.len(), 8);
        let (i, a) = &all[5];
        assert_eq!(*i, 5);
        assert_eq!(a.array.rows, 32);
        assert_eq!(a.array.cols, 16);
        assert_eq!(a.array.dataflow, cdg_core::Dataflow::OutputStationary);
        assert_eq!(
            a.memory.dram_bandwidth,
            cdg_core::DramBandwidth::BytesPerCycle(4.5)
        );
        let shard = Shard::new(2, 3).unwrap();
        let kept: Vec<usize> = s
            .resolve(&base, |i| shard.contains(i))
            .unwrap()
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        assert_eq!(kept, [1, 4, 7]);
    }

    #[test]
    fn bad_grid_values_name_spec_key_and_value() {
        let check = |grid: &str, want: &[&str]| {
            let (_dir, s) = spec_with_base(grid);
            let base = s.base_text().unwrap();
            let e = s.resolve(&base, |_| true).unwrap_err().to_string();
            assert!(e.contains("s.toml"), "{e}");
            for w in want {
                assert!(e.contains(w), "`{w}` not in: {e}");
            }
        };
        check("\"array.rows\" = [8, 0]", &["`array.rows`", "value 0"]);
        check(
            "\"array.dataflow\" = [\"os\", \"xs\"]",
            &["`array.dataflow`", "\"xs\""],
        );
        check("\"array.rowz\" = [8]", &["`array.rowz`", "array.rowz"]);
        check(
            "\"sparsity.support\" = [\"compact\", \"magic\"]",
            &["`sparsity.support`", "magic"],
        );
    }

    #[test]
    fn value_indices_decode_mixed_radix() {
        let s = spec("base='a'\ntraces=['t']\n[grid]\na=[1,2,3]\nb=[1,2]\nc=[1,2,3,4,5]").unwrap();
        for i in 0..s.points() {
            let v = s.value_indices(i);
            assert_eq!(v[0] * 10 + v[1] * 5 + v[2], i);
        }
    }

    #[test]
    fn shards_partition_the_points() {
        let total = 17;
        for n in 1..6 {
            let mut seen = vec![0; total];
            for k in 1..=n {
                let shard = Shard::new(k, n).unwrap();
                let idx: Vec<_> = shard.indices(total).collect();
                assert!(idx.iter().all(|&i| shard.contains(i)));
                assert_eq!(idx.first().copied(), Some(k - 1));
                for i in idx {
                    seen[i] += 1;
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "n = {n}: {seen:?}");
        }
        assert_eq!(
            Shard::new(2, 3).unwrap().indices(8).collect::<Vec<_>>(),
            [1, 4, 7]
        );
        for total in 0..30 {
            for n in 1..7 {
                for k in 1..=n {
                    let s = Shard::new(k, n).unwrap();
                    assert_eq!(s.len(total), s.indices(total).count(), "{k}/{n} of {total}");
                }
            }
        }
    }

    #[test]
    fn a_shard_of_a_huge_grid_resolves_only_its_points() {
        // 16^8 = 2^32 points: enumerating them would take hours; decoding a few is instant.
        let sixteen = |scale: f64| {
            (1..=16)
                .map(|v| (v as f64 * scale).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let ints = (1..=16)
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let grid = format!(
            "\"array.rows\" = [{ints}]\n\"array.cols\" = [{ints}]\n\"energy.mac\" = [{}]\n\
             \"energy.gate_op\" = [{}]\n\"energy.gated_mac\" = [{}]\n\
             \"energy.dram_per_byte\" = [{}]\n\"clock.frequency_mhz\" = [{}]\n\
             \"memory.ifmap_sram_kib\" = [{ints}]",
            sixteen(0.1),
            sixteen(0.01),
            sixteen(0.001),
            sixteen(1.0),
            sixteen(100.0),
        );
        let (_dir, s) = spec_with_base(&grid);
        assert_eq!(s.points(), 1 << 32);
        let base = s.base_text().unwrap();
        let shard = Shard::new(7, 1 << 30).unwrap();
        assert_eq!(shard.len(s.points()), 4);
        let started = std::time::Instant::now();
        let pts = s.resolve_points(&base, shard.indices(s.points())).unwrap();
        assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
        let idx: Vec<usize> = pts.iter().map(|(i, _)| *i).collect();
        assert_eq!(idx, [6, 6 + (1 << 30), 6 + (2 << 30), 6 + (3 << 30)]);
        // Point 6 + 3·2^30 decodes by mixed radix (last axis fastest): the first axis takes
        // value 3·2^30 / 16^7 = 12, the last 6.
        let (_, last) = &pts[3];
        assert_eq!(last.array.rows, 13);
        assert_eq!(last.array.cols, 1);
        assert_eq!(last.memory.ifmap_sram_kib, 7.0);
    }

    #[test]
    fn shard_text_roundtrips_and_rejects_nonsense() {
        let s: Shard = "3/8".parse().unwrap();
        assert_eq!((s.index(), s.count()), (3, 8));
        assert_eq!(s.to_string(), "3/8");
        for bad in ["0/4", "5/4", "1/0", "x/2", "3", "-1/2", ""] {
            let e = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
        }
    }
}
