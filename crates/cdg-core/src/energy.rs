//! The parts energy is reported in (docs/model.md §7), declared once: [`EnergyPart`] gives each
//! part's name, its `layers.csv` / `network.csv` column, its legend label and the `[energy]`
//! cost keys it charges. The simulator's breakdown is indexed by it, its total and the part
//! named in errors are derived from it, and the report draws its stacks from it, so a new
//! additive part is one line of `energy_parts!` below (plus its charge in the simulator's
//! `energy`, which the compiler asks for).

use crate::arch::EnergyConfig;

macro_rules! energy_parts {
    (
        $(
            $(#[$doc:meta])*
            $variant:ident {
                name: $name:literal,
                label: $label:literal,
                keys: [$($key:ident),+ $(,)?] $(,)?
            }
        ),+ $(,)?
    ) => {
        /// A part of the energy breakdown, in reporting (and stacking) order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EnergyPart {
            $($(#[$doc])* $variant,)+
        }

        impl EnergyPart {
            /// Every part, in reporting order (`part as usize` is its index here).
            pub const ALL: [EnergyPart; [$(EnergyPart::$variant),+].len()] =
                [$(EnergyPart::$variant),+];

            /// The number of parts.
            pub const COUNT: usize = Self::ALL.len();

            /// The part's name (`sram_ifmap`), as in messages and the counters' field paths.
            pub const fn name(self) -> &'static str {
                match self {
                    $(EnergyPart::$variant => $name,)+
                }
            }

            /// Its column in `layers.csv`, `network.csv` and `sweep.csv` (`energy_sram_ifmap_pj`).
            pub const fn column(self) -> &'static str {
                match self {
                    $(EnergyPart::$variant => concat!("energy_", $name, "_pj"),)+
                }
            }

            /// Its label in plot legends (`SRAM ifmap`).
            pub const fn label(self) -> &'static str {
                match self {
                    $(EnergyPart::$variant => $label,)+
                }
            }

            /// The `[energy]` keys (dotted, `energy.mac`) whose costs this part charges, with
            /// their values in `e`.
            pub fn cost_keys(self, e: &EnergyConfig) -> Vec<(&'static str, f64)> {
                match self {
                    $(EnergyPart::$variant => vec![
                        $((concat!("energy.", stringify!($key)), e.$key),)+
                    ],)+
                }
            }
        }
    };
}

energy_parts! {
    /// MACs at `mac`, plus clock-gated MAC slots at `gated_mac`.
    Mac { name: "mac", label: "MAC", keys: [mac, gated_mac] },
    /// Ifmap buffer: array reads plus fills from DRAM.
    SramIfmap {
        name: "sram_ifmap",
        label: "SRAM ifmap",
        keys: [sram_ifmap_read_per_byte, sram_ifmap_write_per_byte],
    },
    /// Filter buffer: array reads plus fills from DRAM.
    SramFilter {
        name: "sram_filter",
        label: "SRAM filter",
        keys: [sram_filter_read_per_byte, sram_filter_write_per_byte],
    },
    /// Ofmap buffer: output/partial-sum writes, partial-sum reads, write-back reads and spill
    /// refills.
    SramOfmap {
        name: "sram_ofmap",
        label: "SRAM ofmap",
        keys: [sram_ofmap_read_per_byte, sram_ofmap_write_per_byte],
    },
    /// DRAM traffic, every direction.
    Dram { name: "dram", label: "DRAM", keys: [dram_per_byte] },
    /// Gate-unit compares.
    Gate { name: "gate", label: "gate unit", keys: [gate_op] },
    /// Leakage of the PEs and the SRAMs over the layer's cycles.
    Leak { name: "leak", label: "leakage", keys: [leak_per_pe_cycle, leak_per_kib_cycle] },
}

impl EnergyPart {
    /// The part of this name (`sram_ifmap`), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Its position in [`EnergyPart::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for EnergyPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::ArchConfig;

    #[test]
    fn parts_are_indexed_in_order_and_name_their_columns_and_keys() {
        for (i, p) in EnergyPart::ALL.into_iter().enumerate() {
            assert_eq!(p.index(), i);
            assert_eq!(EnergyPart::from_name(p.name()), Some(p));
            assert_eq!(p.column(), format!("energy_{}_pj", p.name()));
        }
        assert_eq!(EnergyPart::from_name("nope"), None);
        assert_eq!(EnergyPart::SramIfmap.column(), "energy_sram_ifmap_pj");
        let arch = ArchConfig::default_with("t");
        let e = &arch.energy;
        assert_eq!(
            EnergyPart::Mac.cost_keys(e),
            vec![("energy.mac", e.mac), ("energy.gated_mac", e.gated_mac)]
        );
        // Every cost key of [energy] is charged by exactly one part.
        let mut keys: Vec<&str> = EnergyPart::ALL
            .into_iter()
            .flat_map(|p| p.cost_keys(e).into_iter().map(|k| k.0))
            .collect();
        let n = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), n);
        assert_eq!(n, 12);
    }
}
