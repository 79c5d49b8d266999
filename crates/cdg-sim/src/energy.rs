//! The energy model (docs/model.md §7): per-action costs from `[energy]`, charged for what a
//! layer's [`Counters`] say it did.

use crate::counters::Counters;
pub use crate::counters::EnergyBreakdown;
use cdg_core::{ArchConfig, EnergyPart, PicoJoules};

/// Charges the actions counted in `c` at the costs of `arch`: MAC slots (full cost, or
/// `gated_mac` when clock-gated), SRAM accesses and fills, DRAM bytes, gate-unit compares, and
/// leakage over `c.cycles`; one arm per [`EnergyPart`].
pub fn energy(arch: &ArchConfig, c: &Counters) -> EnergyBreakdown {
    let e = &arch.energy;
    let wb = arch.memory.word_bytes as f64;
    let bytes = |x: u64| x as f64 * wb;
    let d = &c.dram;
    let sram_ifmap = bytes(c.sram.ifmap_reads.get()) * e.sram_ifmap_read_per_byte
        + d.ifmap_read.as_f64() * e.sram_ifmap_write_per_byte;
    let sram_filter = bytes(c.sram.filter_reads.get()) * e.sram_filter_read_per_byte
        + d.filter_read.as_f64() * e.sram_filter_write_per_byte;
    let sram_ofmap = bytes(c.sram.ofmap_writes.get()) * e.sram_ofmap_write_per_byte
        + bytes(c.sram.psum_reads.get()) * e.sram_ofmap_read_per_byte
        + d.ofmap_write.as_f64() * e.sram_ofmap_read_per_byte
        + d.psum_read.as_f64() * e.sram_ofmap_write_per_byte;
    let pes = (arch.array.rows * arch.array.cols) as f64;
    let leak = c.cycles.as_f64()
        * (pes * e.leak_per_pe_cycle + arch.memory.total_kib() * e.leak_per_kib_cycle);
    let full_macs = c.macs_executed - c.macs_clock_gated;
    EnergyBreakdown::from_fn(|part| {
        PicoJoules(match part {
            EnergyPart::Mac => {
                full_macs.as_f64() * e.mac + c.macs_clock_gated.as_f64() * e.gated_mac
            }
            EnergyPart::SramIfmap => sram_ifmap,
            EnergyPart::SramFilter => sram_filter,
            EnergyPart::SramOfmap => sram_ofmap,
            EnergyPart::Dram => d.total().as_f64() * e.dram_per_byte,
            EnergyPart::Gate => c.gate_ops as f64 * e.gate_op,
            EnergyPart::Leak => leak,
        })
    })
}
