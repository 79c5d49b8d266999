//! Committing an output directory (docs/formats.md §5). The engines (`cdg-sweep`,
//! `cdg-report`) do no file writing: they return what a run writes as file names and bytes
//! ([`Outputs`]); an [`OutputDir`] commits them.
//!
//! An output directory is cdg's only while it holds a *record*, [`RECORD_FILE`]
//! (`.cdg-output.json`): the kind of output, its state (`complete` or `writing`) and
//! every file and nested output directory cdg wrote there. The rules:
//!
//! - **One writer.** [`OutputDir::create`] takes an exclusive lock on the directory (`flock`,
//!   released when the process ends, however it ends); a second writer gets
//!   [`IoError::Locked`] at once.
//! - **Nothing half-written, nothing mixed.** New files are first written (and synced) into
//!   [`STAGING_DIR`] inside the directory while the previous output stays complete. Then the
//!   record says `writing` (listing the old and the new files), the files are renamed into
//!   place, the previous run's files that this run does not write are deleted, and the record
//!   says `complete` with exactly the new files. Killed at any point, the directory holds either
//!   the previous complete output (plus a staging directory the next writer removes) or a
//!   record saying `writing`, which every cdg reader refuses ([`check_complete`]).
//! - **Only cdg's files.** cdg deletes and overwrites only files its record lists. A file with
//!   one of cdg's names for this kind of directory ([`Kind`]) that the record does not list —
//!   the user's own, or one an older cdg wrote — is an error ([`IoError::NotOurs`]), not
//!   something to overwrite or to leave beside the new files.
//!
//! `cdg train` keeps its directory `writing` while it runs ([`OutputDir::begin`],
//! [`OutputDir::update`] after every epoch, [`OutputDir::finish`] at the end); `cdg plot` and
//! `cdg inspect --plot` add files to a complete directory ([`OutputDir::extend`]).
//!
//! ```
//! use cdg_io::output::{Outputs, write_outputs, check_complete};
//! # fn main() -> Result<(), cdg_io::IoError> {
//! let dir = std::env::temp_dir().join(format!("cdg-io-output-doc-{}", std::process::id()));
//! let mut out = Outputs::new();
//! out.add("a.csv", b"x\n1\n".to_vec());
//! out.add("configs/point-0000.toml", b"schema = 1\n".to_vec());
//! write_outputs(&dir, &out)?;
//! assert_eq!(std::fs::read(dir.join("a.csv")).unwrap(), b"x\n1\n");
//! check_complete(&dir)?;
//!
//! // A second run that writes only a.csv removes the config the first one wrote.
//! let mut again = Outputs::new();
//! again.add("a.csv", b"x\n2\n".to_vec());
//! write_outputs(&dir, &again)?;
//! assert!(!dir.join("configs/point-0000.toml").exists());
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok(())
//! # }
//! ```

use crate::error::{IoError, Result};
pub use crate::layout::{Kind, RECORD_FILE, RECORD_TEMP_FILE, STAGING_DIR};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// One file of an output directory: its name relative to the directory and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub name: PathBuf,
    pub bytes: Vec<u8>,
}

/// What one run writes into its output directory, in writing order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    files: Vec<OutputFile>,
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

    /// Appends `other`'s files.
    pub fn extend(&mut self, other: Outputs) {
        for f in other.files {
            self.add(f.name, f.bytes);
        }
    }

    /// The files, in writing order.
    pub fn files(&self) -> &[OutputFile] {
        &self.files
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

/// The `format` of a record.
const RECORD_FORMAT: &str = "cdg-output";
const RECORD_VERSION: u32 = 1;

/// The state of an output directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Every file of the run is in place.
    Complete,
    /// A run is (or was, if it was interrupted) replacing the files.
    Writing,
}

/// The content of [`RECORD_FILE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub format: String,
    pub version: u32,
    /// The kind of output ([`Kind::name`]: `sweep`, `sim`, `trace`, `train`, `run`), the same
    /// whichever command wrote it (`cdg sweep` and `cdg merge` write the same bytes).
    pub kind: String,
    pub state: State,
    /// Every file cdg wrote, relative and `/`-separated, sorted.
    pub files: BTreeSet<String>,
    /// Nested output directories (each with its own record), relative, sorted.
    #[serde(default)]
    pub dirs: BTreeSet<String>,
}

impl Record {
    fn new(kind: &str) -> Self {
        Self {
            format: RECORD_FORMAT.to_owned(),
            version: RECORD_VERSION,
            kind: kind.to_owned(),
            state: State::Complete,
            files: BTreeSet::new(),
            dirs: BTreeSet::new(),
        }
    }
}

/// Reads the record of `dir`: `None` when it has none (a directory cdg did not write, such as
/// a trace written by Python), an error when it is damaged or names paths outside `dir`.
pub fn read_record(dir: &Path) -> Result<Option<Record>> {
    let path = dir.join(RECORD_FILE);
    match record_bytes(dir)? {
        Some(bytes) => parse_record(&path, &bytes).map(Some),
        None => Ok(None),
    }
}

/// The bytes of the record of `dir`, `None` when it has none; a record that is not a regular
/// file (a FIFO) is refused rather than read.
fn record_bytes(dir: &Path) -> Result<Option<Vec<u8>>> {
    let path = dir.join(RECORD_FILE);
    match fs::metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(IoError::io(&path, "cannot read", e)),
        Ok(_) => crate::limits::read_input(&path).map(Some),
    }
}

fn parse_record(path: &Path, bytes: &[u8]) -> Result<Record> {
    let record: Record = serde_json::from_slice(bytes)
        .map_err(|e| IoError::syntax(path, "cdg output record (JSON)", e))?;
    if record.format != RECORD_FORMAT || record.version != RECORD_VERSION {
        return Err(IoError::bad_value(
            path,
            "format",
            format!(
                "is `{}` version {}; expected `{RECORD_FORMAT}` version {RECORD_VERSION}",
                record.format, record.version
            ),
        ));
    }
    for (key, names) in [("files", &record.files), ("dirs", &record.dirs)] {
        for name in names {
            if !is_relative_name(Path::new(name)) {
                return Err(IoError::bad_value(
                    path,
                    key,
                    format!("names `{name}`, which is not a path inside the directory"),
                ));
            }
        }
    }
    Ok(record)
}

/// Whether `name` is a plain relative path (no root, no `..`, not empty, not cdg's own
/// bookkeeping).
fn is_relative_name(name: &Path) -> bool {
    let mut parts = 0;
    for c in name.components() {
        match c {
            Component::Normal(s) => {
                let s = s.to_string_lossy();
                if parts == 0 && (s == RECORD_FILE || s == RECORD_TEMP_FILE || s == STAGING_DIR) {
                    return false;
                }
                parts += 1;
            }
            _ => return false,
        }
    }
    parts > 0
}

fn name_string(name: &Path) -> String {
    name.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Checks that `dir` may be read: its record, if it has one, says `complete`. A directory
/// without a record was not written by cdg (a hand-made or Python-written trace) and is read
/// as it is. Returns the record's bytes (empty without one) for [`check_unchanged`].
pub fn check_complete(dir: &Path) -> Result<Vec<u8>> {
    let path = dir.join(RECORD_FILE);
    let Some(bytes) = record_bytes(dir)? else {
        return Ok(Vec::new());
    };
    let record = parse_record(&path, &bytes)?;
    if record.state != State::Complete {
        return Err(IoError::Incomplete {
            dir: dir.to_owned(),
            kind: record.kind,
        });
    }
    Ok(bytes)
}

/// Checks, after reading `dir`, that its record is still the one [`check_complete`] saw, so
/// files read while another process replaced them are not mistaken for one run's output.
pub fn check_unchanged(dir: &Path, before: &[u8]) -> Result<()> {
    let now = record_bytes(dir)?.unwrap_or_default();
    if now != before {
        return Err(IoError::Changed {
            dir: dir.to_owned(),
        });
    }
    Ok(())
}

/// Checks, before anything is read or written, that `out` may become an output directory of
/// `kind` for a command reading `inputs` (each named by its option, such as `--trace`):
///
/// - `out` is not the root of the file system;
/// - `out` is not one of the inputs, inside one or around one (a command never writes over
///   what it reads, whatever `--force` says);
/// - `out` is not an output of another kind: its record names another kind (`--force`,
///   `force`, replaces it as a whole), or, without a record, it holds a trace's manifest or
///   masks or a training checkpoint (not cdg's to replace).
///
/// Paths are compared after resolving links and `..` (of the part that exists).
pub fn check_output(out: &Path, kind: &Kind, inputs: &[(&str, &Path)], force: bool) -> Result<()> {
    let refuse = |problem: String| IoError::OutputRefused {
        dir: out.to_owned(),
        what: "directory",
        problem,
    };
    let target = resolve(out)?;
    if target.parent().is_none() {
        return Err(refuse(
            "it is the root of the file system; give a directory of its own".to_owned(),
        ));
    }
    check_apart(&target, inputs).map_err(|p| refuse(format!("{p}; choose another --out")))?;
    if !out.is_dir() {
        return Ok(());
    }
    match read_record(out)? {
        Some(record) if record.kind != kind.name && kind.name != ANY.name => {
            if !force {
                return Err(refuse(format!(
                    "it holds a `{}` output, and this command writes a `{}` output; pass \
                     --force to replace the `{}` output as a whole, or choose another --out",
                    record.kind, kind.name, record.kind
                )));
            }
        }
        Some(_) => {}
        None => {
            use crate::layout::{trace, train};
            let foreign = [
                ("trace", trace::MANIFEST_FILE),
                ("trace", trace::MASKS_FILE),
                ("train", train::CHECKPOINT_FILE),
            ];
            for (other, file) in foreign {
                if other != kind.name && !kind.owns(file) && out.join(file).exists() {
                    return Err(refuse(format!(
                        "it holds {file}, a file of a `{other}` output that cdg did not record \
                         writing, and this command writes a `{}` output; move it away or \
                         choose another --out",
                        kind.name
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Refuses `target` (resolved) equal to, inside or containing one of `inputs`.
fn check_apart(target: &Path, inputs: &[(&str, &Path)]) -> std::result::Result<(), String> {
    for (what, input) in inputs {
        let source = resolve(input).map_err(|e| e.to_string())?;
        let relation = if source == target {
            "is"
        } else if target.starts_with(&source) {
            "is inside"
        } else if source.starts_with(target) {
            "contains"
        } else {
            continue;
        };
        return Err(format!(
            "it {relation} the {what} input {}, and a command never writes over what it reads",
            input.display()
        ));
    }
    Ok(())
}

/// Checks that the single file `file` (`cdg inspect --plot=FILE.svg`) may be written: it is
/// not one of `inputs`, inside one or around one, and it is absent or an SVG (a plot an
/// earlier run drew, which is replaced); any other existing file is refused, not overwritten.
pub fn check_output_file(file: &Path, inputs: &[(&str, &Path)]) -> Result<()> {
    let refuse = |problem: String| IoError::OutputRefused {
        dir: file.to_owned(),
        what: "file",
        problem,
    };
    let target = resolve(file)?;
    check_apart(&target, inputs).map_err(|p| refuse(format!("{p}; choose another file")))?;
    match fs::symlink_metadata(file) {
        Err(_) => Ok(()),
        Ok(m) if m.is_file() => {
            let mut head = [0u8; 256];
            let n = {
                use std::io::Read;
                File::open(file)
                    .and_then(|mut f| f.read(&mut head))
                    .map_err(|e| IoError::io(file, "cannot read", e))?
            };
            let text = String::from_utf8_lossy(&head[..n]);
            let text = text.trim_start();
            if text.starts_with("<svg") || text.starts_with("<?xml") {
                Ok(())
            } else {
                Err(refuse(
                    "it exists and is not an SVG plot, so cdg will not overwrite it; move it \
                     away or choose another file"
                        .to_owned(),
                ))
            }
        }
        Ok(_) => Err(refuse(
            "it exists and is not a regular file; choose another file".to_owned(),
        )),
    }
}

/// `path` made absolute, with links and `..` resolved in the part that exists and the rest
/// (not created yet) appended lexically.
fn resolve(path: &Path) -> Result<PathBuf> {
    let absolute = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()
            .map_err(|e| IoError::io(path, "cannot find the current directory", e))?
            .join(path)
    };
    let mut existing = absolute.as_path();
    let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
    loop {
        if let Ok(real) = fs::canonicalize(existing) {
            let mut out = real;
            for part in rest.iter().rev() {
                match *part {
                    p if p == ".." => {
                        out.pop();
                    }
                    p if p == "." => {}
                    p => out.push(p),
                }
            }
            return Ok(out);
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                existing = parent;
            }
            (Some(parent), None) => {
                // `..` or `.` at the end of a path that does not exist.
                rest.push(existing.components().next_back().unwrap().as_os_str());
                existing = parent;
            }
            _ => return Ok(absolute),
        }
    }
}

/// The kind of [`write_outputs`]: any names, no kind of its own.
static ANY: Kind = Kind {
    name: "cdg",
    files: &[],
    patterns: &[],
};

/// A locked output directory. The lock is held until the value is dropped.
#[derive(Debug)]
pub struct OutputDir {
    path: PathBuf,
    kind: &'static Kind,
    record: Record,
    /// Whether the directory had a record when it was opened.
    had_record: bool,
    /// Nested output directories claimed by this run.
    claimed: BTreeSet<String>,
    /// Of those, the ones written into the staging directory ([`OutputDir::stage_dir`]),
    /// moved into place by [`OutputDir::commit`].
    staged_dirs: BTreeSet<String>,
    /// Whether opening created the directory, and whether anything has been written since:
    /// a directory created by a run that then failed before writing is removed again.
    created: bool,
    written: bool,
    _lock: File,
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if self.created && !self.written {
            // Only an empty directory is removed; anything in it stays.
            let _ = fs::remove_dir(&self.path);
        }
    }
}

impl OutputDir {
    /// Opens (creating it if needed) and locks the output directory `path` of a run that
    /// replaces the directory's output with its own. Fails when another process
    /// holds the lock, and when the directory holds a file with one of `kind`'s names that its
    /// record does not list (so it is not cdg's to replace or delete).
    pub fn create(path: &Path, kind: &'static Kind) -> Result<Self> {
        let dir = Self::open(path, kind)?;
        dir.check_kind_names()?;
        Ok(dir)
    }

    /// [`check_output`], then [`OutputDir::create`]: what every command that writes an output
    /// directory calls.
    pub fn create_checked(
        path: &Path,
        kind: &'static Kind,
        inputs: &[(&str, &Path)],
        force: bool,
    ) -> Result<Self> {
        check_output(path, kind, inputs, force)?;
        Self::create(path, kind)
    }

    /// Opens and locks `path` to add files to its output (`cdg plot`): the directory must
    /// exist and its record, if any, must say `complete`.
    pub fn extend(path: &Path, kind: &'static Kind) -> Result<Self> {
        if !path.is_dir() {
            return Err(IoError::io(
                path,
                "cannot open output directory",
                std::io::Error::new(std::io::ErrorKind::NotFound, "it is not a directory"),
            ));
        }
        let dir = Self::open(path, kind)?;
        if dir.record.state != State::Complete {
            return Err(IoError::Incomplete {
                dir: path.to_owned(),
                kind: dir.record.kind.clone(),
            });
        }
        Ok(dir)
    }

    fn open(path: &Path, kind: &'static Kind) -> Result<Self> {
        if path.exists() && !path.is_dir() {
            return Err(IoError::io(
                path,
                "cannot use as output directory",
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "it is a file, not a directory",
                ),
            ));
        }
        let created = !path.exists();
        fs::create_dir_all(path)
            .map_err(|e| IoError::io(path, "cannot create output directory", e))?;
        let lock = File::open(path).map_err(|e| IoError::io(path, "cannot open", e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(IoError::Locked {
                    dir: path.to_owned(),
                });
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(IoError::io(path, "cannot lock output directory", e));
            }
        }
        let (record, had_record) = match read_record(path)? {
            Some(r) => (r, true),
            None => (Record::new(kind.name), false),
        };
        // A nested output directory that is a link would be deleted through the link.
        for d in &record.dirs {
            check_no_link(path, d, true, "a nested output directory its record lists")?;
        }
        // The lock is ours, so a staging directory is what an interrupted writer left.
        remove_staging(path)?;
        Ok(Self {
            path: path.to_owned(),
            kind,
            record,
            had_record,
            claimed: BTreeSet::new(),
            staged_dirs: BTreeSet::new(),
            created,
            written: false,
            _lock: lock,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the directory holds an earlier run's output (files or nested directories).
    pub fn has_previous_output(&self) -> bool {
        !self.record.files.is_empty() || !self.record.dirs.is_empty()
    }

    /// The directory's record as it is now (for a directory without one, an empty record).
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// Whether the directory had a record when it was opened.
    pub fn had_record(&self) -> bool {
        self.had_record
    }

    /// Refuses files with one of the kind's names that the record does not list.
    fn check_kind_names(&self) -> Result<()> {
        for name in self.kind.files {
            self.check_ours(name)?;
        }
        let mut dirs: Vec<&str> = self.kind.pattern_dirs().collect();
        dirs.dedup();
        for d in dirs {
            let Ok(entries) = fs::read_dir(self.path.join(d)) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| {
                    let f = e.file_name().to_string_lossy().into_owned();
                    if d.is_empty() { f } else { format!("{d}/{f}") }
                })
                .filter(|n| self.kind.owns(n))
                .collect();
            names.sort();
            for n in names {
                self.check_ours(&n)?;
            }
        }
        Ok(())
    }

    /// `name` may be written or deleted: it does not exist, or the record lists it.
    fn check_ours(&self, name: &str) -> Result<()> {
        let path = self.path.join(name);
        if self.record.files.contains(name) || fs::symlink_metadata(&path).is_err() {
            return Ok(());
        }
        Err(IoError::NotOurs {
            path,
            dir: self.path.clone(),
            kind: self.kind.name,
        })
    }

    fn write_record(&mut self, record: &Record) -> Result<()> {
        self.written = true;
        store_record(&self.path, record)
    }

    /// Checks the names of `outputs` and that each is cdg's to write; returns them.
    fn names(&self, outputs: &Outputs) -> Result<Vec<String>> {
        outputs
            .files()
            .iter()
            .map(|f| {
                if !is_relative_name(&f.name) {
                    return Err(IoError::io(
                        &self.path.join(&f.name),
                        "cannot write",
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidInput,
                            "not a file name inside the output directory",
                        ),
                    ));
                }
                let name = name_string(&f.name);
                check_no_link(&self.path, &name, false, "a directory a new file goes into")?;
                self.check_ours(&name)?;
                Ok(name)
            })
            .collect()
    }

    /// Replaces the directory's output with `outputs`: the files are staged, moved into place
    /// and the earlier run's other files and nested directories deleted (module docs). Nested
    /// output directories claimed with [`OutputDir::claim_dir`] since opening are kept.
    pub fn commit(&mut self, outputs: &Outputs) -> Result<()> {
        self.commit_with(outputs, |_| Ok(Outputs::new()))
    }

    /// [`OutputDir::commit`] with files drawn from the staged ones: once `outputs` are staged,
    /// `more` is called with the staging directory (holding exactly the new files and the
    /// staged nested directories) and the files it returns are committed with them, in the
    /// same step (`cdg run`'s report, drawn from the files it describes).
    pub fn commit_with<E: From<IoError>>(
        &mut self,
        outputs: &Outputs,
        more: impl FnOnce(&Path) -> std::result::Result<Outputs, E>,
    ) -> std::result::Result<(), E> {
        let mut names = self.names(outputs)?;
        stage(&self.path, outputs)?;
        let extra = more(&self.path.join(STAGING_DIR))?;
        names.extend(self.names(&extra)?);
        stage(&self.path, &extra)?;
        let names: Vec<String> = {
            let mut seen = BTreeSet::new();
            names
                .into_iter()
                .filter(|n| seen.insert(n.clone()))
                .collect()
        };
        Ok(self.commit_staged(names)?)
    }

    fn commit_staged(&mut self, names: Vec<String>) -> Result<()> {
        let mut writing = self.record.clone();
        writing.kind = self.kind.name.to_owned();
        writing.state = State::Writing;
        writing.files.extend(names.iter().cloned());
        writing.dirs.extend(self.claimed.iter().cloned());
        self.write_record(&writing)?;
        move_files(&self.path, &names)?;
        let new: BTreeSet<String> = names.into_iter().collect();
        for old in self.record.files.difference(&new) {
            remove_file(&self.path, old)?;
        }
        for old in &self.record.dirs {
            // A claimed directory written in place is the new one; a staged one replaces it.
            if !self.claimed.contains(old) || self.staged_dirs.contains(old) {
                check_no_link(&self.path, old, true, "an earlier run's nested output")?;
                remove_output_dir(&self.path.join(old))?;
            }
        }
        for d in &self.staged_dirs {
            let (from, to) = (self.path.join(STAGING_DIR).join(d), self.path.join(d));
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent)
                    .map_err(|e| IoError::io(parent, "cannot create directory", e))?;
            }
            fs::rename(&from, &to)
                .map_err(|e| IoError::io(&to, "cannot move the new output into place", e))?;
        }
        remove_staging(&self.path)?;
        let done = Record {
            state: State::Complete,
            files: new,
            dirs: self.claimed.clone(),
            ..writing
        };
        self.write_record(&done)?;
        self.record = done;
        Ok(())
    }

    /// Adds `outputs` to a complete output (`cdg plot`, `cdg report`): files of the same name
    /// are replaced, nothing is deleted. The record stays `complete` throughout, so an
    /// interrupted addition never makes the output unreadable: it lists a new name before the
    /// file appears, and each file is renamed into place whole, so a kill leaves each added
    /// file absent, the earlier version or the new one.
    pub fn add(&mut self, outputs: &Outputs) -> Result<()> {
        let names = self.names(outputs)?;
        stage(&self.path, outputs)?;
        if names.iter().any(|n| !self.record.files.contains(n)) {
            let mut record = self.record.clone();
            record.files.extend(names.iter().cloned());
            self.write_record(&record)?;
            self.record = record;
        }
        move_into_place(&self.path, &names)
    }

    /// Starts a run that writes the directory over time (`cdg train`): with `keep`, the
    /// earlier output stays (a resumed run continues it); without, it is deleted first. The
    /// record says `writing` until [`OutputDir::finish`].
    pub fn begin(&mut self, keep: bool) -> Result<()> {
        let mut record = self.record.clone();
        record.kind = self.kind.name.to_owned();
        record.state = State::Writing;
        self.write_record(&record)?;
        if !keep {
            for old in &self.record.files {
                remove_file(&self.path, old)?;
            }
            for old in &self.record.dirs {
                check_no_link(&self.path, old, true, "an earlier run's nested output")?;
                remove_output_dir(&self.path.join(old))?;
            }
            record.files.clear();
            record.dirs.clear();
            self.write_record(&record)?;
        }
        self.record = record;
        Ok(())
    }

    /// Writes `outputs` into a directory between [`OutputDir::begin`] and
    /// [`OutputDir::finish`]: each file is staged and renamed into place (so each is whole);
    /// the record lists a new name before its file appears.
    pub fn update(&mut self, outputs: &Outputs) -> Result<()> {
        let names = self.names(outputs)?;
        stage(&self.path, outputs)?;
        if names.iter().any(|n| !self.record.files.contains(n)) {
            self.record.files.extend(names.iter().cloned());
            let record = self.record.clone();
            self.write_record(&record)?;
        }
        move_into_place(&self.path, &names)
    }

    /// Records the nested output directory `name` (relative) before it is written, so that a
    /// later run can delete it. It is kept by [`OutputDir::commit`].
    pub fn claim_dir(&mut self, name: &str) -> Result<()> {
        if !is_relative_name(Path::new(name)) {
            return Err(IoError::io(
                &self.path.join(name),
                "cannot use as nested output directory",
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a relative name"),
            ));
        }
        check_no_link(&self.path, name, true, "a nested output directory")?;
        self.claimed.insert(name.to_owned());
        // Written in place, the nested directory is no longer the earlier run's: from now on
        // readers refuse the directory until the run commits, even when it is a rerun that
        // writes a directory the record already lists.
        if !self.record.dirs.contains(name) || self.record.state != State::Writing {
            self.record.dirs.insert(name.to_owned());
            self.record.state = State::Writing;
            self.record.kind = self.kind.name.to_owned();
            let record = self.record.clone();
            self.write_record(&record)?;
        }
        Ok(())
    }

    /// Claims the nested output directory `name` (relative) to be written in the staging
    /// directory, and returns where to write it: the earlier output stays complete and
    /// readable until [`OutputDir::commit`] replaces it and moves the new directory into
    /// place with the run's files, so an interrupted run leaves the earlier output as it was.
    pub fn stage_dir(&mut self, name: &str) -> Result<PathBuf> {
        if !is_relative_name(Path::new(name)) {
            return Err(IoError::io(
                &self.path.join(name),
                "cannot use as nested output directory",
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a relative name"),
            ));
        }
        check_no_link(&self.path, name, true, "a nested output directory")?;
        self.claimed.insert(name.to_owned());
        self.staged_dirs.insert(name.to_owned());
        let dir = self.path.join(STAGING_DIR).join(name);
        fs::create_dir_all(&dir).map_err(|e| IoError::io(&dir, "cannot create directory", e))?;
        self.written = true;
        Ok(dir)
    }

    /// Marks a directory written with [`OutputDir::begin`] and [`OutputDir::update`]
    /// complete.
    pub fn finish(&mut self) -> Result<()> {
        self.record.state = State::Complete;
        let record = self.record.clone();
        self.write_record(&record)
    }
}

/// Writes `record` as the record of `dir`: synced to [`RECORD_TEMP_FILE`], renamed over
/// [`RECORD_FILE`], the directory entry synced.
fn store_record(dir: &Path, record: &Record) -> Result<()> {
    let path = dir.join(RECORD_FILE);
    let mut bytes =
        serde_json::to_vec_pretty(record).map_err(|e| IoError::syntax(&path, "JSON", e))?;
    bytes.push(b'\n');
    let tmp = dir.join(RECORD_TEMP_FILE);
    write_synced(&tmp, &bytes).map_err(|e| unwritable(dir, e))?;
    fs::rename(&tmp, &path).map_err(|e| IoError::io(&path, "cannot move into place", e))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Removes the staging directory and record temporary of `dir`, if an interrupted writer left
/// them.
fn remove_staging(dir: &Path) -> Result<()> {
    let tmp = dir.join(RECORD_TEMP_FILE);
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(IoError::io(&tmp, "cannot remove", e)),
    }
    let staging = dir.join(STAGING_DIR);
    match fs::remove_dir_all(&staging) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(IoError::io(&staging, "cannot remove staging directory", e)),
    }
}

/// Writes every file of `outputs` into the staging directory of `dir`, each synced. A sync
/// mostly waits on the device, so the files are spread over a few threads (file systems
/// commit concurrent syncs together): a thousand grid-point configs take well under a second
/// instead of seconds.
fn stage(dir: &Path, outputs: &Outputs) -> Result<()> {
    const WRITERS: usize = 16;
    let staging = dir.join(STAGING_DIR);
    if outputs.files().is_empty() {
        return Ok(());
    }
    fs::create_dir_all(&staging).map_err(|e| unwritable(dir, IoError::io(&staging, "", e)))?;
    let files = outputs.files();
    let chunk = files.len().div_ceil(WRITERS).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                let staging = &staging;
                scope.spawn(move || -> Result<()> {
                    for f in part {
                        write_synced(&staging.join(&f.name), &f.bytes)?;
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

/// An error writing cdg's bookkeeping inside `dir` that the user can do something about
/// (permissions, a read-only file system) is reported as the output directory's, not as the
/// name of the temporary file.
fn unwritable(dir: &Path, e: IoError) -> IoError {
    match e {
        IoError::Io { error, .. }
            if matches!(
                error.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            IoError::io(dir, "cannot write into the output directory", error)
        }
        other => other,
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| IoError::io(parent, "cannot create directory", e))?;
    }
    let mut f = File::create(path).map_err(|e| IoError::io(path, "cannot create", e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| IoError::io(path, "cannot write", e))
}

/// Moves the staged `names` into `dir`, syncs the directories they land in and removes the
/// staging directory.
fn move_into_place(dir: &Path, names: &[String]) -> Result<()> {
    move_files(dir, names)?;
    remove_staging(dir)
}

/// Moves the staged `names` into `dir` and syncs the directories they land in.
fn move_files(dir: &Path, names: &[String]) -> Result<()> {
    let staging = dir.join(STAGING_DIR);
    let mut parents: BTreeSet<PathBuf> = BTreeSet::new();
    for name in names {
        let to = dir.join(name);
        let parent = to.parent().unwrap_or(dir).to_owned();
        if !parents.contains(&parent) {
            fs::create_dir_all(&parent)
                .map_err(|e| IoError::io(&parent, "cannot create directory", e))?;
            parents.insert(parent);
        }
        fs::rename(staging.join(name), &to)
            .map_err(|e| IoError::io(&to, "cannot move the new file into place", e))?;
    }
    for p in &parents {
        // Persist the directory entries; not every file system can sync a directory, and the
        // data is already on disk, so failures are ignored.
        if let Ok(d) = File::open(p) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Refuses a symbolic link on the way from `dir` to `name` inside it (every component but the
/// last, and the last too when `whole`): cdg would delete or write through it into a directory
/// that is not this output's. A path that ends early (not created yet) is fine.
fn check_no_link(dir: &Path, name: &str, whole: bool, what: &'static str) -> Result<()> {
    let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
    let upto = if whole {
        parts.len()
    } else {
        parts.len().saturating_sub(1)
    };
    let mut path = dir.to_owned();
    for part in &parts[..upto] {
        path.push(part);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(IoError::Symlink {
                    path,
                    dir: dir.to_owned(),
                    what,
                });
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(())
}

/// Deletes file `name` of `dir` (it may already be gone) and its parent directories inside
/// `dir` that are left empty.
fn remove_file(dir: &Path, name: &str) -> Result<()> {
    check_no_link(dir, name, false, "a directory an earlier run's file is in")?;
    let path = dir.join(name);
    match fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(IoError::io(
                &path,
                "cannot remove the earlier run's file",
                e,
            ));
        }
    }
    let mut parent = path.parent();
    while let Some(p) = parent {
        if p == dir || fs::remove_dir(p).is_err() {
            break;
        }
        parent = p.parent();
    }
    Ok(())
}

/// Deletes the nested output directory `dir`: the files and directories its record lists,
/// the record, and the directory itself when nothing else is left in it. A directory without a
/// record holds nothing of cdg's and is left alone (its staging directory aside).
pub fn remove_output_dir(dir: &Path) -> Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(IoError::Symlink {
                path: dir.to_owned(),
                dir: dir.parent().unwrap_or(dir).to_owned(),
                what: "an earlier run's nested output",
            });
        }
        Ok(m) if m.is_dir() => {}
        _ => return Ok(()),
    }
    let lock = File::open(dir).map_err(|e| IoError::io(dir, "cannot open", e))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            return Err(IoError::Locked {
                dir: dir.to_owned(),
            });
        }
        Err(fs::TryLockError::Error(e)) => {
            return Err(IoError::io(dir, "cannot lock output directory", e));
        }
    }
    remove_staging(dir)?;
    if let Some(mut record) = read_record(dir)? {
        // Readers refuse the directory from the first deletion on.
        record.state = State::Writing;
        store_record(dir, &record)?;
        for f in &record.files {
            remove_file(dir, f)?;
        }
        for d in &record.dirs {
            check_no_link(dir, d, true, "an earlier run's nested output")?;
            remove_output_dir(&dir.join(d))?;
        }
        let path = dir.join(RECORD_FILE);
        fs::remove_file(&path).map_err(|e| IoError::io(&path, "cannot remove", e))?;
    }
    drop(lock);
    let _ = fs::remove_dir(dir);
    Ok(())
}

/// Commits `outputs` into `dir` (created if needed) in one go: lock, stage, replace the
/// earlier output, unlock. Names are checked only against the files written (no [`Kind`]).
pub fn write_outputs(dir: &Path, outputs: &Outputs) -> Result<()> {
    OutputDir::create(dir, &ANY)?.commit(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory cdg may not write into is reported as the output directory, not as the
    /// record's temporary file (issue #26, messages).
    #[test]
    fn unwritable_directories_are_named_as_such() {
        let dir = Path::new("/out");
        let e = unwritable(
            dir,
            IoError::io(
                &dir.join(RECORD_TEMP_FILE),
                "cannot create",
                std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            ),
        )
        .to_string();
        assert!(
            e.starts_with("/out: cannot write into the output directory"),
            "{e}"
        );
        assert!(!e.contains(RECORD_TEMP_FILE), "{e}");
    }

    #[test]
    fn paths_resolve_through_links_and_dots() {
        let tmp = tempfile::tempdir().unwrap();
        let real = fs::canonicalize(tmp.path()).unwrap();
        fs::create_dir(real.join("a")).unwrap();
        std::os::unix::fs::symlink(real.join("a"), real.join("link")).unwrap();
        assert_eq!(
            resolve(&real.join("link/new/../x")).unwrap(),
            real.join("a/x")
        );
        assert_eq!(resolve(&real.join("link")).unwrap(), real.join("a"));
        // Inside, equal and around are all refused; siblings are fine.
        let a = real.join("a");
        let inputs = [("--trace", a.as_path())];
        assert!(check_apart(&real.join("a/b"), &inputs).is_err());
        assert!(check_apart(&real.join("a"), &inputs).is_err());
        assert!(check_apart(&real, &inputs).is_err());
        assert!(check_apart(&real.join("ab"), &inputs).is_ok());
    }
}
