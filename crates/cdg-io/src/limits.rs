//! The memory limit: sizes that would not fit are refused with the size they would need, before
//! anything is allocated for them (gate masks of a trace or of `cdg masks synth`, a decompressed
//! npz array, a sweep's results).
//!
//! The limit is [`DEFAULT_MAX_MEMORY`] unless the environment variable [`MAX_MEMORY_ENV`]
//! (`CDG_MAX_MEMORY`) or the `cdg --max-memory SIZE` option ([`set_max_memory`]) says
//! otherwise. Sizes are written like `8G`, `512MiB`, `1.5GB` or a plain byte count; `K`, `M`,
//! `G` and `T` are powers of 1024 (docs/formats.md §5).
//!
//! ```
//! use cdg_io::limits::{parse_size, check_memory};
//! assert_eq!(parse_size("8G").unwrap(), 8 << 30);
//! assert_eq!(parse_size("1.5 KiB").unwrap(), 1536);
//! let e = check_memory("the masks", 1 << 60).unwrap_err().to_string();
//! assert!(e.contains("the masks would need 1.00 EiB of memory"), "{e}");
//! ```

use crate::error::IoError;
use std::fmt;
use std::fs;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The limit when neither `--max-memory` nor `CDG_MAX_MEMORY` sets one.
pub const DEFAULT_MAX_MEMORY: u64 = 8 << 30;
/// The environment variable that sets the limit (a size such as `16G`).
pub const MAX_MEMORY_ENV: &str = "CDG_MAX_MEMORY";

/// 0 = not set by the program.
static OVERRIDE: AtomicU64 = AtomicU64::new(0);

/// Sets the limit for this process (the `--max-memory` option); wins over the environment.
pub fn set_max_memory(bytes: u64) {
    OVERRIDE.store(bytes.max(1), Ordering::Relaxed);
}

/// The limit from the environment: `None` when [`MAX_MEMORY_ENV`] is unset, an error naming
/// the variable when it is not a size.
pub fn env_max_memory() -> Result<Option<u64>, String> {
    match std::env::var(MAX_MEMORY_ENV) {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(format!("{MAX_MEMORY_ENV} is not valid text"))
        }
        Ok(text) => parse_size(&text)
            .map(Some)
            .map_err(|e| format!("{MAX_MEMORY_ENV}={text}: {e}")),
    }
}

/// The limit in force: [`set_max_memory`], else [`MAX_MEMORY_ENV`] (a malformed value is
/// ignored here; the CLI refuses it at start-up), else [`DEFAULT_MAX_MEMORY`].
pub fn max_memory() -> u64 {
    match OVERRIDE.load(Ordering::Relaxed) {
        0 => env_max_memory()
            .ok()
            .flatten()
            .unwrap_or(DEFAULT_MAX_MEMORY),
        n => n,
    }
}

/// A size that is over the memory limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLarge {
    /// What would be allocated (`the masks of 1000000000 samples`).
    pub what: String,
    /// Bytes needed; `None` when the count overflows 64 bits.
    pub need: Option<u64>,
    pub limit: u64,
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let need = self
            .need
            .map_or_else(|| "more than 16 EiB".to_owned(), human_bytes);
        write!(
            f,
            "{} would need {need} of memory, more than the limit of {}; on a machine with that \
             much memory, raise the limit with --max-memory SIZE or {MAX_MEMORY_ENV}=SIZE",
            self.what,
            human_bytes(self.limit)
        )
    }
}

impl std::error::Error for TooLarge {}

/// Checks that `bytes` (or an overflowed count, `None`) fits under the limit in force.
pub fn check_memory_opt(what: impl Into<String>, bytes: Option<u64>) -> Result<(), TooLarge> {
    let limit = max_memory();
    match bytes {
        Some(b) if b <= limit => Ok(()),
        need => Err(TooLarge {
            what: what.into(),
            need,
            limit,
        }),
    }
}

/// Checks that `bytes` fits under the limit in force.
pub fn check_memory(what: impl Into<String>, bytes: u64) -> Result<(), TooLarge> {
    check_memory_opt(what, Some(bytes))
}

/// Checks that `path` is a regular file (a link to one is fine) and returns its size: a
/// directory, FIFO, device or socket is refused before it is opened, so a FIFO cannot hang a
/// reader and `/dev/zero` cannot fill the memory.
pub fn check_regular(path: &Path) -> Result<u64, IoError> {
    let meta = fs::metadata(path).map_err(|e| IoError::io(path, "cannot read", e))?;
    regular_len(path, &meta)
}

fn regular_len(path: &Path, meta: &fs::Metadata) -> Result<u64, IoError> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() {
        return Ok(meta.len());
    }
    let what = if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(IoError::NotRegular {
        path: path.to_owned(),
        problem: format!("is {what}"),
    })
}

/// Reads the whole input file `path`: only a regular file ([`check_regular`]), and only when it
/// fits under the memory limit ([`max_memory`]); the read itself stops one byte past the limit,
/// so a file that grows while it is read cannot exhaust the memory either.
pub fn read_input(path: &Path) -> Result<Vec<u8>, IoError> {
    let len = check_regular(path)?;
    let limit = max_memory();
    let too_large = |need: Option<u64>| IoError::TooLarge {
        path: path.to_owned(),
        error: TooLarge {
            what: "reading this file".to_owned(),
            need,
            limit,
        },
    };
    if len > limit {
        return Err(too_large(Some(len)));
    }
    let file = fs::File::open(path).map_err(|e| IoError::io(path, "cannot read", e))?;
    // Whatever was swapped in between the check and the open is checked again.
    let meta = file
        .metadata()
        .map_err(|e| IoError::io(path, "cannot read", e))?;
    regular_len(path, &meta)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len().min(limit)).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| IoError::io(path, "cannot read", e))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(Some(bytes.len() as u64)));
    }
    Ok(bytes)
}

/// [`read_input`] as UTF-8 text; invalid UTF-8 is an error naming the byte.
pub fn read_input_text(path: &Path) -> Result<String, IoError> {
    String::from_utf8(read_input(path)?).map_err(|e| IoError::NotUtf8 {
        path: path.to_owned(),
        offset: e.utf8_error().valid_up_to(),
    })
}

pub use cdg_core::units::human_bytes;

/// Parses a size: a number (decimals allowed) and an optional unit `B`, `K`/`KB`/`KiB`,
/// `M…`, `G…`, `T…` (all powers of 1024; case-insensitive).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E' || c == '+'))
        .unwrap_or(t.len());
    // `1e9` is a number; `1E` alone is not a unit we know, so only digits decide the split.
    let (num, unit) = t.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let scale: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => {
            return Err(format!(
                "unknown unit `{unit}`; expected a size such as 8G, 512M or 4096"
            ));
        }
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{t}` is not a size; expected e.g. 8G, 512M or 4096"))?;
    let bytes = value * scale as f64;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!(
            "`{t}` is out of range; expected at least 1 byte and less than 16 EiB"
        ));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        for (text, want) in [
            ("4096", 4096),
            ("8G", 8 << 30),
            ("8 GiB", 8 << 30),
            ("512mb", 512 << 20),
            ("1.5K", 1536),
            ("2T", 2 << 40),
            ("1e9", 1_000_000_000),
        ] {
            assert_eq!(parse_size(text), Ok(want), "{text}");
        }
        for bad in ["", "G", "-1G", "8X", "0", "1e30T", "nan"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn messages_give_need_and_limit() {
        let e = TooLarge {
            what: "x".into(),
            need: Some(3 << 30),
            limit: 1 << 30,
        };
        assert_eq!(
            e.to_string(),
            "x would need 3.00 GiB of memory, more than the limit of 1.00 GiB; on a machine \
             with that much memory, raise the limit with --max-memory SIZE or \
             CDG_MAX_MEMORY=SIZE"
        );
        assert_eq!(human_bytes(12), "12 B");
    }

    #[test]
    fn inputs_are_regular_files_under_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_input(dir.path()).unwrap_err().to_string();
        assert!(e.contains("is a directory; expected a regular file"), "{e}");
        let e = read_input(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(e.contains("/dev/zero: is a character device"), "{e}");
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        // Refused before it is opened: no writer is needed for this to return.
        let e = read_input(&fifo).unwrap_err().to_string();
        assert!(e.contains("is a FIFO (named pipe)"), "{e}");
        let file = dir.path().join("a.txt");
        fs::write(&file, vec![b'x'; 4096]).unwrap();
        assert_eq!(read_input(&file).unwrap().len(), 4096);
        assert_eq!(read_input_text(&file).unwrap().len(), 4096);
    }
}
