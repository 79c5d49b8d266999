//! Helpers shared by the end-to-end tests.

use std::path::PathBuf;
use std::process::Command;

/// The `cdg` binary built for this test run.
#[allow(dead_code)]
pub fn cdg() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cdg"))
}

/// The workspace root, for shipped files (arch-configs/, traces/, data/).
#[allow(dead_code)]
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}
