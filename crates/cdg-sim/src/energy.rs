//! The energy model (DESIGN §4): per-action costs from `[energy]`, charged for the actions a
//! layer actually performs.

use crate::memory::{DramTraffic, SramAccesses};
use cdg_core::{ArchConfig, Cycles, Macs, PicoJoules};
use std::ops::AddAssign;

/// Energy by where it is spent; [`EnergyBreakdown::total`] is their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EnergyBreakdown {
    /// MACs at `mac`, plus clock-gated MAC slots at `gated_mac`.
    pub mac: PicoJoules,
    /// Ifmap buffer: array reads plus fills from DRAM.
    pub sram_ifmap: PicoJoules,
    /// Filter buffer: array reads plus fills from DRAM.
    pub sram_filter: PicoJoules,
    /// Ofmap buffer: output/partial-sum writes, partial-sum reads, write-back reads and
    /// spill refills.
    pub sram_ofmap: PicoJoules,
    pub dram: PicoJoules,
    /// Gate-unit compares.
    pub gate: PicoJoules,
    /// Leakage of the PEs and the SRAMs over the layer's cycles.
    pub leak: PicoJoules,
}

impl EnergyBreakdown {
    pub fn total(&self) -> PicoJoules {
        self.mac
            + self.sram_ifmap
            + self.sram_filter
            + self.sram_ofmap
            + self.dram
            + self.gate
            + self.leak
    }
}

impl AddAssign for EnergyBreakdown {
    fn add_assign(&mut self, o: Self) {
        self.mac += o.mac;
        self.sram_ifmap += o.sram_ifmap;
        self.sram_filter += o.sram_filter;
        self.sram_ofmap += o.sram_ofmap;
        self.dram += o.dram;
        self.gate += o.gate;
        self.leak += o.leak;
    }
}

/// The actions of a layer that cost energy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Actions {
    /// MACs performed at full cost.
    pub macs: Macs,
    /// MAC slots that were clock-gated (cost `gated_mac` each).
    pub gated_slots: Macs,
    /// Gate-unit compares.
    pub gate_ops: u64,
    /// Extra DRAM bytes outside the operand traffic (e.g. masks with `mask_in_dram`).
    pub extra_dram_bytes: u64,
    pub sram: SramAccesses,
    pub dram: DramTraffic,
    /// Cycles the layer occupies the accelerator (leakage time).
    pub cycles: Cycles,
}

/// Charges `actions` at the costs of `arch`.
pub fn energy(arch: &ArchConfig, a: &Actions) -> EnergyBreakdown {
    let e = &arch.energy;
    let wb = arch.memory.word_bytes as f64;
    let bytes = |x: u64| x as f64 * wb;
    let d = &a.dram;
    let sram_ifmap = bytes(a.sram.ifmap_reads.get()) * e.sram_ifmap_read_per_byte
        + d.ifmap_read.as_f64() * e.sram_ifmap_write_per_byte;
    let sram_filter = bytes(a.sram.filter_reads.get()) * e.sram_filter_read_per_byte
        + d.filter_read.as_f64() * e.sram_filter_write_per_byte;
    let sram_ofmap = bytes(a.sram.ofmap_writes.get()) * e.sram_ofmap_write_per_byte
        + bytes(a.sram.psum_reads.get()) * e.sram_ofmap_read_per_byte
        + d.ofmap_write.as_f64() * e.sram_ofmap_read_per_byte
        + d.psum_read.as_f64() * e.sram_ofmap_write_per_byte;
    let dram = (d.total().as_f64() + a.extra_dram_bytes as f64) * e.dram_per_byte;
    let pes = (arch.array.rows * arch.array.cols) as f64;
    let leak = a.cycles.as_f64()
        * (pes * e.leak_per_pe_cycle + arch.memory.total_kib() * e.leak_per_kib_cycle);
    EnergyBreakdown {
        mac: PicoJoules(a.macs.as_f64() * e.mac + a.gated_slots.as_f64() * e.gated_mac),
        sram_ifmap: PicoJoules(sram_ifmap),
        sram_filter: PicoJoules(sram_filter),
        sram_ofmap: PicoJoules(sram_ofmap),
        dram: PicoJoules(dram),
        gate: PicoJoules(a.gate_ops as f64 * e.gate_op),
        leak: PicoJoules(leak),
    }
}
