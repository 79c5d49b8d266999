//! Finite-difference checks (f64) of the SSL objectives: NT-Xent and SimSiam's negative
//! cosine (the gradient reaches p only: stop-gradient on z).

use cdg_train::gradcheck::check_input;
use cdg_train::ssl::{nt_xent, simsiam_loss};
use ndarray::{Array2, ArrayD, Ix2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn rand2(rng: &mut ChaCha8Rng, d: (usize, usize)) -> Array2<f64> {
    Array2::from_shape_simple_fn(d, || rng.random_range(-1.0..1.0))
}

#[test]
fn nt_xent_gradient_matches_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for (b, d, t) in [(1, 3, 0.5), (3, 5, 0.2), (4, 8, 0.1)] {
        let z = rand2(&mut rng, (2 * b, d));
        let (_, dz) = nt_xent(z.view(), t).expect("loss");
        let rep = check_input(
            &mut |v: &ArrayD<f64>| {
                nt_xent(
                    v.clone().into_dimensionality::<Ix2>().expect("2-D").view(),
                    t,
                )
                .expect("loss")
                .0
            },
            &z.clone().into_dyn(),
            &dz.into_dyn(),
            1e-6,
            64,
        );
        assert!(rep.max_rel_error < 1e-4, "B={b}: {rep:?}");
    }
}

#[test]
fn nt_xent_matches_its_definition() {
    // B = 1: two rows, one positive, no negatives: loss = −s/τ + log(exp(s/τ)) = 0.
    let z = Array2::from_shape_vec((2, 2), vec![1.0f64, 0.0, 0.6, 0.8]).expect("shape");
    assert!(nt_xent(z.view(), 0.2).expect("loss").0.abs() < 1e-12);
    // B = 2 with orthonormal rows except positives identical: each row's positive has
    // similarity 1, its two negatives 0.
    let z = Array2::from_shape_vec((4, 2), vec![1.0f64, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0])
        .expect("shape");
    let t = 0.5;
    let want = -(1.0 / t) + ((1.0f64 / t).exp() + 2.0).ln();
    let got = nt_xent(z.view(), t).expect("loss").0;
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    assert!(
        nt_xent(z.slice(ndarray::s![..3, ..]), t).is_err(),
        "odd batch refused"
    );
}

#[test]
fn simsiam_gradient_matches_finite_differences_with_stop_gradient() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let p = rand2(&mut rng, (6, 5));
    let z = rand2(&mut rng, (6, 5));
    let (loss, dp) = simsiam_loss(p.view(), z.view()).expect("loss");
    assert!((-1.0..=1.0).contains(&loss));
    let rep = check_input(
        &mut |v: &ArrayD<f64>| {
            simsiam_loss(
                v.clone().into_dimensionality::<Ix2>().expect("2-D").view(),
                z.view(),
            )
            .expect("loss")
            .0
        },
        &p.clone().into_dyn(),
        &dp.into_dyn(),
        1e-6,
        30,
    );
    assert!(rep.max_rel_error < 1e-4, "{rep:?}");
    // Perfect prediction of the partner: loss −1.
    let zz = ndarray::concatenate(
        ndarray::Axis(0),
        &[z.slice(ndarray::s![3.., ..]), z.slice(ndarray::s![..3, ..])],
    )
    .expect("cat");
    let (l, _) = simsiam_loss(zz.view(), z.view()).expect("loss");
    assert!((l + 1.0).abs() < 1e-12);
}
