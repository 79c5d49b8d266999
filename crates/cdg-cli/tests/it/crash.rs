//! Crash consistency (issue #16, 2 and 3; issue #26, 4 and 5): `cdg sim`, `cdg sweep`,
//! `cdg run` reruns, `cdg report`, `cdg plot` and `cdg train` are killed
//! with SIGKILL at pseudo-random moments (fixed seeds), and after every kill the output
//! directory must hold either the previous complete output, the new complete output, or a
//! record saying `writing` that every reader refuses — never a mix of two runs, never a
//! half-written file, never a file cdg does not know about. The next run must then succeed.
//! Each command gets a bounded number of kills so the whole test takes a few tens of seconds.

use crate::support::{cdg, root};
use crate::sweep_fixtures::{s, write_spec};
use cdg_io::output::{RECORD_FILE, RECORD_TEMP_FILE, STAGING_DIR, check_complete, read_record};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The files of `dir` with their bytes, cdg's record and staging directory aside.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, d: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = fs::read_dir(d) else { return };
        for e in entries {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            // cdg's bookkeeping: the record, its next version and the staged files, which the
            // next writer removes.
            if rel == RECORD_FILE || rel == RECORD_TEMP_FILE || rel == STAGING_DIR {
                continue;
            }
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A copy of directory `from` (record included) at `to`, replacing what was there.
fn copy_dir(from: &Path, to: &Path) {
    let _ = fs::remove_dir_all(to);
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            fs::copy(&p, &dest).unwrap();
        }
    }
}

/// Deterministic delays: xorshift64* from a fixed seed.
struct Delays(u64);

impl Delays {
    fn next(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let r = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        max.mul_f64(r as f64 / (1u64 << 53) as f64)
    }
}

/// Command-line arguments as owned strings.
fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// Starts `cdg args`, SIGKILLs it after `delay` (if it is still running).
fn kill_after(args: &[String], delay: Duration) {
    let mut child = cdg()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    if child.try_wait().unwrap().is_none() {
        child.kill().unwrap(); // SIGKILL on Unix: no cleanup runs.
    }
    child.wait().unwrap();
}

/// Runs `cdg args` to completion; returns how long it took.
fn time(args: &[String]) -> Duration {
    let started = Instant::now();
    let out = cdg().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed()
}

/// The invariant after a kill of a run that replaces `before` with `after` in `dir`.
fn check_replacement(
    dir: &Path,
    before: &BTreeMap<String, Vec<u8>>,
    after: &BTreeMap<String, Vec<u8>>,
    readers: &[&[&str]],
    what: &str,
) -> &'static str {
    match check_complete(dir) {
        Ok(_) => {
            let now = snapshot(dir);
            if now == *before {
                "previous"
            } else if now == *after {
                "new"
            } else {
                panic!(
                    "{what}: a complete record over a mix of runs: {:?}",
                    now.keys().collect::<Vec<_>>()
                );
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("incomplete"), "{what}: {msg}");
            // Every file there is cdg's (listed in the record, or inside a nested output
            // directory it lists): nothing unknown, nothing left that a later run could not
            // clean up.
            let record = read_record(dir).unwrap().unwrap();
            for name in snapshot(dir).keys() {
                assert!(
                    record.files.contains(name)
                        || record
                            .dirs
                            .iter()
                            .any(|d| name.starts_with(&format!("{d}/"))),
                    "{what}: {name} is not in the record"
                );
            }
            for reader in readers {
                let mut args: Vec<&str> = reader.to_vec();
                args.push(s(dir));
                let out = cdg().args(&args).output().unwrap();
                assert!(!out.status.success(), "{what}: cdg {args:?} read it");
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(err.contains("incomplete"), "{what}: {err}");
            }
            "refused"
        }
    }
}

#[test]
fn killed_sim_and_sweep_leave_the_previous_output_or_a_refused_one() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let arch = root().join("arch-configs/os-16x16-int8.toml");
    let trace = root().join("traces/cdg-resnet18-w0.25-unstructured");
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();

    // cdg sim: the previous output is a dense run, the new one a compact run per sample.
    let sim = |support: &str, out: &Path| {
        argv(&[
            "sim",
            "--arch",
            s(&arch),
            "--trace",
            s(&trace),
            "--set",
            &format!("sparsity.support={support}"),
            "--per-sample",
            "--out",
            s(out),
            "--quiet",
        ])
    };
    let (prev, next, out) = (t.join("sim-prev"), t.join("sim-next"), t.join("sim"));
    time(&sim("dense", &prev));
    let full = time(&sim("compact", &next));
    let (before, after) = (snapshot(&prev), snapshot(&next));
    let mut delays = Delays(0x5eed_0001);
    let started = Instant::now();
    for i in 0..14 {
        copy_dir(&prev, &out);
        kill_after(&sim("compact", &out), delays.next(full.mul_f64(1.2)));
        let o = check_replacement(
            &out,
            &before,
            &after,
            &[&["plot"]],
            &format!("sim kill {i}"),
        );
        *outcomes.entry(o).or_default() += 1;
        if started.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    // Whatever the kill left, the next run completes and leaves no staging behind.
    time(&sim("compact", &out));
    assert_eq!(snapshot(&out), after);
    assert!(!out.join(STAGING_DIR).exists() && !out.join(RECORD_TEMP_FILE).exists());

    // cdg sweep over an earlier, different sweep (with layers.csv): the new one has 150
    // points, so its commit moves 150 configs into place and deletes the old run's files.
    let spec_a = t.join("spec-a.toml");
    fs::rename(
        write_spec(
            t,
            "\"array.rows\" = [8, 16]\n\"array.dataflow\" = [\"os\", \"ws\"]\n",
        ),
        &spec_a,
    )
    .unwrap();
    let rows: Vec<String> = (1..=50).map(|r| r.to_string()).collect();
    let spec_b = write_spec(
        t,
        &format!(
            "\"array.rows\" = [{}]\n\"array.dataflow\" = [\"os\", \"ws\", \"is\"]\n",
            rows.join(", ")
        ),
    );
    let sweep = |spec: &Path, out: &Path, layers: bool| {
        let mut a = argv(&["sweep", s(spec), "--out", s(out), "--quiet"]);
        if layers {
            a.push("--layers".into());
        }
        a
    };
    let (prev, next, out) = (t.join("sw-prev"), t.join("sw-next"), t.join("sw"));
    time(&sweep(&spec_a, &prev, true));
    let full = time(&sweep(&spec_b, &next, false));
    let (before, after) = (snapshot(&prev), snapshot(&next));
    assert_eq!(
        after.keys().filter(|k| k.starts_with("configs/")).count(),
        150
    );
    let merged = t.join("merged");
    let mut delays = Delays(0x5eed_0002);
    let started = Instant::now();
    for i in 0..14 {
        copy_dir(&prev, &out);
        kill_after(&sweep(&spec_b, &out, false), delays.next(full.mul_f64(1.2)));
        let o = check_replacement(
            &out,
            &before,
            &after,
            &[&["plot"], &["merge", "--out", s(&merged)]],
            &format!("sweep kill {i}"),
        );
        *outcomes.entry(o).or_default() += 1;
        if started.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    time(&sweep(&spec_b, &out, false));
    assert_eq!(snapshot(&out), after);
    eprintln!("outcomes of the kills: {outcomes:?}");
}

#[test]
fn killed_training_leaves_whole_files_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("train");
    let args = |extra: &str| {
        argv(&[
            "train",
            "--objective",
            "simclr",
            "--gating",
            "dual",
            "--target-sparsity",
            "0.5",
            "--model",
            "tiny",
            "--epochs",
            "4",
            "--batch",
            "32",
            "--limit-train",
            "128",
            "--limit-test",
            "32",
            "--calibration-samples",
            "32",
            "--trace-samples",
            "4",
            "--probe-epochs",
            "2",
            "--proj-hidden",
            "16",
            "--threads",
            "1",
            "--quiet",
            "--out",
            s(&out),
            extra,
        ])
    };
    let full = time(&args("--force"));
    let (ckpt, summary, metrics, trace) = (
        out.join(cdg_io::layout::train::CHECKPOINT_FILE),
        out.join(cdg_io::layout::train::SUMMARY_JSON),
        out.join(cdg_io::layout::train::METRICS_CSV),
        out.join(cdg_io::layout::train::TRACE_DIR),
    );
    let mut delays = Delays(0x5eed_0003);
    let started = Instant::now();
    for i in 0..8 {
        let delay = delays.next(full.mul_f64(1.1));
        kill_after(&args("--force"), delay);
        let what = format!("train kill {i} after {delay:?}");
        // Every file is whole: the checkpoint decodes, the metrics and summary parse.
        if ckpt.exists() {
            cdg_train::checkpoint::Checkpoint::from_bytes(&fs::read(&ckpt).unwrap())
                .unwrap_or_else(|e| panic!("{what}: checkpoint: {e}"));
        }
        if summary.exists() {
            let v: serde_json::Value = serde_json::from_slice(&fs::read(&summary).unwrap())
                .unwrap_or_else(|e| panic!("{what}: summary.json: {e}"));
            assert!(v.get("complete").is_some(), "{what}");
        }
        if metrics.exists() {
            let text = fs::read_to_string(&metrics).unwrap();
            assert!(text.starts_with("epoch,"), "{what}: {text}");
        }
        // The trace is complete or refused, never half-written or from the replaced run.
        if trace.join("manifest.json").exists()
            && let Err(e) = cdg_io::read_trace(&trace)
        {
            assert!(e.to_string().contains("incomplete"), "{what}: {e}");
        }
        // A run whose record says complete has its final summary.
        if let Some(record) = read_record(&out).unwrap()
            && record.state == cdg_io::output::State::Complete
        {
            let v: serde_json::Value =
                serde_json::from_slice(&fs::read(&summary).unwrap()).unwrap();
            assert_eq!(v["complete"], serde_json::json!(true), "{what}");
        }
        // The run goes on from its last checkpoint (or starts again without one).
        let next = if ckpt.exists() { "--resume" } else { "--force" };
        time(&args(next));
        check_complete(&out).unwrap();
        cdg_io::read_trace(&trace).unwrap();
        if started.elapsed() > Duration::from_secs(30) {
            break;
        }
    }
}

/// Issue #26, 4: a `cdg run` rerun with another seed, killed at any moment, leaves the whole
/// previous output or the whole new one (traces, sweep.csv, summary.csv and report.html of one
/// run), or a record readers refuse — never a complete record over a mix of the two.
#[test]
fn killed_run_rerun_leaves_the_previous_or_the_new_output() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let designs = root().join("arch-configs");
    let run = |seed: &str, out: &Path| {
        argv(&[
            "run",
            "--no-train",
            "--synthetic",
            "--samples",
            "4",
            "--width",
            "0.25",
            "--seed",
            seed,
            "--arch-configs",
            s(&designs),
            "--out",
            s(out),
            "--quiet",
        ])
    };
    // One name for all three: the report names its directory.
    let (prev, next, out) = (t.join("prev/run"), t.join("next/run"), t.join("out/run"));
    time(&run("1", &prev));
    let full = time(&run("2", &next));
    let (before, after) = (snapshot(&prev), snapshot(&next));
    assert_ne!(
        before.get("traces/synthetic-structured/masks.npz"),
        after.get("traces/synthetic-structured/masks.npz"),
        "the seeds give different traces"
    );
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    let mut delays = Delays(0x5eed_0004);
    let started = Instant::now();
    for i in 0..16 {
        copy_dir(&prev, &out);
        kill_after(&run("2", &out), delays.next(full.mul_f64(1.2)));
        let o = check_replacement(
            &out,
            &before,
            &after,
            &[&["report"], &["plot"]],
            &format!("run kill {i}"),
        );
        *outcomes.entry(o).or_default() += 1;
        if started.elapsed() > Duration::from_secs(25) {
            break;
        }
    }
    time(&run("2", &out));
    assert_eq!(snapshot(&out), after);
    eprintln!("outcomes of the run kills: {outcomes:?}");
    assert!(
        outcomes.get("previous").copied().unwrap_or(0) > 0,
        "some kills land before the commit: {outcomes:?}"
    );
}

/// Issue #26, 5: `cdg report` and `cdg plot` add files to a complete output; killed at any
/// moment they leave it complete and readable, with its data files as they were and each added
/// file absent, the earlier version or the new one — never whole data made unreadable.
#[test]
fn killed_report_and_plot_never_make_complete_output_unreadable() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let rows: Vec<String> = (1..=40).map(|r| r.to_string()).collect();
    let spec = write_spec(
        t,
        &format!(
            "\"array.rows\" = [{}]\n\"array.dataflow\" = [\"os\", \"ws\"]\n",
            rows.join(", ")
        ),
    );
    // One name for all three: the report names its directory.
    let (base, done, out) = (t.join("base/sw"), t.join("done/sw"), t.join("out/sw"));
    time(&argv(&[
        "sweep",
        s(&spec),
        "--out",
        s(&base),
        "--quiet",
        "--no-plot",
    ]));
    let data = snapshot(&base);
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for (seed, command) in [(0x5eed_0005u64, "report"), (0x5eed_0006, "plot")] {
        copy_dir(&base, &done);
        let full = time(&argv(&[command, s(&done)]));
        let finished = snapshot(&done);
        let added: Vec<&String> = finished.keys().filter(|k| !data.contains_key(*k)).collect();
        assert!(!added.is_empty(), "{command} adds files");
        let mut delays = Delays(seed);
        let started = Instant::now();
        for i in 0..14 {
            copy_dir(&base, &out);
            kill_after(&argv(&[command, s(&out)]), delays.next(full.mul_f64(1.3)));
            let what = format!("{command} kill {i}");
            // Still complete: every reader goes on reading it.
            check_complete(&out).unwrap_or_else(|e| panic!("{what}: {e}"));
            let now = snapshot(&out);
            for (name, bytes) in &data {
                assert_eq!(now.get(name), Some(bytes), "{what}: {name} changed");
            }
            let mut state = "none";
            for name in &added {
                match now.get(*name) {
                    None => {}
                    Some(b) if Some(b) == finished.get(*name) => state = "added",
                    Some(_) => panic!("{what}: {name} is not whole"),
                }
            }
            assert_eq!(
                now.len(),
                data.len() + now.keys().filter(|k| added.contains(k)).count(),
                "{what}: an unknown file"
            );
            *outcomes.entry(format!("{command} {state}")).or_default() += 1;
            // And the next run completes.
            time(&argv(&[command, s(&out)]));
            if started.elapsed() > Duration::from_secs(15) {
                break;
            }
        }
    }
    eprintln!("outcomes of the report/plot kills: {outcomes:?}");
}
