//! The f32 and f64 GEMM kernels of the pure-Rust `gemm` family, called directly.
//!
//! The `gemm` crate itself is a type dispatcher over `gemm-f32`, `gemm-f64`, `gemm-c32` and
//! `gemm-c64`; depending on it compiles the complex-number kernels too, which cdg never calls
//! (a fifth of a fresh release build's CPU time, BENCHMARKS.md). [`gemm`] is its dispatcher
//! restricted to `f32`/`f64`: the same stride normalisation (`gemm` 0.19, `src/gemm.rs`,
//! `gemm`) followed by the same kernel (`gemm_f32::gemm::f32::get_gemm_fn`), so
//! every result is bit for bit what `gemm::gemm` computes.

use std::any::TypeId;

pub use gemm_common::Parallelism;

/// `dst ← alpha·dst + beta·lhs·rhs` (`dst` read only when `read_dst`), `m`×`n` by a `k` sum,
/// for `T` = `f32` or `f64`; strides in elements, column stride first: `gemm::gemm`'s
/// signature, whose conjugation flags must be `false` (real matrices).
///
/// # Safety
/// The pointers and strides must describe valid `m`×`k`, `k`×`n` and `m`×`n` matrices, `dst`
/// writable and aliasing neither operand (as for `gemm::gemm`).
///
/// # Panics
/// When `T` is neither `f32` nor `f64`, or a conjugation flag is set.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm<T: 'static + Copy>(
    m: usize,
    n: usize,
    k: usize,
    mut dst: *mut T,
    dst_cs: isize,
    dst_rs: isize,
    read_dst: bool,
    lhs: *const T,
    lhs_cs: isize,
    lhs_rs: isize,
    rhs: *const T,
    rhs_cs: isize,
    rhs_rs: isize,
    alpha: T,
    beta: T,
    conj_dst: bool,
    conj_lhs: bool,
    conj_rhs: bool,
    parallelism: Parallelism,
) {
    assert!(
        !(conj_dst || conj_lhs || conj_rhs),
        "gemm_backend::gemm: real matrices have no conjugate"
    );
    // The microkernels prefer a column-major destination: transpose when it is row-major.
    let (
        m,
        n,
        mut dst_cs,
        mut dst_rs,
        mut lhs,
        mut lhs_cs,
        mut lhs_rs,
        mut rhs,
        mut rhs_cs,
        mut rhs_rs,
    ) = if dst_cs.abs() < dst_rs.abs() {
        (
            n, m, dst_rs, dst_cs, rhs, rhs_rs, rhs_cs, lhs, lhs_rs, lhs_cs,
        )
    } else {
        (
            m, n, dst_cs, dst_rs, lhs, lhs_cs, lhs_rs, rhs, rhs_cs, rhs_rs,
        )
    };
    if dst_rs < 0 && m > 0 {
        dst = dst.wrapping_offset((m - 1) as isize * dst_rs);
        dst_rs = -dst_rs;
        lhs = lhs.wrapping_offset((m - 1) as isize * lhs_rs);
        lhs_rs = -lhs_rs;
    }
    if dst_cs < 0 && n > 0 {
        dst = dst.wrapping_offset((n - 1) as isize * dst_cs);
        dst_cs = -dst_cs;
        rhs = rhs.wrapping_offset((n - 1) as isize * rhs_cs);
        rhs_cs = -rhs_cs;
    }
    if lhs_cs < 0 && k > 0 {
        lhs = lhs.wrapping_offset((k - 1) as isize * lhs_cs);
        lhs_cs = -lhs_cs;
        rhs = rhs.wrapping_offset((k - 1) as isize * rhs_rs);
        rhs_rs = -rhs_rs;
    }
    // SAFETY: `T` is checked to be the kernel's element type before each cast; the matrices
    // are the caller's (see # Safety), only re-described.
    unsafe {
        if TypeId::of::<T>() == TypeId::of::<f32>() {
            gemm_f32::gemm::f32::get_gemm_fn()(
                m,
                n,
                k,
                dst.cast(),
                dst_cs,
                dst_rs,
                read_dst,
                lhs.cast(),
                lhs_cs,
                lhs_rs,
                rhs.cast(),
                rhs_cs,
                rhs_rs,
                *(&alpha as *const T).cast::<f32>(),
                *(&beta as *const T).cast::<f32>(),
                false,
                false,
                false,
                parallelism,
            )
        } else if TypeId::of::<T>() == TypeId::of::<f64>() {
            gemm_f64::gemm::f64::get_gemm_fn()(
                m,
                n,
                k,
                dst.cast(),
                dst_cs,
                dst_rs,
                read_dst,
                lhs.cast(),
                lhs_cs,
                lhs_rs,
                rhs.cast(),
                rhs_cs,
                rhs_rs,
                *(&alpha as *const T).cast::<f64>(),
                *(&beta as *const T).cast::<f64>(),
                false,
                false,
                false,
                parallelism,
            )
        } else {
            panic!("gemm_backend::gemm: only f32 and f64 are supported")
        }
    }
}
