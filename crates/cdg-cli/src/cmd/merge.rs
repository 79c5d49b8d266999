//! `cdg merge`. Scaffolding: the issue that owns this subcommand replaces it.

use crate::ui::Ui;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct MergeArgs {}

pub fn run(_args: MergeArgs, _ui: &Ui) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cdg merge` is not available in this build yet")
}
