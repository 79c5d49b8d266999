//! What the model needs of an [`ArchConfig`] beyond what its validated construction ensures.

use crate::error::SimError;
use cdg_core::{ArchConfig, DramBandwidth};

/// Checks the parts of `arch` the model divides by or multiplies with. `ArchConfig` values made
/// by `TryFrom<RawArchConfig>` always pass; hand-built ones may not.
pub fn check_arch(arch: &ArchConfig) -> Result<(), SimError> {
    let bad = |key: &str, problem: String| {
        Err(SimError::Config {
            key: key.to_owned(),
            problem,
        })
    };
    if arch.array.rows == 0 {
        return bad("array.rows", "must be at least 1, found 0".into());
    }
    if arch.array.cols == 0 {
        return bad("array.cols", "must be at least 1, found 0".into());
    }
    if arch.memory.word_bytes == 0 {
        return bad("memory.word_bytes", "must be at least 1, found 0".into());
    }
    if let DramBandwidth::BytesPerCycle(bw) = arch.memory.dram_bandwidth
        && !(bw.is_finite() && bw > 0.0)
    {
        return bad(
            "memory.dram_bytes_per_cycle",
            format!("must be a positive number, found {bw}"),
        );
    }
    if !(arch.clock.frequency_mhz.is_finite() && arch.clock.frequency_mhz > 0.0) {
        return bad(
            "clock.frequency_mhz",
            format!(
                "must be a positive number, found {}",
                arch.clock.frequency_mhz
            ),
        );
    }
    Ok(())
}
