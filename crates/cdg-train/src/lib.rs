//! `cdg-train`: an ndarray CNN engine (kernels in [`ops`], layers with hand-written backward
//! passes in [`layers`], ResNet backbones in [`models`], SGD in [`optim`], checkpoints in
//! [`checkpoint`]) and the training loops built on it. Kernels are generic over [`Scalar`]
//! (`f32` for training, `f64` for gradient checks). No I/O happens here except through the
//! byte buffers that [`checkpoint`] encodes.
//!
//! ```
//! use cdg_train::layers::{Mode, Module};
//! use cdg_train::models::{ResNet, ResNetConfig};
//! use rand::SeedableRng;
//! # fn main() -> Result<(), cdg_train::TrainError> {
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let mut net = ResNet::<f32>::new(&ResNetConfig::tiny(1, Some(10)), &mut rng)?;
//! let x = ndarray::Array4::<f32>::zeros((2, 1, 32, 32));
//! let logits = net.forward(x.view(), Mode::Train)?;
//! let ce = cdg_train::ops::softmax_cross_entropy(logits.view(), &[3, 7]);
//! net.zero_grad();
//! net.backward(ce.dlogits.view())?;
//! assert_eq!(logits.dim(), (2, 10));
//! # Ok(())
//! # }
//! ```

pub mod checkpoint;
pub mod data;
pub mod error;
pub mod eval;
pub mod gating;
pub mod gradcheck;
pub mod layers;
pub mod models;
pub mod ops;
pub mod optim;
pub mod scalar;
pub mod session;
pub mod skip;
pub mod ssl;
pub mod train;

pub use error::{Result, TrainError};
pub use scalar::Scalar;
