//! Functional model: executes a layer's schedule (the folds a skip policy keeps, as a
//! [`PassSchedule`] or [`GatedSchedule`]) on real integer tensors, so that what the cycle model
//! counts is also shown to compute the right numbers (docs/model.md §9). The lowering is the
//! im2col GEMM of [`crate::schedule`].

use crate::dataflow::{self, Axis};
use crate::error::SimError;
use crate::matrix::Matrix;
use crate::schedule::{
    GatedSchedule, Indices, PassDims, PassSchedule, PlannedFold, layer_dims, split_dims,
};
use cdg_core::{Dataflow, GateSpec, LayerShape};

type Result<T, E = SimError> = std::result::Result<T, E>;

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
            return Err(SimError::DataLength {
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
            return Err(SimError::DataLength {
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
    usize::try_from(v).map_err(|_| SimError::TooLarge {
        layer: layer.name().to_owned(),
        what: format!("{what} = {v}"),
    })
}

/// A tensor whose shape disagrees with `layer`.
fn tensor_shape(layer: &LayerShape, tensor: &str, expected: &[usize], found: &[usize]) -> SimError {
    SimError::layer(
        layer.name(),
        format!("{tensor} has shape {found:?}; expected {expected:?}"),
    )
}

/// Refuses GEMMs whose operands would not fit comfortably in memory (the functional model is
/// for checking, on small layers).
fn check_size(layer: &LayerShape) -> Result<()> {
    let g = crate::baseline::LayerGemm::of(layer).total();
    let elems = g.m.saturating_mul(g.k) + g.k.saturating_mul(g.n) + g.m.saturating_mul(g.n);
    if elems > 1 << 28 {
        return Err(SimError::TooLarge {
            layer: layer.name().to_owned(),
            what: format!("{elems} GEMM operand elements; limit {}", 1u64 << 28),
        });
    }
    Ok(())
}

/// The im2col matrix A (M×K) of `input` for `layer`: `A[m][k]` with m = oh·W_out + ow and
/// k = c·kh·kw + dy·kw + dx over all C_in channels (for a grouped layer K = G·K_g, group g's
/// window being columns g·K_g..(g+1)·K_g); tap (dy, dx) reads input row oh·s + dy·d − p and
/// column ow·s + dx·d − p (d the dilation); taps outside the input (padding, or the implicit
/// bottom/right padding of the `ceil` rule) are zero.
pub fn im2col(layer: &LayerShape, input: &FeatureMap) -> Result<Matrix> {
    check_size(layer)?;
    let want = [
        usize_of(layer, "in_channels", layer.in_channels())?,
        usize_of(layer, "in_height", layer.in_height())?,
        usize_of(layer, "in_width", layer.in_width())?,
    ];
    if input.shape() != want {
        return Err(tensor_shape(layer, "input", &want, &input.shape()));
    }
    let [kh, kw] = layer.kernel().map(|v| v as usize);
    let (s, p) = (layer.stride() as i64, layer.padding() as i64);
    let d = layer.dilation() as i64;
    let (ho, wo) = (layer.out_height() as usize, layer.out_width() as usize);
    let [c_in, h_in, w_in] = want;
    let k = c_in * kh * kw;
    Ok(Matrix::from_fn(ho * wo, k, |m, kk| {
        let (oh, ow) = ((m / wo) as i64, (m % wo) as i64);
        let c = kk / (kh * kw);
        let (dy, dx) = (((kk / kw) % kh) as i64, (kk % kw) as i64);
        let (y, x) = (oh * s + dy * d - p, ow * s + dx * d - p);
        if y < 0 || x < 0 || y >= h_in as i64 || x >= w_in as i64 {
            0
        } else {
            input.get(c, y as usize, x as usize)
        }
    }))
}

/// The filter matrix B (K×N): `B[k][n] = W[n][c][dy][dx]` with k = c·kh·kw + dy·kw + dx. For a
/// grouped layer `weights` is N × C_in/G × kh × kw and B is block-diagonal: `B[k][n]` is
/// `W[n][c − g·C_in/G][dy][dx]` when input channel c and filter n are both in group g, else 0.
pub fn filter_matrix(layer: &LayerShape, weights: &Filters) -> Result<Matrix> {
    check_size(layer)?;
    let want = [
        usize_of(layer, "out_channels", layer.out_channels())?,
        usize_of(
            layer,
            "in_channels_per_group",
            layer.in_channels_per_group(),
        )?,
        layer.kernel()[0] as usize,
        layer.kernel()[1] as usize,
    ];
    if weights.shape() != want {
        return Err(tensor_shape(layer, "weights", &want, &weights.shape()));
    }
    let [n, c_g, kh, kw] = want;
    let groups = layer.groups() as usize;
    let n_g = n / groups;
    Ok(Matrix::from_fn(groups * c_g * kh * kw, n, |kk, nn| {
        let c = kk / (kh * kw);
        if c / c_g != nn / n_g {
            return 0;
        }
        weights.get(nn, c % c_g, (kk / kw) % kh, kk % kw)
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
            Self::Whole => "dense pass",
            Self::Base => "base pass",
            Self::Cond => "conditional pass",
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
            return Err(SimError::empty_array(self.rows, self.cols));
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
    let err = |problem: String| SimError::Fold {
        schedule: pass.name(),
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
    let axes = dataflow::model(array.dataflow).axes();
    for axis in [Axis::M, Axis::K, Axis::N] {
        let span = fold.span_in(axes, axis);
        let (lo, hi) = match axis {
            Axis::M => (0, dims.m),
            Axis::N => (0, dims.n),
            Axis::K => (dims.k_start, dims.k_end),
        };
        if axis == Axis::K && dims.groups > 1 {
            // Every group's k_start..k_end.
            let kg = dims.k_group.max(1);
            if let Some(k) = span
                .iter()
                .find(|&k| k >= dims.groups * kg || !(lo..hi).contains(&(k % kg)))
            {
                return Err(err(format!(
                    "K index {k} leaves the pass range {lo}..{hi} of its group (K_g = {kg}, \
                     {} groups)",
                    dims.groups
                )));
            }
        } else {
            let (min, max) = (
                span.iter().min().unwrap_or(lo),
                span.iter().max().unwrap_or(lo),
            );
            if min < lo || max >= hi {
                return Err(err(format!(
                    "{axis:?} indices {min}..={max} leave the pass range {lo}..{hi}"
                )));
            }
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
    let axes = dataflow::model(array.dataflow).axes();
    for (i, fold) in schedule.folds.iter().enumerate() {
        check_fold(fold, i, kind, array, dims)?;
        let (ms, ks, ns) = (
            fold.span_in(axes, Axis::M),
            fold.span_in(axes, Axis::K),
            fold.span_in(axes, Axis::N),
        );
        let width = ns.len() as usize;
        let mut tile = vec![0i64; ms.len() as usize * width];
        // Real MACs of output column n: its group's k indices among the fold's (all of them
        // for an ungrouped pass; a block-diagonal weight is absent elsewhere).
        let (kg, ng) = (dims.k_group.max(1), (dims.n / dims.groups.max(1)).max(1));
        let real = |n: u64| -> u64 {
            if dims.groups == 1 {
                ks.len()
            } else {
                ks.iter().filter(|&k| k / kg == n / ng).count() as u64
            }
        };
        for (pm, m) in ms.iter().enumerate() {
            for (pn, n) in ns.iter().enumerate() {
                if gate.is_some_and(|g| !g(m, n)) {
                    stats.macs_clock_gated += real(n);
                    continue;
                }
                let mut acc = 0i64;
                for k in ks.iter() {
                    acc += a.get(m as usize, k as usize) * b.get(k as usize, n as usize);
                }
                stats.macs_performed += real(n);
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
    fn bad_fold_is_named() {
        let dims = PassDims::plain(2, 2, 0, 2);
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
