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
#[test]
fn report_renders_in_headless_chromium() {
    let Some(browser) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        eprintln!("SKIPPED report_renders_in_headless_chromium: no chromium on PATH");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (path, html) = sim_report(tmp.path());
    let profile = tmp.path().join("profile");
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
    let dom = String::from_utf8_lossy(&run.stdout);
    let log = String::from_utf8_lossy(&run.stderr);
    // Console errors and failed loads are logged as CONSOLE / net::ERR lines.
    for line in log.lines() {
        assert!(
            !(line.contains("CONSOLE") && line.to_lowercase().contains("error")),
            "console error: {line}"
        );
        assert!(!line.contains("net::ERR_"), "failed load: {line}");
    }
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
    let e = fails(&["compare", &both, &b], dir);
    assert!(e.contains("--policy"), "{e}");
    ok(&["compare", &both, &b, "--policy", "compact"], dir);
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
