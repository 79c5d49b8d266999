//! `cdg merge DIR1 DIR2 … --out DIR`: join the shard directories of a split `cdg sweep` into
//! exactly the bytes the unsharded run writes.
//!
//! Each shard's `shard.json` says which shard of which sweep it is. The merge refuses shards of
//! different sweeps (spec fingerprint, point count, grid keys, workloads, options), a shard
//! given twice, missing shards, and a shard whose rows or configs do not cover exactly its
//! points. Rows are re-interleaved by point index (text records copied as they are, so numbers
//! keep their bytes), configs and the spec are copied, and plots are redrawn from the merged
//! `sweep.csv`.

use super::sweep::{
    CONFIGS_DIR, LAYERS_CSV, SHARD_JSON, SPEC_COPY, SWEEP_CSV, ShardInfo, config_name, csv_writer,
    draw_plots, print_pareto, remove_stale, write_files,
};
use crate::plot::Table;
use crate::ui::Ui;
use anyhow::{Context, bail};
use cdg_io::sweep::Shard;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The shard output directories of one sweep (`cdg sweep --shard K/N --out DIR_K`), in
    /// any order.
    #[arg(required = true, value_name = "DIR")]
    pub shards: Vec<PathBuf>,
    /// Where to write the merged output (the layout of an unsharded `cdg sweep --out`).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

struct ShardDir {
    dir: PathBuf,
    info: ShardInfo,
}

/// Checks that the shards belong to one sweep and cover it exactly once; returns them sorted
/// by shard number.
fn check_shards(dirs: &[PathBuf]) -> anyhow::Result<Vec<ShardDir>> {
    let mut shards: Vec<ShardDir> = dirs
        .iter()
        .map(|d| {
            Ok(ShardDir {
                dir: d.clone(),
                info: ShardInfo::read(d)?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let first = &shards[0];
    for s in &shards[1..] {
        let (a, b) = (&first.info, &s.info);
        let mismatch = |what: &str, x: String, y: String| {
            anyhow::anyhow!(
                "{} and {} are not shards of the same sweep: {what} differs ({x} vs {y})",
                first.dir.display(),
                s.dir.display()
            )
        };
        if a.spec_fnv64 != b.spec_fnv64 {
            return Err(mismatch(
                "the spec or base config (fingerprint)",
                a.spec_fnv64.clone(),
                b.spec_fnv64.clone(),
            ));
        }
        if a.shards != b.shards {
            return Err(mismatch(
                "the shard count N",
                a.shards.to_string(),
                b.shards.to_string(),
            ));
        }
        if a.points != b.points {
            return Err(mismatch(
                "the number of points",
                a.points.to_string(),
                b.points.to_string(),
            ));
        }
        if a.grid_keys != b.grid_keys || a.workloads != b.workloads {
            return Err(mismatch(
                "the grid keys or workloads",
                format!("{:?} {:?}", a.grid_keys, a.workloads),
                format!("{:?} {:?}", b.grid_keys, b.workloads),
            ));
        }
        if a.layers != b.layers || a.plots != b.plots {
            return Err(mismatch(
                "--layers or --no-plot",
                format!("layers={} plots={}", a.layers, a.plots),
                format!("layers={} plots={}", b.layers, b.plots),
            ));
        }
    }
    shards.sort_by_key(|s| s.info.shard);
    for pair in shards.windows(2) {
        if pair[0].info.shard == pair[1].info.shard {
            bail!(
                "shard {}/{} is given twice: {} and {}",
                pair[0].info.shard,
                pair[0].info.shards,
                pair[0].dir.display(),
                pair[1].dir.display()
            );
        }
    }
    let n = shards[0].info.shards;
    let missing: Vec<String> = (1..=n)
        .filter(|k| !shards.iter().any(|s| s.info.shard == *k))
        .map(|k| format!("{k}/{n}"))
        .collect();
    if !missing.is_empty() {
        bail!(
            "incomplete sweep: shard{} {} missing (have {} of {n})",
            if missing.len() == 1 { " is" } else { "s are" },
            missing.join(", "),
            shards.len()
        );
    }
    Ok(shards)
}

/// Reads a shard's CSV and checks that its rows cover exactly the shard's points in order,
/// `per_point` rows each (or any positive number when `None`). Returns rows keyed by point.
fn shard_rows(
    s: &ShardDir,
    name: &str,
    per_point: Option<usize>,
) -> anyhow::Result<(csv::StringRecord, BTreeMap<usize, Vec<csv::StringRecord>>)> {
    let table = Table::read(&s.dir.join(name))?;
    let shard = Shard::new(s.info.shard, s.info.shards)?;
    let mut by_point: BTreeMap<usize, Vec<csv::StringRecord>> = BTreeMap::new();
    // A shard without points (N larger than the grid) writes an empty file: no header.
    let col = if table.headers.is_empty() && table.rows.is_empty() {
        0
    } else {
        table.column("point")?
    };
    for (i, row) in table.rows.iter().enumerate() {
        let cell = row.get(col).unwrap_or("");
        let p: usize = cell.parse().with_context(|| {
            format!(
                "{}: line {}: point `{cell}` is not an index",
                table.path.display(),
                i + 2
            )
        })?;
        if !shard.contains(p) || p >= s.info.points {
            bail!(
                "{}: line {}: point {p} does not belong to shard {shard} of {} points",
                table.path.display(),
                i + 2,
                s.info.points
            );
        }
        by_point.entry(p).or_default().push(row.clone());
    }
    for p in shard.indices(s.info.points) {
        let got = by_point.get(&p).map_or(0, Vec::len);
        let ok = match per_point {
            Some(k) => got == k,
            None => got > 0,
        };
        if !ok {
            bail!(
                "{}: point {p} has {got} rows; expected {} (an interrupted or edited shard?)",
                table.path.display(),
                per_point.map_or("at least one".to_owned(), |k| k.to_string())
            );
        }
    }
    Ok((table.headers, by_point))
}

/// Merges one CSV file of every shard into point order.
fn merge_csv(shards: &[ShardDir], name: &str, per_point: Option<usize>) -> anyhow::Result<Vec<u8>> {
    let mut header: Option<(csv::StringRecord, &Path)> = None;
    let mut all: BTreeMap<usize, Vec<csv::StringRecord>> = BTreeMap::new();
    for s in shards {
        let (h, rows) = shard_rows(s, name, per_point)?;
        if h.is_empty() {
            // A shard with no points (N larger than the grid) wrote an empty file.
            continue;
        }
        match &header {
            None => header = Some((h, &s.dir)),
            Some((first, dir)) if *first != h => bail!(
                "{} and {}: {name} headers differ",
                dir.display(),
                s.dir.display()
            ),
            Some(_) => {}
        }
        all.extend(rows);
    }
    let mut w = csv_writer();
    if let Some((h, _)) = header {
        w.write_record(&h)?;
    }
    for rows in all.values() {
        for r in rows {
            w.write_record(r)?;
        }
    }
    Ok(w.into_inner().map_err(|e| e.into_error())?)
}

pub fn run(args: MergeArgs, _ui: &Ui) -> anyhow::Result<ExitCode> {
    let shards = check_shards(&args.shards)?;
    let info = shards[0].info.clone();
    let spec = std::fs::read(shards[0].dir.join(SPEC_COPY))
        .with_context(|| format!("cannot read {}", shards[0].dir.join(SPEC_COPY).display()))?;
    for s in &shards[1..] {
        let other = std::fs::read(s.dir.join(SPEC_COPY))
            .with_context(|| format!("cannot read {}", s.dir.join(SPEC_COPY).display()))?;
        if other != spec {
            bail!(
                "{} and {}: spec.toml differs",
                shards[0].dir.display(),
                s.dir.display()
            );
        }
    }
    let sweep = merge_csv(&shards, SWEEP_CSV, Some(info.workloads.len()))?;
    let layers = if info.layers {
        Some(merge_csv(&shards, LAYERS_CSV, None)?)
    } else {
        None
    };
    // Read every config before writing anything, so a missing one leaves no partial output.
    let mut configs = Vec::with_capacity(info.points);
    for s in &shards {
        let shard = Shard::new(s.info.shard, s.info.shards)?;
        for p in shard.indices(info.points) {
            let name = config_name(p, info.points);
            let path = s.dir.join(CONFIGS_DIR).join(&name);
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            configs.push((p, name, bytes));
        }
    }
    configs.sort_by_key(|c| c.0);
    let out = &args.out;
    let write = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
        Ok(cdg_io::atomic::write_atomic(&out.join(name), bytes)?)
    };
    let configs: Vec<(PathBuf, Vec<u8>)> = configs
        .into_iter()
        .map(|(_, name, bytes)| (out.join(CONFIGS_DIR).join(name), bytes))
        .collect();
    remove_stale(out, 0..info.points, info.points, info.layers, info.plots)?;
    write_files(&configs)?;
    write(SPEC_COPY, &spec)?;
    write(SWEEP_CSV, &sweep)?;
    if let Some(l) = &layers {
        write(LAYERS_CSV, l)?;
    }
    let merged = ShardInfo {
        shard: 1,
        shards: 1,
        ..info.clone()
    };
    write(SHARD_JSON, merged.to_json().as_bytes())?;
    if info.plots {
        draw_plots(out)?;
    }
    println!(
        "merge: {} shards, {} points → {}",
        shards.len(),
        info.points,
        out.join(SWEEP_CSV).display()
    );
    print_pareto(out, &info.grid_keys)?;
    Ok(ExitCode::SUCCESS)
}
