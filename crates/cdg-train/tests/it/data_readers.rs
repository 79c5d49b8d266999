//! Readers and loaders: IDX (raw and gzip), CIFAR-10/100, directory detection, the built-in
//! subset, padding and normalisation.

use std::io::Write;
use std::path::{Path, PathBuf};

use cdg_train::data::{
    CifarKind, DataError, DataSource, Dataset, Normalization, load_builtin, load_path, parse_cifar,
    parse_idx_images, parse_idx_labels,
};
use flate2::Compression;
use flate2::write::GzEncoder;
use ndarray::Array4;

fn idx_bytes(dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("cdg-data-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.0.join(name), bytes).unwrap();
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Three 2×3 images with distinct pixels.
fn tiny_images() -> (Vec<u32>, Vec<u8>) {
    (vec![3, 2, 3], (0..18u8).map(|v| v * 10).collect())
}

#[test]
fn idx_raw_and_gzip_decode_identically() {
    let (dims, body) = tiny_images();
    let raw = idx_bytes(&dims, &body);
    let a = parse_idx_images(raw.as_slice(), "raw").unwrap();
    let b = parse_idx_images(gzip(&raw).as_slice(), "gz").unwrap();
    assert_eq!(a, b);
    assert_eq!(a.dims, vec![3, 2, 3]);
    assert_eq!(a.data, body);
    let images = cdg_train::data::idx_images_to_f32(&a);
    assert_eq!(images.dim(), (3, 1, 2, 3));
    assert_eq!(images[[1, 0, 1, 2]], f32::from(body[6 + 5]) / 255.0);
}

#[test]
fn idx_truncated_image_names_file_offset_and_image() {
    let body = vec![7u8; 784 * 3 - 100];
    let raw = idx_bytes(&[3, 28, 28], &body);
    for (bytes, origin) in [
        (raw.clone(), "t10k-images-idx3-ubyte"),
        (gzip(&raw), "t10k-images-idx3-ubyte.gz"),
    ] {
        let err = parse_idx_images(bytes.as_slice(), origin).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, DataError::Truncated { offset, .. } if offset == 16 + 2 * 784),
            "{msg}"
        );
        assert_eq!(
            msg,
            format!("{origin}: truncated at offset 1584: expected 784 bytes of image 2, found 684")
        );
    }
}

#[test]
fn idx_cut_gzip_stream_is_an_error_naming_the_file() {
    let (dims, body) = tiny_images();
    let gz = gzip(&idx_bytes(&dims, &body));
    let cut = &gz[..gz.len() - 12];
    let msg = parse_idx_images(cut, "cut.gz").unwrap_err().to_string();
    assert!(msg.starts_with("cut.gz: "), "{msg}");
}

#[test]
fn idx_header_errors() {
    let check = |bytes: Vec<u8>, expect: &str| {
        let msg = parse_idx_images(bytes.as_slice(), "f.idx")
            .unwrap_err()
            .to_string();
        assert!(msg.contains(expect), "{msg:?} should contain {expect:?}");
        assert!(msg.starts_with("f.idx: "), "{msg}");
    };
    check(
        vec![0, 0],
        "truncated at offset 0: expected 4 bytes of the IDX magic, found 2",
    );
    check(vec![1, 2, 3, 4, 5], "not an IDX file");
    check(vec![0, 0, 0x0d, 3, 0, 0, 0, 1], "element type 0x0d");
    check(
        vec![0, 0, 8, 3, 0, 0, 0, 1],
        "truncated at offset 4: expected 12 bytes",
    );
    check(idx_bytes(&[2, 2], &[1, 2, 3, 4]), "expected 3 (N×H×W)");
    check(
        idx_bytes(&[1, 2, 2], &[1, 2, 3, 4, 5]),
        "at offset 20: unexpected bytes after the 1 images",
    );
    check(idx_bytes(&[u32::MAX, 65535, 65535], &[]), "exceed");
}

#[test]
fn idx_labels_out_of_range_names_offset() {
    let bytes = idx_bytes(&[4], &[1, 2, 10, 3]);
    let msg = parse_idx_labels(bytes.as_slice(), "train-labels-idx1-ubyte", 10)
        .unwrap_err()
        .to_string();
    assert_eq!(
        msg,
        "train-labels-idx1-ubyte: at offset 10: label 10 of item 2 is out of range, expected < 10"
    );
    let ok = parse_idx_labels(bytes.as_slice(), "x", 11).unwrap();
    assert_eq!(ok, vec![1, 2, 10, 3]);
}

fn cifar10_record(label: u8, seed: u8) -> Vec<u8> {
    let mut r = vec![label];
    r.extend((0..3072u32).map(|i| (i as u8).wrapping_mul(3).wrapping_add(seed)));
    r
}

#[test]
fn cifar10_records_are_channel_planar() {
    let mut bytes = cifar10_record(3, 0);
    bytes.extend(cifar10_record(9, 1));
    let rec = parse_cifar(bytes.as_slice(), "data_batch_1.bin", CifarKind::Cifar10).unwrap();
    assert_eq!(rec.labels(), &[3, 9]);
    let images = rec.images_f32();
    assert_eq!(images.dim(), (2, 3, 32, 32));
    // Image 1, green channel (plane 1), row 2, column 5: byte 1 + 1024 + 2·32 + 5 of record 1.
    let byte = bytes[3073 + 1 + 1024 + 64 + 5];
    assert_eq!(images[[1, 1, 2, 5]], f32::from(byte) / 255.0);
}

#[test]
fn cifar_truncated_and_bad_labels() {
    let mut bytes = cifar10_record(1, 0);
    bytes.extend(&cifar10_record(2, 0)[..1000]);
    let msg = parse_cifar(bytes.as_slice(), "test_batch.bin", CifarKind::Cifar10)
        .unwrap_err()
        .to_string();
    assert_eq!(
        msg,
        "test_batch.bin: truncated at offset 3073: expected 3073 bytes of record 1, found 1000"
    );

    let mut bytes = cifar10_record(1, 0);
    bytes.extend(cifar10_record(12, 0));
    let msg = parse_cifar(bytes.as_slice(), "data_batch_2.bin", CifarKind::Cifar10)
        .unwrap_err()
        .to_string();
    assert_eq!(
        msg,
        "data_batch_2.bin: at offset 3073: label 12 of record 1 is out of range, expected < 10"
    );

    let mut r100 = vec![19u8, 99];
    r100.extend(vec![0u8; 3072]);
    let ok = parse_cifar(r100.as_slice(), "train.bin", CifarKind::Cifar100).unwrap();
    assert_eq!(
        (ok.labels(), ok.coarse_labels()),
        (&[99u8][..], &[19u8][..])
    );
    r100[0] = 20;
    let msg = parse_cifar(r100.as_slice(), "train.bin", CifarKind::Cifar100)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("at offset 0: coarse label 20"), "{msg}");
    r100[0] = 1;
    r100[1] = 100;
    let msg = parse_cifar(r100.as_slice(), "train.bin", CifarKind::Cifar100)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("at offset 1: label 100 of record 0"), "{msg}");

    let msg = parse_cifar(&[][..], "empty.bin", CifarKind::Cifar10)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("empty.bin: truncated at offset 0"), "{msg}");
}

#[test]
fn load_path_reads_idx_directories_and_pads_to_32() {
    let dir = Scratch::new("idx");
    let body: Vec<u8> = (0..2 * 784).map(|i| (i % 251) as u8).collect();
    dir.write(
        "train-images-idx3-ubyte.gz",
        &gzip(&idx_bytes(&[2, 28, 28], &body)),
    );
    dir.write("train-labels-idx1-ubyte", &idx_bytes(&[2], &[4, 7]));
    dir.write(
        "t10k-images-idx3-ubyte",
        &idx_bytes(&[1, 28, 28], &body[..784]),
    );
    dir.write("t10k-labels-idx1-ubyte.gz", &gzip(&idx_bytes(&[1], &[0])));
    let split = load_path(dir.path()).unwrap();
    assert_eq!(split.train.images.dim(), (2, 1, 32, 32));
    assert_eq!(split.test.images.dim(), (1, 1, 32, 32));
    assert_eq!(split.train.labels, vec![4, 7]);
    assert_eq!(split.train.classes, 10);
    // Source pixel (0, 0) lands at (2, 2); the 2-pixel border is zero.
    assert_eq!(
        split.train.images[[1, 0, 2, 2]],
        f32::from(body[784]) / 255.0
    );
    assert_eq!(
        split.train.images[[1, 0, 2 + 27, 2 + 27]],
        f32::from(body[784 + 783]) / 255.0
    );
    for k in 0..32 {
        for (y, x) in [
            (0, k),
            (1, k),
            (30, k),
            (31, k),
            (k, 0),
            (k, 1),
            (k, 30),
            (k, 31),
        ] {
            assert_eq!(split.train.images[[0, 0, y, x]], 0.0);
        }
    }
    assert!(split.train.name.ends_with("/train") && split.test.name.ends_with("/test"));
}

#[test]
fn load_path_count_mismatch_names_both_files() {
    let dir = Scratch::new("mismatch");
    dir.write(
        "train-images-idx3-ubyte",
        &idx_bytes(&[2, 28, 28], &vec![0u8; 2 * 784]),
    );
    dir.write("train-labels-idx1-ubyte", &idx_bytes(&[3], &[1, 2, 3]));
    let msg = load_path(dir.path()).unwrap_err().to_string();
    let (images, labels) = (
        dir.path().join("train-images-idx3-ubyte"),
        dir.path().join("train-labels-idx1-ubyte"),
    );
    assert_eq!(
        msg,
        format!(
            "{} holds 2 items but {} holds 3",
            images.display(),
            labels.display()
        )
    );
    // Content errors name the full path too.
    dir.write("train-labels-idx1-ubyte", &idx_bytes(&[2], &[1, 11]));
    let msg = load_path(dir.path()).unwrap_err().to_string();
    assert_eq!(
        msg,
        format!(
            "{}: at offset 9: label 11 of item 1 is out of range, expected < 10",
            labels.display()
        )
    );
}

#[test]
fn load_path_missing_files() {
    let dir = Scratch::new("empty");
    let msg = load_path(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("no data set found"), "{msg}");
    dir.write(
        "train-images-idx3-ubyte",
        &idx_bytes(&[1, 28, 28], &[0u8; 784]),
    );
    dir.write("train-labels-idx1-ubyte", &idx_bytes(&[1], &[1]));
    let msg = load_path(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("t10k-images-idx3-ubyte"), "{msg}");
    let msg = load_path(&dir.path().join("nope")).unwrap_err().to_string();
    assert!(msg.contains("an existing directory"), "{msg}");
}

#[test]
fn load_path_reads_cifar10_and_cifar100_directories() {
    let dir = Scratch::new("cifar10");
    let sub = dir.path().join("cifar-10-batches-bin");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(
        sub.join("data_batch_1.bin"),
        [cifar10_record(1, 0), cifar10_record(2, 0)].concat(),
    )
    .unwrap();
    std::fs::write(sub.join("data_batch_2.bin"), cifar10_record(3, 0)).unwrap();
    std::fs::write(sub.join("test_batch.bin"), cifar10_record(4, 0)).unwrap();
    let split = load_path(dir.path()).unwrap();
    assert_eq!(split.train.labels, vec![1, 2, 3]);
    assert_eq!(split.test.labels, vec![4]);
    assert_eq!((split.train.classes, split.train.channels()), (10, 3));

    let dir = Scratch::new("cifar100");
    let rec = |c: u8, f: u8| [vec![c, f], vec![9u8; 3072]].concat();
    dir.write("train.bin", &[rec(0, 50), rec(3, 99)].concat());
    dir.write("test.bin", &rec(1, 7));
    let split = load_path(dir.path()).unwrap();
    assert_eq!(split.train.labels, vec![50, 99]);
    assert_eq!(split.test.classes, 100);
}

#[test]
fn builtin_subset_has_the_documented_shape() {
    let split = load_builtin().unwrap();
    assert_eq!(split.train.images.dim(), (10_000, 1, 32, 32));
    assert_eq!(split.test.images.dim(), (2_000, 1, 32, 32));
    assert_eq!(split.name(), "fashion-mnist-subset");
    // Fashion-MNIST's first training and first test item are both class 9 (ankle boot).
    assert_eq!((split.train.labels[0], split.test.labels[0]), (9, 9));
    for c in 0..10u8 {
        let n = split.train.labels.iter().filter(|&&l| l == c).count();
        assert!((900..1100).contains(&n), "class {c}: {n} images");
    }
    let (lo, hi) = split
        .train
        .images
        .iter()
        .fold((1.0f32, 0.0f32), |(a, b), &v| (a.min(v), b.max(v)));
    assert_eq!((lo, hi), (0.0, 1.0));
    let norm = split.normalization();
    assert_eq!(norm.channels(), 1);
    assert!(
        (0.2..0.35).contains(&norm.mean[0]) && (0.25..0.4).contains(&norm.std[0]),
        "{norm:?}"
    );
}

#[test]
fn builtin_subset_is_the_prefix_of_debians_full_set() {
    let full = Path::new(cdg_train::data::DEBIAN_FASHION_MNIST_DIR);
    if !full.join("t10k-images-idx3-ubyte.gz").is_file() {
        eprintln!("skipped: dataset-fashion-mnist is not installed");
        return;
    }
    let open = |p: PathBuf| std::fs::File::open(p).unwrap();
    let sub = cdg_train::data::builtin_dir();
    for (name, n) in [
        ("t10k-images-idx3-ubyte.gz", 2000),
        ("train-images-idx3-ubyte.gz", 10_000),
    ] {
        let a = parse_idx_images(open(full.join(name)), name).unwrap();
        let b = parse_idx_images(open(sub.join(name)), name).unwrap();
        assert_eq!(b.dims, vec![n, 28, 28]);
        assert_eq!(&a.data[..n * 784], &b.data[..]);
    }
}

#[test]
fn normalization_fits_per_channel_statistics() {
    // Channel 0 holds 0, 1, 2, 3 (mean 1.5, population std √1.25); channel 1 is constant.
    let images = Array4::from_shape_fn(
        (2, 2, 1, 2),
        |(n, c, _, x)| if c == 0 { (n * 2 + x) as f32 } else { 5.0 },
    );
    let norm = Normalization::fit(images.view());
    assert_eq!(norm.mean, vec![1.5, 5.0]);
    assert!((norm.std[0] - 1.25f32.sqrt()).abs() < 1e-6);
    assert_eq!(norm.std[1], 1.0, "a constant channel keeps std 1");
    let mut x = images.clone();
    norm.apply(x.view_mut()).unwrap();
    let again = Normalization::fit(x.view());
    assert!(again.mean[0].abs() < 1e-6 && (again.std[0] - 1.0).abs() < 1e-6);
    let err = Normalization::identity(3)
        .apply(x.view_mut())
        .unwrap_err()
        .to_string();
    assert!(err.contains("2 channels, the statistics 3"), "{err}");
}

#[test]
fn dataset_checks_and_helpers() {
    let images = Array4::<f32>::zeros((3, 1, 4, 4));
    let err = Dataset::new(images.clone(), vec![0, 1], 2, "d")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("d images holds 3 items but d labels holds 2"),
        "{err}"
    );
    let err = Dataset::new(images.clone(), vec![0, 1, 2], 2, "d")
        .unwrap_err()
        .to_string();
    assert!(err.contains("label 2 of item 2"), "{err}");
    let d = Dataset::new(images, vec![0, 1, 1], 2, "d").unwrap();
    let b = d.batch(&[2, 0]).unwrap();
    assert_eq!(b.labels, vec![1, 0]);
    assert!(d.batch(&[3]).is_err());
    assert_eq!(d.head(2).len(), 2);
    assert_eq!(d.pad_to(6).images.dim(), (3, 1, 6, 6));
}

#[test]
fn data_source_parses_names_and_paths() {
    assert_eq!(
        "builtin".parse::<DataSource>().unwrap(),
        DataSource::Builtin
    );
    assert_eq!(
        "debian-fashion-mnist".parse::<DataSource>().unwrap(),
        DataSource::DebianFashionMnist
    );
    assert_eq!(
        "/x/y".parse::<DataSource>().unwrap(),
        DataSource::Path(PathBuf::from("/x/y"))
    );
    assert_eq!(
        DataSource::DebianFashionMnist.to_string(),
        "debian-fashion-mnist"
    );
    assert_eq!(DataSource::default(), DataSource::Builtin);
    for source in [
        DataSource::Builtin,
        DataSource::DebianFashionMnist,
        DataSource::Path("/d/cifar".into()),
    ] {
        let json = serde_json::to_string(&source).unwrap();
        assert_eq!(json, format!("\"{source}\""));
        assert_eq!(serde_json::from_str::<DataSource>(&json).unwrap(), source);
    }
}

#[test]
fn debian_full_set_loads_when_installed() {
    let full = Path::new(cdg_train::data::DEBIAN_FASHION_MNIST_DIR);
    if !full.join("train-images-idx3-ubyte.gz").is_file() {
        eprintln!("skipped: dataset-fashion-mnist is not installed");
        return;
    }
    let split = DataSource::DebianFashionMnist.load().unwrap();
    assert_eq!(split.train.images.dim(), (60_000, 1, 32, 32));
    assert_eq!(split.test.images.dim(), (10_000, 1, 32, 32));
    assert_eq!(split.name(), "fashion-mnist");
    let builtin = load_builtin().unwrap();
    assert_eq!(builtin.train.labels[..], split.train.labels[..10_000]);
    assert_eq!(builtin.test.images, split.test.head(2_000).images);
}

mod robustness {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Cutting a valid IDX file anywhere gives a truncation error whose offset and byte
        /// counts are consistent with the cut, raw or gzip.
        #[test]
        fn idx_cut_anywhere_reports_where(n in 1u32..5, h in 1u32..6, w in 1u32..6, cut_frac in 0.0f64..1.0, gz in any::<bool>()) {
            let body: Vec<u8> = (0..n * h * w).map(|i| i as u8).collect();
            let full = idx_bytes(&[n, h, w], &body);
            let cut = ((full.len() as f64) * cut_frac) as usize;
            let bytes = if gz { gzip(&full[..cut]) } else { full[..cut].to_vec() };
            match parse_idx_images(bytes.as_slice(), "f") {
                Err(DataError::Truncated { offset, expected, found, .. }) => {
                    prop_assert!(found < expected);
                    prop_assert_eq!(offset + found, cut as u64);
                }
                other => prop_assert!(false, "cut at {} of {}: {:?}", cut, full.len(), other),
            }
        }

        /// Arbitrary bytes never panic the parsers (gzip magic included).
        #[test]
        fn garbage_never_panics(mut bytes in prop::collection::vec(any::<u8>(), 0..200), gz_magic in any::<bool>()) {
            if gz_magic && bytes.len() >= 2 {
                bytes[0] = 0x1f;
                bytes[1] = 0x8b;
            }
            let _ = parse_idx_images(bytes.as_slice(), "g");
            let _ = parse_idx_labels(bytes.as_slice(), "g", 10);
            let _ = parse_cifar(bytes.as_slice(), "g", CifarKind::Cifar10);
            let _ = parse_cifar(bytes.as_slice(), "g", CifarKind::Cifar100);
        }

        /// Cutting CIFAR data names the first incomplete record.
        #[test]
        fn cifar_cut_anywhere_names_the_record(records in 1usize..4, cut_frac in 0.0f64..1.0) {
            let full: Vec<u8> = (0..records).flat_map(|i| cifar10_record(i as u8, 0)).collect();
            let cut = ((full.len() as f64) * cut_frac) as usize;
            let result = parse_cifar(&full[..cut], "c", CifarKind::Cifar10);
            match result {
                Err(DataError::Truncated { offset, found, item, .. }) => {
                    prop_assert_eq!(offset as usize, cut / 3073 * 3073);
                    prop_assert_eq!(found as usize, cut % 3073);
                    prop_assert_eq!(item, format!("record {}", cut / 3073));
                }
                other => prop_assert!(false, "cut at {}: {:?}", cut, other),
            }
        }
    }
}

/// `scripts/make_subset.py` regenerates the committed subset. The IDX content must be
/// identical; the gzip bytes are identical too when the same zlib is used (checked as well,
/// and reported rather than failed when they differ, since zlib forks compress differently).
#[test]
fn make_subset_script_regenerates_the_builtin_subset() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let debian = Path::new(cdg_train::data::DEBIAN_FASHION_MNIST_DIR);
    if !debian.join("train-images-idx3-ubyte.gz").is_file() {
        eprintln!("skipped: dataset-fashion-mnist is not installed");
        return;
    }
    let out = Scratch::new("make-subset");
    let status = std::process::Command::new("python3")
        .arg(root.join("scripts/make_subset.py"))
        .arg("--source")
        .arg(debian)
        .arg("--out")
        .arg(out.path())
        .stdout(std::process::Stdio::null())
        .status();
    match status {
        Ok(s) => assert!(s.success(), "make_subset.py failed: {s}"),
        Err(e) => {
            eprintln!("skipped: python3 is not available ({e})");
            return;
        }
    }
    let committed = root.join("data/fashion-mnist-subset");
    for name in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        let (a, b) = (
            std::fs::read(out.path().join(name)).unwrap(),
            std::fs::read(committed.join(name)).unwrap(),
        );
        let parse = |bytes: &[u8]| cdg_train::data::parse_idx(bytes, name, "item").unwrap();
        assert_eq!(parse(&a), parse(&b), "{name}: regenerated content differs");
        if a != b {
            eprintln!("note: {name}: same content, different gzip bytes (another zlib build)");
        }
    }
}
