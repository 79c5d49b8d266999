//! Whole networks: every layer densely ([`simulate_network_with`]), or every sample of a trace's
//! masks through the gated model ([`simulate_samples`]), with the mean over samples.

use crate::arch::check_arch;
use crate::dense::{LayerOptions, simulate_layer};
use crate::error::SimError;
use crate::gated::{GatedPlan, simulate_gated_sample};
use crate::policy;
use crate::stats::{LayerStats, NetworkStats, summarize};
use cdg_core::{ArchConfig, LayerMasks, MaskSet, Network};
use rayon::prelude::*;

/// Simulates every layer of `network`.
///
/// Without masks every layer runs densely (one GEMM). With masks, every sample is simulated
/// by the gated model ([`simulate_samples`]: base then conditional pass under
/// `sparsity.support`) and the result is the mean over samples, with per-sample maxima.
///
/// Errors: masks that miss a gated layer or disagree with its shape, and everything
/// [`simulate_layer`] refuses — each naming the layer or the key.
pub fn simulate_network(
    arch: &ArchConfig,
    network: &Network,
    masks: Option<&MaskSet>,
) -> Result<NetworkStats, SimError> {
    match masks {
        Some(masks) => Ok(simulate_samples(arch, network, masks)?.mean),
        None => simulate_network_with(arch, network, &[]),
    }
}

/// Simulates every layer of `network` densely with per-layer options (`opts[i]` for layer i;
/// an empty slice means defaults for every layer).
pub fn simulate_network_with(
    arch: &ArchConfig,
    network: &Network,
    opts: &[LayerOptions],
) -> Result<NetworkStats, SimError> {
    if !opts.is_empty() && opts.len() != network.len() {
        return Err(SimError::Mismatch(format!(
            "per-layer options for {} layers given for a network of {} layers",
            opts.len(),
            network.len()
        )));
    }
    let default = LayerOptions::default();
    let layers = network
        .layers()
        .iter()
        .enumerate()
        .map(|(i, l)| simulate_layer(arch, l, opts.get(i).unwrap_or(&default)))
        .collect::<Result<Vec<_>, _>>()?;
    NetworkStats::of_layers(arch, None, layers)
}

/// Every sample of a trace simulated, and their mean.
#[derive(Debug, Clone, PartialEq)]
pub struct SampledStats {
    /// One run per sample, in sample order (`sample = Some(s)`). With `workload.batch` = B > 1,
    /// one run per batch of consecutive samples (`s..s + B`, named `sample = Some(s)`).
    pub per_sample: Vec<NetworkStats>,
    /// The mean over samples with per-sample maxima ([`summarize`]).
    pub mean: NetworkStats,
}

/// Checks that `masks` covers exactly the gated layers of `network`.
fn check_masks(network: &Network, masks: &MaskSet) -> Result<(), SimError> {
    for (_, l, _) in network.gated() {
        if masks.layer(l.name()).is_none() {
            return Err(SimError::layer(
                l.name(),
                "is gated, but the trace has no masks for it; expected a mask array named \
                 after the layer",
            ));
        }
    }
    for (name, _) in masks.iter() {
        match network.position(name) {
            None => {
                return Err(SimError::layer(
                    name,
                    "has masks in the trace but is not a layer of the network",
                ));
            }
            Some(i) if network.layers()[i].gate.is_none() => {
                return Err(SimError::layer(
                    name,
                    "has masks in the trace but is not gated in the network",
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// A layer as the sampled run sees it.
enum Prepared<'a> {
    /// Ungated: one dense run, the same for every sample.
    Dense(Box<LayerStats>),
    Gated {
        plan: Box<GatedPlan<'a>>,
        masks: &'a LayerMasks,
    },
}

/// Simulates every sample of `masks` on `network` under `arch` (rayon over layers and samples,
/// in consecutive batches of `workload.batch` samples, which must divide the sample count;
/// reductions in a fixed order: the result does not depend on the thread count).
pub fn simulate_samples(
    arch: &ArchConfig,
    network: &Network,
    masks: &MaskSet,
) -> Result<SampledStats, SimError> {
    check_arch(arch)?;
    check_masks(network, masks)?;
    let samples = masks.samples();
    let batch = usize::try_from(arch.workload.batch)
        .ok()
        .filter(|&b| b > 0 && samples.is_multiple_of(b))
        .ok_or_else(|| SimError::Config {
            key: "workload.batch".into(),
            problem: format!(
                "is {}, but the trace holds {samples} samples: its samples are simulated in \
                 consecutive batches (0..B, B..2B, …), so the batch must divide the sample \
                 count",
                arch.workload.batch
            ),
        })?;
    let policy = policy::model(arch.sparsity.support);
    let prepared = network
        .layers()
        .par_iter()
        .map(|l| match &l.gate {
            None => simulate_layer(arch, l, &LayerOptions::default())
                .map(|s| Prepared::Dense(Box::new(s))),
            Some(_) => {
                let m = masks.layer(l.name()).ok_or_else(|| {
                    SimError::layer(l.name(), "is gated, but the trace has no masks for it")
                })?;
                Ok(Prepared::Gated {
                    plan: Box::new(GatedPlan::new(arch, l, m, policy)?),
                    masks: m,
                })
            }
        })
        .collect::<Vec<Result<_, SimError>>>()
        .into_iter()
        // The first error in layer (or sample) order, whatever the thread count.
        .collect::<Result<Vec<_>, _>>()?;
    // One run per batch, named by its first sample.
    let per_sample: Vec<NetworkStats> = (0..samples / batch)
        .into_par_iter()
        .map(|i| {
            let s = i * batch;
            let layers: Vec<LayerStats> = prepared
                .iter()
                .map(|p| match p {
                    Prepared::Dense(stats) => Ok(LayerStats {
                        sample: Some(s),
                        ..(**stats).clone()
                    }),
                    Prepared::Gated { plan, masks } => {
                        let summary = plan.summarize(masks, s, policy)?;
                        simulate_gated_sample(arch, plan, &summary, policy, s)
                    }
                })
                .collect::<Result<_, SimError>>()?;
            NetworkStats::of_layers(arch, Some(s), layers)
        })
        .collect::<Vec<Result<_, SimError>>>()
        .into_iter()
        // The first error in layer (or sample) order, whatever the thread count.
        .collect::<Result<Vec<_>, _>>()?;
    let mean = summarize(&per_sample).ok_or_else(|| {
        SimError::Mismatch("the mask set has no samples; expected at least 1".into())
    })?;
    Ok(SampledStats { per_sample, mean })
}
