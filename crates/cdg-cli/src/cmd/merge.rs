//! `cdg merge DIR1 DIR2 … --out DIR`: join the shard directories of a split `cdg sweep` into
//! exactly the bytes the unsharded run writes.
//!
//! Each shard's `shard.json` says which shard of which sweep it is. The merge refuses shards of
//! different sweeps (spec fingerprint, point count, grid keys, workloads, options), a shard
//! given twice, missing shards, and a shard whose rows or configs do not cover exactly its
//! points. Everything is read and checked before anything is written (`cdg_sweep::Merge`);
//! plots are redrawn from the merged `sweep.csv`.

use super::sweep::print_pareto;
use crate::ui::Ui;
use cdg_io::layout::sweep::SWEEP_CSV;
use cdg_io::output::OutputDir;
use cdg_report::Pareto;
use cdg_sweep::Merge;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The shard output directories of one sweep (`cdg sweep --shard K/N --out DIR_K`), in
    /// any order.
    #[arg(required = true, value_name = "DIR")]
    pub shards: Vec<PathBuf>,
    /// Where to write the merged output (the layout of an unsharded `cdg sweep --out`).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Take the Pareto fronts over these objectives instead of latency and energy:
    /// `latency,energy,area` (or `latency,energy`); entries then list the designs identical
    /// to them on every objective (docs/formats.md §3).
    #[arg(long, value_name = "OBJECTIVES")]
    pub pareto: Option<Pareto>,
    /// Replace an output of another kind at --out (a sim output, a trace, a training run) as a whole; without it that is
    /// an error.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: MergeArgs, _ui: &Ui) -> anyhow::Result<ExitCode> {
    let shards: Vec<(&str, &std::path::Path)> =
        args.shards.iter().map(|d| ("shard", d.as_path())).collect();
    let mut out =
        OutputDir::create_checked(&args.out, &cdg_io::layout::sweep::KIND, &shards, args.force)?;
    let pareto = args.pareto.unwrap_or_default();
    let merge = Merge::read_with(&args.shards, &pareto)?;
    out.commit(&merge.outputs)?;
    println!(
        "merge: {} shards, {} points → {}",
        merge.shards,
        merge.info.points,
        args.out.join(SWEEP_CSV).display()
    );
    print_pareto(&merge.outputs, &merge.info.grid_keys, &pareto)?;
    Ok(ExitCode::SUCCESS)
}
