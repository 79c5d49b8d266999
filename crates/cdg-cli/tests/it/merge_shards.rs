//! `cdg merge`: shards of a split sweep join into exactly the unsharded run's bytes, and shards
//! that do not belong together or do not cover the sweep are refused.

use crate::sweep_fixtures::{GRID, fails, files, ok, s, write_spec};
use cdg_io::layout::sweep::{SHARD_JSON, SWEEP_CSV};
use std::path::{Path, PathBuf};

fn shards(dir: &Path, spec: &Path, n: usize) -> Vec<PathBuf> {
    (1..=n)
        .map(|k| {
            let out = dir.join(format!("shard-{k}"));
            let shard = format!("{k}/{n}");
            ok(&[
                "sweep",
                s(spec),
                "--out",
                s(&out),
                "--layers",
                "--shard",
                &shard,
                "--quiet",
            ]);
            out
        })
        .collect()
}

/// `cdg merge <parts…> --out <out>`, which must succeed.
fn merge(parts: &[PathBuf], out: &Path) {
    let mut args = vec!["merge"];
    args.extend(parts.iter().map(|p| s(p)));
    args.extend(["--out", s(out)]);
    ok(&args);
}

#[test]
fn merged_shards_equal_the_unsharded_run_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), GRID);
    let whole = dir.path().join("whole");
    ok(&["sweep", s(&spec), "--out", s(&whole), "--layers", "--quiet"]);
    // 18 points in 4 shards: uneven shard sizes (5, 5, 4, 4). Given out of order.
    let mut parts = shards(dir.path(), &spec, 4);
    parts.reverse();
    let merged = dir.path().join("merged");
    merge(&parts, &merged);
    let (a, b) = (files(&whole), files(&merged));
    assert_eq!(
        a.iter().map(|f| &f.0).collect::<Vec<_>>(),
        b.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(
            x == y,
            "{name} differs between the unsharded run and the merge"
        );
    }
    // A shard has only its own points: 2/4 runs points 1, 5, 9, 13, 17.
    let text = std::fs::read_to_string(dir.path().join("shard-2/sweep.csv")).unwrap();
    let points: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(points, ["1", "5", "9", "13", "17"]);
}

#[test]
fn more_shards_than_points_still_merge() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "\"array.rows\" = [8, 16]\n");
    let whole = dir.path().join("whole");
    ok(&["sweep", s(&spec), "--out", s(&whole), "--layers", "--quiet"]);
    let parts = shards(dir.path(), &spec, 3);
    let merged = dir.path().join("merged");
    merge(&parts, &merged);
    // The 3rd shard has no points, yet the merge reproduces the whole run.
    assert_eq!(files(&whole), files(&merged));
}

#[test]
fn missing_duplicate_and_foreign_shards_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), GRID);
    let parts = shards(dir.path(), &spec, 3);
    let out = dir.path().join("merged");

    let err = fails(&["merge", s(&parts[0]), s(&parts[2]), "--out", s(&out)]);
    assert!(err.contains("2/3") && err.contains("missing"), "{err}");

    let err = fails(&[
        "merge",
        s(&parts[0]),
        s(&parts[1]),
        s(&parts[1]),
        s(&parts[2]),
        "--out",
        s(&out),
    ]);
    assert!(err.contains("given twice"), "{err}");

    // A shard of a different sweep (another grid) does not mix in.
    let other_dir = tempfile::tempdir().unwrap();
    let other_spec = write_spec(other_dir.path(), "\"array.rows\" = [8, 16, 32, 64]\n");
    let other = other_dir.path().join("o2");
    ok(&[
        "sweep",
        s(&other_spec),
        "--out",
        s(&other),
        "--layers",
        "--shard",
        "2/3",
        "--quiet",
    ]);
    let err = fails(&[
        "merge",
        s(&parts[0]),
        s(&other),
        s(&parts[2]),
        "--out",
        s(&out),
    ]);
    assert!(err.contains("not shards of the same sweep"), "{err}");

    // A truncated shard (a point's row lost) is caught.
    let csv = parts[1].join(SWEEP_CSV);
    let text = std::fs::read_to_string(&csv).unwrap();
    let kept: Vec<&str> = text.lines().take(text.lines().count() - 1).collect();
    std::fs::write(&csv, kept.join("\n") + "\n").unwrap();
    let err = fails(&[
        "merge",
        s(&parts[0]),
        s(&parts[1]),
        s(&parts[2]),
        "--out",
        s(&out),
    ]);
    assert!(err.contains("point 16"), "{err}");

    // (Issue #26: --out may not be inside a shard given, so this one goes elsewhere.)
    let elsewhere = tempfile::tempdir().unwrap();
    let err = fails(&[
        "merge",
        s(dir.path()),
        "--out",
        s(&elsewhere.path().join("merged")),
    ]);
    assert!(err.contains(SHARD_JSON), "{err}");
    assert!(!out.exists(), "nothing may be written by a refused merge");
}

#[test]
fn traces_and_topologies_together_shard_and_merge_exactly() {
    let dir = tempfile::tempdir().unwrap();
    write_spec(dir.path(), "");
    ok(&[
        "masks",
        "synth",
        "--network",
        "resnet18-cifar",
        "--width",
        "0.125",
        "--density",
        "0.5",
        "--samples",
        "2",
        "--out",
        s(&dir.path().join("gated")),
    ]);
    let spec = dir.path().join("spec.toml");
    std::fs::write(
        &spec,
        "base = \"base.toml\"\ntraces = [\"gated\"]\ntopologies = [\"net.csv\"]\n[grid]\n\
         \"sparsity.support\" = [\"dense\", \"tile-skip\", \"compact\"]\n\
         \"array.dataflow\" = [\"os\", \"is\"]\n",
    )
    .unwrap();
    let whole = dir.path().join("whole");
    ok(&["sweep", s(&spec), "--out", s(&whole), "--layers", "--quiet"]);
    let parts = shards(dir.path(), &spec, 4);
    let merged = dir.path().join("merged");
    merge(&parts, &merged);
    assert_eq!(files(&whole), files(&merged));
    // Two rows per point, trace first; the gated workload reports its block and FLOPs saving.
    let mut r = csv::Reader::from_path(whole.join(SWEEP_CSV)).unwrap();
    let h = r.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    assert_eq!(rows.len(), 12);
    assert_eq!(&rows[0][col("workload")], "gated");
    assert_eq!(&rows[0][col("gate_block")], "16x1x1");
    assert_eq!(&rows[1][col("workload")], "net");
    assert_eq!(&rows[1][col("gate_block")], "none");
    let flops: f64 = rows[0][col("flops_reduction")].parse().unwrap();
    assert!(flops > 1.2, "density 0.5 gates cut FLOPs: {flops}");
}

#[test]
fn shards_over_different_workload_files_do_not_mix() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), GRID);
    let first = dir.path().join("s1");
    ok(&[
        "sweep",
        s(&spec),
        "--out",
        s(&first),
        "--shard",
        "1/2",
        "--quiet",
    ]);
    // Same spec text, edited topology: the second shard simulates another network.
    let net = dir.path().join("net.csv");
    let text = std::fs::read_to_string(&net)
        .unwrap()
        .replace("16, 32, 2", "16, 48, 2");
    std::fs::write(&net, text).unwrap();
    let second = dir.path().join("s2");
    ok(&[
        "sweep",
        s(&spec),
        "--out",
        s(&second),
        "--shard",
        "2/2",
        "--quiet",
    ]);
    let out = dir.path().join("merged");
    let err = fails(&["merge", s(&first), s(&second), "--out", s(&out)]);
    assert!(err.contains("not shards of the same sweep"), "{err}");
}
