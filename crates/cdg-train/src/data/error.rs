//! The error type of data loading and augmentation.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while reading or preparing a data set.
///
/// File errors name the file (its origin string) and, for malformed content, the byte
/// offset in the decoded stream (after gzip decompression for `.gz` files).
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file ends before an item it announced.
    #[error(
        "{origin}: truncated at offset {offset}: expected {expected} bytes of {item}, found {found}"
    )]
    Truncated {
        /// File name or other origin of the bytes.
        origin: String,
        /// Byte offset where the incomplete item starts.
        offset: u64,
        /// Bytes the item needs.
        expected: u64,
        /// Bytes actually present.
        found: u64,
        /// The item, e.g. `image 9999` or `record 12`.
        item: String,
    },
    /// The content is inconsistent (bad magic, dimensions, label out of range, trailing bytes).
    #[error("{origin}: at offset {offset}: {message}")]
    Format {
        /// File name or other origin of the bytes.
        origin: String,
        /// Byte offset of the offending field.
        offset: u64,
        /// What was expected and what was found.
        message: String,
    },
    /// Reading (or decompressing) failed.
    #[error("{origin}: read error at offset {offset}: {source}")]
    Io {
        /// File name or other origin of the bytes.
        origin: String,
        /// Bytes successfully decoded before the failure.
        offset: u64,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Two files that must agree (images and labels) do not.
    #[error("{first} holds {first_count} items but {second} holds {second_count}")]
    CountMismatch {
        /// First file.
        first: String,
        /// Its item count.
        first_count: usize,
        /// Second file.
        second: String,
        /// Its item count.
        second_count: usize,
    },
    /// A directory holds no recognised data set.
    #[error("{}: no data set found: expected {expected}", dir.display())]
    NotFound {
        /// The directory searched.
        dir: PathBuf,
        /// The files that were looked for.
        expected: String,
    },
    /// An argument does not fit the data (shape, batch size, split sizes).
    #[error("{op}: {message}")]
    Invalid {
        /// The operation that refused its input.
        op: &'static str,
        /// What was expected and what was found.
        message: String,
    },
}

impl DataError {
    pub(crate) fn format(origin: &str, offset: u64, message: impl Into<String>) -> Self {
        DataError::Format {
            origin: origin.to_owned(),
            offset,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(op: &'static str, message: impl Into<String>) -> Self {
        DataError::Invalid {
            op,
            message: message.into(),
        }
    }
}
