//! A bounded fuzz run per parser (cargo-fuzz needs a nightly toolchain): every file of the
//! parser's corpus directory in `tests/fuzz/` is parsed, then mutants of them (bit flips,
//! interesting bytes and tokens, inserted, deleted and duplicated ranges, splices of two corpus
//! files) from a seeded generator are parsed for about a second and a half. A parser may
//! accept or refuse an input; it may not panic. Regression files (`regression-*`) are inputs
//! that once failed badly; their errors are checked too (tests/fuzz/README.md).

use cdg_io::onnx::{ImportOptions, import_onnx_bytes};
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Time each parser's mutation loop runs.
const BUDGET: Duration = Duration::from_millis(1500);
/// And at most this many mutants, so a fast machine does not run for long either.
const MAX_MUTANTS: usize = 20_000;

fn corpus_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz")
        .join(name)
}

/// The corpus files of `name`, sorted, with their bytes.
fn corpus(name: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(corpus_dir(name))
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus {name}");
    files
}

/// xorshift64*: a deterministic generator, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const BYTES: &[u8] = b"\x00\xff\x7f\x80019-.,:=\"'[]{}()\n #";
const TOKENS: &[&str] = &[
    "0",
    "-1",
    "1e308",
    "-1e308",
    "18446744073709551615",
    "18446744073709551616",
    "4294967296",
    "9223372036854775807",
    "NaN",
    "inf",
    "\"\"",
    "[]",
    "{}",
    "true",
    "0.0",
    "1e-320",
    "65536",
];

/// One to four mutations of `input`, sometimes spliced with `other`.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let n = b.len();
        match rng.below(7) {
            0 if n > 0 => {
                let i = rng.below(n);
                b[i] ^= 1 << rng.below(8);
            }
            1 if n > 0 => {
                let i = rng.below(n);
                b[i] = BYTES[rng.below(BYTES.len())];
            }
            2 => {
                let i = rng.below(n + 1);
                let k = 1 + rng.below(8);
                let ins: Vec<u8> = (0..k).map(|_| rng.next() as u8).collect();
                b.splice(i..i, ins);
            }
            3 if n > 0 => {
                let i = rng.below(n);
                let k = 1 + rng.below((n - i).min(64));
                b.drain(i..i + k);
            }
            4 if n > 0 => {
                let i = rng.below(n);
                let k = 1 + rng.below((n - i).min(256));
                let chunk = b[i..i + k].to_vec();
                let at = rng.below(b.len() + 1);
                b.splice(at..at, chunk);
            }
            5 => {
                let i = rng.below(n + 1);
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                b.splice(i..i, t.iter().copied());
            }
            _ if !other.is_empty() => {
                let cut = rng.below(n + 1);
                let from = rng.below(other.len());
                b.truncate(cut);
                b.extend_from_slice(&other[from..]);
            }
            _ => {}
        }
    }
    b
}

/// Runs `parse` on the corpus of `name` (checking each regression file's error with `check`),
/// then on mutants for [`BUDGET`]. A panic fails the test, naming the input saved for the
/// corpus.
fn fuzz(
    name: &str,
    seed: u64,
    parse: impl Fn(&[u8]) -> Result<(), String>,
    check: &[(&str, &str)],
) {
    let files = corpus(name);
    for (file, bytes) in &files {
        let result = catch_unwind(AssertUnwindSafe(|| parse(bytes)));
        let result = result.unwrap_or_else(|_| panic!("{name}/{file} panics"));
        for (regression, expect) in check {
            if file == regression {
                let err = result.as_ref().expect_err(file);
                assert!(err.contains(expect), "{name}/{file}: {err}");
                assert!(
                    err.len() < 2000,
                    "{name}/{file}: a {}-byte message",
                    err.len()
                );
            }
        }
    }
    let mut rng = Rng(seed);
    let started = Instant::now();
    let mut mutants = 0;
    while started.elapsed() < BUDGET && mutants < MAX_MUTANTS {
        let (_, a) = &files[rng.below(files.len())];
        let (_, b) = &files[rng.below(files.len())];
        let input = mutate(&mut rng, a, b);
        if catch_unwind(AssertUnwindSafe(|| parse(&input))).is_err() {
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
            fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("{name}-{seed:x}-{mutants}"));
            fs::write(&path, &input).unwrap();
            panic!(
                "{name}: mutant {mutants} panics; the input is {} — fix the parser and add it \
                 to tests/fuzz/{name}/ as regression-<what>",
                path.display()
            );
        }
        mutants += 1;
    }
    assert!(mutants > 0);
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn fuzz_arch_config() {
    fuzz(
        "arch",
        1,
        |b| {
            cdg_io::arch::parse_arch(&text(b), "fuzz.toml", &[])
                .map(drop)
                .map_err(|e| e.to_string())
        },
        &[],
    );
}

#[test]
fn fuzz_sweep_spec() {
    fuzz(
        "sweep",
        2,
        |b| {
            cdg_io::sweep::parse_spec(&text(b), Path::new("/specs/fuzz.toml"))
                .map(drop)
                .map_err(|e| e.to_string())
        },
        &[(
            "regression-issue16-long-line.toml",
            "not valid TOML: line 2",
        )],
    );
}

#[test]
fn fuzz_scalesim_cfg() {
    fuzz(
        "scalesim-cfg",
        3,
        |b| {
            cdg_io::scalesim::parse_scalesim_cfg(&text(b), Path::new("fuzz.cfg"))
                .map(drop)
                .map_err(|e| e.to_string())
        },
        &[(
            "regression-issue16-misspelt-interface-bandwidth.cfg",
            "InterfaceBandwith: unknown key; did you mean [run_presets] InterfaceBandwidth?",
        )],
    );
}

#[test]
fn fuzz_scalesim_topology() {
    fuzz(
        "topology",
        4,
        |b| {
            cdg_io::scalesim::parse_topology(&text(b), "fuzz.csv")
                .map(drop)
                .map_err(|e| e.to_string())
        },
        &[("regression-issue16-gemm-zero-n.csv", "fuzz.csv:2: N: ")],
    );
}

/// A trace directory with trace-small's files and `file` replaced by `bytes`.
fn trace_with(dir: &Path, file: &str, bytes: &[u8]) -> cdg_io::Result<cdg_io::Trace> {
    let small = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/trace-small");
    for f in ["manifest.json", "masks.npz"] {
        fs::copy(small.join(f), dir.join(f)).unwrap();
    }
    fs::write(dir.join(file), bytes).unwrap();
    cdg_io::read_trace(dir)
}

#[test]
fn fuzz_trace_manifest() {
    let dir = tempfile::tempdir().unwrap();
    fuzz(
        "manifest",
        5,
        |b| {
            trace_with(dir.path(), "manifest.json", b)
                .map(drop)
                .map_err(|e| e.to_string())
        },
        &[(
            "regression-issue16-bomb-promise.json",
            "would need 16.00 TiB of memory, more than the limit",
        )],
    );
}

#[test]
fn fuzz_trace_npz() {
    let dir = tempfile::tempdir().unwrap();
    fuzz(
        "npz",
        6,
        |b| match trace_with(dir.path(), "masks.npz", b) {
            Ok(_) => Ok(()),
            Err(e) => {
                // Every failure names the file it is about.
                let msg = e.to_string();
                assert!(msg.contains("masks.npz"), "{msg}");
                Err(msg)
            }
        },
        &[],
    );
}

#[test]
fn fuzz_onnx() {
    let options = ImportOptions {
        input_shapes: Vec::new(),
        name_prefix: String::new(),
    };
    fuzz(
        "onnx",
        7,
        |b| {
            import_onnx_bytes(b, Path::new("fuzz.onnx"), &options)
                .map(drop)
                .map_err(|e| e.to_string())
        },
        // Issue #26, 10: attributes of the wrong type and graphs ONNX forbids.
        &[
            (
                "regression-strides-floats.onnx",
                "attribute `strides` is FLOATS; expected INTS",
            ),
            (
                "regression-group-float.onnx",
                "attribute `group` is FLOAT; expected INT",
            ),
            (
                "regression-group-untyped-float.onnx",
                "attribute `group` holds FLOAT; expected INT",
            ),
            ("regression-batch-zero.onnx", "dimension 0 (the batch) is 0"),
            (
                "regression-valid-with-pads.onnx",
                "has auto_pad \"VALID\" and explicit pads",
            ),
            ("regression-two-writers.onnx", "writes `z`"),
            (
                "regression-two-default-opsets.onnx",
                "imports the default ONNX domain 2 times",
            ),
            ("regression-conv-no-output.onnx", "has no output"),
            (
                "regression-split-zero-outputs.onnx",
                "num_outputs 0 must be at least 1",
            ),
            (
                "regression-gather-out-of-range.onnx",
                "index 5 is out of range for axis 1 of size 2",
            ),
        ],
    );
}
