//! Committing an output directory. The engines (`cdg-sweep`, `cdg-report`) do no file
//! writing: they return what a run writes as file names and bytes, plus the files an earlier
//! run may have left that this run replaces by their absence ([`Outputs`]). [`write_outputs`]
//! removes those, then writes every file atomically ([`crate::atomic`]), so an output directory
//! holds exactly one run's files and never half of one.
//!
//! ```
//! use cdg_io::output::{Outputs, write_outputs};
//! # fn main() -> Result<(), cdg_io::IoError> {
//! let dir = std::env::temp_dir().join(format!("cdg-io-output-doc-{}", std::process::id()));
//! let mut out = Outputs::new();
//! out.add("a.csv", b"x\n1\n".to_vec());
//! out.add("configs/point-0000.toml", b"schema = 1\n".to_vec());
//! out.remove_matching("configs", "point-", ".toml"); // but not the one written now
//! write_outputs(&dir, &out)?;
//! assert_eq!(std::fs::read(dir.join("a.csv")).unwrap(), b"x\n1\n");
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok(())
//! # }
//! ```

use crate::atomic::write_atomic;
use crate::error::{IoError, Result};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// One file of an output directory: its name relative to the directory and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub name: PathBuf,
    pub bytes: Vec<u8>,
}

/// Files an earlier run may have left in the output directory that this run does not write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stale {
    /// This file (relative to the output directory), if present.
    File(PathBuf),
    /// Every file directly in `dir` (relative to the output directory) whose name starts with
    /// `prefix` and ends with `suffix`.
    Matching {
        dir: PathBuf,
        prefix: String,
        suffix: String,
    },
}

/// What one run writes into its output directory, in writing order, and what it removes.
/// A file this run writes is never removed as stale.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    files: Vec<OutputFile>,
    stale: Vec<Stale>,
}

impl Outputs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file; a later file of the same name replaces the earlier one.
    pub fn add(&mut self, name: impl Into<PathBuf>, bytes: impl Into<Vec<u8>>) {
        let name = name.into();
        let bytes = bytes.into();
        match self.files.iter_mut().find(|f| f.name == name) {
            Some(f) => f.bytes = bytes,
            None => self.files.push(OutputFile { name, bytes }),
        }
    }

    /// Removes `name` when an earlier run left it.
    pub fn remove_if_present(&mut self, name: impl Into<PathBuf>) {
        self.stale.push(Stale::File(name.into()));
    }

    /// Removes every `dir/prefix*suffix` an earlier run left, except the files written now.
    pub fn remove_matching(&mut self, dir: impl Into<PathBuf>, prefix: &str, suffix: &str) {
        self.stale.push(Stale::Matching {
            dir: dir.into(),
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        });
    }

    /// Appends `other`'s files and removals.
    pub fn extend(&mut self, other: Outputs) {
        for f in other.files {
            self.add(f.name, f.bytes);
        }
        self.stale.extend(other.stale);
    }

    /// The files, in writing order.
    pub fn files(&self) -> &[OutputFile] {
        &self.files
    }

    /// The removals.
    pub fn stale(&self) -> &[Stale] {
        &self.stale
    }

    /// The bytes of file `name`, if this run writes it.
    pub fn get(&self, name: impl AsRef<Path>) -> Option<&[u8]> {
        let name = name.as_ref();
        self.files
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.bytes.as_slice())
    }
}

/// Commits `outputs` into `dir` (created if needed): first removes the stale files, then writes
/// every file atomically. Each atomic write syncs its file, and a sync mostly waits on the
/// device, so the files are spread over a few threads (file systems commit concurrent syncs
/// together): a thousand grid-point configs take well under a second instead of seconds.
pub fn write_outputs(dir: &Path, outputs: &Outputs) -> Result<()> {
    remove_stale(dir, outputs)?;
    const WRITERS: usize = 16;
    let files = outputs.files();
    let chunk = files.len().div_ceil(WRITERS).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || -> Result<()> {
                    for f in part {
                        write_atomic(&dir.join(&f.name), &f.bytes)?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    })
}

fn remove_stale(dir: &Path, outputs: &Outputs) -> Result<()> {
    let written: HashSet<&Path> = outputs.files.iter().map(|f| f.name.as_path()).collect();
    let remove = |name: &Path| -> Result<()> {
        if written.contains(name) {
            return Ok(());
        }
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(IoError::io(&path, "cannot remove stale file", e)),
        }
    };
    for stale in &outputs.stale {
        match stale {
            Stale::File(name) => remove(name)?,
            Stale::Matching {
                dir: sub,
                prefix,
                suffix,
            } => {
                // A directory that does not exist (or cannot be listed) holds nothing stale.
                let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
                    continue;
                };
                let mut names: Vec<String> = entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(prefix.as_str()) && n.ends_with(suffix.as_str()))
                    .collect();
                names.sort();
                for name in names {
                    remove(&sub.join(name))?;
                }
            }
        }
    }
    Ok(())
}
