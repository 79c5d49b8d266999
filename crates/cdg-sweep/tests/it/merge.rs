//! `Merge`: shards written to disk and merged equal the unsharded run byte for byte; foreign,
//! duplicate and missing shards are refused before anything is rendered.

use crate::fixtures::{GRID, files, write_spec};
use cdg_io::output::write_outputs;
use cdg_io::sweep::Shard;
use cdg_sweep::{Merge, Silent, SweepError, SweepOptions, SweepPlan};
use std::path::{Path, PathBuf};

const OPTS: SweepOptions = SweepOptions {
    layers: true,
    plots: true,
};

/// Runs shard `shard` of `spec` into `out`.
fn sweep(spec: &Path, shard: Shard, out: &Path) {
    let run = SweepPlan::load(spec, shard, OPTS)
        .unwrap()
        .run(&Silent)
        .unwrap();
    write_outputs(out, &run.outputs).unwrap();
}

fn shards(dir: &Path, spec: &Path, n: usize) -> Vec<PathBuf> {
    (1..=n)
        .map(|k| {
            let out = dir.join(format!("shard-{k}"));
            sweep(spec, Shard::new(k, n).unwrap(), &out);
            out
        })
        .collect()
}

#[test]
fn merged_shards_equal_the_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), GRID);
    let whole = dir.path().join("whole");
    sweep(&spec, Shard::ALL, &whole);
    // 12 points in 5 shards (uneven), given in another order.
    let mut parts = shards(dir.path(), &spec, 5);
    parts.reverse();
    let merge = Merge::read(&parts).unwrap();
    assert_eq!((merge.shards, merge.info.points), (5, 12));
    let merged = dir.path().join("merged");
    write_outputs(&merged, &merge.outputs).unwrap();
    assert_eq!(files(&merged), files(&whole));
}

#[test]
fn more_shards_than_points_still_merge() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "\"array.rows\" = [8, 16]\n");
    let whole = dir.path().join("whole");
    sweep(&spec, Shard::ALL, &whole);
    let parts = shards(dir.path(), &spec, 3);
    let merged = dir.path().join("merged");
    write_outputs(&merged, &Merge::read(&parts).unwrap().outputs).unwrap();
    assert_eq!(files(&merged), files(&whole));
}

#[test]
fn missing_duplicate_foreign_and_broken_shards_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), GRID);
    let parts = shards(dir.path(), &spec, 3);
    let err = |dirs: &[PathBuf]| Merge::read(dirs).unwrap_err().to_string();

    let e = err(&[parts[0].clone(), parts[2].clone()]);
    assert!(
        e.contains("shard is 2/3 missing") || e.contains("2/3"),
        "{e}"
    );
    assert!(e.contains("missing"), "{e}");
    let e = err(&[parts[0].clone(), parts[0].clone(), parts[1].clone()]);
    assert!(e.contains("given twice"), "{e}");

    // A shard of a sweep over other inputs.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let other_spec = write_spec(&other, GRID);
    std::fs::write(other.join("base.toml"), "schema = 1\nname = \"x\"\n").unwrap();
    let foreign = other.join("shard-2");
    sweep(&other_spec, Shard::new(2, 3).unwrap(), &foreign);
    let e = err(&[parts[0].clone(), foreign, parts[2].clone()]);
    assert!(e.contains("not shards of the same sweep"), "{e}");

    // A shard with a row of a point it does not own.
    let csv = parts[1].join("sweep.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    std::fs::write(&csv, text.replacen("\n1,", "\n3,", 1)).unwrap();
    let e = err(&parts);
    assert!(e.contains("point 3 does not belong to shard 2/3"), "{e}");

    // Not a sweep directory at all.
    let e = Merge::read(&[dir.path().to_owned()]).unwrap_err();
    assert!(matches!(e, SweepError::NotSweepDir { .. }), "{e:?}");
    assert!(e.to_string().contains("shard.json"), "{e}");
}
