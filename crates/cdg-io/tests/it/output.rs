//! Output directories: the layout's generated names, and committing [`Outputs`] (files
//! written atomically, stale files of an earlier run removed, files written now kept).

use cdg_io::layout::sweep::{config_name, layers_point_svg};
use cdg_io::output::{Outputs, Stale, write_outputs};
use std::fs;

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
    out.remove_if_present("old.csv");
    assert_eq!(out.stale(), [Stale::File("old.csv".into())]);
}

#[test]
fn write_outputs_removes_stale_files_but_not_the_ones_written_now() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::create_dir_all(d.join("configs")).unwrap();
    for name in [
        "point-0000.toml",
        "point-0001.toml",
        "point-0002.toml",
        "notes.toml",
    ] {
        fs::write(d.join("configs").join(name), "old").unwrap();
    }
    fs::write(d.join("layers.csv"), "old").unwrap();
    fs::write(d.join("layers_point_0001.svg"), "old").unwrap();
    fs::write(d.join("keep.txt"), "mine").unwrap();

    let mut out = Outputs::new();
    out.remove_matching("configs", "point-", ".toml");
    out.remove_if_present("layers.csv");
    out.remove_if_present("never-there.csv");
    out.remove_matching("", "layers_point_", ".svg");
    out.remove_matching("missing-dir", "x", ".y");
    out.add("configs/point-0001.toml", b"new".to_vec());
    out.add("sweep.csv", b"a\n1\n".to_vec());
    write_outputs(d, &out).unwrap();

    let mut configs: Vec<String> = fs::read_dir(d.join("configs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    configs.sort();
    assert_eq!(configs, ["notes.toml", "point-0001.toml"]);
    assert_eq!(fs::read(d.join("configs/point-0001.toml")).unwrap(), b"new");
    assert!(!d.join("layers.csv").exists());
    assert!(!d.join("layers_point_0001.svg").exists());
    assert_eq!(fs::read(d.join("keep.txt")).unwrap(), b"mine");
    assert_eq!(fs::read(d.join("sweep.csv")).unwrap(), b"a\n1\n");
    // No temporary files are left behind.
    assert_eq!(
        fs::read_dir(d).unwrap().count(),
        3,
        "configs, keep.txt, sweep.csv"
    );
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
