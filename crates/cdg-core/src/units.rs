//! Unit newtypes. Each carries only the arithmetic that makes sense for its quantity: counts
//! add and scale by plain integers; energies add and scale by plain floats. Mixing units (adding
//! cycles to bytes) does not compile.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Mul, Sub};

macro_rules! count_unit {
    ($(#[$doc:meta])* $name:ident, $suffix:literal) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            pub const ZERO: Self = Self(0);

            /// The raw count.
            pub const fn get(self) -> u64 {
                self.0
            }

            /// Adds, or `None` on u64 overflow.
            pub fn checked_add(self, rhs: Self) -> Option<Self> {
                self.0.checked_add(rhs.0).map(Self)
            }

            /// Multiplies by a plain count, or `None` on u64 overflow.
            pub fn checked_mul(self, rhs: u64) -> Option<Self> {
                self.0.checked_mul(rhs).map(Self)
            }

            /// Subtracts, stopping at zero.
            pub fn saturating_sub(self, rhs: Self) -> Self {
                Self(self.0.saturating_sub(rhs.0))
            }

            /// As a float, for ratios and energy products.
            pub fn as_f64(self) -> f64 {
                self.0 as f64
            }
        }

        impl Add for $name {
            type Output = Self;
            fn add(self, rhs: Self) -> Self {
                Self(self.0 + rhs.0)
            }
        }

        impl AddAssign for $name {
            fn add_assign(&mut self, rhs: Self) {
                self.0 += rhs.0;
            }
        }

        impl Sub for $name {
            type Output = Self;
            /// Panics on underflow in debug builds: a negative count is a model bug.
            fn sub(self, rhs: Self) -> Self {
                Self(self.0 - rhs.0)
            }
        }

        impl Mul<u64> for $name {
            type Output = Self;
            fn mul(self, rhs: u64) -> Self {
                Self(self.0 * rhs)
            }
        }

        impl Sum for $name {
            fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
                Self(iter.map(|x| x.0).sum())
            }
        }

        impl<'a> Sum<&'a $name> for $name {
            fn sum<I: Iterator<Item = &'a Self>>(iter: I) -> Self {
                Self(iter.map(|x| x.0).sum())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{} {}", self.0, $suffix)
            }
        }
    };
}

count_unit!(
    /// Clock cycles of the accelerator.
    Cycles,
    "cycles"
);
count_unit!(
    /// Multiply-accumulate operations (or MAC slots of the PE array).
    Macs,
    "MACs"
);
count_unit!(
    /// Bytes of storage or traffic.
    Bytes,
    "B"
);
count_unit!(
    /// Element accesses (reads or writes of one word) of an on-chip buffer.
    Accesses,
    "accesses"
);

/// Energy in picojoules.
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PicoJoules(pub f64);

impl PicoJoules {
    pub const ZERO: Self = Self(0.0);

    pub const fn get(self) -> f64 {
        self.0
    }
}

impl Add for PicoJoules {
    type Output = Self;
    fn add(self, rhs: Self) -> Self {
        Self(self.0 + rhs.0)
    }
}

impl AddAssign for PicoJoules {
    fn add_assign(&mut self, rhs: Self) {
        self.0 += rhs.0;
    }
}

impl Mul<f64> for PicoJoules {
    type Output = Self;
    fn mul(self, rhs: f64) -> Self {
        Self(self.0 * rhs)
    }
}

impl Sum for PicoJoules {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        Self(iter.map(|x| x.0).sum())
    }
}

impl fmt::Display for PicoJoules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} pJ", self.0)
    }
}

/// Time in microseconds (wall time of the modelled accelerator, not of the simulator).
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Microseconds(pub f64);

impl Microseconds {
    /// The latency of `cycles` at `frequency_mhz` (cycles per microsecond).
    pub fn from_cycles(cycles: Cycles, frequency_mhz: f64) -> Self {
        Self(cycles.as_f64() / frequency_mhz)
    }

    pub const fn get(self) -> f64 {
        self.0
    }
}

/// Energy per unit of something (a MAC, a byte, a PE-cycle), in picojoules.
pub type PicoJoulesPer = f64;

/// `1536` → `1.50 KiB` (as cdg's memory messages write sizes).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_and_sum() {
        let xs = [Cycles(3), Cycles(4)];
        assert_eq!(xs.iter().sum::<Cycles>(), Cycles(7));
        assert_eq!(Cycles(3) * 4, Cycles(12));
        assert_eq!(Cycles(3).checked_add(Cycles(u64::MAX)), None);
        assert_eq!(Bytes(2).saturating_sub(Bytes(5)), Bytes(0));
    }

    #[test]
    fn latency_from_cycles() {
        assert_eq!(Microseconds::from_cycles(Cycles(2000), 1000.0).get(), 2.0);
    }
}
