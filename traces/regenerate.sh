#!/usr/bin/env bash
# Regenerates the shipped CDG traces with `cdg train` and checks them byte for byte.
#
#   traces/regenerate.sh [--write] [path/to/cdg]     # default: target/release/cdg
#
# Without --write it only compares (exit 1 on a difference, keeping the new copy in a temporary
# directory whose path it prints); --write replaces the shipped files with the new ones.
#
# Each trace is the calibrated evaluation gates of the first 64 test images of the built-in
# Fashion-MNIST subset, from a SimCLR + CDG (dual gating, gamma 10) ResNet-18 CIFAR at width
# 0.25 that starts from the shipped dense SimCLR backbone (models/, --init-from) and trains
# its gates and fine-tunes for 2 epochs on the first 2 048 training images (seed 0,
# 2 threads); --knn-init records the random-initialisation floor in the manifest. Outputs are
# deterministic for the same binary, CPU features and thread count; on another machine the
# masks may differ in a few gates (docs/training.md §1). The manifests' `commit` (the build's
# git commit) is left out of the comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
WRITE=0
if [ "${1:-}" = --write ]; then WRITE=1; shift; fi
CDG=${1:-target/release/cdg}
COMMON=(--objective simclr --gating dual --model resnet18 --width 0.25 --epochs 2 --batch 128
        --lr 0.05 --seed 0 --limit-train 2048 --limit-test 1000 --calibration-samples 2000
        --trace-samples 64 --target-sparsity 0.7 --gate-consistency 10 --threads 2
        --init-from models/simclr-resnet18-w0.25-fmnist.cdgckpt --knn-init)
tmp=$(mktemp -d)
status=0
for g in structured unstructured; do
  extra=(--granularity "$g")
  [ "$g" = structured ] && extra+=(--gate-block 16,1,1)
  "$CDG" train "${COMMON[@]}" "${extra[@]}" --out "$tmp/$g" --quiet
  for f in manifest.json masks.npz; do
    # manifest.json is pretty-printed JSON, one key per line; masks.npz is compared whole.
    filter=(cat)
    [ "$f" = manifest.json ] && filter=(grep -v '"commit":')
    if cmp -s <("${filter[@]}" < "$tmp/$g/trace/$f") \
              <("${filter[@]}" < "traces/cdg-resnet18-w0.25-$g/$f"); then
      echo "cdg-resnet18-w0.25-$g/$f: identical"
    elif [ $WRITE = 1 ]; then
      cp "$tmp/$g/trace/$f" "traces/cdg-resnet18-w0.25-$g/$f.tmp"
      mv "traces/cdg-resnet18-w0.25-$g/$f.tmp" "traces/cdg-resnet18-w0.25-$g/$f"
      echo "cdg-resnet18-w0.25-$g/$f: replaced"
    else
      echo "cdg-resnet18-w0.25-$g/$f: DIFFERS (new copy in $tmp/$g/trace; not replaced)"
      status=1
    fi
  done
done
if [ $status = 0 ] && [ $WRITE = 0 ]; then
  rm -rf "$tmp"
else
  # The runs' summaries (kNN, floor, sparsity, FLOPs reduction) for each REGENERATE.md.
  echo "run summaries: $tmp/structured/summary.json $tmp/unstructured/summary.json"
fi
exit $status
