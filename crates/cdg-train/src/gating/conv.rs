//! The gated 3×3 convolution.

use crate::error::{Result, TrainError};
use crate::gating::quantile::{fast_quantile_threshold, quantile_threshold};
use crate::layers::{
    Buffer, Conv, Conv2dConfig, ConvSpec, Mode, Module, Param, ParamKind, join_name,
};
use crate::ops::direct::{self, Columns, Padded};
use crate::ops::kernel::{LANES, Store};
use crate::ops::sigmoid::{sigmoid, soft_gates_rows};
use crate::ops::{self, BatchNormCache, ConvGeom, layout};
use crate::scalar::Scalar;
use ndarray::{Array1, Array4, ArrayView3, ArrayView4, Axis, Ix1, Ix4, ShapeBuilder, s};
use rand::RngCore;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use std::any::Any;
use std::sync::OnceLock;

/// Gate granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Granularity {
    /// One gate per output element.
    Unstructured,
    /// One gate per `gate_block` c×h×w block (block-mean rule).
    Structured,
}

/// How the thresholds Δ_c are set during training.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThresholdMode {
    /// Δ_c learnable (initial 0) with the L2 pull `λ·Σ(Δ_c − target)²`.
    Learned { target: f64, lambda: f64 },
    /// Δ_c = the r(t)-quantile of the channel block's block-averaged saliency over the
    /// batch, set each step by the trainer through [`GatedConv::set_schedule`]; no gradient.
    Scheduled,
}

/// Gate hyper-parameters shared by every gated layer of a network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateConfig {
    /// `p`: base channels are ⌈C_in/p⌉.
    pub base_partitions: usize,
    /// Gate block (channels, rows, columns); `[1, 1, 1]` is unstructured.
    pub block: [usize; 3],
    /// Sharpness α of the sigmoid surrogate.
    pub alpha: f64,
    pub threshold: ThresholdMode,
    /// Saliency normalisation: running-statistics momentum and ε.
    pub norm_momentum: f64,
    pub norm_eps: f64,
    /// How training forwards compute the conditional convolution.
    pub cond: CondCompute,
}

/// How a training forward computes the conditional convolution Q (docs/training.md §3).
/// Evaluation forwards always compute Q only where the gate is on (their result is exact).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CondCompute {
    /// Densely for every output, then masked: the straight-through gradient of every block is
    /// exact.
    Masked,
    /// Only for the blocks whose z_block > −margin: every active block and the inactive ones
    /// within `margin` of the threshold. The straight-through gradient of the other inactive
    /// blocks (which needs their Q) is taken as 0; everything else is exact. Structured gates
    /// with at least 8 channels per block only; others compute Q as `Masked`.
    Skip { margin: f64 },
}

impl GateConfig {
    /// Defaults for a granularity (docs/training.md §3): p = 4, α = 2, block 16×1×1 when
    /// structured.
    pub fn new(granularity: Granularity, block: [usize; 3], threshold: ThresholdMode) -> Self {
        GateConfig {
            base_partitions: 4,
            block: match granularity {
                Granularity::Unstructured => [1, 1, 1],
                Granularity::Structured => block,
            },
            alpha: 2.0,
            threshold,
            norm_momentum: 0.1,
            norm_eps: 1e-5,
            cond: CondCompute::Masked,
        }
    }

    /// Checks sizes; the error names the key.
    pub fn validate(&self) -> Result<()> {
        if self.base_partitions == 0 {
            return Err(TrainError::config("base_partitions", "must be ≥ 1"));
        }
        if self.block.contains(&0) {
            return Err(TrainError::config(
                "gate_block",
                format!("every dimension must be ≥ 1, found {:?}", self.block),
            ));
        }
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            return Err(TrainError::config("alpha", "must be a positive number"));
        }
        if let CondCompute::Skip { margin } = self.cond
            && (margin.is_nan() || margin < 0.0)
        {
            return Err(TrainError::config(
                "train_skip_margin",
                format!("must be ≥ 0 (or infinite), found {margin}"),
            ));
        }
        Ok(())
    }

    pub fn granularity(&self) -> Granularity {
        if self.block == [1, 1, 1] {
            Granularity::Unstructured
        } else {
            Granularity::Structured
        }
    }
}

/// `[⌈C/bc⌉, ⌈H/bh⌉, ⌈W/bw⌉]`.
pub fn block_grid(c: usize, h: usize, w: usize, block: [usize; 3]) -> [usize; 3] {
    [
        c.div_ceil(block[0]),
        h.div_ceil(block[1]),
        w.div_ceil(block[2]),
    ]
}

/// Channel blocks narrower than this compute Q densely (a skipping micro-kernel call would
/// fill too few of its 16 lanes).
const MIN_SKIP_CHANNELS: usize = 8;

/// What the last forward pass gated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GateRecord {
    /// Active output elements (gate on) per image.
    pub active: Vec<u64>,
    /// Output elements per image (C_out·H_out·W_out).
    pub elements: u64,
    /// Output map (H_out, W_out).
    pub out_hw: (usize, usize),
    /// Block gates `[N, gc, gh, gw]` (0/1), kept when recording is on.
    pub blocks: Option<Array4<u8>>,
}

impl GateRecord {
    /// Fraction of gated-off output elements over images `range` (all when `None`).
    pub fn sparsity(&self, range: Option<std::ops::Range<usize>>) -> f64 {
        let r = range.unwrap_or(0..self.active.len());
        let n = r.len() as u64 * self.elements;
        if n == 0 {
            return 0.0;
        }
        let a: u64 = self.active[r].iter().sum();
        1.0 - a as f64 / n as f64
    }
}

/// The block structure of one layer's output (N × C × H × W, channels-last).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Blocks {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    block: [usize; 3],
    grid: [usize; 3],
}

impl Blocks {
    fn new((n, c, h, w): (usize, usize, usize, usize), block: [usize; 3]) -> Self {
        Blocks {
            n,
            c,
            h,
            w,
            block,
            grid: block_grid(c, h, w, block),
        }
    }
    /// Blocks per image.
    fn per_image(&self) -> usize {
        self.grid.iter().product()
    }
    /// Elements in each block of an image (edge blocks have fewer), in block order.
    fn counts(&self) -> Vec<f64> {
        let [bc, bh, bw] = self.block;
        let [gc, gh, gw] = self.grid;
        let mut cnt = vec![0.0; gc * gh * gw];
        for jc in 0..gc {
            let cc = ((jc + 1) * bc).min(self.c) - jc * bc;
            for jh in 0..gh {
                let hh = ((jh + 1) * bh).min(self.h) - jh * bh;
                for jw in 0..gw {
                    let ww = ((jw + 1) * bw).min(self.w) - jw * bw;
                    cnt[(jc * gh + jh) * gw + jw] = (cc * hh * ww) as f64;
                }
            }
        }
        cnt
    }
    /// Per pixel of an image (row-major), its spatial block `jh·gw + jw`.
    fn pixel_blocks(&self) -> Vec<usize> {
        let [_, bh, bw] = self.block;
        let gw = self.grid[2];
        (0..self.h * self.w)
            .map(|p| (p / self.w / bh) * gw + (p % self.w) / bw)
            .collect()
    }
    /// Per channel, its channel block times gh·gw (so `chan[c] + pix[p]` is the block).
    fn channel_blocks(&self) -> Vec<usize> {
        let stride = self.grid[1] * self.grid[2];
        (0..self.c).map(|c| (c / self.block[0]) * stride).collect()
    }
}

/// Per channel block, the flat output pixels `(image·H + row)·W + column` whose gate `keep`
/// selects, ascending.
fn pixel_lists(b: &Blocks, gates: &[u8]) -> Vec<Vec<u32>> {
    let [gc, gh, gw] = b.grid;
    let pix = b.pixel_blocks();
    (0..gc)
        .into_par_iter()
        .map(|jc| {
            let mut v = Vec::new();
            for i in 0..b.n {
                let g = &gates[(i * gc + jc) * gh * gw..][..gh * gw];
                for (p, &pb) in pix.iter().enumerate() {
                    if g[pb] != 0 {
                        v.push((i * b.h * b.w + p) as u32);
                    }
                }
            }
            v
        })
        .collect()
}

/// Column groups of the channel blocks (pieces of at most [`LANES`] channels), each with its
/// block's pixel list.
fn block_columns<'a>(b: &Blocks, lists: &'a [Vec<u32>]) -> Vec<Columns<'a>> {
    let bc = b.block[0];
    let mut cols = Vec::new();
    for (jc, list) in lists.iter().enumerate() {
        let (c0, c1) = (jc * bc, ((jc + 1) * bc).min(b.c));
        for n0 in (c0..c1).step_by(LANES) {
            cols.push(Columns {
                n0,
                width: LANES.min(c1 - n0),
                pixels: Some(list),
            });
        }
    }
    cols
}

#[derive(Debug, Clone)]
struct Cache<T: Scalar> {
    norm: BatchNormCache<T>,
    batch_stats: bool,
    /// Block-level pre-gate z_block = mean_block(s) − mean_block(Δ), N×gc×gh×gw.
    zb: Array4<T>,
    /// Conditional conv output Q, channels-last; valid where `q_valid` (per block) is set.
    q: Vec<T>,
    /// Per block (N×gc×gh×gw order): whether Q was computed there.
    q_valid: Option<Vec<bool>>,
    blocks: Blocks,
    /// Per channel block, the active pixels (the skipping path's weight gradient).
    active_lists: Option<Vec<Vec<u32>>>,
    /// Soft gates σ(α(s − Δ)) (channels-last), computed once when first asked for (by the
    /// consistency loss) and reused by the backward, so both see the same values.
    soft: OnceLock<Vec<T>>,
}

impl<T: Scalar> Cache<T> {
    /// The soft gates of this forward (channels-last), computed on first use.
    fn soft_gates(&self, alpha: f64, delta: &[f64]) -> &[T] {
        self.soft.get_or_init(|| {
            let c = self.blocks.c;
            let xs = xhat_data(&self.norm);
            let mut g = vec![T::zero(); xs.len()];
            if c > 0 {
                g.par_chunks_mut(c * 256)
                    .zip(xs.par_chunks(c * 256))
                    .for_each(|(o, x)| soft_gates_rows(o, x, delta, alpha));
            }
            g
        })
    }
}

/// A gated 3×3 (or any k×k) convolution; see the module docs.
#[derive(Debug, Clone)]
pub struct GatedConv<T: Scalar = f32> {
    name: String,
    in_channels: usize,
    out_channels: usize,
    base_channels: usize,
    config: Conv2dConfig,
    gate: GateConfig,
    /// Full weight N_out×C_in×k×k; input channels `..base_channels` are the base path.
    pub weight: Param<T>,
    /// Thresholds Δ_c, one per output channel.
    pub threshold: Param<T>,
    pub running_mean: Buffer<T>,
    pub running_var: Buffer<T>,
    /// Scheduled mode: the quantile r(t) to apply in the next training forward.
    schedule: Option<f64>,
    /// Normalise with running statistics even in training (tests of pair independence).
    pub freeze_stats: bool,
    /// Use the straight-through surrogate in backward (off: the exact gradient of the
    /// piecewise-constant hard gate, i.e. none through d; for finite-difference tests).
    pub straight_through: bool,
    /// Keep block gates of each forward in [`GateRecord::blocks`].
    pub record_blocks: bool,
    /// ∂L_gate/∂g for the soft gates of the last training forward (set by the trainer).
    gate_grad: Option<Array4<T>>,
    record: GateRecord,
    /// The last forward's zero-padded input (memory reused by the next forward).
    padded: Padded<T>,
    cache: Option<Cache<T>>,
}

/// A [`crate::layers::ConvFactory`] that builds [`GatedConv`]s with `gate`.
pub fn gated_conv_factory<T: Scalar>(
    gate: GateConfig,
) -> impl FnMut(&ConvSpec, &mut dyn RngCore) -> Result<Box<dyn Conv<T>>> {
    move |spec, rng| {
        Ok(Box::new(GatedConv::<T>::new(
            &spec.name,
            spec.in_channels,
            spec.out_channels,
            spec.config,
            gate,
            rng,
        )?) as Box<dyn Conv<T>>)
    }
}

impl<T: Scalar> GatedConv<T> {
    /// A gated convolution with Kaiming-normal (fan-out) weights and Δ = 0.
    pub fn new(
        name: &str,
        in_channels: usize,
        out_channels: usize,
        config: Conv2dConfig,
        gate: GateConfig,
        rng: &mut dyn RngCore,
    ) -> Result<Self> {
        let k = config.kernel;
        let std = (2.0 / (out_channels * k * k) as f64).sqrt();
        let normal = Normal::new(0.0, std).expect("finite std");
        let w = Array4::from_shape_simple_fn((out_channels, in_channels, k, k), || {
            T::of(normal.sample(rng))
        });
        Self::from_weights(name, w, config, gate)
    }

    /// A gated convolution with the given weight (N_out×C_in×k×k).
    pub fn from_weights(
        name: &str,
        weight: Array4<T>,
        config: Conv2dConfig,
        gate: GateConfig,
    ) -> Result<Self> {
        gate.validate()?;
        if config.bias {
            return Err(TrainError::config(
                name,
                "gated convolutions have no bias (BatchNorm follows)",
            ));
        }
        let (out_channels, in_channels, kh, _) = weight.dim();
        if in_channels == 0 || out_channels == 0 {
            return Err(TrainError::config(
                name,
                "needs ≥ 1 input and output channel",
            ));
        }
        let base_channels = in_channels.div_ceil(gate.base_partitions);
        let config = Conv2dConfig {
            kernel: kh,
            ..config
        };
        Ok(GatedConv {
            name: name.to_owned(),
            in_channels,
            out_channels,
            base_channels,
            config,
            gate,
            weight: Param::new(
                join_name(name, "weight"),
                ParamKind::Weight,
                weight.into_dyn(),
            ),
            threshold: Param::new(
                join_name(name, "gate.threshold"),
                ParamKind::Threshold,
                Array1::<T>::zeros(out_channels).into_dyn(),
            ),
            running_mean: Buffer::new(
                join_name(name, "gate.running_mean"),
                Array1::<T>::zeros(out_channels).into_dyn(),
            ),
            running_var: Buffer::new(
                join_name(name, "gate.running_var"),
                Array1::<T>::ones(out_channels).into_dyn(),
            ),
            schedule: None,
            freeze_stats: false,
            straight_through: true,
            record_blocks: false,
            gate_grad: None,
            record: GateRecord::default(),
            padded: Padded::default(),
            cache: None,
        })
    }

    pub fn base_channels(&self) -> usize {
        self.base_channels
    }
    pub fn gate_config(&self) -> &GateConfig {
        &self.gate
    }
    /// Changes how training forwards compute the conditional convolution.
    pub fn set_cond_compute(&mut self, cond: CondCompute) {
        self.gate.cond = cond;
    }
    /// The gate block (channels, rows, columns).
    pub fn block(&self) -> [usize; 3] {
        self.gate.block
    }
    /// What the last forward gated.
    pub fn record(&self) -> &GateRecord {
        &self.record
    }

    /// Scheduled thresholds: the quantile r applied in the next training forward (`None`
    /// keeps the current Δ).
    pub fn set_schedule(&mut self, r: Option<f64>) {
        self.schedule = r;
    }

    /// Sets ∂L/∂g for the soft gates of the last training forward (N×C_out×H_out×W_out, any
    /// layout); consumed by the next backward.
    pub fn set_gate_grad(&mut self, g: Array4<T>) -> Result<()> {
        let want = self
            .cache
            .as_ref()
            .map(|c| (c.blocks.n, c.blocks.c, c.blocks.h, c.blocks.w))
            .ok_or_else(|| TrainError::NoForwardCache {
                layer: self.name.clone(),
            })?;
        if g.dim() != want {
            return Err(TrainError::shape(
                &self.name,
                format!("soft-gate gradient {want:?}"),
                g.shape(),
            ));
        }
        self.gate_grad = Some(g);
        Ok(())
    }

    /// Soft gates σ(α(s − Δ_c)) of the last training forward (channels-last memory).
    ///
    /// Computed once per forward (vectorised, `ops::sigmoid`) and kept: the backward's
    /// soft-gate gradient α·g·(1 − g) uses these same values.
    pub fn soft_gates(&self) -> Option<ArrayView4<'_, T>> {
        let c = self.cache.as_ref()?;
        let b = c.blocks;
        let g = c.soft_gates(self.gate.alpha, &self.delta_vec());
        let shape = (b.n, b.c, b.h, b.w).strides((b.h * b.w * b.c, 1, b.w * b.c, b.c));
        Some(ArrayView4::from_shape(shape, g).expect("n·c·h·w values"))
    }

    /// L2 pull of learned thresholds `λ·Σ(Δ_c − target)²` (0 for scheduled ones).
    pub fn threshold_pull_loss(&self) -> f64 {
        match self.gate.threshold {
            ThresholdMode::Learned { target, lambda } => {
                lambda
                    * self
                        .threshold
                        .value
                        .iter()
                        .map(|&d| (d.as_f64() - target).powi(2))
                        .sum::<f64>()
            }
            ThresholdMode::Scheduled => 0.0,
        }
    }

    fn delta_vec(&self) -> Vec<f64> {
        self.threshold.value.iter().map(|v| v.as_f64()).collect()
    }

    /// The geometry of the full convolution for an input of H×W.
    pub fn geom(&self, in_height: usize, in_width: usize) -> ConvGeom {
        self.config
            .geom(self.in_channels, self.out_channels, in_height, in_width)
    }

    fn weight4(&self) -> ArrayView4<'_, T> {
        self.weight
            .value
            .view()
            .into_dimensionality::<Ix4>()
            .expect("4-D weight")
    }

    /// Pads `x` into the layer's buffer and computes the base output P = conv(x_base,
    /// W_base) (channels-last) and its normalisation s = N(P): batch statistics (updating the
    /// running ones) when `use_batch`, running statistics otherwise.
    fn base_and_saliency(
        &mut self,
        x: &ArrayView4<'_, T>,
        use_batch: bool,
    ) -> (Vec<T>, BatchNormCache<T>, Blocks) {
        let (n, _, h, w) = x.dim();
        let g = self.geom(h, w);
        let (ho, wo) = (g.out_height(), g.out_width());
        let c = self.out_channels;
        self.padded.fill(x, [self.config.padding; 4]);
        let bc = self.base_channels;
        let weight = self.weight4();
        let wb = weight.slice(s![.., ..bc, .., ..]);
        let mut p = vec![T::zero(); n * ho * wo * c];
        direct::forward_into(
            &self.padded,
            0,
            &wb,
            self.config.stride,
            (ho, wo),
            &mut p,
            Store::Overwrite,
        );
        let p3 = ArrayView3::from_shape((n, c, ho * wo).strides((ho * wo * c, 1, c)), &p[..])
            .expect("n·c·ho·wo values");
        let norm = if use_batch {
            let stats = ops::batch_stats(p3);
            let inv_std: Array1<T> = stats
                .var
                .mapv(|v| T::of(1.0 / (v.as_f64() + self.gate.norm_eps).sqrt()));
            let xhat = ops::standardize(p3, stats.mean.view(), inv_std.view());
            let m = (n * ho * wo) as f64;
            let unbias = if m > 1.0 { m / (m - 1.0) } else { 1.0 };
            let mo = self.gate.norm_momentum;
            for (r, &b) in self.running_mean.value.iter_mut().zip(&stats.mean) {
                *r = T::of((1.0 - mo) * r.as_f64() + mo * b.as_f64());
            }
            for (r, &b) in self.running_var.value.iter_mut().zip(&stats.var) {
                *r = T::of((1.0 - mo) * r.as_f64() + mo * b.as_f64() * unbias);
            }
            BatchNormCache { xhat, inv_std }
        } else {
            let mean = self
                .running_mean
                .value
                .view()
                .into_dimensionality::<Ix1>()
                .expect("1-D");
            let var = self.running_var.value.view().into_dimensionality::<Ix1>();
            let inv_std: Array1<T> = var
                .expect("1-D")
                .mapv(|v| T::of(1.0 / (v.as_f64() + self.gate.norm_eps).sqrt()));
            let xhat = ops::standardize(p3, mean, inv_std.view());
            BatchNormCache { xhat, inv_std }
        };
        (p, norm, Blocks::new((n, c, ho, wo), self.gate.block))
    }

    /// Block means of the saliency, `mean_block(s)` (f64), N×gc×gh×gw in standard order.
    fn saliency_block_means(&self, norm: &BatchNormCache<T>, b: &Blocks) -> Vec<f64> {
        let xs = xhat_data(norm);
        let nb = b.per_image();
        let cnt = b.counts();
        let pix = b.pixel_blocks();
        let chan = b.channel_blocks();
        let mut out = vec![0.0f64; b.n * nb];
        out.par_chunks_mut(nb).enumerate().for_each(|(i, acc)| {
            let img = &xs[i * b.h * b.w * b.c..][..b.h * b.w * b.c];
            for (row, &pb) in img.chunks_exact(b.c).zip(&pix) {
                for (&v, &cb) in row.iter().zip(&chan) {
                    acc[cb + pb] += v.as_f64();
                }
            }
            for (a, &k) in acc.iter_mut().zip(&cnt) {
                *a /= k;
            }
        });
        out
    }

    /// `mean_block(Δ_c)` per channel block (Δ depends on the channel only, and every channel
    /// of a block has the same number of elements in it).
    fn block_deltas(&self) -> Vec<f64> {
        let bc = self.gate.block[0];
        let delta = self.delta_vec();
        delta
            .chunks(bc)
            .map(|d| d.iter().sum::<f64>() / d.len() as f64)
            .collect()
    }

    /// z_block = mean_block(s) − mean_block(Δ) as N×gc×gh×gw.
    fn block_pregates(&self, sb: &[f64], b: &Blocks) -> Array4<T> {
        let [gc, gh, gw] = b.grid;
        let dz = self.block_deltas();
        let z: Vec<T> = sb
            .iter()
            .enumerate()
            .map(|(k, &v)| T::of(v - dz[k / (gh * gw) % gc]))
            .collect();
        Array4::from_shape_vec((b.n, gc, gh, gw), z).expect("n·gc·gh·gw values")
    }

    /// Sets Δ of every channel block to the `r`-quantile of its block-averaged saliency
    /// `sb` over the batch (used by the training schedule).
    fn schedule_thresholds(&mut self, sb: &[f64], b: &Blocks, r: f64) {
        let [gc, gh, gw] = b.grid;
        let bc = self.gate.block[0];
        let deltas: Vec<f64> = (0..gc)
            .into_par_iter()
            .map(|jc| {
                let mut v: Vec<f32> = (0..b.n)
                    .flat_map(|i| sb[(i * gc + jc) * gh * gw..][..gh * gw].iter())
                    .map(|&x| T::of(x).as_f64() as f32)
                    .collect();
                fast_quantile_threshold(&mut v, r)
            })
            .collect();
        for (c, d) in self.threshold.value.iter_mut().enumerate() {
            *d = T::of(deltas[c / bc]);
        }
    }

    /// Block-averaged saliency `mean_block(s)` of `x` in evaluation mode (running statistics),
    /// N×gc×gh×gw: what calibration takes quantiles of.
    pub fn eval_block_saliency(&mut self, x: ArrayView4<'_, T>) -> Result<Array4<T>> {
        self.check_input(&x)?;
        let (_, norm, b) = self.base_and_saliency(&x, false);
        let sb = self.saliency_block_means(&norm, &b);
        let [gc, gh, gw] = b.grid;
        Ok(
            Array4::from_shape_vec((b.n, gc, gh, gw), sb.into_iter().map(T::of).collect())
                .expect("n·gc·gh·gw values"),
        )
    }

    /// Calibration: sets Δ of each channel block to a quantile of its block-averaged
    /// saliency in `sb` (from [`GatedConv::eval_block_saliency`] of the calibration images).
    ///
    /// The quantile is the target `r` corrected by `debt`, the running shortfall
    /// `Σ (r − achieved)·elements` (in output elements) of the channel blocks calibrated
    /// before this one, in network order: where a run of tied values (blank backgrounds)
    /// straddles the target, the threshold takes the side closer to the target and later
    /// channel blocks make up the difference, so the network-level sparsity meets `r`.
    /// Returns per channel block the achieved off-fraction and the tied mass.
    pub fn calibrate_from(
        &mut self,
        sb: ArrayView4<'_, T>,
        r: f64,
        debt: &mut f64,
    ) -> Vec<(f64, f64)> {
        let [bc, bh, bw] = self.gate.block;
        let c = self.out_channels;
        let gc = sb.dim().1;
        let mut out = Vec::with_capacity(gc);
        for ic in 0..gc {
            let chans = ((ic + 1) * bc).min(c) - ic * bc;
            let mut v: Vec<f32> = sb
                .index_axis(Axis(1), ic)
                .iter()
                .map(|x| x.as_f64() as f32)
                .collect();
            let elements = (v.len() * chans * bh * bw) as f64;
            let want = if elements > 0.0 {
                (r + *debt / elements).clamp(0.0, 1.0)
            } else {
                r
            };
            let q = quantile_threshold(&mut v, want);
            *debt += (r - q.achieved) * elements;
            for cc in ic * bc..(ic * bc + chans) {
                self.threshold.value[cc] = T::of(q.delta);
            }
            out.push((q.achieved, q.tied));
        }
        out
    }

    fn check_input(&self, x: &ArrayView4<'_, T>) -> Result<()> {
        let (_, c, h, w) = x.dim();
        if c != self.in_channels || !self.geom(h, w).is_valid() {
            return Err(TrainError::shape(
                &self.name,
                format!(
                    "N×{}×H×W with H, W ≥ {}",
                    self.in_channels, self.config.kernel
                ),
                x.shape(),
            ));
        }
        Ok(())
    }

    /// Whether Q may be computed for chosen blocks only (structured, wide enough blocks and
    /// a conditional path).
    fn can_skip(&self) -> bool {
        self.gate.block[0] >= MIN_SKIP_CHANNELS && self.base_channels < self.in_channels
    }

    /// Q for the blocks `keep` selects (N×gc×gh×gw, non-zero = compute), into `out`
    /// (channels-last, written there and nowhere else), or densely when `keep` is `None`.
    fn cond_into(&self, b: &Blocks, keep: Option<&[u8]>, out: &mut [T], store: Store) {
        let bcnd = self.base_channels;
        let weight = self.weight4();
        let wc = weight.slice(s![.., bcnd.., .., ..]);
        match keep {
            None => direct::forward_into(
                &self.padded,
                bcnd,
                &wc,
                self.config.stride,
                (b.h, b.w),
                out,
                store,
            ),
            Some(keep) => {
                let lists = pixel_lists(b, keep);
                let cols = block_columns(b, &lists);
                direct::forward_columns_into(
                    &self.padded,
                    bcnd,
                    &wc,
                    self.config.stride,
                    (b.h, b.w),
                    out,
                    store,
                    &cols,
                );
            }
        }
    }
}

/// The normalised saliency's memory (channels-last, as `base_and_saliency` builds it).
fn xhat_data<T: Scalar>(norm: &BatchNormCache<T>) -> &[T] {
    norm.xhat
        .as_slice_memory_order()
        .expect("the saliency is contiguous")
}

impl<T: Scalar> Module<T> for GatedConv<T> {
    fn params(&self) -> Vec<&Param<T>> {
        vec![&self.weight, &self.threshold]
    }
    fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        vec![&mut self.weight, &mut self.threshold]
    }
    fn buffers(&self) -> Vec<&Buffer<T>> {
        vec![&self.running_mean, &self.running_var]
    }
    fn buffers_mut(&mut self) -> Vec<&mut Buffer<T>> {
        vec![&mut self.running_mean, &mut self.running_var]
    }
}

impl<T: Scalar> Conv<T> for GatedConv<T> {
    fn name(&self) -> &str {
        &self.name
    }
    fn in_channels(&self) -> usize {
        self.in_channels
    }
    fn out_channels(&self) -> usize {
        self.out_channels
    }
    fn config(&self) -> Conv2dConfig {
        self.config
    }

    fn forward(&mut self, x: ArrayView4<'_, T>, mode: Mode) -> Result<Array4<T>> {
        self.check_input(&x)?;
        let use_batch = mode == Mode::Train && !self.freeze_stats;
        let (mut y, norm, b) = self.base_and_saliency(&x, use_batch);
        let sb = self.saliency_block_means(&norm, &b);
        if mode == Mode::Train
            && let (ThresholdMode::Scheduled, Some(r)) = (self.gate.threshold, self.schedule)
        {
            self.schedule_thresholds(&sb, &b, r);
        }
        let zb = self.block_pregates(&sb, &b);
        let zs = zb.as_slice().expect("fresh");
        let gates: Vec<u8> = zs.iter().map(|&z| u8::from(z > T::zero())).collect();
        let nb = b.per_image();
        let cnt = b.counts();
        let active: Vec<u64> = gates
            .chunks(nb.max(1))
            .map(|g| {
                g.iter()
                    .zip(&cnt)
                    .map(|(&on, &k)| if on != 0 { k as u64 } else { 0 })
                    .sum()
            })
            .collect();
        let has_cond = self.base_channels < self.in_channels;
        let skip = self.can_skip();
        let mut cache = None;
        if mode == Mode::Eval {
            // y = P + Q where the gate is on, Q computed only there.
            if has_cond {
                if skip {
                    self.cond_into(&b, Some(&gates), &mut y, Store::Accumulate);
                } else {
                    let mut q = vec![T::zero(); y.len()];
                    self.cond_into(&b, None, &mut q, Store::Overwrite);
                    add_gated(&b, &gates, &q, &mut y);
                }
            }
        } else {
            let margin = match self.gate.cond {
                CondCompute::Skip { margin } if skip => Some(margin),
                _ => None,
            };
            let mut q = vec![T::zero(); y.len()];
            let q_valid = match margin {
                Some(m) if has_cond => {
                    let keep: Vec<u8> = zs
                        .iter()
                        .map(|&z| u8::from(z > T::zero() || z.as_f64() > -m))
                        .collect();
                    self.cond_into(&b, Some(&keep), &mut q, Store::Overwrite);
                    Some(keep.iter().map(|&k| k != 0).collect())
                }
                _ => {
                    if has_cond {
                        self.cond_into(&b, None, &mut q, Store::Overwrite);
                    }
                    None
                }
            };
            add_gated(&b, &gates, &q, &mut y);
            let active_lists = (margin.is_some() && has_cond).then(|| pixel_lists(&b, &gates));
            cache = Some(Cache {
                norm,
                batch_stats: use_batch,
                zb: zb.clone(),
                q,
                q_valid,
                blocks: b,
                active_lists,
                soft: OnceLock::new(),
            });
        }
        let [gc, gh, gw] = b.grid;
        self.record = GateRecord {
            active,
            elements: (b.c * b.h * b.w) as u64,
            out_hw: (b.h, b.w),
            blocks: self.record_blocks.then(|| {
                Array4::from_shape_vec((b.n, gc, gh, gw), gates).expect("n·gc·gh·gw values")
            }),
        };
        self.gate_grad = None;
        self.cache = cache;
        Ok(layout::from_nhwc(y, (b.n, b.c, b.h, b.w)))
    }

    fn backward(&mut self, dy: ArrayView4<'_, T>) -> Result<Array4<T>> {
        let cache = self
            .cache
            .take()
            .ok_or_else(|| TrainError::NoForwardCache {
                layer: self.name.clone(),
            })?;
        let b = cache.blocks;
        if dy.dim() != (b.n, b.c, b.h, b.w) {
            return Err(TrainError::shape(
                &self.name,
                format!("gradient {:?}", (b.n, b.c, b.h, b.w)),
                dy.shape(),
            ));
        }
        let alpha = self.gate.alpha;
        let nb = b.per_image();
        let cnt = b.counts();
        let pix = b.pixel_blocks();
        let chan = b.channel_blocks();
        let zs = cache.zb.as_slice().expect("fresh");
        let dys = layout::nhwc_slice(&dy);
        let img = b.h * b.w * b.c;
        // ∂L/∂Q = dy ⊙ d.
        let mut dq = vec![T::zero(); dys.len()];
        dq.par_chunks_mut(img)
            .zip(dys.par_chunks(img))
            .enumerate()
            .for_each(|(i, (dqi, dyi))| {
                let z = &zs[i * nb..(i + 1) * nb];
                for ((o, d), &pb) in dqi
                    .chunks_exact_mut(b.c)
                    .zip(dyi.chunks_exact(b.c))
                    .zip(&pix)
                {
                    for ((o, &d), &cb) in o.iter_mut().zip(d).zip(&chan) {
                        if z[cb + pb] > T::zero() {
                            *o = d;
                        }
                    }
                }
            });
        // ∂L/∂z per element: straight-through part (block sums of dy ⊙ Q, through
        // α·σ′(α·z_block), split evenly over the block) + the soft-gate part.
        let st = self.straight_through;
        let gg = self.gate_grad.take();
        let ggv = gg.as_ref().map(|g| g.view());
        let ggs = ggv.as_ref().map(|g| layout::nhwc_slice(g));
        let soft = ggs
            .is_some()
            .then(|| cache.soft_gates(alpha, &self.delta_vec()));
        let qs = &cache.q;
        let q_valid = cache.q_valid.as_deref();
        let mut dz = vec![T::zero(); dys.len()];
        dz.par_chunks_mut(img).enumerate().for_each(|(i, dzi)| {
            let dyi = &dys[i * img..(i + 1) * img];
            if st {
                let z = &zs[i * nb..(i + 1) * nb];
                let qi = &qs[i * img..(i + 1) * img];
                let mut acc = vec![0.0f64; nb];
                for ((d, q), &pb) in dyi.chunks_exact(b.c).zip(qi.chunks_exact(b.c)).zip(&pix) {
                    for ((&d, &q), &cb) in d.iter().zip(q).zip(&chan) {
                        acc[cb + pb] += d.as_f64() * q.as_f64();
                    }
                }
                for (k, ((a, &zv), &n)) in acc.iter_mut().zip(z).zip(&cnt).enumerate() {
                    let valid = q_valid.is_none_or(|v| v[i * nb + k]);
                    let sg = sigmoid(alpha * zv.as_f64());
                    *a = if valid {
                        *a * alpha * sg * (1.0 - sg) / n
                    } else {
                        0.0
                    };
                }
                for (o, &pb) in dzi.chunks_exact_mut(b.c).zip(&pix) {
                    for (o, &cb) in o.iter_mut().zip(&chan) {
                        *o = T::of(acc[cb + pb]);
                    }
                }
            }
            if let (Some(g), Some(soft)) = (&ggs, soft) {
                // ∂g/∂z = α·g·(1 − g) with the forward's soft gates g.
                let gi = &g[i * img..(i + 1) * img];
                let si = &soft[i * img..(i + 1) * img];
                for ((o, &gv), &sv) in dzi.iter_mut().zip(gi).zip(si) {
                    let sg = sv.as_f64();
                    *o += T::of(gv.as_f64() * alpha * sg * (1.0 - sg));
                }
            }
        });
        let shape3 = (b.n, b.c, b.h * b.w).strides((b.h * b.w * b.c, 1, b.c));
        // Thresholds: z = s − Δ_c, so ∂L/∂Δ_c = −Σ ∂L/∂z, plus the L2 pull.
        if let ThresholdMode::Learned { target, lambda } = self.gate.threshold {
            let dz3 = ArrayView3::from_shape(shape3, &dz[..]).expect("n·c·h·w values");
            let sums = ops::channel_sums_f64(dz3);
            let g: Array1<T> = sums
                .iter()
                .enumerate()
                .map(|(cc, &sum)| {
                    let d = self.threshold.value[cc].as_f64();
                    T::of(-sum + 2.0 * lambda * (d - target))
                })
                .collect();
            self.threshold.accumulate(g.view().into_dyn());
        }
        // ∂L/∂P = dy + N′ᵀ ∂L/∂s.
        let dz3 = ArrayView3::from_shape(shape3, &dz[..]).expect("n·c·h·w values");
        let ones = Array1::<T>::ones(b.c);
        let ds = ops::batch_norm_backward(dz3, &cache.norm, ones.view(), cache.batch_stats);
        let dss = ds.dx.as_slice_memory_order().expect("contiguous");
        let mut dp = dys.into_owned();
        dp.par_chunks_mut(1 << 15)
            .zip(dss.par_chunks(1 << 15))
            .for_each(|(a, d)| {
                for (a, &d) in a.iter_mut().zip(d) {
                    *a += d;
                }
            });
        let nd = (b.n, b.c, b.h, b.w);
        let dp4 = layout::from_nhwc(dp, nd);
        let dq4 = layout::from_nhwc(dq, nd);
        let bcnd = self.base_channels;
        let cin = self.in_channels;
        let (n, _, h, w) = (b.n, cin, self.padded.hw().0, self.padded.hw().1);
        let k = self.config.kernel;
        let (stride, pad) = (self.config.stride, self.config.padding);
        let w4 = self.weight4().to_owned();
        let mut dx = vec![T::zero(); n * cin * h * w];
        let gw_base = direct::backward_weight(&self.padded, 0, bcnd, &dp4.view(), (k, k), stride);
        direct::backward_data_into(
            &dp4.view(),
            &w4.slice(s![.., ..bcnd, .., ..]),
            stride,
            pad,
            (h, w),
            &mut dx,
            cin,
            0,
        );
        let mut dw = Array4::<T>::zeros(w4.raw_dim());
        dw.slice_mut(s![.., ..bcnd, .., ..]).assign(&gw_base);
        if bcnd < cin {
            let gw_cond = match &cache.active_lists {
                Some(lists) => {
                    let cols = block_columns(&b, lists);
                    let dqv = dq4.view();
                    let dqs = layout::nhwc_slice(&dqv);
                    direct::backward_weight_columns(
                        &self.padded,
                        bcnd,
                        cin - bcnd,
                        &dqs,
                        (b.c, b.h, b.w),
                        (k, k),
                        stride,
                        &cols,
                    )
                }
                None => direct::backward_weight(
                    &self.padded,
                    bcnd,
                    cin - bcnd,
                    &dq4.view(),
                    (k, k),
                    stride,
                ),
            };
            dw.slice_mut(s![.., bcnd.., .., ..]).assign(&gw_cond);
            direct::backward_data_into(
                &dq4.view(),
                &w4.slice(s![.., bcnd.., .., ..]),
                stride,
                pad,
                (h, w),
                &mut dx,
                cin,
                bcnd,
            );
        }
        self.weight.accumulate(dw.view().into_dyn());
        Ok(layout::from_nhwc(dx, (n, cin, h, w)))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// `y += d ⊙ q` with `d` the block gates (N×gc×gh×gw), channels-last.
fn add_gated<T: Scalar>(b: &Blocks, gates: &[u8], q: &[T], y: &mut [T]) {
    let nb = b.per_image();
    let pix = b.pixel_blocks();
    let chan = b.channel_blocks();
    let img = b.h * b.w * b.c;
    if img == 0 {
        return;
    }
    y.par_chunks_mut(img)
        .zip(q.par_chunks(img))
        .enumerate()
        .for_each(|(i, (yi, qi))| {
            let g = &gates[i * nb..(i + 1) * nb];
            for ((yr, qr), &pb) in yi.chunks_exact_mut(b.c).zip(qi.chunks_exact(b.c)).zip(&pix) {
                for ((yv, &qv), &cb) in yr.iter_mut().zip(qr).zip(&chan) {
                    if g[cb + pb] != 0 {
                        *yv += qv;
                    }
                }
            }
        });
}
