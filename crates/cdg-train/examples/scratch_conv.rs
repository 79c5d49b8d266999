use cdg_train::ops::direct::{Padded, forward, backward_data_into, backward_weight};
use cdg_train::ops::layout::to_nhwc;
use ndarray::Array4;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
fn cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}
fn main() {
    let batch: usize = std::env::args().nth(1).map_or(32, |s| s.parse().unwrap());
    let width: f64 = std::env::args().nth(2).map_or(1.0, |s| s.parse().unwrap());
    let old = std::env::args().nth(3).is_some();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for &(c, hw, s) in &[(64usize, 32usize, 1usize), (128, 16, 1), (256, 8, 1), (512, 4, 1), (64, 32, 2)] {
        let c = ((c as f64 * width).round() as usize).max(1);
        let co = if s == 2 { 2 * c } else { c };
        let w = Array4::<f32>::from_shape_simple_fn((co, c, 3, 3), || rng.random_range(-1.0..1.0));
        let x = to_nhwc(Array4::<f32>::from_shape_simple_fn((batch, c, hw, hw), || rng.random_range(-1.0..1.0)).view());
        let ho = hw / s;
        let dy = to_nhwc(Array4::<f32>::from_shape_simple_fn((batch, co, ho, ho), || rng.random_range(-1.0..1.0)).view());
        let flop = 2.0 * (batch * ho * ho * c * co * 9) as f64;
        let reps = 3;
        let t0 = cpu();
        for _ in 0..reps { let xp = Padded::new(&x.view(), [1, 1, 1, 1]); std::hint::black_box(forward(&xp, 0, &w.view(), s, (ho, ho))); }
        let tf = cpu() - t0;
        let t0 = cpu();
        let mut dx = vec![0f32; batch*hw*hw*c];
        for _ in 0..reps { backward_data_into(&dy.view(), &w.view(), s, 1, (hw, hw), &mut dx, c, 0); }
        let td = cpu() - t0;
        let t0 = cpu();
        for _ in 0..reps { let xp = Padded::new(&x.view(), [1, 1, 1, 1]); std::hint::black_box(backward_weight(&xp, 0, c, &dy.view(), (3, 3), s)); }
        let tw = cpu() - t0;
        let g = |t: f64| flop * reps as f64 / t / 1e9;
        print!("c {c} hw {hw} s {s}: fwd {:.0} dx {:.0} dw {:.0} GFLOP/s", g(tf), g(td), g(tw));
        if old {
            let xs = cdg_train::ops::layout::to_nchw(x.view());
            let dys = cdg_train::ops::layout::to_nchw(dy.view());
            let t0 = cpu();
            for _ in 0..reps { std::hint::black_box(cdg_train::ops::conv2d_forward(xs.view(), w.view(), None, s, 1)); }
            let tf = cpu() - t0;
            let t0 = cpu();
            for _ in 0..reps { std::hint::black_box(cdg_train::ops::conv2d_backward(xs.view(), w.view(), dys.view(), s, 1, true, false)); }
            let tb = cpu() - t0;
            print!(" | old fwd {:.0} bwd(dx+dw) {:.0}", g(tf), 2.0 * g(tb));
        }
        println!();
    }
}
