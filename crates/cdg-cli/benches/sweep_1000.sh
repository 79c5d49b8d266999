#!/usr/bin/env bash
# Speed target of the sweep (issue 7): 1 000 grid points over a 64-sample ResNet-18 CIFAR trace
# in under 60 s on 2 cores. Run from the repository root:
#
#     crates/cdg-cli/benches/sweep_1000.sh            # 3 timed runs with hyperfine
#     RUNS=1 crates/cdg-cli/benches/sweep_1000.sh     # one run
#
# It builds the release binary, makes a 64-sample full-width ResNet-18 CIFAR trace (3 input
# channels) with synthetic 16×1×1 block gates at density 0.5 (`cdg masks synth`), and times
# `cdg sweep` over a 5 × 5 × 5 × 2 × 4 = 1 000-point grid (rows, cols, ifmap SRAM, dataflow,
# skip policy) on the 16×16 OS design, plots included, then prints the size of that sweep's
# `cdg report` (with the default front and with `--pareto latency,energy,area`). Needs
# hyperfine (Debian: hyperfine).
set -euo pipefail
cd "$(dirname "$0")/../../.."
RUNS=${RUNS:-3}
THREADS=${RAYON_NUM_THREADS:-2}
cargo build --release -p cdg-cli
CDG=${CARGO_TARGET_DIR:-target}/release/cdg
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$CDG" masks synth --network resnet18-cifar --width 1 --in-channels 3 --density 0.5 \
    --gate-block 16,1,1 --base-partitions 4 --samples 64 --seed 1 --out "$work/trace" > /dev/null
cp arch-configs/os-16x16-int8.toml "$work/base.toml"
cat > "$work/spec.toml" <<'SPEC'
base = "base.toml"
traces = ["trace"]
[grid]
"array.rows" = [8, 12, 16, 24, 32]
"array.cols" = [8, 12, 16, 24, 32]
"memory.ifmap_sram_kib" = [16, 32, 64, 128, 256]
"array.dataflow" = ["os", "ws"]
"sparsity.support" = ["dense", "clock-gate", "tile-skip", "compact"]
SPEC

RAYON_NUM_THREADS=$THREADS hyperfine --runs "$RUNS" --warmup 0 \
    --command-name "cdg sweep: 1000 points x 64-sample ResNet-18 CIFAR trace, $THREADS threads" \
    "$CDG sweep $work/spec.toml --out $work/out --quiet"
rows=$(($(wc -l < "$work/out/sweep.csv") - 1))
echo "sweep.csv rows: $rows"
# The size of the report of those 1 000 points (issue 15: under a few MB), with the default
# front and with the front over area.
"$CDG" report "$work/out" > /dev/null
echo "report.html: $(wc -c < "$work/out/report.html") bytes"
"$CDG" report "$work/out" --pareto latency,energy,area > /dev/null
echo "report.html --pareto latency,energy,area: $(wc -c < "$work/out/report.html") bytes"
