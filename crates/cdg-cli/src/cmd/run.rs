//! `cdg run`. Scaffolding: the issue that owns this subcommand replaces it.

use crate::ui::Ui;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct RunArgs {}

pub fn run(_args: RunArgs, _ui: &Ui) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cdg run` is not available in this build yet")
}
