//! Workloads: the networks `cdg sim` and `cdg sweep` simulate, each loaded once and shared by
//! every design — a trace (with the gate masks of its samples when gated), a SCALE-Sim topology
//! (with its per-layer N:M weight sparsity) or a built-in network.

use crate::error::{Result, SweepError};
use cdg_core::zoo::{Zoo, ZooOptions};
use cdg_core::{MaskSet, Network};
use cdg_io::sweep::SweepSpec;
use cdg_sim::{LayerOptions, NmSparsity};
use std::path::Path;

/// A network to simulate, with the gate masks of its samples when it is a gated trace and the
/// per-layer options (N:M weight sparsity) of a topology.
#[derive(Debug)]
pub struct Workload {
    /// Trace directory name, topology file stem or built-in network name; unique within a
    /// sweep (the `workload` column).
    pub name: String,
    /// What to call it in messages (the path it was read from).
    pub label: String,
    pub network: Network,
    pub masks: Option<MaskSet>,
    /// One entry per layer (empty: defaults for every layer).
    pub layer_opts: Vec<LayerOptions>,
    /// Read from a SCALE-Sim topology (so SCALE-Sim's COMPUTE_REPORT describes it).
    pub scalesim_topology: bool,
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
        let mut w = Self::new(name, t.network, t.masks, t.samples);
        w.label = path.display().to_string();
        w
    }

    /// Loads a SCALE-Sim topology CSV, named after the file's stem, with the N:M weight
    /// sparsity of its layers (or without it: `honour_nm = false`, as a SCALE-Sim config with
    /// `SparsitySupport = false` runs it).
    pub fn topology(path: &Path, honour_nm: bool) -> Result<Self> {
        let topo = cdg_io::scalesim::read_topology(path)?;
        Ok(Self::from_topology(path, topo, honour_nm))
    }

    fn from_topology(path: &Path, topo: cdg_io::scalesim::Topology, honour_nm: bool) -> Self {
        let layer_opts = topo
            .nm_sparsity
            .iter()
            .map(|nm| LayerOptions {
                weight_sparsity: nm.filter(|_| honour_nm).map(|(n, m)| NmSparsity {
                    n: u64::from(n),
                    m: u64::from(m),
                }),
            })
            .collect();
        let mut w = Self::new(name_of(path), topo.network, None, 1);
        w.label = path.display().to_string();
        w.layer_opts = layer_opts;
        w.scalesim_topology = true;
        w
    }

    /// A built-in network, dense (no masks): named `resnet18`, or `resnet18-w0.5-c1` when the
    /// width or input channels differ from the published network's.
    pub fn zoo(zoo: Zoo, opts: &ZooOptions) -> Result<Self, cdg_core::CoreError> {
        let network = zoo.build(opts)?;
        let published = opts.width == 1.0 && opts.in_channels == 3;
        let (name, label) = if published {
            (zoo.name().to_owned(), zoo.name().to_owned())
        } else {
            (
                format!("{}-w{}-c{}", zoo.name(), opts.width, opts.in_channels),
                format!(
                    "{} (width {}, {} input channels)",
                    zoo.name(),
                    opts.width,
                    opts.in_channels
                ),
            )
        };
        let mut w = Self::new(name, network, None, 1);
        w.label = label;
        Ok(w)
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
            label: name.clone(),
            name,
            network,
            masks,
            layer_opts: Vec::new(),
            scalesim_topology: false,
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

/// Loads the spec's workloads (traces first, then topologies with their N:M weight sparsity,
/// each in spec order). Refuses two workloads of one name.
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
        out.push(Workload::from_topology(p, topo, true));
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
