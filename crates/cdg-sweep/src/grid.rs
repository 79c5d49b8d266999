//! The designs a sweep simulates: grid points with their resolved arch configs.

use crate::error::Result;
use cdg_core::ArchConfig;
use cdg_io::sweep::{Shard, SweepSpec, VALIDATE_ALL_POINTS};

/// One design of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The point's index in the whole grid (the `point` column, the config file's number).
    pub index: usize,
    /// The point's cells under the grid keys (the CSV's grid columns).
    pub labels: Vec<String>,
    /// The resolved, validated design.
    pub arch: ArchConfig,
}

/// The grid points a run simulates, in index order: all of them, or one shard's.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// The grid keys (CSV columns after `point`), in spec order.
    pub keys: Vec<String>,
    /// The points of this run.
    pub points: Vec<Point>,
    /// The number of points of the whole grid (this run may hold one shard of them).
    pub total: usize,
}

impl Grid {
    /// The points of `shard` of `spec`'s grid on the base config text `base_text`. Every grid
    /// value is validated first; so is every combination, also the points of other shards,
    /// for grids up to [`VALIDATE_ALL_POINTS`]. A larger grid validates the combinations it
    /// runs, and its shard finds its points by index without enumerating the grid.
    pub fn from_spec(spec: &SweepSpec, base_text: &str, shard: Shard) -> Result<Self> {
        let total = spec.points();
        let resolved = if total <= VALIDATE_ALL_POINTS {
            spec.resolve(base_text, |i| shard.contains(i))?
        } else {
            spec.resolve_points(base_text, shard.indices(total))?
        };
        Self::from_resolved(spec, resolved)
    }

    /// A grid of the given designs as they are, one point each (index = position), with no
    /// grid keys: what `cdg sim` runs (one point per skip policy).
    pub fn of_designs(designs: Vec<ArchConfig>) -> Self {
        let points: Vec<Point> = designs
            .into_iter()
            .enumerate()
            .map(|(index, arch)| Point {
                index,
                labels: Vec::new(),
                arch,
            })
            .collect();
        Self {
            keys: Vec::new(),
            total: points.len(),
            points,
        }
    }

    /// The first `n` points of `shard` (for estimating a run's cost without resolving it).
    pub fn sample(spec: &SweepSpec, base_text: &str, shard: Shard, n: usize) -> Result<Self> {
        let resolved = spec.resolve_points(base_text, shard.indices(spec.points()).take(n))?;
        Self::from_resolved(spec, resolved)
    }

    fn from_resolved(spec: &SweepSpec, resolved: Vec<(usize, ArchConfig)>) -> Result<Self> {
        let keys: Vec<String> = spec.keys().map(str::to_owned).collect();
        let points = resolved
            .into_iter()
            .map(|(index, mut arch)| {
                let labels = spec.point_labels(index);
                arch.name = design_name(&keys, &labels, &arch);
                Point {
                    index,
                    labels,
                    arch,
                }
            })
            .collect();
        Ok(Self {
            keys,
            points,
            total: spec.points(),
        })
    }
}

/// The name of a grid point's design (the `arch` column, `name` in its config, the labels of
/// the plots): the base config's name when the grid changes nothing, else the array
/// (`ws-32x32`, when the grid sets its dataflow or shape; the base name otherwise) followed by
/// every other grid value as `leaf=value` (`ws-32x32 support=compact ifmap_sram_kib=8`). A
/// grid that sets `name` itself keeps it.
pub fn design_name(keys: &[String], labels: &[String], arch: &ArchConfig) -> String {
    const ARRAY_KEYS: [&str; 3] = ["array.dataflow", "array.rows", "array.cols"];
    if keys.is_empty() || keys.iter().any(|k| k == "name") {
        return arch.name.clone();
    }
    let mut name = if keys.iter().any(|k| ARRAY_KEYS.contains(&k.as_str())) {
        format!(
            "{}-{}x{}",
            arch.array.dataflow, arch.array.rows, arch.array.cols
        )
    } else {
        arch.name.clone()
    };
    for (key, label) in keys.iter().zip(labels) {
        if ARRAY_KEYS.contains(&key.as_str()) {
            continue;
        }
        let leaf = key.rsplit('.').next().unwrap_or(key);
        name.push_str(&format!(" {leaf}={label}"));
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_named_by_their_grid_values() {
        let mut arch = ArchConfig::default_with("os-16x16-int8");
        arch.array.rows = 64;
        arch.array.cols = 64;
        arch.array.dataflow = cdg_core::Dataflow::WeightStationary;
        let keys: Vec<String> = ["array.dataflow", "array.rows", "sparsity.support"]
            .map(str::to_owned)
            .to_vec();
        let labels: Vec<String> = ["ws", "64", "compact"].map(str::to_owned).to_vec();
        assert_eq!(
            design_name(&keys, &labels, &arch),
            "ws-64x64 support=compact"
        );
        // Without array keys the base name leads; with `name` in the grid it is kept.
        let keys = vec!["memory.ifmap_sram_kib".to_owned()];
        assert_eq!(
            design_name(&keys, &["8".to_owned()], &arch),
            "os-16x16-int8 ifmap_sram_kib=8"
        );
        let keys = vec!["name".to_owned()];
        assert_eq!(design_name(&keys, &["mine".to_owned()], &arch), arch.name);
        assert_eq!(design_name(&[], &[], &arch), arch.name);
    }
}
