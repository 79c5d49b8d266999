//! Kernels on arrays: no parameters, no state. Layers in [`crate::layers`] own parameters and
//! caches and call these. Every function is generic over [`crate::Scalar`] (`f32`, `f64`) and
//! every backward is checked against finite differences in `f64` (`tests/it/grad_check.rs`).

pub mod conv;
pub mod direct;
pub mod elementwise;
pub mod kernel;
pub mod layout;
pub mod linear;
pub mod loss;
pub mod norm;
pub mod sigmoid;

pub use conv::{
    Conv2dGrads, ConvGeom, col2im, col2im_ld, conv2d_backward, conv2d_backward_im2col,
    conv2d_backward_padded, conv2d_direct, conv2d_forward, conv2d_forward_im2col, group_size,
    im2col, im2col_ld, padded_ld,
};
pub use elementwise::{
    add, add_assign, global_avg_pool, global_avg_pool_backward, relu, relu_backward,
    relu_backward_mask, relu_inplace,
};
pub use linear::{LinearGrads, linear_backward, linear_forward};
pub use loss::{
    CrossEntropy, cosine_similarity, cosine_similarity_backward, l2_normalize,
    l2_normalize_backward, softmax_cross_entropy,
};
pub use norm::{
    Affine, AffineGrads, BatchNormCache, BatchNormGrads, BatchStats, batch_norm_backward,
    batch_norm_eval, batch_norm_train, batch_stats, bn_apply, bn_backward, channel_sums_f64,
    inv_std, standardize,
};
