//! `cdg inspect`. Scaffolding: the issue that owns this subcommand replaces it.

use crate::ui::Ui;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct InspectArgs {}

pub fn run(_args: InspectArgs, _ui: &Ui) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cdg inspect` is not available in this build yet")
}
