//! Backbones: ResNet-18 (CIFAR or ImageNet stem) and a tiny ResNet for tests.

pub mod pool;
pub mod resnet;

pub use pool::MaxPool2d;
pub use resnet::{MemoryEstimate, ResNet, ResNetConfig, StageConfig, Stem};
