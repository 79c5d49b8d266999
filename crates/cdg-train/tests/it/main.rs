//! Integration tests of `cdg-train`, compiled as one test binary, one module per topic.

mod data_augment;
mod data_folder;
mod data_readers;
mod eval_knn_probe;
mod gating_grad;
mod gating_masks;
mod grad_check;
mod models_optim;
mod options;
mod session;
mod skip_equivalence;
mod ssl_loss;
mod ssl_train;
