//! `cdg`: train CDG networks, simulate their gate masks on PE-array accelerators, sweep designs.
//!
//! Parsing happens in two stages: clap fills the raw `*Args` structs in `cmd/`, each command
//! validates them into a plan, and only then does any work. `main` prints the error chain and
//! exits non-zero; nothing below it prints errors or exits.

#![forbid(unsafe_code)]

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

mod cmd;
mod ui;

#[derive(Debug, Parser)]
#[command(
    name = "cdg",
    version,
    about = "Co-design sparse CNN accelerators with Contrastive Dual Gating",
    long_about = "cdg trains CNNs with Contrastive Dual Gating (self-supervised, gated \
                  convolutions), exports their gate masks as traces, and simulates those masks \
                  on PE-array accelerators (latency, energy, utilization) under several \
                  skip policies."
)]
struct Cli {
    /// No progress bars (they are also off when stderr is not a terminal).
    #[arg(long, global = true)]
    quiet: bool,
    /// Refuse to allocate more than SIZE for masks, decompressed arrays and sweep results
    /// (e.g. 16G, 512M) [default: $CDG_MAX_MEMORY, else 8G].
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size)]
    max_memory: Option<u64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a network (supervised, SimCLR or SimSiam; dense or gated) and export its gates.
    Train(cmd::train::TrainArgs),
    /// Simulate a trace or topology on one accelerator design.
    Sim(cmd::sim::SimArgs),
    /// Run a grid of designs over traces/topologies.
    Sweep(cmd::sweep::SweepArgs),
    /// Join sharded sweep outputs into what the unsharded run writes.
    Merge(cmd::merge::MergeArgs),
    /// Draw SVG plots of a sweep or sim output directory.
    Plot(cmd::plot::PlotArgs),
    /// Write report.html: one self-contained page on a sim, sweep or run output directory.
    Report(cmd::report::ReportArgs),
    /// Two runs side by side (sim outputs or sweep points) with their ratios.
    Compare(cmd::compare::CompareArgs),
    /// Check the fast model against the SystemVerilog array of rtl/ (Verilator).
    Rtl(cmd::rtl::RtlArgs),
    /// Summarise a trace: layers, gate blocks, gate densities.
    Inspect(cmd::inspect::InspectArgs),
    /// Make or convert gate masks (synthetic traces).
    Masks(cmd::masks::MasksArgs),
    /// Import a network from another format (ONNX) as a trace directory without masks.
    Import(cmd::import::ImportArgs),
    /// The main job: train small CDG models, sweep the shipped designs, write results/.
    Run(cmd::run::RunArgs),
}

fn parse_size(s: &str) -> Result<u64, String> {
    cdg_io::limits::parse_size(s)
}

fn run() -> anyhow::Result<ExitCode> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // The limit is settled before any command runs: a malformed CDG_MAX_MEMORY is an error
    // here, not a silently ignored setting.
    let limit = match cli.max_memory {
        Some(bytes) => bytes,
        None => cdg_io::limits::env_max_memory()
            .map_err(anyhow::Error::msg)?
            .unwrap_or(cdg_io::limits::DEFAULT_MAX_MEMORY),
    };
    cdg_io::limits::set_max_memory(limit);
    let ui = ui::Ui::new(cli.quiet);
    match cli.command {
        Command::Train(a) => {
            // `cdg train` tells the flags given from their defaults (to merge `--config`).
            let sub = matches
                .subcommand_matches("train")
                .expect("the train subcommand");
            cmd::train::run(a, sub, &ui)
        }
        Command::Sim(a) => cmd::sim::run(a, &ui),
        Command::Sweep(a) => cmd::sweep::run(a, &ui),
        Command::Merge(a) => cmd::merge::run(a, &ui),
        Command::Plot(a) => cmd::plot::run(a, &ui),
        Command::Report(a) => cmd::report::run(a, &ui),
        Command::Compare(a) => cmd::compare::run(a, &ui),
        Command::Rtl(a) => cmd::rtl::run(a, &ui),
        Command::Inspect(a) => cmd::inspect::run(a, &ui),
        Command::Masks(a) => cmd::masks::run(a, &ui),
        Command::Import(a) => cmd::import::run(a, &ui),
        Command::Run(a) => cmd::run::run(a, &ui),
    }
}

/// Whether `e` is a write to a closed pipe.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .and_then(|j| j.io_error_kind())
                .is_some_and(|k| k == std::io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        // The reader of stdout went away (`cdg inspect T | head`): nothing left to say.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
