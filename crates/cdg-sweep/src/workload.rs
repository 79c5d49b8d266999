//! Workloads: the networks a sweep simulates, each loaded once and shared by every point.

use crate::error::{Result, SweepError};
use cdg_core::{MaskSet, Network};
use cdg_io::sweep::SweepSpec;
use std::path::Path;

/// A network to simulate, with the gate masks of its samples when it is a gated trace.
#[derive(Debug)]
pub struct Workload {
    /// Trace directory name or topology file stem; unique within a sweep.
    pub name: String,
    pub network: Network,
    pub masks: Option<MaskSet>,
    /// The gate block of the gated layers (`16x1x1`), `mixed`, or `none`.
    pub gate_block: String,
    pub samples: usize,
}

impl Workload {
    /// Loads a trace directory; the workload is named after the directory.
    pub fn trace(path: &Path) -> Result<Self> {
        let t = cdg_io::trace::read_trace(path)?;
        Ok(Self::from_trace(path, t))
    }

    /// A trace read from `path`, named after the directory.
    fn from_trace(path: &Path, t: cdg_io::Trace) -> Self {
        let name = path
            .file_name()
            .map_or_else(|| name_of(path), |n| n.to_string_lossy().into_owned());
        Self::new(name, t.network, t.masks, t.samples)
    }

    /// Wraps an in-memory network and masks (e.g. synthesized ones).
    pub fn new(name: String, network: Network, masks: Option<MaskSet>, samples: usize) -> Self {
        let blocks: Vec<[u64; 3]> = network
            .gated()
            .map(|(_, _, g)| g.block.as_array())
            .collect();
        let gate_block = match blocks.first() {
            None => "none".to_owned(),
            Some(b) if blocks.iter().all(|x| x == b) => format!("{}x{}x{}", b[0], b[1], b[2]),
            Some(_) => "mixed".to_owned(),
        };
        Self {
            name,
            network,
            masks,
            gate_block,
            samples,
        }
    }
}

/// A file's stem (or name, or the whole path) as a workload name.
fn name_of(path: &Path) -> String {
    path.file_stem()
        .or_else(|| path.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Loads the spec's workloads (traces first, then topologies, each in spec order). Refuses
/// topologies with N:M weight sparsity (sweeps do not model it) and two workloads of one name.
pub fn load_workloads(spec: &SweepSpec) -> Result<Vec<Workload>> {
    let mut out: Vec<Workload> = Vec::new();
    for p in &spec.traces {
        let t = cdg_io::trace::read_trace(p).map_err(|source| SweepError::Workload {
            spec: spec.path.clone(),
            kind: "trace",
            path: p.clone(),
            source: Box::new(source),
        })?;
        out.push(Workload::from_trace(p, t));
    }
    for p in &spec.topologies {
        let topo = cdg_io::scalesim::read_topology(p).map_err(|source| SweepError::Workload {
            spec: spec.path.clone(),
            kind: "topology",
            path: p.clone(),
            source: Box::new(source),
        })?;
        if let Some(i) = topo.nm_sparsity.iter().position(Option::is_some) {
            return Err(SweepError::Workloads {
                spec: spec.path.clone(),
                problem: format!(
                    "topology {}: layer `{}` has N:M weight sparsity, which sweeps do not \
                     model; simulate it with `cdg sim --scalesim-cfg` or drop the N:M field",
                    p.display(),
                    topo.network.layers()[i].name()
                ),
            });
        }
        out.push(Workload::new(name_of(p), topo.network, None, 1));
    }
    for (i, w) in out.iter().enumerate() {
        if out[..i].iter().any(|o| o.name == w.name) {
            return Err(SweepError::Workloads {
                spec: spec.path.clone(),
                problem: format!(
                    "two workloads are named `{}`; rename one (workloads are named after \
                     their trace directory or topology file)",
                    w.name
                ),
            });
        }
    }
    Ok(out)
}
