//! The gated 3×3 convolution.

use crate::error::{Result, TrainError};
use crate::gating::quantile::{fast_quantile_threshold, quantile_threshold};
use crate::layers::{
    Buffer, Conv, Conv2dConfig, ConvSpec, Mode, Module, Param, ParamKind, join_name,
};
use crate::ops::{self, BatchNormCache, ConvGeom};
use crate::scalar::Scalar;
use ndarray::{Array1, Array4, ArrayView4, Axis, Ix1, Ix4, s};
use rand::RngCore;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use std::any::Any;

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

/// For one image's C×H×W output: the flat block index (into gc×gh×gw) of every element
/// and the element count of every block.
fn block_table(c: usize, h: usize, w: usize, block: [usize; 3]) -> (Vec<u32>, Vec<f64>) {
    let [bc, bh, bw] = block;
    let [_, gh, gw] = block_grid(c, h, w, block);
    let mut idx = Vec::with_capacity(c * h * w);
    let mut cnt = vec![0.0; block_grid(c, h, w, block).iter().product()];
    for cc in 0..c {
        for hh in 0..h {
            for ww in 0..w {
                let b = ((cc / bc) * gh + hh / bh) * gw + ww / bw;
                idx.push(b as u32);
                cnt[b] += 1.0;
            }
        }
    }
    (idx, cnt)
}

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

#[derive(Debug, Clone)]
struct Cache<T: Scalar> {
    x: Array4<T>,
    norm: BatchNormCache<T>,
    batch_stats: bool,
    /// Block-level pre-gate z_block = mean_block(s − Δ), N×gc×gh×gw.
    zb: Array4<T>,
    /// Conditional conv output Q, N×C_out×H_out×W_out.
    q: Array4<T>,
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

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
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
            cache: None,
        })
    }

    pub fn base_channels(&self) -> usize {
        self.base_channels
    }
    pub fn gate_config(&self) -> &GateConfig {
        &self.gate
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

    /// Sets ∂L/∂g for the soft gates of the last training forward (N×C_out×H_out×W_out);
    /// consumed by the next backward.
    pub fn set_gate_grad(&mut self, g: Array4<T>) -> Result<()> {
        let want =
            self.cache
                .as_ref()
                .map(|c| c.q.dim())
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

    /// Soft gates σ(α(s − Δ_c)) of the last training forward.
    pub fn soft_gates(&self) -> Option<Array4<T>> {
        let c = self.cache.as_ref()?;
        let alpha = self.gate.alpha;
        let delta = self.delta_vec();
        let xhat = c.norm.xhat.view();
        let (n, ch, h, w) = c.q.dim();
        let mut g = Array4::<T>::zeros((n, ch, h, w));
        g.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(b, mut gb)| {
                for cc in 0..ch {
                    let d = delta[cc];
                    for (i, v) in gb.index_axis_mut(Axis(0), cc).iter_mut().enumerate() {
                        let sv = xhat[[b, cc, i]].as_f64();
                        *v = T::of(sigmoid(alpha * (sv - d)));
                    }
                }
            });
        Some(g)
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

    /// Saliency s = N(conv(x_base, W_base)) with running statistics (evaluation), N×C×H×W,
    /// and P itself.
    fn base_and_saliency(
        &mut self,
        x: &ArrayView4<'_, T>,
        use_batch: bool,
    ) -> (Array4<T>, BatchNormCache<T>) {
        let bc = self.base_channels;
        let p = ops::conv2d_forward(
            x.slice(s![.., ..bc, .., ..]),
            self.weight4().slice(s![.., ..bc, .., ..]),
            None,
            self.config.stride,
            self.config.padding,
        );
        let (n, c, h, w) = p.dim();
        let p3 = p
            .view()
            .into_shape_with_order((n, c, h * w))
            .expect("fresh");
        let ones = Array1::<T>::ones(c);
        let zeros = Array1::<T>::zeros(c);
        let cache = if use_batch {
            let (_, cache, stats) =
                ops::batch_norm_train(p3, ones.view(), zeros.view(), self.gate.norm_eps);
            let m = (n * h * w) as f64;
            let unbias = if m > 1.0 { m / (m - 1.0) } else { 1.0 };
            let mo = self.gate.norm_momentum;
            for (r, &b) in self.running_mean.value.iter_mut().zip(&stats.mean) {
                *r = T::of((1.0 - mo) * r.as_f64() + mo * b.as_f64());
            }
            for (r, &b) in self.running_var.value.iter_mut().zip(&stats.var) {
                *r = T::of((1.0 - mo) * r.as_f64() + mo * b.as_f64() * unbias);
            }
            cache
        } else {
            let mean = self.running_mean.value.view().into_dimensionality::<Ix1>();
            let var = self.running_var.value.view().into_dimensionality::<Ix1>();
            let (_, cache) = ops::batch_norm_eval(
                p3,
                ones.view(),
                zeros.view(),
                mean.expect("1-D"),
                var.expect("1-D"),
                self.gate.norm_eps,
            );
            cache
        };
        (p, cache)
    }

    /// Block means of `s − Δ` (Δ per output channel): N×gc×gh×gw.
    fn block_means(
        &self,
        xhat: &ndarray::Array3<T>,
        delta: &[f64],
        hw: (usize, usize),
    ) -> Array4<T> {
        let (n, c, _) = xhat.dim();
        let (h, w) = hw;
        let [gc, gh, gw] = block_grid(c, h, w, self.gate.block);
        let (idx, cnt) = block_table(c, h, w, self.gate.block);
        let xs = xhat.as_slice().expect("fresh");
        let l = c * h * w;
        let mut zb = Array4::<T>::zeros((n, gc, gh, gw));
        zb.as_slice_mut()
            .expect("fresh")
            .par_chunks_mut(gc * gh * gw)
            .enumerate()
            .for_each(|(b, out)| {
                let mut acc = vec![0.0f64; out.len()];
                let img = &xs[b * l..(b + 1) * l];
                for (cc, &d) in delta.iter().enumerate().take(c) {
                    let r = cc * h * w..(cc + 1) * h * w;
                    for (&v, &k) in img[r.clone()].iter().zip(&idx[r]) {
                        acc[k as usize] += v.as_f64() - d;
                    }
                }
                for ((o, a), k) in out.iter_mut().zip(&acc).zip(&cnt) {
                    *o = T::of(a / k);
                }
            });
        zb
    }

    /// Sets Δ of every channel block to the `r`-quantile of its block-averaged saliency
    /// over `xhat` (used by the training schedule).
    fn schedule_thresholds(&mut self, xhat: &ndarray::Array3<T>, hw: (usize, usize), r: f64) {
        let zeros = vec![0.0; self.out_channels];
        let sb = self.block_means(xhat, &zeros, hw);
        let bc = self.gate.block[0];
        let deltas: Vec<f64> = (0..sb.dim().1)
            .into_par_iter()
            .map(|ic| {
                let mut v: Vec<f32> = sb
                    .index_axis(Axis(1), ic)
                    .iter()
                    .map(|x| x.as_f64() as f32)
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
        let (p, cache) = self.base_and_saliency(&x, false);
        let (_, _, h, w) = p.dim();
        let zeros = vec![0.0; self.out_channels];
        Ok(self.block_means(&cache.xhat, &zeros, (h, w)))
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
        let (p, norm) = self.base_and_saliency(&x, use_batch);
        let (n, c, h, w) = p.dim();
        if mode == Mode::Train
            && let (ThresholdMode::Scheduled, Some(r)) = (self.gate.threshold, self.schedule)
        {
            self.schedule_thresholds(&norm.xhat, (h, w), r);
        }
        let bcnd = self.base_channels;
        let q = if bcnd < self.in_channels {
            ops::conv2d_forward(
                x.slice(s![.., bcnd.., .., ..]),
                self.weight4().slice(s![.., bcnd.., .., ..]),
                None,
                self.config.stride,
                self.config.padding,
            )
        } else {
            Array4::zeros((n, c, h, w))
        };
        let delta = self.delta_vec();
        let zb = self.block_means(&norm.xhat, &delta, (h, w));
        let (idx, _) = block_table(c, h, w, self.gate.block);
        let nb = zb.len() / n.max(1);
        let zs = zb.as_slice().expect("fresh");
        let qs = q.as_slice().expect("fresh");
        let l = c * h * w;
        let mut y = p;
        let mut active = vec![0u64; n];
        y.as_slice_mut()
            .expect("fresh")
            .par_chunks_mut(l)
            .zip(active.par_iter_mut())
            .enumerate()
            .for_each(|(b, (yb, act))| {
                let z = &zs[b * nb..(b + 1) * nb];
                let qb = &qs[b * l..(b + 1) * l];
                let mut a = 0u64;
                for ((yv, &qv), &k) in yb.iter_mut().zip(qb).zip(&idx) {
                    if z[k as usize] > T::zero() {
                        *yv += qv;
                        a += 1;
                    }
                }
                *act = a;
            });
        self.record = GateRecord {
            active,
            elements: (c * h * w) as u64,
            out_hw: (h, w),
            blocks: self
                .record_blocks
                .then(|| zb.mapv(|v| u8::from(v > T::zero()))),
        };
        self.gate_grad = None;
        self.cache = (mode == Mode::Train).then(|| Cache {
            x: x.to_owned(),
            norm,
            batch_stats: use_batch,
            zb,
            q,
        });
        Ok(y)
    }

    fn backward(&mut self, dy: ArrayView4<'_, T>) -> Result<Array4<T>> {
        let cache = self
            .cache
            .take()
            .ok_or_else(|| TrainError::NoForwardCache {
                layer: self.name.clone(),
            })?;
        if dy.dim() != cache.q.dim() {
            return Err(TrainError::shape(
                &self.name,
                format!("gradient {:?}", cache.q.dim()),
                dy.shape(),
            ));
        }
        let (n, c, h, w) = dy.dim();
        let alpha = self.gate.alpha;
        let (idx, cnt) = block_table(c, h, w, self.gate.block);
        let l = c * h * w;
        let nb = cnt.len();
        let zs = cache.zb.as_slice().expect("fresh");
        let qs = cache.q.as_slice().expect("fresh");
        let dy = dy.as_standard_layout();
        let dys = dy.as_slice().expect("standard layout");
        // ∂L/∂Q = dy ⊙ d.
        let mut dq = dy.to_owned();
        dq.as_slice_mut()
            .expect("fresh")
            .par_chunks_mut(l)
            .enumerate()
            .for_each(|(b, db)| {
                let z = &zs[b * nb..(b + 1) * nb];
                for (d, &k) in db.iter_mut().zip(&idx) {
                    if z[k as usize] <= T::zero() {
                        *d = T::zero();
                    }
                }
            });
        // ∂L/∂z per element: straight-through part (block sums of dy ⊙ Q, through
        // α·σ′(α·z_block), split evenly over the block) + the soft-gate part.
        let mut dz = Array4::<T>::zeros((n, c, h, w));
        let st = self.straight_through;
        let gg = self.gate_grad.take();
        let ggs = gg.as_ref().map(|g| g.as_slice().expect("fresh"));
        let delta = self.delta_vec();
        let xhat = cache.norm.xhat.as_slice().expect("fresh");
        let hw = h * w;
        dz.as_slice_mut()
            .expect("fresh")
            .par_chunks_mut(l)
            .enumerate()
            .for_each(|(b, dzb)| {
                if st {
                    let z = &zs[b * nb..(b + 1) * nb];
                    let mut acc = vec![0.0f64; nb];
                    let (dyb, qb) = (&dys[b * l..(b + 1) * l], &qs[b * l..(b + 1) * l]);
                    for ((&d, &qv), &k) in dyb.iter().zip(qb).zip(&idx) {
                        acc[k as usize] += d.as_f64() * qv.as_f64();
                    }
                    for ((a, &zv), &k) in acc.iter_mut().zip(z).zip(&cnt) {
                        let sg = sigmoid(alpha * zv.as_f64());
                        *a *= alpha * sg * (1.0 - sg) / k;
                    }
                    for (o, &k) in dzb.iter_mut().zip(&idx) {
                        *o = T::of(acc[k as usize]);
                    }
                }
                if let Some(g) = ggs {
                    let gb = &g[b * l..(b + 1) * l];
                    let xb = &xhat[b * l..(b + 1) * l];
                    for (cc, &d) in delta.iter().enumerate().take(c) {
                        let r = cc * hw..(cc + 1) * hw;
                        for ((o, &gv), &xv) in
                            dzb[r.clone()].iter_mut().zip(&gb[r.clone()]).zip(&xb[r])
                        {
                            let sg = sigmoid(alpha * (xv.as_f64() - d));
                            *o += T::of(gv.as_f64() * alpha * sg * (1.0 - sg));
                        }
                    }
                }
            });
        // Thresholds: z = s − Δ_c, so ∂L/∂Δ_c = −Σ ∂L/∂z, plus the L2 pull.
        if let ThresholdMode::Learned { target, lambda } = self.gate.threshold {
            let mut g = Array1::<T>::zeros(c);
            for (cc, gv) in g.iter_mut().enumerate() {
                let sum: f64 = dz.index_axis(Axis(1), cc).iter().map(|v| v.as_f64()).sum();
                let d = self.threshold.value[cc].as_f64();
                *gv = T::of(-sum + 2.0 * lambda * (d - target));
            }
            self.threshold.accumulate(g.view().into_dyn());
        }
        // ∂L/∂P = dy + N′ᵀ ∂L/∂s.
        let dz3 = dz
            .view()
            .into_shape_with_order((n, c, h * w))
            .expect("fresh");
        let ones = Array1::<T>::ones(c);
        let ds = ops::batch_norm_backward(dz3, &cache.norm, ones.view(), cache.batch_stats);
        let dp = &dy
            + &ds
                .dx
                .into_shape_with_order((n, c, h, w))
                .expect("same size");
        let bcnd = self.base_channels;
        let x = cache.x.view();
        let w4 = self.weight4().to_owned();
        let gb = ops::conv2d_backward(
            x.slice(s![.., ..bcnd, .., ..]),
            w4.slice(s![.., ..bcnd, .., ..]),
            dp.view(),
            self.config.stride,
            self.config.padding,
            true,
            false,
        );
        let mut dw = Array4::<T>::zeros(w4.raw_dim());
        dw.slice_mut(s![.., ..bcnd, .., ..]).assign(&gb.dw);
        let mut dx = Array4::<T>::zeros(x.raw_dim());
        dx.slice_mut(s![.., ..bcnd, .., ..])
            .assign(gb.dx.as_ref().expect("requested"));
        if bcnd < self.in_channels {
            let gc = ops::conv2d_backward(
                x.slice(s![.., bcnd.., .., ..]),
                w4.slice(s![.., bcnd.., .., ..]),
                dq.view(),
                self.config.stride,
                self.config.padding,
                true,
                false,
            );
            dw.slice_mut(s![.., bcnd.., .., ..]).assign(&gc.dw);
            dx.slice_mut(s![.., bcnd.., .., ..])
                .assign(gc.dx.as_ref().expect("requested"));
        }
        self.weight.accumulate(dw.view().into_dyn());
        Ok(dx)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
