//! `cdg rtl check`: runs the SystemVerilog array of `rtl/` (through Verilator) on the schedules
//! cdg plans for a trace's gated layers and compares it with the fast model: outputs, MACs,
//! SRAM accesses and cycles (docs/model.md §9, rtl/README.md). Writes `rtl_check.csv` and
//! prints a summary; exits non-zero when the two disagree beyond the tolerance (equal outputs,
//! MACs and SRAM counts; cycles within R per layer).
//!
//! The RTL sources are compiled into the binary; each (sources, R, C, dataflow, Verilator
//! version) is built once into `target/rtl-cache/<hash>/` (`CDG_RTL_CACHE` overrides the
//! directory) and reused.

use crate::ui::Ui;
use anyhow::{Context, bail};
use cdg_core::arch::Dataflow;
use cdg_core::gating::{GateAction, GateRule};
use cdg_core::{ArchConfig, DramBandwidth, SkipPolicy};
use cdg_io::layout::rtl_check;
use cdg_io::output::{OutputDir, Outputs};
use cdg_sim::rtl_file::{RtlCase, rtl_file};
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The RTL sources the model is built from (compiled into cdg so the cache key is exact).
pub const SOURCES: [(&str, &str); 3] = [
    ("cdg_array.sv", include_str!("../../../../rtl/cdg_array.sv")),
    (
        "cdg_gather.sv",
        include_str!("../../../../rtl/cdg_gather.sv"),
    ),
    ("tb.cpp", include_str!("../../../../rtl/tb/tb.cpp")),
];

/// The oldest Verilator the sources are checked with.
const MIN_VERILATOR: (u32, u32) = (5, 6);

#[derive(Debug, clap::Args)]
pub struct RtlArgs {
    #[command(subcommand)]
    pub command: RtlCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum RtlCommand {
    /// Run the RTL array on cdg's schedules and compare it with the fast model.
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The design (arch-config TOML).
    #[arg(long, value_name = "FILE")]
    pub arch: PathBuf,
    /// The trace whose gated layers and masks to run.
    #[arg(long, value_name = "DIR")]
    pub trace: PathBuf,
    /// Only the layers whose name matches this glob (`*`, `?`).
    #[arg(long, value_name = "GLOB")]
    pub layers: Option<String>,
    /// Skip policies (comma-separated, or `all`); default: the design's own.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub policies: Vec<String>,
    /// Samples per layer (the trace's first N).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub samples: usize,
    /// Seed of the random int8 operands.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Override an arch-config key (`--set array.rows=8`). Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Output directory (rtl_check.csv).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// One row of rtl_check.csv: one layer, policy and sample, the model's and the RTL's figures.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRow {
    pub layer: String,
    pub dataflow: &'static str,
    pub policy: &'static str,
    pub sample: usize,
    pub array_rows: u64,
    pub array_cols: u64,
    pub folds_model: u64,
    pub folds_rtl: u64,
    pub cycles_model: u64,
    pub cycles_rtl: u64,
    pub macs_model: u64,
    pub macs_rtl: u64,
    pub sram_ifmap_reads_model: u64,
    pub sram_ifmap_reads_rtl: u64,
    pub sram_filter_reads_model: u64,
    pub sram_filter_reads_rtl: u64,
    pub sram_ofmap_writes_model: u64,
    pub sram_ofmap_writes_rtl: u64,
    pub sram_psum_reads_model: u64,
    pub sram_psum_reads_rtl: u64,
    pub gather_stalls_rtl: u64,
    /// Every pack or column list the RTL gather unit produced equals the schedule's.
    pub gather_match: bool,
    pub outputs_match: bool,
    /// Within the tolerance: equal outputs, MACs, folds and SRAM counts, |Δcycles| ≤ R.
    pub agree: bool,
}

/// What the testbench printed.
#[derive(Debug, Default)]
struct TbResult {
    cycles: u64,
    macs: u64,
    ifmap: u64,
    filter: u64,
    ofmap: u64,
    psum: u64,
    stalls: u64,
    folds: u64,
    gather_match: bool,
    outputs_match: bool,
}

fn parse_tb(out: &str) -> anyhow::Result<TbResult> {
    let mut r = TbResult::default();
    let mut seen = 0;
    for line in out.lines() {
        let Some((k, v)) = line.split_once(' ') else {
            continue;
        };
        let v: u64 = v
            .trim()
            .parse()
            .with_context(|| format!("testbench printed `{line}`"))?;
        seen += 1;
        match k {
            "cycles" => r.cycles = v,
            "macs" => r.macs = v,
            "sram_ifmap_reads" => r.ifmap = v,
            "sram_filter_reads" => r.filter = v,
            "sram_ofmap_writes" => r.ofmap = v,
            "sram_psum_reads" => r.psum = v,
            "gather_stalls" => r.stalls = v,
            "folds" => r.folds = v,
            "outputs_match" => r.outputs_match = v == 1,
            "gather_match" => r.gather_match = v == 1,
            _ => seen -= 1,
        }
    }
    if seen < 10 {
        bail!("the testbench's output is incomplete:\n{out}");
    }
    Ok(r)
}

/// `verilator --version` ≥ [`MIN_VERILATOR`], or an error naming what to install.
pub fn verilator_version() -> anyhow::Result<String> {
    let install = "install Verilator 5.006 or newer (Debian/Ubuntu: `apt-get install verilator`)";
    let out = Command::new("verilator")
        .arg("--version")
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run `verilator` ({e}); {install}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let version = text
        .split_whitespace()
        .nth(1)
        .map(str::to_owned)
        .unwrap_or_default();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if !out.status.success() || (major, minor) < MIN_VERILATOR {
        bail!("`verilator --version` says `{}`; {install}", text.trim());
    }
    Ok(version)
}

/// FNV-1a over `parts`.
fn fnv64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The build cache: `CDG_RTL_CACHE`, else `target/rtl-cache` beside the running binary.
fn cache_root() -> anyhow::Result<PathBuf> {
    if let Some(d) = std::env::var_os("CDG_RTL_CACHE") {
        return Ok(PathBuf::from(d));
    }
    let exe = std::env::current_exe().context("cannot locate the cdg binary")?;
    // target/<profile>/cdg (or target/<profile>/deps/…) → target/rtl-cache
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.pop();
    Ok(dir.join("rtl-cache"))
}

fn df_param(df: Dataflow) -> u32 {
    match df {
        Dataflow::OutputStationary => 0,
        Dataflow::WeightStationary => 1,
        Dataflow::InputStationary => 2,
    }
}

/// The testbench binary for an R×C array of `df`, built with Verilator when not cached.
pub fn build_model(
    rows: u64,
    cols: u64,
    df: Dataflow,
    gather: u64,
    verilator: &str,
) -> anyhow::Result<PathBuf> {
    let params = format!("R={rows} C={cols} DF={} GP={gather}", df_param(df));
    let mut parts: Vec<&[u8]> = SOURCES.iter().map(|(_, s)| s.as_bytes()).collect();
    parts.push(params.as_bytes());
    parts.push(verilator.as_bytes());
    let key = format!("{:016x}", fnv64(&parts));
    let root = cache_root()?;
    let dir = root.join(&key);
    let bin = dir.join("tb");
    if bin.is_file() {
        return Ok(bin);
    }
    std::fs::create_dir_all(&root)
        .with_context(|| format!("cannot create the RTL build cache {}", root.display()))?;
    let tmp = root.join(format!("{key}.build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    for (name, text) in SOURCES {
        std::fs::write(tmp.join(name), text)?;
    }
    let out = Command::new("verilator")
        .args([
            "--cc",
            "--exe",
            "--build",
            "-O2",
            "-Wno-fatal",
            "-Wno-lint",
            "-Wno-style",
        ])
        .arg(format!("-GR={rows}"))
        .arg(format!("-GC={cols}"))
        .arg(format!("-GDF={}", df_param(df)))
        .arg(format!("-GGP={gather}"))
        .args(["--top-module", "cdg_array", "-CFLAGS"])
        .arg(format!("-std=c++17 -O1 -DCDG_GP={gather}"))
        .arg(tmp.join("cdg_array.sv"))
        .arg(tmp.join("cdg_gather.sv"))
        .arg(tmp.join("tb.cpp"))
        .arg("-Mdir")
        .arg(tmp.join("obj"))
        .args(["-o", "tb"])
        .output()
        .context("cannot run verilator")?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&tmp);
        bail!(
            "verilator failed to build the {rows}×{cols} {} array:\n{}",
            df.as_str(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::copy(tmp.join("obj").join("tb"), tmp.join("tb"))?;
    let _ = std::fs::remove_dir_all(tmp.join("obj"));
    // Another process may have finished the same build first; either copy is the same.
    if std::fs::rename(&tmp, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    if !bin.is_file() {
        bail!("the RTL build left no testbench at {}", bin.display());
    }
    Ok(bin)
}

/// One layer, policy and sample to run.
struct Job<'a> {
    layer: &'a cdg_core::Layer,
    masks: &'a cdg_core::LayerMasks,
    policy: SkipPolicy,
    sample: usize,
}

/// Runs `job` on the RTL (testbench `tb`) and the fast model.
fn check_one(
    arch: &ArchConfig,
    tb: &Path,
    work: &Path,
    seed: u64,
    job: &Job<'_>,
) -> anyhow::Result<CheckRow> {
    let (rows, cols, df) = (arch.array.rows, arch.array.cols, arch.array.dataflow);
    let spec = job.layer.gate.as_ref().expect("gated layer");
    let mut design = arch.clone();
    design.sparsity.support = job.policy;
    design.memory.dram_bandwidth = DramBandwidth::Unlimited;
    let name = job.layer.name();
    let model = cdg_sim::simulate_gated_layer(&design, job.layer, job.masks, job.sample)
        .with_context(|| format!("layer {name}: the fast model"))?;
    let case = RtlCase {
        layer: &job.layer.shape,
        spec,
        masks: job.masks,
        sample: job.sample,
        rows,
        cols,
        dataflow: df,
        policy: job.policy,
        gather_rows_per_cycle: gather_rate(arch)?,
        seed,
    };
    let file = rtl_file(&case).with_context(|| format!("layer {name}"))?;
    let path = work.join(format!(
        "{}-{}-{}.sched",
        name.replace(['/', ' '], "_"),
        job.policy.as_str(),
        job.sample
    ));
    std::fs::write(&path, &file.text)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let out = Command::new(tb)
        .arg(&path)
        .output()
        .with_context(|| format!("cannot run {}", tb.display()))?;
    let _ = std::fs::remove_file(&path);
    if !out.status.success() {
        bail!(
            "layer {name}, {}: the testbench failed:\n{}",
            job.policy.as_str(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rtl = parse_tb(&String::from_utf8_lossy(&out.stdout))
        .with_context(|| format!("layer {name}, {}", job.policy.as_str()))?;
    let t = &model.totals;
    let macs_model = t.macs_executed.get() - t.macs_clock_gated.get();
    let sram = t.sram;
    let cycles_model = t.compute_cycles.get();
    let mut row = CheckRow {
        layer: name.to_owned(),
        dataflow: df.as_str(),
        policy: job.policy.as_str(),
        sample: job.sample,
        array_rows: rows,
        array_cols: cols,
        folds_model: t.folds,
        folds_rtl: rtl.folds,
        cycles_model,
        cycles_rtl: rtl.cycles,
        macs_model,
        macs_rtl: rtl.macs,
        sram_ifmap_reads_model: sram.ifmap_reads.get(),
        sram_ifmap_reads_rtl: rtl.ifmap,
        sram_filter_reads_model: sram.filter_reads.get(),
        sram_filter_reads_rtl: rtl.filter,
        sram_ofmap_writes_model: sram.ofmap_writes.get(),
        sram_ofmap_writes_rtl: rtl.ofmap,
        sram_psum_reads_model: sram.psum_reads.get(),
        sram_psum_reads_rtl: rtl.psum,
        gather_stalls_rtl: rtl.stalls,
        gather_match: rtl.gather_match,
        outputs_match: rtl.outputs_match,
        agree: false,
    };
    row.agree = agrees(&row);
    Ok(row)
}

/// The tolerance: equal outputs, MACs, folds and SRAM counts; cycles within R.
pub fn agrees(r: &CheckRow) -> bool {
    r.outputs_match
        && r.gather_match
        && r.macs_model == r.macs_rtl
        && r.folds_model == r.folds_rtl
        && r.sram_ifmap_reads_model == r.sram_ifmap_reads_rtl
        && r.sram_filter_reads_model == r.sram_filter_reads_rtl
        && r.sram_ofmap_writes_model == r.sram_ofmap_writes_rtl
        && r.sram_psum_reads_model == r.sram_psum_reads_rtl
        && r.cycles_model.abs_diff(r.cycles_rtl) <= r.array_rows
}

fn parse_policies(list: &[String], own: SkipPolicy) -> anyhow::Result<Vec<SkipPolicy>> {
    if list.is_empty() {
        return Ok(vec![own]);
    }
    let mut out = Vec::new();
    for item in list.iter().map(|s| s.trim()) {
        let add = if item == "all" {
            SkipPolicy::ALL.to_vec()
        } else {
            vec![item.parse::<SkipPolicy>().map_err(|e| {
                anyhow::anyhow!(
                    "--policies: `{item}` is not a skip policy ({e}); expected dense, \
                     clock-gate, tile-skip, compact or all"
                )
            })?]
        };
        for p in add {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// The design's gather parallelism (a config always gives one).
fn gather_rate(arch: &ArchConfig) -> anyhow::Result<u64> {
    arch.sparsity.gather_rows_per_cycle.ok_or_else(|| {
        anyhow::anyhow!(
            "the design has an ideal gather; the RTL needs sparsity.gather_rows_per_cycle"
        )
    })
}

/// Checks the design can be run by the RTL array.
fn check_design(arch: &ArchConfig) -> anyhow::Result<()> {
    if arch.array.overlap_folds {
        bail!(
            "array.overlap_folds = true: the RTL array runs folds back to back only; \
             run with --set array.overlap_folds=false"
        );
    }
    if arch.workload.batch != 1 {
        bail!(
            "workload.batch = {}: the RTL check runs one sample at a time; expected 1",
            arch.workload.batch
        );
    }
    let gp = gather_rate(arch)?;
    if gp > 256 {
        bail!("sparsity.gather_rows_per_cycle = {gp}: the RTL gather unit is built for 1 to 256");
    }
    if arch.array.rows < 2 || arch.array.cols < 2 || arch.array.rows > 64 || arch.array.cols > 64 {
        bail!(
            "array {}×{}: the RTL check builds arrays of 2 to 64 rows and columns",
            arch.array.rows,
            arch.array.cols
        );
    }
    Ok(())
}

pub fn run(args: RtlArgs, _ui: &Ui) -> anyhow::Result<ExitCode> {
    let RtlCommand::Check(args) = args.command;
    let arch = cdg_io::arch::load_arch(&args.arch, &args.set)?;
    check_design(&arch)?;
    let policies = parse_policies(&args.policies, arch.sparsity.support)?;
    let trace = cdg_io::read_trace(&args.trace)?;
    let Some(masks) = trace.masks.as_ref() else {
        bail!(
            "{} has no gate masks; the RTL check runs gated layers",
            args.trace.display()
        );
    };
    if args.samples == 0 || args.samples > masks.samples() {
        bail!(
            "--samples {}: {} holds {} samples; expected 1 to {}",
            args.samples,
            args.trace.display(),
            masks.samples(),
            masks.samples()
        );
    }
    let glob = args
        .layers
        .as_ref()
        .map(|g| GateRule::new(g.clone(), GateAction::Ungate));
    let layers: Vec<(&cdg_core::Layer, &cdg_core::LayerMasks)> = trace
        .network
        .layers()
        .iter()
        .filter(|l| l.gate.is_some())
        .filter(|l| glob.as_ref().is_none_or(|g| g.matches(l.name())))
        .filter_map(|l| masks.layer(l.name()).map(|m| (l, m)))
        .collect();
    if layers.is_empty() {
        bail!(
            "{}: no gated layer{}",
            args.trace.display(),
            args.layers
                .as_ref()
                .map_or(String::new(), |g| format!(" matches --layers {g}"))
        );
    }
    let verilator = verilator_version()?;
    let (rows, cols, df) = (arch.array.rows, arch.array.cols, arch.array.dataflow);
    eprintln!(
        "building the {rows}×{cols} {} RTL model (cached)…",
        df.as_str()
    );
    let tb = build_model(rows, cols, df, gather_rate(&arch)?, &verilator)?;
    let work = std::env::temp_dir().join(format!("cdg-rtl-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let mut jobs = Vec::new();
    for (layer, m) in &layers {
        for &policy in &policies {
            for sample in 0..args.samples {
                jobs.push(Job {
                    layer,
                    masks: m,
                    policy,
                    sample,
                });
            }
        }
    }
    let rows_out: anyhow::Result<Vec<CheckRow>> = jobs
        .par_iter()
        .map(|j| check_one(&arch, &tb, &work, args.seed, j))
        .collect();
    let _ = std::fs::remove_dir_all(&work);
    let rows_out = rows_out?;
    let mut dir = OutputDir::create(&args.out, &rtl_check::KIND)?;
    let mut files = Outputs::new();
    let csv_path = args.out.join(rtl_check::RTL_CHECK_CSV);
    files.add(
        rtl_check::RTL_CHECK_CSV,
        cdg_io::csv_out::csv_text(&csv_path, &rows_out)?,
    );
    dir.commit(&files)?;
    print_summary(&rows_out);
    println!("wrote {}", csv_path.display());
    let bad: Vec<&CheckRow> = rows_out.iter().filter(|r| !r.agree).collect();
    if !bad.is_empty() {
        for r in bad.iter().take(10) {
            eprintln!(
                "disagree: layer {} {} sample {}: cycles {} vs {}, MACs {} vs {}, outputs {}",
                r.layer,
                r.policy,
                r.sample,
                r.cycles_model,
                r.cycles_rtl,
                r.macs_model,
                r.macs_rtl,
                if r.outputs_match { "match" } else { "DIFFER" }
            );
        }
        eprintln!(
            "{} of {} runs disagree beyond the tolerance (equal outputs, MACs, folds and SRAM \
             counts; cycles within {rows})",
            bad.len(),
            rows_out.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per policy: runs, agreeing runs, cycle totals and the largest cycle difference.
fn print_summary(rows: &[CheckRow]) {
    println!(
        "{:<11} {:>5} {:>6} {:>14} {:>14} {:>9} {:>12} {:>8}",
        "policy", "runs", "agree", "cycles_model", "cycles_rtl", "max_|Δ|", "macs_equal", "outputs"
    );
    let mut policies: Vec<&str> = Vec::new();
    for r in rows {
        if !policies.contains(&r.policy) {
            policies.push(r.policy);
        }
    }
    for p in policies {
        let rs: Vec<&CheckRow> = rows.iter().filter(|r| r.policy == p).collect();
        let n = rs.len();
        println!(
            "{:<11} {:>5} {:>6} {:>14} {:>14} {:>9} {:>12} {:>8}",
            p,
            n,
            rs.iter().filter(|r| r.agree).count(),
            rs.iter().map(|r| r.cycles_model).sum::<u64>(),
            rs.iter().map(|r| r.cycles_rtl).sum::<u64>(),
            rs.iter()
                .map(|r| r.cycles_model.abs_diff(r.cycles_rtl))
                .max()
                .unwrap_or(0),
            format!(
                "{}/{n}",
                rs.iter().filter(|r| r.macs_model == r.macs_rtl).count()
            ),
            format!("{}/{n}", rs.iter().filter(|r| r.outputs_match).count()),
        );
    }
}
