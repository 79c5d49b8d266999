//! Helpers shared by the workspace's tests: the `cdg` binary, the workspace root and running a
//! command.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root, for shipped files (arch-configs/, traces/, models/, README.md).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `cdg` binary of the build these tests belong to.
///
/// Cargo names a binary only to the tests of its own package (`CARGO_BIN_EXE_<name>`), so this
/// package depends on `cdg-cli` and finds the binary in the profile directory the test binary
/// runs from (`target/<profile>/deps/it-<hash>` → `target/<profile>/cdg`), honouring
/// `CARGO_TARGET_DIR` and `--target` alike. `cargo test --workspace` builds it with the tests;
/// when it is missing, or older than a source file of the workspace's crates (a `cargo test -p
/// cdg-tests` after an edit), the tests stop with the command that builds it instead of
/// testing a stale binary.
pub fn cdg_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary knows its path");
        let mut dir = exe.parent().expect("the test binary is in a directory");
        if dir.ends_with("deps") {
            dir = dir.parent().expect("deps/ is in the profile directory");
        }
        let bin = dir.join(format!("cdg{}", std::env::consts::EXE_SUFFIX));
        let build = "build it with `cargo build --release -p cdg-cli` (`cargo test --workspace \
                     --release` builds it with the tests)";
        let built = std::fs::metadata(&bin)
            .and_then(|m| m.modified())
            .unwrap_or_else(|e| panic!("no `cdg` binary at {} ({e}): {build}", bin.display()));
        if let Some((newer, _)) = newest_source(&root().join("crates")).filter(|(_, t)| *t > built)
        {
            panic!(
                "{} is older than {}: {build}",
                bin.display(),
                newer.display()
            );
        }
        bin
    })
}

/// The most recently modified `.rs` or `Cargo.toml` under `dir`, with its time.
fn newest_source(dir: &Path) -> Option<(PathBuf, std::time::SystemTime)> {
    let mut newest: Option<(PathBuf, std::time::SystemTime)> = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                // Only sources count: a crate's tests and benches are not part of the binary.
                if !matches!(
                    p.file_name().and_then(|n| n.to_str()),
                    Some("tests" | "benches")
                ) {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "rs") || p.ends_with("Cargo.toml") {
                let t = meta.modified().ok()?;
                if newest.as_ref().is_none_or(|(_, n)| t > *n) {
                    newest = Some((p, t));
                }
            }
        }
    }
    newest
}

/// The `cdg` binary as a command.
pub fn cdg() -> Command {
    Command::new(cdg_path())
}

/// Runs `cdg` with `args` and panics with its stderr unless it succeeds.
pub fn ok(args: &[&str]) -> Output {
    let out = cdg().args(args).output().expect("cdg runs");
    assert!(
        out.status.success(),
        "cdg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `cdg` with `args`, expects failure, and returns stderr.
pub fn fails(args: &[&str]) -> String {
    let out = cdg().args(args).output().expect("cdg runs");
    assert!(!out.status.success(), "cdg {args:?} unexpectedly succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A path as the `&str` the command line takes.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}
