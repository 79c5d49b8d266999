//! CIFAR-10 and CIFAR-100 binary readers.
//!
//! CIFAR-10 (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`): records of one
//! label byte (< 10) followed by 3072 pixel bytes (1024 red, 1024 green, 1024 blue, each
//! 32×32 row-major). CIFAR-100 (`train.bin`, `test.bin`): a coarse label byte (< 20), a fine
//! label byte (< 100), then the same 3072 bytes; the fine label is the class.

use std::io::Read;

use ndarray::Array4;

use super::DataError;

/// Pixel bytes per CIFAR image (3×32×32).
pub const CIFAR_PIXELS: usize = 3 * 32 * 32;

/// Largest file accepted (1 GiB): the real files are 30 MB (CIFAR-10) and 150 MB (CIFAR-100).
const MAX_FILE: u64 = 1 << 30;

/// Which CIFAR binary layout a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CifarKind {
    /// One label byte per record, 10 classes.
    Cifar10,
    /// Coarse and fine label bytes per record; the 100 fine classes are used.
    Cifar100,
}

impl CifarKind {
    /// Label bytes before the pixels of each record.
    pub fn label_bytes(self) -> usize {
        match self {
            CifarKind::Cifar10 => 1,
            CifarKind::Cifar100 => 2,
        }
    }

    /// Bytes per record.
    pub fn record_len(self) -> usize {
        self.label_bytes() + CIFAR_PIXELS
    }

    /// Number of classes of the label that is used.
    pub fn classes(self) -> usize {
        match self {
            CifarKind::Cifar10 => 10,
            CifarKind::Cifar100 => 100,
        }
    }
}

/// Decoded CIFAR records: NCHW pixels as bytes and one label per image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CifarRecords {
    pixels: Vec<u8>,
    labels: Vec<u8>,
    coarse_labels: Vec<u8>,
}

impl CifarRecords {
    /// Pixels, N×3×32×32 row-major (the file's own channel-planar order).
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// Class labels (fine labels for CIFAR-100).
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// Coarse labels (CIFAR-100 only, empty for CIFAR-10).
    pub fn coarse_labels(&self) -> &[u8] {
        &self.coarse_labels
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there is no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Appends another file's records.
    pub fn extend(&mut self, other: CifarRecords) {
        self.pixels.extend(other.pixels);
        self.labels.extend(other.labels);
        self.coarse_labels.extend(other.coarse_labels);
    }

    /// Converts the pixels to NCHW `f32` in [0, 1].
    pub fn images_f32(&self) -> Array4<f32> {
        let n = self.labels.len();
        let px = &self.pixels;
        Array4::from_shape_fn((n, 3, 32, 32), |(i, c, y, x)| {
            f32::from(px[i * CIFAR_PIXELS + (c * 32 + y) * 32 + x]) / 255.0
        })
    }
}

/// Parses one CIFAR binary file of the given layout.
pub fn parse_cifar(
    mut reader: impl Read,
    origin: &str,
    kind: CifarKind,
) -> Result<CifarRecords, DataError> {
    let mut bytes = Vec::new();
    let read = reader
        .by_ref()
        .take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| DataError::Io {
            origin: origin.to_owned(),
            offset: bytes.len() as u64,
            source,
        })?;
    if read as u64 > MAX_FILE {
        return Err(DataError::format(
            origin,
            MAX_FILE,
            "file exceeds the 1 GiB limit of a CIFAR batch",
        ));
    }
    let rec = kind.record_len();
    if bytes.is_empty() {
        return Err(DataError::Truncated {
            origin: origin.to_owned(),
            offset: 0,
            expected: rec as u64,
            found: 0,
            item: "record 0".to_owned(),
        });
    }
    let full = bytes.len() / rec;
    if bytes.len() % rec != 0 {
        return Err(DataError::Truncated {
            origin: origin.to_owned(),
            offset: (full * rec) as u64,
            expected: rec as u64,
            found: (bytes.len() - full * rec) as u64,
            item: format!("record {full}"),
        });
    }
    let mut out = CifarRecords {
        pixels: Vec::with_capacity(full * CIFAR_PIXELS),
        labels: Vec::with_capacity(full),
        coarse_labels: Vec::new(),
    };
    for (i, record) in bytes.chunks_exact(rec).enumerate() {
        let offset = (i * rec) as u64;
        let label = match kind {
            CifarKind::Cifar10 => record[0],
            CifarKind::Cifar100 => {
                if record[0] >= 20 {
                    return Err(DataError::format(
                        origin,
                        offset,
                        format!(
                            "coarse label {} of record {i} is out of range, expected < 20",
                            record[0]
                        ),
                    ));
                }
                out.coarse_labels.push(record[0]);
                record[1]
            }
        };
        if usize::from(label) >= kind.classes() {
            return Err(DataError::format(
                origin,
                offset + kind.label_bytes() as u64 - 1,
                format!(
                    "label {label} of record {i} is out of range, expected < {}",
                    kind.classes()
                ),
            ));
        }
        out.labels.push(label);
        out.pixels.extend_from_slice(&record[kind.label_bytes()..]);
    }
    Ok(out)
}
