//! SCALE-Sim import: its INI-style `.cfg` (v2 and v3; sections v2 lacks are optional) and its
//! topology CSV (conv form and GEMM form, detected per row by the number of fields).
//!
//! Mapping of a `.cfg` onto [`ArchConfig`]: `ArrayHeight`/`ArrayWidth` → `array.rows`/`cols`;
//! `*SramSzkB` → `memory.*_sram_kib` unchanged (SCALE-Sim multiplies kB by 1024, so its kB are
//! our KiB); `word_bytes = 1`; `InterfaceBandwidth = CALC` → unlimited DRAM bandwidth, `USER`
//! → the smallest `Bandwidth` entry in bytes per cycle; `overlap_folds = false`; sparsity
//! support `dense` and default energies (SCALE-Sim has no energy model). Keys cdg does not
//! use (offsets, request buffers, layout, banks) are read where SCALE-Sim defines them and kept
//! in [`ScaleSimConfig`], and every key cdg does not interpret is listed in `ignored_keys`.
//! A key that no SCALE-Sim version knows is ignored by SCALE-Sim's configparser too, so it is a
//! warning ([`ScaleSimConfig::warnings`], naming the nearest known key) — unless it is a
//! misspelling of a key the file then lacks (`InterfaceBandwith: USER`), which is an error:
//! SCALE-Sim would stop on the missing key, and reading the file with cdg's default for it
//! would silently simulate something else.
//!
//! Topologies: conv rows `name, ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters,
//! stride,` (optional 9th field `N:M`), GEMM rows `name, M, N, K,` (optional 5th field `N:M`).
//! The first line is a header when its second field is not a number (SCALE-Sim always skips
//! line 1; a headerless file keeps its first layer here). A trailing comma, trailing `#`
//! comments and blank lines are accepted. Conv layers use the `ceil` output rule with padding 0;
//! GEMM rows become a 1×1 convolution over an M×1 input with K channels and N filters, whose
//! GEMM dims are exactly M, K, N. Rows whose name contains `DP` (depthwise) expand to one layer
//! per channel with one input channel, named `<name>Channel_<i>` as SCALE-Sim names them;
//! SCALE-Sim keeps the row's filter count for each of them, and so does cdg. Repeated names
//! get a `_2`, `_3`... suffix, since a [`Network`] needs unique names.

use crate::error::{IoError, Result, read_text};
use cdg_core::arch::{RawArray, RawBandwidth, RawMemory, RawSparsity};
use cdg_core::{
    ArchConfig, ConvParams, CoreError, Dataflow, Layer, LayerShape, Network, OutputRule,
    RawArchConfig,
};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// How SCALE-Sim treats DRAM bandwidth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterfaceBandwidth {
    /// SCALE-Sim computes the bandwidth needed for stall-free operation (imported as unlimited).
    Calc,
    /// The user's `Bandwidth` (words per cycle) limits DRAM traffic.
    User,
}

/// A SCALE-Sim `.cfg` file, mapped onto an [`ArchConfig`] plus the SCALE-Sim-only settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleSimConfig {
    /// The design in cdg's terms (see the module documentation for the mapping).
    pub arch: ArchConfig,
    /// `[general] run_name`.
    pub run_name: String,
    pub interface_bandwidth: InterfaceBandwidth,
    /// `Bandwidth`, one or more comma-separated values (only used in USER mode).
    pub bandwidths: Vec<f64>,
    /// `IfmapOffset`, `FilterOffset`, `OfmapOffset` (SCALE-Sim address-space offsets).
    pub offsets: [u64; 3],
    pub read_request_buffer: Option<u64>,
    pub write_request_buffer: Option<u64>,
    pub use_ramulator_trace: bool,
    /// `[sparsity] SparsitySupport`.
    pub sparsity_support: bool,
    pub sparse_rep: Option<String>,
    pub optimized_mapping: bool,
    pub block_size: Option<u64>,
    pub rng_seed: Option<u64>,
    /// `section.key` of every entry cdg does not interpret.
    pub ignored_keys: Vec<String>,
    /// Keys no SCALE-Sim version knows (ignored, as SCALE-Sim ignores them), each with its
    /// file, line and the nearest known key.
    pub warnings: Vec<String>,
}

/// A SCALE-Sim topology: the layers and the optional N:M weight sparsity of each.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    pub network: Network,
    /// Per layer index of `network`: `Some((n, m))` when the row carried `N:M`.
    pub nm_sparsity: Vec<Option<(u32, u32)>>,
}

/// Reads a SCALE-Sim `.cfg` file.
pub fn read_scalesim_cfg(path: &Path) -> Result<ScaleSimConfig> {
    let text = read_text(
        path,
        Some("a SCALE-Sim .cfg file ([general], [architecture_presets])"),
    )?;
    parse_scalesim_cfg(&text, path)
}

/// Parses SCALE-Sim `.cfg` text; `path` names the source in errors.
pub fn parse_scalesim_cfg(text: &str, path: &Path) -> Result<ScaleSimConfig> {
    let ini = Ini::parse(path, text)?;
    let warnings = ini.check_keys(path)?;
    let arch_sec = "architecture_presets";
    let int = |section: &str, key: &str| -> Result<Option<u64>> {
        ini.get(section, key)
            .map(|(line, v)| {
                v.parse::<u64>().map_err(|_| {
                    IoError::line(
                        path,
                        line,
                        format!("[{section}] {key}"),
                        format!("expected a non-negative integer, found {v:?}"),
                    )
                })
            })
            .transpose()
    };
    let required = |section: &str, key: &str, what: &str| -> Result<u64> {
        int(section, key)?.ok_or_else(|| IoError::MissingKey {
            path: path.to_owned(),
            key: format!("[{section}] {key}"),
            expected: format!("expected {what}"),
        })
    };
    let boolean = |section: &str, key: &str| -> Result<bool> {
        match ini.get(section, key) {
            None => Ok(false),
            Some((line, v)) => match v.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Ok(true),
                "false" | "no" | "off" | "0" => Ok(false),
                _ => Err(IoError::line(
                    path,
                    line,
                    format!("[{section}] {key}"),
                    format!("expected true or false, found {v:?}"),
                )),
            },
        }
    };

    let run_name = match ini.get("general", "run_name") {
        Some((_, v)) if !v.is_empty() => v.to_owned(),
        _ => {
            return Err(IoError::MissingKey {
                path: path.to_owned(),
                key: "[general] run_name".into(),
                expected: "expected the run's name".into(),
            });
        }
    };
    let rows = required(arch_sec, "ArrayHeight", "the number of PE rows")?;
    let cols = required(arch_sec, "ArrayWidth", "the number of PE columns")?;
    let ifmap_kb = required(arch_sec, "IfmapSramSzkB", "the ifmap SRAM size in kB")?;
    let filter_kb = required(arch_sec, "FilterSramSzkB", "the filter SRAM size in kB")?;
    let ofmap_kb = required(arch_sec, "OfmapSramSzkB", "the ofmap SRAM size in kB")?;
    let dataflow = match ini.get(arch_sec, "Dataflow") {
        None => {
            return Err(IoError::MissingKey {
                path: path.to_owned(),
                key: format!("[{arch_sec}] Dataflow"),
                expected: "expected os, ws or is".into(),
            });
        }
        Some((line, v)) => v
            .parse::<Dataflow>()
            .map_err(|e| IoError::line(path, line, format!("[{arch_sec}] Dataflow"), e))?,
    };
    let interface_bandwidth = match ini.get("run_presets", "InterfaceBandwidth") {
        None => InterfaceBandwidth::Calc,
        Some((_, "CALC")) => InterfaceBandwidth::Calc,
        Some((_, "USER")) => InterfaceBandwidth::User,
        Some((line, v)) => {
            return Err(IoError::line(
                path,
                line,
                "[run_presets] InterfaceBandwidth",
                format!("expected CALC or USER, found {v:?}"),
            ));
        }
    };
    let bandwidths = match ini.get(arch_sec, "Bandwidth") {
        None => Vec::new(),
        Some((line, v)) => v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<f64>()
                    .ok()
                    .filter(|b| b.is_finite() && *b > 0.0)
                    .ok_or_else(|| {
                        IoError::line(
                            path,
                            line,
                            format!("[{arch_sec}] Bandwidth"),
                            format!("expected positive numbers separated by commas, found {v:?}"),
                        )
                    })
            })
            .collect::<Result<Vec<_>>>()?,
    };
    let dram = match interface_bandwidth {
        InterfaceBandwidth::Calc => RawBandwidth::Text("unlimited".into()),
        InterfaceBandwidth::User => {
            let Some(min) = bandwidths.iter().copied().reduce(f64::min) else {
                return Err(IoError::MissingKey {
                    path: path.to_owned(),
                    key: format!("[{arch_sec}] Bandwidth"),
                    expected: "InterfaceBandwidth = USER needs a bandwidth in words per cycle"
                        .into(),
                });
            };
            RawBandwidth::BytesPerCycle(min)
        }
    };
    let raw = RawArchConfig {
        schema: Some(cdg_core::arch::ARCH_SCHEMA),
        name: Some(run_name.clone()),
        array: RawArray {
            rows: Some(rows),
            cols: Some(cols),
            dataflow: Some(dataflow.as_str().to_owned()),
            overlap_folds: Some(false),
        },
        memory: RawMemory {
            word_bytes: Some(1),
            ifmap_sram_kib: Some(ifmap_kb as f64),
            filter_sram_kib: Some(filter_kb as f64),
            ofmap_sram_kib: Some(ofmap_kb as f64),
            dram_bytes_per_cycle: Some(dram),
        },
        sparsity: RawSparsity {
            support: Some("dense".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let arch = ArchConfig::try_from(raw).map_err(|e| match e {
        CoreError::Config { key, problem } => {
            let cfg_key = match key.as_str() {
                "array.rows" => "ArrayHeight",
                "array.cols" => "ArrayWidth",
                "memory.ifmap_sram_kib" => "IfmapSramSzkB",
                "memory.filter_sram_kib" => "FilterSramSzkB",
                "memory.ofmap_sram_kib" => "OfmapSramSzkB",
                "memory.dram_bytes_per_cycle" => "Bandwidth",
                "name" => "run_name",
                _ => "",
            };
            let section = if cfg_key == "run_name" {
                "general"
            } else {
                arch_sec
            };
            let line = ini.get(section, cfg_key).map_or(0, |(l, _)| l);
            IoError::line(
                path,
                line,
                format!("[{section}] {cfg_key} ({key})"),
                problem,
            )
        }
        other => IoError::invalid(path, other),
    })?;
    let offsets = [
        int(arch_sec, "IfmapOffset")?.unwrap_or(0),
        int(arch_sec, "FilterOffset")?.unwrap_or(10_000_000),
        int(arch_sec, "OfmapOffset")?.unwrap_or(20_000_000),
    ];
    let cfg = ScaleSimConfig {
        arch,
        run_name,
        interface_bandwidth,
        bandwidths,
        offsets,
        read_request_buffer: int(arch_sec, "ReadRequestBuffer")?,
        write_request_buffer: int(arch_sec, "WriteRequestBuffer")?,
        use_ramulator_trace: boolean("run_presets", "UseRamulatorTrace")?,
        sparsity_support: boolean("sparsity", "SparsitySupport")?,
        sparse_rep: ini.get("sparsity", "SparseRep").map(|(_, v)| v.to_owned()),
        optimized_mapping: boolean("sparsity", "OptimizedMapping")?,
        block_size: int("sparsity", "BlockSize")?,
        rng_seed: int("sparsity", "RandomNumberGeneratorSeed")?,
        ignored_keys: ini.unused(),
        warnings,
    };
    Ok(cfg)
}

/// Keys cdg reads or knowingly skips, per section (lower case, as configparser compares).
const KNOWN: &[(&str, &[&str])] = &[
    ("general", &["run_name"]),
    (
        "architecture_presets",
        &[
            "arrayheight",
            "arraywidth",
            "ifmapsramszkb",
            "filtersramszkb",
            "ofmapsramszkb",
            "ifmapoffset",
            "filteroffset",
            "ofmapoffset",
            "dataflow",
            "bandwidth",
            "readrequestbuffer",
            "writerequestbuffer",
        ],
    ),
    ("run_presets", &["interfacebandwidth", "useramulatortrace"]),
    (
        "sparsity",
        &[
            "sparsitysupport",
            "sparserep",
            "optimizedmapping",
            "blocksize",
            "randomnumbergeneratorseed",
        ],
    ),
];

/// Every key of SCALE-Sim v2 and v3 configs, per section, as SCALE-Sim spells them.
const SCALESIM_KEYS: &[(&str, &[&str])] = &[
    ("general", &["run_name"]),
    (
        "architecture_presets",
        &[
            "ArrayHeight",
            "ArrayWidth",
            "IfmapSramSzkB",
            "FilterSramSzkB",
            "OfmapSramSzkB",
            "IfmapOffset",
            "FilterOffset",
            "OfmapOffset",
            "Bandwidth",
            "Dataflow",
            "MemoryBanks",
            "ReadRequestBuffer",
            "WriteRequestBuffer",
        ],
    ),
    (
        "layout",
        &[
            "IfmapCustomLayout",
            "FilterCustomLayout",
            "IfmapSRAMBankBandwidth",
            "IfmapSRAMBankNum",
            "IfmapSRAMBankPort",
            "FilterSRAMBankBandwidth",
            "FilterSRAMBankNum",
            "FilterSRAMBankPort",
        ],
    ),
    (
        "sparsity",
        &[
            "SparsitySupport",
            "SparseRep",
            "OptimizedMapping",
            "BlockSize",
            "NonZeroElems",
            "RandomNumberGeneratorSeed",
        ],
    ),
    ("run_presets", &["InterfaceBandwidth", "UseRamulatorTrace"]),
    ("network_presets", &["TopologyCsvLoc"]),
];

/// Edit distance (insertions, deletions, substitutions) between two short strings.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A configparser-style INI file: `[section]` headers, `key = value` or `key: value`, `#`/`;`
/// comment lines, case-insensitive keys, duplicate keys refused.
struct Ini {
    /// (section, lower-case key) → (1-based line, value).
    entries: BTreeMap<(String, String), (usize, String)>,
    /// (section, lower-case key) → the key as written.
    spelled: BTreeMap<(String, String), String>,
}

impl Ini {
    fn parse(path: &Path, text: &str) -> Result<Self> {
        let mut entries = BTreeMap::new();
        let mut spelled = BTreeMap::new();
        let mut section: Option<String> = None;
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.trim_start_matches('\u{feff}').trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let Some(name) = rest.strip_suffix(']') else {
                    return Err(IoError::line(
                        path,
                        line_no,
                        "section header",
                        format!("expected `[name]`, found {line:?}"),
                    ));
                };
                section = Some(name.trim().to_owned());
                continue;
            }
            let sep = line.find([':', '=']).ok_or_else(|| {
                IoError::line(
                    path,
                    line_no,
                    "entry",
                    format!("expected `key = value` or `key: value`, found {line:?}"),
                )
            })?;
            let written = line[..sep].trim().to_owned();
            let key = written.to_ascii_lowercase();
            let value = line[sep + 1..].trim().to_owned();
            let Some(sec) = section.clone() else {
                return Err(IoError::line(
                    path,
                    line_no,
                    key,
                    "appears before any [section] header",
                ));
            };
            if key.is_empty() {
                return Err(IoError::line(path, line_no, "entry", "has an empty key"));
            }
            spelled.insert((sec.clone(), key.clone()), written);
            if let Some((first, _)) = entries.insert((sec.clone(), key.clone()), (line_no, value)) {
                return Err(IoError::line(
                    path,
                    line_no,
                    format!("[{sec}] {key}"),
                    format!("is given twice (first on line {first})"),
                ));
            }
        }
        Ok(Self { entries, spelled })
    }

    /// Checks every key against the keys SCALE-Sim knows: an unknown key is a warning naming
    /// the nearest known key, or an error when it looks like a misspelling of a known key the
    /// file does not set.
    fn check_keys(&self, path: &Path) -> Result<Vec<String>> {
        let mut warnings = Vec::new();
        for ((sec, key), (line, _)) in &self.entries {
            let known = SCALESIM_KEYS
                .iter()
                .any(|(s, keys)| s == sec && keys.iter().any(|k| k.eq_ignore_ascii_case(key)));
            if known {
                continue;
            }
            let written = self.spelled.get(&(sec.clone(), key.clone())).unwrap_or(key);
            let here = format!("{sec}.{key}");
            let nearest = SCALESIM_KEYS
                .iter()
                .flat_map(|(s, keys)| keys.iter().map(move |k| (*s, *k)))
                .map(|(s, k)| {
                    let d = edit_distance(&here, &format!("{s}.{}", k.to_ascii_lowercase()));
                    (d, s, k)
                })
                .min();
            let Some((distance, near_sec, near_key)) = nearest else {
                continue;
            };
            let close = distance <= 2.max(near_key.len() / 4);
            let set = self.get(near_sec, near_key).is_some();
            if close && !set {
                return Err(IoError::line(
                    path,
                    *line,
                    format!("[{sec}] {written}"),
                    format!(
                        "unknown key; did you mean [{near_sec}] {near_key}? This file does not \
                         set {near_key}, so SCALE-Sim would stop on it, and reading the file \
                         with cdg's default for it would simulate something else"
                    ),
                ));
            }
            warnings.push(format!(
                "{}:{line}: [{sec}] {written}: unknown key, ignored (as SCALE-Sim ignores it); \
                 the nearest known key is [{near_sec}] {near_key}",
                path.display()
            ));
        }
        Ok(warnings)
    }

    fn get(&self, section: &str, key: &str) -> Option<(usize, &str)> {
        self.entries
            .get(&(section.to_owned(), key.to_ascii_lowercase()))
            .map(|(l, v)| (*l, v.as_str()))
    }

    fn unused(&self) -> Vec<String> {
        self.entries
            .keys()
            .filter(|(s, k)| {
                !KNOWN
                    .iter()
                    .any(|(ks, keys)| ks == s && keys.contains(&k.as_str()))
            })
            .map(|(s, k)| format!("{s}.{k}"))
            .collect()
    }
}

/// Reads a SCALE-Sim topology CSV.
pub fn read_topology(path: &Path) -> Result<Topology> {
    let text = read_text(
        path,
        Some("a SCALE-Sim topology CSV (header row, then one layer per row)"),
    )?;
    parse_topology(&text, &path.display().to_string())
}

/// A layer name with its shape parameters, before validation.
type NamedParams = (String, ConvParams);

const CONV_FIELDS: [&str; 8] = [
    "name",
    "ifmap_h",
    "ifmap_w",
    "filter_h",
    "filter_w",
    "channels",
    "num_filters",
    "stride",
];
const GEMM_FIELDS: [&str; 4] = ["name", "M", "N", "K"];

/// Parses SCALE-Sim topology text; `origin` names the source in errors.
pub fn parse_topology(text: &str, origin: &str) -> Result<Topology> {
    let path = Path::new(origin);
    let mut layers = Vec::new();
    let mut nm_sparsity = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut first = true;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let fields = split_row(raw);
        if fields.is_empty() {
            continue;
        }
        if first {
            first = false;
            let is_header = fields.len() < 2 || fields[1].parse::<u64>().is_err();
            if is_header {
                continue;
            }
        }
        let err = |field: &str, problem: String| IoError::line(path, line_no, field, problem);
        let num = |idx: usize, names: &[&str]| -> Result<u64> {
            let s = fields[idx];
            s.parse::<u64>().map_err(|_| {
                err(
                    names[idx],
                    format!("expected a positive integer, found {s:?}"),
                )
            })
        };
        let nm = |idx: usize| -> Result<Option<(u32, u32)>> {
            fields
                .get(idx)
                .map(|s| parse_nm(s))
                .transpose()
                .map_err(|p| err("N:M", p))
        };
        let gemm = matches!(fields.len(), 4 | 5);
        let (rows, sparsity): (Vec<NamedParams>, Option<(u32, u32)>) = match fields.len() {
            4 | 5 => {
                let name = fields[0].to_owned();
                let [m, n, k] = [1, 2, 3].map(|i| num(i, &GEMM_FIELDS));
                let (m, n, k) = (m?, n?, k?);
                let p = ConvParams {
                    in_channels: k,
                    in_height: m,
                    in_width: 1,
                    out_channels: n,
                    kernel: [1, 1],
                    stride: 1,
                    padding: 0,
                    rule: OutputRule::Ceil,
                };
                if fields.get(4).is_some_and(|f| f.parse::<u64>().is_ok()) {
                    return Err(err(
                        "N:M",
                        format!(
                            "{:?} looks like a batch count (newer SCALE-Sim GEMM rows), which cdg \
                             does not import; expected N:M sparsity such as 2:4, or list the \
                             batch's GEMMs as separate rows",
                            fields[4]
                        ),
                    ));
                }
                (vec![(name, p)], nm(4)?)
            }
            8 | 9 => {
                let name = fields[0].to_owned();
                let mut v = [0u64; 8];
                for (idx, slot) in v.iter_mut().enumerate().skip(1) {
                    *slot = num(idx, &CONV_FIELDS)?;
                }
                let p = ConvParams {
                    in_channels: v[5],
                    in_height: v[1],
                    in_width: v[2],
                    out_channels: v[6],
                    kernel: [v[3], v[4]],
                    stride: v[7],
                    padding: 0,
                    rule: OutputRule::Ceil,
                };
                let rows = if name.contains("DP") {
                    if v[5] > 1 << 16 {
                        return Err(err(
                            "channels",
                            format!(
                                "{} channels of a depthwise (DP) layer would expand to too many \
                                 layers; expected at most {}",
                                v[5],
                                1 << 16
                            ),
                        ));
                    }
                    (0..v[5])
                        .map(|c| {
                            (
                                format!("{name}Channel_{c}"),
                                ConvParams {
                                    in_channels: 1,
                                    ..p.clone()
                                },
                            )
                        })
                        .collect()
                } else {
                    vec![(name, p)]
                };
                (rows, nm(8)?)
            }
            n => {
                return Err(err(
                    "row",
                    format!(
                        "has {n} fields; expected 8 (conv: {}) or 9 with N:M, or 4 (GEMM: {}) or \
                         5 with N:M",
                        CONV_FIELDS.join(", "),
                        GEMM_FIELDS.join(", ")
                    ),
                ));
            }
        };
        for (name, p) in rows {
            if name.is_empty() {
                return Err(err("name", "is empty; every layer needs a name".into()));
            }
            let count = seen.entry(name.clone()).or_insert(0);
            *count += 1;
            let unique = if *count == 1 {
                name
            } else {
                format!("{name}_{count}")
            };
            let shape = LayerShape::conv(unique, p).map_err(|e| match e {
                CoreError::Layer { field, problem, .. } => {
                    err(topology_field(field, gemm), problem)
                }
                other => err("row", other.to_string()),
            })?;
            layers.push(Layer { shape, gate: None });
            nm_sparsity.push(sparsity);
        }
    }
    if layers.is_empty() {
        return Err(IoError::Empty {
            path: path.to_owned(),
            expected: "at least one layer row after the header",
        });
    }
    let network = Network::new(layers).map_err(|e| IoError::invalid(path, e))?;
    Ok(Topology {
        network,
        nm_sparsity,
    })
}

/// Our field names for `LayerShape` errors, in SCALE-Sim's column terms.
fn topology_field(field: &str, gemm: bool) -> &str {
    if gemm {
        // A GEMM row `name, M, N, K` is a 1×1 convolution over an M×1 input with K channels
        // and N filters.
        return match field {
            "in_channels" => "K",
            "in_height" => "M",
            "out_channels" => "N",
            other => other,
        };
    }
    match field {
        "in_channels" => "channels",
        "in_height" => "ifmap_h",
        "in_width" => "ifmap_w",
        "out_channels" => "num_filters",
        "kernel[0]" => "filter_h",
        "kernel[1]" => "filter_w",
        other => other,
    }
}

/// Splits a CSV row: fields trimmed, one trailing empty field (the trailing comma) and a
/// trailing `#` comment dropped.
fn split_row(raw: &str) -> Vec<&str> {
    // Spreadsheet exports may start with a UTF-8 byte-order mark.
    let line = raw.trim_start_matches('\u{feff}').trim();
    if line.is_empty() || line.starts_with('#') {
        return Vec::new();
    }
    let mut fields: Vec<&str> = line.split(',').map(str::trim).collect();
    if fields.len() > 1 {
        let last = fields[fields.len() - 1];
        if last.is_empty() || last.starts_with('#') {
            fields.pop();
        }
    }
    fields
}

fn parse_nm(s: &str) -> std::result::Result<(u32, u32), String> {
    let bad = || format!("expected N:M with 1 ≤ N ≤ M (for example 2:4), found {s:?}");
    let (n, m) = s.split_once(':').ok_or_else(bad)?;
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    let m: u32 = m.trim().parse().map_err(|_| bad())?;
    if m == 0 || n == 0 || n > m {
        return Err(bad());
    }
    Ok((n, m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdg_core::DramBandwidth;

    const V3: &str = "[general]\nrun_name = scale_example_run_32x32_ws\n\n\
        [architecture_presets]\nArrayHeight:    32\nArrayWidth:     16\nIfmapSramSzkB:   64 \n\
        FilterSramSzkB:  128 \nOfmapSramSzkB:   32 \nIfmapOffset:    0\nFilterOffset:   10000000\n\
        OfmapOffset:    20000000\nBandwidth : 10\nDataflow : ws\nMemoryBanks:   1\n\
        ReadRequestBuffer: 512\nWriteRequestBuffer: 512\n\n[layout]\nIfmapCustomLayout: False\n\n\
        [sparsity]\nSparsitySupport : true\nSparseRep : ellpack_block\nOptimizedMapping : false\n\
        BlockSize : 8\nRandomNumberGeneratorSeed : 40\n\n\
        [run_presets]\nInterfaceBandwidth: USER\nUseRamulatorTrace: False\n";

    const V2: &str = "[general]\nrun_name = v2\n\n[architecture_presets]\nArrayHeight: 8\n\
        ArrayWidth: 8\nIfmapSramSzkB: 1\nFilterSramSzkB: 1\nOfmapSramSzkB: 1\nIfmapOffset: 0\n\
        FilterOffset: 100\nOfmapOffset: 200\nDataflow : os\n\n[run_presets]\nInterfaceBandwidth: CALC\n";

    #[test]
    fn cfg_v3_and_v2() {
        let c = parse_scalesim_cfg(V3, Path::new("s.cfg")).unwrap();
        assert_eq!(c.run_name, "scale_example_run_32x32_ws");
        assert_eq!((c.arch.array.rows, c.arch.array.cols), (32, 16));
        assert_eq!(c.arch.array.dataflow, Dataflow::WeightStationary);
        assert_eq!(c.arch.memory.filter_sram_kib, 128.0);
        assert_eq!(
            c.arch.memory.dram_bandwidth,
            DramBandwidth::BytesPerCycle(10.0)
        );
        assert_eq!(c.interface_bandwidth, InterfaceBandwidth::User);
        assert!(c.sparsity_support && !c.optimized_mapping);
        assert_eq!(c.block_size, Some(8));
        assert_eq!(c.read_request_buffer, Some(512));
        assert_eq!(
            c.ignored_keys,
            vec![
                "architecture_presets.memorybanks",
                "layout.ifmapcustomlayout"
            ]
        );
        assert!(!c.arch.array.overlap_folds);
        let c = parse_scalesim_cfg(V2, Path::new("s.cfg")).unwrap();
        assert_eq!(c.arch.memory.dram_bandwidth, DramBandwidth::Unlimited);
        assert_eq!(c.offsets, [0, 100, 200]);
        assert!(!c.sparsity_support);
    }

    #[test]
    fn gemm_rows_report_gemm_field_names() {
        let e = parse_topology("Layer, M, N, K,\ng1, 0, 8, 4,\n", "g.csv")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("g.csv:2: M: "), "{e}");
        let e = parse_topology("Layer, M, N, K,\ng1, 4, 8, 0,\n", "g.csv")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("g.csv:2: K: "), "{e}");
        let e = parse_topology("Layer, M, N, K,\ng1, 4, 0, 3,\n", "g.csv")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("g.csv:2: N: "), "{e}");
    }

    #[test]
    fn unknown_keys_warn_and_misspelt_missing_keys_fail() {
        // The misspelling of issue #16: InterfaceBandwidth is then missing, which SCALE-Sim
        // stops on; cdg used to read the file as CALC.
        let e = parse_scalesim_cfg(
            &V3.replace("InterfaceBandwidth: USER", "InterfaceBandwith: USER"),
            Path::new("s.cfg"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(
                "s.cfg:30: [run_presets] InterfaceBandwith: unknown key; did you mean \
                 [run_presets] InterfaceBandwidth? This file does not set InterfaceBandwidth"
            ),
            "{e}"
        );
        // A key SCALE-Sim does not know either, next to the real one: a warning.
        let c = parse_scalesim_cfg(
            &V3.replace(
                "UseRamulatorTrace: False",
                "UseRamulatorTrace: False\nColour: blue",
            ),
            Path::new("s.cfg"),
        )
        .unwrap();
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(
            c.warnings[0].starts_with("s.cfg:32: [run_presets] Colour: unknown key, ignored"),
            "{:?}",
            c.warnings
        );
        // Known SCALE-Sim keys cdg does not use are no warning.
        assert!(
            parse_scalesim_cfg(V3, Path::new("s.cfg"))
                .unwrap()
                .warnings
                .is_empty()
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn cfg_errors_name_line_and_key() {
        let e = parse_scalesim_cfg(&V2.replace("os", "xs"), Path::new("s.cfg"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("s.cfg:13: [architecture_presets] Dataflow: unknown dataflow `xs`"),
            "{e}"
        );
        let e = parse_scalesim_cfg(
            &V2.replace("ArrayHeight: 8", "ArrayHeight: 0"),
            Path::new("s.cfg"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("s.cfg:5: [architecture_presets] ArrayHeight (array.rows)"),
            "{e}"
        );
        let e = parse_scalesim_cfg(
            &V2.replace("ArrayWidth: 8", "ArrayWidth: eight"),
            Path::new("s.cfg"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("ArrayWidth: expected a non-negative integer, found \"eight\""),
            "{e}"
        );
        let e = parse_scalesim_cfg(&V2.replace("CALC", "USER"), Path::new("s.cfg"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`[architecture_presets] Bandwidth` is missing"),
            "{e}"
        );
        let e = parse_scalesim_cfg(&V2.replace("ArrayHeight: 8\n", ""), Path::new("s.cfg"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`[architecture_presets] ArrayHeight` is missing"),
            "{e}"
        );
    }

    #[test]
    fn conv_gemm_dp_and_nm() {
        let text = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n\n\
            Conv1, 224, 224, 3, 3, 3, 32, 2,\n\
            Conv2 DP, 112, 112, 3, 3, 4, 1, 1,#dw\n\
            \tConv3,28,28,1,1,128,256,1\n\
            CONV_S, 5, 5, 3, 3, 2, 6, 1, 2:4,\n";
        let t = parse_topology(text, "t.csv").unwrap();
        let names: Vec<&str> = t.network.layers().iter().map(|l| l.name()).collect();
        assert_eq!(
            names,
            [
                "Conv1",
                "Conv2 DPChannel_0",
                "Conv2 DPChannel_1",
                "Conv2 DPChannel_2",
                "Conv2 DPChannel_3",
                "Conv3",
                "CONV_S"
            ]
        );
        let c1 = &t.network.layers()[0].shape;
        assert_eq!((c1.out_height(), c1.gemm().k), (112, 27));
        assert_eq!(t.network.layers()[1].shape.in_channels(), 1);
        assert_eq!(t.nm_sparsity[6], Some((2, 4)));
        assert_eq!(t.nm_sparsity[0], None);
        let g = parse_topology(
            "Layer, M, N, K,\nG, 256, 128, 64,\nG, 3, 5, 16, 3:4,\n",
            "g.csv",
        )
        .unwrap();
        let d = g.network.layers()[0].shape.gemm();
        assert_eq!((d.m, d.k, d.n), (256, 64, 128));
        assert_eq!(g.network.layers()[1].name(), "G_2");
        assert_eq!(g.nm_sparsity[1], Some((3, 4)));
    }

    #[test]
    fn topology_errors_name_line_and_field() {
        let e = parse_topology("h,a,b,c,\nL, 5, 5, 7, 3, 2, 6, 1,\n", "t.csv")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.csv:2: filter_h: kernel 7 is larger than the padded input 5"),
            "{e}"
        );
        let e = parse_topology("h,\nL, 5, 5, 3, 3, 2, 6, 0,\n", "t.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.csv:2: stride: must be at least 1"), "{e}");
        let e = parse_topology("h,\nL, 5, x, 3, 3, 2, 6, 1,\n", "t.csv")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.csv:2: ifmap_w: expected a positive integer, found \"x\""),
            "{e}"
        );
        let e = parse_topology("h,\nL, 5, 5, 3, 3, 2, 6, 1, 5:4,\n", "t.csv")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.csv:2: N:M: expected N:M with 1 ≤ N ≤ M"),
            "{e}"
        );
        let e = parse_topology("h,\nG, 4, 4, 4, 8,\n", "t.csv")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.csv:2: N:M: \"8\" looks like a batch count"),
            "{e}"
        );
        let e = parse_topology("h,\nL, 5, 5, 3,3,3,\n", "t.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.csv:2: row: has 6 fields"), "{e}");
        let e = parse_topology("h,\n\n", "t.csv").unwrap_err().to_string();
        assert!(e.contains("t.csv: is empty"), "{e}");
    }
}
