//! Deterministic random helpers shared by batching and augmentation.
//!
//! Everything random in `data` derives from one `u64` seed through [`derive_seed`] and
//! ChaCha8 streams, and turns raw `u64`/`u32` draws into numbers with the fixed formulas
//! below (not `rand`'s distributions), so results do not change with thread order or with
//! the `rand` version.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// SplitMix64 finaliser: a bijective mix of 64 bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seed derived from `seed` and a path of indices (e.g. `[epoch]`, `[epoch, step]`).
pub fn derive_seed(seed: u64, path: &[u64]) -> u64 {
    path.iter().fold(mix(seed), |acc, &p| {
        mix(acc ^ mix(p.wrapping_add(0x6a09_e667_f3bc_c909)))
    })
}

/// A ChaCha8 generator for `seed` and a path of indices.
pub fn rng_for(seed: u64, path: &[u64]) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(derive_seed(seed, path))
}

/// Uniform in [0, 1) with 24 random bits.
pub fn unit_f32(rng: &mut impl RngCore) -> f32 {
    (rng.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// Uniform in [lo, hi) (exactly `lo` when `hi <= lo`).
pub fn uniform_f32(rng: &mut impl RngCore, lo: f32, hi: f32) -> f32 {
    if hi <= lo {
        lo
    } else {
        lo + (hi - lo) * unit_f32(rng)
    }
}

/// Uniform integer in [0, n) by the multiply-high method (bias below 2⁻³² for n < 2³²);
/// 0 when `n` is 0.
pub fn below(rng: &mut impl RngCore, n: usize) -> usize {
    ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize
}

/// True with probability `p` (always draws once, so the stream stays aligned).
pub fn chance(rng: &mut impl RngCore, p: f32) -> bool {
    unit_f32(rng) < p
}

/// Fisher–Yates shuffle with [`below`].
pub fn shuffle<T>(rng: &mut impl RngCore, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = below(rng, i + 1);
        items.swap(i, j);
    }
}
