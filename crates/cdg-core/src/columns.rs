//! Report columns declared once. The names below are the columns other code reads back by name
//! (`cdg-report`'s tables, plots and HTML report, the sweep's Pareto tables): writers serialize
//! under these constants and readers look them up by the same constants, so a rename cannot
//! leave a reader behind. (The per-part energy columns are [`crate::EnergyPart::column`].)
//!
//! [`csv_row!`](crate::csv_row) writes a row struct's `Serialize` as one flat CSV record, with
//! groups of columns ([`Columns`]) spliced in place: the csv crate cannot serialize nested
//! structs or `#[serde(flatten)]`, and this keeps one column group shared by several rows.
//!
//! ```
//! use cdg_core::columns::{self, Columns};
//! struct Energy { energy_pj: f64 }
//! cdg_core::csv_columns!(Energy { energy_pj = columns::ENERGY_PJ });
//! struct Row { layer: String, cycles: u64, energy: Energy }
//! cdg_core::csv_row!(Row { layer = columns::LAYER, cycles, ..energy });
//! let row = Row { layer: "conv1".into(), cycles: 7, energy: Energy { energy_pj: 1.5 } };
//! let json = serde_json::to_string(&row).unwrap();
//! assert_eq!(json, r#"{"layer":"conv1","cycles":7,"energy_pj":1.5}"#);
//! ```

#[doc(hidden)]
pub use serde as __serde;

/// A group of columns spliced into the rows that hold it (see [`csv_row!`](crate::csv_row)).
pub trait Columns {
    /// Serializes this group's columns, in order, into the row `s` being written.
    fn columns<S: serde::ser::SerializeStruct>(&self, s: &mut S) -> Result<(), S::Error>;
    /// How many columns [`Columns::columns`] writes.
    fn count(&self) -> usize;
}

/// An absent group writes no columns (a group only some rows of a type carry).
impl<T: Columns> Columns for Option<T> {
    fn columns<S: serde::ser::SerializeStruct>(&self, s: &mut S) -> Result<(), S::Error> {
        match self {
            Some(c) => c.columns(s),
            None => Ok(()),
        }
    }
    fn count(&self) -> usize {
        self.as_ref().map_or(0, Columns::count)
    }
}

/// Serializes the listed fields of `$self` into `$s`, in order: `field` under its own name,
/// `field = NAME` under the constant `NAME`, `..field` a [`Columns`] group spliced in place.
#[doc(hidden)]
#[macro_export]
macro_rules! __put_columns {
    ($s:ident, $self:ident;) => {};
    ($s:ident, $self:ident; .. $f:ident $(, $($rest:tt)*)?) => {
        $crate::columns::Columns::columns(&$self.$f, $s)?;
        $crate::__put_columns!($s, $self; $($($rest)*)?);
    };
    ($s:ident, $self:ident; $f:ident = $name:path $(, $($rest:tt)*)?) => {
        $crate::columns::__serde::ser::SerializeStruct::serialize_field($s, $name, &$self.$f)?;
        $crate::__put_columns!($s, $self; $($($rest)*)?);
    };
    ($s:ident, $self:ident; $f:ident $(, $($rest:tt)*)?) => {
        $crate::columns::__serde::ser::SerializeStruct::serialize_field(
            $s, stringify!($f), &$self.$f)?;
        $crate::__put_columns!($s, $self; $($($rest)*)?);
    };
}

/// How many columns the listed fields of `$self` write.
#[doc(hidden)]
#[macro_export]
macro_rules! __count_columns {
    ($self:ident;) => { 0usize };
    ($self:ident; .. $f:ident $(, $($rest:tt)*)?) => {
        $crate::columns::Columns::count(&$self.$f) + $crate::__count_columns!($self; $($($rest)*)?)
    };
    ($self:ident; $f:ident = $name:path $(, $($rest:tt)*)?) => {
        1usize + $crate::__count_columns!($self; $($($rest)*)?)
    };
    ($self:ident; $f:ident $(, $($rest:tt)*)?) => {
        1usize + $crate::__count_columns!($self; $($($rest)*)?)
    };
}

/// Implements [`Columns`] for a struct: its listed fields in order (`field`, `field = NAME`,
/// `..group`; see [`csv_row!`](crate::csv_row)).
#[macro_export]
macro_rules! csv_columns {
    ($ty:ty { $($body:tt)* }) => {
        impl $crate::columns::Columns for $ty {
            fn columns<S: $crate::columns::__serde::ser::SerializeStruct>(
                &self,
                s: &mut S,
            ) -> ::std::result::Result<(), S::Error> {
                $crate::__put_columns!(s, self; $($body)*);
                Ok(())
            }
            fn count(&self) -> usize {
                $crate::__count_columns!(self; $($body)*)
            }
        }
    };
}

/// Implements `Serialize` for a row struct as one flat record of the listed fields, in column
/// order: `field` is a column named like the field, `field = NAME` one named by the constant
/// `NAME` (a column some reader looks up), `..group` splices the columns of a [`Columns`]
/// group. Fields not listed are not written.
#[macro_export]
macro_rules! csv_row {
    ($ty:ident $(<$lt:lifetime>)? { $($body:tt)* }) => {
        impl<$($lt)?> $crate::columns::__serde::Serialize for $ty<$($lt)?> {
            fn serialize<S: $crate::columns::__serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                let mut s = $crate::columns::__serde::Serializer::serialize_struct(
                    serializer,
                    stringify!($ty),
                    $crate::__count_columns!(self; $($body)*),
                )?;
                {
                    let s = &mut s;
                    $crate::__put_columns!(s, self; $($body)*);
                }
                $crate::columns::__serde::ser::SerializeStruct::end(s)
            }
        }
    };
}

/// Which workload a row is about (trace directory name or topology file stem).
pub const WORKLOAD: &str = "workload";
/// The skip policy of a row (`sparsity.support`).
pub const SUPPORT: &str = "support";
/// The design's name.
pub const ARCH: &str = "arch";
/// The sweep grid point.
pub const POINT: &str = "point";
/// The layer of a `layers.csv` row.
pub const LAYER: &str = "layer";
/// The trace sample of a per-sample row (empty for a mean or a dense run).
pub const SAMPLE: &str = "sample";
/// Samples a row averages.
pub const SAMPLES: &str = "samples";
/// Layers of a network row.
pub const LAYERS: &str = "layers";
/// The gate block of a sweep workload's gated layers.
pub const GATE_BLOCK: &str = "gate_block";
/// The design's area.
pub const AREA_MM2: &str = "area_mm2";
/// Cycles (compute + stalls).
pub const CYCLES: &str = "cycles";
/// The ungated baseline's cycles.
pub const CYCLES_UNGATED: &str = "cycles_ungated";
/// The `dense`-policy baseline's cycles.
pub const CYCLES_DENSE_POLICY: &str = "cycles_dense_policy";
/// Latency of the run (µs).
pub const LATENCY_US: &str = "latency_us";
/// Per-sample latency percentiles (µs).
pub const LATENCY_US_P50: &str = "latency_us_p50";
pub const LATENCY_US_P95: &str = "latency_us_p95";
pub const LATENCY_US_P99: &str = "latency_us_p99";
/// Total energy (pJ).
pub const ENERGY_PJ: &str = "energy_pj";
/// The ungated baseline's energy (pJ).
pub const ENERGY_UNGATED_PJ: &str = "energy_ungated_pj";
/// The `dense`-policy baseline's energy (pJ).
pub const ENERGY_DENSE_POLICY_PJ: &str = "energy_dense_policy_pj";
/// Dense MACs / needed MACs.
pub const FLOPS_REDUCTION: &str = "flops_reduction";
/// Baseline cycles / cycles.
pub const CYCLE_REDUCTION_VS_UNGATED: &str = "cycle_reduction_vs_ungated";
pub const CYCLE_REDUCTION_VS_DENSE_POLICY: &str = "cycle_reduction_vs_dense_policy";
/// 1 − energy / baseline energy.
pub const ENERGY_SAVING_VS_UNGATED: &str = "energy_saving_vs_ungated";
pub const ENERGY_SAVING_VS_DENSE_POLICY: &str = "energy_saving_vs_dense_policy";
/// Needed MACs / (R·C·cycles).
pub const UTILIZATION: &str = "utilization";
/// Gate-unit compares.
pub const GATE_OPS: &str = "gate_ops";
/// A layer's gate density over the samples: mean, min, max.
pub const GATE_DENSITY: &str = "gate_density";
pub const GATE_DENSITY_MIN: &str = "gate_density_min";
pub const GATE_DENSITY_MAX: &str = "gate_density_max";
