use cdg_train::ops::{self, layout::to_nhwc};
use ndarray::Array4;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
fn cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}
fn main() {
    let a: Vec<usize> = std::env::args().skip(1).map(|s| s.parse().unwrap()).collect();
    let (batch, c, hw, what, reps) = (a[0], a[1], a[2], a[3], a[4]);
    let s = 1;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let w = Array4::<f32>::from_shape_simple_fn((c, c, 3, 3), || rng.random_range(-1.0..1.0));
    let x = to_nhwc(Array4::<f32>::from_shape_simple_fn((batch, c, hw, hw), || rng.random_range(-1.0..1.0)).view());
    let dy = to_nhwc(Array4::<f32>::from_shape_simple_fn((batch, c, hw, hw), || rng.random_range(-1.0..1.0)).view());
    let xp = ops::direct::Padded::new(&x.view(), [1,1,1,1]);
    let mut dx = vec![0f32; batch*hw*hw*c];
    let flop = 2.0 * (batch * hw * hw * c * c * 9) as f64 / 1e9;
    let t0 = cpu();
    for _ in 0..reps {
        match what {
            0 => { std::hint::black_box(ops::direct::forward(&xp, 0, &w.view(), s, (hw, hw))); }
            1 => ops::direct::backward_data_into(&dy.view(), &w.view(), s, 1, (hw, hw), &mut dx, c, 0),
            _ => { std::hint::black_box(ops::direct::backward_weight(&xp, 0, c, &dy.view(), (3,3), s)); }
        }
    }
    let t = cpu() - t0;
    println!("{} c {c} hw {hw}: {:.1} GFLOP/s per CPU-s ({:.2} s)", ["fwd","dx","dw"][what.min(2)], flop * reps as f64 / t, t);
}
