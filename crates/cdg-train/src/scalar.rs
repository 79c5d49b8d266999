//! The element type of the engine's kernels.
//!
//! Every kernel and layer is generic over [`Scalar`] so that gradient checks can run the exact
//! same code in `f64` (finite differences in `f32` are too noisy to verify 1e-3 relative error);
//! training uses `f32`, the default type parameter everywhere.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, NdFloat};

/// `f32` or `f64`: what the engine computes in.
pub trait Scalar: NdFloat + num_traits::Float + Default + Send + Sync + 'static {
    /// Converts an `f64` constant (learning rates, epsilons) to this type.
    fn of(x: f64) -> Self;
    /// Widens to `f64` for reductions that accumulate in double precision.
    fn as_f64(self) -> f64;
}

impl Scalar for f32 {
    #[inline]
    fn of(x: f64) -> Self {
        x as f32
    }
    #[inline]
    fn as_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Scalar for f64 {
    #[inline]
    fn of(x: f64) -> Self {
        x
    }
    #[inline]
    fn as_f64(self) -> f64 {
        self
    }
}

/// `c ← alpha·a·b + beta·c` for any strides (transposed views cost nothing).
///
/// This is the engine's single GEMM entry point: ndarray lowers it to `matrixmultiply`'s
/// `sgemm`/`dgemm`, which (with the `threading` feature) splits the output over up to
/// `MATMUL_NUM_THREADS` threads (default: physical cores) but never splits the `k` sum, so
/// results do not depend on the thread count. The backend was chosen by measurement, see
/// `benches/conv.rs` and BENCHMARKS.md.
#[inline]
pub fn gemm<T: Scalar>(
    alpha: T,
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    beta: T,
    mut c: ArrayViewMut2<'_, T>,
) {
    general_mat_mul(alpha, &a, &b, beta, &mut c);
}
