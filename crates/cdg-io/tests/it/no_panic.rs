//! No input may make a reader panic: damaged copies of valid files (bytes flipped, inserted,
//! cut) and arbitrary text must give `Ok` or an error, never a panic or an abort.

use cdg_io::arch::parse_arch;
use cdg_io::scalesim::{parse_scalesim_cfg, parse_topology};
use cdg_io::trace::read_trace;
use proptest::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

#[derive(Debug, Clone)]
enum Damage {
    Flip(usize, u8),
    Insert(usize, u8),
    Cut(usize),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, x)| Damage::Flip(i, x)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Damage::Insert(i, x)),
        any::<usize>().prop_map(Damage::Cut),
    ]
}

fn apply(bytes: &mut Vec<u8>, d: &Damage) {
    if bytes.is_empty() {
        return;
    }
    match *d {
        Damage::Flip(i, x) => {
            let n = bytes.len();
            bytes[i % n] ^= x;
        }
        Damage::Insert(i, x) => bytes.insert(i % (bytes.len() + 1), x),
        Damage::Cut(i) => bytes.truncate(i % bytes.len()),
    }
}

fn damaged_trace(dir: &Path, file: &str, damages: &[Damage]) {
    for f in ["manifest.json", "masks.npz"] {
        fs::copy(data().join("trace-small").join(f), dir.join(f)).unwrap();
    }
    let mut bytes = fs::read(dir.join(file)).unwrap();
    for d in damages {
        apply(&mut bytes, d);
    }
    fs::write(dir.join(file), bytes).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn damaged_manifest_never_panics(damages in proptest::collection::vec(damage(), 1..4)) {
        let dir = tempfile::tempdir().unwrap();
        damaged_trace(dir.path(), "manifest.json", &damages);
        let _ = read_trace(dir.path());
    }

    #[test]
    fn damaged_npz_never_panics(damages in proptest::collection::vec(damage(), 1..4)) {
        let dir = tempfile::tempdir().unwrap();
        damaged_trace(dir.path(), "masks.npz", &damages);
        if let Err(e) = read_trace(dir.path()) {
            // Every failure names the file it is about.
            let msg = e.to_string();
            prop_assert!(msg.contains("masks.npz"), "{}", msg);
        }
    }

    #[test]
    fn damaged_arch_config_never_panics(damages in proptest::collection::vec(damage(), 1..4)) {
        let mut bytes = fs::read(data().join("../../../../arch-configs/os-16x16-int8.toml")).unwrap();
        for d in &damages {
            apply(&mut bytes, d);
        }
        if let Ok(text) = String::from_utf8(bytes) {
            let _ = parse_arch(&text, "damaged.toml", &[]);
        }
    }

    #[test]
    fn arbitrary_overrides_never_panic(key in "[a-z._]{0,20}", value in "\\PC{0,12}") {
        let _ = parse_arch("schema = 1\n", "x.toml", &[format!("{key}={value}")]);
    }

    #[test]
    fn damaged_scalesim_files_never_panic(damages in proptest::collection::vec(damage(), 1..4)) {
        for f in ["scale_v3.cfg", "mobilenet_part.csv", "gemm_sparse.csv"] {
            let mut bytes = fs::read(data().join("scalesim").join(f)).unwrap();
            for d in &damages {
                apply(&mut bytes, d);
            }
            let text = String::from_utf8_lossy(&bytes);
            if f.ends_with(".cfg") {
                let _ = parse_scalesim_cfg(&text, Path::new(f));
            } else {
                let _ = parse_topology(&text, f);
            }
        }
    }

    #[test]
    fn arbitrary_topology_rows_never_panic(rows in proptest::collection::vec(
        proptest::collection::vec("[0-9]{0,12}|[A-Za-z :]{0,6}", 0..11), 0..6)) {
        let text: Vec<String> = rows.iter().map(|r| r.join(",")).collect();
        let _ = parse_topology(&text.join("\n"), "arbitrary.csv");
    }
}
