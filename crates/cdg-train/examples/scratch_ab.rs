use cdg_train::ops::{self, layout::{to_nhwc, to_nchw}};
use ndarray::Array4;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;
fn main() {
    let batch: usize = std::env::args().nth(1).map_or(32, |s| s.parse().unwrap());
    let width: f64 = std::env::args().nth(2).map_or(1.0, |s| s.parse().unwrap());
    let reps: usize = std::env::args().nth(3).map_or(7, |s| s.parse().unwrap());
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let (mut to, mut tn) = (0.0, 0.0);
    for &(c, hw, s) in &[(64usize, 32usize, 1usize), (128, 16, 1), (256, 8, 1), (512, 4, 1), (64, 32, 2)] {
        let c = ((c as f64 * width).round() as usize).max(1);
        let co = if s == 2 { 2 * c } else { c };
        let w = Array4::<f32>::from_shape_simple_fn((co, c, 3, 3), || rng.random_range(-1.0..1.0));
        let x = to_nhwc(Array4::<f32>::from_shape_simple_fn((batch, c, hw, hw), || rng.random_range(-1.0..1.0)).view());
        let ho = hw / s;
        let dy = to_nhwc(Array4::<f32>::from_shape_simple_fn((batch, co, ho, ho), || rng.random_range(-1.0..1.0)).view());
        let (xs, dys) = (to_nchw(x.view()), to_nchw(dy.view()));
        let mut best = [f64::MAX; 6];
        for _ in 0..reps {
            let t = Instant::now(); std::hint::black_box(ops::conv2d_forward_im2col(xs.view(), w.view(), None, s, 1)); best[0] = best[0].min(t.elapsed().as_secs_f64());
            let t = Instant::now(); std::hint::black_box(ops::conv2d_forward(x.view(), w.view(), None, s, 1)); best[1] = best[1].min(t.elapsed().as_secs_f64());
            let t = Instant::now(); std::hint::black_box(ops::conv2d_backward_im2col(xs.view(), w.view(), dys.view(), s, 1, true, false)); best[2] = best[2].min(t.elapsed().as_secs_f64());
            let t = Instant::now(); std::hint::black_box(ops::conv2d_backward(x.view(), w.view(), dy.view(), s, 1, true, false)); best[3] = best[3].min(t.elapsed().as_secs_f64());
            let t = Instant::now(); let xp = ops::direct::Padded::new(&x.view(), [1,1,1,1]); std::hint::black_box(ops::direct::backward_weight(&xp, 0, c, &dy.view(), (3,3), s)); best[4] = best[4].min(t.elapsed().as_secs_f64());
            let mut dx = vec![0f32; batch*hw*hw*c];
            let t = Instant::now(); ops::direct::backward_data_into(&dy.view(), &w.view(), s, 1, (hw, hw), &mut dx, c, 0); best[5] = best[5].min(t.elapsed().as_secs_f64());
        }
        let flop = 2.0 * (batch * ho * ho * c * co * 9) as f64 / 1e9;
        println!("c {c:4} hw {hw:2} s {s}: fwd old {:6.1} new {:6.1} GFLOP/s | bwd old {:6.1} new {:6.1} GFLOP/s (dw {:6.1} dx {:6.1})", flop/best[0], flop/best[1], 2.0*flop/best[2], 2.0*flop/best[3], flop/best[4], flop/best[5]);
        to += best[0] + best[2]; tn += best[1] + best[3];
    }
    println!("total old {:.1} ms new {:.1} ms: {:.2}x", to*1e3, tn*1e3, to/tn);
}
