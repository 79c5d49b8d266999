//! Accelerator configuration: the permissive serde form ([`RawArchConfig`], every key optional,
//! unknown keys refused) and the validated form ([`ArchConfig`]) the models consume. The TOML
//! key names are fixed (docs/formats.md §2); `TryFrom<RawArchConfig>` fills documented
//! defaults and names the dotted key of any bad value.

use crate::error::{CoreError, Result};
use crate::units::PicoJoulesPer;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The current schema version of arch-config files.
pub const ARCH_SCHEMA: u32 = 1;

/// Which operand stays in the PEs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dataflow {
    /// Outputs stay: rows map M, columns map N, K streams.
    #[serde(rename = "os")]
    OutputStationary,
    /// Weights stay: rows map K, columns map N, M streams.
    #[serde(rename = "ws")]
    WeightStationary,
    /// Inputs stay: rows map K, columns map M, N streams.
    #[serde(rename = "is")]
    InputStationary,
}

impl Dataflow {
    pub const ALL: [Dataflow; 3] = [
        Dataflow::OutputStationary,
        Dataflow::WeightStationary,
        Dataflow::InputStationary,
    ];

    /// The config spelling: `os`, `ws` or `is`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Dataflow::OutputStationary => "os",
            Dataflow::WeightStationary => "ws",
            Dataflow::InputStationary => "is",
        }
    }
}

impl fmt::Display for Dataflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Dataflow {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "os" => Ok(Self::OutputStationary),
            "ws" => Ok(Self::WeightStationary),
            "is" => Ok(Self::InputStationary),
            _ => Err(format!(
                "unknown dataflow `{s}`; expected one of os, ws, is"
            )),
        }
    }
}

/// `a, b, c` with `last` before the final name (`" or "`: `a, b or c`), each name quoted
/// (`"a"`) when `quote`: the lists of choices in messages, derived from an enum's `ALL`.
pub fn name_list<'a>(names: impl IntoIterator<Item = &'a str>, quote: bool, last: &str) -> String {
    let names: Vec<String> = names
        .into_iter()
        .map(|n| {
            if quote {
                format!("{n:?}")
            } else {
                n.to_owned()
            }
        })
        .collect();
    match names.split_last() {
        None => String::new(),
        Some((only, [])) => only.clone(),
        Some((final_name, rest)) => format!("{}{last}{final_name}", rest.join(", ")),
    }
}

macro_rules! skip_policies {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)+) => {
        /// How the array treats gated-off work. A new policy is one line here (its name is its
        /// config value, CLI name and column value; it joins [`SkipPolicy::ALL`], every error
        /// listing the policies and `--policies all`) plus its unit in `cdg-sim`'s `policy/`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum SkipPolicy {
            $($(#[$doc])* #[serde(rename = $name)] $variant,)+
        }

        impl SkipPolicy {
            /// Every policy, in declaration order.
            pub const ALL: [SkipPolicy; [$(SkipPolicy::$variant),+].len()] =
                [$(SkipPolicy::$variant),+];

            pub fn as_str(&self) -> &'static str {
                match self {
                    $(SkipPolicy::$variant => $name,)+
                }
            }
        }
    };
}

skip_policies! {
    /// Masks ignored: both passes run in full.
    Dense = "dense",
    /// Cycles as dense; gated MAC slots cost `gated_mac` energy.
    ClockGate = "clock-gate",
    /// Folds whose outputs are all gated off are skipped.
    TileSkip = "tile-skip",
    /// Active outputs are gathered into dense folds.
    Compact = "compact",
}

impl SkipPolicy {
    /// The policy names for messages: `dense, clock-gate, tile-skip, compact` (`last` before
    /// the final one; `quote` quotes each).
    pub fn names(quote: bool, last: &str) -> String {
        name_list(Self::ALL.iter().map(|p| p.as_str()), quote, last)
    }
}

impl fmt::Display for SkipPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SkipPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown support `{s}`; expected one of {}",
                    Self::names(false, ", ")
                )
            })
    }
}

/// What the mapper minimises when it chooses a layer's schedule (`mapping.objective`,
/// docs/model.md §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MappingObjective {
    /// Cycles (ties: energy, then the mapping's name).
    Latency,
    /// Energy (ties: cycles, then the mapping's name).
    Energy,
    /// Energy × cycles (ties: cycles, then the mapping's name).
    Edp,
}

impl MappingObjective {
    pub const ALL: [MappingObjective; 3] = [
        MappingObjective::Latency,
        MappingObjective::Energy,
        MappingObjective::Edp,
    ];

    /// The config spelling: `latency`, `energy` or `edp`.
    pub fn as_str(&self) -> &'static str {
        match self {
            MappingObjective::Latency => "latency",
            MappingObjective::Energy => "energy",
            MappingObjective::Edp => "edp",
        }
    }
}

impl fmt::Display for MappingObjective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MappingObjective {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "latency" => Ok(Self::Latency),
            "energy" => Ok(Self::Energy),
            "edp" => Ok(Self::Edp),
            _ => Err(format!(
                "unknown objective `{s}`; expected one of latency, energy, edp"
            )),
        }
    }
}

/// How the mapper chooses each layer's schedule (docs/model.md §8).
#[derive(Debug, Clone, PartialEq)]
pub struct MappingConfig {
    /// What the chosen schedule minimises; `edp` by default.
    pub objective: MappingObjective,
}

/// DRAM bandwidth shared by reads and writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DramBandwidth {
    Unlimited,
    BytesPerCycle(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ArrayConfig {
    pub rows: u64,
    pub cols: u64,
    pub dataflow: Dataflow,
    pub overlap_folds: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MemoryConfig {
    pub word_bytes: u64,
    pub ifmap_sram_kib: f64,
    pub filter_sram_kib: f64,
    pub ofmap_sram_kib: f64,
    pub dram_bandwidth: DramBandwidth,
}

impl MemoryConfig {
    /// Total on-chip SRAM in KiB.
    pub fn total_kib(&self) -> f64 {
        self.ifmap_sram_kib + self.filter_sram_kib + self.ofmap_sram_kib
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SparsityConfig {
    pub support: SkipPolicy,
    /// Gather indices the `compact` gather unit examines per cycle (`gather_rows_per_cycle`,
    /// docs/model.md §5); `None` is an ideal gather that costs no cycles (the model's checks
    /// against the stepped engine; a config file always gives a number).
    pub gather_rows_per_cycle: Option<u64>,
    pub mask_in_dram: bool,
}

/// Per-action energies in pJ.
#[derive(Debug, Clone, PartialEq)]
pub struct EnergyConfig {
    pub mac: PicoJoulesPer,
    pub gated_mac: PicoJoulesPer,
    pub dram_per_byte: PicoJoulesPer,
    pub gate_op: PicoJoulesPer,
    pub sram_ifmap_read_per_byte: PicoJoulesPer,
    pub sram_ifmap_write_per_byte: PicoJoulesPer,
    pub sram_filter_read_per_byte: PicoJoulesPer,
    pub sram_filter_write_per_byte: PicoJoulesPer,
    pub sram_ofmap_read_per_byte: PicoJoulesPer,
    pub sram_ofmap_write_per_byte: PicoJoulesPer,
    pub leak_per_pe_cycle: PicoJoulesPer,
    pub leak_per_kib_cycle: PicoJoulesPer,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClockConfig {
    pub frequency_mhz: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AreaConfig {
    pub pe_mm2: f64,
    pub sram_mm2_per_kib: f64,
    /// The sparsity hardware, from synthesis (`rtl/synth/synth.sh`, docs/model.md §7): the gate
    /// compare unit (every design), the per-PE enable logic (clock-gate, tile-skip, compact) and
    /// the compact gather unit, `gather_base_mm2 + gather_mm2_per_row · gather_rows_per_cycle`.
    pub gate_unit_mm2: f64,
    pub pe_enable_mm2: f64,
    pub gather_base_mm2: f64,
    pub gather_mm2_per_row: f64,
}

/// How the workload runs on the design (docs/formats.md §2, docs/model.md §1).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadConfig {
    /// Samples per batch B: each layer runs once for B samples (M = B·H_out·W_out, weights
    /// fetched once per batch). 1 by default.
    pub batch: u64,
}

/// Largest batch accepted.
pub const MAX_BATCH: u64 = 1 << 10;

/// A validated accelerator design.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchConfig {
    pub name: String,
    pub array: ArrayConfig,
    pub memory: MemoryConfig,
    pub sparsity: SparsityConfig,
    pub energy: EnergyConfig,
    pub clock: ClockConfig,
    pub area: AreaConfig,
    pub workload: WorkloadConfig,
    pub mapping: MappingConfig,
}

/// Documented defaults (docs/formats.md §2, docs/model.md §7).
pub mod defaults {
    pub const ROWS: u64 = 16;
    pub const COLS: u64 = 16;
    pub const WORD_BYTES: u64 = 1;
    pub const SRAM_KIB: f64 = 64.0;
    pub const DRAM_BYTES_PER_CYCLE: f64 = 16.0;
    /// Gather indices the `compact` gather unit examines per cycle: a whole 16-row pack per
    /// cycle on the shipped 16×16 design (docs/model.md §5; its cost from synthesis: rtl/).
    pub const GATHER_ROWS_PER_CYCLE: u64 = 16;
    /// int8 MAC incl. PE registers, Horowitz ISSCC 2014 (45 nm): 0.2 pJ multiply + 0.03 pJ add.
    pub const MAC_PJ: f64 = 0.23;
    /// A clock-gated MAC slot: the register clocking that remains, ~10 % of a MAC.
    pub const GATED_MAC_PJ: f64 = 0.02;
    /// LPDDR4 at 8 pJ/bit, as in Accelergy's Eyeriss tables.
    pub const DRAM_PJ_PER_BYTE: f64 = 64.0;
    /// One comparator per gate (8-bit compare ~ an 8-bit add, Horowitz: 0.03 pJ).
    pub const GATE_OP_PJ: f64 = 0.03;
    /// Leakage power of one int8 PE in µW (docs/model.md §7): from Aladdin's TSMC 40 nm
    /// characterisation at 1 GHz (Shao et al., ISCA 2014, `power_func.h`: 32-bit multiplier
    /// 23.933 µW, 32-bit adder 1.5927 µW, register 0.053278 µW per bit): an 8×8 multiplier
    /// (23.933·(8/32)² = 1.4958), a 24-bit accumulator (1.5927·24/32 = 1.1945) and 40 bits of
    /// operand and partial-sum registers (40·0.053278 = 2.1311), 4.8214 µW, used for 45 nm.
    pub const LEAK_PE_UW: f64 = 4.8214;
    /// Leakage power of one KiB of SRAM in µW (docs/model.md §7): Aladdin's 40 nm register
    /// leakage per bit (0.053278 µW, a 4.3092 µm² flip-flop) scaled by area to a 0.242 µm² 6T
    /// cell (TSMC 40 nm), 0.0029921 µW per bit, × 8192 bits. An estimate, not a measurement.
    pub const LEAK_SRAM_UW_PER_KIB: f64 = 24.511;
    pub const FREQUENCY_MHZ: f64 = 1000.0;

    /// Leakage energy per cycle in pJ of a leakage power of `uw` µW at `frequency_mhz` MHz
    /// (1 µW / 1 MHz = 1 pJ per cycle): the per-cycle defaults follow the clock.
    pub fn leak_pj_per_cycle(uw: f64, frequency_mhz: f64) -> f64 {
        uw / frequency_mhz
    }
    pub const PE_MM2: f64 = 0.0015;
    pub const SRAM_MM2_PER_KIB: f64 = 0.012;
    /// Synthesized sparsity hardware (`rtl/synth/synth.sh 16 16`: Yosys 0.23 generic gates
    /// weighted by the NanGate FreePDK45 Open Cell Library's X1 cell areas, NAND2_X1 =
    /// 0.798 µm²; docs/model.md §7): the gate compare unit, 637.1 µm².
    pub const GATE_UNIT_MM2: f64 = 637.1e-6;
    /// The per-PE enable logic: 4.0 µm² per PE.
    pub const PE_ENABLE_MM2: f64 = 4.0e-6;
    /// The OS gather unit at 1 and 16 indices per cycle (1095.9 and 3858.6 µm²), as a line:
    /// 911.7 µm² + 184.2 µm² per index per cycle.
    pub const GATHER_BASE_MM2: f64 = 911.7e-6;
    pub const GATHER_MM2_PER_ROW: f64 = 184.2e-6;

    /// SRAM access energy per byte for a buffer of `kib` KiB: a 64-bit read costs
    /// 10·√(KiB/8) pJ (Horowitz: 10 pJ at 8 KB, 20 pJ at 32 KB, ~100 pJ at 1 MB).
    pub fn sram_pj_per_byte(kib: f64) -> f64 {
        10.0 * (kib / 8.0).sqrt() / 8.0
    }
}

/// DRAM bandwidth as written in TOML: a number of bytes per cycle or `"unlimited"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawBandwidth {
    BytesPerCycle(f64),
    Text(String),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArray {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cols: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataflow: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlap_folds: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMemory {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub word_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ifmap_sram_kib: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_sram_kib: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ofmap_sram_kib: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dram_bytes_per_cycle: Option<RawBandwidth>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSparsity {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gather_rows_per_cycle: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mask_in_dram: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnergy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gated_mac: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dram_per_byte: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate_op: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sram_ifmap_read_per_byte: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sram_ifmap_write_per_byte: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sram_filter_read_per_byte: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sram_filter_write_per_byte: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sram_ofmap_read_per_byte: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sram_ofmap_write_per_byte: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leak_per_pe_cycle: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leak_per_kib_cycle: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClock {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_mhz: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArea {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pe_mm2: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sram_mm2_per_kib: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate_unit_mm2: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pe_enable_mm2: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gather_base_mm2: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gather_mm2_per_row: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMapping {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objective: Option<String>,
}

impl RawWorkload {
    fn is_empty(&self) -> bool {
        self.batch.is_none()
    }
}

/// The arch-config file as written: every key optional, unknown keys refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArchConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub array: RawArray,
    #[serde(default)]
    pub memory: RawMemory,
    #[serde(default)]
    pub sparsity: RawSparsity,
    #[serde(default)]
    pub energy: RawEnergy,
    #[serde(default)]
    pub clock: RawClock,
    #[serde(default)]
    pub area: RawArea,
    #[serde(default, skip_serializing_if = "RawWorkload::is_empty")]
    pub workload: RawWorkload,
    #[serde(default)]
    pub mapping: RawMapping,
}

/// Largest array side accepted; larger is certainly a typo.
pub const MAX_ARRAY_SIDE: u64 = 1 << 16;
/// The clock range `clock.frequency_mhz` accepts, in MHz (1 kHz to 1 THz).
pub const MIN_FREQUENCY_MHZ: f64 = 1e-3;
pub const MAX_FREQUENCY_MHZ: f64 = 1e6;

fn positive_count(key: &str, v: Option<u64>, default: u64, max: u64) -> Result<u64> {
    let v = v.unwrap_or(default);
    if v == 0 {
        return Err(CoreError::config(key, "must be at least 1, found 0"));
    }
    if v > max {
        return Err(CoreError::config(
            key,
            format!("is absurdly large ({v}); expected at most {max}"),
        ));
    }
    Ok(v)
}

fn finite(key: &str, v: Option<f64>, default: f64, positive: bool) -> Result<f64> {
    let v = v.unwrap_or(default);
    if !v.is_finite() {
        return Err(CoreError::config(
            key,
            format!("must be a finite number, found {v}"),
        ));
    }
    if positive && v <= 0.0 {
        return Err(CoreError::config(
            key,
            format!("must be greater than 0, found {v}"),
        ));
    }
    if !positive && v < 0.0 {
        return Err(CoreError::config(
            key,
            format!("must not be negative, found {v}"),
        ));
    }
    Ok(v)
}

impl TryFrom<RawArchConfig> for ArchConfig {
    type Error = CoreError;

    fn try_from(raw: RawArchConfig) -> Result<Self> {
        use defaults as d;
        match raw.schema {
            Some(ARCH_SCHEMA) => {}
            None => {
                return Err(CoreError::config(
                    "schema",
                    format!("is missing; expected `schema = {ARCH_SCHEMA}`"),
                ));
            }
            Some(v) => {
                return Err(CoreError::config(
                    "schema",
                    format!("unsupported version {v}; this cdg reads schema {ARCH_SCHEMA}"),
                ));
            }
        }
        let name = raw.name.unwrap_or_else(|| "unnamed".to_owned());
        if name.trim().is_empty() {
            return Err(CoreError::config("name", "must not be empty"));
        }
        let dataflow = match raw.array.dataflow.as_deref() {
            None => Dataflow::OutputStationary,
            Some(s) => s
                .parse()
                .map_err(|e| CoreError::config("array.dataflow", e))?,
        };
        let array = ArrayConfig {
            rows: positive_count("array.rows", raw.array.rows, d::ROWS, MAX_ARRAY_SIDE)?,
            cols: positive_count("array.cols", raw.array.cols, d::COLS, MAX_ARRAY_SIDE)?,
            dataflow,
            overlap_folds: raw.array.overlap_folds.unwrap_or(false),
        };
        let dram_bandwidth = match raw.memory.dram_bytes_per_cycle {
            None => DramBandwidth::BytesPerCycle(d::DRAM_BYTES_PER_CYCLE),
            Some(RawBandwidth::Text(s)) if s == "unlimited" => DramBandwidth::Unlimited,
            Some(RawBandwidth::Text(s)) => {
                return Err(CoreError::config(
                    "memory.dram_bytes_per_cycle",
                    format!("expected a number of bytes per cycle or \"unlimited\", found \"{s}\""),
                ));
            }
            Some(RawBandwidth::BytesPerCycle(v)) => DramBandwidth::BytesPerCycle(finite(
                "memory.dram_bytes_per_cycle",
                Some(v),
                0.0,
                true,
            )?),
        };
        let word_bytes = positive_count(
            "memory.word_bytes",
            raw.memory.word_bytes,
            d::WORD_BYTES,
            64,
        )?;
        let kib = |key: &str, v: Option<f64>| -> Result<f64> {
            let v = finite(key, v, d::SRAM_KIB, true)?;
            if v * 1024.0 < word_bytes as f64 {
                return Err(CoreError::config(
                    key,
                    format!("is too small ({v:e} KiB holds less than one {word_bytes}-byte word)"),
                ));
            }
            if v > (1u64 << 30) as f64 {
                return Err(CoreError::config(
                    key,
                    format!("is absurdly large ({v} KiB)"),
                ));
            }
            Ok(v)
        };
        let memory = MemoryConfig {
            word_bytes,
            ifmap_sram_kib: kib("memory.ifmap_sram_kib", raw.memory.ifmap_sram_kib)?,
            filter_sram_kib: kib("memory.filter_sram_kib", raw.memory.filter_sram_kib)?,
            ofmap_sram_kib: kib("memory.ofmap_sram_kib", raw.memory.ofmap_sram_kib)?,
            dram_bandwidth,
        };
        let support = match raw.sparsity.support.as_deref() {
            None => SkipPolicy::Dense,
            Some(s) => s
                .parse()
                .map_err(|e| CoreError::config("sparsity.support", e))?,
        };
        let gather = raw
            .sparsity
            .gather_rows_per_cycle
            .unwrap_or(d::GATHER_ROWS_PER_CYCLE);
        if gather == 0 || gather > 1 << 20 {
            return Err(CoreError::config(
                "sparsity.gather_rows_per_cycle",
                format!("must be 1 to {} indices per cycle, found {gather}", 1 << 20),
            ));
        }
        let sparsity = SparsityConfig {
            support,
            gather_rows_per_cycle: Some(gather),
            mask_in_dram: raw.sparsity.mask_in_dram.unwrap_or(false),
        };
        let frequency_mhz = finite(
            "clock.frequency_mhz",
            raw.clock.frequency_mhz,
            d::FREQUENCY_MHZ,
            true,
        )?;
        // Outside this range the derived figures (leakage per cycle, images per second)
        // overflow or vanish; no clock of a CNN accelerator is near either end.
        if !(MIN_FREQUENCY_MHZ..=MAX_FREQUENCY_MHZ).contains(&frequency_mhz) {
            return Err(CoreError::config(
                "clock.frequency_mhz",
                format!(
                    "must be between {MIN_FREQUENCY_MHZ} and {MAX_FREQUENCY_MHZ} MHz (1 kHz to 1 \
                     THz), found {frequency_mhz:e}"
                ),
            ));
        }
        let clock = ClockConfig { frequency_mhz };
        let e = &raw.energy;
        let sram =
            |key: &str, v: Option<f64>, size: f64| finite(key, v, d::sram_pj_per_byte(size), false);
        let energy = EnergyConfig {
            mac: finite("energy.mac", e.mac, d::MAC_PJ, false)?,
            gated_mac: finite("energy.gated_mac", e.gated_mac, d::GATED_MAC_PJ, false)?,
            dram_per_byte: finite(
                "energy.dram_per_byte",
                e.dram_per_byte,
                d::DRAM_PJ_PER_BYTE,
                false,
            )?,
            gate_op: finite("energy.gate_op", e.gate_op, d::GATE_OP_PJ, false)?,
            sram_ifmap_read_per_byte: sram(
                "energy.sram_ifmap_read_per_byte",
                e.sram_ifmap_read_per_byte,
                memory.ifmap_sram_kib,
            )?,
            sram_ifmap_write_per_byte: sram(
                "energy.sram_ifmap_write_per_byte",
                e.sram_ifmap_write_per_byte,
                memory.ifmap_sram_kib,
            )?,
            sram_filter_read_per_byte: sram(
                "energy.sram_filter_read_per_byte",
                e.sram_filter_read_per_byte,
                memory.filter_sram_kib,
            )?,
            sram_filter_write_per_byte: sram(
                "energy.sram_filter_write_per_byte",
                e.sram_filter_write_per_byte,
                memory.filter_sram_kib,
            )?,
            sram_ofmap_read_per_byte: sram(
                "energy.sram_ofmap_read_per_byte",
                e.sram_ofmap_read_per_byte,
                memory.ofmap_sram_kib,
            )?,
            sram_ofmap_write_per_byte: sram(
                "energy.sram_ofmap_write_per_byte",
                e.sram_ofmap_write_per_byte,
                memory.ofmap_sram_kib,
            )?,
            leak_per_pe_cycle: finite(
                "energy.leak_per_pe_cycle",
                e.leak_per_pe_cycle,
                d::leak_pj_per_cycle(d::LEAK_PE_UW, clock.frequency_mhz),
                false,
            )?,
            leak_per_kib_cycle: finite(
                "energy.leak_per_kib_cycle",
                e.leak_per_kib_cycle,
                d::leak_pj_per_cycle(d::LEAK_SRAM_UW_PER_KIB, clock.frequency_mhz),
                false,
            )?,
        };
        let area = AreaConfig {
            pe_mm2: finite("area.pe_mm2", raw.area.pe_mm2, d::PE_MM2, false)?,
            sram_mm2_per_kib: finite(
                "area.sram_mm2_per_kib",
                raw.area.sram_mm2_per_kib,
                d::SRAM_MM2_PER_KIB,
                false,
            )?,
            gate_unit_mm2: finite(
                "area.gate_unit_mm2",
                raw.area.gate_unit_mm2,
                d::GATE_UNIT_MM2,
                false,
            )?,
            pe_enable_mm2: finite(
                "area.pe_enable_mm2",
                raw.area.pe_enable_mm2,
                d::PE_ENABLE_MM2,
                false,
            )?,
            gather_base_mm2: finite(
                "area.gather_base_mm2",
                raw.area.gather_base_mm2,
                d::GATHER_BASE_MM2,
                false,
            )?,
            gather_mm2_per_row: finite(
                "area.gather_mm2_per_row",
                raw.area.gather_mm2_per_row,
                d::GATHER_MM2_PER_ROW,
                false,
            )?,
        };
        let workload = WorkloadConfig {
            batch: positive_count("workload.batch", raw.workload.batch, 1, MAX_BATCH)?,
        };
        let mapping = MappingConfig {
            objective: match raw.mapping.objective.as_deref() {
                None => MappingObjective::Edp,
                Some(s) => s
                    .parse()
                    .map_err(|e: String| CoreError::config("mapping.objective", e))?,
            },
        };
        Ok(ArchConfig {
            name,
            array,
            memory,
            sparsity,
            energy,
            clock,
            area,
            workload,
            mapping,
        })
    }
}

impl ArchConfig {
    /// The fully resolved raw form (every key present), for writing beside outputs.
    pub fn to_raw(&self) -> RawArchConfig {
        let e = &self.energy;
        RawArchConfig {
            schema: Some(ARCH_SCHEMA),
            name: Some(self.name.clone()),
            array: RawArray {
                rows: Some(self.array.rows),
                cols: Some(self.array.cols),
                dataflow: Some(self.array.dataflow.as_str().to_owned()),
                overlap_folds: Some(self.array.overlap_folds),
            },
            memory: RawMemory {
                word_bytes: Some(self.memory.word_bytes),
                ifmap_sram_kib: Some(self.memory.ifmap_sram_kib),
                filter_sram_kib: Some(self.memory.filter_sram_kib),
                ofmap_sram_kib: Some(self.memory.ofmap_sram_kib),
                dram_bytes_per_cycle: Some(match self.memory.dram_bandwidth {
                    DramBandwidth::Unlimited => RawBandwidth::Text("unlimited".into()),
                    DramBandwidth::BytesPerCycle(b) => RawBandwidth::BytesPerCycle(b),
                }),
            },
            sparsity: RawSparsity {
                support: Some(self.sparsity.support.as_str().to_owned()),
                gather_rows_per_cycle: self.sparsity.gather_rows_per_cycle,
                mask_in_dram: Some(self.sparsity.mask_in_dram),
            },
            energy: RawEnergy {
                mac: Some(e.mac),
                gated_mac: Some(e.gated_mac),
                dram_per_byte: Some(e.dram_per_byte),
                gate_op: Some(e.gate_op),
                sram_ifmap_read_per_byte: Some(e.sram_ifmap_read_per_byte),
                sram_ifmap_write_per_byte: Some(e.sram_ifmap_write_per_byte),
                sram_filter_read_per_byte: Some(e.sram_filter_read_per_byte),
                sram_filter_write_per_byte: Some(e.sram_filter_write_per_byte),
                sram_ofmap_read_per_byte: Some(e.sram_ofmap_read_per_byte),
                sram_ofmap_write_per_byte: Some(e.sram_ofmap_write_per_byte),
                leak_per_pe_cycle: Some(e.leak_per_pe_cycle),
                leak_per_kib_cycle: Some(e.leak_per_kib_cycle),
            },
            clock: RawClock {
                frequency_mhz: Some(self.clock.frequency_mhz),
            },
            area: RawArea {
                pe_mm2: Some(self.area.pe_mm2),
                sram_mm2_per_kib: Some(self.area.sram_mm2_per_kib),
                gate_unit_mm2: Some(self.area.gate_unit_mm2),
                pe_enable_mm2: Some(self.area.pe_enable_mm2),
                gather_base_mm2: Some(self.area.gather_base_mm2),
                gather_mm2_per_row: Some(self.area.gather_mm2_per_row),
            },
            // Batch 1 (the default) is left out, so single-sample configs read as before.
            workload: RawWorkload {
                batch: (self.workload.batch != 1).then_some(self.workload.batch),
            },
            mapping: RawMapping {
                objective: Some(self.mapping.objective.as_str().to_owned()),
            },
        }
    }

    /// Silicon area: rows·cols·pe_mm2 + total SRAM KiB·sram_mm2_per_kib + the sparsity
    /// hardware of the design's skip policy: the gate unit always, the per-PE enable logic
    /// unless `dense`, the gather unit under `compact` (docs/model.md §7).
    pub fn area_mm2(&self) -> f64 {
        let pes = (self.array.rows * self.array.cols) as f64;
        let a = &self.area;
        let enable = match self.sparsity.support {
            SkipPolicy::Dense => 0.0,
            SkipPolicy::ClockGate | SkipPolicy::TileSkip | SkipPolicy::Compact => {
                pes * a.pe_enable_mm2
            }
        };
        let gather = match self.sparsity.support {
            SkipPolicy::Compact => {
                let p = self.sparsity.gather_rows_per_cycle.unwrap_or(0) as f64;
                a.gather_base_mm2 + p * a.gather_mm2_per_row
            }
            SkipPolicy::Dense | SkipPolicy::ClockGate | SkipPolicy::TileSkip => 0.0,
        };
        pes * a.pe_mm2
            + self.memory.total_kib() * a.sram_mm2_per_kib
            + a.gate_unit_mm2
            + enable
            + gather
    }

    /// The defaults with `schema = 1`; a starting point for tests and programmatic sweeps.
    pub fn default_with(name: &str) -> Self {
        RawArchConfig {
            schema: Some(ARCH_SCHEMA),
            name: Some(name.to_owned()),
            ..Default::default()
        }
        .try_into()
        .expect("defaults are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_lists_in_messages_come_from_the_enum() {
        assert_eq!(
            name_list(["a", "b", "c"], true, " or "),
            "\"a\", \"b\" or \"c\""
        );
        assert_eq!(name_list(["a"], false, " or "), "a");
        assert_eq!(name_list([], false, " or "), "");
        let e = "nope".parse::<SkipPolicy>().unwrap_err();
        assert_eq!(
            e,
            "unknown support `nope`; expected one of dense, clock-gate, tile-skip, compact"
        );
        for p in SkipPolicy::ALL {
            assert!(e.contains(p.as_str()), "{e}");
            assert_eq!(p.as_str().parse::<SkipPolicy>(), Ok(p));
            // The config spelling is the serde spelling.
            let v: SkipPolicy =
                serde_json::from_value(serde_json::Value::String(p.as_str().into())).unwrap();
            assert_eq!(v, p);
        }
    }

    #[test]
    fn defaults_resolve_and_roundtrip() {
        let a = ArchConfig::default_with("x");
        assert_eq!(a.array.rows, 16);
        // 64 KiB: 10*sqrt(8)/8 pJ per byte.
        assert!((a.energy.sram_ifmap_read_per_byte - 10.0 * 8f64.sqrt() / 8.0).abs() < 1e-12);
        let back: ArchConfig = a.to_raw().try_into().unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn leakage_defaults_are_power_converted_at_the_clock() {
        // 4.8214 µW per PE and 24.511 µW per KiB (docs/model.md §7): at 1 GHz, pJ per cycle =
        // µW / 1000; at 500 MHz twice that, so leakage power stays the same.
        let a = ArchConfig::default_with("x");
        assert!((a.energy.leak_per_pe_cycle - 0.0048214).abs() < 1e-15);
        assert!((a.energy.leak_per_kib_cycle - 0.024511).abs() < 1e-15);
        let mut raw = a.to_raw();
        raw.clock.frequency_mhz = Some(500.0);
        raw.energy.leak_per_pe_cycle = None;
        raw.energy.leak_per_kib_cycle = None;
        let slow = ArchConfig::try_from(raw).unwrap();
        assert!((slow.energy.leak_per_pe_cycle - 2.0 * 0.0048214).abs() < 1e-15);
        assert!((slow.energy.leak_per_kib_cycle - 2.0 * 0.024511).abs() < 1e-15);
        // A configured value wins over the default.
        let mut raw = a.to_raw();
        raw.energy.leak_per_pe_cycle = Some(0.0);
        assert_eq!(
            ArchConfig::try_from(raw).unwrap().energy.leak_per_pe_cycle,
            0.0
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let mut raw = ArchConfig::default_with("x").to_raw();
        raw.array.dataflow = Some("xs".into());
        let e = ArchConfig::try_from(raw).unwrap_err().to_string();
        assert!(
            e.contains("array.dataflow") && e.contains("os, ws, is"),
            "{e}"
        );
        let mut raw = ArchConfig::default_with("x").to_raw();
        raw.array.rows = Some(0);
        let e = ArchConfig::try_from(raw).unwrap_err().to_string();
        assert!(e.contains("array.rows"), "{e}");
        let mut raw = ArchConfig::default_with("x").to_raw();
        raw.memory.dram_bytes_per_cycle = Some(RawBandwidth::Text("lots".into()));
        let e = ArchConfig::try_from(raw).unwrap_err().to_string();
        assert!(e.contains("memory.dram_bytes_per_cycle"), "{e}");
        let raw = RawArchConfig::default();
        let e = ArchConfig::try_from(raw).unwrap_err().to_string();
        assert!(e.contains("schema"), "{e}");
        let mut raw = ArchConfig::default_with("x").to_raw();
        raw.mapping.objective = Some("speed".into());
        let e = ArchConfig::try_from(raw).unwrap_err().to_string();
        assert!(
            e.contains("mapping.objective") && e.contains("latency, energy, edp"),
            "{e}"
        );
    }

    #[test]
    fn mapping_objective_defaults_to_edp_and_roundtrips() {
        let a = ArchConfig::default_with("x");
        assert_eq!(a.mapping.objective, MappingObjective::Edp);
        for o in MappingObjective::ALL {
            let mut raw = a.to_raw();
            raw.mapping.objective = Some(o.as_str().into());
            let b = ArchConfig::try_from(raw).unwrap();
            assert_eq!(b.mapping.objective, o);
            assert_eq!(o.as_str().parse::<MappingObjective>(), Ok(o));
        }
    }

    #[test]
    fn sram_energy_fits_horowitz() {
        // 64-bit read: 10 pJ at 8 KiB, 20 pJ at 32 KiB, ~113 pJ at 1 MiB.
        assert!((defaults::sram_pj_per_byte(8.0) * 8.0 - 10.0).abs() < 1e-9);
        assert!((defaults::sram_pj_per_byte(32.0) * 8.0 - 20.0).abs() < 1e-9);
        assert!(defaults::sram_pj_per_byte(1024.0) > defaults::sram_pj_per_byte(64.0));
    }
}
