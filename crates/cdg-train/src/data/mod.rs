//! Data sets: IDX and CIFAR binary readers, image folders (JPEG/PNG, one subfolder per
//! class), the built-in Fashion-MNIST subset, normalisation, augmentation and deterministic
//! mini-batching. Nothing is downloaded: every data set is read from a local path.
//!
//! Images are NCHW `f32` in [0, 1] as loaded; [`Normalization`] (per-channel mean and
//! standard deviation of the training split) is applied after augmentation, as the colour
//! operations work on [0, 1] pixels. IDX images smaller than 32×32 (MNIST, Fashion-MNIST)
//! are zero-padded to 32×32 on load so the CIFAR ResNet shapes hold.
//!
//! This module is the one place in `cdg-train` that reads files: [`load_path`],
//! [`load_builtin`], [`load_image_folder`] and [`DataSource::load`] (`source.rs` and
//! `folder.rs`). The parsers ([`parse_idx`], [`parse_cifar`])
//! take any `Read` plus an origin name for errors.

mod augment;
mod batch;
mod cifar;
mod error;
mod folder;
mod idx;
mod normalize;
pub mod rng;
mod source;

use ndarray::{Array4, ArrayView3, Axis, s};

pub use augment::{
    AugmentConfig, Augmenter, ColorJitter, CropMode, TwoViews, ViewGeometry, adjust_brightness,
    adjust_contrast, adjust_hue, adjust_saturation, augment_batch, augment_into, hflip,
    random_resized_crop_box, resized_crop_into, to_grayscale, two_views,
};
pub use batch::{BatchSampler, Remainder, epoch_permutation};
pub use cifar::{CIFAR_PIXELS, CifarKind, CifarRecords, parse_cifar};
pub use error::DataError;
pub use folder::{
    FolderLoad, FolderOptions, FolderScan, FolderSplit, IMAGE_EXTENSIONS, RESOLUTION_RANGE,
    TEST_SPLIT_DIRS, class_label, decode_image, image_working_bytes, load_image_folder,
    resized_dims,
};
pub use idx::{IdxArray, idx_images_to_f32, parse_idx, parse_idx_images, parse_idx_labels};
pub use normalize::Normalization;
pub use source::{
    BUILTIN_DIR_ENV, DEBIAN_FASHION_MNIST_DIR, DEFAULT_FOLDER_RESOLUTION, DataSource,
    IMAGE_FOLDER_PREFIX, LoadOptions, Loaded, builtin_dir, load_builtin, load_debian_fashion_mnist,
    load_path,
};

/// Side length every image is padded to when it is smaller (28×28 IDX images).
pub const PAD_TARGET: usize = 32;

/// One split of an image classification data set, NCHW.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Images as N×C×H×W, pixel values in [0, 1] as loaded.
    pub images: Array4<f32>,
    /// One class index per image.
    pub labels: Vec<u8>,
    /// Number of classes.
    pub classes: usize,
    /// Human-readable name, e.g. `fashion-mnist-subset/train`.
    pub name: String,
}

/// A mini-batch gathered from a [`Dataset`].
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Images, B×C×H×W.
    pub images: Array4<f32>,
    /// Labels, one per image.
    pub labels: Vec<u8>,
}

impl Dataset {
    /// Builds a data set, checking that images and labels agree and labels are in range.
    pub fn new(
        images: Array4<f32>,
        labels: Vec<u8>,
        classes: usize,
        name: impl Into<String>,
    ) -> Result<Self, DataError> {
        let name = name.into();
        if images.shape()[0] != labels.len() {
            return Err(DataError::CountMismatch {
                first: format!("{name} images"),
                first_count: images.shape()[0],
                second: format!("{name} labels"),
                second_count: labels.len(),
            });
        }
        if let Some((i, &l)) = labels
            .iter()
            .enumerate()
            .find(|&(_, &l)| usize::from(l) >= classes)
        {
            return Err(DataError::invalid(
                "Dataset::new",
                format!("{name}: label {l} of item {i} is out of range, expected < {classes}"),
            ));
        }
        Ok(Dataset {
            images,
            labels,
            classes,
            name,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the split holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Channels per image (1 for Fashion-MNIST, 3 for CIFAR).
    pub fn channels(&self) -> usize {
        self.images.shape()[1]
    }

    /// Image height in pixels.
    pub fn height(&self) -> usize {
        self.images.shape()[2]
    }

    /// Image width in pixels.
    pub fn width(&self) -> usize {
        self.images.shape()[3]
    }

    /// One image, C×H×W.
    pub fn image(&self, index: usize) -> Option<ArrayView3<'_, f32>> {
        (index < self.len()).then(|| self.images.index_axis(Axis(0), index))
    }

    /// Gathers the images and labels at `indices`, in that order.
    pub fn batch(&self, indices: &[usize]) -> Result<Batch, DataError> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(DataError::invalid(
                "Dataset::batch",
                format!(
                    "{}: index {bad} is out of range, the split holds {} images",
                    self.name,
                    self.len()
                ),
            ));
        }
        Ok(Batch {
            images: self.images.select(Axis(0), indices),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
        })
    }

    /// The first `n` images (all when `n` exceeds the length), e.g. for calibration.
    pub fn head(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            images: self.images.slice(s![..n, .., .., ..]).to_owned(),
            labels: self.labels[..n].to_vec(),
            classes: self.classes,
            name: self.name.clone(),
        }
    }

    /// Zero-pads every image to `size`×`size` (centred; an odd remainder goes to the bottom
    /// and right). Images already at least that large are returned unchanged.
    pub fn pad_to(self, size: usize) -> Dataset {
        let (n, c, h, w) = self.images.dim();
        if h >= size && w >= size {
            return self;
        }
        let (th, tw) = (h.max(size), w.max(size));
        let (top, left) = ((th - h) / 2, (tw - w) / 2);
        let mut padded = Array4::<f32>::zeros((n, c, th, tw));
        padded
            .slice_mut(s![.., .., top..top + h, left..left + w])
            .assign(&self.images);
        Dataset {
            images: padded,
            ..self
        }
    }
}

/// A training split and a test split of one data set.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSplit {
    /// Training images.
    pub train: Dataset,
    /// Test images.
    pub test: Dataset,
}

impl DataSplit {
    /// Per-channel mean and standard deviation of the training images.
    pub fn normalization(&self) -> Normalization {
        Normalization::fit(self.train.images.view())
    }

    /// Name of the data set (the training split's name without its `/train` suffix).
    pub fn name(&self) -> &str {
        self.train
            .name
            .strip_suffix("/train")
            .unwrap_or(&self.train.name)
    }
}
