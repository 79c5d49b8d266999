//! Issue #26: nothing of the user's is lost. `--out` never replaces another kind of output or
//! an input, deletion never leaves the output through a link, every reader reads only regular
//! files under the memory limit, hand-edited shards are refused, absurd values are refused and
//! messages name the right thing. Each test names the item it pins.

use crate::support::{cdg, root};
use crate::sweep_fixtures::{fails, files, ok, s, write_spec};
use cdg_io::layout::{sim, sweep, trace, train};
use cdg_io::output::{OutputDir, Outputs, check_complete, read_record};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

fn arch() -> PathBuf {
    root().join("arch-configs/os-16x16-int8.toml")
}

/// [`arch`] as the command line takes it.
static ARCH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| s(&arch()).to_owned());

/// A small synthetic trace at `out`.
fn synth(out: &Path) {
    ok(&[
        "masks",
        "synth",
        "--network",
        "resnet18-cifar",
        "--width",
        "0.25",
        "--density",
        "0.5",
        "--samples",
        "2",
        "--out",
        s(out),
    ]);
}

/// `cdg sim` of `trace` into `out`, plus `extra`.
fn sim_args<'a>(trace: &'a Path, out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "sim",
        "--arch",
        ARCH.as_str(),
        "--trace",
        s(trace),
        "--out",
        s(out),
    ];
    a.extend_from_slice(extra);
    a
}

/// A training output directory as `cdg train` leaves one (its record says `train`).
fn fake_training_run(dir: &Path) {
    let mut out = OutputDir::create(dir, &train::KIND).unwrap();
    out.begin(false).unwrap();
    let mut files = Outputs::new();
    files.add(
        train::CHECKPOINT_FILE,
        b"weights of a long training run".to_vec(),
    );
    files.add(train::METRICS_CSV, b"epoch,loss\n0,1.5\n".to_vec());
    files.add(train::SUMMARY_JSON, b"{\"complete\": true}\n".to_vec());
    out.update(&files).unwrap();
    out.finish().unwrap();
}

/// Runs `cdg args`, failing the test if it runs longer than 20 s (a hang); (success, stderr).
fn bounded(args: &[&str]) -> (bool, String) {
    crate::support::run_bounded(args, &[], Duration::from_secs(20))
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Issue #26, 1 and 12: `--out` equal to, inside or containing an input is refused in every
/// command that writes, and so is an output of another kind (naming both, `--force` replacing
/// it) and the file-system root; the refused directory is left byte for byte as it was.
#[test]
fn out_is_never_an_input_another_kind_or_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let x = t.join("x");
    synth(&x);
    let before = files(&x);

    // The command's own input.
    let e = fails(&sim_args(&x, &x, &[]));
    assert!(e.contains("is the --trace input"), "{e}");
    let e = fails(&sim_args(&x, &x.join("sim"), &[]));
    assert!(e.contains("is inside the --trace input"), "{e}");
    let e = fails(&sim_args(&x, t, &[]));
    assert!(e.contains("contains the --trace input"), "{e}");
    assert_eq!(files(&x), before, "the trace is untouched");

    // cdg masks synth --trace X --out X.
    let e = fails(&[
        "masks",
        "synth",
        "--trace",
        s(&x),
        "--density",
        "0.5",
        "--out",
        s(&x),
    ]);
    assert!(e.contains("is the --trace input"), "{e}");

    // cdg compare A B --out A.
    let a = t.join("a");
    ok(&sim_args(&x, &a, &[]));
    let sim_files = files(&a);
    let e = fails(&["compare", s(&a), s(&a), "--out", s(&a)]);
    assert!(e.contains("is the A input"), "{e}");
    assert_eq!(files(&a), sim_files);

    // cdg sweep S --out X, X a trace the spec lists.
    let spec = t.join("spec.toml");
    fs::write(t.join("base.toml"), crate::sweep_fixtures::BASE).unwrap();
    fs::write(
        &spec,
        "base = \"base.toml\"\ntraces = [\"x\"]\n[grid]\n\"array.rows\" = [8, 16]\n",
    )
    .unwrap();
    let e = fails(&["sweep", s(&spec), "--out", s(&x)]);
    assert!(e.contains("is the trace (of the spec) input"), "{e}");
    assert_eq!(files(&x), before);

    // cdg import onnx --out <sim dir>: another kind.
    let model = root().join("crates/cdg-cli/tests/onnx/conv-attrs.onnx");
    let e = fails(&["import", "onnx", s(&model), "--out", s(&a)]);
    assert!(
        e.contains("it holds a `sim` output, and this command writes a `trace` output")
            && e.contains("--force"),
        "{e}"
    );
    assert_eq!(files(&a), sim_files);

    // cdg merge --out sh1 sh1 sh2.
    let mspec = write_spec(t, "\"array.rows\" = [8, 16, 32]\n");
    let shard = |k: &str, out: &Path| {
        ok(&["sweep", s(&mspec), "--shard", k, "--out", s(out), "--quiet"]);
    };
    let (sh1, sh2) = (t.join("sh1"), t.join("sh2"));
    shard("1/2", &sh1);
    shard("2/2", &sh2);
    let shard_files = files(&sh1);
    let e = fails(&["merge", s(&sh1), s(&sh2), "--out", s(&sh1)]);
    assert!(e.contains("is the shard input"), "{e}");
    assert_eq!(files(&sh1), shard_files);

    // A training run as --out of sim, run and masks synth: refused, naming both kinds.
    let tr = t.join("train");
    fake_training_run(&tr);
    let trained = files(&tr);
    for args in [
        sim_args(&x, &tr, &[]),
        vec![
            "run",
            "--no-train",
            "--synthetic",
            "--samples",
            "2",
            "--width",
            "0.125",
            "--arch-configs",
            s(&root().join("arch-configs")),
            "--out",
            s(&tr),
        ],
        vec![
            "masks",
            "synth",
            "--network",
            "resnet18-cifar",
            "--density",
            "0.5",
            "--samples",
            "1",
            "--out",
            s(&tr),
        ],
    ] {
        let e = fails(&args);
        assert!(
            e.contains("it holds a `train` output") && e.contains("pass --force to replace"),
            "{args:?}: {e}"
        );
        assert_eq!(files(&tr), trained, "{args:?}");
    }
    // With --force the training run is replaced as a whole.
    ok(&sim_args(&x, &tr, &["--force"]));
    assert_eq!(read_record(&tr).unwrap().unwrap().kind, "sim");
    assert!(!tr.join(train::CHECKPOINT_FILE).exists());
    assert!(tr.join(sim::NETWORK_CSV).is_file());

    // A trace written by another tool (no record) is not cdg's to write into.
    let py = t.join("python-trace");
    fs::create_dir(&py).unwrap();
    fs::copy(x.join(trace::MANIFEST_FILE), py.join(trace::MANIFEST_FILE)).unwrap();
    let e = fails(&sim_args(&x, &py, &["--force"]));
    assert!(
        e.contains("it holds manifest.json, a file of a `trace` output"),
        "{e}"
    );

    // Issue #26, 12: the root.
    let e = fails(&sim_args(&x, Path::new("/"), &[]));
    assert!(e.contains("it is the root of the file system"), "{e}");
}

/// Issue #26, 2: a link inside an output is neither deleted through nor written through, and a
/// record whose `dirs` entry is a link is refused.
#[test]
fn links_inside_an_output_are_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let elsewhere = t.join("elsewhere");
    synth(&elsewhere);
    let kept = files(&elsewhere);
    let run = |out: &Path, seed: &str| {
        vec![
            "run".to_owned(),
            "--no-train".into(),
            "--synthetic".into(),
            "--samples".into(),
            "2".into(),
            "--width".into(),
            "0.125".into(),
            "--seed".into(),
            seed.into(),
            "--arch-configs".into(),
            s(&root().join("arch-configs")).into(),
            "--out".into(),
            s(out).into(),
        ]
    };
    let r = t.join("results");
    let argv = run(&r, "1");
    ok(&argv.iter().map(String::as_str).collect::<Vec<_>>());
    // The run's trace replaced by a link to a trace elsewhere.
    let linked = r.join("traces/synthetic-structured");
    fs::remove_dir_all(&linked).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &linked).unwrap();
    let argv = run(&r, "2");
    let e = fails(&argv.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        e.contains("traces/synthetic-structured: is a symbolic link inside the output directory"),
        "{e}"
    );
    assert_eq!(files(&elsewhere), kept, "the linked trace is untouched");

    // A directory a sweep writes its configs into, replaced by a link.
    let spec = write_spec(t, "\"array.rows\" = [8, 16]\n");
    let out = t.join("sweep");
    ok(&["sweep", s(&spec), "--out", s(&out), "--quiet"]);
    let target = t.join("configs-elsewhere");
    fs::rename(out.join(sweep::CONFIGS_DIR), &target).unwrap();
    std::os::unix::fs::symlink(&target, out.join(sweep::CONFIGS_DIR)).unwrap();
    let before = files(&target);
    let spec2 = write_spec(t, "\"array.rows\" = [4, 8, 32]\n");
    let e = fails(&["sweep", s(&spec2), "--out", s(&out), "--quiet"]);
    assert!(e.contains("configs: is a symbolic link"), "{e}");
    assert_eq!(files(&target), before);
}

/// Issue #26, 3: `cdg inspect T --plot=FILE` refuses a file of the trace and any existing file
/// that is not a plot; `--plot --out T` refuses the trace directory.
#[test]
fn inspect_plots_never_overwrite_the_trace() {
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x");
    synth(&x);
    let before = files(&x);
    let manifest = x.join(trace::MANIFEST_FILE);
    let e = fails(&["inspect", s(&x), &format!("--plot={}", s(&manifest))]);
    assert!(e.contains("is inside the trace input"), "{e}");
    let e = fails(&["inspect", s(&x), "--plot", "--out", s(&x)]);
    assert!(e.contains("is the trace input"), "{e}");
    assert_eq!(files(&x), before);
    let notes = tmp.path().join("notes.txt");
    fs::write(&notes, "mine").unwrap();
    let e = fails(&["inspect", s(&x), &format!("--plot={}", s(&notes))]);
    assert!(e.contains("it exists and is not an SVG plot"), "{e}");
    assert_eq!(fs::read_to_string(&notes).unwrap(), "mine");
    // A plot is redrawn in place.
    let svg = tmp.path().join("g.svg");
    ok(&["inspect", s(&x), &format!("--plot={}", s(&svg))]);
    ok(&["inspect", s(&x), &format!("--plot={}", s(&svg))]);
    assert!(fs::read_to_string(&svg).unwrap().starts_with("<svg"));
}

/// Issue #26, 8: every input reader reads only regular files, under the memory limit: FIFOs
/// and devices are refused at once (no hang, no growing memory).
#[test]
fn readers_refuse_fifos_devices_and_files_over_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let fifo = t.join("fifo");
    mkfifo(&fifo);
    let x = t.join("x");
    synth(&x);
    let out = t.join("out");
    let topo = t.join("net.csv");
    fs::write(&topo, crate::sweep_fixtures::TOPOLOGY).unwrap();
    let refused = |args: &[&str], what: &str| {
        let (okay, err) = bounded(args);
        assert!(!okay, "{args:?} succeeded");
        assert!(err.contains(what), "{args:?}: {err}");
    };
    let fifo_s = s(&fifo);
    refused(
        &["sim", "--arch", fifo_s, "--trace", s(&x), "--out", s(&out)],
        "fifo: is a FIFO (named pipe); expected a regular file",
    );
    refused(
        &[
            "sim",
            "--arch",
            "/dev/zero",
            "--trace",
            s(&x),
            "--out",
            s(&out),
        ],
        "/dev/zero: is a character device",
    );
    refused(
        &[
            "sim",
            "--arch",
            s(&arch()),
            "--topology",
            fifo_s,
            "--out",
            s(&out),
        ],
        "is a FIFO",
    );
    refused(
        &[
            "sim",
            "--scalesim-cfg",
            fifo_s,
            "--topology",
            s(&topo),
            "--out",
            s(&out),
        ],
        "is a FIFO",
    );
    // A trace whose manifest is a FIFO.
    let bad_trace = t.join("fifo-trace");
    fs::create_dir(&bad_trace).unwrap();
    mkfifo(&bad_trace.join(trace::MANIFEST_FILE));
    refused(
        &[
            "sim",
            "--arch",
            s(&arch()),
            "--trace",
            s(&bad_trace),
            "--out",
            s(&out),
        ],
        "manifest.json: is a FIFO",
    );
    refused(&["sweep", fifo_s, "--out", s(&out)], "is a FIFO");
    refused(&["import", "onnx", fifo_s, "--out", s(&out)], "is a FIFO");
    refused(
        &["train", "--config", fifo_s, "--out", s(&t.join("tr"))],
        "is a FIFO",
    );
    // A FIFO among the designs of cdg run.
    let designs = t.join("designs");
    fs::create_dir(&designs).unwrap();
    fs::copy(arch(), designs.join("a.toml")).unwrap();
    mkfifo(&designs.join("b.toml"));
    refused(
        &[
            "run",
            "--no-train",
            "--arch-configs",
            s(&designs),
            "--out",
            s(&out),
        ],
        "b.toml: is a FIFO",
    );
    // sweep.csv of plot and merge.
    let spec = write_spec(t, "\"array.rows\" = [8, 16]\n");
    let sw = t.join("sw");
    ok(&["sweep", s(&spec), "--out", s(&sw), "--quiet"]);
    fs::remove_file(sw.join(sweep::SWEEP_CSV)).unwrap();
    mkfifo(&sw.join(sweep::SWEEP_CSV));
    refused(&["plot", s(&sw)], "sweep.csv: is a FIFO");
    refused(
        &["merge", s(&sw), "--out", s(&t.join("merged"))],
        "sweep.csv: is a FIFO",
    );
    // A --resume checkpoint that is a FIFO.
    let tr = t.join("resume");
    fake_training_run(&tr);
    fs::remove_file(tr.join(train::CHECKPOINT_FILE)).unwrap();
    mkfifo(&tr.join(train::CHECKPOINT_FILE));
    refused(
        &[
            "train",
            "--model",
            "tiny",
            "--epochs",
            "1",
            "--limit-train",
            "8",
            "--batch",
            "4",
            "--resume",
            "--out",
            s(&tr),
        ],
        "checkpoint.cdgckpt: is a FIFO",
    );
    // A regular file over --max-memory is refused before it is read.
    refused(
        &[
            "--max-memory",
            "1K",
            "sim",
            "--arch",
            s(&arch()),
            "--trace",
            s(&x),
            "--out",
            s(&out),
        ],
        "more than the limit of 1.00 KiB",
    );
}

/// Issue #26, 9: `cdg merge`, `cdg plot` and `cdg compare` validate what they read as strictly
/// as the sweep writes it: a NaN cell, a negative count, a deleted layers.csv row.
#[test]
fn hand_edited_outputs_are_refused_by_their_readers() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let spec = write_spec(t, "\"array.rows\" = [8, 16, 32]\n");
    let shard = |k: &str, out: &Path| {
        ok(&[
            "sweep",
            s(&spec),
            "--shard",
            k,
            "--layers",
            "--out",
            s(out),
            "--quiet",
        ]);
    };
    let (sh1, sh2, merged) = (t.join("sh1"), t.join("sh2"), t.join("merged"));
    let fresh = || {
        shard("1/2", &sh1);
        shard("2/2", &sh2);
    };
    // Replaces column `column` of the first data row of `file` with `value`.
    let edit = |file: &Path, column: &str, value: &str| {
        let text = fs::read_to_string(file).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let col = lines[0].split(',').position(|h| h == column).unwrap();
        let mut cells: Vec<&str> = lines[1].split(',').collect();
        cells[col] = value;
        lines[1] = cells.join(",");
        fs::write(file, lines.join("\n") + "\n").unwrap();
    };
    fresh();
    edit(&sh1.join(sweep::SWEEP_CSV), "energy_pj", "NaN");
    let e = fails(&["merge", s(&sh1), s(&sh2), "--out", s(&merged)]);
    assert!(
        e.contains("sh1/sweep.csv: line 2: column `energy_pj` holds `NaN`"),
        "{e}"
    );
    assert!(!merged.exists());

    fresh();
    edit(&sh1.join(sweep::SWEEP_CSV), "macs_dense", "-5");
    let e = fails(&["merge", s(&sh1), s(&sh2), "--out", s(&merged)]);
    assert!(
        e.contains("line 2: column `macs_dense` holds `-5`; a count, size, time or energy is never negative"),
        "{e}"
    );
    let e = fails(&["plot", s(&sh1)]);
    assert!(e.contains("column `macs_dense` holds `-5`"), "{e}");
    let e = fails(&[
        "compare",
        s(&sh1),
        s(&sh2),
        "--point",
        "0",
        "--point-b",
        "1",
    ]);
    assert!(e.contains("column `macs_dense` holds `-5`"), "{e}");

    fresh();
    let layers = sh1.join(sweep::LAYERS_CSV);
    let text = fs::read_to_string(&layers).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(2);
    fs::write(&layers, lines.join("\n") + "\n").unwrap();
    let e = fails(&["merge", s(&sh1), s(&sh2), "--out", s(&merged)]);
    assert!(
        e.contains("sh1/layers.csv: point 0, workload `net` has 2 layer rows")
            && e.contains("says it has 3 layers"),
        "{e}"
    );
    fresh();
    ok(&["merge", s(&sh1), s(&sh2), "--out", s(&merged)]);
}

/// Issue #26, 13 and the messages that named the wrong thing: absurd values are refused naming
/// the key or option at fault.
#[test]
fn absurd_values_are_refused_naming_their_key() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let x = t.join("x");
    synth(&x);
    let out = t.join("out");
    let e = fails(&[
        "masks",
        "synth",
        "--network",
        "resnet18-cifar",
        "--density",
        "0.5",
        "--samples",
        "1",
        "--gate-block",
        "18446744073709551615,1,1",
        "--out",
        s(&out),
    ]);
    assert!(
        e.contains("block c = 18446744073709551615 exceeds both the layer's 64 output channels"),
        "{e}"
    );
    let e = fails(&sim_args(
        &x,
        &out,
        &["--set", "memory.ifmap_sram_kib=1e-300"],
    ));
    assert!(
        e.contains("`memory.ifmap_sram_kib`: is too small (1e-300 KiB holds less than one"),
        "{e}"
    );
    for f in ["5e-324", "1e308"] {
        let e = fails(&sim_args(
            &x,
            &out,
            &["--set", &format!("clock.frequency_mhz={f}")],
        ));
        assert!(
            e.contains("`clock.frequency_mhz`: must be between 0.001 and 1000000 MHz"),
            "{e}"
        );
        assert!(
            !e.contains("leak_per_pe_cycle") && !e.contains("finite numbers"),
            "{e}"
        );
    }
    let e = fails(&[
        "train",
        "--model",
        "tiny",
        "--width",
        "1e9",
        "--epochs",
        "1",
        "--out",
        s(&t.join("tr")),
    ]);
    assert!(
        e.contains(
            "--width: 1000000000 given, but the width multiplier applies to --model resnet18 only"
        ),
        "{e}"
    );
    assert!(!out.exists(), "nothing was written");
}

/// Issue #26, 14: a text cell a spreadsheet would run as a formula is written with a leading
/// `'`; numbers, negative ones included, stay numbers.
#[test]
fn formula_like_names_are_neutralized_in_csvs() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let topo = t.join("net.csv");
    fs::write(
        &topo,
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n\
         =cmd|\"/c calc\"!A1, 18, 18, 3, 3, 3, 16, 1,\n\
         @SUM(A1), 16, 16, 3, 3, 16, 16, 1,\n\
         -2+3, 14, 14, 1, 1, 16, 8, 1,\n\
         conv4, 14, 14, 1, 1, 8, 8, 1,\n",
    )
    .unwrap();
    let out = t.join("sim");
    ok(&[
        "sim",
        "--arch",
        s(&arch()),
        "--topology",
        s(&topo),
        "--out",
        s(&out),
    ]);
    let bytes = fs::read(out.join(sim::LAYERS_CSV)).unwrap();
    let mut r = csv::Reader::from_reader(bytes.as_slice());
    let col = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "layer")
        .unwrap();
    let names: Vec<String> = r
        .records()
        .map(|rec| rec.unwrap()[col].to_owned())
        .collect();
    assert_eq!(
        names,
        ["'=cmd|\"/c calc\"!A1", "'@SUM(A1)", "'-2+3", "conv4"],
        "names that start a formula get a leading quote"
    );
    // The report still reads the file (names are text).
    ok(&["plot", s(&out)]);
}

/// The messages of issue #26 that named the wrong thing: a bad `dirs` entry of a record, and a
/// closed pipe (`cdg inspect … | head`), which ends quietly.
#[test]
fn messages_name_the_right_thing() {
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x");
    synth(&x);
    // A record with a `dirs` entry outside the directory is reported as `dirs`.
    let record = x.join(cdg_io::output::RECORD_FILE);
    let text = fs::read_to_string(&record).unwrap();
    let bad = text.replace("\"dirs\": []", "\"dirs\": [\"../elsewhere\"]");
    assert_ne!(bad, text);
    fs::write(&record, bad).unwrap();
    let e = check_complete(&x).unwrap_err().to_string();
    assert!(
        e.contains("`dirs` names `../elsewhere`, which is not a path inside the directory"),
        "{e}"
    );
    fs::write(&record, text).unwrap();

    // A reader that goes away: no `error: Broken pipe`, a quiet exit.
    let mut child = cdg()
        .args(["inspect", s(&x)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("Broken pipe"), "{err}");
    assert!(out.status.success(), "{err}");
}
