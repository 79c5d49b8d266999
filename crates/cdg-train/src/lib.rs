//! `cdg-train`: an ndarray CNN engine (kernels in [`ops`], layers with hand-written backward
//! passes in [`layers`], ResNet backbones in [`models`], SGD in [`optim`], checkpoints in
//! [`checkpoint`]) and the training built on it: the SSL trainer with Contrastive Dual Gating
//! ([`ssl::SslTrainer`]), the supervised trainer ([`train::SupervisedTrainer`]) and the epoch
//! loops of `cdg train` ([`session::SslSession`], [`session::SupervisedSession`]: resume,
//! early stop, metrics rows, typed summaries). Kernels are generic over [`Scalar`] (`f32` for
//! training, `f64` for gradient checks). Nothing here touches the file system except
//! [`data`]'s readers of data sets: checkpoints are byte buffers, and a session hands its
//! outputs to a [`session::Observer`] the caller implements. Every option of a run is a field
//! of [`TrainOptions`]. The `clap` feature derives `clap::Args` on [`TrainOptions`] and
//! `clap::ValueEnum` on the option enums ([`ssl::Objective`], [`ssl::Gating`],
//! [`ssl::ThresholdKind`], [`gating::Granularity`], [`gating::ConsistencyAlign`]).
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
mod gemm_backend;
pub mod gradcheck;
pub mod layers;
pub mod models;
pub mod ops;
pub mod optim;
pub mod options;
pub mod scalar;
pub mod session;
pub mod skip;
pub mod ssl;
pub mod train;

pub use error::{Result, TrainError};
pub use options::TrainOptions;
pub use scalar::Scalar;
