//! The SSL training loop (both views as one 2B batch), evaluation, calibration, cost
//! accounting and mask export.

use crate::checkpoint::Checkpoint;
use crate::data::{AugmentConfig, Augmenter, Batch, Dataset, Normalization};
use crate::error::{Result, TrainError};
use crate::eval::{KnnConfig, ProbeConfig, knn_accuracy, linear_probe};
use crate::gating::{ThresholdMode, consistency_loss, ramp};
use crate::layers::{Conv, Mode, Module};
use crate::ops;
use crate::optim::{CosineSchedule, Sgd};
use crate::session::{EpochStats, StepStats, TrainStep};
use crate::ssl::config::{Gating, SslConfig, SslObjective};
use crate::ssl::cost::{CostReport, LayerCost};
use crate::ssl::loss::{nt_xent, simsiam_loss};
use crate::ssl::model::SslModel;
use cdg_core::{GateBlock, GateSpec, Layer, LayerMasks, MaskSet, Network};
use ndarray::{Array2, Array4, ArrayView4, Axis, concatenate};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A loss above this is treated as exploding.
pub const EXPLODING_LOSS: f64 = 1e6;

/// Images per evaluation chunk.
const EVAL_CHUNK: usize = 256;

/// One optimiser step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// Total loss (SSL + γ·D + threshold pull).
    pub loss: f64,
    pub ssl_loss: f64,
    /// γ·D.
    pub gate_loss: f64,
    /// Training-time gate sparsity of branch 1 and branch 2 (element-weighted over layers).
    pub branch_sparsity: [f64; 2],
    pub images: usize,
    pub lr: f64,
}

/// One epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochReport {
    pub epoch: usize,
    pub loss: f64,
    pub ssl_loss: f64,
    pub gate_loss: f64,
    /// Mean training-time sparsity over both branches.
    pub gate_sparsity: f64,
    pub branch_sparsity: [f64; 2],
    /// Images (pairs count once) processed.
    pub images: usize,
    pub lr: f64,
}

impl EpochReport {
    /// The epoch's means from its sums (gate sparsities 0 for dense runs).
    pub fn of(sums: &EpochStats) -> Self {
        let [a, b] = sums.branch_sparsity.unwrap_or_default();
        let branch_sparsity = [sums.per_step(a), sums.per_step(b)];
        EpochReport {
            epoch: sums.epoch,
            loss: sums.per_step(sums.loss),
            ssl_loss: sums.per_step(sums.parts[0]),
            gate_loss: sums.per_step(sums.parts[1]),
            gate_sparsity: 0.5 * (branch_sparsity[0] + branch_sparsity[1]),
            branch_sparsity,
            images: sums.images,
            lr: sums.lr,
        }
    }
}

/// Calibration of one gated layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerCalibration {
    pub name: String,
    /// Mean over channel blocks of the achieved off-fraction on the calibration images.
    pub achieved: f64,
    /// Largest tied mass at a threshold over the layer's channel blocks.
    pub max_tied: f64,
}

/// Per-layer evaluation gate statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalGates {
    /// Element-weighted sparsity over every gated layer.
    pub sparsity: f64,
    /// `(layer, sparsity)` in network order.
    pub layers: Vec<(String, f64)>,
    pub cost: CostReport,
}

/// An SSL run.
#[derive(Debug)]
pub struct SslTrainer {
    pub config: SslConfig,
    pub model: SslModel,
    pub opt: Sgd<f32>,
    /// SimSiam's predictor optimiser (constant learning rate).
    pub pred_opt: Option<Sgd<f32>>,
    pub schedule: CosineSchedule,
    pub augmenter: Augmenter,
    /// Completed epochs and steps.
    pub epoch: usize,
    pub step: usize,
    pub rng: ChaCha8Rng,
    steps_per_epoch: usize,
    image_hw: (usize, usize),
}

fn data_err(e: impl std::fmt::Display) -> TrainError {
    TrainError::config("data", e)
}

impl SslTrainer {
    /// A fresh run on `train` (normalisation statistics from `train`).
    pub fn new(config: SslConfig, train: &Dataset) -> Result<Self> {
        config.validate()?;
        if train.len() < config.options.batch {
            return Err(TrainError::config(
                "batch",
                format!(
                    "{} is larger than the {} training images",
                    config.options.batch,
                    train.len()
                ),
            ));
        }
        if train.channels() != config.model.in_channels {
            return Err(TrainError::config(
                "data",
                format!(
                    "images have {} channels, the model expects {}",
                    train.channels(),
                    config.model.in_channels
                ),
            ));
        }
        let mut init = ChaCha8Rng::seed_from_u64(config.options.seed);
        let model = SslModel::new(&config, &mut init)?;
        let sgd = config.options.sgd();
        let opt = Sgd::new(sgd, &model.params());
        let pred_opt = model.predictor.as_ref().map(|p| Sgd::new(sgd, &p.params()));
        let steps_per_epoch = train.len() / config.options.batch;
        let schedule = CosineSchedule {
            base_lr: config.options.lr,
            final_lr: 0.0,
            warmup_steps: config.options.warmup_epochs * steps_per_epoch,
            total_steps: config.options.epochs * steps_per_epoch,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(config.options.seed);
        rng.set_stream(1);
        Ok(SslTrainer {
            augmenter: Augmenter::new(
                AugmentConfig::ssl(),
                Normalization::fit(train.images.view()),
            ),
            model,
            opt,
            pred_opt,
            schedule,
            epoch: 0,
            step: 0,
            rng,
            steps_per_epoch,
            image_hw: (train.height(), train.width()),
            config,
        })
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.steps_per_epoch
    }

    /// True when the backbone has gated convolutions.
    pub fn is_gated(&self) -> bool {
        self.config.options.gating != Gating::None
    }

    /// Quantile r(t) of scheduled thresholds at the current step.
    pub fn scheduled_quantile(&self) -> Option<f64> {
        let t = self.config.options.target_sparsity?;
        let total = self.config.options.epochs * self.steps_per_epoch;
        let ramp_steps = (self.config.ramp_fraction * total as f64).round() as usize;
        Some(ramp(t, self.step, ramp_steps))
    }

    /// One step on a batch of raw images (B×C×H×W in [0, 1]).
    pub fn train_step(&mut self, images: ArrayView4<'_, f32>) -> Result<StepReport> {
        let views = self
            .augmenter
            .two_views(images, &mut self.rng)
            .map_err(data_err)?;
        let b = views.first.dim().0;
        let x =
            concatenate(Axis(0), &[views.first.view(), views.second.view()]).map_err(data_err)?;
        let r = self.scheduled_quantile();
        for g in self.model.gated_mut() {
            g.set_schedule(r);
        }
        let lr = self.schedule.lr(self.step);
        let feats = self
            .model
            .backbone
            .forward_features(x.view(), Mode::Train)?;
        let z = self.model.projector.forward(feats.view(), Mode::Train)?;
        let (ssl_loss, dz) = match self.config.objective {
            SslObjective::Simclr => nt_xent(z.view(), self.config.temperature)?,
            SslObjective::Simsiam => {
                let pred = self
                    .model
                    .predictor
                    .as_mut()
                    .expect("simsiam has a predictor");
                let p = pred.forward(z.view(), Mode::Train)?;
                let (l, dp) = simsiam_loss(p.view(), z.view())?;
                // Stop-gradient: z receives gradient only through the predictor.
                let dz = pred.backward(dp.view())?;
                (l, dz)
            }
        };
        // Gate statistics (training-time, both branches) and the consistency loss.
        let mut act = [0u64; 2];
        let mut tot = [0u64; 2];
        for g in self.model.gated() {
            let rec = g.record();
            act[0] += rec.active[..b].iter().sum::<u64>();
            act[1] += rec.active[b..].iter().sum::<u64>();
            tot[0] += rec.elements * b as u64;
            tot[1] += rec.elements * b as u64;
        }
        let mut gate_loss = 0.0;
        let gamma = self.config.gamma();
        if gamma > 0.0 {
            let gated = self.model.gated();
            let views_g: Vec<_> = gated
                .iter()
                .map(|g| g.soft_gates().expect("training forward cached"))
                .collect();
            let geo = (
                views.first_geometry.as_slice(),
                views.second_geometry.as_slice(),
            );
            let cl = consistency_loss(
                &views_g,
                gamma,
                self.config.options.consistency_align,
                Some(geo),
                self.image_hw,
            )?;
            gate_loss = cl.loss;
            for (g, dg) in self.model.gated_mut().into_iter().zip(cl.grads) {
                g.set_gate_grad(dg)?;
            }
        }
        let pull: f64 = self
            .model
            .gated()
            .iter()
            .map(|g| g.threshold_pull_loss())
            .sum();
        let loss = ssl_loss + gate_loss + pull;
        if !loss.is_finite() || loss.abs() > EXPLODING_LOSS {
            return Err(TrainError::NonFinite {
                loss,
                epoch: self.epoch + 1,
                step: self.step + 1,
            });
        }
        self.model.zero_grad();
        let df = self.model.projector.backward(dz.view())?;
        self.model.backbone.backward_features(df.view())?;
        let mut params = self.model.params_mut();
        self.opt.step(&mut params, lr)?;
        if let (Some(p), Some(o)) = (self.model.predictor.as_mut(), self.pred_opt.as_mut()) {
            let mut pp = p.params_mut();
            o.step(&mut pp, self.config.options.lr)?;
            p.zero_grad();
        }
        self.step += 1;
        Ok(StepReport {
            loss,
            ssl_loss,
            gate_loss,
            branch_sparsity: [
                1.0 - act[0] as f64 / tot[0].max(1) as f64,
                1.0 - act[1] as f64 / tot[1].max(1) as f64,
            ],
            images: b,
            lr,
        })
    }

    /// Trains one epoch ([`crate::session::train_epoch`]); `on_step` sees the epoch's sums
    /// after each step (progress bars).
    pub fn train_epoch(
        &mut self,
        train: &Dataset,
        on_step: &mut dyn FnMut(&EpochStats),
    ) -> Result<EpochReport> {
        let sums = crate::session::train_epoch(self, train, on_step)?;
        Ok(EpochReport::of(&sums))
    }

    /// Normalised, un-augmented images.
    pub fn eval_input(&self, images: ArrayView4<'_, f32>) -> Result<Array4<f32>> {
        self.augmenter.eval_view(images).map_err(data_err)
    }

    /// Backbone features (evaluation mode, current gates) of raw images.
    pub fn features(&mut self, images: ArrayView4<'_, f32>) -> Result<Array2<f32>> {
        let x = self.eval_input(images)?;
        self.model.features(x.view(), EVAL_CHUNK)
    }

    /// kNN accuracy (docs/training.md §9) with the bank from `train` and queries from `test`.
    pub fn knn(&mut self, train: &Dataset, test: &Dataset) -> Result<f64> {
        let bank = self.features(train.images.view())?;
        let q = self.features(test.images.view())?;
        knn_accuracy(
            bank.view(),
            &train.labels,
            q.view(),
            &test.labels,
            train.classes,
            &KnnConfig::default(),
        )
        .map_err(|e| TrainError::config("knn", e))
    }

    /// kNN and linear-probe accuracy on frozen features (one feature pass).
    pub fn knn_and_probe(
        &mut self,
        train: &Dataset,
        test: &Dataset,
        probe: &ProbeConfig,
    ) -> Result<(f64, f64)> {
        let bank = self.features(train.images.view())?;
        let q = self.features(test.images.view())?;
        let knn = knn_accuracy(
            bank.view(),
            &train.labels,
            q.view(),
            &test.labels,
            train.classes,
            &KnnConfig::default(),
        )
        .map_err(|e| TrainError::config("knn", e))?;
        let p = linear_probe(
            bank.view(),
            &train.labels,
            q.view(),
            &test.labels,
            train.classes,
            probe,
        )
        .map_err(|e| TrainError::config("linear_probe", e))?;
        Ok((knn, p.test_accuracy))
    }

    /// Calibration (docs/training.md §5): one evaluation pass over `images` (raw, un-augmented
    /// training images) sets each Δ_c to the `target` quantile of its channel block's
    /// block-averaged saliency, layer by layer in network order (so each layer sees the
    /// calibrated gates of the layers before it). Tied runs take the side closer to the
    /// target; the shortfall carries to the following channel blocks (see
    /// [`crate::gating::GatedConv::calibrate_from`]) so the element-weighted network
    /// sparsity meets the target.
    pub fn calibrate(
        &mut self,
        images: ArrayView4<'_, f32>,
        target: f64,
    ) -> Result<Vec<LayerCalibration>> {
        let x = self.eval_input(images)?;
        let mut h: Vec<Array4<f32>> = Vec::new();
        for c in x.axis_chunks_iter(Axis(0), EVAL_CHUNK) {
            h.push(self.model.stem_eval(c)?);
        }
        let mut out = Vec::new();
        let mut debt = 0.0;
        let nblocks = self.model.backbone.blocks.len();
        for bi in 0..nblocks {
            // conv1 sees the block input.
            out.extend(calibrate_conv(
                self.model.backbone.blocks[bi].conv1.as_mut(),
                &h,
                target,
                &mut debt,
            )?);
            let block = &mut self.model.backbone.blocks[bi];
            if block.conv2.as_any().is::<crate::gating::GatedConv<f32>>() {
                let mut mid = Vec::new();
                for hc in &h {
                    let m = block.conv1.forward(hc.view(), Mode::Eval)?;
                    let m = block.bn1.forward(m.view(), Mode::Eval)?;
                    mid.push(ops::relu(m.view()));
                }
                out.extend(calibrate_conv(
                    block.conv2.as_mut(),
                    &mid,
                    target,
                    &mut debt,
                )?);
            }
            let mut next = Vec::new();
            for hc in &h {
                next.push(block.forward(hc.view(), Mode::Eval)?);
            }
            h = next;
        }
        Ok(out)
    }

    /// Evaluation-mode gate sparsity of `images` (raw) per gated layer and the network's
    /// cost accounting at single-view evaluation.
    pub fn eval_gates(&mut self, images: ArrayView4<'_, f32>) -> Result<EvalGates> {
        let x = self.eval_input(images)?;
        let gated: Vec<String> = self
            .model
            .gated()
            .iter()
            .map(|g| g.name().to_owned())
            .collect();
        let mut active = vec![0u64; gated.len()];
        let mut elements = vec![0u64; gated.len()];
        let n = x.dim().0;
        for c in x.axis_chunks_iter(Axis(0), EVAL_CHUNK) {
            self.model.backbone.forward_features(c, Mode::Eval)?;
            for (i, g) in self.model.gated().iter().enumerate() {
                let r = g.record();
                active[i] += r.active.iter().sum::<u64>();
                elements[i] += r.elements * r.active.len() as u64;
            }
        }
        let layers: Vec<(String, f64)> = gated
            .iter()
            .enumerate()
            .map(|(i, name)| {
                (
                    name.clone(),
                    1.0 - active[i] as f64 / elements[i].max(1) as f64,
                )
            })
            .collect();
        let (ta, te): (u64, u64) = (active.iter().sum(), elements.iter().sum());
        let sparsity = if te == 0 {
            0.0
        } else {
            1.0 - ta as f64 / te as f64
        };
        // Mean active outputs per image per gated layer.
        let per_image: Vec<f64> = active.iter().map(|&a| a as f64 / n.max(1) as f64).collect();
        let cost = self.cost(&gated, &per_image)?;
        Ok(EvalGates {
            sparsity,
            layers,
            cost,
        })
    }

    fn cost(&self, gated: &[String], active_per_image: &[f64]) -> Result<CostReport> {
        let shapes = self
            .model
            .backbone
            .layer_shapes(self.image_hw.0, self.image_hw.1)?;
        let mut layers = Vec::new();
        for l in &shapes {
            let dense = l.macs().0;
            match gated.iter().position(|g| g == l.name()) {
                Some(i) => {
                    let g = &self.model.gated()[i];
                    let k = l.kernel()[0] * l.kernel()[1];
                    let pix = l.out_height() * l.out_width();
                    let base = g.base_channels() as u64;
                    let cond = l.in_channels() - base;
                    let macs_base = pix * k * base * l.out_channels();
                    let grid = crate::gating::block_grid(
                        l.out_channels() as usize,
                        l.out_height() as usize,
                        l.out_width() as usize,
                        g.block(),
                    );
                    layers.push(LayerCost {
                        name: l.name().to_owned(),
                        gated: true,
                        macs_dense: dense,
                        macs_base,
                        macs_needed: macs_base as f64 + (cond * k) as f64 * active_per_image[i],
                        gate_ops: (grid[0] * grid[1] * grid[2]) as u64,
                        density: active_per_image[i] / (l.out_channels() * pix).max(1) as f64,
                        out_elements: l.out_channels() * pix,
                    });
                }
                None => layers.push(LayerCost {
                    name: l.name().to_owned(),
                    gated: false,
                    macs_dense: dense,
                    macs_base: dense,
                    macs_needed: dense as f64,
                    gate_ops: 0,
                    density: 1.0,
                    out_elements: l.out_channels() * l.out_height() * l.out_width(),
                }),
            }
        }
        Ok(CostReport::new(layers))
    }

    /// The network (every convolution, with gate specs on the gated ones) and the
    /// evaluation gates of `images` (raw test images) as a [`MaskSet`].
    pub fn export_masks(&mut self, images: ArrayView4<'_, f32>) -> Result<(Network, MaskSet)> {
        let network = self.network()?;
        let x = self.eval_input(images)?;
        let n = x.dim().0;
        if n == 0 {
            return Err(TrainError::config("trace_samples", "must be ≥ 1"));
        }
        for g in self.model.gated_mut() {
            g.record_blocks = true;
        }
        let k = self.model.gated().len();
        let mut blocks: Vec<Vec<Array4<u8>>> = vec![Vec::new(); k];
        let res = (|| -> Result<()> {
            for c in x.axis_chunks_iter(Axis(0), EVAL_CHUNK) {
                self.model.backbone.forward_features(c, Mode::Eval)?;
                for (i, g) in self.model.gated().iter().enumerate() {
                    blocks[i].push(g.record().blocks.clone().expect("recording"));
                }
            }
            Ok(())
        })();
        for g in self.model.gated_mut() {
            g.record_blocks = false;
        }
        res?;
        let mut layers = Vec::new();
        let names: Vec<String> = self
            .model
            .gated()
            .iter()
            .map(|g| g.name().to_owned())
            .collect();
        for (name, parts) in names.iter().zip(blocks) {
            let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
            let all = concatenate(Axis(0), &views).map_err(|e| TrainError::config(name, e))?;
            let layer = &network.layers()[network.position(name).expect("gated layer in network")];
            let spec = layer.gate.as_ref().expect("gated");
            let m = LayerMasks::from_fn(&layer.shape, spec, n, |s, c, h, w| {
                all[[s, c as usize, h as usize, w as usize]] != 0
            })
            .map_err(|e| TrainError::config(name, e))?;
            layers.push((name.clone(), m));
        }
        let masks =
            MaskSet::new(&network, n, layers).map_err(|e| TrainError::config("masks", e))?;
        Ok((network, masks))
    }

    /// The backbone as a [`Network`] for the simulator: every convolution (floor rule,
    /// padding as trained) in execution order, gate specs on the gated 3×3 convolutions.
    pub fn network(&self) -> Result<Network> {
        let shapes = self
            .model
            .backbone
            .layer_shapes(self.image_hw.0, self.image_hw.1)?;
        let gated = self.model.gated();
        let layers = shapes
            .into_iter()
            .map(|shape| {
                let gate = gated.iter().find(|g| g.name() == shape.name()).map(|g| {
                    let b = g.block();
                    GateSpec {
                        base_channels: g.base_channels() as u64,
                        block: GateBlock::new(b[0] as u64, b[1] as u64, b[2] as u64),
                    }
                });
                Layer { shape, gate }
            })
            .collect();
        Network::new(layers).map_err(|e| TrainError::config("network", e))
    }

    /// Whether thresholds are learned (true) or scheduled.
    pub fn learned_thresholds(&self) -> bool {
        self.model
            .gated()
            .first()
            .is_some_and(|g| matches!(g.gate_config().threshold, ThresholdMode::Learned { .. }))
    }

    /// The run's state after the last completed epoch; `meta` describes the run.
    pub fn checkpoint(&self, meta: serde_json::Value) -> Checkpoint {
        let mut modules: Vec<&dyn Module<f32>> = vec![&self.model];
        if let Some(p) = &self.model.predictor {
            modules.push(p);
        }
        let mut opts = vec![&self.opt];
        if let Some(o) = &self.pred_opt {
            opts.push(o);
        }
        Checkpoint::capture(&modules, &opts, self.epoch, self.step, &self.rng, meta)
    }

    /// Continues from `ckpt` (written by [`SslTrainer::checkpoint`] of the same config).
    pub fn restore(&mut self, ckpt: &Checkpoint) -> Result<()> {
        let predictor = self.model.predictor.take();
        let mut opts: Vec<&mut Sgd<f32>> = vec![&mut self.opt];
        if let Some(o) = self.pred_opt.as_mut() {
            opts.push(o);
        }
        match predictor {
            Some(mut p) => {
                let r = ckpt.restore(&mut [&mut self.model, &mut p], &mut opts);
                self.model.predictor = Some(p);
                r?;
            }
            None => ckpt.restore(&mut [&mut self.model], &mut opts)?,
        }
        self.epoch = ckpt.epoch;
        self.step = ckpt.step;
        self.rng = ckpt.rng.to_rng();
        Ok(())
    }
}

impl SslTrainer {
    /// Initialises the network from another run's weights (`--init-from`,
    /// [`Checkpoint::load_weights`]): the backbone must match tensor for tensor; gate
    /// thresholds and statistics, heads the checkpoint lacks, momentum, epoch and RNG stay
    /// fresh. With `apply` false only checks. Returns the tensors that kept fresh values.
    pub fn init_from(&mut self, ckpt: &Checkpoint, apply: bool) -> Result<Vec<String>> {
        let predictor = self.model.predictor.take();
        match predictor {
            Some(mut p) => {
                let r = ckpt.load_weights(&mut [&mut self.model, &mut p], apply);
                self.model.predictor = Some(p);
                r
            }
            None => ckpt.load_weights(&mut [&mut self.model], apply),
        }
    }
}

fn calibrate_conv(
    conv: &mut dyn Conv<f32>,
    inputs: &[Array4<f32>],
    target: f64,
    debt: &mut f64,
) -> Result<Option<LayerCalibration>> {
    let Some(g) = conv
        .as_any_mut()
        .downcast_mut::<crate::gating::GatedConv<f32>>()
    else {
        return Ok(None);
    };
    let mut parts = Vec::new();
    for x in inputs {
        parts.push(g.eval_block_saliency(x.view())?);
    }
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    let sb = concatenate(Axis(0), &views).map_err(|e| TrainError::config(g.name(), e))?;
    let r = g.calibrate_from(sb.view(), target, debt);
    let achieved = r.iter().map(|x| x.0).sum::<f64>() / r.len().max(1) as f64;
    let max_tied = r.iter().map(|x| x.1).fold(0.0, f64::max);
    Ok(Some(LayerCalibration {
        name: g.name().to_owned(),
        achieved,
        max_tied,
    }))
}

impl TrainStep for SslTrainer {
    fn epochs_done(&self) -> usize {
        self.epoch
    }

    fn steps_per_epoch(&self) -> usize {
        self.steps_per_epoch
    }

    fn batching(&self) -> (usize, u64) {
        (self.config.options.batch, self.config.options.seed)
    }

    fn train_batch(&mut self, batch: &Batch) -> Result<StepStats> {
        let r = self.train_step(batch.images.view())?;
        Ok(StepStats {
            loss: r.loss,
            images: r.images,
            lr: r.lr,
            correct: None,
            parts: [r.ssl_loss, r.gate_loss],
            branch_sparsity: self.is_gated().then_some(r.branch_sparsity),
        })
    }

    fn finish_epoch(&mut self) {
        self.epoch += 1;
    }

    fn checkpoint(&self, meta: serde_json::Value) -> Checkpoint {
        SslTrainer::checkpoint(self, meta)
    }

    fn restore(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        SslTrainer::restore(self, checkpoint)
    }
}
