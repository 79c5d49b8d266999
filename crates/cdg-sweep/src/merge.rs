//! `cdg merge`: the shard directories of a split sweep joined into exactly the bytes the
//! unsharded run writes.
//!
//! Each shard's `shard.json` says which shard of which sweep it is. The merge refuses shards of
//! different sweeps (spec fingerprint, point count, grid keys, workloads, options), a shard
//! given twice, missing shards, and a shard whose rows or configs do not cover exactly its
//! points. Rows are re-interleaved by point index (text records copied as they are, so numbers
//! keep their bytes), configs and the spec are copied, and plots are redrawn from the merged
//! `sweep.csv` text.

use crate::engine::{csv_bytes, csv_writer};
use crate::error::{Result, SweepError};
use crate::plan::sweep_plots_with;
use crate::shard::{ShardInfo, read};
use cdg_io::layout::sweep::{
    CONFIGS_DIR, LAYERS_CSV, SHARD_JSON, SPEC_TOML, SWEEP_CSV, config_name,
};
use cdg_io::output::Outputs;
use cdg_report::Pareto;
use cdg_report::Table;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One shard output directory and its description.
#[derive(Debug)]
struct ShardDir {
    dir: PathBuf,
    info: ShardInfo,
}

impl ShardDir {
    fn read(dir: &Path) -> Result<Self> {
        // A shard directory an interrupted `cdg sweep` left is refused before anything else.
        if dir.is_dir() {
            cdg_io::output::check_complete(dir)?;
        }
        let path = dir.join(SHARD_JSON);
        let bytes = std::fs::read(&path).map_err(|source| SweepError::NotSweepDir {
            path: path.clone(),
            dir: dir.to_owned(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_owned(),
            info: ShardInfo::parse(&bytes, &path)?,
        })
    }
}

/// The merged output of a complete set of shards, read and checked in full before anything is
/// written.
#[derive(Debug)]
pub struct Merge {
    /// The merged directory's description (shard 1/1).
    pub info: ShardInfo,
    /// Number of shard directories merged.
    pub shards: usize,
    /// The merged output directory's files (and the stale files to remove); commit with
    /// [`cdg_io::output::write_outputs`].
    pub outputs: Outputs,
}

impl Merge {
    /// Reads and checks the shard directories `dirs` (in any order) and renders the merged
    /// output directory.
    pub fn read(dirs: &[PathBuf]) -> Result<Self> {
        Self::read_with(dirs, &Pareto::default())
    }

    /// [`Merge::read`], drawing the Pareto front of `energy_latency.svg` over the objectives
    /// of `pareto` (`cdg merge --pareto`).
    pub fn read_with(dirs: &[PathBuf], pareto: &Pareto) -> Result<Self> {
        if dirs.is_empty() {
            return Err(SweepError::Merge(
                "no shard directories to merge".to_owned(),
            ));
        }
        let shards = check_shards(dirs)?;
        let info = shards[0].info.clone();
        let spec_path = shards[0].dir.join(SPEC_TOML);
        let spec = read(&spec_path)?;
        for s in &shards[1..] {
            if read(&s.dir.join(SPEC_TOML))? != spec {
                return Err(SweepError::Merge(format!(
                    "{} and {}: spec.toml differs",
                    shards[0].dir.display(),
                    s.dir.display()
                )));
            }
        }
        let sweep = merge_csv(&shards, SWEEP_CSV, Some(info.workloads.len()))?;
        let layers = if info.layers {
            for s in &shards {
                check_layer_rows(s)?;
            }
            Some(merge_csv(&shards, LAYERS_CSV, None)?)
        } else {
            None
        };
        let mut configs = Vec::with_capacity(info.points);
        for s in &shards {
            for p in s.info.shard()?.indices(info.points) {
                let name = Path::new(CONFIGS_DIR).join(config_name(p, info.points));
                configs.push((p, read(&s.dir.join(&name))?, name));
            }
        }
        configs.sort_by_key(|c| c.0);
        let plots = info
            .plots
            .then(|| sweep_plots_with(&sweep, pareto))
            .transpose()?;
        let merged = ShardInfo {
            shard: 1,
            shards: 1,
            ..info
        };
        let mut outputs = Outputs::new();
        for (_, bytes, name) in configs {
            outputs.add(name, bytes);
        }
        outputs.add(SPEC_TOML, spec);
        outputs.add(SWEEP_CSV, sweep);
        if let Some(l) = layers {
            outputs.add(LAYERS_CSV, l);
        }
        outputs.add(SHARD_JSON, merged.to_json());
        if let Some(plots) = plots {
            outputs.extend(plots);
        }
        Ok(Self {
            info: merged,
            shards: shards.len(),
            outputs,
        })
    }
}

/// Checks that the shards belong to one sweep and cover it exactly once; returns them sorted
/// by shard number.
fn check_shards(dirs: &[PathBuf]) -> Result<Vec<ShardDir>> {
    let mut shards: Vec<ShardDir> = dirs
        .iter()
        .map(|d| ShardDir::read(d))
        .collect::<Result<_>>()?;
    let first = &shards[0];
    for s in &shards[1..] {
        let (a, b) = (&first.info, &s.info);
        let mismatch = |what: &str, x: String, y: String| {
            SweepError::Merge(format!(
                "{} and {} are not shards of the same sweep: {what} differs ({x} vs {y})",
                first.dir.display(),
                s.dir.display()
            ))
        };
        if a.spec_fnv64 != b.spec_fnv64 {
            // The fingerprint covers the spec, the base config and every workload file; the
            // spec copies say which side of that changed.
            let same_spec = match (
                std::fs::read(first.dir.join(SPEC_TOML)),
                std::fs::read(s.dir.join(SPEC_TOML)),
            ) {
                (Ok(x), Ok(y)) => x == y,
                _ => false,
            };
            let what = if same_spec {
                "the inputs: spec.toml is the same, so the base config or a workload file \
                 (trace manifest or masks, topology CSV) changed between the shards \
                 (input fingerprint)"
            } else {
                "the sweep spec (spec.toml, input fingerprint)"
            };
            return Err(mismatch(what, a.spec_fnv64.clone(), b.spec_fnv64.clone()));
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
            return Err(SweepError::Merge(format!(
                "shard {}/{} is given twice: {} and {}",
                pair[0].info.shard,
                pair[0].info.shards,
                pair[0].dir.display(),
                pair[1].dir.display()
            )));
        }
    }
    let n = shards[0].info.shards;
    let missing: Vec<String> = (1..=n)
        .filter(|k| !shards.iter().any(|s| s.info.shard == *k))
        .map(|k| format!("{k}/{n}"))
        .collect();
    if !missing.is_empty() {
        return Err(SweepError::Merge(format!(
            "incomplete sweep: shard{} {} {} missing (have {} of {n})",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            if missing.len() == 1 { "is" } else { "are" },
            shards.len()
        )));
    }
    Ok(shards)
}

/// Rows of one CSV keyed by grid point.
type RowsByPoint = BTreeMap<usize, Vec<csv::StringRecord>>;

/// Reads a shard's CSV and checks that its rows cover exactly the shard's points in order,
/// `per_point` rows each (or any positive number when `None`). Returns rows keyed by point.
fn shard_rows(
    s: &ShardDir,
    name: &str,
    per_point: Option<usize>,
) -> Result<(csv::StringRecord, RowsByPoint)> {
    let path = s.dir.join(name);
    let table = Table::parse(&read(&path)?, &path)?;
    let shard = s.info.shard()?;
    let mut by_point = RowsByPoint::new();
    // A shard without points (N larger than the grid) writes an empty file: no header.
    let col = if table.headers.is_empty() && table.rows.is_empty() {
        0
    } else {
        table.column("point")?
    };
    for (i, row) in table.rows.iter().enumerate() {
        let cell = row.get(col).unwrap_or("");
        let p: usize = cell.parse().map_err(|_| {
            SweepError::Merge(format!(
                "{}: line {}: point `{cell}` is not an index",
                table.path.display(),
                i + 2
            ))
        })?;
        if !shard.contains(p) || p >= s.info.points {
            return Err(SweepError::Merge(format!(
                "{}: line {}: point {p} does not belong to shard {shard} of {} points",
                table.path.display(),
                i + 2,
                s.info.points
            )));
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
            return Err(SweepError::Merge(format!(
                "{}: point {p} has {got} rows; expected {} (an interrupted or edited shard?)",
                table.path.display(),
                per_point.map_or("at least one".to_owned(), |k| k.to_string())
            )));
        }
    }
    Ok((table.headers, by_point))
}

/// Checks that a shard's layers.csv holds, for every point and workload, exactly the layers
/// its sweep.csv row counts (`layers`), named as at the workload's first point: a deleted,
/// added or renamed row of a hand-edited shard is an error naming the file and the point.
fn check_layer_rows(s: &ShardDir) -> Result<()> {
    let sweep_path = s.dir.join(SWEEP_CSV);
    let sweep = Table::parse(&read(&sweep_path)?, &sweep_path)?;
    let layers_path = s.dir.join(LAYERS_CSV);
    let layers = Table::parse(&read(&layers_path)?, &layers_path)?;
    if sweep.rows.is_empty() && layers.rows.is_empty() {
        return Ok(());
    }
    let mut want: BTreeMap<(String, String), usize> = BTreeMap::new();
    let (point, workload, count) = (
        sweep.column("point")?,
        sweep.column("workload")?,
        sweep.column("layers")?,
    );
    for (r, row) in sweep.rows.iter().enumerate() {
        let n = sweep.number(r, count)?;
        want.insert(
            (
                row.get(point).unwrap_or("").to_owned(),
                row.get(workload).unwrap_or("").to_owned(),
            ),
            n as usize,
        );
    }
    let (lp, lw, ll) = (
        layers.column("point")?,
        layers.column("workload")?,
        layers.column("layer")?,
    );
    let mut got: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
    for row in &layers.rows {
        got.entry((
            row.get(lp).unwrap_or("").to_owned(),
            row.get(lw).unwrap_or("").to_owned(),
        ))
        .or_default()
        .push(row.get(ll).unwrap_or(""));
    }
    let mut names: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for ((p, w), n) in &want {
        let rows = got.remove(&(p.clone(), w.clone())).unwrap_or_default();
        if rows.len() != *n {
            return Err(SweepError::Merge(format!(
                "{}: point {p}, workload `{w}` has {} layer rows; {} says it has {n} layers \
                 (a deleted or added row of an edited shard?)",
                layers_path.display(),
                rows.len(),
                sweep_path.display()
            )));
        }
        match names.get(w.as_str()) {
            None => {
                names.insert(w, rows);
            }
            Some(first) if *first != rows => {
                return Err(SweepError::Merge(format!(
                    "{}: point {p}, workload `{w}`: the layers differ from the workload's \
                     first point (an edited shard?)",
                    layers_path.display()
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(((p, w), _)) = got.into_iter().next() {
        return Err(SweepError::Merge(format!(
            "{}: point {p}, workload `{w}` has layer rows but no row in {}",
            layers_path.display(),
            sweep_path.display()
        )));
    }
    Ok(())
}

/// Merges one CSV file of every shard into point order.
fn merge_csv(shards: &[ShardDir], name: &str, per_point: Option<usize>) -> Result<Vec<u8>> {
    let mut header: Option<(csv::StringRecord, &Path)> = None;
    let mut all = RowsByPoint::new();
    for s in shards {
        let (h, rows) = shard_rows(s, name, per_point)?;
        if h.is_empty() {
            // A shard with no points (N larger than the grid) wrote an empty file.
            continue;
        }
        match &header {
            None => header = Some((h, &s.dir)),
            Some((first, dir)) if *first != h => {
                return Err(SweepError::Merge(format!(
                    "{} and {}: {name} headers differ",
                    dir.display(),
                    s.dir.display()
                )));
            }
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
    // A hand-edited shard's formula-like text cells are neutralized as the sweep writes them.
    Ok(cdg_io::csv_out::neutralize_csv(&csv_bytes(w)?)?)
}
