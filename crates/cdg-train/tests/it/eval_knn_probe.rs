//! kNN classifier and linear probe on hand-made and random features.

use cdg_train::eval::{
    EvalError, KnnConfig, ProbeConfig, accuracy, argmax_rows, knn_accuracy, knn_predict,
    linear_probe, top1_accuracy, train_linear_probe,
};
use ndarray::{Array2, array};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

fn gaussian(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((rows, cols), || rng.sample::<f32, _>(StandardNormal))
}

/// `per_class` points around each of `classes` random centres, with noise `spread`.
fn clusters(
    classes: usize,
    per_class: usize,
    dim: usize,
    spread: f32,
    seed: u64,
) -> (Array2<f32>, Vec<u8>) {
    let centres = gaussian(classes, dim, seed) * 4.0;
    let noise = gaussian(classes * per_class, dim, seed + 1) * spread;
    let mut x = Array2::zeros((classes * per_class, dim));
    let mut y = Vec::new();
    for i in 0..classes * per_class {
        let c = i % classes;
        x.row_mut(i).assign(&(&centres.row(c) + &noise.row(i)));
        y.push(c as u8);
    }
    (x, y)
}

/// The definition, written the slow way: every similarity in f64, a full sort, a vote.
fn naive_knn(
    bank: &Array2<f32>,
    labels: &[u8],
    queries: &Array2<f32>,
    classes: usize,
    k: usize,
    t: f64,
) -> Vec<u8> {
    let unit = |r: ndarray::ArrayView1<f32>| {
        let n = r.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt();
        r.iter().map(|&v| f64::from(v) / n).collect::<Vec<f64>>()
    };
    let bank: Vec<Vec<f64>> = bank.rows().into_iter().map(unit).collect();
    queries
        .rows()
        .into_iter()
        .map(|q| {
            let q = unit(q);
            let mut sims: Vec<(f64, usize)> = bank
                .iter()
                .enumerate()
                .map(|(i, b)| (q.iter().zip(b).map(|(a, b)| a * b).sum(), i))
                .collect();
            sims.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut votes = vec![0.0; classes];
            for &(s, i) in sims.iter().take(k) {
                votes[labels[i] as usize] += (s / t).exp();
            }
            let mut best = 0;
            for c in 0..classes {
                if votes[c] > votes[best] {
                    best = c;
                }
            }
            best as u8
        })
        .collect()
}

#[test]
fn knn_on_separated_clusters_is_perfect() {
    let (bank, bank_y) = clusters(5, 40, 16, 0.3, 1);
    let (queries, query_y) = clusters(5, 20, 16, 0.3, 1);
    let acc = knn_accuracy(
        bank.view(),
        &bank_y,
        queries.view(),
        &query_y,
        5,
        &KnnConfig::default(),
    )
    .unwrap();
    assert_eq!(acc, 1.0);
}

#[test]
fn knn_matches_the_naive_definition() {
    let classes = 7;
    let bank = gaussian(500, 24, 3);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let labels: Vec<u8> = (0..500)
        .map(|_| rng.random_range(0..classes as u8))
        .collect();
    let queries = gaussian(300, 24, 5);
    for (k, chunk) in [(200, 64), (1, 7), (13, 300), (1000, 256)] {
        let cfg = KnnConfig {
            k,
            temperature: 0.1,
            chunk,
        };
        let fast = knn_predict(bank.view(), &labels, queries.view(), classes, &cfg).unwrap();
        let slow = naive_knn(&bank, &labels, &queries, classes, k.min(500), 0.1);
        let agree = fast.iter().zip(&slow).filter(|(a, b)| a == b).count();
        // Similarities differ from the f64 reference in the last bits only; allow one
        // near-tie to flip.
        assert!(agree >= 299, "k = {k}: {agree} of 300 agree");
    }
}

#[test]
fn knn_is_scale_invariant_and_breaks_ties_low() {
    // Query equidistant from one point of class 1 and one of class 0: class 0 wins.
    let bank = array![[1.0f32, 0.0], [0.0, 1.0]];
    let labels = [1u8, 0];
    let q = array![[1.0f32, 1.0], [10.0, 0.1], [0.0, 5.0]];
    let cfg = KnnConfig {
        k: 1,
        ..KnnConfig::default()
    };
    let p = knn_predict(bank.view(), &labels, q.view(), 2, &cfg).unwrap();
    assert_eq!(
        p,
        vec![1, 1, 0],
        "k = 1: equal similarity, lower bank index (class 1) first"
    );
    let p = knn_predict(bank.view(), &labels, q.view(), 2, &KnnConfig::default()).unwrap();
    assert_eq!(p, vec![0, 1, 0], "k = 2: equal votes go to the lower class");
    let scaled = &bank * 100.0;
    assert_eq!(
        knn_predict(scaled.view(), &labels, q.view(), 2, &KnnConfig::default()).unwrap(),
        p
    );
}

#[test]
fn knn_refuses_inconsistent_input() {
    let bank = gaussian(4, 3, 0);
    let q = gaussian(2, 3, 1);
    let cfg = KnnConfig::default();
    let e = knn_predict(bank.view(), &[0, 1, 2], q.view(), 3, &cfg).unwrap_err();
    assert!(
        e.to_string().contains("bank has 4 rows but 3 labels"),
        "{e}"
    );
    let e = knn_predict(bank.view(), &[0, 1, 2, 3], q.view(), 3, &cfg).unwrap_err();
    assert!(
        matches!(
            e,
            EvalError::Label {
                label: 3,
                row: 3,
                classes: 3,
                ..
            }
        ),
        "{e}"
    );
    let q4 = gaussian(2, 4, 1);
    assert!(knn_predict(bank.view(), &[0; 4], q4.view(), 3, &cfg).is_err());
    let zero_k = KnnConfig { k: 0, ..cfg };
    assert!(knn_predict(bank.view(), &[0; 4], q.view(), 3, &zero_k).is_err());
    assert!(knn_accuracy(bank.view(), &[0; 4], q.view(), &[0], 3, &cfg).is_err());
}

#[test]
fn linear_probe_separates_linearly_separable_data() {
    // Labels from a fixed random linear map of Gaussian features: separable by construction,
    // but not by a clustering of the inputs.
    let x = gaussian(3000, 32, 10);
    let w_true = gaussian(4, 32, 11);
    let y: Vec<u8> = argmax_rows(x.dot(&w_true.t()).view())
        .into_iter()
        .map(|c| c as u8)
        .collect();
    let (train_x, test_x) = (
        x.slice(ndarray::s![..2500, ..]),
        x.slice(ndarray::s![2500.., ..]),
    );
    let cfg = ProbeConfig {
        epochs: 60,
        ..ProbeConfig::default()
    };
    let report = linear_probe(train_x, &y[..2500], test_x, &y[2500..], 4, &cfg).unwrap();
    assert!(report.train_accuracy > 0.97, "{report:?}");
    assert!(report.test_accuracy > 0.95, "{report:?}");
    assert!(report.final_loss < 0.2, "{report:?}");
}

#[test]
fn linear_probe_is_deterministic() {
    let (x, y) = clusters(3, 100, 8, 2.0, 20);
    let cfg = ProbeConfig {
        epochs: 5,
        batch: 32,
        ..ProbeConfig::default()
    };
    let (a, la) = train_linear_probe(x.view(), &y, 3, &cfg).unwrap();
    let (b, lb) = train_linear_probe(x.view(), &y, 3, &cfg).unwrap();
    assert_eq!(a, b);
    assert_eq!(la.to_bits(), lb.to_bits());
    let (c, _) = train_linear_probe(x.view(), &y, 3, &ProbeConfig { seed: 1, ..cfg }).unwrap();
    assert_ne!(
        a.weight, c.weight,
        "another shuffle seed gives other weights"
    );
}

#[test]
fn probe_refuses_inconsistent_input() {
    let x = gaussian(10, 3, 0);
    assert!(train_linear_probe(x.view(), &[0; 9], 2, &ProbeConfig::default()).is_err());
    assert!(train_linear_probe(x.view(), &[5; 10], 2, &ProbeConfig::default()).is_err());
    let bad = ProbeConfig {
        lr: f32::NAN,
        ..ProbeConfig::default()
    };
    assert!(train_linear_probe(x.view(), &[0; 10], 2, &bad).is_err());
    let (probe, _) = train_linear_probe(
        x.view(),
        &[0; 10],
        2,
        &ProbeConfig {
            epochs: 1,
            ..ProbeConfig::default()
        },
    )
    .unwrap();
    assert!(probe.predict(gaussian(2, 4, 1).view()).is_err());
}

#[test]
fn accuracy_helpers() {
    assert_eq!(accuracy(&[1, 2, 3, 4], &[1, 2, 0, 4]).unwrap(), 0.75);
    assert_eq!(accuracy(&[], &[]).unwrap(), 0.0);
    assert!(accuracy(&[1], &[1, 2]).is_err());
    let scores = array![[0.1f32, 0.9, 0.9], [f32::NAN, 0.0, -1.0], [3.0, 2.0, 1.0]];
    assert_eq!(argmax_rows(scores.view()), vec![1, 1, 0]);
    assert!((top1_accuracy(scores.view(), &[1, 0, 0]).unwrap() - 2.0 / 3.0).abs() < 1e-12);
}

/// End to end on real data: raw pixels of the built-in subset as "features". Published
/// figures for raw-pixel Fashion-MNIST classifiers (full 60k training set) are ≈ 85 % for
/// small-k kNN and ≈ 84 % for logistic regression; the 10k subset scores a little lower.
/// With k = 200 and T = 0.1 (tuned for SSL features) raw-pixel cosine similarities are all
/// close to 1, the weights nearly equal, and the vote is a wide majority: lower accuracy.
#[test]
fn knn_and_probe_on_builtin_raw_pixels() {
    let split = cdg_train::data::load_builtin().unwrap();
    let flat = |d: &cdg_train::data::Dataset| {
        let n = d.len();
        d.images
            .to_shape((n, d.channels() * d.height() * d.width()))
            .unwrap()
            .to_owned()
    };
    let (train_x, test_x) = (flat(&split.train), flat(&split.test));
    let knn_at = |k: usize| {
        let cfg = KnnConfig {
            k,
            ..KnnConfig::default()
        };
        knn_accuracy(
            train_x.view(),
            &split.train.labels,
            test_x.view(),
            &split.test.labels,
            10,
            &cfg,
        )
        .unwrap()
    };
    let (knn, knn10) = (knn_at(200), knn_at(10));
    let probe = linear_probe(
        train_x.view(),
        &split.train.labels,
        test_x.view(),
        &split.test.labels,
        10,
        &ProbeConfig::default(),
    )
    .unwrap();
    eprintln!(
        "raw pixels, built-in subset: kNN k=200 {knn:.4}, k=10 {knn10:.4}, linear probe {probe:?}"
    );
    assert!(
        knn > 0.70 && knn10 > 0.80,
        "kNN on raw pixels: k=200 {knn}, k=10 {knn10}"
    );
    assert!(probe.test_accuracy > 0.75, "{probe:?}");
}
