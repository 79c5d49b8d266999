//! Finding and loading data sets on disk: IDX directories, CIFAR batch directories, image
//! folders (through [`super::folder`]), the built-in Fashion-MNIST subset and Debian's full
//! Fashion-MNIST. Nothing is ever downloaded: a data set that is not on disk is an error that
//! says where it was looked for.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::cifar::{CifarKind, CifarRecords, parse_cifar};
use super::folder::{FolderOptions, FolderScan};
use super::idx::{idx_images_to_f32, parse_idx_images, parse_idx_labels};
use super::{DataError, DataSplit, Dataset, PAD_TARGET};

/// Where Debian's `dataset-fashion-mnist` package installs the full set.
pub const DEBIAN_FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Environment variable that overrides the directory of the built-in subset.
pub const BUILTIN_DIR_ENV: &str = "CDG_BUILTIN_DATA";

/// The built-in subset's directory as laid out in the source tree, fixed at compile time.
///
/// The subset is read from the tree rather than embedded with `include_bytes!`: it is 5.2 MB
/// of gzip (above the few MB worth carrying in every binary and test executable that links
/// `cdg-train`), and keeping it a plain file lets `scripts/make_subset.py` and other tools
/// read the very same bytes. A binary used away from its source tree sets
/// [`BUILTIN_DIR_ENV`] or passes the directory as a path.
const BUILTIN_DIR_DEFAULT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../data/fashion-mnist-subset"
);

/// Classes of MNIST and Fashion-MNIST.
const IDX_CLASSES: usize = 10;

/// A data set choice as the command line and the training-config TOML spell it (`--data`,
/// `data = "…"`); serialised as that same string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum DataSource {
    /// The committed Fashion-MNIST subset (10 000 train / 2 000 test): `builtin`.
    Builtin,
    /// The full Fashion-MNIST of Debian's `dataset-fashion-mnist`: `debian-fashion-mnist`.
    DebianFashionMnist,
    /// A directory holding IDX or CIFAR binary files.
    Path(PathBuf),
    /// An image folder (`train/<class>/…`, `val/<class>/…`): `image-folder:PATH`.
    ImageFolder(PathBuf),
}

/// The prefix of an image-folder data source: `image-folder:PATH`.
pub const IMAGE_FOLDER_PREFIX: &str = "image-folder:";

/// Resolution of image-folder data sets when none is given (ImageNet's).
pub const DEFAULT_FOLDER_RESOLUTION: usize = 224;

/// How [`DataSource::load_with`] loads: image-folder resolution and split limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Image folders: side of the square images [default: [`DEFAULT_FOLDER_RESOLUTION`]].
    /// Other sources have a fixed size and ignore it (the caller checks it).
    pub resolution: Option<usize>,
    /// Use only the first N training images.
    pub limit_train: Option<usize>,
    /// Use only the first N test images.
    pub limit_test: Option<usize>,
    /// Image folders: memory the decoded images and those being decoded may take
    /// (`--max-memory`); `None`: unbounded.
    pub max_memory_bytes: Option<u64>,
}

/// A loaded data set and the entries of an image folder that were not read.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub split: DataSplit,
    /// Image folders: files that are not JPEG/PNG or not in a class folder (sorted).
    pub skipped: Vec<PathBuf>,
}

impl FromStr for DataSource {
    type Err = std::convert::Infallible;

    /// `builtin` and `debian-fashion-mnist` (also `fashion-mnist`) are names,
    /// `image-folder:PATH` an image folder; anything else is a path.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "builtin" => DataSource::Builtin,
            "debian-fashion-mnist" | "fashion-mnist" => DataSource::DebianFashionMnist,
            other => match other.strip_prefix(IMAGE_FOLDER_PREFIX) {
                Some(path) => DataSource::ImageFolder(PathBuf::from(path)),
                None => DataSource::Path(PathBuf::from(other)),
            },
        })
    }
}

impl From<String> for DataSource {
    fn from(s: String) -> Self {
        match s.parse() {
            Ok(source) => source,
            Err(never) => match never {},
        }
    }
}

impl From<DataSource> for String {
    fn from(source: DataSource) -> Self {
        source.to_string()
    }
}

impl Default for DataSource {
    /// The built-in subset.
    fn default() -> Self {
        DataSource::Builtin
    }
}

impl fmt::Display for DataSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSource::Builtin => f.write_str("builtin"),
            DataSource::DebianFashionMnist => f.write_str("debian-fashion-mnist"),
            DataSource::Path(p) => write!(f, "{}", p.display()),
            DataSource::ImageFolder(p) => write!(f, "{IMAGE_FOLDER_PREFIX}{}", p.display()),
        }
    }
}

impl DataSource {
    /// Loads both splits (image folders at [`DEFAULT_FOLDER_RESOLUTION`]).
    pub fn load(&self) -> Result<DataSplit, DataError> {
        Ok(self.load_with(&LoadOptions::default())?.split)
    }

    /// Loads both splits with `options`: the limits keep the first N images of each split
    /// (an image folder decodes only those).
    pub fn load_with(&self, options: &LoadOptions) -> Result<Loaded, DataError> {
        let (mut split, skipped) = match self {
            DataSource::Builtin => (load_builtin()?, Vec::new()),
            DataSource::DebianFashionMnist => (load_debian_fashion_mnist()?, Vec::new()),
            DataSource::Path(p) => (load_path(p)?, Vec::new()),
            DataSource::ImageFolder(p) => {
                let loaded = super::folder::load_image_folder(p, &folder_options(options))?;
                (loaded.split, loaded.skipped)
            }
        };
        if let Some(n) = options.limit_train {
            split.train = split.train.head(n);
        }
        if let Some(n) = options.limit_test {
            split.test = split.test.head(n);
        }
        Ok(Loaded { split, skipped })
    }

    /// Lists an image folder without decoding it (to check its decoded size first); `None`
    /// for the other sources.
    pub fn scan(&self, options: &LoadOptions) -> Result<Option<FolderScan>, DataError> {
        match self {
            DataSource::ImageFolder(p) => FolderScan::new(p, &folder_options(options)).map(Some),
            _ => Ok(None),
        }
    }
}

fn folder_options(options: &LoadOptions) -> FolderOptions {
    FolderOptions {
        resolution: options.resolution.unwrap_or(DEFAULT_FOLDER_RESOLUTION),
        limit_train: options.limit_train,
        limit_test: options.limit_test,
        max_memory_bytes: options.max_memory_bytes,
    }
}

/// Directory of the built-in subset: `$CDG_BUILTIN_DATA` when set, otherwise
/// `data/fashion-mnist-subset/` of the source tree this crate was compiled from.
pub fn builtin_dir() -> PathBuf {
    match std::env::var_os(BUILTIN_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(BUILTIN_DIR_DEFAULT),
    }
}

/// Loads the built-in Fashion-MNIST subset (first 10 000 train, first 2 000 test images),
/// padded to 32×32.
pub fn load_builtin() -> Result<DataSplit, DataError> {
    let dir = builtin_dir();
    load_idx_dir(&dir, "fashion-mnist-subset").map_err(|e| match e {
        DataError::NotFound { dir, expected } => DataError::NotFound {
            dir,
            expected: format!(
                "{expected} (the built-in subset ships in the repository's data/fashion-mnist-subset/; \
                 set {BUILTIN_DIR_ENV} to its location if the source tree moved)"
            ),
        },
        other => other,
    })
}

/// Loads the full Fashion-MNIST installed by Debian's `dataset-fashion-mnist`.
pub fn load_debian_fashion_mnist() -> Result<DataSplit, DataError> {
    load_idx_dir(Path::new(DEBIAN_FASHION_MNIST_DIR), "fashion-mnist").map_err(|e| match e {
        DataError::NotFound { dir, expected } => DataError::NotFound {
            dir,
            expected: format!("{expected} (install the Debian package dataset-fashion-mnist)"),
        },
        other => other,
    })
}

/// Loads the data set in directory `path`, recognised by its file names:
/// - IDX (MNIST, Fashion-MNIST): `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
///   `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each optionally `.gz`
///   (`.idx3-ubyte` spellings are accepted too); images padded to 32×32;
/// - CIFAR-10: `data_batch_1.bin` … `data_batch_5.bin` and `test_batch.bin`, in `path` or in
///   its `cifar-10-batches-bin/`;
/// - CIFAR-100: `train.bin` and `test.bin`, in `path` or in its `cifar-100-binary/`.
pub fn load_path(path: &Path) -> Result<DataSplit, DataError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| path.display().to_string());
    if find_idx(path, "train", "images", 3).is_some() {
        return load_idx_dir(path, &name);
    }
    for dir in [path.to_path_buf(), path.join("cifar-10-batches-bin")] {
        if dir.join("data_batch_1.bin").is_file() {
            return load_cifar10_dir(&dir, &name);
        }
    }
    for dir in [path.to_path_buf(), path.join("cifar-100-binary")] {
        if dir.join("train.bin").is_file() {
            return load_cifar100_dir(&dir, &name);
        }
    }
    if !path.is_dir() {
        return Err(DataError::NotFound {
            dir: path.to_path_buf(),
            expected: "an existing directory".to_owned(),
        });
    }
    let hint = if path.join("train").is_dir() {
        format!(
            " (for an image folder with train/<class>/ subfolders, pass `{IMAGE_FOLDER_PREFIX}{}`)",
            path.display()
        )
    } else {
        String::new()
    };
    Err(DataError::NotFound {
        dir: path.to_path_buf(),
        expected: format!(
            "IDX files (train-images-idx3-ubyte[.gz] …), CIFAR-10 batches (data_batch_1.bin …) \
             or CIFAR-100 files (train.bin, test.bin){hint}"
        ),
    })
}

/// The IDX file `<split>-<kind>-idx<dims>-ubyte[.gz]` (or `.idx<dims>-ubyte`) in `dir`.
fn find_idx(dir: &Path, split: &str, kind: &str, dims: u8) -> Option<PathBuf> {
    let stems = [
        format!("{split}-{kind}-idx{dims}-ubyte"),
        format!("{split}-{kind}.idx{dims}-ubyte"),
    ];
    stems
        .iter()
        .flat_map(|stem| [format!("{stem}.gz"), stem.clone()])
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
}

fn open(path: &Path) -> Result<File, DataError> {
    File::open(path).map_err(|source| DataError::Io {
        origin: path.display().to_string(),
        offset: 0,
        source,
    })
}

/// Errors name files by their full path, so a user with several copies knows which one.
fn origin_of(path: &Path) -> String {
    path.display().to_string()
}

fn load_idx_split(dir: &Path, split: &str, name: &str) -> Result<Dataset, DataError> {
    let missing = |kind: &str, dims: u8| DataError::NotFound {
        dir: dir.to_path_buf(),
        expected: format!("{split}-{kind}-idx{dims}-ubyte or {split}-{kind}-idx{dims}-ubyte.gz"),
    };
    let images_path = find_idx(dir, split, "images", 3).ok_or_else(|| missing("images", 3))?;
    let labels_path = find_idx(dir, split, "labels", 1).ok_or_else(|| missing("labels", 1))?;
    let images_origin = origin_of(&images_path);
    let labels_origin = origin_of(&labels_path);
    let images = parse_idx_images(open(&images_path)?, &images_origin)?;
    let labels = parse_idx_labels(open(&labels_path)?, &labels_origin, IDX_CLASSES)?;
    if images.items() != labels.len() {
        return Err(DataError::CountMismatch {
            first: images_origin,
            first_count: images.items(),
            second: labels_origin,
            second_count: labels.len(),
        });
    }
    let split_name = if split == "t10k" { "test" } else { split };
    let dataset = Dataset::new(
        idx_images_to_f32(&images),
        labels,
        IDX_CLASSES,
        format!("{name}/{split_name}"),
    )?;
    Ok(dataset.pad_to(PAD_TARGET))
}

fn load_idx_dir(dir: &Path, name: &str) -> Result<DataSplit, DataError> {
    let train = load_idx_split(dir, "train", name)?;
    let test = load_idx_split(dir, "t10k", name)?;
    check_same_shape(&train, &test)?;
    Ok(DataSplit { train, test })
}

fn read_cifar_files(files: &[PathBuf], kind: CifarKind) -> Result<CifarRecords, DataError> {
    let mut all: Option<CifarRecords> = None;
    for f in files {
        let records = parse_cifar(open(f)?, &origin_of(f), kind)?;
        match all.as_mut() {
            Some(a) => a.extend(records),
            None => all = Some(records),
        }
    }
    all.ok_or_else(|| DataError::invalid("read_cifar_files", "no file given"))
}

fn cifar_dataset(
    records: &CifarRecords,
    kind: CifarKind,
    name: String,
) -> Result<Dataset, DataError> {
    Dataset::new(
        records.images_f32(),
        records.labels().to_vec(),
        kind.classes(),
        name,
    )
}

fn load_cifar10_dir(dir: &Path, name: &str) -> Result<DataSplit, DataError> {
    let mut batches = Vec::new();
    for i in 1..=5 {
        let p = dir.join(format!("data_batch_{i}.bin"));
        if !p.is_file() {
            break;
        }
        batches.push(p);
    }
    let test_path = dir.join("test_batch.bin");
    if !test_path.is_file() {
        return Err(DataError::NotFound {
            dir: dir.to_path_buf(),
            expected: "test_batch.bin (CIFAR-10)".to_owned(),
        });
    }
    let train = read_cifar_files(&batches, CifarKind::Cifar10)?;
    let test = read_cifar_files(&[test_path], CifarKind::Cifar10)?;
    Ok(DataSplit {
        train: cifar_dataset(&train, CifarKind::Cifar10, format!("{name}/train"))?,
        test: cifar_dataset(&test, CifarKind::Cifar10, format!("{name}/test"))?,
    })
}

fn load_cifar100_dir(dir: &Path, name: &str) -> Result<DataSplit, DataError> {
    let test_path = dir.join("test.bin");
    if !test_path.is_file() {
        return Err(DataError::NotFound {
            dir: dir.to_path_buf(),
            expected: "test.bin (CIFAR-100)".to_owned(),
        });
    }
    let train = read_cifar_files(&[dir.join("train.bin")], CifarKind::Cifar100)?;
    let test = read_cifar_files(&[test_path], CifarKind::Cifar100)?;
    Ok(DataSplit {
        train: cifar_dataset(&train, CifarKind::Cifar100, format!("{name}/train"))?,
        test: cifar_dataset(&test, CifarKind::Cifar100, format!("{name}/test"))?,
    })
}

fn check_same_shape(train: &Dataset, test: &Dataset) -> Result<(), DataError> {
    let (a, b) = (&train.images.shape()[1..], &test.images.shape()[1..]);
    if a != b {
        return Err(DataError::invalid(
            "load",
            format!(
                "{} images are {a:?} (C, H, W) but {} images are {b:?}",
                train.name, test.name
            ),
        ));
    }
    Ok(())
}
