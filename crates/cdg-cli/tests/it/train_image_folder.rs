//! `cdg train --data image-folder:…` on hostile folders (#26 items 7, 11, 13): every one stops
//! with exit 1 and an error naming the file or folder, also under `--quiet` (which silences
//! progress bars only), and never with a panic or an allocation abort.

use crate::support::cdg;
use image::{ImageFormat, Rgb, RgbImage};
use std::path::Path;

/// train/{ant,bee} and val/{ant,bee}, two 40×40 PNGs each.
fn folder(root: &Path) {
    for split in ["train", "val"] {
        for (c, class) in ["ant", "bee"].iter().enumerate() {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..2u32 {
                RgbImage::from_fn(40, 40, |x, y| {
                    Rgb([(x * 6) as u8, (y * 6) as u8, (c * 90 + i as usize) as u8])
                })
                .save_with_format(dir.join(format!("{i}.png")), ImageFormat::Png)
                .unwrap();
            }
        }
    }
}

/// Runs a one-epoch supervised `cdg train --quiet` on `data` with `extra` and returns
/// (exit code, stderr).
fn train(data: &Path, out: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let run = cdg()
        .args([
            "train",
            "--objective",
            "supervised",
            "--model",
            "tiny",
            "--epochs",
            "1",
        ])
        .args(["--batch", "4", "--threads", "1", "--quiet", "--data"])
        .arg(format!("image-folder:{}", data.display()))
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    (
        run.status.code(),
        String::from_utf8_lossy(&run.stderr).into_owned(),
    )
}

fn assert_clean_error(code: Option<i32>, err: &str, names: &Path) {
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&names.display().to_string()), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

/// Item 7: a 60 000 × 1 PNG of a few hundred bytes at --resolution 224 asked for 9.03 GB with
/// --max-memory 1G and aborted with a backtrace.
#[test]
fn a_huge_image_in_a_small_file_is_refused_against_max_memory_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    folder(&data);
    let long = data.join("train/bee/long.png");
    image::GrayImage::from_pixel(60_000, 1, image::Luma([7]))
        .save_with_format(&long, ImageFormat::Png)
        .unwrap();
    let (code, err) = train(
        &data,
        &tmp.path().join("out"),
        &["--resolution", "224", "--max-memory", "100M"],
    );
    assert_clean_error(code, &err, &long);
    assert!(err.contains("memory limit"), "{err}");
}

/// Item 11: a JPEG cut at half its size trained with exit 0 and no warning, even more so
/// under --quiet.
#[test]
fn a_truncated_jpeg_stops_the_run_naming_it_even_with_quiet() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    folder(&data);
    let jpg = data.join("val/ant/cut.jpg");
    RgbImage::from_fn(48, 48, |x, y| {
        Rgb([(x * 5) as u8, (y * 5) as u8, ((x * y) % 251) as u8])
    })
    .save_with_format(&jpg, ImageFormat::Jpeg)
    .unwrap();
    let bytes = std::fs::read(&jpg).unwrap();
    std::fs::write(&jpg, &bytes[..bytes.len() / 2]).unwrap();
    let (code, err) = train(&data, &tmp.path().join("out"), &["--resolution", "32"]);
    assert_clean_error(code, &err, &jpg);
}

/// Item 13: a folder of one class reported 100 % accuracy.
#[test]
fn a_one_class_folder_is_refused_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    folder(&data);
    for split in ["train", "val"] {
        std::fs::remove_dir_all(data.join(split).join("bee")).unwrap();
    }
    let (code, err) = train(&data, &tmp.path().join("out"), &["--resolution", "32"]);
    assert_clean_error(code, &err, &data.join("train"));
    assert!(err.contains("at least two class folders"), "{err}");
}
