//! `cdg sweep SPEC.toml --out DIR [--shard K/N] [--layers] [--no-plot]`: run a grid of
//! accelerator designs over traces and topologies (DESIGN §5).
//!
//! The plan is checked in full before any simulation: the spec parses, the base config and
//! every grid value and combination validate exactly as `--set key=value` would, and every
//! workload loads (each parsed once and shared by all points). Points then run in parallel
//! with rayon; results are written in point order, so the bytes do not depend on scheduling.
//!
//! Output directory:
//! - `sweep.csv`: one row per point × workload (`point`, the grid keys as columns, the
//!   workload, then the network figures of the simulator's report row plus `area_mm2`);
//! - `layers.csv` with `--layers`: one row per point × workload × layer;
//! - `spec.toml`: the spec as given; `configs/point-NNNN.toml`: every resolved design;
//! - `shard.json`: which shard of which sweep this is (`1/1` for a whole run), so
//!   `cdg merge` can check that shards belong together and are complete;
//! - `energy_latency.svg`, `reduction.svg` unless `--no-plot` (drawn from `sweep.csv`;
//!   a shard of a split run draws none, its merge does).

use crate::plot;
use crate::ui::Ui;
use anyhow::{Context, bail};
use cdg_core::{ArchConfig, MaskSet, Network};
use cdg_io::sweep::{Shard, SweepSpec};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// The sweep spec: `base = "arch.toml"`, `traces = [...]` and/or `topologies = [...]`
    /// (paths relative to the spec) and a `[grid]` of dotted arch-config keys → value arrays.
    pub spec: PathBuf,
    /// Output directory (created if needed; files in it are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Run only shard K of N: grid points K−1, K−1+N, K−1+2N, … (K = 1..N). Join the shard
    /// directories with `cdg merge`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Also write layers.csv: one row per point, workload and layer.
    #[arg(long)]
    pub layers: bool,
    /// Do not draw the SVG plots.
    #[arg(long)]
    pub no_plot: bool,
}

pub const SWEEP_CSV: &str = "sweep.csv";
pub const LAYERS_CSV: &str = "layers.csv";
pub const SPEC_COPY: &str = "spec.toml";
pub const CONFIGS_DIR: &str = "configs";
pub const SHARD_JSON: &str = "shard.json";

/// What a sweep output directory is: written by `cdg sweep`, checked and rewritten by
/// `cdg merge`. A whole run is shard 1 of 1, so a merge reproduces it byte for byte.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardInfo {
    pub format: String,
    pub version: u32,
    /// 1-based shard number K.
    pub shard: usize,
    /// Number of shards N.
    pub shards: usize,
    /// Grid points of the whole sweep.
    pub points: usize,
    /// Grid keys in spec order.
    pub grid_keys: Vec<String>,
    /// Workload names in spec order.
    pub workloads: Vec<String>,
    /// FNV-1a 64 of the spec file, the base config and every workload file (trace manifest
    /// and masks, topology CSV), so shards of different sweeps or inputs do not mix.
    pub spec_fnv64: String,
    /// Whether layers.csv is part of the output.
    pub layers: bool,
    /// Whether the whole run draws plots.
    pub plots: bool,
}

pub const SHARD_FORMAT: &str = "cdg-sweep";

impl ShardInfo {
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("plain struct serializes");
        s.push('\n');
        s
    }

    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(SHARD_JSON);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {}; is {} a `cdg sweep` output directory?",
                path.display(),
                dir.display()
            )
        })?;
        let info: ShardInfo = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a cdg sweep shard description", path.display()))?;
        if info.format != SHARD_FORMAT || info.version != 1 {
            bail!(
                "{}: format `{}` version {}; expected `{SHARD_FORMAT}` version 1",
                path.display(),
                info.format,
                info.version
            );
        }
        Shard::new(info.shard, info.shards)
            .with_context(|| format!("{}: bad shard numbers", path.display()))?;
        Ok(info)
    }
}

/// FNV-1a, 64 bit: a stable content fingerprint (not a security measure).
pub fn fnv64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        // Separate the parts so ("ab", "c") and ("a", "bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The content fingerprint of a sweep's inputs: spec, base config and workload files. Paths
/// are not part of it, so shards may run in different checkouts of the same inputs.
fn fingerprint(spec: &SweepSpec, spec_bytes: &[u8], base: &str) -> anyhow::Result<u64> {
    let mut files: Vec<PathBuf> = Vec::new();
    for t in &spec.traces {
        files.push(t.join(cdg_io::trace::MANIFEST_FILE));
        let masks = t.join(cdg_io::trace::MASKS_FILE);
        if masks.exists() {
            files.push(masks);
        }
    }
    files.extend(spec.topologies.iter().cloned());
    let contents = files
        .iter()
        .map(|f| std::fs::read(f).with_context(|| format!("cannot read {}", f.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut parts: Vec<&[u8]> = vec![spec_bytes, base.as_bytes()];
    parts.extend(contents.iter().map(Vec::as_slice));
    Ok(fnv64(&parts))
}

/// A network to simulate, loaded once and shared by every point.
#[derive(Debug)]
pub struct Workload {
    pub name: String,
    pub network: Network,
    pub masks: Option<MaskSet>,
    /// The gate block of the gated layers (`16x1x1`), `mixed`, or `none`.
    pub gate_block: String,
    pub samples: usize,
}

impl Workload {
    /// Loads a trace directory.
    pub fn trace(path: &Path) -> anyhow::Result<Self> {
        let t = cdg_io::trace::read_trace(path)?;
        let name = path
            .file_name()
            .map_or_else(|| name_of(path), |n| n.to_string_lossy().into_owned());
        Ok(Self::new(name, t.network, t.masks, t.samples))
    }

    /// Wraps an in-memory network and masks (e.g. synthesized ones).
    pub fn new(name: String, network: Network, masks: Option<MaskSet>, samples: usize) -> Self {
        let blocks: Vec<[u64; 3]> = network
            .gated()
            .map(|(_, _, g)| g.block.as_array())
            .collect();
        let gate_block = match blocks.first() {
            None => "none".to_owned(),
            Some(b) if blocks.iter().all(|x| x == b) => format!("{}x{}x{}", b[0], b[1], b[2]),
            Some(_) => "mixed".to_owned(),
        };
        Self {
            name,
            network,
            masks,
            gate_block,
            samples,
        }
    }
}

fn name_of(path: &Path) -> String {
    path.file_stem()
        .or_else(|| path.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Loads the spec's workloads (traces first, then topologies, each in spec order).
pub fn load_workloads(spec: &SweepSpec) -> anyhow::Result<Vec<Workload>> {
    let mut out: Vec<Workload> = Vec::new();
    for p in &spec.traces {
        let w = Workload::trace(p).with_context(|| {
            format!(
                "sweep spec {}: cannot load trace {}",
                spec.path.display(),
                p.display()
            )
        })?;
        out.push(w);
    }
    for p in &spec.topologies {
        let topo = cdg_io::scalesim::read_topology(p).with_context(|| {
            format!(
                "sweep spec {}: cannot load topology {}",
                spec.path.display(),
                p.display()
            )
        })?;
        if let Some(i) = topo.nm_sparsity.iter().position(Option::is_some) {
            bail!(
                "sweep spec {}: topology {}: layer `{}` has N:M weight sparsity, which sweeps \
                 do not model; simulate it with `cdg sim --scalesim-cfg` or drop the N:M field",
                spec.path.display(),
                p.display(),
                topo.network.layers()[i].name()
            );
        }
        out.push(Workload::new(name_of(p), topo.network, None, 1));
    }
    for (i, w) in out.iter().enumerate() {
        if out[..i].iter().any(|o| o.name == w.name) {
            bail!(
                "sweep spec {}: two workloads are named `{}`; rename one (workloads are named \
                 after their trace directory or topology file)",
                spec.path.display(),
                w.name
            );
        }
    }
    Ok(out)
}

/// The leading columns of every sweep.csv row; the simulator's network row (which carries the
/// sample count) follows.
#[derive(Debug, Serialize)]
pub struct RowHead<'a> {
    pub workload: &'a str,
    pub gate_block: &'a str,
    pub support: &'static str,
    pub area_mm2: f64,
}

/// Simulates one design on one workload: the network row and the per-layer rows.
pub fn simulate(
    arch: &ArchConfig,
    w: &Workload,
) -> anyhow::Result<(cdg_sim::NetworkRow, Vec<cdg_sim::LayerRow>)> {
    let stats = cdg_sim::simulate_network(arch, &w.network, w.masks.as_ref())
        .with_context(|| format!("design `{}` on workload `{}`", arch.name, w.name))?;
    let layers = stats.layers.iter().map(|l| l.to_row()).collect();
    Ok((stats.to_row(), layers))
}

/// Results of one point on every workload, in workload order.
pub type PointResult = Vec<(cdg_sim::NetworkRow, Vec<cdg_sim::LayerRow>)>;

/// Runs `points` on `workloads` in parallel, in order; one bar step per point.
pub fn run_points(
    points: &[(usize, ArchConfig)],
    workloads: &[Workload],
    ui: &Ui,
    what: &str,
) -> anyhow::Result<Vec<PointResult>> {
    let bar = ui.bar(points.len() as u64, what);
    let results = points
        .par_iter()
        .map(|(index, arch)| {
            let r = workloads
                .iter()
                .map(|w| simulate(arch, w))
                .collect::<anyhow::Result<PointResult>>()
                .with_context(|| format!("grid point {index}"));
            bar.inc(1);
            r
        })
        .collect::<anyhow::Result<Vec<_>>>();
    bar.finish_and_clear();
    results
}

/// The CSV header names of a serializable row.
pub fn field_names<T: Serialize>(row: &T) -> anyhow::Result<Vec<String>> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(true)
        .from_writer(Vec::new());
    w.serialize(row)?;
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes.as_slice());
    Ok(r.headers()?.iter().map(str::to_owned).collect())
}

/// A CSV writer with the report conventions of `cdg-io` (`\n` line ends, minimal quoting).
pub fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .has_headers(false)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new())
}

/// Renders sweep.csv (and layers.csv when `layers`) for `points` with `results`. `keys` are
/// the grid columns and `labels[i]` the cells of `points[i]` under them.
pub fn render_csvs(
    keys: &[String],
    labels: &[Vec<String>],
    workloads: &[Workload],
    points: &[(usize, ArchConfig)],
    results: &[PointResult],
    layers: bool,
) -> anyhow::Result<(Vec<u8>, Option<Vec<u8>>)> {
    let mut sweep = csv_writer();
    let mut per_layer = csv_writer();
    let mut headed = false;
    for (((index, arch), result), labels) in points.iter().zip(results).zip(labels) {
        for (w, (net, layer_rows)) in workloads.iter().zip(result) {
            let head = RowHead {
                workload: &w.name,
                gate_block: &w.gate_block,
                support: arch.sparsity.support.as_str(),
                area_mm2: arch.area_mm2(),
            };
            if !headed {
                let mut h = vec!["point".to_owned()];
                h.extend(keys.iter().cloned());
                h.extend(field_names(&head)?);
                h.extend(field_names(net)?);
                sweep.write_record(&h)?;
                if let Some(first) = layer_rows.first() {
                    let mut h = vec!["point".to_owned()];
                    h.extend(keys.iter().cloned());
                    h.push("workload".to_owned());
                    h.extend(field_names(first)?);
                    per_layer.write_record(&h)?;
                }
                headed = true;
            }
            sweep.write_field(index.to_string())?;
            for l in labels {
                sweep.write_field(l)?;
            }
            sweep.serialize((&head, net))?;
            if layers {
                for row in layer_rows {
                    per_layer.write_field(index.to_string())?;
                    for l in labels {
                        per_layer.write_field(l)?;
                    }
                    per_layer.write_field(&w.name)?;
                    per_layer.serialize(row)?;
                }
            }
        }
    }
    let sweep = sweep.into_inner().map_err(|e| e.into_error())?;
    let per_layer = per_layer.into_inner().map_err(|e| e.into_error())?;
    Ok((sweep, layers.then_some(per_layer)))
}

/// `configs/point-NNNN.toml` (at least four digits, more for big grids).
pub fn config_name(index: usize, total: usize) -> String {
    let digits = total.saturating_sub(1).to_string().len().max(4);
    format!("point-{index:0digits$}.toml")
}

/// Writes many small files atomically. Each atomic write syncs its file to disk, and a sync
/// mostly waits on the device, so the writes are spread over a few threads (file systems
/// commit concurrent syncs together); 1 000 configs take well under a second instead of
/// seconds one after another.
pub fn write_files(files: &[(PathBuf, Vec<u8>)]) -> anyhow::Result<()> {
    const WRITERS: usize = 16;
    let chunk = files.len().div_ceil(WRITERS).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || -> anyhow::Result<()> {
                    for (path, bytes) in part {
                        cdg_io::atomic::write_atomic(path, bytes)?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .map_err(|_| anyhow::anyhow!("a file-writing thread panicked"))?
        })
    })
}

/// Writes `DIR/configs/point-NNNN.toml` for every point.
pub fn write_configs(
    out: &Path,
    points: &[(usize, ArchConfig)],
    total: usize,
) -> anyhow::Result<()> {
    let files: Vec<(PathBuf, Vec<u8>)> = points
        .iter()
        .map(|(index, arch)| {
            (
                out.join(CONFIGS_DIR).join(config_name(*index, total)),
                cdg_io::arch::to_toml(arch).into_bytes(),
            )
        })
        .collect();
    write_files(&files)
}

/// Removes what an earlier run left in `out` that this run does not rewrite: grid-point configs
/// outside `points`, `layers.csv` when not writing it, and the plots derived from the old data
/// (the sweep plots when this run draws none, per-point plots always). The output directory
/// then holds exactly this run's output, so a merge equals the unsharded run even when both
/// reuse a directory. Only files with the names cdg writes are touched.
pub fn remove_stale(
    out: &Path,
    points: impl IntoIterator<Item = usize>,
    total: usize,
    layers: bool,
    plots: bool,
) -> anyhow::Result<()> {
    let keep: std::collections::HashSet<String> =
        points.into_iter().map(|i| config_name(i, total)).collect();
    let remove = |p: &Path| -> anyhow::Result<()> {
        match std::fs::remove_file(p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot remove stale {}", p.display())),
        }
    };
    let names = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let configs = out.join(CONFIGS_DIR);
    for name in names(&configs) {
        if name.starts_with("point-") && name.ends_with(".toml") && !keep.contains(&name) {
            remove(&configs.join(name))?;
        }
    }
    if !layers {
        remove(&out.join(LAYERS_CSV))?;
    }
    if !plots {
        remove(&out.join(crate::cmd::plot::ENERGY_LATENCY_SVG))?;
        remove(&out.join(crate::cmd::plot::REDUCTION_SVG))?;
    }
    for name in names(out) {
        if name.starts_with("layers_point_") && name.ends_with(".svg") {
            remove(&out.join(name))?;
        }
    }
    Ok(())
}

/// Draws the sweep plots from DIR/sweep.csv into DIR.
pub fn draw_plots(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let table = plot::Table::read(&dir.join(SWEEP_CSV))?;
    let a = dir.join(crate::cmd::plot::ENERGY_LATENCY_SVG);
    let b = dir.join(crate::cmd::plot::REDUCTION_SVG);
    plot::energy_latency(&table, &a)?;
    plot::reduction(&table, &b)?;
    Ok(vec![a, b])
}

/// The validated plan of a sweep run.
struct SweepPlan {
    spec: SweepSpec,
    spec_bytes: Vec<u8>,
    shard: Shard,
    points: Vec<(usize, ArchConfig)>,
    total: usize,
    workloads: Vec<Workload>,
    out: PathBuf,
    layers: bool,
    plots: bool,
    fingerprint: u64,
}

impl SweepPlan {
    fn new(args: SweepArgs) -> anyhow::Result<Self> {
        let spec = cdg_io::sweep::load_spec(&args.spec)?;
        let spec_bytes = std::fs::read(&args.spec)
            .with_context(|| format!("cannot read {}", args.spec.display()))?;
        let base = spec.base_text()?;
        let shard = args.shard.unwrap_or(Shard::ALL);
        let total = spec.points();
        let points = spec.resolve(&base, |i| shard.contains(i))?;
        let workloads = load_workloads(&spec)?;
        let fingerprint = fingerprint(&spec, &spec_bytes, &base)?;
        Ok(Self {
            spec,
            spec_bytes,
            shard,
            points,
            total,
            workloads,
            out: args.out,
            layers: args.layers,
            plots: !args.no_plot,
            fingerprint,
        })
    }

    fn info(&self) -> ShardInfo {
        ShardInfo {
            format: SHARD_FORMAT.to_owned(),
            version: 1,
            shard: self.shard.index(),
            shards: self.shard.count(),
            points: self.total,
            grid_keys: self.spec.keys().map(str::to_owned).collect(),
            workloads: self.workloads.iter().map(|w| w.name.clone()).collect(),
            spec_fnv64: format!("{:016x}", self.fingerprint),
            layers: self.layers,
            plots: self.plots,
        }
    }
}

pub fn run(args: SweepArgs, ui: &Ui) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let plan = SweepPlan::new(args)?;
    let results = run_points(&plan.points, &plan.workloads, ui, "sweep")?;
    let keys: Vec<String> = plan.spec.keys().map(str::to_owned).collect();
    let labels: Vec<Vec<String>> = plan
        .points
        .iter()
        .map(|(i, _)| plan.spec.point_labels(*i))
        .collect();
    let (sweep_csv, layers_csv) = render_csvs(
        &keys,
        &labels,
        &plan.workloads,
        &plan.points,
        &results,
        plan.layers,
    )?;
    let out = &plan.out;
    let write = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
        Ok(cdg_io::atomic::write_atomic(&out.join(name), bytes)?)
    };
    let draws = plan.plots && plan.shard.count() == 1;
    remove_stale(
        out,
        plan.points.iter().map(|p| p.0),
        plan.total,
        plan.layers,
        draws,
    )?;
    write_configs(out, &plan.points, plan.total)?;
    write(SPEC_COPY, &plan.spec_bytes)?;
    write(SWEEP_CSV, &sweep_csv)?;
    if let Some(layers) = &layers_csv {
        write(LAYERS_CSV, layers)?;
    }
    write(SHARD_JSON, plan.info().to_json().as_bytes())?;
    if draws {
        draw_plots(out)?;
    }
    let rows = plan.points.len() * plan.workloads.len();
    println!(
        "sweep: shard {} — {} of {} points × {} workloads = {rows} rows in {:.1} s → {}",
        plan.shard,
        plan.points.len(),
        plan.total,
        plan.workloads.len(),
        started.elapsed().as_secs_f64(),
        out.join(SWEEP_CSV).display()
    );
    if plan.shard.count() == 1 {
        print_pareto(out, &keys)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Most Pareto-optimal points listed per workload on stdout.
const PARETO_LINES: usize = 12;

/// Prints, per workload, the Pareto-optimal points (latency vs energy) of DIR/sweep.csv with
/// their grid values, fastest first.
pub fn print_pareto(dir: &Path, keys: &[String]) -> anyhow::Result<()> {
    let table = plot::Table::read(&dir.join(SWEEP_CSV))?;
    let workloads = table.texts("workload")?;
    let latency = table.numbers("latency_us")?;
    let energy = table.numbers("energy_pj")?;
    let area = table.numbers("area_mm2")?;
    let point = table.column("point")?;
    let key_cols = keys
        .iter()
        .map(|k| table.column(k))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut names: Vec<&str> = Vec::new();
    for w in &workloads {
        if !names.contains(w) {
            names.push(w);
        }
    }
    for name in names {
        let rows: Vec<usize> = (0..workloads.len())
            .filter(|&r| workloads[r] == name)
            .collect();
        let pts: Vec<(f64, f64)> = rows.iter().map(|&r| (latency[r], energy[r])).collect();
        let front = plot::pareto_front(&pts);
        println!(
            "\n{name}: {} Pareto-optimal of {} designs (latency vs energy)",
            front.len(),
            rows.len()
        );
        println!(
            "{:>7}  {:>12} {:>14} {:>9}  grid values",
            "point", "latency_us", "energy_pj", "area_mm2"
        );
        for &i in front.iter().take(PARETO_LINES) {
            let r = rows[i];
            let values: Vec<String> = keys
                .iter()
                .zip(&key_cols)
                .map(|(k, &c)| format!("{k}={}", &table.rows[r][c]))
                .collect();
            println!(
                "{:>7}  {:>12.3} {:>14.4e} {:>9.3}  {}",
                &table.rows[r][point],
                latency[r],
                energy[r],
                area[r],
                values.join(" ")
            );
        }
        if front.len() > PARETO_LINES {
            println!(
                "    … {} more in energy_latency.svg",
                front.len() - PARETO_LINES
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_names_sort_in_point_order() {
        assert_eq!(config_name(3, 10), "point-0003.toml");
        assert_eq!(config_name(3, 10_000), "point-0003.toml");
        assert_eq!(config_name(42, 10_001), "point-00042.toml");
    }

    #[test]
    fn fnv_separates_parts() {
        assert_ne!(fnv64(&[b"ab", b"c"]), fnv64(&[b"a", b"bc"]));
        assert_eq!(fnv64(&[b"x"]), fnv64(&[b"x"]));
    }
}
