//! IDX reader (the MNIST / Fashion-MNIST file format), gzip or raw.
//!
//! An IDX file is a 4-byte magic `00 00 TT D` (element type `TT`, `D` dimensions), `D`
//! big-endian `u32` sizes, then the elements in row-major order. Only unsigned bytes
//! (`TT = 0x08`) are used by image data sets and only they are accepted here. A stream that
//! starts with the gzip magic `1f 8b` is decompressed first (multi-member streams included);
//! offsets in errors then count decompressed bytes.

use std::io::{BufRead, BufReader, Read};

use flate2::read::MultiGzDecoder;

use super::DataError;

/// Largest element count accepted from a header (4 GiB), so a corrupt header cannot
/// request an absurd allocation before the file is found to be short.
const MAX_ELEMENTS: u64 = 1 << 32;

/// A decoded unsigned-byte IDX array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Sizes from the header; the first is the item count.
    pub dims: Vec<usize>,
    /// The elements, row-major.
    pub data: Vec<u8>,
}

impl IdxArray {
    /// Number of items (the first dimension).
    pub fn items(&self) -> usize {
        self.dims.first().copied().unwrap_or(0)
    }
}

/// Wraps `reader` in a gzip decoder when its first two bytes are the gzip magic.
fn maybe_gunzip<'a>(reader: impl Read + 'a, origin: &str) -> Result<Box<dyn Read + 'a>, DataError> {
    let mut buffered = BufReader::new(reader);
    let head = buffered.fill_buf().map_err(|source| DataError::Io {
        origin: origin.to_owned(),
        offset: 0,
        source,
    })?;
    if head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b {
        Ok(Box::new(MultiGzDecoder::new(buffered)))
    } else {
        Ok(Box::new(buffered))
    }
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_up_to(
    reader: &mut dyn Read,
    buf: &mut [u8],
    origin: &str,
    base: u64,
) -> Result<usize, DataError> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(DataError::Io {
                    origin: origin.to_owned(),
                    offset: base + filled as u64,
                    source,
                });
            }
        }
    }
    Ok(filled)
}

/// Parses an unsigned-byte IDX stream (gzip detected by its magic bytes).
///
/// `item_name` names one item in truncation errors (`"image"`, `"label"`). Trailing bytes
/// after the announced items are an error, as they mean the header and the body disagree.
pub fn parse_idx(reader: impl Read, origin: &str, item_name: &str) -> Result<IdxArray, DataError> {
    let mut reader = maybe_gunzip(reader, origin)?;
    let mut magic = [0u8; 4];
    let got = read_up_to(&mut reader, &mut magic, origin, 0)?;
    if got < 4 {
        return Err(DataError::Truncated {
            origin: origin.to_owned(),
            offset: 0,
            expected: 4,
            found: got as u64,
            item: "the IDX magic".to_owned(),
        });
    }
    if magic[0] != 0 || magic[1] != 0 {
        return Err(DataError::format(
            origin,
            0,
            format!(
                "not an IDX file: magic {:02x} {:02x} {:02x} {:02x}, expected 00 00 08 <dims>",
                magic[0], magic[1], magic[2], magic[3]
            ),
        ));
    }
    if magic[2] != 0x08 {
        return Err(DataError::format(
            origin,
            2,
            format!(
                "element type 0x{:02x} is not supported, expected 0x08 (unsigned byte)",
                magic[2]
            ),
        ));
    }
    let ndims = usize::from(magic[3]);
    if ndims == 0 {
        return Err(DataError::format(
            origin,
            3,
            "IDX header declares 0 dimensions, expected at least 1",
        ));
    }
    let mut size_bytes = vec![0u8; 4 * ndims];
    let got = read_up_to(&mut reader, &mut size_bytes, origin, 4)?;
    if got < size_bytes.len() {
        return Err(DataError::Truncated {
            origin: origin.to_owned(),
            offset: 4,
            expected: size_bytes.len() as u64,
            found: got as u64,
            item: format!("the {ndims} dimension sizes"),
        });
    }
    let dims: Vec<usize> = size_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let header_len = 4 + 4 * ndims as u64;
    let item_len: u64 = dims[1..].iter().map(|&d| d as u64).product();
    let total = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
    let total = match total {
        Some(t) if t <= MAX_ELEMENTS => t,
        _ => {
            return Err(DataError::format(
                origin,
                4,
                format!("dimensions {dims:?} exceed the {MAX_ELEMENTS}-element limit"),
            ));
        }
    };
    let mut data = Vec::with_capacity(total.min(1 << 26) as usize);
    let read = reader
        .by_ref()
        .take(total)
        .read_to_end(&mut data)
        .map_err(|source| DataError::Io {
            origin: origin.to_owned(),
            offset: header_len + data.len() as u64,
            source,
        })? as u64;
    if read < total {
        // `item_len` is non-zero here: a zero-sized item gives total 0.
        let item = read / item_len;
        return Err(DataError::Truncated {
            origin: origin.to_owned(),
            offset: header_len + item * item_len,
            expected: item_len,
            found: read - item * item_len,
            item: format!("{item_name} {item}"),
        });
    }
    let mut probe = [0u8; 1];
    if read_up_to(&mut reader, &mut probe, origin, header_len + total)? != 0 {
        return Err(DataError::format(
            origin,
            header_len + total,
            format!(
                "unexpected bytes after the {} {item_name}s the header announces",
                dims[0]
            ),
        ));
    }
    Ok(IdxArray { dims, data })
}

/// Parses an IDX image file: dimensions N×H×W, or N×H×W×C for colour images.
///
/// Returns the raw array; [`idx_images_to_f32`] converts it to an NCHW image tensor.
pub fn parse_idx_images(reader: impl Read, origin: &str) -> Result<IdxArray, DataError> {
    let array = parse_idx(reader, origin, "image")?;
    if !(array.dims.len() == 3 || array.dims.len() == 4) {
        return Err(DataError::format(
            origin,
            3,
            format!(
                "image file has {} dimensions {:?}, expected 3 (N×H×W) or 4 (N×H×W×C)",
                array.dims.len(),
                array.dims
            ),
        ));
    }
    Ok(array)
}

/// Parses an IDX label file: one dimension, labels below `classes`.
pub fn parse_idx_labels(
    reader: impl Read,
    origin: &str,
    classes: usize,
) -> Result<Vec<u8>, DataError> {
    let array = parse_idx(reader, origin, "label")?;
    if array.dims.len() != 1 {
        return Err(DataError::format(
            origin,
            3,
            format!(
                "label file has {} dimensions {:?}, expected 1",
                array.dims.len(),
                array.dims
            ),
        ));
    }
    let header_len = 8u64;
    if let Some(pos) = array.data.iter().position(|&l| usize::from(l) >= classes) {
        return Err(DataError::format(
            origin,
            header_len + pos as u64,
            format!(
                "label {} of item {pos} is out of range, expected < {classes}",
                array.data[pos]
            ),
        ));
    }
    Ok(array.data)
}

/// Converts an IDX image array (N×H×W or N×H×W×C) to NCHW `f32` in [0, 1].
pub fn idx_images_to_f32(array: &IdxArray) -> ndarray::Array4<f32> {
    let (n, h, w) = (array.dims[0], array.dims[1], array.dims[2]);
    let c = array.dims.get(3).copied().unwrap_or(1);
    ndarray::Array4::from_shape_fn((n, c, h, w), |(i, ch, y, x)| {
        f32::from(array.data[((i * h + y) * w + x) * c + ch]) / 255.0
    })
}
