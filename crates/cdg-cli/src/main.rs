//! `cdg`: train CDG networks, simulate their gate masks on PE-array accelerators, sweep designs.
//!
//! Parsing happens in two stages: clap fills the raw `*Args` structs in `cmd/`, each command
//! validates them into a plan, and only then does any work. `main` prints the error chain and
//! exits non-zero; nothing below it prints errors or exits.

use clap::{Parser, Subcommand};
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
    /// Summarise a trace: layers, gate blocks, gate densities.
    Inspect(cmd::inspect::InspectArgs),
    /// Make or convert gate masks (synthetic traces).
    Masks(cmd::masks::MasksArgs),
    /// Import a network from another format (ONNX) as a trace directory without masks.
    Import(cmd::import::ImportArgs),
    /// The main job: train small CDG models, sweep the shipped designs, write results/.
    Run(cmd::run::RunArgs),
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let ui = ui::Ui::new(cli.quiet);
    match cli.command {
        Command::Train(a) => cmd::train::run(a, &ui),
        Command::Sim(a) => cmd::sim::run(a, &ui),
        Command::Sweep(a) => cmd::sweep::run(a, &ui),
        Command::Merge(a) => cmd::merge::run(a, &ui),
        Command::Plot(a) => cmd::plot::run(a, &ui),
        Command::Inspect(a) => cmd::inspect::run(a, &ui),
        Command::Masks(a) => cmd::masks::run(a, &ui),
        Command::Import(a) => cmd::import::run(a, &ui),
        Command::Run(a) => cmd::run::run(a, &ui),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
