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

    /// The first `n` points of `shard` (for estimating a run's cost without resolving it).
    pub fn sample(spec: &SweepSpec, base_text: &str, shard: Shard, n: usize) -> Result<Self> {
        let resolved = spec.resolve_points(base_text, shard.indices(spec.points()).take(n))?;
        Self::from_resolved(spec, resolved)
    }

    fn from_resolved(spec: &SweepSpec, resolved: Vec<(usize, ArchConfig)>) -> Result<Self> {
        let points = resolved
            .into_iter()
            .map(|(index, arch)| Point {
                index,
                labels: spec.point_labels(index),
                arch,
            })
            .collect();
        Ok(Self {
            keys: spec.keys().map(str::to_owned).collect(),
            points,
            total: spec.points(),
        })
    }
}
