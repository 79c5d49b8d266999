//! Data sets: IDX and CIFAR binary readers, the built-in Fashion-MNIST subset,
//! normalisation, augmentation and deterministic mini-batching.

use ndarray::Array4;

/// One split of an image classification data set, NCHW.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Images as N×C×H×W.
    pub images: Array4<f32>,
    /// One class index per image.
    pub labels: Vec<u8>,
    /// Number of classes.
    pub classes: usize,
    /// Human-readable name, e.g. `fashion-mnist-subset/train`.
    pub name: String,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the split holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}
