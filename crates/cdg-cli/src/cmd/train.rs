//! `cdg train`. Scaffolding: the issue that owns this subcommand replaces it.

use crate::ui::Ui;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct TrainArgs {}

pub fn run(_args: TrainArgs, _ui: &Ui) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cdg train` is not available in this build yet")
}
