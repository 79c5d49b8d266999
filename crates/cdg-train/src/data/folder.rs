//! Image-folder data sets (ImageNet-100 and the like): one subfolder per class, JPEG or PNG
//! files, decoded with `zune-jpeg` and `png`, resized and center-cropped to a square resolution
//! (docs/training.md §8).
//!
//! Layout: `ROOT/train/<class>/*.{jpg,jpeg,png}` and `ROOT/val/<class>/…` (or `ROOT/test/`).
//! Classes are the subfolders of `train/`, sorted by name (label = rank); the test split must
//! hold the same class folders. Within a class, files are taken in sorted path order, and the
//! split interleaves the classes (first image of every class, then the second, …) so that the
//! first N images (`--limit-train N`) are balanced over the classes. Limits apply before
//! decoding: only the images used are read.
//!
//! Every image is converted to RGB (gray replicated, alpha dropped, 16-bit channels rounded to
//! 8), resized so that its shorter side is the resolution (bilinear: the `image` crate's
//! `Triangle` filter, reimplemented here for the crop only, bit for bit) and center-cropped to
//! resolution × resolution; the
//! random crops of training are the augmentation's (`AugmentConfig`). Decoded images are held
//! in memory as `f32` for the whole run (that is the cache: each file is decoded once per run,
//! in parallel; nothing is written to disk).
//!
//! A file that is not `.jpg`, `.jpeg` or `.png` (any case), a subfolder inside a class
//! folder and a file directly in the split folder are skipped and returned in
//! [`FolderLoad::skipped`] so the caller can warn about them. A JPEG or PNG that does not
//! decode is an error naming its path: training on a silently shrunken data set would not be
//! the run the user asked for. That includes a truncated JPEG (decoded strictly: the decoder's
//! lenient mode would fill the missing part with gray) and an image whose decoding and resizing
//! would need more than [`FolderOptions::max_memory_bytes`] (checked from its header, before
//! any pixel is allocated). A class folder without images, a split without class folders or
//! with a single one (every prediction would be right), is an error naming the folder. Class
//! folder names need not be UTF-8: the folders are opened by their own names, and a name that
//! is not UTF-8 is shown with its invalid bytes escaped (`caf\xe9`), so two such names stay two
//! classes.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};

use ndarray::{Array4, ArrayViewMut3, Axis};
use rayon::prelude::*;

use super::{DataError, DataSplit, Dataset};

/// The file extensions read as images (compared case-insensitively).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// Names of the test split's folder, in the order they are looked for.
pub const TEST_SPLIT_DIRS: [&str; 2] = ["val", "test"];

/// Most classes a data set may have (labels are `u8`).
const MAX_CLASSES: usize = 256;

/// How to load an image folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderOptions {
    /// Side of the square images after resizing and cropping, in pixels.
    pub resolution: usize,
    /// Use only the first N training images (class-interleaved order).
    pub limit_train: Option<usize>,
    /// Use only the first N test images.
    pub limit_test: Option<usize>,
    /// Memory the decoded data set and the images being decoded may take (`--max-memory`);
    /// `None`: unbounded.
    pub max_memory_bytes: Option<u64>,
}

/// The image files of one split, before decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderSplit {
    /// The split's folder.
    pub dir: PathBuf,
    /// `(path, label)` in load order (classes interleaved, sorted paths within a class).
    pub files: Vec<(PathBuf, u8)>,
    /// Entries that are not images of a class folder.
    pub skipped: Vec<PathBuf>,
}

/// The listing of an image folder: class names and both splits' files.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderScan {
    /// Class folder names, sorted; a label is an index into this list.
    pub classes: Vec<String>,
    pub train: FolderSplit,
    pub test: FolderSplit,
}

/// A loaded image folder.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderLoad {
    pub split: DataSplit,
    pub classes: Vec<String>,
    /// Entries that were not read (not JPEG/PNG, or not inside a class folder), sorted.
    pub skipped: Vec<PathBuf>,
}

impl FolderScan {
    /// Lists `root` (see the module docs for the layout) and applies the limits; reads no
    /// image.
    pub fn new(root: &Path, options: &FolderOptions) -> Result<Self, DataError> {
        let train_dir = root.join("train");
        if !train_dir.is_dir() {
            return Err(DataError::NotFound {
                dir: root.to_path_buf(),
                expected: "an image folder: train/<class>/*.jpg|png and val/<class>/… \
                           (or test/<class>/…)"
                    .to_owned(),
            });
        }
        let test_dir = TEST_SPLIT_DIRS
            .iter()
            .map(|d| root.join(d))
            .find(|d| d.is_dir())
            .ok_or_else(|| DataError::NotFound {
                dir: root.to_path_buf(),
                expected: "a test split folder val/ or test/ beside train/".to_owned(),
            })?;
        let (class_names, mut train_skipped) = class_dirs(&train_dir)?;
        if class_names.len() == 1 {
            return Err(DataError::NotFound {
                dir: train_dir.clone(),
                expected: format!(
                    "at least two class folders (found only `{}`: with one class every \
                     prediction is right, and the accuracy says nothing)",
                    class_label(&class_names[0])
                ),
            });
        }
        if class_names.len() > MAX_CLASSES {
            return Err(DataError::format(
                &train_dir.display().to_string(),
                0,
                format!(
                    "{} class folders; at most {MAX_CLASSES} are supported",
                    class_names.len()
                ),
            ));
        }
        let (test_classes, mut test_skipped) = class_dirs(&test_dir)?;
        if let Some(missing) = class_names.iter().find(|c| !test_classes.contains(c)) {
            return Err(DataError::NotFound {
                dir: test_dir.join(missing),
                expected: format!(
                    "the class folder `{}` of {} (both splits need the same classes)",
                    class_label(missing),
                    train_dir.display()
                ),
            });
        }
        if let Some(extra) = test_classes.iter().find(|c| !class_names.contains(c)) {
            return Err(DataError::NotFound {
                dir: train_dir.join(extra),
                expected: format!(
                    "the class folder `{}` of {} (both splits need the same classes)",
                    class_label(extra),
                    test_dir.display()
                ),
            });
        }
        let train = split_files(&train_dir, &class_names, options.limit_train)?;
        let test = split_files(&test_dir, &class_names, options.limit_test)?;
        let classes = class_names.iter().map(|c| class_label(c)).collect();
        train_skipped.extend(train.1);
        test_skipped.extend(test.1);
        train_skipped.sort();
        test_skipped.sort();
        Ok(FolderScan {
            classes,
            train: FolderSplit {
                dir: train_dir,
                files: train.0,
                skipped: train_skipped,
            },
            test: FolderSplit {
                dir: test_dir,
                files: test.0,
                skipped: test_skipped,
            },
        })
    }

    /// Bytes of both splits once decoded at `resolution` (3 × r² `f32` per image): what a
    /// caller checks against its memory limit before [`FolderScan::load`].
    pub fn decoded_bytes(&self, resolution: usize) -> u64 {
        let images = (self.train.files.len() + self.test.files.len()) as u64;
        images
            .saturating_mul(3 * 4)
            .saturating_mul((resolution as u64).saturating_mul(resolution as u64))
    }

    /// Decodes every listed image (in parallel; the result does not depend on the thread
    /// count). `name` names the data set (`<name>/train`, `<name>/test`). With
    /// `max_memory_bytes`, an image whose decoding and resizing would take the memory in use
    /// over it is an error naming the image, found from its header before decoding it.
    pub fn load(
        self,
        name: &str,
        resolution: usize,
        max_memory_bytes: Option<u64>,
    ) -> Result<FolderLoad, DataError> {
        let classes = self.classes.len();
        let budget = Budget {
            limit_bytes: max_memory_bytes,
            held_bytes: self.decoded_bytes(resolution),
        };
        let train = decode_split(
            &self.train,
            resolution,
            classes,
            &format!("{name}/train"),
            budget,
        )?;
        let test = decode_split(
            &self.test,
            resolution,
            classes,
            &format!("{name}/test"),
            budget,
        )?;
        let mut skipped = self.train.skipped;
        skipped.extend(self.test.skipped);
        skipped.sort();
        Ok(FolderLoad {
            split: DataSplit { train, test },
            classes: self.classes,
            skipped,
        })
    }
}

/// Lists and decodes the image folder at `root`.
pub fn load_image_folder(root: &Path, options: &FolderOptions) -> Result<FolderLoad, DataError> {
    check_resolution(options.resolution)?;
    let name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| root.display().to_string());
    FolderScan::new(root, options)?.load(&name, options.resolution, options.max_memory_bytes)
}

/// Smallest and largest resolution accepted.
pub const RESOLUTION_RANGE: (usize, usize) = (8, 1024);

fn check_resolution(r: usize) -> Result<(), DataError> {
    let (lo, hi) = RESOLUTION_RANGE;
    if !(lo..=hi).contains(&r) {
        return Err(DataError::invalid(
            "image folder",
            format!("resolution {r}: expected {lo} to {hi} pixels"),
        ));
    }
    Ok(())
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let io = |source| DataError::Io {
        origin: dir.display().to_string(),
        offset: 0,
        source,
    };
    let mut entries = Vec::new();
    for e in fs::read_dir(dir).map_err(io)? {
        entries.push(e.map_err(io)?.path());
    }
    entries.sort();
    Ok(entries)
}

/// A class folder's name as text: itself when it is UTF-8, otherwise with every invalid byte
/// written `\xNN` (so that distinct names stay distinct).
pub fn class_label(name: &OsStr) -> String {
    if let Some(s) = name.to_str() {
        return s.to_owned();
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let mut out = String::new();
        for chunk in name.as_bytes().utf8_chunks() {
            out.push_str(chunk.valid());
            for b in chunk.invalid() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
        out
    }
    #[cfg(not(unix))]
    {
        format!("{name:?}")
    }
}

/// The class folders of a split (sorted names, as the file system spells them) and the other
/// entries of the split folder.
fn class_dirs(split: &Path) -> Result<(Vec<OsString>, Vec<PathBuf>), DataError> {
    let mut classes = Vec::new();
    let mut skipped = Vec::new();
    for p in read_dir_sorted(split)? {
        if p.is_dir() {
            classes.push(p.file_name().map(OsStr::to_os_string).unwrap_or_default());
        } else {
            skipped.push(p);
        }
    }
    if classes.is_empty() {
        return Err(DataError::NotFound {
            dir: split.to_path_buf(),
            expected: "one subfolder per class holding JPEG or PNG images".to_owned(),
        });
    }
    Ok((classes, skipped))
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Image files of every class of a split, interleaved by class, at most `limit`; plus the
/// skipped entries.
#[allow(clippy::type_complexity)]
fn split_files(
    split: &Path,
    classes: &[OsString],
    limit: Option<usize>,
) -> Result<(Vec<(PathBuf, u8)>, Vec<PathBuf>), DataError> {
    let mut per_class = Vec::with_capacity(classes.len());
    let mut skipped = Vec::new();
    for class in classes {
        let dir = split.join(class);
        let mut images = Vec::new();
        for p in read_dir_sorted(&dir)? {
            if p.is_file() && is_image(&p) {
                images.push(p);
            } else {
                skipped.push(p);
            }
        }
        if images.is_empty() {
            return Err(DataError::NotFound {
                dir,
                expected: format!(
                    "at least one image ({}) in the class folder `{}`",
                    IMAGE_EXTENSIONS.map(|e| format!(".{e}")).join(", "),
                    class_label(class)
                ),
            });
        }
        per_class.push(images);
    }
    let total: usize = per_class.iter().map(Vec::len).sum();
    let n = limit.map_or(total, |l| l.min(total));
    let mut files = Vec::with_capacity(n);
    let mut round = 0;
    while files.len() < n {
        for (label, images) in per_class.iter().enumerate() {
            if let Some(p) = images.get(round)
                && files.len() < n
            {
                files.push((p.clone(), label as u8));
            }
        }
        round += 1;
    }
    Ok((files, skipped))
}

/// Memory of a load: its limit and what is held before an image is decoded.
#[derive(Debug, Clone, Copy)]
struct Budget {
    limit_bytes: Option<u64>,
    /// Both decoded splits (allocated before their images are decoded).
    held_bytes: u64,
}

fn decode_split(
    split: &FolderSplit,
    resolution: usize,
    classes: usize,
    name: &str,
    budget: Budget,
) -> Result<Dataset, DataError> {
    let r = resolution;
    let mut images = Array4::<f32>::zeros((split.files.len(), 3, r, r));
    images
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(split.files.par_iter())
        .try_for_each(|(out, (path, _))| decode_into(path, r, budget, out))?;
    let labels = split.files.iter().map(|&(_, l)| l).collect();
    Dataset::new(images, labels, classes, name)
}

/// Bytes of decoding a `width`×`height` image and resizing it to `r` (shorter side) at
/// most: the decoder's output (up to 8 bytes a pixel, 16-bit RGBA), its RGB copy (3) and the
/// vertical pass's `r` rows of `f32` RGB; the resized image itself is never held beyond the
/// `r`×`r` crop.
pub fn image_working_bytes(width: u64, height: u64, r: u64) -> u64 {
    width
        .saturating_mul(height)
        .saturating_mul(8 + 3)
        .saturating_add(width.saturating_mul(r).saturating_mul(3 * 4))
}

/// The container of an image file, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Png,
    Jpeg,
}

fn sniff(bytes: &[u8]) -> Option<Container> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Container::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Container::Jpeg)
    } else {
        None
    }
}

/// A decoded image: 8-bit RGB, rows top to bottom.
struct Rgb8 {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Rgb8 {
    fn at(&self, x: usize, y: usize) -> [u8; 3] {
        let i = 3 * (y * self.width + x);
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }
}

/// Converts `channels`-channel samples (1 gray, 2 gray + alpha, 3 RGB, 4 RGBA) to RGB: gray
/// replicated, alpha dropped.
fn to_rgb(samples: &[u8], channels: usize) -> Vec<u8> {
    match channels {
        3 => samples.to_vec(),
        _ => samples
            .chunks_exact(channels)
            .flat_map(|p| {
                if channels <= 2 {
                    [p[0]; 3]
                } else {
                    [p[0], p[1], p[2]]
                }
            })
            .collect(),
    }
}

/// Checks the image's working memory (from its header) against the budget.
fn check_budget(
    origin: &str,
    width: usize,
    height: usize,
    r: usize,
    budget: Budget,
) -> Result<(), DataError> {
    let Some(limit) = budget.limit_bytes else {
        return Ok(());
    };
    let one = image_working_bytes(width as u64, height as u64, r as u64);
    let threads = rayon::current_num_threads() as u64;
    let need = one
        .saturating_mul(threads)
        .saturating_add(budget.held_bytes);
    if need > limit {
        return Err(DataError::format(
            origin,
            0,
            format!(
                "a {width}×{height} image: decoding it and resizing it to {r} pixels takes {} \
                 ({threads} at a time, beside {} of decoded data set), over the memory limit \
                 of {} (--max-memory); remove the image, lower the resolution or raise the limit",
                cdg_core::units::human_bytes(one),
                cdg_core::units::human_bytes(budget.held_bytes),
                cdg_core::units::human_bytes(limit)
            ),
        ));
    }
    Ok(())
}

/// Decodes a PNG or JPEG to RGB8, checking its size against the budget before decoding.
fn decode_rgb8(origin: &str, bytes: &[u8], r: usize, budget: Budget) -> Result<Rgb8, DataError> {
    let bad = |what: String| {
        DataError::format(origin, 0, format!("not a valid JPEG or PNG image: {what}"))
    };
    match sniff(bytes) {
        Some(Container::Png) => {
            let limits = png::Limits {
                bytes: budget
                    .limit_bytes
                    .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX)),
            };
            let mut decoder = png::Decoder::new_with_limits(std::io::Cursor::new(bytes), limits);
            // Palette and low-bit images expanded to 8 bits; 16-bit samples kept (rounded below).
            decoder.set_transformations(png::Transformations::EXPAND);
            let header = decoder
                .read_header_info()
                .map_err(|e| bad(format!("PNG: {e}")))?;
            let (width, height) = (header.width as usize, header.height as usize);
            if width == 0 || height == 0 {
                return Err(DataError::format(origin, 0, "the image has no pixels"));
            }
            check_budget(origin, width, height, r, budget)?;
            let mut reader = decoder.read_info().map_err(|e| bad(format!("PNG: {e}")))?;
            let size = reader
                .output_buffer_size()
                .ok_or_else(|| bad("PNG: its size does not fit in memory".to_owned()))?;
            let mut buf = vec![0u8; size];
            let frame = reader
                .next_frame(&mut buf)
                .map_err(|e| bad(format!("PNG: {e}")))?;
            buf.truncate(frame.buffer_size());
            let channels = frame.color_type.samples();
            let samples = match frame.bit_depth {
                png::BitDepth::Eight => buf,
                png::BitDepth::Sixteen => buf
                    .chunks_exact(2)
                    // round(v · 255 / 65535), as the `image` crate converts.
                    .map(|b| ((u32::from(u16::from_be_bytes([b[0], b[1]])) + 128) / 257) as u8)
                    .collect(),
                depth => return Err(bad(format!("PNG: {depth:?}-bit samples after expansion"))),
            };
            if samples.len() != width * height * channels {
                return Err(bad("PNG: fewer pixels than its header says".to_owned()));
            }
            Ok(Rgb8 {
                width,
                height,
                pixels: to_rgb(&samples, channels),
            })
        }
        Some(Container::Jpeg) => {
            use zune_core::bytestream::ZCursor;
            use zune_core::colorspace::ColorSpace;
            // Strict: a truncated or corrupt stream is an error, not gray filling.
            let options = zune_core::options::DecoderOptions::default()
                .set_strict_mode(true)
                .set_max_width(usize::MAX)
                .set_max_height(usize::MAX);
            let mut decoder =
                zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
            decoder
                .decode_headers()
                .map_err(|e| bad(format!("JPEG: {e:?}")))?;
            let (width, height) = decoder
                .dimensions()
                .ok_or_else(|| bad("JPEG: no frame header".to_owned()))?;
            if width == 0 || height == 0 {
                return Err(DataError::format(origin, 0, "the image has no pixels"));
            }
            check_budget(origin, width, height, r, budget)?;
            let input = decoder
                .input_colorspace()
                .ok_or_else(|| bad("JPEG: no colour space".to_owned()))?;
            // Gray stays gray (replicated below); everything else is converted to RGB.
            let out = match input {
                ColorSpace::RGB | ColorSpace::RGBA | ColorSpace::Luma | ColorSpace::LumaA => input,
                _ => ColorSpace::RGB,
            };
            decoder.set_options(decoder.options().jpeg_set_out_colorspace(out));
            let samples = decoder.decode().map_err(|e| bad(format!("JPEG: {e:?}")))?;
            let channels = out.num_components();
            if samples.len() != width * height * channels {
                return Err(bad("JPEG: fewer pixels than its header says".to_owned()));
            }
            Ok(Rgb8 {
                width,
                height,
                pixels: to_rgb(&samples, channels),
            })
        }
        None => Err(DataError::format(
            origin,
            0,
            "not a readable image: its first bytes are neither a PNG nor a JPEG signature",
        )),
    }
}

/// The source taps of output sample `o` when `src` samples are resized to `dst` with the
/// triangle filter: the first source index and the normalised weights. This is the `image`
/// crate's `Triangle` resampling (0.25, `imageops/sample.rs`, `vertical_sample` and
/// `horizontal_sample`), operation for operation in `f32`, so the pixels are bit for bit its
/// own.
fn triangle_taps(src: usize, dst: usize, o: usize) -> (usize, Vec<f32>) {
    let ratio = src as f32 / dst as f32;
    let sratio = if ratio < 1.0 { 1.0 } else { ratio };
    let support = sratio; // the triangle's support is 1
    let centre = (o as f32 + 0.5) * ratio;
    let left = ((centre - support).floor() as i64).clamp(0, src as i64 - 1);
    let right = ((centre + support).ceil() as i64).clamp(left + 1, src as i64);
    let centre = centre - 0.5;
    let mut weights: Vec<f32> = (left..right)
        .map(|i| {
            let x = (i as f32 - centre) / sratio;
            if x.abs() < 1.0 { 1.0 - x.abs() } else { 0.0 }
        })
        .collect();
    let mut sum = 0.0;
    for w in &weights {
        sum += w;
    }
    for w in &mut weights {
        *w /= sum;
    }
    (left as usize, weights)
}

/// Resizes `image` to `nw`×`nh` (columns first, then rows, as `image::imageops::resize`) and
/// writes the centered `r`×`r` crop as C×H×W values in [0, 1]; only the crop's rows and
/// columns are computed.
fn resize_crop_into(
    image: &Rgb8,
    nw: usize,
    nh: usize,
    r: usize,
    out: &mut ArrayViewMut3<'_, f32>,
) {
    let (left, top) = ((nw - r) / 2, (nh - r) / 2);
    let (w, h) = (image.width, image.height);
    if (nw, nh) == (w, h) {
        // `image` copies instead of resampling an unchanged size.
        for y in 0..r {
            for x in 0..r {
                let p = image.at(left + x, top + y);
                for c in 0..3 {
                    out[[c, y, x]] = f32::from(p[c]) / 255.0;
                }
            }
        }
        return;
    }
    // Vertical pass: the crop's r rows of the nh-row image, every source column, in f32.
    let mut rows = vec![[0f32; 3]; r * w];
    for y in 0..r {
        let (first, weights) = triangle_taps(h, nh, top + y);
        for x in 0..w {
            let mut t = [0f32; 3];
            for (i, &wt) in weights.iter().enumerate() {
                let p = image.at(x, first + i);
                for c in 0..3 {
                    t[c] += f32::from(p[c]) * wt;
                }
            }
            rows[y * w + x] = t;
        }
    }
    // Horizontal pass: the crop's r columns, rounded to 8 bits.
    for x in 0..r {
        let (first, weights) = triangle_taps(w, nw, left + x);
        for y in 0..r {
            let mut t = [0f32; 3];
            for (i, &wt) in weights.iter().enumerate() {
                let p = rows[y * w + first + i];
                for c in 0..3 {
                    t[c] += p[c] * wt;
                }
            }
            for c in 0..3 {
                let v = t[c].clamp(0.0, 255.0).round() as u8;
                out[[c, y, x]] = f32::from(v) / 255.0;
            }
        }
    }
}

/// Decodes `path`, resizes its shorter side to `r`, center-crops r×r and writes it as C×H×W
/// values in [0, 1].
fn decode_into(
    path: &Path,
    r: usize,
    budget: Budget,
    mut out: ArrayViewMut3<'_, f32>,
) -> Result<(), DataError> {
    let origin = path.display().to_string();
    let bytes = fs::read(path).map_err(|source| DataError::Io {
        origin: origin.clone(),
        offset: 0,
        source,
    })?;
    let image = decode_rgb8(&origin, &bytes, r, budget)?;
    drop(bytes);
    let (nw, nh) = resized_dims(image.width, image.height, r);
    resize_crop_into(&image, nw, nh, r, &mut out);
    Ok(())
}

/// Decodes one image file as the loader does (resized, center-cropped, C×H×W in [0, 1]);
/// `max_memory_bytes` bounds its working memory ([`image_working_bytes`] per decoding
/// thread).
pub fn decode_image(
    path: &Path,
    resolution: usize,
    max_memory_bytes: Option<u64>,
) -> Result<ndarray::Array3<f32>, DataError> {
    check_resolution(resolution)?;
    let mut out = ndarray::Array3::zeros((3, resolution, resolution));
    let budget = Budget {
        limit_bytes: max_memory_bytes,
        held_bytes: 0,
    };
    decode_into(path, resolution, budget, out.view_mut())?;
    Ok(out)
}

/// Width and height after resizing the shorter side of a `w`×`h` image to `r` (the longer
/// side rounded, at least `r`).
pub fn resized_dims(w: usize, h: usize, r: usize) -> (usize, usize) {
    let scale = |long: usize, short: usize| {
        (((long as f64) * (r as f64) / (short as f64)).round() as usize).max(r)
    };
    if w <= h {
        (r, scale(h, w))
    } else {
        (scale(w, h), r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorter_side_becomes_the_resolution() {
        assert_eq!(resized_dims(500, 375, 224), (299, 224));
        assert_eq!(resized_dims(375, 500, 224), (224, 299));
        assert_eq!(resized_dims(10, 10, 4), (4, 4));
        // A very long image keeps at least r on its long side.
        assert_eq!(resized_dims(1, 1000, 8), (8, 8000));
    }
}
