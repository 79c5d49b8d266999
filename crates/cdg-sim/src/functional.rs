//! Functional model: executes a layer's schedule (the folds a skip policy keeps) on real integer
//! tensors, so that what the cycle model counts is also shown to compute the right numbers.
//!
//! A layer is lowered to an im2col GEMM (DESIGN §2): A = M×K ifmap, B = K×N filter, with output
//! pixel (h, w) at row m = h·W_out + w, filter n at column n, and the window index
//! k = c·kh·kw + dy·kw + dx (channel-major, so the base channels of a gated layer are the first
//! K_base = kh·kw·base_channels columns of A).
//!
//! # Schedules
//!
//! A [`PassSchedule`] is the ordered list of [`PlannedFold`]s one GEMM pass executes on an R×C array.
//! A fold names, for each of the three GEMM axes, the indices it covers ([`Indices`]): the indices on
//! the array rows, on the array columns and on the stream, whose meaning depends on the dataflow
//! ([`axes`]):
//!
//! | dataflow | `rows` | `cols` | `steps` |
//! |---|---|---|---|
//! | OS | m | n | k |
//! | WS | k | n | m |
//! | IS | k | m | n |
//!
//! A fold computes, for every output (m, n) it covers, the partial sum over its k indices and
//! adds it onto the stored output (the first contribution to an output starts from zero). In a
//! gated (conditional) fold, outputs whose gate is off are clock-gated: they receive nothing.
//! A [`GatedSchedule`] is a base pass (k < K_base, ungated) followed by a conditional pass
//! (k ≥ K_base, gated). The builders [`PassSchedule::dense`], [`PassSchedule::tile_skip`] and
//! [`PassSchedule::compact`] produce what DESIGN §4 describes; the fast model's gated policies
//! should produce the same objects (compare with `==`), and [`PlannedFold::cycles`] gives the stall-free
//! per-fold time both models use.

use crate::reference::Matrix;
use cdg_core::{Cycles, Dataflow, GateSpec, LayerMasks, LayerShape, SkipPolicy};
use thiserror::Error;

/// Errors of the functional model. Each names the tensor, fold or layer at fault.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FunctionalError {
    /// A tensor's size disagrees with the layer.
    #[error("layer `{layer}`: {tensor} has shape {found:?}; expected {expected:?}")]
    TensorShape {
        layer: String,
        tensor: &'static str,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// A tensor's data length disagrees with its shape.
    #[error("{tensor}: {found} values for shape {shape:?}; expected {expected}")]
    DataLength {
        tensor: &'static str,
        shape: Vec<usize>,
        expected: usize,
        found: usize,
    },
    /// A fold does not fit the array or the GEMM.
    #[error("fold {fold} of the {pass} pass: {problem}")]
    PlannedFold {
        pass: &'static str,
        fold: usize,
        problem: String,
    },
    /// The array has a zero dimension.
    #[error("array is {rows}×{cols}; expected at least 1×1")]
    EmptyArray { rows: u64, cols: u64 },
    /// A layer is too large to materialise as tensors in memory.
    #[error("layer `{layer}` is too large for the functional model ({what})")]
    TooLarge { layer: String, what: String },
}

type Result<T, E = FunctionalError> = std::result::Result<T, E>;

impl From<FunctionalError> for crate::error::SimError {
    fn from(e: FunctionalError) -> Self {
        use crate::error::SimError;
        match e {
            FunctionalError::TensorShape {
                layer,
                tensor,
                expected,
                found,
            } => SimError::Layer {
                layer,
                problem: format!("{tensor} has shape {found:?}; expected {expected:?}"),
            },
            FunctionalError::TooLarge { layer, what } => SimError::Layer {
                layer,
                problem: format!("is too large for the functional model ({what})"),
            },
            FunctionalError::EmptyArray { rows, .. } => SimError::Config {
                key: if rows == 0 {
                    "array.rows"
                } else {
                    "array.cols"
                }
                .to_owned(),
                problem: "must be at least 1, found 0".to_owned(),
            },
            other => SimError::Mismatch(format!("functional model: {other}")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Schedule
// ---------------------------------------------------------------------------------------------

/// A GEMM axis: M output pixels, K window, N filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Axis {
    M,
    K,
    N,
}

/// The GEMM axes a dataflow maps to `[array rows, array columns, stream]` (DESIGN §4 table).
pub fn axes(dataflow: Dataflow) -> [Axis; 3] {
    match dataflow {
        Dataflow::OutputStationary => [Axis::M, Axis::N, Axis::K],
        Dataflow::WeightStationary => [Axis::K, Axis::N, Axis::M],
        Dataflow::InputStationary => [Axis::K, Axis::M, Axis::N],
    }
}

/// Indices along one GEMM axis, in execution order: a contiguous range (dense folds) or an
/// explicit list (compacted folds).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Indices {
    /// `start..end`.
    Range { start: u64, end: u64 },
    /// Explicit indices, each used once.
    List(Vec<u64>),
}

impl Indices {
    pub fn range(start: u64, end: u64) -> Self {
        Self::Range { start, end }
    }

    pub fn len(&self) -> u64 {
        match self {
            Self::Range { start, end } => end.saturating_sub(*start),
            Self::List(v) => v.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th index (`i < len`).
    pub fn at(&self, i: u64) -> u64 {
        match self {
            Self::Range { start, .. } => start + i,
            Self::List(v) => v[i as usize],
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.len()).map(move |i| self.at(i))
    }

    pub fn to_vec(&self) -> Vec<u64> {
        self.iter().collect()
    }

    /// Largest index, if any.
    pub fn max(&self) -> Option<u64> {
        self.iter().max()
    }

    /// Smallest index, if any.
    pub fn min(&self) -> Option<u64> {
        self.iter().min()
    }
}

/// One fold: the GEMM indices on the array rows, on the array columns and on the stream (their
/// axes depend on the dataflow, see [`axes`]). `rows.len() ≤ R` and `cols.len() ≤ C`; unused PEs
/// idle, and the fold still takes a full fold's time (statically scheduled array, as SCALE-Sim).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlannedFold {
    pub rows: Indices,
    pub cols: Indices,
    pub steps: Indices,
}

impl PlannedFold {
    /// The span holding `axis` under `dataflow`.
    pub fn span(&self, dataflow: Dataflow, axis: Axis) -> &Indices {
        let [r, c, _] = axes(dataflow);
        if axis == r {
            &self.rows
        } else if axis == c {
            &self.cols
        } else {
            &self.steps
        }
    }

    /// Stall-free time of this fold on an R×C array (DESIGN §4): OS T + R + C − 2, WS/IS
    /// 2R + C + T − 2, with T = `steps.len()`.
    pub fn cycles(&self, dataflow: Dataflow, rows: u64, cols: u64) -> Cycles {
        let t = self.steps.len();
        Cycles(match dataflow {
            Dataflow::OutputStationary => t + rows + cols - 2,
            Dataflow::WeightStationary | Dataflow::InputStationary => 2 * rows + cols + t - 2,
        })
    }

    /// The fold `fold` of the fast model's dense [`crate::mapping::Mapping`], as a planned fold
    /// (its Sr and Sc ranges on the array, the whole streamed axis).
    pub fn from_mapping(mapping: &crate::mapping::Mapping, fold: &crate::mapping::Fold) -> Self {
        let steps = match mapping.dataflow {
            Dataflow::OutputStationary => fold.k,
            Dataflow::WeightStationary => fold.m,
            Dataflow::InputStationary => fold.n,
        };
        Self {
            rows: Indices::range(fold.rows.start, fold.rows.end),
            cols: Indices::range(fold.cols.start, fold.cols.end),
            steps: Indices::range(steps.start, steps.end),
        }
    }

    /// Multiply-accumulate slots the fold occupies with real operands
    /// (`rows.len() · cols.len() · steps.len()`).
    pub fn mac_slots(&self) -> u64 {
        self.rows.len() * self.cols.len() * self.steps.len()
    }

    /// The outputs (m, n) this fold covers, M-axis major.
    pub fn outputs(&self, dataflow: Dataflow) -> impl Iterator<Item = (u64, u64)> + '_ {
        let ms = self.span(dataflow, Axis::M);
        let ns = self.span(dataflow, Axis::N);
        ms.iter().flat_map(move |m| ns.iter().map(move |n| (m, n)))
    }
}

/// The GEMM extent of one pass: all M output pixels, all N filters, and the window indices
/// `k_start..k_end` this pass covers (the whole window for an ungated layer; `0..K_base` or
/// `K_base..K` for the two passes of a gated one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PassDims {
    pub m: u64,
    pub n: u64,
    pub k_start: u64,
    pub k_end: u64,
}

impl PassDims {
    fn axis(&self, axis: Axis) -> Indices {
        match axis {
            Axis::M => Indices::range(0, self.m),
            Axis::N => Indices::range(0, self.n),
            Axis::K => Indices::range(self.k_start, self.k_end),
        }
    }
}

/// Chunks `0..len` of `span` by `size`.
fn chunks(span: &Indices, size: u64) -> Vec<Indices> {
    let v = span.to_vec();
    v.chunks(size as usize)
        .map(|c| match span {
            Indices::Range { .. } => Indices::range(c[0], c[c.len() - 1] + 1),
            Indices::List(_) => Indices::List(c.to_vec()),
        })
        .collect()
}

/// The ordered folds of one GEMM pass.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PassSchedule {
    pub folds: Vec<PlannedFold>,
}

impl PassSchedule {
    /// Every fold of the pass: F_r·F_c folds, column folds outer, row folds inner, each streaming
    /// the whole T axis.
    pub fn dense(dims: &PassDims, rows: u64, cols: u64, dataflow: Dataflow) -> Self {
        let [ar, ac, at] = axes(dataflow);
        let steps = dims.axis(at);
        let mut folds = Vec::new();
        if dims.axis(ar).is_empty() || dims.axis(ac).is_empty() || steps.is_empty() {
            return Self { folds };
        }
        for c in chunks(&dims.axis(ac), cols.max(1)) {
            for r in chunks(&dims.axis(ar), rows.max(1)) {
                folds.push(PlannedFold {
                    rows: r,
                    cols: c.clone(),
                    steps: steps.clone(),
                });
            }
        }
        Self { folds }
    }

    /// The dense folds minus those whose covered outputs (OS M_i × N_j, WS all M × N_j,
    /// IS M_j × all N) all have gate 0.
    pub fn tile_skip(
        dims: &PassDims,
        rows: u64,
        cols: u64,
        dataflow: Dataflow,
        gate: impl Fn(u64, u64) -> bool,
    ) -> Self {
        let mut s = Self::dense(dims, rows, cols, dataflow);
        s.folds
            .retain(|f| f.outputs(dataflow).any(|(m, n)| gate(m, n)));
        s
    }

    /// Active work gathered into dense folds (DESIGN §4 `compact`):
    /// - OS: per column fold N_j, the active rows A_j = {m : ∃n ∈ N_j, g = 1} packed R at a time;
    /// - WS: per column fold N_j, every row fold streaming only A_j (skipped if A_j is empty);
    /// - IS: per column fold M_j, every row fold streaming only B_j = {n : ∃m ∈ M_j, g = 1}.
    pub fn compact(
        dims: &PassDims,
        rows: u64,
        cols: u64,
        dataflow: Dataflow,
        gate: impl Fn(u64, u64) -> bool,
    ) -> Self {
        let (rows, cols) = (rows.max(1), cols.max(1));
        let k = dims.axis(Axis::K);
        let mut folds = Vec::new();
        if k.is_empty() || dims.m == 0 || dims.n == 0 {
            return Self { folds };
        }
        match dataflow {
            Dataflow::OutputStationary => {
                for nj in chunks(&dims.axis(Axis::N), cols) {
                    let active: Vec<u64> = (0..dims.m)
                        .filter(|&m| nj.iter().any(|n| gate(m, n)))
                        .collect();
                    for packed in active.chunks(rows as usize) {
                        folds.push(PlannedFold {
                            rows: Indices::List(packed.to_vec()),
                            cols: nj.clone(),
                            steps: k.clone(),
                        });
                    }
                }
            }
            Dataflow::WeightStationary | Dataflow::InputStationary => {
                // WS: columns over N, steps over M; IS: columns over M, steps over N.
                let ws = dataflow == Dataflow::WeightStationary;
                let (col_axis, steps) = if ws {
                    (Axis::N, dims.m)
                } else {
                    (Axis::M, dims.n)
                };
                let gate_at =
                    |step: u64, col: u64| if ws { gate(step, col) } else { gate(col, step) };
                for cj in chunks(&dims.axis(col_axis), cols) {
                    let active: Vec<u64> = (0..steps)
                        .filter(|&t| cj.iter().any(|c| gate_at(t, c)))
                        .collect();
                    if active.is_empty() {
                        continue;
                    }
                    for ki in chunks(&k, rows) {
                        folds.push(PlannedFold {
                            rows: ki,
                            cols: cj.clone(),
                            steps: Indices::List(active.clone()),
                        });
                    }
                }
            }
        }
        Self { folds }
    }

    /// The folds `policy` keeps for a gated pass: `dense` and `clock-gate` keep every fold.
    pub fn for_policy(
        policy: SkipPolicy,
        dims: &PassDims,
        rows: u64,
        cols: u64,
        dataflow: Dataflow,
        gate: impl Fn(u64, u64) -> bool,
    ) -> Self {
        match policy {
            SkipPolicy::Dense | SkipPolicy::ClockGate => Self::dense(dims, rows, cols, dataflow),
            SkipPolicy::TileSkip => Self::tile_skip(dims, rows, cols, dataflow, gate),
            SkipPolicy::Compact => Self::compact(dims, rows, cols, dataflow, gate),
        }
    }

    /// Σ of [`PlannedFold::cycles`]: the stall-free time of the pass with folds run back to back.
    pub fn cycles(&self, dataflow: Dataflow, rows: u64, cols: u64) -> Cycles {
        self.folds
            .iter()
            .map(|f| f.cycles(dataflow, rows, cols))
            .sum()
    }

    /// Number of folds.
    pub fn len(&self) -> usize {
        self.folds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.folds.is_empty()
    }
}

/// Stall-free cycles of `folds` run back to back with `array.overlap_folds`, as the cycle-stepped
/// engine ([`crate::reference`]) realises them: OS folds start every T_f cycles
/// (Σ T_f + R + C − 2); WS/IS folds every max(T_f, R) cycles, because the next fold's
/// stationary operands take R cycles through the load chain and its partial sums must leave the
/// array first (R + Σ_{f<last} max(T_f, R) + T_last + R + C − 2). DESIGN §4's saving (R + C − 2,
/// plus R for WS/IS, per fold after the first) is this exactly when every T_f ≥ R. The engine
/// can take longer only when a fold accumulates onto an output the previous fold has not yet
/// written (gated schedules; never for dense ones).
pub fn overlapped_cycles<'a>(
    folds: impl IntoIterator<Item = &'a PlannedFold>,
    dataflow: Dataflow,
    rows: u64,
    cols: u64,
) -> Cycles {
    let mut steps = folds.into_iter().map(|f| f.steps.len()).peekable();
    if steps.peek().is_none() {
        return Cycles(0);
    }
    let mut total = 0;
    let mut last = 0;
    for t in steps {
        if last > 0 {
            total += match dataflow {
                Dataflow::OutputStationary => last,
                _ => last.max(rows),
            };
        }
        last = t;
    }
    Cycles(match dataflow {
        Dataflow::OutputStationary => total + last + rows + cols - 2,
        _ => rows + total + last + rows + cols - 2,
    })
}

/// The schedule of a gated layer: the base pass (k < K_base, never gated) to completion, then
/// the conditional pass (k ≥ K_base) accumulating onto the stored partial sums where the gate is
/// on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GatedSchedule {
    pub base: PassSchedule,
    pub cond: PassSchedule,
}

impl GatedSchedule {
    /// The schedule `policy` executes for `layer` gated by `spec`, with `gate(m, n)` the
    /// sample's expanded gate.
    pub fn for_policy(
        policy: SkipPolicy,
        layer: &LayerShape,
        spec: &GateSpec,
        rows: u64,
        cols: u64,
        dataflow: Dataflow,
        gate: impl Fn(u64, u64) -> bool,
    ) -> Self {
        let [base, cond] = split_dims(layer, spec);
        Self {
            base: PassSchedule::dense(&base, rows, cols, dataflow),
            cond: PassSchedule::for_policy(policy, &cond, rows, cols, dataflow, gate),
        }
    }

    /// Stall-free cycles of both passes run back to back.
    pub fn cycles(&self, dataflow: Dataflow, rows: u64, cols: u64) -> Cycles {
        self.base.cycles(dataflow, rows, cols) + self.cond.cycles(dataflow, rows, cols)
    }
}

/// `[base, cond]` pass extents of `layer` gated by `spec`.
pub fn split_dims(layer: &LayerShape, spec: &GateSpec) -> [PassDims; 2] {
    let g = layer.gemm();
    let k_base = layer.window_for(spec.base_channels);
    [
        PassDims {
            m: g.m,
            n: g.n,
            k_start: 0,
            k_end: k_base,
        },
        PassDims {
            m: g.m,
            n: g.n,
            k_start: k_base,
            k_end: g.k,
        },
    ]
}

/// The whole-window pass of an ungated layer.
pub fn layer_dims(layer: &LayerShape) -> PassDims {
    let g = layer.gemm();
    PassDims {
        m: g.m,
        n: g.n,
        k_start: 0,
        k_end: g.k,
    }
}

/// The expanded gate g(m, n) of one sample of a layer with `out_width` output columns: output
/// pixel m = oh·W_out + ow, filter n.
pub fn gate_fn(masks: &LayerMasks, sample: usize) -> impl Fn(u64, u64) -> bool + '_ {
    let wo = masks.out_shape()[2];
    move |m, n| masks.gate_at(sample, n, m / wo, m % wo)
}

// ---------------------------------------------------------------------------------------------
// Tensors
// ---------------------------------------------------------------------------------------------

/// A C×H×W integer feature map, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureMap {
    channels: usize,
    height: usize,
    width: usize,
    data: Vec<i64>,
}

impl FeatureMap {
    pub fn new(channels: usize, height: usize, width: usize, data: Vec<i64>) -> Result<Self> {
        let expected = channels * height * width;
        if data.len() != expected {
            return Err(FunctionalError::DataLength {
                tensor: "feature map",
                shape: vec![channels, height, width],
                expected,
                found: data.len(),
            });
        }
        Ok(Self {
            channels,
            height,
            width,
            data,
        })
    }

    pub fn from_fn(
        channels: usize,
        height: usize,
        width: usize,
        mut f: impl FnMut(usize, usize, usize) -> i64,
    ) -> Self {
        let mut data = Vec::with_capacity(channels * height * width);
        for c in 0..channels {
            for h in 0..height {
                for w in 0..width {
                    data.push(f(c, h, w));
                }
            }
        }
        Self {
            channels,
            height,
            width,
            data,
        }
    }

    /// `[C, H, W]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    pub fn get(&self, c: usize, h: usize, w: usize) -> i64 {
        self.data[(c * self.height + h) * self.width + w]
    }

    pub fn as_slice(&self) -> &[i64] {
        &self.data
    }
}

/// N×C×kh×kw integer filters, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filters {
    shape: [usize; 4],
    data: Vec<i64>,
}

impl Filters {
    pub fn new(shape: [usize; 4], data: Vec<i64>) -> Result<Self> {
        let expected = shape.iter().product();
        if data.len() != expected {
            return Err(FunctionalError::DataLength {
                tensor: "filters",
                shape: shape.to_vec(),
                expected,
                found: data.len(),
            });
        }
        Ok(Self { shape, data })
    }

    pub fn from_fn(
        shape: [usize; 4],
        mut f: impl FnMut(usize, usize, usize, usize) -> i64,
    ) -> Self {
        let [n, c, kh, kw] = shape;
        let mut data = Vec::with_capacity(n * c * kh * kw);
        for a in 0..n {
            for b in 0..c {
                for y in 0..kh {
                    for x in 0..kw {
                        data.push(f(a, b, y, x));
                    }
                }
            }
        }
        Self { shape, data }
    }

    /// `[N, C, kh, kw]`.
    pub fn shape(&self) -> [usize; 4] {
        self.shape
    }

    pub fn get(&self, n: usize, c: usize, y: usize, x: usize) -> i64 {
        let [_, cc, kh, kw] = self.shape;
        self.data[((n * cc + c) * kh + y) * kw + x]
    }
}

fn usize_of(layer: &LayerShape, what: &str, v: u64) -> Result<usize> {
    usize::try_from(v).map_err(|_| FunctionalError::TooLarge {
        layer: layer.name().to_owned(),
        what: format!("{what} = {v}"),
    })
}

/// Refuses GEMMs whose operands would not fit comfortably in memory (the functional model is
/// for checking, on small layers).
fn check_size(layer: &LayerShape) -> Result<()> {
    let g = layer.gemm();
    let elems = g.m.saturating_mul(g.k) + g.k.saturating_mul(g.n) + g.m.saturating_mul(g.n);
    if elems > 1 << 28 {
        return Err(FunctionalError::TooLarge {
            layer: layer.name().to_owned(),
            what: format!("{elems} GEMM operand elements; limit {}", 1u64 << 28),
        });
    }
    Ok(())
}

/// The im2col matrix A (M×K) of `input` for `layer`: `A[m][k]` with m = oh·W_out + ow and
/// k = c·kh·kw + dy·kw + dx; taps outside the input (padding, or the implicit bottom/right
/// padding of the `ceil` rule) are zero.
pub fn im2col(layer: &LayerShape, input: &FeatureMap) -> Result<Matrix> {
    check_size(layer)?;
    let want = [
        usize_of(layer, "in_channels", layer.in_channels())?,
        usize_of(layer, "in_height", layer.in_height())?,
        usize_of(layer, "in_width", layer.in_width())?,
    ];
    if input.shape() != want {
        return Err(FunctionalError::TensorShape {
            layer: layer.name().to_owned(),
            tensor: "input",
            expected: want.to_vec(),
            found: input.shape().to_vec(),
        });
    }
    let [kh, kw] = layer.kernel().map(|v| v as usize);
    let (s, p) = (layer.stride() as i64, layer.padding() as i64);
    let (ho, wo) = (layer.out_height() as usize, layer.out_width() as usize);
    let [c_in, h_in, w_in] = want;
    let k = c_in * kh * kw;
    Ok(Matrix::from_fn(ho * wo, k, |m, kk| {
        let (oh, ow) = ((m / wo) as i64, (m % wo) as i64);
        let c = kk / (kh * kw);
        let (dy, dx) = (((kk / kw) % kh) as i64, (kk % kw) as i64);
        let (y, x) = (oh * s + dy - p, ow * s + dx - p);
        if y < 0 || x < 0 || y >= h_in as i64 || x >= w_in as i64 {
            0
        } else {
            input.get(c, y as usize, x as usize)
        }
    }))
}

/// The filter matrix B (K×N): `B[k][n] = W[n][c][dy][dx]` with k = c·kh·kw + dy·kw + dx.
pub fn filter_matrix(layer: &LayerShape, weights: &Filters) -> Result<Matrix> {
    check_size(layer)?;
    let want = [
        usize_of(layer, "out_channels", layer.out_channels())?,
        usize_of(layer, "in_channels", layer.in_channels())?,
        layer.kernel()[0] as usize,
        layer.kernel()[1] as usize,
    ];
    if weights.shape() != want {
        return Err(FunctionalError::TensorShape {
            layer: layer.name().to_owned(),
            tensor: "weights",
            expected: want.to_vec(),
            found: weights.shape().to_vec(),
        });
    }
    let [n, c_in, kh, kw] = want;
    Ok(Matrix::from_fn(c_in * kh * kw, n, |kk, nn| {
        weights.get(nn, kk / (kh * kw), (kk / kw) % kh, kk % kw)
    }))
}

/// The N×H_out×W_out output map of an M×N GEMM result.
pub fn output_map(layer: &LayerShape, out: &Matrix) -> FeatureMap {
    let (ho, wo) = (layer.out_height() as usize, layer.out_width() as usize);
    FeatureMap::from_fn(layer.out_channels() as usize, ho, wo, |n, h, w| {
        out.get(h * wo + w, n)
    })
}

// ---------------------------------------------------------------------------------------------
// Executor
// ---------------------------------------------------------------------------------------------

/// What the executed folds did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExecStats {
    /// Folds executed.
    pub folds: u64,
    /// Multiplies actually performed (ungated slots and gated slots with the gate on).
    pub macs_performed: u64,
    /// MAC slots of kept folds whose output gate was off (clock-gated, nothing accumulated).
    pub macs_clock_gated: u64,
    /// Outputs written back by the executed folds (with multiplicity).
    pub output_writes: u64,
}

/// Which pass a fold belongs to, for the errors and the k-range check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PassKind {
    Whole,
    Base,
    Cond,
}

impl PassKind {
    fn name(self) -> &'static str {
        match self {
            Self::Whole => "dense",
            Self::Base => "base",
            Self::Cond => "conditional",
        }
    }
}

/// The array an executor maps folds onto.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayShape {
    pub rows: u64,
    pub cols: u64,
    pub dataflow: Dataflow,
}

impl ArrayShape {
    fn check(&self) -> Result<()> {
        if self.rows == 0 || self.cols == 0 {
            return Err(FunctionalError::EmptyArray {
                rows: self.rows,
                cols: self.cols,
            });
        }
        Ok(())
    }
}

/// Checks that `fold` fits the array and stays inside `dims` (so a base fold never reads a
/// conditional channel and vice versa).
fn check_fold(
    fold: &PlannedFold,
    index: usize,
    pass: PassKind,
    array: &ArrayShape,
    dims: &PassDims,
) -> Result<()> {
    let err = |problem: String| FunctionalError::PlannedFold {
        pass: pass.name(),
        fold: index,
        problem,
    };
    if fold.rows.len() > array.rows || fold.cols.len() > array.cols {
        return Err(err(format!(
            "uses {}×{} PEs; the array has {}×{}",
            fold.rows.len(),
            fold.cols.len(),
            array.rows,
            array.cols
        )));
    }
    if fold.rows.is_empty() || fold.cols.is_empty() || fold.steps.is_empty() {
        return Err(err("has an empty index span".into()));
    }
    for axis in [Axis::M, Axis::K, Axis::N] {
        let span = fold.span(array.dataflow, axis);
        let (lo, hi) = match axis {
            Axis::M => (0, dims.m),
            Axis::N => (0, dims.n),
            Axis::K => (dims.k_start, dims.k_end),
        };
        let (min, max) = (span.min().unwrap_or(lo), span.max().unwrap_or(lo));
        if min < lo || max >= hi {
            return Err(err(format!(
                "{axis:?} indices {min}..={max} leave the pass range {lo}..{hi}"
            )));
        }
        if let Indices::List(v) = span {
            let mut sorted = v.clone();
            sorted.sort_unstable();
            if sorted.windows(2).any(|w| w[0] == w[1]) {
                return Err(err(format!("{axis:?} index list repeats an index")));
            }
        }
    }
    Ok(())
}

/// One pass to execute: which pass it is, its GEMM extent, its folds and, for the conditional
/// pass, the gate.
struct Pass<'a> {
    kind: PassKind,
    dims: &'a PassDims,
    schedule: &'a PassSchedule,
    gate: Option<&'a dyn Fn(u64, u64) -> bool>,
}

/// Runs the folds of `pass` on the GEMM `a`·`b`, accumulating into `out`. Each fold computes its
/// output tile (the M-span × N-span it covers) as partial sums over its K-span, then adds the
/// tile onto `out`; when the pass has a gate, outputs whose gate is off are clock-gated.
fn execute_pass(
    a: &Matrix,
    b: &Matrix,
    array: &ArrayShape,
    pass: Pass<'_>,
    out: &mut Matrix,
    stats: &mut ExecStats,
) -> Result<()> {
    let Pass {
        kind,
        dims,
        schedule,
        gate,
    } = pass;
    let df = array.dataflow;
    for (i, fold) in schedule.folds.iter().enumerate() {
        check_fold(fold, i, kind, array, dims)?;
        let (ms, ks, ns) = (
            fold.span(df, Axis::M),
            fold.span(df, Axis::K),
            fold.span(df, Axis::N),
        );
        let width = ns.len() as usize;
        let mut tile = vec![0i64; ms.len() as usize * width];
        for (pm, m) in ms.iter().enumerate() {
            for (pn, n) in ns.iter().enumerate() {
                if gate.is_some_and(|g| !g(m, n)) {
                    stats.macs_clock_gated += ks.len();
                    continue;
                }
                let mut acc = 0i64;
                for k in ks.iter() {
                    acc += a.get(m as usize, k as usize) * b.get(k as usize, n as usize);
                }
                stats.macs_performed += ks.len();
                tile[pm * width + pn] = acc;
            }
        }
        for (pm, m) in ms.iter().enumerate() {
            for (pn, n) in ns.iter().enumerate() {
                out.add(m as usize, n as usize, tile[pm * width + pn]);
                stats.output_writes += 1;
            }
        }
        stats.folds += 1;
    }
    Ok(())
}

/// Executes an ungated layer fold by fold (`schedule`, usually [`PassSchedule::dense`] of
/// [`layer_dims`]) and returns the N×H_out×W_out output.
pub fn run_layer(
    layer: &LayerShape,
    input: &FeatureMap,
    weights: &Filters,
    array: &ArrayShape,
    schedule: &PassSchedule,
) -> Result<(FeatureMap, ExecStats)> {
    array.check()?;
    let a = im2col(layer, input)?;
    let b = filter_matrix(layer, weights)?;
    let mut out = Matrix::zeros(a.rows(), b.cols());
    let mut stats = ExecStats::default();
    execute_pass(
        &a,
        &b,
        array,
        Pass {
            kind: PassKind::Whole,
            dims: &layer_dims(layer),
            schedule,
            gate: None,
        },
        &mut out,
        &mut stats,
    )?;
    Ok((output_map(layer, &out), stats))
}

/// Executes a gated layer: the base pass of `schedule` (ungated, k < K_base) then its
/// conditional pass (k ≥ K_base), which adds onto the stored partial sums only where
/// `gate(m, n)` is on. With a schedule that keeps every fold holding an active output the
/// result is `P + d ⊙ Cond`.
///
/// Values do not depend on how inactive outputs of kept folds are handled, so the executor
/// always clock-gates them (`macs_clock_gated`); the `dense` policy, which the cycle model
/// charges as if it multiplied them and discarded the result at write-back, computes the same
/// numbers.
pub fn run_gated_layer(
    layer: &LayerShape,
    spec: &GateSpec,
    input: &FeatureMap,
    weights: &Filters,
    array: &ArrayShape,
    schedule: &GatedSchedule,
    gate: impl Fn(u64, u64) -> bool,
) -> Result<(FeatureMap, ExecStats)> {
    array.check()?;
    let a = im2col(layer, input)?;
    let b = filter_matrix(layer, weights)?;
    let [base, cond] = split_dims(layer, spec);
    let mut out = Matrix::zeros(a.rows(), b.cols());
    let mut stats = ExecStats::default();
    execute_pass(
        &a,
        &b,
        array,
        Pass {
            kind: PassKind::Base,
            dims: &base,
            schedule: &schedule.base,
            gate: None,
        },
        &mut out,
        &mut stats,
    )?;
    execute_pass(
        &a,
        &b,
        array,
        Pass {
            kind: PassKind::Cond,
            dims: &cond,
            schedule: &schedule.cond,
            gate: Some(&gate),
        },
        &mut out,
        &mut stats,
    )?;
    Ok((output_map(layer, &out), stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_schedule_orders_column_folds_outer() {
        let dims = PassDims {
            m: 5,
            n: 3,
            k_start: 0,
            k_end: 4,
        };
        let s = PassSchedule::dense(&dims, 2, 2, Dataflow::OutputStationary);
        // F_r = 3 (m), F_c = 2 (n).
        assert_eq!(s.len(), 6);
        assert_eq!(s.folds[0].rows, Indices::range(0, 2));
        assert_eq!(s.folds[1].rows, Indices::range(2, 4));
        assert_eq!(s.folds[2].rows, Indices::range(4, 5));
        assert_eq!(s.folds[3].cols, Indices::range(2, 3));
        assert_eq!(
            s.cycles(Dataflow::OutputStationary, 2, 2),
            Cycles(6 * (4 + 2))
        );
    }

    #[test]
    fn bad_fold_is_named() {
        let dims = PassDims {
            m: 2,
            n: 2,
            k_start: 0,
            k_end: 2,
        };
        let array = ArrayShape {
            rows: 1,
            cols: 1,
            dataflow: Dataflow::OutputStationary,
        };
        let s = PassSchedule {
            folds: vec![PlannedFold {
                rows: Indices::range(0, 2),
                cols: Indices::range(0, 1),
                steps: Indices::range(0, 2),
            }],
        };
        let a = Matrix::zeros(2, 2);
        let mut out = Matrix::zeros(2, 2);
        let e = execute_pass(
            &a,
            &a,
            &array,
            Pass {
                kind: PassKind::Base,
                dims: &dims,
                schedule: &s,
                gate: None,
            },
            &mut out,
            &mut ExecStats::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("fold 0 of the base pass") && e.contains("2×1"),
            "{e}"
        );
    }
}
