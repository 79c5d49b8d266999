//! Output directories: the layout's generated names, and committing [`Outputs`] (files
//! staged and moved into place, the earlier run's files removed and only those, one writer at
//! a time, interrupted commits refused by readers; docs/formats.md §5).

use cdg_io::layout::sweep::{config_name, layers_point_svg};
use cdg_io::output::{
    OutputDir, Outputs, RECORD_FILE, STAGING_DIR, State, check_complete, read_record, write_outputs,
};
use std::fs;
use std::path::Path;

#[test]
fn config_names_sort_in_point_order() {
    assert_eq!(config_name(3, 10), "point-0003.toml");
    assert_eq!(config_name(3, 10_000), "point-0003.toml");
    assert_eq!(config_name(42, 10_001), "point-00042.toml");
    assert_eq!(layers_point_svg(12), "layers_point_0012.svg");
    let mut names: Vec<String> = (0..12_000).map(|i| config_name(i, 12_000)).collect();
    let sorted = {
        let mut s = names.clone();
        s.sort();
        s
    };
    assert_eq!(names, sorted);
    names.dedup();
    assert_eq!(names.len(), 12_000);
}

#[test]
fn outputs_replace_by_name_and_keep_their_order() {
    let mut out = Outputs::new();
    out.add("b.csv", b"1".to_vec());
    out.add("a.csv", b"2".to_vec());
    out.add("b.csv", b"3".to_vec());
    let names: Vec<_> = out.files().iter().map(|f| f.name.clone()).collect();
    assert_eq!(names, [std::path::PathBuf::from("b.csv"), "a.csv".into()]);
    assert_eq!(out.get("b.csv"), Some(&b"3"[..]));
    assert_eq!(out.get("c.csv"), None);
}

/// The files of `dir` (relative, sorted), cdg's bookkeeping aside.
fn listing(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.retain(|n| n != RECORD_FILE);
    out.sort();
    out
}

#[test]
fn a_commit_removes_the_earlier_runs_files_and_only_those() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut first = Outputs::new();
    for i in 0..3 {
        first.add(format!("configs/{}", config_name(i, 3)), b"old".to_vec());
    }
    first.add("layers.csv", b"old".to_vec());
    first.add("layers_point_0001.svg", b"old".to_vec());
    write_outputs(d, &first).unwrap();
    // The user's own files, one of them in cdg's configs directory.
    fs::write(d.join("configs/notes.toml"), "mine").unwrap();
    fs::write(d.join("keep.txt"), "mine").unwrap();

    let mut second = Outputs::new();
    second.add("configs/point-0001.toml", b"new".to_vec());
    second.add("sweep.csv", b"a\n1\n".to_vec());
    write_outputs(d, &second).unwrap();

    assert_eq!(
        listing(d),
        [
            "configs/notes.toml",
            "configs/point-0001.toml",
            "keep.txt",
            "sweep.csv"
        ]
    );
    assert_eq!(fs::read(d.join("configs/point-0001.toml")).unwrap(), b"new");
    assert_eq!(fs::read(d.join("keep.txt")).unwrap(), b"mine");
    let record = read_record(d).unwrap().unwrap();
    assert_eq!(record.state, State::Complete);
    assert_eq!(
        record.files.iter().map(String::as_str).collect::<Vec<_>>(),
        ["configs/point-0001.toml", "sweep.csv"]
    );
    // No staging directory or temporary file is left behind.
    assert!(!d.join(STAGING_DIR).exists());
}

#[test]
fn files_cdg_did_not_write_are_never_overwritten_or_left_beside() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A user's sweep.csv (or an older cdg's, without a record).
    fs::write(d.join("sweep.csv"), "mine").unwrap();
    let mut out = Outputs::new();
    out.add("sweep.csv", b"new".to_vec());
    let e = write_outputs(d, &out).unwrap_err().to_string();
    assert!(
        e.contains("sweep.csv: exists, but") && e.contains("has no record that cdg wrote it"),
        "{e}"
    );
    assert_eq!(fs::read(d.join("sweep.csv")).unwrap(), b"mine");
    // A kind's names are refused even when this run would not write them: they would be
    // left beside the new files as if they belonged to them.
    fs::remove_file(d.join("sweep.csv")).unwrap();
    fs::write(d.join("layers.csv"), "mine").unwrap();
    let e = OutputDir::create(d, &cdg_io::layout::sweep::KIND)
        .unwrap_err()
        .to_string();
    assert!(e.contains("layers.csv: exists"), "{e}");
    assert!(e.contains("beside a new sweep output"), "{e}");
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let kind = &cdg_io::layout::sim::KIND;
    let first = OutputDir::create(dir.path(), kind).unwrap();
    let e = OutputDir::create(dir.path(), kind).unwrap_err().to_string();
    assert!(
        e.contains("another cdg process is writing this output directory"),
        "{e}"
    );
    drop(first);
    OutputDir::create(dir.path(), kind).unwrap();
}

#[test]
fn an_interrupted_commit_is_refused_by_readers_and_cleaned_by_the_next_writer() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut out = Outputs::new();
    out.add("a.csv", b"1".to_vec());
    write_outputs(d, &out).unwrap();
    check_complete(d).unwrap();
    // What a writer killed between its `writing` record and its `complete` one leaves.
    let mut record = read_record(d).unwrap().unwrap();
    record.state = State::Writing;
    record.files.insert("b.csv".into());
    fs::write(d.join(RECORD_FILE), serde_json::to_vec(&record).unwrap()).unwrap();
    fs::create_dir_all(d.join(STAGING_DIR)).unwrap();
    fs::write(d.join(STAGING_DIR).join("c.csv"), "half").unwrap();
    let e = check_complete(d).unwrap_err().to_string();
    assert!(
        e.contains("incomplete cdg output: the cdg run writing it did not finish"),
        "{e}"
    );
    let mut again = Outputs::new();
    again.add("c.csv", b"3".to_vec());
    write_outputs(d, &again).unwrap();
    assert_eq!(listing(d), ["c.csv"]);
    check_complete(d).unwrap();
}

#[test]
fn a_damaged_or_hostile_record_is_an_error_not_a_licence_to_delete() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("out");
    fs::create_dir_all(&d).unwrap();
    fs::write(dir.path().join("precious.txt"), "mine").unwrap();
    let hostile = r#"{"format":"cdg-output","version":1,"kind":"x","state":"complete","files":["../precious.txt"]}"#;
    fs::write(d.join(RECORD_FILE), hostile).unwrap();
    let e = write_outputs(&d, &Outputs::new()).unwrap_err().to_string();
    assert!(e.contains("not a path inside the directory"), "{e}");
    assert!(dir.path().join("precious.txt").exists());
    fs::write(d.join(RECORD_FILE), "{").unwrap();
    let e = check_complete(&d).unwrap_err().to_string();
    assert!(e.contains("not valid cdg output record"), "{e}");
}

#[test]
fn nested_output_directories_are_replaced_through_their_own_records() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let kind = &cdg_io::layout::run::KIND;
    let mut run = OutputDir::create(d, kind).unwrap();
    run.claim_dir("traces/a").unwrap();
    let mut nested = Outputs::new();
    nested.add("manifest.json", b"{}".to_vec());
    write_outputs(&d.join("traces/a"), &nested).unwrap();
    fs::write(d.join("traces/a/notes.txt"), "mine").unwrap();
    let mut top = Outputs::new();
    top.add("summary.csv", b"x\n".to_vec());
    run.commit(&top).unwrap();
    drop(run);
    assert_eq!(
        read_record(d)
            .unwrap()
            .unwrap()
            .dirs
            .into_iter()
            .collect::<Vec<_>>(),
        ["traces/a"]
    );
    // A run that does not claim it removes cdg's files there, but not the user's.
    let mut run = OutputDir::create(d, kind).unwrap();
    run.commit(&top).unwrap();
    assert_eq!(listing(d), ["summary.csv", "traces/a/notes.txt"]);
}

#[test]
fn many_files_are_all_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Outputs::new();
    for i in 0..100 {
        out.add(format!("configs/{}", config_name(i, 100)), i.to_string());
    }
    write_outputs(dir.path(), &out).unwrap();
    for i in 0..100 {
        let p = dir.path().join("configs").join(config_name(i, 100));
        assert_eq!(fs::read_to_string(p).unwrap(), i.to_string());
    }
}

#[test]
fn a_file_that_cannot_be_written_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should go.
    fs::create_dir_all(dir.path().join("sweep.csv")).unwrap();
    let mut out = Outputs::new();
    out.add("sweep.csv", b"x".to_vec());
    let e = write_outputs(dir.path(), &out).unwrap_err().to_string();
    assert!(e.contains("sweep.csv"), "{e}");
}
