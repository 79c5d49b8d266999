//! `cdg import onnx MODEL.onnx --out DIR [--input-shape NAME=1x3x224x224]… [--name-prefix P]`:
//! the conv and FC layers of an ONNX model, with shapes inferred through the graph
//! (`cdg_io::onnx`), written as a trace directory without masks. `cdg inspect`, `cdg sim`,
//! `cdg sweep` and `cdg masks synth --trace DIR` read it like any trace.
//!
//! It prints one line per layer and a summary of the ops that are not layers (not simulated).

use crate::ui::Ui;
use anyhow::{Context, bail};
use cdg_io::onnx::{ImportOptions, import_onnx};
use cdg_io::output::OutputDir;
use cdg_io::trace::{Trace, commit_trace};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub command: ImportCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ImportCommand {
    /// Import the layers of an ONNX model (shapes only; weights and external data are not read).
    Onnx(OnnxArgs),
}

#[derive(Debug, clap::Args)]
pub struct OnnxArgs {
    /// The ONNX model (.onnx); external data files next to it are never opened.
    #[arg(value_name = "MODEL.onnx")]
    pub model: PathBuf,
    /// Output trace directory (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Shape of a graph input, batch first (`input=1x3x224x224`); needed for dynamic
    /// dimensions, and replaces the declared shape otherwise. Repeatable.
    #[arg(long = "input-shape", value_name = "NAME=DIMS")]
    pub input_shape: Vec<String>,
    /// Prepended to every layer name (e.g. `backbone.`).
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub name_prefix: String,
    /// Replace an output of another kind at --out (a sim or sweep output, a training run) as a whole; without it that is
    /// an error.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: ImportArgs, _ui: &Ui) -> anyhow::Result<ExitCode> {
    match args.command {
        ImportCommand::Onnx(a) => onnx(a),
    }
}

/// Parses `NAME=1x3x224x224`.
fn parse_input_shape(s: &str) -> anyhow::Result<(String, Vec<u64>)> {
    let bad = || {
        anyhow::anyhow!(
            "--input-shape `{s}`: expected NAME=DIMS with positive sizes joined by `x`, such as \
             input=1x3x224x224"
        )
    };
    let (name, dims) = s.rsplit_once('=').ok_or_else(bad)?;
    if name.is_empty() {
        return Err(bad());
    }
    let dims = dims
        .split('x')
        .map(|d| d.trim().parse::<u64>().ok().filter(|&d| d >= 1))
        .collect::<Option<Vec<u64>>>()
        .ok_or_else(bad)?;
    Ok((name.to_owned(), dims))
}

fn onnx(args: OnnxArgs) -> anyhow::Result<ExitCode> {
    let mut options = ImportOptions {
        input_shapes: Vec::new(),
        name_prefix: args.name_prefix.clone(),
    };
    for s in &args.input_shape {
        let (name, dims) = parse_input_shape(s)?;
        if options.input_shapes.iter().any(|(n, _)| *n == name) {
            bail!("--input-shape {name} is given twice");
        }
        options.input_shapes.push((name, dims));
    }
    let mut out = OutputDir::create_checked(
        &args.out,
        &cdg_io::layout::trace::KIND,
        &[("ONNX model", &args.model)],
        args.force,
    )?;
    let imported = import_onnx(&args.model, &options)
        .with_context(|| format!("cannot import {}", args.model.display()))?;
    let inputs: serde_json::Map<String, serde_json::Value> = imported
        .inputs
        .iter()
        .map(|(n, d)| (n.clone(), json!(d)))
        .collect();
    let trace = Trace {
        network: imported.network.clone(),
        masks: None,
        samples: 1,
        provenance: json!({
            "generator": "cdg import onnx",
            "cdg_version": env!("CARGO_PKG_VERSION"),
            "model": args.model.display().to_string(),
            "producer": imported.producer,
            "opset": imported.opset,
            "inputs": inputs,
            "name_prefix": args.name_prefix,
            "not_simulated": imported.skipped,
        }),
    };
    commit_trace(&mut out, &trace, true)
        .with_context(|| format!("cannot write the network to --out {}", args.out.display()))?;

    println!(
        "{:<36} {:>4} {:>16} {:>16} {:>7} {:>6} {:>14}",
        "layer", "kind", "input C×H×W", "output C×H×W", "kernel", "groups", "MACs"
    );
    let mut total = 0u64;
    for l in imported.network.layers() {
        let s = &l.shape;
        let [kh, kw] = s.kernel();
        total += s.macs().get();
        println!(
            "{:<36} {:>4} {:>16} {:>16} {:>7} {:>6} {:>14}",
            s.name(),
            format!("{:?}", s.kind()).to_lowercase(),
            format!("{}×{}×{}", s.in_channels(), s.in_height(), s.in_width()),
            format!("{}×{}×{}", s.out_channels(), s.out_height(), s.out_width()),
            format!("{kh}×{kw}"),
            s.groups(),
            s.macs().get()
        );
    }
    let skipped: Vec<String> = imported
        .skipped
        .iter()
        .map(|(op, n)| format!("{op} ×{n}"))
        .collect();
    println!(
        "imported {} layers, {:.3} GMACs per sample (opset {}, inputs {})",
        imported.network.len(),
        total as f64 / 1e9,
        imported.opset,
        imported
            .inputs
            .iter()
            .map(|(n, d)| format!(
                "{n} {}",
                d.iter().map(u64::to_string).collect::<Vec<_>>().join("×")
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !skipped.is_empty() {
        println!(
            "not simulated ({} nodes without MACs on the array): {}",
            imported.skipped.values().sum::<usize>(),
            skipped.join(", ")
        );
    }
    println!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
