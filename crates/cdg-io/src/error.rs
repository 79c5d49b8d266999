//! The one error type of `cdg-io`. Every variant carries the file it is about and, where there
//! is one, the dotted key, the layer or the line at fault, so a message is useful on its own.
//! Underlying errors (OS, `cdg-core`, csv) are part of the message rather than a `source()`,
//! so `anyhow`'s `{:#}` chain does not print them twice.

use cdg_core::CoreError;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Errors reading or writing cdg files.
#[derive(Debug, Error)]
pub enum IoError {
    /// The operating system refused an operation on `path`.
    #[error("{}: {op}: {error}", path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        error: std::io::Error,
    },
    /// A file is not valid UTF-8 text.
    #[error("{}: is not valid UTF-8 text (byte {offset}); expected a UTF-8 text file", path.display())]
    NotUtf8 { path: PathBuf, offset: usize },
    /// A file that must have content is empty.
    #[error("{}: is empty; expected {expected}", path.display())]
    Empty {
        path: PathBuf,
        expected: &'static str,
    },
    /// A file does not parse as its syntax (JSON, TOML, INI, CSV, npz).
    #[error("{}: not valid {syntax}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        syntax: &'static str,
        message: String,
    },
    /// A key the format does not define.
    #[error("{}: unknown key `{key}`{hint}", path.display())]
    UnknownKey {
        path: PathBuf,
        key: String,
        hint: String,
    },
    /// A key holds a value of the wrong type.
    #[error("{}: `{key}` must be {expected}, found {found}", path.display())]
    WrongType {
        path: PathBuf,
        key: String,
        expected: std::borrow::Cow<'static, str>,
        found: String,
    },
    /// A required key is absent.
    #[error("{}: `{key}` is missing; {expected}", path.display())]
    MissingKey {
        path: PathBuf,
        key: String,
        expected: String,
    },
    /// A key holds a value outside what the format allows.
    #[error("{}: `{key}` {problem}", path.display())]
    BadValue {
        path: PathBuf,
        key: String,
        problem: String,
    },
    /// A `--set key=value` override is malformed.
    #[error("override `--set {assignment}` (on {}): {problem}", path.display())]
    Override {
        path: PathBuf,
        assignment: String,
        problem: String,
    },
    /// A value was rejected by the validated vocabulary of `cdg-core` (the error names the
    /// dotted key or the layer).
    #[error("{}: {error}", path.display())]
    Invalid { path: PathBuf, error: CoreError },
    /// A layer entry of a trace manifest is wrong.
    #[error("{}: layer {index} (`{layer}`): {problem}", path.display())]
    Layer {
        path: PathBuf,
        index: usize,
        layer: String,
        problem: String,
    },
    /// A mask array disagrees with its layer in the manifest.
    #[error("{}: layer `{layer}`: {problem}", path.display())]
    Mask {
        path: PathBuf,
        layer: String,
        problem: String,
    },
    /// A line of a line-oriented file (CSV topology, INI config) is wrong.
    #[error("{}:{line}: {field}: {problem}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        field: String,
        problem: String,
    },
    /// Writing a CSV report failed.
    #[error("{}: CSV: {error}", path.display())]
    Csv { path: PathBuf, error: csv::Error },
    /// An ONNX model the importer cannot follow; `place` names the node and its op type, the
    /// graph input or the model part at fault.
    #[error("{}: {place}: {problem}", path.display())]
    Onnx {
        path: PathBuf,
        place: String,
        problem: String,
    },
    /// Writing an npz archive failed.
    #[error("{}: writing npz: {message}", path.display())]
    NpzWrite { path: PathBuf, message: String },
    /// Another process holds the output directory's lock.
    #[error(
        "{}: another cdg process is writing this output directory (it holds the directory's \
         lock); wait for it to finish or choose another --out",
        dir.display()
    )]
    Locked { dir: PathBuf },
    /// A file with one of cdg's names that the output directory's record does not list.
    #[error(
        "{}: exists, but {} has no record that cdg wrote it, so cdg will neither overwrite it \
         nor leave it beside a new {kind} output; move it away or choose another --out",
        path.display(),
        dir.display()
    )]
    NotOurs {
        path: PathBuf,
        dir: PathBuf,
        kind: &'static str,
    },
    /// An output directory whose record says a run was writing it and did not finish.
    #[error(
        "{}: incomplete {kind} output: the cdg run writing it did not finish (interrupted?); \
         run it again",
        dir.display()
    )]
    Incomplete { dir: PathBuf, kind: String },
    /// An `--out` a command may not write: the file-system root, one of its own inputs (or
    /// inside or around one), or an output of another kind (docs/formats.md §5).
    #[error("{}: cannot be the output {what}: {problem}", dir.display())]
    OutputRefused {
        dir: PathBuf,
        /// `directory`, or `file` for a single output file.
        what: &'static str,
        problem: String,
    },
    /// A symbolic link inside an output directory, where cdg would delete or write through it.
    #[error(
        "{}: is a symbolic link inside the output directory {}; cdg never deletes or writes \
         through a link there ({what}); remove the link or choose another --out",
        path.display(),
        dir.display()
    )]
    Symlink {
        path: PathBuf,
        dir: PathBuf,
        what: &'static str,
    },
    /// An input that is not a regular file (a directory, FIFO, device or socket).
    #[error("{}: {problem}; expected a regular file", path.display())]
    NotRegular { path: PathBuf, problem: String },
    /// An output directory that was rewritten while it was being read.
    #[error("{}: was rewritten by another cdg process while it was being read; try again", dir.display())]
    Changed { dir: PathBuf },
    /// Something that would not fit in the memory limit (`crate::limits`).
    #[error("{}: {error}", path.display())]
    TooLarge {
        path: PathBuf,
        error: crate::limits::TooLarge,
    },
    /// A report value that is not a finite number.
    #[error(
        "{}: column `{column}`{row} is {value}; a report holds only finite numbers",
        path.display()
    )]
    NonFinite {
        path: PathBuf,
        column: String,
        /// ` of row N (…)`, or empty.
        row: String,
        value: f64,
    },
}

/// `Result` with [`IoError`].
pub type Result<T, E = IoError> = std::result::Result<T, E>;

impl IoError {
    pub(crate) fn io(path: &Path, op: &'static str, error: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            op,
            error,
        }
    }

    pub(crate) fn syntax(path: &Path, syntax: &'static str, message: impl ToString) -> Self {
        Self::Syntax {
            path: path.to_owned(),
            syntax,
            message: clip_text(&message.to_string()),
        }
    }

    pub(crate) fn bad_value(
        path: &Path,
        key: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        Self::BadValue {
            path: path.to_owned(),
            key: key.into(),
            problem: problem.into(),
        }
    }

    pub(crate) fn invalid(path: &Path, error: CoreError) -> Self {
        Self::Invalid {
            path: path.to_owned(),
            error,
        }
    }

    pub(crate) fn mask(path: &Path, layer: &str, problem: impl Into<String>) -> Self {
        Self::Mask {
            path: path.to_owned(),
            layer: layer.to_owned(),
            problem: problem.into(),
        }
    }

    pub(crate) fn line(
        path: &Path,
        line: usize,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        Self::Line {
            path: path.to_owned(),
            line,
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// The file this error is about.
    pub fn path(&self) -> &Path {
        match self {
            IoError::Io { path, .. }
            | IoError::NotUtf8 { path, .. }
            | IoError::Empty { path, .. }
            | IoError::Syntax { path, .. }
            | IoError::UnknownKey { path, .. }
            | IoError::WrongType { path, .. }
            | IoError::MissingKey { path, .. }
            | IoError::BadValue { path, .. }
            | IoError::Override { path, .. }
            | IoError::Invalid { path, .. }
            | IoError::Layer { path, .. }
            | IoError::Mask { path, .. }
            | IoError::Line { path, .. }
            | IoError::Onnx { path, .. }
            | IoError::Csv { path, .. }
            | IoError::NpzWrite { path, .. }
            | IoError::NotOurs { path, .. }
            | IoError::Symlink { path, .. }
            | IoError::NotRegular { path, .. }
            | IoError::TooLarge { path, .. }
            | IoError::NonFinite { path, .. } => path,
            IoError::Locked { dir }
            | IoError::OutputRefused { dir, .. }
            | IoError::Incomplete { dir, .. }
            | IoError::Changed { dir } => dir,
        }
    }
}

/// `text` with every line cut to 200 characters and at most 20 lines: a parser's message may
/// quote the input, and a message quoting a 100 KB line helps nobody.
pub fn clip_text(text: &str) -> String {
    const LINE: usize = 200;
    const LINES: usize = 20;
    let mut out: Vec<String> = text
        .lines()
        .take(LINES)
        .map(|l| {
            if l.chars().count() > LINE {
                let mut cut: String = l.chars().take(LINE).collect();
                cut.push_str(" …");
                cut
            } else {
                l.to_owned()
            }
        })
        .collect();
    if text.lines().count() > LINES {
        out.push("…".to_owned());
    }
    out.join("\n")
}

/// Reads a whole text file: missing, unreadable, non-UTF-8 and (when `expected` is given)
/// empty files are errors naming the path.
pub(crate) fn read_text(path: &Path, expected: Option<&'static str>) -> Result<String> {
    let bytes = crate::limits::read_input(path)?;
    let text = String::from_utf8(bytes).map_err(|e| IoError::NotUtf8 {
        path: path.to_owned(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    if let Some(expected) = expected
        && text.trim().is_empty()
    {
        return Err(IoError::Empty {
            path: path.to_owned(),
            expected,
        });
    }
    Ok(text)
}
