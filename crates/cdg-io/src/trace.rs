//! Trace directories (docs/formats.md §1): `manifest.json` (topology, gate specs, provenance) and
//! `masks.npz` (one `[N, ⌈C_out/bc⌉, ⌈H_out/bh⌉, ⌈W_out/bw⌉]` bool or uint8 0/1 array per gated
//! layer, plain or compressed).
//!
//! Reading checks everything against the manifest before it allocates: the output record (a
//! directory an interrupted cdg run left is refused, docs/formats.md §5), the format tag, the
//! version, every layer (through `cdg-core`'s validated constructors), the size of the
//! decompressed arrays against the memory limit ([`crate::limits`]), each array's npy header
//! (dtype, rank, every dimension) and its data length, and it refuses missing and extra
//! arrays. The data is streamed into packed bits, never held decompressed.
//! Errors name the file, the layer, the dimension, what was expected and what was found.

use crate::error::{IoError, Result, read_text};
use crate::output::{OutputDir, Outputs};
use cdg_core::{
    ConvExtras, ConvParams, CoreError, GateBlock, GateSpec, Layer, LayerKind, LayerMasks,
    LayerShape, MaskSet, Network, OutputRule,
};
use ndarray::Array4;
use ndarray_npy::NpzWriter;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// The `format` tag of a trace manifest.
pub const TRACE_FORMAT: &str = "cdg-trace";
/// The newest manifest version this build reads and writes. Version 2 adds the per-layer keys
/// `groups`, `dilation` and `padding_end`; a network that needs none of them is written as
/// version 1, byte for byte as before, and version 1 manifests still read.
pub const TRACE_VERSION: u64 = 2;
/// The manifest versions this build reads.
pub const TRACE_VERSIONS: [u64; 2] = [1, 2];
/// File names inside a trace directory (defined with every output name in [`crate::layout`]).
pub use crate::layout::trace::{MANIFEST_FILE, MASKS_FILE};
/// More samples than this is certainly a corrupt manifest.
pub const MAX_SAMPLES: u64 = 1 << 31;

/// A network with the gate masks of `samples` inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub network: Network,
    /// `None` exactly when no layer is gated (then `masks.npz` may be absent).
    pub masks: Option<MaskSet>,
    pub samples: usize,
    /// Free-form description of where the trace came from (command, seed, checkpoint...).
    pub provenance: Value,
}

/// One layer as written in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestLayer {
    name: String,
    kind: LayerKind,
    in_channels: u64,
    in_height: u64,
    in_width: u64,
    out_channels: u64,
    kernel: [u64; 2],
    stride: u64,
    padding: u64,
    /// Extension: `"ceil"` for layers imported from SCALE-Sim; absent means `"floor"`.
    #[serde(default, skip_serializing_if = "is_floor")]
    rule: OutputRule,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    out_height: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    out_width: Option<u64>,
    /// Version 2: channel groups (absent = 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    groups: Option<u64>,
    /// Version 2: spacing of the kernel taps (absent = 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dilation: Option<u64>,
    /// Version 2: padding after the last row and column `[bottom, right]` (absent = `padding`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    padding_end: Option<[u64; 2]>,
    #[serde(default)]
    gate: Option<ManifestGate>,
}

impl ManifestLayer {
    /// The version-2 keys this layer uses, in manifest order.
    fn v2_keys(&self) -> Vec<&'static str> {
        [
            ("groups", self.groups.is_some()),
            ("dilation", self.dilation.is_some()),
            ("padding_end", self.padding_end.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, used)| used.then_some(k))
        .collect()
    }
}

fn is_floor(r: &OutputRule) -> bool {
    *r == OutputRule::Floor
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestGate {
    base_channels: u64,
    block: [u64; 3],
}

#[derive(Debug, Serialize)]
struct ManifestOut<'a> {
    format: &'static str,
    version: u64,
    samples: usize,
    layers: Vec<ManifestLayer>,
    provenance: &'a Value,
}

const TOP_KEYS: [&str; 5] = ["format", "version", "samples", "layers", "provenance"];

/// Reads and checks the trace directory `dir`.
pub fn read_trace(dir: &Path) -> Result<Trace> {
    let manifest_path = dir.join(MANIFEST_FILE);
    if !dir.is_dir() {
        let (kind, why) = if dir.exists() {
            (
                std::io::ErrorKind::InvalidInput,
                "it is not a directory (a trace is a directory holding manifest.json and \
                 masks.npz)",
            )
        } else {
            (std::io::ErrorKind::NotFound, "it does not exist")
        };
        return Err(IoError::io(
            dir,
            "cannot open trace directory",
            std::io::Error::new(kind, why),
        ));
    }
    let record = crate::output::check_complete(dir)?;
    let text = read_text(&manifest_path, Some("a cdg-trace manifest (JSON object)"))?;
    let (network, samples, provenance) = parse_manifest(&manifest_path, &text)?;
    let masks = read_masks(&dir.join(MASKS_FILE), &network, samples)?;
    crate::output::check_unchanged(dir, &record)?;
    Ok(Trace {
        network,
        masks,
        samples,
        provenance,
    })
}

/// Writes `trace` into `dir` (created if needed) as one output directory commit
/// ([`crate::output::OutputDir`]): locked, staged, recorded, never half-written.
/// `compressed` selects deflate at its default level, as NumPy's `savez_compressed` does.
/// (Measured on a 31.5 M-gate element-level trace: level 1 writes in 0.54 s instead of 3.0 s
/// but is 1.4× larger on random masks; traces get committed, so size wins.) An earlier run's
/// `masks.npz` is removed when no layer is gated.
pub fn write_trace(dir: &Path, trace: &Trace, compressed: bool) -> Result<()> {
    check_trace(dir, trace)?;
    let mut out = OutputDir::create(dir, &crate::layout::trace::KIND)?;
    commit_trace(&mut out, trace, compressed)
}

/// Writes `trace` into the locked output directory `out`, replacing its output (the caller
/// locked it before its long work, so a second writer fails early).
pub fn commit_trace(out: &mut OutputDir, trace: &Trace, compressed: bool) -> Result<()> {
    let dir = out.path().to_owned();
    check_trace(&dir, trace)?;
    out.commit(&trace_files(&dir, trace, compressed)?)
}

/// The files of a trace directory: `masks.npz` (when a layer is gated) and `manifest.json`.
fn trace_files(dir: &Path, trace: &Trace, compressed: bool) -> Result<Outputs> {
    let mut files = Outputs::new();
    if let Some(masks) = &trace.masks
        && trace.network.gated().next().is_some()
    {
        files.add(
            MASKS_FILE,
            npz_bytes(&dir.join(MASKS_FILE), masks, compressed)?,
        );
    }
    let empty = Value::Object(Map::new());
    let provenance = if trace.provenance.is_null() {
        &empty
    } else {
        &trace.provenance
    };
    let layers: Vec<ManifestLayer> = trace
        .network
        .layers()
        .iter()
        .map(to_manifest_layer)
        .collect();
    let manifest = ManifestOut {
        format: TRACE_FORMAT,
        version: manifest_version(&layers),
        samples: trace.samples,
        layers,
        provenance,
    };
    let manifest_path = dir.join(MANIFEST_FILE);
    let mut bytes = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| IoError::syntax(&manifest_path, "JSON", e))?;
    bytes.push(b'\n');
    files.add(MANIFEST_FILE, bytes);
    Ok(files)
}

fn check_trace(dir: &Path, trace: &Trace) -> Result<()> {
    let manifest_path = dir.join(MANIFEST_FILE);
    if trace.samples == 0 || trace.samples as u64 > MAX_SAMPLES {
        return Err(IoError::bad_value(
            &manifest_path,
            "samples",
            format!(
                "must be between 1 and {MAX_SAMPLES}, found {}",
                trace.samples
            ),
        ));
    }
    if !(trace.provenance.is_object() || trace.provenance.is_null()) {
        return Err(IoError::bad_value(
            &manifest_path,
            "provenance",
            "must be a JSON object",
        ));
    }
    let npz = dir.join(MASKS_FILE);
    match &trace.masks {
        None => {
            if let Some((_, l, _)) = trace.network.gated().next() {
                return Err(IoError::mask(
                    &npz,
                    l.name(),
                    "is gated but the trace has no masks",
                ));
            }
        }
        Some(masks) => {
            if masks.samples() != trace.samples {
                return Err(IoError::bad_value(
                    &npz,
                    "samples",
                    format!(
                        "masks hold {} samples but the trace says {}",
                        masks.samples(),
                        trace.samples
                    ),
                ));
            }
            for (_, l, spec) in trace.network.gated() {
                let Some(m) = masks.layer(l.name()) else {
                    return Err(IoError::mask(&npz, l.name(), "is gated but has no masks"));
                };
                if m.grid() != spec.grid(&l.shape) || m.block() != spec.block {
                    return Err(IoError::mask(
                        &npz,
                        l.name(),
                        format!(
                            "masks have grid {:?} with block {:?}; the layer needs grid {:?} \
                             with block {:?}",
                            m.grid(),
                            m.block().as_array(),
                            spec.grid(&l.shape),
                            spec.block.as_array()
                        ),
                    ));
                }
            }
            for (name, _) in masks.iter() {
                let gated = trace
                    .network
                    .position(name)
                    .is_some_and(|i| trace.network.layers()[i].gate.is_some());
                if !gated {
                    return Err(IoError::mask(
                        &npz,
                        name,
                        "has masks but is not a gated layer of the network",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Version 1 unless a layer needs a version-2 key, so traces of plain networks keep their bytes.
fn manifest_version(layers: &[ManifestLayer]) -> u64 {
    if layers.iter().any(|l| !l.v2_keys().is_empty()) {
        2
    } else {
        1
    }
}

fn to_manifest_layer(l: &Layer) -> ManifestLayer {
    let s = &l.shape;
    ManifestLayer {
        name: s.name().to_owned(),
        kind: s.kind(),
        in_channels: s.in_channels(),
        in_height: s.in_height(),
        in_width: s.in_width(),
        out_channels: s.out_channels(),
        kernel: s.kernel(),
        stride: s.stride(),
        padding: s.padding(),
        rule: s.rule(),
        out_height: Some(s.out_height()),
        out_width: Some(s.out_width()),
        groups: (s.groups() != 1).then_some(s.groups()),
        dilation: (s.dilation() != 1).then_some(s.dilation()),
        padding_end: (!s.is_padding_symmetric()).then_some(s.padding_end()),
        gate: l.gate.map(|g| ManifestGate {
            base_channels: g.base_channels,
            block: g.block.as_array(),
        }),
    }
}

/// The npz archive of `masks` (one `[samples, gc, gh, gw]` bool array per gated layer).
fn npz_bytes(path: &Path, masks: &MaskSet, compressed: bool) -> Result<Vec<u8>> {
    let result = (|| -> std::result::Result<Vec<u8>, String> {
        let cursor = std::io::Cursor::new(Vec::new());
        let mut npz = if compressed {
            NpzWriter::new_compressed(cursor)
        } else {
            NpzWriter::new(cursor)
        };
        for (name, m) in masks.iter() {
            let [gc, gh, gw] = m.grid();
            let shape = (m.samples(), gc as usize, gh as usize, gw as usize);
            let arr = Array4::from_shape_vec(shape, m.to_vec()).map_err(|e| e.to_string())?;
            npz.add_array(name, &arr)
                .map_err(|e| format!("layer `{name}`: {e}"))?;
        }
        Ok(npz.finish().map_err(|e| e.to_string())?.into_inner())
    })();
    result.map_err(|message| IoError::NpzWrite {
        path: path.to_owned(),
        message,
    })
}

/// Parses the manifest text into the network, the sample count and the provenance.
fn parse_manifest(path: &Path, text: &str) -> Result<(Network, usize, Value)> {
    let value: Value = serde_json::from_str(text).map_err(|e| IoError::syntax(path, "JSON", e))?;
    let Value::Object(top) = value else {
        return Err(IoError::WrongType {
            path: path.to_owned(),
            key: "(top level)".into(),
            expected: "a JSON object".into(),
            found: json_kind(&value),
        });
    };
    for key in top.keys() {
        if !TOP_KEYS.contains(&key.as_str()) {
            return Err(IoError::UnknownKey {
                path: path.to_owned(),
                key: key.clone(),
                hint: format!("; a manifest has {}", TOP_KEYS.join(", ")),
            });
        }
    }
    let missing = |key: &str, expected: &str| IoError::MissingKey {
        path: path.to_owned(),
        key: key.to_owned(),
        expected: expected.to_owned(),
    };
    match top.get("format") {
        None => return Err(missing("format", "expected \"format\": \"cdg-trace\"")),
        Some(Value::String(s)) if s == TRACE_FORMAT => {}
        Some(other) => {
            return Err(IoError::bad_value(
                path,
                "format",
                format!("is {other}; expected \"{TRACE_FORMAT}\" (is this a cdg trace?)"),
            ));
        }
    }
    let version = match top.get("version") {
        None => return Err(missing("version", "expected \"version\": 1 or 2")),
        Some(v) if v.as_u64().is_some_and(|n| TRACE_VERSIONS.contains(&n)) => {
            v.as_u64().unwrap_or(TRACE_VERSION)
        }
        Some(v) if v.as_u64().is_some() => {
            return Err(IoError::bad_value(
                path,
                "version",
                format!(
                    "{v} is not supported; this cdg reads trace versions 1 and 2 (a newer cdg \
                     wrote this trace?)"
                ),
            ));
        }
        Some(v) => {
            return Err(IoError::WrongType {
                path: path.to_owned(),
                key: "version".into(),
                expected: "an integer".into(),
                found: json_kind(v),
            });
        }
    };
    let samples = match top.get("samples") {
        None => return Err(missing("samples", "expected the number of traced inputs")),
        Some(v) => match v.as_u64() {
            Some(0) => {
                return Err(IoError::bad_value(
                    path,
                    "samples",
                    "must be at least 1, found 0",
                ));
            }
            Some(n) if n > MAX_SAMPLES => {
                return Err(IoError::bad_value(
                    path,
                    "samples",
                    format!("is absurdly large ({n}); expected at most {MAX_SAMPLES}"),
                ));
            }
            Some(n) => n as usize,
            None => {
                return Err(IoError::WrongType {
                    path: path.to_owned(),
                    key: "samples".into(),
                    expected: "a positive integer".into(),
                    found: json_kind(v),
                });
            }
        },
    };
    let provenance = match top.get("provenance") {
        None => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(v) => {
            return Err(IoError::WrongType {
                path: path.to_owned(),
                key: "provenance".into(),
                expected: "a JSON object".into(),
                found: json_kind(v),
            });
        }
    };
    let layers = match top.get("layers") {
        None => return Err(missing("layers", "expected an array of layer objects")),
        Some(Value::Array(a)) if a.is_empty() => {
            return Err(IoError::bad_value(
                path,
                "layers",
                "is empty; a trace needs at least one layer",
            ));
        }
        Some(Value::Array(a)) => a,
        Some(v) => {
            return Err(IoError::WrongType {
                path: path.to_owned(),
                key: "layers".into(),
                expected: "an array of layer objects".into(),
                found: json_kind(v),
            });
        }
    };
    let layers = layers
        .iter()
        .enumerate()
        .map(|(i, v)| parse_layer(path, version, i, v))
        .collect::<Result<Vec<_>>>()?;
    let network = Network::new(layers).map_err(|e| IoError::invalid(path, e))?;
    Ok((network, samples, provenance))
}

fn parse_layer(path: &Path, version: u64, index: usize, value: &Value) -> Result<Layer> {
    let name = value
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned();
    let err = |problem: String| IoError::Layer {
        path: path.to_owned(),
        index,
        layer: name.clone(),
        problem,
    };
    let l: ManifestLayer = serde_json::from_value(value.clone()).map_err(|e| err(e.to_string()))?;
    if version < 2
        && let Some(key) = l.v2_keys().first()
    {
        return Err(err(format!(
            "`{key}` needs trace version 2, but the manifest says \"version\": {version}"
        )));
    }
    let core = |e: CoreError| match e {
        CoreError::Layer { field, problem, .. } => err(format!("`{field}` {problem}")),
        CoreError::Gate { problem, .. } => err(format!("`gate` {problem}")),
        other => err(other.to_string()),
    };
    let shape = match l.kind {
        LayerKind::Conv => LayerShape::conv_with(
            l.name.clone(),
            ConvParams {
                in_channels: l.in_channels,
                in_height: l.in_height,
                in_width: l.in_width,
                out_channels: l.out_channels,
                kernel: l.kernel,
                stride: l.stride,
                padding: l.padding,
                rule: l.rule,
            },
            ConvExtras {
                groups: l.groups.unwrap_or(1),
                dilation: l.dilation.unwrap_or(1),
                padding_end: l.padding_end,
            },
        )
        .map_err(core)?,
        LayerKind::Fc => {
            let fc_shape = (l.in_height, l.in_width, l.kernel, l.stride, l.padding);
            if fc_shape != (1, 1, [1, 1], 1, 0) {
                return Err(err(format!(
                    "kind \"fc\" needs in_height 1, in_width 1, kernel [1, 1], stride 1, padding \
                     0; found {}, {}, {:?}, {}, {}",
                    l.in_height, l.in_width, l.kernel, l.stride, l.padding
                )));
            }
            if let Some(key) = l.v2_keys().first() {
                return Err(err(format!(
                    "kind \"fc\" takes no `{key}` (groups, dilation and padding_end are for \
                     convolutions)"
                )));
            }
            LayerShape::fc(l.name.clone(), l.in_channels, l.out_channels).map_err(core)?
        }
    };
    for (key, given, computed) in [
        ("out_height", l.out_height, shape.out_height()),
        ("out_width", l.out_width, shape.out_width()),
    ] {
        if let Some(given) = given
            && given != computed
        {
            return Err(err(format!(
                "`{key}` is {given} but the shape gives {computed} (input {}×{}, kernel \
                     {:?}, stride {}, padding {}, rule {:?})",
                l.in_height, l.in_width, l.kernel, l.stride, l.padding, l.rule
            )));
        }
    }
    let gate = l.gate.map(|g| GateSpec {
        base_channels: g.base_channels,
        block: GateBlock::new(g.block[0], g.block[1], g.block[2]),
    });
    if let Some(g) = &gate {
        g.validate(&shape).map_err(core)?;
    }
    Ok(Layer { shape, gate })
}

fn json_kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Room for any npy header (NumPy caps headers far below this).
const MAX_NPY_HEADER: u64 = 1 << 20;

/// Bytes the decompressed mask arrays of `network`'s gated layers take for `samples` samples
/// (one byte per gate block, as npy stores them); `None` if the count overflows.
pub fn decompressed_mask_bytes(network: &Network, samples: usize) -> Option<u64> {
    network.gated().try_fold(0u64, |acc, (_, layer, spec)| {
        let [gc, gh, gw] = spec.grid(&layer.shape);
        let n = (samples as u64)
            .checked_mul(gc)?
            .checked_mul(gh)?
            .checked_mul(gw)?;
        acc.checked_add(n)
    })
}

fn read_masks(path: &Path, network: &Network, samples: usize) -> Result<Option<MaskSet>> {
    let gated: Vec<_> = network.gated().collect();
    if !path.exists() {
        return match gated.first() {
            None => Ok(None),
            Some((_, l, _)) => Err(IoError::mask(
                path,
                l.name(),
                format!(
                    "is gated but {MASKS_FILE} does not exist ({} gated layer(s) need masks)",
                    gated.len()
                ),
            )),
        };
    }
    // The arrays the manifest promises are checked against the memory limit before the archive
    // is opened: a small, highly compressed npz can promise gigabytes.
    crate::limits::check_memory_opt(
        format!(
            "the decompressed gate masks of {samples} samples over {} gated layers",
            gated.len()
        ),
        decompressed_mask_bytes(network, samples),
    )
    .map_err(|error| IoError::TooLarge {
        path: path.to_owned(),
        error,
    })?;
    crate::limits::check_regular(path)?;
    let file = File::open(path).map_err(|e| IoError::io(path, "cannot open", e))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| IoError::syntax(path, "npz (zip archive)", e))?;
    let mut entries: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..zip.len() {
        let entry = zip
            .by_index(i)
            .map_err(|e| IoError::syntax(path, "npz (zip archive)", e))?;
        let raw = entry.name();
        let name = raw.strip_suffix(".npy").unwrap_or(raw).to_owned();
        if entries.insert(name.clone(), i).is_some() {
            return Err(IoError::mask(
                path,
                &name,
                "has more than one array in the archive",
            ));
        }
    }
    let mut layers = Vec::with_capacity(gated.len());
    for (_, layer, spec) in &gated {
        let name = layer.name();
        let Some(index) = entries.remove(name) else {
            let present: Vec<&str> = entries.keys().map(String::as_str).collect();
            return Err(IoError::mask(
                path,
                name,
                format!(
                    "is gated but {MASKS_FILE} has no array named `{name}` (remaining arrays: {})",
                    if present.is_empty() {
                        "none".to_owned()
                    } else {
                        present.join(", ")
                    }
                ),
            ));
        };
        let entry = zip
            .by_index(index)
            .map_err(|e| IoError::syntax(path, "npz (zip archive)", e))?;
        let m = read_mask_array(entry, layer, spec, samples)
            .map_err(|problem| IoError::mask(path, name, problem))?;
        layers.push((name.to_owned(), m));
    }
    if let Some(extra) = entries.keys().next() {
        return Err(IoError::mask(
            path,
            extra,
            format!(
                "{MASKS_FILE} holds an array for `{extra}`, which is not a gated layer of the \
                 manifest"
            ),
        ));
    }
    if gated.is_empty() {
        return Ok(None);
    }
    let set = MaskSet::new(network, samples, layers).map_err(|e| IoError::invalid(path, e))?;
    Ok(Some(set))
}

const DIM_NAMES: [&str; 4] = ["samples", "channel blocks", "row blocks", "column blocks"];

/// Reads `reader` fully into `buf` (or until it ends); returns the bytes read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads one npy array of an npz entry: the header is checked against the layer's expected
/// shape first, then the data is streamed straight into packed bits, so memory holds the
/// packed masks and a small buffer, never the decompressed array.
fn read_mask_array(
    mut entry: impl Read,
    layer: &Layer,
    spec: &GateSpec,
    samples: usize,
) -> std::result::Result<LayerMasks, String> {
    let read_err = |e: std::io::Error| format!("cannot read its array: {e}");
    // Magic, version and header length (2 bytes in version 1, 4 in versions 2 and 3).
    let mut head = vec![0u8; 12];
    let got = read_up_to(&mut entry, &mut head).map_err(read_err)?;
    head.truncate(got);
    if head.len() < 10 || &head[..6] != b"\x93NUMPY" {
        return Err("array is not an npy file (bad magic or too short)".into());
    }
    let (len, start) = match head[6] {
        1 => (u64::from(u16::from_le_bytes([head[8], head[9]])), 10usize),
        2 | 3 if head.len() >= 12 => (
            u64::from(u32::from_le_bytes([head[8], head[9], head[10], head[11]])),
            12,
        ),
        v => return Err(format!("array has unsupported npy format version {v}")),
    };
    if len > MAX_NPY_HEADER {
        return Err(format!(
            "array's npy header is {len} bytes long; expected at most {MAX_NPY_HEADER}"
        ));
    }
    let header_end = start + len as usize;
    if head.len() < header_end {
        let mut rest = vec![0u8; header_end - head.len()];
        let got = read_up_to(&mut entry, &mut rest).map_err(read_err)?;
        rest.truncate(got);
        head.extend_from_slice(&rest);
    }
    // Bytes read past the header belong to the data.
    let leftover = head.split_off(header_end.min(head.len()));
    let header = NpyHeader::parse(&head)?;
    let grid = spec.grid(&layer.shape);
    let expected = [samples as u64, grid[0], grid[1], grid[2]];
    let expected_len = expected
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or("mask array would not fit in memory")?;
    let is_bool = match header.descr.as_str() {
        "|b1" | "b1" | "?" => true,
        "|u1" | "<u1" | ">u1" | "=u1" | "u1" | "B" => false,
        other => {
            return Err(format!(
                "array has dtype {other:?} ({}); expected bool (|b1) or uint8 (|u1) holding 0/1",
                dtype_name(other)
            ));
        }
    };
    if header.shape.len() != 4 {
        return Err(format!(
            "array has {} dimension(s) {:?}; expected 4: [samples, channel blocks, row blocks, \
             column blocks] = {expected:?}",
            header.shape.len(),
            header.shape
        ));
    }
    for (d, (&found, &want)) in header.shape.iter().zip(&expected).enumerate() {
        if found != want {
            return Err(format!(
                "array dimension {d} ({}) is {found}; expected {want} (shape {:?}, expected {:?})",
                DIM_NAMES[d], header.shape, expected
            ));
        }
    }
    let mut masks = LayerMasks::zeros(&layer.shape, spec, samples).map_err(|e| e.to_string())?;
    // The index of the next element in memory order: C order varies the last index fastest,
    // Fortran order the first.
    let mut idx = [0u64; 4];
    let order: [usize; 4] = if header.fortran_order {
        [0, 1, 2, 3]
    } else {
        [3, 2, 1, 0]
    };
    let mut data = std::io::Cursor::new(leftover).chain(entry);
    let mut buf = vec![0u8; 1 << 16];
    let mut done = 0u64;
    while done < expected_len {
        let want = (expected_len - done).min(buf.len() as u64) as usize;
        let n = read_up_to(&mut data, &mut buf[..want]).map_err(read_err)?;
        if n == 0 {
            return Err(format!(
                "array data is truncated: {done} of {expected_len} bytes present"
            ));
        }
        for &v in &buf[..n] {
            match v {
                0 => {}
                1 => masks.set(idx[0] as usize, idx[1], idx[2], idx[3], true),
                v if is_bool => {
                    return Err(format!(
                        "bool array: byte {v:#04x} at index {idx:?} is not a bool; expected 0 \
                         or 1"
                    ));
                }
                v => {
                    return Err(format!(
                        "uint8 array holds {v} at index {idx:?}; expected only 0 or 1"
                    ));
                }
            }
            for &d in &order {
                idx[d] += 1;
                if idx[d] < expected[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        done += n as u64;
    }
    // Anything after the data is an error; count it without keeping it (up to a bound).
    const MAX_COUNTED: u64 = 1 << 20;
    let extra = std::io::copy(&mut (&mut data).take(MAX_COUNTED), &mut std::io::sink())
        .map_err(read_err)?;
    if extra > 0 {
        return Err(format!(
            "array has {}{extra} bytes after its {expected_len} data bytes",
            if extra == MAX_COUNTED {
                "at least "
            } else {
                ""
            }
        ));
    }
    Ok(masks)
}

fn dtype_name(descr: &str) -> &'static str {
    match descr.trim_start_matches(['<', '>', '|', '=']) {
        "f2" => "float16",
        "f4" => "float32",
        "f8" => "float64",
        "i1" => "int8",
        "i2" => "int16",
        "i4" => "int32",
        "i8" => "int64",
        "u2" => "uint16",
        "u4" => "uint32",
        "u8" => "uint64",
        _ => "unsupported",
    }
}

/// The fields of an npy header needed to check an array before decoding it.
#[derive(Debug)]
struct NpyHeader {
    descr: String,
    shape: Vec<u64>,
    fortran_order: bool,
}

impl NpyHeader {
    fn parse(bytes: &[u8]) -> std::result::Result<Self, String> {
        const MAGIC: &[u8] = b"\x93NUMPY";
        if bytes.len() < 10 || &bytes[..6] != MAGIC {
            return Err("array is not an npy file (bad magic or too short)".into());
        }
        let (len, start) = match bytes[6] {
            1 => (
                usize::from(u16::from_le_bytes([bytes[8], bytes[9]])),
                10usize,
            ),
            2 | 3 if bytes.len() >= 12 => (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            ),
            v => return Err(format!("array has unsupported npy format version {v}")),
        };
        let end = start
            .checked_add(len)
            .filter(|&e| e <= bytes.len())
            .ok_or("array's npy header is truncated")?;
        let text = std::str::from_utf8(&bytes[start..end])
            .map_err(|_| "array's npy header is not text".to_owned())?;
        let descr = dict_value(text, "descr")
            .and_then(|v| {
                let q = v.chars().next()?;
                if q != '\'' && q != '"' {
                    return None;
                }
                let rest = &v[1..];
                rest.find(q).map(|e| rest[..e].to_owned())
            })
            .ok_or("array's npy header has no readable 'descr'")?;
        let shape_text = dict_value(text, "shape")
            .and_then(|v| {
                let v = v.strip_prefix('(')?;
                v.find(')').map(|e| &v[..e])
            })
            .ok_or("array's npy header has no readable 'shape'")?;
        let shape = shape_text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_end_matches('L').parse::<u64>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| format!("array's npy header has a bad shape ({shape_text})"))?;
        let fortran_order =
            dict_value(text, "fortran_order").is_some_and(|v| v.starts_with("True"));
        Ok(Self {
            descr,
            shape,
            fortran_order,
        })
    }
}

/// The text after `'key':` in a Python dict literal, leading spaces removed.
fn dict_value<'a>(dict: &'a str, key: &str) -> Option<&'a str> {
    for quote in ['\'', '"'] {
        let pat = format!("{quote}{key}{quote}");
        if let Some(pos) = dict.find(&pat) {
            let rest = dict[pos + pat.len()..].trim_start();
            return rest.strip_prefix(':').map(str::trim_start);
        }
    }
    None
}
