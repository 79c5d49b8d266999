//! `cdg inspect TRACE_DIR [--json]`: what a trace holds — one line per layer (shape, kernel,
//! gate block, samples, gate density mean/min/max over samples) and a network line (dense
//! MACs, mean gate density over gated layers weighted by output elements).

use crate::ui::Ui;
use anyhow::{Context, bail};
use cdg_core::{Layer, LayerKind, MaskSet};
use cdg_io::layout::trace::{GATE_DENSITY_SVG, MANIFEST_FILE};
use cdg_io::trace::{Trace, read_trace};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Trace directory (manifest.json + masks.npz), or its manifest.json.
    pub trace: PathBuf,
    /// Print the summary as JSON on stdout (same fields as the table).
    #[arg(long)]
    pub json: bool,
    /// Also draw per-layer gate-density heatmaps as SVG: to FILE, or to
    /// `--out DIR`/gate_density.svg, or to gate_density.svg in the current directory (never
    /// into the trace directory, which may be a shipped one).
    #[arg(long, value_name = "FILE.svg", num_args = 0..=1, require_equals = true)]
    pub plot: Option<Option<PathBuf>>,
    /// With --plot: the output directory of the heatmaps (created if needed).
    #[arg(long, value_name = "DIR", requires = "plot")]
    pub out: Option<PathBuf>,
}

/// One layer of the summary. Densities are fractions in [0, 1] of output elements gated on.
#[derive(Debug, Serialize)]
struct LayerSummary {
    name: String,
    kind: &'static str,
    /// `[C, H, W]` of the input.
    input: [u64; 3],
    /// `[N, H_out, W_out]` of the output.
    output: [u64; 3],
    kernel: [u64; 2],
    stride: u64,
    padding: u64,
    /// Gate block `[bc, bh, bw]`, `None` for ungated layers.
    gate_block: Option<[u64; 3]>,
    base_channels: Option<u64>,
    samples: usize,
    macs_dense: u64,
    density_mean: Option<f64>,
    density_min: Option<f64>,
    density_max: Option<f64>,
}

#[derive(Debug, Serialize)]
struct NetworkSummary {
    layers: usize,
    gated_layers: usize,
    samples: usize,
    macs_dense: u64,
    /// Mean gate density over gated layers, weighted by output elements; `None` if none gated.
    density_mean: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Summary {
    trace: String,
    layers: Vec<LayerSummary>,
    network: NetworkSummary,
    provenance: serde_json::Value,
}

pub fn run(args: InspectArgs, _ui: &Ui) -> anyhow::Result<ExitCode> {
    // Accept the manifest's own path too: `cdg inspect traces/x/manifest.json`.
    let dir = match (args.trace.file_name(), args.trace.parent()) {
        (Some(f), Some(parent)) if f == MANIFEST_FILE && args.trace.is_file() => {
            if parent.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                parent.to_path_buf()
            }
        }
        _ => args.trace.clone(),
    };
    let trace = read_trace(&dir).context("cannot inspect trace")?;
    let summary = summarize(&dir, &trace)?;
    if let Some(svg) = &args.plot {
        let Some(masks) = &trace.masks else {
            bail!("the trace has no gated layers, so there are no gate densities to draw");
        };
        let text = cdg_report::gate_density(&trace.network, masks)?;
        let path = match (svg, &args.out) {
            (Some(_), Some(_)) => bail!("give either --plot=FILE.svg or --plot --out DIR"),
            // An output directory of its own.
            (None, Some(out_dir)) => {
                let mut out = cdg_io::output::OutputDir::create_checked(
                    out_dir,
                    &cdg_io::layout::inspect::KIND,
                    &[("trace", &dir)],
                    false,
                )?;
                let mut files = cdg_io::output::Outputs::new();
                files.add(GATE_DENSITY_SVG, text);
                out.commit(&files)?;
                out_dir.join(GATE_DENSITY_SVG)
            }
            (None, None) => {
                let file = PathBuf::from(GATE_DENSITY_SVG);
                cdg_io::output::check_output_file(&file, &[("trace", &dir)])?;
                cdg_io::atomic::write_atomic(&file, text.as_bytes())
                    .with_context(|| format!("cannot write plot {}", file.display()))?;
                file
            }
            (Some(file), None) => {
                cdg_io::output::check_output_file(file, &[("trace", &dir)])?;
                cdg_io::atomic::write_atomic(file, text.as_bytes())
                    .with_context(|| format!("cannot write plot {}", file.display()))?;
                file.clone()
            }
        };
        eprintln!("gate-density heatmaps: {}", path.display());
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &summary)?;
        writeln!(out)?;
    } else {
        write_table(&mut out, &summary)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn summarize(dir: &std::path::Path, trace: &Trace) -> anyhow::Result<Summary> {
    let mut layers = Vec::with_capacity(trace.network.len());
    let mut macs_total: u64 = 0;
    let (mut weighted, mut weight) = (0.0f64, 0.0f64);
    for layer in trace.network.layers() {
        let s = summarize_layer(layer, trace.masks.as_ref(), trace.samples);
        macs_total = macs_total
            .checked_add(s.macs_dense)
            .context("the network's total MAC count overflows 64 bits")?;
        if let Some(mean) = s.density_mean {
            let elements = layer.shape.out_elements() as f64;
            weighted += mean * elements;
            weight += elements;
        }
        layers.push(s);
    }
    let gated_layers = trace.network.gated().count();
    Ok(Summary {
        trace: dir.display().to_string(),
        network: NetworkSummary {
            layers: layers.len(),
            gated_layers,
            samples: trace.samples,
            macs_dense: macs_total,
            density_mean: (weight > 0.0).then(|| weighted / weight),
        },
        layers,
        provenance: trace.provenance.clone(),
    })
}

fn summarize_layer(layer: &Layer, masks: Option<&MaskSet>, samples: usize) -> LayerSummary {
    let s = &layer.shape;
    let lm = masks.and_then(|m| m.layer(layer.name()));
    let (mut mean, mut min, mut max) = (None, None, None);
    if let Some(lm) = lm {
        let d: Vec<f64> = (0..lm.samples()).map(|i| lm.density(i)).collect();
        if !d.is_empty() {
            mean = Some(d.iter().sum::<f64>() / d.len() as f64);
            min = d.iter().copied().reduce(f64::min);
            max = d.iter().copied().reduce(f64::max);
        }
    }
    LayerSummary {
        name: s.name().to_owned(),
        kind: match s.kind() {
            LayerKind::Conv => "conv",
            LayerKind::Fc => "fc",
        },
        input: [s.in_channels(), s.in_height(), s.in_width()],
        output: [s.out_channels(), s.out_height(), s.out_width()],
        kernel: s.kernel(),
        stride: s.stride(),
        padding: s.padding(),
        gate_block: layer.gate.map(|g| g.block.as_array()),
        base_channels: layer.gate.map(|g| g.base_channels),
        samples,
        macs_dense: s.macs().get(),
        density_mean: mean,
        density_min: min,
        density_max: max,
    }
}

fn write_table(out: &mut impl Write, s: &Summary) -> std::io::Result<()> {
    let frac = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.4}"));
    let header = [
        "layer", "kind", "input", "output", "k/s/p", "gate", "samples", "density", "min", "max",
    ];
    let rows: Vec<[String; 10]> = s
        .layers
        .iter()
        .map(|l| {
            [
                l.name.clone(),
                l.kind.to_owned(),
                format!("{}×{}×{}", l.input[0], l.input[1], l.input[2]),
                format!("→ {}×{}×{}", l.output[0], l.output[1], l.output[2]),
                format!("{}x{}/{}/{}", l.kernel[0], l.kernel[1], l.stride, l.padding),
                match (l.gate_block, l.base_channels) {
                    (Some(b), Some(base)) => format!("{}×{}×{} base {base}", b[0], b[1], b[2]),
                    _ => "-".to_owned(),
                },
                l.samples.to_string(),
                frac(l.density_mean),
                frac(l.density_min),
                frac(l.density_max),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: &[String]| -> std::io::Result<()> {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            let pad = w.saturating_sub(cell.chars().count());
            // Numbers right-aligned, text left-aligned.
            if i >= 6 {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&" ".repeat(pad));
            }
            text.push_str("  ");
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, &header.map(str::to_owned))?;
    for r in &rows {
        line(out, r)?;
    }
    let n = &s.network;
    writeln!(
        out,
        "network: {} layer{} ({} gated), {} sample{}, {} dense MACs, gate density {} \
         (gated layers, weighted by output elements)",
        n.layers,
        if n.layers == 1 { "" } else { "s" },
        n.gated_layers,
        n.samples,
        if n.samples == 1 { "" } else { "s" },
        n.macs_dense,
        frac(n.density_mean)
    )
}
