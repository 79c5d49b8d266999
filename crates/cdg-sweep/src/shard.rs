//! What a sweep output directory is (`shard.json`) and the content fingerprint that keeps
//! shards of different sweeps apart.

use crate::error::{Result, SweepError};
use cdg_io::layout::trace::{MANIFEST_FILE, MASKS_FILE};
use cdg_io::sweep::{Shard, SweepSpec};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `format` of `shard.json`.
pub const SHARD_FORMAT: &str = "cdg-sweep";
/// The `version` of `shard.json` this build reads and writes.
pub const SHARD_VERSION: u32 = 1;

/// What a sweep output directory is: written by `cdg sweep`, checked and rewritten by
/// `cdg merge`. A whole run is shard 1 of 1, so a merge reproduces it byte for byte.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardInfo {
    pub format: String,
    pub version: u32,
    /// 1-based shard number K.
    pub shard: usize,
    /// Number of shards N.
    pub shards: usize,
    /// Grid points of the whole sweep.
    pub points: usize,
    /// Grid keys in spec order.
    pub grid_keys: Vec<String>,
    /// Workload names in spec order.
    pub workloads: Vec<String>,
    /// FNV-1a 64 of the spec file, the base config and every workload file (trace manifest
    /// and masks, topology CSV), so shards of different sweeps or inputs do not mix.
    pub spec_fnv64: String,
    /// Whether layers.csv is part of the output.
    pub layers: bool,
    /// Whether the whole run draws plots.
    pub plots: bool,
}

impl ShardInfo {
    /// The `shard.json` text (pretty JSON and a final newline).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("plain struct serializes");
        s.push('\n');
        s
    }

    /// Parses `shard.json` text read from `path` and checks its format, version and shard
    /// numbers.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self> {
        let info: ShardInfo =
            serde_json::from_slice(bytes).map_err(|source| SweepError::ShardJson {
                path: path.to_owned(),
                source,
            })?;
        if info.format != SHARD_FORMAT || info.version != SHARD_VERSION {
            return Err(SweepError::ShardInfo {
                path: path.to_owned(),
                problem: format!(
                    "format `{}` version {}; expected `{SHARD_FORMAT}` version {SHARD_VERSION}",
                    info.format, info.version
                ),
            });
        }
        info.shard().map_err(|e| SweepError::ShardInfo {
            path: path.to_owned(),
            problem: format!("bad shard numbers: {e}"),
        })?;
        Ok(info)
    }

    /// The shard `K/N` this directory holds.
    pub fn shard(&self) -> Result<Shard> {
        Ok(Shard::new(self.shard, self.shards)?)
    }
}

/// FNV-1a, 64 bit: a stable content fingerprint (not a security measure). Each part ends with
/// a separator, so `("ab", "c")` and `("a", "bc")` differ.
pub fn fnv64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The content fingerprint of a sweep's inputs: spec, base config and workload files. Paths
/// are not part of it, so shards may run in different checkouts of the same inputs.
pub fn fingerprint(spec: &SweepSpec, spec_bytes: &[u8], base: &str) -> Result<u64> {
    let mut files: Vec<PathBuf> = Vec::new();
    for t in &spec.traces {
        files.push(t.join(MANIFEST_FILE));
        let masks = t.join(MASKS_FILE);
        if masks.exists() {
            files.push(masks);
        }
    }
    files.extend(spec.topologies.iter().cloned());
    let contents = files.iter().map(|f| read(f)).collect::<Result<Vec<_>>>()?;
    let mut parts: Vec<&[u8]> = vec![spec_bytes, base.as_bytes()];
    parts.extend(contents.iter().map(Vec::as_slice));
    Ok(fnv64(&parts))
}

/// Reads a whole file; the error names it.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    Ok(cdg_io::limits::read_input(path)?)
}
