//! ONNX import: the conv and fully connected layers of an ONNX model as a cdg [`Network`], with
//! every tensor shape inferred from the graph inputs.
//!
//! Only shapes are read: weights may be initializers with data, initializers whose data lives in
//! external files (never opened, never needed), or graph inputs with declared shapes. Small
//! integer and float constants (Reshape targets, Resize scales, Pad amounts, axes) are read from
//! initializers and `Constant` nodes, and shape arithmetic (`Shape` → `Gather` → `Concat` →
//! `Reshape`, as exporters write for `flatten`) is folded.
//!
//! **Layers.** `Conv` (2-D, NCHW: strides, pads, `auto_pad`, dilations, group) becomes a conv
//! layer; `Gemm`, and `MatMul` whose second operand is a 2-D weight (initializer, constant or
//! graph input), become FC layers (a `MatMul` on a `[N, P, K]` activation with P > 1 rows becomes
//! a 1×1 conv over a P×1 map, so that its P·K·N MACs are counted). Layer names are the ONNX node
//! names (`{op}_{index}` for unnamed nodes, index in graph order), made unique with `_2`, `_3`…
//!
//! **Padding.** The layer model pads the first row and the first column by the same amount
//! (`LayerShape::padding`) and the last row and column each by its own (`padding_end`). ONNX
//! `pads = [top, left, bottom, right]` map onto it exactly when top = left (every symmetric
//! padding, and TensorFlow `SAME`, whose extra pixel goes at the end on square inputs);
//! `auto_pad = SAME_UPPER / SAME_LOWER` are resolved to pads first. A node whose top and left
//! padding differ is an error naming the node.
//!
//! **Shape-only ops** (see [`SHAPE_OPS`]) have no MACs on the array: they are counted in
//! [`Imported::skipped`] and not simulated. Any other op is an error naming the node and its op
//! type, as is a shape the importer cannot follow (a `Reshape` whose target is computed at run
//! time) and a graph input with a dynamic dimension and no override.

use crate::error::{IoError, Result};
use cdg_core::{ConvExtras, ConvParams, Layer, LayerShape, Network, OutputRule};
use prost::Message;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

#[allow(clippy::all, clippy::pedantic, missing_docs, dead_code)]
mod proto;

use proto::{AttributeProto, GraphProto, NodeProto, TensorProto, ValueInfoProto};

/// Default-domain opsets the importer reads (opset 7 is ONNX 1.2; 28 is ONNX 1.23).
pub const OPSETS: std::ops::RangeInclusive<i64> = 7..=28;

/// Ops that change no MACs on the array and whose output shapes the importer infers.
pub const SHAPE_OPS: &[&str] = &[
    "Abs",
    "Add",
    "And",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "CastLike",
    "Ceil",
    "Celu",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Cos",
    "Div",
    "Dropout",
    "Elu",
    "Equal",
    "Erf",
    "Exp",
    "Flatten",
    "Floor",
    "Gather",
    "Gelu",
    "GlobalAveragePool",
    "GlobalLpPool",
    "GlobalMaxPool",
    "Greater",
    "GreaterOrEqual",
    "HardSigmoid",
    "HardSwish",
    "Hardmax",
    "Identity",
    "InstanceNormalization",
    "LRN",
    "LayerNormalization",
    "LeakyRelu",
    "Less",
    "LessOrEqual",
    "Log",
    "LogSoftmax",
    "LpPool",
    "Max",
    "MaxPool",
    "Mean",
    "Min",
    "Mish",
    "Mod",
    "Mul",
    "Neg",
    "Not",
    "Or",
    "PRelu",
    "Pad",
    "Pow",
    "Reciprocal",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSum",
    "ReduceSumSquare",
    "Relu",
    "Reshape",
    "Resize",
    "Round",
    "Selu",
    "Shape",
    "Sigmoid",
    "Sign",
    "Sin",
    "Slice",
    "Softmax",
    "Softplus",
    "Softsign",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Sum",
    "Tanh",
    "ThresholdedRelu",
    "Transpose",
    "Unsqueeze",
    "Upsample",
    "Where",
    "Xor",
];

/// Ops that become layers.
pub const LAYER_OPS: &[&str] = &["Conv", "Gemm", "MatMul"];

/// Constants with more elements than this keep only their shape (weights are never needed).
const MAX_CONSTANT_ELEMENTS: u64 = 1 << 16;
/// Tensors of higher rank are refused as corrupt.
const MAX_RANK: usize = 16;
/// Element counts above this are refused as corrupt (and keep every product in u64).
const MAX_ELEMENTS: u64 = 1 << 48;

/// What to override when importing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportOptions {
    /// Graph input name → full shape (batch included), replacing the declared shape.
    pub input_shapes: Vec<(String, Vec<u64>)>,
    /// Prepended to every layer name.
    pub name_prefix: String,
}

/// An imported model.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub network: Network,
    /// Op type → count of the nodes that are not layers (not simulated).
    pub skipped: BTreeMap<String, usize>,
    /// The graph inputs that carry data (some node's first operand; weights declared as graph
    /// inputs are left out) and the shapes used for them.
    pub inputs: Vec<(String, Vec<u64>)>,
    /// The default-domain opset.
    pub opset: i64,
    /// `producer_name producer_version` of the model.
    pub producer: String,
}

/// Reads and imports the ONNX model at `path` (external data files are never opened).
pub fn import_onnx(path: &Path, options: &ImportOptions) -> Result<Imported> {
    let bytes = crate::limits::read_input(path)?;
    import_onnx_bytes(&bytes, path, options)
}

/// Imports an ONNX model from its bytes; `path` names it in errors.
pub fn import_onnx_bytes(bytes: &[u8], path: &Path, options: &ImportOptions) -> Result<Imported> {
    if bytes.is_empty() {
        return Err(IoError::Empty {
            path: path.to_owned(),
            expected: "an ONNX model (protobuf ModelProto)",
        });
    }
    let model = proto::ModelProto::decode(bytes)
        .map_err(|e| IoError::syntax(path, "ONNX (protobuf ModelProto)", e))?;
    let err = |place: &str, problem: String| IoError::Onnx {
        path: path.to_owned(),
        place: place.to_owned(),
        problem,
    };
    let default_domain: Vec<&proto::OperatorSetIdProto> = model
        .opset_import
        .iter()
        .filter(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx")))
        .collect();
    if default_domain.len() > 1 {
        let versions: Vec<String> = default_domain
            .iter()
            .map(|o| o.version.map_or("unset".to_owned(), |v| v.to_string()))
            .collect();
        return Err(err(
            "model",
            format!(
                "imports the default ONNX domain {} times (opsets {}); a model imports each \
                 domain once",
                default_domain.len(),
                versions.join(", ")
            ),
        ));
    }
    let opset = default_domain
        .first()
        .and_then(|o| o.version)
        .ok_or_else(|| {
            err(
                "model",
                "imports no opset of the default ONNX domain (is this an ONNX model?)".into(),
            )
        })?;
    if !OPSETS.contains(&opset) {
        return Err(err(
            "model",
            format!(
                "opset {opset} is not supported; cdg reads opsets {} to {}",
                OPSETS.start(),
                OPSETS.end()
            ),
        ));
    }
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| err("model", "has no graph".into()))?;
    let mut importer = Importer {
        path,
        opset,
        values: HashMap::new(),
        layers: Vec::new(),
        names: HashSet::new(),
        skipped: BTreeMap::new(),
        prefix: &options.name_prefix,
    };
    let mut inputs = importer.read_inputs(graph, options)?;
    for (index, node) in graph.node.iter().enumerate() {
        importer.node(index, node)?;
    }
    // Report the data inputs, not weights declared as graph inputs: the inputs some node reads
    // as its first operand.
    let first_operands: HashSet<&str> = graph
        .node
        .iter()
        .filter_map(|n| n.input.first().map(String::as_str))
        .collect();
    if inputs
        .iter()
        .any(|(n, _)| first_operands.contains(n.as_str()))
    {
        inputs.retain(|(n, _)| first_operands.contains(n.as_str()));
    }
    if importer.layers.is_empty() {
        return Err(err(
            "model",
            "has no Conv, Gemm or MatMul node: there is nothing to simulate".into(),
        ));
    }
    let network = Network::new(importer.layers).map_err(|e| IoError::invalid(path, e))?;
    let producer = [model.producer_name, model.producer_version]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Imported {
        network,
        skipped: importer.skipped,
        inputs,
        opset,
        producer,
    })
}

/// A tensor as far as the importer knows it: its shape and, for small constants, its values.
#[derive(Debug, Clone, PartialEq)]
struct Value {
    dims: Vec<u64>,
    data: Option<Data>,
    /// Known before the model runs (initializer, graph input, constant, or folded from them):
    /// what a `MatMul` weight must be.
    is_static: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Data {
    Int(Vec<i64>),
    Float(Vec<f64>),
}

impl Value {
    fn shape(dims: Vec<u64>) -> Self {
        Self {
            dims,
            data: None,
            is_static: false,
        }
    }

    fn ints(values: Vec<i64>, dims: Vec<u64>) -> Self {
        Self {
            dims,
            data: Some(Data::Int(values)),
            is_static: true,
        }
    }
}

struct Importer<'a> {
    path: &'a Path,
    opset: i64,
    values: HashMap<String, Value>,
    layers: Vec<Layer>,
    names: HashSet<String>,
    skipped: BTreeMap<String, usize>,
    prefix: &'a str,
}

/// One node being imported: its names for errors and its attributes.
struct Node<'n> {
    proto: &'n NodeProto,
    op: String,
    name: String,
}

impl Node<'_> {
    fn attr(&self, name: &str) -> Option<&AttributeProto> {
        self.proto
            .attribute
            .iter()
            .find(|a| a.name.as_deref() == Some(name))
    }
    fn int(&self, name: &str) -> Option<i64> {
        self.attr(name).and_then(|a| a.i)
    }
    fn ints(&self, name: &str) -> Option<&[i64]> {
        self.attr(name).map(|a| a.ints.as_slice())
    }
    fn floats(&self, name: &str) -> Option<&[f32]> {
        self.attr(name).map(|a| a.floats.as_slice())
    }
    fn string(&self, name: &str) -> Option<String> {
        self.attr(name)
            .and_then(|a| a.s.as_ref())
            .map(|s| String::from_utf8_lossy(s).into_owned())
    }
    fn output(&self, i: usize) -> Option<&str> {
        self.proto
            .output
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

type NodeResult<T> = std::result::Result<T, String>;

fn dims_of(t: &TensorProto) -> NodeResult<Vec<u64>> {
    t.dims
        .iter()
        .map(|&d| u64::try_from(d).map_err(|_| format!("has a negative dimension {d}")))
        .collect()
}

fn count(dims: &[u64]) -> NodeResult<u64> {
    dims.iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| format!("shape {dims:?} has too many elements"))
}

/// The values of a small constant tensor, if it holds integers or floats in a form read here.
fn tensor_data(t: &TensorProto) -> NodeResult<Option<Data>> {
    use proto::tensor_proto::{DataLocation, DataType};
    let dims = dims_of(t)?;
    let n = count(&dims)?;
    if n > MAX_CONSTANT_ELEMENTS || t.data_location == Some(DataLocation::External as i32) {
        return Ok(None);
    }
    let n = n as usize;
    let raw = t.raw_data.as_deref();
    let check = |len: usize| -> NodeResult<()> {
        if len == n {
            Ok(())
        } else {
            Err(format!("holds {len} values but its shape {dims:?} has {n}"))
        }
    };
    let le = |width: usize| -> NodeResult<Option<Vec<&[u8]>>> {
        Ok(match raw {
            Some(r) => {
                if r.len() != n * width {
                    return Err(format!(
                        "has {} bytes of raw data; its shape {dims:?} needs {}",
                        r.len(),
                        n * width
                    ));
                }
                Some(r.chunks_exact(width).collect())
            }
            None => None,
        })
    };
    let data_type = t.data_type.unwrap_or(0);
    let data = if data_type == DataType::Int64 as i32 {
        let v: Vec<i64> = match le(8)? {
            Some(chunks) => chunks
                .iter()
                .map(|c| i64::from_le_bytes((*c).try_into().unwrap_or([0; 8])))
                .collect(),
            None => t.int64_data.clone(),
        };
        check(v.len())?;
        Some(Data::Int(v))
    } else if data_type == DataType::Int32 as i32 {
        let v: Vec<i64> = match le(4)? {
            Some(chunks) => chunks
                .iter()
                .map(|c| i64::from(i32::from_le_bytes((*c).try_into().unwrap_or([0; 4]))))
                .collect(),
            None => t.int32_data.iter().map(|&x| i64::from(x)).collect(),
        };
        check(v.len())?;
        Some(Data::Int(v))
    } else if data_type == DataType::Float as i32 {
        let v: Vec<f64> = match le(4)? {
            Some(chunks) => chunks
                .iter()
                .map(|c| f64::from(f32::from_le_bytes((*c).try_into().unwrap_or([0; 4]))))
                .collect(),
            None => t.float_data.iter().map(|&x| f64::from(x)).collect(),
        };
        check(v.len())?;
        Some(Data::Float(v))
    } else if data_type == DataType::Double as i32 {
        let v: Vec<f64> = match le(8)? {
            Some(chunks) => chunks
                .iter()
                .map(|c| f64::from_le_bytes((*c).try_into().unwrap_or([0; 8])))
                .collect(),
            None => t.double_data.clone(),
        };
        check(v.len())?;
        Some(Data::Float(v))
    } else {
        None
    };
    Ok(data)
}

/// The declared dims of a graph input; `Err(index)` names the first dynamic dimension.
fn declared_dims(v: &ValueInfoProto) -> std::result::Result<Vec<u64>, (usize, String)> {
    use proto::tensor_shape_proto::dimension::Value as Dim;
    use proto::type_proto::Value as Type;
    let Some(Type::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err((0, "has no tensor type".into()));
    };
    let Some(shape) = &t.shape else {
        return Err((0, "has no declared shape".into()));
    };
    shape
        .dim
        .iter()
        .enumerate()
        .map(|(i, d)| match &d.value {
            Some(Dim::DimValue(0)) => Err((
                i,
                format!(
                    "dimension {i}{} is 0, an empty tensor",
                    if i == 0 { " (the batch)" } else { "" }
                ),
            )),
            Some(Dim::DimValue(v)) if *v >= 0 => Ok(*v as u64),
            Some(Dim::DimValue(v)) => Err((i, format!("dimension {i} is negative ({v})"))),
            Some(Dim::DimParam(p)) => Err((i, format!("dimension {i} is dynamic (`{p}`)"))),
            None => Err((i, format!("dimension {i} is dynamic (unnamed)"))),
        })
        .collect()
}

/// Normalises a possibly negative axis against `rank`.
fn axis(a: i64, rank: usize) -> NodeResult<usize> {
    let r = rank as i64;
    let v = if a < 0 { a + r } else { a };
    if (0..r).contains(&v) {
        Ok(v as usize)
    } else {
        Err(format!("axis {a} is out of range for a rank-{rank} tensor"))
    }
}

/// NumPy-style multidirectional broadcasting.
fn broadcast(shapes: &[&[u64]]) -> NodeResult<Vec<u64>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1u64; rank];
    for s in shapes {
        for (i, &d) in s.iter().enumerate() {
            let o = &mut out[rank - s.len() + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return Err(format!("shapes {shapes:?} do not broadcast"));
            }
        }
    }
    Ok(out)
}

/// Output size of a pooling or conv window along one axis: ⌊span/s⌋ + 1 windows, or in ceil
/// mode ⌈span/s⌉ + 1 of which those that would start in the end padding are dropped (ONNX's
/// rule since opset 19, and PyTorch's), span = size + pads − effective kernel.
pub fn window_output(
    size: u64,
    kernel: u64,
    stride: u64,
    pads: (u64, u64),
    dilation: u64,
    ceil_mode: bool,
) -> Option<u64> {
    let effective = dilation
        .checked_mul(kernel.checked_sub(1)?)?
        .checked_add(1)?;
    let padded = size.checked_add(pads.0)?.checked_add(pads.1)?;
    if stride == 0 || effective > padded {
        return None;
    }
    let span = padded - effective;
    Some(if ceil_mode {
        // Windows o = 0.. start at o·s; keep those that start inside the input or the begin
        // padding (o·s < size + begin; size ≥ 1, so window 0 always stays).
        (span.div_ceil(stride) + 1).min((size + pads.0 - 1) / stride + 1)
    } else {
        span / stride + 1
    })
}

/// `auto_pad` SAME_UPPER / SAME_LOWER: the (begin, end) padding that gives ⌈size/stride⌉.
fn same_pads(size: u64, kernel: u64, stride: u64, dilation: u64, upper: bool) -> (u64, u64) {
    // Saturating: absurd attributes give absurd pads, which the layer checks then refuse.
    let effective = dilation.saturating_mul(kernel.max(1) - 1).saturating_add(1);
    let out = size.div_ceil(stride.max(1));
    let total = ((out.max(1) - 1).saturating_mul(stride))
        .saturating_add(effective)
        .saturating_sub(size);
    let small = total / 2;
    if upper {
        (small, total - small)
    } else {
        (total - small, small)
    }
}

/// The (begin, end) padding of each spatial axis of a Conv or pool node.
fn spatial_pads(
    node: &Node<'_>,
    sizes: &[u64],
    kernel: &[u64],
    strides: &[u64],
    dilations: &[u64],
) -> NodeResult<Vec<(u64, u64)>> {
    let n = sizes.len();
    let auto_pad = node.string("auto_pad").unwrap_or_else(|| "NOTSET".into());
    if auto_pad != "NOTSET"
        && let Some(pads) = node.ints("pads").filter(|p| !p.is_empty())
    {
        return Err(format!(
            "has auto_pad {auto_pad:?} and explicit pads {pads:?}; ONNX allows pads only with \
             auto_pad NOTSET"
        ));
    }
    match auto_pad.as_str() {
        "NOTSET" => {
            let pads = node.ints("pads").unwrap_or(&[]);
            if pads.is_empty() {
                return Ok(vec![(0, 0); n]);
            }
            if pads.len() != 2 * n {
                return Err(format!(
                    "pads {pads:?} has {} values; expected {} (begin and end of each axis)",
                    pads.len(),
                    2 * n
                ));
            }
            pads.iter()
                .map(|&p| u64::try_from(p).map_err(|_| format!("pads {pads:?} are negative")))
                .collect::<NodeResult<Vec<u64>>>()
                .map(|p| (0..n).map(|i| (p[i], p[i + n])).collect())
        }
        "VALID" => Ok(vec![(0, 0); n]),
        "SAME_UPPER" | "SAME_LOWER" => Ok((0..n)
            .map(|i| {
                same_pads(
                    sizes[i],
                    kernel[i],
                    strides[i],
                    dilations[i],
                    auto_pad == "SAME_UPPER",
                )
            })
            .collect()),
        other => Err(format!(
            "auto_pad {other:?} is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID"
        )),
    }
}

/// The type each attribute the importer reads must have (`value` only of `Constant`: `Pad`'s
/// old `value` is a float).
fn expected_attribute_type(op: &str, name: &str) -> Option<proto::attribute_proto::AttributeType> {
    use proto::attribute_proto::AttributeType as T;
    Some(match name {
        "strides" | "pads" | "dilations" | "kernel_shape" | "axes" | "perm" | "starts" | "ends"
        | "split" | "paddings" | "output_padding" | "output_shape" | "value_ints" => T::Ints,
        "group"
        | "axis"
        | "num_outputs"
        | "keepdims"
        | "transA"
        | "transB"
        | "ceil_mode"
        | "count_include_pad"
        | "value_int"
        | "allowzero"
        | "noop_with_empty_axes" => T::Int,
        "auto_pad" | "mode" | "coordinate_transformation_mode" | "nearest_mode" => T::String,
        "alpha" | "beta" | "epsilon" | "value_float" => T::Float,
        "scales" | "value_floats" => T::Floats,
        "value" if op == "Constant" => T::Tensor,
        _ => return None,
    })
}

/// Refuses an attribute the importer reads whose declared type, or whose value, is not the
/// type ONNX defines for it (`strides` as FLOATS, `group` as FLOAT): read as the right type
/// it would silently be absent.
fn check_attribute_types(node: &Node<'_>) -> NodeResult<()> {
    use proto::attribute_proto::AttributeType as T;
    for a in &node.proto.attribute {
        let Some(name) = a.name.as_deref() else {
            continue;
        };
        let Some(want) = expected_attribute_type(&node.op, name) else {
            continue;
        };
        let declared = a
            .r#type
            .and_then(|t| T::try_from(t).ok())
            .filter(|t| *t != T::Undefined);
        // What the value fields hold (an empty list holds nothing).
        let held = if !a.floats.is_empty() {
            Some(T::Floats)
        } else if !a.ints.is_empty() {
            Some(T::Ints)
        } else if !a.strings.is_empty() {
            Some(T::Strings)
        } else if a.f.is_some() {
            Some(T::Float)
        } else if a.i.is_some() {
            Some(T::Int)
        } else if a.s.is_some() {
            Some(T::String)
        } else if a.t.is_some() {
            Some(T::Tensor)
        } else if a.g.is_some() {
            Some(T::Graph)
        } else {
            None
        };
        for (what, found) in [("is", declared), ("holds", held)] {
            if let Some(found) = found
                && found != want
            {
                return Err(format!(
                    "attribute `{name}` {what} {}; expected {}",
                    found.as_str_name(),
                    want.as_str_name()
                ));
            }
        }
    }
    Ok(())
}

/// A positive per-axis attribute (strides, dilations, kernel_shape) of length `n`.
fn per_axis(node: &Node<'_>, name: &str, n: usize, default: u64) -> NodeResult<Vec<u64>> {
    match node.ints(name) {
        None => Ok(vec![default; n]),
        Some([]) => Ok(vec![default; n]),
        Some(v) if v.len() != n => {
            Err(format!("{name} {v:?} has {} values; expected {n}", v.len()))
        }
        Some(v) => v
            .iter()
            .map(|&x| {
                u64::try_from(x)
                    .ok()
                    .filter(|&x| x >= 1)
                    .ok_or_else(|| format!("{name} {v:?} must be positive"))
            })
            .collect(),
    }
}

impl Importer<'_> {
    fn error(&self, node: &Node<'_>, problem: String) -> IoError {
        IoError::Onnx {
            path: self.path.to_owned(),
            place: format!("node `{}` ({})", node.name, node.op),
            problem,
        }
    }

    /// Initializers, then graph inputs (declared shapes or `--input-shape` overrides).
    fn read_inputs(
        &mut self,
        graph: &GraphProto,
        options: &ImportOptions,
    ) -> Result<Vec<(String, Vec<u64>)>> {
        for t in &graph.initializer {
            let name = t.name.clone().unwrap_or_default();
            let place = || format!("initializer `{name}`");
            let dims = dims_of(t).map_err(|p| IoError::Onnx {
                path: self.path.to_owned(),
                place: place(),
                problem: p,
            })?;
            if dims.len() > MAX_RANK {
                return Err(IoError::Onnx {
                    path: self.path.to_owned(),
                    place: place(),
                    problem: format!("has rank {}; at most {MAX_RANK} is supported", dims.len()),
                });
            }
            let data = tensor_data(t).map_err(|p| IoError::Onnx {
                path: self.path.to_owned(),
                place: place(),
                problem: p,
            })?;
            self.values.insert(
                name,
                Value {
                    dims,
                    data,
                    is_static: true,
                },
            );
        }
        let declared: Vec<&ValueInfoProto> = graph
            .input
            .iter()
            .filter(|v| !self.values.contains_key(v.name.as_deref().unwrap_or("")))
            .collect();
        for (name, _) in &options.input_shapes {
            if !declared.iter().any(|v| v.name.as_deref() == Some(name)) {
                let names: Vec<&str> = declared.iter().filter_map(|v| v.name.as_deref()).collect();
                return Err(IoError::Onnx {
                    path: self.path.to_owned(),
                    place: format!("--input-shape {name}"),
                    problem: format!(
                        "the model has no graph input `{name}`; its inputs are {}",
                        if names.is_empty() {
                            "none".to_owned()
                        } else {
                            names.join(", ")
                        }
                    ),
                });
            }
        }
        let mut inputs = Vec::new();
        for v in declared {
            let name = v.name.clone().unwrap_or_default();
            let dims = match options.input_shapes.iter().find(|(n, _)| *n == name) {
                Some((_, dims)) => dims.clone(),
                None => declared_dims(v).map_err(|(_, problem)| IoError::Onnx {
                    path: self.path.to_owned(),
                    place: format!("graph input `{name}`"),
                    problem: format!(
                        "{problem}; give its shape with --input-shape {name}=1x3x224x224 (say)"
                    ),
                })?,
            };
            count(&dims).map_err(|p| IoError::Onnx {
                path: self.path.to_owned(),
                place: format!("graph input `{name}`"),
                problem: p,
            })?;
            if dims.len() > MAX_RANK {
                return Err(IoError::Onnx {
                    path: self.path.to_owned(),
                    place: format!("graph input `{name}`"),
                    problem: format!("has rank {}; at most {MAX_RANK} is supported", dims.len()),
                });
            }
            inputs.push((name.clone(), dims.clone()));
            self.values.insert(
                name,
                Value {
                    dims,
                    data: None,
                    is_static: true,
                },
            );
        }
        Ok(inputs)
    }

    fn node(&mut self, index: usize, proto: &NodeProto) -> Result<()> {
        let op = proto.op_type.clone().unwrap_or_default();
        let domain = proto.domain.clone().unwrap_or_default();
        let op = if domain.is_empty() || domain == "ai.onnx" {
            op
        } else {
            format!("{domain}:{op}")
        };
        let name = match proto.name.as_deref() {
            Some(n) if !n.is_empty() => n.to_owned(),
            _ => format!("{}_{index}", op.to_lowercase().replace(':', "_")),
        };
        let node = Node { proto, op, name };
        check_attribute_types(&node).map_err(|p| self.error(&node, p))?;
        if (0..proto.output.len()).all(|i| node.output(i).is_none()) {
            return Err(self.error(&node, "has no output".to_owned()));
        }
        for (i, out) in proto.output.iter().enumerate() {
            if !out.is_empty() && (self.values.contains_key(out) || proto.output[..i].contains(out))
            {
                return Err(self.error(
                    &node,
                    format!(
                        "writes `{out}`, which a graph input, an initializer or an earlier \
                         output already defines; every tensor has one producer"
                    ),
                ));
            }
        }
        let outputs = self.infer(&node).map_err(|p| self.error(&node, p))?;
        for (i, v) in outputs.into_iter().enumerate() {
            if let Some(out) = node.output(i) {
                count(&v.dims).map_err(|p| self.error(&node, p))?;
                if v.dims.len() > MAX_RANK {
                    return Err(self.error(&node, format!("output has rank {}", v.dims.len())));
                }
                self.values.insert(out.to_owned(), v);
            }
        }
        Ok(())
    }

    /// Input `i` of the node, `None` if absent or empty (an omitted optional input).
    fn input(&self, node: &Node<'_>, i: usize) -> NodeResult<Option<&Value>> {
        match node.proto.input.get(i).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(name) => self.values.get(name).map(Some).ok_or_else(|| {
                format!("reads `{name}`, which no graph input, initializer or earlier node defines")
            }),
        }
    }

    fn required(&self, node: &Node<'_>, i: usize) -> NodeResult<&Value> {
        self.input(node, i)?
            .ok_or_else(|| format!("has no input {i}; {} needs it", node.op))
    }

    /// Integer values of a constant input (or `None` if the input is absent).
    fn const_ints(&self, node: &Node<'_>, i: usize, what: &str) -> NodeResult<Option<Vec<i64>>> {
        match self.input(node, i)? {
            None => Ok(None),
            Some(v) => match &v.data {
                Some(Data::Int(x)) => Ok(Some(x.clone())),
                Some(Data::Float(x)) => Ok(Some(x.iter().map(|&f| f as i64).collect())),
                None => Err(format!(
                    "its {what} (input {i}, `{}`) is computed at run time or stored externally; \
                     the importer needs it as a constant",
                    node.proto.input[i]
                )),
            },
        }
    }

    fn const_floats(&self, node: &Node<'_>, i: usize, what: &str) -> NodeResult<Option<Vec<f64>>> {
        match self.input(node, i)? {
            None => Ok(None),
            Some(v) => match &v.data {
                Some(Data::Float(x)) => Ok(Some(x.clone())),
                Some(Data::Int(x)) => Ok(Some(x.iter().map(|&i| i as f64).collect())),
                None => Err(format!(
                    "its {what} (input {i}, `{}`) is computed at run time or stored externally; \
                     the importer needs it as a constant",
                    node.proto.input[i]
                )),
            },
        }
    }

    /// Axes from the attribute (before `input_from_opset`) or from input `i` (from then on).
    fn axes(
        &self,
        node: &Node<'_>,
        i: usize,
        input_from_opset: i64,
    ) -> NodeResult<Option<Vec<i64>>> {
        if self.opset >= input_from_opset {
            self.const_ints(node, i, "axes")
        } else {
            Ok(node.ints("axes").map(<[i64]>::to_vec))
        }
    }

    fn push_layer(
        &mut self,
        node: &Node<'_>,
        make: impl FnOnce(String) -> cdg_core::Result<LayerShape>,
    ) -> NodeResult<LayerShape> {
        let base = format!("{}{}", self.prefix, node.name);
        let mut name = base.clone();
        let mut k = 2;
        while self.names.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        let shape = make(name.clone()).map_err(|e| match e {
            cdg_core::CoreError::Layer { field, problem, .. } => {
                format!("as a layer, its {field} {problem}")
            }
            other => other.to_string(),
        })?;
        self.names.insert(name);
        self.layers.push(Layer {
            shape: shape.clone(),
            gate: None,
        });
        Ok(shape)
    }

    fn skip(&mut self, node: &Node<'_>) {
        *self.skipped.entry(node.op.clone()).or_default() += 1;
    }

    /// The output values of `node`.
    fn infer(&mut self, node: &Node<'_>) -> NodeResult<Vec<Value>> {
        let op = node.op.as_str();
        if LAYER_OPS.contains(&op) {
            return match op {
                "Conv" => self.conv(node),
                "Gemm" => self.gemm(node),
                _ => self.matmul(node),
            };
        }
        if !SHAPE_OPS.contains(&op) {
            return Err(format!(
                "op `{op}` is not supported: the importer cannot infer its output shape (layers \
                 come from {}; shape-only ops it follows are listed in docs/workloads.md)",
                LAYER_OPS.join(", ")
            ));
        }
        self.skip(node);
        let x = || self.required(node, 0);
        let same = |v: &Value| Value {
            dims: v.dims.clone(),
            data: v.data.clone(),
            is_static: v.is_static,
        };
        Ok(match op {
            "Constant" => vec![self.constant(node)?],
            "Shape" => {
                let d = &x()?.dims;
                let r = d.len() as i64;
                let clamp =
                    |v: i64| -> usize { (if v < 0 { v + r } else { v }).clamp(0, r) as usize };
                let start = clamp(node.int("start").unwrap_or(0));
                let end = clamp(node.int("end").unwrap_or(r));
                let v: Vec<i64> = d[start..end.max(start)].iter().map(|&x| x as i64).collect();
                let n = v.len() as u64;
                vec![Value::ints(v, vec![n])]
            }
            "ConstantOfShape" => {
                let dims = self
                    .const_ints(node, 0, "shape")?
                    .ok_or("has no shape input")?
                    .into_iter()
                    .map(|d| u64::try_from(d).map_err(|_| format!("shape has negative {d}")))
                    .collect::<NodeResult<Vec<u64>>>()?;
                vec![Value {
                    dims,
                    data: None,
                    is_static: true,
                }]
            }
            "Cast" | "CastLike" | "Identity" | "Neg" | "Abs" | "Floor" | "Ceil" | "Round"
            | "Sign" => vec![same(x()?)],
            "Relu"
            | "LeakyRelu"
            | "Clip"
            | "Sigmoid"
            | "HardSigmoid"
            | "HardSwish"
            | "Tanh"
            | "Elu"
            | "Selu"
            | "Celu"
            | "Gelu"
            | "Erf"
            | "Exp"
            | "Log"
            | "Sqrt"
            | "Reciprocal"
            | "Not"
            | "Softplus"
            | "Softsign"
            | "Mish"
            | "Softmax"
            | "LogSoftmax"
            | "Hardmax"
            | "LRN"
            | "InstanceNormalization"
            | "ThresholdedRelu"
            | "Sin"
            | "Cos" => {
                vec![Value::shape(x()?.dims.clone())]
            }
            "BatchNormalization" | "LayerNormalization" | "Dropout" => {
                // Extra outputs (running statistics, masks, mean/inv-std) are never consumed
                // by the layers; give them the input's shape so a consumer still finds them.
                let d = x()?.dims.clone();
                (0..node.proto.output.len())
                    .map(|_| Value::shape(d.clone()))
                    .collect()
            }
            "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Max" | "Min" | "Sum" | "Mean" | "Equal"
            | "Greater" | "Less" | "GreaterOrEqual" | "LessOrEqual" | "And" | "Or" | "Xor"
            | "Mod" | "PRelu" | "Where" => self.elementwise(node)?,
            "MaxPool" | "AveragePool" | "LpPool" => self.pool(node)?,
            "GlobalAveragePool" | "GlobalMaxPool" | "GlobalLpPool" => {
                let d = &x()?.dims;
                if d.len() < 3 {
                    return Err(format!("input has shape {d:?}; expected N×C×spatial"));
                }
                let mut out = d[..2].to_vec();
                out.extend(std::iter::repeat_n(1, d.len() - 2));
                vec![Value::shape(out)]
            }
            "Flatten" => {
                let d = &x()?.dims;
                let a = node.int("axis").unwrap_or(1);
                let a = if d.is_empty() && a == 0 {
                    0
                } else if a == d.len() as i64 {
                    d.len()
                } else {
                    axis(a, d.len())?
                };
                vec![Value::shape(vec![count(&d[..a])?, count(&d[a..])?])]
            }
            "Reshape" => vec![self.reshape(node)?],
            "Concat" => vec![self.concat(node)?],
            "Transpose" => {
                let v = x()?;
                let r = v.dims.len();
                let perm: Vec<usize> = match node.ints("perm") {
                    Some(p) if !p.is_empty() => {
                        p.iter().map(|&a| axis(a, r)).collect::<NodeResult<_>>()?
                    }
                    _ => (0..r).rev().collect(),
                };
                let mut seen = perm.clone();
                seen.sort_unstable();
                if seen != (0..r).collect::<Vec<_>>() {
                    return Err(format!("perm {perm:?} is not a permutation of 0..{r}"));
                }
                vec![Value::shape(perm.iter().map(|&a| v.dims[a]).collect())]
            }
            "Squeeze" => {
                let v = x()?.clone();
                let r = v.dims.len();
                let axes = self.axes(node, 1, 13)?;
                let drop: Vec<usize> = match axes {
                    Some(a) if !a.is_empty() => {
                        a.iter().map(|&a| axis(a, r)).collect::<NodeResult<_>>()?
                    }
                    _ => (0..r).filter(|&i| v.dims[i] == 1).collect(),
                };
                for &a in &drop {
                    if v.dims[a] != 1 {
                        return Err(format!(
                            "squeezes axis {a} of shape {:?}, which is not 1",
                            v.dims
                        ));
                    }
                }
                let dims = (0..r)
                    .filter(|i| !drop.contains(i))
                    .map(|i| v.dims[i])
                    .collect();
                vec![Value { dims, ..v }]
            }
            "Unsqueeze" => {
                let v = x()?.clone();
                let axes = self.axes(node, 1, 13)?.ok_or("has no axes")?;
                let r = v.dims.len() + axes.len();
                let mut at: Vec<usize> = axes
                    .iter()
                    .map(|&a| axis(a, r))
                    .collect::<NodeResult<_>>()?;
                at.sort_unstable();
                at.dedup();
                if at.len() != axes.len() {
                    return Err(format!("axes {axes:?} repeat an axis"));
                }
                let mut src = v.dims.iter();
                let dims = (0..r)
                    .map(|i| {
                        if at.contains(&i) {
                            1
                        } else {
                            src.next().copied().unwrap_or(1)
                        }
                    })
                    .collect();
                vec![Value { dims, ..v }]
            }
            "Gather" => vec![self.gather(node)?],
            "Slice" => vec![self.slice(node)?],
            "Split" => self.split(node)?,
            "Pad" => vec![self.pad(node)?],
            "Resize" | "Upsample" => vec![self.resize(node)?],
            op if op.starts_with("Reduce") => vec![self.reduce(node)?],
            other => return Err(format!("op `{other}` has no shape rule (importer bug)")),
        })
    }

    fn constant(&self, node: &Node<'_>) -> NodeResult<Value> {
        if let Some(t) = node.attr("value").and_then(|a| a.t.as_ref()) {
            let dims = dims_of(t)?;
            count(&dims)?;
            return Ok(Value {
                dims,
                data: tensor_data(t)?,
                is_static: true,
            });
        }
        if let Some(i) = node.attr("value_int").and_then(|a| a.i) {
            return Ok(Value::ints(vec![i], vec![]));
        }
        if let Some(v) = node.ints("value_ints") {
            return Ok(Value::ints(v.to_vec(), vec![v.len() as u64]));
        }
        if let Some(f) = node.attr("value_float").and_then(|a| a.f) {
            return Ok(Value {
                dims: vec![],
                data: Some(Data::Float(vec![f64::from(f)])),
                is_static: true,
            });
        }
        if let Some(v) = node.floats("value_floats") {
            return Ok(Value {
                dims: vec![v.len() as u64],
                data: Some(Data::Float(v.iter().map(|&f| f64::from(f)).collect())),
                is_static: true,
            });
        }
        Err(
            "has no value attribute the importer reads (value, value_int(s), value_float(s))"
                .into(),
        )
    }

    fn conv(&mut self, node: &Node<'_>) -> NodeResult<Vec<Value>> {
        let x = self.required(node, 0)?.dims.clone();
        let w = self.required(node, 1)?.dims.clone();
        if x.len() != 4 {
            return Err(format!(
                "input has shape {x:?}; only 2-D convolutions (N×C×H×W input) are supported"
            ));
        }
        if w.len() != 4 {
            return Err(format!("weight has shape {w:?}; expected M×C/group×kH×kW"));
        }
        let group = node.int("group").unwrap_or(1);
        let group = u64::try_from(group)
            .ok()
            .filter(|&g| g >= 1)
            .ok_or_else(|| format!("group {group} must be positive"))?;
        let kernel = match node.ints("kernel_shape") {
            Some(k) if !k.is_empty() => per_axis(node, "kernel_shape", 2, 1)?,
            _ => w[2..].to_vec(),
        };
        if kernel != w[2..] {
            return Err(format!(
                "kernel_shape {kernel:?} disagrees with the weight's {:?}",
                &w[2..]
            ));
        }
        if w[1].checked_mul(group) != Some(x[1]) {
            return Err(format!(
                "input has {} channels but the weight {w:?} with group {group} expects {}",
                x[1],
                w[1].saturating_mul(group)
            ));
        }
        let strides = per_axis(node, "strides", 2, 1)?;
        let dilations = per_axis(node, "dilations", 2, 1)?;
        if strides[0] != strides[1] {
            return Err(format!(
                "strides {strides:?} differ between rows and columns; the layer model has one \
                 stride"
            ));
        }
        if dilations[0] != dilations[1] {
            return Err(format!(
                "dilations {dilations:?} differ between rows and columns; the layer model has \
                 one dilation"
            ));
        }
        let pads = spatial_pads(node, &x[2..], &kernel, &strides, &dilations)?;
        let ((top, bottom), (left, right)) = (pads[0], pads[1]);
        if top != left {
            return Err(format!(
                "pads begin with {top} rows but {left} columns; the layer model pads the first \
                 row and column alike (pads {:?})",
                [top, left, bottom, right]
            ));
        }
        let shape = self.push_layer(node, |name| {
            LayerShape::conv_with(
                name,
                ConvParams {
                    in_channels: x[1],
                    in_height: x[2],
                    in_width: x[3],
                    out_channels: w[0],
                    kernel: [kernel[0], kernel[1]],
                    stride: strides[0],
                    padding: top,
                    rule: OutputRule::Floor,
                },
                ConvExtras {
                    groups: group,
                    dilation: dilations[0],
                    padding_end: Some([bottom, right]),
                },
            )
        })?;
        Ok(vec![Value::shape(vec![
            x[0],
            shape.out_channels(),
            shape.out_height(),
            shape.out_width(),
        ])])
    }

    fn gemm(&mut self, node: &Node<'_>) -> NodeResult<Vec<Value>> {
        let a = self.required(node, 0)?.dims.clone();
        let b = self.required(node, 1)?.dims.clone();
        if a.len() != 2 || b.len() != 2 {
            return Err(format!(
                "operands have shapes {a:?} and {b:?}; Gemm needs 2-D operands"
            ));
        }
        let (m, k) = if node.int("transA").unwrap_or(0) != 0 {
            (a[1], a[0])
        } else {
            (a[0], a[1])
        };
        let (kb, n) = if node.int("transB").unwrap_or(0) != 0 {
            (b[1], b[0])
        } else {
            (b[0], b[1])
        };
        if k != kb {
            return Err(format!(
                "A {a:?} gives K = {k} but B {b:?} gives K = {kb} (transA {}, transB {})",
                node.int("transA").unwrap_or(0),
                node.int("transB").unwrap_or(0)
            ));
        }
        self.push_layer(node, |name| LayerShape::fc(name, k, n))?;
        Ok(vec![Value::shape(vec![m, n])])
    }

    fn matmul(&mut self, node: &Node<'_>) -> NodeResult<Vec<Value>> {
        let a = self.required(node, 0)?.dims.clone();
        let bv = self.required(node, 1)?;
        let b = bv.dims.clone();
        if b.len() != 2 || !bv.is_static {
            return Err(format!(
                "second operand `{}` has shape {b:?}{}; only a MatMul by a 2-D weight \
                 (initializer, constant or graph input) is a layer",
                node.proto.input[1],
                if bv.is_static {
                    ""
                } else {
                    " and is computed at run time"
                }
            ));
        }
        let Some((&k, lead)) = a.split_last() else {
            return Err("first operand is a scalar".into());
        };
        if k != b[0] {
            return Err(format!(
                "first operand {a:?} has K = {k} but the weight {b:?} has {} rows",
                b[0]
            ));
        }
        let rows = if lead.len() >= 2 {
            count(&lead[1..])?
        } else {
            1
        };
        self.push_layer(node, |name| {
            if rows == 1 {
                LayerShape::fc(name, k, b[1])
            } else {
                LayerShape::conv(
                    name,
                    ConvParams {
                        in_channels: k,
                        in_height: rows,
                        in_width: 1,
                        out_channels: b[1],
                        kernel: [1, 1],
                        stride: 1,
                        padding: 0,
                        rule: OutputRule::Floor,
                    },
                )
            }
        })?;
        let mut out = lead.to_vec();
        out.push(b[1]);
        Ok(vec![Value::shape(out)])
    }

    fn elementwise(&self, node: &Node<'_>) -> NodeResult<Vec<Value>> {
        let inputs: Vec<&Value> = (0..node.proto.input.len())
            .filter_map(|i| self.input(node, i).transpose())
            .collect::<NodeResult<_>>()?;
        if inputs.is_empty() {
            return Err("has no inputs".into());
        }
        let shapes: Vec<&[u64]> = inputs.iter().map(|v| v.dims.as_slice()).collect();
        let dims = broadcast(&shapes)?;
        // Fold integer arithmetic on small constants (shape computations).
        let data = match (node.op.as_str(), inputs.as_slice()) {
            (op @ ("Add" | "Sub" | "Mul" | "Div"), [a, b]) => match (&a.data, &b.data) {
                (Some(Data::Int(x)), Some(Data::Int(y)))
                    if (x.len() == y.len() || x.len() == 1 || y.len() == 1)
                        && count(&dims).ok() == Some(x.len().max(y.len()) as u64) =>
                {
                    let n = x.len().max(y.len());
                    let at = |v: &[i64], i: usize| if v.len() == 1 { v[0] } else { v[i] };
                    (0..n)
                        .map(|i| {
                            let (p, q) = (at(x, i), at(y, i));
                            match op {
                                "Add" => p.checked_add(q),
                                "Sub" => p.checked_sub(q),
                                "Mul" => p.checked_mul(q),
                                _ => p.checked_div(q),
                            }
                        })
                        .collect::<Option<Vec<i64>>>()
                        .map(Data::Int)
                }
                _ => None,
            },
            _ => None,
        };
        let is_static = inputs.iter().all(|v| v.is_static);
        Ok(vec![Value {
            dims,
            data,
            is_static,
        }])
    }

    fn pool(&self, node: &Node<'_>) -> NodeResult<Vec<Value>> {
        let x = self.required(node, 0)?.dims.clone();
        if x.len() < 3 {
            return Err(format!("input has shape {x:?}; expected N×C×spatial"));
        }
        let n = x.len() - 2;
        let kernel = match node.ints("kernel_shape") {
            Some(k) if !k.is_empty() => per_axis(node, "kernel_shape", n, 1)?,
            _ => return Err("has no kernel_shape".into()),
        };
        let strides = per_axis(node, "strides", n, 1)?;
        let dilations = per_axis(node, "dilations", n, 1)?;
        let pads = spatial_pads(node, &x[2..], &kernel, &strides, &dilations)?;
        let ceil_mode = node.int("ceil_mode").unwrap_or(0) != 0;
        let mut out = x[..2].to_vec();
        for i in 0..n {
            let size = window_output(
                x[2 + i],
                kernel[i],
                strides[i],
                pads[i],
                dilations[i],
                ceil_mode,
            )
            .ok_or_else(|| {
                format!(
                    "kernel {} (dilation {}) does not fit axis {} of size {} with pads {:?}",
                    kernel[i],
                    dilations[i],
                    i + 2,
                    x[2 + i],
                    pads[i]
                )
            })?;
            out.push(size);
        }
        // MaxPool's optional second output (indices) has the output's shape.
        Ok(vec![Value::shape(out.clone()), Value::shape(out)])
    }

    fn reshape(&self, node: &Node<'_>) -> NodeResult<Value> {
        let x = self.required(node, 0)?.clone();
        let target = self
            .const_ints(node, 1, "target shape")?
            .ok_or("has no shape input")?;
        let allow_zero = node.int("allowzero").unwrap_or(0) != 0;
        let total = count(&x.dims)?;
        let mut dims = Vec::with_capacity(target.len());
        let mut infer = None;
        for (i, &t) in target.iter().enumerate() {
            dims.push(match t {
                -1 if infer.is_none() => {
                    infer = Some(i);
                    1
                }
                -1 => return Err(format!("shape {target:?} has more than one -1")),
                0 if !allow_zero => *x.dims.get(i).ok_or_else(|| {
                    format!(
                        "shape {target:?} copies dimension {i} of {:?}, which has none",
                        x.dims
                    )
                })?,
                t if t >= 0 => t as u64,
                t => return Err(format!("shape {target:?} has a negative size {t}")),
            });
        }
        let known = count(&dims)?;
        if let Some(i) = infer {
            if known == 0 || total % known != 0 {
                return Err(format!(
                    "cannot reshape {:?} ({total} elements) to {target:?}",
                    x.dims
                ));
            }
            dims[i] = total / known;
        } else if known != total {
            return Err(format!(
                "cannot reshape {:?} ({total} elements) to {dims:?} ({known} elements)",
                x.dims
            ));
        }
        Ok(Value { dims, ..x })
    }

    fn concat(&self, node: &Node<'_>) -> NodeResult<Value> {
        let inputs: Vec<&Value> = (0..node.proto.input.len())
            .filter_map(|i| self.input(node, i).transpose())
            .collect::<NodeResult<_>>()?;
        let first = inputs.first().ok_or("has no inputs")?;
        let r = first.dims.len();
        let a = axis(node.int("axis").ok_or("has no axis")?, r)?;
        let mut dims = first.dims.clone();
        dims[a] = 0;
        for v in &inputs {
            let same_rank = v.dims.len() == r;
            if !same_rank || (0..r).any(|i| i != a && v.dims[i] != first.dims[i]) {
                return Err(format!(
                    "inputs {:?} disagree outside axis {a}",
                    inputs.iter().map(|v| &v.dims).collect::<Vec<_>>()
                ));
            }
            dims[a] = dims[a]
                .checked_add(v.dims[a])
                .ok_or("concatenated axis overflows")?;
        }
        let data = inputs
            .iter()
            .map(|v| match &v.data {
                Some(Data::Int(x)) => Some(x.clone()),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .filter(|_| r == 1)
            .map(|parts| Data::Int(parts.concat()));
        Ok(Value {
            dims,
            data,
            is_static: inputs.iter().all(|v| v.is_static),
        })
    }

    fn gather(&self, node: &Node<'_>) -> NodeResult<Value> {
        let data = self.required(node, 0)?;
        let indices = self.required(node, 1)?;
        let r = data.dims.len();
        let a = axis(node.int("axis").unwrap_or(0), r)?;
        if let Some(Data::Int(idx)) = &indices.data {
            let n = data.dims[a] as i64;
            if let Some(&bad) = idx.iter().find(|&&i| !(-n..n).contains(&i)) {
                return Err(format!(
                    "index {bad} is out of range for axis {a} of size {n} (of input `{}`)",
                    node.proto.input[0]
                ));
            }
        }
        let mut dims = data.dims[..a].to_vec();
        dims.extend_from_slice(&indices.dims);
        dims.extend_from_slice(&data.dims[a + 1..]);
        let folded = match (&data.data, &indices.data) {
            (Some(Data::Int(d)), Some(Data::Int(idx))) if r == 1 => idx
                .iter()
                .map(|&i| {
                    let n = d.len() as i64;
                    let j = if i < 0 { i + n } else { i };
                    usize::try_from(j).ok().and_then(|j| d.get(j).copied())
                })
                .collect::<Option<Vec<i64>>>()
                .map(Data::Int),
            _ => None,
        };
        Ok(Value {
            dims,
            data: folded,
            is_static: data.is_static && indices.is_static,
        })
    }

    fn slice(&self, node: &Node<'_>) -> NodeResult<Value> {
        let x = self.required(node, 0)?.clone();
        let r = x.dims.len();
        let (starts, ends, axes, steps) = if self.opset >= 10 {
            (
                self.const_ints(node, 1, "starts")?.ok_or("has no starts")?,
                self.const_ints(node, 2, "ends")?.ok_or("has no ends")?,
                self.const_ints(node, 3, "axes")?,
                self.const_ints(node, 4, "steps")?,
            )
        } else {
            (
                node.ints("starts").ok_or("has no starts")?.to_vec(),
                node.ints("ends").ok_or("has no ends")?.to_vec(),
                node.ints("axes").map(<[i64]>::to_vec),
                None,
            )
        };
        let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
        if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
            return Err("starts, ends, axes and steps differ in length".into());
        }
        let mut dims = x.dims.clone();
        let mut ranges = vec![None; r];
        for i in 0..starts.len() {
            let a = axis(axes[i], r)?;
            // i128: starts, ends and steps may be near i64's limits (INT64_MAX means "to the
            // end").
            let n = i128::from(x.dims[a]);
            let step = i128::from(steps[i]);
            if step == 0 {
                return Err("has a step of 0".into());
            }
            let clamp = |v: i64, lo: i128, hi: i128| -> i128 {
                let v = i128::from(v);
                let v = if v < 0 { v + n } else { v };
                v.clamp(lo, hi)
            };
            let (s, e) = if step > 0 {
                (clamp(starts[i], 0, n), clamp(ends[i], 0, n))
            } else {
                (clamp(starts[i], -1, n - 1), clamp(ends[i], -1, n - 1))
            };
            let len = if step > 0 {
                if e > s { (e - s + step - 1) / step } else { 0 }
            } else if s > e {
                (s - e - step - 1) / (-step)
            } else {
                0
            };
            dims[a] = len as u64;
            ranges[a] = Some((s, step, len));
        }
        let data = match (&x.data, r) {
            (Some(Data::Int(v)), 1) => match ranges[0] {
                Some((s, step, len)) => (0..len)
                    .map(|k| {
                        usize::try_from(s + k * step)
                            .ok()
                            .and_then(|j| v.get(j).copied())
                    })
                    .collect::<Option<Vec<i64>>>()
                    .map(Data::Int),
                None => Some(Data::Int(v.clone())),
            },
            _ => None,
        };
        Ok(Value { dims, data, ..x })
    }

    fn split(&self, node: &Node<'_>) -> NodeResult<Vec<Value>> {
        let x = self.required(node, 0)?.clone();
        let a = axis(node.int("axis").unwrap_or(0), x.dims.len())?;
        let outputs = node.proto.output.len().max(1);
        let sizes: Vec<u64> = match if self.opset >= 13 {
            self.const_ints(node, 1, "split")?
        } else {
            node.ints("split").map(<[i64]>::to_vec)
        } {
            Some(s) if !s.is_empty() => s
                .iter()
                .map(|&v| u64::try_from(v).map_err(|_| format!("split {s:?} is negative")))
                .collect::<NodeResult<_>>()?,
            _ => {
                let parts = match node.int("num_outputs") {
                    None => outputs as u64,
                    Some(n) => u64::try_from(n)
                        .ok()
                        .filter(|&n| n >= 1)
                        .ok_or_else(|| format!("num_outputs {n} must be at least 1"))?,
                };
                if parts > MAX_CONSTANT_ELEMENTS {
                    return Err(format!("splits into {parts} parts"));
                }
                let each = x.dims[a].div_ceil(parts);
                (0..parts)
                    .map(|i| each.min(x.dims[a].saturating_sub(i * each)))
                    .collect()
            }
        };
        if sizes.iter().sum::<u64>() != x.dims[a] {
            return Err(format!(
                "split sizes {sizes:?} do not add up to axis {a} of {:?}",
                x.dims
            ));
        }
        Ok(sizes
            .into_iter()
            .map(|s| {
                let mut d = x.dims.clone();
                d[a] = s;
                Value::shape(d)
            })
            .collect())
    }

    fn pad(&self, node: &Node<'_>) -> NodeResult<Value> {
        let x = self.required(node, 0)?.clone();
        let r = x.dims.len();
        let (pads, axes) = if self.opset >= 11 {
            (
                self.const_ints(node, 1, "pads")?
                    .ok_or("has no pads input")?,
                self.const_ints(node, 3, "axes")?,
            )
        } else {
            (
                node.ints("pads")
                    .or(node.ints("paddings"))
                    .ok_or("has no pads")?
                    .to_vec(),
                None,
            )
        };
        let axes: Vec<usize> = match axes {
            Some(a) => a.iter().map(|&a| axis(a, r)).collect::<NodeResult<_>>()?,
            None => (0..r).collect(),
        };
        if pads.len() != 2 * axes.len() {
            return Err(format!(
                "pads {pads:?} has {} values; expected {}",
                pads.len(),
                2 * axes.len()
            ));
        }
        let mut dims = x.dims.clone();
        for (i, &a) in axes.iter().enumerate() {
            let size = i128::from(dims[a]) + i128::from(pads[i]) + i128::from(pads[i + axes.len()]);
            dims[a] = u64::try_from(size)
                .map_err(|_| format!("pads {pads:?} crop axis {a} of {:?} below 0", x.dims))?;
        }
        Ok(Value::shape(dims))
    }

    fn resize(&self, node: &Node<'_>) -> NodeResult<Value> {
        let x = self.required(node, 0)?.clone();
        let r = x.dims.len();
        let axes: Vec<usize> = match node.ints("axes") {
            Some(a) if !a.is_empty() => a.iter().map(|&a| axis(a, r)).collect::<NodeResult<_>>()?,
            _ => (0..r).collect(),
        };
        let (scales, sizes) = if node.op == "Upsample" {
            match node.floats("scales") {
                Some(s) if !s.is_empty() => (Some(s.iter().map(|&f| f64::from(f)).collect()), None),
                _ => (self.const_floats(node, 1, "scales")?, None),
            }
        } else if self.opset < 11 {
            (self.const_floats(node, 1, "scales")?, None)
        } else {
            let sizes = self.const_ints(node, 3, "sizes")?;
            let scales = match sizes {
                Some(_) => None,
                None => self.const_floats(node, 2, "scales")?,
            };
            (scales.filter(|s| !s.is_empty()), sizes)
        };
        let mut dims = x.dims.clone();
        match (scales, sizes) {
            (_, Some(sizes)) => {
                if sizes.len() != axes.len() {
                    return Err(format!("sizes {sizes:?} do not match {} axes", axes.len()));
                }
                let policy = node
                    .string("keep_aspect_ratio_policy")
                    .unwrap_or_else(|| "stretch".into());
                let sizes: Vec<u64> = sizes
                    .iter()
                    .map(|&s| u64::try_from(s).map_err(|_| format!("sizes {sizes:?} are negative")))
                    .collect::<NodeResult<_>>()?;
                if policy == "stretch" {
                    for (&a, &s) in axes.iter().zip(&sizes) {
                        dims[a] = s;
                    }
                } else {
                    let ratios = axes
                        .iter()
                        .zip(&sizes)
                        .map(|(&a, &s)| s as f64 / x.dims[a].max(1) as f64);
                    let scale = match policy.as_str() {
                        "not_larger" => ratios.fold(f64::INFINITY, f64::min),
                        "not_smaller" => ratios.fold(0.0, f64::max),
                        other => {
                            return Err(format!("keep_aspect_ratio_policy {other:?} is unknown"));
                        }
                    };
                    for &a in &axes {
                        dims[a] = (x.dims[a] as f64 * scale).round() as u64;
                    }
                }
            }
            (Some(scales), None) => {
                if scales.len() != axes.len() {
                    return Err(format!(
                        "scales {scales:?} do not match {} axes",
                        axes.len()
                    ));
                }
                for (&a, &s) in axes.iter().zip(&scales) {
                    if !(s.is_finite() && s > 0.0) {
                        return Err(format!("scales {scales:?} must be positive"));
                    }
                    let v = (x.dims[a] as f64 * s).floor();
                    if v > MAX_ELEMENTS as f64 {
                        return Err(format!("scales {scales:?} are absurdly large"));
                    }
                    dims[a] = v as u64;
                }
            }
            (None, None) => return Err("has neither scales nor sizes".into()),
        }
        Ok(Value::shape(dims))
    }

    fn reduce(&self, node: &Node<'_>) -> NodeResult<Value> {
        let x = self.required(node, 0)?.clone();
        let r = x.dims.len();
        // ReduceSum takes axes as an input from opset 13, the others from opset 18.
        let from = if node.op == "ReduceSum" { 13 } else { 18 };
        let axes = self.axes(node, 1, from)?;
        let keep = node.int("keepdims").unwrap_or(1) != 0;
        let noop = node.int("noop_with_empty_axes").unwrap_or(0) != 0;
        let axes: Vec<usize> = match axes {
            Some(a) if !a.is_empty() => a.iter().map(|&a| axis(a, r)).collect::<NodeResult<_>>()?,
            _ if noop => return Ok(Value::shape(x.dims)),
            _ => (0..r).collect(),
        };
        let dims = (0..r)
            .filter_map(|i| match (axes.contains(&i), keep) {
                (true, true) => Some(1),
                (true, false) => None,
                (false, _) => Some(x.dims[i]),
            })
            .collect();
        Ok(Value::shape(dims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The naive output size: count the window placements.
    fn naive(size: u64, k: u64, s: u64, pads: (u64, u64), d: u64, ceil: bool) -> Option<u64> {
        let padded = size + pads.0 + pads.1;
        let eff = d * (k - 1) + 1;
        if eff > padded {
            return None;
        }
        // Floor: the windows that fit. Ceil: also the windows that overhang the end, as long
        // as they start before the end of the span plus a stride; then drop every window that
        // starts in the end padding.
        if !ceil {
            return Some((0..).take_while(|&o| o * s + eff <= padded).count() as u64);
        }
        let starts = (0..).take_while(|&o| o * s < padded - eff + s);
        Some(starts.filter(|&o| o * s < size + pads.0).count() as u64)
    }

    proptest::proptest! {
        #[test]
        fn window_output_matches_counting(size in 1u64..40, k in 1u64..7, s in 1u64..5,
                                           b in 0u64..4, e in 0u64..4, d in 1u64..4,
                                           ceil in proptest::bool::ANY) {
            proptest::prop_assert_eq!(window_output(size, k, s, (b, e), d, ceil),
                                      naive(size, k, s, (b, e), d, ceil));
        }

        #[test]
        fn same_padding_gives_ceil_of_size_over_stride(size in 1u64..64, k in 1u64..8,
                                                       s in 1u64..5, d in 1u64..3,
                                                       upper in proptest::bool::ANY) {
            let (b, e) = same_pads(size, k, s, d, upper);
            proptest::prop_assert!(b.abs_diff(e) <= 1);
            proptest::prop_assert_eq!(window_output(size, k, s, (b, e), d, false),
                                      Some(size.div_ceil(s)));
        }
    }

    /// A one-node model: `op` with `attrs` on a graph input of shape `dims`, plus constant
    /// int64 inputs `consts`.
    fn model(op: &str, dims: &[i64], attrs: Vec<AttributeProto>, consts: &[Vec<i64>]) -> Vec<u8> {
        use proto::tensor_shape_proto::{Dimension, dimension};
        use proto::type_proto::{Tensor, Value as Type};
        let input = ValueInfoProto {
            name: Some("x".into()),
            r#type: Some(proto::TypeProto {
                value: Some(Type::TensorType(Tensor {
                    elem_type: Some(1),
                    shape: Some(proto::TensorShapeProto {
                        dim: dims
                            .iter()
                            .map(|&d| Dimension {
                                value: Some(dimension::Value::DimValue(d)),
                                ..Default::default()
                            })
                            .collect(),
                    }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut initializer: Vec<TensorProto> = consts
            .iter()
            .enumerate()
            .map(|(i, c)| TensorProto {
                name: Some(format!("c{i}")),
                dims: vec![c.len() as i64],
                data_type: Some(7),
                int64_data: c.clone(),
                ..Default::default()
            })
            .collect();
        initializer.push(TensorProto {
            name: Some("w".into()),
            dims: vec![4, 2, 3, 3],
            data_type: Some(1),
            data_location: Some(1),
            ..Default::default()
        });
        let mut inputs = vec!["x".to_owned()];
        if op == "Conv" {
            inputs.push("w".into());
        }
        inputs.extend((0..consts.len()).map(|i| format!("c{i}")));
        let node = NodeProto {
            input: inputs,
            output: vec!["y".into()],
            name: Some("n".into()),
            op_type: Some(op.into()),
            attribute: attrs,
            ..Default::default()
        };
        let conv = NodeProto {
            input: vec!["x".into(), "w".into()],
            output: vec!["z".into()],
            name: Some("layer".into()),
            op_type: Some("Conv".into()),
            ..Default::default()
        };
        proto::ModelProto {
            opset_import: vec![proto::OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(17),
            }],
            graph: Some(GraphProto {
                node: vec![conv, node],
                initializer,
                input: vec![input],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn ints_attr(name: &str, v: Vec<i64>) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            ints: v,
            ..Default::default()
        }
    }

    fn extreme() -> impl proptest::strategy::Strategy<Value = i64> {
        proptest::prop_oneof![
            -3i64..8,
            proptest::sample::select(vec![i64::MIN, i64::MAX, -1 << 40, 1 << 40, 1 << 24])
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any attribute values and constants on any op give a network or an error, never a
        /// panic or an overflow.
        #[test]
        fn absurd_attributes_never_panic(
            op in proptest::sample::select(vec!["Conv", "MaxPool", "AveragePool", "Slice", "Pad",
                "Reshape", "Split", "Squeeze", "Unsqueeze", "Resize", "Transpose", "Flatten",
                "Concat", "Gather", "ReduceMean", "Shape"]),
            dims in proptest::collection::vec(1i64..6, 0..6),
            attrs in proptest::collection::vec(
                (proptest::sample::select(vec!["kernel_shape", "strides", "pads", "dilations",
                    "axes", "perm", "starts", "ends", "split", "group", "axis", "num_outputs"]),
                 proptest::collection::vec(extreme(), 0..6)), 0..5),
            consts in proptest::collection::vec(proptest::collection::vec(extreme(), 0..9), 0..5),
            auto_pad in proptest::option::of(proptest::sample::select(
                vec!["SAME_UPPER", "SAME_LOWER", "VALID", "BOGUS"])),
        ) {
            let mut a: Vec<AttributeProto> = attrs
                .into_iter()
                .map(|(name, v)| match name {
                    "group" | "axis" | "num_outputs" => AttributeProto {
                        name: Some(name.into()),
                        i: v.first().copied(),
                        ..Default::default()
                    },
                    _ => ints_attr(name, v),
                })
                .collect();
            if let Some(p) = auto_pad {
                a.push(AttributeProto {
                    name: Some("auto_pad".into()),
                    s: Some(p.as_bytes().to_vec()),
                    ..Default::default()
                });
            }
            let mut dims = dims;
            dims.splice(0..0, [1, 2, 7, 7]);
            dims.truncate(4 + dims.len() % 3);
            let bytes = model(op, &dims, a, &consts);
            let _ = import_onnx_bytes(&bytes, Path::new("p.onnx"), &ImportOptions::default());
        }
    }

    /// The models of issue #26, 10: attributes of the wrong type and graphs ONNX forbids, each
    /// with what its error must say. `CDG_WRITE_FUZZ_CORPUS=1` writes them to the fuzz corpus
    /// (`tests/fuzz/onnx/regression-*.onnx`, checked again there).
    fn malformed_models() -> Vec<(&'static str, Vec<u8>, &'static str)> {
        let typed = |name: &str, t: i32| AttributeProto {
            name: Some(name.into()),
            r#type: Some(t),
            ..Default::default()
        };
        let edit = |bytes: Vec<u8>, f: &dyn Fn(&mut proto::ModelProto)| {
            let mut m = proto::ModelProto::decode(bytes.as_slice()).unwrap();
            f(&mut m);
            m.encode_to_vec()
        };
        let x = [1, 2, 7, 7];
        vec![
            (
                "strides-floats",
                model(
                    "Conv",
                    &x,
                    vec![AttributeProto {
                        floats: vec![2.0, 2.0],
                        ..typed("strides", 6)
                    }],
                    &[],
                ),
                "node `n` (Conv): attribute `strides` is FLOATS; expected INTS",
            ),
            (
                "group-float",
                model(
                    "Conv",
                    &x,
                    vec![AttributeProto {
                        f: Some(1.0),
                        ..typed("group", 1)
                    }],
                    &[],
                ),
                "node `n` (Conv): attribute `group` is FLOAT; expected INT",
            ),
            (
                "group-untyped-float",
                model(
                    "Conv",
                    &x,
                    vec![AttributeProto {
                        name: Some("group".into()),
                        f: Some(2.0),
                        ..Default::default()
                    }],
                    &[],
                ),
                "attribute `group` holds FLOAT; expected INT",
            ),
            (
                "batch-zero",
                model("Relu", &[0, 2, 7, 7], vec![], &[]),
                "graph input `x`: dimension 0 (the batch) is 0",
            ),
            (
                "valid-with-pads",
                model(
                    "Conv",
                    &x,
                    vec![
                        AttributeProto {
                            s: Some(b"VALID".to_vec()),
                            ..typed("auto_pad", 3)
                        },
                        AttributeProto {
                            ints: vec![1, 1, 1, 1],
                            ..typed("pads", 7)
                        },
                    ],
                    &[],
                ),
                "has auto_pad \"VALID\" and explicit pads [1, 1, 1, 1]",
            ),
            (
                "two-writers",
                edit(model("Relu", &x, vec![], &[]), &|m| {
                    m.graph.as_mut().unwrap().node[1].output = vec!["z".into()];
                }),
                "node `n` (Relu): writes `z`, which a graph input, an initializer or an earlier \
                 output already defines",
            ),
            (
                "two-default-opsets",
                edit(model("Relu", &x, vec![], &[]), &|m| {
                    m.opset_import.push(proto::OperatorSetIdProto {
                        domain: Some("ai.onnx".into()),
                        version: Some(13),
                    });
                }),
                "model: imports the default ONNX domain 2 times (opsets 17, 13)",
            ),
            (
                "conv-no-output",
                edit(model("Relu", &x, vec![], &[]), &|m| {
                    m.graph.as_mut().unwrap().node[0].output = vec![];
                }),
                "node `layer` (Conv): has no output",
            ),
            (
                "split-zero-outputs",
                model(
                    "Split",
                    &x,
                    vec![AttributeProto {
                        i: Some(0),
                        ..typed("num_outputs", 2)
                    }],
                    &[],
                ),
                "node `n` (Split): num_outputs 0 must be at least 1",
            ),
            (
                "gather-out-of-range",
                model(
                    "Gather",
                    &x,
                    vec![AttributeProto {
                        i: Some(1),
                        ..typed("axis", 2)
                    }],
                    &[vec![5]],
                ),
                "node `n` (Gather): index 5 is out of range for axis 1 of size 2",
            ),
        ]
    }

    #[test]
    fn mistyped_attributes_and_forbidden_graphs_are_refused() {
        let write = std::env::var_os("CDG_WRITE_FUZZ_CORPUS").is_some();
        for (name, bytes, expect) in malformed_models() {
            let e = import_onnx_bytes(&bytes, Path::new("m.onnx"), &ImportOptions::default())
                .map(drop)
                .expect_err(name)
                .to_string();
            assert!(e.contains(expect), "{name}: {e}");
            assert!(!e.contains("computed at run time"), "{name}: {e}");
            if write {
                let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/onnx");
                std::fs::write(dir.join(format!("regression-{name}.onnx")), &bytes).unwrap();
            }
        }
        // The same attributes of the right types import.
        let ok = model(
            "Conv",
            &x_dims(),
            vec![AttributeProto {
                ints: vec![2, 2],
                ..typed_attr("strides", 7)
            }],
            &[],
        );
        let imported =
            import_onnx_bytes(&ok, Path::new("m.onnx"), &ImportOptions::default()).unwrap();
        assert_eq!(imported.network.layers()[1].shape.stride(), 2);
    }

    fn x_dims() -> [i64; 4] {
        [1, 2, 7, 7]
    }

    fn typed_attr(name: &str, t: i32) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            r#type: Some(t),
            ..Default::default()
        }
    }

    #[test]
    fn broadcasting() {
        assert_eq!(
            broadcast(&[&[1, 3, 1, 5], &[4, 1]]).unwrap(),
            vec![1, 3, 4, 5]
        );
        assert_eq!(broadcast(&[&[], &[2, 2]]).unwrap(), vec![2, 2]);
        assert!(broadcast(&[&[3], &[4]]).is_err());
    }
}
