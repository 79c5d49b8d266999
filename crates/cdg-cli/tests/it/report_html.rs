//! `cdg report`, `cdg compare` and the issue-#15 options of `cdg sim`, `cdg sweep` and
//! `cdg inspect`: the report is one self-contained page with every section and only finite
//! numbers, and it renders in a real browser (headless Chromium, when installed).

use crate::support::{cdg, root};
use std::path::{Path, PathBuf};
use std::process::Command;

const SECTIONS: [&str; 6] = [
    "simulated",
    "summary",
    "pareto",
    "layers",
    "latency",
    "density",
];

fn ok(args: &[&str], cwd: &Path) -> String {
    let out = cdg().args(args).current_dir(cwd).output().unwrap();
    assert!(
        out.status.success(),
        "cdg {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(args: &[&str], cwd: &Path) -> String {
    let out = cdg().args(args).current_dir(cwd).output().unwrap();
    assert!(!out.status.success(), "cdg {} succeeded", args.join(" "));
    String::from_utf8(out.stderr).unwrap()
}

fn structured() -> String {
    root()
        .join("traces/cdg-resnet18-w0.25-structured")
        .display()
        .to_string()
}

fn arch(name: &str) -> String {
    root().join("arch-configs").join(name).display().to_string()
}

/// A `cdg sim --policies all` output and its report.
fn sim_report(dir: &Path) -> (PathBuf, String) {
    let out = dir.join("sim");
    let out_s = out.display().to_string();
    ok(
        &[
            "sim",
            "--arch",
            &arch("os-16x16-int8.toml"),
            "--trace",
            &structured(),
            "--policies",
            "all",
            "--out",
            &out_s,
        ],
        dir,
    );
    let printed = ok(&["report", &out_s], dir);
    let path = out.join("report.html");
    assert_eq!(printed.trim(), path.display().to_string());
    let html = std::fs::read_to_string(&path).unwrap();
    (path, html)
}

/// What every report must satisfy whatever the browser: one page with no external
/// reference, every section, and no NaN or infinity anywhere.
fn check_structure(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.len() < 5_000_000, "{} bytes", html.len());
    for s in SECTIONS {
        assert!(
            html.contains(&format!("<section id=\"{s}\">")),
            "section {s} missing"
        );
    }
    let lower = html.to_lowercase();
    for banned in [
        "<script", "<link", "@import", "src=", "url(", "<img", "<iframe",
    ] {
        assert!(!lower.contains(banned), "report holds `{banned}`");
    }
    // The SVG namespace is an identifier, not a fetch; no other URL may appear.
    let urls = lower
        .match_indices("http")
        .filter(|(i, _)| !lower[*i..].starts_with("http://www.w3.org/2000/svg"))
        .count();
    assert_eq!(urls, 0, "the report refers to an external URL");
    // Every number shown is finite: no NaN or infinity anywhere, and every table cell that
    // is a number parses as a finite one.
    for bad in ["NaN", ">inf", "inf<", "infinity", " inf ", "1.#"] {
        assert!(!html.contains(bad), "`{bad}` in the report");
    }
    for cell in html.split("<td>").skip(1) {
        let text = &cell[..cell.find('<').unwrap_or(cell.len())];
        if let Ok(v) = text.parse::<f64>() {
            assert!(v.is_finite(), "{text}");
        }
        assert!(!text.contains("NaN") && !text.contains("inf"), "{text}");
    }
}

#[test]
fn sim_report_is_self_contained_and_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, html) = sim_report(tmp.path());
    check_structure(&html);
    // What was simulated: the workload, the design, the four policies, both baselines.
    assert!(html.contains("cdg-resnet18-w0.25-structured"));
    assert!(html.contains("os-16x16-int8"));
    for p in ["dense", "clock-gate", "tile-skip", "compact"] {
        assert!(html.contains(&format!("<td class=\"t\">{p}</td>")), "{p}");
    }
    assert!(html.contains("<b>ungated</b>") && html.contains("<b>dense policy</b>"));
    // Units: µs and µJ; the summary has one row per policy.
    assert!(html.contains("latency (µs)") && html.contains("energy (µJ)"));
    let table = &html[html.find("id=\"summary-table\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(table.matches("<tr").count(), 5, "header + 4 policies");
    // The per-sample distribution: percentiles and a histogram per policy.
    assert_eq!(html.matches("class=\"percentiles\"").count(), 4);
    assert!(html.contains("Latency of each sample"));
    // Gate density per layer, per-layer breakdown against both baselines.
    assert!(html.contains("Gate density per layer: cdg-resnet18-w0.25-structured"));
    assert!(html.contains("Cycles per layer:") && html.contains("ungated (µJ)"));
    // Compact dominates here: one Pareto design, named.
    let front = &html[html.find("class=\"pareto-front\"").unwrap()..];
    let front = &front[..front.find("</ol>").unwrap()];
    assert!(front.contains("policy compact"), "{front}");
}

/// Renders the report in headless Chromium: the page loads from disk, shows the summary table
/// and one labelled point per Pareto design, and logs no console error. Skips (saying why)
/// when no Chromium is installed; `.ci/run` installs it.
/// A Chromium on PATH, if any.
fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// The DOM of the page at `path` as headless `browser` parsed it, after checking that it
/// logged no console error and no failed load.
fn rendered_dom(browser: &str, path: &Path, profile: &Path) -> String {
    let url = format!("file://{}", path.display());
    let run = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            &format!("--user-data-dir={}", profile.display()),
            "--virtual-time-budget=5000",
            "--dump-dom",
            &url,
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let log = String::from_utf8_lossy(&run.stderr);
    // Console errors and failed loads are logged as CONSOLE / net::ERR lines.
    for line in log.lines() {
        assert!(
            !(line.contains("CONSOLE") && line.to_lowercase().contains("error")),
            "console error: {line}"
        );
        assert!(!line.contains("net::ERR_"), "failed load: {line}");
    }
    String::from_utf8_lossy(&run.stdout).into_owned()
}

/// Renders the report in headless Chromium: the page loads from disk, shows the summary table
/// and one labelled point per Pareto design, and logs no console error. Skips (saying why)
/// when no Chromium is installed; `.ci/run` installs it.
#[test]
fn report_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        eprintln!("SKIPPED report_renders_in_headless_chromium: no chromium on PATH");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (path, html) = sim_report(tmp.path());
    let profile = tmp.path().join("profile");
    let url = format!("file://{}", path.display());
    let dom = rendered_dom(browser, &path, &profile);
    // The browser parsed the page: the summary table with its rows, every section, and one
    // labelled entry per Pareto design (numbered on the plot, named in the list).
    assert!(dom.contains("id=\"summary-table\""), "{dom:.400}");
    for s in SECTIONS {
        assert!(
            dom.contains(&format!("id=\"{s}\"")),
            "section {s} not rendered"
        );
    }
    let designs = dom.matches("class=\"pareto-design\"").count();
    assert!(designs >= 1);
    assert_eq!(designs, html.matches("class=\"pareto-design\"").count());
    assert!(
        dom.contains("1: os-16x16-int8, compact"),
        "the front point is labelled"
    );
    // A screenshot renders too (the SVGs are drawable images).
    let shot = tmp.path().join("shot.png");
    let run = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,2000",
            &url,
        ])
        .output()
        .unwrap();
    assert!(run.status.success());
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
}

#[test]
fn sweep_report_compare_and_linked_axes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let spec = dir.join("spec.toml");
    std::fs::write(
        &spec,
        format!(
            "base = \"{}\"\ntraces = [\"{}\"]\n[grid]\n\
             array = [{{rows = 16, cols = 16}}, {{rows = 32, cols = 32}}]\n\
             \"array.dataflow\" = [\"os\", \"ws\"]\n\"sparsity.support\" = [\"dense\", \"compact\"]\n",
            arch("os-16x16-int8.toml"),
            structured()
        ),
    )
    .unwrap();
    let out = dir.join("sweep");
    let out_s = out.display().to_string();
    ok(
        &[
            "sweep",
            &spec.display().to_string(),
            "--layers",
            "--out",
            &out_s,
        ],
        dir,
    );
    // Linked axis: 2 squares (not 4 shapes) × 2 dataflows × 2 policies, and each point named
    // by its design, also in its config file.
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    assert!(csv.starts_with("point,array.rows,array.cols,array.dataflow,sparsity.support,"));
    assert_eq!(csv.lines().count(), 1 + 8);
    assert!(csv.contains(",ws-32x32 support=compact,"), "{csv:.2000}");
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with("latency_us_p50,latency_us_p95,latency_us_p99")
    );
    let config = std::fs::read_to_string(out.join("configs/point-0007.toml")).unwrap();
    assert!(
        config.contains("name = \"ws-32x32 support=compact\""),
        "{config}"
    );
    let layers = std::fs::read_to_string(out.join("layers.csv")).unwrap();
    assert!(
        layers
            .lines()
            .next()
            .unwrap()
            .ends_with("gate_density,gate_density_min,gate_density_max")
    );

    ok(&["report", &out_s], dir);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    check_structure(&html);
    assert!(html.contains("ws-32x32 support=compact"));
    assert!(html.contains("Per-layer") || html.contains("Cycles per layer"));

    // Two points of the sweep side by side, with a CSV.
    let cmp = dir.join("cmp");
    let printed = ok(
        &[
            "compare",
            &out_s,
            &out_s,
            "--point",
            "0",
            "--point-b",
            "7",
            "--out",
            &cmp.display().to_string(),
        ],
        dir,
    );
    assert!(
        printed.contains("point 7 (ws-32x32 support=compact)"),
        "{printed}"
    );
    assert!(
        printed.contains("latency_us") && printed.contains("B / A"),
        "{printed}"
    );
    let rows = std::fs::read_to_string(cmp.join("compare.csv")).unwrap();
    assert!(rows.starts_with("quantity,a,b,ratio_b_over_a\n"));
    let line = rows.lines().find(|l| l.starts_with("cycles,")).unwrap();
    let f: Vec<f64> = line
        .split(',')
        .skip(1)
        .map(|c| c.parse().unwrap())
        .collect();
    assert!((f[1] / f[0] - f[2]).abs() < 1e-9, "{line}");
    // A sweep without --point is refused with what to give.
    let e = fails(&["compare", &out_s, &out_s], dir);
    assert!(e.contains("--point N"), "{e}");
}

#[test]
fn sim_policies_compare_and_inspect_out() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let run = |name: &str, policy: &str| {
        let out = dir.join(name).display().to_string();
        ok(
            &[
                "sim",
                "--arch",
                &arch("os-16x16-int8.toml"),
                "--trace",
                &structured(),
                "--set",
                &format!("sparsity.support={policy}"),
                "--out",
                &out,
            ],
            dir,
        );
        out
    };
    let (a, b) = (run("a", "dense"), run("b", "compact"));
    let printed = ok(&["compare", &a, &b], dir);
    assert!(
        printed.contains("cycle_reduction_vs_dense_policy"),
        "{printed}"
    );
    // network.csv carries the latency percentiles without --per-sample.
    let net = std::fs::read_to_string(dir.join("b/network.csv")).unwrap();
    assert!(net.starts_with("workload,support,arch,"));
    assert!(
        net.lines()
            .next()
            .unwrap()
            .ends_with("latency_us_p50,latency_us_p95,latency_us_p99")
    );
    // Several policies: --policy chooses which to compare.
    let both = dir.join("both").display().to_string();
    ok(
        &[
            "sim",
            "--arch",
            &arch("os-16x16-int8.toml"),
            "--trace",
            &structured(),
            "--policies",
            "dense,compact",
            "--out",
            &both,
        ],
        dir,
    );
    // #30: a two-policy output against a one-policy one compares the policy both hold and
    // says which was left out (this was an error asking for --policy).
    let printed = ok(&["compare", &both, &b], dir);
    assert!(
        printed.contains("compared what both hold (compact); left out: dense (only in A)"),
        "{printed}"
    );
    assert!(
        printed.contains("cycle_reduction_vs_dense_policy"),
        "{printed}"
    );
    ok(&["compare", &both, &b, "--policy", "compact"], dir);
    // --policy naming a policy one side lacks says what that side holds.
    let e = fails(&["compare", &both, &b, "--policy", "dense"], dir);
    assert!(
        e.contains("no run matches --policy dense") && e.contains("policy compact"),
        "{e}"
    );
    // Two multi-policy outputs: one row per policy both hold, and the left-out ones named.
    let all = dir.join("all").display().to_string();
    ok(
        &[
            "sim",
            "--arch",
            &arch("os-16x16-int8.toml"),
            "--trace",
            &structured(),
            "--policies",
            "all",
            "--out",
            &all,
        ],
        dir,
    );
    let cmp = dir.join("cmp-all");
    let printed = ok(
        &["compare", &all, &both, "--out", &cmp.display().to_string()],
        dir,
    );
    let table: Vec<&str> = printed
        .lines()
        .skip_while(|l| !l.starts_with("policy"))
        .collect();
    assert!(
        table[0].contains("cycles A") && table[0].contains("energy_uJ B"),
        "{printed}"
    );
    assert!(
        table[1].starts_with("dense ") && table[2].starts_with("compact "),
        "{printed}"
    );
    assert!(
        printed.contains("left out: clock-gate, tile-skip (only in A)"),
        "{printed}"
    );
    let csv = std::fs::read_to_string(cmp.join("compare.csv")).unwrap();
    assert!(
        csv.starts_with("workload,support,quantity,a,b,ratio_b_over_a\n"),
        "{csv}"
    );
    // Compact in both: the two runs are the same simulation, ratio 1.
    let line = csv
        .lines()
        .find(|l| l.contains(",compact,cycles,"))
        .unwrap();
    assert!(line.ends_with(",1.0") || line.ends_with(",1"), "{line}");
    let e = fails(
        &[
            "sim",
            "--arch",
            &arch("os-16x16-int8.toml"),
            "--trace",
            &structured(),
            "--policies",
            "dense,fast",
            "--out",
            &both,
        ],
        dir,
    );
    assert!(e.contains("`fast`"), "{e}");

    // inspect --plot writes to --out, or the current directory; never into the trace.
    let plots = dir.join("plots");
    ok(
        &[
            "inspect",
            &structured(),
            "--plot",
            "--out",
            &plots.display().to_string(),
        ],
        dir,
    );
    assert!(plots.join("gate_density.svg").is_file());
    ok(&["inspect", &structured(), "--plot"], dir);
    assert!(dir.join("gate_density.svg").is_file());
    assert!(
        !Path::new(&structured()).join("gate_density.svg").exists(),
        "inspect wrote into the shipped trace"
    );
}

/// Drops the named columns of a CSV file in place (cdg's CSVs here hold no quoted commas), as
/// an older cdg that did not write them would have left it.
fn drop_columns(path: &Path, columns: &[&str]) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    for c in columns {
        assert!(header.contains(c), "{} has no column {c}", path.display());
    }
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !columns.contains(&header[i]))
        .collect();
    let pick = |line: &str| {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), header.len(), "{line}");
        keep.iter().map(|&i| cells[i]).collect::<Vec<_>>().join(",") + "\n"
    };
    let mut out = pick(&header.join(","));
    for l in lines {
        out.push_str(&pick(l));
    }
    std::fs::write(path, out).unwrap();
}

/// `(point, latency, energy, area)` of every row of a sweep.csv.
fn objectives(csv: &str) -> Vec<(String, f64, f64, f64)> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (p, l, e, a) = (
        col("point"),
        col("latency_us"),
        col("energy_pj"),
        col("area_mm2"),
    );
    lines
        .map(|line| {
            let c: Vec<&str> = line.split(',').collect();
            (
                c[p].to_owned(),
                c[l].parse().unwrap(),
                c[e].parse().unwrap(),
                c[a].parse().unwrap(),
            )
        })
        .collect()
}

/// The points on the front of `coords` by the definition (no other point no worse everywhere
/// and better somewhere), identical points all included.
fn naive_front(rows: &[(String, Vec<f64>)]) -> Vec<String> {
    rows.iter()
        .filter(|(_, p)| {
            !rows.iter().any(|(_, q)| {
                q.iter().zip(p).all(|(a, b)| a <= b) && q.iter().zip(p).any(|(a, b)| a < b)
            })
        })
        .map(|(n, _)| n.clone())
        .collect()
}

/// The point column of the lines `cdg sweep` prints under its Pareto header, with their notes.
fn printed_front(stdout: &str) -> Vec<(String, String)> {
    let start = stdout.find("grid values\n").unwrap() + "grid values\n".len();
    stdout[start..]
        .lines()
        .take_while(|l| !l.trim().is_empty() && !l.trim_start().starts_with('…'))
        .map(|l| {
            let point = l.split_whitespace().next().unwrap().to_owned();
            let note = l
                .find("  [")
                .map_or(String::new(), |i| l[i + 2..].to_owned());
            (point, note)
        })
        .collect()
}

/// A small sweep where area changes the front: `--pareto latency,energy,area` on `cdg sweep`,
/// `cdg merge`, `cdg plot` and `cdg report` keeps the designs only a smaller area puts on the
/// front (checked against the definition on sweep.csv), marks them "front in area", and the
/// same CSV and objectives give the same plot bytes whichever command draws it.
#[test]
fn pareto_over_area_on_sweep_merge_plot_and_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let spec = dir.join("spec.toml");
    std::fs::write(
        &spec,
        format!(
            "base = \"{}\"\ntraces = [\"{}\"]\n[grid]\n\"array.rows\" = [8, 16, 32]\n\
             \"memory.ifmap_sram_kib\" = [8, 64]\n\
             \"sparsity.support\" = [\"clock-gate\", \"tile-skip\"]\n",
            arch("os-16x16-int8.toml"),
            structured()
        ),
    )
    .unwrap();
    let spec = spec.display().to_string();
    let path = |n: &str| dir.join(n).display().to_string();
    let three = ["--pareto", "latency,energy,area"];
    let printed3 = ok(
        &[&["sweep", &spec, "--out", &path("a")][..], &three].concat(),
        dir,
    );
    let printed2 = ok(&["sweep", &spec, "--out", &path("d")], dir);

    let csv = std::fs::read_to_string(dir.join("a/sweep.csv")).unwrap();
    let rows = objectives(&csv);
    let with = |area: bool| -> Vec<(String, Vec<f64>)> {
        rows.iter()
            .map(|(p, l, e, a)| {
                let mut v = vec![*l, *e];
                if area {
                    v.push(*a);
                }
                (p.clone(), v)
            })
            .collect()
    };
    let (front3, front2) = (naive_front(&with(true)), naive_front(&with(false)));
    // The spec exercises what the option is for: area adds designs to the front.
    assert!(front3.len() > front2.len(), "{front3:?} {front2:?}");
    let mut shown: Vec<String> = printed_front(&printed3)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    shown.sort();
    let mut want = front3.clone();
    want.sort();
    assert_eq!(shown, want, "{printed3}");
    for (p, note) in printed_front(&printed3) {
        assert_eq!(
            note.contains("front in area"),
            !front2.contains(&p),
            "point {p}: {printed3}"
        );
    }
    assert!(printed3.contains("Pareto-optimal of 12 designs (latency, energy and area)"));
    let mut shown2: Vec<String> = printed_front(&printed2)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    shown2.sort();
    let mut want2 = front2.clone();
    want2.sort();
    assert_eq!(shown2, want2, "{printed2}");
    assert!(printed2.contains("(latency vs energy)") && !printed2.contains("front in area"));

    // The plot marks the designs area adds; the default plot does not.
    let svg3 = std::fs::read(dir.join("a/energy_latency.svg")).unwrap();
    let svg2 = std::fs::read(dir.join("d/energy_latency.svg")).unwrap();
    let text3 = String::from_utf8_lossy(&svg3);
    let extra = front3.len() - front2.len();
    assert_eq!(text3.matches("[front in area]").count(), extra);
    assert!(text3.contains(&format!(
        "front in area: {extra} more, smaller but above it"
    )));
    assert!(!String::from_utf8_lossy(&svg2).contains("front in area"));

    // Shards merged with the same objectives, and `cdg plot`, draw the same bytes.
    for (k, name) in [(1, "s1"), (2, "s2")] {
        ok(
            &[
                "sweep",
                &spec,
                "--shard",
                &format!("{k}/2"),
                "--out",
                &path(name),
            ],
            dir,
        );
    }
    ok(
        &[
            &["merge", &path("s1"), &path("s2"), "--out", &path("m")][..],
            &three,
        ]
        .concat(),
        dir,
    );
    assert_eq!(
        std::fs::read(dir.join("m/energy_latency.svg")).unwrap(),
        svg3
    );
    ok(&["plot", &path("m")], dir);
    assert_eq!(
        std::fs::read(dir.join("m/energy_latency.svg")).unwrap(),
        svg2
    );
    ok(&[&["plot", &path("m")][..], &three].concat(), dir);
    assert_eq!(
        std::fs::read(dir.join("m/energy_latency.svg")).unwrap(),
        svg3
    );

    // The report: a table of the front with all three objectives, the added designs marked.
    ok(&[&["report", &path("a")][..], &three].concat(), dir);
    let html = std::fs::read_to_string(dir.join("a/report.html")).unwrap();
    check_structure(&html);
    assert!(html.contains("<h2>Pareto front: latency, energy and area</h2>"));
    assert!(html.contains("<th>area (mm²)</th>"));
    assert_eq!(
        html.matches("<tr class=\"pareto-design\">").count(),
        front3.len()
    );
    assert_eq!(html.matches("no: front in area").count(), extra);
    if let Some(browser) = chromium() {
        let dom = rendered_dom(browser, &dir.join("a/report.html"), &dir.join("profile"));
        assert_eq!(
            dom.matches("<tr class=\"pareto-design\">").count(),
            front3.len()
        );
        assert_eq!(dom.matches("[front in area]").count(), extra, "plot labels");
    }

    // A sweep.csv without `batch` (an older cdg's) reports the same: the report reads none.
    drop_columns(&dir.join("a/sweep.csv"), &["batch"]);
    let out = cdg()
        .args([&["report", &path("a")][..], &three].concat())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("a/report.html")).unwrap(),
        html
    );

    // Objectives that cannot be drawn are refused before anything runs.
    let e = fails(
        &[
            "sweep",
            &spec,
            "--out",
            &path("x"),
            "--pareto",
            "energy,area",
        ],
        dir,
    );
    assert!(e.contains("must include `latency`"), "{e}");
    let e = fails(&["report", &path("a"), "--pareto", "latency,power"], dir);
    assert!(e.contains("unknown objective `power`"), "{e}");
}

/// Designs identical on every objective are one front entry naming the others: in the printed
/// table by default, and in the report and plot with `--pareto`.
#[test]
fn identical_designs_are_one_entry_that_names_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let spec = dir.join("spec.toml");
    // On the unstructured trace the 32×32 WS array skips nothing more with tile-skip than
    // with clock-gate: the two policies cost the same (and the same area: neither has a
    // gather unit). (`compact`, which was here too, dominates both since its gather unit
    // costs a start-up rather than cycles per fold, docs/model.md §5, so it would leave them
    // off the front.)
    std::fs::write(
        &spec,
        format!(
            "base = \"{}\"\ntraces = [\"{}\"]\n[grid]\n\"memory.ifmap_sram_kib\" = [8, 16]\n\
             \"sparsity.support\" = [\"clock-gate\", \"tile-skip\"]\n",
            arch("ws-32x32-int8.toml"),
            root()
                .join("traces/cdg-resnet18-w0.25-unstructured")
                .display()
        ),
    )
    .unwrap();
    let out = dir.join("o").display().to_string();
    let printed = ok(&["sweep", &spec.display().to_string(), "--out", &out], dir);
    let csv = std::fs::read_to_string(dir.join("o/sweep.csv")).unwrap();
    let rows = objectives(&csv);
    let same = |a: &str, b: &str| {
        let f = |p: &str| rows.iter().find(|r| r.0 == p).map(|r| (r.1, r.2, r.3));
        f(a) == f(b)
    };
    assert!(same("0", "1"), "{csv}");
    assert!(
        printed.contains("1 more identical to a front entry"),
        "{printed}"
    );
    let front = printed_front(&printed);
    assert!(
        front.contains(&("0".to_owned(), "[same as point 1]".to_owned())),
        "{printed}"
    );

    ok(&["report", &out, "--pareto", "latency,energy"], dir);
    let html = std::fs::read_to_string(dir.join("o/report.html")).unwrap();
    check_structure(&html);
    assert!(html.contains("<h2>Pareto front: latency vs energy</h2>"));
    assert!(
        html.contains(
            "<td class=\"t\">1: point 1 (ws-32x32-int8 ifmap_sram_kib=8 support=tile-skip)</td>"
        ),
        "{html}"
    );
    assert!(html.contains("(+1 identical design)"));
    // Both designs of the entry are highlighted in the summary.
    let summary = &html[html.find("id=\"summary-table\"").unwrap()..];
    let summary = &summary[..summary.find("</table>").unwrap()];
    for p in ["0", "1"] {
        assert!(
            summary.contains(&format!("<tr class=\"front\"><td class=\"t\">{p}</td>")),
            "{p}: {summary}"
        );
    }
}

/// `cdg report` on the outputs of an older cdg: a sim output without samples.csv, the
/// percentile columns and the gate densities is reported with those parts left out, each
/// named (file and column) on stderr and on the page; one without `latency_us` fails naming
/// the file and the column.
#[test]
fn report_on_older_outputs_names_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, current) = sim_report(tmp.path());
    let dir = tmp.path().join("sim");
    std::fs::remove_file(dir.join("report.html")).unwrap();
    std::fs::remove_file(dir.join("samples.csv")).unwrap();
    drop_columns(
        &dir.join("network.csv"),
        &["latency_us_p50", "latency_us_p95", "latency_us_p99"],
    );
    drop_columns(
        &dir.join("layers.csv"),
        &["gate_density", "gate_density_min", "gate_density_max"],
    );
    let out = cdg()
        .args(["report", &dir.display().to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    let notes: Vec<&str> = stderr.lines().collect();
    assert_eq!(notes.len(), 3, "{stderr}");
    assert!(notes[0].starts_with(
        "cdg report: note: network.csv has no columns `latency_us_p50`, `latency_us_p95`, \
         `latency_us_p99` (written by an older cdg?"
    ));
    assert!(notes[1].contains("has no samples.csv"), "{stderr}");
    assert!(notes[2].starts_with("cdg report: note: layers.csv has no column `gate_density`"));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    check_structure(&html);
    assert_eq!(html.matches("class=\"note left-out\"").count(), 3);
    assert!(!html.contains("Latency of each sample") && current.contains("Latency of each sample"));
    assert!(
        html.contains("Cycles per layer:"),
        "the rest is still reported"
    );

    drop_columns(&dir.join("network.csv"), &["latency_us"]);
    let e = fails(&["report", &dir.display().to_string()], tmp.path());
    assert!(
        e.contains("sim/network.csv: has no column `latency_us`, which every report"),
        "{e}"
    );
    assert!(e.contains("older cdg"), "{e}");
    // A front over area is for sweeps: a sim output says so.
    std::fs::create_dir(tmp.path().join("again")).unwrap();
    sim_report(&tmp.path().join("again"));
    let e = fails(
        &[
            "report",
            &tmp.path().join("again/sim").display().to_string(),
            "--pareto",
            "latency,energy,area",
        ],
        tmp.path(),
    );
    assert!(e.contains("`cdg sim` does not write it"), "{e}");
}

/// Lays `report` out in headless `browser` at `width` × 900 pixels and returns what a script
/// appended to a copy of it measured: `ok`, or every table, figure or block that runs past the
/// right edge of a box that does not scroll (and a page wider than the window), plus where the
/// answer starts. The report itself holds no script; only this probe copy does.
fn layout_problems(browser: &str, report: &Path, width: u32, profile: &Path) -> String {
    const PROBE: &str = "<script>(() => {\
        const vw = document.documentElement.clientWidth; const bad = [];\
        if (document.documentElement.scrollWidth > vw + 1)\
          bad.push('page ' + document.documentElement.scrollWidth + ' > ' + vw);\
        for (const el of document.querySelectorAll('table, svg, pre, p, ul, figure')) {\
          if (el.closest('svg') && el.tagName.toLowerCase() !== 'svg') continue;\
          let box = el.parentElement;\
          while (box && box !== document.body && getComputedStyle(box).overflowX !== 'auto')\
            box = box.parentElement;\
          if (box && box !== document.body) continue;\
          const r = el.getBoundingClientRect(), b = document.body.getBoundingClientRect();\
          if (r.right > b.right + 1) bad.push(el.tagName + (el.id ? '#' + el.id : '') +\
            (el.className && el.className.baseVal === undefined ? '.' + el.className : '') +\
            ' ends at ' + Math.round(r.right) + ' > ' + Math.round(b.right));\
        }\
        const a = document.getElementById('answer').getBoundingClientRect();\
        document.body.setAttribute('data-layout', bad.length ? bad.join('; ') : 'ok');\
        document.body.setAttribute('data-answer-top', Math.round(a.top));\
      })();</script>";
    let html = std::fs::read_to_string(report).unwrap();
    let probe = report.with_file_name(format!("probe-{width}.html"));
    std::fs::write(&probe, html.replace("</body>", &format!("{PROBE}</body>"))).unwrap();
    let run = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--window-size={width},900"),
            "--virtual-time-budget=5000",
            "--dump-dom",
            &format!("file://{}", probe.display()),
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let dom = String::from_utf8_lossy(&run.stdout).into_owned();
    let attr = |name: &str| {
        let start = dom
            .find(&format!("{name}=\""))
            .map(|i| i + name.len() + 2)?;
        Some(dom[start..start + dom[start..].find('"')?].to_owned())
    };
    let layout = attr("data-layout").expect("the probe ran");
    let top: f64 = attr("data-answer-top").unwrap().parse().unwrap();
    assert!(top < 400.0, "at {width} px the answer starts {top} px down");
    layout
}

/// #30: the report of `cdg run --no-train` leads with the answer — the best design and policy
/// per trace with its cycles and energy against both baselines, and the models' kNN against
/// the floor their manifests record, naming the floor — and at 1 400 and 900 pixels every
/// table fits or scrolls inside its box (checked by a probe script in headless Chromium; the
/// screenshots are kept in the target directory's `report-shots/` for a look). Long layer
/// names are shortened from the left in the per-layer chart, the full name on hover.
#[test]
fn run_report_leads_with_the_answer_and_fits_its_window() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = dir.join("results");
    ok(
        &[
            "run",
            "--no-train",
            "--out",
            &out.display().to_string(),
            "--arch-configs",
            &root().join("arch-configs").display().to_string(),
            "--traces",
            &root().join("traces").display().to_string(),
            "--quiet",
        ],
        dir,
    );
    let path = out.join("report.html");
    let html = std::fs::read_to_string(&path).unwrap();
    check_structure(&html);
    // The answer is the first section, before the tables.
    let answer = html
        .find("<section id=\"answer\">")
        .expect("an answer section");
    assert!(answer < html.find("<section id=\"simulated\">").unwrap());
    assert!(answer < html.find("<table").unwrap());
    let text = &html[answer..];
    let text = &text[..text.find("</section>").unwrap()];
    for trace in ["structured", "unstructured"] {
        let name = format!("cdg-resnet18-w0.25-{trace}");
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("traces").join(&name).join("manifest.json"))
                .unwrap(),
        )
        .unwrap();
        let p = &manifest["provenance"];
        let (knn, floor) = (
            p["knn_accuracy"].as_f64().unwrap(),
            p["init_knn_accuracy"].as_f64().unwrap(),
        );
        assert!(
            text.contains(&format!(
                "{name} {:.1} % against {:.1} %",
                100.0 * knn,
                100.0 * floor
            )),
            "{text}"
        );
        assert!(text.contains(&format!("For <b>{name}</b> the lowest energy × latency is")));
    }
    assert!(text.contains("floor: random initialisation"), "{text}");
    assert!(
        text.contains("recorded in the shipped traces' manifests"),
        "{text}"
    );
    assert!(text.contains("than the ungated network") && text.contains("than the dense policy"));
    assert!(
        text.contains("% vs ungated") && text.contains("% vs dense policy"),
        "{text}"
    );
    // The per-layer chart: labels of at most 28 characters, cut on the left, full on hover.
    let chart = &html[html.find("<section id=\"layers\">").unwrap()..];
    for label in chart.split("text-anchor=\"end\"><title>").skip(1).take(40) {
        let (full, rest) = label.split_once("</title>").unwrap();
        let shown = &rest[..rest.find("</text>").unwrap()];
        assert!(shown.chars().count() <= 28, "{shown}");
        if full.chars().count() > 28 {
            assert!(shown.starts_with('…') && full.ends_with(&shown['…'.len_utf8()..]));
        } else {
            assert_eq!(shown, full);
        }
    }
    let Some(browser) = chromium() else {
        eprintln!(
            "SKIPPED the layout part of run_report_leads_with_the_answer_and_fits_its_window: \
             no chromium on PATH"
        );
        return;
    };
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-shots");
    std::fs::create_dir_all(&shots).unwrap();
    for width in [1400, 900] {
        let profile = dir.join(format!("profile-{width}"));
        assert_eq!(
            layout_problems(browser, &path, width, &profile),
            "ok",
            "at {width} px"
        );
        let shot = shots.join(format!("run-report-{width}.png"));
        let run = Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                &format!("--user-data-dir={}", profile.display()),
                &format!("--screenshot={}", shot.display()),
                &format!("--window-size={width},1400"),
                &format!("file://{}", path.display()),
            ])
            .output()
            .unwrap();
        assert!(run.status.success());
        assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
    }
}
