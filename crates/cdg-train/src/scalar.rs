//! The element type of the engine's kernels.
//!
//! Every kernel and layer is generic over [`Scalar`] so that gradient checks can run the exact
//! same code in `f64` (finite differences in `f32` are too noisy to verify 1e-3 relative error);
//! training uses `f32`, the default type parameter everywhere. `Scalar` is numeric only: which
//! instruction set a kernel runs on is chosen in [`crate::ops`] (`ops/kernel.rs`).

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
/// This is the engine's single GEMM entry point. It calls the pure-Rust `gemm` crate, which
/// splits the output over rayon's thread pool (the same pool the other kernels use, so
/// threads never compete) and never splits the `k` sum: each output element is accumulated
/// in the same order whatever the thread count. The backend was chosen by measurement (see
/// `benches/conv.rs` and BENCHMARKS.md).
///
/// # Panics
/// When the shapes do not chain (`a` m×k, `b` k×n, `c` m×n).
pub fn gemm<T: Scalar>(
    alpha: T,
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    beta: T,
    mut c: ArrayViewMut2<'_, T>,
) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert!(
        k == k2 && c.dim() == (m, n),
        "gemm: {m}×{k} · {k2}×{n} into {:?}",
        c.dim()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.mapv_inplace(|v| v * beta);
        return;
    }
    let (ars, acs) = (a.strides()[0], a.strides()[1]);
    let (brs, bcs) = (b.strides()[0], b.strides()[1]);
    let (crs, ccs) = (c.strides()[0], c.strides()[1]);
    // SAFETY: the pointers and strides come from live ndarray views whose shapes were checked
    // above to chain; `c` is borrowed mutably and cannot alias `a` or `b`. The `gemm` crate's
    // convention is dst ← alpha·dst + beta·lhs·rhs, so our (alpha, beta) are swapped.
    unsafe {
        crate::gemm_backend::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            ccs,
            crs,
            beta != T::zero(),
            a.as_ptr(),
            acs,
            ars,
            b.as_ptr(),
            bcs,
            brs,
            beta,
            alpha,
            false,
            false,
            false,
            crate::gemm_backend::Parallelism::Rayon(0),
        );
    }
}
