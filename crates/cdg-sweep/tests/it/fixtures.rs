//! A base arch config, a small SCALE-Sim topology and sweep specs over them, written into a
//! temporary directory.

use std::path::{Path, PathBuf};

pub const BASE: &str = "\
schema = 1
name = \"base-os16\"
[array]
rows = 16
cols = 16
dataflow = \"os\"
[memory]
dram_bytes_per_cycle = 8
";

/// Three layers: a conv, a strided conv and an FC, in SCALE-Sim's conv topology form.
pub const TOPOLOGY: &str = "\
Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
conv1, 18, 18, 3, 3, 3, 16, 1,
conv2, 18, 18, 3, 3, 16, 32, 2,
fc, 1, 1, 1, 1, 256, 10, 1,
";

/// A 3 × 2 × 2 grid (12 points) over the topology.
pub const GRID: &str = "\
\"array.rows\" = [8, 16, 32]
\"array.dataflow\" = [\"os\", \"ws\"]
\"sparsity.support\" = [\"dense\", \"compact\"]
";

/// Writes base.toml, net.csv and spec.toml (with `grid` as its `[grid]` body) into `dir`.
pub fn write_spec(dir: &Path, grid: &str) -> PathBuf {
    std::fs::write(dir.join("base.toml"), BASE).unwrap();
    std::fs::write(dir.join("net.csv"), TOPOLOGY).unwrap();
    let spec = dir.join("spec.toml");
    std::fs::write(
        &spec,
        format!("base = \"base.toml\"\ntopologies = [\"net.csv\"]\n[grid]\n{grid}"),
    )
    .unwrap();
    spec
}

/// Every file under `dir` with its bytes, sorted by relative path.
pub fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
