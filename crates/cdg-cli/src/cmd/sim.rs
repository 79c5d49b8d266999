//! `cdg sim`. Scaffolding: the issue that owns this subcommand replaces it.

use crate::ui::Ui;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct SimArgs {}

pub fn run(_args: SimArgs, _ui: &Ui) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cdg sim` is not available in this build yet")
}
