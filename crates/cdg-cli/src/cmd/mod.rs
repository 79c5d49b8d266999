//! One module per subcommand; each owns its clap `*Args` and its `run`.

pub mod compare;
pub mod import;
pub mod inspect;
pub mod masks;
pub mod merge;
pub mod plot;
pub mod report;
pub mod rtl;
pub mod run;
pub mod sim;
pub mod sweep;
pub mod train;

use std::path::{Path, PathBuf};

/// The shared `--out` check of every command that writes an output directory
/// ([`cdg_io::output::check_output`]), over the inputs the command was given (`None`: an
/// option not given).
pub(crate) fn check_out(
    out: &Path,
    kind: &cdg_io::layout::Kind,
    inputs: &[(&str, &Option<PathBuf>)],
    force: bool,
) -> anyhow::Result<()> {
    let given: Vec<(&str, &Path)> = inputs
        .iter()
        .filter_map(|(what, p)| p.as_deref().map(|p| (*what, p)))
        .collect();
    cdg_io::output::check_output(out, kind, &given, force)?;
    Ok(())
}
