//! `cdg train --objective simclr|simsiam`: contrastive SSL with optional gating (DESIGN §3).
//!
//! Per epoch: one progress bar (loss, training gate sparsity of both branches, images/s),
//! a metrics.csv row, an atomic checkpoint. kNN every `--knn-every` epochs and at the end,
//! always with calibrated evaluation gates (the training thresholds are restored
//! afterwards). At the end: calibration, evaluation sparsity and cost on the test split,
//! kNN and linear probe, `summary.json`, and for gated runs the trace `DIR/trace/` of the
//! evaluation gates of `--trace-samples` test images.

use super::{
    CHECKPOINT_FILE, MetricsRow, TrainPlan, epoch_outcome, load_data, meta_of, read_resume,
    write_outputs,
};
use crate::ui::Ui;
use anyhow::Context;
use cdg_io::trace::{Trace, write_trace};
use cdg_train::data::{DataSplit, Dataset};
use cdg_train::eval::ProbeConfig;
use cdg_train::ssl::{EvalGates, LayerCalibration, SslTrainer};
use ndarray::{ArrayD, s};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

/// Runs `f` with calibrated evaluation gates (when the run has a target), then puts the
/// training thresholds back.
fn with_eval_gates<R>(
    t: &mut SslTrainer,
    split: &DataSplit,
    calibration_samples: usize,
    f: impl FnOnce(&mut SslTrainer) -> anyhow::Result<R>,
) -> anyhow::Result<(R, Vec<LayerCalibration>)> {
    let saved: Vec<ArrayD<f32>> = t
        .model
        .gated()
        .iter()
        .map(|g| g.threshold.value.clone())
        .collect();
    let cal = match t.config.target_sparsity {
        Some(target) if t.is_gated() => {
            let n = calibration_samples.min(split.train.len());
            t.calibrate(split.train.images.slice(s![..n, .., .., ..]), target)
                .context("calibrating thresholds")?
        }
        _ => Vec::new(),
    };
    let r = f(t);
    for (g, v) in t.model.gated_mut().into_iter().zip(saved) {
        g.threshold.value = v;
    }
    Ok((r?, cal))
}

fn stage_of(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// Element-weighted sparsity per stage (`layer1` … `layer4`).
fn stage_sparsity(ev: &EvalGates) -> BTreeMap<String, f64> {
    let mut acc: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for (name, sp) in &ev.layers {
        let elems = ev
            .cost
            .layers
            .iter()
            .find(|l| &l.name == name)
            .map_or(0.0, |l| l.out_elements as f64);
        let e = acc.entry(stage_of(name).to_owned()).or_insert((0.0, 0.0));
        e.0 += sp * elems;
        e.1 += elems;
    }
    acc.into_iter()
        .map(|(k, (a, b))| (k, if b > 0.0 { a / b } else { 0.0 }))
        .collect()
}

/// kNN accuracy on the test split with evaluation (calibrated) gates.
fn eval_knn(trainer: &mut SslTrainer, split: &DataSplit, plan: &TrainPlan) -> anyhow::Result<f64> {
    let (k, _) = with_eval_gates(trainer, split, plan.calibration_samples, |t| {
        Ok(t.knn(&split.train, &split.test)?)
    })?;
    Ok(k)
}

pub(super) fn run_ssl(plan: &TrainPlan, ui: &Ui) -> anyhow::Result<ExitCode> {
    let split = load_data(plan)?;
    let train: &Dataset = &split.train;
    let cfg = plan.ssl_config(train.channels())?;
    let mut trainer = SslTrainer::new(cfg, train).context("setting up training")?;
    std::fs::create_dir_all(&plan.out)
        .with_context(|| format!("creating output directory {}", plan.out.display()))?;
    let ckpt_path = plan.out.join(CHECKPOINT_FILE);
    let mut rows: Vec<MetricsRow> = Vec::new();
    if let Some((ckpt, stored_rows)) = read_resume(plan, &ckpt_path)? {
        rows = stored_rows;
        trainer
            .restore(&ckpt)
            .with_context(|| format!("--resume: {}", ckpt_path.display()))?;
    }
    let init_knn = if plan.knn_init && trainer.epoch == 0 {
        Some(eval_knn(&mut trainer, &split, plan)?)
    } else {
        None
    };
    let spe = trainer.steps_per_epoch() as u64;
    let mut last_train_sparsity = rows.last().and_then(|r| r.gate_sparsity);
    let mut branch = [None::<f64>; 2];
    // `train_seconds` is this invocation's wall time; a resumed run also says where it resumed.
    let resumed_from_epoch = (trainer.epoch > 0).then_some(trainer.epoch);
    let started = Instant::now();
    while trainer.epoch < plan.epochs {
        if plan.stop_after.is_some_and(|s| trainer.epoch >= s) {
            return Ok(ExitCode::SUCCESS);
        }
        let e = trainer.epoch + 1;
        let bar = ui.bar(spe, &format!("epoch {e}/{}", plan.epochs));
        let start = Instant::now();
        let (mut seen, mut loss_sum, mut sp_sum, mut steps) = (0usize, 0.0, 0.0, 0usize);
        let gated = trainer.is_gated();
        let report = trainer.train_epoch(train, &mut |r| {
            seen += r.images;
            loss_sum += r.loss;
            sp_sum += 0.5 * (r.branch_sparsity[0] + r.branch_sparsity[1]);
            steps += 1;
            bar.inc(1);
            let sp = if gated {
                format!(" sparsity {:.3}", sp_sum / steps as f64)
            } else {
                String::new()
            };
            bar.set_message(format!(
                "loss {:.4}{sp} {:.0} img/s",
                loss_sum / steps as f64,
                seen as f64 / start.elapsed().as_secs_f64()
            ));
        });
        let report = epoch_outcome(report, &bar, trainer.epoch, &ckpt_path)?;
        let secs = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let knn_due = plan.knn_every > 0 && (e % plan.knn_every == 0) || e == plan.epochs;
        let knn = if knn_due {
            Some(eval_knn(&mut trainer, &split, plan)?)
        } else {
            None
        };
        if gated {
            last_train_sparsity = Some(report.gate_sparsity);
            branch = [
                Some(report.branch_sparsity[0]),
                Some(report.branch_sparsity[1]),
            ];
        }
        rows.push(MetricsRow {
            epoch: report.epoch,
            loss: report.loss,
            test_accuracy: None,
            knn_accuracy: knn,
            gate_sparsity: gated.then_some(report.gate_sparsity),
            images_per_s: report.images as f64 / secs,
            lr: report.lr,
        });
        ui_line(ui, &rows);
        let ckpt = trainer.checkpoint(meta_of(plan, &rows));
        let summary = json!({
            "objective": plan.objective,
            "epochs": trainer.epoch,
            "knn_accuracy": knn.or_else(|| rows.iter().rev().find_map(|r| r.knn_accuracy)),
            "train_gate_sparsity": last_train_sparsity,
            "complete": false,
            "plan": plan,
        });
        write_outputs(&plan.out, &rows, &ckpt, &summary)?;
    }
    // Final evaluation with calibrated gates.
    let probe = ProbeConfig {
        epochs: plan.probe_epochs,
        seed: plan.seed,
        ..ProbeConfig::default()
    };
    let n_trace = plan.trace_samples.min(split.test.len());
    let ((knn, linear, ev, exported), cal) =
        with_eval_gates(&mut trainer, &split, plan.calibration_samples, |t| {
            let ev = t.eval_gates(split.test.images.view())?;
            let (knn, lin) = t.knn_and_probe(&split.train, &split.test, &probe)?;
            let exported = if t.is_gated() && n_trace > 0 {
                Some(t.export_masks(split.test.images.slice(s![..n_trace, .., .., ..]))?)
            } else {
                None
            };
            Ok((knn, lin, ev, exported))
        })?;
    if let Some(last) = rows.last_mut() {
        last.knn_accuracy = Some(knn);
    }
    let trace_dir = plan.out.join("trace");
    let mut trace_path = Value::Null;
    if let Some((network, masks)) = exported {
        let provenance = json!({
            "tool": format!("cdg {}", env!("CARGO_PKG_VERSION")),
            "command": "cdg train",
            "config": plan,
            "seed": plan.seed,
            "epoch": trainer.epoch,
            "data": split.name(),
            "split": "test",
            "first_test_images": n_trace,
            "knn_accuracy": knn,
            "linear_accuracy": linear,
            "gate_sparsity": ev.sparsity,
            "flops_reduction": ev.cost.flops_reduction,
            "gates": "calibrated evaluation gates",
        });
        let trace = Trace {
            network,
            masks: Some(masks),
            samples: n_trace,
            provenance,
        };
        write_trace(&trace_dir, &trace, true)
            .with_context(|| format!("writing trace {}", trace_dir.display()))?;
        trace_path = json!(trace_dir.display().to_string());
    }
    let stages = stage_sparsity(&ev);
    let per_layer: Vec<Value> = ev
        .cost
        .layers
        .iter()
        .map(|l| {
            let sp = ev.layers.iter().find(|(n, _)| n == &l.name).map(|x| x.1);
            json!({
                "name": l.name,
                "gated": l.gated,
                "gate_sparsity": sp,
                "macs_dense": l.macs_dense,
                "macs_base": l.macs_base,
                "macs_needed": l.macs_needed,
                "gate_ops": l.gate_ops,
                "calibration": cal.iter().find(|c| c.name == l.name).map(|c| json!({
                    "achieved": c.achieved, "max_tied_fraction": c.max_tied
                })),
            })
        })
        .collect();
    let gated = trainer.is_gated();
    let ips: Vec<f64> = rows.iter().map(|r| r.images_per_s).collect();
    let summary = json!({
        "objective": plan.objective,
        "gating": plan.gating,
        "epochs": trainer.epoch,
        "knn_accuracy": knn,
        "linear_accuracy": linear,
        "init_knn_accuracy": init_knn,
        "gate_sparsity": gated.then_some(ev.sparsity),
        "train_gate_sparsity": last_train_sparsity,
        "train_gate_sparsity_branches": branch,
        "stage_gate_sparsity": gated.then_some(stages),
        "flops_reduction": ev.cost.flops_reduction,
        "gated_layers_flops_reduction": ev.cost.gated_reduction(),
        "macs_dense_per_image": ev.cost.macs_dense,
        "macs_needed_per_image": ev.cost.macs_needed,
        "gate_ops_per_image": ev.cost.gate_ops,
        "images_per_s": if ips.is_empty() { 0.0 } else { ips.iter().sum::<f64>() / ips.len() as f64 },
        "train_seconds": started.elapsed().as_secs_f64(),
        "resumed_from_epoch": resumed_from_epoch,
        "layers": per_layer,
        "trace": trace_path,
        "data": split.name(),
        "complete": true,
        "plan": plan,
    });
    let ckpt = trainer.checkpoint(meta_of(plan, &rows));
    write_outputs(&plan.out, &rows, &ckpt, &summary)?;
    let sp = if gated {
        format!(
            ", gate sparsity {:.3}, FLOPs reduction {:.2}×",
            ev.sparsity, ev.cost.flops_reduction
        )
    } else {
        String::new()
    };
    ui_final(
        ui,
        &format!(
            "after {} epochs: kNN {:.2}%, linear {:.2}%{sp} ({})",
            trainer.epoch,
            100.0 * knn,
            100.0 * linear,
            plan.out.join("summary.json").display()
        ),
    );
    Ok(ExitCode::SUCCESS)
}

fn ui_line(ui: &Ui, rows: &[MetricsRow]) {
    if let (true, Some(r)) = (ui.bars_enabled(), rows.last()) {
        let knn = r
            .knn_accuracy
            .map_or(String::new(), |k| format!(" kNN {:.2}%", 100.0 * k));
        let sp = r
            .gate_sparsity
            .map_or(String::new(), |s| format!(" sparsity {s:.3}"));
        eprintln!(
            "epoch {} loss {:.4}{sp}{knn} {:.0} img/s",
            r.epoch, r.loss, r.images_per_s
        );
    }
}

fn ui_final(_ui: &Ui, msg: &str) {
    eprintln!("{msg}");
}
