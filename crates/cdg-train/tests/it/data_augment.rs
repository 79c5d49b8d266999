//! Augmentation (each operation, geometry, determinism) and deterministic batching.

use cdg_train::data::{
    AugmentConfig, Augmenter, BatchSampler, ColorJitter, CropMode, Normalization, Remainder,
    ViewGeometry, adjust_brightness, adjust_contrast, adjust_hue, adjust_saturation, augment_batch,
    augment_into, epoch_permutation, hflip, random_resized_crop_box, resized_crop_into,
    to_grayscale, two_views,
};
use ndarray::{Array3, Array4, Axis};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn random_images(n: usize, c: usize, h: usize, w: usize, seed: u64) -> Array4<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array4::from_shape_fn((n, c, h, w), |_| cdg_train::data::rng::unit_f32(&mut rng))
}

fn only(crop: CropMode) -> AugmentConfig {
    AugmentConfig {
        crop,
        flip_p: 0.0,
        jitter: None,
        grayscale_p: 0.0,
    }
}

proptest! {
    #[test]
    fn flip_twice_is_identity(c in 1usize..4, h in 1usize..9, w in 1usize..9, seed in 0u64..1000) {
        let img = random_images(1, c, h, w, seed).index_axis_move(Axis(0), 0);
        let mut x = img.clone();
        hflip(x.view_mut());
        if w > 1 {
            prop_assert_eq!(x[[0, 0, 0]], img[[0, 0, w - 1]]);
        }
        hflip(x.view_mut());
        prop_assert_eq!(x, img);
    }

    #[test]
    fn full_box_crop_is_identity(c in 1usize..4, h in 1usize..12, w in 1usize..12, seed in 0u64..1000) {
        let img = random_images(1, c, h, w, seed).index_axis_move(Axis(0), 0);
        let mut out = Array3::<f32>::zeros((c, h, w));
        resized_crop_into(img.view(), &ViewGeometry::full(h, w), out.view_mut()).unwrap();
        prop_assert_eq!(&out, &img);
        // The flipped full box is the mirror image.
        let flipped = ViewGeometry { flipped: true, ..ViewGeometry::full(h, w) };
        resized_crop_into(img.view(), &flipped, out.view_mut()).unwrap();
        let mut mirror = img.clone();
        hflip(mirror.view_mut());
        prop_assert_eq!(out, mirror);
    }

    #[test]
    fn crop_boxes_respect_scale_ratio_and_bounds(seed in 0u64..5000, h in 8usize..40, w in 8usize..40) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let g = random_resized_crop_box(h, w, (0.2, 1.0), (0.75, 4.0 / 3.0), &mut rng);
        prop_assert!(g.y0 >= 0.0 && g.x0 >= 0.0 && g.h >= 1.0 && g.w >= 1.0);
        prop_assert!(g.y0 + g.h <= h as f32 && g.x0 + g.w <= w as f32);
        prop_assert_eq!(g.y0.fract() + g.x0.fract() + g.h.fract() + g.w.fract(), 0.0);
        // Rounding to whole pixels moves area and ratio by at most about one pixel per side.
        let area = g.h * g.w / (h * w) as f32;
        prop_assert!(area <= 1.0 && area >= 0.2 * (1.0 - 2.0 / h.min(w) as f32).powi(2) - 1e-6, "area {}", area);
    }

    #[test]
    fn jitter_keeps_pixels_in_unit_range(seed in 0u64..500, c in prop::sample::select(vec![1usize, 3])) {
        let imgs = random_images(4, c, 8, 8, seed);
        let cfg = AugmentConfig { jitter: Some(ColorJitter { brightness: 0.9, contrast: 0.9, saturation: 0.9, hue: 0.5, p: 1.0 }), ..AugmentConfig::ssl() };
        let (out, _) = augment_batch(imgs.view(), &cfg, seed, 0);
        prop_assert!(out.iter().all(|&v| (0.0..=1.0).contains(&v)));
    }
}

#[test]
fn resized_crop_samples_where_the_geometry_says() {
    // Bilinear interpolation reproduces an affine ramp exactly, so every view pixel must equal
    // the ramp at the geometry's source point (clamped to the crop box's pixel centres).
    let (h, w) = (32, 32);
    let ramp = |y: f32, x: f32| 0.01 * y + 0.02 * x + 0.05;
    let src = Array4::from_shape_fn((8, 1, h, w), |(_, _, y, x)| ramp(y as f32, x as f32));
    let cfg = AugmentConfig {
        flip_p: 0.5,
        ..only(AugmentConfig::ssl().crop)
    };
    let (out, geoms) = augment_batch(src.view(), &cfg, 7, 0);
    let mut flips = 0;
    for (i, g) in geoms.iter().enumerate() {
        flips += usize::from(g.flipped);
        for y in 0..h {
            for x in 0..w {
                let (sy, sx) = g.source_point(y as f32, x as f32, h, w);
                let sy = sy.clamp(g.y0, g.y0 + g.h - 1.0);
                let sx = sx.clamp(g.x0, g.x0 + g.w - 1.0);
                let got = out[[i, 0, y, x]];
                assert!(
                    (got - ramp(sy, sx)).abs() < 1e-5,
                    "image {i} ({y},{x}): {got} vs {}",
                    ramp(sy, sx)
                );
            }
        }
    }
    assert!(
        geoms.iter().any(|g| g.h < 32.0),
        "some crop should be smaller than the image"
    );
    assert!(
        (1..8).contains(&flips),
        "{flips} of 8 views flipped: both cases should be covered"
    );
}

#[test]
fn source_point_maps_flips_and_scales() {
    let g = ViewGeometry {
        y0: 4.0,
        x0: 8.0,
        h: 16.0,
        w: 16.0,
        flipped: false,
    };
    // Half-size box into a 32×32 view: view pixel centres 0.5 apart in the source.
    assert_eq!(g.source_point(0.0, 0.0, 32, 32), (3.75, 7.75));
    assert_eq!(g.source_point(31.0, 31.0, 32, 32), (19.25, 23.25));
    let f = ViewGeometry { flipped: true, ..g };
    assert_eq!(
        f.source_point(0.0, 0.0, 32, 32),
        g.source_point(0.0, 31.0, 32, 32)
    );
    assert_eq!(
        ViewGeometry::full(32, 32).source_point(5.0, 6.0, 32, 32),
        (5.0, 6.0)
    );
}

#[test]
fn view_point_inverts_source_point_and_map_point_aligns_views() {
    let a = ViewGeometry {
        y0: 3.0,
        x0: 5.0,
        h: 20.0,
        w: 14.0,
        flipped: true,
    };
    let b = ViewGeometry {
        y0: 0.0,
        x0: 10.0,
        h: 22.0,
        w: 22.0,
        flipped: false,
    };
    for (i, j) in [(0.0, 0.0), (7.0, 3.0), (31.0, 31.0), (2.5, 6.25)] {
        for g in [a, b, ViewGeometry::full(32, 32)] {
            let (y, x) = g.source_point(i, j, 32, 32);
            let (ii, jj) = g.view_point(y, x, 32, 32);
            assert!(
                (ii - i).abs() < 1e-4 && (jj - j).abs() < 1e-4,
                "{g:?} ({i},{j}) -> ({ii},{jj})"
            );
        }
        assert_eq!(
            a.map_point(&a, i, j, 32, 32)
                .map(|(p, q)| ((p - i).abs() < 1e-4, (q - j).abs() < 1e-4)),
            Some((true, true))
        );
    }
    // Same box, one flipped: column j maps to column w − 1 − j, at any grid resolution.
    let plain = ViewGeometry::full(32, 32);
    let flipped = ViewGeometry {
        flipped: true,
        ..plain
    };
    let (r, c) = plain.map_point(&flipped, 2.0, 1.0, 8, 8).unwrap();
    assert!(
        (r - 2.0).abs() < 1e-5 && (c - 6.0).abs() < 1e-5,
        "({r}, {c})"
    );
    // A point of `b` right of `a`'s box has no partner.
    assert_eq!(b.map_point(&a, 16.0, 31.0, 32, 32), None);
    // Two half-scale crops: mapped pixels sample the same source point, so on any image
    // (random here) they hold the same value wherever neither view clamps at its box edge.
    let a = ViewGeometry {
        y0: 3.0,
        x0: 5.0,
        h: 16.0,
        w: 16.0,
        flipped: true,
    };
    let b = ViewGeometry {
        y0: 7.0,
        x0: 1.0,
        h: 16.0,
        w: 16.0,
        flipped: false,
    };
    let src = random_images(1, 1, 32, 32, 8).index_axis_move(Axis(0), 0);
    let (mut va, mut vb) = (Array3::zeros((1, 32, 32)), Array3::zeros((1, 32, 32)));
    resized_crop_into(src.view(), &a, va.view_mut()).unwrap();
    resized_crop_into(src.view(), &b, vb.view_mut()).unwrap();
    let mut matched = 0;
    for i in 1..31 {
        for j in 1..31 {
            if let Some((p, q)) = a.map_point(&b, i as f32, j as f32, 32, 32)
                && (1.0..31.0).contains(&p)
                && (1.0..31.0).contains(&q)
            {
                assert_eq!((p.fract(), q.fract()), (0.0, 0.0));
                assert!(
                    (va[[0, i, j]] - vb[[0, p as usize, q as usize]]).abs() < 1e-6,
                    "({i},{j}) -> ({p},{q})"
                );
                matched += 1;
            }
        }
    }
    assert!(matched > 100, "{matched} matched pixels");
}

#[test]
fn padded_crop_shifts_with_zero_fill() {
    let src = random_images(1, 1, 8, 8, 1).index_axis_move(Axis(0), 0);
    let g = ViewGeometry {
        y0: -2.0,
        x0: 3.0,
        h: 8.0,
        w: 8.0,
        flipped: false,
    };
    let mut out = Array3::<f32>::zeros((1, 8, 8));
    resized_crop_into(src.view(), &g, out.view_mut()).unwrap();
    for y in 0..8 {
        for x in 0..8 {
            let (sy, sx) = (y as isize - 2, x as isize + 3);
            let expect = if sy < 0 || sx >= 8 {
                0.0
            } else {
                src[[0, sy as usize, sx as usize]]
            };
            assert_eq!(out[[0, y, x]], expect, "({y},{x})");
        }
    }
    // The supervised preset draws offsets in [-4, 4] and keeps the size.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for _ in 0..50 {
        let mut dst = Array3::<f32>::zeros((1, 8, 8));
        let g = augment_into(
            src.view(),
            dst.view_mut(),
            &AugmentConfig::supervised(),
            &mut rng,
        )
        .unwrap();
        assert!((-4.0..=4.0).contains(&g.y0) && (-4.0..=4.0).contains(&g.x0) && g.h == 8.0);
    }
}

#[test]
fn colour_operations_have_their_defining_properties() {
    let mut x = Array3::from_elem((1, 2, 2), 0.5f32);
    adjust_brightness(x.view_mut(), 1.4);
    assert!(x.iter().all(|&v| (v - 0.7).abs() < 1e-6));
    adjust_brightness(x.view_mut(), 3.0);
    assert!(x.iter().all(|&v| v == 1.0), "clamped to 1");

    let mut c = Array3::from_shape_vec((1, 1, 2), vec![0.2f32, 0.6]).unwrap();
    adjust_contrast(c.view_mut(), 0.5);
    assert!((c[[0, 0, 0]] - 0.3).abs() < 1e-6 && (c[[0, 0, 1]] - 0.5).abs() < 1e-6);

    // Pure red rotated by a third of a turn is pure green; a zero shift is the identity.
    let mut red = Array3::<f32>::zeros((3, 1, 1));
    red[[0, 0, 0]] = 1.0;
    let before = red.clone();
    adjust_hue(red.view_mut(), 0.0);
    assert!((&red - &before).iter().all(|d| d.abs() < 1e-6));
    adjust_hue(red.view_mut(), 1.0 / 3.0);
    assert!(
        (red[[0, 0, 0]]).abs() < 1e-5
            && (red[[1, 0, 0]] - 1.0).abs() < 1e-5
            && red[[2, 0, 0]].abs() < 1e-5,
        "{red:?}"
    );

    let mut rgb = random_images(1, 3, 4, 4, 5).index_axis_move(Axis(0), 0);
    let mut sat0 = rgb.clone();
    adjust_saturation(sat0.view_mut(), 0.0);
    to_grayscale(rgb.view_mut());
    assert!(
        (&sat0 - &rgb).iter().all(|d| d.abs() < 1e-6),
        "saturation 0 is grayscale"
    );
    assert_eq!(rgb.index_axis(Axis(0), 0), rgb.index_axis(Axis(0), 2));
}

#[test]
fn one_channel_input_skips_colour_operations() {
    let gray = random_images(1, 1, 6, 6, 9).index_axis_move(Axis(0), 0);
    for op in [
        |v: ndarray::ArrayViewMut3<f32>| adjust_saturation(v, 0.0),
        |v: ndarray::ArrayViewMut3<f32>| adjust_hue(v, 0.25),
        |v: ndarray::ArrayViewMut3<f32>| to_grayscale(v),
    ] {
        let mut x = gray.clone();
        op(x.view_mut());
        assert_eq!(x, gray);
    }
    // With neutral brightness and contrast, only the colour operations could change pixels:
    // a 1-channel image passes unchanged, a 3-channel image does not.
    let cfg = AugmentConfig {
        crop: CropMode::Full,
        flip_p: 0.0,
        jitter: Some(ColorJitter {
            brightness: 0.0,
            contrast: 0.0,
            saturation: 0.9,
            hue: 0.5,
            p: 1.0,
        }),
        grayscale_p: 1.0,
    };
    let one = random_images(4, 1, 6, 6, 2);
    assert_eq!(augment_batch(one.view(), &cfg, 1, 0).0, one);
    let three = random_images(4, 3, 6, 6, 2);
    assert_ne!(augment_batch(three.view(), &cfg, 1, 0).0, three);
}

#[test]
fn brightness_jitter_stays_within_its_range() {
    let cfg = AugmentConfig {
        crop: CropMode::Full,
        flip_p: 0.0,
        jitter: Some(ColorJitter {
            brightness: 0.4,
            contrast: 0.4,
            saturation: 0.4,
            hue: 0.1,
            p: 1.0,
        }),
        grayscale_p: 0.0,
    };
    // Contrast leaves a constant image alone, so every output is 0.5·b with b in [0.6, 1.4].
    let flat = Array4::from_elem((200, 1, 2, 2), 0.5f32);
    let (out, _) = augment_batch(flat.view(), &cfg, 11, 0);
    let (lo, hi) = out
        .iter()
        .fold((1.0f32, 0.0f32), |(a, b), &v| (a.min(v), b.max(v)));
    assert!(
        lo >= 0.3 - 1e-6 && hi <= 0.7 + 1e-6 && hi - lo > 0.3,
        "range [{lo}, {hi}]"
    );
}

#[test]
fn jitter_and_grayscale_probabilities_are_respected() {
    let imgs = random_images(1000, 3, 2, 2, 4);
    let cfg = AugmentConfig {
        crop: CropMode::Full,
        flip_p: 0.5,
        ..AugmentConfig::ssl()
    };
    let (out, geoms) = augment_batch(imgs.view(), &cfg, 5, 0);
    let flipped = geoms.iter().filter(|g| g.flipped).count();
    assert!((430..570).contains(&flipped), "{flipped} flips of 1000");
    let gray = out
        .outer_iter()
        .filter(|im| {
            im.index_axis(Axis(0), 0) == im.index_axis(Axis(0), 1)
                && im.index_axis(Axis(0), 1) == im.index_axis(Axis(0), 2)
        })
        .count();
    assert!((150..250).contains(&gray), "{gray} grayscale of 1000");
}

#[test]
fn augmentation_is_deterministic_by_seed_and_independent_of_threads() {
    let imgs = random_images(16, 3, 32, 32, 1);
    let cfg = AugmentConfig::ssl();
    let run = |seed: u64, threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| two_views(imgs.view(), &cfg, &mut ChaCha8Rng::seed_from_u64(seed)))
    };
    let a = run(42, 1);
    let b = run(42, 2);
    assert_eq!(a, b);
    let c = run(43, 2);
    assert_ne!(a.0, c.0);
    // The two views of an image differ, and so do their boxes.
    assert_ne!(a.0, a.1);
    assert_ne!(a.2, a.3);
    assert_eq!((a.2.len(), a.3.len()), (16, 16));
    // A view of image i depends on i only, not on the rest of the batch.
    let (first4, g4) = augment_batch(imgs.slice(ndarray::s![..4, .., .., ..]), &cfg, 9, 0);
    let (all, g) = augment_batch(imgs.view(), &cfg, 9, 0);
    assert_eq!(first4, all.slice(ndarray::s![..4, .., .., ..]));
    assert_eq!(&g4[..], &g[..4]);
}

#[test]
fn augmenter_normalises_after_augmenting() {
    let imgs = random_images(8, 1, 8, 8, 3);
    let norm = Normalization {
        mean: vec![0.25],
        std: vec![0.5],
    };
    let aug = Augmenter::new(AugmentConfig::none(), norm.clone());
    let eval = aug.eval_view(imgs.view()).unwrap();
    assert!(
        (&eval - &imgs.mapv(|v| (v - 0.25) / 0.5))
            .iter()
            .all(|d| d.abs() < 1e-6)
    );
    let (v, _) = aug
        .view(imgs.view(), &mut ChaCha8Rng::seed_from_u64(0))
        .unwrap();
    assert_eq!(v, eval);
    let ssl = Augmenter::new(AugmentConfig::ssl(), norm);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let views = ssl.two_views(imgs.view(), &mut rng).unwrap();
    let raw = two_views(
        imgs.view(),
        &AugmentConfig::ssl(),
        &mut ChaCha8Rng::seed_from_u64(1),
    );
    assert!(
        (&views.first - &raw.0.mapv(|v| (v - 0.25) / 0.5))
            .iter()
            .all(|d| d.abs() < 1e-6)
    );
    assert_eq!(views.second_geometry, raw.3);
    let wrong = Augmenter::new(AugmentConfig::none(), Normalization::identity(3));
    assert!(wrong.eval_view(imgs.view()).is_err());
}

#[test]
fn batches_are_deterministic_permutations() {
    let p = epoch_permutation(1000, 7, 3);
    let mut sorted = p.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
    assert_eq!(p, epoch_permutation(1000, 7, 3));
    assert_ne!(p, epoch_permutation(1000, 7, 4));
    assert_ne!(p, epoch_permutation(1000, 8, 3));

    let drop = BatchSampler::shuffled(10, 4, 1, 0, Remainder::Drop).unwrap();
    assert_eq!(drop.len(), 2);
    let batches: Vec<Vec<usize>> = drop.collect();
    assert!(batches.iter().all(|b| b.len() == 4));
    assert_eq!(batches.concat(), epoch_permutation(10, 1, 0)[..8].to_vec());

    let keep: Vec<Vec<usize>> = BatchSampler::sequential(10, 4, Remainder::Keep)
        .unwrap()
        .collect();
    assert_eq!(keep, vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
    assert!(BatchSampler::sequential(10, 0, Remainder::Keep).is_err());
}
