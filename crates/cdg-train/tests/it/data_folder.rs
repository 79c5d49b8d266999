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
