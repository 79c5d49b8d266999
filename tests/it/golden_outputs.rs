//! Byte-for-byte outputs of representative runs on the shipped traces and designs, compared
//! against the committed expected outputs in `tests/golden/<case>/`. A refactor must leave every
//! CSV, JSON, TOML, trace and SVG byte unchanged; a deliberate change of the outputs regenerates
//! the expected files with `CDG_BLESS=1 cargo test --release -p cdg-tests golden` and
//! shows up in review as a diff of those files.
//!
//! Each case is a list of `cdg` invocations run in a fresh directory. In their arguments `{out}`
//! is that directory and `{root}` the workspace root; every file the case writes under `{out}`
//! and its standard output (with both placeholders substituted back) are compared.

use crate::support::{cdg, root};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One representative run.
struct Case {
    name: &'static str,
    steps: &'static [&'static [&'static str]],
    /// Whether stdout is deterministic and compared (`cdg run` prints its wall time).
    compare_stdout: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "sim-structured-os-compact",
        steps: &[&[
            "sim",
            "--arch",
            "{root}/arch-configs/os-16x16-int8.toml",
            "--trace",
            "{root}/traces/cdg-resnet18-w0.25-structured",
            "--set",
            "sparsity.support=compact",
            "--out",
            "{out}/sim",
        ]],
        compare_stdout: true,
    },
    Case {
        name: "sim-unstructured-ws-tile-skip",
        steps: &[&[
            "sim",
            "--arch",
            "{root}/arch-configs/ws-32x32-int8.toml",
            "--trace",
            "{root}/traces/cdg-resnet18-w0.25-unstructured",
            "--set",
            "sparsity.support=tile-skip",
            "--out",
            "{out}/sim",
        ]],
        compare_stdout: true,
    },
    Case {
        name: "sim-structured-is-clock-gate-overlap",
        steps: &[&[
            "sim",
            "--arch",
            "{root}/arch-configs/is-32x32-int8.toml",
            "--trace",
            "{root}/traces/cdg-resnet18-w0.25-structured",
            "--set",
            "sparsity.support=clock-gate",
            "--set",
            "array.overlap_folds=true",
            "--set",
            "sparsity.mask_in_dram=true",
            "--out",
            "{out}/sim",
        ]],
        compare_stdout: true,
    },
    Case {
        name: "sim-structured-tpu-dense",
        steps: &[&[
            "sim",
            "--arch",
            "{root}/arch-configs/tpu-like-128x128-ws.toml",
            "--trace",
            "{root}/traces/cdg-resnet18-w0.25-structured",
            "--set",
            "sparsity.support=dense",
            "--out",
            "{out}/sim",
        ]],
        compare_stdout: true,
    },
    Case {
        name: "synth-per-sample-compact",
        steps: &[
            &[
                "masks",
                "synth",
                "--network",
                "resnet18-cifar",
                "--density",
                "0.4",
                "--samples",
                "3",
                "--seed",
                "7",
                "--out",
                "{out}/trace",
            ],
            &[
                "sim",
                "--arch",
                "{root}/arch-configs/os-16x16-int8.toml",
                "--trace",
                "{out}/trace",
                "--set",
                "sparsity.support=compact",
                "--set",
                "memory.dram_bytes_per_cycle=4",
                "--per-sample",
                "--out",
                "{out}/sim",
            ],
            &["inspect", "{out}/trace", "--json"],
        ],
        compare_stdout: true,
    },
    Case {
        name: "scalesim-topology",
        steps: &[&[
            "sim",
            "--scalesim-cfg",
            "{root}/crates/cdg-io/tests/data/scalesim/scale_v3.cfg",
            "--topology",
            "{root}/crates/cdg-io/tests/data/scalesim/mobilenet_part.csv",
            "--out",
            "{out}/sim",
        ]],
        compare_stdout: true,
    },
    Case {
        name: "sweep-dataflow-policy",
        steps: &[&[
            "sweep",
            "{root}/tests/golden/inputs/sweep-dataflow-policy/sweep-spec.toml",
            "--layers",
            "--out",
            "{out}/sweep",
        ]],
        compare_stdout: true,
    },
    Case {
        name: "inspect-shipped",
        steps: &[&[
            "inspect",
            "{root}/traces/cdg-resnet18-w0.25-unstructured",
            "--json",
        ]],
        compare_stdout: true,
    },
    Case {
        name: "run-no-train",
        steps: &[&[
            "run",
            "--no-train",
            "--arch-configs",
            "{root}/arch-configs",
            "--traces",
            "{root}/traces",
            "--out",
            "{out}/results",
        ]],
        compare_stdout: false,
    },
];

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden")
}

/// Every file under `dir`, by path relative to it.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else if path
                .file_name()
                .is_some_and(|n| n == cdg_io::output::RECORD_FILE)
            {
                // cdg's record of an output directory (which command, which files) is not an
                // output; every directory a case wrote must be complete.
                cdg_io::output::check_complete(path.parent().unwrap()).unwrap();
            } else {
                let rel = path
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Runs `case` in `out`; returns every file it wrote plus `stdout.txt`.
fn run_case(case: &Case, out: &Path) -> BTreeMap<String, Vec<u8>> {
    let root = root().canonicalize().unwrap();
    let (root_s, out_s) = (root.display().to_string(), out.display().to_string());
    let mut stdout = String::new();
    for step in case.steps {
        let args: Vec<String> = step
            .iter()
            .map(|a| a.replace("{root}", &root_s).replace("{out}", &out_s))
            .collect();
        let run = cdg()
            .args(&args)
            .arg("--quiet")
            .current_dir(out)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}: cdg {}\n{}",
            case.name,
            args.join(" "),
            String::from_utf8_lossy(&run.stderr)
        );
        stdout.push_str(&String::from_utf8_lossy(&run.stdout));
    }
    let mut got = files(out);
    if case.compare_stdout {
        let text = mask_durations(&stdout.replace(&out_s, "{out}").replace(&root_s, "{root}"));
        got.insert("stdout.txt".into(), text.into_bytes());
    }
    got
}

/// `text` with every wall-clock duration (" in 0.4 s") replaced by " in … s": the only part of
/// the compared stdout that depends on the machine's load.
fn mask_durations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(" in ") {
        let (head, tail) = rest.split_at(i + 4);
        out.push_str(head);
        let digits = tail
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(tail.len());
        if digits > 0 && tail[digits..].starts_with(" s") {
            out.push('…');
            rest = &tail[digits..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// The first line where `a` and `b` differ, for the failure message.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            let cut = |s: &str| s.chars().take(300).collect::<String>();
            return format!(
                "line {}:\n  expected: {}\n  got:      {}",
                i + 1,
                cut(x),
                cut(y)
            );
        }
    }
    format!(
        "lengths differ: expected {} lines, got {}",
        a.lines().count(),
        b.lines().count()
    )
}

#[test]
fn golden_outputs_are_unchanged() {
    let bless = std::env::var_os("CDG_BLESS").is_some();
    let mut failures = Vec::new();
    for case in CASES {
        let tmp = tempfile::tempdir().unwrap();
        let got = run_case(case, tmp.path());
        let dir = golden_dir().join(case.name);
        if bless {
            let _ = std::fs::remove_dir_all(&dir);
            for (rel, bytes) in &got {
                let path = dir.join(rel);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, bytes).unwrap();
            }
            continue;
        }
        let want = files(&dir);
        assert!(
            !want.is_empty(),
            "{}: no expected outputs in {}; bless them with CDG_BLESS=1",
            case.name,
            dir.display()
        );
        for (rel, bytes) in &want {
            match got.get(rel) {
                None => failures.push(format!("{}/{rel}: not written", case.name)),
                Some(g) if g != bytes => failures.push(format!(
                    "{}/{rel} differs: {}",
                    case.name,
                    first_difference(bytes, g)
                )),
                Some(_) => {}
            }
        }
        for rel in got.keys().filter(|r| !want.contains_key(*r)) {
            failures.push(format!("{}/{rel}: written but not expected", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} output files differ from tests/golden (rerun with CDG_BLESS=1 only if the change \
         is deliberate):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
