//! Records the git commit the binary was built from (`CDG_GIT_COMMIT`), for the provenance of
//! the traces `cdg train` writes. No network: `git rev-parse` on the local checkout; outside a
//! git checkout (a source tarball) or without git the value is `unknown`.
//!
//! The script reruns when HEAD or the branch it points at moves. A build with uncommitted
//! changes is not marked as such: the commit says which commit the tree started from.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

fn main() {
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=CDG_GIT_COMMIT={commit}");
    for path in [
        Some("HEAD".to_owned()),
        git(&["symbolic-ref", "-q", "HEAD"]),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(p) = git(&["rev-parse", "--git-path", &path]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
