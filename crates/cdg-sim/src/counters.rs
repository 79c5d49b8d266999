//! Every additive figure of a run in one type, [`Counters`]: MACs, cycles, folds, gate ops,
//! SRAM accesses, DRAM traffic, compulsory bytes, energy, SCALE-Sim's counts. A layer's
//! counters are the totals over its folds (all passes); a network's are `layers.sum()`; a mean
//! over samples is [`Counters::mean`]. The stats ([`crate::stats`]) and the CSV rows are built
//! from them, so a new figure is one field here (in the group it belongs to) plus its
//! column(s) in `LayerRow` / `NetworkRow`.
//!
//! The groups are declared with `figures!`, which derives [`Figure`] (sum, field-wise maximum,
//! mean over samples) field by field, so no aggregation is written by hand.

use cdg_core::{Accesses, Bytes, Cycles, EnergyPart, Macs, Microseconds, PicoJoules};

/// A figure the sample summaries can combine: summed over layers, maximised and averaged over
/// samples.
pub trait Figure: Copy {
    /// `self + other`.
    fn plus(self, other: Self) -> Self;
    /// The larger of the two (field-wise for groups).
    fn larger(self, other: Self) -> Self;
    /// The first figure that cannot be trusted, by field path (`""` for a scalar;
    /// `dram.ifmap_read` in a group): a count saturated at u64::MAX or a non-finite real.
    fn unrepresentable(&self) -> Option<String>;
    /// The mean of `n ≥ 1` samples `xs`: counts rounded to the nearest integer (halves up),
    /// energies and times exact.
    fn mean_of<'a, I>(xs: I, n: usize) -> Self
    where
        I: Iterator<Item = &'a Self> + Clone,
        Self: 'a;
}

macro_rules! count_figure {
    ($($t:ty => $get:expr, $make:expr;)*) => {$(
        impl Figure for $t {
            fn plus(self, other: Self) -> Self {
                // Saturating: a sum that does not fit is u64::MAX, which `unrepresentable`
                // reports (one check per layer and network instead of one per addition).
                $make($get(self).saturating_add($get(other)))
            }
            fn larger(self, other: Self) -> Self {
                $make($get(self).max($get(other)))
            }
            fn unrepresentable(&self) -> Option<String> {
                ($get(*self) == u64::MAX).then(String::new)
            }
            fn mean_of<'a, I>(xs: I, n: usize) -> Self
            where
                I: Iterator<Item = &'a Self> + Clone,
            {
                // u128, so 2^64 samples of 2^64 cannot overflow the sum.
                let sum: u128 = xs.map(|x| u128::from($get(*x))).sum();
                let n = n as u128;
                $make(((sum + n / 2) / n) as u64)
            }
        }
        impl SatAdd for $t {
            #[inline]
            fn sat_add(&mut self, other: Self) {
                *self = $make($get(*self).saturating_add($get(other)));
            }
        }
    )*};
}

/// In-place saturating addition of counts (the memory model's hot path): a count that does not
/// fit in 64 bits stays at u64::MAX, which [`Figure::unrepresentable`] reports.
pub trait SatAdd: Copy {
    fn sat_add(&mut self, other: Self);
}

count_figure! {
    u64 => |x: u64| x, |x: u64| x;
    Cycles => Cycles::get, Cycles;
    Macs => Macs::get, Macs;
    Bytes => Bytes::get, Bytes;
    Accesses => Accesses::get, Accesses;
}

macro_rules! real_figure {
    ($($t:ty => $get:expr, $make:expr;)*) => {$(
        impl Figure for $t {
            fn plus(self, other: Self) -> Self {
                $make($get(self) + $get(other))
            }
            fn larger(self, other: Self) -> Self {
                $make($get(self).max($get(other)))
            }
            fn unrepresentable(&self) -> Option<String> {
                (!$get(*self).is_finite()).then(String::new)
            }
            fn mean_of<'a, I>(xs: I, n: usize) -> Self
            where
                I: Iterator<Item = &'a Self> + Clone,
            {
                $make(xs.map(|x| $get(*x)).sum::<f64>() / n as f64)
            }
        }
    )*};
}

real_figure! {
    f64 => |x: f64| x, |x: f64| x;
    PicoJoules => PicoJoules::get, PicoJoules;
    Microseconds => Microseconds::get, Microseconds;
}

/// Declares a struct of figures and derives [`Figure`] for it field by field (each field's
/// type must be a [`Figure`]).
macro_rules! figures {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty,)*
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $($(#[$fmeta])* $fvis $field: $ty,)*
        }

        impl $crate::counters::Figure for $name {
            fn plus(self, other: Self) -> Self {
                Self { $($field: $crate::counters::Figure::plus(self.$field, other.$field),)* }
            }
            fn larger(self, other: Self) -> Self {
                Self { $($field: $crate::counters::Figure::larger(self.$field, other.$field),)* }
            }
            fn unrepresentable(&self) -> Option<String> {
                $(
                    if let Some(inner) = $crate::counters::Figure::unrepresentable(&self.$field) {
                        return Some(if inner.is_empty() {
                            stringify!($field).to_owned()
                        } else {
                            format!("{}.{inner}", stringify!($field))
                        });
                    }
                )*
                None
            }
            fn mean_of<'a, I>(xs: I, n: usize) -> Self
            where
                I: Iterator<Item = &'a Self> + Clone,
            {
                Self {
                    $($field: $crate::counters::Figure::mean_of(
                        xs.clone().map(|x| &x.$field), n),)*
                }
            }
        }
    };
}
pub(crate) use figures;

/// `+`, `+=` and `Sum` for figure groups that add up.
macro_rules! additive {
    ($($name:ty),*) => {$(
        impl std::ops::Add for $name {
            type Output = Self;
            fn add(self, other: Self) -> Self {
                Figure::plus(self, other)
            }
        }

        impl std::ops::AddAssign for $name {
            fn add_assign(&mut self, other: Self) {
                *self = Figure::plus(*self, other);
            }
        }

        impl std::iter::Sum for $name {
            fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
                iter.fold(Self::default(), |a, b| a + b)
            }
        }

        impl<'a> std::iter::Sum<&'a $name> for $name {
            fn sum<I: Iterator<Item = &'a Self>>(iter: I) -> Self {
                iter.fold(Self::default(), |a, b| a + *b)
            }
        }
    )*};
}

figures! {
    /// Element accesses of the on-chip buffers.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct SramAccesses {
        pub ifmap_reads: Accesses,
        pub filter_reads: Accesses,
        /// Output and partial-sum writes into the ofmap buffer.
        pub ofmap_writes: Accesses,
        /// Partial sums read back from the ofmap buffer to accumulate onto.
        pub psum_reads: Accesses,
    }
}

figures! {
    /// DRAM traffic in bytes.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct DramTraffic {
        pub ifmap_read: Bytes,
        pub filter_read: Bytes,
        /// Writes of outputs and spilled partial sums.
        pub ofmap_write: Bytes,
        /// Spilled partial sums read back.
        pub psum_read: Bytes,
        /// Of `ofmap_write`, the spilled (non-final) partial sums.
        pub psum_write: Bytes,
        /// Gate masks read from DRAM (gated layers with `sparsity.mask_in_dram = true`).
        pub mask_read: Bytes,
    }
}

impl DramTraffic {
    pub fn reads(&self) -> Bytes {
        self.ifmap_read + self.filter_read + self.psum_read + self.mask_read
    }

    pub fn writes(&self) -> Bytes {
        self.ofmap_write
    }

    /// Partial-sum spill traffic, both directions.
    pub fn psum(&self) -> Bytes {
        self.psum_read + self.psum_write
    }

    pub fn total(&self) -> Bytes {
        self.reads() + self.writes()
    }
}

figures! {
    /// Compulsory DRAM traffic of a layer: every unique input element touched by a window, every
    /// weight, every output, once.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct Compulsory {
        pub ifmap: Bytes,
        pub filter: Bytes,
        pub ofmap: Bytes,
    }
}

impl Compulsory {
    pub fn total(&self) -> Bytes {
        self.ifmap + self.filter + self.ofmap
    }
}

/// Energy by where it is spent, one figure per [`EnergyPart`] (index it with the part);
/// [`EnergyBreakdown::total`] is their sum. A new part is a variant of `EnergyPart` and its
/// charge in [`crate::energy::energy`]; sums, maxima, means, totals and columns follow.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EnergyBreakdown {
    parts: [PicoJoules; EnergyPart::COUNT],
}

impl EnergyBreakdown {
    /// The breakdown whose part `p` is `f(p)`.
    pub fn from_fn(mut f: impl FnMut(EnergyPart) -> PicoJoules) -> Self {
        Self {
            parts: EnergyPart::ALL.map(&mut f),
        }
    }

    /// Every part with its energy, in [`EnergyPart::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (EnergyPart, PicoJoules)> + '_ {
        EnergyPart::ALL.into_iter().zip(self.parts.iter().copied())
    }

    /// The sum of the parts, added in [`EnergyPart::ALL`] order.
    pub fn total(&self) -> PicoJoules {
        let (first, rest) = self.parts.split_first().expect("at least one energy part");
        rest.iter().fold(*first, |a, b| a + *b)
    }

    /// The part with the largest value (a non-finite one counts as the largest; the last of
    /// equal ones): the part whose cost key to name when a total derived from this breakdown
    /// is not finite.
    pub fn largest_part(&self) -> EnergyPart {
        let v = |x: PicoJoules| {
            let x = x.get();
            if x.is_finite() { x } else { f64::INFINITY }
        };
        self.iter()
            .max_by(|a, b| v(a.1).total_cmp(&v(b.1)))
            .map_or(EnergyPart::ALL[0], |p| p.0)
    }
}

impl std::ops::Index<EnergyPart> for EnergyBreakdown {
    type Output = PicoJoules;
    fn index(&self, part: EnergyPart) -> &PicoJoules {
        &self.parts[part.index()]
    }
}

impl std::ops::IndexMut<EnergyPart> for EnergyBreakdown {
    fn index_mut(&mut self, part: EnergyPart) -> &mut PicoJoules {
        &mut self.parts[part.index()]
    }
}

impl Figure for EnergyBreakdown {
    fn plus(self, other: Self) -> Self {
        Self::from_fn(|p| self[p].plus(other[p]))
    }
    fn larger(self, other: Self) -> Self {
        Self::from_fn(|p| self[p].larger(other[p]))
    }
    fn unrepresentable(&self) -> Option<String> {
        self.iter()
            .find(|(_, e)| e.unrepresentable().is_some())
            .map(|(p, _)| p.name().to_owned())
    }
    fn mean_of<'a, I>(xs: I, n: usize) -> Self
    where
        I: Iterator<Item = &'a Self> + Clone,
    {
        Self::from_fn(|p| Figure::mean_of(xs.clone().map(|x| &x.parts[p.index()]), n))
    }
}

figures! {
    /// The counts SCALE-Sim v3.0.0 would report for a layer, with its conventions and quirks
    /// (docs/model.md §3). They appear only in `scalesim_*` columns and the compatibility
    /// report.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct ScaleSimCounts {
        /// L − 1 + stalls: SCALE-Sim reports the index of the last cycle.
        pub total_cycles: Cycles,
        pub stall_cycles: Cycles,
        /// Ifmap SRAM reads as SCALE-Sim reports them (N:M sparse layers scaled back to dense).
        pub ifmap_reads: Accesses,
        pub filter_reads: Accesses,
        /// Ofmap SRAM writes; for OS, M·N + folds·(R + C) (a quirk of its OS code).
        pub ofmap_writes: Accesses,
    }
}

figures! {
    /// The additive figures of a run: of one layer (totals over its folds and passes), of a
    /// network (the sum over its layers), or a mean over samples ([`Counters::mean`]).
    #[derive(Debug, Clone, Copy, Default, PartialEq)]
    pub struct Counters {
        /// M·K·N of the layer's dense GEMM.
        pub macs_dense: Macs,
        /// MACs whose result is used (dense: all; gated: base + active conditional).
        pub macs_needed: Macs,
        /// MAC slots the array spent: needed, clock-gated and discarded ones.
        pub macs_executed: Macs,
        /// Of `macs_executed`, slots of outputs whose gate is off that were clock-gated (charged
        /// at `energy.gated_mac`); the others cost a full MAC.
        pub macs_clock_gated: Macs,
        /// Folds the array ran (over all passes).
        pub folds: u64,
        /// Compute cycles plus stalls.
        pub cycles: Cycles,
        /// Σ fold cycles (L for a dense layer).
        pub compute_cycles: Cycles,
        /// DRAM stalls, including `prefetch_cycles` and the final drain.
        pub stall_cycles: Cycles,
        /// The initial fetch before the first fold (also counted in `stall_cycles`).
        pub prefetch_cycles: Cycles,
        /// The ungated baseline: cycles of each layer's best dense schedule on the same design
        /// (docs/model.md §8).
        pub cycles_ungated: Cycles,
        /// The ungated baseline's energy, by part (summed field-wise like `energy`, so equal
        /// runs give bit-equal totals).
        pub energy_ungated: EnergyBreakdown,
        /// The `dense`-policy baseline: cycles of the same layers under `sparsity.support =
        /// dense` (gated layers: both passes, every fold, masks ignored; ungated layers: as
        /// `cycles_ungated`).
        pub cycles_dense_policy: Cycles,
        /// The `dense`-policy baseline's energy, by part.
        pub energy_dense_policy: EnergyBreakdown,
        /// Compute cycles of the conditional passes of gated layers (0 when ungated).
        pub cond_cycles: Cycles,
        /// Gate-unit compares.
        pub gate_ops: u64,
        pub sram: SramAccesses,
        pub dram: DramTraffic,
        pub compulsory: Compulsory,
        pub energy: EnergyBreakdown,
        pub scalesim: ScaleSimCounts,
    }
}

additive!(
    SramAccesses,
    DramTraffic,
    Compulsory,
    EnergyBreakdown,
    ScaleSimCounts,
    Counters
);

impl Counters {
    /// Of `macs_executed`, the slots computed at full cost whose results are discarded at
    /// write-back (inactive outputs under the `dense` policy): executed − needed − clock-gated.
    pub fn macs_discarded(&self) -> Macs {
        Macs(
            self.macs_executed
                .get()
                .saturating_sub(self.macs_needed.get())
                .saturating_sub(self.macs_clock_gated.get()),
        )
    }

    /// The mean of per-sample counters (see [`Figure::mean_of`]); `None` for no samples.
    pub fn mean<'a>(xs: impl Iterator<Item = &'a Counters> + Clone) -> Option<Counters> {
        let n = xs.clone().count();
        (n > 0).then(|| Figure::mean_of(xs, n))
    }

    /// Field-wise maximum over samples; `None` for no samples.
    pub fn max<'a>(xs: impl Iterator<Item = &'a Counters>) -> Option<Counters> {
        xs.copied().reduce(Figure::larger)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(x: u64, e: f64) -> Counters {
        Counters {
            macs_needed: Macs(x),
            macs_executed: Macs(2 * x),
            cycles: Cycles(x + 1),
            sram: SramAccesses {
                psum_reads: Accesses(3 * x),
                ..SramAccesses::default()
            },
            dram: DramTraffic {
                mask_read: Bytes(x),
                ..DramTraffic::default()
            },
            energy: EnergyBreakdown::from_fn(|p| {
                PicoJoules(if p == EnergyPart::Leak { e } else { 0.0 })
            }),
            ..Counters::default()
        }
    }

    #[test]
    fn sums_means_and_maxima_are_field_wise() {
        let xs = [sample(1, 0.5), sample(2, 0.25), sample(4, 1.0)];
        let sum: Counters = xs.iter().sum();
        assert_eq!(sum.macs_needed, Macs(7));
        assert_eq!(sum.sram.psum_reads, Accesses(21));
        assert_eq!(sum.energy[EnergyPart::Leak], PicoJoules(1.75));
        assert_eq!(xs[0] + xs[1] + xs[2], sum);
        let mut acc = Counters::default();
        for x in xs {
            acc += x;
        }
        assert_eq!(acc, sum);
        // Means round counts to the nearest integer (7/3 → 2, 14/3 → 5) and keep energies exact.
        let mean = Counters::mean(xs.iter()).unwrap();
        assert_eq!(mean.macs_needed, Macs(2));
        assert_eq!(mean.macs_executed, Macs(5));
        assert_eq!(mean.dram.mask_read, Bytes(2));
        assert_eq!(mean.energy[EnergyPart::Leak], PicoJoules(1.75 / 3.0));
        let max = Counters::max(xs.iter()).unwrap();
        assert_eq!(max.cycles, Cycles(5));
        assert_eq!(max.energy[EnergyPart::Leak], PicoJoules(1.0));
        assert_eq!(Counters::mean([].iter()), None);
        // Halves round up, and huge counts do not overflow.
        let big = |x| Counters {
            macs_needed: Macs(x),
            ..Counters::default()
        };
        let big = [big(u64::MAX - 1), big(u64::MAX - 2)];
        assert_eq!(
            Counters::mean(big.iter()).unwrap().macs_needed,
            Macs(u64::MAX - 1)
        );
    }
}
