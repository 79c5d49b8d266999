//! Hard gates: block structure, the unstructured rule, scheduled quantiles, geometric
//! alignment of crop boxes and flips, and that nothing pair-specific enters a branch's
//! forward pass.

use cdg_train::data::ViewGeometry;
use cdg_train::gating::{
    CondCompute, GateConfig, GatedConv, Granularity, ThresholdMode, aligned_positions, block_grid,
};
use cdg_train::layers::{Conv, Conv2dConfig, Mode};
use cdg_train::models::ResNetConfig;
use cdg_train::ops::conv2d_direct;
use cdg_train::ssl::{Gating, SslConfig, SslModel};
use ndarray::{Array4, Axis, concatenate, s};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn rand4(rng: &mut ChaCha8Rng, d: (usize, usize, usize, usize)) -> Array4<f64> {
    Array4::from_shape_simple_fn(d, || rng.random_range(-1.0..1.0))
}

fn layer(block: [usize; 3], threshold: ThresholdMode, seed: u64) -> (GatedConv<f64>, Array4<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let gate = GateConfig {
        base_partitions: 4,
        block,
        alpha: 2.0,
        threshold,
        norm_momentum: 0.1,
        norm_eps: 1e-5,
        cond: CondCompute::Masked,
    };
    let w = rand4(&mut rng, (6, 8, 3, 3));
    let mut l =
        GatedConv::<f64>::from_weights("g", w.clone(), Conv2dConfig::default(), gate).expect("ok");
    for d in l.threshold.value.iter_mut() {
        *d = rng.random_range(-0.5..0.5);
    }
    l.record_blocks = true;
    (l, w)
}

/// P and Q of the layer computed directly.
fn parts(x: &Array4<f64>, w: &Array4<f64>, base: usize) -> (Array4<f64>, Array4<f64>) {
    let p = conv2d_direct(
        x.slice(s![.., ..base, .., ..]),
        w.slice(s![.., ..base, .., ..]),
        None,
        1,
        1,
    );
    let q = conv2d_direct(
        x.slice(s![.., base.., .., ..]),
        w.slice(s![.., base.., .., ..]),
        None,
        1,
        1,
    );
    (p, q)
}

#[test]
fn structured_hard_gates_are_constant_on_blocks_and_follow_the_block_mean_rule() {
    let learned = ThresholdMode::Learned {
        target: 1.0,
        lambda: 1e-4,
    };
    for block in [[4, 1, 1], [2, 2, 3], [6, 5, 5], [1, 1, 1]] {
        let (mut l, w) = layer(block, learned, 3);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let x = rand4(&mut rng, (3, 8, 5, 5));
        let y = l.forward(x.view(), Mode::Eval).expect("forward");
        let rec = l.record().clone();
        let blocks = rec.blocks.expect("recorded");
        assert_eq!(
            blocks.shape()[1..],
            block_grid(6, 5, 5, block)[..],
            "grid for {block:?} (partial edge blocks)"
        );
        let (p, q) = parts(&x, &w, 2);
        // Eval-mode saliency: running stats are mean 0, var 1.
        let inv = 1.0 / (1.0f64 + 1e-5).sqrt();
        let delta: Vec<f64> = l.threshold.value.iter().copied().collect();
        let [bc, bh, bw] = block;
        let mut active = 0u64;
        for n in 0..3 {
            for gc in 0..blocks.shape()[1] {
                for gh in 0..blocks.shape()[2] {
                    for gw in 0..blocks.shape()[3] {
                        let (mut acc, mut cnt) = (0.0, 0.0);
                        let mut elems = Vec::new();
                        for c in gc * bc..((gc + 1) * bc).min(6) {
                            for h in gh * bh..((gh + 1) * bh).min(5) {
                                for ww in gw * bw..((gw + 1) * bw).min(5) {
                                    acc += p[[n, c, h, ww]] * inv - delta[c];
                                    cnt += 1.0;
                                    elems.push((c, h, ww));
                                }
                            }
                        }
                        let on = acc / cnt > 0.0;
                        assert_eq!(blocks[[n, gc, gh, gw]] == 1, on, "block rule {block:?}");
                        for (c, h, ww) in elems {
                            let want = p[[n, c, h, ww]] + if on { q[[n, c, h, ww]] } else { 0.0 };
                            assert!((y[[n, c, h, ww]] - want).abs() < 1e-10, "output {block:?}");
                            active += u64::from(on);
                        }
                    }
                }
            }
        }
        assert_eq!(rec.active.iter().sum::<u64>(), active);
    }
}

#[test]
fn scheduled_thresholds_hit_the_quantile_over_the_batch() {
    for block in [[1, 1, 1], [3, 1, 1]] {
        let (mut l, _) = layer(block, ThresholdMode::Scheduled, 4);
        l.set_schedule(Some(0.6));
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let x = rand4(&mut rng, (8, 8, 6, 6));
        l.forward(x.view(), Mode::Train).expect("forward");
        let sp = l.record().sparsity(None);
        assert!((sp - 0.6).abs() < 0.01, "block {block:?}: sparsity {sp}");
        // Without a schedule the thresholds stay where they are.
        let before = l.threshold.value.clone();
        l.set_schedule(None);
        let mut l2 = l.clone();
        l2.forward(x.view(), Mode::Train).expect("forward");
        assert_eq!(l2.threshold.value, before);
    }
}

#[test]
fn a_branch_forward_ignores_its_partner_view() {
    // Statistics and thresholds held fixed: rows 0..B (view v) must not change when the
    // partner rows B..2B (view v′) are replaced, in the output, the gates and soft gates.
    let (mut l, _) = layer(
        [2, 1, 1],
        ThresholdMode::Learned {
            target: 1.0,
            lambda: 1e-4,
        },
        8,
    );
    l.freeze_stats = true;
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let v = rand4(&mut rng, (3, 8, 6, 6));
    let p1 = rand4(&mut rng, (3, 8, 6, 6));
    let p2 = rand4(&mut rng, (3, 8, 6, 6));
    let run = |l: &mut GatedConv<f64>, partner: &Array4<f64>| {
        let x = concatenate(Axis(0), &[v.view(), partner.view()]).expect("cat");
        let y = l.forward(x.view(), Mode::Train).expect("forward");
        let g = l.soft_gates().expect("cached");
        let b = l.record().blocks.clone().expect("recorded");
        (
            y.slice(s![..3, .., .., ..]).to_owned(),
            g.slice(s![..3, .., .., ..]).to_owned(),
            b.slice(s![..3, .., .., ..]).to_owned(),
        )
    };
    let a = run(&mut l.clone(), &p1);
    let b = run(&mut l.clone(), &p2);
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
    assert_eq!(a.2, b.2);
}

#[test]
fn a_dual_gated_backbone_forward_ignores_the_partner_view() {
    let options = cdg_train::TrainOptions {
        objective: cdg_train::ssl::Objective::Simclr,
        gating: Gating::Dual,
        proj_hidden: 16,
        ..Default::default()
    };
    let mut cfg = SslConfig::new(ResNetConfig::tiny(1, None), options).expect("SSL");
    cfg.proj_out = 8;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut model = SslModel::new(&cfg, &mut rng).expect("model");
    let mut r = ChaCha8Rng::seed_from_u64(2);
    let mk = |r: &mut ChaCha8Rng| {
        Array4::<f32>::from_shape_simple_fn((2, 1, 16, 16), || r.random_range(-1.0..1.0))
    };
    let (v, p1, p2) = (mk(&mut r), mk(&mut r), mk(&mut r));
    let mut f = |p: &Array4<f32>| {
        let x = concatenate(Axis(0), &[v.view(), p.view()]).expect("cat");
        let feats = model
            .backbone
            .forward_features(x.view(), Mode::Eval)
            .expect("fwd");
        feats.slice(s![..2, ..]).to_owned()
    };
    assert_eq!(f(&p1), f(&p2));
}

#[test]
fn geometric_alignment_maps_crop_boxes_and_flips() {
    let full = ViewGeometry::full(32, 32);
    // Same view: identity.
    let id = aligned_positions(&full, &full, (4, 4), (32, 32));
    assert_eq!(id.len(), 16);
    assert!(id.iter().all(|&(a, b)| a == b));
    // Flipped partner: column w ↦ 3 − w, rows unchanged.
    let flipped = ViewGeometry {
        flipped: true,
        ..full
    };
    for &(a, b) in &aligned_positions(&full, &flipped, (4, 4), (32, 32)) {
        assert_eq!(a / 4, b / 4);
        assert_eq!(a % 4, 3 - b % 4);
    }
    // Partner is the left half (cols 0..16), all rows: a's columns 0, 1 map onto b's
    // columns 0..3 at twice the scale; columns 2, 3 fall outside.
    let left = ViewGeometry {
        y0: 0.0,
        x0: 0.0,
        h: 32.0,
        w: 16.0,
        flipped: false,
    };
    let m = aligned_positions(&full, &left, (4, 4), (32, 32));
    assert_eq!(m.len(), 8);
    for &(a, b) in &m {
        assert!(a % 4 < 2);
        assert_eq!(a / 4, b / 4);
        assert_eq!(
            b % 4,
            2 * (a % 4) + 1,
            "cell centre 4+8k of a lands in b's cell 2k+1"
        );
    }
    // And from the half view back to the full image: every cell lands in the left half.
    let back = aligned_positions(&left, &full, (4, 4), (32, 32));
    assert_eq!(back.len(), 16);
    assert!(back.iter().all(|&(_, b)| b % 4 < 2));
    // Disjoint crops share nothing.
    let top = ViewGeometry {
        y0: 0.0,
        x0: 0.0,
        h: 10.0,
        w: 32.0,
        flipped: false,
    };
    let bottom = ViewGeometry { y0: 20.0, ..top };
    assert!(aligned_positions(&top, &bottom, (4, 4), (32, 32)).is_empty());
    // A flipped crop of columns 14..30 seen from the full image: cell centres at source
    // edges 20 and 28 land at 3/8 and 7/8 of the box, i.e. unflipped cells 1 and 3, which
    // the flip turns into cells 2 and 0 (checked against ViewGeometry::source_point).
    let right_flipped = ViewGeometry {
        y0: 0.0,
        x0: 14.0,
        h: 32.0,
        w: 16.0,
        flipped: true,
    };
    let m = aligned_positions(&full, &right_flipped, (4, 4), (32, 32));
    assert_eq!(m.len(), 8);
    for &(a, b) in &m {
        assert_eq!(a / 4, b / 4);
        match a % 4 {
            2 => assert_eq!(b % 4, 2),
            3 => assert_eq!(b % 4, 0),
            other => panic!("column {other} lies outside the crop"),
        }
        // The partner cell's centre maps back near the same source point.
        let (ya, xa) = full.source_point(
            (a / 4) as f32 * 8.0 + 3.5,
            (a % 4) as f32 * 8.0 + 3.5,
            32,
            32,
        );
        let (yb, xb) = right_flipped.source_point(
            (b / 4) as f32 * 8.0 + 3.5,
            (b % 4) as f32 * 8.0 + 3.5,
            32,
            32,
        );
        assert!(
            (ya - yb).abs() <= 4.0 && (xa - xb).abs() <= 4.0,
            "{a} -> {b}"
        );
    }
}

#[test]
fn granularity_selects_the_block() {
    let g = GateConfig::new(
        Granularity::Unstructured,
        [16, 1, 1],
        ThresholdMode::Scheduled,
    );
    assert_eq!(g.block, [1, 1, 1]);
    let g = GateConfig::new(
        Granularity::Structured,
        [16, 1, 1],
        ThresholdMode::Scheduled,
    );
    assert_eq!(g.block, [16, 1, 1]);
    assert_eq!(g.granularity(), Granularity::Structured);
}
