//! Image folders: small trees of PNG and JPEG files written by the `image` crate at test time,
//! with a corrupt file, a text file and empty folders.

use std::path::Path;

use cdg_train::data::{
    DataError, DataSource, FolderOptions, LoadOptions, load_image_folder, resized_dims,
};
use image::{ImageFormat, Rgb, RgbImage};

fn options(resolution: usize) -> FolderOptions {
    FolderOptions {
        resolution,
        limit_train: None,
        limit_test: None,
        max_memory_bytes: None,
    }
}

fn solid(w: u32, h: u32, rgb: [u8; 3]) -> RgbImage {
    RgbImage::from_pixel(w, h, Rgb(rgb))
}

fn save(root: &Path, rel: &str, img: &RgbImage, format: ImageFormat) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    img.save_with_format(&path, format).unwrap();
}

/// train/{cat,dog} with two images each (PNG and JPEG), val/{cat,dog} with one each.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    save(
        root,
        "train/cat/a.png",
        &solid(12, 10, [255, 0, 128]),
        ImageFormat::Png,
    );
    save(
        root,
        "train/cat/b.jpg",
        &solid(10, 14, [0, 200, 0]),
        ImageFormat::Jpeg,
    );
    save(
        root,
        "train/dog/c.PNG",
        &solid(9, 9, [10, 20, 30]),
        ImageFormat::Png,
    );
    save(
        root,
        "train/dog/d.jpeg",
        &solid(20, 8, [250, 250, 250]),
        ImageFormat::Jpeg,
    );
    save(
        root,
        "val/cat/e.png",
        &solid(8, 8, [1, 2, 3]),
        ImageFormat::Png,
    );
    save(
        root,
        "val/dog/f.png",
        &solid(8, 8, [4, 5, 6]),
        ImageFormat::Png,
    );
    dir
}

fn pixel(ds: &cdg_train::data::Dataset, i: usize, y: usize, x: usize) -> [f32; 3] {
    let img = ds.image(i).unwrap();
    [img[[0, y, x]], img[[1, y, x]], img[[2, y, x]]]
}

#[test]
fn png_and_jpeg_decode_to_the_resolution_with_interleaved_labels() {
    let dir = tree();
    let loaded = load_image_folder(dir.path(), &options(8)).unwrap();
    let split = &loaded.split;
    assert_eq!(loaded.classes, ["cat", "dog"]);
    assert!(loaded.skipped.is_empty(), "{:?}", loaded.skipped);
    assert_eq!(split.train.images.shape(), &[4, 3, 8, 8]);
    assert_eq!(split.test.images.shape(), &[2, 3, 8, 8]);
    // Classes interleave: cat/a, dog/c, cat/b, dog/d (sorted paths within a class).
    assert_eq!(split.train.labels, [0, 1, 0, 1]);
    assert_eq!(split.test.labels, [0, 1]);
    assert_eq!(split.train.classes, 2);
    assert_eq!(split.train.name, format!("{}/train", split.name()));
    // PNG is lossless and a solid image stays solid through resizing.
    for (y, x) in [(0, 0), (3, 5), (7, 7)] {
        assert_eq!(pixel(&split.train, 0, y, x), [1.0, 0.0, 128.0 / 255.0]);
        assert_eq!(
            pixel(&split.train, 1, y, x),
            [10.0, 20.0, 30.0].map(|v| v / 255.0)
        );
    }
    // JPEG is lossy: within a few levels.
    for (got, want) in pixel(&split.train, 2, 4, 4).iter().zip([0.0, 200.0, 0.0]) {
        assert!((got * 255.0 - want).abs() <= 4.0, "{got} vs {want}");
    }
    for (got, want) in pixel(&split.train, 3, 1, 6).iter().zip([250.0; 3]) {
        assert!((got * 255.0 - want).abs() <= 4.0, "{got} vs {want}");
    }
}

#[test]
fn the_shorter_side_is_resized_and_the_center_cropped() {
    // 8 wide × 16 high, each row a distinct grey: at resolution 8 nothing is resampled and
    // the crop keeps rows 4..12.
    let dir = tree();
    let mut img = RgbImage::new(8, 16);
    for (_, y, p) in img.enumerate_pixels_mut() {
        *p = Rgb([(15 * y) as u8; 3]);
    }
    save(dir.path(), "train/cat/0-tall.png", &img, ImageFormat::Png);
    let loaded = load_image_folder(dir.path(), &options(8)).unwrap();
    let train = &loaded.split.train;
    assert_eq!(train.labels[0], 0);
    for y in 0..8 {
        for x in 0..8 {
            let want = (15 * (y + 4)) as f32 / 255.0;
            assert_eq!(pixel(train, 0, y, x), [want; 3], "row {y} column {x}");
        }
    }
    assert_eq!(resized_dims(6, 12, 6), (6, 12));
    assert_eq!(resized_dims(12, 6, 3), (6, 3));
}

#[test]
fn non_image_files_are_skipped_and_reported_by_path() {
    let dir = tree();
    std::fs::write(dir.path().join("train/cat/notes.txt"), "not an image").unwrap();
    std::fs::write(dir.path().join("train/LICENSE"), "text").unwrap();
    std::fs::create_dir_all(dir.path().join("val/dog/nested")).unwrap();
    let loaded = load_image_folder(dir.path(), &options(8)).unwrap();
    assert_eq!(
        loaded.skipped,
        [
            dir.path().join("train/LICENSE"),
            dir.path().join("train/cat/notes.txt"),
            dir.path().join("val/dog/nested"),
        ]
    );
    assert_eq!(loaded.split.train.len(), 4);
    // Through DataSource, the skipped files come back with the split.
    let source: DataSource = format!("image-folder:{}", dir.path().display())
        .parse()
        .unwrap();
    let via_source = source
        .load_with(&LoadOptions {
            resolution: Some(8),
            ..LoadOptions::default()
        })
        .unwrap();
    assert_eq!(via_source.skipped, loaded.skipped);
    assert_eq!(via_source.split, loaded.split);
}

#[test]
fn a_corrupt_image_is_an_error_naming_its_path() {
    let dir = tree();
    let bad = dir.path().join("train/dog/broken.jpg");
    std::fs::write(&bad, b"\xff\xd8\xff\xe0 this is not a JPEG body").unwrap();
    let err = load_image_folder(dir.path(), &options(8)).unwrap_err();
    assert!(matches!(err, DataError::Format { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&bad.display().to_string()), "{msg}");
    // A truncated PNG as well.
    let dir = tree();
    let png = dir.path().join("val/cat/e.png");
    let bytes = std::fs::read(&png).unwrap();
    std::fs::write(&png, &bytes[..bytes.len() / 2]).unwrap();
    let msg = load_image_folder(dir.path(), &options(8))
        .unwrap_err()
        .to_string();
    assert!(msg.contains(&png.display().to_string()), "{msg}");
}

#[test]
fn a_class_folder_without_images_is_an_error_naming_it() {
    let dir = tree();
    let empty = dir.path().join("train/zebra");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("readme.txt"), "no images here").unwrap();
    std::fs::create_dir_all(dir.path().join("val/zebra")).unwrap();
    let msg = load_image_folder(dir.path(), &options(8))
        .unwrap_err()
        .to_string();
    assert!(msg.contains(&empty.display().to_string()), "{msg}");
    assert!(msg.contains("zebra"), "{msg}");
}

#[test]
fn missing_splits_and_classes_are_errors_naming_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let msg = load_image_folder(dir.path(), &options(8))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("train/<class>"), "{msg}");
    // A split folder without class folders.
    std::fs::create_dir_all(dir.path().join("train")).unwrap();
    std::fs::create_dir_all(dir.path().join("val")).unwrap();
    std::fs::write(dir.path().join("train/x.png"), "").unwrap();
    let msg = load_image_folder(dir.path(), &options(8))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&dir.path().join("train").display().to_string()),
        "{msg}"
    );
    // A class of train/ missing from val/.
    let dir = tree();
    std::fs::remove_dir_all(dir.path().join("val/dog")).unwrap();
    let msg = load_image_folder(dir.path(), &options(8))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&dir.path().join("val/dog").display().to_string()),
        "{msg}"
    );
    // No test split at all.
    let dir = tree();
    std::fs::remove_dir_all(dir.path().join("val")).unwrap();
    let msg = load_image_folder(dir.path(), &options(8))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("val/ or test/"), "{msg}");
}

#[test]
fn limits_apply_before_decoding_and_keep_classes_balanced() {
    let dir = tree();
    // The corrupt file is the last of its class in sorted order: a limit that stops before
    // it never reads it.
    std::fs::write(dir.path().join("train/dog/zz-broken.png"), b"garbage").unwrap();
    let limited = FolderOptions {
        resolution: 8,
        limit_train: Some(3),
        limit_test: Some(1),
        max_memory_bytes: None,
    };
    let loaded = load_image_folder(dir.path(), &limited).unwrap();
    assert_eq!(loaded.split.train.labels, [0, 1, 0]);
    assert_eq!(loaded.split.test.labels, [0]);
    assert!(load_image_folder(dir.path(), &options(8)).is_err());
}

#[test]
fn loading_is_deterministic_and_the_test_folder_may_be_named_test() {
    let dir = tree();
    std::fs::rename(dir.path().join("val"), dir.path().join("test")).unwrap();
    let a = load_image_folder(dir.path(), &options(8)).unwrap();
    let b = load_image_folder(dir.path(), &options(8)).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.split.test.len(), 2);
}

#[test]
fn image_folder_sources_parse_and_print_with_their_prefix() {
    let source: DataSource = "image-folder:/data/imagenet-100".parse().unwrap();
    assert_eq!(source, DataSource::ImageFolder("/data/imagenet-100".into()));
    assert_eq!(source.to_string(), "image-folder:/data/imagenet-100");
    // A plain directory with train/ but no prefix points the user at the prefix.
    let dir = tree();
    let msg = DataSource::Path(dir.path().to_owned())
        .load()
        .unwrap_err()
        .to_string();
    assert!(msg.contains("image-folder:"), "{msg}");
}

#[test]
fn resolutions_out_of_range_are_refused() {
    let dir = tree();
    let msg = load_image_folder(dir.path(), &options(2))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("resolution 2"), "{msg}");
}

/// A deterministic image with detail everywhere (a gradient plus an LCG's noise), so that
/// every resampling tap matters.
fn textured(w: u32, h: u32, seed: u64) -> RgbImage {
    let mut x = seed | 1;
    RgbImage::from_fn(w, h, |px, py| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let n = (x >> 56) as u8;
        Rgb([
            (px * 255 / w.max(1)) as u8 ^ n,
            (py * 255 / h.max(1)) as u8,
            n.wrapping_mul(3),
        ])
    })
}

/// What the `image` crate's own pipeline gives for `path` (the decoder cdg used before, an
/// independent reference): decode, RGB8, `Triangle` resize of the shorter side to `r`,
/// centre crop, C×H×W / 255.
fn image_crate_reference(path: &Path, r: usize) -> ndarray::Array3<f32> {
    let rgb = image::open(path).unwrap().to_rgb8();
    let (nw, nh) = resized_dims(rgb.width() as usize, rgb.height() as usize, r);
    let resized = image::imageops::resize(
        &rgb,
        nw as u32,
        nh as u32,
        image::imageops::FilterType::Triangle,
    );
    let (left, top) = ((nw - r) / 2, (nh - r) / 2);
    ndarray::Array3::from_shape_fn((3, r, r), |(c, y, x)| {
        f32::from(resized.get_pixel((left + x) as u32, (top + y) as u32).0[c]) / 255.0
    })
}

#[test]
fn decoding_and_resizing_match_the_image_crate_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    // Down- and up-sampling, square and not, odd and even sizes, both containers; gray,
    // gray + alpha, RGBA, palette and 16-bit PNGs, gray JPEGs.
    for (i, &(w, h)) in [(37, 23), (8, 8), (5, 17), (64, 48), (300, 7), (16, 16)]
        .iter()
        .enumerate()
    {
        let img = textured(w, h, i as u64);
        for (ext, format) in [("png", ImageFormat::Png), ("jpg", ImageFormat::Jpeg)] {
            let p = dir.path().join(format!("rgb-{i}.{ext}"));
            img.save_with_format(&p, format).unwrap();
            files.push(p);
        }
        let gray = image::DynamicImage::ImageRgb8(img.clone()).to_luma8();
        for (ext, format) in [("png", ImageFormat::Png), ("jpg", ImageFormat::Jpeg)] {
            let p = dir.path().join(format!("gray-{i}.{ext}"));
            gray.save_with_format(&p, format).unwrap();
            files.push(p);
        }
        let dynamic = image::DynamicImage::ImageRgb8(img);
        for (name, converted) in [
            (
                "la",
                image::DynamicImage::ImageLumaA8(dynamic.to_luma_alpha8()),
            ),
            ("rgba", image::DynamicImage::ImageRgba8(dynamic.to_rgba8())),
            ("rgb16", image::DynamicImage::ImageRgb16(dynamic.to_rgb16())),
            (
                "rgba16",
                image::DynamicImage::ImageRgba16(dynamic.to_rgba16()),
            ),
            ("l16", image::DynamicImage::ImageLuma16(dynamic.to_luma16())),
        ] {
            let p = dir.path().join(format!("{name}-{i}.png"));
            converted.save_with_format(&p, ImageFormat::Png).unwrap();
            files.push(p);
        }
    }
    // A palette PNG (4 colours, 2 bits) written with the `png` encoder.
    let palette = dir.path().join("palette.png");
    {
        let mut enc = png::Encoder::new(std::fs::File::create(&palette).unwrap(), 9, 5);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Two);
        enc.set_palette(vec![0, 0, 0, 255, 0, 0, 0, 255, 0, 10, 20, 250]);
        let mut w = enc.write_header().unwrap();
        // 9 pixels of 2 bits: 3 bytes per row.
        let rows: Vec<u8> = (0..5u8)
            .flat_map(|y| [0b00011011 ^ y, 0b11100100, 0b01000000])
            .collect();
        w.write_image_data(&rows).unwrap();
    }
    files.push(palette);
    for path in &files {
        for r in [8, 12, 31] {
            let ours = cdg_train::data::decode_image(path, r, None).unwrap();
            let reference = image_crate_reference(path, r);
            assert!(
                ours == reference,
                "{} at {r}: differs from the image crate's pipeline",
                path.display()
            );
        }
    }
}

/// #26 item 11: a JPEG cut at half its size was decoded leniently (the rest gray) and trained
/// on without a word.
#[test]
fn a_truncated_jpeg_is_an_error_naming_it() {
    let dir = tree();
    let jpg = dir.path().join("train/cat/b.jpg");
    textured(64, 64, 7)
        .save_with_format(&jpg, ImageFormat::Jpeg)
        .unwrap();
    let bytes = std::fs::read(&jpg).unwrap();
    std::fs::write(&jpg, &bytes[..bytes.len() / 2]).unwrap();
    let msg = load_image_folder(dir.path(), &options(8))
        .unwrap_err()
        .to_string();
    assert!(msg.contains(&jpg.display().to_string()), "{msg}");
    assert!(msg.contains("JPEG"), "{msg}");
}

/// #26 item 7: a 254-byte PNG of 60 000 × 1 pixels at resolution 224 asked for 9.03 GB (the
/// whole resized image) and aborted. Its working memory is known from the header: over the
/// limit it is an error naming the file; under it only the crop is computed.
#[test]
fn a_tiny_file_of_a_huge_image_is_checked_against_the_memory_limit_before_decoding() {
    let dir = tree();
    let long = dir.path().join("train/dog/long.png");
    image::GrayImage::from_pixel(60_000, 1, image::Luma([90]))
        .save_with_format(&long, ImageFormat::Png)
        .unwrap();
    assert!(std::fs::metadata(&long).unwrap().len() < 1000);
    let limited = |bytes| FolderOptions {
        max_memory_bytes: Some(bytes),
        ..options(224)
    };
    let msg = load_image_folder(dir.path(), &limited(100 << 20))
        .unwrap_err()
        .to_string();
    assert!(msg.contains(&long.display().to_string()), "{msg}");
    assert!(
        msg.contains("60000×1") && msg.contains("memory limit"),
        "{msg}"
    );
    // Under 1 GiB it decodes: 60 000 × 224 × 12 bytes of rows, not 9 GB.
    let need = cdg_train::data::image_working_bytes(60_000, 1, 224);
    assert!(need < 200 << 20, "{need}");
    let loaded = load_image_folder(dir.path(), &limited(1 << 30)).unwrap();
    let i = loaded.split.train.len() - 1; // long.png is the dog class's last file
    assert_eq!(loaded.split.train.labels[i], 1);
    assert!((pixel(&loaded.split.train, i, 100, 100)[0] - 90.0 / 255.0).abs() < 1e-6);
    // Its header alone, claiming 2^31 × 2^31 pixels, is refused the same way.
    let mut header = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut header, 1 << 31, 1 << 31);
        enc.set_color(png::ColorType::Grayscale);
        let _ = enc.write_header();
    }
    let huge = dir.path().join("train/dog/huge.png");
    std::fs::write(&huge, &header).unwrap();
    let msg = load_image_folder(dir.path(), &limited(1 << 30))
        .unwrap_err()
        .to_string();
    assert!(msg.contains(&huge.display().to_string()), "{msg}");
}

/// #26 item 13: with one class every prediction is right (100 % accuracy reported).
#[test]
fn a_single_class_is_refused_naming_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    save(
        dir.path(),
        "train/cat/a.png",
        &solid(8, 8, [1, 2, 3]),
        ImageFormat::Png,
    );
    save(
        dir.path(),
        "val/cat/b.png",
        &solid(8, 8, [1, 2, 3]),
        ImageFormat::Png,
    );
    let msg = load_image_folder(dir.path(), &options(8))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&dir.path().join("train").display().to_string()),
        "{msg}"
    );
    assert!(
        msg.contains("at least two class folders") && msg.contains("`cat`"),
        "{msg}"
    );
}

/// #26 item 11: class folders whose names are not UTF-8 were opened by their lossy name ("No
/// such file or directory") and two such names collapsed into one class.
#[cfg(unix)]
#[test]
fn class_folders_with_non_utf8_names_are_opened_by_their_own_names_and_stay_distinct() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (OsStr::from_bytes(b"caf\xe9"), OsStr::from_bytes(b"caf\xe8"));
    for (split, class, rgb) in [
        ("train", a, [10, 0, 0]),
        ("train", b, [0, 10, 0]),
        ("val", a, [10, 0, 0]),
        ("val", b, [0, 10, 0]),
    ] {
        let folder = dir.path().join(split).join(class);
        std::fs::create_dir_all(&folder).unwrap();
        solid(8, 8, rgb)
            .save_with_format(folder.join("x.png"), ImageFormat::Png)
            .unwrap();
    }
    let loaded = load_image_folder(dir.path(), &options(8)).unwrap();
    assert_eq!(loaded.classes, ["caf\\xe8", "caf\\xe9"]);
    assert_eq!(loaded.split.train.labels, [0, 1]);
    assert_eq!(loaded.split.test.labels, [0, 1]);
    assert_eq!(cdg_train::data::class_label(a), "caf\\xe9");
}

/// The image cases of the bounded fuzz runs (the parsers' are in cdg-io's `fuzz.rs`): mutants
/// of a valid PNG and JPEG (bit flips, overwritten and inserted bytes, truncations, splices)
/// never panic, and each either decodes to values in [0, 1] or is an error naming the file.
#[test]
fn fuzz_image_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let mut seeds = Vec::new();
    for (ext, format) in [("png", ImageFormat::Png), ("jpg", ImageFormat::Jpeg)] {
        let p = dir.path().join(format!("seed.{ext}"));
        textured(24, 17, 3).save_with_format(&p, format).unwrap();
        seeds.push(std::fs::read(&p).unwrap());
    }
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |n: usize| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 33) as usize) % n.max(1)
    };
    let path = dir.path().join("case.img");
    let origin = path.display().to_string();
    for case in 0..400 {
        let seed = &seeds[case % 2];
        let mut bytes = seed.clone();
        match next(5) {
            0 => {
                for _ in 0..1 + next(8) {
                    let i = next(bytes.len());
                    bytes[i] ^= 1 << next(8);
                }
            }
            1 => {
                let i = next(bytes.len());
                bytes[i] = [0x00, 0xFF, 0x7F, 0x80][next(4)];
            }
            2 => bytes.truncate(next(bytes.len())),
            3 => {
                let i = next(bytes.len());
                let other = &seeds[1 - case % 2];
                let j = next(other.len());
                bytes.splice(i.., other[j..].iter().copied());
            }
            _ => {
                let i = next(bytes.len());
                bytes.splice(i..i, std::iter::repeat_n(0xFFu8, 1 + next(6)));
            }
        }
        std::fs::write(&path, &bytes).unwrap();
        let result =
            std::panic::catch_unwind(|| cdg_train::data::decode_image(&path, 8, Some(64 << 20)));
        match result {
            Err(_) => panic!("case {case}: decoding panicked"),
            Ok(Ok(img)) => assert!(img.iter().all(|v| (0.0..=1.0).contains(v)), "case {case}"),
            Ok(Err(e)) => assert!(e.to_string().contains(&origin), "case {case}: {e}"),
        }
    }
}
