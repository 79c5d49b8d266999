//! Image-folder data sets (ImageNet-100 and the like): one subfolder per class, JPEG or PNG
//! files, decoded with the `image` crate, resized and center-cropped to a square resolution
//! (docs/training.md §8).
//!
//! Layout: `ROOT/train/<class>/*.{jpg,jpeg,png}` and `ROOT/val/<class>/…` (or `ROOT/test/`).
//! Classes are the subfolders of `train/`, sorted by name (label = rank); the test split must
//! hold the same class folders. Within a class, files are taken in sorted path order, and the
//! split interleaves the classes (first image of every class, then the second, …) so that the
//! first N images (`--limit-train N`) are balanced over the classes. Limits apply before
//! decoding: only the images used are read.
//!
//! Every image is converted to RGB, resized so that its shorter side is the resolution
//! (bilinear, `image`'s `Triangle` filter) and center-cropped to resolution × resolution; the
//! random crops of training are the augmentation's (`AugmentConfig`). Decoded images are held
//! in memory as `f32` for the whole run (that is the cache: each file is decoded once per run,
//! in parallel; nothing is written to disk).
//!
//! A file that is not `.jpg`, `.jpeg` or `.png` (any case), a subfolder inside a class
//! folder and a file directly in the split folder are skipped and returned in
//! [`FolderLoad::skipped`] so the caller can warn about them. A JPEG or PNG that does not
//! decode is an error naming its path: training on a silently shrunken data set would not be
//! the run the user asked for. A class folder without images, or a split without class
//! folders, is an error naming the folder.

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
        let (classes, mut train_skipped) = class_dirs(&train_dir)?;
        if classes.len() > MAX_CLASSES {
            return Err(DataError::format(
                &train_dir.display().to_string(),
                0,
                format!(
                    "{} class folders; at most {MAX_CLASSES} are supported",
                    classes.len()
                ),
            ));
        }
        let (test_classes, mut test_skipped) = class_dirs(&test_dir)?;
        if let Some(missing) = classes.iter().find(|c| !test_classes.contains(c)) {
            return Err(DataError::NotFound {
                dir: test_dir.join(missing),
                expected: format!(
                    "the class folder `{missing}` of {} (both splits need the same classes)",
                    train_dir.display()
                ),
            });
        }
        if let Some(extra) = test_classes.iter().find(|c| !classes.contains(c)) {
            return Err(DataError::NotFound {
                dir: train_dir.join(extra),
                expected: format!(
                    "the class folder `{extra}` of {} (both splits need the same classes)",
                    test_dir.display()
                ),
            });
        }
        let train = split_files(&train_dir, &classes, options.limit_train)?;
        let test = split_files(&test_dir, &classes, options.limit_test)?;
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
    /// count). `name` names the data set (`<name>/train`, `<name>/test`).
    pub fn load(self, name: &str, resolution: usize) -> Result<FolderLoad, DataError> {
        let classes = self.classes.len();
        let train = decode_split(&self.train, resolution, classes, &format!("{name}/train"))?;
        let test = decode_split(&self.test, resolution, classes, &format!("{name}/test"))?;
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
    FolderScan::new(root, options)?.load(&name, options.resolution)
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

/// The class folders of a split (sorted names) and the other entries of the split folder.
fn class_dirs(split: &Path) -> Result<(Vec<String>, Vec<PathBuf>), DataError> {
    let mut classes = Vec::new();
    let mut skipped = Vec::new();
    for p in read_dir_sorted(split)? {
        if p.is_dir() {
            classes.push(
                p.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            );
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
    classes: &[String],
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
                    "at least one image ({}) in the class folder `{class}`",
                    IMAGE_EXTENSIONS.map(|e| format!(".{e}")).join(", ")
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

fn decode_split(
    split: &FolderSplit,
    resolution: usize,
    classes: usize,
    name: &str,
) -> Result<Dataset, DataError> {
    let r = resolution;
    let mut images = Array4::<f32>::zeros((split.files.len(), 3, r, r));
    images
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(split.files.par_iter())
        .try_for_each(|(out, (path, _))| decode_into(path, r, out))?;
    let labels = split.files.iter().map(|&(_, l)| l).collect();
    Dataset::new(images, labels, classes, name)
}

/// Decodes `path`, resizes its shorter side to `r`, center-crops r×r and writes it as C×H×W
/// values in [0, 1].
fn decode_into(path: &Path, r: usize, mut out: ArrayViewMut3<'_, f32>) -> Result<(), DataError> {
    let origin = path.display().to_string();
    let bytes = fs::read(path).map_err(|source| DataError::Io {
        origin: origin.clone(),
        offset: 0,
        source,
    })?;
    let image = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| DataError::format(&origin, 0, format!("not a readable image: {e}")))?
        .decode()
        .map_err(|e| DataError::format(&origin, 0, format!("not a valid JPEG or PNG image: {e}")))?
        .to_rgb8();
    let (w, h) = image.dimensions();
    if w == 0 || h == 0 {
        return Err(DataError::format(&origin, 0, "the image has no pixels"));
    }
    let (nw, nh) = resized_dims(w as usize, h as usize, r);
    let resized = image::imageops::resize(
        &image,
        nw as u32,
        nh as u32,
        image::imageops::FilterType::Triangle,
    );
    let (left, top) = ((nw - r) / 2, (nh - r) / 2);
    for y in 0..r {
        for x in 0..r {
            let p = resized.get_pixel((left + x) as u32, (top + y) as u32);
            for c in 0..3 {
                out[[c, y, x]] = f32::from(p.0[c]) / 255.0;
            }
        }
    }
    Ok(())
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
