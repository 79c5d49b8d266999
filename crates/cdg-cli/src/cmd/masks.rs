//! `cdg masks`: make gate masks without a trainer.
//!
//! `cdg masks synth (--topology FILE.csv | --trace DIR | --network NAME [--width W]
//! [--in-channels C]) --density D [--gate 'GLOB=BLOCK[,BASE]']… | [--gate-block c,h,w]
//! [--base-partitions P]) [--samples N] [--seed S] --out DIR` writes a valid trace of random
//! block gates (see `cdg_sim::synth`). `NAME` is a built-in network (`cdg_core::zoo`).
//!
//! Which layers are gated:
//! - `--gate RULE` (repeatable; `cdg_core::gating`): the rules, in order, starting from the
//!   source's own gates (none for `--topology` and `--network`).
//! - otherwise `--trace DIR` whose manifest already gates some layers: exactly those layers;
//!   their block and base channels are kept unless `--gate-block` / `--base-partitions` are
//!   given.
//! - otherwise `--network NAME`: the network's default rules (`Zoo::default_gate_rules`: the
//!   3×3 convolutions inside residual blocks for the ResNets, every conv but the first for
//!   VGG-16; MobileNetV2 needs `--gate`) with `--gate-block` and `--base-partitions`.
//! - otherwise (`--topology`, an ungated trace): every convolution with a kernel larger than
//!   1×1 except the network's first layer — channel gating's rule (the stem, 1×1 shortcuts and
//!   FC layers are never gated) — provided it keeps a conditional path (C_in > base channels;
//!   SCALE-Sim's per-channel depthwise layers have C_in = 1 and are not gated).
//!
//! Base channels are ⌈C_in_g / base_partitions⌉, C_in_g being the input channels of one group
//! (`GateSpec::for_layer`).

use crate::ui::Ui;
use anyhow::{Context, bail};
use cdg_core::gating::{BasePath, GateRule, apply_gate_rules};
use cdg_core::zoo::{Zoo, ZooOptions};
use cdg_core::{GateBlock, GateSpec, Layer, LayerKind, Network};
use cdg_io::output::OutputDir;
use cdg_io::trace::{Trace, commit_trace, read_trace};
use cdg_sim::SimError;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Default gate block (channel gating's 16-channel blocks).
const DEFAULT_BLOCK: GateBlock = GateBlock { c: 16, h: 1, w: 1 };
const DEFAULT_BASE_PARTITIONS: u64 = 4;

#[derive(Debug, clap::Args)]
pub struct MasksArgs {
    #[command(subcommand)]
    pub command: MasksCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum MasksCommand {
    /// Write a trace of random block gates at a requested density.
    Synth(SynthArgs),
}

/// `--network` values: the built-in networks of `cdg_core::zoo`.
fn parse_network(s: &str) -> Result<Zoo, String> {
    Zoo::from_name(s).map_err(|_| format!("expected one of {}", Zoo::ALL.map(Zoo::name).join(", ")))
}

#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("source").required(true).args(["topology", "trace", "network"])
))]
pub struct SynthArgs {
    /// SCALE-Sim topology CSV to take the layers from.
    #[arg(long, value_name = "FILE.csv")]
    pub topology: Option<PathBuf>,
    /// Trace directory to take the layers (and, if it has any, the gated layers) from.
    #[arg(long, value_name = "DIR")]
    pub trace: Option<PathBuf>,
    /// A built-in network: resnet18, resnet34, resnet50, resnet18-cifar, resnet50-cifar,
    /// mobilenetv2, vgg16.
    #[arg(long, value_name = "NAME", value_parser = parse_network)]
    pub network: Option<Zoo>,
    /// Channel width multiplier of the built-in network (1 = the published widths).
    #[arg(long, value_name = "W", requires = "network", default_value_t = 1.0)]
    pub width: f64,
    /// Input channels of the built-in network (3 for RGB, 1 for Fashion-MNIST).
    #[arg(long, value_name = "C", requires = "network", default_value_t = 3)]
    pub in_channels: u64,
    /// Gate rule `GLOB=BLOCK[,BASE]` or `GLOB=none` (repeatable, applied in order): layers whose
    /// name matches GLOB (`*`, `?`) are gated with blocks BLOCK (`16x1x1`) and BASE base
    /// partitions (default 4; 0 = no base path), or ungated.
    #[arg(
        long = "gate",
        value_name = "RULE",
        conflicts_with_all = ["gate_block", "base_partitions"]
    )]
    pub gate: Vec<String>,
    /// Fraction of gate blocks on, in [0, 1] (exact per layer and sample, up to rounding).
    #[arg(long, value_name = "D", allow_negative_numbers = true)]
    pub density: f64,
    /// Gate block: output channels, rows, columns [default: 16,1,1].
    #[arg(long, value_name = "c,h,w")]
    pub gate_block: Option<String>,
    /// Base partitions P: the first ⌈C_in/P⌉ input channels form the always-computed base path
    /// [default: 4].
    #[arg(long, value_name = "P")]
    pub base_partitions: Option<u64>,
    /// Samples (inputs) to make masks for.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub samples: usize,
    /// Random seed; the same seed gives byte-identical traces.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// Output trace directory (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace an output of another kind at --out (a sim or sweep output, a training run) as a whole; without it that is
    /// an error.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: MasksArgs, _ui: &Ui) -> anyhow::Result<ExitCode> {
    match args.command {
        MasksCommand::Synth(a) => synth(a),
    }
}

/// Parses `c,h,w` with every part at least 1.
fn parse_block(s: &str) -> anyhow::Result<GateBlock> {
    // `16,1,1` or, as in gate rules, `16x1x1`.
    let parts: Vec<&str> = s.split([',', 'x']).map(str::trim).collect();
    let bad = || {
        anyhow::anyhow!(
            "--gate-block `{s}`: expected three positive integers `c,h,w` or `cxhxw` such as \
             16,1,1 or 16x1x1"
        )
    };
    if parts.len() != 3 {
        return Err(bad());
    }
    let mut v = [0u64; 3];
    for (slot, p) in v.iter_mut().zip(&parts) {
        *slot = p.parse().map_err(|_| bad())?;
        if *slot == 0 {
            bail!("--gate-block `{s}`: every dimension must be at least 1, found 0");
        }
    }
    Ok(GateBlock::new(v[0], v[1], v[2]))
}

/// The validated plan of one `cdg masks synth` run.
#[derive(Debug)]
struct SynthPlan {
    network: Network,
    source: serde_json::Value,
    block: Option<GateBlock>,
    base_partitions: Option<u64>,
    rules: Vec<GateRule>,
}

/// Channel gating's rule: convolutions with a kernel larger than 1×1, except the first layer,
/// that keep a non-empty conditional path under `spec_for`.
fn with_gates(layers: &[Layer], spec_for: impl Fn(&Layer) -> GateSpec) -> Vec<Layer> {
    layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let [kh, kw] = l.shape.kernel();
            let spec = spec_for(l);
            let gated = i > 0
                && l.shape.kind() == LayerKind::Conv
                && kh * kw > 1
                && spec.base_channels < l.shape.in_channels();
            Layer {
                shape: l.shape.clone(),
                gate: gated.then_some(spec),
            }
        })
        .collect()
}

fn plan(args: &SynthArgs) -> anyhow::Result<SynthPlan> {
    if args.base_partitions == Some(0) {
        bail!("--base-partitions 0: expected at least 1");
    }
    if args.samples == 0 {
        bail!("--samples 0: expected at least 1");
    }
    if !(0.0..=1.0).contains(&args.density) {
        bail!(
            "--density {}: expected a fraction in [0, 1] such as 0.5",
            args.density
        );
    }
    let block = args.gate_block.as_deref().map(parse_block).transpose()?;
    let rules = args
        .gate
        .iter()
        .map(|r| r.parse::<GateRule>().with_context(|| format!("--gate {r}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let spec = |l: &Layer| {
        GateSpec::for_layer(
            &l.shape,
            args.base_partitions.unwrap_or(DEFAULT_BASE_PARTITIONS),
            block.unwrap_or(DEFAULT_BLOCK),
        )
    };
    let source_name = match (&args.topology, &args.trace, args.network) {
        (Some(p), _, _) => format!("the topology {}", p.display()),
        (_, Some(d), _) => format!("the trace {}", d.display()),
        (_, _, Some(z)) => format!("the built-in network {z}"),
        _ => "the built-in network".to_owned(),
    };
    let by_rules = |network: &Network| -> anyhow::Result<Vec<Layer>> {
        let gated = apply_gate_rules(network, &rules)
            .with_context(|| format!("--gate on {source_name}"))?;
        Ok(gated.layers().to_vec())
    };
    let (layers, source) = if let Some(path) = &args.topology {
        let topo = cdg_io::scalesim::read_topology(path)
            .with_context(|| format!("--topology {}", path.display()))?;
        let layers = if rules.is_empty() {
            with_gates(topo.network.layers(), spec)
        } else {
            by_rules(&topo.network)?
        };
        (layers, json!({ "topology": path.display().to_string() }))
    } else if let Some(dir) = &args.trace {
        let trace = read_trace(dir).with_context(|| format!("--trace {}", dir.display()))?;
        let layers = trace.network.layers();
        let layers = if !rules.is_empty() {
            by_rules(&trace.network)?
        } else if trace.network.gated().next().is_some() {
            // Keep the trace's gated layers; override their spec only where asked.
            layers
                .iter()
                .map(|l| Layer {
                    shape: l.shape.clone(),
                    gate: l.gate.map(|g| GateSpec {
                        base_channels: match args.base_partitions {
                            Some(p) => GateSpec::for_layer(&l.shape, p, g.block).base_channels,
                            None => g.base_channels,
                        },
                        block: block.unwrap_or(g.block),
                    }),
                })
                .collect()
        } else {
            with_gates(layers, spec)
        };
        (layers, json!({ "trace": dir.display().to_string() }))
    } else if let Some(zoo) = args.network {
        if !(args.width.is_finite() && args.width > 0.0) {
            bail!(
                "--width {}: expected a positive multiplier such as 1 or 0.25",
                args.width
            );
        }
        if args.in_channels == 0 {
            bail!("--in-channels 0: expected at least 1");
        }
        let net = zoo
            .build(&ZooOptions {
                width: args.width,
                in_channels: args.in_channels,
            })
            .with_context(|| format!("--network {zoo}"))?;
        let layers = if rules.is_empty() {
            let defaults = zoo.default_gate_rules(
                block.unwrap_or(DEFAULT_BLOCK),
                BasePath::Partitions(args.base_partitions.unwrap_or(DEFAULT_BASE_PARTITIONS)),
            );
            if defaults.is_empty() {
                bail!(
                    "--network {zoo} has no default gate rule; state which layers to gate with \
                     --gate, e.g. --gate 'features.*.conv.1.0=16x1x1,0' (depthwise, no base \
                     path) --gate 'features.*.conv.2=16x1x1' (pointwise projections)"
                );
            }
            apply_gate_rules(&net, &defaults)
                .with_context(|| format!("the default gate rule of --network {zoo}"))?
                .layers()
                .to_vec()
        } else {
            by_rules(&net)?
        };
        (
            layers,
            json!({
                "network": zoo.name(),
                "width": args.width,
                "in_channels": args.in_channels,
            }),
        )
    } else {
        bail!("one of --topology, --trace or --network is required");
    };
    let network = Network::new(layers)
        .with_context(|| format!("cannot gate the network of {source_name}"))?;
    if network.gated().next().is_none() && !rules.is_empty() {
        bail!("the --gate rules leave no layer of {source_name} gated");
    }
    if network.gated().next().is_none() {
        bail!(
            "no layer of {source_name} can be gated: the rule gates convolutions with a kernel \
             larger than 1×1, other than the first layer, with more input channels than base \
             channels"
        );
    }
    Ok(SynthPlan {
        network,
        source,
        block,
        base_partitions: args.base_partitions,
        rules,
    })
}

fn synth(args: SynthArgs) -> anyhow::Result<ExitCode> {
    super::check_out(
        &args.out,
        &cdg_io::layout::trace::KIND,
        &[("--topology", &args.topology), ("--trace", &args.trace)],
        args.force,
    )?;
    let plan = plan(&args)?;
    // Masks are held packed (one bit per gate block) and written one layer at a time as one
    // byte per block: refuse before allocating what would not fit.
    let bytes = cdg_io::trace::decompressed_mask_bytes(&plan.network, args.samples)
        .and_then(|b| b.checked_add(b / 8));
    cdg_io::limits::check_memory_opt(
        format!(
            "--samples {}: the gate masks of {} samples over {} gated layers",
            args.samples,
            args.samples,
            plan.network.gated().count()
        ),
        bytes,
    )?;
    let mut out = OutputDir::create(&args.out, &cdg_io::layout::trace::KIND)?;
    let masks = cdg_sim::synth::synth_masks(&plan.network, args.density, args.samples, args.seed)
        .map_err(|e| {
        let option = match &e {
            SimError::Density(_) => format!("--density {}", args.density),
            SimError::NoSamples | SimError::Core(_) => {
                format!("--samples {}", args.samples)
            }
            _ => "the gated layers".to_owned(),
        };
        anyhow::Error::new(e).context(option)
    })?;
    let block = plan.block.map(|b| b.as_array());
    let mut provenance = json!({
            "generator": "cdg masks synth",
            "cdg_version": env!("CARGO_PKG_VERSION"),
            "density": args.density,
            "seed": args.seed,
            "samples": args.samples,
            "gate_block": block,
            "base_partitions": plan.base_partitions,
            "source": plan.source,
            "rule": "per layer and sample, exactly round(density × blocks) gate blocks on, \
                     drawn uniformly without replacement (ChaCha8, stream = layer index)",
    });
    if !plan.rules.is_empty() {
        provenance["gate_rules"] = plan.rules.iter().map(|r| r.to_string()).collect();
    }
    let trace = Trace {
        network: plan.network,
        masks: Some(masks),
        samples: args.samples,
        provenance,
    };
    commit_trace(&mut out, &trace, true)
        .with_context(|| format!("cannot write the trace to --out {}", args.out.display()))?;
    print_summary(&args.out, &trace);
    Ok(ExitCode::SUCCESS)
}

fn print_summary(out: &Path, trace: &Trace) {
    let Some(masks) = &trace.masks else { return };
    println!(
        "{:<24} {:>14} {:>12} {:>10} {:>14}",
        "layer", "grid", "block", "base_ch", "block_density"
    );
    for (_, layer, spec) in trace.network.gated() {
        let Some(m) = masks.layer(layer.name()) else {
            continue;
        };
        // Block density: a popcount, cheap even for unstructured gates on many samples.
        let mean =
            (0..m.samples()).map(|s| m.block_density(s)).sum::<f64>() / m.samples().max(1) as f64;
        let [gc, gh, gw] = m.grid();
        let b = spec.block;
        println!(
            "{:<24} {:>14} {:>12} {:>10} {:>14.4}",
            layer.name(),
            format!("{gc}×{gh}×{gw}"),
            format!("{}×{}×{}", b.c, b.h, b.w),
            spec.base_channels,
            mean
        );
    }
    println!(
        "wrote {} ({} samples, {} gated layers)",
        out.display(),
        trace.samples,
        trace.network.gated().count()
    );
}
