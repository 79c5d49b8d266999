use cdg_train::ops::direct::{Padded, forward};
use cdg_train::ops::layout::to_nhwc;
use cdg_train::skip::SkipConv;
use ndarray::Array4;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;
fn main() {
    let batch: usize = std::env::args().nth(1).map_or(256, |s| s.parse().unwrap());
    let c: usize = std::env::args().nth(2).map_or(16, |s| s.parse().unwrap());
    let hw: usize = std::env::args().nth(3).map_or(32, |s| s.parse().unwrap());
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let w = Array4::<f32>::from_shape_simple_fn((c, c, 3, 3), || rng.random_range(-1.0..1.0));
    let x0 = Array4::<f32>::from_shape_simple_fn((batch, c, hw, hw), || rng.random_range(-1.0..1.0));
    let x = to_nhwc(x0.view());
    let sc = SkipConv::new(w.view(), c.div_ceil(4), 1, 1, [16, 1, 1]);
    let flop = 2.0 * (batch * hw * hw * c * c * 9) as f64;
    let (mut a, mut b, mut p) = (f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..15 {
        let t = Instant::now(); std::hint::black_box(sc.forward_dense(x0.view())); a = a.min(t.elapsed().as_secs_f64());
        let t = Instant::now(); let xp = Padded::new(&x.view(), [1,1,1,1]); p = p.min(t.elapsed().as_secs_f64()); std::hint::black_box(forward(&xp, 0, &w.view(), 1, (hw, hw))); b = b.min(t.elapsed().as_secs_f64());
    }
    println!("skipconv dense {:.1} GFLOP/s, direct {:.1} GFLOP/s (pad {:.2} ms of {:.2} ms)", flop/a/1e9, flop/b/1e9, p*1e3, b*1e3);
}
