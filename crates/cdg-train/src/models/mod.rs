//! Backbones: the ResNet-18 CIFAR variant and a tiny ResNet for tests.

pub mod resnet;

pub use resnet::{ResNet, ResNetConfig, StageConfig};
